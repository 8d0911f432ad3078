"""Step-level sets on disk: reading Android-in-the-Zoo (AITZ) JSON and pixelpilot bundles, writing sets.

The AITZ release is one folder per episode holding ``<episode>.json`` (a list of steps) and one PNG
per step. Each step carries AITW's action encoding::

    episode_id, episode_length, step_id (0-based), instruction, image_path,
    result_action_type   3 type, 4 dual point (tap or swipe), 5 back, 6 home, 7 enter,
                         10 status complete, 11 status impossible
    result_touch_yx, result_lift_yx   "[y, x]" (a JSON string), 0..1 of the screen; [-1, -1] when unused
    result_action_text   the typed text
    ui_positions         "[[y, x, h, w], ...]" element boxes (pixels in AITZ, 0..1 in AITW)
    ui_text, ui_types    labels for those boxes

We read that, and write the same shape for sets made from pixelpilot bundles, adding one optional
field ``pixelpilot`` (``{"action": tool call in screenshot px, "history": [tool calls], "env": ...}``)
so actions AITW cannot encode (navigate, open_app, other keys) survive the round trip. When the field
is present it is the gold; otherwise the gold is derived from the AITW fields. Every gold step is
turned into one of the project's tools in screenshot pixels of its own image, which is what the
matcher (steplevel_match) and every policy work in.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import read_bundle
from pixelpilot.env.registry import env_kinds
from pixelpilot.tasks.bench.contract import SuiteError
from pixelpilot.tasks.bench.steplevel_match import SWIPE_DISTANCE_THRESHOLD, Box, point_in_box
from pixelpilot.tools import REGISTRY, ToolValidationError, tool_named

#: AITW action type codes (android_in_the_wild/action_type.py).
AITW_TYPE, AITW_DUAL_POINT, AITW_BACK, AITW_HOME, AITW_ENTER, AITW_COMPLETE, AITW_IMPOSSIBLE = 3, 4, 5, 6, 7, 10, 11


class StepSample(BaseModel):
    """One offline sample: a screenshot, the task, what was done before, and the gold action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    episode: str
    step: int = Field(ge=0, description="0-based position in the episode (AITZ step_id)")
    instruction: str
    image: Path = Field(description="absolute path of the screenshot")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    env: str = Field("android", description="the env kind the step was recorded on (env/registry.py)")
    gold: dict[str, Any] = Field(description="the gold tool call, screenshot px")
    gold_box: Box | None = Field(None, description="the gold element's box (x0, y0, x1, y1), screenshot px")
    ui_boxes: list[Box] = Field(
        default_factory=list, description="every annotated element's box (AITZ ui_positions), screenshot px"
    )
    origin: Literal["aitz", "pixelpilot"] = Field(
        "pixelpilot", description="aitz: a step of published AITZ/AITW data; pixelpilot: one of our own episodes"
    )
    history: list[dict[str, Any]] = Field(default_factory=list, description="previous gold tool calls, in order")
    url: str | None = None
    source: str = Field("", description="the file (or bundle) the sample came from")

    @property
    def id(self) -> str:
        return f"{self.episode}-{self.step}"


# ----------------------------------------------------------------------------------------- reading AITZ
def _json_field(raw: Any, where: str, name: str) -> Any:
    """AITZ stores lists as JSON strings ("[0.5, 0.3]"); AITW dumps sometimes as real lists."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise SuiteError(f"{where}: {name} is not valid JSON: {raw[:60]!r}") from None
    return raw


def _yx(raw: Any, where: str, name: str) -> tuple[float, float]:
    value = _json_field(raw, where, name)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise SuiteError(f"{where}: {name} must be [y, x], got {raw!r}")
    y, x = float(value[0]), float(value[1])
    if not (0 <= y <= 1 and 0 <= x <= 1):
        raise SuiteError(f"{where}: {name} must be normalized 0..1 as [y, x], got {raw!r}")
    return y, x


def _px(y: float, x: float, width: int, height: int) -> tuple[float, float]:
    """Normalized (y, x) -> screenshot (x, y), kept inside the image."""
    return round(min(x * width, width - 1), 2), round(min(y * height, height - 1), 2)


def aitw_to_action(step: Mapping[str, Any], width: int, height: int, where: str) -> dict[str, Any]:
    """The project's tool call for one AITW-encoded step, in pixels of a ``width`` x ``height`` screenshot."""
    code = step.get("result_action_type")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    if code == AITW_DUAL_POINT:
        ty, tx = _yx(step.get("result_touch_yx"), where, "result_touch_yx")
        ly, lx = _yx(step.get("result_lift_yx"), where, "result_lift_yx")
        x0, y0 = _px(ty, tx, width, height)
        if math.hypot(ly - ty, lx - tx) <= SWIPE_DISTANCE_THRESHOLD:
            return {"action": "click", "x": x0, "y": y0}
        x1, y1 = _px(ly, lx, width, height)
        return {"action": "swipe", "start_x": x0, "start_y": y0, "end_x": x1, "end_y": y1}
    if code == AITW_TYPE:
        text = step.get("result_action_text")
        if not isinstance(text, str):
            raise SuiteError(f"{where}: a type step (3) needs result_action_text")
        return {"action": "type", "text": text}
    simple = {
        AITW_BACK: {"action": "back"},
        AITW_HOME: {"action": "home"},
        AITW_ENTER: {"action": "key", "keys": "Enter"},
        AITW_COMPLETE: {"action": "finish", "status": "success"},
        AITW_IMPOSSIBLE: {"action": "finish", "status": "failure"},
    }
    if code in simple:
        return dict(simple[code])
    raise SuiteError(f"{where}: unknown result_action_type {code!r} (expected 3, 4, 5, 6, 7, 10 or 11)")


