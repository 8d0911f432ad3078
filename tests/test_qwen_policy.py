"""The Qwen2-VL policy end to end with a real (tiny, random) transformers model, and the CLI's
model options, including every way a model can fail to load."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent import Agent, AgentConfig, read_bundle
from pixelpilot.agent.qwen.backends.base import SamplingConfig
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task
from tests.test_cli import PIXELPILOT, assert_one_line_error


def test_garbage_from_a_real_model_is_recorded_and_the_episode_ends_cleanly(
    tiny_local_backend: Any, browser: BrowserEnv, tmp_path: Path
) -> None:
    task = Task.from_file(EXAMPLES_DIR / "login.yaml").to_spec().model_copy(update={"max_steps": 3})
    policy = QwenPolicy(
        tiny_local_backend, "qwen2.5-vl", QwenPolicyConfig(max_repairs=1, sampling=SamplingConfig(max_new_tokens=12))
    )
    config = AgentConfig(out_dir=tmp_path, max_consecutive_failures=10)
    result = Agent(browser, policy, config).run(task)
    assert result.status == "max_steps" and result.steps == 3

    record, steps = read_bundle(result.bundle)
    assert record.policy["dialect"] == "qwen2.5-vl" and record.policy["backend"] == "local"
    expected = ResizeGeometry.for_image(1280, 720)
    for step in steps:
        meta = step.policy
        assert meta["messages"][0]["role"] == "system" and "<tools>" in meta["messages"][0]["content"][0]["text"]
        assert meta["messages"][1]["content"][0]["type"] == "image"
        assert meta["geometry"] == expected.model_dump()
        attempts = meta["attempts"]
        assert 1 <= len(attempts) <= 2
        for attempt in attempts:
            assert isinstance(attempt["text"], str)
            assert attempt["visual_tokens"] == expected.visual_tokens
            assert attempt["image_grid_thw"] == [list(expected.image_grid_thw)]
        if step.error:  # garbage: every attempt failed to parse and was recorded
            assert step.error_kind == "parse" and len(attempts) == 2
            assert all("parse_error" in a for a in attempts)
            assert step.raw_output == attempts[-1]["text"]
    # later prompts carry the earlier steps (and their errors) as history
    last_prompt = steps[-1].policy["messages"][1]["content"][-1]["text"]
    assert "Step 1:" in last_prompt and "Step 2:" in last_prompt


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PIXELPILOT, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def test_cli_runs_the_local_model(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        str(EXAMPLES_DIR / "todo.yaml"),
        "--model",
        str(tiny_qwen_dir),
        "--max-steps",
        "2",
        "--max-new-tokens",
        "8",
        "--max-repairs",
        "0",
        "--max-pixels",
        str(256 * 28 * 28),
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 1, proc.stderr  # the episode ran; an untrained model does not solve the task
    assert "bundle:" in proc.stdout
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == 2
    geometry = ResizeGeometry.for_image(1280, 720, max_pixels=256 * 28 * 28)
    assert steps[0]["policy"]["geometry"]["resized_width"] == geometry.resized_width
    assert steps[0]["policy"]["attempts"][0]["visual_tokens"] == geometry.visual_tokens <= 256


def test_cli_missing_weights_offline(tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        str(EXAMPLES_DIR / "login.yaml"),
        "--model",
        "Qwen/Qwen2-VL-2B-Instruct-not-cached",
        "--out",
        str(tmp_path),
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert_one_line_error(proc, "cannot load model 'Qwen/Qwen2-VL-2B-Instruct-not-cached'")


def test_cli_not_a_qwen_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    proc = run_cli("run", str(EXAMPLES_DIR / "login.yaml"), "--model", str(folder), "--out", str(tmp_path))
    assert_one_line_error(proc, "gpt2")


def test_cli_unreachable_endpoint(tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        str(EXAMPLES_DIR / "login.yaml"),
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--model",
        "qwen",
        "--out",
        str(tmp_path),
    )
    assert_one_line_error(proc, "endpoint http://127.0.0.1:9/v1 is unreachable")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--dialect", "klingon", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m"], "unknown dialect 'klingon'"),
        (["--policy", "qwen"], "--policy qwen needs --model"),
        (["--model", "m", "--min-pixels", "999999", "--max-pixels", "1000"], "must not exceed --max-pixels"),
    ],
)
def test_cli_bad_model_options(tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(run_cli("run", str(EXAMPLES_DIR / "login.yaml"), *args, "--out", str(tmp_path)), fragment)
