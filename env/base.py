"""The environment contract: observe, execute, evaluate; and the handler table that runs tools.

Expected failures (element gone, navigation blocked or timed out, unsupported action, a point off
the screen) come back as an :class:`ActionResult` with ``error`` set, so the policy sees them in the
next step. Programming errors still raise.

Each env class has a handler table, ``handlers``, keyed by tool model: its supported tools *are* the
table's keys, so a tool cannot be advertised without a way to run it. Handlers are written in the
class body with :func:`handles`, or added from outside at run time (a plugin's tool)::

    @BrowserEnv.register_handler(Hover)
    def hover(env: BrowserEnv, action: Hover, geometry: ScreenGeometry) -> ActionResult | None:
        env.page.mouse.move(*geometry.to_input(action.x, action.y))
        return None  # None: ActionResult() (done, nothing to report)

    # or, equivalently: BrowserEnv.handlers[Hover] = hover

A subclass inherits its bases' handlers (looked up along the MRO at call time, so a handler added to
``BrowserEnv`` later also serves ``MiniWobEnv``) and may override one in its own table.
"""

from __future__ import annotations

import io
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, TypeVar

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.env.geometry import ScreenGeometry, out_of_bounds
from pixelpilot.env.spec import AnswerCheck, Evaluation, NoCheck, StartSpec, SuccessCheck
from pixelpilot.tools import REGISTRY, ActionBase, Answer, Finish, ToolRegistry, action_name


class EnvError(RuntimeError):
    """The environment cannot go on (browser died, device gone, start page unreachable)."""


class Observation(BaseModel):
    """What the agent sees: the native-resolution screenshot and where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    screenshot: bytes = Field(repr=False, exclude=True, description="encoded image, never resized")
    image_format: Literal["jpeg", "png"]
    geometry: ScreenGeometry
    url: str | None = None
    title: str | None = None
    app: str | None = None
    pointer: tuple[float, float] | None = Field(None, description="pointer position in screenshot px, if it has one")
    window: dict[str, Any] | None = Field(None, description="the active window (desktop): title, class, pid, bounds")
    captured_at: float = Field(default_factory=time.time)

    @cached_property
    def image(self) -> Image.Image:
        """Decoded screenshot; decoded at most once, only for consumers that need pixels."""
        img = Image.open(io.BytesIO(self.screenshot))
        img.load()
        return img

    def metadata(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class BlockedRequest(BaseModel):
    """A request the task's allowed domains stopped (see docs/SECURITY.md)."""

    url: str = Field(description="the URL, or host:port where only a tunnel request showed where it was going")
    kind: str = Field(description="navigation, iframe, image, script, fetch, ping, websocket, connect, …")
    initiator: str | None = Field(
        None, description="the document, redirect or worker that asked for it; None when only the proxy saw it"
    )
    stopped_by: Literal["route", "proxy"] = Field(
        description="route: cancelled before it left the browser; proxy: refused by the filtering proxy"
    )
    at: float = Field(default_factory=time.time)


class ActionResult(BaseModel):
    """Outcome of executing one action."""

    ok: bool = True
    error: str | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    sensitive: bool = Field(False, description="the action typed into a secret (password) field")
    blocked: list[BlockedRequest] = Field(
        default_factory=list, description="requests the allowed domains stopped since the previous action"
    )

    @classmethod
    def failure(cls, error: str, **info: Any) -> ActionResult:
        return cls(ok=False, error=error, info=info)


#: Runs one tool on an env: ``handler(env, action, geometry)``. None means ``ActionResult()``.
ActionHandler = Callable[[Any, Any, ScreenGeometry], "ActionResult | None"]
_F = TypeVar("_F", bound=Callable[..., Any])


def handles(*tools: type[ActionBase]) -> Callable[[_F], _F]:
    """Mark a method of an env class as the handler of ``tools``; the class's table collects it.

    ``@handles(Click, DoubleClick)`` above ``def _click(self, action, geometry)`` in the class body.
    From outside a class body, use ``SomeEnv.register_handler(tool)`` or ``SomeEnv.handlers[tool] = fn``.
    """

    def mark(fn: _F) -> _F:
        fn.__pp_handles__ = (*getattr(fn, "__pp_handles__", ()), *tools)  # type: ignore[attr-defined]
        return fn

    return mark


class HandlerTable(dict[type[ActionBase], ActionHandler]):
    """One env class's own handlers, tool model -> handler. Checks what goes in, since a handler
    added at run time by a plugin fails far from where it was added otherwise."""

    def __setitem__(self, tool: type[ActionBase], handler: ActionHandler) -> None:
        if not (isinstance(tool, type) and issubclass(tool, ActionBase)):
            raise TypeError(f"handlers are keyed by tool model (an ActionBase subclass), got {tool!r}")
        if not callable(handler):
            raise TypeError(f"the handler for {action_name(tool)!r} is not callable: {handler!r}")
        super().__setitem__(tool, handler)


