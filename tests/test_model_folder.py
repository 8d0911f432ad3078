"""A newcomer's first five minutes: a trained model folder carries the pixel budget it was trained at
(so the default model works at any scale), names no build machine's paths, is refused with one line
when its pixelpilot.json is bad; and the library stays quiet until its application asks."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelpilot.agent.policy_spec import DEFAULT_MODEL_DIR, PolicySpec, PolicySpecError
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, smart_resize
from pixelpilot.agent.train.provenance import budget_window, describe_bundles, trained_pixel_budget
from tests.test_bench_runner import bench
from tests.test_cli import assert_one_line_error, cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "env", "tasks", "tools")


# --------------------------------------------------------------------------- the trained budget


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(96, 1400),
    height=st.integers(96, 1400),
    scale=st.sampled_from([1.5, 2.0, 2.5, 3.0, 4.0]),
)
def test_the_trained_budget_keeps_the_trained_grid_at_any_larger_scale(width: int, height: int, scale: float) -> None:
    """A model trained on screens of one shape sees, under its recorded budget, the grid it was trained
    on however large the capture (a 1.5x or 2x HiDPI screenshot of the same page)."""
    trained = smart_resize(height, width)  # the grid the rows were seen at (generic budget)
    budget = trained_pixel_budget([(width, height, trained[1], trained[0])], cap=DEFAULT_MAX_PIXELS)
    big_w, big_h = width * scale, height * scale
    if not (big_w.is_integer() and big_h.is_integer()):
        return  # a capture of exactly the trained shape (a device scale factor over whole CSS px)
    big_w, big_h = int(big_w), int(big_h)
    got = smart_resize(big_h, big_w, max_pixels=budget)
    lo, hi = budget_window(width, height, trained[1], trained[0])
    if big_w * big_h <= budget:  # barely larger: smart_resize rounds each side, within one row or column
        assert abs(got[0] - trained[0]) <= 28 and abs(got[1] - trained[1]) <= 28
    elif lo < hi and (lo + hi) / 2 <= DEFAULT_MAX_PIXELS:
        assert got == trained
    else:  # no budget within the data's own reproduces the grid (it was rounded off the screen's shape)
        assert got[0] * got[1] <= budget


def test_the_default_model_records_the_budget_it_was_trained_at() -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "pixelpilot.json").read_text())
    # MiniWoB at scale 1 (160x210) was seen as 168x224: 48 visual tokens
    assert meta["max_pixels"] == trained_pixel_budget([(160, 210, 168, 224)], cap=DEFAULT_MAX_PIXELS)
    for scale in (1, 1.5, 2, 3):
        h, w = smart_resize(round(210 * scale), round(160 * scale), max_pixels=meta["max_pixels"])
        assert (h, w) == (224, 168), scale
    assert PolicySpec(model="default").resolved().max_pixels == meta["max_pixels"]


def test_an_explicit_budget_wins_with_one_warning() -> None:
    from loguru import logger

    from pixelpilot.agent.logs import disable_logging, enable_logging

    messages: list[str] = []
    enable_logging(level=None)
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        spec = PolicySpec(model="default", max_pixels=200_704)
        for _ in range(3):
            assert spec.resolved().max_pixels == 200_704
            spec.run_identity()
    finally:
        logger.remove(sink)
        disable_logging()
    warned = [m for m in messages if "max-pixels" in m]
    assert len(warned) == 1 and "trained with" in warned[0], messages


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"dialect": "qwen2-vl", "min_pixels": 3136, "max_pixels": 40000, "history_actions": 8, '
         '"zoom": 2}', "unknown setting 'zoom'"),
        ('{"dialect": "qwen2-vl", "min_pixels": 3136, "max_pixels": "many", "history_actions": 8}', "max_pixels"),
    ],
)  # fmt: skip
def test_a_bad_pixelpilot_json_is_one_line_and_exit_2(tmp_path: Path, content: str, fragment: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    (folder / "pixelpilot.json").write_text(content)
    with pytest.raises(PolicySpecError, match=r"pixelpilot\.json"):
        PolicySpec(model=str(folder)).resolved()
    from pixelpilot.tasks import EXAMPLES_DIR

    proc = cli("run", EXAMPLES_DIR / "login.yaml", "--model", folder, "--out", tmp_path / "runs")
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# --------------------------------------------------------------------------- portable provenance


def _package_files() -> list[Path]:
    return [
        p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".safetensors", ".png"}
    ]


def _absolute_paths(value: object) -> list[str]:
    if isinstance(value, str):
        looks_absolute = (value.startswith("/") and value.count("/") >= 2 and " " not in value) or (
            len(value) > 2 and value[1:3] in (":\\", ":/")
        )
        return [value] if looks_absolute else []
    if isinstance(value, dict):
        return [p for v in value.values() for p in _absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _absolute_paths(v)]
    return []


def test_no_shipped_file_names_a_path_of_the_build_machine() -> None:
    files = _package_files()
    assert any(p.name == "pixelpilot.json" for p in files)
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        assert str(ROOT) not in text, path
        if path.suffix == ".json":
            assert _absolute_paths(json.loads(text)) == [], path


def test_dataset_build_and_train_record_portable_provenance_and_the_budget(tmp_path: Path) -> None:
    pytest.importorskip("miniwob")
    pytest.importorskip("datasets")
    pytest.importorskip("transformers")
    runs = tmp_path / "demos"
    proc = bench(
        "miniwob", "--policy", "oracle", "--tasks", "click-test", "--tasks", "focus-text", "--seeds", "2",
        "--seed-start", "7", "--scale", "1", "--no-episode-reports", "--out", runs,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = tmp_path / "data"
    proc = cli("dataset", "build", runs / "episodes", "--dialect", "qwen2-vl", "--out", data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((data / "dataset.json").read_text())
    assert info["sources"] == [
        "miniwob click-test seeds 7..8 (2 episodes)",
        "miniwob focus-text seeds 7..8 (2 episodes)",
    ]
    import pyarrow.parquet as pq

    table = pq.read_table(next((data / "data").glob("*.parquet")))
    sources = set(table.column("source").to_pylist())
    assert sources == {f"episodes/{t}/seed-{s}" for t in ("click-test", "focus-text") for s in (7, 8)}
    for path in data.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md"):
            assert str(tmp_path) not in path.read_text(), path

    proc = cli(
        "train", "--data", data, "--base", "tiny", "--dialect", "qwen2-vl", "--max-steps", "1", "--batch-size", "2",
        "--out", tmp_path / "model",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((tmp_path / "model" / "pixelpilot.json").read_text())
    sizes = zip(
        *(table.column(c).to_pylist() for c in ("width", "height", "resized_width", "resized_height")), strict=True
    )
    assert meta["max_pixels"] == trained_pixel_budget(sizes, cap=info["max_pixels"]) < info["max_pixels"]
    assert meta["trained_on"] == info["sources"]
    for path in (tmp_path / "model").glob("*.json"):
        assert str(tmp_path) not in path.read_text(), path


def test_provenance_lines_group_seeds_into_ranges(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "run.json").parent.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"suite": "miniwob"}))
    bundles = [(run / "episodes" / "click-test" / f"seed-{s}", "click-test") for s in (0, 1, 2, 5, 9, 10)]
    bundles.append((tmp_path / "login-20261206-101500-ab12", "login"))
    # the phone's task ids carry their seed (TEMPLATE.SEED): one line per template, not per episode
    phone = tmp_path / "phone"
    phone.mkdir()
    (phone / "run.json").write_text(json.dumps({"suite": "phone"}))
    bundles += [(phone / "episodes" / "open_app" / f"seed-{s}", f"open_app.{s}") for s in (300000, 300001, 300003)]
    assert describe_bundles(bundles) == [
        "miniwob click-test seeds 0..2, 5, 9..10 (6 episodes)",
        "phone open_app seeds 300000..300001, 300003 (3 episodes)",
        "episodes of task login (1 episode)",
    ]


# --------------------------------------------------------------------------- a quiet library

QUICK_START = """
from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy
from pixelpilot.env.browser import BrowserConfig, BrowserEnv
from pixelpilot.tasks import Task, EXAMPLES_DIR
{enable}
task = Task.from_file(EXAMPLES_DIR / "login.yaml")
policy = ScriptedPolicy.from_file(EXAMPLES_DIR / "login.solution.jsonl")
with BrowserEnv(BrowserConfig(headless=True)) as env:
    result = Agent(env, policy, AgentConfig(out_dir={out!r})).run(task.to_spec())
