"""What every benchmark suite shares: units of work, their results, and the suite interface.

A run is a list of *units* (a task and a seed for live suites; one sample for offline ones). Each
unit produces one ``UnitResult``, appended to ``results.jsonl`` the moment it is done, so a run
killed at any point keeps everything finished and ``--resume`` redoes nothing. The runner
(tasks/bench/runner.py) is the same for every suite; suites only say what their units are and how
one unit runs inside a worker that owns its own browser, device or policy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.policy_spec import PolicySpec

UnitStatus = Literal[
    "finished",
    "max_steps",
    "time_limit",
    "error",
    "env_error",
    "aborted",
    "scored",  # an offline sample that was scored
    "crashed",  # the worker raised; the run went on
    "killed",  # the unit outlived its limit and its worker was killed and replaced
]


class Unit(BaseModel):
    """One piece of work: an episode (task, seed) or an offline sample (task = sample id, seed 0)."""

    model_config = ConfigDict(frozen=True)

    task: str
    seed: int = 0
    payload: dict[str, Any] = Field(default_factory=dict, description="whatever the suite needs to run it")

    @property
    def key(self) -> str:
        return f"{self.task}#{self.seed}"


class UnitResult(BaseModel):
    """One line of results.jsonl."""

    model_config = ConfigDict(extra="forbid")

    run_key: str
    suite: str
    task: str
    seed: int = 0
    status: UnitStatus
    success: bool
    reward: float = 0.0
    raw_reward: float | None = None
    steps: int = 0
    bundle: str | None = Field(None, description="episode bundle, relative to the run folder")
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="per-unit numbers the report aggregates (e.g. parse_failures, visual_tokens, capture_ms, "
        "model_ms, execute_ms for live suites; hit, type_match, exact_match for offline ones)",
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="grouping labels (grounding: split, platform, data_type)"
    )
    error: str | None = None
    elapsed_s: float = 0.0
    worker: int = 0
    finished_at: str = ""

    @property
    def key(self) -> str:
        return f"{self.task}#{self.seed}"


class SuiteError(ValueError):
    """Bad suite input (missing files, a malformed dataset): one line for the user."""


class Worker(ABC):
    """Runs units inside one worker process. Owns its browser/device/policy; closed at the end."""

    @abstractmethod
    def run(self, unit: Unit, out_dir: Path) -> UnitResult: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the browser, device or model."""


class Suite(ABC):
    """A benchmark: which units exist and how a worker runs one.

    Suites are pickled to worker processes, so keep their state small and plain (paths, options).
    """

    name: str = "suite"
    #: live suites run episodes in an env; offline ones score policy decisions on recorded samples.
    kind: Literal["live", "offline"] = "live"

    @abstractmethod
    def tasks(self) -> list[str]:
        """Task names this suite offers (for `pixelpilot bench list` and --tasks)."""

    @abstractmethod
    def units(self, tasks: list[str], seeds: int) -> list[Unit]:
        """The units of a run over ``tasks`` (already filtered), ``seeds`` seeds each where seeds apply."""

    @abstractmethod
    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        """A worker with its own resources (browser, device, model), built inside the worker's process.

        ``policy_spec`` says who decides; kind "oracle" asks for the suite's own reference policy.
        """

    def default_tasks(self, policy_spec: PolicySpec) -> list[str]:
        """The tasks a run covers without --tasks (e.g. only those an oracle supports)."""
        return self.tasks()

    def check_tasks(self, tasks: list[str], policy_spec: PolicySpec) -> None:  # noqa: B027 - optional hook
        """Raise SuiteError when ``policy_spec`` cannot run ``tasks`` (before any worker starts)."""

    def settings(self) -> dict[str, Any]:
        """Suite settings that change results (e.g. the render scale); they go into the run key."""
        return {}

    def summarize(self, results: list[UnitResult]) -> dict[str, Any] | None:
        """Suite-specific figures for summary.json (grounding splits, step-level match rates)."""
        return None

    def describe_run(self) -> dict[str, Any]:
        """What the report shows about how the suite ran (e.g. MiniWoB's render scale)."""
        return self.settings()
