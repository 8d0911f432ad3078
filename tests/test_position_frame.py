"""The position frame lines up with the processor's patch order, and both the trainer and the local
backend add it exactly when the model's pixelpilot.json asks for it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image, ImageDraw

from pixelpilot.agent.qwen.position_frame import ONE_HOT, apply_to_inputs, model_uses_position_frame


def _patches(processor: Any, images: list[Image.Image]) -> Any:
    text = ["<|vision_start|><|image_pad|><|vision_end|>" * len(images)]
    size = {"shortest_edge": 28 * 28, "longest_edge": 1024 * 28 * 28}
    return processor(text=text, images=images, size=size, return_tensors="pt")


@pytest.mark.parametrize("spots", [[(3, 5)], [(0, 0), (11, 15)], [(7, 2), (4, 9)]])
def test_each_patch_is_told_its_own_row_and_column(tiny_qwen_dir: Path, spots: list[tuple[int, int]]) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    p = processor.image_processor.patch_size
    # two images of different sizes in one call: the frame must follow each image's own grid
    first = Image.new("RGB", (16 * p, 12 * p), (255, 255, 255))
    second = Image.new("RGB", (6 * p, 10 * p), (255, 255, 255))
    for h, w in spots:
        ImageDraw.Draw(first).rectangle((w * p, h * p, w * p + p - 1, h * p + p - 1), fill=(0, 0, 0))
    ImageDraw.Draw(second).rectangle((5 * p, 9 * p, 6 * p - 1, 10 * p - 1), fill=(0, 0, 0))
    inputs = _patches(processor, [first, second])
    assert inputs["image_grid_thw"].tolist() == [[1, 12, 16], [1, 10, 6]]
    before = inputs["pixel_values"].clone()
    apply_to_inputs(inputs, processor)
    after = inputs["pixel_values"].view(-1, 3, 2, p, p)
    assert after[:, :, 0].equal(before.view(-1, 3, 2, p, p)[:, :, 0])  # the screenshot frame is untouched
    assert not after[:, :, 1].equal(before.view(-1, 3, 2, p, p)[:, :, 1])

    dark = (before.view(-1, 3, 2, p, p)[:, :, 0].mean(dim=(1, 2, 3)) < -1).nonzero().flatten().tolist()
    found = []
    for row in dark:
        (w,) = (after[row, 0, 1].flatten() == ONE_HOT).nonzero().flatten().tolist()
        (h,) = (after[row, 1, 1].flatten() == ONE_HOT).nonzero().flatten().tolist()
        found.append((row >= 12 * 16, h, w))
    assert sorted(found) == sorted([(False, h, w) for h, w in spots] + [(True, 9, 5)])


def test_only_models_that_ask_for_it_get_it(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    from pixelpilot.agent.qwen.backends.local import LocalBackend

    assert not model_uses_position_frame(tiny_qwen_dir) and not LocalBackend(str(tiny_qwen_dir)).position_frame
    model = tmp_path / "model"
    shutil.copytree(tiny_qwen_dir, model)
    meta = {"dialect": "qwen2-vl", "min_pixels": 3136, "max_pixels": 200704, "history_actions": 8}
    (model / "pixelpilot.json").write_text(json.dumps(meta | {"position_frame": True}))
    assert model_uses_position_frame(model) and LocalBackend(str(model)).position_frame
    (model / "pixelpilot.json").write_text("{not json")
    assert not model_uses_position_frame(model)


def test_a_trained_folders_settings_apply_where_the_user_left_the_defaults(tmp_path: Path) -> None:
    from pixelpilot.agent.policy_spec import PolicySpec

    model = tmp_path / "model"
    model.mkdir()
    meta = {"dialect": "qwen2-vl", "min_pixels": 3136, "max_pixels": 200704, "history_actions": 3,
            "system_prompt": "GUI agent.", "max_new_tokens": 32, "max_repairs": 0}  # fmt: skip
    (model / "pixelpilot.json").write_text(json.dumps(meta))
    spec = PolicySpec(kind="qwen", model=str(model)).resolved()
    assert (spec.dialect, spec.system_prompt, spec.max_pixels, spec.history) == ("qwen2-vl", "GUI agent.", 200704, 3)
    assert (spec.max_new_tokens, spec.max_repairs) == (32, 0)
    mine = PolicySpec(kind="qwen", model=str(model), max_new_tokens=64, max_repairs=1, history=5).resolved()
    assert (mine.max_new_tokens, mine.max_repairs, mine.history) == (64, 1, 5)
    del meta["max_new_tokens"], meta["max_repairs"]
    (model / "pixelpilot.json").write_text(json.dumps(meta))
    plain = PolicySpec(kind="qwen", model=str(model)).resolved()
    assert (plain.max_new_tokens, plain.max_repairs) == (256, 2)
