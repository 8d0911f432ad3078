"""An animated GIF replay of one episode bundle, with each step's action drawn (``pixelpilot report --gif``).

A GIF is what people paste into an issue or a chat, where report.html cannot go. One frame per step
(the screenshot the step was decided on, its action drawn on it, a caption saying what it was) plus the
final screen. Bundles are read as they are: a bundle still being written, one cut off mid-line or with
screenshots gone gives a GIF of what is there and notes saying what was not; one with nothing to show is
a GifError. Frames are palettised as they are made, so a 500-step episode stays within a few hundred MB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from pixelpilot.agent.episode import EpisodeRecord, StepRecord, read_bundle
from pixelpilot.agent.report import final_screen, rounded
from pixelpilot.tools import tool_named

DEFAULT_WIDTH = 800
STEP_MS = 1000
FINAL_MS = 2500
_RED = (255, 45, 85)
_WHITE = (255, 255, 255)


class GifError(ValueError):
    """The bundle has nothing a GIF could show, or cannot be read at all; the message is one line."""


@dataclass
class GifResult:
    path: Path
    frames: int
    size: tuple[int, int]
    notes: list[str] = field(default_factory=list)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _caption(action: dict[str, Any] | None, step: StepRecord) -> str:
    if action:
        args = " ".join(f"{k}={v}" for k, v in rounded(action).items() if k != "action")
        text = f"{action.get('action')} {args}".strip()
    else:
        text = f"{step.error_kind or 'no'} error: {step.error or 'no action'}"
    return f"step {step.index}: {text}"[:140]


def _draw_action(draw: ImageDraw.ImageDraw, action: dict[str, Any] | None, scale: float, size: tuple[int, int]) -> None:
    """Markers in screenshot pixels times ``scale``: a white-outlined ring per point, an arrow for a drag or scroll."""
    if not action:
        return
    tool = tool_named(str(action.get("action")))
    pairs = tool.point_fields if tool is not None else ()
    if not all(fx in action and fy in action for fx, fy in pairs):
        return
    points = [(float(action[fx]) * scale, float(action[fy]) * scale) for fx, fy in pairs]
    if not points:
        return  # finish, type, key...: the caption says it
    r = max(8.0, max(size) / 60)
    if len(points) == 1 and "direction" in action:
        (x, y) = points[0]
        dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}.get(str(action["direction"]), (0, 0))
        length = min(float(action.get("amount", 400)) * scale, max(size) / 3)
        points.append((x + dx * length, y + dy * length))
    if len(points) == 2:
        for color, width in ((_WHITE, 7), (_RED, 3)):
            draw.line([points[0], points[1]], fill=color, width=width)
        (x1, y1) = points[1]
        for color, rr in ((_WHITE, r / 2 + 2), (_RED, r / 2)):
            draw.ellipse([x1 - rr, y1 - rr, x1 + rr, y1 + rr], fill=color)
    (x, y) = points[0]
    for color, width, rr in ((_WHITE, 6, r + 1), (_RED, 3, r)):
        draw.ellipse([x - rr, y - rr, x + rr, y + rr], outline=color, width=width)
    draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=_RED, outline=_WHITE)


def _frame(
    image: Image.Image | None, size: tuple[int, int], caption: str, action: dict[str, Any] | None
) -> Image.Image:
    canvas = Image.new("RGB", size, (40, 40, 40))
    scale = 1.0
    if image is not None:
        image = image.convert("RGB")
        scale = min(size[0] / image.width, size[1] / image.height)
        shown = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        canvas.paste(shown, (0, 0))
    draw = ImageDraw.Draw(canvas)
    _draw_action(draw, action, scale, size)
    font = _font(max(11, size[0] // 50))
    box = draw.textbbox((0, 0), caption, font=font)
    draw.rectangle([0, 0, min(size[0], box[2] + 12), box[3] + 8], fill=(0, 0, 0))
    draw.text((6, 3), caption, fill=_WHITE, font=font)
    return canvas.convert("P", palette=Image.Palette.ADAPTIVE)


def _open(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (OSError, ValueError):
        return None


def _truncated(bundle: Path, parsed: int) -> bool:
    path = bundle / "steps.jsonl"
    if not path.exists():
        return False
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return len(lines) > parsed


def write_gif(bundle: Path, out: Path, width: int = DEFAULT_WIDTH) -> GifResult:
    """Write ``out``: one frame per step plus the final screen, at most ``width`` px wide."""
    if not (bundle / "episode.json").is_file():
        raise GifError(f"{bundle} is not an episode bundle (no episode.json)")
    try:
        record, steps = read_bundle(bundle)
    except (ValueError, json.JSONDecodeError) as exc:
        raise GifError(f"{bundle}: unreadable bundle: {str(exc).splitlines()[0]}") from exc
    notes = _notes(bundle, record, steps)
    final = final_screen(bundle)
    images = [(s, bundle / s.observation.screenshot) for s in steps]
    first = next((img for _, p in images if (img := _open(p)) is not None), None)
    final_img = _open(bundle / final) if final else None
    first = first or final_img
    if first is None:
        raise GifError(f"{bundle}: nothing to replay: no step screenshots and no final screen")
    w = min(width, first.width)
    size = (w, max(1, round(first.height * w / first.width)))
    frames: list[Image.Image] = []
    missing = 0
    for step, path in images:
        img = _open(path)
        missing += img is None
        caption = _caption(step.action, step) + ("" if img is not None else " (screenshot missing)")
        frames.append(_frame(img, size, caption, step.action))
    if missing:
        notes.append(f"{missing} step screenshot(s) missing, shown as blank frames")
    if final_img is not None:
        frames.append(_frame(final_img, size, f"final screen: {record.status}", None))
    elif record.status != "running":
        notes.append("no final screen in the bundle")
    durations = [STEP_MS] * len(steps) + ([FINAL_MS] if final_img is not None else [])
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False)
    return GifResult(out, len(frames), size, notes)


def _notes(bundle: Path, record: EpisodeRecord, steps: list[StepRecord]) -> list[str]:
    notes = []
    if record.status == "running":
        notes.append(f"the episode is still running or was cut off: {len(steps)} step(s) so far")
    if _truncated(bundle, len(steps)):
        notes.append("steps.jsonl ends in an unreadable line (cut off mid-write); it is left out")
    if not steps:
        notes.append("the episode has no steps; only the final screen is shown")
    return notes
