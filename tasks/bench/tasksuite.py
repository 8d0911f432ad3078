"""Live suites made of task files: the browser examples and the Android tasks.

Their reference policy ("oracle") is each task's scripted solution, which proves the task, its
success check and the env agree; a model runs them like any other task. Repeated seeds repeat the
episode (task files are deterministic; models that sample are not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.loop import Agent, AgentConfig
from agent.policy import Policy
from agent.policy_spec import PolicySpec
from agent.scripted import ScriptedPolicy, ScriptError
from env import Env, EnvError
from tasks import ANDROID_DIR, EXAMPLES_DIR, Task, TaskFileError
from tasks.bench.core import Suite, SuiteError, Unit, UnitResult, Worker
from tasks.bench.episodes import claim_bundle, run_live_episode


class TaskFileSuite(Suite):
    kind = "live"

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        env_kind: str,
        serials: list[str] | None = None,
        chromium: str | None = None,
        capture: str = "jpeg",
        max_steps: int | None = None,
        reports: bool = True,
    ) -> None:
        self.name = name
        self.directory = directory
        self.env_kind = env_kind
        self.serials = serials or []
        self.chromium = chromium
        self.capture = capture
        self.max_steps = max_steps
        self.reports = reports

    @classmethod
    def for_name(cls, name: str, options: dict[str, Any]) -> TaskFileSuite:
        directory = options.get("data") or (EXAMPLES_DIR if name == "examples" else ANDROID_DIR)
        return cls(
            name,
            Path(directory),
            env_kind="browser" if name == "examples" else "android",
            serials=list(options.get("serial") or []),
            chromium=options.get("chromium"),
            capture=options.get("capture") or "jpeg",
            max_steps=options.get("max_steps"),
            reports=options.get("reports", True),
        )

    def _files(self) -> dict[str, Path]:
        files = {p.stem: p for p in sorted(self.directory.glob("*.yaml"))}
        if not files:
            raise SuiteError(f"no task files (*.yaml) in {self.directory}")
        return files

    def tasks(self) -> list[str]:
        return list(self._files())

    def check_tasks(self, tasks: list[str], policy_spec: PolicySpec) -> None:
        files = self._files()
        for name in tasks:
            try:
                task = Task.from_file(files[name])
            except TaskFileError as exc:
                raise SuiteError(str(exc)) from None
            if policy_spec.kind == "oracle" and not task.solution:
                raise SuiteError(f"task {name} has no scripted solution for --policy oracle")

    def units(self, tasks: list[str], seeds: int) -> list[Unit]:
        return [Unit(task=t, seed=s) for t in tasks for s in range(seeds)]

    def settings(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "env": self.env_kind, "max_steps": self.max_steps}

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        return _TaskFileWorker(self, index, policy_spec)


class _TaskFileWorker(Worker):
    def __init__(self, suite: TaskFileSuite, index: int, policy_spec: PolicySpec) -> None:
        self.suite = suite
        self.policy_spec = policy_spec
        self.env = self._make_env(index)
        self.model: Policy | None = None if policy_spec.kind == "oracle" else policy_spec.build()

    def _make_env(self, index: int) -> Env:
        if self.suite.env_kind == "android":
            from env.android import AndroidConfig, AndroidEnv

            serials = self.suite.serials
            serial = serials[index % len(serials)] if serials else None
            env = AndroidEnv(AndroidConfig(serial=serial))
            env.link  # noqa: B018 - connect now: a missing device fails the worker's start, not each unit
            return env
        from env.browser import BrowserConfig, BrowserEnv

        env = BrowserEnv(BrowserConfig(chromium_path=self.suite.chromium, capture_format=self.suite.capture))  # type: ignore[arg-type]
        env._ensure_browser()  # launch now: a unit's time limit should not pay for the worker's start
        return env

    def run(self, unit: Unit, out_dir: Path) -> UnitResult:
        task = Task.from_file(self.suite._files()[unit.task])
        policy: Policy
        if self.model is None:
            try:
                policy = ScriptedPolicy.from_file(task.solution or "")
            except ScriptError as exc:
                raise EnvError(str(exc)) from None
        else:
            policy = self.model
        spec = task.to_spec()
        if self.suite.max_steps:
            spec = spec.model_copy(update={"max_steps": self.suite.max_steps})
        agent = Agent(self.env, policy, AgentConfig(write_report=self.suite.reports))
        try:
            with claim_bundle(out_dir, unit) as bundle:  # a killed attempt's files go; a live writer is waited for
                return run_live_episode(agent, spec, unit, bundle, suite=self.suite.name, run_root=out_dir)
        finally:
            agent.close()

    def close(self) -> None:
        self.env.close()
