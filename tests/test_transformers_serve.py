"""The served backend against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1
with the same tiny Qwen2-VL (and Qwen3-VL) folder the local backend loads."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pixelpilot.agent import Agent, AgentConfig, read_bundle
from pixelpilot.agent.qwen.backends.base import SamplingConfig
from pixelpilot.agent.qwen.backends.served import ServedBackend
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.prompt import PromptConfig, build_request
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task

SMALL = 256 * 28 * 28


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def transformers_serve(folder: Path) -> Iterator[str]:
    """`transformers serve` on a free 127.0.0.1 port with the model in ``folder``; yields its /v1 URL."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    exe = shutil.which("transformers") or str(Path(sys.executable).parent / "transformers")
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "serve",
            str(folder),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--dtype",
            "float32",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited: {proc.stdout.read()[-2000:] if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("transformers serve did not start within 180 s")
    try:
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def served_tiny(tiny_qwen_dir: Path) -> Iterator[str]:
    with transformers_serve(tiny_qwen_dir) as url:
        yield url


def test_served_and_local_agree_on_a_real_server(
    served_tiny: str, tiny_qwen_dir: Path, tiny_local_backend: Any, browser: BrowserEnv, tmp_path: Path
) -> None:
    task = Task.from_file(EXAMPLES_DIR / "login.yaml").to_spec().model_copy(update={"max_steps": 2})
    config = QwenPolicyConfig(
        max_repairs=0, prompt=PromptConfig(max_pixels=SMALL), sampling=SamplingConfig(max_new_tokens=8)
    )
    backend = ServedBackend(served_tiny, str(tiny_qwen_dir), timeout_s=120)
    backend.check()
    result = Agent(
        browser, QwenPolicy(backend, "qwen2.5-vl", config), AgentConfig(out_dir=tmp_path, max_consecutive_failures=5)
    ).run(task)
    assert result.status in ("max_steps", "finished", "error") and result.steps >= 1
    _, steps = read_bundle(result.bundle)
    first = steps[0].policy["attempts"][0]
    assert isinstance(first["text"], str)
    # transformers serve refuses vLLM's field, so the backend fell back to its own and the server
    # resized to our small budget: its prompt token count equals the local backend's for the same prompt.
    assert first["extra"]["pixel_limits"] == "chat_template_kwargs"

    browser.reset(task.start)
    obs = browser.observe()
    request = build_request(
        dialect=get_dialect("qwen2.5-vl"),
        env="browser",
        instruction=task.instruction,
        observation=obs,
        history=[],
        config=config.prompt,
        sampling=config.sampling,
    )
    served = backend.generate(request)
    local = tiny_local_backend.generate(request)
    assert served.prompt_tokens == local.prompt_tokens
    assert served.visual_tokens == local.visual_tokens == request.images[0].geometry.visual_tokens <= 256
    assert served.text == local.text  # greedy decoding of the same weights on the same pixels


@pytest.fixture(scope="session")
def served_tiny_qwen3(tiny_qwen3_dir: Path) -> Iterator[str]:
    with transformers_serve(tiny_qwen3_dir) as url:
        yield url


def test_qwen3_served_and_local_agree_on_a_real_server(
    served_tiny_qwen3: str, tiny_qwen3_dir: Path, tiny_qwen3_local_backend: Any, browser: BrowserEnv, tmp_path: Path
) -> None:
    """Qwen3-VL resizes to multiples of 32: the served policy takes the factor from the model's name (a
    served model is never read as a folder), sends the limits, and the server's tokens match the local ones."""
    from pixelpilot.agent.qwen.factory import make_policy
    from pixelpilot.agent.qwen.resize import ResizeGeometry

    budget = 256 * 32 * 32
    task = Task.from_file(EXAMPLES_DIR / "login.yaml").to_spec().model_copy(update={"max_steps": 1})
    policy = make_policy(
        str(tiny_qwen3_dir), endpoint=served_tiny_qwen3, timeout_s=120,
        prompt=PromptConfig(max_pixels=budget), sampling=SamplingConfig(max_new_tokens=8), max_repairs=0,
    )  # fmt: skip
    assert policy.dialect.name == "qwen3-vl"  # from the model's name, as the factor
    result = Agent(browser, policy, AgentConfig(out_dir=tmp_path, max_consecutive_failures=5)).run(task)
    assert result.steps == 1
    _, steps = read_bundle(result.bundle)
    expected = ResizeGeometry.for_image(1280, 720, max_pixels=budget, factor=32)
    assert steps[0].policy["geometry"] == expected.model_dump()
    first = steps[0].policy["attempts"][0]
    assert first["extra"]["pixel_limits"] == "chat_template_kwargs"
    assert first["image_grid_thw"] == [list(expected.image_grid_thw)] == [[1, 24, 42]]

    browser.reset(task.start)
    request = build_request(
        dialect=get_dialect("qwen3-vl"), env="browser", instruction=task.instruction, observation=browser.observe(),
        history=[], config=policy.config.prompt, sampling=policy.config.sampling,
    )  # fmt: skip
    assert request.images[0].geometry == expected
    served = policy.backend.generate(request)
    local = tiny_qwen3_local_backend.generate(request)
    assert served.prompt_tokens == local.prompt_tokens == local.text_tokens + expected.visual_tokens
    assert served.visual_tokens == local.visual_tokens == 12 * 21  # a factor-28 geometry would give 13 * 24
    assert ResizeGeometry.for_image(1280, 720, max_pixels=budget).visual_tokens == 13 * 24
    assert served.text == local.text  # greedy decoding of the same weights on the same pixels
    policy.close()
