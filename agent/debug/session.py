"""The debugger's brain: pauses the agent loop, takes commands, keeps what the user changed.

A DebugSession is transport-free: the web UI (server.py) and the terminal step mode (repl.py) both
send it commands and listen to its state. It plugs into the loop as hooks (agent/hooks.py) and
pauses inside ``before_execute`` on the loop's own thread, so re-asking the policy or reading the
page happens where the browser driver lives. Commands arrive from other threads through a queue.

Everything a person changes (an edited action, a click on the screenshot, a skipped step, a hint,
a re-ask) goes into the step's ``interventions`` beside what the policy proposed, so the bundle of
a debugging session is a corrected demonstration.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import Intervention, StepRecord
from pixelpilot.agent.hooks import (
    CONFIRM_RULES,
    AgentHooks,
    Breakpoint,
    Replace,
    Skip,
    StepContext,
    Stop,
    Verdict,
    confirm_reason,
)
from pixelpilot.agent.overlay import action_svg
from pixelpilot.agent.policy import Decision
from pixelpilot.agent.qwen.zoom import zoom_lines, zoom_svg
from pixelpilot.agent.secrets import SecretSet
from pixelpilot.tools import REGISTRY, ActionBase, ToolValidationError, tool_named


class CommandError(ValueError):
    """A command that cannot apply now (bad JSON action, nothing to step, unknown command)."""


class Proposal(BaseModel):
    """The action waiting to run, and where it came from."""

    model_config = ConfigDict(extra="forbid")

    action: dict[str, Any] | None = None
    raw_output: str | None = None
    error: str | None = None
    source: str = Field("policy", description="policy, reask, hint, edit or click")
    metadata: dict[str, Any] = Field(default_factory=dict)


class DebugSession:
    """State + command queue shared by the loop's thread (hooks) and the UI's thread(s)."""

    def __init__(
        self,
        *,
        breakpoints: list[Breakpoint] | None = None,
        confirm: list[str] | None = None,
        start_paused: bool = True,
    ) -> None:
        unknown = [c for c in confirm or [] if c not in CONFIRM_RULES]
        if unknown:
            raise ValueError(f"unknown confirm-before rule {unknown[0]!r}; known: {', '.join(CONFIRM_RULES)}")
        self.breakpoints = list(breakpoints or [])
        self.confirm = list(confirm or [])
        self.mode = "step" if start_paused else "run"
        self.status = "starting"  # starting | paused | running | done
        self.pause_reason: str | None = None
        self.proposal: Proposal | None = None
        self.ctx: StepContext | None = None
        self.steps: list[dict[str, Any]] = []
        self.episode: dict[str, Any] = {}
        self.result: dict[str, Any] | None = None
        self.bundle: Path | None = None
        self.version = 0
        self._commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop_requested = False
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._lock = threading.RLock()
        self.hooks = _DebugHooks(self)
        #: What the state passes through (the loop adds typed passwords to it as they happen).
        self.secrets = SecretSet()
        self._pending = False  # a proposal whose step has not been recorded yet

    # ------------------------------------------------------------------ observers
    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _publish(self) -> None:
        with self._lock:
            self.version += 1
            state = self.state()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(state)
            except Exception as exc:  # noqa: BLE001 - a dead UI connection must not stop the agent
                logger.debug("debug listener failed: {}", exc)

    def state(self) -> dict[str, Any]:
        """Everything the UI shows, JSON-ready."""
        with self._lock:
            ctx, p = self.ctx, self.proposal
            obs = ctx.observation if ctx else None
            geometry = obs.geometry if obs else None
            metadata = dict((p.metadata if p else {}) or {})
            attempts = metadata.get("attempts") or []
            if attempts and isinstance(attempts[-1], dict):
                for key in ("visual_tokens", "text_tokens", "prompt_tokens"):
                    metadata.setdefault(key, attempts[-1].get(key))
            state = {
                "version": self.version,
                "status": self.status,
                "mode": self.mode,
                "pause_reason": self.pause_reason,
                "step": ctx.index if ctx else None,
                "episode": self.episode,
                "bundle": str(self.bundle) if self.bundle else None,
                "screenshot": {
                    "url": f"/api/current/screenshot?v={self.version}",
                    "width": geometry.width,
                    "height": geometry.height,
                    "device_scale_factor": geometry.device_scale_factor,
                    "page_url": obs.url,
                    "app": obs.app,
                }
                if geometry and obs
                else None,
                "proposal": p.model_dump() if p else None,
                "prompt": {
                    k: metadata.get(k)
                    for k in (
                        "messages",
                        "geometry",
                        "image_grid_thw",
                        "visual_tokens",
                        "text_tokens",
                        "prompt_tokens",
                        "dialect",
                        "zoom",
                    )
                    if k in metadata
                },
                "zoom": zoom_lines(metadata.get("zoom")),
                "steps": list(self.steps),
                "breakpoints": [b.model_dump(exclude_defaults=True) for b in self.breakpoints],
                "confirm": list(self.confirm),
                "confirm_rules": CONFIRM_RULES,
                "result": self.result,
            }
            state = self.secrets.mask(state)
            if state["screenshot"] is not None:
                state["screenshot"]["url"] = f"/api/current/screenshot?v={self.version}"
            if p is not None and self._pending:
                # the step waiting to run shows its action as is, so an edit runs what it says; once
                # it has run, only its masked record is served
                state["proposal"]["action"] = p.action
            shown = state["proposal"]["action"] if p else None
            state["overlay"] = action_svg(shown, geometry.width, geometry.height) if p and geometry else ""
            if p and geometry:
                state["overlay"] += zoom_svg(metadata.get("zoom"), geometry.width, geometry.height)
            return state

    # ------------------------------------------------------------------ commands (any thread)
    def command(self, cmd: dict[str, Any]) -> None:
        """Queue a command; raise CommandError at once for what cannot apply (the UI shows it)."""
        name = cmd.get("cmd")
        if name in ("set_breakpoints", "set_confirm"):
            self._configure(cmd)
            return
        if name == "pause":
            with self._lock:
                self.mode = "step"
            self._publish()
            return
        if name == "stop" and self.status != "paused":
            self._stop_requested = True
            with self._lock:
                self.mode = "step"
            return
        if name not in ("step", "continue", "skip", "stop", "reask", "edit", "click"):
            raise CommandError(f"unknown command {name!r}")
        if self.status != "paused":
            raise CommandError(f"the agent is {self.status}, not paused")
        if name == "edit":
            cmd = {**cmd, "action": self._validated(cmd.get("action"))}
        elif name == "click":
            cmd = {**cmd, "action": self._clicked(cmd)}
        elif name in ("step", "continue") and (self.proposal is None or self.proposal.action is None):
            raise CommandError("there is no valid action to run: edit it, click on the screenshot, re-ask or skip")
        if name == "continue":
            # The mode changes here, in the order commands arrive, not when the loop's thread takes the
            # command off the queue: a Pause sent right after Continue must win, never be undone by it.
            with self._lock:
                self.mode = "run"
            self._commands.put(cmd)
            self._publish()
            return
        self._commands.put(cmd)

    def _configure(self, cmd: dict[str, Any]) -> None:
        if cmd["cmd"] == "set_breakpoints":
            try:
                points = [Breakpoint.model_validate(b) for b in cmd.get("breakpoints") or []]
            except ValueError as exc:
                raise CommandError(f"bad breakpoint: {str(exc).splitlines()[0]}") from None
            with self._lock:
                self.breakpoints = points
        else:
            rules = list(cmd.get("confirm") or [])
            unknown = [r for r in rules if r not in CONFIRM_RULES]
            if unknown:
                raise CommandError(f"unknown confirm-before rule {unknown[0]!r}; known: {', '.join(CONFIRM_RULES)}")
            with self._lock:
                self.confirm = rules
        self._publish()

    def _validated(self, action: Any) -> dict[str, Any]:
        if isinstance(action, str):
            import json

            try:
                action = json.loads(action)
            except ValueError as exc:
                raise CommandError(f"the action is not JSON: {exc}") from None
        if not isinstance(action, dict):
            raise CommandError('the action must be a JSON object like {"action": "click", "x": 10, "y": 20}')
        try:
            parsed = REGISTRY.validate(action)
        except ToolValidationError as exc:
            raise CommandError(str(exc)) from None
        self._check_bounds(parsed)
        return parsed.model_dump(mode="json")

    def _check_bounds(self, action: ActionBase) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        g = ctx.observation.geometry
        for x, y in action.points():
            if not (0 <= x < g.width and 0 <= y < g.height):
                raise CommandError(f"({x:g}, {y:g}) is outside the {g.width}x{g.height} screenshot")

    def _clicked(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Click-to-act: the proposal with its coordinates moved to where the user clicked (or dragged)."""
        try:
            x, y = float(cmd["x"]), float(cmd["y"])
        except (KeyError, TypeError, ValueError):
            raise CommandError("click-to-act needs numeric x and y in screenshot pixels") from None
        x2, y2 = cmd.get("x2"), cmd.get("y2")
        current = dict(self.proposal.action) if self.proposal and self.proposal.action else {}
        name = current.get("action")
        tool = tool_named(name)
        pairs = tool.point_fields if tool is not None else ()  # one pair: a point action; two: a path
        if x2 is not None and y2 is not None:
            kind = name if len(pairs) == 2 else ("swipe" if self._on_touch_screen() else "drag")
            path = pairs if len(pairs) == 2 else REGISTRY.get(kind).point_fields
            action = {**(current if name == kind else {}), "action": kind}
            (sx, sy), (ex, ey) = path
            action.update({sx: x, sy: y, ex: float(x2), ey: float(y2)})
        elif len(pairs) == 1:
            (fx, fy) = pairs[0]
            action = {**current, fx: x, fy: y}
        else:
            action = {"action": "click", "x": x, "y": y}
        return self._validated(action)

    def _on_touch_screen(self) -> bool:
        """A dragged path is a swipe on a touch screen and a drag under a pointer (env/registry.py's modality)."""
        from pixelpilot.env.registry import input_modality

        return bool(self.ctx and input_modality(getattr(self.ctx.env, "kind", "")) == "touch")

    # ------------------------------------------------------------------ the loop's side
    def begin_step(self, ctx: StepContext, action: ActionBase | None) -> None:
        decision = ctx.decision or Decision()
        with self._lock:
            self.ctx, self._pending = ctx, True
            self.proposal = Proposal(
                action=action.model_dump(mode="json") if action is not None else None,
                raw_output=decision.raw_output,
                error=ctx.error,
                metadata=decision.metadata,
            )

    def pause_reason_for(self, ctx: StepContext, action: ActionBase | None) -> str | None:
        if self._stop_requested:
            return "stop requested"
        reasons = [f"confirm: {r}" for rule in self.confirm if (r := confirm_reason(rule, ctx, action))]
        reasons += [f"breakpoint {b.describe()}" for b in self.breakpoints if b.matches(ctx, action)]
        if reasons:
            return "; ".join(reasons)
        return "stepping" if self.mode == "step" else None

    def wait(self, ctx: StepContext, reason: str) -> Verdict:
        """Pause until a command decides this step. Runs on the loop's thread."""
        if self._stop_requested:
            return Stop(note="stopped from the debugger")
        with self._lock:
            self.status, self.pause_reason = "paused", reason
            original = self.proposal.model_copy() if self.proposal else None
        self._publish()
        try:
            while True:
                cmd = self._commands.get()
                name = cmd["cmd"]
                if name in ("step", "continue"):
                    return self._verdict(original)  # a continue already set the mode (see command)
                if name == "skip":
                    return Skip(note=cmd.get("note"))
                if name == "stop":
                    return Stop(note=cmd.get("note") or "stopped from the debugger")
                if name in ("edit", "click"):
                    with self._lock:
                        previous = self.proposal
                        self.proposal = Proposal(
                            action=cmd["action"],
                            source=name,
                            raw_output=previous.raw_output if previous else None,
                            metadata=previous.metadata if previous else {},
                        )
                    self._publish()
                    if cmd.get("run"):
                        return self._verdict(original)
                elif name == "reask":
                    self._reask(ctx, cmd)
                    self._publish()
        finally:
            with self._lock:
                self.status, self.pause_reason = "running", None
            self._publish()

    def _verdict(self, original: Proposal | None) -> Verdict:
        p = self.proposal
        if p is None or p.action is None:
            return Skip(note="nothing valid to run")
        if original is not None and p.source == "policy":
            return None  # approved as proposed
        action = REGISTRY.validate(p.action)
        if p.source in ("reask", "hint"):
            # the re-ask itself is already recorded; this records that its answer was run
            return Replace(action=action, kind="approve", note=f"ran the {p.source} proposal")
        return Replace(action=action, kind="click" if p.source == "click" else "edit")

    def _reask(self, ctx: StepContext, cmd: dict[str, Any]) -> None:
        """Ask the policy again on the frozen screenshot, optionally sampling or with a hint."""
        hint = (cmd.get("hint") or "").strip() or None
        policy = ctx.policy
        before = self.proposal
        instruction = ctx.spec.instruction
        if hint and hasattr(policy, "next_hint"):
            policy.next_hint = hint
        elif hint:
            instruction = f"{instruction}\nHint: {hint}"
        rewind = getattr(policy, "rewind", None)
        if callable(rewind):
            rewind()
        t0 = time.perf_counter()
        with _sampling(policy, bool(cmd.get("sample")), float(cmd.get("temperature") or 1.0)):
            try:
                decision = policy.decide(instruction, ctx.observation, list(ctx.history))
            except Exception as exc:  # noqa: BLE001 - a policy bug is shown, not raised
                decision = Decision(parse_error=f"policy raised {type(exc).__name__}: {exc}")
        action: dict[str, Any] | None = None
        error = decision.parse_error
        if decision.action is not None and error is None:
            try:
                action = REGISTRY.validate(decision.action).model_dump(mode="json")
            except ToolValidationError as exc:
                error = str(exc)
        source = "hint" if hint else "reask"
        ctx.interventions.append(
            Intervention(
                kind=source,  # type: ignore[arg-type]
                proposed=before.action if before else None,
                proposed_raw=before.raw_output if before else None,
                proposed_error=before.error if before else None,
                hint=hint,
                note=f"sample={bool(cmd.get('sample'))} {1000 * (time.perf_counter() - t0):.0f} ms",
            )
        )
        with self._lock:
            self.proposal = Proposal(
                action=action, raw_output=decision.raw_output, error=error, source=source, metadata=decision.metadata
            )

    def record_step(self, step: StepRecord) -> None:
        """Keep the step for the timeline; ``step`` is the record as written (masked)."""
        with self._lock:
            self._pending = False
            self.steps.append(
                {
                    "index": step.index,
                    "action": step.action,
                    "error": step.error,
                    "error_kind": step.error_kind,
                    "screenshot": step.observation.screenshot,
                    "url": step.observation.url,
                    "interventions": [i.model_dump(exclude_none=True) for i in step.interventions],
                    "raw_output": step.raw_output,
                    "zoom": zoom_lines(step.policy.get("zoom")),
                    "timings_ms": step.timings_ms,
                    "width": step.observation.width,
                    "height": step.observation.height,
                    "overlay": action_svg(step.action, step.observation.width, step.observation.height)
                    + zoom_svg(step.policy.get("zoom"), step.observation.width, step.observation.height),
                }
            )
        self._publish()

    def finish(self, result: dict[str, Any]) -> None:
        with self._lock:
            self.status, self.result, self.pause_reason = "done", result, None
            # nothing waits to run any more: a proposal left over (the step a Stop ended) must not
            # stay drawn on the screenshot as if it were about to happen
            self.proposal, self._pending = None, False
        self._publish()


