"""The agent loop: observe -> decide -> validate -> execute -> record, until the episode ends.

The loop is the contract keeper: whatever a policy returns (garbage, exceptions, silence) becomes a
recorded step with an error, the error is visible to the next decision, and only N consecutive
failures end the episode. The bundle is written as the episode runs; an exception inside the loop
closes it with status "aborted" and re-raises, leaving every finished step on disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import (
    SECRET_MASK,
    EpisodeRecord,
    EpisodeRecorder,
    EpisodeSpec,
    EpisodeStatus,
    Intervention,
    ObservationRecord,
    StepRecord,
    new_bundle_dir,
    now_iso,
)
from pixelpilot.agent.hooks import AgentHooks, Replace, Skip, StepContext, Stop
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.secrets import MIN_TYPED_LENGTH, SecretSet
from pixelpilot.env import ActionResult, Env, EnvError, Evaluation, Observation
from pixelpilot.tools import REGISTRY, ActionBase, Answer, Finish, ToolValidationError


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out_dir: Path = Field(Path("runs"), description="bundles are created under this folder")
    max_consecutive_failures: int = Field(3, ge=1, description="failed steps in a row that end the episode")
    step_time_limit_s: float = Field(120.0, gt=0, description="cap on one decision")
    record_secrets: bool = Field(False, description="keep text typed into password fields")
    write_report: bool = True
    final_screenshot: bool = Field(
        True, description="capture the screen once more after the episode (off where the env's end screen says nothing)"
    )


class EpisodeResult(BaseModel):
    """What ``Agent.run`` returns."""

    status: EpisodeStatus
    success: bool
    reward: float
    steps: int
    bundle: Path
    answer: str | None = None
    detail: str | None = None
    error: str | None = None
    reason: str | None = Field(None, description="why the episode ended as it did, in words")

    @property
    def outcome(self) -> str:
        return "success" if self.success else "failure"


def framework_version() -> str:
    try:
        from importlib.metadata import version

        return version("pixelpilot")
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0+unknown"


class Agent:
    """Runs episodes of one policy in one environment."""

    def __init__(self, env: Env, policy: Policy, config: AgentConfig | None = None) -> None:
        self.env = env
        self.policy = policy
        self.config = config or AgentConfig()
        self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="decide")
        #: Called with each StepRecord right after it is written (the CLI prints a line per step).
        self.on_step: Callable[[StepRecord], None] | None = None
        #: Hooks called at each step on the loop's own thread (see agent/hooks.py): a debugger, a
        #: script that vetoes or rewrites actions, an oracle that reads the live page before deciding.
        self.hooks: list[AgentHooks] = []
        #: The running (or last) episode's secrets: what every record passes through before it is written.
        self.secrets = SecretSet(masking=not self.config.record_secrets)

    def run(
        self, spec: EpisodeSpec, *, bundle_dir: Path | None = None, secrets: SecretSet | None = None
    ) -> EpisodeResult:
        """Run one episode into a bundle.

        ``secrets``: a caller that shows the episode while it runs (the debugger) passes the set it masks
        with, so the passwords typed reach it as they happen; by default a new one. The spec's declared
        secrets are read first (SecretError, a ValueError, before anything is written when one cannot be).
        """
        secrets = secrets if secrets is not None else SecretSet(masking=not self.config.record_secrets)
        self.secrets = secrets.declare(spec)
        bundle = bundle_dir or new_bundle_dir(self.config.out_dir, spec.id)
        recorder = EpisodeRecorder(bundle)
        recorder.start(
            EpisodeRecord(
                id=bundle.name,
                task=secrets.mask(spec.model_dump(mode="json")),
                policy=secrets.mask(self.policy.describe()),
                env={"kind": self.env.kind},
                config=self.config.model_dump(mode="json"),
                started_at=now_iso(),
                framework_version=framework_version(),
            )
        )
        logger.info("episode {} -> {}", spec.id, bundle)
        try:
            outcome = self._run(_filled(spec, secrets), recorder)
        except BaseException as exc:
            error = secrets.mask_text(f"{type(exc).__name__}: {exc}")
            recorder.finish(status="aborted", success=False, reward=0.0, error=error, reason=f"aborted by {error}")
            self._report(bundle)
            self._episode_end("aborted")
            raise
        record = recorder.finish(**secrets.mask(outcome))
        self._episode_end(record.status)
        self._report(bundle)
        return EpisodeResult(
            status=record.status,
            success=bool(record.success),
            reward=record.reward or 0.0,
            steps=record.steps,
            bundle=bundle,
            answer=record.answer,
            detail=record.detail,
            error=record.error,
            reason=record.reason,
        )

    def _episode_end(self, status: str) -> None:
        for hook in self.hooks:
            try:
                hook.on_episode_end(status)
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not change the outcome
                logger.warning("hook {} failed at episode end: {}", type(hook).__name__, exc)

    def _report(self, bundle: Path) -> None:
        if not self.config.write_report:
            return
        from pixelpilot.agent.report import write_report

        try:
            write_report(bundle)
        except Exception as exc:  # noqa: BLE001 - a report bug must not lose the episode's result
            logger.warning("report for {} failed: {}", bundle, exc)

    # ------------------------------------------------------------------ the loop
    def _run(self, spec: EpisodeSpec, recorder: EpisodeRecorder) -> dict[str, Any]:
        try:
            self.env.reset(spec.start, artifacts_dir=recorder.dir)
        except EnvError as exc:
            return {
                "status": "env_error",
                "success": False,
                "reward": 0.0,
                "error": str(exc),
                "reason": f"the environment could not start: {_clip(str(exc), 500)}",
            }
        assert recorder.record is not None
        recorder.record.env = self.secrets.mask(self.env.info())
        self.policy.reset(spec)
        history: list[StepRecord] = []
        status: EpisodeStatus = "max_steps"
        failures = 0
        answer: str | None = None
        declared: str | None = None
        deadline = time.monotonic() + spec.time_limit_s
        for index in range(1, spec.max_steps + 1):
            if time.monotonic() >= deadline:
                status = "time_limit"
                break
            try:
                step, action, result, stop = self._step(index, spec, recorder, history, deadline)
            except EnvError as exc:
                return {
                    "status": "env_error",
                    "success": False,
                    "reward": 0.0,
                    "error": str(exc),
                    "reason": f"the environment failed at step {index}: {_clip(str(exc), 500)}",
                    "steps": len(history),
                }
            history.append(step)
            failures = failures + 1 if step.error else 0
            if stop:
                status = "stopped"
                break
            if action is not None and self.env.episode_over():
                status = "finished"
                break
            if action is not None and result is not None and result.ok and action.terminal:
                if isinstance(action, Answer):
                    answer = action.text
                elif isinstance(action, Finish):
                    declared = action.status
                status = "finished"
                break
            if failures >= self.config.max_consecutive_failures:
                status = "error"
                break
        evaluation = self.env.evaluate(spec.success, answer=answer, declared=declared)
        if self.config.final_screenshot:
            try:
                recorder.save_screenshot(self.env.observe(), "final")
            except EnvError as exc:
                logger.debug("no final screenshot: {}", exc)
        last_error = next((s.error for s in reversed(history) if s.error), None)
        return {
            "status": status,
            "success": evaluation.success,
            "reward": evaluation.reward,
            "detail": evaluation.detail,
            "answer": answer,
            "error": last_error if status == "error" else None,
            "reason": outcome_reason(status, evaluation, history, spec, self.config.max_consecutive_failures),
        }

    def _step(
        self, index: int, spec: EpisodeSpec, recorder: EpisodeRecorder, history: list[StepRecord], deadline: float
    ) -> tuple[StepRecord, ActionBase | None, ActionResult | None, bool]:
        started = now_iso()
        t0 = time.perf_counter()
        obs = self.env.observe()
        ctx = StepContext(index=index, spec=spec, observation=obs, history=history, env=self.env, policy=self.policy)
        for hook in self.hooks:
            hook.before_decide(ctx)
        t1 = time.perf_counter()
        decision, timeout = self._decide(spec.instruction, obs, history, deadline)
        for hook in self.hooks:
            decision = hook.after_decide(ctx, decision) or decision
        ctx.decision = decision
        t_decided = time.perf_counter()

        action: ActionBase | None = None
        result: ActionResult | None = None
        error: str | None = None
        kind: str | None = None
        proposed: Any = None
        if timeout:
            error, kind = decision.parse_error, "timeout"
        elif decision.parse_error:
            error, kind = decision.parse_error, "parse"
        elif decision.action is None:
            error, kind = "the policy proposed no action", "policy"
        else:
            try:
                action = REGISTRY.validate(decision.action)
            except ToolValidationError as exc:
                error, kind = str(exc), "validation"
                proposed = _jsonable(decision.action)
        ctx.action, ctx.error = action, error
        verdict = next((v for hook in self.hooks if (v := hook.before_execute(ctx, action)) is not None), None)
        stop = False
        if verdict is not None:
            before = {
                "proposed": action.model_dump(mode="json") if action is not None else _as_dict(proposed),
                "proposed_raw": decision.raw_output,
                "proposed_error": error,
            }
            if isinstance(verdict, Replace):
                ctx.interventions.append(
                    Intervention(kind=verdict.kind, note=verdict.note, hint=verdict.hint, **before)
                )
                action, error, kind, proposed = verdict.action, None, None, None
            elif isinstance(verdict, Skip):
                ctx.interventions.append(Intervention(kind="skip", note=verdict.note, **before))
                action, error, kind = None, None, None
            elif isinstance(verdict, Stop):
                ctx.interventions.append(Intervention(kind="stop", note=verdict.note, **before))
                action, error, kind, stop = None, None, None, True
        t2 = time.perf_counter()  # a pause inside a hook is nobody's latency
        typed: str | None = None
        if action is not None:
            run_action = _with_secret_values(action, self.secrets)
            typed = getattr(run_action, "text", None) if run_action.action == "type" else None  # type: ignore[attr-defined]
            result = self.env.execute(run_action, obs.geometry)
            if not result.ok:
                error, kind = result.error, "execution"
        for hook in self.hooks:
            hook.after_execute(ctx, action, result)
        t3 = time.perf_counter()

        shot = recorder.save_screenshot(obs, f"step_{index:04d}")
        step = StepRecord(
            index=index,
            started_at=started,
            observation=ObservationRecord.of(obs, shot),
            raw_output=decision.raw_output,
            action=action.model_dump(mode="json") if action else None,
            proposed=proposed,
            error=error,
            error_kind=kind,  # type: ignore[arg-type]
            result=result.model_dump(mode="json") if result else None,
            policy=decision.metadata,
            timings_ms={"capture": _ms(t1 - t0), "decide": _ms(t_decided - t1), "execute": _ms(t3 - t2)},
            interventions=ctx.interventions,
        )
        if result is not None and result.sensitive and not self.config.record_secrets:
            step = _mask_typed_secret(step, typed or "", self.secrets)
        step = _mask_step(step, self.secrets)
        step.timings_ms["record"] = _ms(time.perf_counter() - t3)
        recorder.write_step(step)
        if self.on_step is not None:
            self.on_step(step)
        logger.debug("step {} {} {}", index, step.action, step.error or "")
        return step, action, result, stop

    def _decide(
        self, instruction: str, obs: Observation, history: list[StepRecord], deadline: float
    ) -> tuple[Decision, bool]:
        """Ask the policy, bounded by the step limit; exceptions become parse errors, not crashes."""
        limit = max(0.001, min(self.config.step_time_limit_s, deadline - time.monotonic()))
        future = self._executor.submit(self.policy.decide, instruction, obs, list(history))
        try:
            decision = future.result(timeout=limit)
        except cf.TimeoutError:
            # The stuck call keeps its thread; later steps get a fresh one.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="decide")
            return Decision(parse_error=f"the policy did not answer within {limit:.1f}s"), True
        except Exception as exc:  # noqa: BLE001 - a policy bug is recorded, the loop goes on
            logger.opt(exception=exc).debug("policy raised")
            return Decision(parse_error=f"policy raised {type(exc).__name__}: {exc}"), False
        if not isinstance(decision, Decision):
            return Decision(parse_error=f"policy returned {type(decision).__name__}, not a Decision"), False
        return decision, False

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def outcome_reason(
    status: EpisodeStatus, evaluation: Evaluation, history: list[StepRecord], spec: EpisodeSpec, max_failures: int
) -> str:
    """Why an episode that ran ended as it did, in words.

    A status name (max_steps, error) tells a program what happened; a person reading the last line
    of a run needs the limit that was reached, the check's verdict and how often the model's output
    could not be read, or "failure (error, 3 steps)" leaves them guessing.
    """
    parts: list[str] = []
    last_error = next((s.error for s in reversed(history) if s.error), None)
    if status == "max_steps":
        parts.append(f"reached the step limit ({spec.max_steps} steps)")
    elif status == "time_limit":
        parts.append(f"reached the time limit ({spec.time_limit_s:g} s)")
    elif status == "error":
        parts.append(f"{max_failures} failed steps in a row, the last: {_clip(last_error or 'unknown error')}")
    elif status == "stopped":
        stop = next((i for s in reversed(history) for i in s.interventions if i.kind == "stop"), None)
        who = "the user" if stop is None or stop.by == "user" else stop.by
        parts.append(f"stopped by {who}" + (f" ({_clip(stop.note)})" if stop is not None and stop.note else ""))
    verdict = "passed" if evaluation.success else "failed"
    parts.append(f"success check {verdict}" + (f": {_clip(evaluation.detail)}" if evaluation.detail else ""))
    parse_failures = sum(_parse_failures(s) for s in history)
    if parse_failures:
        parts.append(f"{parse_failures} parse failure{'' if parse_failures == 1 else 's'}")
    return "; ".join(parts)


def _parse_failures(step: StepRecord) -> int:
    """Outputs of this step that could not be parsed, re-asks included (as the bench report counts them)."""
    attempts = step.policy.get("attempts") if isinstance(step.policy, dict) else None
    if isinstance(attempts, list) and attempts:
        return sum(1 for a in attempts if isinstance(a, dict) and a.get("parse_error"))
    return int(step.error_kind == "parse")


def _clip(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    return None if value is None else {"value": value}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _filled(spec: EpisodeSpec, secrets: SecretSet) -> EpisodeSpec:
    """The spec the env and the policy get: ``{secret:NAME}`` in the instruction and start URL replaced
    by the values (the bundle records the spec as written, masked)."""
    url = spec.start.url
    start = spec.start.model_copy(update={"url": secrets.fill(url)}) if url else spec.start
    return spec.model_copy(update={"instruction": secrets.fill(spec.instruction), "start": start})


def _with_secret_values(action: ActionBase, secrets: SecretSet) -> ActionBase:
    """The action as it runs: a ``type`` of ``{secret:NAME}`` types the value (recorded as written)."""
    text = getattr(action, "text", None)
    if action.action != "type" or not isinstance(text, str):  # type: ignore[attr-defined]
        return action
    filled = secrets.fill(text)
    return action if filled == text else action.model_copy(update={"text": filled})


def _mask_typed_secret(step: StepRecord, typed: str, secrets: SecretSet) -> StepRecord:
    """A step that typed into a password field: what was typed, and what anyone proposed to type there
    (the model, an edit, a re-ask), is a secret: masked in this step whatever its length, and in every
    later record from MIN_TYPED_LENGTH characters on."""
    texts = [typed, str((step.action or {}).get("text") or "")]
    texts += [str(i.proposed.get("text") or "") for i in step.interventions if _proposes_typing(i.proposed)]
    here = SecretSet()
    for text in texts:
        here.add(text)
        secrets.add(text, min_length=MIN_TYPED_LENGTH)
    interventions = [
        i.model_copy(update={"proposed": {**i.proposed, "text": SECRET_MASK}})
        if i.proposed is not None and _proposes_typing(i.proposed)
        else i
        for i in step.interventions
    ]
    step = step.model_copy(
        update={"action": {**(step.action or {}), "text": SECRET_MASK}, "interventions": interventions, "masked": True}
    )
    return here.mask(step)


def _proposes_typing(proposed: dict[str, Any] | None) -> bool:
    return isinstance(proposed, dict) and proposed.get("action") == "type"


def _mask_step(step: StepRecord, secrets: SecretSet) -> StepRecord:
    """``step`` with every known secret masked; ``masked`` is set when its action was (a declared secret
    typed into an ordinary field), so the step is no training example."""
    masked = secrets.mask(step)
    if masked is not step and masked.action != step.action:
        masked = masked.model_copy(update={"masked": True})
    return masked
