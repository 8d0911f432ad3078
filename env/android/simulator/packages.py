"""Apps and intents: ``pm``, ``am``, ``monkey``, ``ime``, and the ADB Keyboard's broadcasts.

The packages are the page's bundled apps (launcher, Settings, Contacts, Notes) plus a few system
packages so ``pm list packages`` looks like a phone's. ``am start`` resolves ``-n PKG/ACT``, the
settings actions (``android.settings.SETTINGS`` ...), ``-c android.intent.category.HOME`` and a bare
package; ``monkey -p PKG 1`` launches an app the way the launcher does (its task as it was left).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixelpilot.env.android.simulator.content import LOAD_STATE_ACTION, load_state
from pixelpilot.env.android.simulator.shell import Invocation

if TYPE_CHECKING:
    from pixelpilot.env.android.simulator.device import Device

ADB_KEYBOARD = "com.android.adbkeyboard/.AdbIME"
LATIN_IME = "com.android.inputmethod.latin/.LatinIME"
SYSTEM_PACKAGES = (
    "android",
    "com.android.systemui",
    "com.android.shell",
    "com.android.providers.settings",
    "com.android.inputmethod.latin",
)
SETTINGS_ACTIONS = {
    "android.settings.SETTINGS": "SettingsActivity",
    "android.settings.WIFI_SETTINGS": "SettingsActivity",
    "android.settings.BLUETOOTH_SETTINGS": "SettingsActivity",
    "android.settings.AIRPLANE_MODE_SETTINGS": "SettingsActivity",
    "android.settings.DISPLAY_SETTINGS": "SettingsActivity",
    "android.settings.WIRELESS_SETTINGS": "SettingsActivity",
    "android.settings.DEVICE_INFO_SETTINGS": "AboutPhoneActivity",
}


async def pm(dev: Device, inv: Invocation) -> int:
    args = inv.args[1:]
    if args[:2] == ["list", "packages"]:
        flags = [a for a in args[2:] if a.startswith("-")]
        filters = [a for a in args[2:] if not a.startswith("-") and a.isdigit() is False]
        names = dev.package_names
        if "-3" in flags:
            names = [n for n in names if dev.package_info(n) is not None or n == "com.android.adbkeyboard"]
        if "-s" in flags:
            names = [n for n in names if dev.package_info(n) is None and n != "com.android.adbkeyboard"]
        for name in sorted(names):
            if filters and filters[0] not in name:
                continue
            prefix = f"package:{apk_dir(name)}/base.apk=" if "-f" in flags else "package:"
            await inv.print(prefix + name + (" uid:10100" if "-U" in flags else ""))
        return 0
    if args[:1] == ["path"] and len(args) >= 2:
        if args[-1] not in dev.package_names:
            return 1
        await inv.print(f"package:{apk_dir(args[-1])}/base.apk")
        return 0
    if args[:1] == ["clear"] and len(args) >= 2:
        ok = await dev.screen.call("clearData", args[-1])
        await inv.print("Success" if ok or args[-1] in dev.package_names else "Failed")
        return 0 if ok or args[-1] in dev.package_names else 1
    await inv.error(f"PixelSim: pm supports list packages, path and clear; not: pm {' '.join(args)}")
    return 1


async def am(dev: Device, inv: Invocation) -> int:
    args = inv.args[1:]
    if not args:
        await inv.error("usage: am start|start-activity|force-stop|kill|broadcast ...")
        return 1
    verb, rest = args[0], args[1:]
    if verb in ("start", "start-activity"):
        return await _am_start(dev, inv, rest)
    if verb in ("force-stop", "kill", "stop-app") and rest:
        pkg = [a for a in rest if not a.startswith("-") and not a.isdigit()][-1:]
        if verb != "kill" and pkg:
            await dev.screen.call("forceStop", pkg[0])
        return 0
    if verb == "broadcast":
        return await _am_broadcast(dev, inv, rest)
    await inv.error(f"PixelSim: am supports start, force-stop, kill and broadcast; not: am {verb}")
    return 1


async def _am_start(dev: Device, inv: Invocation, args: list[str]) -> int:
    intent = parse_intent(args)
    if intent is None:
        await inv.error("Error: bad arguments to am start")
        return 1
    pkg, activity = None, None
    if intent.component:
        pkg, _, activity = intent.component.partition("/")
        if activity.startswith("."):
            activity = pkg + activity
    elif intent.action in SETTINGS_ACTIONS:
        pkg, activity = "com.pixelsim.settings", "com.pixelsim.settings." + SETTINGS_ACTIONS[intent.action]
    elif "android.intent.category.HOME" in intent.categories:
        pkg, activity = "com.pixelsim.launcher", "com.pixelsim.launcher.LauncherActivity"
    elif intent.package and intent.package in [p["package"] for p in dev.packages]:
        pkg = intent.package
        activity = dev.package_info(pkg)["launcher"]  # type: ignore[index]
    desc = intent.describe()
    await inv.print(f"Starting: Intent {{ {desc} }}")
    if pkg is None:
        await inv.error(f"Error: Activity not started, unable to resolve Intent {{ {desc} flg=0x10000000 }}")
        return 1
    before = await dev.current()
    ok = await dev.screen.call("start", pkg, activity, intent.stop or intent.clear_task)
    if not ok:
        await inv.error("Error type 3")
        await inv.error(f"Error: Activity class {{{pkg}/{activity}}} does not exist.")
        return 1
    if before["package"] == pkg and before["activity"] == activity and not intent.stop:
        await inv.print(
            "Warning: Activity not started, intent has been delivered to currently running top-most instance."
        )
    if intent.wait:
        await inv.print(
            f"Status: ok\nLaunchState: {'HOT' if before['package'] == pkg else 'COLD'}\n"
            f"Activity: {short_component(pkg, activity)}\nTotalTime: 120\nWaitTime: 125\nComplete"
        )
    return 0


async def _am_broadcast(dev: Device, inv: Invocation, args: list[str]) -> int:
    intent = parse_intent(args)
    if intent is None:
        await inv.error("Error: bad arguments to am broadcast")
        return 1
    await inv.print(
        f"Broadcasting: Intent {{ {intent.describe()} flg=0x400000{' (has extras)' if intent.extras else ''} }}"
    )
    if intent.action == LOAD_STATE_ACTION:
        try:
            await inv.print(await load_state(dev, str((intent.extras or {}).get("state", ""))))
        except ValueError as exc:
            await inv.error(f"Broadcast failed: {exc}")
            return 1
    ime = await dev.screen.call("getSetting", "secure", "default_input_method")
    if dev.options.adb_keyboard and ime == ADB_KEYBOARD and intent.action.startswith("ADB_"):
        await _adb_keyboard(dev, intent)
    await inv.print("Broadcast completed: result=0")
    return 0


async def _adb_keyboard(dev: Device, intent: Intent) -> None:
    """The ADB Keyboard IME's broadcast receiver (it only works while it is the selected IME)."""
    extras = intent.extras
    if not await dev.screen.call("focusedIsField"):
        return
    if intent.action == "ADB_INPUT_TEXT" and "msg" in extras:
        await dev.screen.insert(str(extras["msg"]))
    elif intent.action == "ADB_INPUT_B64" and "msg" in extras:
        await dev.screen.insert(base64.b64decode(str(extras["msg"])).decode("utf-8", "replace"))
    elif intent.action == "ADB_INPUT_CHARS" and "chars" in extras:
        await dev.screen.insert("".join(chr(int(c)) for c in str(extras["chars"]).split(",") if c))
    elif intent.action == "ADB_INPUT_CODE" and "code" in extras:
        await dev.key(int(extras["code"]))
    elif intent.action == "ADB_CLEAR_TEXT":
        await dev.screen.press("Control+A")
        await dev.screen.press("Backspace")


