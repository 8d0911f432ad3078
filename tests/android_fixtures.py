"""Fixtures for Android tests: the real adb server, the simulated device, the Android env."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


def adb(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["adb", *args], capture_output=True, text=True, timeout=timeout)


def connect(serial: str, timeout: float = 30) -> None:
    """adb connect, then wait until the device is in the `device` state."""
    import time

    out = adb("connect", serial).stdout
    assert "connected" in out, out
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if adb("-s", serial, "get-state").stdout.strip() == "device":
            return
        time.sleep(0.2)
    raise AssertionError(f"{serial} did not reach the device state")


@pytest.fixture(scope="session")
def adb_server() -> Iterator[None]:
    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (make test installs Debian's adb)")
    adb("start-server")
    yield


@pytest.fixture(scope="session")
def android_sim(adb_server: None) -> Iterator[Any]:
    """One simulated phone for the session, connected to the adb server."""
    from pixelpilot.env.android.simulator.process import start_simulator

    handle = start_simulator(port=0, adb_keyboard=False)
    connect(handle.serial)
    yield handle
    adb("disconnect", handle.serial)
    handle.stop()


@pytest.fixture()
def android_env(android_sim: Any) -> Iterator[Any]:
    from pixelpilot.env.android import AndroidConfig, AndroidEnv

    env = AndroidEnv(AndroidConfig(serial=android_sim.serial, command_timeout_s=10))
    yield env
    env.close()
