"""The served backend against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1
with the same tiny Qwen2-VL folder the local backend loads."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def served_tiny(tiny_qwen_dir: Path) -> Iterator[str]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    exe = shutil.which("transformers") or str(Path(sys.executable).parent / "transformers")
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "serve",
            str(tiny_qwen_dir),
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
    yield f"{url}/v1"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


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
