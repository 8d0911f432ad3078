"""The desktop environment: X11 applications on a virtual display, driven through XTest.

One env owns one display (its own Xvfb by default, see display.py) for its whole life; each episode
gets a fresh scratch home, runs the task's setup commands and starts its application there (in a
sandbox where one is available, see sandbox.py), and ends by killing every process it started.

Screenshot pixels are X root-window pixels (scale 1), so actions need no conversion beyond the
bounds check every env gets. Two failures a screenshot cannot show are checked before each
observation: the application crashed (its process died with a signal or an error status), or it hung
(it does not answer ``_NET_WM_PING`` in time, as a SIGSTOPped or deadlocked program does while the
server keeps showing its last frame). Either ends the episode as ``env_error``.
"""

from __future__ import annotations

import io
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from Xlib import error as xerror

from pixelpilot.env.base import ActionResult, Env, EnvError, Observation, handles
from pixelpilot.env.desktop.capture import CaptureMethod, Capturer, open_capturer
from pixelpilot.env.desktop.display import DisplayError, XDisplay
from pixelpilot.env.desktop.sandbox import Sandbox, bubblewrap_works
from pixelpilot.env.desktop.windows import WindowInfo, Windows
from pixelpilot.env.desktop.xinput import XInput
from pixelpilot.env.geometry import ScreenGeometry
from pixelpilot.env.spec import Evaluation, FileCheck, ShellCheck, StartSpec, SuccessCheck, WindowCheck
from pixelpilot.tools import (
    ActionBase,
    Click,
    DoubleClick,
    Drag,
    Key,
    LongPress,
    MiddleClick,
    MouseMove,
    RightClick,
    Scroll,
    Type,
    Wait,
)

#: Screenshot pixels per wheel click when a scroll's distance becomes wheel clicks (about three text lines).
WHEEL_CLICK_PX = 100


class DesktopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display: str | None = Field(None, description="attach to this existing X display (e.g. :1) instead of an own Xvfb")
    allow_display_zero: bool = Field(False, description="allow --display :0 (usually your own session)")
    width: int = Field(1280, ge=64, le=8192, description="own display's width in px (a task's start.viewport wins)")
    height: int = Field(800, ge=64, le=8192)
    depth: Literal[16, 24] = Field(24, description="own display's colour depth")
    window_manager: str | None = Field("openbox", description="window manager run on an own display")
    capture: CaptureMethod = Field("xshm", description="screenshot method (see capture.py)")
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = Field(90, ge=1, le=100)
    sandbox: Literal["auto", "bwrap", "none"] = Field("auto", description="auto: bubblewrap when it works")
    start_timeout_s: float = Field(20.0, gt=0, description="cap on the display's start and on start.wait_window")
    setup_timeout_s: float = Field(30.0, gt=0, description="cap on each setup command and shell check")
    ping_timeout_s: float = Field(5.0, gt=0, description="an app that does not answer _NET_WM_PING in time is hung")
    ping_every_s: float = Field(1.0, ge=0, description="ping the active window at most this often")
    settle_timeout_s: float = Field(1.0, ge=0, description="cap on waiting for a stable screen after an action")
    settle_interval_s: float = Field(0.03, ge=0)


