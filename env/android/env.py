"""The Android environment: a phone (or the simulated device) through adb and adbutils.

Device pixels are screenshot pixels (scale 1), so actions need no conversion beyond the bounds
check every env gets. After each action the env waits until two consecutive captures agree (or a
timeout), and hands that last capture to the next observe(), so settling costs no extra frame.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.env.android.keys import key_command
from pixelpilot.env.android.link import CommandTimeout, DeviceLink
from pixelpilot.env.android.screen import encode, parse_raw_screencap
from pixelpilot.env.android.text import (
    ADB_KEYBOARD_IME,
    NEEDS_ADB_KEYBOARD,
    KeyPress,
    TextRun,
    UntypableCharacter,
    adb_keyboard_command,
    describe_char,
    input_text_commands,
    typing_plan,
)
from pixelpilot.env.android.uitree import UIElement, focused_text_field, parse_hierarchy
from pixelpilot.env.base import ActionResult, Env, EnvError, Observation, handles
from pixelpilot.env.geometry import ScreenGeometry
from pixelpilot.env.spec import Evaluation, ShellCheck, StartSpec, SuccessCheck, UiCheck
from pixelpilot.tools import (
    ActionBase,
    Back,
    Click,
    DoubleClick,
    Drag,
    Home,
    Key,
    LongPress,
    OpenApp,
    Scroll,
    Swipe,
    Type,
    Wait,
)

_FOCUS = re.compile(r"mCurrentFocus=Window\{[^ ]+ [^ ]+ ([^/\s}]+)(?:/([^\s}]+))?")


class AndroidConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str | None = Field(None, description="device serial; default: the only connected device")
    adb_host: str = "127.0.0.1"
    adb_port: int = 5037
    command_timeout_s: float = Field(10.0, gt=0, description="cap on every adb call")
    reconnect_attempts: int = Field(4, ge=0)
    capture: Literal["raw", "png"] = Field("raw", description="raw skips the on-device PNG encode")
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = Field(90, ge=1, le=100)
    settle_timeout_s: float = Field(2.0, ge=0, description="cap on waiting for a stable screen")
    settle_interval_s: float = Field(0.1, ge=0)


class AndroidEnv(Env):
    kind = "android"

    def __init__(self, config: AndroidConfig | None = None) -> None:
        self.config = config or AndroidConfig()
        self._link: DeviceLink | None = None
        self._frame: Image.Image | None = None  # the last settled capture, reused by observe()

    # ------------------------------------------------------------------ lifecycle
    @property
    def link(self) -> DeviceLink:
        if self._link is None:
            c = self.config
            self._link = DeviceLink(
                c.serial,
                host=c.adb_host,
                port=c.adb_port,
                timeout_s=c.command_timeout_s,
                reconnect_attempts=c.reconnect_attempts,
            )
        return self._link

    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        self._frame = None
        try:
            for command in start.setup:
                rc, out = self.link.shell_rc(command)
                if rc != 0:
                    raise EnvError(f"setup command {command!r} failed ({rc}): {out.strip()[:200]}")
            self.link.shell("input keyevent 3")  # home: every episode starts from the launcher
            if start.app:
                result = self._open(start.app, start.activity, fresh=True)
                if not result.ok:
                    raise EnvError(result.error or f"cannot open {start.app}")
            self._settle()
        except CommandTimeout as exc:
            raise EnvError(str(exc)) from None

    # ------------------------------------------------------------------ device facts
    def screen_info(self) -> dict[str, Any]:
        size = self.link.shell("wm size")
        density = self.link.shell("wm density")
        m = re.findall(r"(\d+)x(\d+)", size)
        d = re.findall(r"(\d+)", density)
        return {
            "size": tuple(map(int, m[-1])) if m else None,  # override size wins over physical
            "density": int(d[-1]) if d else None,
            "rotation": self.rotation(),
            "model": self.link.shell("getprop ro.product.model"),
            "sdk": self.link.shell("getprop ro.build.version.sdk"),
        }

    def rotation(self) -> int:
        out = self.link.shell("dumpsys window displays")
        m = re.search(r"mCurrentRotation=(?:ROTATION_)?(\d+)|mRotation=(?:ROTATION_)?(\d+)", out)
        if not m:
            return 0
        value = int(m.group(1) or m.group(2))
        return value // 90 if value >= 90 else value

    def current_app(self) -> tuple[str | None, str | None]:
        """(package, activity) of the focused window."""
        m = _FOCUS.search(self.link.shell("dumpsys window"))
        return (m.group(1), m.group(2)) if m else (None, None)

    def ui_tree(self) -> list[UIElement]:
        out = self.link.shell("uiautomator dump /dev/tty", timeout_s=max(self.config.command_timeout_s, 10))
        if "<hierarchy" not in out:
            self.link.shell("uiautomator dump /sdcard/window_dump.xml")
            out = self.link.shell("cat /sdcard/window_dump.xml")
        return parse_hierarchy(out)

    # ------------------------------------------------------------------ capture
    def _capture(self) -> Image.Image:
        return self._capture_with_bytes()[1]

    def _capture_with_bytes(self) -> tuple[bytes, Image.Image]:
        """The screen as the bytes adb delivered (for cheap comparisons) and as an image."""
        if self.config.capture == "raw":
            data = self.link.exec_out("screencap")
            try:
                return data, parse_raw_screencap(data)
            except ValueError as exc:
                logger.debug("raw screencap unusable ({}); falling back to PNG", exc)
        data = self.link.exec_out("screencap -p")
        img = Image.open(io.BytesIO(data))
        img.load()
        return data, img

    def observe(self) -> Observation:
        try:
            image = self._frame or self._capture()
            package, _ = self.current_app()
        except CommandTimeout as exc:
            raise EnvError(str(exc)) from None
        self._frame = None
        rgb = image.convert("RGB")
        data = encode(rgb, self.config.image_format, self.config.jpeg_quality)
        w, h = image.size
        obs = Observation(
            screenshot=data,
            image_format=self.config.image_format,
            geometry=ScreenGeometry(width=w, height=h, device_scale_factor=1.0, viewport_width=w, viewport_height=h),
            app=package,
        )
        obs.__dict__["image"] = rgb  # already decoded: spare consumers a decode
        return obs

    def _settle(self) -> None:
        """Capture until two consecutive frames agree (screen stable) or the cap; keep the last.

        Samples are spaced by start time (a capture usually outlasts the interval, so no sleep is
        added then), and frames are compared as the bytes adb delivered, not as decoded images."""
        deadline = time.monotonic() + self.config.settle_timeout_s
        started = time.monotonic()
        previous, image = self._capture_with_bytes()
        while time.monotonic() < deadline:
            time.sleep(max(0.0, self.config.settle_interval_s - (time.monotonic() - started)))
            started = time.monotonic()
            current, image = self._capture_with_bytes()
            if current == previous:
                break
            previous = current
        self._frame = image

    # ------------------------------------------------------------------ act
    def _execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        self._frame = None
        try:
            result = self.run_handler(action, geometry)
            if result.ok and not action.terminal:
                self._settle()
            return result
        except CommandTimeout as exc:
            return ActionResult.failure(str(exc))

    # One handler per tool (see env.base): the table's keys are what this env supports.
    @handles(Click)
    def _tap(self, action: Click, g: ScreenGeometry) -> ActionResult | None:
        self.link.shell(f"input tap {action.x:.0f} {action.y:.0f}")
        return None

    @handles(DoubleClick)
    def _double_tap(self, action: DoubleClick, g: ScreenGeometry) -> ActionResult | None:
        self.link.shell(f"input tap {action.x:.0f} {action.y:.0f} && input tap {action.x:.0f} {action.y:.0f}")
        return None

    @handles(LongPress)
    def _long_press(self, action: LongPress, g: ScreenGeometry) -> ActionResult | None:
        x, y = f"{action.x:.0f}", f"{action.y:.0f}"
        self.link.shell(f"input swipe {x} {y} {x} {y} {action.duration_ms}")
        return None

    @handles(Swipe, Drag)
    def _swipe(self, action: Swipe | Drag, g: ScreenGeometry) -> ActionResult | None:
        duration = action.duration_ms if isinstance(action, Swipe) else 800
        self.link.shell(
            f"input swipe {action.start_x:.0f} {action.start_y:.0f} {action.end_x:.0f} {action.end_y:.0f} {duration}"
        )
        return None

    @handles(Scroll)
    def _scroll(self, action: Scroll, g: ScreenGeometry) -> ActionResult | None:
        # content moves with the finger: to scroll down, swipe up
        d = action.amount
        dx, dy = {"down": (0, -d), "up": (0, d), "right": (-d, 0), "left": (d, 0)}[action.direction]
        x0, y0 = action.x, action.y
        x1, y1 = min(max(x0 + dx, 0), g.width - 1), min(max(y0 + dy, 0), g.height - 1)
        self.link.shell(f"input swipe {x0:.0f} {y0:.0f} {x1:.0f} {y1:.0f} 400")
        return None

    @handles(Key)
    def _key(self, action: Key, g: ScreenGeometry) -> ActionResult | None:
        try:
            command = key_command(action.keys)
        except ValueError as exc:
            return ActionResult.failure(str(exc))
        rc, out = self.link.shell_rc(command)
        if rc != 0:
            return ActionResult.failure(f"key {action.keys!r} failed: {out.strip()[:200]}")
        return None

    @handles(Back)
    def _back(self, action: Back, g: ScreenGeometry) -> ActionResult | None:
        self.link.shell("input keyevent 4")
        return None

    @handles(Home)
    def _home(self, action: Home, g: ScreenGeometry) -> ActionResult | None:
        self.link.shell("input keyevent 3")
        return None

    @handles(OpenApp)
    def _open_app(self, action: OpenApp, g: ScreenGeometry) -> ActionResult | None:
        return self._open(action.app, None)

    @handles(Wait)
    def _wait(self, action: Wait, g: ScreenGeometry) -> ActionResult | None:
        time.sleep(action.seconds)
        return None

    @handles(Type)
    def _type_handler(self, action: Type, g: ScreenGeometry) -> ActionResult | None:
        return self._type(action)

    def focus_is_secret(self) -> bool:
        focused = focused_text_field(self._safe_tree())
        return bool(focused and focused.password)

    def _type(self, action: Type) -> ActionResult:
        """Deliver every character of ``action.text`` into the focused text field, or say which one could not be.

        Text runs go through ``input text`` (ASCII) or the ADB Keyboard IME (anything else); a newline is
        KEYCODE_ENTER and a tab KEYCODE_TAB, pressed between the runs around them. What a key does is the
        field's business: a multiline field inserts it; a single-line field runs its Enter action (next field,
        submit) and moves the focus on Tab. The rest of the text goes to whichever text field has the focus
        after the key, as from a hardware keyboard; if none has, the step stops there with an error naming
        the key. The untyped text is counted, never quoted: it may belong to a secret field.
        """
        field, problem = self._focused_field()
        secret = bool(field and field.password)
        fields = [field.field_id()] if field is not None else []
        # what the text itself cannot do comes first: it would fail in any field
        try:
            plan = typing_plan(action.text)
        except UntypableCharacter as exc:
            return self._typing_failure(f"{exc.describe(secret)}; nothing was typed", fields, secret)
        foreign = next(((i, c) for i, c in enumerate(action.text) if not c.isascii()), None)
        if foreign is not None and not self._adb_keyboard_selected():
            index, char = foreign
            what = f"the character at index {index}" if secret else f"{describe_char(char)} at index {index}"
            why = f"`input text` types ASCII only, and {NEEDS_ADB_KEYBOARD}"
            return self._typing_failure(f"cannot type {what}: {why}; nothing was typed", fields, secret)
        if field is None:
            advice = ": tap the field to type into first" if problem.startswith("no text field") else ""
            return ActionResult.failure(f"{problem}{advice}; nothing was typed")
        if action.clear and field.text:
            # works on every Android version (keycombination needs 13+): end of the line, then delete as many
            # characters as the field holds; over several lines, as many again forwards, for the lines below the
            # cursor. A hint shown in an empty field costs a few harmless presses.
            n = len(field.text)
            codes = ["123"] + ["67"] * n + (["112"] * n if "\n" in field.text else [])
            self.link.shell("input keyevent " + " ".join(codes))
        for number, step in enumerate(plan):
            if isinstance(step, TextRun):
                if (error := self._type_run(step)) is not None:
                    return self._typing_failure(error, fields, secret)
                continue
            self.link.shell(f"input keyevent {step.keycode}")
            if number + 1 == len(plan):
                break
            now, problem = self._focused_field()
            if now is None:
                return self._typing_failure(self._lost_focus(step, len(action.text), problem), fields, secret)
            if now.field_id() != field.field_id():
                fields.append(now.field_id())
            field, secret = now, secret or now.password
        if action.press_enter:
            self.link.shell("input keyevent 66")
        return ActionResult(info={"fields": fields}, sensitive=secret)

    def _focused_field(self) -> tuple[UIElement | None, str]:
        """The focused text field, or why there is none to type into."""
        try:
            elements = self.ui_tree()
        except (ValueError, CommandTimeout) as exc:
            return None, f"cannot tell which field has the focus (uiautomator dump failed: {str(exc)[:160]})"
        field = focused_text_field(elements)
        if field is not None:
            return field, ""
        other = next((e for e in elements if e.focused), None)
        where = f" (the focused view is a {other.class_name.rsplit('.', 1)[-1]})" if other is not None else ""
        return None, f"no text field has focus{where}"

    def _type_run(self, run: TextRun) -> str | None:
        """Type one run of text; the error, if the device refused it."""
        if run.text.isascii():
            for command in input_text_commands(run.text):
                rc, out = self.link.shell_rc(command)
                if rc != 0:
                    return f"input text failed for the text at index {run.index}: {out.strip()[:200]}"
            return None
        self.link.shell(adb_keyboard_command(run.text))
        return None

    @staticmethod
    def _lost_focus(key: KeyPress, length: int, problem: str) -> str:
        left = length - key.end
        what = "character" if left == 1 else "characters"
        return (
            f"the {key.name} at index {key.index} was pressed as {key.keyname}, and after it {problem}; a single-line "
            f"field submits or moves the focus on {'Enter' if key.keycode == 66 else 'Tab'}, so the {left} {what} "
            "after it were not typed"
        )

    @staticmethod
    def _typing_failure(error: str, fields: list[str], secret: bool) -> ActionResult:
        return ActionResult(ok=False, error=error, info={"fields": fields}, sensitive=secret)

    def _adb_keyboard_selected(self) -> bool:
        """The ADB Keyboard's broadcasts type only while it is the selected IME; enabled is not enough."""
        return self.link.shell("settings get secure default_input_method").strip() == ADB_KEYBOARD_IME

    def _safe_tree(self) -> list[UIElement]:
        try:
            return self.ui_tree()
        except (ValueError, CommandTimeout):
            return []

    def _open(self, app: str, activity: str | None, *, fresh: bool = False) -> ActionResult:
        packages = [p.removeprefix("package:") for p in self.link.shell("pm list packages").split()]
        candidates = [app] if app in packages else self._packages_for_label(app, packages)
        if not candidates:
            return ActionResult.failure(f"no app {app!r} on the device; packages: {', '.join(sorted(packages))}")
        errors: list[str] = []
        for package in candidates:  # a label can match several packages; the first that launches wins
            if fresh:  # an episode starts the app anew, not where the last one left it
                self.link.shell(f"am force-stop {package}")
            if activity:
                rc, out = self.link.shell_rc(f"am start -n {package}/{activity}")
            else:
                rc, out = self.link.shell_rc(f"monkey -p {package} -c android.intent.category.LAUNCHER 1")
            if rc == 0 and "Error" not in out and "No activities found" not in out:
                return ActionResult(info={"package": package})
            errors.append(f"{package}: {out.strip()[:120]}")
        return ActionResult.failure(f"cannot start {app!r}: {'; '.join(errors)}")

    @staticmethod
    def _packages_for_label(label: str, packages: list[str]) -> list[str]:
        """'Settings' -> [com.android.settings, ..., com.android.providers.settings]: packages whose last
        segment is the label, content providers (never launchable) last."""
        want = label.strip().lower().replace(" ", "")
        found = [p for p in packages if p.rsplit(".", 1)[-1].lower() == want]
        return sorted(found, key=lambda p: (".providers." in p, p))

    # ------------------------------------------------------------------ evaluate
    def _evaluate(self, check: SuccessCheck) -> Evaluation:
        try:
            if isinstance(check, UiCheck):
                elements = self.ui_tree()
                matches = [e for e in elements if check.matches(e.model_dump())]
                ok = bool(matches) == check.exists
                return Evaluation(
                    success=ok, reward=float(ok), detail=f"{len(matches)} element(s) match {check.describe()}"
                )
            if isinstance(check, ShellCheck):
                out = self.link.shell(check.command)
                ok = re.search(check.pattern, out) is not None
                return Evaluation(success=ok, reward=float(ok), detail=f"`{check.command}` -> {out[:80]!r}")
        except (CommandTimeout, ValueError, EnvError) as exc:
            return Evaluation(success=False, reward=0.0, detail=f"check failed: {exc}")
        return Evaluation(success=False, reward=0.0, detail=f"{check.type} checks need a browser env")

    def info(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"kind": self.kind, "serial": self.link.serial, "capture": self.config.capture}
        try:
            facts.update(self.screen_info())
        except (CommandTimeout, EnvError) as exc:
            facts["error"] = str(exc)
        return facts

    def close(self) -> None:
        self._link = None
