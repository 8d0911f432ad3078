"""Dialects: how each family of Qwen2-VL-based models is prompted, parsed and decoded.

``get_dialect(name)`` gives a (stateless, shareable) dialect; ``infer_dialect(model_id)`` picks the
name from a Hugging Face model id or a local folder name.
"""

from __future__ import annotations

from pixelpilot.agent.qwen.dialects.base import Dialect, EnvKind, ParsedOutput, ParseError, TruncatedOutputError
from pixelpilot.agent.qwen.dialects.qwen2 import Qwen2Dialect
from pixelpilot.agent.qwen.dialects.qwen3vl import Qwen3VLDialect
from pixelpilot.agent.qwen.dialects.qwen25 import Qwen25Dialect
from pixelpilot.agent.qwen.dialects.showui import ShowUIDialect
from pixelpilot.agent.qwen.dialects.uitars15 import UITars15Dialect
from pixelpilot.agent.qwen.families import family_for

#: name -> dialect class.
DIALECTS: dict[str, type[Dialect]] = {
    Qwen25Dialect.name: Qwen25Dialect,
    Qwen2Dialect.name: Qwen2Dialect,
    ShowUIDialect.name: ShowUIDialect,
    Qwen3VLDialect.name: Qwen3VLDialect,
    UITars15Dialect.name: UITars15Dialect,
}
DEFAULT_DIALECT = Qwen25Dialect.name

_ALIASES = {
    "qwen25": "qwen2.5-vl",
    "qwen2_5_vl": "qwen2.5-vl",
    "qwen2.5": "qwen2.5-vl",
    "qwen2": "qwen2-vl",
    "qwen2_vl": "qwen2-vl",
    "ui-tars": "qwen2-vl",
    "qwen3": "qwen3-vl",
    "qwen3vl": "qwen3-vl",
    "qwen3_vl": "qwen3-vl",
    "uitars-1.5": "ui-tars-1.5",
    "ui_tars_1.5": "ui-tars-1.5",
    "ui-tars-1-5": "ui-tars-1.5",
}


def get_dialect(name: str) -> Dialect:
    """A dialect by name ('qwen2.5-vl', 'qwen2-vl', 'showui', 'qwen3-vl', 'ui-tars-1.5'; case-insensitive, a few
    aliases)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return DIALECTS[key]()
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; known dialects: {', '.join(DIALECTS)}") from None


def infer_dialect(model_id: str) -> str:
    """The dialect for a model id or folder name, from the name alone.

    The name's family (:data:`pixelpilot.agent.qwen.families.FAMILIES`, the one table of model ids)
    gives it: ShowUI -> 'showui'; Qwen2-VL and the agents built on it (UI-TARS 1.0, OS-Atlas) ->
    'qwen2-vl'; UI-TARS-1.5 (built on Qwen2.5-VL, absolute pixels) -> 'ui-tars-1.5'; Qwen2.5-VL ->
    'qwen2.5-vl'; Qwen3-VL -> 'qwen3-vl'; anything else (unknown names, local folders) ->
    'qwen2.5-vl'. A family whose dialect is not registered falls back to the default as well.
    """
    family = family_for(model_id)
    if family is not None and family.dialect in DIALECTS:
        return family.dialect
    return DEFAULT_DIALECT


__all__ = [
    "DEFAULT_DIALECT",
    "DIALECTS",
    "Dialect",
    "EnvKind",
    "ParseError",
    "ParsedOutput",
    "Qwen2Dialect",
    "Qwen3VLDialect",
    "Qwen25Dialect",
    "ShowUIDialect",
    "TruncatedOutputError",
    "UITars15Dialect",
    "get_dialect",
    "infer_dialect",
]
