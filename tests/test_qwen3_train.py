"""Qwen3-VL through the training loop and the offline benches: `pixelpilot dataset build --dialect
qwen3-vl` (rows resized to multiples of 32), `pixelpilot train --base <tiny Qwen3-VL folder>` (full
and LoRA), and the grounding and step-level suites run with the tiny Qwen3-VL.

The model is the tiny random Qwen3-VL built in tests/qwen_fixtures.py; the bundles are real browser
episodes (a scripted login). What is checked is the geometry: every row, every prompt and every
scored step uses factor 32, and a set built for 28 is refused before anything is trained on it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.prompt import PromptConfig, geometry_for
from pixelpilot.agent.train.dataset import decode_check
from pixelpilot.agent.train.format import data_files, read_info
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task
from pixelpilot.tools import REGISTRY
from tests.test_bench_runner import bench, read_results
from tests.test_cli import PIXELPILOT, assert_one_line_error, cli

pytest.importorskip("torch")
pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
pytest.importorskip("peft")
pytest.importorskip("matplotlib")

BUDGET = 64 * 32 * 32  # 64 visual tokens: a 1280x720 screenshot becomes 320x192 (10 x 6 tokens of 32 px)


def run(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess with one intra-op thread (the models are tiny; the machine is shared)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def rows_of(folder: Path) -> list[dict[str, Any]]:
    table = datasets.concatenate_datasets([datasets.Dataset.from_parquet(str(f)) for f in data_files(folder)])
    return list(table)


@pytest.fixture(scope="module")
def login_bundles(browser: BrowserEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A successful real login episode (1280x720 screenshots, six steps, one typing a secret) in a folder."""
    out = tmp_path_factory.mktemp("qwen3-bundles")
    task = Task.from_file(EXAMPLES_DIR / "login.yaml")
    assert task.solution is not None
    policy = ScriptedPolicy.from_file(task.solution)
    result = Agent(browser, policy, AgentConfig(out_dir=out, write_report=False)).run(task.to_spec())
    assert result.success, result
    return out


