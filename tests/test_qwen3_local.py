"""Qwen3-VL through the local backend: a tiny random Qwen3-VL built here (config, tokenizer with its
special tokens and chat template, processor, weights), real transformers, real Chromium screenshots.

What matters is what differs from Qwen2-VL: 16-px patches merged 2x2, so screenshots resize to
multiples of 32, not 28. The processor's grid must be the one pixelpilot's own factor-32 geometry
predicts, a factor-28 geometry must be refused before it reaches the model, and an episode must record
factor 32 in every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelpilot.agent import Agent, AgentConfig, read_bundle
from pixelpilot.agent.qwen.backends.base import BackendError, ModelRequest, PromptImage, SamplingConfig
from pixelpilot.agent.qwen.backends.local import LocalBackend
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.prompt import PromptConfig
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env import Observation
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task
from tests.qwen_fixtures import MESSAGES, SCREENS
from tests.test_qwen_policy import run_cli

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("transformers")

#: The dialect episodes are prompted in (the model's words are garbage either way; geometry is the point).
DIALECT = "qwen3-vl"
SMALL = 256 * 32 * 32
TINY = 64 * 32 * 32


def request_for(observation: Observation, geometry: ResizeGeometry, max_new_tokens: int = 6) -> ModelRequest:
    return ModelRequest(
        messages=MESSAGES,
        images=[PromptImage(observation=observation, geometry=geometry)],
        sampling=SamplingConfig(max_new_tokens=max_new_tokens),
    )


def test_the_tiny_folder_is_a_qwen3_vl(tiny_qwen3_dir: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pixelpilot.agent.qwen.families import processor_factor

    processor = AutoProcessor.from_pretrained(tiny_qwen3_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen3_dir)
    config, tokenizer = model.config, processor.tokenizer
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration" and config.model_type == "qwen3_vl"
    assert type(processor).__name__ == "Qwen3VLProcessor"
    vision = config.vision_config
    assert (vision.patch_size, vision.spatial_merge_size) == (16, 2)
    assert len(vision.deepstack_visual_indexes) == len(model.model.visual.deepstack_merger_list) > 0
    rope = config.text_config.rope_parameters
    assert rope["mrope_interleaved"] is True and sum(rope["mrope_section"]) * 2 == config.text_config.head_dim
    assert (processor.image_processor.patch_size, processor.image_processor.merge_size) == (16, 2)
    assert (processor.video_processor.patch_size, processor.video_processor.merge_size) == (16, 2)
    assert processor_factor(tiny_qwen3_dir).factor == 32  # what pixelpilot reads from the folder
    for name, token in (
        ("image_token_id", "<|image_pad|>"),
        ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("vision_end_token_id", "<|vision_end|>"),
    ):
        assert getattr(config, name) == tokenizer.convert_tokens_to_ids(token), name
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"

    # The Instruct template: no default system prompt, and tools announced in the system turn.
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "点击 OK"}]}
    assert processor.apply_chat_template([user], tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>点击 OK<|im_end|>\n<|im_start|>assistant\n"
    )
    tool = {"type": "function", "function": {"name": "computer_use", "parameters": {"type": "object"}}}
    with_tools = processor.apply_chat_template([user], tools=[tool], tokenize=False, add_generation_prompt=True)
    assert with_tools.startswith("<|im_start|>system\n# Tools\n") and '"name": "computer_use"' in with_tools

    call = {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 9]}}
    answer = f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
    ids = tokenizer.encode(answer)
    assert tokenizer.convert_ids_to_tokens(ids[:1]) == ["<tool_call>"]  # one token, as in the real vocabulary
    assert tokenizer.decode(ids) == tokenizer.decode(ids, skip_special_tokens=True) == answer
    assert sum(f.stat().st_size for f in tiny_qwen3_dir.iterdir()) < 20 * 1024 * 1024


@pytest.mark.parametrize("max_pixels", [SMALL, TINY], ids=["small", "tiny"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_processor_grid_is_the_factor_32_geometry(
    tiny_qwen3_local_backend: LocalBackend, screenshots: dict[str, Observation], screen: str, max_pixels: int
) -> None:
    observation = screenshots[screen]
    width, height = observation.image.size
    geometry = ResizeGeometry.for_image(width, height, max_pixels=max_pixels, factor=32)
    assert geometry.resized_width % 32 == 0 and geometry.resized_height % 32 == 0
    # The check is not vacuous: with factor 28 the same budget gives another grid.
    assert ResizeGeometry.for_image(width, height, max_pixels=max_pixels).image_grid_thw != geometry.image_grid_thw

    response = tiny_qwen3_local_backend.generate(request_for(observation, geometry))

    assert response.image_grid_thw == [list(geometry.image_grid_thw)]
    assert geometry.image_grid_thw == (1, geometry.resized_height // 16, geometry.resized_width // 16)
    assert response.visual_tokens == (geometry.resized_height // 32) * (geometry.resized_width // 32)
    assert response.visual_tokens == geometry.visual_tokens <= max_pixels // (32 * 32)
    assert response.prompt_tokens == response.visual_tokens + response.text_tokens
    assert 1 <= response.completion_tokens <= 6 and isinstance(response.text, str)


def test_a_factor_28_geometry_is_refused(
    tiny_qwen3_local_backend: LocalBackend, screenshots: dict[str, Observation]
) -> None:
    observation = screenshots["desktop"]
    geometry = ResizeGeometry.for_image(*observation.image.size, max_pixels=TINY)  # Qwen2-VL's 28
    with pytest.raises(BackendError) as info:
        tiny_qwen3_local_backend.generate(request_for(observation, geometry))
    message = str(info.value)
    assert "resize factor 28" in message and "multiples of 32" in message and "\n" not in message


def test_greedy_is_reproducible_and_describe_names_the_factor(
    tiny_qwen3_local_backend: LocalBackend, screenshots: dict[str, Observation]
) -> None:
    observation = screenshots["phone"]
    geometry = ResizeGeometry.for_image(*observation.image.size, max_pixels=TINY, factor=32)
    first = tiny_qwen3_local_backend.generate(request_for(observation, geometry, max_new_tokens=12))
    second = tiny_qwen3_local_backend.generate(request_for(observation, geometry, max_new_tokens=12))
    assert (first.text, first.completion_tokens) == (second.text, second.completion_tokens)
    info = tiny_qwen3_local_backend.describe()
    assert info["model_type"] == "qwen3_vl" and info["resize_factor"] == 32


def test_an_episode_records_factor_32_geometry(
    tiny_qwen3_local_backend: LocalBackend, browser: BrowserEnv, tmp_path: Path
) -> None:
    task = Task.from_file(EXAMPLES_DIR / "login.yaml").to_spec().model_copy(update={"max_steps": 2})
    prompt = PromptConfig(max_pixels=SMALL, resize_factor=32)
    config = QwenPolicyConfig(max_repairs=0, prompt=prompt, sampling=SamplingConfig(max_new_tokens=8))
    policy = QwenPolicy(tiny_qwen3_local_backend, DIALECT, config)
    result = Agent(browser, policy, AgentConfig(out_dir=tmp_path, max_consecutive_failures=5)).run(task)
    assert result.status == "max_steps" and result.steps == 2

    _, steps = read_bundle(result.bundle)
    expected = ResizeGeometry.for_image(1280, 720, max_pixels=SMALL, factor=32)
    for step in steps:
        assert step.policy["geometry"] == expected.model_dump() and step.policy["geometry"]["factor"] == 32
        for attempt in step.policy["attempts"]:
            # 1280x720 in 256 tokens of 32 px: 672x384 (by hand: 720 / 1.875 = 384, 1280 / 1.875 -> 21 x 32)
            assert attempt["image_grid_thw"] == [list(expected.image_grid_thw)] == [[1, 24, 42]]
            assert attempt["visual_tokens"] == expected.visual_tokens == 12 * 21


def test_a_policy_built_in_python_takes_the_factor_from_the_local_backend(
    tiny_qwen3_local_backend: LocalBackend, screenshots: dict[str, Observation]
) -> None:
    # no resize_factor given: the processor's 32 is adopted, so the step reaches the model
    config = QwenPolicyConfig(max_repairs=0, prompt=PromptConfig(max_pixels=TINY))
    policy = QwenPolicy(tiny_qwen3_local_backend, DIALECT, config)
    assert policy.config.prompt.resize_factor == 32 and config.prompt.resize_factor == 28  # caller's copy untouched
    decision = policy.decide("click the button", screenshots["desktop"], [])
    assert decision.metadata["geometry"]["factor"] == 32
    assert not any("error" in attempt for attempt in decision.metadata["attempts"])
    # a factor the caller chose is kept, and the backend refuses the mismatch in one line
    chosen = QwenPolicyConfig(max_repairs=0, prompt=PromptConfig(max_pixels=TINY, resize_factor=28))
    refused = QwenPolicy(tiny_qwen3_local_backend, DIALECT, chosen).decide("click", screenshots["desktop"], [])
    assert refused.parse_error is not None and "multiples of 32" in refused.parse_error


def test_cli_reads_factor_32_from_the_model_folder(tiny_qwen3_dir: Path, tmp_path: Path) -> None:
    # neither --dialect nor --resize-factor: the folder's processor config says 32, its name qwen3-vl
    proc = run_cli(
        "run", str(EXAMPLES_DIR / "todo.yaml"), "--model", str(tiny_qwen3_dir),
        "--max-steps", "1", "--max-new-tokens", "8", "--max-repairs", "0", "--max-pixels", str(TINY),
        "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the episode ran; an untrained model does not solve the task
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    step = json.loads((bundle / "steps.jsonl").read_text().splitlines()[0])
    assert json.loads((bundle / "episode.json").read_text())["policy"]["dialect"] == DIALECT
    expected = ResizeGeometry.for_image(1280, 720, max_pixels=TINY, factor=32)
    assert step["policy"]["geometry"] == expected.model_dump()
    assert step["policy"]["attempts"][0]["image_grid_thw"] == [list(expected.image_grid_thw)]
    assert step["policy"]["attempts"][0]["visual_tokens"] == expected.visual_tokens


def test_tiny_qwen3_build_is_deterministic(tmp_path: Path) -> None:
    from pixelpilot.agent.qwen.tiny import build_tiny_qwen3vl

    first = build_tiny_qwen3vl(tmp_path / "a", seed=0)
    second = build_tiny_qwen3vl(tmp_path / "b", seed=0)
    other = build_tiny_qwen3vl(tmp_path / "c", seed=1)
    weights = [(d / "model.safetensors").read_bytes() for d in (first, second, other)]
    assert weights[0] == weights[1] != weights[2]
    assert (first / "tokenizer.json").read_bytes() == (other / "tokenizer.json").read_bytes()
