"""The model backend contract shared by the local (transformers) and served (OpenAI-compatible) paths.

Both receive the same chat messages, built once by the prompt builder, with images referenced by
placeholders in order; both return the raw text plus the facts a step must record (geometry,
token counts, timings) so a decision can be reproduced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env import Observation


class SamplingConfig(BaseModel):
    """Greedy by default: agents should be reproducible unless asked otherwise."""

    model_config = ConfigDict(extra="forbid")

    do_sample: bool = False
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.9, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    seed: int | None = None


class PromptImage(BaseModel):
    """One image of the prompt: the observation's screenshot and how it is resized for the model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    observation: Observation
    geometry: ResizeGeometry


class ModelRequest(BaseModel):
    """Chat messages in the transformers multimodal format: content parts are
    ``{"type": "text", "text": ...}`` or ``{"type": "image"}``; the k-th image part refers to
    ``images[k]``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    messages: list[dict[str, Any]]
    images: list[PromptImage]
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)


class ModelResponse(BaseModel):
    text: str
    prompt_tokens: int | None = None
    visual_tokens: int | None = None
    text_tokens: int | None = Field(None, description="prompt tokens that are not image tokens")
    completion_tokens: int | None = None
    finish_reason: str | None = Field(
        None,
        description="'stop': the model ended its answer; 'length': max_new_tokens cut it (the parser then "
        "completes nothing); None: the server did not say",
    )
    image_grid_thw: list[list[int]] | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict, description="e.g. preprocess, prefill, decode, request")
    model: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class BackendError(RuntimeError):
    """The model could not be reached or run (not a parse problem: those are ParseErrors)."""


class Backend(ABC):
    name: str = "backend"

    @abstractmethod
    def generate(self, request: ModelRequest) -> ModelResponse: ...

    def describe(self) -> dict[str, Any]:
        """Model id, revision, dtype/device or endpoint — for the episode record."""
        return {"backend": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
