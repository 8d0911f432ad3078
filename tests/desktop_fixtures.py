"""Shared pieces of the desktop env tests: a real Xvfb, the project's Tk probe app and its event report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pixelpilot.env import StartSpec, Viewport
from pixelpilot.env.desktop import DesktopConfig, DesktopEnv

PROBE = ["{python}", "-m", "pixelpilot.env.desktop.testapp", "probe", "--report", "report.jsonl", "--fullscreen"]


def probe_start(width: int = 1280, height: int = 800, **extra: Any) -> StartSpec:
    return StartSpec(
        command=PROBE, wait_window="pixelpilot probe", viewport=Viewport(width=width, height=height), **extra
    )


def desktop(**config: Any) -> DesktopEnv:
    return DesktopEnv(DesktopConfig(image_format="png", **config))


def events(env: DesktopEnv) -> list[dict[str, Any]]:
    assert env.home is not None
    path = env.home / "report.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_for(env: DesktopEnv, predicate: Any, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """The report once ``predicate(events)`` holds; the app writes asynchronously to our input."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = events(env)
        if predicate(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"the app never reported it; it reported: {got[-12:]}")
        time.sleep(0.05)


def layout(env: DesktopEnv) -> dict[str, list[int]]:
    got = wait_for(env, lambda ev: any(e["event"] == "layout" for e in ev))
    return next(e for e in got if e["event"] == "layout")["targets"]


def home_of(env: DesktopEnv) -> Path:
    assert env.home is not None
    return env.home


def wait_pingable(env: DesktopEnv, wid: int, timeout_s: float = 30.0) -> None:
    """Until the app lists _NET_WM_PING (the test app does once its window is mapped): only then can a hang show."""
    assert env.windows is not None
    deadline = time.monotonic() + timeout_s
    while not env.windows.supports_ping(wid):
        assert time.monotonic() < deadline, "the app never listed _NET_WM_PING"
        time.sleep(0.05)