class _SupportedActions:
    """``Env.supported_actions``: the names of the tools in the handler tables along the MRO, read at
    access time so a handler registered later counts. A subclass may still assign a plain frozenset
    (an env that overrides ``_execute`` and delegates, for instance)."""

    def __get__(self, env: Env | None, owner: type[Env]) -> frozenset[str]:
        return frozenset(action_name(tool) for tool in owner.handler_table())


class Env(ABC):
    """An environment adapter. Use as a context manager so browsers and devices are released."""

    kind: ClassVar[str]
    #: This class's own handlers (see the module docstring); bases' handlers apply too.
    handlers: ClassVar[HandlerTable] = HandlerTable()
    supported_actions: ClassVar[frozenset[str]] = _SupportedActions()  # type: ignore[assignment]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._collect_handlers()

    @classmethod
    def _collect_handlers(cls) -> None:
        """A fresh table for the class, holding the methods its body marked with :func:`handles`."""
        table = HandlerTable()
        for value in cls.__dict__.values():
            for tool in getattr(value, "__pp_handles__", ()):
                table[tool] = value
        cls.handlers = table

    @classmethod
    def register_handler(cls, *tools: type[ActionBase]) -> Callable[[_F], _F]:
        """Register the decorated function as this env's handler of ``tools``, now (plugins).

        The function takes ``(env, action, geometry)`` and returns an ActionResult or None."""

        def register(fn: _F) -> _F:
            for tool in tools:
                cls.handlers[tool] = fn
            return fn

        return register

    @classmethod
    def handler_table(cls) -> dict[type[ActionBase], ActionHandler]:
        """Every handler this class runs, its own overriding its bases'."""
        table: dict[type[ActionBase], ActionHandler] = {}
        for klass in reversed(cls.__mro__):
            table.update(klass.__dict__.get("handlers", {}))
        return table

    @classmethod
    def handler_for(cls, tool: type[ActionBase]) -> ActionHandler | None:
        for klass in cls.__mro__:
            handler = klass.__dict__.get("handlers", {}).get(tool)
            if handler is not None:
                return handler
        return None

    @property
    def tools(self) -> ToolRegistry:
        """The tools this env can execute, for prompts and validation."""
        return REGISTRY.subset(self.supported_actions)

    @abstractmethod
    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        """Start a fresh episode at ``start``. Raises EnvError if it cannot."""

    @abstractmethod
    def observe(self) -> Observation: ...

    def execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        """Run an action decided on a screenshot of ``geometry``; never raises for expected failures."""
        name = action.action  # type: ignore[attr-defined]
        if name not in self.supported_actions:
            return ActionResult.failure(
                f"{name} is not supported by the {self.kind} environment; "
                f"supported: {', '.join(sorted(self.supported_actions))}"
            )
        if (why := out_of_bounds(action, geometry)) is not None:
            return ActionResult.failure(why)
        return self._execute(action, geometry)

    def _execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        """Run a supported, in-bounds action; envs wrap this in their settling and error handling."""
        return self.run_handler(action, geometry)

    def run_handler(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        """Call the action's handler from the table."""
        handler = self.handler_for(type(action))
        if handler is None:  # supported_actions assigned by hand, without a handler: a programming error
            raise NotImplementedError(f"{type(self).__name__} has no handler for {action_name(type(action))!r}")
        return handler(self, action, geometry) or ActionResult()

    @handles(Answer, Finish)
    def _end(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult | None:
        """Ending the episode is the loop's business; every env accepts it."""
        return None

    def evaluate(self, check: SuccessCheck, *, answer: str | None, declared: str | None) -> Evaluation:
        """Score the episode's end state. ``declared`` is the agent's finish status, if any."""
        if isinstance(check, NoCheck):
            ok = declared == "success" or (declared is None and answer is not None)
            return Evaluation(success=ok, reward=float(ok), detail=f"agent declared {declared or 'nothing'}")
        if isinstance(check, AnswerCheck):
            ok = answer is not None and re.search(check.pattern, answer) is not None
            return Evaluation(success=ok, reward=float(ok), detail=f"answer {answer!r} vs /{check.pattern}/")
        return self._evaluate(check)

    @abstractmethod
    def _evaluate(self, check: SuccessCheck) -> Evaluation: ...

    def focus_is_secret(self) -> bool:
        """True when text typed now would go into a password field (asked before typing, e.g. by a
        debugger's confirm-before rule; the env masks such text after typing either way)."""
        return False

    def episode_over(self) -> bool:
        """True when the environment itself ended the episode (e.g. a MiniWoB task that scored).

        The agent loop asks after each executed action and stops with status "finished".
        """
        return False

    def info(self) -> dict[str, Any]:
        """Facts about the env for the episode record (versions, screen, config)."""
        return {"kind": self.kind}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release browsers/devices. Safe to call twice."""

    def __enter__(self) -> Env:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


Env._collect_handlers()  # Env's own (answer, finish); subclasses collect theirs on definition
