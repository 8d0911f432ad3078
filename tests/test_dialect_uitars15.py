"""The ui-tars-1.5 dialect: UI-TARS action text with absolute pixels of the smart-resized screenshot.

Error bound for ``parse(encode(action))``: a point is written as integers of the resized image, so
one model unit is ``width / resized_width`` screenshot px along x (``height / resized_height`` along
y); rounding moves a point by at most half a unit, the decode is the exact linear map back and the
far-edge clamp only moves it towards the original. Geometries use UI-TARS-1.5's own pixel limits
(min 100*28*28, max 16384*28*28) and also pixelpilot's defaults.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pixelpilot.agent import read_bundle
from pixelpilot.agent.qwen.dialects import DIALECTS, ParseError, UITars15Dialect, get_dialect, infer_dialect
from pixelpilot.agent.qwen.dialects.uitars15 import PIXEL_LIMITS
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, ResizeGeometry
from pixelpilot.tools import (
    Answer,
    Back,
    Click,
    DoubleClick,
    Drag,
    Finish,
    Home,
    Key,
    LongPress,
    OpenApp,
    RightClick,
    Scroll,
    Swipe,
    Type,
    Wait,
)
from tests.replay_server import ReplayServer
from tests.test_cli import PIXELPILOT

PROPERTY = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TARS = UITars15Dialect()
EPS = 1e-6
ENVS = ["browser", "android"]


@st.composite
def geometries(draw: st.DrawFn) -> ResizeGeometry:
    width, height = draw(
        st.one_of(
            st.sampled_from([(1920, 1080), (1080, 2400), (1440, 3120), (3840, 2160), (1280, 720), (200, 150)]),
            st.tuples(st.integers(28, 8000), st.integers(28, 8000)).filter(lambda s: max(s) / min(s) < 150),
        )
    )
    limits = draw(st.sampled_from([PIXEL_LIMITS, (DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS)]))
    return ResizeGeometry.for_image(width, height, min_pixels=limits[0], max_pixels=limits[1])


@st.composite
def screen_points(draw: st.DrawFn, g: ResizeGeometry) -> tuple[float, float]:
    return draw(st.floats(0, g.width - 1, allow_nan=False)), draw(st.floats(0, g.height - 1, allow_nan=False))


def assert_close(g: ResizeGeometry, got: tuple[float, float], want: tuple[float, float]) -> None:
    assert abs(got[0] - want[0]) <= g.width / g.resized_width / 2 + EPS, (got, want)
    assert abs(got[1] - want[1]) <= g.height / g.resized_height / 2 + EPS, (got, want)
    assert 0 <= got[0] <= g.width - 1 and 0 <= got[1] <= g.height - 1


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("env", ENVS)
@PROPERTY
@given(data=st.data())
def test_point_actions_round_trip_within_half_a_resized_pixel(env: str, data: st.DataObject) -> None:
    g = data.draw(geometries())
    x, y = data.draw(screen_points(g))
    actions = [Click(x=x, y=y), LongPress(x=x, y=y)] if env == "android" else [Click(x=x, y=y)]
    actions += [DoubleClick(x=x, y=y), RightClick(x=x, y=y)] if env == "browser" else []
    for action in actions:
        text = TARS.encode(action, g, env)
        assert text.startswith("Action: ") and "<point>" in text
        back = TARS.parse(text, g, env).action
        assert type(back) is type(action)
        assert_close(g, (back.x, back.y), (x, y))


@PROPERTY
@given(data=st.data())
def test_drag_and_swipe_round_trip(data: st.DataObject) -> None:
    g = data.draw(geometries())
    (sx, sy), (ex, ey) = data.draw(screen_points(g)), data.draw(screen_points(g))
    for env, cls in [("browser", Drag), ("android", Swipe)]:
        text = TARS.encode(cls(start_x=sx, start_y=sy, end_x=ex, end_y=ey), g, env)
        assert text.startswith("Action: drag(start_point='<point>")
        back = TARS.parse(text, g, env).action
        assert type(back) is cls
        assert_close(g, (back.start_x, back.start_y), (sx, sy))
        assert_close(g, (back.end_x, back.end_y), (ex, ey))


@PROPERTY
@given(data=st.data())
def test_the_three_point_notations_read_alike_and_on_grid_is_exact(data: st.DataObject) -> None:
    g = data.draw(geometries())
    mx, my = data.draw(st.integers(0, g.resized_width)), data.draw(st.integers(0, g.resized_height))
    px, py = g.from_resized(mx, my)
    assume(px <= g.width - 1 and py <= g.height - 1)
    canonical = f"Action: click(point='<point>{mx} {my}</point>')"
    forms = [
        canonical,
        f"Thought: there.\nAction: click(start_box='({mx},{my})')",
        f"Action: click(start_box='<|box_start|>({mx},{my})<|box_end|>')",
        f"<point>{mx} {my}</point>",
    ]
    for text in forms:
        action = TARS.parse(text, g).action
        assert action == Click(x=px, y=py)
        assert TARS.encode(action, g) == canonical


@PROPERTY
@given(
    text=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() and not t.endswith("\n")),
    enter=st.booleans(),
    env=st.sampled_from(ENVS),
)
def test_type_round_trip_a_trailing_newline_is_enter(text: str, enter: bool, env: str) -> None:
    g = ResizeGeometry.for_image(1920, 1080, min_pixels=PIXEL_LIMITS[0], max_pixels=PIXEL_LIMITS[1])
    encoded = TARS.encode(Type(text=text, press_enter=enter), g, env)
    assert encoded.endswith("\\n')") == enter
    assert TARS.parse(encoded, g, env).action == Type(text=text, press_enter=enter)


def test_other_actions_round_trip() -> None:
    g = ResizeGeometry.for_image(1080, 2400, min_pixels=PIXEL_LIMITS[0], max_pixels=PIXEL_LIMITS[1])
    for env, action in [
        ("browser", Key(keys="ctrl+c")),
        ("browser", Wait(seconds=5.0)),
        ("browser", Finish(status="success")),
        ("browser", Answer(text="Order #12 'placed'")),
        ("android", Home()),
        ("android", Back()),
        ("android", OpenApp(app="Settings")),
    ]:
        assert TARS.parse(TARS.encode(action, g, env), g, env).action == action
    scroll = TARS.parse(TARS.encode(Scroll(x=500, y=600, direction="up", amount=900), g), g).action
    assert isinstance(scroll, Scroll) and scroll.direction == "up" and abs(scroll.x - 500) < 1


# ----------------------------------------------------------------------------- the convention, pinned
def test_points_are_absolute_in_the_smart_resized_image_with_uitars_limits() -> None:
    """1920x1080 under UI-TARS-1.5's limits stays 1932x1092 (the README's arithmetic), so <point>966 546</point>
    is the centre; the same text in 0..1000 (UI-TARS 1.0, 'qwen2-vl') would land elsewhere."""
    g = ResizeGeometry.for_image(1920, 1080, min_pixels=PIXEL_LIMITS[0], max_pixels=PIXEL_LIMITS[1])
    assert (g.resized_width, g.resized_height) == (1932, 1092)
    action = TARS.parse("Action: click(point='<point>966 546</point>')", g).action
    assert (action.x, action.y) == (960.0, 540.0)
    v1 = get_dialect("qwen2-vl").parse("Action: click(start_box='(966,546)')", g).action
    assert (v1.x, v1.y) != (960.0, 540.0)
    with pytest.raises(ParseError, match=r"\[1933, 10\] is outside the 1932x1092 image"):
        TARS.parse("Action: click(point='<point>1933 10</point>')", g)


def test_prompts_show_the_action_spaces_and_the_size_the_model_sees() -> None:
    g = ResizeGeometry.for_image(1280, 720, min_pixels=PIXEL_LIMITS[0], max_pixels=PIXEL_LIMITS[1])
    computer, mobile = TARS.system_prompt("browser", g), TARS.system_prompt("android", g)
    assert "hotkey(key=" in computer and "press_home()" not in computer
    assert "press_home()" in mobile and "open_app(app_name=" in mobile and "hotkey" not in mobile
    for prompt in (computer, mobile, TARS.grounding_prompt(g)):
        assert "<point>x1 y1</point>" in prompt and f"({g.resized_width}x{g.resized_height})" in prompt
    assert "Thought" not in TARS.grounding_prompt(g).split("## Action Space")[0]


def test_registered_inferred_and_aliased() -> None:
    assert DIALECTS["ui-tars-1.5"] is UITars15Dialect
    assert infer_dialect("ByteDance-Seed/UI-TARS-1.5-7B") == "ui-tars-1.5"
    assert infer_dialect("/models/ui_tars_1.5_7b_awq") == "ui-tars-1.5"
    assert infer_dialect("bytedance-research/UI-TARS-7B-DPO") == "qwen2-vl"  # 1.0 keeps its 0..1000 dialect
    for alias in ("UI-TARS-1.5", "uitars-1.5", "ui_tars_1.5"):
        assert get_dialect(alias).name == "ui-tars-1.5"


# ----------------------------------------------------------------------------- a served UI-TARS-1.5, end to end
def test_a_served_uitars15_episode_uses_its_own_pixel_limits_and_clicks_where_meant(tmp_path: Path) -> None:
    """Only the model id is given: dialect ui-tars-1.5, factor 28, and its pixel limits (sent to the server
    and used for the geometry), so a 400x100 page is upscaled to 560x140 and the point decodes there."""
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
    g = ResizeGeometry.for_image(400, 100, min_pixels=PIXEL_LIMITS[0], max_pixels=PIXEL_LIMITS[1])
    assert (g.resized_width, g.resized_height) == (560, 140)
    with ReplayServer(model="ByteDance-Seed/UI-TARS-1.5-7B") as server:
        server.script(
            "Thought: R is the right half.\nAction: click(point='<point>420 70</point>')",
            "Thought: Done.\nAction: finished(content='')",
        )
        env = {**os.environ, "COLUMNS": "200"}
        proc = subprocess.run(
            [*PIXELPILOT, "run", str(task), "--endpoint", server.url, "--model", server.model, "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        first = server.requests[0]
    assert proc.returncode == 0, proc.stderr + proc.stdout
    sent = first["mm_processor_kwargs"]  # the limits go to the server, in whichever styles it reads
    assert (sent["min_pixels"], sent["max_pixels"]) == PIXEL_LIMITS
    assert "(560x140)" in first["messages"][0]["content"][0]["text"]
    _, steps = read_bundle(Path(proc.stdout.split("bundle:")[1].split()[0]))
    meta = steps[0].policy
    assert meta["dialect"] == "ui-tars-1.5" and meta["geometry"]["factor"] == 28
    assert (meta["geometry"]["min_pixels"], meta["geometry"]["max_pixels"]) == PIXEL_LIMITS
    assert steps[0].action == {"action": "click", "x": pytest.approx(420 / 560 * 400), "y": pytest.approx(50.0)}


def test_explicit_pixel_limits_win_over_the_dialects_own(tmp_path: Path) -> None:
    from pixelpilot.agent.policy_spec import PolicySpec

    with ReplayServer(model="ByteDance-Seed/UI-TARS-1.5-7B") as server:
        own = PolicySpec(model=server.model, endpoint=server.url).build()
        chosen = PolicySpec(model=server.model, endpoint=server.url, max_pixels=256 * 28 * 28).build()
    assert (own.config.prompt.min_pixels, own.config.prompt.max_pixels) == PIXEL_LIMITS
    assert (chosen.config.prompt.min_pixels, chosen.config.prompt.max_pixels) == (DEFAULT_MIN_PIXELS, 256 * 28 * 28)
    assert own.config.prompt.resize_factor == chosen.config.prompt.resize_factor == 28
