"""The proposed action drawn into a copy of the screenshot (PNG), for the terminal step mode.

SSH users cannot see an SVG overlay; they get a file path they can open or copy. Drawn in
screenshot pixels, like every overlay in the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

_RED = (255, 45, 85)


def annotate(image: Image.Image, action: dict[str, Any] | None) -> Image.Image:
    img = image.convert("RGB").copy()
    if not action:
        return img
    draw = ImageDraw.Draw(img)
    unit = max(img.size) / 100
    name = action.get("action")

    def ring(x: float, y: float, r: float) -> None:
        draw.ellipse([x - r, y - r, x + r, y + r], outline=_RED, width=max(2, int(r / 4)))
        draw.ellipse([x - r / 5, y - r / 5, x + r / 5, y + r / 5], fill=_RED)

    if "x" in action and "y" in action:
        ring(action["x"], action["y"], unit * 1.6)
        if name == "scroll":
            dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[action["direction"]]
            length = max(img.size) / 6
            draw.line([action["x"], action["y"], action["x"] + dx * length, action["y"] + dy * length], fill=_RED,
                      width=max(2, int(unit / 2)))  # fmt: skip
    elif "start_x" in action:
        ring(action["start_x"], action["start_y"], unit)
        draw.line([action["start_x"], action["start_y"], action["end_x"], action["end_y"]], fill=_RED,
                  width=max(2, int(unit / 2)))  # fmt: skip
        ring(action["end_x"], action["end_y"], unit / 2)
    label = " ".join(f"{k}={v}" for k, v in action.items())
    draw.rectangle([0, img.size[1] - unit * 4, img.size[0], img.size[1]], fill=(0, 0, 0))
    draw.text((unit, img.size[1] - unit * 3.5), label[:200], fill=(255, 255, 255))
    return img


def write_annotated(image: Image.Image, action: dict[str, Any] | None, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    annotate(image, action).save(path)
    return path
