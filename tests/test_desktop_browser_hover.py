"""The pointer tools on the browser too: mouse_move opens what opens on hover, middle_click is a middle button."""

from __future__ import annotations

from urllib.parse import quote

from pixelpilot.env import JsCheck, StartSpec, Viewport
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tools import MiddleClick, MouseMove

PAGE = """<!doctype html><body style="margin:0">
<div id="menu" style="position:absolute;left:100px;top:80px;width:120px;height:40px;background:#ccc">Menu</div>
<ul id="items" style="display:none;position:absolute;left:100px;top:120px"><li>Open</li></ul>
<style>#menu:hover + #items { display: block !important; }</style>
<script>
window.moves = []; window.buttons = [];
document.addEventListener('mousemove', e => window.moves.push([e.clientX, e.clientY]));
document.addEventListener('mousedown', e => window.buttons.push(e.button));
</script></body>"""


def test_mouse_move_hovers_and_middle_click_presses_the_middle_button(browser: BrowserEnv) -> None:
    browser.reset(
        StartSpec(url="data:text/html," + quote(PAGE), viewport=Viewport(width=640, height=400), device_scale_factor=2)
    )
    g = browser.observe().geometry
    assert browser.execute(MouseMove(x=320, y=200), g).ok  # screenshot px: CSS (160, 100), on the menu
    shown = browser.evaluate(
        JsCheck(expression="() => getComputedStyle(document.getElementById('items')).display === 'block'"),
        answer=None,
        declared=None,
    )
    assert shown.success, shown.detail
    moved = JsCheck(expression="() => JSON.stringify(window.moves.at(-1)) === '[160,100]' && !window.buttons.length")
    assert browser.evaluate(moved, answer=None, declared=None).success
    assert browser.execute(MiddleClick(x=40, y=40), g).ok
    middle = JsCheck(expression="() => JSON.stringify(window.buttons) === '[1]'")
    assert browser.evaluate(middle, answer=None, declared=None).success
