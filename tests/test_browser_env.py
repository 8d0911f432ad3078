"""BrowserEnv against real Chromium: each action's effect in the page, errors as results, popups,
downloads and navigation settling. Pages live in tests/pages/env_*.html."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from pixelpilot.env import ActionResult, Observation, StartSpec, Viewport
from pixelpilot.env.browser import BrowserEnv
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
    Swipe,
    Type,
    Wait,
)

PAGES = Path(__file__).parent / "pages"
VIEWPORT = Viewport(width=400, height=300)
PAD = (100, 50)  # centre of the event-logging pad on env_actions.html (CSS px = screenshot px at dsf 1)
FIELD = (250, 132)  # right part of the text input, past its text, so a click puts the caret at the end


def start(env: BrowserEnv, base: str, page: str, artifacts_dir: Path | None = None) -> Observation:
    env.reset(StartSpec(url=f"{base}/{page}", viewport=VIEWPORT, device_scale_factor=1), artifacts_dir=artifacts_dir)
    return env.observe()


def run(env: BrowserEnv, action: ActionBase, obs: Observation) -> ActionResult:
    result = env.execute(action, obs.geometry)
    assert isinstance(result, ActionResult)
    return result


def ok(env: BrowserEnv, action: ActionBase, obs: Observation) -> ActionResult:
    result = run(env, action, obs)
    assert result.ok, result.error
    assert result.error is None
    return result


def js(env: BrowserEnv, expression: str) -> Any:
    return env.page.evaluate(expression)


def pad_events(env: BrowserEnv) -> list[str]:
    return [e["type"] for e in js(env, "window.log")]


# ----------------------------------------------------------------------------- pointer actions
def test_pointer_actions_fire_their_events(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")

    ok(browser, Click(x=PAD[0], y=PAD[1]), obs)
    assert pad_events(browser) == ["mousedown", "mouseup", "click"], "click"
    assert {e["button"] for e in js(browser, "window.log")} == {0}

    js(browser, "window.log = []")
    ok(browser, DoubleClick(x=PAD[0], y=PAD[1]), obs)
    events = pad_events(browser)
    assert (events.count("dblclick"), events.count("click"), "contextmenu" in events) == (1, 2, False), events

    js(browser, "window.log = []")
    ok(browser, RightClick(x=PAD[0], y=PAD[1]), obs)
    log = js(browser, "window.log")
    # Linux fires contextmenu on press, other platforms on release: compare without order.
    assert sorted(e["type"] for e in log) == ["contextmenu", "mousedown", "mouseup"], "right_click"
    assert all(e["button"] == 2 for e in log)

    js(browser, "window.log = []")
    ok(browser, LongPress(x=PAD[0], y=PAD[1], duration_ms=400), obs)
    times = {e["type"]: e["t"] for e in js(browser, "window.log")}
    held = times["mouseup"] - times["mousedown"]
    assert 399 <= held < 3000, f"long_press held {held:.1f} ms"  # performance.now() is coarsened to 0.1 ms


# ----------------------------------------------------------------------------- typing
def test_type_ascii_unicode_clear_and_enter(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    value = "window.field.value"
    ok(browser, Click(x=FIELD[0], y=FIELD[1]), obs)
    assert js(browser, "document.activeElement.id") == "field"

    result = ok(browser, Type(text=" & more!"), obs)
    assert result.sensitive is False
    assert js(browser, value) == "old value & more!"  # appended: typing without clear keeps content

    text = "日本語テキスト 😀👍🏽 café Ωμέγα"
    ok(browser, Type(text=text, clear=True), obs)
    assert js(browser, value) == text
    assert js(browser, "window.submitted") == []

    ok(browser, Type(text="search term", clear=True, press_enter=True), obs)
    assert js(browser, value) == "search term"
    assert js(browser, "window.submitted") == ["search term"]
    assert js(browser, "window.keys.at(-1)") == {"key": "Enter", "ctrl": False, "shift": False, "target": "field"}


def test_typed_cjk_is_visible_in_screenshot(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    ok(browser, Click(x=FIELD[0], y=FIELD[1]), obs)
    ok(browser, Type(text="", clear=True), obs)
    x, y, h = js(browser, "(() => { const r = field.getBoundingClientRect(); return [r.x, r.y, r.height] })()")
    inner = (int(x) + 4, int(y) + 4, int(x) + 200, int(y + h) - 4)

    def dark_pixels() -> int:
        crop = browser.observe().image.convert("L").crop(inner)
        return int((np.asarray(crop) < 100).sum())

    blank_dark = dark_pixels()
    ok(browser, Type(text="日本語テキスト"), obs)
    dark = dark_pixels()
    assert dark > blank_dark + 100, f"typed CJK text left {dark} dark px (empty field: {blank_dark})"


# ----------------------------------------------------------------------------- keys
def test_keys_reach_the_page(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    ok(browser, Click(x=FIELD[0], y=FIELD[1]), obs)
    assert js(browser, "[field.selectionStart, field.selectionEnd]") == [9, 9]

    ok(browser, Key(keys="ctrl+a"), obs)
    assert js(browser, "[field.selectionStart, field.selectionEnd]") == [0, len("old value")]
    assert js(browser, "window.keys.at(-1)")["ctrl"] is True

    for keys, expected in [("Escape", "Escape"), ("esc", "Escape"), ("F2", "F2"), ("f12", "F12")]:
        ok(browser, Key(keys=keys), obs)
        assert js(browser, "window.keys.at(-1).key") == expected, keys
    assert js(browser, "window.submitted") == []

    result = run(browser, Key(keys="NoSuchKey"), obs)  # a bad key name is an error result, not a raise
    assert not result.ok and "NoSuchKey" in (result.error or "")
    assert js(browser, "window.keys.at(-1).key") == "F12"

    ok(browser, Key(keys="Enter"), obs)
    assert js(browser, "window.keys.at(-1).key") == "Enter"
    assert js(browser, "window.submitted") == ["old value"]  # Enter in a one-field form submits it
    assert browser.observe().url.endswith("env_actions.html")


def test_shift_tab_moves_focus_backwards(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    js(browser, "b3.focus()")
    ok(browser, Key(keys="shift+Tab"), obs)
    assert js(browser, "document.activeElement.id") == "b2"
    ok(browser, Key(keys="Shift+tab"), obs)
    assert js(browser, "document.activeElement.id") == "b1"
    ok(browser, Key(keys="tab"), obs)
    assert js(browser, "document.activeElement.id") == "b2"


# ----------------------------------------------------------------------------- navigation
def test_navigate_and_back(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    result = ok(browser, Back(), obs)  # nothing to go back to yet: ok, with a note, page unchanged
    assert "note" in result.info
    assert browser.observe().url == f"{http_server}/env_actions.html"

    ok(browser, Navigate(url=f"{http_server}/env_page2.html"), obs)
    second = browser.observe()
    assert second.url == f"{http_server}/env_page2.html"
    assert second.title == "second page"

    ok(browser, Back(), second)
    back = browser.observe()
    assert back.url == f"{http_server}/env_actions.html"
    assert back.title == "actions"


def test_link_click_settles_on_new_page(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    ok(browser, Click(x=20, y=238), obs)  # the 'next page' link
    after = browser.observe()
    assert after.url == f"{http_server}/env_page2.html"
    assert after.title == "second page"


def test_script_navigation_after_click_settles(browser: BrowserEnv, http_server: str) -> None:
    """The page navigates 50 ms after the click handler ran; the env waits for that timer (no quiet window)."""
    assert browser.config.settle_quiet_s == 0
    obs = start(browser, http_server, "env_jsnav.html")
    assert obs.title == "before js navigation"
    ok(browser, Click(x=100, y=30), obs)
    after = browser.observe()
    assert after.url == f"{http_server}/env_page2.html?via=timer"
    assert after.title == "second page"


# ----------------------------------------------------------------------------- wait, answer, finish
def test_wait_takes_its_time(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    t0 = time.monotonic()
    ok(browser, Wait(seconds=0.6), obs)
    elapsed = time.monotonic() - t0
    assert 0.6 <= elapsed < 0.6 + browser.config.settle_timeout_s + 1


def test_answer_and_finish_are_no_ops(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    for action in (Answer(text="42"), Finish(status="success"), Finish(status="failure", message="stuck")):
        result = ok(browser, action, obs)
        assert result.info == {}, action
    assert js(browser, "[window.log.length, window.keys.length, field.value]") == [0, 0, "old value"]
    assert browser.observe().url == obs.url


# ----------------------------------------------------------------------------- errors as results
def test_unsupported_actions_are_error_results(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    for action, name in [
        (Swipe(start_x=100, start_y=50, end_x=10, end_y=50), "swipe"),
        (Home(), "home"),
        (OpenApp(app="Settings"), "open_app"),
    ]:
        result = run(browser, action, obs)
        assert result.ok is False, name
        assert name in (result.error or "") and "not supported" in (result.error or ""), result.error
    assert js(browser, "window.log") == []  # the swipe never pressed anything
    assert browser.observe().url == obs.url


def test_out_of_bounds_is_an_error_result(browser: BrowserEnv, http_server: str) -> None:
    obs = start(browser, http_server, "env_actions.html")
    w, h = obs.geometry.width, obs.geometry.height
    for action in (
        Click(x=w, y=10),
        Click(x=10, y=h),
        DoubleClick(x=w + 500, y=h + 500),
        Drag(start_x=PAD[0], start_y=PAD[1], end_x=w + 1, end_y=10),
    ):
        result = run(browser, action, obs)
        assert result.ok is False, action
        assert "outside" in (result.error or ""), result.error
    assert js(browser, "window.log") == []  # nothing reached the page, not even the drag's press

    # The last column is inside: the boundary is half-open, like pixel indices.
    assert run(browser, Click(x=w - 1, y=h - 1), obs).ok


# ----------------------------------------------------------------------------- popups and tabs
def test_new_tabs_are_followed_and_closing_falls_back(browser: BrowserEnv, http_server: str) -> None:
    opener = f"{http_server}/env_popup.html"
    obs = start(browser, http_server, "env_popup.html")

    nothing = ok(browser, Click(x=300, y=200), obs)  # background: no new tab
    assert "switched_to" not in nothing.info

    for y, via in [(20, "link"), (80, "script")]:  # target=_blank link, then a window.open button
        result = ok(browser, Click(x=80, y=y), obs)
        assert result.info.get("switched_to") == f"{http_server}/env_page2.html?via={via}"
        popup = browser.observe()
        assert popup.url == f"{http_server}/env_page2.html?via={via}"
        assert popup.title == "second page"

        closed = ok(browser, Click(x=60, y=120), popup)  # the tab's own window.close() button
        # the click may race the tab closing itself: either way it is not an error, and any switch is back
        assert closed.info.get("switched_to", opener) == opener
        back = browser.observe()
        assert back.url == opener
        assert back.title == "opener"
        obs = back


# ----------------------------------------------------------------------------- downloads
def test_downloads_land_in_artifacts_dir(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    obs = start(browser, http_server, "env_download.html", artifacts_dir=tmp_path)
    source = (PAGES / "env_files" / "report.txt").read_bytes()

    for y, name in [(20, "report.txt"), (80, "renamed-report.csv")]:
        result = ok(browser, Click(x=100, y=y), obs)
        saved = tmp_path / "downloads" / name
        assert result.info.get("downloads") == [str(saved)]
        assert saved.read_bytes() == source
        assert "switched_to" not in result.info

    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["renamed-report.csv", "report.txt"]
    assert browser.observe().url == f"{http_server}/env_download.html"
