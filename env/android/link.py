"""The connection to one device through the adb server: selection, bounded calls, reconnects.

Every adb call carries a timeout, so a hung shell command never hangs the agent. A dropped
device (cable, Wi-Fi, an adb server restart) is reconnected with backoff up to a limit; after
that the env raises EnvError and the episode ends with status env_error, bundle intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import adbutils
from adbutils import AdbClient, AdbDevice, AdbError, AdbTimeout
from loguru import logger

from pixelpilot.env.base import EnvError

T = TypeVar("T")


class CommandTimeout(RuntimeError):
    """One adb command outlived its timeout (the device is still there)."""


class DeviceLink:
    def __init__(
        self,
        serial: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5037,
        timeout_s: float = 10.0,
        reconnect_attempts: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        self.client = AdbClient(host=host, port=port)
        self.timeout_s = timeout_s
        self.reconnect_attempts = reconnect_attempts
        self.backoff_s = backoff_s
        self.serial = self._select(serial)
        self.device: AdbDevice = self.client.device(self.serial)

    def _select(self, serial: str | None) -> str:
        connect_error = ""
        if serial and ":" in serial:
            # a network device: ask the server to connect; an unroutable address times out here,
            # which is the device's fault, not the server's
            try:
                reply = self.client.connect(serial, timeout=self.timeout_s)
                if "connected" not in reply or "failed" in reply or "cannot" in reply:
                    connect_error = f" (adb connect: {reply.strip()})"
            except (AdbError, OSError) as exc:
                connect_error = f" (adb connect: {exc or type(exc).__name__})"
        try:
            listed = self.client.list()
            devices = [d for d in listed if d.state == "device"]
            state = next((d.state for d in listed if d.serial == serial and d.state != "device"), None)
            if state and not connect_error:
                connect_error = f" (state: {state})"
        except (AdbError, OSError) as exc:
            raise EnvError(
                f"cannot reach the adb server at {self.client.host}:{self.client.port}: {exc}; "
                "start it with `adb start-server`"
            ) from None
        serials = [d.serial for d in devices]
        if serial:
            if serial not in serials:
                raise EnvError(
                    f"device {serial} is not connected{connect_error}; connected: {', '.join(serials) or 'none'}"
                )
            return serial
        if len(serials) == 1:
            return serials[0]
        if not serials:
            raise EnvError(
                "no Android device connected (adb devices is empty); connect one or start the "
                "simulator with `pixelpilot android-sim`"
            )
        raise EnvError(f"several devices connected ({', '.join(serials)}); pick one with --serial")

    # ------------------------------------------------------------------ calls
    def call(self, what: str, fn: Callable[[AdbDevice], T], timeout_s: float | None = None) -> T:
        """Run ``fn`` on the device; reconnect with backoff if the device dropped."""
        last: Exception | None = None
        for attempt in range(self.reconnect_attempts + 1):
            try:
                return fn(self.device)
            except AdbTimeout:
                raise CommandTimeout(f"adb {what!r} timed out after {timeout_s or self.timeout_s:g}s") from None
            except (AdbError, OSError, EOFError) as exc:
                last = exc
                if attempt == self.reconnect_attempts:
                    break
                delay = self.backoff_s * 2**attempt
                logger.warning(
                    "device {} dropped during {!r} ({}); reconnecting in {:.1f}s", self.serial, what, exc, delay
                )
                time.sleep(delay)
                self._reconnect()
        raise EnvError(
            f"device {self.serial} is gone: {what!r} failed after {self.reconnect_attempts} reconnect attempts ({last})"
        )

    def _reconnect(self) -> None:
        try:
            if ":" in self.serial:
                # a fresh connect at once; adb's own retry of a known serial takes ~8 s
                self.client.disconnect(self.serial)
                self.client.connect(self.serial, timeout=self.timeout_s)
            self.device = self.client.device(self.serial)
            deadline = time.monotonic() + self.timeout_s
            while self.device.get_state() != "device" and time.monotonic() < deadline:
                time.sleep(0.1)
        except (AdbError, OSError) as exc:
            logger.debug("reconnect to {} failed: {}", self.serial, exc)

    def shell(self, command: str, *, timeout_s: float | None = None) -> str:
        t = timeout_s or self.timeout_s
        return self.call(command, lambda d: d.shell(command, timeout=t), t)

    def shell_rc(self, command: str, *, timeout_s: float | None = None) -> tuple[int, str]:
        t = timeout_s or self.timeout_s
        result = self.call(command, lambda d: d.shell2(command, timeout=t, rstrip=True, v2=True), t)
        return result.returncode, result.output

    def exec_out(self, command: str, *, timeout_s: float | None = None) -> bytes:
        """Binary-safe output (``adb exec-out``): no pty, no newline translation."""
        t = timeout_s or self.timeout_s

        def run(d: AdbDevice) -> bytes:
            conn = d.open_transport(timeout=t)
            try:
                conn.send_command(f"exec:{command}")
                conn.check_okay()
                return _read_all(conn.conn)
            finally:
                conn.close()

        return self.call(command, run, t)


def _read_all(sock: Any) -> bytes:
    """Read a stream to its end in large chunks (adbutils' reader concatenates 4 KiB pieces, which is
    quadratic: ~1.5 s for a 10 MB raw screenshot)."""
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def list_devices(host: str = "127.0.0.1", port: int = 5037) -> list[adbutils.AdbDeviceInfo]:
    return AdbClient(host=host, port=port).list()
