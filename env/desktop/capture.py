"""Screenshots of an X display at native resolution.

The default is mss's XShmGetImage path: the server copies the frame into shared memory, so no pixels
cross the X socket (benchmarks/desktop_capture.py measures it against plain XGetImage through mss
and through python-xlib, and against ``xwd``; docs/PERFORMANCE.md has the figures). XGetImage over
the socket is the fallback where MIT-SHM is missing (an attached remote-ish display, a server built
without it): same pixels, slower.
"""

from __future__ import annotations

import subprocess
from typing import Literal, Protocol

from PIL import Image

CaptureMethod = Literal["xshm", "xgetimage", "python-xlib", "xwd"]


class Capturer(Protocol):
    def grab(self) -> Image.Image: ...

    def close(self) -> None: ...


class MssCapturer:
    """mss on one display: ``xshm`` (XShmGetImage, falling back by itself) or ``xgetimage``."""

    def __init__(self, display_name: str, method: Literal["xshm", "xgetimage"] = "xshm") -> None:
        import mss

        backend = "xshmgetimage" if method == "xshm" else "xgetimage"
        self._mss = mss.MSS(display=display_name, backend=backend)
        self._monitor = self._mss.monitors[0]  # the whole root window

    def grab(self) -> Image.Image:
        shot = self._mss.grab(self._monitor)
        return Image.frombuffer("RGB", shot.size, shot.bgra, "raw", "BGRX", 0, 1)

    def close(self) -> None:
        self._mss.close()


class XlibCapturer:
    """XGetImage through python-xlib (pure Python on the X socket): the reference and a fallback."""

    def __init__(self, display_name: str) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        self._zpixmap = X.ZPixmap
        self.d = xdisplay.Display(display_name)
        self.root = self.d.screen().root
        self.depth = self.d.screen().root_depth

    def grab(self) -> Image.Image:
        g = self.root.get_geometry()
        reply = self.root.get_image(0, 0, g.width, g.height, self._zpixmap, 0xFFFFFFFF)
        if self.depth == 16:
            return Image.frombytes("RGB", (g.width, g.height), reply.data, "raw", "BGR;16")
        return Image.frombytes("RGB", (g.width, g.height), reply.data, "raw", "BGRX")

    def close(self) -> None:
        self.d.close()


class XwdCapturer:
    """``xwd -root`` piped into PIL: a new process per frame, for comparison only."""

    def __init__(self, display_name: str) -> None:
        self.display_name = display_name

    def grab(self) -> Image.Image:
        import io

        data = subprocess.run(
            ["xwd", "-root", "-silent", "-display", self.display_name], capture_output=True, check=True, timeout=30
        ).stdout
        return _parse_xwd(io.BytesIO(data).getvalue())

    def close(self) -> None:
        pass


def _parse_xwd(data: bytes) -> Image.Image:
    """An XWD (ZPixmap, 32 bits per pixel) file's pixels; enough for xwd -root on a 24-bit screen."""
    import struct

    header_size, _version, _fmt, _depth, width, height = struct.unpack(">6I", data[:24])
    bytes_per_line = struct.unpack(">I", data[48:52])[0]
    ncolors = struct.unpack(">I", data[76:80])[0]
    offset = header_size + ncolors * 12
    return Image.frombuffer("RGB", (width, height), data[offset:], "raw", "BGRX", bytes_per_line, 1)


def open_capturer(display_name: str, method: CaptureMethod, depth: int = 24) -> Capturer:
    if method == "python-xlib" or depth == 16:  # mss reads 32-bit pixels only
        return XlibCapturer(display_name)
    if method == "xwd":
        return XwdCapturer(display_name)
    return MssCapturer(display_name, method)
