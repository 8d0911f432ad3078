"""The debugger's controls and the viewer's readability, in real Chromium against a live debug run.

One scripted run of 70 slow steps (a ``wait`` each, so an unpaused run visibly runs on) is driven
through the debugger page: 20 tries of Continue then Pause at delays from 0 to 500 ms, each of which
must stop at the next step boundary; then Stop. The page's console and requests are watched all the
while. The bundle it leaves (an edited first step, a long instruction) is then opened in the viewer.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.env.browser.chromium import find_chromium, launch_args
from pixelpilot.env.browser.env import acquire_playwright, release_playwright
from tests.test_debugger import debugger, track_state, wait_state
from tests.test_viewer import viewer

TRIES = 20
WAIT_S = 0.5  # each step's own duration: longer than a click's latency, so pauses are tested, not luck
LONG_INSTRUCTION = (
    "Wait on this page while the debugger is paused and continued many times over, "
    "checking that every pause lands on the very next step boundary, and never let the run go on by itself "
    "until the very end of the script, however long the person at the controls takes to decide what to do next."
)
PAGE = "<!doctype html><title>slow</title><body style='font:24px sans-serif'><h1>A page to wait on</h1></body>"


def _task(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "page.html").write_text(PAGE)
    task = tmp_path / "slow.yaml"
    task.write_text(
        json.dumps(
            {
                "id": "slow-wait",
                "instruction": LONG_INSTRUCTION,
                "env": "browser",
                "start": {"url": "page.html"},
                "viewport": {"width": 800, "height": 500},
                "max_steps": 80,
                "time_limit_s": 900,
                "success": {"type": "url", "pattern": "page\\.html"},
            }
        )
    )
    script = tmp_path / "script.jsonl"
    lines = [{"coords": "css"}] + [{"action": "wait", "seconds": WAIT_S}] * 70
    script.write_text("\n".join(json.dumps(line) for line in lines))
    return task, script


def _api_state(url: str) -> dict[str, Any]:
    """The state read as a non-browser client does: the token in the header, as the page sends it."""
    base, token = url.split("/?token=")
    req = urllib.request.Request(base + "/api/state", headers={"x-pixelpilot-token": token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Drive one debug run through the page; yield what was seen (the assertions live in the tests)."""
    tmp = tmp_path_factory.mktemp("pause")
    task, script = _task(tmp)
    seen: dict[str, Any] = {"tries": [], "problems": [], "statuses": []}
    pw = acquire_playwright()
    browser = pw.chromium.launch(executable_path=find_chromium(None), args=launch_args(()), headless=True)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 800})
        page.on("console", lambda m: m.type == "error" and seen["problems"].append(f"console: {m.text}"))
        # (ERR_ABORTED: a request the page itself ended, as it closes its event stream once the episode is over)
        page.on(
            "requestfailed",
            lambda r: "ERR_ABORTED" not in (r.failure or "") and seen["problems"].append(f"failed: {r.url}"),
        )
        page.on("response", lambda r: r.status >= 400 and seen["problems"].append(f"{r.status}: {r.url}"))
        track_state(page)
        page.add_init_script(  # counts the pause commands the server has answered
            "(() => { const f = window.fetch; window.__ppPauses = 0; window.fetch = async (u, o) => {"
            " const r = await f(u, o); if (o && o.body && o.body.includes('\"pause\"')) window.__ppPauses++;"
            " return r; }; })()"
        )
        page.add_init_script(
            "window.__ppStatuses = []; new MutationObserver(() => { const t = document.getElementById('status');"
            " if (t) window.__ppStatuses.push(t.textContent); }).observe(document, {subtree: true,"
            " childList: true, characterData: true});"
        )
        with debugger(task, "--script", script, "--out", tmp / "runs") as (url, proc):
            page.goto(url)
            wait_state(page, "s.status === 'paused' && s.step === 1")
            page.wait_for_function("() => window.__ppShotLoads >= 1")
            box, label = (
                page.locator("#click-mode").bounding_box(),
                page.locator("#click-mode").locator("..").bounding_box(),
            )
            seen["checkbox"], seen["checkbox_label"] = box, label
            # an edit on step 1, so the bundle has an intervention for the viewer to show
            page.fill("#action-json", json.dumps({"action": "wait", "seconds": WAIT_S * 0.9}))
            page.click("#btn-apply")
            wait_state(page, "s.proposal.source === 'edit'")
            for i in range(TRIES):
                delay_ms = round(i * 500 / (TRIES - 1))
                k = page.evaluate("() => window.__ppState.step")
                # both clicks on the page's own clock, as a person makes them: Pause comes `delay_ms` after
                # Continue whatever the page has heard back by then (a click on a disabled button is lost)
                page.evaluate(
                    "d => { document.getElementById('btn-continue').click();"
                    " setTimeout(() => document.getElementById('btn-pause').click(), d); }",
                    delay_ms,
                )
                # (or the run goes on past the step after next: the pause was lost, which the test reports)
                wait_state(page, f"window.__ppPauses > {i} || s.status === 'done' || s.step > {k} + 2")
                acked = _api_state(url)["step"]  # the step running when the pause was taken (or one later)
                wait_state(page, f"(s.status === 'paused' && s.step > {k}) || s.status === 'done' || s.step > {k} + 2")
                state = page.evaluate("() => window.__ppState")
                seen["tries"].append({"delay_ms": delay_ms, "continued_at": k, "acked_at": acked, **state})
                if state["status"] != "paused":
                    break
            seen["statuses"] = page.evaluate("() => window.__ppStatuses")
            if seen["tries"][-1]["status"] != "done":
                page.click("#btn-stop")
            wait_state(page, "s.status === 'done' && !!s.result")
            # what the page met while the debugger served it (with --exit-when-done it quits right after)
            seen["problems"] = list(seen["problems"])
            page.wait_for_timeout(200)  # let the last render land
            seen["result"] = page.evaluate("() => window.__ppState.result")
            seen["outcome_text"] = page.inner_text("#outcome")
            seen["overlay_html"] = page.inner_html("#overlay")
            proc.wait(timeout=60)
        seen["runs"] = tmp / "runs"
        seen["browser"] = browser
        yield seen
    finally:
        browser.close()
        release_playwright()


