"""Training demonstrations on MiniWoB (tasks/bench/miniwob/demos.py): secrets kept, misses injected.

Real Chromium, the real MiniWoB pages and the DOM oracle through the bench runner, then the real
`pixelpilot dataset build`. MiniWoB's passwords are synthetic, so its demonstrations keep what was typed
into password fields and their typing steps become training rows; an injected wrong click is marked
in the step so that the recipe keeps it as history only, and the oracle's continuation after it is a
success (the builder keeps successful episodes only). The recovery check starts every episode of a
model with such a miss.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("miniwob")

from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.tasks.bench.miniwob.demos import MISS_KEY, DemoSuite, RecoverySuite, miss_plan
from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run
from tests.test_cli import cli


def _steps(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]


def test_the_miss_plan_is_deterministic_and_takes_the_share_asked() -> None:
    plans = [miss_plan("click-test", f"instruction {i}", 0.3) for i in range(2000)]
    assert plans == [miss_plan("click-test", f"instruction {i}", 0.3) for i in range(2000)]
    share = sum(p is not None for p in plans) / len(plans)
    assert 0.25 < share < 0.35, share
    assert {p for p in plans if p is not None} == {1, 2}
    assert all(miss_plan("click-test", f"instruction {i}", 0.0) is None for i in range(200))


def test_demonstrations_keep_synthetic_passwords_and_mark_injected_misses(tmp_path: Path) -> None:
    out = tmp_path / "demos"
    suite = DemoSuite(miss_share=1.0, scale=1.0, seed_start=5, reports=False)
    options = RunOptions(out=out, workers=1, seeds=3, tasks=["enter-password", "click-test"])
    results = execute(plan_run(suite, PolicySpec(kind="oracle"), options)).results
    assert len(results) == 6 and all(r.status == "finished" for r in results), results
    won = [r for r in results if r.success]
    assert any(r.task == "enter-password" for r in won), results
    for result in results:
        steps = _steps(out / result.bundle)
        # at most one miss, a click on the first clicking step from its plan's (1 or 2); enter-password
        # always clicks again after typing, so each of its episodes has one
        instruction = json.loads((out / result.bundle / "episode.json").read_text())["task"]["instruction"]
        plan = miss_plan(result.task, instruction, 1.0)
        missed = [s for s in steps if s["policy"].get(MISS_KEY)]
        assert plan is not None and len(missed) <= 1 and all(s["index"] >= plan for s in missed)
        assert all(s["action"]["action"] == "click" for s in missed)
        assert len(missed) == 1 or result.task != "enter-password"
        typed = [s for s in steps if (s["action"] or {}).get("action") == "type"]
        assert all(not s["masked"] and s["action"]["text"] for s in typed), typed
    # the dataset builder keeps the typing steps of won enter-password episodes as rows
    data = tmp_path / "data"
    proc = cli("dataset", "build", out / "episodes", "--dialect", "qwen2-vl", "--out", data)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((data / "dataset.json").read_text())
    assert "masked secret" not in info["skipped"], info["skipped"]
    import pyarrow.parquet as pq

    rows = pq.read_table(next((data / "data").glob("*.parquet"))).to_pylist()
    typing = [r for r in rows if r["task"] == "enter-password" and json.loads(r["executed"])["action"] == "type"]
    assert typing and all(json.loads(r["executed"])["text"] for r in typing)


def test_the_recovery_check_starts_every_episode_with_a_miss_then_asks_the_model(tmp_path: Path) -> None:
    out = tmp_path / "recovery"
    suite = RecoverySuite(scale=1.0, seed_start=11, reports=False, max_steps=3)
    spec = PolicySpec(model="default", max_new_tokens=32, max_repairs=0)
    results = execute(plan_run(suite, spec, RunOptions(out=out, workers=1, seeds=2, tasks=["focus-text"]))).results
    assert len(results) == 2
    for result in results:
        steps = _steps(out / result.bundle)
        assert steps[0]["policy"].get(MISS_KEY) is True
        # later steps are the model's: its raw output and prompt are recorded
        assert all("messages" in s["policy"] and not s["policy"].get(MISS_KEY) for s in steps[1:])
    with pytest.raises(Exception, match="not the oracle"):
        plan_run(suite, PolicySpec(kind="oracle"), RunOptions(out=tmp_path / "x", seeds=1, tasks=["focus-text"]))
