"""The phone suite: seeded task templates on the simulated phone, scored on device state.

``pixelpilot bench phone`` runs every template (tasks/bench/phone_templates.py) for ``--seeds``
seeds from ``--seed-start``; each worker starts its own simulator (port 0: the simulator binds a free
port itself and reports it, so workers never race for one) with ADB Keyboard selected, so text in
any script can be typed. A simulator that dies is recorded as the unit's ``env_error`` and started
afresh before the worker's next unit. ``--serial`` runs on devices you started instead.

The same pieces are a Python API, for recording demonstrations or running a model in a script::

    from pixelpilot.agent import Agent
    from pixelpilot.tasks.bench.phone import PhoneDevice, PhoneOracle, make_episode, templates

    with PhoneDevice() as device:                       # a simulator of its own, adb-connected
        oracle = PhoneOracle(device.env)
        agent = Agent(device.env, oracle)
        for info in templates():
            episode = make_episode(info.name, seed=7)   # instruction, seeded setup, success check
            agent.run(episode.spec, bundle_dir=out / episode.spec.id)
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env import EnvError, StartSpec
from pixelpilot.env.android import AndroidConfig, AndroidEnv
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult, Worker
from pixelpilot.tasks.bench.episodes import claim_bundle, run_live_episode
from pixelpilot.tasks.bench.phone_oracle import PhoneOracle, episode_id
from pixelpilot.tasks.bench.phone_templates import TEMPLATES, PhoneGoal, UnknownTemplate, make_goal

__all__ = ["PhoneDevice", "PhoneEpisode", "PhoneOracle", "PhoneSuite", "TemplateInfo", "make_episode", "templates"]

#: bumped when a template, the seeded state or a check changes meaning: it is part of the run key
SUITE_VERSION = "2"
EPISODE_TIME_LIMIT_S = 180.0


class TemplateInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    summary: str
    start_app: str | None
    max_steps: int


class PhoneEpisode(BaseModel):
    """One (template, seed): the goal (instruction, parameters, starting state, check) and its episode spec."""

    model_config = ConfigDict(frozen=True)
    goal: PhoneGoal
    spec: EpisodeSpec


def templates() -> list[TemplateInfo]:
    """The suite's templates, in a stable order."""
    return [
        TemplateInfo(name=t.name, summary=t.summary, start_app=t.app, max_steps=t.max_steps) for t in TEMPLATES.values()
    ]


def make_episode(template: str, seed: int, *, max_steps: int | None = None) -> PhoneEpisode:
    """Template ``template`` at ``seed`` as an episode spec any Agent runs (UnknownTemplate, a ValueError, if
    there is no such template). Its id is ``TEMPLATE.SEED``, which is how PhoneOracle finds its goal."""
    goal = make_goal(template, seed)
    spec = EpisodeSpec(
        id=episode_id(template, seed),
        instruction=goal.instruction,
        env="android",
        start=StartSpec(app=goal.app, setup=goal.state.setup_commands()),
        success=goal.success,
        max_steps=max_steps or goal.max_steps,
        time_limit_s=EPISODE_TIME_LIMIT_S,
    )
    return PhoneEpisode(goal=goal, spec=spec)


