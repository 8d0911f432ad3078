"""The position frame: absolute patch coordinates for small Qwen2-VL models trained from scratch.

Qwen2-VL has no absolute position embedding: the vision tower uses 2D rotary positions and the
language model M-RoPE, which shape attention weights but never enter the values. A pre-trained
model has learned, at scale, to turn "the target is at patch (i, j)" into coordinate digits;
a 5M-parameter model trained on a CPU must learn it from a few thousand steps. (The main reason
such a model stayed blind was M-RoPE's base, see agent/train/base_model.py; this frame adds
absolute positions on top.)

Qwen2-VL's patch embedding is a Conv3d over *two* frames (``temporal_patch_size`` 2), and the
processor feeds a still image by repeating it. A model with ``position_frame`` in its
pixelpilot.json gets, in place of the repeated copy, a frame that says where each patch is:
one-hots of its column and row, and smooth (ramp and cosine) codes of both, plain and weighted
by the patch's ink. The screenshot itself still fills the first frame untouched, the
architecture is the stock Qwen2VLForConditionalGeneration, and the patch embedding learns an
absolute position embedding from this input. Only the local backend and the trainer can add the
frame (an OpenAI-compatible server repeats the image as usual), so such a model is for the local
backend only.
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
#: Mean absolute deviation from the background (normalised units) that counts as full ink: black
#: on white is about 3.7, a pastel button face about 0.5.
INK_FULL = 1.5


def model_uses_position_frame(model: str | Path) -> bool:
    """True when ``model`` is a folder whose pixelpilot.json asks for the position frame."""
    path = Path(model) / "pixelpilot.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text()).get("position_frame", False))
    except (OSError, ValueError):
        return False


def _ink(screen: Any) -> Any:
    """Per patch, how far its pixels are from the screen's background (per-channel median), 0..1.

    ``screen``: one image's first frame, (patches, channels, patch, patch), normalised values.
    """
    import torch

    background = screen.transpose(0, 1).reshape(screen.shape[1], -1).median(dim=1).values
    deviation = (screen - background.view(1, -1, 1, 1)).abs().mean(dim=(1, 2, 3))
    return torch.clamp(deviation / INK_FULL, 0.0, 1.0)


def _frame_for_grid(t: int, gh: int, gw: int, merge: int, patch: int, ink: Any) -> Any:
    """The second-frame slice for every patch of one image, in the processor's patch order.

    Channel 0: one-hot of the column; channel 1: one-hot of the row; channel 2: smooth codes
    (ramps and cosines of both axes, and a constant), in its first half as they are and in its
    second half multiplied by the patch's ink. Averaged over a screen, the ink-weighted half is
    where the non-background pixels are: a model whose attention is still uniform gets the
    position of a lone target in its first steps, and learns to select among several later.
    """
    import torch

    cells = patch * patch
    hh = torch.arange(gh).view(gh, 1).expand(gh, gw)
    ww = torch.arange(gw).view(1, gw).expand(gh, gw)

    def order(grid: Any) -> Any:  # (gh, gw) -> the processor's (h/merge, w/merge, merge, merge) order
        return grid.reshape(gh // merge, merge, gw // merge, merge).permute(0, 2, 1, 3).reshape(-1)

    h, w = order(hh).repeat(t), order(ww).repeat(t)
    n = h.numel()
    frame = torch.zeros(n, 3, patch, patch)
    flat = frame.view(n, 3, cells)
    rows = torch.arange(n)
    flat[rows, 0, w % cells] = ONE_HOT
    flat[rows, 1, h % cells] = ONE_HOT
    x = (w.float() + 0.5) / gw
    y = (h.float() + 0.5) / gh
    half = patch // 2
    codes = [x * 2 - 1, y * 2 - 1, torch.ones(n)]
    for k in range(half):
        if len(codes) >= half:
            break
        codes += [torch.cos(math.pi * 2**k * x), torch.cos(math.pi * 2**k * y)]
    codes = torch.stack(codes[:half], dim=1)
    both = torch.cat([codes, codes * ink.view(n, 1)], dim=1)  # (n, 2 * half)
    frame[:, 2, : 2 * half] = CODE_SCALE * both.view(n, 2 * half, 1).expand(n, 2 * half, patch)
    return frame


def add_position_frame(pixel_values: Any, image_grid_thw: Any, *, merge: int, patch: int, temporal: int) -> Any:
    """``pixel_values`` (the processor's flat patches) with the last frame replaced by the position frame."""
    import torch

    if temporal < 2:
        raise ValueError("the position frame needs temporal_patch_size >= 2")
    dim = pixel_values.shape[1]
    channels = dim // (temporal * patch * patch)
    if channels != 3 or channels * temporal * patch * patch != dim:
        raise ValueError(f"pixel_values rows have {dim} values; expected 3 x {temporal} x {patch} x {patch}")
    grids = [tuple(int(v) for v in row) for row in image_grid_thw.tolist()]
    if sum(t * gh * gw for t, gh, gw in grids) != pixel_values.shape[0]:
        raise ValueError(f"image_grid_thw {grids} does not cover the {pixel_values.shape[0]} patches of pixel_values")
    out = pixel_values.clone().view(-1, channels, temporal, patch, patch)
    frames, start = [], 0
    for t, gh, gw in grids:
        screen = out[start : start + t * gh * gw, :, 0].float()
        frames.append(_frame_for_grid(t, gh, gw, merge, patch, _ink(screen)))
        start += t * gh * gw
    out[:, :, temporal - 1] = torch.cat(frames).to(out.dtype).to(out.device)
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