async def monkey(dev: Device, inv: Invocation) -> int:
    args = inv.args[1:]
    packages: list[str] = []
    count = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-p" and i + 1 < len(args):
            packages.append(args[i + 1])
            i += 2
        elif a in ("-c", "-s", "--throttle", "--pct-syskeys", "--pct-touch", "--pct-motion") and i + 1 < len(args):
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            count = a
            i += 1
    if count != "1" or len(packages) != 1:
        await inv.error("PixelSim: monkey supports only launching one app: monkey -p PACKAGE [-c CATEGORY] 1")
        return 1
    info = dev.package_info(packages[0])
    if info is None or not info["launcher"]:
        await inv.print("** No activities found to run, monkey aborted.")
        return 252
    await dev.screen.call("start", info["package"], info["launcher"], False)
    await inv.print("Events injected: 1")
    await inv.print("## Network stats: elapsed time=15ms (0ms mobile, 0ms wifi, 15ms not connected)")
    return 0


async def ime(dev: Device, inv: Invocation) -> int:
    args = inv.args[1:]
    installed = [LATIN_IME] + ([ADB_KEYBOARD] if dev.options.adb_keyboard else [])
    enabled_raw = await dev.screen.call("getSetting", "secure", "enabled_input_methods") or ""
    enabled = [m for m in enabled_raw.split(":") if m in installed]
    if args[:1] == ["list"]:
        for method in installed if "-a" in args else enabled:
            await inv.print(method if "-s" in args else f"{method}:\n  mId={method}")
        return 0
    if args[:1] in (["enable"], ["disable"], ["set"]) and len(args) == 2:
        method = args[1]
        if method not in installed:
            await inv.error(f"Unknown input method {method} cannot be {args[0]}d for user #0")
            return 255
        if args[0] == "enable":
            await dev.put_setting("secure", "enabled_input_methods", ":".join(dict.fromkeys([*enabled, method])))
            await inv.print(f"Input method {method}: now enabled for user #0")
        elif args[0] == "disable":
            await dev.put_setting("secure", "enabled_input_methods", ":".join(m for m in enabled if m != method))
            await inv.print(f"Input method {method}: now disabled for user #0")
        else:
            if method not in enabled:
                await inv.error(f"Input method {method} is not enabled for user #0")
                return 255
            await dev.put_setting("secure", "default_input_method", method)
            await inv.print(f"Input method {method} selected for user #0")
        return 0
    await inv.error(f"PixelSim: ime supports list, enable, disable and set; not: ime {' '.join(args)}")
    return 1


