"""Naive Dynamic Resolution, computed on our side so coordinates decode exactly.

A Qwen-VL processor resizes every image to a multiple of the model's *resize factor* (patch size x
merge size: 14 x 2 = 28 for Qwen2/2.5-VL, 16 x 2 = 32 for Qwen3-VL) whose area lies within
[min_pixels, max_pixels], keeping the aspect ratio (``smart_resize``); the model then sees
(H'/factor)*(W'/factor) visual tokens and, in the absolute-coordinate dialects, answers in pixels of
that resized image. Both backends (local and served) compute the same geometry with this function,
so a served model's coordinates decode exactly as a local one's do. The factor is never guessed:
:mod:`pixelpilot.agent.qwen.families` resolves it per model, and every geometry records it.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

#: Qwen2/2.5-VL's factor (patch 14 x merge 2). The library default where a caller builds a geometry
#: by hand; policies built from user options always pass the model's own (families.resolve_resize_factor).
FACTOR = 28
#: Every Qwen-VL generation so far merges 2x2 patches into one visual token.
MERGE_SIZE = 2
#: transformers' Qwen2-VL image processor defaults.
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 1280 * 28 * 28
MAX_RATIO = 200


def smart_resize(
    height: int,
    width: int,
    factor: int = FACTOR,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """(height, width) rounded to multiples of ``factor`` with area in [min_pixels, max_pixels].

    Same arithmetic as transformers' ``Qwen2VLImageProcessor`` so token counts and coordinates match.
    """
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"aspect ratio must be below {MAX_RATIO}, got {max(height, width) / min(height, width):.1f}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return max(h_bar, factor), max(w_bar, factor)


class ResizeGeometry(BaseModel):
    """How one screenshot maps to what the model saw. Recorded with every step."""

    model_config = ConfigDict(frozen=True)

    width: int = Field(description="screenshot width, device px")
    height: int = Field(description="screenshot height, device px")
    resized_width: int
    resized_height: int
    min_pixels: int
    max_pixels: int
    factor: int = Field(
        FACTOR, ge=2, description="px per visual token side (patch x merge); bundles written before it was recorded: 28"
    )
    merge_size: int = Field(MERGE_SIZE, ge=1, description="patches merged per side into one token")

    @classmethod
    def for_image(
        cls,
        width: int,
        height: int,
        *,
        min_pixels: int = DEFAULT_MIN_PIXELS,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        factor: int = FACTOR,
        merge_size: int = MERGE_SIZE,
    ) -> ResizeGeometry:
        if factor % merge_size:
            raise ValueError(f"the resize factor {factor} is not a multiple of the merge size {merge_size}")
        rh, rw = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        return cls(
            width=width,
            height=height,
            resized_width=rw,
            resized_height=rh,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            factor=factor,
            merge_size=merge_size,
        )

    @property
    def patch_size(self) -> int:
        return self.factor // self.merge_size

    @property
    def image_grid_thw(self) -> tuple[int, int, int]:
        """(t, h, w) in patches (14 px for Qwen2/2.5-VL, 16 for Qwen3-VL), as the processor reports it."""
        return (1, self.resized_height // self.patch_size, self.resized_width // self.patch_size)

    @property
    def visual_tokens(self) -> int:
        """Tokens the image occupies after the merge: (H'/factor)*(W'/factor)."""
        return (self.resized_height // self.factor) * (self.resized_width // self.factor)

    # Coordinate codecs. Screenshot px <-> the three spaces Qwen-family models answer in.
    def to_resized(self, x: float, y: float) -> tuple[float, float]:
        return x * self.resized_width / self.width, y * self.resized_height / self.height

    def from_resized(self, x: float, y: float) -> tuple[float, float]:
        return x * self.width / self.resized_width, y * self.height / self.resized_height

    def to_relative(self, x: float, y: float, scale: float = 1.0) -> tuple[float, float]:
        return x / self.width * scale, y / self.height * scale

    def from_relative(self, x: float, y: float, scale: float = 1.0) -> tuple[float, float]:
        return x / scale * self.width, y / scale * self.height
