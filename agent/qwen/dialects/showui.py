"""ShowUI-2B: Python-dict actions with positions relative to the screenshot, 0..1.

ShowUI answers ``{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]}`` (Python literal
syntax: single quotes, ``None``), or a bare ``[0.49, 0.42]`` when asked to ground an element.
Positions are fractions of the screenshot's width and height, written with two decimals, so one
model unit is 1% of the screen.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pixelpilot.agent.qwen import arguments, tool_calls
from pixelpilot.agent.qwen.dialects.base import Dialect, EnvKind, ParsedOutput
from pixelpilot.agent.qwen.dialects.codecs import PointSpace
from pixelpilot.agent.qwen.parse_errors import ParseError, TruncatedOutputError
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env.registry import input_modality
from pixelpilot.tools import ActionBase, Answer, Click, Key, Scroll, Swipe, Type

GROUNDING_PROMPT = (
    "Based on the screenshot of the page, I give a text description and you give its corresponding location. "
    "The coordinate represents a clickable location [x, y] for an element, which is a relative coordinate on "
    "the screenshot, scaled from 0 to 1."
)
#: What each action needs: 'point' a position [x, y], 'text' a string value, 'direction' a direction value.
ACTIONS: dict[str, str] = {
    "CLICK": "point",
    "TAP": "point",
    "SELECT": "point",
    "INPUT": "text",
    "ENTER": "",
    "SCROLL": "direction",
    "ANSWER": "text",
    "SWIPE": "swipe",
}
UNSUPPORTED = {
    "HOVER": "use CLICK on the element instead",
    "SELECT_TEXT": "use CLICK, or INPUT to replace the text",
    "COPY": "use ANSWER to report the text",
}
KEYS = ("action", "value", "position")

_EXPECTED = "{'action': 'CLICK', 'value': None, 'position': [x, y]} with x, y from 0 to 1"
#: a bare point the output ends inside: '[0.49, 0.4'
_CUT_POINT = re.compile(r"(?:```\w*\s*)?\[[\s\d.,eE+-]*")
_BARE_POINT = re.compile(r"(?:```\w*\s*)?\[\s*(-?[\d.]+(?:[eE]-?\d+)?)\s*,\s*(-?[\d.]+(?:[eE]-?\d+)?)\s*\](?:\s*```)?")

_WEB_SPACE = """1. `CLICK`: Click on an element, value is not applicable and the position [x,y] is required.
2. `INPUT`: Type a string into an element, value is a string to type and the position [x,y] is required.
3. `SELECT`: Select a value for an element, value is not applicable and the position [x,y] is required.
4. `ANSWER`: Answer the question, value is the answer and the position is not applicable.
5. `ENTER`: Enter operation, value and position are not applicable.
6. `SCROLL`: Scroll the screen, value is the direction to scroll and the position is not applicable."""

_PHONE_SPACE = """1. `INPUT`: Type a string into an element, value is the string to type and the position [x,y] is required.
2. `SWIPE`: Swipe the screen, value is not applicable and the position [[x1,y1], [x2,y2]] is the start and end position of the swipe operation.
3. `TAP`: Tap on an element, value is not applicable and the position [x,y] is required.
4. `ANSWER`: Answer the question, value is the answer (or the status, e.g. 'task complete') and the position is not applicable.
5. `ENTER`: Enter operation, value and position are not applicable."""  # noqa: E501

_FORMAT = """Format the action as a dictionary with the following keys:
{'action': 'ACTION_TYPE', 'value': 'element', 'position': [x,y]}

