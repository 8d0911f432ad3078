"""MiniWobOracle: a reference policy that reads the DOM. An oracle, not an agent.

It exists to prove the harness right (seeding, action execution in screenshot pixels, scoring):
if the oracle does not reach ~100% through the full loop, the harness is wrong, not a model. It
also records demonstrations (bundles) for training. It sees the page, which a real agent does not,
and is named and recorded as an oracle everywhere so its numbers are never mistaken for a model's.

The DOM is read on the agent loop's thread (``prepare``, run by the hook from ``hook()``) because
the browser driver belongs to that thread; ``decide`` only converts the prepared CSS-pixel answer
into screenshot pixels of the observation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelpilot.agent.episode import EpisodeSpec, StepRecord
from pixelpilot.agent.hooks import AgentHooks, StepContext
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.env import Observation
from pixelpilot.tasks.bench.miniwob.env import MiniWobEnv

_SCRIPT = (Path(__file__).parent / "oracle.js").read_text()

#: The task families the oracle claims; ``pixelpilot bench miniwob --policy oracle`` defaults to these.
SUPPORTED_TASKS: tuple[str, ...] = (
    "click-button",
    "click-button-sequence",
    "click-checkboxes",
    "click-checkboxes-large",
    "click-checkboxes-transfer",
    "click-collapsible",
    "click-collapsible-nodelay",
    "click-dialog",
    "click-dialog-2",
    "click-link",
    "click-option",
    "click-tab",
    "click-tab-2",
    "click-tab-2-easy",
    "click-tab-2-hard",
    "click-tab-2-medium",
    "click-test",
    "click-test-2",
    "click-test-transfer",
    "click-widget",
    "enter-password",
    "enter-text",
    "enter-text-2",
    "enter-text-dynamic",
    "focus-text",
    "focus-text-2",
    "login-user",
)


class MiniWobOracle(Policy):
    """Clicks and types what the DOM says is right, in screenshot pixels like any other policy."""

    name = "miniwob-oracle"

    def __init__(self, env: MiniWobEnv) -> None:
        self.env = env
        self.task = ""
        self._next: dict[str, Any] | None = None

    def reset(self, spec: EpisodeSpec) -> None:
        self.task = spec.id.split("#", 1)[0]
        self._next = None

    def prepare(self, observation: Observation, history: list[StepRecord]) -> None:
        """Read the DOM for the next action (runs on the loop's thread)."""
        try:
            area = self.env.capture_area
            size = {"width": area.width, "height": area.height} if area else {"width": 1e9, "height": 1e9}
            self._next = self.env.page.evaluate(_SCRIPT, [self.task, size])
        except Exception as exc:  # noqa: BLE001 - a page error becomes this step's parse error
            self._next = {"unsupported": f"oracle could not read the page: {str(exc).splitlines()[0]}"}

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        plan, self._next = self._next, None
        if plan is None:
            return Decision(parse_error="the oracle was not prepared (add MiniWobOracle.hook() to Agent.hooks)")
        if "unsupported" in plan:
            return Decision(parse_error=str(plan["unsupported"]), metadata={"oracle": plan})
        action = dict(plan)
        if "x" in action:
            dsf = observation.geometry.device_scale_factor
            w, h = observation.geometry.width, observation.geometry.height
            # CSS px -> screenshot px, kept inside the image (the centre of a cut-off element)
            action["x"] = min(max(int(action["x"] * dsf), 0), w - 1)
            action["y"] = min(max(int(action["y"] * dsf), 0), h - 1)
        return Decision(action=action, raw_output=None, metadata={"oracle": plan})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "oracle", "reads": "DOM"}

    def hook(self) -> AgentHooks:
        """The hook that reads the page before each decision (add it to Agent.hooks)."""
        return _PrepareHook(self)


class _PrepareHook(AgentHooks):
    def __init__(self, oracle: MiniWobOracle) -> None:
        self.oracle = oracle

    def before_decide(self, ctx: StepContext) -> None:
        self.oracle.prepare(ctx.observation, ctx.history)
