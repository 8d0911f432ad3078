"""Qwen3-VL: the cookbooks' computer-use and mobile-use tool calls, and plain grounding answers.

What the model writes, as checked against QwenLM/Qwen3-VL (``cookbooks/mobile_agent.ipynb``,
``cookbooks/utils/agent_function_call.py``, ``cookbooks/spatial_understanding.ipynb``):

- Agent steps: ``Thought: ...`` / ``Action: ...`` lines, then one
  ``<tool_call>{"name": "computer_use" | "mobile_use", "arguments": {"action": ..., ...}}</tool_call>``,
  the Qwen2.5-VL tools plus Qwen3-VL's ``hscroll``; its other verbs (``mouse_move``,
  ``middle_click``, ``triple_click``) read exactly as the qwen2.5-vl dialect reads them.
- Agent coordinates are *relative*, not pixels: the tool's description states the screen's
  resolution as 999x999 and the cookbook maps a point back with ``x / 999 * width``, so x and y run
  0..999 whatever the screenshot's size (and whatever the resize factor, which is 32 here).
- Grounding answers (no tool call: "locate X" prompts) are JSON objects, alone or in a list, with
  ``"point_2d": [x, y]`` or ``"bbox_2d": [x1, y1, x2, y2]`` on a 0..1000 scale (the cookbooks map
  them with ``x / 1000 * width``); a box stands for its centre. Either becomes a click there.

Only the coordinate convention and the prompt differ from Qwen2.5-VL, so the parser is its parser
with the four convention hooks overridden.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pixelpilot.agent.qwen import arguments
from pixelpilot.agent.qwen.dialects.base import EnvKind, ParsedOutput
from pixelpilot.agent.qwen.dialects.codecs import PointSpace
from pixelpilot.agent.qwen.dialects.qwen25 import COMPUTER_TOOL, Qwen25Dialect, _tool_schema
from pixelpilot.agent.qwen.parse_errors import ParseError
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env.registry import input_modality
from pixelpilot.tools import ActionBase, Click, Scroll

#: The agent tools' scale: the prompt's "999x999" screen; x / 999 * width is the screenshot px.
AGENT_SCALE = 999
#: The grounding answers' scale (point_2d / bbox_2d): x / 1000 * width.
GROUNDING_SCALE = 1000

RELATIVE_999 = PointSpace(
    size=lambda g: (AGENT_SCALE, AGENT_SCALE),
    to_model=lambda g, x, y: g.to_relative(x, y, AGENT_SCALE),
    from_model=lambda g, x, y: g.from_relative(x, y, AGENT_SCALE),
    decimals=0,
    describe=lambda g: f"relative coordinates of the screen, 0..{AGENT_SCALE} on each axis",
)

_HSCROLL_DOC = (
    "\n* `hscroll`: Performs a horizontal scroll of the mouse scroll wheel, at coordinate (x, y) if given; "
    "positive `pixels` scroll right, negative scroll left."
)
#: What a step's answer looks like; the cookbook asks for the same three parts.
_RESPONSE_FORMAT = (
    "\n\n# Response format\n\n"
    "Answer every step with three parts, in this order and nothing else:\n"
    "Thought: one sentence on what to do next and why.\n"
    "Action: one short sentence naming the action and its target on the screen.\n"
    "One <tool_call></tool_call> block holding only the JSON call.\n"
    "When the task is done, call the tool with action=terminate."
)


class Qwen3VLDialect(Qwen25Dialect):
    """Qwen3-VL tool calls (relative 0..999) and grounding answers (relative 0..1000)."""

    name: ClassVar[str] = "qwen3-vl"
    point_space: ClassVar[PointSpace] = RELATIVE_999

    # ------------------------------------------------------------------ prompt
    def _tool_schema(self, env: EnvKind, geometry: ResizeGeometry) -> dict[str, Any]:
        entry = _tool_schema(env, geometry)
        function = entry["function"]
        function["description"] = function["description"].replace(
            f"resolution is {geometry.resized_width}x{geometry.resized_height}.",
            f"resolution is {AGENT_SCALE}x{AGENT_SCALE}.",
        )
        if input_modality(env) != "touch":
            props = function["parameters"]["properties"]
            props["action"] = {
                **props["action"],
                "description": props["action"]["description"] + _HSCROLL_DOC,
                "enum": [*props["action"]["enum"], "hscroll"],
            }
            props["pixels"] = {
                **props["pixels"],
                "description": props["pixels"]["description"].replace(
                    "Required only by `action=scroll`.", "Required only by `action=scroll` and `action=hscroll`."
                ),
            }
        return entry

    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        return super().system_prompt(env, geometry) + _RESPONSE_FORMAT

    def _actions(self, tool: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        actions = super()._actions(tool)
        return {**actions, "hscroll": (("pixels",), ("coordinate",))} if tool == COMPUTER_TOOL else actions

    # ------------------------------------------------------------------ the coordinate convention
    def _point(self, args: dict[str, Any], key: str, geometry: ResizeGeometry) -> tuple[float, float]:
        x, y = arguments.as_point(args[key], key)
        return self.point_space.decode(geometry, x, y, key)

    def _xy(self, geometry: ResizeGeometry, x: float, y: float) -> list[int]:
        mx, my = self.point_space.encode(geometry, x, y)
        return [int(mx), int(my)]

    def _scroll_to_screen(self, pixels: float, geometry: ResizeGeometry) -> float:
        return pixels * geometry.height / AGENT_SCALE

    def _scroll_to_model(self, amount: float, geometry: ResizeGeometry) -> int:
        return max(1, round(amount * AGENT_SCALE / geometry.height))

    # ------------------------------------------------------------------ parse
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        parsed = super().parse(text, geometry, env, at_token_limit=at_token_limit)
        if parsed.thought is not None and not parsed.thought.strip("[], \n"):
            parsed.thought = None  # the brackets of a grounding answer's list, not a thought
        return parsed

    def _to_action(self, call: dict[str, Any], geometry: ResizeGeometry, env: EnvKind) -> ActionBase:
        if "point_2d" in call or "bbox_2d" in call:
            return _grounding_click(call, geometry)
        inner = call["function"] if isinstance(call.get("function"), dict) else call
        if not (isinstance(inner.get("name"), str) and inner["name"] in self.codecs):
            tool, action, args = self._unwrap(call, env)
            if tool == COMPUTER_TOOL and action == "hscroll":
                return self._hscroll(args, geometry)
        return super()._to_action(call, geometry, env)

    def _hscroll(self, args: dict[str, Any], geometry: ResizeGeometry) -> ActionBase:
        arguments.check_arguments("hscroll", args, *self._actions(COMPUTER_TOOL)["hscroll"])
        pixels = arguments.as_number(args["pixels"], "pixels")
        if pixels == 0:
            raise ParseError("'pixels' must not be 0: positive values scroll right, negative values scroll left")
        if args.get("coordinate") is not None:
            x, y = self._point(args, "coordinate", geometry)
        else:
            x, y = geometry.width / 2, geometry.height / 2
        amount = abs(pixels) * geometry.width / AGENT_SCALE
        return Scroll(x=x, y=y, direction="right" if pixels > 0 else "left", amount=amount)

    # ------------------------------------------------------------------ encode
    def _arguments(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind) -> dict[str, Any]:
        if isinstance(action, Scroll) and action.direction in ("left", "right") and input_modality(env) != "touch":
            pixels = max(1, round(action.amount * AGENT_SCALE / geometry.width))
            return {
                "action": "hscroll",
                "coordinate": self._xy(geometry, action.x, action.y),
                "pixels": pixels if action.direction == "right" else -pixels,
            }
        return super()._arguments(action, geometry, env)

    def encode_grounding(self, x: float, y: float, geometry: ResizeGeometry, label: str | None = None) -> str:
        """A point as the plain grounding answer Qwen3-VL writes for "locate X" (0..1000)."""
        if not (0 <= x <= geometry.width and 0 <= y <= geometry.height):
            raise ValueError(f"point ({x}, {y}) is outside the {geometry.width}x{geometry.height} screenshot")
        mx, my = geometry.to_relative(x, y, GROUNDING_SCALE)
        answer: dict[str, Any] = {"point_2d": [round(mx), round(my)]}
        if label is not None:
            answer["label"] = label
        return f"```json\n{json.dumps([answer], ensure_ascii=False)}\n```"


def _grounding_click(answer: dict[str, Any], geometry: ResizeGeometry) -> ActionBase:
    """A ``point_2d`` / ``bbox_2d`` grounding answer (0..1000) -> a click at the point or the box's centre."""
    space = (GROUNDING_SCALE, GROUNDING_SCALE)
    hint = f" (grounding answers are relative, 0..{GROUNDING_SCALE})"

    def decode(x: float, y: float, name: str) -> tuple[float, float]:
        return arguments.model_point(
            x,
            y,
            geometry,
            space=space,
            decode=lambda a, b: geometry.from_relative(a, b, GROUNDING_SCALE),
            name=name,
            hint=hint,
        )

    if "point_2d" in answer:
        x, y = arguments.as_point(answer["point_2d"], "point_2d")
        x, y = decode(x, y, "point_2d")
        return Click(x=x, y=y)
    box = answer["bbox_2d"]
    if not (isinstance(box, list | tuple) and len(box) == 4):
        raise ParseError(f"'bbox_2d' must be [x1, y1, x2, y2] (0..{GROUNDING_SCALE}), got {box!r}")
    x1, y1, x2, y2 = (arguments.as_number(v, "bbox_2d") for v in box)
    if x2 < x1 or y2 < y1:
        raise ParseError(f"'bbox_2d' {box!r} is not [left, top, right, bottom]: x2 < x1 or y2 < y1")
    decode(x1, y1, "bbox_2d")  # both corners inside the scale, or the box is an error
    decode(x2, y2, "bbox_2d")
    x, y = decode((x1 + x2) / 2, (y1 + y2) / 2, "bbox_2d")
    return Click(x=x, y=y)


__all__ = ["AGENT_SCALE", "GROUNDING_SCALE", "RELATIVE_999", "Qwen3VLDialect"]
