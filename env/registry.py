"""The env kinds by name: one entry per kind says everything the rest of pixelpilot asks about it.

An entry names the kind's config and env class (imported only when an env is built, so asking
about Android does not import adbutils), the start fields and success checks its tasks may use, and
its input modality, which is what a dialect words its prompt by ("tap" on a touch screen, "click"
with a pointer). The CLI, the task loader, the episode spec, bench's live suites and the debugger
resolve kinds here; nothing outside env/ compares an env's name with "android".

Third-party kinds arrive through the ``pixelpilot.envs`` entry-point group (env/plugins.py); they
are loaded on the first lookup, in every process that looks, so spawned bench workers and Ray
workers on other machines see them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pixelpilot.env.base import Env
    from pixelpilot.env.spec import StartSpec, SuccessCheck

#: How a person would operate the screen; dialects choose their wording from it.
InputModality = Literal["pointer", "touch"]

#: Success check types every env kind supports (Env.evaluate scores them itself).
COMMON_CHECKS = frozenset({"answer", "none"})


class UnknownEnvError(ValueError):
    """An env name no registry entry has; the message lists the known ones."""


class EnvOptions(BaseModel):
    """The env options a user gives on the command line (run, debug, bench), one set for every kind.

    Each kind's builder takes what applies to it and ignores the rest (a phone has no --headed).
    """

    model_config = ConfigDict(extra="forbid")

    headed: bool = Field(False, description="show the browser window")
    chromium: str | None = Field(None, description="Chromium binary (default: auto-detect)")
    capture: Literal["jpeg", "png"] = Field("jpeg", description="screenshot encoding")
    serial: str | None = Field(None, description="Android device serial (default: the only one)")
    display: str | None = Field(None, description="desktop: attach to this X display instead of an own Xvfb")
    allow_display_zero: bool = Field(False, description="desktop: allow --display :0 (usually your own session)")


def _load(target: str) -> Any:
    """``"package.module:Name"`` -> the object, imported now."""
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


@dataclass(frozen=True)
class EnvKindEntry:
    """One env kind: what it is called, what it is made of, and what its tasks may ask of it.

    ``env_class`` and ``config_class`` are import paths (``"pkg.mod:Name"``) or the classes
    themselves. ``build`` makes an env from the user's :class:`EnvOptions`; ``connect`` is True when
    the env must reach its device or browser before the episode (bench workers, and kinds whose
    missing device should be one clean line before any bundle); the default builder passes the
    options the user chose that are fields of the config class (a plugin's config keeps its own defaults).
    """

    name: str
    summary: str
    env_class: str | type
    config_class: str | type
    modality: InputModality
    checks: frozenset[str] = field(default_factory=frozenset)
    start_fields: frozenset[str] = field(default_factory=frozenset)
    required_start: tuple[str, ...] = ()
    build: Callable[[EnvKindEntry, EnvOptions, bool], Env] | None = None

    def env_type(self) -> type[Env]:
        return _load(self.env_class) if isinstance(self.env_class, str) else self.env_class

    def config_type(self) -> type[BaseModel]:
        return _load(self.config_class) if isinstance(self.config_class, str) else self.config_class

    @property
    def supported_checks(self) -> frozenset[str]:
        return self.checks | COMMON_CHECKS

    @property
    def supported_actions(self) -> frozenset[str]:
        return frozenset(self.env_type().supported_actions)

    def make(self, options: EnvOptions | None = None, *, connect: bool = False) -> Env:
        """A new env of this kind, configured from the user's options."""
        options = options or EnvOptions()
        if self.build is not None:
            return self.build(self, options, connect)
        config_type = self.config_type()
        chosen = options.model_dump(exclude_defaults=True)  # what the user chose; the config keeps its own defaults
        given = {k: v for k, v in chosen.items() if k in config_type.model_fields}
        return self.env_type()(config_type(**given))

    def check_task(self, start: StartSpec, success: SuccessCheck) -> None:
        """Raise ValueError (one line) when a task asks this kind for a start field or check it lacks."""
        if success.type not in self.supported_checks:
            raise ValueError(
                f"the {self.name} env has no {success.type!r} success check; "
                f"it supports: {', '.join(sorted(self.supported_checks))}"
            )
        given = {name for name, value in start if value not in (None, [], "")}
        foreign = sorted(given - self.start_fields)
        if foreign:
            raise ValueError(f"start.{foreign[0]} does not apply to the {self.name} env")


_KINDS: dict[str, EnvKindEntry] = {}


def register_env(entry: EnvKindEntry) -> EnvKindEntry:
    """Add (or replace) an env kind. Plugins call this when their entry point is loaded."""
    _KINDS[entry.name] = entry
    return entry


def env_kinds() -> dict[str, EnvKindEntry]:
    """Every registered kind by name, the built-in ones first, plugins loaded."""
    from pixelpilot.env.plugins import load_plugins

    load_plugins()
    return dict(_KINDS)


def env_kind(name: str) -> EnvKindEntry:
    """The entry for ``name``; UnknownEnvError names the known kinds."""
    kinds = env_kinds()
    try:
        return kinds[name]
    except KeyError:
        raise UnknownEnvError(f"unknown env {name!r}; known: {', '.join(kinds)}") from None


def input_modality(name: str) -> InputModality:
    """How ``name``'s screen is operated; an unregistered name (an old dataset's) reads as a pointer."""
    entry = env_kinds().get(name)
    return entry.modality if entry is not None else "pointer"


def make_env(name: str, options: EnvOptions | None = None, *, connect: bool = False) -> Env:
    return env_kind(name).make(options, connect=connect)


# --------------------------------------------------------------------------- the built-in kinds
def _build_browser(entry: EnvKindEntry, options: EnvOptions, connect: bool) -> Env:
    from pixelpilot.env.browser import BrowserConfig, BrowserEnv

    env = BrowserEnv(
        BrowserConfig(headless=not options.headed, chromium_path=options.chromium, capture_format=options.capture)
    )
    if connect:
        env._ensure_browser()  # launch now: a bench unit's time limit should not pay for the worker's start
    return env


def _build_android(entry: EnvKindEntry, options: EnvOptions, connect: bool) -> Env:
    from pixelpilot.env.android import AndroidConfig, AndroidEnv

    env = AndroidEnv(AndroidConfig(serial=options.serial))
    env.link  # noqa: B018 - connect now, so a missing device is one clean line, not a failed episode
    return env


def _build_desktop(entry: EnvKindEntry, options: EnvOptions, connect: bool) -> Env:
    try:
        from pixelpilot.env.desktop import DesktopConfig, DesktopEnv
    except ImportError as exc:  # the package is python-xlib, its module Xlib
        raise ImportError(str(exc), name="python-xlib" if exc.name == "Xlib" else exc.name) from None

    chosen = {"image_format": options.capture} if "capture" in options.model_fields_set else {}
    env = DesktopEnv(DesktopConfig(display=options.display, allow_display_zero=options.allow_display_zero, **chosen))
    env.connect()  # start (or reach) the display now: a missing Xvfb or a wrong --display is one clean line
    return env


register_env(
    EnvKindEntry(
        name="browser",
        summary="Chromium through Playwright",
        env_class="pixelpilot.env.browser:BrowserEnv",
        config_class="pixelpilot.env.browser:BrowserConfig",
        modality="pointer",
        checks=frozenset({"url", "text", "js"}),
        start_fields=frozenset({"url", "viewport", "device_scale_factor", "allowed_domains"}),
        required_start=("url",),
        build=_build_browser,
    )
)
register_env(
    EnvKindEntry(
        name="android",
        summary="an Android device or the simulated phone, over adb",
        env_class="pixelpilot.env.android:AndroidEnv",
        config_class="pixelpilot.env.android:AndroidConfig",
        modality="touch",
        checks=frozenset({"ui", "shell"}),
        start_fields=frozenset({"app", "activity", "setup", "url"}),
        build=_build_android,
    )
)
register_env(
    EnvKindEntry(
        name="desktop",
        summary="X11 applications on an own Xvfb (or --display :N), through XTest",
        env_class="pixelpilot.env.desktop:DesktopEnv",
        config_class="pixelpilot.env.desktop:DesktopConfig",
        modality="pointer",
        checks=frozenset({"shell", "file", "window"}),
        start_fields=frozenset({"command", "wait_window", "cwd", "env", "setup", "viewport", "network"}),
        build=_build_desktop,
    )
)
