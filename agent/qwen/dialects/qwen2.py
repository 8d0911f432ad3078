"""Qwen2-VL: grounding boxes and UI-TARS 1.0 action text, coordinates normalized to 0..1000.

Qwen2-VL (and the agents fine-tuned from it: UI-TARS 1.0, OS-Atlas) write points relative to the
image, scaled to integers 0..1000, whatever the image's size. Two shapes are read:

- grounding: ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``
  (click at the box centre) or ``<|box_start|>(x,y)<|box_end|>`` (click at the point);
- UI-TARS actions: ``Thought: ...`` then ``Action: click(start_box='(x,y)')`` and the rest of the
  UI-TARS action space (see :data:`ACTIONS`).

The raw text must be decoded with special tokens kept, so ``<|box_start|>`` survives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from pixelpilot.agent.qwen import arguments, tool_calls
from pixelpilot.agent.qwen.dialects.base import Dialect, EnvKind, ParsedOutput
from pixelpilot.agent.qwen.dialects.codecs import PointSpace
from pixelpilot.agent.qwen.parse_errors import ParseError, TruncatedOutputError
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env.registry import input_modality
from pixelpilot.tools import (
    ActionBase,
    Answer,
    Back,
    Click,
    DoubleClick,
    Drag,
    Finish,
    Home,
    Key,
    LongPress,
    OpenApp,
    RightClick,
    Scroll,
    Swipe,
    Type,
    Wait,
)

SCALE = 1000

#: action -> (parameters in positional order, required parameters).
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "click": (("start_box",), ("start_box",)),
    "left_double": (("start_box",), ("start_box",)),
    "right_single": (("start_box",), ("start_box",)),
    "drag": (("start_box", "end_box"), ("start_box", "end_box")),
    "hotkey": (("key",), ("key",)),
    "type": (("content",), ("content",)),
    "scroll": (("start_box", "direction", "end_box"), ()),
    "wait": ((), ()),
    "finished": (("content",), ()),
    "call_user": ((), ()),
    "long_press": (("start_box", "time"), ("start_box",)),
    "press_home": ((), ()),
    "press_back": ((), ()),
    "open_app": (("app_name",), ("app_name",)),
}
#: Other spellings UI-TARS versions use for the same actions and arguments.
ACTION_ALIASES = {"left_single": "click", "press": "hotkey", "swipe": "scroll"}
ARGUMENT_ALIASES = {"point": "start_box", "start_point": "start_box", "end_point": "end_box"}
#: Seconds ``wait()`` sleeps, as the UI-TARS prompt tells the model.
WAIT_SECONDS = 5.0
CALL_USER_MESSAGE = "the model called the user (call_user): the task looks unsolvable or needs the user's help"

_EXPECTED = "Action: click(start_box='(x,y)') with x, y from 0 to 1000, or <|box_start|>(x,y)<|box_end|>"
#: 'Action:' starting a line; anywhere only as a fallback ('the next action: ...' in a thought is no label).
_ACTION_LABEL = re.compile(r"^[ \t]*Action\s*:", re.I | re.M)
_ACTION_LABEL_ANYWHERE = re.compile(r"\bAction\s*:", re.I)
_THOUGHT_LABEL = re.compile(r"^\s*Thought\s*:\s*", re.I)
_BOX = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.*?)<\|object_ref_end\|>\s*)?<\|box_start\|>(?P<box>.*?)(?:<\|box_end\|>|\Z)",
    re.S,
)
_BARE_BOX = re.compile(r"\[?\(?\s*\(\s*-?\d+\s*,\s*-?\d+\s*\)(?:\s*,\s*\(\s*-?\d+\s*,\s*-?\d+\s*\))?\s*\)?\]?")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)")
_MARKUP = re.compile(r"<\|[a-z_]+\|>|</?(?:point|bbox|box)>")

_BROWSER_SPACE = """click(start_box='(x1,y1)')
left_double(start_box='(x1,y1)')
right_single(start_box='(x1,y1)')
drag(start_box='(x1,y1)', end_box='(x3,y3)')
hotkey(key='') # Split keys with a space, e.g. hotkey(key='ctrl c').
type(content='') #If you want to submit your input, use "\\n" at the end of `content`.
scroll(start_box='(x1,y1)', direction='down or up or right or left')
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished() # The task is done. If the task asks a question, put the answer in finished(content='...').
call_user() # Submit the task and call the user when the task is unsolvable, or when you need the user's help."""