print("RESULT", result.outcome)
"""


@pytest.mark.parametrize("enabled", [False, True])
def test_the_library_is_quiet_until_asked(tmp_path: Path, enabled: bool) -> None:
    enable = "from pixelpilot import enable_logging\nenable_logging('DEBUG')" if enabled else ""
    code = QUICK_START.format(enable=enable, out=str(tmp_path / "runs"))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "RESULT success" in proc.stdout
    logged = [line for line in proc.stderr.splitlines() if " DEBUG " in line or " INFO " in line]
    if enabled:
        assert logged, proc.stderr
    else:
        assert proc.stderr.strip() == "", proc.stderr


# --------------------------------------------------------------------------- the default model at any scale

#: The tasks whose success fell to ~50% at scale 2 before the folder carried its budget.
SCALE_TASKS = ("click-test", "click-dialog", "focus-text")
SCALE_SEEDS = 30
SCALE_SEED_START = 600_000  # no recipe stage, evaluation or other test uses these


@pytest.mark.timeout(3600)  # a net only: each run's own limit follows the measured first run
def test_the_default_model_is_as_good_at_scale_2_and_1_5_as_at_scale_1(tmp_path: Path) -> None:
    """Paired seeds, McNemar's exact test as `bench compare` runs it: a larger capture is not
    significantly worse (5% level) and no task loses more than 5 points.

    The limit on each run follows what it runs: the scale-1 run is timed and each later run (the
    same episodes, only the capture larger) gets five times that, so a loaded machine slows the
    test rather than failing it."""
    pytest.importorskip("miniwob")
    pytest.importorskip("transformers")
    from pixelpilot.tasks.bench.compare import compare_runs

    tasks = [a for t in SCALE_TASKS for a in ("--tasks", t)]

    def run(scale: str, timeout: float) -> tuple[Path, float]:
        out = tmp_path / f"scale-{scale}"
        t0 = time.monotonic()
        proc = bench(
            "miniwob", "--model", "default", *tasks, "--seeds", str(SCALE_SEEDS), "--seed-start",
            str(SCALE_SEED_START), "--scale", scale, "--max-steps", "4", "--workers", "2", "--no-episode-reports",
            "--out", out, timeout=timeout,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return out, time.monotonic() - t0

    base, took = run("1", timeout=1800)
    for scale in ("1.5", "2"):
        other, _ = run(scale, timeout=max(120.0, 5 * took))
        result = compare_runs(base, other)
        for row in result["tasks"]:
            worse = row["delta"] < 0 and row["p_value"] < 0.05
            assert not worse and row["delta"] >= -0.05 - 1e-9, (scale, row)
            assert row["paired"] == SCALE_SEEDS and not math.isnan(row["rate_b"])
