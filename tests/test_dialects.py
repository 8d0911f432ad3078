"""The dialects' coordinate codecs and round trips, as properties over screen sizes and points.

Error bound for ``parse(encode(action))``. A dialect writes a point in model units: integers of the
resized image for qwen2.5-vl (one unit = ``width / resized_width`` screenshot px), integers of a
0..1000 scale for qwen2-vl (one unit = ``width / 1000`` px) and fractions with two decimals for
showui (one unit = ``width / 100`` px); the same along y with the heights. Encoding rounds to the
nearest unit, which moves a point by at most half a unit; decoding is the exact linear map back;
the far-edge clamp to ``width - 1`` / ``height - 1`` only moves a decoded point towards the
original (which lies in ``[0, width - 1]``). So on each axis

    |decoded - original| <= unit / 2    (<= max(1.0, unit / 2), the bound the contract states),

up to float rounding (we allow 1e-6 px). For qwen2.5-vl at 7680x4320 that is about 2.9 px; for
qwen2-vl 3.84 px; for showui 38.4 px, a property of ShowUI's two-decimal output, not of our code.

Points on the grid (the decode of a model value that the clamp does not move) round-trip exactly:
``encode(parse(text))`` gives back the very text.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pixelpilot.agent.qwen.dialects import (
    DIALECTS,
    ParseError,
    Qwen2Dialect,
    Qwen25Dialect,
    ShowUIDialect,
    get_dialect,
    infer_dialect,
)
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, ResizeGeometry
from pixelpilot.tools import (
    ActionBase,
    Answer,
    Back,
    Click,
    DoubleClick,
    Drag,
    Finish,
    Home,
    Key,
    LongPress,
    Navigate,
    OpenApp,
    RightClick,
    Scroll,
    Swipe,
    Type,
    Wait,
)

#: Applied per test (a loaded profile would change every other module's hypothesis settings too).
PROPERTY = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

QWEN25, QWEN2, SHOWUI = Qwen25Dialect(), Qwen2Dialect(), ShowUIDialect()
EPS = 1e-6

#: Phones, 4K, 4K at device scale 2, tiny windows and odd sizes.
NAMED_SCREENS = [
    (1080, 2400),
    (2400, 1080),
    (1440, 3120),
    (3840, 2160),
    (7680, 4320),
    (200, 150),
    (120, 90),
    (1280, 720),
    (1920, 1080),
    (1366, 768),
    (1001, 997),
    (333, 777),
    (28, 28),
    (2999, 17),
]


@st.composite
def geometries(draw: st.DrawFn) -> ResizeGeometry:
    width, height = draw(
        st.one_of(
            st.sampled_from(NAMED_SCREENS),
            st.tuples(st.integers(16, 8000), st.integers(16, 8000)).filter(lambda s: max(s) / min(s) < 150),
        )
    )
    min_pixels, max_pixels = draw(
        st.sampled_from(
            [(DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS), (256 * 28 * 28, 1280 * 28 * 28), (4 * 28 * 28, 16384 * 28 * 28)]
        )
    )
    return ResizeGeometry.for_image(width, height, min_pixels=min_pixels, max_pixels=max_pixels)


@st.composite
def screen_points(draw: st.DrawFn, geometry: ResizeGeometry) -> tuple[float, float]:
    x = draw(st.floats(0, geometry.width - 1, allow_nan=False))
    y = draw(st.floats(0, geometry.height - 1, allow_nan=False))
    return x, y


def units(dialect: Any, g: ResizeGeometry) -> tuple[float, float]:
    """One model unit in screenshot px along x and y."""
    if isinstance(dialect, Qwen25Dialect):
        return g.width / g.resized_width, g.height / g.resized_height
    if isinstance(dialect, Qwen2Dialect):
        return g.width / 1000, g.height / 1000
    return g.width / 100, g.height / 100


def assert_close(dialect: Any, g: ResizeGeometry, got: tuple[float, float], want: tuple[float, float]) -> None:
    ux, uy = units(dialect, g)
    assert abs(got[0] - want[0]) <= ux / 2 + EPS, (got, want, ux)
    assert abs(got[1] - want[1]) <= uy / 2 + EPS, (got, want, uy)
    assert abs(got[0] - want[0]) <= max(1.0, ux / 2) + EPS and abs(got[1] - want[1]) <= max(1.0, uy / 2) + EPS
    assert 0 <= got[0] <= g.width - 1 and 0 <= got[1] <= g.height - 1


ALL = [QWEN25, QWEN2, SHOWUI]
ENVS = ["browser", "android"]


# ----------------------------------------------------------------------------- clicks: bounded error
@pytest.mark.parametrize("dialect", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("env", ENVS)
@PROPERTY
@given(data=st.data())
def test_click_round_trip_error_is_at_most_half_a_model_unit(dialect: Any, env: str, data: st.DataObject) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    parsed = dialect.parse(dialect.encode(Click(x=x, y=y), g, env), g, env)
    assert isinstance(parsed.action, Click)
    assert_close(dialect, g, (parsed.action.x, parsed.action.y), (x, y))


@PROPERTY
@given(data=st.data())
def test_point_actions_round_trip(data: st.DataObject) -> None:
    """double_click / right_click (qwen2.5-vl computer_use, qwen2-vl) and long_press (mobile_use, qwen2-vl)."""
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    for dialect, env, action in [
        (QWEN25, "browser", DoubleClick(x=x, y=y)),
        (QWEN25, "browser", RightClick(x=x, y=y)),
        (QWEN25, "android", LongPress(x=x, y=y, duration_ms=1500)),
        (QWEN2, "browser", DoubleClick(x=x, y=y)),
        (QWEN2, "browser", RightClick(x=x, y=y)),
        (QWEN2, "android", LongPress(x=x, y=y)),
    ]:
        back = dialect.parse(dialect.encode(action, g, env), g, env).action
        assert type(back) is type(action)
        assert_close(dialect, g, (back.x, back.y), (x, y))
        if isinstance(action, LongPress):
            assert back.duration_ms == action.duration_ms


@pytest.mark.parametrize(
    ("dialect", "env", "cls"),
    [
        (QWEN25, "browser", Drag),
        (QWEN25, "android", Swipe),
        (QWEN2, "browser", Drag),
        (QWEN2, "android", Swipe),
        (SHOWUI, "android", Swipe),
    ],
    ids=["qwen2.5-drag", "qwen2.5-swipe", "qwen2-drag", "qwen2-swipe", "showui-swipe"],
)
@PROPERTY
@given(data=st.data())
def test_two_point_actions_round_trip(dialect: Any, env: str, cls: type, data: st.DataObject) -> None:
    g = data.draw(geometries())
    (sx, sy), (ex, ey) = data.draw(screen_points(g)), data.draw(screen_points(g))
    back = dialect.parse(dialect.encode(cls(start_x=sx, start_y=sy, end_x=ex, end_y=ey), g, env), g, env).action
    assert type(back) is cls
    assert_close(dialect, g, (back.start_x, back.start_y), (sx, sy))
    assert_close(dialect, g, (back.end_x, back.end_y), (ex, ey))


# ----------------------------------------------------------------------------- on-grid points: exact
def unclamped(g: ResizeGeometry, x: float, y: float) -> bool:
    return x <= g.width - 1 and y <= g.height - 1


@PROPERTY
@given(data=st.data())
def test_qwen25_on_grid_round_trip_is_exact(data: st.DataObject) -> None:
    g = data.draw(geometries())
    mx = data.draw(st.integers(0, g.resized_width))
    my = data.draw(st.integers(0, g.resized_height))
    assume(unclamped(g, *g.from_resized(mx, my)))
    for env, tool, name in [("browser", "computer_use", "left_click"), ("android", "mobile_use", "click")]:
        call = f'{{"name": "{tool}", "arguments": {{"action": "{name}", "coordinate": [{mx}, {my}]}}}}'
        text = f"<tool_call>\n{call}\n</tool_call>"
        assert QWEN25.encode(QWEN25.parse(text, g, env).action, g, env) == text


@PROPERTY
@given(data=st.data())
def test_qwen2_on_grid_round_trip_is_exact(data: st.DataObject) -> None:
    g = data.draw(geometries())
    mx, my = data.draw(st.integers(0, 1000)), data.draw(st.integers(0, 1000))
    assume(unclamped(g, *g.from_relative(mx, my, scale=1000)))
    text = f"Action: click(start_box='({mx},{my})')"
    assert QWEN2.encode(QWEN2.parse(text, g).action, g) == text


@PROPERTY
@given(data=st.data())
def test_showui_on_grid_round_trip_is_exact(data: st.DataObject) -> None:
    g = data.draw(geometries())
    mx, my = data.draw(st.integers(0, 100)), data.draw(st.integers(0, 100))
    px, py = mx / 100, my / 100
    assume(unclamped(g, *g.from_relative(px, py)))
    for env, name in [("browser", "CLICK"), ("android", "TAP")]:
        text = f"{{'action': '{name}', 'value': None, 'position': [{px!r}, {py!r}]}}"
        assert SHOWUI.encode(SHOWUI.parse(text, g, env).action, g, env) == text


@pytest.mark.parametrize("dialect", ALL, ids=lambda d: d.name)
@PROPERTY
@given(data=st.data())
def test_far_edge_decodes_inside_the_screenshot(dialect: Any, data: st.DataObject) -> None:
    g = data.draw(geometries())
    text = {
        "qwen2.5-vl": (
            f'<tool_call>{{"name": "computer_use", "arguments": {{"action": "left_click", '
            f'"coordinate": [{g.resized_width}, {g.resized_height}]}}}}</tool_call>'
        ),
        "qwen2-vl": "Action: click(start_box='(1000,1000)')",
        "showui": "{'action': 'CLICK', 'value': None, 'position': [1.0, 1.0]}",
    }[dialect.name]
    action = dialect.parse(text, g).action
    assert (action.x, action.y) == (g.width - 1, g.height - 1)


@pytest.mark.parametrize("dialect", ALL, ids=lambda d: d.name)
@PROPERTY
@given(data=st.data())
def test_points_outside_the_model_image_are_parse_errors(dialect: Any, data: st.DataObject) -> None:
    g = data.draw(geometries())
    w, h = {"qwen2.5-vl": (g.resized_width, g.resized_height), "qwen2-vl": (1000, 1000), "showui": (1, 1)}[dialect.name]
    over = data.draw(st.sampled_from(["x", "y", "negative"]))
    bump = 1 if dialect.name != "showui" else 0.01
    x, y = (w + bump, 0) if over == "x" else (0, h + bump) if over == "y" else (-bump, 0)
    shown = f"[{x}, {y}]"
    text = {
        "qwen2.5-vl": (
            f'<tool_call>{{"name": "computer_use", "arguments": {{"action": "left_click", "coordinate": {shown}}}}}'
            "</tool_call>"
        ),
        "qwen2-vl": f"Action: click(start_box='({x},{y})')",
        "showui": f"{{'action': 'CLICK', 'value': None, 'position': {shown}}}",
    }[dialect.name]
    with pytest.raises(ParseError, match=rf"\[{x}, {y}\] is outside the {w}x{h} image"):
        dialect.parse(text, g)


# ----------------------------------------------------------------------------- other actions
texts = st.text(min_size=1, max_size=40).filter(lambda t: not t.endswith("\n") and t.strip() != "")


@pytest.mark.parametrize("dialect", [QWEN25, QWEN2], ids=lambda d: d.name)
@PROPERTY
@given(text=texts, press_enter=st.booleans(), env=st.sampled_from(ENVS))
def test_type_round_trip(dialect: Any, text: str, press_enter: bool, env: str) -> None:
    g = ResizeGeometry.for_image(1280, 720)
    action = Type(text=text, press_enter=press_enter)
    assert dialect.parse(dialect.encode(action, g, env), g, env).action == action


@PROPERTY
@given(text=texts.filter(lambda t: t not in ("None", "null")), env=st.sampled_from(ENVS))
def test_showui_input_and_answer_round_trip(text: str, env: str) -> None:
    g = ResizeGeometry.for_image(1280, 720)
    for action in (Type(text=text), Answer(text=text)):
        assert SHOWUI.parse(SHOWUI.encode(action, g, env), g, env).action == action


@pytest.mark.parametrize("dialect", [QWEN25, QWEN2], ids=lambda d: d.name)
@PROPERTY
@given(text=texts, env=st.sampled_from(ENVS))
def test_answer_and_finish_round_trip(dialect: Any, text: str, env: str) -> None:
    g = ResizeGeometry.for_image(1080, 2400)
    assert dialect.parse(dialect.encode(Answer(text=text), g, env), g, env).action == Answer(text=text)
    assert dialect.parse(dialect.encode(Finish(), g, env), g, env).action == Finish()
    failed = dialect.parse(dialect.encode(Finish(status="failure"), g, env), g, env).action
    assert isinstance(failed, Finish) and failed.status == "failure"


KEYS = ["Enter", "Escape", "ctrl+c", "ctrl+shift+t", "shift+Tab", "alt+F4", "PageDown", "Menu", "volume_up"]


@pytest.mark.parametrize("keys", KEYS)
def test_key_round_trip(keys: str) -> None:
    g = ResizeGeometry.for_image(1920, 1080)
    for dialect, env in [(QWEN25, "browser"), (QWEN25, "android"), (QWEN2, "browser")]:
        assert dialect.parse(dialect.encode(Key(keys=keys), g, env), g, env).action == Key(keys=keys)
    assert SHOWUI.parse(SHOWUI.encode(Key(keys="Enter"), g), g).action == Key(keys="Enter")


@PROPERTY
@given(data=st.data(), direction=st.sampled_from(["up", "down"]))
def test_qwen25_scroll_round_trip(data: st.DataObject, direction: str) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    ux, _ = units(QWEN25, g)
    amount = data.draw(st.floats(ux, 5000))
    back = QWEN25.parse(QWEN25.encode(Scroll(x=x, y=y, direction=direction, amount=amount), g), g).action
    assert isinstance(back, Scroll) and back.direction == direction
    assert_close(QWEN25, g, (back.x, back.y), (x, y))
    assert abs(back.amount - amount) <= ux / 2 + EPS  # pixels scale like x


@PROPERTY
@given(data=st.data(), direction=st.sampled_from(["up", "down", "left", "right"]))
def test_qwen2_and_showui_scroll_round_trip(data: st.DataObject, direction: str) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    back = QWEN2.parse(QWEN2.encode(Scroll(x=x, y=y, direction=direction), g), g).action
    assert isinstance(back, Scroll) and back.direction == direction
    assert_close(QWEN2, g, (back.x, back.y), (x, y))
    # ShowUI's SCROLL has no position: it scrolls at the centre.
    back = SHOWUI.parse(SHOWUI.encode(Scroll(x=x, y=y, direction=direction), g), g).action
    assert isinstance(back, Scroll) and back.direction == direction
    assert (back.x, back.y) == (g.width / 2, g.height / 2)
    # Both dialects scroll half the screen along the axis: their models give no distance.
    assert back.amount == (g.height if direction in ("up", "down") else g.width) / 2


@PROPERTY
@given(seconds=st.floats(0, 60).map(lambda s: round(s, 2)))
def test_wait_round_trip(seconds: float) -> None:
    g = ResizeGeometry.for_image(1280, 720)
    for env in ENVS:
        assert QWEN25.parse(QWEN25.encode(Wait(seconds=seconds), g, env), g, env).action == Wait(seconds=seconds)
    assert QWEN2.parse(QWEN2.encode(Wait(seconds=seconds), g), g).action == Wait(seconds=5)


@pytest.mark.parametrize("action", [Back(), Home(), OpenApp(app="Settings"), OpenApp(app="com.android.chrome")])
def test_mobile_navigation_round_trip(action: ActionBase) -> None:
    g = ResizeGeometry.for_image(1080, 2400)
    for dialect in (QWEN25, QWEN2):
        assert dialect.parse(dialect.encode(action, g, "android"), g, "android").action == action


@pytest.mark.parametrize(
    ("dialect", "env", "action"),
    [
        (QWEN25, "browser", Navigate(url="https://example.com")),
        (QWEN25, "browser", Back()),
        (QWEN25, "android", DoubleClick(x=1, y=1)),
        (QWEN25, "browser", Scroll(x=1, y=1, direction="left")),
        (QWEN25, "browser", Type(text="x", clear=True)),
        (QWEN2, "browser", Navigate(url="https://example.com")),
        (SHOWUI, "browser", Key(keys="ctrl+c")),
        (SHOWUI, "browser", Type(text="x", press_enter=True)),
        (SHOWUI, "browser", Finish()),
        (SHOWUI, "browser", Click(x=5000, y=1)),
    ],
)
def test_encode_refuses_what_the_dialect_cannot_express(dialect: Any, env: str, action: ActionBase) -> None:
    with pytest.raises(ValueError):
        dialect.encode(action, ResizeGeometry.for_image(1280, 720), env)


# ----------------------------------------------------------------------------- registry and prompts
@pytest.mark.parametrize(
    ("model_id", "name"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"),
        ("Qwen/Qwen2.5-VL-3B-Instruct-AWQ", "qwen2.5-vl"),
        ("Qwen/Qwen2-VL-2B-Instruct", "qwen2-vl"),
        ("Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl"),
        ("bytedance-research/UI-TARS-7B-DPO", "qwen2-vl"),
        ("ByteDance-Seed/UI-TARS-1.5-7B", "ui-tars-1.5"),
        ("OS-Copilot/OS-Atlas-Base-7B", "qwen2-vl"),
        ("showlab/ShowUI-2B", "showui"),
        ("/models/my-finetune/", "qwen2.5-vl"),
        ("./checkpoints/step-500", "qwen2.5-vl"),
        ("", "qwen2.5-vl"),
    ],
)
def test_infer_dialect(model_id: str, name: str) -> None:
    assert infer_dialect(model_id) == name
    assert name in DIALECTS


def test_get_dialect() -> None:
    assert isinstance(get_dialect("qwen2.5-vl"), Qwen25Dialect)
    assert isinstance(get_dialect("Qwen2-VL"), Qwen2Dialect)
    assert isinstance(get_dialect("showui"), ShowUIDialect)
    assert set(DIALECTS) == {"qwen2.5-vl", "qwen2-vl", "showui", "qwen3-vl", "ui-tars-1.5"}
    with pytest.raises(ValueError, match=r"known dialects: qwen2\.5-vl, qwen2-vl, showui, qwen3-vl, ui-tars-1\.5"):
        get_dialect("llava")


@pytest.mark.parametrize("env", ENVS)
def test_system_prompts(env: str) -> None:
    g = ResizeGeometry.for_image(1920, 1080)  # resized 1316x728
    qwen25 = QWEN25.system_prompt(env, g)
    assert "# Tools\n\nYou may call one or more functions to assist with the user query." in qwen25
    assert "<tools>\n{" in qwen25 and "}\n</tools>" in qwen25
    assert '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>' in qwen25
    assert "The screen's resolution is 1316x728." in qwen25
    assert ("mobile_use" if env == "android" else "computer_use") in qwen25
    assert ("mouse_move" in qwen25) == (env != "android")  # a pointer screen can hover
    qwen2 = QWEN2.system_prompt(env, g)
    assert "from 0 to 1000" in qwen2 and "click(start_box='(x1,y1)')" in qwen2
    showui = SHOWUI.system_prompt(env, g)
    assert showui.startswith("Based on the screenshot of the page, I give a text description")
    assert ("TAP" if env == "android" else "CLICK") in showui


def test_parsed_output_keeps_the_call_and_thought() -> None:
    g = ResizeGeometry.for_image(1288, 728)
    out = QWEN25.parse(
        'Thought: open the menu\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", '
        '"coordinate": [1, 2]}}\n</tool_call>',
        g,
    )
    assert out.thought == "open the menu"
    assert out.call == {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [1, 2]}}
    out = QWEN2.parse("Thought: 打开菜单\nAction: click(start_box='(1,2)')", g)
    assert out.thought == "打开菜单" and out.call == {"action": "click", "start_box": "(1,2)"}


def test_only_qwen2_needs_special_tokens_kept() -> None:
    assert QWEN2.skip_special_tokens is False
    assert QWEN25.skip_special_tokens is True and SHOWUI.skip_special_tokens is True