def action_to_aitw(action: Mapping[str, Any], width: int, height: int) -> dict[str, Any]:
    """Best AITW encoding of a tool call (for other AITW tools); result_action_type None when there is none."""
    name = action.get("action")
    none = "[-1.0, -1.0]"
    out: dict[str, Any] = {
        "result_action_type": None,
        "result_action_text": "",
        "result_touch_yx": none,
        "result_lift_yx": none,
    }

    def yx(x: float, y: float) -> str:
        return json.dumps([round(y / height, 6), round(x / width, 6)])

    tool = tool_named(name)
    pairs = tool.point_fields if tool is not None else ()
    if tool is not None and tool.family == "tap" and len(pairs) == 1:  # a touch that lifts where it landed
        point = yx(action[pairs[0][0]], action[pairs[0][1]])
        out |= {"result_action_type": AITW_DUAL_POINT, "result_touch_yx": point, "result_lift_yx": point}
    elif len(pairs) == 2:  # a finger moving from the first point to the second (swipe, drag)
        (sx, sy), (ex, ey) = pairs
        out |= {
            "result_action_type": AITW_DUAL_POINT,
            "result_touch_yx": yx(action[sx], action[sy]),
            "result_lift_yx": yx(action[ex], action[ey]),
        }
    elif name == "scroll":  # the finger moves opposite to the scroll direction
        dx, dy = 0.3 * width, 0.3 * height  # a clear swipe (AITW needs > 4% of the screen to call it one)
        fx, fy = {"down": (0, -dy), "up": (0, dy), "right": (-dx, 0), "left": (dx, 0)}[str(action["direction"])]
        x0, y0 = float(action["x"]), float(action["y"])
        x1 = min(max(x0 + fx, 0.0), width - 1.0)
        y1 = min(max(y0 + fy, 0.0), height - 1.0)
        out |= {"result_action_type": AITW_DUAL_POINT, "result_touch_yx": yx(x0, y0), "result_lift_yx": yx(x1, y1)}
    elif name == "type":
        out |= {"result_action_type": AITW_TYPE, "result_action_text": action.get("text", "")}
    elif name == "back":
        out["result_action_type"] = AITW_BACK
    elif name == "home":
        out["result_action_type"] = AITW_HOME
    elif name == "key" and str(action.get("keys", "")).lower() in ("enter", "return"):
        out["result_action_type"] = AITW_ENTER
    elif tool is not None and tool.terminal:
        failed = action.get("status") == "failure"
        out["result_action_type"] = AITW_IMPOSSIBLE if failed else AITW_COMPLETE
    return out


def _boxes(raw: Any, width: int, height: int, where: str) -> list[Box]:
    """ui_positions [[y, x, h, w], ...] -> (x0, y0, x1, y1) px; values all <= 1 mean normalized (AITW)."""
    if raw in (None, ""):
        return []
    value = _json_field(raw, where, "ui_positions")
    if not isinstance(value, list) or not all(
        isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b) for b in value
    ):
        raise SuiteError(f"{where}: ui_positions must be a list of [y, x, h, w] boxes")
    normalized = bool(value) and all(0 <= v <= 1 for b in value for v in b)
    sy, sx = (height, width) if normalized else (1, 1)
    return [(b[1] * sx, b[0] * sy, (b[1] + b[3]) * sx, (b[0] + b[2]) * sy) for b in value]


