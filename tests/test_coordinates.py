"""The coordinate contract end to end: screenshot px in, the right CSS px out, in real Chromium.

Every action coordinate is in pixels of the screenshot it was decided on. These tests compute
targets from known CSS boxes (tests/pages/env_*.html), scale them by the device scale factor
into screenshot pixels, act through ``BrowserEnv.execute`` and read back what the page saw.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixelpilot.env import Observation, ScreenGeometry, StartSpec, Viewport, out_of_bounds
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tools import Click, Drag, Scroll

VIEWPORT = Viewport(width=400, height=300)

#: CSS boxes (left, top, width, height) of env_targets.html; keep in sync with the page.
TARGETS: dict[str, tuple[float, float, float, float]] = {
    "big": (10, 10, 40, 30),
    "tiny": (120, 80, 6, 6),
    "odd": (257, 33, 6, 6),
    "right": (388, 140, 12, 12),
    "bottom": (200, 290, 10, 10),
    "corner": (394, 294, 6, 6),
}


def start(env: BrowserEnv, base: str, page: str, dsf: float, viewport: Viewport = VIEWPORT) -> Observation:
    env.reset(StartSpec(url=f"{base}/{page}", viewport=viewport, device_scale_factor=dsf))
    return env.observe()


def centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    left, top, width, height = box
    return left + width / 2, top + height / 2


def luminance(obs: Observation) -> np.ndarray:
    return np.asarray(obs.image.convert("L"), dtype=np.int16)


# ----------------------------------------------------------------------------- pure geometry
@given(
    dsf=st.sampled_from([1.0, 1.25, 1.5, 2.0, 2.625, 3.0]),
    x=st.floats(0, 5000, allow_nan=False),
    y=st.floats(0, 5000, allow_nan=False),
)
def test_geometry_round_trip(dsf: float, x: float, y: float) -> None:
    g = ScreenGeometry(
        width=4000, height=4000, device_scale_factor=dsf, viewport_width=4000 / dsf, viewport_height=4000 / dsf
    )
    cx, cy = g.to_input(x, y)
    assert cx == pytest.approx(x / dsf) and cy == pytest.approx(y / dsf)
    bx, by = g.from_input(cx, cy)
    assert bx == pytest.approx(x) and by == pytest.approx(y)


def test_out_of_bounds_is_half_open() -> None:
    g = ScreenGeometry(width=800, height=600, device_scale_factor=2, viewport_width=400, viewport_height=300)
    assert out_of_bounds(Click(x=799.9, y=599.9), g) is None
    assert "outside" in (out_of_bounds(Click(x=800, y=10), g) or "")
    assert "outside" in (out_of_bounds(Click(x=10, y=600), g) or "")
    why = out_of_bounds(Drag(start_x=10, start_y=10, end_x=900, end_y=10), g)
    assert why is not None and "900" in why and "800x600" in why


# ----------------------------------------------------------------------------- clicks
@pytest.mark.parametrize("dsf", [1.0, 1.5, 2.0])
def test_click_hits_each_target_at_device_scale(browser: BrowserEnv, http_server: str, dsf: float) -> None:
    obs = start(browser, http_server, "env_targets.html", dsf)
    g = obs.geometry
    assert g.width == VIEWPORT.width * dsf and g.height == VIEWPORT.height * dsf
    assert g.device_scale_factor == dsf
    assert obs.image.size == (g.width, g.height)
    rgb = np.asarray(obs.image.convert("RGB"), dtype=np.int16)

    for n, (name, box) in enumerate(TARGETS.items(), start=1):
        cx, cy = centre(box)
        sx, sy = cx * dsf, cy * dsf
        # The screenshot shows the target where the click will land: the two share one pixel space.
        r, _, b = rgb[int(sy), int(sx)]
        assert b - r > 80, f"screenshot at ({sx}, {sy}) is not target {name}: {rgb[int(sy), int(sx)]}"

        result = browser.execute(Click(x=sx, y=sy), g)
        assert result.ok, result.error
        clicks = browser.page.evaluate("window.clicks")
        assert len(clicks) == n, f"expected exactly one click per action, page saw {clicks}"
        assert clicks[-1]["id"] == name
        assert abs(clicks[-1]["x"] - cx) <= 1 and abs(clicks[-1]["y"] - cy) <= 1, clicks[-1]

    # Two CSS px beside the small targets is background: a click scaled the wrong way would miss it.
    for name in ("tiny", "odd", "corner"):
        left, top, _, _ = TARGETS[name]
        result = browser.execute(Click(x=(left - 2) * dsf, y=(top + 3) * dsf), g)
        assert result.ok, result.error
        assert browser.page.evaluate("window.clicks.at(-1).id") not in TARGETS


@pytest.mark.parametrize("dsf", [1.0, 2.0])
def test_screenshot_is_native_resolution(browser: BrowserEnv, http_server: str, dsf: float) -> None:
    """A 1 CSS px line spans ``dsf`` device px; a 0.5 CSS px hairline stays one device px at dsf 2."""
    obs = start(browser, http_server, "env_targets.html", dsf)
    lum = luminance(obs)
    row = lum[int(180 * dsf)]  # both lines run from y=150 to y=210 CSS px

    line = np.flatnonzero(row[int(45 * dsf) : int(56 * dsf)] < 100) + int(45 * dsf)
    assert list(line) == [int(50 * dsf) + i for i in range(int(dsf))]

    hair = np.flatnonzero(row[int(65 * dsf) : int(76 * dsf)] < 100) + int(65 * dsf)
    assert list(hair) == [int(70 * dsf)], "a hairline upscaled from a CSS-resolution capture spans 2 px"


# ----------------------------------------------------------------------------- drag
@pytest.mark.parametrize("dsf", [1.0, 2.0])
def test_drag_lands_where_asked(browser: BrowserEnv, http_server: str, dsf: float) -> None:
    obs = start(browser, http_server, "env_drag.html", dsf)
    (x0, y0), (x1, y1) = (40, 40), (243, 187)  # box centre -> somewhere else, CSS px
    result = browser.execute(Drag(start_x=x0 * dsf, start_y=y0 * dsf, end_x=x1 * dsf, end_y=y1 * dsf), obs.geometry)
    assert result.ok, result.error

    events = browser.page.evaluate("window.events")
    assert [e["type"] for e in events] == ["down", "up"]
    down, up = events
    assert down["target"] == "box"
    assert abs(down["x"] - x0) <= 1 and abs(down["y"] - y0) <= 1, down
    assert abs(up["x"] - x1) <= 1 and abs(up["y"] - y1) <= 1, up
    left, top = browser.page.evaluate("[box.offsetLeft, box.offsetTop]")
    assert abs(left - (x1 - 20)) <= 1 and abs(top - (y1 - 20)) <= 1

    # The next screenshot shows the box under the drop point, in screenshot px.
    rgb = np.asarray(browser.observe().image.convert("RGB"), dtype=np.int16)
    r, _, b = rgb[int(y1 * dsf), int(x1 * dsf)]
    assert r - b > 80


# ----------------------------------------------------------------------------- scroll
def _scroll_state(env: BrowserEnv) -> dict[str, float]:
    return env.page.evaluate(
        "({paneX: pane.scrollLeft, paneY: pane.scrollTop, winX: window.scrollX, winY: window.scrollY})"
    )


@pytest.mark.parametrize("dsf", [1.0, 2.0])
def test_scroll_element_under_point(browser: BrowserEnv, http_server: str, dsf: float) -> None:
    obs = start(browser, http_server, "env_scroll.html", dsf)
    px, py = 100 * dsf, 75 * dsf  # inside the 200x150 CSS px scrollable pane
    expected = {"paneX": 0.0, "paneY": 0.0, "winX": 0.0, "winY": 0.0}
    for direction, amount, key, sign in [
        ("down", 240, "paneY", 1),
        ("up", 80, "paneY", -1),
        ("right", 200, "paneX", 1),
        ("left", 60, "paneX", -1),
    ]:
        result = browser.execute(Scroll(x=px, y=py, direction=direction, amount=amount), obs.geometry)
        assert result.ok, result.error
        expected[key] += sign * amount / dsf
        state = _scroll_state(browser)
        for k, v in expected.items():
            assert math.isclose(state[k], v, abs_tol=1), f"after {direction} {amount}: {state} != {expected}"


@pytest.mark.parametrize("dsf", [1.0, 2.0])
def test_scroll_window_outside_pane(browser: BrowserEnv, http_server: str, dsf: float) -> None:
    obs = start(browser, http_server, "env_scroll.html", dsf)
    px, py = 300 * dsf, 220 * dsf  # page background, right of and below the fixed pane
    expected = {"paneX": 0.0, "paneY": 0.0, "winX": 0.0, "winY": 0.0}
    for direction, amount, key, sign in [
        ("down", 300, "winY", 1),
        ("right", 160, "winX", 1),
        ("up", 100, "winY", -1),
        ("left", 40, "winX", -1),
    ]:
        result = browser.execute(Scroll(x=px, y=py, direction=direction, amount=amount), obs.geometry)
        assert result.ok, result.error
        expected[key] += sign * amount / dsf
        state = _scroll_state(browser)
        for k, v in expected.items():
            assert math.isclose(state[k], v, abs_tol=1), f"after {direction} {amount}: {state} != {expected}"


# ----------------------------------------------------------------------------- CJK rendering
def test_cjk_text_renders_real_glyphs(browser: BrowserEnv, http_server: str) -> None:
    """日本語テキスト draws seven distinct full-width glyphs, not blanks or identical tofu boxes."""
    obs = start(browser, http_server, "env_cjk.html", 1.0)
    assert obs.title == "日本語のページ"
    x, y, width, height = browser.page.evaluate(
        "(() => { const r = document.getElementById('ja').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })()"
    )
    assert abs(width - 7 * 32) <= 3, f"CJK glyphs are 1em wide at 32px; got {width}"

    crop = luminance(obs)[int(y) : int(y + height), int(x) : int(x + width)]
    step = width / 7
    cells = [crop[:, round(i * step) : round(i * step) + 30] < 128 for i in range(7)]
    for i, cell in enumerate(cells):
        assert cell.sum() > 40, f"glyph {i} is blank"
    # Tofu (missing-glyph boxes) would make every cell the same picture.
    for i in range(7):
        for j in range(i + 1, 7):
            assert (cells[i] ^ cells[j]).sum() > 40, f"glyphs {i} and {j} render identically"