_ANDROID_SPACE = """click(start_box='(x1,y1)')
long_press(start_box='(x1,y1)', time='')
type(content='') #If you want to submit your input, use "\\n" at the end of `content`.
scroll(start_box='(x1,y1)', end_box='(x3,y3)') # Swipe from the start point to the end point.
open_app(app_name='')
press_home()
press_back()
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished() # The task is done. If the task asks a question, put the answer in finished(content='...').
call_user() # Submit the task and call the user when the task is unsolvable, or when you need the user's help."""


class Qwen2Dialect(Dialect):
    """Qwen2-VL / UI-TARS 1.0 / OS-Atlas: coordinates are integers 0..1000 relative to the screenshot."""

    name: ClassVar[str] = "qwen2-vl"
    skip_special_tokens: ClassVar[bool] = False
    point_space: ClassVar[PointSpace] = PointSpace(
        size=lambda g: (SCALE, SCALE),
        to_model=lambda g, x, y: g.to_relative(x, y, scale=SCALE),
        from_model=lambda g, x, y: g.from_relative(x, y, scale=SCALE),
        decimals=0,
        describe=lambda g: f"integers from 0 to {SCALE}, relative to the screenshot",
    )

    # ------------------------------------------------------------------ prompt
    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        space = _ANDROID_SPACE if input_modality(env) == "touch" else _BROWSER_SPACE
        return (
            "You are a GUI agent. You are given a task and your action history, with screenshots. "
            "You need to perform the next action to complete the task.\n\n"
            "## Output Format\n```\nThought: ...\nAction: ...\n```\n\n"
            f"## Action Space\n\n{space}\n\n"
            "## Coordinates\n"
            "Points (x,y) are integers from 0 to 1000, relative to the screenshot whatever its size: (0,0) is "
            "the top-left corner and (1000,1000) the bottom-right corner. A box (x1,y1,x2,y2) stands for its "
            "centre.\n\n"
            "## Note\n"
            "- Write one action per step.\n"
            "- Summarize your next action (with its target element) in one sentence in `Thought` part."
        )

    # ------------------------------------------------------------------ the coordinate convention
    # A dialect that speaks this action text in another coordinate space (UI-TARS-1.5) overrides these.
    def _expected(self, geometry: ResizeGeometry) -> str:
        """What a well-formed answer looks like, for errors the model reads."""
        return _EXPECTED

    def _space(
        self, geometry: ResizeGeometry
    ) -> tuple[tuple[float, float], Callable[[float, float], tuple[float, float]]]:
        """(the model space's W x H, model point -> screenshot px)."""
        return (SCALE, SCALE), lambda a, b: geometry.from_relative(a, b, scale=SCALE)

    def _space_words(self, geometry: ResizeGeometry) -> str:
        return "integers from 0 to 1000"

    # ------------------------------------------------------------------ parse
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        expected = self._expected(geometry)
        if text is None or not text.strip():
            raise ParseError(f"no action found in the output (it is empty); expected {expected}")
        known = set(ACTIONS) | set(ACTION_ALIASES)
        label = _ACTION_LABEL.search(text) or _ACTION_LABEL_ANYWHERE.search(text)
        if label:
            calls = tool_calls.find_function_calls(text[label.end() :])
            calls = calls[:1] + [c for c in calls[1:] if c.name.lower() in known]
            if not calls and re.fullmatch(r"\s*\w*", text[label.end() :]):
                raise TruncatedOutputError(
                    f"the output ends at 'Action: {text[label.end() :].strip()}' before the call; expected {expected}"
                )
            if not calls:
                raise ParseError(
                    f"no action call after 'Action:'; expected e.g. click(start_box='(x,y)'); "
                    f"valid actions: {', '.join(ACTIONS)}"
                )
            thought = _THOUGHT_LABEL.sub("", text[: label.start()]).strip() or None
        else:
            calls = tool_calls.find_function_calls(text, known)
            thought = None
            if calls:
                thought = _THOUGHT_LABEL.sub("", text[: calls[0].start]).strip() or None
        if calls:
            action = self._call_to_action(calls[0], geometry)
            return ParsedOutput(
                action=action,
                call=calls[0].as_dict(),
                extra_calls=[c.as_dict() for c in calls[1:]],
                thought=thought,
            )
        boxes = list(_BOX.finditer(text))
        if boxes and boxes[-1].end() == len(text) and not text.endswith("<|box_end|>"):
            if len(boxes) == 1:  # a box without its end may be a point without its last digits
                raise TruncatedOutputError(
                    f"the output ends inside a box ({tool_calls.clip_end(text, 40)!r}, no <|box_end|>); "
                    f"expected {expected}"
                )
            boxes.pop()
        if boxes:
            first = boxes[0]
            x, y = self._box(first.group("box"), "box", geometry)
            rest = [{"action": "click", "box": b.group("box").strip()} for b in boxes[1:]]
            call: dict[str, Any] = {"action": "click", "box": first.group("box").strip()}
            if first.group("label") is not None:
                call["label"] = first.group("label").strip()
            outside = (text[: first.start()] + text[first.end() :]).strip()
            outside = _MARKUP.sub("", outside).strip()
            return ParsedOutput(action=Click(x=x, y=y), call=call, extra_calls=rest, thought=outside or None)
        if _BARE_BOX.fullmatch(text.strip()):
            bare = text.strip()
            if at_token_limit and len(_NUMBER.findall(bare)) == 2 and not bare.endswith(("))", "]")):
                # '(x1,y1)' stopped by the limit may be the first corner of '(x1,y1),(x2,y2)'
                raise TruncatedOutputError(f"the output may end inside a box ({text.strip()!r}); expected {expected}")
            x, y = self._box(text.strip(), "box", geometry)
            return ParsedOutput(action=Click(x=x, y=y), call={"action": "click", "box": text.strip()})
        raise ParseError(f"no action found in the output; expected {expected}")

    def _box(self, value: Any, name: str, geometry: ResizeGeometry) -> tuple[float, float]:
        """'(x,y)', '(x1,y1,x2,y2)', '(x1,y1),(x2,y2)', '<|box_start|>(x,y)<|box_end|>', [x, y] -> screenshot px."""
        text = value if isinstance(value, str) else str(value) if isinstance(value, list | tuple) else None
        expected = (
            f"{name!r} must be a point '(x,y)' or a box '(x1,y1,x2,y2)' with {self._space_words(geometry)}, "
            f"got {value!r}"
        )
        if text is None:
            raise ParseError(expected)
        numbers = [float(n) for n in _NUMBER.findall(text)]
        leftover = _NUMBER.sub("", _MARKUP.sub("", text))
        if len(numbers) not in (2, 4) or re.search(r"[A-Za-z]", leftover):
            raise ParseError(expected)
        points = [(numbers[k], numbers[k + 1]) for k in range(0, len(numbers), 2)]
        space, decode = self._space(geometry)
        hint = (
            " (coordinates are relative: integers from 0 to 1000)"
            if space == (SCALE, SCALE)
            else f" (coordinates are {self._space_words(geometry)})"
        )
        decoded = [
            arguments.model_point(x, y, geometry, space=space, decode=decode, name=name, hint=hint) for x, y in points
        ]
        if len(points) == 1:
            return decoded[0]
        (x1, y1), (x2, y2) = points
        return arguments.clamp_to_screen(*decode((x1 + x2) / 2, (y1 + y2) / 2), geometry)

    def _call_to_action(self, call: tool_calls.FunctionCall, geometry: ResizeGeometry) -> ActionBase:
        written = call.name
        name = ACTION_ALIASES.get(written.lower(), written.lower())
        if name not in ACTIONS:
            raise ParseError(f"unknown action {written!r}; valid actions: {', '.join(ACTIONS)}")
        params, required = ACTIONS[name]
        if len(call.positional) > len(params):
            raise ParseError(
                f"action {written!r} takes at most {len(params)} argument(s) ({', '.join(params) or 'none'}), "
                f"got {len(call.positional)}"
            )
        args: dict[str, Any] = dict(zip(params, call.positional, strict=False))
        for key, value in call.args.items():
            args[ARGUMENT_ALIASES.get(key, key)] = value
        arguments.check_arguments(written, args, required, tuple(p for p in params if p not in required))

        def point(key: str) -> tuple[float, float]:
            return self._box(args[key], key, geometry)

        if name == "click":
            x, y = point("start_box")
            return Click(x=x, y=y)
        if name == "left_double":
            x, y = point("start_box")
            return DoubleClick(x=x, y=y)
        if name == "right_single":
            x, y = point("start_box")
            return RightClick(x=x, y=y)
        if name == "long_press":
            x, y = point("start_box")
            time = args.get("time")
            if time is None or (isinstance(time, str) and not time.strip()):
                return LongPress(x=x, y=y)
            seconds = arguments.as_number(time, "time")
            return arguments.build_action(
                LongPress, written, {"duration_ms": "time"}, x=x, y=y, duration_ms=round(seconds * 1000)
            )
        if name == "drag":
            (sx, sy), (ex, ey) = point("start_box"), point("end_box")
            return Drag(start_x=sx, start_y=sy, end_x=ex, end_y=ey)
        if name == "scroll":
            return self._scroll(written, args, geometry)
        if name == "hotkey":
            keys = "+".join(args["key"].split()) if isinstance(args["key"], str) else ""
            if not keys:
                raise ParseError(
                    f"'key' must name a key or keys separated by spaces, e.g. 'ctrl c', got {args['key']!r}"
                )
            return Key(keys=keys)
        if name == "type":
            content = args["content"]
            if content.endswith("\n"):
                return Type(text=content[:-1], press_enter=True)
            if not content:
                raise ParseError("'content' of type() is empty; write the text to type, e.g. type(content='hello')")
            return Type(text=content)
        if name == "wait":
            return Wait(seconds=WAIT_SECONDS)
        if name == "finished":
            content = args.get("content") or ""
            return Answer(text=content) if content.strip() else Finish(status="success")
        if name == "call_user":
            return Finish(status="failure", message=CALL_USER_MESSAGE)
        if name == "press_home":
            return Home()
        if name == "press_back":
            return Back()
        if name == "open_app":
            return arguments.build_action(OpenApp, written, {"app": "app_name"}, app=args["app_name"].strip())
        raise AssertionError(f"unhandled action {name!r}")  # pragma: no cover - table and code agree

    def _scroll(self, written: str, args: dict[str, Any], geometry: ResizeGeometry) -> ActionBase:
        if args.get("start_box") is not None:
            x, y = self._box(args["start_box"], "start_box", geometry)
        else:
            x, y = geometry.width / 2, geometry.height / 2
        direction = args.get("direction")
        if direction is not None and str(direction).strip():
            direction = arguments.as_direction(direction)
            return Scroll(x=x, y=y, direction=direction, amount=arguments.direction_distance(direction, geometry))
        if args.get("end_box") is not None:
            ex, ey = self._box(args["end_box"], "end_box", geometry)
            return Swipe(start_x=x, start_y=y, end_x=ex, end_y=ey)
        raise ParseError(
            f"action {written!r} needs direction='down', 'up', 'left' or 'right' "
            "(or end_box='(x,y)' to swipe to a point)"
        )

    # ------------------------------------------------------------------ encode
    def encode_verb(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        def box(x: float, y: float) -> str:
            if not (0 <= x <= geometry.width and 0 <= y <= geometry.height):
                raise ValueError(f"point ({x}, {y}) is outside the {geometry.width}x{geometry.height} screenshot")
            rx, ry = geometry.to_relative(x, y, scale=SCALE)
            return f"'({round(rx)},{round(ry)})'"

        if isinstance(action, Click):
            call = f"click(start_box={box(action.x, action.y)})"
        elif isinstance(action, DoubleClick):
            call = f"left_double(start_box={box(action.x, action.y)})"
        elif isinstance(action, RightClick):
            call = f"right_single(start_box={box(action.x, action.y)})"
        elif isinstance(action, LongPress):
            call = f"long_press(start_box={box(action.x, action.y)})"
        elif isinstance(action, Drag):
            call = f"drag(start_box={box(action.start_x, action.start_y)}, end_box={box(action.end_x, action.end_y)})"
        elif isinstance(action, Swipe):
            call = f"scroll(start_box={box(action.start_x, action.start_y)}, end_box={box(action.end_x, action.end_y)})"
        elif isinstance(action, Scroll):
            call = f"scroll(start_box={box(action.x, action.y)}, direction='{action.direction}')"
        else:
            call = pointless_call(action, self.name)
        return f"Action: {call}"


def pointless_call(action: ActionBase, dialect: str) -> str:
    """The UI-TARS action text of an action without a screen point (keys, typing, waiting, stopping,
    phone buttons): the same words in qwen2-vl and ui-tars-1.5, whose point notations differ."""
    if isinstance(action, Key):
        return f"hotkey(key={_quote(' '.join(k for k in action.keys.split('+') if k) or action.keys)})"
    if isinstance(action, Type):
        if action.clear:
            raise ValueError(f"{dialect} cannot express type with clear=True")
        content = action.text + ("\n" if action.press_enter else "")
        return f"type(content={_quote(content)})"
    if isinstance(action, Wait):
        return "wait()"
    if isinstance(action, Finish):
        return "finished()" if action.status == "success" else "call_user()"
    if isinstance(action, Answer):
        return f"finished(content={_quote(action.text)})"
    if isinstance(action, Back):
        return "press_back()"
    if isinstance(action, Home):
        return "press_home()"
    if isinstance(action, OpenApp):
        return f"open_app(app_name={_quote(action.app)})"
    raise ValueError(f"{dialect} cannot express {action!r}")


def _quote(text: str) -> str:
    """A single-quoted argument as UI-TARS writes it: backslash, quote and newline escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
