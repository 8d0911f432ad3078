"""Pixel-budget sweeps through the CLI with a real tiny Qwen2-VL: one run per budget under one folder,
a report with a table and charts, bad budgets refused in one line, and a killed sweep resumed budget by budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.tasks.bench.contract import SuiteError, UnitResult
from pixelpilot.tasks.bench.grounding import load_grounding
from pixelpilot.tasks.bench.results import ResultsLog, RunManifest
from pixelpilot.tasks.bench.sweep import budget_row, parse_budgets, unit_figures
from pixelpilot.tasks.bench.synth import make_grounding
from tests.test_cli import PIXELPILOT, assert_one_line_error, cli

#: two budgets small enough for a tiny model on a busy CPU, far enough apart to change the token count
LOW, HIGH = 3136, 50176
#: generous wait for a subprocess to make progress (model load, a few decisions) on a loaded machine
PROGRESS_S = 300.0


@pytest.fixture(scope="module")
def grounding_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_grounding(tmp_path_factory.mktemp("sweep-grounding"), 8, seed=5)


def sweep_args(data: Path, model: Path, out: Path, budgets: str, *extra: str) -> list[str]:
    return ["bench", "grounding", "--data", str(data), "--model", str(model), "--max-new-tokens", "8",
            "--max-repairs", "0", "--sweep-max-pixels", budgets, "--out", str(out), *extra]  # fmt: skip


def read(folder: Path) -> list[UnitResult]:
    return ResultsLog(folder).read()


# ----------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected budgets separated by commas"),
        ("3136,,50176", "expected budgets separated by commas"),
        ("3136,abc", "'abc' is not a pixel count"),
        ("1e5", "'1e5' is not a pixel count"),
        ("-3136", "'-3136' is not a pixel count"),
        ("100", "100 is below the minimum of 784"),
        ("3136,56*56", "3136 is given twice"),
        ("99999999999", "is above"),
        (",".join(str(3136 + k) for k in range(17)), "at most 16 per sweep"),
    ],
)
def test_bad_budgets_are_refused_in_one_line(text: str, fragment: str) -> None:
    with pytest.raises(SuiteError, match="--sweep-max-pixels") as info:
        parse_budgets(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_budgets_read_as_the_qwen_docs_write_them() -> None:
    assert parse_budgets(" 1280*28*28 , 3136") == [1280 * 28 * 28, 3136]
    with pytest.raises(SuiteError, match="below the minimum of 3136"):
        parse_budgets("1568", min_pixels=3136)


def test_cli_refuses_bad_sweeps_with_exit_2(grounding_set: Path, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert_one_line_error(cli(*sweep_args(grounding_set, tiny_qwen_dir, out, "3136,xyz")), "'xyz' is not a pixel")
    assert_one_line_error(
        cli(*sweep_args(grounding_set, tiny_qwen_dir, out, "3136", "--max-pixels", "3136")), "give one or the other"
    )
    assert_one_line_error(
        cli(*sweep_args(grounding_set, tiny_qwen_dir, out, "3136", "--min-pixels", "6272")), "below the minimum of 6272"
    )
    oracle = ["bench", "grounding", "--data", grounding_set, "--policy", "oracle", "--sweep-max-pixels", "3136"]
    assert_one_line_error(cli(*oracle, "--out", out), "needs a model")
    assert not out.exists()  # nothing was started for any of them
    single = tmp_path / "single"
    assert cli("bench", "grounding", "--data", grounding_set, "--policy", "oracle", "--out", single).returncode == 0
    assert_one_line_error(cli(*sweep_args(grounding_set, tiny_qwen_dir, single, "3136")), "holds a single run")


# ----------------------------------------------------------------------------------------------- a sweep
def test_sweep_runs_each_budget_as_its_own_run_and_reports_them(
    grounding_set: Path, tiny_qwen_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    proc = cli(*sweep_args(grounding_set, tiny_qwen_dir, out, f"{HIGH},{LOW}", "--limit", "3"))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    samples = {s.id: s for s in load_grounding(grounding_set)}
    keys = set()
    for budget in (LOW, HIGH):
        folder = out / f"max-pixels-{budget}"
        manifest = RunManifest.model_validate_json((folder / "run.json").read_text())
        assert manifest.policy["max_pixels"] == budget and manifest.identity["max_pixels"] == budget
        keys.add(manifest.run_key)
        results = read(folder)
        assert len(results) == 3 and all(r.run_key == manifest.run_key for r in results)
        for r in results:  # each decision saw exactly the tokens this budget's geometry gives its screenshot
            w, h = samples[r.task].image_size or (0, 0)
            assert r.metrics["visual_tokens"] == ResizeGeometry.for_image(w, h, max_pixels=budget).visual_tokens
        assert (folder / "report.html").is_file()
    assert len(keys) == 2
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["budgets"] == [LOW, HIGH] and summary["metric"] == "grounding accuracy"
    low, high = summary["rows"]
    assert (low["max_pixels"], high["max_pixels"]) == (LOW, HIGH) and low["n"] == high["n"] == 3
    assert low["visual_tokens_per_step"] < high["visual_tokens_per_step"]
    assert low["ci95"][0] <= (low["success_rate"] or 0) <= low["ci95"][1]
    page = (out / "report.html").read_text()
    assert page.count("class='point'") == 4  # two budgets on each of the two charts
    assert "max-pixels-3136/report.html" in page
    assert "src=" not in page and "href='http" not in page  # self-contained: no external assets
    assert "grounding sweep over 2 pixel budgets" in proc.stdout
    # each budget is an ordinary run: bench compare takes two of them
    compared = cli("bench", "compare", out / f"max-pixels-{LOW}", out / f"max-pixels-{HIGH}", "--json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["overall"]["n_a"] == 3
    # a second sweep into the same folder needs --resume, as a run does
    assert_one_line_error(cli(*sweep_args(grounding_set, tiny_qwen_dir, out, str(LOW))), "pass --resume")


def test_killed_sweep_resumes_budget_by_budget(grounding_set: Path, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    """kill -9 while the second budget runs: the first is complete and is not redone, the second keeps
    what it finished and runs only the rest."""
    out = tmp_path / "sweep"
    args = [*PIXELPILOT, *sweep_args(grounding_set, tiny_qwen_dir, out, f"{LOW},{HIGH}")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    second = out / f"max-pixels-{HIGH}" / "results.jsonl"
    deadline = time.monotonic() + PROGRESS_S
    try:
        while not (second.exists() and second.read_text().count("\n") >= 1):
            assert proc.poll() is None, f"the sweep ended before it was killed: {proc.communicate()}"
            assert time.monotonic() < deadline, "the second budget never started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # a failed assertion above: do not leave the sweep running
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    first_before = read(out / f"max-pixels-{LOW}")
    second_before = read(out / f"max-pixels-{HIGH}")
    assert len(first_before) == 8 and 1 <= len(second_before) < 8
    resumed = cli(*sweep_args(grounding_set, tiny_qwen_dir, out, f"{LOW},{HIGH}", "--resume"))
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "8 units, 8 already done, 0 to run" in resumed.stdout
    assert f"8 units, {len(second_before)} already done, {8 - len(second_before)} to run" in resumed.stdout
    assert read(out / f"max-pixels-{LOW}") == first_before
    second_after = read(out / f"max-pixels-{HIGH}")
    assert second_after[: len(second_before)] == second_before and len(second_after) == 8
    assert len({r.key for r in second_after}) == 8
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert [r["n"] for r in rows] == [8, 8]


# ----------------------------------------------------------------------------------------------- figures
def test_live_and_offline_results_give_tokens_and_latency_per_step(tmp_path: Path) -> None:
    live = UnitResult(
        run_key="k", suite="miniwob", task="t", status="finished", success=True, steps=4,
        metrics={"steps": 4, "visual_tokens_sum": 120, "visual_token_steps": 3, "model_ms_sum": 400.0},
    )  # fmt: skip
    offline = UnitResult(
        run_key="k", suite="grounding", task="s", status="scored", success=False, steps=1,
        metrics={"visual_tokens": 55, "model_ms": 80.0},
    )  # fmt: skip
    assert unit_figures(live) == (120, 3, 100.0)
    assert unit_figures(offline) == (55, 1, 80.0)
    assert budget_row(3136, tmp_path / "missing") == {"max_pixels": 3136, "run": "missing", "n": 0, "run_key": None}
