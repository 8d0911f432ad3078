"""UI-TARS-1.5: UI-TARS action text with absolute pixels of the smart-resized image.

UI-TARS-1.5 is built on Qwen2.5-VL and keeps its convention: a point is in pixels of the image the
model saw (``resized_width x resized_height`` after smart_resize with factor 28), not 0..1000 as
UI-TARS 1.0 (dialect 'qwen2-vl') wrote. What the model writes, as checked against bytedance/UI-TARS
(``codes/ui_tars/prompt.py``, ``codes/ui_tars/action_parser.py``, ``README_coordinates.md``):

- ``Thought: ...`` then ``Action: click(point='<point>x y</point>')``; the same point also comes as
  ``start_box='(x,y)'`` and ``'<|box_start|>(x,y)<|box_end|>'``, and a box as its centre;
- the computer, mobile and grounding action spaces of its prompt templates (see the prompts below):
  ``hotkey(key='ctrl c')``, ``type(content='...')`` (a trailing ``\\n`` presses Enter),
  ``scroll(point=..., direction=...)``, ``drag(start_point=..., end_point=...)`` (a swipe on a phone),
  ``finished(content=...)``, ``wait()``, and on phones ``long_press``, ``open_app(app_name=...)``,
  ``press_home()``, ``press_back()``;
- its own pixel limits: the parser resizes with min 100*28*28 and max 16384*28*28 pixels, so
  :attr:`UITars15Dialect.pixel_limits` are the limits a policy uses unless the user sets them.

The reader is the Qwen2-VL/UI-TARS one with the coordinate space swapped (its three hooks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from pixelpilot.agent.qwen.dialects.base import EnvKind, ParsedOutput
from pixelpilot.agent.qwen.dialects.codecs import PointSpace
from pixelpilot.agent.qwen.dialects.qwen2 import Qwen2Dialect, pointless_call
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env.registry import input_modality
from pixelpilot.tools import (
    ActionBase,
    Click,
    DoubleClick,
    Drag,
    LongPress,
    RightClick,
    Scroll,
    Swipe,
)

#: UI-TARS-1.5's smart_resize limits (min_pixels, max_pixels), in 28-px tokens: 100 and 16384.
PIXEL_LIMITS = (100 * 28 * 28, 16384 * 28 * 28)

_POINT_ONLY = re.compile(r"\s*<point>\s*(-?\d+(?:\.\d+)?)[\s,]+(-?\d+(?:\.\d+)?)\s*</point>\s*")

_HEAD = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. "
    "You need to perform the next action to complete the task."
)
_COMPUTER_SPACE = """click(point='<point>x1 y1</point>')
left_double(point='<point>x1 y1</point>')
right_single(point='<point>x1 y1</point>')
drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')
hotkey(key='ctrl c') # Keys in lowercase, separated by spaces; three keys at most.
type(content='xxx') # Escape \\', \\" and \\n inside content. End content with \\n to submit it.
scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Reveals more on that side.
wait() # Sleeps 5 s, then a new screenshot shows what changed.
finished(content='xxx') # The task is done: content sums up the result or answers the question."""
_MOBILE_SPACE = """click(point='<point>x1 y1</point>')
long_press(point='<point>x1 y1</point>')
type(content='') # End content with \\n to submit it.
scroll(point='<point>x1 y1</point>', direction='down or up or right or left')
open_app(app_name='')
drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')
press_home()
press_back()
finished(content='xxx') # The task is done: content sums up the result or answers the question."""


def _coordinates_note(geometry: ResizeGeometry) -> str:
    return (
        f"- Points are pixels of the screenshot as you see it ({geometry.resized_width}x{geometry.resized_height}): "
        "x from the left edge, y from the top edge."
    )


