"""Tool codecs: how one dialect writes (encode) and reads (decode) one tool, keyed by tool name.

Each dialect maps its model family's own trained verbs onto the built-in tools (its verb table).
A tool that a model family was never trained on has no verb; it is offered to the model the way
function-calling models learn any tool, from its schema in the system prompt, and called by its own
name. :class:`JsonToolCallCodec` is that generic codec for dialects whose models write JSON tool calls
(Qwen2.5-VL's ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``): its prompt entry is the
tool's JSON schema (the ``Field(description=...)`` texts written for the model), its point fields
travel in the dialect's coordinate convention (:class:`PointSpace`), and decoding validates through
the tool registry, so a bad call is a ParseError the model can act on.

Registering a tool with a dialect (a plugin's tool; see docs in ``pixelpilot.tools.registry``)::

    tools.register(Hover)
    Qwen25Dialect.register_codec(JsonToolCallCodec(Hover))

A dialect's codec table is consulted before its verb table, for prompts, parsing and encoding.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pixelpilot.agent.qwen import arguments
from pixelpilot.agent.qwen.parse_errors import ParseError
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.tools import REGISTRY, ActionBase, ToolRegistry, ToolValidationError, action_name


@dataclass(frozen=True)
class PointSpace:
    """A dialect's coordinate convention: screenshot px <-> the numbers its model writes."""

    #: (width, height) of the model's space for a step: the valid range of x and y.
    size: Callable[[ResizeGeometry], tuple[float, float]]
    #: screenshot px -> model space
    to_model: Callable[[ResizeGeometry, float, float], tuple[float, float]]
    #: model space -> screenshot px
    from_model: Callable[[ResizeGeometry, float, float], tuple[float, float]]
    #: how many decimals the model writes (0: integers)
    decimals: int
    #: the convention in words, for the prompt and for errors
    describe: Callable[[ResizeGeometry], str]

    def encode(self, geometry: ResizeGeometry, x: float, y: float) -> tuple[float, float]:
        if not (0 <= x <= geometry.width and 0 <= y <= geometry.height):
            raise ValueError(f"point ({x}, {y}) is outside the {geometry.width}x{geometry.height} screenshot")
        mx, my = self.to_model(geometry, x, y)
        if self.decimals == 0:
            return round(mx), round(my)
        return round(mx, self.decimals), round(my, self.decimals)

    def decode(self, geometry: ResizeGeometry, x: Any, y: Any, name: str) -> tuple[float, float]:
        """Model numbers -> screenshot px; a ParseError for a non-number or a point outside the space."""
        mx, my = arguments.as_number(x, name), arguments.as_number(y, name)
        return arguments.model_point(
            mx,
            my,
            geometry,
            space=self.size(geometry),
            decode=lambda a, b: self.from_model(geometry, a, b),
            name=name,
            hint=f" ({self.describe(geometry)})",
        )


class ToolCodec(ABC):
    """How one dialect expresses one tool: its prompt entry, its parse and its encode."""

    def __init__(self, tool: type[ActionBase]) -> None:
        self.tool = tool

    @property
    def name(self) -> str:
        return action_name(self.tool)

    @abstractmethod
    def prompt_entry(self, geometry: ResizeGeometry, space: PointSpace) -> dict[str, Any]:
        """What the system prompt shows the model about this tool."""

    @abstractmethod
    def decode(self, call_args: Mapping[str, Any], geometry: ResizeGeometry, space: PointSpace) -> ActionBase:
        """The model's arguments for this tool -> the action in screenshot px; ParseError if they do not read."""

    @abstractmethod
    def encode(self, action: ActionBase, geometry: ResizeGeometry, space: PointSpace) -> str:
        """The action -> the text the model would write for it."""


class JsonToolCallCodec(ToolCodec):
    """A tool as its own JSON function: ``<tool_call>{"name": "hover", "arguments": {"x": .., "y": ..}}``.

    Arguments are the tool's fields under their own names; point fields are written in the dialect's
    model space (for Qwen2.5-VL, pixels of the resized image), everything else as the tool defines it.
    """

    def prompt_entry(self, geometry: ResizeGeometry, space: PointSpace) -> dict[str, Any]:
        schema = _registered(self.tool).schema(self.name)
        props = schema["parameters"]["properties"]
        where = space.describe(geometry)
        for fx, fy in self.tool.point_fields:
            for key, axis in ((fx, "x (from the left edge)"), (fy, "y (from the top edge)")):
                if key in props:
                    props[key] = {"type": "number", "description": f"{axis}, in {where}"}
        return {"type": "function", "function": schema}

    def decode(self, call_args: Mapping[str, Any], geometry: ResizeGeometry, space: PointSpace) -> ActionBase:
        args = dict(call_args)
        for fx, fy in self.tool.point_fields:
            if args.get(fx) is None or args.get(fy) is None:
                missing = fx if args.get(fx) is None else fy
                raise ParseError(f"{self.name}: missing the argument {missing!r} ({space.describe(geometry)})")
            args[fx], args[fy] = space.decode(geometry, args[fx], args[fy], f"{self.name} ({fx}, {fy})")
        try:
            return _registered(self.tool).validate({**args, "action": self.name})
        except ToolValidationError as exc:
            raise ParseError(str(exc)) from None

    def encode(self, action: ActionBase, geometry: ResizeGeometry, space: PointSpace) -> str:
        args = action.model_dump(mode="json", exclude={"action"})
        for fx, fy in self.tool.point_fields:
            args[fx], args[fy] = space.encode(geometry, getattr(action, fx), getattr(action, fy))
        call = {"name": self.name, "arguments": args}
        return f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>"


class CodecTable(dict[str, ToolCodec]):
    """One dialect's codecs, tool name -> codec. Checks what goes in: a plugin's codec added at run
    time would otherwise fail only when a model first calls the tool."""

    def __setitem__(self, name: str, codec: ToolCodec) -> None:
        if not isinstance(codec, ToolCodec):
            raise TypeError(f"a codec is a ToolCodec, got {codec!r}")
        if name != codec.name:
            raise ValueError(f"the codec for {codec.name!r} cannot be filed under {name!r}")
        super().__setitem__(name, codec)

    def add(self, codec: ToolCodec) -> ToolCodec:
        self[codec.name] = codec
        return codec


def _registered(tool: type[ActionBase]) -> ToolRegistry:
    """A registry that validates ``tool``: the global one when it holds this very tool, else one of its own."""
    return REGISTRY if REGISTRY.find(action_name(tool)) is tool else ToolRegistry([tool])


__all__ = ["CodecTable", "JsonToolCallCodec", "PointSpace", "ToolCodec"]
