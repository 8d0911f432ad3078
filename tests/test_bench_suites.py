"""The other suites through the same CLI and runner: example tasks, Android tasks on the simulated
device, and the offline grounding and step-level sets (oracle and a real tiny Qwen2-VL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pixelpilot.tasks import ANDROID_DIR, EXAMPLES_DIR
from tests.test_bench_runner import bench, read_results


def test_example_tasks_suite_with_their_scripted_solutions(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = bench("examples", "--policy", "oracle", "--workers", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert sorted(r["task"] for r in results) == sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))
    assert all(r["success"] and r["status"] == "finished" for r in results), results
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["success_rate"] == 1.0
    assert summary["overall"]["latency_ms_per_step"]["capture"] > 0


def test_android_tasks_suite_on_the_simulated_device(android_sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = bench("android", "--policy", "oracle", "--serial", android_sim.serial, "--out", out, timeout=400)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert sorted(r["task"] for r in results) == sorted(p.stem for p in ANDROID_DIR.glob("*.yaml"))
    assert all(r["success"] for r in results), results
    episode = json.loads((out / results[0]["bundle"] / "episode.json").read_text())
    assert episode["env"]["kind"] == "android"


def test_grounding_suite_from_a_generated_set(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "set"
    proc = bench("make-grounding", "--out", data, "--n", "12", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "oracle"
    proc = bench("grounding", "--policy", "oracle", "--data", data, "--workers", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    summary = json.loads((out / "summary.json").read_text())["suite_summary"]
    assert summary["samples"] == 12 and summary["sample_weighted_accuracy"] == 1.0
    assert summary["split_averaged_accuracy"] == 1.0 and summary["per_split"]

    out = tmp_path / "tiny"
    proc = bench(
        "grounding", "--model", str(tiny_qwen_dir), "--max-pixels", str(64 * 28 * 28), "--max-new-tokens", "16",
        "--max-repairs", "0", "--data", data, "--limit", "3", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert len(results) == 3 and all(r["status"] == "scored" for r in results)
    assert all(r["metrics"]["visual_tokens"] > 0 for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["identity"]["model"] == str(tiny_qwen_dir) and summary["identity"]["max_pixels"] == 64 * 28 * 28


def test_steplevel_suite_from_bundles_of_a_bench_run(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    proc = bench("miniwob", "--policy", "oracle", "--tasks", "enter-text", "--seeds", "2", "--out", demos)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "steps"
    proc = bench("steplevel", "--policy", "oracle", "--data", demos / "episodes", "--out", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    summary = json.loads((out / "summary.json").read_text())["suite_summary"]
    assert summary["steps"] == 6 and summary["exact_match"] == 1.0 and summary["type_match"] == 1.0
