"""ScriptedPolicy: replays a fixed list of actions, the automation-scripting use of the loop.

Scripts are JSONL (one action object per line) or YAML (a list, or a mapping with ``actions``).
An optional header ``{"coords": "css"}`` (JSONL first line, or a YAML key) says the script's
coordinates are CSS px (or ``relative``: 0..1 of the screen) instead of screenshot px, so one
script works at any device scale factor; each step is converted with that step's own geometry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.env import Observation, ScreenGeometry
from pixelpilot.tools import REGISTRY, ActionBase, ToolValidationError

CoordSpace = Literal["screenshot", "css", "relative"]


class ScriptError(ValueError):
    """A script file that cannot be used; the message names the file and line."""


class ScriptedPolicy(Policy):
    name = "scripted"

    def __init__(
        self,
        actions: Iterable[ActionBase | Mapping[str, Any]],
        *,
        coords: CoordSpace = "screenshot",
        source: str | None = None,
    ) -> None:
        self.actions: list[ActionBase] = []
        for i, item in enumerate(actions, 1):
            try:
                self.actions.append(REGISTRY.validate(item))
            except ToolValidationError as exc:
                raise ScriptError(f"{source or 'script'}: action {i}: {exc}") from None
        if coords not in ("screenshot", "css", "relative"):
            raise ScriptError(f"{source or 'script'}: coords must be screenshot, css or relative, got {coords!r}")
        self.coords: CoordSpace = coords
        self.source = source
        self._next = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedPolicy:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScriptError(f"cannot read script {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ScriptError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        coords: Any = "screenshot"
        items: list[Any] = []
        if path.suffix in (".yaml", ".yml"):
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ScriptError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
            if isinstance(data, dict):
                coords = data.get("coords", coords)
                data = data.get("actions")
            if not isinstance(data, list):
                raise ScriptError(f"{path}: expected a list of actions (or a mapping with 'actions')")
            items = data
        else:
            for lineno, line in enumerate(text.splitlines(), 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ScriptError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
                if isinstance(obj, dict) and set(obj) == {"coords"}:
                    coords = obj["coords"]
                    continue
                items.append(obj)
        return cls(items, coords=coords, source=str(path))

    def reset(self, spec: Any) -> None:
        self._next = 0

    def rewind(self) -> None:
        """Step back one action, so asking again (a debugger's re-ask) gives the same answer."""
        self._next = max(0, self._next - 1)

    def decide(self, instruction: str, observation: Observation, history: list[Any]) -> Decision:
        if self._next >= len(self.actions):
            return Decision(
                parse_error=f"script exhausted after {len(self.actions)} actions without finishing",
                metadata={"script_index": self._next},
            )
        action = self.actions[self._next]
        self._next += 1
        converted = self._to_screenshot(action, observation.geometry)
        return Decision(action=converted, metadata={"script_index": self._next - 1, "coords": self.coords})

    def _to_screenshot(self, action: ActionBase, g: ScreenGeometry) -> ActionBase:
        if self.coords == "screenshot" or not action.point_fields:
            return action
        if self.coords == "css":
            sx = sy = g.device_scale_factor
        else:
            sx, sy = float(g.width), float(g.height)
        update: dict[str, float] = {}
        for fx, fy in action.point_fields:
            update[fx] = getattr(action, fx) * sx
            update[fy] = getattr(action, fy) * sy
        if self.coords == "css" and "amount" in type(action).model_fields:
            update["amount"] = action.amount * sx  # type: ignore[attr-defined]
        return action.model_copy(update=update)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "coords": self.coords, "length": len(self.actions)}