# --------------------------------------------------------------------------- the device
class PhoneDevice:
    """A simulated phone for the suite: started, adb-connected, wrapped in an AndroidEnv; restartable.

    With ``serial`` it wraps a device someone else started instead (nothing is started or stopped).
    """

    def __init__(
        self, serial: str | None = None, *, chromium: str | None = None, capture: Literal["raw", "png"] | None = None
    ) -> None:
        self.serial_given = serial
        self.chromium = chromium
        # the simulator renders PNGs and decodes them for raw screencap, so PNG is its faster path (a phone's is raw:
        # docs/PERFORMANCE.md, Android)
        self.capture: Literal["raw", "png"] = capture or ("raw" if serial else "png")
        self.sim: Any = None
        self.env: AndroidEnv = self._open()

    def _open(self) -> AndroidEnv:
        if shutil.which("adb") is None:
            raise SuiteError("the phone suite needs adb (Debian: apt-get install adb)")
        subprocess.run(["adb", "start-server"], capture_output=True, timeout=60, check=False)
        serial = self.serial_given
        if serial is None:
            from pixelpilot.env.android.simulator import start_simulator

            self.sim = start_simulator(port=0, adb_keyboard=True, chromium_path=self.chromium)
            serial = self.sim.serial
            _connect(serial)
        env = AndroidEnv(AndroidConfig(serial=serial, reconnect_attempts=2, capture=self.capture))
        if self.sim is None:  # someone else's device: it must be a PixelSim, or the seeded setup would do nothing
            model = env.link.shell("getprop ro.product.model").strip()
            if model != "PixelSim":
                raise SuiteError(
                    f"device {serial} is a {model or 'device of unknown model'}, not a PixelSim simulator;"
                    " the phone suite seeds its state through the simulator's apps"
                )
        return env

    @property
    def serial(self) -> str:
        return self.sim.serial if self.sim is not None else str(self.serial_given)

    def alive(self) -> bool:
        return self.sim is None or self.sim.is_running()

    def restart(self) -> AndroidEnv:
        """A fresh simulator (on a new free port) after the last one died; the new env is returned."""
        self.close()
        self.env = self._open()
        return self.env

    def close(self) -> None:
        self.env.close()
        if self.sim is not None:
            subprocess.run(["adb", "disconnect", self.sim.serial], capture_output=True, timeout=30, check=False)
            self.sim.stop()
            self.sim = None

    def __enter__(self) -> PhoneDevice:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _connect(serial: str, timeout_s: float = 30.0) -> None:
    """``adb connect`` and wait for the device state (adb reports a fresh TCP device as offline at first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        subprocess.run(["adb", "connect", serial], capture_output=True, timeout=timeout_s, check=False)
        state = subprocess.run(["adb", "-s", serial, "get-state"], capture_output=True, text=True, timeout=timeout_s)
        if state.stdout.strip() == "device":
            return
        if time.monotonic() > deadline:
            raise SuiteError(f"the simulator at {serial} did not come online in adb within {timeout_s:g}s")
        time.sleep(0.2)


# --------------------------------------------------------------------------- the suite
class PhoneSuite(Suite):
    name = "phone"
    kind = "live"

    def __init__(
        self,
        *,
        seed_start: int = 0,
        max_steps: int | None = None,
        serials: list[str] | None = None,
        chromium: str | None = None,
        reports: bool = True,
    ) -> None:
        self.seed_start = seed_start
        self.max_steps = max_steps
        self.serials = serials or []
        self.chromium = chromium
        self.reports = reports

    def tasks(self) -> list[str]:
        return list(TEMPLATES)

    def task_summaries(self) -> dict[str, str]:
        """What `bench list phone` prints beside each template."""
        return {t.name: t.summary for t in templates()}

    def check_tasks(self, tasks: list[str], policy: PolicySpec) -> None:
        if policy.kind == "scripted":
            raise SuiteError("phone tasks are seeded per episode; use --policy oracle or a model, not a script")

    def units(self, tasks: list[str], seeds: int) -> list[Unit]:
        return [Unit(task=t, seed=s) for t in tasks for s in range(self.seed_start, self.seed_start + seeds)]

    def settings(self) -> dict[str, Any]:
        return {"version": SUITE_VERSION, "max_steps": self.max_steps}

    def describe_run(self) -> dict[str, Any]:
        return {
            **self.settings(),
            "device": ", ".join(self.serials) if self.serials else "a simulator per worker (1080x2340, ADB Keyboard)",
        }

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        return _PhoneWorker(self, index, policy_spec)


class _PhoneWorker(Worker):
    def __init__(self, suite: PhoneSuite, index: int, policy_spec: PolicySpec) -> None:
        self.suite = suite
        serial = suite.serials[index % len(suite.serials)] if suite.serials else None
        self.device = PhoneDevice(serial, chromium=suite.chromium)
        self.model: Policy | None = None if policy_spec.kind == "oracle" else policy_spec.build()

    def run(self, unit: Unit, out_dir: Path) -> UnitResult:
        try:
            episode = make_episode(unit.task, unit.seed, max_steps=self.suite.max_steps)
        except UnknownTemplate as exc:
            raise SuiteError(str(exc)) from None
        if not self.device.alive():  # the last unit's simulator died (recorded there): start a new one
            try:
                self.device.restart()
            except Exception as exc:  # noqa: BLE001 - this unit could not get a device: say so, go on
                return UnitResult(
                    run_key="", suite=self.suite.name, task=unit.task, seed=unit.seed, status="env_error",
                    success=False, error=f"could not restart the simulator: {str(exc).splitlines()[0][:300]}",
                )  # fmt: skip
        env = self.device.env
        policy = self.model if self.model is not None else PhoneOracle(env)
        agent = Agent(env, policy, AgentConfig(write_report=self.suite.reports))
        try:
            with claim_bundle(out_dir, unit) as bundle:
                return run_live_episode(agent, episode.spec, unit, bundle, suite=self.suite.name, run_root=out_dir)
        except EnvError as exc:
            return UnitResult(
                run_key="", suite=self.suite.name, task=unit.task, seed=unit.seed, status="env_error",
                success=False, error=str(exc),
            )  # fmt: skip
        finally:
            agent.close()

    def close(self) -> None:
        if self.model is not None:
            self.model.close()
        self.device.close()
