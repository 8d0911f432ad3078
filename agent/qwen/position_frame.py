"""The position frame: absolute patch coordinates for small Qwen2-VL models trained from scratch.

Qwen2-VL has no absolute position embedding: the vision tower uses 2D rotary positions and the
language model M-RoPE, which shape attention weights but never enter the values. A pre-trained
model has learned, at scale, to turn "the target is at patch (i, j)" into coordinate digits
through offset-tuned attention heads; a 5M-parameter model trained on a CPU for hours did not
(docs/TRAINING.md: held-out accuracy with the screenshot equal to accuracy with it blanked).

Qwen2-VL's patch embedding is a Conv3d over *two* frames (``temporal_patch_size`` 2), and the
processor feeds a still image by repeating it. A model with ``position_frame`` in its
pixelpilot.json gets, in place of the repeated copy, a frame that says where each patch is:
a one-hot of its column and row and a few smooth (ramp and cosine) codes of both. The screenshot
itself still fills the first frame untouched, the architecture is the stock
Qwen2VLForConditionalGeneration, and the patch embedding learns an absolute position embedding
from this input. Only the local backend and the trainer can add the frame (an OpenAI-compatible
server repeats the image as usual), so such a model is for the local backend only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: Value of the one-hot bits, and the amplitude of the smooth codes. Pixel values are normalised to
#: roughly -2..2 and a patch has 588 of them: at smaller values the screenshot drowns the position
#: in the patch embedding (measured: features of a blanked screen varied 0.06 across patches
#: against 8.5 for the content) and training never raised the frame's weights.
ONE_HOT = 24.0
CODE_SCALE = 4.0
#: Cosine codes per axis (frequencies 1, 2, 4, ... half-periods across the grid).
FREQUENCIES = 6


def model_uses_position_frame(model: str | Path) -> bool:
    """True when ``model`` is a folder whose pixelpilot.json asks for the position frame."""
    path = Path(model) / "pixelpilot.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text()).get("position_frame", False))
    except (OSError, ValueError):
        return False


def _frame_for_grid(torch: Any, t: int, gh: int, gw: int, merge: int, patch: int, channels: int) -> Any:
    """The second-frame slice for every patch of one image, in the processor's patch order."""
    if channels < 3:
        raise ValueError(f"the position frame needs 3 channels, the model has {channels}")
    cells = patch * patch
    hh = torch.arange(gh).view(gh, 1).expand(gh, gw)
    ww = torch.arange(gw).view(1, gw).expand(gh, gw)

    def order(grid: Any) -> Any:  # (gh, gw) -> the processor's (h/merge, w/merge, merge, merge) order
        return grid.reshape(gh // merge, merge, gw // merge, merge).permute(0, 2, 1, 3).reshape(-1)

    h, w = order(hh), order(ww)
    n = h.numel()
    frame = torch.zeros(n, channels, patch, patch)
    flat = frame.view(n, channels, cells)
    rows = torch.arange(n)
    flat[rows, 0, w % cells] = ONE_HOT
    flat[rows, 1, h % cells] = ONE_HOT
    codes = torch.zeros(n, patch)
    codes[:, 0] = (w.float() + 0.5) / gw * 2 - 1
    codes[:, 1] = (h.float() + 0.5) / gh * 2 - 1
    per_axis = min(FREQUENCIES, (patch - 2) // 2)
    for k in range(per_axis):
        f = 2**k
        codes[:, 2 + k] = torch.cos(math.pi * f * (w.float() + 0.5) / gw)
        codes[:, 2 + per_axis + k] = torch.cos(math.pi * f * (h.float() + 0.5) / gh)
    frame[:, 2] = CODE_SCALE * codes.view(n, patch, 1).expand(n, patch, patch)
    return frame.repeat(t, 1, 1, 1)


def add_position_frame(pixel_values: Any, image_grid_thw: Any, *, merge: int, patch: int, temporal: int) -> Any:
    """``pixel_values`` (the processor's flat patches) with the last frame replaced by the position frame."""
    import torch

    if temporal < 2:
        raise ValueError("the position frame needs temporal_patch_size >= 2")
    dim = pixel_values.shape[1]
    channels = dim // (temporal * patch * patch)
    if channels * temporal * patch * patch != dim:
        raise ValueError(f"pixel_values rows have {dim} values; expected channels x {temporal} x {patch} x {patch}")
    frames = [
        _frame_for_grid(torch, int(t), int(gh), int(gw), merge, patch, channels)
        for t, gh, gw in image_grid_thw.tolist()
    ]
    position = torch.cat(frames).to(pixel_values.dtype).to(pixel_values.device)
    if position.shape[0] != pixel_values.shape[0]:
        raise ValueError(
            f"image_grid_thw covers {position.shape[0]} patches but pixel_values has {pixel_values.shape[0]}"
        )
    out = pixel_values.clone().view(-1, channels, temporal, patch, patch)
    out[:, :, temporal - 1] = position
    return out.view(pixel_values.shape)


def apply_to_inputs(inputs: Any, processor: Any) -> Any:
    """Processor output (BatchFeature or dict) with the position frame in its ``pixel_values``."""
    if "pixel_values" not in inputs or inputs["pixel_values"] is None:
        return inputs
    ip = processor.image_processor
    inputs["pixel_values"] = add_position_frame(
        inputs["pixel_values"],
        inputs["image_grid_thw"],
        merge=int(ip.merge_size),
        patch=int(ip.patch_size),
        temporal=int(ip.temporal_patch_size),
    )
    return inputs
