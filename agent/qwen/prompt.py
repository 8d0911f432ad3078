"""One prompt builder for every backend and dialect.

The messages hold the dialect's system prompt, the previous actions as text (last N), optionally
the last k screenshots, the current screenshot and the task. Images are placeholders
(``{"type": "image"}``) resolved by position, so the same messages go to transformers' chat
template and, as data URLs, to an OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import StepRecord
from pixelpilot.agent.qwen.backends.base import ModelRequest, PromptImage, SamplingConfig
from pixelpilot.agent.qwen.dialects.base import Dialect, EnvKind
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, FACTOR, ResizeGeometry
from pixelpilot.env import Observation
from pixelpilot.tools import REGISTRY

#: Bumped whenever the prompt's wording or structure changes (part of a benchmark run's key).
PROMPT_VERSION = "1"


class PromptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_pixels: int = Field(DEFAULT_MIN_PIXELS, ge=28 * 28)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=28 * 28)
    resize_factor: int = Field(
        FACTOR,
        ge=2,
        multiple_of=2,
        description="the model's patch x merge size (28 Qwen2/2.5-VL, 32 Qwen3-VL); make_policy sets the model's own",
    )
    history_actions: int = Field(8, ge=0, description="previous actions shown as text")
    history_images: int = Field(0, ge=0, description="previous screenshots shown as images")
    system_prompt: str | None = Field(
        None,
        description="replaces the dialect's system prompt (a model trained from scratch on a short one records it "
        "in its folder's pixelpilot.json, and the policy uses it from there)",
    )


def geometry_for(obs_width: int, obs_height: int, config: PromptConfig) -> ResizeGeometry:
    return ResizeGeometry.for_image(
        obs_width, obs_height, min_pixels=config.min_pixels, max_pixels=config.max_pixels, factor=config.resize_factor
    )


def history_line(step: StepRecord, dialect: Dialect, env: EnvKind, config: PromptConfig) -> str:
    """How one past step reads to the model: its action in the dialect's own notation, or its error."""
    text = "(no action)"
    if step.action:
        geometry = geometry_for(step.observation.width, step.observation.height, config)
        try:
            text = " ".join(dialect.encode(REGISTRY.validate(step.action), geometry, env).split())
        except ValueError:
            text = dialect.describe_action(step.action)
    elif step.raw_output:
        text = " ".join(step.raw_output.split())[:300]
    if step.error:
        text += f" -> failed: {step.error}"
    return f"Step {step.index}: {text}"


def build_request(
    *,
    dialect: Dialect,
    env: EnvKind,
    instruction: str,
    observation: Observation,
    history: Sequence[StepRecord],
    past_observations: Sequence[Observation] = (),
    config: PromptConfig,
    sampling: SamplingConfig,
    hint: str | None = None,
) -> ModelRequest:
    geometry = geometry_for(observation.geometry.width, observation.geometry.height, config)
    images: list[PromptImage] = []
    content: list[dict[str, Any]] = []
    for past in list(past_observations)[-config.history_images :] if config.history_images else []:
        images.append(
            PromptImage(observation=past, geometry=geometry_for(past.geometry.width, past.geometry.height, config))
        )
        content += [{"type": "text", "text": "An earlier screenshot:"}, {"type": "image"}]
    images.append(PromptImage(observation=observation, geometry=geometry))
    lines = [f"The user query: {instruction}"]
    if hint:
        lines.append(f"Hint: {hint}")
    shown = list(history)[-config.history_actions :] if config.history_actions else []
    if shown:
        lines.append("Task progress (you have done the following on the current screen):")
        lines += [history_line(s, dialect, env, config) for s in shown]
    else:
        lines.append("Task progress: nothing done yet.")
    lines.append("The current screenshot is attached. Reply with the next action.")
    content += [{"type": "image"}, {"type": "text", "text": "\n".join(lines)}]
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": config.system_prompt or dialect.system_prompt(env, geometry)}],
        },
        {"role": "user", "content": content},
    ]
    return ModelRequest(messages=messages, images=images, sampling=sampling)


def repair_messages(request: ModelRequest, raw_output: str, error: str, *, cut_off: bool = False) -> ModelRequest:
    """The same request plus the failed answer and the parse error, asking for a corrected call.

    ``cut_off``: the answer stopped inside the call (token limit or not). The model is asked for the
    whole call, from its start: shown its cut-off answer, it might write only the missing rest,
    which alone is no call.
    """
    if cut_off:
        ask = (
            f"Your reply was cut off before the call was complete: {error}\nWrite the whole call again, from its "
            "beginning, in the required format, and nothing else; keep any thought short so the call fits."
        )
    else:
        ask = (
            f"Your reply could not be used: {error}\nReply again with exactly one valid action, "
            "in the required format, and nothing else."
        )
    messages = [
        *request.messages,
        {"role": "assistant", "content": [{"type": "text", "text": raw_output}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": ask},
            ],
        },
    ]
    return request.model_copy(update={"messages": messages})


def messages_for_record(request: ModelRequest) -> list[dict[str, Any]]:
    """Messages with each image placeholder annotated by what it stood for (sizes, not pixels)."""
    images = iter(request.images)
    out: list[dict[str, Any]] = []
    for message in request.messages:
        parts = []
        for part in message["content"]:
            if part.get("type") == "image":
                img = next(images)
                g = img.geometry
                parts.append(
                    {
                        "type": "image",
                        "width": g.width,
                        "height": g.height,
                        "resized_width": g.resized_width,
                        "resized_height": g.resized_height,
                        "captured_at": img.observation.captured_at,
                    }
                )
            else:
                parts.append(part)
        out.append({"role": message["role"], "content": parts})
    return out
