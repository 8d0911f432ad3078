"""A dialect = system prompt + output parser + coordinate codec for one family of models.

Every dialect maps the model's own tool vocabulary onto pixelpilot's tools and converts
coordinates through the exact ResizeGeometry of the step, so an action always comes out in
screenshot pixels of the observation it was decided on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.qwen.resize import ResizeGeometry
from tools import ActionBase

EnvKind = Literal["browser", "android"]


class ParseError(ValueError):
    """Model output that cannot become an action. The message is fed back to the model verbatim,
    so it says precisely what was wrong (unknown action, missing/extra argument, wrong type,
    coordinates outside the image) and, where useful, what is expected instead."""


class TruncatedOutputError(ParseError):
    """Output that ends in the middle of a call: inside a number, string, list, key or argument list.

    Never read as an action: the value the model was writing is unknown (``[100, 2`` may have been
    ``[100, 250]``), so closing it would invent one. The policy says whether the token limit cut it
    and asks for the whole call again."""


class ParsedOutput(BaseModel):
    """A successfully parsed model output."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    action: ActionBase = Field(description="in screenshot pixels")
    call: dict[str, Any] = Field(description="the tool call as the model wrote it (model space)")
    extra_calls: list[dict[str, Any]] = Field(default_factory=list, description="further calls, not executed")
    thought: str | None = Field(None, description="reasoning text around the call, if any")


class Dialect(ABC):
    """Prompt + parser + codec. Stateless: safe to share between episodes and threads."""

    name: ClassVar[str]
    #: How the policy must decode generated ids: False where the parser reads special tokens
    #: (Qwen2-VL's ``<|box_start|>``), which ``skip_special_tokens=True`` would strip.
    skip_special_tokens: ClassVar[bool] = True

    @abstractmethod
    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        """The system message: role, tool schema (written into the text; the chat template ignores
        ``tools=``), the coordinate convention and, where the dialect uses absolute coordinates,
        the resized image size."""

    @abstractmethod
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        """Model text -> action in screenshot px. Raises ParseError (TruncatedOutputError for output
        cut off inside a call). ``at_token_limit``: generation stopped on max_new_tokens, so the text
        may end anywhere; nothing that runs to its end is completed (not even a missing last brace,
        which a model that stopped by itself is forgiven)."""

    @abstractmethod
    def encode(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        """Action in screenshot px -> the text this dialect's model would emit for it (used for
        history, training targets and round-trip tests). Raises ValueError for actions the
        dialect cannot express."""

    def describe_action(self, action: dict[str, Any]) -> str:
        """One line of history text for an executed action (screenshot-independent)."""
        args = ", ".join(f"{k}={v!r}" for k, v in action.items() if k != "action")
        return f"{action.get('action')}({args})"
