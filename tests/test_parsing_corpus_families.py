"""Real-looking outputs of the newer families (Qwen3-VL, UI-TARS-1.5), well-formed and broken.

One file per dialect under ``tests/data/model_outputs/`` (``<dialect>.jsonl``), rows as in
``corpus.jsonl`` (see tests/test_parsing_corpus.py) plus ``factor``, the resize factor of the model
the output was written for (32 for Qwen3-VL, 28 for UI-TARS-1.5), and optional pixel limits.
Expected actions are in screenshot px, worked out from the model value with the family's own
convention (Qwen3-VL: x / 999 * width for tool calls, x / 1000 * width for grounding answers;
UI-TARS-1.5: x / resized_width * width); errors name a fragment of the ParseError's message.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent.qwen.dialects import DIALECTS
from tests.test_parsing_corpus import check_row

FOLDER = Path(__file__).parent / "data" / "model_outputs"
DIALECT_FILES = {"qwen3-vl": FOLDER / "qwen3-vl.jsonl", "ui-tars-1.5": FOLDER / "ui-tars-1.5.jsonl"}
ROWS: list[dict[str, Any]] = [
    json.loads(line)
    for path in DIALECT_FILES.values()
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]


def test_each_family_has_a_broad_corpus() -> None:
    by_dialect = Counter(row["dialect"] for row in ROWS)
    assert set(by_dialect) == set(DIALECT_FILES) and set(DIALECT_FILES) <= set(DIALECTS)
    for name in DIALECT_FILES:
        rows = [row for row in ROWS if row["dialect"] == name]
        assert len(rows) >= 20, name
        assert sum("error" in row["expect"] for row in rows) >= 6, name
        assert {row.get("env", "browser") for row in rows} == {"browser", "android"}, name


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{i:03d}-{row['dialect']}-{row['note'][:40]}" for i, row in enumerate(ROWS)]
)
def test_corpus(row: dict[str, Any]) -> None:
    check_row(row)
