"""The Android env through the real adb server and adbutils, against the simulated device."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent import Agent, AgentConfig, Decision, Policy, ScriptedPolicy, read_bundle
from pixelpilot.env import EnvError, Observation, StartSpec
from pixelpilot.env.android import AndroidConfig, AndroidEnv
from pixelpilot.env.android.link import CommandTimeout
from pixelpilot.tasks import ANDROID_DIR, Task
from pixelpilot.tools import Back, Click, DoubleClick, Drag, Home, Key, LongPress, OpenApp, Scroll, Swipe, Type
from tests.android_fixtures import adb, connect

HOSTILE = "a; rm -rf / $(reboot) `id` \"q\" 'x' & | > < %s 100%"


def element(env: AndroidEnv, rid: str | None = None, text: str | None = None) -> Any:
    for e in env.ui_tree():
        if (rid is None or e.resource_id.endswith(rid)) and (text is None or e.text == text):
            return e
    raise AssertionError(f"no element {rid or text}")


def act(env: AndroidEnv, action: Any) -> Any:
    obs = env.observe()
    result = env.execute(action, obs.geometry)
    assert result.ok, result.error
    return result


def test_screen_facts_and_capture(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec())
    info = android_env.info()
    assert info["size"] == (1080, 2340) and info["density"] == 440 and info["rotation"] == 0
    assert info["model"] == "PixelSim"
    obs = android_env.observe()
    assert (obs.geometry.width, obs.geometry.height, obs.geometry.device_scale_factor) == (1080, 2340, 1.0)
    assert obs.app == "com.pixelsim.launcher"
    raw = obs.image
    png_env = AndroidEnv(AndroidConfig(serial=android_env.link.serial, capture="png", image_format="png"))
    png = png_env.observe().image
    assert raw.size == png.size == (1080, 2340)
    assert len(set(raw.convert("L").resize((54, 117)).tobytes())) > 8  # a launcher, not a blank frame
    assert png.convert("RGB").tobytes() == raw.convert("RGB").tobytes()  # both paths show the same pixels


def test_tap_back_home_and_open_app(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec())
    settings = element(android_env, "app_settings")
    act(android_env, Click(x=settings.center[0], y=settings.center[1]))
    assert android_env.current_app()[0] == "com.pixelsim.settings"
    assert android_env.observe().app == "com.pixelsim.settings"
    act(android_env, Back())
    assert android_env.current_app()[0] == "com.pixelsim.launcher"
    act(android_env, OpenApp(app="Notes"))
    assert android_env.current_app()[0] == "com.pixelsim.notes"
    act(android_env, OpenApp(app="Settings"))  # also matches com.android.providers.settings, which can't launch
    assert android_env.current_app()[0] == "com.pixelsim.settings"
    act(android_env, Home())
    assert android_env.current_app()[0] == "com.pixelsim.launcher"
    act(android_env, OpenApp(app="com.pixelsim.contacts"))
    assert android_env.current_app()[0] == "com.pixelsim.contacts"
    result = android_env.execute(OpenApp(app="Calculator"), android_env.observe().geometry)
    assert not result.ok and "no app 'Calculator'" in (result.error or "")


def test_toggle_changes_a_setting(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec(app="com.pixelsim.settings", setup=["settings put global airplane_mode_on 0"]))
    row = element(android_env, "airplane_row")
    act(android_env, Click(x=row.center[0], y=row.center[1]))
    assert android_env.link.shell("settings get global airplane_mode_on") == "1"
    assert element(android_env, "airplane_switch").checked


def test_typing_hostile_ascii_literally_and_keys(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec(app="com.pixelsim.contacts"))
    add = element(android_env, "add_contact")
    act(android_env, Click(x=add.center[0], y=add.center[1]))
    name = element(android_env, "id/name")
    act(android_env, Click(x=name.center[0], y=name.center[1]))
    act(android_env, Type(text=HOSTILE))
    assert element(android_env, "id/name").text == HOSTILE
    act(android_env, Key(keys="del"))
    assert element(android_env, "id/name").text == HOSTILE[:-1]
    act(android_env, Type(text="Dana", clear=True))
    assert element(android_env, "id/name").text == "Dana"
    # the device is still there and nothing ran: the simulator only interprets commands
    assert android_env.link.shell("echo alive") == "alive"


def test_non_ascii_needs_adb_keyboard(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec(app="com.pixelsim.notes"))
    result = android_env.execute(Type(text="日本語"), android_env.observe().geometry)
    assert not result.ok
    assert "ADB Keyboard" in (result.error or "") and "ime enable com.android.adbkeyboard/.AdbIME" in result.error


def test_scroll_swipe_drag_long_press(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec(app="com.pixelsim.notes"))
    first = element(android_env, text="Buy milk").bounds[1]
    act(android_env, Scroll(x=540, y=1400, direction="down", amount=600))
    moved = [e for e in android_env.ui_tree() if e.text == "Buy milk"]
    assert not moved or moved[0].bounds[1] < first - 300
    act(android_env, Swipe(start_x=540, start_y=600, end_x=540, end_y=1800, duration_ms=300))
    assert element(android_env, text="Buy milk").bounds[1] == first  # swiped back to the top
    act(android_env, Drag(start_x=540, start_y=1400, end_x=540, end_y=1000))
    act(android_env, LongPress(x=540, y=400, duration_ms=600))
    act(android_env, DoubleClick(x=540, y=150))


def test_unsupported_and_bad_keys(android_env: AndroidEnv) -> None:
    android_env.reset(StartSpec())
    geometry = android_env.observe().geometry
    from pixelpilot.tools import Navigate

    result = android_env.execute(Navigate(url="https://example.com"), geometry)
    assert not result.ok and "navigate is not supported by the android environment" in (result.error or "")
    result = android_env.execute(Key(keys="hyperdrive"), geometry)
    assert not result.ok and "unknown Android key 'hyperdrive'" in (result.error or "")
    result = android_env.execute(Click(x=1080, y=10), geometry)
    assert not result.ok and "outside the 1080x2340 screenshot" in (result.error or "")


def test_every_adb_call_is_bounded(android_env: AndroidEnv) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="timed out after 1s"):
        android_env.link.shell("sleep 30", timeout_s=1)
    assert time.monotonic() - started < 5
    assert android_env.link.shell("echo still-here") == "still-here"


def test_device_selection_errors(android_sim: Any) -> None:
    # a refused port answers at once; an unroutable address makes `adb connect` outlive the
    # command timeout, which must still read as the device's fault, not the adb server's
    refused = r"device 127\.0\.0\.1:1 is not connected \(adb connect: .*refused.*connected: .*127\.0\.0\.1"
    with pytest.raises(EnvError, match=refused):
        AndroidEnv(AndroidConfig(serial="127.0.0.1:1")).link  # noqa: B018
    started = time.monotonic()
    with pytest.raises(EnvError, match=r"device 10\.255\.255\.1:5555 is not connected \(.*\); connected: "):
        AndroidEnv(AndroidConfig(serial="10.255.255.1:5555", command_timeout_s=1)).link  # noqa: B018
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("path", sorted(ANDROID_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_android_task_solved_by_its_script(path: Path, android_env: AndroidEnv, tmp_path: Path) -> None:
    task = Task.from_file(path)
    assert task.env == "android" and task.solution
    result = Agent(android_env, ScriptedPolicy.from_file(task.solution), AgentConfig(out_dir=tmp_path)).run(
        task.to_spec()
    )
    assert result.success, result.detail
    record, steps = read_bundle(result.bundle)
    assert record.env["kind"] == "android" and record.env["size"] == [1080, 2340]
    assert all(s.error is None for s in steps)
    assert steps[0].observation.width == 1080 and steps[0].observation.app


class RestartingPolicy(Policy):
    """Taps harmlessly; at step 2 kills the simulated phone and (optionally) restarts it."""

    def __init__(self, sim: Any, restart: bool) -> None:
        self.sim, self.restart, self.steps = sim, restart, 0

    def decide(self, instruction: str, observation: Observation, history: list[Any]) -> Decision:
        self.steps += 1
        if self.steps == 2:
            from pixelpilot.env.android.simulator.process import start_simulator

            port = int(self.sim.serial.rsplit(":", 1)[1])
            self.sim.stop()
            if self.restart:
                self.sim = start_simulator(port=port)
        if self.steps >= 4:
            return Decision(action={"action": "finish"})
        return Decision(action={"action": "click", "x": 540, "y": 300})


@pytest.mark.parametrize("restart", [True, False], ids=["recovered", "gone"])
def test_device_dropping_mid_episode(adb_server: None, tmp_path: Path, restart: bool) -> None:
    from pixelpilot.env.android.simulator.process import start_simulator

    sim = start_simulator(port=0)
    connect(sim.serial)
    policy = RestartingPolicy(sim, restart)
    env = AndroidEnv(AndroidConfig(serial=sim.serial, command_timeout_s=5, reconnect_attempts=3))
    try:
        result = Agent(env, policy, AgentConfig(out_dir=tmp_path, step_time_limit_s=90)).run(
            Task.from_file(ANDROID_DIR / "open_notes.yaml").to_spec()
        )
    finally:
        policy.sim.stop()
        adb("disconnect", sim.serial)
    record, steps = read_bundle(result.bundle)
    if restart:
        assert result.status == "finished", result.error
        assert len(steps) == 4
    else:
        assert result.status == "env_error"
        assert re.search(r"device 127\.0\.0\.1:\d+ is gone", result.error or "")
        assert record.status == "env_error" and len(steps) >= 1  # the finished steps are intact
        assert all((result.bundle / s.observation.screenshot).exists() for s in steps)


def test_cli_runs_an_android_task_and_lists_devices(android_sim: Any, tmp_path: Path) -> None:
    from tests.test_cli import assert_one_line_error, cli

    proc = cli("run", ANDROID_DIR / "bluetooth.yaml", "--serial", android_sim.serial, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "success" in proc.stdout and proc.stdout.count("✓") == 2

    proc = cli("devices")
    assert proc.returncode == 0
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(android_sim.serial))
    assert "PixelSim" in line and "1080x2340" in line and "density 440" in line

    assert_one_line_error(
        cli("run", ANDROID_DIR / "bluetooth.yaml", "--serial", "127.0.0.1:1", "--out", tmp_path),
        "device 127.0.0.1:1 is not connected",
    )
