"""The offline step-level suite (AITZ / AITW style): one unit per recorded step, scored by action matching.

Live suites ask whether an episode succeeds; offline sets ask, for each recorded screen, whether the
policy proposes the recorded action given the recorded history. That isolates the decision from the
environment, is deterministic, and is how the Qwen2-VL paper reports Android-in-the-Zoo (type match,
exact match). Inputs are AITZ-style JSON (steplevel_data) or pixelpilot's own bundles; the matching
rules live in steplevel_match (``strict``) and steplevel_reference (``reference``, the published
evaluators' rules). A run is scored by one mode, which is part of its run key.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pixelpilot.agent.episode import EpisodeSpec, ObservationRecord, StepRecord, now_iso
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env import Observation, ScreenGeometry, StartSpec
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult, Worker
from pixelpilot.tasks.bench.steplevel_data import (
    StepSample,
    action_to_aitw,
    aitw_to_action,
    bundles_to_steplevel,
    read_aitz_file,
    read_bundle_samples,
    read_steplevel,
)
from pixelpilot.tasks.bench.steplevel_match import (
    FAMILY_GROUPS,
    action_group,
    match_action,
    normalize_text,
    steplevel_summary,
    tool_group,
)
from pixelpilot.tasks.bench.steplevel_reference import MATCHING_MODES, MatchingMode, describe
from pixelpilot.tools import REGISTRY, ToolValidationError

_OK_RESULT = {"ok": True, "error": None, "info": {}, "sensitive": False}


class StepScore(BaseModel):
    """One scored decision (what steplevel_summary aggregates)."""

    episode: str
    step: int
    gold_type: str
    predicted_type: str | None = None
    type_match: bool
    exact_match: bool
    parse_failure: bool
    error: str | None = None


def sample_observation(sample: StepSample) -> Observation:
    """The observation a policy sees for a sample: the image at native size, one pixel per input unit."""
    suffix = sample.image.suffix.lower()
    return Observation(
        screenshot=sample.image.read_bytes(),
        image_format="jpeg" if suffix in (".jpg", ".jpeg") else "png",
        geometry=ScreenGeometry(
            width=sample.width,
            height=sample.height,
            device_scale_factor=1.0,
            viewport_width=sample.width,
            viewport_height=sample.height,
        ),
        url=sample.url,
    )


def sample_history(sample: StepSample) -> list[StepRecord]:
    """The recorded history as the step records a policy receives in a live episode.

    Every past step executed fine. Their screenshots are not part of a step-level sample, so each
    record carries the current screen's size (the same device within an episode) and no file.
    """
    fmt = "jpeg" if sample.image.suffix.lower() in (".jpg", ".jpeg") else "png"
    return [
        StepRecord(
            index=i,
            started_at="",
            observation=ObservationRecord(
                screenshot="",
                image_format=fmt,
                width=sample.width,
                height=sample.height,
                device_scale_factor=1.0,
                viewport_width=sample.width,
                viewport_height=sample.height,
                url=sample.url,
            ),
            action=action,
            result=dict(_OK_RESULT),
        )
        for i, action in enumerate(sample.history, 1)
    ]


def sample_spec(sample: StepSample) -> EpisodeSpec:
    """An episode spec for policy.reset(): the instruction and env kind are what shape the prompt."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", sample.episode) or "episode"
    return EpisodeSpec(id=safe, instruction=sample.instruction, env=sample.env, start=StartSpec(url=sample.url))


class StepLevelOracle(Policy):
    """The oracle for harness validation: proposes exactly the gold action of the current sample.

    The worker tells it the gold before each decision; a run with it must score 100% exact, which
    checks the reader, the gold conversion and the matcher together.
    """

    name = "steplevel-oracle"

    def __init__(self) -> None:
        self.gold: dict[str, Any] | None = None

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        if self.gold is None:
            return Decision(parse_error="the step-level oracle has no gold action for this step")
        return Decision(action=dict(self.gold), raw_output=None)


def _validated(decision: Decision) -> tuple[dict[str, Any] | None, str | None]:
    """The decision's action as a validated tool call, or why there is none."""
    if decision.parse_error is not None:
        return None, decision.parse_error
    if decision.action is None:
        return None, "the policy proposed no action"
    try:
        return REGISTRY.validate(decision.action).model_dump(mode="json"), None
    except ToolValidationError as exc:
        return None, str(exc)


