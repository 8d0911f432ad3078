"""The image-ablation check: does a model look at the screenshot, or has it learned the answers' text?

Greedy-decoded action accuracy and the answer's teacher-forced NLL, with the real screenshots vs
the same screenshots blanked. It needs only a model and a dataset, so it runs inside a training
run (every ``eval_every`` steps, on ``eval_data``) and on a saved checkpoint (``ablation_check``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pixelpilot.agent.train.base_model import load_model
from pixelpilot.agent.train.format import DatasetInfo, read_info
from pixelpilot.agent.train.rows import answer_ids, blank, collate, encode_prompts, load_rows, row_images, to_device

#: A click counts as right when it lands within this fraction of the screen (normalised distance).
CLICK_TOLERANCE = 0.14


def _generate(
    model: Any, processor: Any, info: DatasetInfo, row: dict[str, Any], images: list[Any], position_frame: bool
) -> str:
    import torch

    inputs = encode_prompts(processor, [row], info, images=[images], position_frame=position_frame).to(model.device)
    answer, _ = answer_ids(processor, row["target"])
    tokenizer = processor.tokenizer
    end = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    with torch.inference_mode():
        output = model.generate(
            **inputs, max_new_tokens=min(256, len(answer) + 16), do_sample=False, eos_token_id=end, use_cache=True
        )
    new = output[0, inputs["input_ids"].shape[1] :].tolist()
    while new and new[-1] in end:
        new.pop()
    return tokenizer.decode(new, skip_special_tokens=False)


def _matches(text: str, row: dict[str, Any], info: DatasetInfo) -> bool:
    """Exact answer, or the same action (points within CLICK_TOLERANCE of the screen)."""
    if text.strip() == row["target"].strip():
        return True
    from pixelpilot.agent.qwen.dialects import get_dialect
    from pixelpilot.agent.qwen.resize import ResizeGeometry

    geometry = ResizeGeometry.for_image(
        int(row["width"]),
        int(row["height"]),
        min_pixels=info.min_pixels,
        max_pixels=info.max_pixels,
        factor=info.resize_factor,
    )
    env = row.get("env") or info.env
    try:
        parsed = get_dialect(info.dialect).parse(text, geometry, env)  # an unknown kind reads as a pointer
    except ValueError:  # ParseError: unusable output is simply wrong here
        return False
    got = parsed.action.model_dump()
    want = json.loads(row["action"])
    if got.get("action") != want.get("action"):
        return False
    points = list(parsed.action.points())
    if not points:
        return got == {k: v for k, v in want.items() if k in got}
    from pixelpilot.tools import REGISTRY

    try:
        target_points = list(REGISTRY.validate(want).points())
    except ValueError:
        return False
    if len(points) != len(target_points):
        return False
    w, h = float(row["width"]), float(row["height"])
    return all(
        math.hypot((x - a) / w, (y - b) / h) <= CLICK_TOLERANCE
        for (x, y), (a, b) in zip(points, target_points, strict=True)
    )


def ablation_on_rows(
    model: Any, processor: Any, info: DatasetInfo, rows: list[dict[str, Any]], *, position_frame: bool = False
) -> dict[str, Any]:
    """Greedy-decoded action accuracy, and the answer's NLL (teacher-forced), with the real
    screenshots vs the same screenshots blanked.

    A model that scores the same either way has learned the answers' text, not to look: the check
    the default-model recipe needs before a checkpoint is worth benchmarking. The NLL gap
    (``image_gain_nats``: blanked minus real, summed over the answer's tokens) moves long before
    greedy accuracy does, so it shows whether a run has started to look at all.
    """
    was_training = model.training
    model.eval()
    hits = {"with_image": 0, "blanked": 0}
    nll = {"with_image": 0.0, "blanked": 0.0}
    try:
        for row in rows:
            images = row_images(row)
            blanked = [blank(i) for i in images]
            seen = _generate(model, processor, info, row, images, position_frame)
            hits["with_image"] += _matches(seen, row, info)
            blind = _generate(model, processor, info, row, blanked, position_frame)
            hits["blanked"] += _matches(blind, row, info)
            nll["with_image"] += _answer_nll(model, processor, info, row, images, position_frame)
            nll["blanked"] += _answer_nll(model, processor, info, row, blanked, position_frame)
    finally:
        model.train(was_training)
    n = max(1, len(rows))
    return {
        "with_image": hits["with_image"] / n,
        "blanked": hits["blanked"] / n,
        "image_gain_nats": round((nll["blanked"] - nll["with_image"]) / n, 4),
        "n": len(rows),
    }


def _answer_nll(
    model: Any, processor: Any, info: DatasetInfo, row: dict[str, Any], images: list[Any], position_frame: bool
) -> float:
    """Summed NLL of the row's answer tokens, teacher-forced, with ``images`` as the screenshots."""
    import torch

    batch = collate(processor, [row], info, images=[images], position_frame=position_frame)
    batch = to_device(batch, model.device, model.dtype)
    with torch.inference_mode():
        logits = model(**batch).logits[0, :-1].float()
    labels = batch["labels"][0, 1:]
    keep = labels != -100
    return float(torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum"))


def ablation_check(model_dir: Path | str, data_dir: Path | str, n: int = 32) -> dict[str, float]:
    """Image-ablation accuracy of a saved checkpoint on the first ``n`` rows of a (held-out) dataset.

    Returns ``{"with_image": acc, "blanked": acc, "n": rows}``.
    """
    import torch

    info = read_info(Path(data_dir))
    data, info = load_rows([Path(data_dir)], info.dialect)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model, processor = load_model(str(model_dir), dtype=dtype, device=device)
    rows = [data[i] for i in range(min(n, len(data)))]
    from pixelpilot.agent.qwen.position_frame import model_uses_position_frame

    return ablation_on_rows(model, processor, info, rows, position_frame=model_uses_position_frame(model_dir))
