"""Hooks into the agent loop: observe, pause, veto or rewrite a step from a script or a debugger.

The loop calls every hook at four points of each step, all on the loop's own thread (the thread
that owns the browser or device, so a hook may read the page):

    before_decide(ctx)                     the observation is taken; nothing decided yet
    after_decide(ctx, decision)            may return another Decision (a re-ask, a hint)
    before_execute(ctx, action)            may return Replace / Skip / Stop (or None: go ahead)
    after_execute(ctx, action, result)     the action ran (or was skipped)

A hook that blocks *is* a pause: the debugger waits for the user inside before_execute. Whatever a
hook changes is recorded in the step as an Intervention beside what the model proposed, so a
corrected run is a demonstration that says which steps a person made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import EpisodeSpec, Intervention, InterventionKind, StepRecord
from pixelpilot.agent.policy import Decision
from pixelpilot.env import ActionResult, Observation
from pixelpilot.tools import ActionBase


@dataclass
class StepContext:
    """What hooks see about the step being made."""

    index: int
    spec: EpisodeSpec
    observation: Observation
    history: list[StepRecord]
    env: Any
    policy: Any
    decision: Decision | None = None
    action: ActionBase | None = None
    error: str | None = None
    interventions: list[Intervention] = field(default_factory=list)


@dataclass(frozen=True)
class Replace:
    """Run this action instead of the proposal."""

    action: ActionBase
    kind: InterventionKind = "edit"
    note: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Skip:
    """Do not run the proposal; go on to the next step."""

    note: str | None = None


@dataclass(frozen=True)
class Stop:
    """End the episode now (status "stopped")."""

    note: str | None = None


Verdict = Replace | Skip | Stop | None


class AgentHooks:
    """Base class: override what you need. Every method runs on the agent loop's thread."""

    def before_decide(self, ctx: StepContext) -> None:
        """Called after observe, before the policy is asked."""

    def after_decide(self, ctx: StepContext, decision: Decision) -> Decision | None:
        """Return a different Decision to use it instead (record why in ctx.interventions)."""
        return None

    def before_execute(self, ctx: StepContext, action: ActionBase | None) -> Verdict:
        """``action`` is the validated proposal, or None when there is none (see ctx.error)."""
        return None

    def after_execute(self, ctx: StepContext, action: ActionBase | None, result: ActionResult | None) -> None:
        """Called after the action ran (result None when nothing ran)."""

    def on_episode_end(self, status: str) -> None:
        """Called once when the episode has ended, with its status."""


class Breakpoint(BaseModel):
    """Pause when a step matches every field that is set."""

    model_config = ConfigDict(extra="forbid")

    step: int | None = Field(None, ge=1, description="pause before executing step N")
    action: str | None = Field(None, description="pause before this action type (click, type, open_app, …)")
    parse_failure: bool = Field(False, description="pause when the policy's output could not be used")
    url: str | None = Field(None, description="regular expression on the page URL")
    app: str | None = Field(None, description="regular expression on the Android package")

    def matches(self, ctx: StepContext, action: ActionBase | None) -> bool:
        if not any([self.step, self.action, self.parse_failure, self.url, self.app]):
            return False
        obs = ctx.observation
        if self.step is not None and ctx.index != self.step:
            return False
        if self.action is not None and (action is None or action.action != self.action):  # type: ignore[attr-defined]
            return False
        if self.parse_failure and ctx.error is None:
            return False
        if self.url is not None and not re.search(self.url, obs.url or ""):
            return False
        return not (self.app is not None and not re.search(self.app, obs.app or ""))

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.model_dump(exclude_defaults=True).items()]
        return " ".join(parts) or "never"


ConfirmRule = Literal["password", "off_domain", "open_app", "any_type", "navigate"]
CONFIRM_RULES: dict[str, str] = {
    "password": "typing into a password field",
    "off_domain": "navigating to a host outside the task's allowed domains (or off the current host)",
    "open_app": "opening an Android app",
    "any_type": "typing anything",
    "navigate": "any navigation",
}


def confirm_reason(rule: str, ctx: StepContext, action: ActionBase | None) -> str | None:
    """Why ``rule`` wants a confirmation before ``action`` runs, or None."""
    if action is None:
        return None
    name = action.action  # type: ignore[attr-defined]
    if rule == "password" and name == "type":
        secret = getattr(ctx.env, "focus_is_secret", None)
        if secret is not None and secret():
            return "typing into a password field"
    elif rule == "any_type" and name == "type":
        return "typing"
    elif rule == "open_app" and name == "open_app":
        return f"opening app {getattr(action, 'app', '')!r}"
    elif rule == "navigate" and name == "navigate":
        return f"navigating to {getattr(action, 'url', '')}"
    elif rule == "off_domain" and name == "navigate":
        from urllib.parse import urlparse

        from pixelpilot.env.domains import parse_host_rule, url_allowed

        url = getattr(action, "url", "")
        host = urlparse(url).hostname or ""
        allowed = ctx.spec.start.allowed_domains
        current = urlparse(ctx.observation.url or "").hostname or ""
        # the same definition of a match as the browser's guard (env/domains.py)
        ok = url_allowed([parse_host_rule(d) for d in allowed], url) if allowed else host == current
        if not ok:
            return f"navigating off the allowed domains to {host or url}"
    return None
