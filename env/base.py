"""The environment contract: observe, execute, evaluate.

Expected failures (element gone, navigation blocked or timed out, unsupported action, a point off
the screen) come back as an :class:`ActionResult` with ``error`` set, so the policy sees them in the
next step. Programming errors still raise.
"""

from __future__ import annotations

import io
import re
import time
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from env.geometry import ScreenGeometry, out_of_bounds
from env.spec import AnswerCheck, Evaluation, NoCheck, StartSpec, SuccessCheck
from tools import REGISTRY, ActionBase, ToolRegistry


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


class Env(ABC):
    """An environment adapter. Use as a context manager so browsers and devices are released."""

    kind: ClassVar[str]
    supported_actions: ClassVar[frozenset[str]]

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

    @abstractmethod
    def _execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult: ...

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
