"""``dumpsys``: the system services' text reports, in the lines host tools grep for.

``window`` carries ``mCurrentFocus=Window{... u0 PKG/ACTIVITY}``, ``mFocusedApp`` and the rotation
(``mCurrentRotation=ROTATION_90``, ``mRotation=1``); ``display`` and ``input`` carry
``orientation=N`` and ``SurfaceOrientation: N``; ``activity`` has ``mResumedActivity``; ``power``
has ``mWakefulness``. Other services answer ``Can't find service`` with status 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pixelpilot.env.android.simulator.packages import apk_dir, component_id, pid, short_component, task_id
from pixelpilot.env.android.simulator.shell import Invocation

if TYPE_CHECKING:
    from pixelpilot.env.android.simulator.device import Device

DENSITY = 440


async def dumpsys(dev: Device, inv: Invocation) -> int:
    args = inv.args[1:]
    if not args or args == ["-l"]:
        await inv.print("Currently running services:")
        for name in sorted(_SERVICES):
            await inv.print(f"  {name}")
        return 0
    service = args[0]
    if service not in _SERVICES:
        await inv.error(f"Can't find service: {service}")
        return 1
    text = await _SERVICES[service](dev, args[1:])
    await inv.out(text.encode())
    return 0


def _display_lines(dev: Device) -> tuple[int, int, int]:
    width, height = dev.screen.size
    return width, height, dev.screen.rotation


async def _window(dev: Device, args: list[str]) -> str:
    cur = await dev.current()
    pkg, act = cur["package"], cur["activity"]
    win = f"Window{{{component_id('win', pkg, act)} u0 {pkg}/{act}}}"
    record = f"ActivityRecord{{{component_id('rec', pkg, act)} u0 {short_component(pkg, act)} t{task_id(pkg)}}}"
    width, height, rotation = _display_lines(dev)
    on = await dev.screen_on()
    return (
        "WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
        f"  Window #0 Window{{{component_id('nav')} u0 NavigationBar0}}:\n"
        "    mDisplayId=0 rootTaskId=1 mSession=Session{4f1c2d0 1234:u0a10100} mClient=android.os.BinderProxy\n"
        f"  Window #1 Window{{{component_id('status')} u0 StatusBar}}:\n"
        "    mDisplayId=0 rootTaskId=1 mSession=Session{4f1c2d0 1234:u0a10100} mClient=android.os.BinderProxy\n"
        f"  Window #2 {win}:\n"
        f"    mDisplayId=0 rootTaskId={task_id(pkg)} mSession=Session{{7a2b3c4 {pid(pkg)}:u0a10200}}\n"
        f"    mActivityRecord={record}\n"
        f"    mHasSurface={str(on).lower()} isReadyForDisplay()={str(on).lower()}\n\n"
        f"  mGlobalConfiguration={{1.0 ?mcc?mnc [en_US] ldltr sw360dp w{width // 3}dp h{height // 3}dp "
        f"{DENSITY}dpi nrml long {'land' if rotation % 2 else 'port'} finger -keyb/v/h -nav/h}}\n"
        "  mHasPermanentDpad=false\n"
        "  mTopFocusedDisplayId=0\n"
        f"  mCurrentFocus={win if on else 'null'}\n"
        f"  mFocusedApp={record}\n\n"
        "WINDOW MANAGER DISPLAY CONTENTS (dumpsys window displays)\n"
        "  Display: mDisplayId=0 (organized) rootTasks=3\n"
        f"    init=1080x2340 {DENSITY}dpi base=1080x2340 {DENSITY}dpi cur={width}x{height} "
        f"app={width}x{height - 216} rng=1080x1008-2340x2268\n"
        f"    mCurrentRotation=ROTATION_{rotation * 90}\n"
        "    mCurrentAppOrientation=SCREEN_ORIENTATION_UNSPECIFIED\n"
        f"    mRotation={rotation} mDeferredRotationPauseCount=0\n"
        f"    mUserRotationMode=USER_ROTATION_LOCKED mUserRotation=ROTATION_{rotation * 90}\n"
        f'    mDisplayInfo=DisplayInfo{{"Built-in Screen", displayId 0, real {width} x {height}, '
        f"largest app {max(width, height)} x {max(width, height)}, rotation {rotation}, "
        f"density {DENSITY} ({DENSITY}.0 x {DENSITY}.0) dpi, state {'ON' if on else 'OFF'}}}\n"
        f"  mCurrentFocus={win if on else 'null'}\n"
        f"  mFocusedApp={record}\n"
    )


async def _activity(dev: Device, args: list[str]) -> str:
    cur = await dev.current()
    pkg, act = cur["package"], cur["activity"]
    record = f"ActivityRecord{{{component_id('rec', pkg, act)} u0 {short_component(pkg, act)} t{task_id(pkg)}}}"
    if args[:1] == ["top"]:
        return (
            "TASK " + pkg + f" id={task_id(pkg)} userId=0\n"
            f"  ACTIVITY {short_component(pkg, act)} {component_id('rec', pkg, act)} pid={pid(pkg)}\n"
            "    Local Activity " + component_id("local", pkg) + " State:\n      mResumed=true mStopped=false\n"
        )
    tasks = await dev.screen.call("tasks")
    lines = [
        "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)",
        "Display #0 (activities from top to bottom):",
    ]
    for t in [{"package": pkg, "activity": act}, *[t for t in tasks if t["package"] != pkg]]:
        p, a = t["package"], t["activity"]
        lines += [
            f"  * Task{{{component_id('task', p)} #{task_id(p)} type=standard A={p} U=0 visible=true}}",
            f"    * Hist  #0: ActivityRecord{{{component_id('rec', p, a)} u0 {short_component(p, a)} t{task_id(p)}}}",
        ]
    lines += [f"  ResumedActivity: {record}", f"  mResumedActivity: {record}", f"  mFocusedApp={record}", ""]
    return "\n".join(lines)


async def _display(dev: Device, args: list[str]) -> str:
    width, height, rotation = _display_lines(dev)
    state = "ON" if await dev.screen_on() else "OFF"
    return (
        "DISPLAY MANAGER (dumpsys display)\n"
        f"  mDefaultDisplayDensity={DENSITY}\n"
        f"  Display States: [0: state={state}]\n"
        '  DisplayDeviceInfo{"Built-in Screen": uniqueId="local:0", 1080 x 2340, modeId 1, '
        f"density {DENSITY}, {DENSITY}.0 x {DENSITY}.0 dpi, rotation 0, type INTERNAL, state {state}}}\n"
        f"  mViewports=[DisplayViewport{{type=INTERNAL, valid=true, isActive=true, displayId=0, "
        f"uniqueId='local:0', physicalPort=0, orientation={rotation}, "
        f"logicalFrame=Rect(0, 0 - {width}, {height}), deviceWidth=1080, deviceHeight=2340}}]\n"
        f'  mOverrideDisplayInfo=DisplayInfo{{"Built-in Screen", displayId 0, real {width} x {height}, '
        f"rotation {rotation}, density {DENSITY} ({DENSITY}.0 x {DENSITY}.0) dpi, state {state}}}\n"
    )


async def _input(dev: Device, args: list[str]) -> str:
    width, height, rotation = _display_lines(dev)
    return (
        "INPUT MANAGER (dumpsys input)\n\nInput Reader State:\n"
        "  Device 1: pixelsim_touchscreen\n    Sources: TOUCHSCREEN\n"
        f"    Touch Input Mapper:\n      SurfaceWidth: {width}px\n      SurfaceHeight: {height}px\n"
        f"      SurfaceOrientation: {rotation}\n"
        f"  Viewport INTERNAL: displayId=0, uniqueId=local:0, orientation={rotation}, "
        f"logicalFrame=[0, 0, {width}, {height}]\n"
    )


async def _power(dev: Device, args: list[str]) -> str:
    on = await dev.screen_on()
    return (
        "POWER MANAGER (dumpsys power)\n"
        f"  mWakefulness={'Awake' if on else 'Asleep'}\n"
        "  mWakefulnessChanging=false\n  mIsPowered=true\n  mPlugType=2\n  mBatteryLevel=100\n"
        f"  mHoldingDisplaySuspendBlocker={str(on).lower()}\n"
        f"  Display Power: state={'ON' if on else 'OFF'}\n"
    )


async def _battery(dev: Device, args: list[str]) -> str:
    return (
        "Current Battery Service state:\n  AC powered: false\n  USB powered: true\n  Wireless powered: false\n"
        "  Max charging current: 500000\n  status: 5\n  health: 2\n  present: true\n  level: 100\n"
        "  scale: 100\n  voltage: 4350\n  temperature: 250\n  technology: Li-ion\n"
    )


async def _input_method(dev: Device, args: list[str]) -> str:
    ime = await dev.screen.call("getSetting", "secure", "default_input_method")
    field = await dev.screen.call("focusedIsField")
    return (
        "Current Input Method Manager state:\n"
        f"  mCurMethodId={ime}\n  mCurrentInputMethod={ime}\n"
        f"  mInputShown={str(bool(field)).lower()}\n  mServedInputConnection={'active' if field else 'null'}\n"
    )


async def _package(dev: Device, args: list[str]) -> str:
    names = [a for a in args if not a.startswith("-")]
    lines = ["Packages:"]
    for name in names or dev.package_names:
        if name not in dev.package_names:
            continue
        lines += [
            f"  Package [{name}] ({component_id('pkg', name)}):",
            f"    codePath={apk_dir(name)}",
            "    versionCode=1 minSdk=34 targetSdk=34",
            "    versionName=1.0",
            "    firstInstallTime=2024-01-01 12:00:00",
            "    lastUpdateTime=2024-01-01 12:00:00",
        ]
    return "\n".join(lines) + "\n"


async def _surfaceflinger(dev: Device, args: list[str]) -> str:
    return 'Display 4619827259835644672 (HWC display 0): port=0 pnpId=PXS displayName="PixelSim Display"\n'


# ----------------------------------------------------------------- packages and activities


_SERVICES: dict[str, Callable[[Device, list[str]], Awaitable[str]]] = {
    "window": _window,
    "activity": _activity,
    "display": _display,
    "input": _input,
    "power": _power,
    "battery": _battery,
    "input_method": _input_method,
    "package": _package,
    "SurfaceFlinger": _surfaceflinger,
}
