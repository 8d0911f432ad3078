"""QwenPolicy: a Qwen2-VL-family model as a pixelpilot Policy.

decide() builds the prompt (one builder for every backend), asks the backend, parses the text
with the dialect, and on a ParseError re-asks with the error appended, at most ``max_repairs``
times. Everything sent and received is returned as metadata, so each step in the bundle holds the
exact messages, resize geometry, token counts, sampling settings, model id and dialect.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import EpisodeSpec, StepRecord, read_bundle
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.qwen.backends.base import Backend, BackendError, ModelResponse, SamplingConfig
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.dialects.base import Dialect, EnvKind, ParseError, TruncatedOutputError
from pixelpilot.agent.qwen.env_inputs import EnvInputsTable, prompt_for_env
from pixelpilot.agent.qwen.prompt import (
    PROMPT_VERSION,
    PromptConfig,
    build_request,
    messages_for_record,
    repair_messages,
)
from pixelpilot.env import Observation
from pixelpilot.tools import REGISTRY, ActionBase


class QwenPolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: PromptConfig = Field(default_factory=PromptConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    max_repairs: int = Field(2, ge=0, description="re-asks after a parse error within one step")
    env_inputs: EnvInputsTable = Field(
        default_factory=dict, description="pixel limits per env kind, replacing the prompt's (agent/qwen/env_inputs.py)"
    )


def _adopt_backend_factor(config: QwenPolicyConfig, backend: Backend) -> QwenPolicyConfig:
    """A backend that knows its model's resize factor (a local processor) supplies it when the caller left
    ``PromptConfig.resize_factor`` unset: a policy built in Python over a Qwen3-VL folder then resizes to
    multiples of 32 instead of failing every step. A factor the caller chose is kept, and a local backend
    refuses a wrong one with one line."""
    factor = getattr(backend, "resize_factor", None)
    if not isinstance(factor, int) or "resize_factor" in config.prompt.model_fields_set:
        return config
    if factor == config.prompt.resize_factor:
        return config
    prompt = config.prompt.model_copy(update={"resize_factor": factor})
    prompt.model_fields_set.add("resize_factor")
    return config.model_copy(update={"prompt": prompt})


class QwenPolicy(Policy):
    name = "qwen"

    def __init__(
        self,
        backend: Backend,
        dialect: Dialect | str,
        config: QwenPolicyConfig | None = None,
        *,
        env: EnvKind = "browser",
    ) -> None:
        self.backend = backend
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        self.config = _adopt_backend_factor(config or QwenPolicyConfig(), backend)
        self.env: EnvKind = env
        self._past: deque[Observation] = deque(maxlen=max(1, self.config.prompt.history_images))
        #: Set by callers (e.g. a debugger's re-ask) for the next decision only.
        self.next_hint: str | None = None

    def reset(self, spec: EpisodeSpec) -> None:
        self.env = spec.env
        self._past.clear()

    def decide(
        self,
        instruction: str,
        observation: Observation,
        history: list[StepRecord],
        *,
        prompt: PromptConfig | None = None,
        remember: bool = True,
    ) -> Decision:
        """``prompt``: this call's prompt settings instead of the policy's, and ``remember=False``: its
        image is no past screenshot (zoom's two passes, agent/qwen/zoom.py)."""
        hint, self.next_hint = self.next_hint, None
        request = build_request(
            dialect=self.dialect,
            env=self.env,
            instruction=instruction,
            observation=observation,
            history=history,
            past_observations=list(self._past),
            config=prompt or prompt_for_env(self.config.prompt, self.config.env_inputs, self.env),
            sampling=self.config.sampling,
            hint=hint,
        )
        if self.config.prompt.history_images and remember:
            self._past.append(observation)
        geometry = request.images[-1].geometry
        self.dialect.pointer = observation.pointer  # type: ignore[attr-defined] # a cookbook drag starts there
        meta: dict[str, Any] = {
            "dialect": self.dialect.name,
            "prompt_version": PROMPT_VERSION,
            **self.backend.describe(),
            "sampling": self.config.sampling.model_dump(),
            "geometry": geometry.model_dump(),
            "image_grid_thw": list(geometry.image_grid_thw),
            "messages": messages_for_record(request),
            "attempts": [],
        }
        raw = ""
        error: str | None = None
        for attempt in range(self.config.max_repairs + 1):
            t0 = time.perf_counter()
            try:
                response = self.backend.generate(request)
            except BackendError as exc:
                meta["attempts"].append({"error": str(exc), "ms": _ms(t0)})
                return Decision(raw_output=raw or None, parse_error=f"model call failed: {exc}", metadata=meta)
            raw = response.text
            record = _response_record(response)
            at_limit = response.finish_reason == "length"
            try:
                parsed = self.dialect.parse(raw, geometry, self.env, at_token_limit=at_limit)
            except ParseError as exc:
                error = str(exc)
                if at_limit:
                    error = f"output cut off at the token limit ({request.sampling.max_new_tokens} tokens): {error}"
                record["parse_error"] = error
                if attempt < self.config.max_repairs:
                    cut_off = at_limit or isinstance(exc, TruncatedOutputError)
                    request = repair_messages(request, raw, error, cut_off=cut_off)
                    record["repair_prompt"] = request.messages[-1]["content"][0]["text"]
                meta["attempts"].append(record)
                continue
            meta["attempts"].append(record)
            meta.update(
                {
                    "repairs": attempt,
                    "parse_failures": attempt,
                    "call": parsed.call,
                    "extra_calls": parsed.extra_calls,
                    "thought": parsed.thought,
                    **{
                        k: record.get(k) for k in ("visual_tokens", "text_tokens", "prompt_tokens", "completion_tokens")
                    },
                }
            )
            return Decision(action=parsed.action, raw_output=raw, metadata=meta)
        meta.update({"repairs": self.config.max_repairs, "parse_failures": self.config.max_repairs + 1})
        return Decision(raw_output=raw, parse_error=error, metadata=meta)

    def close(self) -> None:
        self.backend.close()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dialect": self.dialect.name,
            "prompt_version": PROMPT_VERSION,
            **self.backend.describe(),
            "config": self.config.model_dump(),
        }


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def _response_record(response: ModelResponse) -> dict[str, Any]:
    return response.model_dump(exclude_none=True)


