"""The simulated phone: its properties, settings, and the Android commands a shell user runs.

Each command is what ``/system/bin/<name>`` would be on a phone (here ``input``, ``screencap``,
``uiautomator``, ``wm``, ``getprop``, ``settings``, ``svc``; ``dumpsys`` in dumpsys.py; ``pm``,
``am``, ``monkey``, ``ime`` in packages.py), answering in the phone's output format so host tools
(adb, adbutils) parse it unchanged. State that apps show on screen (settings, app stacks, contacts,
notes) lives in the page; the device reads and writes it through the Screen. Options a command does
not support fail loudly (a message on stderr, non-zero status) rather than pretending to work.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from pixelpilot.env.android.simulator import content, dumpsys, packages
from pixelpilot.env.android.simulator.coreutils import BUILTINS
from pixelpilot.env.android.simulator.filesystem import VirtualFS
from pixelpilot.env.android.simulator.keys import PAGE_KEYS, keycode
from pixelpilot.env.android.simulator.packages import ADB_KEYBOARD, LATIN_IME, SYSTEM_PACKAGES
from pixelpilot.env.android.simulator.screen import Screen
from pixelpilot.env.android.simulator.shell import Handler, Invocation, Shell, Writer

MODEL = "PixelSim"
DENSITY = dumpsys.DENSITY


@dataclass
class DeviceOptions:
    serialno: str = "PIXELSIM0001"
    adb_keyboard: bool = False
    clock: str = "12:00"


def default_settings(options: DeviceOptions) -> dict[str, dict[str, str]]:
    ime = ADB_KEYBOARD if options.adb_keyboard else LATIN_IME
    enabled = f"{LATIN_IME}:{ADB_KEYBOARD}" if options.adb_keyboard else LATIN_IME
    return {
        "global": {
            "airplane_mode_on": "0",
            "wifi_on": "1",
            "bluetooth_on": "0",
            "mobile_data": "1",
            "adb_enabled": "1",
            "development_settings_enabled": "1",
            "stay_on_while_plugged_in": "0",
            "auto_time": "1",
            "device_name": MODEL,
            "window_animation_scale": "1.0",
            "transition_animation_scale": "1.0",
            "animator_duration_scale": "1.0",
        },
        "secure": {
            "ui_night_mode": "1",
            "default_input_method": ime,
            "enabled_input_methods": enabled,
            "android_id": hashlib.sha1(options.serialno.encode()).hexdigest()[:16],
            "location_mode": "3",
            "show_ime_with_hard_keyboard": "1",
        },
        "system": {
            "screen_brightness": "128",
            "screen_brightness_mode": "0",
            "screen_off_timeout": "600000",
            "accelerometer_rotation": "0",
            "user_rotation": "0",
            "font_scale": "1.0",
        },
    }


class Device:
    """The phone behind the adb transport: one per simulator process."""

    def __init__(self, screen: Screen, options: DeviceOptions) -> None:
        self.screen = screen
        self.options = options
        self.fs = VirtualFS()
        self.packages: list[dict[str, Any]] = []
        self.props = {
            "ro.product.model": MODEL,
            "ro.product.name": "pixelsim",
            "ro.product.device": "pixelsim",
            "ro.product.brand": "pixelpilot",
            "ro.product.manufacturer": "PixelPilot",
            "ro.product.board": "pixelsim",
            "ro.product.cpu.abi": "x86_64",
            "ro.product.cpu.abilist": "x86_64,arm64-v8a",
            "ro.product.locale": "en-US",
            "ro.build.version.sdk": "34",
            "ro.build.version.release": "14",
            "ro.build.version.release_or_codename": "14",
            "ro.build.version.security_patch": "2024-01-05",
            "ro.build.id": "UPB5.230623.003",
            "ro.build.display.id": "pixelsim-userdebug 14 UPB5.230623.003 eng.pixelpilot",
            "ro.build.type": "userdebug",
            "ro.build.tags": "test-keys",
            "ro.build.fingerprint": "pixelpilot/pixelsim/pixelsim:14/UPB5.230623.003/1:userdebug/test-keys",
            "ro.build.characteristics": "default",
            "ro.serialno": options.serialno,
            "ro.boot.serialno": options.serialno,
            "ro.sf.lcd_density": str(DENSITY),
            "ro.debuggable": "1",
            "ro.secure": "1",
            "ro.adb.secure": "0",
            "ro.hardware": "pixelsim",
            "ro.kernel.qemu": "0",
            "sys.boot_completed": "1",
            "dev.bootcomplete": "1",
            "init.svc.bootanim": "stopped",
            "persist.sys.locale": "en-US",
            "persist.sys.timezone": "UTC",
            "service.adb.root": "0",
        }
        self.commands: dict[str, Handler] = {
            "input": self.input,
            "screencap": self.screencap,
            "uiautomator": self.uiautomator,
            "wm": self.wm,
            "getprop": self.getprop,
            "setprop": self.setprop,
            "settings": self.settings,
            "dumpsys": partial(dumpsys.dumpsys, self),
            "pm": partial(packages.pm, self),
            "am": partial(packages.am, self),
            "monkey": partial(packages.monkey, self),
            "ime": partial(packages.ime, self),
            "svc": self.svc,
            "content": partial(content.content, self),
        }

    async def start(self) -> None:
        await self.screen.start(
            {
                "device": {
                    "model": MODEL,
                    "release": self.props["ro.build.version.release"],
                    "sdk": self.props["ro.build.version.sdk"],
                    "build": self.props["ro.build.id"],
                    "serial": self.options.serialno,
                },
                "clock": self.options.clock,
                "settings": default_settings(self.options),
            }
        )
        self.packages = await self.screen.call("packages")

    def shell(self) -> Shell:
        return Shell({**BUILTINS, **self.commands}, self.fs)

    async def run(self, line: str, out: Writer, err: Writer) -> int:
        """Run one command line as ``sh -c`` would."""
        return await self.shell().run(line, out, err)

    # ----------------------------------------------------------------- helpers
    @property
    def package_names(self) -> list[str]:
        names = [p["package"] for p in self.packages] + list(SYSTEM_PACKAGES)
        if self.options.adb_keyboard:
            names.append("com.android.adbkeyboard")
        return names

    def package_info(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.packages if p["package"] == name), None)

    async def current(self) -> dict[str, Any]:
        return await self.screen.call("current")

    async def screen_on(self) -> bool:
        return bool(await self.screen.call("screenOn"))

    # ----------------------------------------------------------------- input
    async def input(self, inv: Invocation) -> int:
        args = inv.args[1:]
        if args[:1] == ["-d"]:
            if len(args) < 2 or args[1] not in ("0", "-1"):
                await inv.error(f"Error: display {args[1] if len(args) > 1 else ''} not found")
                return 1
            args = args[2:]
        sources = {"touchscreen", "touchpad", "mouse", "keyboard", "dpad", "gamepad", "stylus", "trackball"}
        if args and args[0] in sources | {"touchnavigation", "joystick", "rotaryencoder", "keyboard"}:
            args = args[1:]
        if not args:
            await inv.error(_INPUT_USAGE)
            return 1
        command, rest = args[0], args[1:]
        try:
            if command == "text":
                return await self._input_text(inv, rest)
            if command == "keyevent":
                return await self._keyevents(inv, rest)
            if command in ("tap", "swipe", "draganddrop", "motionevent"):
                if not await self.screen_on():
                    return 0  # the touchscreen sleeps with the display
            if command == "tap" and len(rest) == 2:
                await self.screen.tap(float(rest[0]), float(rest[1]))
                return 0
            if command in ("swipe", "draganddrop") and len(rest) in (4, 5):
                x1, y1, x2, y2 = (float(v) for v in rest[:4])
                duration = int(float(rest[4])) if len(rest) == 5 else 300
                hold = 600 if command == "draganddrop" else 0
                await self.screen.swipe(x1, y1, x2, y2, max(duration, 0), hold_ms=hold)
                return 0
            if command == "motionevent" and len(rest) == 3 and rest[0].upper() in ("DOWN", "UP", "MOVE", "CANCEL"):
                await self.screen.motion(rest[0].upper(), float(rest[1]), float(rest[2]))
                return 0
        except ValueError:
            pass
        if command not in ("tap", "swipe", "draganddrop", "motionevent"):
            await inv.error(f"Error: Unknown command: {command}\n{_INPUT_USAGE}")
            return 1
        await inv.error(f"Error: Invalid arguments for command: {command}\n{_INPUT_USAGE}")
        return 1

    async def _input_text(self, inv: Invocation, rest: list[str]) -> int:
        if not rest:
            await inv.error(f"Error: Invalid arguments for command: text\n{_INPUT_USAGE}")
            return 1
        text = rest[0].replace("%s", " ")  # as Android's `input text` does; further arguments are ignored
        bad = next((c for c in text if ord(c) > 126 or (ord(c) < 32 and c not in "\n\t")), None)
        if bad is not None:
            await inv.error(
                "Exception occurred while executing 'text':\n"
                f"java.lang.IllegalArgumentException: no key events for character {bad!r} (U+{ord(bad):04X}) "
                "in the virtual keyboard's character map; `input text` types ASCII only, use an IME such as "
                "ADB Keyboard for other text"
            )
            return 255
        if await self.screen_on():
            # the virtual keyboard's character map types a newline as ENTER and a tab as TAB: the focused view
            # gets those key presses between the text around them, and decides what they do
            for part in re.split(r"([\n\t])", text):
                if part in ("\n", "\t"):
                    await self.key(66 if part == "\n" else 61)
                elif part:
                    await self.screen.type(part)
        return 0

    async def _keyevents(self, inv: Invocation, rest: list[str]) -> int:
        codes = [a for a in rest if not a.startswith("--")]
        if not codes:
            await inv.error(f"Error: Invalid arguments for command: keyevent\n{_INPUT_USAGE}")
            return 1
        resolved = []
        for name in codes:
            code = keycode(name)
            if code is None:
                await inv.error(f"Error: Unknown keycode: {name}")
                return 1
            resolved.append(code)
        for code in resolved:
            await self.key(code)
        return 0

    async def key(self, code: int) -> None:
        """Deliver one key press: system keys act on the phone, the rest go to the focused view."""
        if code in (26, 223, 224):  # POWER toggles, SLEEP, WAKEUP
            on = await self.screen_on()
            await self.screen.call("setScreen", (not on) if code == 26 else code == 224)
            return
        if not await self.screen_on():
            if code in (3, 82):  # HOME and MENU wake the screen on many devices
                await self.screen.call("setScreen", True)
            return
        if code == 4 or code == 111:  # BACK, ESCAPE
            await self.screen.call("back")
        elif code == 3:
            await self.screen.call("home")
        elif code == 187:
            await self.screen.call("appSwitch")
        elif code in PAGE_KEYS:
            await self.screen.press(PAGE_KEYS[code])
        # volume, media, camera, call... keys: accepted, no visible effect in the simulated apps

    # ----------------------------------------------------------------- capture and hierarchy
    async def screencap(self, inv: Invocation) -> int:
        args = inv.args[1:]
        png = False
        target: str | None = None
        i = 0
        while i < len(args):
            a = args[i]
            if a == "-d" and i + 1 < len(args):
                if args[i + 1] not in ("0", "4619827259835644672"):
                    await inv.error(f"Display Id '{args[i + 1]}' is not valid.")
                    return 1
                i += 2
                continue
            if a.startswith("-") and len(a) > 1:
                if set(a[1:]) - set("pha"):
                    await inv.error(f"screencap: unknown option '{a}'\n{_SCREENCAP_USAGE}")
                    return 1
                if "h" in a:
                    await inv.print(_SCREENCAP_USAGE)
                    return 0
                png = png or "p" in a
            else:
                target = a
            i += 1
        png = png or (target is not None and target.endswith(".png"))
        data = await (self.screen.png() if png else self.screen.raw())
        if target is None:
            await inv.out(data)
            return 0
        try:
            self.fs.write(target, data)
        except OSError:
            await inv.error(f"Error opening file: {target} (Read-only file system)")
            return 1
        return 0

    async def uiautomator(self, inv: Invocation) -> int:
        args = inv.args[1:]
        if not args or args[0] != "dump":
            await inv.error(
                "Usage: uiautomator <subcommand> [options]\n"
                "PixelSim's uiautomator supports only: dump [--compressed] [--windows] [FILE]"
            )
            return 1
        paths = [a for a in args[1:] if not a.startswith("--")]
        target = paths[0] if paths else "/sdcard/window_dump.xml"
        if not await self.screen_on():
            await inv.error("ERROR: null root node returned by UiTestAutomationBridge.")
            return 1
        xml = await self.screen.hierarchy_xml()
        if target == "/dev/tty" or target == "/dev/stdout":
            await inv.out(xml.encode())
            await inv.print(f"UI hierchary dumped to: {target}")
            return 0
        try:
            self.fs.write(target, xml.encode())
        except OSError:
            await inv.error(f"ERROR: could not write {target}")
            return 1
        await inv.print(f"UI hierchary dumped to: {target}")
        return 0

    # ----------------------------------------------------------------- wm, props, settings
    async def wm(self, inv: Invocation) -> int:
        args = inv.args[1:]
        if args == ["size"]:
            await inv.print("Physical size: 1080x2340")
            return 0
        if args == ["density"]:
            await inv.print(f"Physical density: {DENSITY}")
            return 0
        if args[:1] in (["size"], ["density"]):
            await inv.error(f"PixelSim: 'wm {' '.join(args)}' (overriding the display) is not supported")
            return 1
        await inv.error(f"Error: unknown or unsupported wm command: {' '.join(args) or '(none)'}")
        return 1

    async def getprop(self, inv: Invocation) -> int:
        args = inv.args[1:]
        if not args:
            for key in sorted(self.props):
                await inv.print(f"[{key}]: [{self.props[key]}]")
            return 0
        await inv.print(self.props.get(args[0], args[1] if len(args) > 1 else ""))
        return 0

    async def setprop(self, inv: Invocation) -> int:
        args = inv.args[1:]
        if len(args) != 2:
            await inv.error("usage: setprop NAME VALUE")
            return 1
        if args[0].startswith("ro.") and args[0] in self.props:
            await inv.error(f"Failed to set property '{args[0]}' to '{args[1]}'.")
            return 1
        self.props[args[0]] = args[1]
        return 0

    async def settings(self, inv: Invocation) -> int:
        args = inv.args[1:]
        while args[:1] == ["--user"] and len(args) > 1:
            args = args[2:]
        if len(args) < 2:
            await inv.error("usage: settings [--user N] get|put|delete|list NAMESPACE [KEY [VALUE]]")
            return 1
        verb, ns = args[0], args[1]
        if ns not in ("global", "secure", "system"):
            await inv.error(f"Invalid namespace '{ns}'")
            return 1
        if verb == "list":
            values = await self.screen.call("listSettings", ns)
            for key in sorted(values):
                await inv.print(f"{key}={values[key]}")
            return 0
        if verb == "get" and len(args) == 3:
            value = await self.screen.call("getSetting", ns, args[2])
            await inv.print("null" if value is None else value)
            return 0
        if verb == "put" and len(args) >= 4:
            await self.put_setting(ns, args[2], args[3])
            return 0
        if verb == "delete" and len(args) == 3:
            had = await self.screen.call("deleteSetting", ns, args[2])
            await inv.print(f"Deleted {int(had)} rows")
            return 0
        await inv.error(f"Invalid or unsupported settings command: {' '.join(args)}")
        return 1

    async def put_setting(self, ns: str, key: str, value: str) -> None:
        await self.screen.call("putSetting", ns, key, value)
        if ns == "system" and key in ("user_rotation", "accelerometer_rotation"):
            auto = await self.screen.call("getSetting", "system", "accelerometer_rotation")
            user = await self.screen.call("getSetting", "system", "user_rotation")
            # the simulated accelerometer says "upright": auto-rotate means rotation 0
            rotation = 0 if auto == "1" else int(user) % 4 if (user or "").isdigit() else 0
            if rotation != self.screen.rotation:
                await self.screen.set_rotation(rotation)

    async def svc(self, inv: Invocation) -> int:
        args = inv.args[1:]
        keys = {"wifi": "wifi_on", "bluetooth": "bluetooth_on", "data": "mobile_data"}
        if len(args) == 2 and args[0] in keys and args[1] in ("enable", "disable"):
            await self.put_setting("global", keys[args[0]], "1" if args[1] == "enable" else "0")
            return 0
        await inv.error(f"PixelSim: svc supports only wifi|bluetooth|data enable|disable, not: {' '.join(args)}")
        return 1

    # ----------------------------------------------------------------- dumpsys


_SCREENCAP_USAGE = "usage: screencap [-hp] [-d display-id] [FILENAME]"
_INPUT_USAGE = """Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]
The commands and default sources are:
      text <string> (Default: keyboard)
      keyevent [--longpress|--doubletap] <key code number or name> ... (Default: keyboard)
      tap <x> <y> (Default: touchscreen)
      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)
      draganddrop <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)
      motionevent <DOWN|UP|MOVE|CANCEL> <x> <y> (Default: touchscreen)"""
