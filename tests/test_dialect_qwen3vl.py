"""The qwen3-vl dialect: tool calls on Qwen3-VL's relative 0..999 screen, grounding answers on 0..1000.

Error bound for ``parse(encode(action))``: a point is written as integers of a 0..999 scale, so one
model unit is ``width / 999`` screenshot px along x (``height / 999`` along y); rounding moves a
point by at most half a unit and the decode is the exact linear map back (the far-edge clamp only
moves it towards the original). Grounding answers use 0..1000: half of ``width / 1000``.
Geometries are Qwen3-VL's (resize factor 32), though the relative spaces do not depend on it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pixelpilot.agent import read_bundle
from pixelpilot.agent.qwen.dialects import DIALECTS, ParseError, Qwen3VLDialect, get_dialect, infer_dialect
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.tools import Answer, Click, DoubleClick, Drag, Finish, Key, LongPress, RightClick, Scroll, Swipe, Type
from tests.replay_server import ReplayServer
from tests.test_cli import PIXELPILOT

PROPERTY = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
QWEN3 = Qwen3VLDialect()
EPS = 1e-6
ENVS = ["browser", "android"]


@st.composite
def geometries(draw: st.DrawFn) -> ResizeGeometry:
    width, height = draw(
        st.one_of(
            st.sampled_from([(1080, 2400), (1440, 3120), (1280, 720), (3840, 2160), (1366, 768), (200, 150)]),
            st.tuples(st.integers(32, 8000), st.integers(32, 8000)).filter(lambda s: max(s) / min(s) < 150),
        )
    )
    max_pixels = draw(st.sampled_from([1280 * 28 * 28, 256 * 32 * 32, 16384 * 32 * 32]))
    return ResizeGeometry.for_image(width, height, max_pixels=max_pixels, factor=32)


@st.composite
def screen_points(draw: st.DrawFn, g: ResizeGeometry) -> tuple[float, float]:
    return draw(st.floats(0, g.width - 1, allow_nan=False)), draw(st.floats(0, g.height - 1, allow_nan=False))


def assert_close(g: ResizeGeometry, got: tuple[float, float], want: tuple[float, float], scale: int = 999) -> None:
    assert abs(got[0] - want[0]) <= g.width / scale / 2 + EPS, (got, want)
    assert abs(got[1] - want[1]) <= g.height / scale / 2 + EPS, (got, want)
    assert 0 <= got[0] <= g.width - 1 and 0 <= got[1] <= g.height - 1


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("env", ENVS)
@PROPERTY
@given(data=st.data())
def test_click_round_trip_is_within_half_a_unit_of_999(env: str, data: st.DataObject) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    text = QWEN3.encode(Click(x=x, y=y), g, env)
    call = json.loads(text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))
    assert call["name"] == ("mobile_use" if env == "android" else "computer_use")
    assert all(0 <= v <= 999 and isinstance(v, int) for v in call["arguments"]["coordinate"])
    back = QWEN3.parse(text, g, env).action
    assert isinstance(back, Click)
    assert_close(g, (back.x, back.y), (x, y))


@PROPERTY
@given(data=st.data())
def test_point_and_two_point_actions_round_trip(data: st.DataObject) -> None:
    g = data.draw(geometries())
    (x, y), (x2, y2) = data.draw(screen_points(g)), data.draw(screen_points(g))
    for env, action in [
        ("browser", DoubleClick(x=x, y=y)),
        ("browser", RightClick(x=x, y=y)),
        ("android", LongPress(x=x, y=y, duration_ms=1500)),
    ]:
        back = QWEN3.parse(QWEN3.encode(action, g, env), g, env).action
        assert type(back) is type(action)
        assert_close(g, (back.x, back.y), (x, y))
    for env, cls in [("browser", Drag), ("android", Swipe)]:
        back = QWEN3.parse(QWEN3.encode(cls(start_x=x, start_y=y, end_x=x2, end_y=y2), g, env), g, env).action
        assert type(back) is cls
        assert_close(g, (back.start_x, back.start_y), (x, y))
        assert_close(g, (back.end_x, back.end_y), (x2, y2))


@PROPERTY
@given(data=st.data(), direction=st.sampled_from(["up", "down", "left", "right"]))
def test_scroll_and_hscroll_round_trip(data: st.DataObject, direction: str) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    axis = g.height if direction in ("up", "down") else g.width
    amount = data.draw(st.floats(axis / 999, axis, allow_nan=False))
    text = QWEN3.encode(Scroll(x=x, y=y, direction=direction, amount=amount), g)
    assert ('"hscroll"' in text) == (direction in ("left", "right"))
    back = QWEN3.parse(text, g).action
    assert isinstance(back, Scroll) and back.direction == direction
    assert_close(g, (back.x, back.y), (x, y))
    assert abs(back.amount - amount) <= axis / 999 / 2 + EPS


@PROPERTY
@given(data=st.data())
def test_on_grid_round_trip_is_exact(data: st.DataObject) -> None:
    g = data.draw(geometries())
    mx, my = data.draw(st.integers(0, 999)), data.draw(st.integers(0, 999))
    px, py = g.from_relative(mx, my, 999)
    assume(px <= g.width - 1 and py <= g.height - 1)
    for env, tool, name in [("browser", "computer_use", "left_click"), ("android", "mobile_use", "click")]:
        call = {"name": tool, "arguments": {"action": name, "coordinate": [mx, my]}}
        text = f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
        assert QWEN3.encode(QWEN3.parse(text, g, env).action, g, env) == text


@PROPERTY
@given(data=st.data(), label=st.one_of(st.none(), st.text(max_size=20)))
def test_grounding_answers_round_trip_on_0_to_1000(data: st.DataObject, label: str | None) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    text = QWEN3.encode_grounding(x, y, g, label)
    parsed = QWEN3.parse(text, g)
    assert isinstance(parsed.action, Click) and parsed.thought is None
    assert_close(g, (parsed.action.x, parsed.action.y), (x, y), scale=1000)


@PROPERTY
@given(text=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() and not t.endswith("\n")), enter=st.booleans())
def test_type_round_trip_with_enter(text: str, enter: bool) -> None:
    g = ResizeGeometry.for_image(1280, 720, factor=32)
    for env in ENVS:
        back = QWEN3.parse(QWEN3.encode(Type(text=text, press_enter=enter), g, env), g, env).action
        assert back == Type(text=text, press_enter=enter)


def test_non_point_actions_round_trip() -> None:
    g = ResizeGeometry.for_image(1080, 2400, factor=32)
    for env, action in [
        ("browser", Key(keys="ctrl+c")),
        ("browser", Finish(status="success")),
        ("android", Finish(status="failure")),
        ("android", Answer(text="42 °C")),
    ]:
        assert QWEN3.parse(QWEN3.encode(action, g, env), g, env).action == action


# ----------------------------------------------------------------------------- the convention, pinned
def test_999_is_the_far_edge_and_1000_is_outside() -> None:
    g = ResizeGeometry.for_image(1440, 3120, factor=32)
    edge = '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [999, 999]}}</tool_call>'
    action = QWEN3.parse(edge, g, "android").action
    assert (action.x, action.y) == (1439, 3119)
    over = edge.replace("[999, 999]", "[1000, 500]")
    with pytest.raises(ParseError, match=r"\[1000, 500\] is outside the 999x999 image"):
        QWEN3.parse(over, g, "android")
    # the cookbook's own example: 447, 81 on a 1440x3120 phone is 447/999*1440, 81/999*3120
    click = over.replace("[1000, 500]", "[447, 81]")
    action = QWEN3.parse(click, g, "android").action
    assert action.x == pytest.approx(447 / 999 * 1440) and action.y == pytest.approx(81 / 999 * 3120)


def test_grounding_boxes_click_their_centre_and_bad_boxes_are_errors() -> None:
    g = ResizeGeometry.for_image(1920, 1080, factor=32)
    box = '```json\n[{"bbox_2d": [100, 200, 300, 400], "label": "Search"}]\n```'
    assert QWEN3.parse(box, g).action == Click(x=384.0, y=324.0)
    with pytest.raises(ParseError, match="not \\[left, top, right, bottom\\]"):
        QWEN3.parse('{"bbox_2d": [300, 200, 100, 400]}', g)
    with pytest.raises(ParseError, match="outside the 1000x1000 image"):
        QWEN3.parse('{"point_2d": [1001, 5]}', g)
    with pytest.raises(ParseError, match=r"valid actions: .*\bhscroll\b"):
        QWEN3.parse('<tool_call>{"name": "computer_use", "arguments": {"action": "zoom"}}</tool_call>', g)
    with pytest.raises(ParseError, match="must be \\[x1, y1, x2, y2\\]"):
        QWEN3.parse('{"bbox_2d": [1, 2, 3]}', g)


def test_system_prompt_states_the_999_screen_not_the_resized_size() -> None:
    g = ResizeGeometry.for_image(1280, 720, factor=32)
    for env in ENVS:
        prompt = QWEN3.system_prompt(env, g)
        assert "The screen's resolution is 999x999." in prompt
        assert f"{g.resized_width}x{g.resized_height}" not in prompt
        assert "Thought:" in prompt and "<tool_call>" in prompt
        tools = json.loads(prompt.split("<tools>\n")[1].split("\n</tools>")[0])
        assert ("hscroll" in tools["function"]["parameters"]["properties"]["action"]["enum"]) == (env == "browser")


def test_registered_inferred_and_aliased() -> None:
    assert DIALECTS["qwen3-vl"] is Qwen3VLDialect
    for model_id in ("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-235B-A22B-Thinking", "/models/qwen3_vl_4b"):
        assert infer_dialect(model_id) == "qwen3-vl"
    for alias in ("qwen3-vl", "Qwen3-VL", "qwen3", "qwen3_vl"):
        assert get_dialect(alias).name == "qwen3-vl"


# ----------------------------------------------------------------------------- a served Qwen3-VL, end to end
def test_a_served_qwen3vl_episode_infers_dialect_and_factor_and_clicks_where_meant(tmp_path: Path) -> None:
    """Only the model id is given: the dialect (qwen3-vl) and the factor (32) follow from it, the
    prompt states the 999x999 screen, and the click at [749, 499] lands on the right half's button."""
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "halves.html").write_text(
        "<html><body style='margin:0'>"
        "<button style='position:fixed;left:0;top:0;width:200px;height:100px' onclick=\"document.title='left'\">L"
        "</button><button style='position:fixed;left:200px;top:0;width:200px;height:100px' "
        "onclick=\"document.title='right'\">R</button></body></html>"
    )
    task = folder / "halves.yaml"
    task.write_text(
        "id: halves\ninstruction: press R\nstart:\n  url: halves.html\n  viewport: {width: 400, height: 100}\n"
        "success: {type: js, expression: \"document.title === 'right'\"}\n"
    )
    click = {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [749, 499]}}
    done = {"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}
    with ReplayServer(model="Qwen/Qwen3-VL-2B-Instruct") as server:
        server.script(
            *(f"Thought: R is on the right.\n<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in (click, done))
        )
        env = {**os.environ, "COLUMNS": "200"}
        proc = subprocess.run(
            [*PIXELPILOT, "run", str(task), "--endpoint", server.url, "--model", server.model, "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        system = server.requests[0]["messages"][0]["content"][0]["text"]
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "The screen's resolution is 999x999." in system
    _, steps = read_bundle(Path(proc.stdout.split("bundle:")[1].split()[0]))
    meta = steps[0].policy
    assert meta["dialect"] == "qwen3-vl" and meta["geometry"]["factor"] == 32
    assert (meta["geometry"]["resized_width"], meta["geometry"]["resized_height"]) == (384, 96)
    assert steps[0].action == {
        "action": "click",
        "x": pytest.approx(749 / 999 * 400),
        "y": pytest.approx(499 / 999 * 100),
    }