def gold_element_box(gold: Mapping[str, Any], boxes: list[Box]) -> Box | None:
    """The smallest element box holding a click's gold point (AITW: the element the tap landed on)."""
    if gold.get("action") != "click":
        return None
    point = (float(gold["x"]), float(gold["y"]))
    holding = [b for b in boxes if point_in_box(point, b)]
    return min(holding, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if holding else None


def _resolve_image(raw: str, json_path: Path, root: Path) -> Path | None:
    """AITZ image_path is relative to the dataset root; the PNG also sits beside its episode JSON."""
    rel = Path(raw)
    candidates = [json_path.parent / rel.name, root / rel]
    return next((c.resolve() for c in candidates if c.is_file()), None)


def _image_size(path: Path, where: str) -> tuple[int, int]:
    try:
        with Image.open(path) as img:
            return img.size
    except OSError as exc:
        raise SuiteError(f"{where}: cannot read image {path}: {exc}") from None


def read_aitz_file(path: Path, root: Path | None = None) -> list[StepSample]:
    """The samples of one AITZ episode file (a JSON list of steps). Raises SuiteError naming file and step."""
    root = root or path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: not valid JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, list) or not data:
        raise SuiteError(f"{path}: expected a non-empty JSON list of steps (AITZ episode file)")
    samples: list[StepSample] = []
    history: list[dict[str, Any]] = []
    for i, step in enumerate(data):
        where = f"{path}: step {i}"
        if not isinstance(step, dict):
            raise SuiteError(f"{where}: a step must be an object, got {type(step).__name__}")
        missing = [k for k in ("episode_id", "instruction", "image_path") if k not in step]
        if missing:
            raise SuiteError(f"{where}: missing field {missing[0]!r}")
        step_id = step.get("step_id", i)
        if not isinstance(step_id, int) or isinstance(step_id, bool) or step_id < 0:
            raise SuiteError(f"{where}: step_id must be a non-negative integer, got {step_id!r}")
        where = f"{path}: step {step_id}"
        image = _resolve_image(str(step["image_path"]), path, root)
        if image is None:
            raise SuiteError(f"{where}: image not found: {step['image_path']}")
        width, height = _image_size(image, where)
        extra = step.get("pixelpilot")
        if extra is not None and not isinstance(extra, dict):
            raise SuiteError(f"{where}: 'pixelpilot' must be an object")
        extra = extra or {}
        if "action" in extra:
            try:
                gold = REGISTRY.validate(extra["action"]).model_dump(mode="json")
            except ToolValidationError as exc:
                raise SuiteError(f"{where}: pixelpilot.action: {exc}") from None
        else:
            gold = aitw_to_action(step, width, height, where)
        try:
            gold = REGISTRY.validate(gold).model_dump(mode="json")
        except ToolValidationError as exc:
            raise SuiteError(f"{where}: gold action: {exc}") from None
        ui_boxes = _boxes(step.get("ui_positions"), width, height, where)
        box = gold_element_box(gold, ui_boxes)
        past = extra.get("history", history)
        if not isinstance(past, list) or not all(isinstance(a, dict) for a in past):
            raise SuiteError(f"{where}: pixelpilot.history must be a list of actions")
        env = extra.get("env", "android")
        if env not in env_kinds():
            raise SuiteError(f"{where}: pixelpilot.env must be one of {', '.join(env_kinds())}, got {env!r}")
        samples.append(
            StepSample(
                episode=str(step["episode_id"]),
                step=step_id,
                instruction=str(step["instruction"]),
                image=image,
                width=width,
                height=height,
                env=env,
                gold=gold,
                gold_box=box,
                ui_boxes=ui_boxes,
                origin="pixelpilot" if step.get("pixelpilot") is not None else "aitz",
                history=list(past),
                url=extra.get("url"),
                source=str(path),
            )
        )
        history = [*history, gold]
    return samples


# -------------------------------------------------------------------------------------- reading bundles
def is_bundle(path: Path) -> bool:
    return (path / "episode.json").is_file() and (path / "steps.jsonl").is_file()


