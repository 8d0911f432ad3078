"""Which Qwen-VL family a model belongs to, and so its resize factor and its dialect.

A click lands where the model meant only if pixelpilot resizes the screenshot exactly as the
model's processor does, and that needs the model's resize factor (patch size x merge size: 28 for
Qwen2/2.5-VL and the agents built on them, 32 for Qwen3-VL). Guessing 28 for a Qwen3-VL shifts every
decoded point by up to 14%, the drift those projects' issue trackers are full of, so the factor is
resolved from what actually knows it, in this order, and a policy is refused when nothing does:

1. an explicit ``--resize-factor`` (``PolicySpec.resize_factor``);
2. a local model folder's processor config (``preprocessor_config.json``, ``processor_config.json``,
   else ``config.json``'s ``vision_config``): ``patch_size`` x ``merge_size``;
3. the model id or folder name, through :data:`FAMILIES` (served models, hub ids);
4. an explicitly chosen dialect that only one family speaks (``--dialect qwen3-vl`` means Qwen3-VL,
   32; ``qwen2.5-vl``, ``qwen2-vl``, ``showui`` and ``ui-tars-1.5`` mean 28). A dialect inferred from
   an unknown name implies nothing.

:data:`FAMILIES` is also the one table model-id dialect inference reads (``dialects.infer_dialect``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pixelpilot.agent.qwen.resize import MERGE_SIZE

#: The largest factor taken from a user: today's models use 28 and 32; far beyond would be a typo.
MAX_FACTOR = 256


@dataclass(frozen=True)
class ModelFamily:
    """A family of models that share a processor geometry and an output dialect."""

    name: str
    #: the dialect its models write (a name in dialects.DIALECTS)
    dialect: str
    patch_size: int
    merge_size: int
    #: lower-case fragments of a model id or folder name (``_`` read as ``-``) that identify it
    markers: tuple[str, ...]

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


#: Most specific first: a UI-TARS-1.5 id also contains "ui-tars", a Qwen2.5-VL fine-tune may contain both.
FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily("ShowUI", "showui", 14, 2, ("showui",)),
    ModelFamily("UI-TARS-1.5", "ui-tars-1.5", 14, 2, ("ui-tars-1.5", "ui-tars-1-5", "uitars-1.5", "uitars-1-5")),
    ModelFamily("Qwen3-VL", "qwen3-vl", 16, 2, ("qwen3-vl", "qwen3vl", "qwen3-5-vl")),
    ModelFamily("Qwen2.5-VL", "qwen2.5-vl", 14, 2, ("qwen2.5-vl", "qwen2-5-vl", "qwen2.5vl", "qwen25-vl")),
    ModelFamily("Qwen2-VL", "qwen2-vl", 14, 2, ("qwen2-vl", "qwen2vl", "ui-tars", "uitars", "os-atlas")),
)


def _flat(model_id: str) -> str:
    return model_id.strip().rstrip("/").lower().replace("_", "-")


def family_for(model_id: str) -> ModelFamily | None:
    """The family a model id or folder name names, or None when the name says nothing."""
    flat = _flat(model_id)
    for family in FAMILIES:
        if any(marker in flat for marker in family.markers):
            return family
    return None


def dialect_family_factor(dialect: str) -> int | None:
    """The factor an explicitly chosen dialect implies: the one factor of every family speaking it, else None."""
    factors = {f.factor for f in FAMILIES if f.dialect == dialect}
    return factors.pop() if len(factors) == 1 else None


class ResizeFactorError(ValueError):
    """Nothing knows the model's resize factor (a one-line error the CLI shows with exit 2)."""


class FactorChoice(BaseModel):
    """A model's resize factor and where it came from (recorded with the policy's settings)."""

    model_config = ConfigDict(frozen=True)

    factor: int
    merge_size: int = MERGE_SIZE
    source: str

    @property
    def patch_size(self) -> int:
        return self.factor // self.merge_size


