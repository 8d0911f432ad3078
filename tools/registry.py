"""The tool registry: the list of all tools, their JSON schemas, and validation of plain dicts into actions.

Parsed model output and scripted steps arrive as plain dicts. The registry turns them into typed
actions or raises a :class:`ToolValidationError` that names the tool and the field, so the message
can be fed back to a model (or shown to a user) and acted on.

:data:`REGISTRY` is the whole action space: the built-in tools, plus any tool added at run time with
:func:`register` (a plugin's own pydantic model). Everything that asks "which tools are there" or
"what is this tool" (validation, schema listings, overlays, the debugger, step-level scoring) asks
it, so a registered tool is picked up everywhere without an edit. Running it still takes a handler
in an env (``Env.handlers``) and, for a model to call it, a codec in a dialect (``Dialect.codecs``)::

    class Hover(ActionBase):
        \"\"\"Move the pointer over a point (menus that open on hover).\"\"\"

        point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "y"),)
        modalities: ClassVar[frozenset[Modality]] = frozenset({"pointer"})
        action: Literal["hover"] = "hover"
        x: float = Field(ge=0, description="screenshot pixels from the left edge")
        y: float = Field(ge=0, description="screenshot pixels from the top edge")

    tools.register(Hover)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from pixelpilot.tools.actions import BUILTIN_TOOLS, ActionBase


class ToolValidationError(ValueError):
    """A dict that is not a valid call of a known tool. ``tool``/``field`` say where."""

    def __init__(self, message: str, *, tool: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.field = field


class ToolRegistry:
    """A set of tools: the whole action space, or the subset an environment supports."""

    def __init__(self, tools: Iterable[type[ActionBase]] = BUILTIN_TOOLS) -> None:
        self._tools: dict[str, type[ActionBase]] = {}
        for tool in tools:
            self.add(tool)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    @property
    def tools(self) -> list[type[ActionBase]]:
        return list(self._tools.values())

    @property
    def terminal(self) -> frozenset[str]:
        """Names of the tools whose execution ends the episode."""
        return frozenset(n for n, t in self._tools.items() if t.terminal)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[type[ActionBase]]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def add(self, tool: type[ActionBase], *, replace: bool = False) -> type[ActionBase]:
        """Add a tool model; returns it, so it also works as a class decorator.

        The model must subclass :class:`ActionBase`, name itself with an ``action`` field whose default
        is its tool name (``action: Literal["hover"] = "hover"``), and name real fields in
        ``point_fields``. A second, different model under a taken name is refused unless ``replace``:
        two meanings for one name would make episode bundles ambiguous.
        """
        if not (isinstance(tool, type) and issubclass(tool, ActionBase)):
            raise TypeError(f"a tool is a subclass of ActionBase, got {tool!r}")
        field = tool.model_fields.get("action")
        name = field.default if field is not None else None
        if not isinstance(name, str) or not name:
            raise TypeError(f"{tool.__name__} needs an 'action' field whose default is its tool name")
        for pair in tool.point_fields:
            missing = [f for f in pair if f not in tool.model_fields]
            if len(pair) != 2 or missing:
                raise TypeError(f"{tool.__name__}.point_fields names {pair!r}, which are not two of its fields")
        known = self._tools.get(name)
        if known is not None and known is not tool and not replace:
            raise ValueError(f"a tool named {name!r} is already registered ({known.__module__}.{known.__qualname__})")
        self._tools[name] = tool
        return tool

    def remove(self, name: str) -> None:
        """Forget a tool (a plugin unloading, a test cleaning up); unknown names are ignored."""
        self._tools.pop(name, None)

    def find(self, name: object) -> type[ActionBase] | None:
        """The tool called ``name``, or None (for readers of recorded dicts that may hold anything)."""
        return self._tools.get(name) if isinstance(name, str) else None

    def get(self, name: str) -> type[ActionBase]:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolValidationError(
                f"unknown tool {name!r}; known tools: {', '.join(self._tools)}", tool=name
            ) from None

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        wanted = set(names)
        return ToolRegistry(t for n, t in self._tools.items() if n in wanted)

    def schema(self, name: str) -> dict[str, Any]:
        """One tool's JSON schema in the function-calling shape models are trained on."""
        cls = self.get(name)
        params = cls.model_json_schema()
        props = {k: v for k, v in params.get("properties", {}).items() if k != "action"}
        for prop in props.values():
            prop.pop("title", None)
        required = [r for r in params.get("required", []) if r != "action"]
        return {
            "name": name,
            "description": (cls.__doc__ or "").strip(),
            "parameters": {"type": "object", "properties": props, "required": required},
        }

    def schemas(self) -> list[dict[str, Any]]:
        return [self.schema(n) for n in self._tools]

    def validate(self, call: Mapping[str, Any]) -> ActionBase:
        """Turn ``{"action": NAME, ...args}`` or ``{"name": NAME, "arguments": {...}}`` into an action."""
        if isinstance(call, ActionBase):
            name = call.action  # type: ignore[attr-defined]
            self.get(name)
            return call
        if not isinstance(call, Mapping):
            raise ToolValidationError(f"a tool call must be an object, got {type(call).__name__}")
        if "action" in call:
            name = call["action"]
            args = {k: v for k, v in call.items() if k != "action"}
        elif "name" in call:
            name = call["name"]
            raw_args = call.get("arguments", {})
            if not isinstance(raw_args, Mapping):
                raise ToolValidationError(f"{name}: 'arguments' must be an object", tool=str(name))
            args = dict(raw_args)
        else:
            raise ToolValidationError("a tool call needs an 'action' (or 'name') key")
        if not isinstance(name, str):
            raise ToolValidationError(f"tool name must be a string, got {name!r}")
        cls = self.get(name)
        try:
            return cls.model_validate({**args, "action": name})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            if err["type"] == "extra_forbidden":
                msg = f"{name}: unexpected argument {field!r}"
            elif err["type"] == "missing":
                msg = f"{name}: missing argument {field!r}"
            else:
                msg = f"{name}: argument {field!r}: {err['msg']} (got {err.get('input')!r})"
            raise ToolValidationError(msg, tool=name, field=field) from None


#: The full action space: the built-in tools and those registered at run time.
REGISTRY = ToolRegistry()


def register(tool: type[ActionBase], *, replace: bool = False) -> type[ActionBase]:
    """Add a tool defined outside pixelpilot to the action space (see :meth:`ToolRegistry.add`).

    Usable as a class decorator. Registering makes the tool known to validation, schema listings,
    overlays, the debugger and scoring; an env runs it once it has a handler (``Env.handlers``), and a
    model can call it through a dialect that has a codec for it (``Dialect.codecs``).
    """
    return REGISTRY.add(tool, replace=replace)


def unregister(name: str) -> None:
    """Remove a tool registered with :func:`register`."""
    REGISTRY.remove(name)


def tool_named(name: object) -> type[ActionBase] | None:
    """The registered tool called ``name``, or None."""
    return REGISTRY.find(name)


def validate_action(call: Mapping[str, Any]) -> ActionBase:
    return REGISTRY.validate(call)
