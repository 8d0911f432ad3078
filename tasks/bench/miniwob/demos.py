"""MiniWoB demonstrations for training: the DOM oracle with secrets kept and, on a share of episodes, a miss.

Two things the ordinary ``bench miniwob --policy oracle`` run cannot give a training set:

- **Secrets kept.** MiniWoB's passwords are synthetic (the task invents them per seed), but typing into a
  password field is masked in every bundle, and the dataset builder rightly drops masked steps. A model
  trained on such bundles never sees an enter-password or login-user typing step. :class:`DemoSuite`
  records with ``record_secrets`` on, for MiniWoB only; nothing real is ever typed there.
- **A history that contains a miss.** Oracle episodes never go wrong, so a model trained on them has
  never seen a history with a wrong click and answers garbage after its first miss. On a chosen share of
  episodes :class:`MissingOracle` makes one deliberate wrong click (far from the oracle's target, inside
  the task area) before the oracle continues. The miss itself is marked in the step's policy metadata
  (``injected_miss``) so the recipe drops it as a training target; the steps after it become rows whose
  history holds the miss. Episodes the miss ruined are failures, which the builder leaves out.

Which episodes miss, and where, is a pure function of the task, the seed's instruction and the share,
so a resumed or repeated run makes the same demonstrations.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from pixelpilot.agent.episode import EpisodeSpec, StepRecord
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env import Observation
from pixelpilot.tasks.bench.contract import SuiteError, Worker
from pixelpilot.tasks.bench.miniwob.oracle import MiniWobOracle
from pixelpilot.tasks.bench.miniwob.suite import MiniWobSuite, _MiniWobWorker

#: The key in a step's policy metadata that marks a deliberate wrong click (never a training target).
MISS_KEY = "injected_miss"
#: A miss lands at least this far (CSS px) from the oracle's point, so it does not hit the same element.
MISS_DISTANCE_CSS = 40.0


def miss_plan(task: str, instruction: str, share: float) -> int | None:
    """The step (1-based) from which this episode misses (on the first click from there), or None:
    deterministic in task and instruction.

    The miss comes on step 1 or 2 so that both a first-step miss and one in the middle of a sequence
    appear (tasks with one step only miss on step 1: a later plan never comes)."""
    digest = hashlib.sha256(f"{task}\n{instruction}".encode()).digest()
    if int.from_bytes(digest[:4], "big") / 2**32 >= share:
        return None
    return 1 + digest[4] % 2


class MissingOracle(MiniWobOracle):
    """The MiniWoB oracle, with one deliberate wrong click on a chosen share of episodes."""

    name = "miniwob-oracle-miss"

    def __init__(self, env: Any, share: float, *, always_first: bool = False) -> None:
        super().__init__(env)
        self.share = share
        self.always_first = always_first
        self._miss_at: int | None = None
        self._rng = random.Random(0)

    def reset(self, spec: EpisodeSpec) -> None:
        super().reset(spec)
        self._miss_at = 1 if self.always_first else miss_plan(self.task, spec.instruction, self.share)
        self._rng = random.Random(f"{self.task}\n{spec.instruction}")

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        decision = super().decide(instruction, observation, history)
        step = len(history) + 1
        action = decision.action if isinstance(decision.action, dict) else None
        # the miss is a click: a planned step that types waits for the next step that clicks
        if self._miss_at is None or step < self._miss_at or action is None or "x" not in action:
            return decision
        self._miss_at = None
        point = self._wrong_point(observation, float(action["x"]), float(action["y"]))
        if point is None:
            return decision
        miss = {"action": "click", "x": point[0], "y": point[1]}
        return Decision(action=miss, raw_output=None, metadata={**decision.metadata, MISS_KEY: True})

    def _wrong_point(self, observation: Observation, x: float, y: float) -> tuple[int, int] | None:
        """A point in the screenshot at least MISS_DISTANCE_CSS from (x, y); None if 50 draws find none."""
        geometry = observation.geometry
        far = MISS_DISTANCE_CSS * geometry.device_scale_factor
        for _ in range(50):
            px = self._rng.randrange(geometry.width)
            py = self._rng.randrange(geometry.height)
            if (px - x) ** 2 + (py - y) ** 2 >= far**2:
                return px, py
        return None


class DemoSuite(MiniWobSuite):
    """``miniwob`` for the oracle, recording typed secrets and injecting misses on ``miss_share`` of episodes.

    Its settings name both, so a run of it never resumes into (or compares with) an ordinary bench run."""

    def __init__(self, *, miss_share: float = 0.0, **options: Any) -> None:
        if not 0.0 <= miss_share <= 1.0:
            raise SuiteError(f"miss_share must be in [0, 1], got {miss_share:g}")
        super().__init__(**options)
        self.miss_share = miss_share

    def check_tasks(self, tasks: list[str], policy: PolicySpec) -> None:
        if policy.kind != "oracle":
            raise SuiteError("demonstrations are recorded with the oracle policy")
        super().check_tasks(tasks, policy)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "record_secrets": True, "miss_share": self.miss_share}

    def describe_run(self) -> dict[str, Any]:
        return {**super().describe_run(), "record_secrets": True, "miss_share": self.miss_share}

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        return _DemoWorker(self, policy_spec)


class _DemoWorker(_MiniWobWorker):
    def __init__(self, suite: DemoSuite, policy_spec: PolicySpec) -> None:
        super().__init__(suite, policy_spec)
        self.agent.close()
        oracle = MissingOracle(self.env, suite.miss_share)
        config = AgentConfig(write_report=suite.reports, final_screenshot=False, record_secrets=True)
        self.policy = oracle
        self.agent = Agent(self.env, oracle, config)
        self.agent.hooks.append(oracle.hook())


class MissThenPolicy(Policy):
    """A recovery check: step 1 is a deliberate wrong click (MissingOracle), every later step ``policy``'s.

    What a model does after its own first miss cannot be measured on the episodes where it happens not to
    miss; forcing the miss makes every episode one that starts from a history with a miss in it."""

    name = "miss-then-policy"

    def __init__(self, oracle: MissingOracle, policy: Policy) -> None:
        self.oracle = oracle
        self.policy = policy

    def reset(self, spec: EpisodeSpec) -> None:
        self.oracle.reset(spec)
        self.policy.reset(spec)

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        if not history:
            return self.oracle.decide(instruction, observation, history)
        return self.policy.decide(instruction, observation, history)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "then": self.policy.describe()}

    def close(self) -> None:
        self.policy.close()


class RecoverySuite(MiniWobSuite):
    """``miniwob`` for a model whose every episode starts with one deliberate wrong click (MissThenPolicy)."""

    def check_tasks(self, tasks: list[str], policy: PolicySpec) -> None:
        if policy.kind == "oracle":
            raise SuiteError("the recovery check measures a model, not the oracle")
        super().check_tasks(tasks, policy)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "first_step": "injected miss"}

    def describe_run(self) -> dict[str, Any]:
        return {**super().describe_run(), "first_step": "injected miss"}

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        return _RecoveryWorker(self, policy_spec)


class _RecoveryWorker(_MiniWobWorker):
    def __init__(self, suite: RecoverySuite, policy_spec: PolicySpec) -> None:
        super().__init__(suite, policy_spec)
        self.agent.close()
        oracle = MissingOracle(self.env, 1.0, always_first=True)
        self.policy = MissThenPolicy(oracle, self.policy)
        config = AgentConfig(write_report=suite.reports, final_screenshot=False)
        self.agent = Agent(self.env, self.policy, config)
        self.agent.hooks.append(oracle.hook())
