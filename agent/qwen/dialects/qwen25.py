"""Qwen2.5-VL: Qwen-Agent style function calling with absolute pixels of the resized image.

The system prompt carries the ``computer_use`` (browser) or ``mobile_use`` (android) tool of the
Qwen2.5-VL cookbooks inside ``<tools></tools>``, and states the screen's resolution as the size of
the image the model actually sees (``resized_width x resized_height`` after smart_resize). The model
answers ``<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate":
[x, y]}}</tool_call>`` with x, y pixels of that resized image; ``geometry.from_resized`` maps them
back onto the screenshot.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pixelpilot.agent.qwen import arguments, loose_json, tool_calls
from pixelpilot.agent.qwen.dialects.base import Dialect, EnvKind, ParsedOutput
from pixelpilot.agent.qwen.dialects.codecs import PointSpace
from pixelpilot.agent.qwen.parse_errors import ParseError
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
    MiddleClick,
    MouseMove,
    OpenApp,
    RightClick,
    Scroll,
    Swipe,
    Type,
    Wait,
)

COMPUTER_TOOL = "computer_use"
MOBILE_TOOL = "mobile_use"

#: action -> (required arguments, optional arguments), as the model writes them.
COMPUTER_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "key": (("keys",), ()),
    "type": (("text",), ()),
    "mouse_move": (("coordinate",), ()),
    "left_click": (("coordinate",), ()),
    "left_click_drag": (("coordinate",), ("start_coordinate",)),
    "right_click": (("coordinate",), ()),
    "middle_click": (("coordinate",), ()),
    "double_click": (("coordinate",), ()),
    "scroll": (("pixels",), ("coordinate",)),
    "wait": (("time",), ()),
    "terminate": (("status",), ()),
    "answer": (("text",), ()),
}
MOBILE_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "key": (("text",), ()),
    "click": (("coordinate",), ()),
    "long_press": (("coordinate",), ("time",)),
    "swipe": (("coordinate", "coordinate2"), ()),
    "type": (("text",), ()),
    "system_button": (("button",), ()),
    "open": (("text",), ()),
    "wait": (("time",), ()),
    "terminate": (("status",), ()),
    "answer": (("text",), ()),
}
#: Cookbook actions the framework cannot perform faithfully, and what to use instead.
UNSUPPORTED = {
    "triple_click": "use left_click, or double_click to select a word",
}
SYSTEM_BUTTONS = ("Back", "Home", "Menu", "Enter")
_TOOLS = {COMPUTER_TOOL: COMPUTER_ACTIONS, MOBILE_TOOL: MOBILE_ACTIONS}
_EXPECTED = '<tool_call>{"name": "%s", "arguments": {"action": ..., ...}}</tool_call>'

_COMPUTER_DESCRIPTION = """Use a mouse and keyboard to interact with a computer, and take screenshots.
* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. You must click on desktop icons to start applications.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, try wait and taking another screenshot.
* The screen's resolution is {width}x{height}.
* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot to determine the coordinates of the element before moving the cursor.
* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your cursor position so that the tip of the cursor visually falls on the element that you want to click.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click boxes on their edges unless asked."""  # noqa: E501

_COMPUTER_ACTION_DOC = """The action to perform. The available actions are:
* `key`: Performs key down presses on the arguments passed in order, then performs key releases in reverse order.
* `type`: Type a string of text on the keyboard. End the text with "\\n" to press Enter after it.
* `mouse_move`: Move the cursor to a specified (x, y) pixel coordinate on the screen.
* `left_click`: Click the left mouse button at the (x, y) pixel coordinate on the screen.
* `left_click_drag`: Click and drag the cursor to coordinate (x, y) on the screen, from start_coordinate if given.
* `right_click`: Click the right mouse button at the (x, y) pixel coordinate on the screen.
* `middle_click`: Click the middle mouse button at the (x, y) pixel coordinate on the screen.
* `double_click`: Double-click the left mouse button at the (x, y) pixel coordinate on the screen.
* `scroll`: Performs a scroll of the mouse scroll wheel, at coordinate (x, y) if given.
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status.
* `answer`: Answer a question about the screen or the task; this ends the task."""

_MOBILE_DESCRIPTION = """Use a touchscreen to interact with a mobile device, and take screenshots.
* This is an interface to a mobile device with touchscreen. You can perform actions like clicking, typing, swiping, etc.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots to see the results of your actions.
* The screen's resolution is {width}x{height}.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click boxes on their edges unless asked."""  # noqa: E501

