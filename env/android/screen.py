"""Screen capture over adb.

Raw ``exec-out screencap`` (a small header + RGBA pixels) is the fast path: it skips the PNG
encode on the device, which on real phones commonly costs 1-2 s. The pixels become the bundle's
image with one encode here; ``screencap -p`` (PNG) is the fallback when raw output is unusable.
"""

from __future__ import annotations

import io
import struct

from PIL import Image


def parse_raw_screencap(data: bytes) -> Image.Image:
    """Decode ``screencap`` raw output: width, height, format (1 = RGBA_8888)[, colorspace], pixels."""
    if len(data) < 12:
        raise ValueError(f"raw screencap too short ({len(data)} bytes)")
    width, height, fmt = struct.unpack_from("<III", data, 0)
    if fmt != 1:
        raise ValueError(f"unsupported raw screencap pixel format {fmt}")
    size = width * height * 4
    for header in (16, 12):  # Android 9+ adds a colorspace word
        if len(data) - header == size:
            return Image.frombuffer("RGBA", (width, height), data[header:], "raw", "RGBA", 0, 1)
    raise ValueError(f"raw screencap size mismatch: {len(data)} bytes for {width}x{height}")


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpeg":
        (image if image.mode == "RGB" else image.convert("RGB")).save(buf, "JPEG", quality=quality)
    else:
        image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()
