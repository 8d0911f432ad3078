"""The tool registry: JSON schemas for prompts, and validation of plain dicts into actions.

Parsed model output and scripted steps arrive as plain dicts. The registry turns them into typed
actions or raises a :class:`ToolValidationError` that names the tool and the field, so the message
can be fed back to a model (or shown to a user) and acted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from tools.actions import ALL_ACTIONS, ActionBase, action_name


class ToolValidationError(ValueError):
    """A dict that is not a valid call of a known tool. ``tool``/``field`` say where."""

    def __init__(self, message: str, *, tool: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.field = field


class ToolRegistry:
    """A set of tools: the whole action space, or the subset an environment supports."""

    def __init__(self, tools: Iterable[type[ActionBase]] = ALL_ACTIONS) -> None:
        self._tools: dict[str, type[ActionBase]] = {action_name(t): t for t in tools}

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

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


#: The full action space.
REGISTRY = ToolRegistry()


def validate_action(call: Mapping[str, Any]) -> ActionBase:
    return REGISTRY.validate(call)
