"""Input settings per env kind: one model, a pixel budget for each kind of screen it was trained on.

A model trained on MiniWoB reads its 160x210 task area well at a small budget (48 visual tokens), while a
phone captured at 1080x2340 needs several times that for its text to stay legible once downscaled. One
budget for both is wrong for one of them, so a model folder may record, in pixelpilot.json's
``inputs``, the settings it was trained with for each env kind (``{"browser": {...}, "android":
{...}}``). The policy applies the entry of the episode's env kind; an env kind without an entry keeps the
folder's top-level settings (the single-budget format every older folder has). An explicit
``--min-pixels``/``--max-pixels`` still wins for every env kind (agent/policy_spec.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pixelpilot.agent.qwen.prompt import PromptConfig


class EnvInputs(BaseModel):
    """What a model sees of one env kind's screens: the pixel limits of its resize (smart_resize)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_pixels: int = Field(ge=28 * 28, description="lower pixel limit of the resize for this env kind")
    max_pixels: int = Field(ge=28 * 28, description="the pixel budget the model was trained at for this env kind")

    @model_validator(mode="after")
    def _ordered(self) -> EnvInputs:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels})")
        return self


#: An env kind's name as the registry spells it (env/registry.py): "Android" is a typo, not another kind.
EnvKindName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")]
#: Env kind -> its input settings, as recorded in a model folder and carried by a policy's config.
EnvInputsTable = dict[EnvKindName, EnvInputs]


def prompt_for_env(prompt: PromptConfig, table: EnvInputsTable, env: str) -> PromptConfig:
    """``prompt`` with ``env``'s recorded pixel limits, or unchanged when the table has no entry for it."""
    inputs = table.get(env)
    if inputs is None:
        return prompt
    return prompt.model_copy(update={"min_pixels": inputs.min_pixels, "max_pixels": inputs.max_pixels})
