"""The X display an episode runs on: an Xvfb of our own (the default) or one the user named.

An own display is started with ``-displayfd``, so the server itself picks a free display number and
reports it: two envs (or another program's Xvfb) never race for ``:99``. The window manager
(openbox) gives windows the EWMH behaviour the env relies on: an active window, focus and raise by
request, ``_NET_WM_PID`` and ping forwarding. Attaching to an existing display is explicit
(``--display :N``); ``:0``, the usual seat of a person's real session, needs a second explicit flag,
since an agent there clicks in the user's own windows.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

from loguru import logger

from pixelpilot.env.base import EnvError

_DISPLAY_NAME = re.compile(r"^(?:localhost|unix)?:(\d+)(?:\.\d+)?$")


class DisplayError(EnvError):
    """The display cannot be started or reached; one line saying why and what to do."""


def display_number(name: str) -> int:
    """':5' / ':5.0' / 'unix:5' -> 5; anything else (a remote host) is refused."""
    m = _DISPLAY_NAME.match(name.strip())
    if m is None:
        raise DisplayError(f"--display {name!r}: give a local X display such as :1 (remote displays are not supported)")
    return int(m.group(1))


def x_socket(number: int) -> Path:
    return Path(f"/tmp/.X11-unix/X{number}")


class XDisplay:
    """A running X display and the processes pixelpilot started for it (none when attached)."""

    def __init__(self, number: int, *, owned: bool, server: subprocess.Popen | None = None) -> None:
        self.number = number
        self.owned = owned
        self.server = server
        self.wm: subprocess.Popen | None = None
        self.width = 0
        self.height = 0
        self.depth = 0

    @property
    def name(self) -> str:
        return f":{self.number}"

    @property
    def socket(self) -> Path:
        return x_socket(self.number)

    # ------------------------------------------------------------------ start / attach
    @classmethod
    def start(
        cls, width: int, height: int, depth: int, *, window_manager: str | None = "openbox", timeout_s: float = 20.0
    ) -> XDisplay:
        """An Xvfb of our own at ``width``x``height``x``depth``, with ``window_manager`` on it."""
        xvfb = shutil.which("Xvfb")
        if xvfb is None:
            raise DisplayError(
                "the desktop env needs Xvfb, which is not installed: run scripts/ensure-system.sh "
                "(apt-get install xvfb openbox xdotool)"
            )
        read_fd, write_fd = os.pipe()
        argv = [
            xvfb,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x{depth}",
            "-nolisten",
            "tcp",
            "-noreset",
        ]
        try:
            server = subprocess.Popen(
                argv,
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not the server's
                preexec_fn=die_with_parent,  # one prctl call before exec
            )
        finally:
            os.close(write_fd)
        try:
            number = _read_display_number(read_fd, server, timeout_s)
        except DisplayError:
            _stop(server)
            raise
        finally:
            os.close(read_fd)
        display = cls(number, owned=True, server=server)
        display.width, display.height, display.depth = width, height, depth
        if window_manager:
            display._start_wm(window_manager, timeout_s)
        logger.debug("started Xvfb {} ({}x{}x{}, pid {})", display.name, width, height, depth, server.pid)
        return display

    @classmethod
    def attach(cls, name: str, *, allow_display_zero: bool = False) -> XDisplay:
        """An existing display the user named; ``:0`` only with ``allow_display_zero``."""
        number = display_number(name)
        if number == 0 and not allow_display_zero:
            raise DisplayError(
                "--display :0 is usually your own desktop session, where the agent would click in your windows; "
                "add --allow-display-zero to use it anyway"
            )
        if not x_socket(number).exists():
            raise DisplayError(f"no X server on display :{number} ({x_socket(number)} does not exist)")
        return cls(number, owned=False)

    def _start_wm(self, name: str, timeout_s: float) -> None:
        path = shutil.which(name)
        if path is None:
            self.close()
            raise DisplayError(
                f"the desktop env needs the window manager {name}, which is not installed: "
                "run scripts/ensure-system.sh (apt-get install openbox)"
            )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DISPLAY": self.name, "HOME": "/nonexistent"}
        # openbox without a readable home uses its system-wide rc.xml; its menu warning is noise
        self.wm = subprocess.Popen(
            [path],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        from pixelpilot.env.desktop.windows import wait_for_wm

        if not wait_for_wm(self.name, timeout_s):
            self.close()
            raise DisplayError(f"the window manager {name} did not start on {self.name} within {timeout_s:g} s")

    def alive(self) -> bool:
        return self.server is None or self.server.poll() is None

    def close(self) -> None:
        """Stop what we started (nothing, for an attached display). Safe to call twice."""
        for proc in (self.wm, self.server):
            if proc is not None:
                _stop(proc)
        self.wm = self.server = None


def _read_display_number(fd: int, server: subprocess.Popen, timeout_s: float) -> int:
    """The number Xvfb writes to the -displayfd pipe once it accepts connections."""
    deadline = time.monotonic() + timeout_s
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise DisplayError(f"Xvfb did not report a display within {timeout_s:g} s")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:  # the server exited (or closed the pipe) without a number
                break
            data += chunk
        elif server.poll() is not None:
            break
    if not data.strip().isdigit():
        server.wait(timeout=5)
        err = (server.stderr.read() if server.stderr else b"").decode(errors="replace").strip().splitlines()
        last = next((line for line in reversed(err) if line.strip()), "no message")
        raise DisplayError(f"Xvfb failed to start (exit {server.returncode}): {last}")
    return int(data.strip())


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, so a crashed or careless
    caller (no close()) leaves no Xvfb behind. Linux only; elsewhere close() and the finalizer still apply."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)
    if proc.stderr is not None:
        proc.stderr.close()