def component_id(*parts: object) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()[:7]


def short_component(package: str, activity: str) -> str:
    """``com.x/com.x.Main`` -> ``com.x/.Main``, as ActivityRecord prints it."""
    return f"{package}/{activity[len(package) :]}" if activity.startswith(package + ".") else f"{package}/{activity}"


def task_id(package: str) -> int:
    return 10 + int(hashlib.md5(package.encode()).hexdigest()[:4], 16) % 90


def pid(package: str) -> int:
    return 3000 + int(hashlib.md5(package.encode()).hexdigest()[:4], 16) % 5000


def apk_dir(package: str) -> str:
    if package in SYSTEM_PACKAGES:
        return f"/system/priv-app/{package.rsplit('.', 1)[-1]}"
    return f"/data/app/~~{component_id('apk', package)}==/{package}-1"


@dataclass
class Intent:
    action: str = ""
    component: str = ""
    package: str = ""
    data: str = ""
    categories: tuple[str, ...] = ()
    extras: dict[str, Any] | None = None
    wait: bool = False
    stop: bool = False
    clear_task: bool = False

    def describe(self) -> str:
        parts = []
        if self.action:
            parts.append(f"act={self.action}")
        if self.categories:
            parts.append("cat=[" + ",".join(self.categories) + "]")
        if self.data:
            parts.append(f"dat={self.data}")
        if self.component:
            pkg, _, act = self.component.partition("/")
            parts.append(f"cmp={short_component(pkg, pkg + act if act.startswith('.') else act)}")
        elif self.package:
            parts.append(f"pkg={self.package}")
        return " ".join(parts)


_EXTRA_TYPES = {"--es": str, "--ei": int, "--el": int, "--ef": float, "--ez": lambda v: v.lower() in ("true", "1")}


def parse_intent(args: list[str]) -> Intent | None:
    intent = Intent(extras={})
    categories: list[str] = []
    i = 0
    try:
        while i < len(args):
            a = args[i]
            if a == "-a":
                intent.action = args[i + 1]
            elif a == "-n":
                intent.component = args[i + 1]
            elif a == "-c":
                categories.append(args[i + 1])
            elif a == "-d":
                intent.data = args[i + 1]
            elif a in ("-p", "--package"):
                intent.package = args[i + 1]
            elif a in ("-t", "--user", "-f", "--display", "--windowingMode", "--activityType", "--receiver-permission"):
                if a == "-f" and int(args[i + 1], 0) & 0x8000:  # FLAG_ACTIVITY_CLEAR_TASK
                    intent.clear_task = True
            elif a in _EXTRA_TYPES:
                assert intent.extras is not None
                intent.extras[args[i + 1]] = _EXTRA_TYPES[a](args[i + 2])
                i += 3
                continue
            elif a in ("--eia", "--esa"):
                assert intent.extras is not None
                intent.extras[args[i + 1]] = args[i + 2]
                i += 3
                continue
            elif a.startswith("-"):
                intent.wait = intent.wait or a == "-W"
                intent.stop = intent.stop or a == "-S"
                intent.clear_task = intent.clear_task or a == "--activity-clear-task"
                i += 1
                continue
            else:  # a bare package or component
                if "/" in a:
                    intent.component = a
                else:
                    intent.package = a
                i += 1
                continue
            i += 2
    except (IndexError, ValueError):
        return None
    intent.categories = tuple(categories)
    return intent
