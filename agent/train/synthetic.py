"""Synthetic grounding rows for training from scratch: only the pixels say where to click.

A model trained from scratch on MiniWoB demonstrations alone learns instruction-conditioned
guesses (the average target of each task) and ignores the screenshot. These rows come first in
the curriculum: a MiniWoB-sized screen (the yellow query bar, a 160x210 task area at the chosen
scale) with shapes at random places, sizes and colours, and a click on the one the instruction
names. Stage "locate": one shape and a fixed instruction, so the position is in the image only;
stage "choose": two to four shapes and an instruction naming colour and/or shape.

Rendered with PIL (thousands per second, no browser) and encoded as JPEG q90 like the browser
env's captures; written in the training-set format (format.py) through the same prompt builder
and dialect encoder as bundles, so a model trained on them is prompted exactly like the policy.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from pixelpilot.agent.qwen.backends.base import SamplingConfig
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.prompt import PromptConfig, build_request, geometry_for
from pixelpilot.agent.train.dataset import decode_check, write_info, write_rows
from pixelpilot.agent.train.format import DatasetInfo
from pixelpilot.env import Observation, ScreenGeometry
from pixelpilot.tools import REGISTRY

AREA = (160, 210)  # MiniWoB's task area, CSS px
QUERY_HEIGHT = 50
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (140, 60, 190),
    "orange": (240, 130, 30),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
LOCATE_PROMPTS = ("Click the shape.", "Click on the shape.", "Click the object.")


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _draw_shape(draw: Any, shape: str, box: tuple[float, float, float, float], colour: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=colour)


def render(
    rng: random.Random, scale: float, stage: str, sizes: tuple[float, float] = (14, 42)
) -> tuple[bytes, str, tuple[float, float], tuple[int, int]]:
    """One screen: JPEG bytes, the instruction, the target point (screenshot px) and the image size.

    ``sizes``: the range of shape sizes in CSS px (large shapes first make the target's place
    visible to a model that still averages over the screen).
    """
    w, h = round(AREA[0] * scale), round(AREA[1] * scale)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, w, QUERY_HEIGHT * scale], fill=(255, 255, 0))
    n = 1 if stage == "locate" else rng.randint(2, 4)
    placed: list[tuple[float, float, float, float]] = []
    items: list[tuple[str, str, tuple[float, float, float, float]]] = []
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(kinds)
    for colour, shape in kinds:
        if len(items) == n:
            break
        for _ in range(50):
            size = rng.uniform(*sizes) * scale
            x0 = rng.uniform(4 * scale, w - size - 4 * scale)
            y0 = rng.uniform((QUERY_HEIGHT + 4) * scale, h - size - 4 * scale)
            box = (x0, y0, x0 + size, y0 + size)
            if all(box[2] + 4 < b[0] or b[2] + 4 < box[0] or box[3] + 4 < b[1] or b[3] + 4 < box[1] for b in placed):
                placed.append(box)
                items.append((colour, shape, box))
                break
    target_colour, target_shape, box = items[0]
    _draw_all(draw, items)
    if stage == "locate":
        instruction = rng.choice(LOCATE_PROMPTS)
    else:
        unique_colour = sum(c == target_colour for c, _, _ in items) == 1
        unique_shape = sum(s == target_shape for _, s, _ in items) == 1
        if unique_colour and unique_shape and rng.random() < 0.5:
            instruction = rng.choice([f"Click the {target_colour} shape.", f"Click the {target_shape}."])
        else:
            instruction = f"Click the {target_colour} {target_shape}."
    draw.text((3 * scale, 3 * scale), instruction, fill=(0, 0, 0), font=_font(round(10 * scale)))
    x = (box[0] + box[2]) / 2
    y = (box[1] + box[3]) / 2 + (box[3] - box[1]) / 6 * (target_shape == "triangle")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue(), instruction, (round(x), round(y)), (w, h)


def _draw_all(draw: Any, items: list[tuple[str, str, tuple[float, float, float, float]]]) -> None:
    for colour, shape, box in items:
        _draw_shape(draw, shape, box, COLOURS[colour])


def make_synthetic(
    out: Path,
    n: int,
    *,
    seed: int = 0,
    dialect: str = "qwen2-vl",
    scale: float = 1.0,
    locate_share: float = 0.5,
    sizes: tuple[float, float] = (14, 42),
    prompt: PromptConfig | None = None,
    shard_rows: int = 5000,
) -> DatasetInfo:
    """Write ``n`` synthetic rows (``locate_share`` of them stage "locate") as a dataset folder."""
    import datasets

    datasets.disable_progress_bars()
    d = get_dialect(dialect)
    prompt = prompt or PromptConfig()
    rng = random.Random(seed)
    tasks: Counter[str] = Counter()

    def rows() -> Iterator[dict[str, Any]]:
        for k in range(n):
            stage = "locate" if rng.random() < locate_share else "choose"
            data, instruction, (x, y), (w, h) = render(rng, scale, stage, sizes)
            obs = Observation(
                screenshot=data,
                image_format="jpeg",
                geometry=ScreenGeometry(
                    width=w, height=h, device_scale_factor=scale, viewport_width=AREA[0], viewport_height=AREA[1]
                ),
            )
            request = build_request(
                dialect=d,
                env="browser",
                instruction=instruction,
                observation=obs,
                history=[],
                config=prompt,
                sampling=SamplingConfig(),
            )
            geometry = geometry_for(w, h, prompt)
            action = REGISTRY.validate({"action": "click", "x": x, "y": y})
            target = d.encode(action, geometry, "browser")
            decoded = decode_check(d, target, geometry, "browser", action)
            task = f"synthetic-{stage}"
            tasks[task] += 1
            yield {
                "id": f"{task}/{seed}-{k}#1",
                "messages": json.dumps(request.messages, ensure_ascii=False),
                "images": [{"bytes": data, "path": None}],
                "target": target,
                "action": json.dumps(decoded),
                "executed": json.dumps(action.model_dump(mode="json")),
                "task": task,
                "env": "browser",
                "episode": f"{task}/{seed}-{k}",
                "step": 1,
                "width": w,
                "height": h,
                "resized_width": geometry.resized_width,
                "resized_height": geometry.resized_height,
                "intervened": False,
                "source": f"synthetic seed {seed}",
            }

    write_rows(out, rows(), shard_rows)
    return write_info(
        out,
        dialect=d.name,
        env="browser",
        prompt=prompt,
        rows=n,
        episodes=n,
        tasks=dict(tasks),
        sources=[f"agent/train/synthetic.py seed={seed} scale={scale} locate_share={locate_share} sizes={sizes}"],
    )
