"""Fixtures for tests that run real transformers on a tiny, locally built Qwen2-VL or Qwen3-VL.

Imported into conftest.py. Each model is built once per session (a second or two on CPU, about 1 MB);
tests that use it skip when the ``local`` extra (torch, torchvision, transformers) is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.env import Observation, StartSpec, Viewport

#: The screens the local-backend tests send (name: viewport, device scale factor): a desktop, a HiDPI
#: laptop and a phone, so the processor's grid is checked against pixelpilot's geometry at each.
SCREENS = {
    "desktop": (Viewport(width=1280, height=720), 1.0),
    "hidpi": (Viewport(width=800, height=600), 2.0),
    "phone": (Viewport(width=390, height=844), 3.0),
}
#: A minimal chat with one image, for requests built by hand.
MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": "sys"}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "click the button"}]},
]


@pytest.fixture(scope="module")
def screenshots(browser: Any, http_server: str) -> dict[str, Observation]:
    """One real Chromium screenshot per entry of SCREENS (of the test pages' loop.html)."""
    shots = {}
    for name, (viewport, dsf) in SCREENS.items():
        browser.reset(StartSpec(url=f"{http_server}/loop.html", viewport=viewport, device_scale_factor=dsf))
        shots[name] = browser.observe()
    return shots


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random Qwen2-VL (weights, tokenizer, processor, chat template)."""
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    pytest.importorskip("transformers")
    from pixelpilot.agent.qwen.tiny import build_tiny_qwen2vl

    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"), seed=0)


@pytest.fixture(scope="session")
def tiny_local_backend(tiny_qwen_dir: Path) -> Iterator[Any]:
    """A LocalBackend (CPU, float32) over ``tiny_qwen_dir``, shared by the session."""
    import torch

    from pixelpilot.agent.qwen.backends.local import LocalBackend

    # One intra-op thread: a model this small gains nothing from more, and on a shared, busy CI CPU
    # two threads contending with other processes made each step several times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    backend = LocalBackend(str(tiny_qwen_dir), device="cpu")
    yield backend
    backend.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random Qwen3-VL (patch 16 x merge 2: resize factor 32), built once per session."""
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    pytest.importorskip("transformers")
    from pixelpilot.agent.qwen.tiny import build_tiny_qwen3vl

    return build_tiny_qwen3vl(tmp_path_factory.mktemp("tiny-qwen3vl"), seed=0)


@pytest.fixture(scope="session")
def tiny_qwen3_local_backend(tiny_qwen3_dir: Path) -> Iterator[Any]:
    """A LocalBackend (CPU, float32, one intra-op thread) over ``tiny_qwen3_dir``, shared by the session."""
    import torch

    from pixelpilot.agent.qwen.backends.local import LocalBackend

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    backend = LocalBackend(str(tiny_qwen3_dir), device="cpu")
    yield backend
    backend.close()
    torch.set_num_threads(threads)
