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
    """Kills the renderers of the Chromium processes that appeared when this env launched its browser.

    Normally that is exactly one process; should the launch-time scan have seen several (another
    Chromium started at the same moment) or none (a process table read racing an exit), the set
    is re-read when the watchdog fires: anything Chromium below this process that was not there
    before the launch. Over-killing a sibling's renderer is better than hanging forever.
    """

    def __init__(self, browser_pids: set[int], limit_s: float, *, existing_before: set[int] | None = None) -> None:
        self.browser_pids = set(browser_pids)
        self.existing_before = existing_before
        self.limit_s = limit_s
        self.fired = False

    @property
    def armed(self) -> bool:
        return self.limit_s > 0 and (bool(self.browser_pids) or self.existing_before is not None)

    def _targets(self) -> set[int]:
        if len(self.browser_pids) == 1 or self.existing_before is None:
            return self.browser_pids
        return self.browser_pids | (chromium_descendants() - self.existing_before)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run the block; if it outlives the limit, kill this browser's renderers."""
        if not self.armed:
            yield
            return

        inside = True

        def escalate() -> None:
            # The renderer kill did not unblock the call: take the whole browser down (the next
            # reset relaunches it). Better a lost browser than a hung run.
            if inside:
                for pid in self._targets():
                    try:
                        psutil.Process(pid).kill()
                    except psutil.Error:
                        pass
                logger.warning("{} still hung {:.0f}s after the renderer kill: killed the browser", what, 5.0)

        def fire() -> None:
            self.fired = True
            try:
                n = sum(kill_renderers(pid) for pid in self._targets())
                logger.warning("{} hung for {:.0f}s: killed {} renderer process(es)", what, self.limit_s, n)
            except Exception as exc:  # noqa: BLE001 - a watchdog must never die silently
                logger.warning("watchdog could not kill renderers: {}", exc)
            follow_up = threading.Timer(5.0, escalate)
            follow_up.daemon = True
            follow_up.start()

        timer = threading.Timer(self.limit_s, fire)
        timer.daemon = True
        self.fired = False
        timer.start()
        try:
            yield
        finally:
            inside = False
            timer.cancel()
