"""Real-looking model outputs, well-formed and malformed, for all three dialects.

Each line of ``tests/data/model_outputs/corpus.jsonl`` is one output with the screen it was produced
for and what it must become: a pixelpilot action (coordinates in screenshot px, worked out by hand
from the model value, the screen size and the resized size) or a ParseError whose message contains
the given text. ``resized``, where present, pins the smart_resize result the expectation assumes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent.qwen.dialects import ParseError, get_dialect
from pixelpilot.agent.qwen.loose_json import loads_loose
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.agent.qwen.tool_calls import (
    extract_json_objects,
    extract_tool_calls,
    find_function_calls,
    find_json_objects,
)

CORPUS = Path(__file__).parent / "data" / "model_outputs" / "corpus.jsonl"
ROWS: list[dict[str, Any]] = [
    json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()
]


def geometry_for(row: dict[str, Any]) -> ResizeGeometry:
    """The row's geometry: its screen, its pixel limits and (rows of the newer families) its resize factor."""
    width, height = row["screen"]
    kwargs = {k: row[k] for k in ("min_pixels", "max_pixels", "factor") if k in row}
    return ResizeGeometry.for_image(width, height, **kwargs)


def test_corpus_is_broad() -> None:
    by_dialect = Counter(row["dialect"] for row in ROWS)
    assert len(ROWS) >= 60
    assert set(by_dialect) == {"qwen2.5-vl", "qwen2-vl", "showui"}
    assert all(count >= 15 for count in by_dialect.values()), by_dialect
    assert sum("error" in row["expect"] for row in ROWS) >= 20


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{i:03d}-{row['dialect']}-{row['note'][:40]}" for i, row in enumerate(ROWS)]
)
def test_corpus(row: dict[str, Any]) -> None:
    check_row(row)


def check_row(row: dict[str, Any]) -> None:
    """Parse the row's output with its dialect and compare with what the row expects (an action or an error)."""
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


# ----------------------------------------------------------------------------- the readers directly
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("{'a': 'x', b: [1, 2,],}", {"a": "x", "b": [1, 2]}),
        ("{'t': True, 'f': False, 'n': None}", {"t": True, "f": False, "n": None}),
        ("{a: true, b: null, c: 0x1f, d: .5, e: -3e2}", {"a": True, "b": None, "c": 31, "d": 0.5, "e": -300.0}),
        ("{'p': (1, 2)}", {"p": [1, 2]}),
        ('{\'s\': \'it\\\'s\', "d": "say \\"hi\\""}', {"s": "it's", "d": 'say "hi"'}),
        ("{'u': '\\u4f60\\U0001F600\\x41'}", {"u": "你😀A"}),
        ("{'path': 'C:\\Users\\me'}", {"path": "C:\\Users\\me"}),
        ('{"a": 1 // comment\n, "b": 2}', {"a": 1, "b": 2}),
        ('{"a": 1\n "b": 2}', {"a": 1, "b": 2}),
        ('{"text": "line one\nline two"}', {"text": "line one\nline two"}),
        ("{'a': 'x' 'y'}", {"a": "xy"}),  # implicit concatenation: only ast.literal_eval reads it
    ],
)
def test_loads_loose(text: str, value: Any) -> None:
    assert loads_loose(text) == value


def test_find_json_objects_skips_prose_braces_and_keeps_outer_objects() -> None:
    text = 'I use {braces} in prose. {"name": "a", "arguments": {"x": "}{"}} then {"name": "b"}'
    matches, _ = find_json_objects(text)
    assert [m.value["name"] for m in matches] == ["a", "b"]
    assert matches[0].value["arguments"] == {"x": "}{"}


def test_extract_tool_calls_thought_and_spans() -> None:
    text = (
        'Thought: click it\n<tool_call>\n{"name": "computer_use", "arguments": {}}\n</tool_call>\n'
        '<tool_call>{"name": "x"}'
    )
    found = extract_tool_calls(text)
    assert [c["name"] for c in found.calls] == ["computer_use", "x"]
    assert found.thought == "click it"


def test_first_unreadable_block_is_an_error_even_if_a_later_one_reads() -> None:
    text = '<tool_call>{"name": oops oops}</tool_call><tool_call>{"name": "b"}</tool_call>'
    with pytest.raises(ParseError, match="could not read the JSON object inside <tool_call>"):
        extract_json_objects(text)


def test_find_function_calls_positional_and_keyword() -> None:
    calls = find_function_calls("Action: drag((1,2), end_box='(3,4)')\nwait()")
    assert [c.name for c in calls] == ["drag", "wait"]
    assert calls[0].positional == ["(1,2)"] and calls[0].args == {"end_box": "(3,4)"}
    assert find_function_calls("I will wait (a bit) then finish", {"wait", "finished"}) == []