@pytest.fixture(scope="module")
def qwen3_set(login_bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qwen3-set") / "ds"
    proc = run("dataset", "build", login_bundles, "--dialect", "qwen3-vl", "--out", out, "--max-pixels", BUDGET)
    assert proc.returncode == 0, proc.stderr
    assert "resize factor 32" in proc.stdout
    return out


def test_qwen3_vl_rows_are_resized_with_factor_32(qwen3_set: Path) -> None:
    info = read_info(qwen3_set)
    assert info.dialect == "qwen3-vl" and info.resize_factor == 32 and info.max_pixels == BUDGET
    assert "resize factor 32" in (qwen3_set / "README.md").read_text()
    rows = rows_of(qwen3_set)
    # the step typing the password is never an example
    assert [json.loads(r["executed"])["action"] for r in rows][:4] == ["click", "type", "click", "click"]
    prompt = PromptConfig(max_pixels=BUDGET, resize_factor=32)
    dialect = get_dialect("qwen3-vl")
    for row in rows:
        assert (row["width"], row["height"]) == (1280, 720)
        # by hand: 1280x720 in 64 tokens of 32 px -> beta = sqrt(921600 / 65536) = 3.75 -> 341 x 192 -> 320 x 192
        assert (row["resized_width"], row["resized_height"]) == (320, 192)
        geometry = geometry_for(row["width"], row["height"], prompt)
        assert geometry.factor == 32 and (geometry.resized_width, geometry.resized_height) == (320, 192)
        executed = REGISTRY.validate(json.loads(row["executed"]))
        assert decode_check(dialect, row["target"], geometry, row["env"], executed) == json.loads(row["action"])


def test_the_factor_follows_the_dialect_or_the_flag(login_bundles: Path, tmp_path: Path) -> None:
    qwen25 = tmp_path / "qwen25"
    proc = run("dataset", "build", login_bundles, "--dialect", "qwen2.5-vl", "--out", qwen25, "--max-pixels", BUDGET)
    assert proc.returncode == 0, proc.stderr
    assert read_info(qwen25).resize_factor == 28  # unchanged for the Qwen2.5-VL family
    assert {(r["resized_width"], r["resized_height"]) for r in rows_of(qwen25)} == {(336, 168)}

    # Qwen2.5-VL's tool calls for a Qwen3-VL model: absolute coordinates in the factor-32 image
    forced = tmp_path / "forced"
    proc = run(
        "dataset", "build", login_bundles, "--dialect", "qwen2.5-vl", "--resize-factor", "32", "--out", forced,
        "--max-pixels", BUDGET,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert read_info(forced).resize_factor == 32
    first = rows_of(forced)[0]
    assert (first["resized_width"], first["resized_height"]) == (320, 192)
    assert "320x192" in json.loads(first["messages"])[0]["content"][0]["text"]  # the prompt states the resized size
    assert json.loads(first["target"].split("<tool_call>")[1].split("</tool_call>")[0])["arguments"]["coordinate"] == [
        160, 72,  # (640, 270) x 320/1280, 192/720
    ]  # fmt: skip

    assert_one_line_error(
        cli(
            "dataset", "build", login_bundles, "--dialect", "qwen3-vl", "--resize-factor", "31", "--out", tmp_path / "x"
        ),
        "--resize-factor",
    )


def test_full_fine_tune_of_a_tiny_qwen3_vl(qwen3_set: Path, tiny_qwen3_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "full"
    proc = run(
        "train", "--data", qwen3_set, "--base", tiny_qwen3_dir, "--dialect", "qwen3-vl", "--out", out,
        "--max-steps", "2", "--batch-size", "2", "--device", "cpu", "--lr", "1e-3",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "trained 2 steps" in proc.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl" and config["vision_config"]["patch_size"] == 16
    meta = json.loads((out / "pixelpilot.json").read_text())
    assert meta["dialect"] == "qwen3-vl" and meta["max_pixels"] <= BUDGET
    before, after = load_file(tiny_qwen3_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not before[k].equal(after[k]) for k in before)  # it learned something
    _answers_with_factor_32(out, qwen3_set)


def test_lora_fine_tune_of_a_tiny_qwen3_vl(qwen3_set: Path, tiny_qwen3_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "lora"
    proc = run(
        "train", "--data", qwen3_set, "--base", tiny_qwen3_dir, "--dialect", "qwen3-vl", "--out", out, "--lora",
        "--lora-r", "4", "--max-steps", "2", "--batch-size", "2", "--device", "cpu", "--lr", "1e-2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    before, after = load_file(tiny_qwen3_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()  # merged back into the plain Qwen3-VL layout
    changed = {k for k in before if not before[k].equal(after[k])}
    assert changed and all("language_model" in k and k.rsplit(".", 2)[-2] in {"q_proj", "k_proj", "v_proj", "o_proj"}
                           for k in changed)  # fmt: skip
    _answers_with_factor_32(out, qwen3_set)


def _answers_with_factor_32(model_dir: Path, data: Path) -> None:
    """The trained folder loads in the local backend and resizes a dataset row as factor 32 predicts."""
    from pixelpilot.agent.qwen.backends.base import ModelRequest, PromptImage, SamplingConfig
    from pixelpilot.agent.qwen.backends.local import LocalBackend
    from pixelpilot.agent.qwen.families import processor_factor
    from pixelpilot.env import Observation, ScreenGeometry

    assert processor_factor(model_dir).factor == 32
    row = rows_of(data)[0]
    buf = __import__("io").BytesIO()
    row["images"][0].save(buf, format="PNG")
    geometry_px = ScreenGeometry(width=row["width"], height=row["height"], viewport_width=1280, viewport_height=720)
    obs = Observation(screenshot=buf.getvalue(), image_format="png", geometry=geometry_px)
    geometry = geometry_for(row["width"], row["height"], PromptConfig(max_pixels=BUDGET, resize_factor=32))
    backend = LocalBackend(str(model_dir), device="cpu")
    try:
        response = backend.generate(
            ModelRequest(
                messages=json.loads(row["messages"]),
                images=[PromptImage(observation=obs, geometry=geometry)],
                sampling=SamplingConfig(max_new_tokens=4),
            )
        )
    finally:
        backend.close()
    assert response.image_grid_thw == [[1, 12, 20]] and response.visual_tokens == 60  # 192/16, 320/16; 6 x 10


def test_a_set_built_for_factor_28_is_refused_before_training(
    login_bundles: Path, qwen3_set: Path, tiny_qwen3_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "ds28"
    proc = run("dataset", "build", login_bundles, "--dialect", "qwen3-vl", "--resize-factor", "28", "--out", data,
               "--max-pixels", BUDGET)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    proc = run("train", "--data", data, "--base", tiny_qwen3_dir, "--dialect", "qwen3-vl", "--out", out)
    assert_one_line_error(proc, "built for resize factor 28")
    assert "multiples of 32" in proc.stderr and "--resize-factor 32" in proc.stderr
    assert not (out / "model.safetensors").exists()
    # nor mixed with a factor-32 set, whatever the base
    proc = run("train", "--data", qwen3_set, "--data", data, "--base", "tiny", "--dialect", "qwen3-vl", "--out", out)
    assert_one_line_error(proc, "was resized with factor 28")


def test_grounding_suite_with_a_tiny_qwen3_vl(tiny_qwen3_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from pixelpilot.agent.qwen.resize import ResizeGeometry

    data = tmp_path / "set"
    proc = bench("make-grounding", "--out", data, "--n", "4", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    proc = bench(
        "grounding", "--model", tiny_qwen3_dir, "--max-pixels", BUDGET, "--max-new-tokens", "8", "--max-repairs", "0",
        "--data", data, "--limit", "2", "--out", out, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert len(results) == 2 and all(r["status"] == "scored" for r in results)
    sizes = {Image.open(p).size for p in data.rglob("*.png")}
    expected = {ResizeGeometry.for_image(w, h, max_pixels=BUDGET, factor=32).visual_tokens for w, h in sizes}
    assert {r["metrics"]["visual_tokens"] for r in results} <= expected
    assert (
        not {r["metrics"]["visual_tokens"] for r in results}
        & {ResizeGeometry.for_image(w, h, max_pixels=BUDGET).visual_tokens for w, h in sizes} - expected
    )  # not the factor-28 counts
    summary = json.loads((out / "summary.json").read_text())
    assert summary["identity"]["model"] == str(tiny_qwen3_dir)


def test_steplevel_suite_with_a_tiny_qwen3_vl(login_bundles: Path, tiny_qwen3_dir: Path, tmp_path: Path) -> None:
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.tasks.bench.steplevel import StepLevelSuite

    out = tmp_path / "steps"
    proc = bench(
        "steplevel", "--model", tiny_qwen3_dir, "--max-pixels", BUDGET, "--max-new-tokens", "8", "--max-repairs", "0",
        "--data", login_bundles, "--out", out, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert len(results) == 5 and all(r["status"] == "scored" for r in results)  # six steps, one a secret
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suite_summary"]["steps"] == 5 and summary["identity"]["dialect"] == "qwen3-vl"

    # what the suite's policy asked the model: the factor-32 geometry of the recorded screenshots
    suite = StepLevelSuite(login_bundles)
    spec = PolicySpec(kind="qwen", model=str(tiny_qwen3_dir), max_pixels=BUDGET, max_new_tokens=4, max_repairs=0)
    worker = suite.open_worker(0, spec)
    try:
        _, _, decision = worker.decide(next(iter(suite.samples().values())))
    finally:
        worker.close()
    assert decision.metadata["geometry"]["factor"] == 32
    assert (decision.metadata["geometry"]["resized_width"], decision.metadata["geometry"]["resized_height"]) == (
        320, 192,
    )  # fmt: skip
    assert decision.metadata["attempts"][0]["image_grid_thw"] == [[1, 12, 20]]
