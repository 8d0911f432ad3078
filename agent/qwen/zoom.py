"""Zoom-in grounding: spend the pixel budget where the pointer goes.

Naive Dynamic Resolution gives a model as many visual tokens as the resized screenshot needs, capped
by ``max_pixels``. On a large screen (2560x1440 is 4,700 tokens at native resolution) the cap shrinks
the image, and a 12-px icon becomes 3 px the model can no longer point at. Zoom asks twice instead:

1. *overview*: the whole screenshot at a low budget (``first_max_pixels``); the model picks the
   action and a rough point;
2. *zoom*: a crop of the native-resolution screenshot around that point (``crop`` px square, a
   multiple of the model's resize factor, so it is not resized at all); the model points again and
   that point, mapped back onto the screenshot, replaces the rough one.

Coordinates stay inside the one contract: the zoom pass's answer is decoded by the dialect through
the crop's own ResizeGeometry into crop pixels, and the crop's origin translates those into
screenshot pixels of the observation (:meth:`Crop.to_screen`). Only actions with a single point
(click, double/right click, long press, hover, scroll at a point) are refined; anything else
(typing, keys, drags and swipes, whose two points one crop cannot hold) passes through from the
overview. When the zoom pass fails (no parse, no point, the model call fails) the overview's point
stands and the step says why. Both passes are recorded in the step's ``policy.zoom`` (geometry,
messages, attempts, tokens, timings); the step's ``visual_tokens`` is their sum.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.qwen.env_inputs import prompt_for_env
from pixelpilot.agent.qwen.prompt import PromptConfig
from pixelpilot.agent.qwen.resize import FACTOR
from pixelpilot.env import Observation, ScreenGeometry
from pixelpilot.tools import REGISTRY, ActionBase

if TYPE_CHECKING:
    from pixelpilot.agent.episode import EpisodeSpec, StepRecord
    from pixelpilot.agent.qwen.policy import QwenPolicy

#: The overview's default budget: 256 visual tokens at factor 28.
DEFAULT_FIRST_MAX_PIXELS = 256 * 28 * 28
#: The zoom crop's default side, screenshot px: 24 x 28 = 21 x 32, 576 tokens at factor 28.
DEFAULT_CROP = 672
#: Said to the model with the crop, so it knows the image is a close-up of where it pointed.
ZOOM_HINT = (
    "The attached image is a close-up of the screen around where you pointed, at full resolution. "
    "Reply with the same action at the exact point in this image."
)


class ZoomConfig(BaseModel):
    """How zoom spends the budget (``--zoom``, ``--zoom-max-pixels``, ``--zoom-crop``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_max_pixels: int = Field(DEFAULT_FIRST_MAX_PIXELS, ge=28 * 28, description="the overview pass's max_pixels")
    crop: int = Field(DEFAULT_CROP, ge=56, le=4096, description="side of the zoom crop, screenshot px")
    hint: str = ZOOM_HINT


@dataclass(frozen=True)
class Crop:
    """A rectangle of the screenshot, in its pixels: what the zoom pass sees, unscaled."""

    x: int
    y: int
    width: int
    height: int

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        """A point in crop px -> the same point in screenshot px."""
        return x + self.x, y + self.y

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.x + self.width and self.y <= y <= self.y + self.height

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def plan_crop(point: tuple[float, float], width: int, height: int, side: int, factor: int = FACTOR) -> Crop:
    """The ``side`` x ``side`` crop centred on ``point``, shifted (never shrunk) to lie inside the screen.

    The side is rounded down to a multiple of ``factor`` so the model sees the crop at exactly its
    native resolution (smart_resize leaves a multiple of the factor alone); a screen smaller than the
    crop gives its whole extent on that axis.
    """
    side = max(factor, side // factor * factor)
    cw, ch = min(side, width), min(side, height)
    x0 = min(max(0, round(point[0] - cw / 2)), width - cw)
    y0 = min(max(0, round(point[1] - ch / 2)), height - ch)
    return Crop(x0, y0, cw, ch)


def crop_observation(observation: Observation, crop: Crop) -> Observation:
    """The crop as an observation of its own (PNG, lossless), scale and metadata kept."""
    image = observation.image.crop((crop.x, crop.y, crop.x + crop.width, crop.y + crop.height))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    g = observation.geometry
    dpr = g.device_scale_factor
    geometry = ScreenGeometry(
        width=crop.width,
        height=crop.height,
        device_scale_factor=dpr,
        viewport_width=crop.width / dpr,
        viewport_height=crop.height / dpr,
    )
    cropped = observation.model_copy(update={"screenshot": buf.getvalue(), "image_format": "png", "geometry": geometry})
    cropped.__dict__.pop("image", None)  # the decoded image cached on the copy is the whole screenshot's
    return cropped


def overview_prompt(full: PromptConfig, config: ZoomConfig) -> PromptConfig:
    """The policy's prompt settings with the overview's budget."""
    low = min(config.first_max_pixels, full.max_pixels)
    return full.model_copy(update={"max_pixels": low, "min_pixels": min(full.min_pixels, low)})


def zoom_prompt(full: PromptConfig, crop: Crop) -> PromptConfig:
    """Prompt settings under which the crop keeps its native size (its area is the budget)."""
    area = crop.width * crop.height
    lo = min(full.min_pixels, area)
    return full.model_copy(update={"max_pixels": max(area, lo, 28 * 28), "min_pixels": max(lo, 28 * 28)})


def resize_factor(prompt: PromptConfig) -> int:
    """The model's px per visual-token side, where the prompt settings carry it (28 before they did)."""
    return int(getattr(prompt, "resize_factor", FACTOR))


def zoomable(action: ActionBase) -> bool:
    """Zoom refines actions with one point; two-point gestures and pointless actions pass through."""
    return len(action.point_fields) == 1


def with_point(action: ActionBase, x: float, y: float) -> ActionBase:
    """``action`` (the overview's choice of what to do) at the zoom pass's point."""
    fx, fy = action.point_fields[0]
    return action.model_copy(update={fx: round(x, 2), fy: round(y, 2)})


def _tokens(decision: Decision) -> int:
    """Visual tokens of one pass, as the backend counted them: at the top on success, else from its attempts."""
    meta = decision.metadata
    value = meta.get("visual_tokens")
    if isinstance(value, int | float):
        return int(value)
    for attempt in meta.get("attempts", []):
        if isinstance(attempt, dict) and isinstance(attempt.get("visual_tokens"), int | float):
            return int(attempt["visual_tokens"])
    return 0  # the model was never reached: no tokens were spent


def _pass_record(name: str, decision: Decision, ms: float, crop: Crop | None = None) -> dict[str, Any]:
    meta = decision.metadata
    record: dict[str, Any] = {
        "pass": name,
        "geometry": meta.get("geometry"),
        "visual_tokens": _tokens(decision),
        "ms": round(ms, 2),
        "raw_output": decision.raw_output,
        "parse_error": decision.parse_error,
        "call": meta.get("call"),
    }
    if crop is not None:  # the overview's messages and attempts are the step's own (top level)
        record |= {"crop": crop.as_dict(), "messages": meta.get("messages"), "attempts": meta.get("attempts")}
    return record


class ZoomPolicy(Policy):
    """A Qwen policy that grounds in two passes: a low-budget overview, then a native-resolution crop."""

    def __init__(self, inner: QwenPolicy, config: ZoomConfig | None = None) -> None:
        self.inner = inner
        self.config = config or ZoomConfig()
        self.name = f"{inner.name}+zoom"

    # the debugger's re-ask sets a hint on the policy: it is the overview's (the zoom pass has its own)
    @property
    def next_hint(self) -> str | None:
        return self.inner.next_hint

    @next_hint.setter
    def next_hint(self, value: str | None) -> None:
        self.inner.next_hint = value

    def reset(self, spec: EpisodeSpec) -> None:
        self.inner.reset(spec)

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        inner = self.inner
        full = prompt_for_env(inner.config.prompt, inner.config.env_inputs, inner.env)
        t0 = time.perf_counter()
        first = inner.decide(instruction, observation, history, prompt=overview_prompt(full, self.config))
        first_ms = (time.perf_counter() - t0) * 1000
        zoom: dict[str, Any] = {"config": self.config.model_dump(exclude={"hint"}), "passes": []}
        zoom["passes"].append(_pass_record("overview", first, first_ms))
        meta = {**first.metadata, "zoom": zoom}
        action = self._action(first)
        if action is None or not zoomable(action):
            zoom["skipped"] = first.parse_error or (
                f"{type(action).__name__ if action else 'no action'}: not a single-point action; the overview's stands"
            )
            return first.model_copy(update={"metadata": meta})
        g = observation.geometry
        point = action.points()[0]
        crop = plan_crop(point, g.width, g.height, self.config.crop, resize_factor(full))
        t1 = time.perf_counter()
        inner.next_hint = self.config.hint
        second = inner.decide(
            instruction, crop_observation(observation, crop), history, prompt=zoom_prompt(full, crop), remember=False
        )
        zoom["passes"].append(_pass_record("zoom", second, (time.perf_counter() - t1) * 1000, crop))
        zoom |= {"first_point": [point[0], point[1]], "crop": crop.as_dict()}
        meta["visual_tokens"] = sum(p["visual_tokens"] for p in zoom["passes"])
        refined = self._action(second)
        if refined is None or not refined.points():
            why = second.parse_error or f"{type(refined).__name__ if refined else 'no action'} has no point"
            zoom["fallback"] = f"zoom pass gave no point ({why}); the overview's point stands"
            return first.model_copy(update={"metadata": meta})
        x, y = crop.to_screen(*refined.points()[0])
        final = with_point(action, x, y)
        zoom["point"] = [final.points()[0][0], final.points()[0][1]]
        return first.model_copy(update={"action": final, "metadata": meta})

    @staticmethod
    def _action(decision: Decision) -> ActionBase | None:
        if decision.parse_error is not None or decision.action is None:
            return None
        try:
            return REGISTRY.validate(decision.action)
        except ValueError:
            return None

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "name": self.name, "zoom": self.config.model_dump(exclude={"hint"})}

    def close(self) -> None:
        self.inner.close()


# ----------------------------------------------------------------------------------------------- display
_ZOOM_COLOR = "#0a84ff"


def zoom_lines(zoom: Mapping[str, Any] | None) -> list[str]:
    """A step's zoom record in words, for report.html and the debugger: each pass, and what came of it."""
    if not isinstance(zoom, Mapping):
        return []
    lines: list[str] = []
    for p in zoom.get("passes") or []:
        g = p.get("geometry") or {}
        size = f"{g.get('width')}×{g.get('height')} → {g.get('resized_width')}×{g.get('resized_height')}" if g else "?"
        crop = p.get("crop")
        where = f" of the crop at ({crop['x']}, {crop['y']})" if isinstance(crop, Mapping) else ""
        said = p.get("raw_output") or p.get("parse_error") or ""
        lines.append(
            f"{p.get('pass')}: {size} px{where}, {p.get('visual_tokens')} visual tokens, {p.get('ms', 0):.0f} ms"
            + (f"; said {' '.join(str(said).split())[:200]}" if said else "")
        )
    if zoom.get("point") and zoom.get("first_point"):
        (x0, y0), (x1, y1) = zoom["first_point"], zoom["point"]
        lines.append(f"point ({x0:g}, {y0:g}) refined to ({x1:g}, {y1:g})")
    for key in ("fallback", "skipped"):
        if zoom.get(key):
            lines.append(f"{key}: {zoom[key]}")
    return lines


def zoom_svg(zoom: Mapping[str, Any] | None, width: int, height: int) -> str:
    """The crop the zoom pass saw (dashed) and the overview's point (hollow ring), in screenshot px."""
    if not isinstance(zoom, Mapping) or not isinstance(zoom.get("crop"), Mapping):
        return ""
    c = zoom["crop"]
    unit = max(max(width, height) / 100, 6.0)
    parts = [
        f'<rect x="{c["x"]}" y="{c["y"]}" width="{c["width"]}" height="{c["height"]}" fill="none" '
        f'stroke="{_ZOOM_COLOR}" stroke-width="{unit / 3:.1f}" stroke-dasharray="{unit:.1f},{unit / 2:.1f}"/>'
    ]
    if zoom.get("first_point"):
        x, y = zoom["first_point"]
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{unit:.1f}" fill="none" stroke="{_ZOOM_COLOR}" '
            f'stroke-width="{unit / 4:.1f}"/>'
        )
    return (
        f'<svg class="pp-overlay pp-zoom" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
