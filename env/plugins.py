"""Third-party tools and env kinds, loaded from entry points in every process that needs them.

A plugin package declares, in its metadata::

    [pixelpilot.tools]
    paint = myplugin:PaintAction          # an ActionBase subclass (or a module/function that registers)
    [pixelpilot.envs]
    canvas = myplugin:CANVAS              # an EnvKindEntry (or a module/function that registers)

Why entry points and not a call in the user's script: bench workers start with ``spawn`` and Ray
workers run on other machines, where a registration made in the user's ``__main__`` never
happened. Entry points are read from the installed distributions (any ``*.dist-info`` on
``sys.path``), so every process finds the same plugins; the first env lookup loads them.

A plugin that fails to import is a :class:`PluginError` naming it in one line (the CLI exits 2).
"""

from __future__ import annotations

import inspect
import threading
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

TOOL_GROUP = "pixelpilot.tools"
ENV_GROUP = "pixelpilot.envs"

_lock = threading.RLock()
_loaded = False


class PluginError(RuntimeError):
    """A plugin's entry point that cannot be loaded or registered; the message names it."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _load(point: EntryPoint) -> Any:
    try:
        return point.load()
    except Exception as exc:  # noqa: BLE001 - whatever a plugin raises on import is reported as one line
        raise PluginError(
            f"plugin {point.name!r} ({point.value}, group {point.group}) failed to load: {_first_line(exc)}"
        ) from None


def _register_tool(point: EntryPoint, target: Any) -> None:
    from pixelpilot.tools import ActionBase, register

    if inspect.isclass(target) and issubclass(target, ActionBase):
        register(target)  # the same class twice (the module decorated it too) is fine; another under its name is not
    elif callable(target) and not isinstance(target, ModuleType):
        target()
    # a module registered its tools when it was imported


def _register_env(point: EntryPoint, target: Any) -> None:
    from pixelpilot.env.registry import EnvKindEntry, register_env

    if isinstance(target, EnvKindEntry):
        register_env(target)
    elif callable(target) and not isinstance(target, ModuleType):
        target()


def load_plugins() -> None:
    """Load every installed plugin once per process: tools first, since env kinds run them."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        _loaded = True  # set first: a plugin that looks up an env kind while loading must not recurse
        try:
            for group, register in ((TOOL_GROUP, _register_tool), (ENV_GROUP, _register_env)):
                for point in sorted(entry_points(group=group), key=lambda p: p.name):
                    target = _load(point)
                    try:
                        register(point, target)
                    except PluginError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a bad registration is the plugin's error, in one line
                        raise PluginError(
                            f"plugin {point.name!r} ({point.value}, group {point.group}) failed to register: "
                            f"{_first_line(exc)}"
                        ) from None
        except PluginError:
            _loaded = False  # asked again, it fails again with the same line
            raise
