"""Typing on Android delivers every character or says which one it could not, and why.

Runs against the simulated phone through the real adb server (newline and tab as KEYCODE_ENTER and
KEYCODE_TAB, single-line and multiline fields, no focused field), reads the fields back through
``uiautomator dump``, and types the same text through the browser env into a textarea and a form so
the two envs can be compared on what the fields hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pixelpilot.env import ActionResult, StartSpec, Viewport
from pixelpilot.env.android import AndroidConfig, AndroidEnv
from pixelpilot.env.android.simulator import start_simulator
from pixelpilot.env.android.simulator.packages import LATIN_IME
from pixelpilot.env.android.text import ADB_KEYBOARD_IME
from pixelpilot.env.android.uitree import UIElement, parse_hierarchy
from pixelpilot.env.browser import BrowserConfig, BrowserEnv
from pixelpilot.tools import Click, Type
from tests.android_fixtures import adb, connect

NOTES = "com.pixelsim.notes"
CONTACTS = "com.pixelsim.contacts"
MULTILINE = "Dear Sam,\n\tthanks for the plants!\nBye"
FORM = "Dana Scully\n555-0199"  # Enter in the name field moves to the phone field, in both envs
PAGES = Path(__file__).parent / "pages"


# --------------------------------------------------------------------------- helpers
def field(env: AndroidEnv, rid: str) -> UIElement:
    for e in env.ui_tree():
        if e.resource_id.endswith(f":id/{rid}"):
            return e
    raise AssertionError(f"no element {rid} on screen")


def tap(env: AndroidEnv, rid: str) -> None:
    x, y = field(env, rid).center
    result = env.execute(Click(x=x, y=y), env.observe().geometry)
    assert result.ok, result.error
    assert field(env, rid).focused


def type_(env: AndroidEnv | BrowserEnv, text: str, **kwargs: bool) -> ActionResult:
    return env.execute(Type(text=text, **kwargs), env.observe().geometry)


def open_screen(env: AndroidEnv, package: str, activity: str) -> None:
    """A fresh editor (the app is force-stopped first, so no draft survives from another test)."""
    env.reset(StartSpec(app=package, activity=activity))


# --------------------------------------------------------------------------- the simulated phone
def test_multiline_field_keeps_newlines_and_tabs_and_reads_them_back(android_env: AndroidEnv) -> None:
    open_screen(android_env, NOTES, ".EditNoteActivity")
    tap(android_env, "note_body")
    result = type_(android_env, MULTILINE)
    assert result.ok, result.error
    assert field(android_env, "note_body").text == MULTILINE
    # written as uiautomator writes them (character references), so any XML parser keeps them
    assert "Dear Sam,&#10;&#9;thanks" in android_env.link.shell("uiautomator dump /dev/tty")


def test_newline_that_submits_a_single_line_field_is_an_error_naming_it(android_env: AndroidEnv) -> None:
    open_screen(android_env, NOTES, ".EditNoteActivity")
    tap(android_env, "note_text")
    result = type_(android_env, "Buy bread\nand butter")
    assert not result.ok
    error = result.error or ""
    assert "newline at index 9" in error and "KEYCODE_ENTER" in error, error
    assert "the 10 characters after it were not typed" in error, error
    assert "butter" not in error  # the untyped text is counted, never echoed (it may be a secret)
    # Enter is the field's action (Notes saves the note): the text before it landed, the rest nowhere
    tree = android_env.ui_tree()
    titles = [e.text for e in tree if e.resource_id == f"{NOTES}:id/note_title"]
    assert titles[0] == "Buy bread"
    assert not any("butter" in e.text for e in tree)


def test_tab_in_a_single_line_field_moves_on_and_the_rest_follows_the_focus(android_env: AndroidEnv) -> None:
    open_screen(android_env, NOTES, ".EditNoteActivity")
    tap(android_env, "note_text")
    result = type_(android_env, "Groceries\tmilk, eggs")
    assert result.ok, result.error
    assert field(android_env, "note_text").text == "Groceries"
    assert field(android_env, "note_body").text == "milk, eggs"
    assert result.info["fields"] == [f"{NOTES}:id/note_text", f"{NOTES}:id/note_body"]

    # Tab off the last text field: the text after it has nowhere to go
    open_screen(android_env, CONTACTS, ".EditContactActivity")
    tap(android_env, "phone")
    result = type_(android_env, "555\t0199")
    assert not result.ok
    assert "tab at index 3" in (result.error or "") and "KEYCODE_TAB" in (result.error or ""), result.error
    assert "the 4 characters after it were not typed" in (result.error or "")
    assert field(android_env, "phone").text == "555"


def test_typing_with_no_focused_field_is_an_error(android_env: AndroidEnv) -> None:
    open_screen(android_env, NOTES, ".EditNoteActivity")  # opens with no field focused
    before = [(e.resource_id, e.text) for e in android_env.ui_tree()]
    for kwargs in ({}, {"clear": True}, {"press_enter": True}):
        result = type_(android_env, "hello", **kwargs)
        assert not result.ok
        assert "no text field has focus" in (result.error or "") and "nothing was typed" in (result.error or "")
    assert [(e.resource_id, e.text) for e in android_env.ui_tree()] == before
    assert android_env.current_app() == (NOTES, f"{NOTES}.EditNoteActivity")  # Enter was not pressed either


def test_mixed_text_fills_a_form_across_fields(android_env: AndroidEnv) -> None:
    open_screen(android_env, NOTES, ".EditNoteActivity")
    tap(android_env, "note_text")
    result = type_(android_env, "Groceries\tmilk\n\teggs\r\nbread 100%s")
    assert result.ok, result.error
    assert field(android_env, "note_text").text == "Groceries"
    assert field(android_env, "note_body").text == "milk\n\teggs\nbread 100%s"  # \r\n is one Enter
    result = type_(android_env, "Shopping", clear=True)  # clear reaches across lines of a multiline field
    assert result.ok, result.error
    assert field(android_env, "note_body").text == "Shopping"


def test_characters_without_a_key_are_named_before_anything_is_typed(android_env: AndroidEnv) -> None:
    open_screen(android_env, NOTES, ".EditNoteActivity")
    tap(android_env, "note_body")
    result = type_(android_env, "tea\ncafé")  # this phone has no ADB Keyboard selected
    assert not result.ok
    assert "'é' (U+00E9) at index 7" in (result.error or "") and "ADB Keyboard" in (result.error or ""), result.error
    result = type_(android_env, "bell\x07ring")
    assert not result.ok
    assert "U+0007 at index 4" in (result.error or "") and "no key" in (result.error or ""), result.error
    body = field(android_env, "note_body")
    assert body.text == "Details" and body.focused  # only the hint: nothing of either text was typed


def test_non_ascii_goes_through_the_selected_ime_between_the_keys(adb_server: None) -> None:
    """A phone with ADB Keyboard: enabled but not selected, its broadcasts would type nothing, so that is an error."""
    phone = start_simulator(port=0, adb_keyboard=True)
    env = AndroidEnv(AndroidConfig(serial=phone.serial, command_timeout_s=10))
    try:
        connect(phone.serial)
        open_screen(env, NOTES, ".EditNoteActivity")
        tap(env, "note_body")
        env.link.shell(f"ime set {LATIN_IME}")
        result = type_(env, "Grüße")
        assert not result.ok and "'ü' (U+00FC) at index 2" in (result.error or ""), result.error
        assert field(env, "note_body").text == "Details"
        env.link.shell(f"ime set {ADB_KEYBOARD_IME}")
        result = type_(env, "Grüße,\n\tnaïve café\nok")
        assert result.ok, result.error
        assert field(env, "note_body").text == "Grüße,\n\tnaïve café\nok"
    finally:
        env.close()
        adb("disconnect", phone.serial)
        phone.stop()


def test_parser_keeps_tabs_and_newlines_in_attribute_values() -> None:
    node = 'class="android.widget.EditText" bounds="[0,0][10,10]" focused="true"'
    escaped = f'<hierarchy rotation="0"><node text="a&#10;b&#9;c &quot;d&quot;" {node} /></hierarchy>'
    # a serializer that writes them raw: XML would turn each into a space, the parser must not
    literal = f'<hierarchy rotation="0"><node text="a\nb\tc &quot;d&quot;" {node} /></hierarchy>'
    for xml in (escaped, literal):
        (element,) = parse_hierarchy(xml)
        assert element.text == 'a\nb\tc "d"' and element.focused


# --------------------------------------------------------------------------- the browser, for comparison
def browser_fields(browser: BrowserEnv, base: str, target: str, text: str) -> dict[str, str]:
    browser.reset(StartSpec(url=f"{base}/typing_fields.html", viewport=Viewport(width=400, height=300)))
    obs = browser.observe()
    x, y = browser.page.evaluate(
        "id => { const r = document.getElementById(id).getBoundingClientRect(); return [r.x + r.width / 2, "
        "r.y + r.height / 2] }",
        target,
    )
    scale = obs.geometry.device_scale_factor
    assert browser.execute(Click(x=x * scale, y=y * scale), obs.geometry).ok
    result = type_(browser, text)
    assert result.ok, result.error
    return browser.page.evaluate(
        "() => Object.fromEntries(['body', 'name', 'phone'].map(id => [id, document.getElementById(id).value]))"
    )


@pytest.fixture()
def own_browser() -> Iterator[BrowserEnv]:
    """A Chromium of this test's own, closed after it: the session-wide one would keep the sync driver's
    event loop running in this thread for every later test (the simulator's shell tests use asyncio.run)."""
    with BrowserEnv(BrowserConfig()) as env:
        yield env


def test_browser_and_android_agree_on_what_the_fields_hold(
    android_env: AndroidEnv, own_browser: BrowserEnv, http_server: str
) -> None:
    browser = own_browser
    assert (PAGES / "typing_fields.html").is_file()
    # a multiline field: newline and tab stay in the text
    web = browser_fields(browser, http_server, "body", MULTILINE)
    open_screen(android_env, NOTES, ".EditNoteActivity")
    tap(android_env, "note_body")
    assert type_(android_env, MULTILINE).ok
    assert web["body"] == field(android_env, "note_body").text == MULTILINE

    # a single-line form whose Enter moves to the next field: the rest of the text follows the focus
    web = browser_fields(browser, http_server, "name", FORM)
    open_screen(android_env, CONTACTS, ".EditContactActivity")
    tap(android_env, "name")
    result = type_(android_env, FORM)
    assert result.ok, result.error
    phone = (field(android_env, "name").text, field(android_env, "phone").text)
    assert (web["name"], web["phone"]) == phone == ("Dana Scully", "555-0199")
    assert result.info["fields"] == [f"{CONTACTS}:id/name", f"{CONTACTS}:id/phone"]


def test_browser_typing_with_no_focused_field_is_an_error(own_browser: BrowserEnv, http_server: str) -> None:
    """As on the phone: keys that would go to the page instead of a field are an error, not a delivery."""
    browser = own_browser
    browser.reset(StartSpec(url=f"{http_server}/typing_fields.html", viewport=Viewport(width=400, height=300)))
    obs = browser.observe()
    result = browser.execute(Type(text="lost words"), obs.geometry)
    assert not result.ok and "no focused text field" in (result.error or ""), result
    values = browser.page.evaluate(
        "() => ['body', 'name', 'phone'].map(id => document.getElementById(id).value).join('')"
    )
    assert values == ""
    # a focused button is not a field either
    browser.page.evaluate(
        "() => { const b = document.createElement('button'); b.textContent = 'ok'; "
        "document.body.appendChild(b); b.focus(); }"
    )
    result = browser.execute(Type(text="x"), obs.geometry)
    assert not result.ok and "<button>" in (result.error or "")