class _DebugHooks(AgentHooks):
    def __init__(self, session: DebugSession) -> None:
        self.session = session

    def before_decide(self, ctx: StepContext) -> None:
        s = self.session
        with s._lock:
            s.ctx, s.proposal = ctx, None
            if s.status == "starting":
                s.status = "running"

    def before_execute(self, ctx: StepContext, action: ActionBase | None) -> Verdict:
        s = self.session
        s.begin_step(ctx, action)
        reason = s.pause_reason_for(ctx, action)
        if reason is None:
            s._publish()
            return None
        return s.wait(ctx, reason)

    def on_episode_end(self, status: str) -> None:
        with self.session._lock:
            self.session.status = "done"


@contextlib.contextmanager
def _sampling(policy: Any, sample: bool, temperature: float) -> Iterator[None]:
    """Temporarily switch a Qwen policy to sampling (other policies are left as they are)."""
    config = getattr(policy, "config", None)
    sampling = getattr(config, "sampling", None)
    if not sample or sampling is None:
        yield
        return
    original = config
    policy.config = config.model_copy(
        update={
            "sampling": sampling.model_copy(
                update={"do_sample": True, "temperature": temperature, "seed": random.randrange(2**31)}
            )
        }
    )
    try:
        yield
    finally:
        policy.config = original
