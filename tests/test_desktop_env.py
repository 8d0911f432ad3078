"""The desktop env on a real Xvfb with the project's Tk probe app: coordinates, typing, keys, observation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pixelpilot.env.desktop import DesktopEnv
from pixelpilot.env.desktop.xinput import key_keysyms
from pixelpilot.tools import Click, DoubleClick, Drag, Key, MiddleClick, MouseMove, RightClick, Scroll, Type
from tests.desktop_fixtures import desktop, layout, probe_start, wait_for


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    with desktop() as e:
        yield e  # type: ignore[misc]


def centre(box: list[int], dx: int = 0, dy: int = 0) -> tuple[int, int]:
    x, y, w, h = box
    return x + w // 2 + dx, y + h // 2 + dy


def presses(events: list[dict], button: int) -> list[dict]:
    return [e for e in events if e["event"] == "press" and e["button"] == button]


@pytest.mark.parametrize("size", [(1280, 800), (2560, 1440)])
def test_pointer_actions_land_on_their_targets_at_exact_pixels(env: DesktopEnv, size: tuple[int, int]) -> None:
    env.reset(probe_start(*size))
    targets = layout(env)
    obs = env.observe()
    deadline = time.monotonic() + 30
    while obs.image.getpixel(centre(targets["click"])) == (255, 255, 255) and time.monotonic() < deadline:
        obs = env.observe()  # the app reported its layout; it may not have drawn all of it yet
    g = obs.geometry
    assert (obs.image.width, obs.image.height) == size == (g.width, g.height)  # native resolution, scale 1
    # odd offsets from the centres: an off-by-one or a scale anywhere would move them
    click, double, right = centre(targets["click"], 7, -13), centre(targets["double"], -31, 9), centre(targets["right"])
    # the screenshot shows each target's colour where the input will land: screenshot px are input px
    assert obs.image.getpixel(click) == (0xE0, 0x40, 0x40)
    assert obs.image.getpixel(right) == (0x40, 0x40, 0xE0)
    for action in (Click(x=click[0], y=click[1]), DoubleClick(x=double[0], y=double[1])):
        assert env.execute(action, g).ok
    assert env.execute(RightClick(x=right[0], y=right[1]), g).ok
    middle, hover = centre(targets["middle"], 11, 3), centre(targets["hover"], -17, 21)
    assert env.execute(MiddleClick(x=middle[0], y=middle[1]), g).ok
    assert env.execute(MouseMove(x=hover[0], y=hover[1]), g).ok
    assert env.observe().pointer == (float(hover[0]), float(hover[1]))
    src, drop = centre(targets["drag_source"], 5, 5), centre(targets["drop"], -9, 11)
    assert env.execute(Drag(start_x=src[0], start_y=src[1], end_x=drop[0], end_y=drop[1]), g).ok
    wheel = centre(targets["scroll"], 3, -4)
    result = env.execute(Scroll(x=wheel[0], y=wheel[1], direction="down", amount=300), g)
    assert result.ok and result.info["wheel_clicks"] == 3
    assert env.execute(Scroll(x=wheel[0], y=wheel[1], direction="up", amount=100), g).ok

    got = wait_for(env, lambda ev: len(presses(ev, 4)) == 1)
    left = presses(got, 1)
    # Tk hands a double click's second press to the <Double-Button-1> binding alone
    assert [(e["x"], e["y"], e["target"]) for e in left] == [
        (*click, "click"),
        (*double, "double"),
        (*src, "drag_source"),
    ]
    assert [(e["x"], e["y"], e["target"]) for e in got if e["event"] == "double"] == [(*double, "double")]
    assert [(e["x"], e["y"], e["target"]) for e in presses(got, 3)] == [(*right, "right")]
    assert [(e["x"], e["y"], e["target"]) for e in presses(got, 2)] == [(*middle, "middle")]
    # the hover entered its target at the exact point, and pressed nothing there
    assert [(e["x"], e["y"]) for e in got if e["event"] == "enter" and e["target"] == "hover"] == [hover]
    assert not [e for e in got if e["event"] == "press" and e["target"] == "hover"]
    release = [e for e in got if e["event"] == "release" and e["button"] == 1][-1]
    assert (release["x"], release["y"], release["target"]) == (*drop, "drop")
    assert [(e["x"], e["y"], e["target"]) for e in presses(got, 5)] == [(*wheel, "scroll")] * 3
    assert [(e["x"], e["y"], e["target"]) for e in presses(got, 4)] == [(*wheel, "scroll")]
    # the observation records where the pointer is now
    assert env.observe().pointer == (float(wheel[0]), float(wheel[1]))


TEXT = "Grüße, ¿qué tal? 日本語の入力 한국어 中文 €5 <a&b> ~`!@#$%^*()_+{}|:\"'"


def test_unicode_and_cjk_typing_arrives_exactly_whatever_the_layout_lacks(env: DesktopEnv) -> None:
    env.reset(probe_start())
    targets = layout(env)
    g = env.observe().geometry
    x, y = centre(targets["entry"])
    assert env.execute(Click(x=x, y=y), g).ok
    assert env.execute(Type(text=TEXT), g).ok
    got = wait_for(env, lambda ev: any(e["event"] == "text" and e["value"] == TEXT for e in ev))
    assert [e for e in got if e["event"] == "text"][-1]["value"] == TEXT
    # clear replaces the line; more distinct characters than the server has spare keycodes (about 20) are
    # typed in runs, the spares reused between them
    long_text = "".join(chr(0x4E00 + 37 * i) for i in range(70)) + " 再見 ok"
    assert env.execute(Type(text=long_text, clear=True), g).ok
    wait_for(env, lambda ev: [e for e in ev if e["event"] == "text"][-1]["value"] == long_text)


def test_key_names_and_combos_reach_the_app(env: DesktopEnv) -> None:
    env.reset(probe_start())
    targets = layout(env)
    g = env.observe().geometry
    x, y = centre(targets["entry"])
    assert env.execute(Click(x=x, y=y), g).ok
    for keys in ("Escape", "ctrl+shift+k", "PageDown", "F5", "A"):
        assert env.execute(Key(keys=keys), g).ok
    got = wait_for(env, lambda ev: any(e["event"] == "key" and e["keysym"] == "A" for e in ev))
    keysyms = [e["keysym"] for e in got if e["event"] == "key"]
    assert keysyms == ["Escape", "Control_L", "Shift_L", "K", "Next", "F5", "Shift_L", "A"]  # a lone "A" is shifted
    combo = next(e for e in got if e["event"] == "key" and e["keysym"] == "K")
    assert combo["state"] & 0x4 and combo["state"] & 0x1  # Control and Shift held
    bad = env.execute(Key(keys="ctrl+frobnicate"), g)
    assert not bad.ok and "unknown key 'frobnicate'" in (bad.error or "")


def test_key_names_map_to_x_keysyms() -> None:
    from Xlib import XK

    assert key_keysyms("ctrl+Enter") == [XK.string_to_keysym("Control_L"), XK.string_to_keysym("Return")]
    assert key_keysyms("ctrl++") == [XK.string_to_keysym("Control_L"), ord("+")]
    assert key_keysyms("alt+F4")[1] == XK.string_to_keysym("F4")
    assert key_keysyms("KP_Enter") == [XK.string_to_keysym("KP_Enter")]


def test_observation_records_the_active_window_and_the_screen(env: DesktopEnv) -> None:
    env.reset(probe_start())
    obs = env.observe()
    assert obs.title == "pixelpilot probe" and obs.app == "Pixelpilot"
    window = obs.window or {}
    assert window["title"] == "pixelpilot probe" and window["bounds"] == [0, 0, 1280, 800]
    import psutil

    cmdline = " ".join(psutil.Process(window["pid"]).cmdline())  # the X server's view of the client: a host pid
    assert "pixelpilot.env.desktop.testapp probe" in cmdline
    info = env.info()
    assert info["screen"] == [1280, 800] and info["own_display"] is True and info["display"].startswith(":")


def test_a_16_bit_display_is_captured_at_its_size_in_its_colours() -> None:
    with desktop(depth=16) as env16:
        env16.reset(probe_start())
        targets = layout(env16)
        obs = env16.observe()
        deadline = time.monotonic() + 30
        while obs.image.getpixel(centre(targets["click"])) == (255, 255, 255) and time.monotonic() < deadline:
            obs = env16.observe()
        r, g, b = obs.image.getpixel(centre(targets["click"]))  # #e04040 in 5-6-5 bits
        assert obs.image.size == (1280, 800) and env16.info()["depth"] == 16
        assert abs(r - 0xE0) <= 8 and abs(g - 0x40) <= 4 and abs(b - 0x40) <= 8
