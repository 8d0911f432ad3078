"""The Policy contract: given the task, the current observation and the history, propose one action.

A policy never needs to raise for bad model output: it returns a Decision whose ``parse_error``
says what was wrong, and the loop records it and feeds it back. Anything it does raise is caught by
the loop and recorded the same way; nothing a policy returns can end the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.env import Observation
from pixelpilot.tools import ActionBase

if TYPE_CHECKING:
    from pixelpilot.agent.episode import EpisodeSpec, StepRecord


class Decision(BaseModel):
    """What a policy proposes for one step."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    action: ActionBase | Mapping[str, Any] | None = Field(
        None, description="a typed action, or a plain dict the loop validates against the tool registry"
    )
    raw_output: str | None = Field(None, description="the model's text, verbatim")
    parse_error: str | None = None
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="anything needed to reproduce the decision (prompt, geometry, tokens)"
    )


class Policy(ABC):
    """Decides actions. Implementations: ScriptedPolicy here, the Qwen2-VL policies in agent/qwen."""

    #: Short identifier recorded in episode.json (e.g. 'scripted', 'qwen2-vl-local').
    name: str = "policy"

    def reset(self, spec: EpisodeSpec) -> None:  # noqa: B027 - optional hook
        """Called once at the start of each episode."""

    @abstractmethod
    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision: ...

    def describe(self) -> dict[str, Any]:
        """Identity for the episode record: policy kind, model id, dialect, settings."""
        return {"name": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the policy holds (model weights, a connection)."""
