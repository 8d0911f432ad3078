"""The shipped default model is part of the product: it loads, is prompted as in training, and acts.

Held-out MiniWoB episodes (seeds far from the recipe's training and evaluation seeds) through the
same `pixelpilot bench miniwob --model default` a user runs. A regression in loading, prompting,
image preprocessing (the position frame) or coordinate decoding drops the success rate below the
threshold; a model that stopped looking at the screenshot scores like the blanked run.

Time limits follow what the test runs, so that it fails on accuracy and never on the machine's load
(a fixed 300 s limit timed it out on a loaded machine, where a step took seconds instead of ~0.2 s).
One calibration episode through the same command measures the start-up time (Chromium, torch, the
model) and the time per step on this machine, now. A measured run is then watched rather than
timed as a whole: it fails when no episode finishes within ``SLACK`` times the worst case of one
(start-up, for the first, plus ``MAX_STEPS`` steps) at the pace measured so far: the calibration's,
or the run's own median once slower, since the load changes while it runs. A stuck model or
browser fails the test; a machine that is merely busy makes it slower. MiniWoB's own clock (10 s
per episode) is lengthened just enough for ``MAX_STEPS`` steps at ``SLACK`` times the calibrated
pace: decoding is greedy, so a slower machine changes no decision, but the clock would fail
correct answers given late, which says nothing about the model.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("miniwob")

from pixelpilot.agent.policy_spec import DEFAULT_MODEL_DIR
from tests.test_bench_runner import bench
from tests.test_cli import PIXELPILOT

#: Tasks the model solves by looking (one target at a random place, small for click-dialog's "x") and
#: by reading (click-test-2: "ONE" or "TWO", ~8 px tall words, which a blurrier preprocessing loses);
#: seeds no recipe stage uses.
TASKS = ("click-test", "focus-text", "click-dialog", "click-test-2")
#: The shipped model (version 2) scores 87.5% here (click-test 100%, focus-text 100%, click-dialog 90%,
#: click-test-2 60%), 15% blanked; version 1 scored 97.5% and 10%. The margins allow a few episodes to flip
#: on another machine's float rounding; a regression in loading, prompting or preprocessing falls to
#: about the blanked figure.
MIN_SEEN = 0.75
MIN_DROP = 0.5
SEEDS = 10
SEED_START = 700_000
MAX_STEPS = 4
#: Worst case over the measured pace: covers the load changing during the run, not a regression.
SLACK = 3.0
#: MiniWoB's own episode clock for these tasks, ms; lengthened only when the measured pace needs it.
MINIWOB_CLOCK_MS = 10_000
#: Start-up plus one episode, however loaded the machine: beyond this it is not fit to run the test.
CALIBRATION_LIMIT_S = 600


def _success(out: Path) -> dict[str, float]:
    summary = json.loads((out / "summary.json").read_text())
    return {task: block["success_rate"] for task, block in summary["tasks"].items()}


def _args(out: Path, tasks: tuple[str, ...], seeds: int, seed_start: int, *extra: str) -> list[str]:
    names = [a for t in tasks for a in ("--tasks", t)]
    return [
        "miniwob", "--model", "default", *names, "--seeds", str(seeds), "--seed-start", str(seed_start),
        "--scale", "1", "--max-steps", str(MAX_STEPS), "--workers", "1", "--no-episode-reports", "--out", str(out),
        *extra,
    ]  # fmt: skip


def _results(out: Path) -> list[dict]:
    """The finished lines of results.jsonl (the runner may be writing the next one)."""
    path = out / "results.jsonl"
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def _calibrate(out: Path) -> tuple[float, float]:
    """(start-up s, s per step) of one episode through the same command, on a seed not measured."""
    t0 = time.monotonic()
    proc = bench(*_args(out, ("click-test",), 1, SEED_START + SEEDS), timeout=CALIBRATION_LIMIT_S)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = _results(out)
    return max(0.0, wall - result["elapsed_s"]), result["elapsed_s"] / max(1, result["steps"])


def _run(out: Path, pace: tuple[float, float], *extra: str) -> dict[str, float]:
    startup, per_step = pace
    clock_ms = max(MINIWOB_CLOCK_MS, round(SLACK * MAX_STEPS * per_step * 1000))
    paces = [per_step]  # seconds per step so far: the calibration's, or the run's median once slower

    def next_allowance(results: list[dict]) -> float:
        paces.append(max(paces[-1], statistics.median(r["elapsed_s"] / max(1, r["steps"]) for r in results)))
        return SLACK * MAX_STEPS * paces[-1]

    _watched(
        [*PIXELPILOT, "bench", *_args(out, TASKS, SEEDS, SEED_START, "--episode-time-ms", str(clock_ms), *extra)],
        out,
        first_allowance_s=SLACK * (startup + MAX_STEPS * per_step),
        next_allowance=next_allowance,
        note=lambda: f" ({paces[-1]:.2f} s per step so far)",
    )
    return _success(out)


def test_the_default_model_is_shipped_small_and_documented() -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "pixelpilot.json").read_text())
    assert meta["dialect"] == "qwen2-vl" and meta["position_frame"] is True
    weights = DEFAULT_MODEL_DIR / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size < 16 * 2**20
    assert "scripts/train_default_model.py" in (DEFAULT_MODEL_DIR / "README.md").read_text()


@pytest.mark.timeout(0)  # the limits are the ones derived from the measured pace (module docstring)
def test_the_default_model_clicks_what_it_sees_on_held_out_episodes(tmp_path: Path) -> None:
    pace = _calibrate(tmp_path / "calibration")
    seen = _run(tmp_path / "model", pace)
    blind = _run(tmp_path / "blank", pace, "--blank-screenshot")
    mean_seen = sum(seen.values()) / len(seen)
    mean_blind = sum(blind.values()) / len(blind)
    assert mean_seen >= MIN_SEEN, seen
    assert mean_seen - mean_blind >= MIN_DROP, (seen, blind)


# --------------------------------------------------------------------------- the phone

#: Phone templates the check runs (one seed each, a few steps): a settings toggle and an app launch.
PHONE_TEMPLATES = ("toggle_setting", "open_app")
PHONE_SEED_START = 700_000
PHONE_MAX_STEPS = 3
#: Share of the model's phone steps that must be valid actions. The shipped model (version 2, trained on
#: the phone suite's demonstrations) answers all 4 of its steps here with valid actions (a tap, then a
#: finish, on both templates); version 1, never trained on the phone, 4 of 6. The margin allows one flip.
MIN_PHONE_VALID = 0.75


@pytest.mark.timeout(0)  # watched as the MiniWoB runs are: a stuck episode fails, a busy machine is slower
def test_the_default_model_reads_the_phone_at_its_phone_budget_and_answers_with_actions(tmp_path: Path) -> None:
    """The phone suite's simulator captures at 1080x2340; the model must see it at the budget its folder
    records for the phone (not MiniWoB's) and answer with actions the dialect parses."""
    pytest.importorskip("pixelpilot.tasks.bench.phone")
    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (make test installs Debian's adb)")
    from pixelpilot.agent.qwen.resize import smart_resize

    meta = json.loads((DEFAULT_MODEL_DIR / "pixelpilot.json").read_text())
    # the phone's own entry where the folder records one (agent/qwen/env_inputs.py), else its single budget
    phone = meta.get("inputs", {}).get("android", {"min_pixels": meta["min_pixels"], "max_pixels": meta["max_pixels"]})
    out = tmp_path / "phone"
    names = [a for t in PHONE_TEMPLATES for a in ("--tasks", t)]
    args = [
        "bench", "phone", "--model", "default", *names, "--seeds", "1", "--seed-start", str(PHONE_SEED_START),
        "--max-steps", str(PHONE_MAX_STEPS), "--workers", "1", "--no-episode-reports", "--out", str(out),
    ]  # fmt: skip
    _watched([*PIXELPILOT, *args], out, first_allowance_s=CALIBRATION_LIMIT_S)
    steps = [
        json.loads(line)
        for bundle in sorted((out / "episodes").glob("*/*"))
        for line in (bundle / "steps.jsonl").read_text().splitlines()
    ]
    assert steps, "no phone step was recorded"
    want = smart_resize(2340, 1080, min_pixels=phone["min_pixels"], max_pixels=phone["max_pixels"])
    for step in steps:
        geometry = step["policy"]["geometry"]
        assert (geometry["width"], geometry["height"]) == (1080, 2340)
        assert (geometry["resized_height"], geometry["resized_width"]) == want, geometry
    valid = sum(1 for step in steps if step["action"] is not None) / len(steps)
    assert valid >= MIN_PHONE_VALID, f"{valid:.0%} of {len(steps)} phone steps were valid actions"
    first = [step for step in steps if step["index"] == 1]
    assert len(first) == len(PHONE_TEMPLATES) and all(step["action"] for step in first), first


def _slowest_episode(results: list[dict]) -> float:
    return SLACK * max(r["elapsed_s"] for r in results)


def _watched(
    command: list[str],
    out: Path,
    *,
    first_allowance_s: float,
    next_allowance: Callable[[list[dict]], float] = _slowest_episode,
    note: Callable[[], str] = lambda: "",
) -> None:
    """Run ``command`` (a bench run writing ``out``), failing when no episode finishes within the allowance:
    ``first_allowance_s`` for the first (start-up included), then ``next_allowance`` of the results so far
    (by default SLACK times the slowest episode); ``note`` adds the pace to the failure."""
    log = out.with_suffix(".log")
    with log.open("w") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        done, allowance = 0, first_allowance_s
        deadline = time.monotonic() + allowance
        while proc.poll() is None:
            time.sleep(0.5)
            results = _results(out)
            if len(results) > done:
                done = len(results)
                allowance = next_allowance(results)
                deadline = time.monotonic() + allowance
            elif time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"{out.name}: no episode finished in {allowance:.0f} s{note()}")
    assert proc.returncode == 0, log.read_text()[-2000:]
