"""LocalBackend on a tiny random Qwen2-VL: real transformers, real Chromium screenshots.

The model's words are garbage; what is checked is what the framework relies on: the processor
resizes exactly as ResizeGeometry predicts (visual tokens, grid), greedy is reproducible, seeds
steer sampling, and load failures are one readable line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent.qwen.backends.base import BackendError, ModelRequest, PromptImage, SamplingConfig
from pixelpilot.agent.qwen.backends.local import LocalBackend
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, ResizeGeometry
from pixelpilot.env import Observation
from tests.qwen_fixtures import MESSAGES, SCREENS

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("transformers")

SMALL_MAX_PIXELS = 256 * 28 * 28
TINY_MAX_PIXELS = 64 * 28 * 28  # for tests about decoding, not resizing: keeps them fast on a busy CPU


def request_for(
    observation: Observation,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sampling: SamplingConfig | None = None,
    geometry: ResizeGeometry | None = None,
    messages: list[dict[str, Any]] = MESSAGES,
) -> ModelRequest:
    if geometry is None:
        width, height = observation.image.size
        geometry = ResizeGeometry.for_image(width, height, min_pixels=DEFAULT_MIN_PIXELS, max_pixels=max_pixels)
    return ModelRequest(
        messages=messages,
        images=[PromptImage(observation=observation, geometry=geometry)],
        sampling=sampling or SamplingConfig(max_new_tokens=8),
    )


@pytest.mark.parametrize("max_pixels", [DEFAULT_MAX_PIXELS, SMALL_MAX_PIXELS], ids=["default", "small"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_visual_tokens_match_resize_geometry(
    tiny_local_backend: LocalBackend, screenshots: dict[str, Observation], screen: str, max_pixels: int
) -> None:
    observation = screenshots[screen]
    viewport, dsf = SCREENS[screen]
    width, height = observation.image.size
    assert (width, height) == (round(viewport.width * dsf), round(viewport.height * dsf))
    geometry = ResizeGeometry.for_image(width, height, max_pixels=max_pixels)

    response = tiny_local_backend.generate(request_for(observation, max_pixels=max_pixels))

    assert response.visual_tokens == (geometry.resized_height // 28) * (geometry.resized_width // 28)
    assert response.visual_tokens == geometry.visual_tokens
    assert response.image_grid_thw == [list(geometry.image_grid_thw)]
    assert response.prompt_tokens == response.visual_tokens + response.text_tokens
    assert 0 < response.text_tokens < 100
    assert isinstance(response.text, str)
    assert 1 <= response.completion_tokens <= 8
    assert set(response.timings_ms) >= {"preprocess", "prefill", "decode"}
    assert all(v >= 0 for v in response.timings_ms.values())
    assert response.model == str(tiny_local_backend.model_id)
    assert response.extra["max_pixels"] == max_pixels


def test_greedy_is_reproducible(tiny_local_backend: LocalBackend, screenshots: dict[str, Observation]) -> None:
    request = request_for(
        screenshots["desktop"], max_pixels=TINY_MAX_PIXELS, sampling=SamplingConfig(max_new_tokens=16)
    )
    first = tiny_local_backend.generate(request)
    second = tiny_local_backend.generate(request)
    assert first.text == second.text
    assert first.completion_tokens == second.completion_tokens


def test_sampling_follows_the_seed(tiny_local_backend: LocalBackend, screenshots: dict[str, Observation]) -> None:
    def sample(seed: int) -> str:
        sampling = SamplingConfig(do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=6, seed=seed)
        request = request_for(screenshots["desktop"], max_pixels=TINY_MAX_PIXELS, sampling=sampling)
        return tiny_local_backend.generate(request).text

    texts = [sample(seed) for seed in range(4)]
    assert len(set(texts)) > 1, texts
    assert sample(0) == texts[0]


def test_answer_keeps_box_tags_and_drops_the_end_token(
    tiny_local_backend: LocalBackend, screenshots: dict[str, Observation], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    tokenizer = tiny_local_backend.processor.tokenizer
    answer = "<|box_start|>(12,34),(56,78)<|box_end|>"
    answer_ids = tokenizer.encode(answer, add_special_tokens=False)
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def fake_generate(input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.cat([input_ids, torch.tensor([[*answer_ids, end_id]])], dim=1)

    monkeypatch.setattr(tiny_local_backend.model, "generate", fake_generate)
    response = tiny_local_backend.generate(request_for(screenshots["desktop"], max_pixels=TINY_MAX_PIXELS))
    assert response.text == answer
    assert response.completion_tokens == len(answer_ids) + 1
    assert response.finish_reason == "stop"


def test_grid_disagreement_is_refused(tiny_local_backend: LocalBackend, screenshots: dict[str, Observation]) -> None:
    observation = screenshots["desktop"]
    width, height = observation.image.size
    wrong = ResizeGeometry(
        width=width, height=height, resized_width=280, resized_height=140,
        min_pixels=DEFAULT_MIN_PIXELS, max_pixels=SMALL_MAX_PIXELS,
    )  # fmt: skip
    with pytest.raises(BackendError, match="disagrees with the resize geometry"):
        tiny_local_backend.generate(request_for(observation, geometry=wrong))


def test_geometry_of_another_image_is_refused(
    tiny_local_backend: LocalBackend, screenshots: dict[str, Observation]
) -> None:
    other = screenshots["phone"].image.size
    geometry = ResizeGeometry.for_image(*other, max_pixels=SMALL_MAX_PIXELS)
    with pytest.raises(BackendError, match="geometry was computed for"):
        tiny_local_backend.generate(request_for(screenshots["desktop"], geometry=geometry))


def test_image_parts_must_match_images(tiny_local_backend: LocalBackend, screenshots: dict[str, Observation]) -> None:
    text_only = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    with pytest.raises(BackendError, match="0 image parts"):
        tiny_local_backend.generate(request_for(screenshots["desktop"], messages=text_only))


def test_describe(tiny_local_backend: LocalBackend) -> None:
    info = tiny_local_backend.describe()
    assert info["backend"] == "local"
    assert info["model_type"] == "qwen2_vl"
    assert info["device"] == "cpu"
    assert info["dtype"] == "float32"
    assert info["attn_implementation"] == "sdpa"
    assert (info["min_pixels"], info["max_pixels"]) == (DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS)
    assert {"model", "revision"} <= set(info)


def test_missing_hub_model_offline_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import
    with pytest.raises(BackendError) as info:
        LocalBackend("pixelpilot-test/no-such-model-anywhere", device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "cannot load model 'pixelpilot-test/no-such-model-anywhere': not a local folder and not in the Hugging Face "
        "cache, and the hub is unreachable; download it first (huggingface-cli download "
        "pixelpilot-test/no-such-model-anywhere) or pass a folder"
    )


def test_non_qwen_folder_names_its_model_type(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1}))
    with pytest.raises(BackendError, match=r"model_type 'gpt2'") as info:
        LocalBackend(str(tmp_path), device="cpu")
    assert "not a Qwen2-VL-family checkpoint" in str(info.value)
    assert "\n" not in str(info.value)


def test_folder_problems(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"no config\.json"):
        LocalBackend(str(tmp_path), device="cpu")
    with pytest.raises(BackendError, match="no such folder"):
        LocalBackend(str(tmp_path / "missing" / "model"), device="cpu")
    with pytest.raises(BackendError, match="unknown dtype"):
        LocalBackend(str(tmp_path), device="cpu", dtype="int3")


def test_tiny_model_loads_with_auto_classes(tiny_qwen_dir: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir)
    tokenizer = processor.tokenizer
    config = model.config
    assert config.model_type == "qwen2_vl"
    assert config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert processor.image_processor.size["shortest_edge"] == DEFAULT_MIN_PIXELS
    assert processor.image_processor.size["longest_edge"] == DEFAULT_MAX_PIXELS
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "点击 OK"}]}, ],
        tokenize=False, add_generation_prompt=True,
    )  # fmt: skip
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>点击 OK<|im_end|>\n<|im_start|>assistant\n"
    )
    text = 'Action: {"x": 12, "y": 345} 设置 <|box_start|>(1,2)<|box_end|>'
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert sum(f.stat().st_size for f in tiny_qwen_dir.iterdir()) < 20 * 1024 * 1024


def test_importing_the_backend_does_not_import_torch() -> None:
    code = (
        "import sys, pixelpilot.agent.qwen.tiny, pixelpilot.agent.qwen.backends.local; "
        "sys.exit(1 if {'torch', 'transformers'} & set(sys.modules) else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=60).returncode == 0


def test_tiny_build_is_deterministic(tmp_path: Path) -> None:
    from pixelpilot.agent.qwen.tiny import build_tiny_qwen2vl

    first = build_tiny_qwen2vl(tmp_path / "a", seed=0)
    second = build_tiny_qwen2vl(tmp_path / "b", seed=0)
    other = build_tiny_qwen2vl(tmp_path / "c", seed=1)
    weights = [(d / "model.safetensors").read_bytes() for d in (first, second, other)]
    assert weights[0] == weights[1] != weights[2]
    assert (first / "tokenizer.json").read_bytes() == (other / "tokenizer.json").read_bytes()