If value or position is not applicable, set it as `None`.
Position might be [[x1,y1], [x2,y2]] if the action requires a start and end position.
Position represents the relative coordinates on the screenshot and should be scaled to a range of 0-1."""


class ShowUIDialect(Dialect):
    """ShowUI-2B: ``{'action': ..., 'value': ..., 'position': [x, y]}`` with x, y in 0..1."""

    name: ClassVar[str] = "showui"
    point_space: ClassVar[PointSpace] = PointSpace(
        size=lambda g: (1, 1),
        to_model=lambda g, x, y: g.to_relative(x, y),
        from_model=lambda g, x, y: g.from_relative(x, y),
        decimals=2,
        describe=lambda g: "fractions from 0 to 1 of the screenshot",
    )

    # ------------------------------------------------------------------ prompt
    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        # ShowUI names the surface it navigates; a desktop episode is a computer screen, not a web page
        if input_modality(env) == "touch":
            app, space = "phone", _PHONE_SPACE
        else:
            app, space = ("computer" if env == "desktop" else "web"), _WEB_SPACE
        return (
            f"{GROUNDING_PROMPT}\n\n"
            f"You are an assistant trained to navigate the {app} screen. Given a task instruction, a screen "
            "observation, and an action history sequence, output the next action and wait for the next "
            f"observation. Here is the action space:\n{space}\n\n{_FORMAT}"
        )

    # ------------------------------------------------------------------ parse
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        try:
            found = tool_calls.extract_tool_calls(text, expected=_EXPECTED, close_objects=not at_token_limit)
        except TruncatedOutputError:
            raise
        except ParseError:
            bare = _BARE_POINT.fullmatch(text.strip()) if text else None
            if bare is None:
                if text and _CUT_POINT.fullmatch(text.strip()):
                    raise TruncatedOutputError(
                        f"the output ends inside the point {text.strip()!r} (no closing ']'); expected {_EXPECTED}"
                    ) from None
                raise
            x, y = self._point([bare.group(1), bare.group(2)], geometry)
            return ParsedOutput(action=Click(x=x, y=y), call={"action": "CLICK", "position": text.strip()})
        first, *rest = found.calls
        return ParsedOutput(
            action=self._to_action(first, geometry, env), call=first, extra_calls=rest, thought=found.thought
        )

    def _point(self, value: Any, geometry: ResizeGeometry, name: str = "position") -> tuple[float, float]:
        x, y = arguments.as_point(value, name)
        return arguments.model_point(
            x,
            y,
            geometry,
            space=(1, 1),
            decode=geometry.from_relative,
            name=name,
            hint=" (positions are relative: fractions from 0 to 1)",
        )

    def _to_action(self, call: dict[str, Any], geometry: ResizeGeometry, env: EnvKind) -> ActionBase:
        if "action" not in call:
            raise ParseError(f"the action dictionary has no 'action' key; expected {_EXPECTED}, got {call!r}")
        for key in call:
            if key not in KEYS:
                raise ParseError(
                    f"unexpected key {key!r} in the action dictionary; the keys are 'action', 'value', 'position'"
                )
        written = call["action"]
        if not isinstance(written, str):
            raise ParseError(f"'action' must be a string such as 'CLICK', got {written!r}")
        name = written.strip().upper()
        if name in UNSUPPORTED:
            raise ParseError(f"{written!r} is not supported here; {UNSUPPORTED[name]}")
        if name not in ACTIONS:
            raise ParseError(f"unknown action {written!r}; valid actions: {', '.join(ACTIONS)}")
        value = _none(call.get("value"))
        position = _none(call.get("position"))
        need = ACTIONS[name]
        if need == "point":
            if position is None:
                raise ParseError(f"action {written!r} is missing the argument 'position' [x, y]")
            x, y = self._point(position, geometry)
            return Click(x=x, y=y)
        if need == "text":
            if value is None:
                raise ParseError(f"action {written!r} is missing the argument 'value' (the text)")
            text = arguments.as_text(value, "value")
            if name == "ANSWER":
                return Answer(text=text)
            if position is not None:  # checked, recorded in the call; typing goes to the focused field
                self._point(position, geometry)
            return Type(text=text)
        if name == "ENTER":
            return Key(keys="Enter")
        if name == "SCROLL":
            if value is None:
                raise ParseError(
                    f"action {written!r} is missing the argument 'value' (the direction: up, down, left, right)"
                )
            direction = arguments.as_direction(value, "value")
            x, y = self._point(position, geometry) if position is not None else _centre(geometry)
            return Scroll(x=x, y=y, direction=direction, amount=arguments.direction_distance(direction, geometry))
        # SWIPE: [[x1, y1], [x2, y2]], or a direction from [x, y] (or the centre)
        if (
            isinstance(position, list | tuple)
            and len(position) == 2
            and all(isinstance(p, list | tuple) for p in position)
        ):
            sx, sy = self._point(position[0], geometry, "position[0]")
            ex, ey = self._point(position[1], geometry, "position[1]")
            return Swipe(start_x=sx, start_y=sy, end_x=ex, end_y=ey)
        if value is None:
            raise ParseError(
                f"action {written!r} needs 'position' [[x1, y1], [x2, y2]] (start and end) or 'value' as a "
                "direction (up, down, left, right)"
            )
        direction = arguments.as_direction(value, "value")
        sx, sy = self._point(position, geometry) if position is not None else _centre(geometry)
        distance = arguments.direction_distance(direction, geometry)
        dx, dy = {"up": (0, -distance), "down": (0, distance), "left": (-distance, 0), "right": (distance, 0)}[
            direction
        ]
        ex, ey = arguments.clamp_to_screen(sx + dx, sy + dy, geometry)
        return Swipe(start_x=sx, start_y=sy, end_x=ex, end_y=ey)

    # ------------------------------------------------------------------ encode
    def encode_verb(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        def pos(x: float, y: float) -> list[float]:
            if not (0 <= x <= geometry.width and 0 <= y <= geometry.height):
                raise ValueError(f"point ({x}, {y}) is outside the {geometry.width}x{geometry.height} screenshot")
            rx, ry = geometry.to_relative(x, y)
            return [round(rx, 2), round(ry, 2)]

        if isinstance(action, Click):
            tap = "TAP" if input_modality(env) == "touch" else "CLICK"
            out = {"action": tap, "value": None, "position": pos(action.x, action.y)}
        elif isinstance(action, Type):
            if action.press_enter or action.clear:
                raise ValueError("showui cannot express type with press_enter or clear; use INPUT then ENTER")
            out = {"action": "INPUT", "value": action.text, "position": None}
        elif isinstance(action, Key) and action.keys.lower() == "enter":
            out = {"action": "ENTER", "value": None, "position": None}
        elif isinstance(action, Scroll):
            out = {"action": "SCROLL", "value": action.direction, "position": None}
        elif isinstance(action, Swipe):
            start, end = pos(action.start_x, action.start_y), pos(action.end_x, action.end_y)
            out = {"action": "SWIPE", "value": None, "position": [start, end]}
        elif isinstance(action, Answer):
            out = {"action": "ANSWER", "value": action.text, "position": None}
        else:
            raise ValueError(f"showui cannot express {action!r}")
        return repr(out)


def _none(value: Any) -> Any:
    """``None``, ``'None'``, ``'null'`` and ``''`` all mean 'not applicable'."""
    if isinstance(value, str) and value in ("", "None", "null"):
        return None
    return value


def _centre(geometry: ResizeGeometry) -> tuple[float, float]:
    return geometry.width / 2, geometry.height / 2
