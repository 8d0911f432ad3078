"""The action space: schemas for prompts and validation with errors that name tool and field."""

from __future__ import annotations

import pytest

from pixelpilot.tools import REGISTRY, Click, Drag, Finish, ToolValidationError, Type


def test_every_tool_has_a_schema_with_description() -> None:
    names = {s["name"] for s in REGISTRY.schemas()}
    assert names == {
        "click",
        "double_click",
        "right_click",
        "middle_click",
        "mouse_move",
        "long_press",
        "drag",
        "type",
        "key",
        "scroll",
        "swipe",
        "navigate",
        "back",
        "home",
        "open_app",
        "wait",
        "answer",
        "finish",
    }
    for schema in REGISTRY.schemas():
        assert schema["description"], schema["name"]
        assert "action" not in schema["parameters"]["properties"]
    click = REGISTRY.schema("click")["parameters"]
    assert click["required"] == ["x", "y"]
    assert REGISTRY.schema("type")["parameters"]["required"] == ["text"]


@pytest.mark.parametrize(
    "call, expected",
    [
        ({"action": "click", "x": 10, "y": 20.5}, Click(x=10, y=20.5)),
        ({"name": "type", "arguments": {"text": "日本語", "press_enter": True}}, Type(text="日本語", press_enter=True)),
        (
            {"action": "drag", "start_x": 1, "start_y": 2, "end_x": 3, "end_y": 4},
            Drag(start_x=1, start_y=2, end_x=3, end_y=4),
        ),
        ({"action": "finish"}, Finish(status="success")),
    ],
)
def test_validate_accepts_both_call_shapes(call: dict, expected: object) -> None:
    assert REGISTRY.validate(call) == expected


@pytest.mark.parametrize(
    "call, tool, field, fragment",
    [
        ({"action": "tap", "x": 1, "y": 1}, "tap", None, "unknown tool 'tap'"),
        ({"action": "click", "x": 1}, "click", "y", "missing argument 'y'"),
        ({"action": "click", "x": 1, "y": 2, "button": "left"}, "click", "button", "unexpected argument 'button'"),
        ({"action": "scroll", "x": 1, "y": 2, "direction": "sideways"}, "scroll", "direction", "direction"),
        ({"action": "click", "x": -5, "y": 2}, "click", "x", "greater than or equal to 0"),
        ({"action": "finish", "status": "maybe"}, "finish", "status", "status"),
        ({"action": "wait", "seconds": "soon"}, "wait", "seconds", "seconds"),
        ({"name": "type", "arguments": "hello"}, "type", None, "'arguments' must be an object"),
    ],
)
def test_validation_errors_name_tool_and_field(call: dict, tool: str, field: str | None, fragment: str) -> None:
    with pytest.raises(ToolValidationError) as info:
        REGISTRY.validate(call)
    assert info.value.tool == tool
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith(tool) or "unknown tool" in str(info.value)


def test_non_mapping_and_missing_name_are_rejected() -> None:
    with pytest.raises(ToolValidationError, match="must be an object"):
        REGISTRY.validate(["click", 1, 2])  # type: ignore[arg-type]
    with pytest.raises(ToolValidationError, match="needs an 'action'"):
        REGISTRY.validate({"x": 1})


def test_subset_only_validates_its_tools() -> None:
    browser = REGISTRY.subset({"click", "type"})
    assert browser.names == ["click", "type"]
    with pytest.raises(ToolValidationError, match="unknown tool 'swipe'"):
        browser.validate({"action": "swipe", "start_x": 0, "start_y": 0, "end_x": 1, "end_y": 1})


def test_points_lists_every_coordinate() -> None:
    assert Drag(start_x=1, start_y=2, end_x=3, end_y=4).points() == [(1, 2), (3, 4)]
    assert Type(text="x").points() == []
