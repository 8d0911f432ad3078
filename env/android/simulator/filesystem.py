"""The device's files: the few paths a shell user touches, in memory.

``/sdcard`` (also reached as ``/storage/emulated/0``) and ``/data/local/tmp`` are writable, as for
adb's shell user on a phone; everything else is read-only. ``uiautomator dump`` and
``screencap FILE`` write here, ``cat``/``ls``/``rm`` and the sync service (``adb push``/``pull``)
read and write here. Nothing touches the host's disk.
"""

from __future__ import annotations

import posixpath
import time


class VirtualFS:
    """The few paths a shell user touches: /sdcard and /data/local/tmp are writable, the rest read-only."""

    WRITABLE = ("/sdcard", "/data/local/tmp")
    ALIASES = ("/storage/emulated/0", "/storage/self/primary", "/mnt/sdcard")

    def __init__(self) -> None:
        self.dirs = {
            "/", "/sdcard", "/sdcard/Download", "/sdcard/Pictures", "/sdcard/DCIM", "/data", "/data/local",
            "/data/local/tmp", "/system", "/system/bin", "/dev", "/storage", "/storage/emulated", "/proc",
        }  # fmt: skip
        self.files: dict[str, tuple[bytes, float]] = {}

    def resolve(self, path: str) -> str:
        path = posixpath.normpath(posixpath.join("/", path))
        if path.startswith("//"):
            path = path[1:]
        for alias in self.ALIASES:
            if path == alias or path.startswith(alias + "/"):
                return "/sdcard" + path[len(alias) :]
        return path

    def writable(self, path: str) -> bool:
        return any(path == d or path.startswith(d + "/") for d in self.WRITABLE)

    def read(self, path: str) -> bytes:
        path = self.resolve(path)
        if path in self.dirs:
            raise IsADirectoryError(path)
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path][0]

    def write(self, path: str, data: bytes, *, append: bool = False, make_parents: bool = False) -> None:
        path = self.resolve(path)
        if path in self.dirs:
            raise IsADirectoryError(path)
        if not self.writable(path):
            raise PermissionError(path)
        parent = posixpath.dirname(path)
        if parent not in self.dirs:
            if not make_parents:
                raise FileNotFoundError(path)
            self.mkdir(parent, parents=True)
        old = self.files.get(path, (b"", 0.0))[0] if append else b""
        self.files[path] = (old + data, time.time())

    def mkdir(self, path: str, *, parents: bool = False) -> None:
        path = self.resolve(path)
        if path in self.dirs or path in self.files:
            if parents and path in self.dirs:
                return
            raise FileExistsError(path)
        if not self.writable(path):
            raise PermissionError(path)
        parent = posixpath.dirname(path)
        if parent not in self.dirs:
            if not parents:
                raise FileNotFoundError(path)
            self.mkdir(parent, parents=True)
        self.dirs.add(path)

    def remove(self, path: str, *, recursive: bool = False) -> None:
        path = self.resolve(path)
        if path in self.files:
            if not self.writable(path):
                raise PermissionError(path)
            del self.files[path]
            return
        if path not in self.dirs:
            raise FileNotFoundError(path)
        if not recursive:
            raise IsADirectoryError(path)
        if not self.writable(path) or path in self.WRITABLE:
            raise PermissionError(path)
        for p in [p for p in self.files if p.startswith(path + "/")]:
            del self.files[p]
        self.dirs -= {d for d in self.dirs if d == path or d.startswith(path + "/")}

    def listdir(self, path: str) -> list[str]:
        path = self.resolve(path)
        if path not in self.dirs:
            raise FileNotFoundError(path) if path not in self.files else NotADirectoryError(path)
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix) :].split("/")[0] for p in [*self.files, *self.dirs] if p.startswith(prefix)}
        return sorted(n for n in names if n)

    def stat(self, path: str) -> tuple[int, int, int] | None:
        """(mode, size, mtime) like lstat, or None when absent."""
        path = self.resolve(path)
        if path in self.dirs:
            return 0o040771, 4096, int(time.time())
        if path in self.files:
            data, mtime = self.files[path]
            return 0o100660, len(data), int(mtime)
        return None


def error_text(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "Read-only file system"
    if isinstance(exc, IsADirectoryError):
        return "Is a directory"
    if isinstance(exc, NotADirectoryError):
        return "Not a directory"
    if isinstance(exc, FileExistsError):
        return "File exists"
    return "No such file or directory"
