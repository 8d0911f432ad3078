"""The training-set format shared by `pixelpilot dataset build` (writer) and `pixelpilot train` (reader).

A dataset is a folder::

    data/train-00000.parquet   rows (columns below), images embedded as a datasets Image feature
    dataset.json               DatasetInfo: dialect, prompt settings, sources, counts per task
    README.md                  a dataset card (human-readable summary of dataset.json)

One row is one decision exactly as the policy would have been asked for it: ``messages`` is the
chat (system prompt + user turn with image placeholders, history rendered in the dialect) that
agent.qwen.prompt.build_request produces for that step, ``images`` the screenshots those
placeholders stand for (bytes as captured, never resized: the processor resizes them with
``min_pixels``/``max_pixels`` like the local backend does), and ``target`` the assistant's answer:
the dialect's encoding of the action that was executed, through the same resize geometry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pixelpilot.agent.qwen.env_inputs import EnvInputsTable
from pixelpilot.agent.qwen.resize import FACTOR

FORMAT_VERSION = 1
INFO_FILE = "dataset.json"
DATA_DIR = "data"

#: Columns of every row (the parquet schema; ``images`` is a list of datasets Image).
COLUMNS = (
    "id",  # "<episode>#<step>", unique in the dataset
    "messages",  # JSON string: the chat messages, image parts as {"type": "image"}
    "images",  # list of images (bytes as captured), one per image part, in order
    "target",  # the assistant's answer text (no end-of-turn token)
    "action",  # JSON string: what target decodes to, in screenshot px (within half a model unit of executed)
    "executed",  # JSON string: the action that ran, in screenshot px
    "task",  # task id
    "env",  # browser or android (the prompt differs)
    "episode",  # bundle name
    "step",  # 1-based step index in the bundle
    "width",  # screenshot size (px)
    "height",
    "resized_width",  # the model-side image size for the last image (smart_resize)
    "resized_height",
    "intervened",  # bool: a person changed this step in the debugger (the target is their action)
    "source",  # bundle path
)


class DatasetInfo(BaseModel):
    """dataset.json."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    dialect: str
    env: str = Field(description="browser or android (prompts differ by env)")
    min_pixels: int
    max_pixels: int
    resize_factor: int = Field(
        FACTOR,
        ge=2,
        description="px per visual token side the rows were resized with (28 Qwen2/2.5-VL, 32 Qwen3-VL); "
        "sets written before it was recorded: 28",
    )
    history_actions: int
    history_images: int
    system_prompt: str | None = Field(None, description="the system prompt, when not the dialect's own")
    prompt_version: str
    rows: int
    episodes: int
    tasks: dict[str, int] = Field(default_factory=dict, description="rows per task")
    sources: list[str] = Field(default_factory=list, description="bundle folders or roots given to build")
    skipped: dict[str, int] = Field(default_factory=dict, description="why bundles or steps were left out")
    created_at: str = ""
    framework_version: str = ""


MODEL_META = "pixelpilot.json"


class ModelMeta(BaseModel):
    """pixelpilot.json in a trained model's folder: how the policy must prompt it (as in training).

    Unknown settings are an error, not ignored: a folder that asks for something this version does
    not know how to apply would otherwise be prompted unlike its training, silently."""

    model_config = ConfigDict(extra="forbid")

    dialect: str
    min_pixels: int = Field(ge=1)
    max_pixels: int = Field(
        ge=1, description="the pixel budget the model was trained at (agent/train/provenance.py), applied by default"
    )
    history_actions: int = Field(ge=0)
    history_images: int = Field(0, ge=0)
    system_prompt: str | None = None
    prompt_version: str = ""
    trained_on: list[str] = Field(
        default_factory=list, description="portable provenance: suite, task, seed ranges and counts"
    )
    #: the second image frame carries patch coordinates (agent/qwen/position_frame.py)
    position_frame: bool = False
    #: decoding settings the model was evaluated with; applied where the user left the defaults
    max_new_tokens: int | None = None
    max_repairs: int | None = None
    #: input settings per env kind (agent/qwen/env_inputs.py); a kind without one uses the settings above
    inputs: EnvInputsTable = Field(default_factory=dict)

    @classmethod
    def of(cls, info: DatasetInfo, *, position_frame: bool = False, max_pixels: int | None = None) -> ModelMeta:
        """The folder's settings for a model trained on ``info``'s data; ``max_pixels`` is the budget
        the rows were actually seen at (trained_pixel_budget), when known."""
        return cls(
            position_frame=position_frame,
            dialect=info.dialect,
            min_pixels=info.min_pixels,
            max_pixels=max_pixels or info.max_pixels,
            history_actions=info.history_actions,
            history_images=info.history_images,
            system_prompt=info.system_prompt,
            prompt_version=info.prompt_version,
            trained_on=info.sources,
        )


class ModelMetaError(ValueError):
    """A model folder's pixelpilot.json cannot be read or names settings this version does not know."""


def read_model_meta(folder: Path) -> ModelMeta | None:
    """The folder's pixelpilot.json, None when it has none; ModelMetaError (one line) when it is bad."""
    path = folder / MODEL_META
    if not path.is_file():
        return None
    try:
        return ModelMeta.model_validate_json(path.read_text())
    except OSError as exc:
        raise ModelMetaError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        if first["type"] == "extra_forbidden":
            why = f"unknown setting {where!r}"
        elif first["type"] == "json_invalid":
            why = f"not valid JSON ({first['msg']})"
        else:
            why = f"{where}: {first['msg']}"
        raise ModelMetaError(f"{path}: {why}") from None


def data_files(folder: Path) -> list[Path]:
    return sorted((folder / DATA_DIR).glob("*.parquet"))


def read_info(folder: Path) -> DatasetInfo:
    return DatasetInfo.model_validate_json((folder / INFO_FILE).read_text())


def card(info: DatasetInfo) -> str:
    lines = [
        "# pixelpilot training set",
        "",
        f"{info.rows} examples from {info.episodes} episodes, dialect `{info.dialect}`, env `{info.env}`, "
        f"pixels {info.min_pixels}..{info.max_pixels} (resize factor {info.resize_factor}), "
        f"history {info.history_actions} actions / {info.history_images} images, prompt version {info.prompt_version}.",
        "",
        "Each row is one step as the policy saw it (`messages` + `images`) and the dialect's encoding of the",
        "action that ran (`target`). Built by `pixelpilot dataset build`; format in agent/train/format.py.",
        "",
        "| task | rows |",
        "|---|---|",
        *[f"| {t} | {n} |" for t, n in sorted(info.tasks.items())],
        "",
        "Sources: " + ", ".join(f"`{s}`" for s in info.sources),
    ]
    if info.skipped:
        lines += ["", "Left out: " + ", ".join(f"{k}: {v}" for k, v in sorted(info.skipped.items()))]
    return "\n".join(lines) + "\n"


def example_to_chat(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's messages plus the target as the assistant turn (for chat templates)."""
    import json

    return [*json.loads(row["messages"]), {"role": "assistant", "content": [{"type": "text", "text": row["target"]}]}]
