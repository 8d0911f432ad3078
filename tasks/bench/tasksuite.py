"""Live suites made of task files: the browser examples, the Android tasks, or any folder of them.

Their reference policy ("oracle") is each task's scripted solution, which proves the task, its
success check and the env agree; a model runs them like any other task. Repeated seeds repeat the
episode (task files are deterministic; models that sample are not). Each task runs on the env kind
its file names (env/registry.py), so a folder of a plugin's tasks is a suite too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.agent.scripted import ScriptedPolicy, ScriptError
from pixelpilot.env import Env, EnvError
from pixelpilot.env.registry import EnvOptions, env_kind
from pixelpilot.tasks import ANDROID_DIR, DESKTOP_DIR, EXAMPLES_DIR, Task, TaskFileError
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult, Worker
from pixelpilot.tasks.bench.episodes import claim_bundle, run_live_episode


class TaskFileSuite(Suite):
    kind = "live"

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        serials: list[str] | None = None,
        chromium: str | None = None,
        capture: str = "jpeg",
        max_steps: int | None = None,
        reports: bool = True,
    ) -> None:
        self.name = name
        self.directory = directory
        self.serials = serials or []
        self.chromium = chromium
        self.capture = capture
        self.max_steps = max_steps
        self.reports = reports

    @classmethod
    def for_name(cls, name: str, options: dict[str, Any]) -> TaskFileSuite:
        shipped = {"examples": EXAMPLES_DIR, "desktop": DESKTOP_DIR}.get(name, ANDROID_DIR)
        directory = options.get("data") or shipped
        return cls(
            name,
            Path(directory),
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

    def env_kinds(self) -> list[str]:
        """The env kinds the task files name, in file order (a file that does not parse is check_tasks' to report)."""
        kinds: list[str] = []
        for path in self._files().values():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            kind = data.get("env", "browser") if isinstance(data, dict) else "browser"
            if isinstance(kind, str) and kind not in kinds:
                kinds.append(kind)
        return kinds

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
        return {"directory": str(self.directory), "env": ",".join(self.env_kinds()), "max_steps": self.max_steps}

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        return _TaskFileWorker(self, index, policy_spec)


class _TaskFileWorker(Worker):
    """One env per kind the tasks need, opened when first needed; the first kind is opened at once so a
    unit's time limit does not pay for the worker's start (and a missing device fails the worker, not each unit).
    """

    def __init__(self, suite: TaskFileSuite, index: int, policy_spec: PolicySpec) -> None:
        self.suite = suite
        self.index = index
        self.policy_spec = policy_spec
        self.envs: dict[str, Env] = {}
        kinds = suite.env_kinds()
        if kinds:
            self._env(kinds[0])
        self.model: Policy | None = None if policy_spec.kind == "oracle" else policy_spec.build()

    def _env(self, kind: str) -> Env:
        if kind not in self.envs:
            serials = self.suite.serials
            options = EnvOptions(
                chromium=self.suite.chromium,
                capture=self.suite.capture,  # type: ignore[arg-type]
                serial=serials[self.index % len(serials)] if serials else None,
            )
            self.envs[kind] = env_kind(kind).make(options, connect=True)
        return self.envs[kind]

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
        agent = Agent(self._env(spec.env), policy, AgentConfig(write_report=self.suite.reports))
        try:
            with claim_bundle(out_dir, unit) as bundle:  # a killed attempt's files go; a live writer is waited for
                return run_live_episode(agent, spec, unit, bundle, suite=self.suite.name, run_root=out_dir)
        finally:
            agent.close()

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
