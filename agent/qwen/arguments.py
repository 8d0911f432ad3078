"""Argument coercion: the checks and conversions every dialect applies to what a model wrote.

A model's argument may be a number written as a string, a point as ``'(12, 34)'`` or ``{"x":..}``,
a direction in any case. These functions accept those, convert model-space points to screenshot
pixels through the step's geometry, and otherwise raise :class:`ParseError` naming the argument and
what is expected, in the model's own terms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from pixelpilot.agent.qwen.parse_errors import ParseError
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.tools import ActionBase


def fmt_number(value: Any) -> str:
    """A model-space number as the model would write it: 12 not 12.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def check_arguments(
    action: str, args: Mapping[str, Any], required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    """ParseError naming the first missing (absent or null) or unexpected argument of ``action``."""
    takes = ", ".join([*required, *(f"{o} (optional)" for o in optional)]) or "no arguments"
    for name in required:
        if args.get(name) is None:
            raise ParseError(f"action {action!r} is missing the argument {name!r}; it takes: {takes}")
    for name in args:
        if name not in required and name not in optional:
            raise ParseError(f"action {action!r} got an unexpected argument {name!r}; it takes: {takes}")


def as_number(value: Any, name: str) -> float:
    """A finite number; numeric strings are accepted."""
    if isinstance(value, bool):
        raise ParseError(f"{name!r} must be a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ParseError(f"{name!r} must be a number, got {value!r}") from None
    else:
        raise ParseError(f"{name!r} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise ParseError(f"{name!r} must be a finite number, got {value!r}")
    return number


_NUMBER_IN_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def as_point(value: Any, name: str) -> tuple[float, float]:
    """``[x, y]`` (also a tuple, ``{"x":..,"y":..}``, or a string such as ``'(12, 34)'``)."""
    expected = f"{name!r} must be a list of two numbers [x, y], got {value!r}"
    if isinstance(value, str):
        numbers = _NUMBER_IN_TEXT.findall(value)
        stripped = _NUMBER_IN_TEXT.sub("", value)
        if len(numbers) != 2 or re.search(r"[A-Za-z]", stripped):
            raise ParseError(expected)
        return float(numbers[0]), float(numbers[1])
    if isinstance(value, Mapping) and set(value) == {"x", "y"}:
        value = [value["x"], value["y"]]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ParseError(expected)
    try:
        return as_number(value[0], name), as_number(value[1], name)
    except ParseError:
        raise ParseError(expected) from None


def as_text(value: Any, name: str) -> str:
    """A string; a bare number is taken as its text (models type '42' as 42)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return fmt_number(value)
    raise ParseError(f"{name!r} must be a string, got {value!r}")


def model_point(
    x: float,
    y: float,
    geometry: ResizeGeometry,
    *,
    space: tuple[float, float],
    decode: Callable[[float, float], tuple[float, float]],
    name: str = "coordinate",
    hint: str = "",
) -> tuple[float, float]:
    """A model-space point -> screenshot px. Points outside ``space`` (the model's ``W x H``) are a
    ParseError; points on the far edge decode to at most ``width - 1`` / ``height - 1`` so an
    action never lands outside the screenshot."""
    w, h = space
    if not (0 <= x <= w and 0 <= y <= h):
        raise ParseError(
            f"{name} [{fmt_number(x)}, {fmt_number(y)}] is outside the {fmt_number(w)}x{fmt_number(h)} image{hint}; "
            f"x must be within 0..{fmt_number(w)} and y within 0..{fmt_number(h)}"
        )
    px, py = decode(x, y)
    return clamp_to_screen(px, py, geometry)


def clamp_to_screen(x: float, y: float, geometry: ResizeGeometry) -> tuple[float, float]:
    return min(max(x, 0.0), max(geometry.width - 1, 0)), min(max(y, 0.0), max(geometry.height - 1, 0))


def build_action(cls: type[ActionBase], model_action: str, names: Mapping[str, str] | None = None, **fields: Any):
    """``cls(**fields)``, turning a pydantic error into a ParseError in the model's own terms
    (``names`` maps pixelpilot field names to the model's argument names)."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        where = (names or {}).get(where, where)
        raise ParseError(
            f"action {model_action!r}: argument {where!r}: {err['msg']} (got {err.get('input')!r})"
        ) from None


#: Scrolls and swipes given only a direction move this fraction of the screen along their axis.
DIRECTION_FRACTION = 0.5
DIRECTIONS = ("up", "down", "left", "right")


def as_direction(value: Any, name: str = "direction") -> str:
    if isinstance(value, str) and value.strip().lower() in DIRECTIONS:
        return value.strip().lower()
    raise ParseError(f"{name!r} must be one of 'up', 'down', 'left', 'right', got {value!r}")


def direction_distance(direction: str, geometry: ResizeGeometry, fraction: float = DIRECTION_FRACTION) -> float:
    """``fraction`` of the screenshot's height (up/down) or width (left/right), in screenshot px."""
    return fraction * (geometry.height if direction in ("up", "down") else geometry.width)
