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

from pixelpilot.agent.qwen.dialects import DIALECTS, ParseError, get_dialect
from pixelpilot.agent.qwen.resize import ResizeGeometry

FOLDER = Path(__file__).parent / "data" / "model_outputs"
DIALECT_FILES = {"qwen3-vl": FOLDER / "qwen3-vl.jsonl", "ui-tars-1.5": FOLDER / "ui-tars-1.5.jsonl"}
ROWS: list[dict[str, Any]] = [
    json.loads(line)
    for path in DIALECT_FILES.values()
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]


def geometry_for(row: dict[str, Any]) -> ResizeGeometry:
    width, height = row["screen"]
    kwargs = {k: row[k] for k in ("min_pixels", "max_pixels") if k in row}
    return ResizeGeometry.for_image(width, height, factor=row["factor"], **kwargs)


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
    geometry = geometry_for(row)
    if "resized" in row:
        assert [geometry.resized_width, geometry.resized_height] == row["resized"]
    dialect = get_dialect(row["dialect"])
    env = row.get("env", "browser")
    expect = row["expect"]
    if "error" in expect:
        with pytest.raises(ParseError) as info:
            dialect.parse(row["output"], geometry, env)
        assert expect["error"] in str(info.value)
        return
    parsed = dialect.parse(row["output"], geometry, env)
    got = parsed.action.model_dump()
    for key, want in expect["action"].items():
        if isinstance(want, float | int) and not isinstance(want, bool):
            assert got[key] == pytest.approx(want, abs=1e-6), (key, got)
        else:
            assert got[key] == want, (key, got)
    assert len(parsed.extra_calls) == expect.get("extra_calls", 0)
    for x, y in parsed.action.points():
        assert 0 <= x <= geometry.width - 1 and 0 <= y <= geometry.height - 1