_MOBILE_ACTION_DOC = """The action to perform. The available actions are:
* `key`: Perform a key event on the mobile device.
    - This supports adb's `keyevent` syntax.
    - Examples: "volume_up", "volume_down", "power", "camera", "clear".
* `click`: Click the point on the screen with coordinate (x, y).
* `long_press`: Press the point on the screen with coordinate (x, y) for specified seconds.
* `swipe`: Swipe from the starting point with coordinate (x, y) to the end point with coordinates2 (x2, y2).
* `type`: Input the specified text into the activated input box.
* `system_button`: Press the system button.
* `open`: Open an app on the device.
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status.
* `answer`: Answer a question about the screen or the task; this ends the task."""

_XY = "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates"


def _tool_schema(env: EnvKind, geometry: ResizeGeometry) -> dict[str, Any]:
    size = {"width": geometry.resized_width, "height": geometry.resized_height}
    status = {
        "description": "The status of the task. Required only by `action=terminate`.",
        "type": "string",
        "enum": ["success", "failure"],
    }
    if input_modality(env) == "touch":
        properties: dict[str, Any] = {
            "action": {"description": _MOBILE_ACTION_DOC, "enum": list(MOBILE_ACTIONS), "type": "string"},
            "coordinate": {
                "description": f"{_XY} to act on. Required only by `action=click`, `action=long_press`, "
                "and `action=swipe`.",
                "type": "array",
            },
            "coordinate2": {
                "description": f"{_XY} where the swipe ends. Required only by `action=swipe`.",
                "type": "array",
            },
            "text": {
                "description": "Required only by `action=key`, `action=type`, `action=open` and `action=answer`.",
                "type": "string",
            },
            "time": {
                "description": "The seconds to wait. Required only by `action=long_press` and `action=wait`.",
                "type": "number",
            },
            "button": {
                "description": "Back means returning to the previous interface, Home means returning to the "
                "desktop, Menu means opening the application background menu, and Enter means pressing the "
                "enter. Required only by `action=system_button`",
                "enum": list(SYSTEM_BUTTONS),
                "type": "string",
            },
            "status": status,
        }
        name, description = MOBILE_TOOL, _MOBILE_DESCRIPTION
    else:
        properties = {
            "action": {"description": _COMPUTER_ACTION_DOC, "enum": list(COMPUTER_ACTIONS), "type": "string"},
            "keys": {"description": "Required only by `action=key`.", "type": "array"},
            "text": {"description": "Required only by `action=type` and `action=answer`.", "type": "string"},
            "coordinate": {
                "description": f"{_XY} to act on. Required only by `action=mouse_move`, `action=left_click`, "
                "`action=right_click`, `action=middle_click`, `action=double_click` and `action=left_click_drag` "
                "(where the drag ends); optional for `action=scroll`.",
                "type": "array",
            },
            "start_coordinate": {
                "description": f"{_XY} where the drag starts. Optional for `action=left_click_drag`, which "
                "otherwise starts where the cursor is.",
                "type": "array",
            },
            "pixels": {
                "description": "The amount of scrolling to perform. Positive values scroll up, negative values "
                "scroll down. Required only by `action=scroll`.",
                "type": "number",
            },
            "time": {"description": "The seconds to wait. Required only by `action=wait`.", "type": "number"},
            "status": status,
        }
        name, description = COMPUTER_TOOL, _COMPUTER_DESCRIPTION
    return {
        "type": "function",
        "function": {
            "name_for_human": name,
            "name": name,
            "description": description.format(**size),
            "parameters": {"properties": properties, "required": ["action"], "type": "object"},
            "args_format": "Format the arguments as a JSON object.",
        },
    }