class UITars15Dialect(Qwen2Dialect):
    """UI-TARS-1.5: UI-TARS action text, points in absolute pixels of the smart-resized screenshot."""

    name: ClassVar[str] = "ui-tars-1.5"
    pixel_limits: ClassVar[tuple[int, int] | None] = PIXEL_LIMITS
    point_space: ClassVar[PointSpace] = PointSpace(
        size=lambda g: (g.resized_width, g.resized_height),
        to_model=lambda g, x, y: g.to_resized(x, y),
        from_model=lambda g, x, y: g.from_resized(x, y),
        decimals=0,
        describe=lambda g: f"pixels of the {g.resized_width}x{g.resized_height} screenshot the model sees",
    )

    # ------------------------------------------------------------------ prompt
    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        space = _MOBILE_SPACE if input_modality(env) == "touch" else _COMPUTER_SPACE
        return (
            f"{_HEAD}\n\n## Output Format\n```\nThought: ...\nAction: ...\n```\n\n"
            f"## Action Space\n\n{space}\n\n"
            "## Note\n"
            "- Write the Thought in English: a short plan, then the next action and its target in one sentence.\n"
            f"{_coordinates_note(geometry)}"
        )

    def grounding_prompt(self, geometry: ResizeGeometry) -> str:
        """The grounding template: one click, no thought (for "where is X" sets)."""
        return (
            f"{_HEAD}\n\n## Output Format\n\nAction: ...\n\n"
            f"## Action Space\nclick(point='<point>x1 y1</point>')\n\n"
            f"## Note\n{_coordinates_note(geometry)}"
        )

    # ------------------------------------------------------------------ the coordinate convention
    def _expected(self, geometry: ResizeGeometry) -> str:
        return (
            f"Action: click(point='<point>x y</point>') with x, y pixels of the "
            f"{geometry.resized_width}x{geometry.resized_height} screenshot"
        )

    def _space(
        self, geometry: ResizeGeometry
    ) -> tuple[tuple[float, float], Callable[[float, float], tuple[float, float]]]:
        return (geometry.resized_width, geometry.resized_height), geometry.from_resized

    def _space_words(self, geometry: ResizeGeometry) -> str:
        return f"pixels of the {geometry.resized_width}x{geometry.resized_height} screenshot"

    # ------------------------------------------------------------------ parse
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        if text is not None and (point := _POINT_ONLY.fullmatch(text)):  # a bare grounding answer
            x, y = self._box(f"({point.group(1)},{point.group(2)})", "point", geometry)
            return ParsedOutput(action=Click(x=x, y=y), call={"action": "click", "point": text.strip()})
        parsed = super().parse(text, geometry, env, at_token_limit=at_token_limit)
        action = parsed.action
        if isinstance(action, Drag) and input_modality(env) == "touch":  # the mobile template's drag is a swipe
            swipe = Swipe(start_x=action.start_x, start_y=action.start_y, end_x=action.end_x, end_y=action.end_y)
            return parsed.model_copy(update={"action": swipe})
        return parsed

    # ------------------------------------------------------------------ encode
    def encode_verb(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        def point(x: float, y: float) -> str:
            mx, my = self.point_space.encode(geometry, x, y)
            return f"'<point>{int(mx)} {int(my)}</point>'"

        if isinstance(action, Click):
            call = f"click(point={point(action.x, action.y)})"
        elif isinstance(action, DoubleClick):
            call = f"left_double(point={point(action.x, action.y)})"
        elif isinstance(action, RightClick):
            call = f"right_single(point={point(action.x, action.y)})"
        elif isinstance(action, LongPress):
            call = f"long_press(point={point(action.x, action.y)})"
        elif isinstance(action, Drag | Swipe):
            start, end = point(action.start_x, action.start_y), point(action.end_x, action.end_y)
            call = f"drag(start_point={start}, end_point={end})"
        elif isinstance(action, Scroll):
            call = f"scroll(point={point(action.x, action.y)}, direction='{action.direction}')"
        else:
            call = pointless_call(action, self.name)
        return f"Action: {call}"


__all__ = ["PIXEL_LIMITS", "UITars15Dialect"]
