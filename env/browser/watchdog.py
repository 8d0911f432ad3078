"""A watchdog for hung pages.

Playwright's input calls (mouse, keyboard, evaluate) have no timeout: a page stuck in a busy loop
hangs them, and with them the agent. The watchdog runs beside each env call; when the call
outlives its limit it kills the renderer processes of *this* env's Chromium, which makes the
pending call fail at once ("Target crashed"), so the step becomes an error and the episode ends
with its bundle intact instead of hanging forever.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
from loguru import logger


def chromium_descendants() -> set[int]:
    """PIDs of Chromium main processes below this Python process (launched through Playwright's driver)."""
    pids: set[int] = set()
    try:
        for child in psutil.Process(os.getpid()).children(recursive=True):
            try:
                cmdline = child.cmdline()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if cmdline and not any(a.startswith("--type=") for a in cmdline) and "--remote-debugging-pipe" in cmdline:
                pids.add(child.pid)
    except psutil.Error:
        pass
    return pids


def kill_renderers(browser_pid: int) -> int:
    """Kill the renderer processes of one Chromium; returns how many were killed."""
    killed = 0
    try:
        for child in psutil.Process(browser_pid).children(recursive=True):
            try:
                if "--type=renderer" in child.cmdline():
                    child.kill()
                    killed += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    except psutil.NoSuchProcess:
        pass
    return killed


class Watchdog:
    def __init__(self, browser_pid: int | None, limit_s: float) -> None:
        self.browser_pid = browser_pid
        self.limit_s = limit_s
        self.fired = False

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run the block; if it outlives the limit, kill this browser's renderers."""
        if self.browser_pid is None or self.limit_s <= 0:
            yield
            return

        def fire() -> None:
            self.fired = True
            n = kill_renderers(self.browser_pid)  # type: ignore[arg-type]
            logger.warning("{} hung for {:.0f}s: killed {} renderer process(es)", what, self.limit_s, n)

        timer = threading.Timer(self.limit_s, fire)
        timer.daemon = True
        self.fired = False
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