class DesktopEnv(Env):
    kind = "desktop"

    def __init__(self, config: DesktopConfig | None = None) -> None:
        self.config = config or DesktopConfig()
        self.display: XDisplay | None = None
        self.windows: Windows | None = None
        self.input: XInput | None = None
        self.capturer: Capturer | None = None
        self.sandbox: Sandbox | None = None
        self.home: Path | None = None
        self.app: Any = None  # the started application's Popen
        self._app_command: list[str] = []
        self._frame: Image.Image | None = None
        self._last_pong: tuple[int, float] = (0, 0.0)  # (window, when) of the last answered ping

    # ------------------------------------------------------------------ display
    def connect(self, width: int | None = None, height: int | None = None) -> None:
        """Start (or attach to) the display now; DisplayError says in one line why it cannot be."""
        c = self.config
        width, height = width or c.width, height or c.height
        if self.display is not None and self.display.alive():
            if not self.display.owned or (self.display.width, self.display.height) == (width, height):
                return
            self._close_display()  # an own display at another size: start anew
        if c.display:
            display = XDisplay.attach(c.display, allow_display_zero=c.allow_display_zero)
        else:
            display = XDisplay.start(
                width, height, c.depth, window_manager=c.window_manager, timeout_s=c.start_timeout_s
            )
        try:
            self.windows = Windows(display.name)
            self.input = XInput(display.name)
            self.capturer = open_capturer(display.name, c.capture, display.depth or 24)
        except (xerror.DisplayError, xerror.ConnectionClosedError, RuntimeError) as exc:
            display.close()
            raise DisplayError(f"cannot use X display {display.name}: {str(exc).strip().splitlines()[0]}") from None
        if not display.owned:
            root = self.windows.d.screen()
            display.width, display.height, display.depth = root.width_in_pixels, root.height_in_pixels, root.root_depth
        self.display = display
        # a caller that never closes the env (a crashed script) still stops the display it started
        self._finalizer = weakref.finalize(self, display.close)
        use_bwrap = {"bwrap": True, "none": False}.get(c.sandbox)
        if use_bwrap is None:
            use_bwrap = bubblewrap_works()
        elif use_bwrap and not bubblewrap_works():
            raise DisplayError("--sandbox bwrap: bubblewrap is not installed or cannot create namespaces here")
        self.sandbox = Sandbox(use_bwrap=use_bwrap, display_number=display.number, display_name=display.name)
        # said at start-up: a warning (shown by default) when apps run unsandboxed, otherwise with --verbose;
        # the episode record keeps it either way (env.sandbox_note)
        log = logger.info if use_bwrap else logger.warning
        log("desktop on {} ({}x{}): {}", display.name, display.width, display.height, self.sandbox.describe())

    @property
    def geometry(self) -> ScreenGeometry:
        assert self.display is not None
        w, h = self.display.width, self.display.height
        return ScreenGeometry(width=w, height=h, device_scale_factor=1.0, viewport_width=w, viewport_height=h)

    # ------------------------------------------------------------------ episodes
    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        self._end_episode()
        size = (start.viewport.width, start.viewport.height) if start.viewport else (None, None)
        self.connect(*size)
        assert self.display and self.sandbox and self.windows and self.input
        if start.viewport and (self.display.width, self.display.height) != size:
            raise EnvError(
                f"start.viewport {size[0]}x{size[1]} differs from the attached display "
                f"{self.display.name} ({self.display.width}x{self.display.height})"
            )
        self.home = Path(tempfile.mkdtemp(prefix="pixelpilot-home-"))
        self.sandbox.begin(uuid.uuid4().hex, self.home, network=bool(start.network))
        try:
            for command in start.setup:
                rc, out = self.sandbox.run(command, timeout_s=self.config.setup_timeout_s, env=start.env)
                if rc != 0:
                    raise EnvError(f"setup command {command!r} failed ({rc}): {out.strip()[-200:]}")
            if start.command:
                self._start_app(start, artifacts_dir)
            self.input.move(self.display.width - 1, self.display.height - 1)  # the pointer starts out of the way
            self._frame = None
            if start.command and self.config.settle_timeout_s > 0:
                self._settle()  # the first observation shows the app drawn, not its first frame
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise EnvError(f"the desktop could not start the episode: {exc}") from None

    def _start_app(self, start: StartSpec, artifacts_dir: Path | None) -> None:
        assert self.home and self.sandbox and self.windows
        cwd = self.home / start.cwd if start.cwd else self.home
        cwd.mkdir(parents=True, exist_ok=True)
        before = set(self.windows.client_list())
        log = artifacts_dir / "app.log" if artifacts_dir is not None else None
        command = [sys.executable if arg == "{python}" else arg for arg in start.command]
        try:
            self.app = self.sandbox.popen(command, cwd=cwd, env=start.env, log=log)
        except OSError as exc:
            raise EnvError(f"cannot start {start.command[0]!r}: {exc.strerror or exc}") from None
        self._app_command = list(start.command)
        pattern = re.compile(start.wait_window) if start.wait_window else None
        deadline = time.monotonic() + self.config.start_timeout_s
        while True:
            found = self._new_window(pattern, before)
            if found is not None:
                break
            if self.app.poll() is not None:
                tail = _tail(log)
                raise EnvError(
                    f"{command[0]} exited ({_exit_text(self.app.returncode)}) before its window appeared"
                    + (f": {tail}" if tail else "")
                )
            if time.monotonic() >= deadline:
                titles = ", ".join(repr(w.title) for w in self.windows.windows()) or "none"
                want = f"a window titled /{start.wait_window}/" if pattern else "a window"
                raise EnvError(f"{want} did not appear within {self.config.start_timeout_s:g} s (windows: {titles})")
            time.sleep(0.05)
        self.windows.activate(found.id)
        if not self.windows.wait_active(found.id, 5.0):
            logger.warning("window {!r} did not become active", found.title)

    def _new_window(self, pattern: re.Pattern[str] | None, before: set[int]) -> WindowInfo | None:
        assert self.windows
        for wid in self.windows.client_list():
            info = self.windows.info(wid)
            if info is None:
                continue
            if pattern is not None and pattern.search(info.title):
                return info
            if pattern is None and wid not in before:
                return info
        return None

    def _end_episode(self) -> None:
        if self.sandbox is not None:
            killed = self.sandbox.end()
            if killed:
                logger.debug("ended {} process(es) of the episode", killed)
        if self.windows is not None:
            self.windows.forget()
        if self.input is not None:
            try:
                self.input.release_spares()
            except (xerror.ConnectionClosedError, OSError):
                pass
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
        self.app = None
        self._frame = None
        self._last_pong = (0, 0.0)

    # ------------------------------------------------------------------ health
    def _check_app(self) -> WindowInfo | None:
        """Raise EnvError when the episode's application crashed or hung (see the module docstring); else
        the active window. The ping is skipped when the window answered one in the last ``ping_every_s``
        (the settling after an action pings too), so a hang shows at most that much later."""
        if self.display is not None and not self.display.alive():
            raise EnvError(f"the X server {self.display.name} exited")
        app = self.app
        if app is not None and app.poll() is not None and app.returncode != 0:
            raise EnvError(f"the application {self._app_command[0]} crashed ({_exit_text(app.returncode)})")
        assert self.windows
        active = self.windows.active()
        if active is None or self._answered(active.id):
            return active
        if self._ping(active.id) is False:
            raise EnvError(
                f"the application of window {active.title!r} (pid {active.pid}) did not answer _NET_WM_PING "
                f"within {self.config.ping_timeout_s:g} s: it is hung or stopped"
            )
        return active

    def _ping(self, wid: int) -> bool | None:
        assert self.windows
        answered = self.windows.ping(wid, self.config.ping_timeout_s)
        if answered:
            self._last_pong = (wid, time.monotonic())
        elif answered is False:
            self._last_pong = (0, 0.0)
        return answered

    def _answered(self, wid: int) -> bool:
        last_wid, at = self._last_pong
        return last_wid == wid and time.monotonic() - at < self.config.ping_every_s

    # ------------------------------------------------------------------ capture
    def _grab(self) -> Image.Image:
        assert self.capturer
        return self.capturer.grab()

    def observe(self) -> Observation:
        if self.display is None:
            raise EnvError("the desktop env has no display: reset() it first")
        try:
            try:
                active = self._check_app()
            except EnvError:
                self._end_episode()  # the episode is over: a stopped app must not linger until the next reset
                raise
            image = self._frame or self._grab()
            assert self.windows
            pointer = self.windows.pointer()
        except (xerror.ConnectionClosedError, xerror.XError, OSError) as exc:
            raise EnvError(f"the X display {self.display.name} failed: {exc}") from None
        self._frame = None
        data = _encode(image, self.config.image_format, self.config.jpeg_quality)
        obs = Observation(
            screenshot=data,
            image_format=self.config.image_format,
            geometry=ScreenGeometry(
                width=image.width,
                height=image.height,
                device_scale_factor=1.0,
                viewport_width=image.width,
                viewport_height=image.height,
            ),
            title=active.title if active else None,
            app=active.wm_class if active else None,
            pointer=(float(pointer[0]), float(pointer[1])),
            window=active.as_dict() if active else None,
        )
        obs.__dict__["image"] = image  # already decoded: spare consumers a decode
        return obs

    def _settle(self) -> None:
        """Let the application handle the input, then capture until two frames agree (or the cap)."""
        assert self.windows
        active = self.windows.active_id()
        if active is not None:
            self._ping(active)  # it has read our events when it answers (and it is not hung)
        deadline = time.monotonic() + self.config.settle_timeout_s
        previous = self._grab()
        while time.monotonic() < deadline:
            time.sleep(self.config.settle_interval_s)
            current = self._grab()
            if current.tobytes() == previous.tobytes():
                break
            previous = current
        self._frame = previous

    # ------------------------------------------------------------------ act
    def _execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        self._frame = None
        if self.input is None:
            return ActionResult.failure("the desktop env has no display: reset() it first")
        try:
            result = self.run_handler(action, geometry)
            if result.ok and not action.terminal and self.config.settle_timeout_s > 0:
                self._settle()
            return result
        except (xerror.ConnectionClosedError, xerror.XError) as exc:
            raise EnvError(f"the X display failed during {action.tool_name()}: {exc}") from None

    def _catch_up(self) -> None:
        """Wait until the focused application has read everything sent so far (a keymap change)."""
        assert self.windows
        active = self.windows.active_id()
        if active is None or self._ping(active) is None:
            time.sleep(0.1)  # no ping to wait on: give it a moment

    def _pt(self, x: float, y: float) -> tuple[int, int]:
        return int(x), int(y)  # screenshot px are root px; a fraction lands in the pixel it lies in

    @handles(Click)
    def _click(self, action: Click, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.click(*self._pt(action.x, action.y))
        return None

    @handles(DoubleClick)
    def _double_click(self, action: DoubleClick, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.click(*self._pt(action.x, action.y), count=2)
        return None

    @handles(RightClick)
    def _right_click(self, action: RightClick, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.click(*self._pt(action.x, action.y), button="right")
        return None

    @handles(MiddleClick)
    def _middle_click(self, action: MiddleClick, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.click(*self._pt(action.x, action.y), button="middle")
        return None

    @handles(MouseMove)
    def _hover(self, action: MouseMove, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.move(*self._pt(action.x, action.y))
        return None

    @handles(LongPress)
    def _long_press(self, action: LongPress, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.move(*self._pt(action.x, action.y))
        self.input.button(1, True)
        self.input.d.sync()
        time.sleep(action.duration_ms / 1000)
        self.input.button(1, False)
        self.input.d.sync()
        return None

    @handles(Drag)
    def _drag(self, action: Drag, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        self.input.drag(*self._pt(action.start_x, action.start_y), *self._pt(action.end_x, action.end_y))
        return None

    @handles(Scroll)
    def _scroll(self, action: Scroll, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        clicks = max(1, round(action.amount / WHEEL_CLICK_PX))
        self.input.scroll(*self._pt(action.x, action.y), action.direction, clicks)
        return ActionResult(info={"wheel_clicks": clicks})

    @handles(Key)
    def _key(self, action: Key, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        try:
            self.input.key(action.keys, catch_up=self._catch_up)
        except ValueError as exc:
            return ActionResult.failure(str(exc))
        return None

    @handles(Type)
    def _type(self, action: Type, g: ScreenGeometry) -> ActionResult | None:
        assert self.input
        if action.clear:  # the current line: end, select to its start, delete (Tk, GTK and Qt fields agree)
            for combo in ("End", "shift+Home", "BackSpace"):
                self.input.key(combo)
        try:
            self.input.type_text(action.text, catch_up=self._catch_up)
        except ValueError as exc:
            return ActionResult.failure(f"cannot type the text: {exc}")
        if action.press_enter:
            self.input.key("Return")
        return ActionResult(info={"characters": len(action.text)})

    @handles(Wait)
    def _wait(self, action: Wait, g: ScreenGeometry) -> ActionResult | None:
        time.sleep(action.seconds)
        return None

    # ------------------------------------------------------------------ evaluate
    def _evaluate(self, check: SuccessCheck) -> Evaluation:
        try:
            if isinstance(check, ShellCheck):
                assert self.sandbox and self.home
                rc, out = self.sandbox.run(check.command, timeout_s=self.config.setup_timeout_s)
                ok = (check.exit_code is None or rc == check.exit_code) and re.search(check.pattern, out) is not None
                return Evaluation(success=ok, reward=float(ok), detail=f"`{check.command}` -> {rc}, {out[:80]!r}")
            if isinstance(check, FileCheck):
                assert self.home
                path = self.home / check.path
                if not path.is_file():
                    ok = not check.exists
                    return Evaluation(success=ok, reward=float(ok), detail=f"{check.path}: no such file")
                text = path.read_text(encoding="utf-8", errors="replace")
                ok = (re.search(check.pattern, text) is not None) == check.exists
                return Evaluation(success=ok, reward=float(ok), detail=f"{check.path}: {text[:80]!r}")
            if isinstance(check, WindowCheck):
                assert self.windows
                wins = [w for w in [self.windows.active()] if w] if check.active else self.windows.windows()
                titles = [w.title for w in wins]
                ok = any(re.search(check.title, t) for t in titles)
                return Evaluation(success=ok, reward=float(ok), detail=f"windows: {titles!r}")
        except (xerror.ConnectionClosedError, xerror.XError, OSError) as exc:
            return Evaluation(success=False, reward=0.0, detail=f"check failed: {exc}")
        return Evaluation(success=False, reward=0.0, detail=f"the desktop env cannot score {check.type} checks")

    def info(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"kind": self.kind, "capture": self.config.capture}
        if self.display is not None:
            facts.update(
                display=self.display.name,
                own_display=self.display.owned,
                screen=[self.display.width, self.display.height],
                depth=self.display.depth,
                window_manager=self.config.window_manager if self.display.owned else None,
            )
        if self.sandbox is not None:
            facts["sandbox"] = "bwrap" if self.sandbox.use_bwrap else "none"
            facts["sandbox_note"] = self.sandbox.describe()
        return facts

    def _close_display(self) -> None:
        for part in (self.capturer, self.input, self.windows):
            if part is not None:
                try:
                    part.close()
                except Exception:  # noqa: BLE001 - the server may be gone already
                    pass
        self.capturer = self.input = self.windows = None
        if self.display is not None:
            self.display.close()
            self.display = None

    def close(self) -> None:
        self._end_episode()
        self._close_display()


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=1)
    else:
        image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _tail(log: Path | None) -> str:
    if log is None or not log.is_file():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