class ReplayPair(BaseModel):
    """One recorded step re-asked: what was executed (gold) and what the policy proposes now."""

    step: int
    gold: dict[str, Any] | None
    predicted: dict[str, Any] | None
    raw_output: str | None
    parse_error: str | None
    screen: tuple[int, int]


def replay(policy: Policy, bundle: Path | str) -> list[ReplayPair]:
    """Re-ask ``policy`` on each recorded screenshot of ``bundle`` with the recorded history.

    The step-level benchmarks build their metrics on these (gold, predicted) pairs.
    """
    bundle = Path(bundle)
    record, steps = read_bundle(bundle)
    spec = EpisodeSpec.model_validate(record.task)
    policy.reset(spec)
    pairs: list[ReplayPair] = []
    for i, step in enumerate(steps):
        obs = step.observation.to_observation(bundle)
        decision = policy.decide(spec.instruction, obs, steps[:i])
        predicted: ActionBase | None = None
        error = decision.parse_error
        if decision.action is not None and error is None:
            try:
                predicted = REGISTRY.validate(decision.action)
            except ValueError as exc:
                error = str(exc)
        pairs.append(
            ReplayPair(
                step=step.index,
                gold=step.action,
                predicted=predicted.model_dump(mode="json") if predicted else None,
                raw_output=decision.raw_output,
                parse_error=error,
                screen=(obs.geometry.width, obs.geometry.height),
            )
        )
    return pairs