#: Absolute pixels of the resized image the model sees.
RESIZED_PIXELS = PointSpace(
    size=lambda g: (g.resized_width, g.resized_height),
    to_model=lambda g, x, y: g.to_resized(x, y),
    from_model=lambda g, x, y: g.from_resized(x, y),
    decimals=0,
    describe=lambda g: f"pixels of the {g.resized_width}x{g.resized_height} screen",
)


class Qwen25Dialect(Dialect):
    """Qwen2.5-VL function calling; coordinates are absolute pixels of the resized image.

    A tool outside ``computer_use``/``mobile_use`` joins as its own function: register a
    :class:`~pixelpilot.agent.qwen.dialects.codecs.JsonToolCallCodec` for it with ``register_codec``;
    its schema is then listed in ``<tools>`` and ``{"name": <tool>, "arguments": {...}}`` calls read."""

    name: ClassVar[str] = "qwen2.5-vl"
    point_space: ClassVar[PointSpace] = RESIZED_PIXELS
    #: The pointer's position (screenshot px) on the screen being parsed, when the observation records one:
    #: the cookbook's ``left_click_drag`` without ``start_coordinate`` drags from there. The policy sets it
    #: each step; None (offline data, a touch screen) makes that form a ParseError asking for the start.
    pointer: tuple[float, float] | None = None

    # ------------------------------------------------------------------ prompt
    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        entries = [self._tool_schema(env, geometry)]
        entries += [codec.prompt_entry(geometry, self.point_space) for codec in self.codecs.values()]
        schema = "\n".join(json.dumps(entry, ensure_ascii=False) for entry in entries)
        return (
            "You are a helpful assistant.\n\n"
            "# Tools\n\n"
            "You may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            f"<tools>\n{schema}\n</tools>\n\n"
            "For each function call, return a json object with function name and arguments within "
            "<tool_call></tool_call> XML tags:\n"
            "<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n'
            "</tool_call>"
        )

    def _actions(self, tool: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """``tool``'s actions -> (required, optional) arguments; a family with more verbs adds its own."""
        return _TOOLS[tool]

    # ------------------------------------------------------------------ the coordinate convention
    # A dialect that speaks these tools in another coordinate space (Qwen3-VL) overrides these four.
    def _tool_schema(self, env: EnvKind, geometry: ResizeGeometry) -> dict[str, Any]:
        return _tool_schema(env, geometry)

    def _point(self, args: dict[str, Any], key: str, geometry: ResizeGeometry) -> tuple[float, float]:
        """``args[key]`` ([x, y] in model space) -> screenshot px; a ParseError when it does not read."""
        x, y = arguments.as_point(args[key], key)
        return arguments.model_point(
            x,
            y,
            geometry,
            space=(geometry.resized_width, geometry.resized_height),
            decode=geometry.from_resized,
            name=key,
        )

    def _xy(self, geometry: ResizeGeometry, x: float, y: float) -> list[int]:
        """Screenshot px -> the [x, y] the model writes."""
        if not (0 <= x <= geometry.width and 0 <= y <= geometry.height):
            raise ValueError(f"point ({x}, {y}) is outside the {geometry.width}x{geometry.height} screenshot")
        rx, ry = geometry.to_resized(x, y)
        return [round(rx), round(ry)]

    def _scroll_to_screen(self, pixels: float, geometry: ResizeGeometry) -> float:
        """A scroll's ``pixels`` (model space, positive) -> screenshot px."""
        return pixels * geometry.width / geometry.resized_width

    def _scroll_to_model(self, amount: float, geometry: ResizeGeometry) -> int:
        return max(1, round(amount * geometry.resized_width / geometry.width))

    # ------------------------------------------------------------------ parse
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        tool = MOBILE_TOOL if input_modality(env) == "touch" else COMPUTER_TOOL
        found = tool_calls.extract_tool_calls(text, expected=_EXPECTED % tool, close_objects=not at_token_limit)
        first, *rest = found.calls
        action = self._to_action(first, geometry, env)
        return ParsedOutput(action=action, call=first, extra_calls=rest, thought=found.thought)

    def _unwrap(self, call: dict[str, Any], env: EnvKind) -> tuple[str, str, dict[str, Any]]:
        """(tool, action, arguments) from the wrapped, flat-name or flat-action form."""
        env_tool = MOBILE_TOOL if input_modality(env) == "touch" else COMPUTER_TOOL
        if isinstance(call.get("function"), dict):  # OpenAI's {"type": "function", "function": {...}}
            call = call["function"]
        if "name" in call:
            name = call["name"]
            args = _arguments_object(call)
            if not isinstance(name, str):
                raise ParseError(f"'name' must be a string, got {name!r}; expected {env_tool!r}")
            if name in _TOOLS:
                args = dict(args)
                action = args.pop("action", None)
                if action is None:
                    raise ParseError(f"{name}: missing the argument 'action'; valid actions: {', '.join(_TOOLS[name])}")
                return name, action, args
            if name in _TOOLS[env_tool] or name in UNSUPPORTED:
                return env_tool, name, dict(args)
            other = next((t for t in _TOOLS if name in _TOOLS[t]), None)
            if other:
                return other, name, dict(args)
            raise ParseError(
                f"unknown tool {name!r}; call the tool {env_tool!r} with one of the actions: "
                f"{', '.join(_TOOLS[env_tool])}"
            )
        if "action" in call:
            args = {k: v for k, v in call.items() if k != "action"}
            action = call["action"]
            if isinstance(action, str) and action not in _TOOLS[env_tool]:
                other = next((t for t in _TOOLS if action in _TOOLS[t]), env_tool)
                return other, action, args
            return env_tool, action, args
        raise ParseError(
            f"the tool call has no 'name'; expected "
            f'{{"name": "{env_tool}", "arguments": {{"action": ..., ...}}}}, got {call!r}'
        )

    def _to_action(self, call: dict[str, Any], geometry: ResizeGeometry, env: EnvKind) -> ActionBase:
        inner = call["function"] if isinstance(call.get("function"), dict) else call
        codec = self.codecs.get(inner["name"]) if isinstance(inner.get("name"), str) else None
        if codec is not None:  # a tool of its own (a plugin's), called by its name
            return codec.decode(_arguments_object(inner), geometry, self.point_space)
        tool, action, args = self._unwrap(call, env)
        vocabulary = self._actions(tool)
        if not isinstance(action, str):
            raise ParseError(f"{tool}: 'action' must be a string, got {action!r}")
        if action in UNSUPPORTED:
            raise ParseError(f"{action!r} is not supported here; {UNSUPPORTED[action]}")
        if action not in vocabulary:
            raise ParseError(f"unknown action {action!r} for {tool}; valid actions: {', '.join(vocabulary)}")
        required, optional = vocabulary[action]
        drag_from_pointer = action == "left_click_drag" and args.get("start_coordinate") is None
        if drag_from_pointer and args.get("coordinate") is not None and self.pointer is None:
            raise ParseError(
                "action 'left_click_drag' needs 'start_coordinate' [x, y] (where the drag starts) as well as "
                "'coordinate' [x, y] (where it ends): start_coordinate is required"
            )
        arguments.check_arguments(action, args, required, optional)

        def point(key: str) -> tuple[float, float]:
            return self._point(args, key, geometry)

        if tool == COMPUTER_TOOL:
            if action == "left_click":
                x, y = point("coordinate")
                return Click(x=x, y=y)
            if action == "double_click":
                x, y = point("coordinate")
                return DoubleClick(x=x, y=y)
            if action == "right_click":
                x, y = point("coordinate")
                return RightClick(x=x, y=y)
            if action == "mouse_move":
                x, y = point("coordinate")
                return MouseMove(x=x, y=y)
            if action == "middle_click":
                x, y = point("coordinate")
                return MiddleClick(x=x, y=y)
            if action == "left_click_drag":
                # the cookbook form drags from the cursor, which is where the observation recorded the pointer;
                # start_coordinate, when given, says where the drag starts and wins (see docs/DESKTOP.md)
                (sx, sy) = self.pointer if drag_from_pointer and self.pointer else point("start_coordinate")
                ex, ey = point("coordinate")
                return Drag(start_x=sx, start_y=sy, end_x=ex, end_y=ey)
            if action == "key":
                return Key(keys=_keys(args["keys"]))
            if action == "scroll":
                pixels = arguments.as_number(args["pixels"], "pixels")
                if pixels == 0:
                    raise ParseError("'pixels' must not be 0: positive values scroll up, negative values scroll down")
                if args.get("coordinate") is not None:
                    x, y = point("coordinate")
                else:
                    x, y = _centre(geometry)
                amount = self._scroll_to_screen(abs(pixels), geometry)
                return Scroll(x=x, y=y, direction="up" if pixels > 0 else "down", amount=amount)
        else:
            if action == "click":
                x, y = point("coordinate")
                return Click(x=x, y=y)
            if action == "long_press":
                x, y = point("coordinate")
                if args.get("time") is None:
                    return LongPress(x=x, y=y)
                seconds = arguments.as_number(args["time"], "time")
                return arguments.build_action(
                    LongPress, action, {"duration_ms": "time"}, x=x, y=y, duration_ms=round(seconds * 1000)
                )
            if action == "swipe":
                (sx, sy), (ex, ey) = point("coordinate"), point("coordinate2")
                return Swipe(start_x=sx, start_y=sy, end_x=ex, end_y=ey)
            if action == "key":
                keys = arguments.as_text(args["text"], "text")
                return arguments.build_action(Key, action, {"keys": "text"}, keys=keys)
            if action == "system_button":
                return _system_button(args["button"])
            if action == "open":
                app = arguments.as_text(args["text"], "text")
                return arguments.build_action(OpenApp, action, {"app": "text"}, app=app)
        # shared by both tools
        if action == "type":
            text = arguments.as_text(args["text"], "text")
            if text.endswith("\n"):
                return Type(text=text[:-1], press_enter=True)
            return Type(text=text)
        if action == "wait":
            return arguments.build_action(
                Wait, action, {"seconds": "time"}, seconds=arguments.as_number(args["time"], "time")
            )
        if action == "terminate":
            status = args["status"]
            if status not in ("success", "failure"):
                raise ParseError(f"'status' must be 'success' or 'failure', got {status!r}")
            return Finish(status=status)
        if action == "answer":
            return Answer(text=arguments.as_text(args["text"], "text"))
        raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover - tables and code agree

    # ------------------------------------------------------------------ encode
    def encode_verb(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        tool = MOBILE_TOOL if input_modality(env) == "touch" else COMPUTER_TOOL
        call = {"name": tool, "arguments": self._arguments(action, geometry, env)}
        return f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>"

    def _arguments(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind) -> dict[str, Any]:
        def xy(x: float, y: float) -> list[int]:
            return self._xy(geometry, x, y)

        mobile = input_modality(env) == "touch"
        if isinstance(action, Type):
            if action.clear:
                raise ValueError(f"{self.name} cannot express type with clear=True")
            return {"action": "type", "text": action.text + ("\n" if action.press_enter else "")}
        if isinstance(action, Wait):
            return {"action": "wait", "time": _json_number(action.seconds)}
        if isinstance(action, Finish):
            return {"action": "terminate", "status": action.status}
        if isinstance(action, Answer):
            return {"action": "answer", "text": action.text}
        if mobile:
            if isinstance(action, Click):
                return {"action": "click", "coordinate": xy(action.x, action.y)}
            if isinstance(action, LongPress):
                return {
                    "action": "long_press",
                    "coordinate": xy(action.x, action.y),
                    "time": _json_number(action.duration_ms / 1000),
                }
            if isinstance(action, Swipe):
                return {
                    "action": "swipe",
                    "coordinate": xy(action.start_x, action.start_y),
                    "coordinate2": xy(action.end_x, action.end_y),
                }
            if isinstance(action, Key):
                if action.keys in ("Enter", "Menu"):
                    return {"action": "system_button", "button": action.keys}
                return {"action": "key", "text": action.keys}
            if isinstance(action, Back):
                return {"action": "system_button", "button": "Back"}
            if isinstance(action, Home):
                return {"action": "system_button", "button": "Home"}
            if isinstance(action, OpenApp):
                return {"action": "open", "text": action.app}
        else:
            simple = {
                Click: "left_click",
                DoubleClick: "double_click",
                RightClick: "right_click",
                MiddleClick: "middle_click",
                MouseMove: "mouse_move",
            }
            if type(action) in simple:
                return {"action": simple[type(action)], "coordinate": xy(action.x, action.y)}  # type: ignore[attr-defined]
            if isinstance(action, Drag):
                return {
                    "action": "left_click_drag",
                    "start_coordinate": xy(action.start_x, action.start_y),
                    "coordinate": xy(action.end_x, action.end_y),
                }
            if isinstance(action, Key):
                return {"action": "key", "keys": _split_keys(action.keys)}
            if isinstance(action, Scroll):
                if action.direction not in ("up", "down"):
                    raise ValueError(
                        f"{self.name} scrolls vertically only; cannot express direction {action.direction!r}"
                    )
                pixels = self._scroll_to_model(action.amount, geometry)
                return {
                    "action": "scroll",
                    "coordinate": xy(action.x, action.y),
                    "pixels": pixels if action.direction == "up" else -pixels,
                }
        raise ValueError(f"{self.name} ({'mobile_use' if mobile else 'computer_use'}) cannot express {action!r}")


def _arguments_object(call: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments as an object: served models sometimes send them as a JSON string."""
    args = call.get("arguments", call.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = loose_json.loads_loose(args) if args.strip() else {}
        except loose_json.LooseJSONError as exc:
            raise ParseError(f"could not read 'arguments' of the tool call: {exc}") from None
    if not isinstance(args, dict):
        raise ParseError(f"'arguments' must be a JSON object, got {args!r}")
    return args


def _centre(geometry: ResizeGeometry) -> tuple[float, float]:
    return geometry.width / 2, geometry.height / 2


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _keys(value: Any) -> str:
    """``["ctrl", "c"]`` -> ``"ctrl+c"``; a string is taken as it is."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list) and value and all(isinstance(k, str) and k.strip() for k in value):
        return "+".join(k.strip() for k in value)
    raise ParseError(f'\'keys\' must be a non-empty list of key names such as ["ctrl", "c"], got {value!r}')


def _split_keys(keys: str) -> list[str]:
    parts = [k for k in keys.split("+") if k]
    return parts or [keys]


def _system_button(button: Any) -> ActionBase:
    if not isinstance(button, str):
        raise ParseError(f"'button' must be one of {', '.join(SYSTEM_BUTTONS)}, got {button!r}")
    normalized = button.strip().capitalize()
    if normalized == "Back":
        return Back()
    if normalized == "Home":
        return Home()
    if normalized in ("Enter", "Menu"):
        return Key(keys=normalized)
    raise ParseError(f"'button' must be one of {', '.join(SYSTEM_BUTTONS)}, got {button!r}")


__all__ = ["COMPUTER_ACTIONS", "MOBILE_ACTIONS", "Qwen25Dialect"]
