"""MiniWoB++ in pixelpilot's browser env, started and scored the way MiniWoB's own environment does.

The tasks are the HTML files of the `miniwob` PyPI package, opened from the installed package
(file://), except the flight tasks, which need http and are served by a local server. An episode
starts like MiniWoB's Selenium instance starts one: ``Math.seedrandom(seed)``,
``core.setDataMode(mode)``, ``core.startEpisodeReal()``, then wait for ``WOB_TASK_READY``; it is
scored from ``WOB_DONE_GLOBAL``, ``WOB_REWARD_GLOBAL`` and ``WOB_RAW_REWARD_GLOBAL``.

The page is loaded once per task and reused across episodes (MiniWoB resets in-page), so a reset
costs a few script calls instead of a browser context and a page load.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError

from pixelpilot.env import EnvError, StartSpec, Viewport
from pixelpilot.env.browser import BrowserConfig, BrowserEnv
from pixelpilot.env.spec import Evaluation, SuccessCheck

#: MiniWoB's window and the task area captured from its top-left corner (CSS px), as MiniWoB's own
#: environment sizes them; task layouts (jQuery UI dialogs) depend on the window being this size.
WINDOW = Viewport(width=500, height=320)
TASK_AREA = Viewport(width=160, height=210)
FLIGHT_WINDOW = Viewport(width=600, height=800)
FLIGHT_TASK_AREA = Viewport(width=375, height=667)


class MiniWobMissing(RuntimeError):
    """The miniwob package is not installed."""


def html_dir() -> Path:
    """The installed package's html/ folder."""
    try:
        import miniwob
    except ImportError:
        raise MiniWobMissing("MiniWoB++ needs the miniwob package: pip install 'pixelpilot[bench]'") from None
    return Path(miniwob.__file__).parent / "html"


def task_names() -> list[str]:
    """Every MiniWoB task the package ships: miniwob/*.html plus the flight.* tasks."""
    root = html_dir()
    names = sorted(p.stem for p in (root / "miniwob").glob("*.html"))
    flights = sorted(f"flight.{p.parent.name}" for p in (root / "flight").glob("*/wrapper.html"))
    return names + flights


def is_flight(task: str) -> bool:
    return task.startswith("flight.")


class _StaticServer:
    """A quiet static file server over the html/ folder, for the tasks that refuse file://."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="miniwob-http")
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


_SCORES_EXPR = """({done: WOB_DONE_GLOBAL, reward: WOB_REWARD_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL,
  reason: WOB_REWARD_REASON, utterance: core.getUtterance(), max_time_ms: core.EPISODE_MAX_TIME})"""
_SCORES = f"() => {_SCORES_EXPR}"

_BEGIN = f"""([seed, mode, maxTimeMs]) => {{
  core.endEpisode(0);
  Math.seedrandom(seed);
  core.setDataMode(mode);
  if (maxTimeMs) core.EPISODE_MAX_TIME = maxTimeMs;
  window.__ppOracleMemory = null;
  core.startEpisodeReal();
  return [WOB_TASK_READY, {_SCORES_EXPR}];
}}"""


class MiniWobEnv(BrowserEnv):
    """A BrowserEnv that runs MiniWoB episodes: ``begin(task, seed)`` then the usual agent loop."""

    kind = "browser"

    def __init__(
        self,
        config: BrowserConfig | None = None,
        *,
        scale: float = 2.0,
        mode: str = "train",
        episode_time_ms: int | None = None,
    ) -> None:
        # the title of a MiniWoB page never changes: skip reading it with every observation
        super().__init__((config or BrowserConfig()).model_copy(update={"capture_title": False}))
        self.settle_probe = "WOB_DONE_GLOBAL"  # read with the settle check: episode_over costs nothing
        self.scale = scale
        self.mode = mode
        self.episode_time_ms = episode_time_ms
        self._server: _StaticServer | None = None
        self._loaded_url: str | None = None
        self.scores: dict[str, Any] = {}

    def start_spec(self, task: str) -> StartSpec:
        """Where ``task`` lives and how big its screen is (the task area at ``scale``)."""
        root = html_dir()
        if is_flight(task):
            self._server = self._server or _StaticServer(root)
            url = f"{self._server.base_url}flight/{task.split('.', 1)[1]}/wrapper.html"
            window, area = FLIGHT_WINDOW, FLIGHT_TASK_AREA
        else:
            path = root / "miniwob" / f"{task}.html"
            if not path.is_file():
                raise EnvError(f"no MiniWoB task {task!r} in {root}")
            url = path.as_uri()
            window, area = WINDOW, TASK_AREA
        self.capture_area = area
        return StartSpec(url=url, viewport=window, device_scale_factor=self.scale)

    def begin(self, task: str, seed: int, *, artifacts_dir: Path | None = None) -> str:
        """Start an episode of ``task`` with ``seed``; returns the instruction (the page's utterance)."""
        start = self.start_spec(task)
        self.reset(start, artifacts_dir=artifacts_dir)
        page = self.page
        try:
            ready, self.scores = page.evaluate(_BEGIN, [seed, self.mode, self.episode_time_ms])
            deadline = time.monotonic() + 2.0
            while not ready and time.monotonic() < deadline:
                time.sleep(0.02)
                ready = page.evaluate("() => WOB_TASK_READY")
            if not ready:
                raise EnvError(f"MiniWoB task {task} did not become ready (WOB_TASK_READY) within 2s")
            if not self.scores["utterance"]:
                self.scores = page.evaluate(_SCORES)  # a task that fills its query once ready
        except PlaywrightError as exc:
            raise EnvError(f"cannot start MiniWoB task {task}: {str(exc).splitlines()[0]}") from None
        return str(self.scores["utterance"])

    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        """Reuse the loaded task page when the task is the same (MiniWoB resets in-page)."""
        reusable = (
            self._context is not None
            and self._loaded_url == start.url
            and len(self._pages) == 1
            and not self._pages[0].is_closed()
            and not self._watchdog.fired
            and self._geometry == (start.viewport, start.device_scale_factor)
        )
        if reusable:
            self._artifacts = artifacts_dir
            self._blocked = []
            self._downloads = []
            return
        self._loaded_url = None
        super().reset(start, artifacts_dir=artifacts_dir)
        self._loaded_url = start.url

    def episode_over(self) -> bool:
        if self.settle_probe_value is not None:  # read with the last action's settle check
            return bool(self.settle_probe_value)
        try:
            return bool(self.page.evaluate("() => WOB_DONE_GLOBAL"))
        except (PlaywrightError, EnvError):
            return False

    def evaluate(self, check: SuccessCheck, *, answer: str | None, declared: str | None) -> Evaluation:
        """MiniWoB scores itself: success is a positive raw reward, reward the (time-decayed) env reward."""
        try:
            self.scores = self.page.evaluate(_SCORES)
        except (PlaywrightError, EnvError) as exc:
            return Evaluation(success=False, reward=0.0, detail=f"could not read the MiniWoB reward: {exc}")
        raw = float(self.scores["raw_reward"] or 0.0)
        done = bool(self.scores["done"])
        detail = json.dumps(
            {k: self.scores[k] for k in ("done", "reward", "raw_reward", "reason")}, separators=(",", ":")
        )
        return Evaluation(success=done and raw > 0, reward=float(self.scores["reward"] or 0.0), detail=detail)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "suite": "miniwob", "scale": self.scale, "mode": self.mode}

    def close(self) -> None:
        super().close()
        self._loaded_url = None
        if self._server is not None:
            self._server.close()
            self._server = None
