"""The MiniWoB++ benchmark suite: every task of the miniwob package, seeded, scored in-page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env import EnvError
from pixelpilot.env.browser import BrowserConfig
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult, Worker
from pixelpilot.tasks.bench.episodes import claim_bundle, run_live_episode
from pixelpilot.tasks.bench.miniwob.env import MiniWobEnv, MiniWobMissing, task_names
from pixelpilot.tasks.bench.miniwob.oracle import SUPPORTED_TASKS, MiniWobOracle


class MiniWobSuite(Suite):
    name = "miniwob"
    kind = "live"

    def __init__(
        self,
        *,
        scale: float = 2.0,
        mode: str = "train",
        max_steps: int = 20,
        episode_time_ms: int | None = None,
        seed_start: int = 0,
        chromium: str | None = None,
        capture: str = "jpeg",
        reports: bool = True,
    ) -> None:
        if not 0 < scale <= 8:
            raise SuiteError(f"--scale must be in (0, 8], got {scale:g}")
        self.scale = scale
        self.mode = mode
        self.max_steps = max_steps
        self.episode_time_ms = episode_time_ms
        self.seed_start = seed_start
        self.chromium = chromium
        self.capture = capture
        self.reports = reports

    def tasks(self) -> list[str]:
        try:
            return task_names()
        except MiniWobMissing as exc:
            raise SuiteError(str(exc)) from None

    def default_tasks(self, policy: PolicySpec) -> list[str]:
        """Without --tasks: the oracle's families for the oracle, every task otherwise."""
        return list(SUPPORTED_TASKS) if policy.kind == "oracle" else self.tasks()

    def check_tasks(self, tasks: list[str], policy: PolicySpec) -> None:
        if policy.kind == "oracle":
            unknown = [t for t in tasks if t not in SUPPORTED_TASKS]
            if unknown:
                raise SuiteError(
                    f"the MiniWoB oracle does not support {', '.join(unknown[:5])}"
                    f"{'…' if len(unknown) > 5 else ''}; it supports: {', '.join(SUPPORTED_TASKS)}"
                )
        if policy.kind == "scripted":
            raise SuiteError("MiniWoB tasks are randomised per seed; use --policy oracle or a model, not a script")

    def units(self, tasks: list[str], seeds: int) -> list[Unit]:
        return [Unit(task=t, seed=s) for t in tasks for s in range(self.seed_start, self.seed_start + seeds)]

    def settings(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "max_steps": self.max_steps,
            "episode_time_ms": self.episode_time_ms,
        }

    def describe_run(self) -> dict[str, Any]:
        return {
            **self.settings(),
            "task_area_css": "160x210 (flight tasks 375x667)",
            "screenshot_px": f"{round(160 * self.scale)}x{round(210 * self.scale)}",
            "capture": self.capture,
            "episode_time": "the task's own limit (10 s for most)"
            if self.episode_time_ms is None
            else f"{self.episode_time_ms} ms",
        }

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        return _MiniWobWorker(self, policy_spec)


class _MiniWobWorker(Worker):
    def __init__(self, suite: MiniWobSuite, policy_spec: PolicySpec) -> None:
        self.suite = suite
        config = BrowserConfig(chromium_path=suite.chromium, capture_format=suite.capture)  # type: ignore[arg-type]
        self.env = MiniWobEnv(config, scale=suite.scale, mode=suite.mode, episode_time_ms=suite.episode_time_ms)
        self.env._ensure_browser()  # launch now: a unit's time limit should not pay for the worker's start
        if policy_spec.kind == "oracle":
            oracle = MiniWobOracle(self.env)
            self.policy: Any = oracle
        else:
            self.policy = policy_spec.build()
            oracle = None
        # MiniWoB's end screen is the task area as the last action left it (the reward shows outside
        # it), so the final capture is skipped, as MiniWoB's own env returns no observation at done.
        config = AgentConfig(write_report=suite.reports, final_screenshot=False)
        self.agent = Agent(self.env, self.policy, config)
        if oracle is not None:
            self.agent.hooks.append(oracle.hook())

    def run(self, unit: Unit, out_dir: Path) -> UnitResult:
        # a killed attempt's leftovers go (the result of this run replaces them); a live writer is waited for
        with claim_bundle(out_dir, unit) as bundle:
            return self._run(unit, out_dir, bundle)

    def _run(self, unit: Unit, out_dir: Path, bundle: Path) -> UnitResult:
        try:
            instruction = self.env.begin(unit.task, unit.seed)
        except EnvError as exc:
            return UnitResult(
                run_key="", suite="miniwob", task=unit.task, seed=unit.seed, status="env_error", success=False,
                error=str(exc),
            )  # fmt: skip
        spec = EpisodeSpec(
            id=unit.task,
            instruction=instruction,
            start=self.env.start_spec(unit.task),
            max_steps=self.suite.max_steps,
            time_limit_s=max(30.0, (self.suite.episode_time_ms or 10_000) / 1000 + 30),
        )
        result = run_live_episode(self.agent, spec, unit, bundle, suite="miniwob", run_root=out_dir)
        scores = self.env.scores
        raw = scores.get("raw_reward")
        return result.model_copy(
            update={
                "raw_reward": float(raw) if raw is not None else None,
                "fields": {"reason": json.dumps(scores.get("reason"))} if scores.get("reason") else {},
            }
        )

    def close(self) -> None:
        self.agent.close()
        self.env.close()