def default_matching(samples: Iterable[StepSample]) -> MatchingMode:
    """``reference`` for published AITZ data (the figures it is compared with were scored that way),
    ``strict`` as soon as one sample is one of pixelpilot's own episodes (a bundle, or a set made from
    bundles), whose gold actions AITW's encoding cannot always express."""
    return "strict" if any(s.origin == "pixelpilot" for s in samples) else "reference"


def score_decision(
    sample: StepSample,
    predicted: dict[str, Any] | None,
    error: str | None = None,
    mode: MatchingMode = "strict",
) -> StepScore:
    screen = (sample.width, sample.height)
    type_match, exact = match_action(
        sample.gold, predicted, screen, gold_box=sample.gold_box, mode=mode, boxes=sample.ui_boxes
    )
    return StepScore(
        episode=sample.episode,
        step=sample.step,
        gold_type=action_group(sample.gold, screen),
        predicted_type=action_group(predicted, screen) if predicted else None,
        type_match=type_match,
        exact_match=exact,
        parse_failure=predicted is None,
        error=error,
    )


class StepLevelWorker(Worker):
    """Scores units with one policy, built once. Holds the samples it may be asked about."""

    def __init__(
        self,
        samples: Callable[[], dict[str, StepSample]],
        policy: Policy,
        *,
        index: int = 0,
        run_key: str = "",
        matching: MatchingMode = "strict",
    ) -> None:
        #: Looks samples up for units that arrive without one in their payload (loaded on first need).
        self.samples = samples
        self.policy = policy
        self.index = index
        #: The runner may set this so results carry their run's key.
        self.run_key = run_key
        #: The matching mode every unit is scored by (the suite's; part of the run key).
        self.matching: MatchingMode = matching

    def close(self) -> None:
        """Release the model (a local backend holds weights; a served one, a connection)."""
        self.policy.close()

    def decide(self, sample: StepSample) -> tuple[dict[str, Any] | None, str | None, Decision]:
        """Ask the policy about one sample; (validated action or None, error, raw decision)."""
        self.policy.reset(sample_spec(sample))
        if isinstance(self.policy, StepLevelOracle):
            self.policy.gold = sample.gold
        decision = self.policy.decide(sample.instruction, sample_observation(sample), sample_history(sample))
        predicted, error = _validated(decision)
        return predicted, error, decision

    def run(self, unit: Unit, out_dir: Path) -> UnitResult:
        t0 = time.monotonic()
        if "sample" in unit.payload:
            sample = StepSample.model_validate(unit.payload["sample"])
        else:
            found = self.samples().get(unit.task)
            if found is None:
                raise SuiteError(f"steplevel: no sample {unit.task!r} in this set")
            sample = found
        predicted, error, decision = self.decide(sample)
        score = score_decision(sample, predicted, error, self.matching)
        metrics: dict[str, float] = {
            "type_match": float(score.type_match),
            "exact_match": float(score.exact_match),
            "parse_failure": float(score.parse_failure),
        }
        for key in ("parse_failures", "visual_tokens", "prompt_tokens", "completion_tokens"):
            value = decision.metadata.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[key] = float(value)
        return UnitResult(
            run_key=self.run_key,
            suite=StepLevelSuite.name,
            task=unit.task,
            seed=unit.seed,
            status="scored",
            success=score.exact_match,
            reward=float(score.exact_match),
            steps=1,
            metrics=metrics,
            fields={
                "episode": sample.episode,
                "step": str(sample.step),
                "gold_type": score.gold_type,
                "predicted_type": score.predicted_type or "none",
            },
            error=" ".join((error or "").split())[:300] or None,
            elapsed_s=round(time.monotonic() - t0, 3),
            worker=self.index,
            finished_at=now_iso(),
        )


