"""``python -m pixelpilot.env.android.simulator [--port 5555] [--host 127.0.0.1] [--adb-keyboard]``

Prints ``listening on HOST:PORT`` on stdout once the phone is ready for ``adb connect HOST:PORT``;
logs go to stderr. SIGTERM or SIGINT stops it cleanly (sockets closed, so adb sees the device go).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from loguru import logger

from pixelpilot.env.android.simulator.device import Device, DeviceOptions
from pixelpilot.env.android.simulator.protocol import AdbServer
from pixelpilot.env.android.simulator.screen import Screen


async def serve(
    host: str,
    port: int,
    *,
    adb_keyboard: bool = False,
    chromium_path: str | None = None,
    serialno: str | None = None,
    parent_pid: int | None = None,
) -> None:
    screen = Screen(chromium_path=chromium_path)
    server = AdbServer(None, host, port)  # bound first: the device's serial number names the port
    port = await server.listen()
    device = Device(screen, DeviceOptions(serialno=serialno or f"PIXELSIM{port}", adb_keyboard=adb_keyboard))
    server.device = device
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await device.start()
        await server.serve()
        print(f"listening on {host}:{port}", flush=True)
        watcher = loop.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
        await stop.wait()
        if watcher is not None:
            watcher.cancel()
    finally:
        await server.close()
        await screen.close()


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    """Stop when the process that started us is gone (a test run killed hard must not leak phones)."""
    while not stop.is_set():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
        except PermissionError:
            pass
        await asyncio.sleep(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pixelpilot.env.android.simulator",
        description="A simulated Android phone that speaks the adb device protocol on TCP (adb connect HOST:PORT).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5555, help="TCP port; 0 picks a free one (default 5555)")
    parser.add_argument("--adb-keyboard", action="store_true", help="install ADB Keyboard and make it the IME")
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: auto-detect)")
    parser.add_argument("--serialno", default=None, help="ro.serialno (default PIXELSIM<port>)")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process exits")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    args = parser.parse_args(argv)
    logger.enable("pixelpilot")  # the package is quiet as a library; this program is an application
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    try:
        asyncio.run(
            serve(
                args.host,
                args.port,
                adb_keyboard=args.adb_keyboard,
                chromium_path=args.chromium,
                serialno=args.serialno,
                parent_pid=args.parent_pid,
            )
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
