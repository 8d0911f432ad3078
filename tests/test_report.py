"""report.html, opened from file:// in a real Chromium, shows every step with its overlay."""

from __future__ import annotations

from pathlib import Path

from pixelpilot.agent import Agent, AgentConfig, EpisodeSpec, ScriptedPolicy
from pixelpilot.agent.overlay import action_svg
from pixelpilot.env import StartSpec
from pixelpilot.env.browser import BrowserEnv


def test_report_shows_every_step(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    actions = [
        {"action": "click", "x": 160, "y": 120},
        {"action": "drag", "start_x": 10, "start_y": 10, "end_x": 300, "end_y": 200},
        {"action": "scroll", "x": 640, "y": 360, "direction": "down", "amount": 200},
        {"action": "click", "x": 200, "y": 275},
        {"action": "type", "text": "hello <b>world</b>"},
        {"action": "finish", "status": "success"},
    ]
    spec = EpisodeSpec(id="report", instruction="make a report", start=StartSpec(url=f"{http_server}/loop.html"))
    result = Agent(browser, ScriptedPolicy(actions), AgentConfig(out_dir=tmp_path)).run(spec)
    browser.reset(StartSpec(url=(result.bundle / "report.html").as_uri()))
    page = browser.page
    info = page.evaluate("""() => ({
        steps: document.querySelectorAll('section.step[id^="step-"]').length,
        loaded: [...document.querySelectorAll('section.step img')].map(i => i.complete && i.naturalWidth),
        circles: document.querySelectorAll('#step-1 svg circle').length,
        arrows: document.querySelectorAll('#step-2 svg line, #step-3 svg line').length,
        typed: document.querySelector('#step-5 svg text').textContent,
        bold: document.querySelectorAll('b').length,
        title: document.title,
    })""")
    assert info["steps"] == 6
    page.evaluate("() => document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert info["circles"] >= 2 and info["arrows"] == 2
    assert info["typed"] == "⌨ hello <b>world</b>"  # escaped, not injected
    assert info["bold"] == 0
    assert info["title"].startswith("report")


def test_overlay_uses_screenshot_pixels() -> None:
    svg = action_svg({"action": "click", "x": 1919.0, "y": 1079.0}, 1920, 1080)
    assert 'viewBox="0 0 1920 1080"' in svg and 'cx="1919.0" cy="1079.0"' in svg