def read_bundle_samples(bundle: Path, *, successful_only: bool = False, episode: str | None = None) -> list[StepSample]:
    """Samples from one pixelpilot bundle: each executed, error-free step; the gold is what was executed.

    Steps that failed (parse, validation or execution errors) are neither samples nor history, and
    steps whose typed text was masked as a secret are history only (their gold text is gone).
    ``episode`` names the episode in sample ids (default: the bundle folder's name).
    """
    try:
        record, steps = read_bundle(bundle)
    except (OSError, ValueError) as exc:
        raise SuiteError(f"{bundle}: not a readable bundle: {str(exc).splitlines()[0]}") from None
    if successful_only and record.success is not True:
        logger.info("steplevel: skipping {} (status {}, success {})", bundle.name, record.status, record.success)
        return []
    instruction = str(record.task.get("instruction", ""))
    env = record.task.get("env", "browser")
    samples: list[StepSample] = []
    history: list[dict[str, Any]] = []
    for step in steps:
        if step.action is None or step.error is not None or (step.result and not step.result.get("ok", True)):
            continue
        where = f"{bundle}: step {step.index}"
        try:
            gold = REGISTRY.validate(step.action).model_dump(mode="json")
        except ToolValidationError as exc:
            raise SuiteError(f"{where}: recorded action: {exc}") from None
        image = bundle / step.observation.screenshot
        if not image.is_file():
            raise SuiteError(f"{where}: screenshot missing: {step.observation.screenshot}")
        if not step.masked:
            samples.append(
                StepSample(
                    episode=episode or bundle.name,
                    step=step.index - 1,
                    instruction=instruction,
                    image=image.resolve(),
                    width=step.observation.width,
                    height=step.observation.height,
                    env=env if env in env_kinds() else "browser",
                    gold=gold,
                    history=list(history),
                    url=step.observation.url,
                    source=str(bundle),
                )
            )
        history.append(gold)
    return samples


# -------------------------------------------------------------------------------------- any input
def read_steplevel(path: Path | str) -> list[StepSample]:
    """Every sample under ``path``: an AITZ episode file, a folder of them (searched recursively), one
    bundle, or a folder of bundles. Sample ids must be unique. Raises SuiteError with one line."""
    path = Path(path)
    if not path.exists():
        raise SuiteError(f"step-level set not found: {path}")
    samples: list[StepSample] = []
    if path.is_file():
        samples = read_aitz_file(path, path.parent)
    elif is_bundle(path):
        samples = read_bundle_samples(path)
    else:
        # bundles at any depth (a bench run keeps them under episodes/<task>/seed-<n>), named by
        # their path under ``path`` so that seed-0 of two tasks stay apart
        bundles = sorted(p.parent for p in path.rglob("episode.json") if is_bundle(p.parent))
        for bundle in bundles:
            name = bundle.relative_to(path).as_posix().replace("/", "-")
            samples += read_bundle_samples(bundle, episode=name)
        for file in sorted(path.rglob("*.json")):
            if file.name == "episode.json" or any(b in file.parents for b in bundles):
                continue
            samples += read_aitz_file(file, path)
    if not samples:
        raise SuiteError(f"{path}: no step-level samples found (AITZ *.json episode files or pixelpilot bundles)")
    seen: dict[str, str] = {}
    for sample in samples:
        if sample.id in seen:
            raise SuiteError(
                f"{sample.source}: step {sample.step}: duplicate sample id {sample.id} (also in {seen[sample.id]})"
            )
        seen[sample.id] = sample.source
    return samples


# -------------------------------------------------------------------------------------- writing sets
def bundles_to_steplevel(bundles: list[Path], out: Path, successful_only: bool = True) -> Path:
    """Write pixelpilot bundles as an AITZ-style step-level set under ``out`` and return ``out``.

    Layout: ``out/<episode>/<episode>.json`` (a list of steps) and ``out/<episode>/<episode>_<step>.<ext>``
    (screenshots copied byte for byte). Gold = the executed action in screenshot px; history = the
    previous executed actions. Episodes that did not succeed are skipped when ``successful_only``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for bundle in bundles:
        bundle = Path(bundle)
        if not is_bundle(bundle):
            raise SuiteError(f"{bundle}: not a pixelpilot bundle (episode.json and steps.jsonl expected)")
        samples = read_bundle_samples(bundle, successful_only=successful_only)
        if not samples:
            continue
        episode = bundle.name
        folder = out / episode
        folder.mkdir(exist_ok=True)
        rows: list[dict[str, Any]] = []
        for sample in samples:
            image_name = f"{episode}_{sample.step}{sample.image.suffix}"
            shutil.copyfile(sample.image, folder / image_name)
            rows.append(
                {
                    "episode_id": episode,
                    "episode_length": len(samples),
                    "step_id": sample.step,
                    "instruction": sample.instruction,
                    "image_path": f"{episode}/{image_name}",
                    "ui_positions": "[]",
                    "ui_text": "[]",
                    "ui_types": "[]",
                    **action_to_aitw(sample.gold, sample.width, sample.height),
                    "pixelpilot": {
                        "action": sample.gold,
                        "history": sample.history,
                        "env": sample.env,
                        "url": sample.url,
                        "source": str(bundle),
                    },
                }
            )
        (folder / f"{episode}.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
        logger.info("steplevel: {} -> {} steps in {}", bundle.name, len(rows), folder)
    return out


__all__ = [
    "StepSample",
    "action_to_aitw",
    "aitw_to_action",
    "bundles_to_steplevel",
    "gold_element_box",
    "read_aitz_file",
    "read_bundle_samples",
    "read_steplevel",
]