def test_pause_lands_on_the_next_step_boundary_at_any_delay(session: dict[str, Any]) -> None:
    tries = session["tries"]
    assert len(tries) == TRIES and all(t["status"] == "paused" for t in tries), [
        (t["delay_ms"], t["status"], t["step"]) for t in tries
    ]
    for t in tries:
        # paused at the step boundary after the one running when the pause was taken, never further on
        assert t["step"] <= t["acked_at"] + 1, t
        assert t["continued_at"] < t["step"], t
        assert t["mode"] == "step"
    assert "pausing…" in session["statuses"]  # the page said so while the agent ran to the boundary


def test_header_says_the_outcome_and_the_overlay_goes_after_stop(session: dict[str, Any]) -> None:
    result = session["result"]
    assert result["status"] == "stopped" and result["reason"]
    verdict = "success" if result["success"] else "failure"
    assert session["outcome_text"] == f"Episode ended: {verdict} (stopped) — {result['reason']}"
    assert session["overlay_html"] == ""  # the proposal the Stop ended is not drawn as if it were to run


def test_url_check_success_reads_as_a_match(session: dict[str, Any]) -> None:
    detail = session["result"]["detail"]
    assert detail.startswith("url file://") and " matches /page\\.html/" in detail, detail
    assert "does not match" not in detail and " vs " not in detail


def test_click_to_act_checkbox_sits_on_its_label_line(session: dict[str, Any]) -> None:
    box, label = session["checkbox"], session["checkbox_label"]
    assert box["width"] < 30, box  # not stretched across the toolbar
    assert label["height"] < 2 * box["height"] + 8, (box, label)  # one line: box and words side by side


def test_viewer_clamps_long_instructions_and_shows_interventions_before_after(session: dict[str, Any]) -> None:
    page = session["browser"].new_page(viewport={"width": 1300, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    with viewer(session["runs"]) as url:
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        sub = page.locator("#episodes td.ep-name small.sub").first
        height, line = sub.evaluate(
            "e => [e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).lineHeight)]"
        )
        assert height <= 2 * line + 1 and height > 1.5 * line, (height, line)  # two lines, not six
        name = page.locator("#episodes td.ep-name a").first
        assert name.evaluate("e => getComputedStyle(e.parentElement).overflowWrap") != "anywhere"
        assert "thumbnail border" in page.inner_text("#legend") and "intervened" in page.inner_text("#legend")
        name.click()
        page.wait_for_selector(".pane .interventions .intervention")
        iv = page.locator(".pane .interventions .intervention").first
        before, after = iv.locator(".iv-before pre"), iv.locator(".iv-after pre")
        assert before.is_visible() and after.is_visible()
        assert json.loads(before.inner_text())["seconds"] == WAIT_S
        assert json.loads(after.inner_text())["seconds"] == pytest.approx(WAIT_S * 0.9)
        page.close()
    assert not problems, problems


def test_no_console_errors_or_failed_requests_on_the_debugger_page(session: dict[str, Any]) -> None:
    assert not session["problems"], session["problems"]
