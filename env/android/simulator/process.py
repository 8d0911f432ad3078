"""Starting and stopping the simulator as a child process."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

_ROOT = Path(__file__).resolve().parents[3]  # the directory holding the env package


class SimulatorError(RuntimeError):
    """The simulator did not come up (or could not bind its port)."""


@dataclass
class SimulatorHandle:
    """A running simulator. ``serial`` is what adb calls it after ``adb connect``."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    adb_keyboard: bool = False
    _stopped: bool = field(default=False, repr=False)

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Close the device's sockets and end the process (SIGTERM, then SIGKILL after ``timeout``)."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_simulator(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    adb_keyboard: bool = False,
    chromium_path: str | None = None,
    serialno: str | None = None,
    startup_timeout: float = 60.0,
    log_path: Path | None = None,
) -> SimulatorHandle:
    """Start ``python -m pixelpilot.env.android.simulator`` and wait until it listens; port 0 picks a free port.

    The child exits with the calling process, so an interrupted test run does not leak phones.
    """
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="pixelsim-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    cmd = [sys.executable, "-m", "pixelpilot.env.android.simulator", "--host", host, "--port", str(port)]
    cmd += ["--parent-pid", str(os.getpid())]
    if adb_keyboard:
        cmd.append("--adb-keyboard")
    if chromium_path:
        cmd += ["--chromium", chromium_path]
    if serialno:
        cmd += ["--serialno", serialno]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env)
    assert process.stdout is not None
    deadline = time.monotonic() + startup_timeout
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                process.kill()
                process.wait()
                raise SimulatorError(f"simulator did not start within {startup_timeout:.0f}s; log: {log_path}")
            chunk = os.read(process.stdout.fileno(), 1)
            if not chunk:
                process.wait()
                tail = log_path.read_text(errors="replace")[-2000:]
                raise SimulatorError(f"simulator exited with status {process.returncode}:\n{tail}")
            line += chunk
    text = line.decode().strip()
    if not text.startswith("listening on "):
        process.kill()
        raise SimulatorError(f"unexpected simulator output: {text!r}")
    bound_host, _, bound_port = text.removeprefix("listening on ").rpartition(":")
    return SimulatorHandle(bound_host, int(bound_port), process, log_path, adb_keyboard)
