"""Running one live episode for a benchmark and turning it into a UnitResult.

Shared by the live suites (MiniWoB, the example tasks, the Android tasks): the agent loop writes
the bundle as always, and a step hook sums what the report needs (parse failures, visual tokens,
capture / model / execute time) so nothing has to re-read the bundle.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pixelpilot.agent.episode import EpisodeSpec, StepRecord
from pixelpilot.agent.loop import Agent
from pixelpilot.tasks.bench.contract import SuiteError, Unit, UnitResult
from pixelpilot.tasks.bench.results import HeldLock, LockBusy

#: the lock file a unit's writer holds in its bundle folder (left in place: see HeldLock.release)
BUNDLE_LOCK = ".writer.lock"
#: how long a unit waits for an earlier writer of its bundle to end (a dying runner's worker ends
#: within a fraction of a second; this is for a writer that is not ending at all)
BUNDLE_WAIT_S = 60.0


class StepTotals:
    """Sums over an episode's steps; the report divides sums by steps across the whole run."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {
            "steps": 0,
            "parse_failure_steps": 0,
            "parse_failures": 0,
            "model_calls": 0,
            "visual_tokens_sum": 0,
            "visual_token_steps": 0,
            "capture_ms_sum": 0.0,
            "model_ms_sum": 0.0,
            "execute_ms_sum": 0.0,
        }

    def __call__(self, step: StepRecord) -> None:
        v = self.values
        v["steps"] += 1
        v["parse_failure_steps"] += step.error_kind == "parse"
        policy = step.policy or {}
        attempts = policy.get("attempts")
        if isinstance(attempts, list):
            v["model_calls"] += len(attempts)
            v["parse_failures"] += sum(1 for a in attempts if isinstance(a, dict) and a.get("parse_error"))
        tokens = policy.get("visual_tokens")
        if tokens is None and isinstance(attempts, list) and attempts:
            tokens = attempts[-1].get("visual_tokens") if isinstance(attempts[-1], dict) else None
        if isinstance(tokens, (int, float)):
            v["visual_tokens_sum"] += tokens
            v["visual_token_steps"] += 1
        t = step.timings_ms
        v["capture_ms_sum"] += t.get("capture", 0.0)
        v["model_ms_sum"] += t.get("decide", 0.0)
        v["execute_ms_sum"] += t.get("execute", 0.0)


def run_live_episode(
    agent: Agent, spec: EpisodeSpec, unit: Unit, bundle: Path, *, suite: str, run_root: Path
) -> UnitResult:
    """Run ``spec`` into ``bundle`` and summarise it as a UnitResult (bundle path relative to run_root)."""
    totals = StepTotals()
    previous = agent.on_step
    agent.on_step = totals
    t0 = time.perf_counter()
    try:
        result = agent.run(spec, bundle_dir=bundle)
    finally:
        agent.on_step = previous
    return UnitResult(
        run_key="",
        suite=suite,
        task=unit.task,
        seed=unit.seed,
        status=result.status,
        success=result.success,
        reward=result.reward,
        steps=result.steps,
        bundle=str(bundle.relative_to(run_root)) if bundle.is_relative_to(run_root) else str(bundle),
        metrics=totals.values,
        error=result.error,
        elapsed_s=round(time.perf_counter() - t0, 3),
    )


def bundle_dir(run_root: Path, unit: Unit) -> Path:
    """Where a unit's episode bundle goes: stable, so a resumed run overwrites a killed attempt."""
    return run_root / "episodes" / unit.task / f"seed-{unit.seed}"


@contextmanager
def claim_bundle(run_root: Path, unit: Unit, *, wait_s: float = BUNDLE_WAIT_S) -> Iterator[Path]:
    """The unit's bundle folder, locked for this process for the block's life and emptied of any
    earlier attempt's files.

    The lock is taken before anything is removed: a process still writing the folder (a killed
    runner's worker that has not ended yet) keeps it, and this unit waits for it, up to ``wait_s``,
    rather than have both write one bundle and leave a header from one run over the steps of
    another. Past ``wait_s`` the unit fails with one line (it becomes a "crashed" result).
    """
    bundle = bundle_dir(run_root, unit)
    bundle.mkdir(parents=True, exist_ok=True)
    try:
        lock = HeldLock.acquire(bundle / BUNDLE_LOCK, what=f"bundle {bundle}", wait_s=wait_s)
    except LockBusy as exc:
        raise SuiteError(f"{exc}; not sharing it (waited {wait_s:g}s)") from None
    try:
        for entry in bundle.iterdir():
            if entry.name == BUNDLE_LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        yield bundle
    finally:
        lock.release()
