"""Comparing two benchmark runs task by task, with exact tests.

Units that ran in both runs (same task and seed) are compared pairwise (McNemar's exact test on
the units only one run solved), which is far more sensitive than comparing two rates; tasks with
no shared seeds fall back to Fisher's exact test. Runs of different suites or suite settings can
still be compared, with a warning, because that is sometimes the point (scale 1 vs scale 2).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pixelpilot.tasks.bench.results import MANIFEST, ResultsLog, RunManifest, latest
from pixelpilot.tasks.bench.stats import compare


class CompareError(ValueError):
    """A run folder is missing or unreadable."""


def _load(run: Path) -> tuple[RunManifest, dict[str, dict[str, bool]]]:
    manifest_path = run / MANIFEST
    if not manifest_path.is_file():
        raise CompareError(f"{run} is not a benchmark run (no {MANIFEST})")
    try:
        manifest = RunManifest.model_validate_json(manifest_path.read_text())
    except (ValidationError, ValueError) as exc:
        raise CompareError(f"{manifest_path}: unreadable manifest: {str(exc).splitlines()[0]}") from None
    by_task: dict[str, dict[str, bool]] = defaultdict(dict)
    for r in latest(ResultsLog(run).read()):
        if r.run_key == manifest.run_key:
            by_task[r.task][r.key] = r.success
    if not by_task:
        raise CompareError(f"{run} has no results yet")
    return manifest, by_task


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Per-task and overall comparison of run B against baseline run A (JSON-ready)."""
    man_a, a = _load(run_a)
    man_b, b = _load(run_b)
    warnings: list[str] = []
    if man_a.suite != man_b.suite:
        warnings.append(f"different suites: {man_a.suite} vs {man_b.suite}")
    settings_a = man_a.identity.get("suite_settings")
    settings_b = man_b.identity.get("suite_settings")
    if settings_a != settings_b:
        warnings.append(f"different suite settings: {settings_a} vs {settings_b}")
    shared_tasks = sorted(a.keys() & b.keys())
    only = sorted(a.keys() ^ b.keys())
    if only:
        warnings.append(f"{len(only)} task(s) ran in only one run and are left out: {', '.join(only[:5])}")
    if not shared_tasks:
        raise CompareError("the two runs share no task")
    rows = []
    all_a: dict[str, bool] = {}
    all_b: dict[str, bool] = {}
    for task in shared_tasks:
        c = compare(a[task], b[task])
        rows.append({"task": task, **c.__dict__})
        all_a.update(a[task])
        all_b.update(b[task])
    overall = compare(all_a, all_b)
    return {
        "run_a": {"path": str(run_a), "run_key": man_a.run_key, "policy": man_a.policy},
        "run_b": {"path": str(run_b), "run_key": man_b.run_key, "policy": man_b.policy},
        "warnings": warnings,
        "tasks": rows,
        "overall": {"task": "overall", **overall.__dict__},
    }