def processor_factor(folder: Path) -> FactorChoice | None:
    """patch_size x merge_size from a model folder's processor config, or None when it has none.

    Reads, in order, ``preprocessor_config.json`` (top level), ``processor_config.json``
    (``image_processor``) and ``config.json`` (``vision_config``: ``patch_size``,
    ``spatial_merge_size``), the places transformers itself reads them from.
    """
    for name, section, merge_key in (
        ("preprocessor_config.json", None, "merge_size"),
        ("processor_config.json", "image_processor", "merge_size"),
        ("config.json", "vision_config", "spatial_merge_size"),
    ):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResizeFactorError(f"cannot read {path}: {exc}") from None
        if section is not None:
            data = data.get(section) if isinstance(data, dict) else None
        if not isinstance(data, dict) or "patch_size" not in data:
            continue
        patch, merge = data.get("patch_size"), data.get(merge_key, MERGE_SIZE)
        if not (_positive_int(patch) and _positive_int(merge)):
            raise ResizeFactorError(f"{path}: patch_size {patch!r} and {merge_key} {merge!r} must be positive integers")
        return FactorChoice(factor=patch * merge, merge_size=merge, source=f"{path.name} ({patch}x{merge})")
    return None


def cached_processor_factor(repo_id: str) -> FactorChoice | None:
    """``processor_factor`` of a hub id's files already in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in ("preprocessor_config.json", "processor_config.json", "config.json"):
        try:
            found = try_to_load_from_cache(repo_id, name)
        except ValueError:  # not a repo id (a path, a served name with odd characters)
            return None
        if isinstance(found, str):
            choice = processor_factor(Path(found).parent)
            if choice is not None:
                return choice
    return None


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def resolve_resize_factor(
    model: str, *, explicit: int | None = None, dialect: str | None = None, local: bool = True
) -> FactorChoice:
    """The resize factor of ``model`` (see the module docstring for the order). ``local``: ``model``
    may be a folder on this machine (False for a served model's name, which is never read as a path).
    ``dialect``: only an explicitly chosen one. Raises ResizeFactorError when nothing knows."""
    from_folder: FactorChoice | None = None
    if local and model:
        folder = Path(model).expanduser()
        from_folder = processor_factor(folder) if folder.is_dir() else cached_processor_factor(model)
    if explicit is not None:
        if not MERGE_SIZE <= explicit <= MAX_FACTOR or explicit % MERGE_SIZE:
            raise ResizeFactorError(
                f"--resize-factor must be an even number of pixels up to {MAX_FACTOR} (28, 32), got {explicit}"
            )
        if from_folder is not None and from_folder.factor != explicit:
            # a local processor resizes by its own config whatever we say: the geometry would not match it
            raise ResizeFactorError(
                f"--resize-factor {explicit} disagrees with the model's processor config, {from_folder.factor} "
                f"from {from_folder.source}; leave --resize-factor out for a local model"
            )
        return FactorChoice(factor=explicit, source="--resize-factor")
    if from_folder is not None:
        return from_folder
    family = family_for(model) if model else None
    if family is not None:
        return FactorChoice(factor=family.factor, merge_size=family.merge_size, source=f"model id ({family.name})")
    if dialect is not None and (factor := dialect_family_factor(dialect)) is not None:
        return FactorChoice(factor=factor, source=f"dialect {dialect}")
    raise ResizeFactorError(
        f"cannot tell the resize factor of model {model!r} (no processor config, and its name names no known "
        "family): pass --resize-factor 28 (Qwen2/2.5-VL, UI-TARS) or 32 (Qwen3-VL), or --dialect"
    )


__all__ = [
    "FAMILIES",
    "MAX_FACTOR",
    "FactorChoice",
    "ModelFamily",
    "ResizeFactorError",
    "cached_processor_factor",
    "dialect_family_factor",
    "family_for",
    "processor_factor",
    "resolve_resize_factor",
]