class StepLevelSuite(Suite):
    """Step-level offline evaluation over an AITZ-style set or a folder of pixelpilot bundles."""

    name = "steplevel"
    kind = "offline"

    def __init__(self, path: Path | str, matching: str | None = None) -> None:
        """``matching``: ``reference`` or ``strict``; None picks by the data (default_matching)."""
        if matching is not None and matching not in MATCHING_MODES:
            raise SuiteError(f"--matching {matching!r}: unknown matching mode; known: {', '.join(MATCHING_MODES)}")
        self.path = Path(path)
        self._samples: dict[str, StepSample] | None = None
        self._matching: MatchingMode | None = matching  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:  # pickled to workers: send the path, not the loaded samples
        return {"path": self.path, "_samples": None, "_matching": self.matching}

    @property
    def matching(self) -> MatchingMode:
        """The mode this run is scored by: the one asked for, else the data's default (reads the set once)."""
        if self._matching is None:
            self._matching = default_matching(self.samples().values())
        return self._matching

    def samples(self) -> dict[str, StepSample]:
        if self._samples is None:
            self._samples = {s.id: s for s in read_steplevel(self.path)}
        return self._samples

    def tasks(self) -> list[str]:
        return list(self.samples())

    def units(self, tasks: list[str], seeds: int) -> list[Unit]:
        known = self.samples()
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise SuiteError(f"steplevel: unknown step id {unknown[0]!r} (ids are <episode>-<step>)")
        # offline: one decision per step, seeds do not apply; the sample travels with its unit
        return [Unit(task=t, payload={"sample": known[t].model_dump(mode="json")}) for t in tasks]

    def open_worker(self, index: int, policy_spec: PolicySpec | Policy | None) -> StepLevelWorker:
        """A worker with its own policy: built from the spec, the oracle for kind "oracle" (or None)."""
        if policy_spec is None or (isinstance(policy_spec, PolicySpec) and policy_spec.kind == "oracle"):
            policy: Policy = StepLevelOracle()
        elif isinstance(policy_spec, Policy):
            policy = policy_spec
        else:
            policy = policy_spec.build()
        return StepLevelWorker(self.samples, policy, index=index, matching=self.matching)

    def summarize(self, results: list[UnitResult]) -> dict[str, Any] | None:
        return {"matching": self.matching, "matching_rules": describe(self.matching), **steplevel_summary(results)}

    def settings(self) -> dict[str, Any]:
        """What makes two runs' scores comparable: the set, its annotations, and the matching mode."""
        return {"set": str(self.path.resolve()), "digest": set_digest(self.path), "matching": self.matching}

    def describe_run(self) -> dict[str, Any]:
        samples = self.samples().values()
        per_type: dict[str, int] = {}
        for s in samples:
            group = action_group(s.gold, (s.width, s.height))
            per_type[group] = per_type.get(group, 0) + 1
        episodes = {s.episode for s in samples}
        return {**self.settings(), "steps": len(samples), "episodes": len(episodes), "per_gold_type": per_type}


def set_digest(path: Path) -> str:
    """A short hash of the annotations (episode JSON, steps.jsonl), so results on an edited set never mix."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl"))
    for file in files:
        h.update(str(file.relative_to(path) if file != path else file.name).encode())
        h.update(file.read_bytes())
    return h.hexdigest()[:16]


def evaluate_bundle(policy: Policy, bundle: Path | str, matching: MatchingMode = "strict") -> list[StepScore]:
    """Re-ask ``policy`` on a recorded bundle through the Qwen2-VL policy's replay hook and score each step.

    The steps scored are those a step-level set made from the bundle would hold (executed without
    error, not masked); replay supplies the history exactly as recorded, failed steps included.
    """
    from pixelpilot.agent.qwen.policy import replay

    bundle = Path(bundle)
    samples = {s.step + 1: s for s in read_bundle_samples(bundle)}
    scores: list[StepScore] = []
    for pair in replay(policy, bundle):
        sample = samples.get(pair.step)
        if sample is None or pair.gold is None:
            continue
        scores.append(score_decision(sample, pair.predicted, pair.parse_error, matching))
    return scores


__all__ = [
    "FAMILY_GROUPS",
    "MATCHING_MODES",
    "StepLevelOracle",
    "StepLevelSuite",
    "StepLevelWorker",
    "StepSample",
    "StepScore",
    "action_group",
    "action_to_aitw",
    "aitw_to_action",
    "bundles_to_steplevel",
    "default_matching",
    "evaluate_bundle",
    "match_action",
    "normalize_text",
    "read_aitz_file",
    "read_bundle_samples",
    "read_steplevel",
    "sample_history",
    "sample_observation",
    "set_digest",
    "steplevel_summary",
    "tool_group",
]
