"""The debugger driven through its own web page in real Chromium, against a live agent run.

One scripted run exercises step, edit, skip, click-to-act, continue, a confirm-before pause on a
password, a breakpoint on an action type, and checks the corrected demonstration in the bundle;
another runs the tiny Qwen2-VL and re-asks it with sampling. Plus the token gate, the Python hooks
and the terminal step mode.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy
from pixelpilot.agent.hooks import AgentHooks, Replace, Skip, StepContext, Stop
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.env.browser.chromium import find_chromium, launch_args
from pixelpilot.env.browser.env import acquire_playwright, release_playwright
from pixelpilot.tasks import EXAMPLES_DIR, Task
from pixelpilot.tools import REGISTRY
from tests.test_cli import PIXELPILOT

SCRIPT = [
    {"coords": "css"},
    {"action": "click", "x": 640, "y": 270},
    {"action": "type", "text": "alicx"},  # a mistake the user corrects with Edit
    {"action": "scroll", "x": 640, "y": 400, "direction": "down", "amount": 100},  # skipped
    {"action": "click", "x": 100, "y": 100},  # misses; the user clicks the password field instead
    {"action": "type", "text": "hunter2"},  # confirm-before: typing into a password field
    {"action": "click", "x": 640, "y": 455},
    {"action": "finish", "status": "success"},  # breakpoint on the action type
]


@contextmanager
def debugger(*args: str | Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [*PIXELPILOT, "debug", *map(str, args), "--exit-when-done"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("debugger: http://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        yield line.split()[1], proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def page() -> Iterator[Any]:
    pw = acquire_playwright()
    browser = pw.chromium.launch(executable_path=find_chromium(None), args=launch_args(()), headless=True)
    try:
        yield browser.new_page(viewport={"width": 1400, "height": 900})
    finally:
        browser.close()
        release_playwright()


def wait_state(page: Any, predicate: str, timeout: float = 30_000) -> None:
    page.wait_for_function(f"() => {{ const s = window.__ppState; return !!s && ({predicate}); }}", timeout=timeout)


def track_state(page: Any) -> None:
    page.add_init_script(
        "(() => { const orig = window.EventSource; window.EventSource = function (u) { const es = new orig(u);"
        " es.addEventListener('message', (e) => { window.__ppState = JSON.parse(e.data); }); return es; }; })()"
    )


def click_screenshot_at(page: Any, x: float, y: float) -> None:
    """Click the displayed screenshot where screenshot pixel (x, y) is, whatever the zoom, once the screenshot
    shown has loaded (a step swaps its source; until the new one decodes its natural size reads 0)."""
    page.wait_for_function("() => { const i = document.getElementById('shot'); return i.complete && i.naturalWidth; }")
    box = page.evaluate(
        "() => { const i = document.getElementById('shot'); const r = i.getBoundingClientRect();"
        " return {l: r.left, t: r.top, w: r.width, h: r.height, nw: i.naturalWidth, nh: i.naturalHeight}; }"
    )
    page.mouse.click(box["l"] + (x + 0.5) * box["w"] / box["nw"], box["t"] + (y + 0.5) * box["h"] / box["nh"])


def test_stepping_correcting_and_pausing_a_scripted_run(page: Any, tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    script.write_text("\n".join(json.dumps(line) for line in SCRIPT))
    out = tmp_path / "runs"
    args = [EXAMPLES_DIR / "login.yaml", "--script", script, "--out", out, "--confirm", "password"]
    with debugger(*args, "--break", "action=finish") as (url, proc):
        base = url.split("/?")[0]
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(base + "/api/state", timeout=10)
        assert denied.value.code == 403
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/?token=wrong", timeout=10)

        track_state(page)
        page.goto(url)
        wait_state(page, "s.status === 'paused' && s.step === 1")
        page.wait_for_function("() => window.__ppShotLoads >= 1")
        assert page.locator("#overlay svg circle").count() >= 1  # the proposed click is drawn
        assert json.loads(page.input_value("#action-json")) == {"action": "click", "x": 640.0, "y": 270.0}

        page.click("#btn-step")  # 1: run the proposal as is
        wait_state(page, "s.step === 2 && s.status === 'paused'")
        assert page.locator("#timeline .thumb").count() == 1

        # 2: Edit — an invalid edit is refused with the schema's message, a valid one runs
        page.fill("#action-json", '{"action": "type"}')
        page.click("#btn-apply")
        page.wait_for_selector("#error:not([hidden])")
        assert "type: missing argument 'text'" in page.inner_text("#error")
        page.fill("#action-json", '{"action": "type", "text": "alice"}')
        page.click("#btn-apply-step")
        wait_state(page, "s.step === 3 && s.status === 'paused'")

        page.click("#btn-skip")  # 3: skip the scroll
        wait_state(page, "s.step === 4 && s.status === 'paused'")

        # 4: click-to-act on the password field (CSS 640,352 = screenshot px at scale 1)
        page.check("#click-mode")
        click_screenshot_at(page, 640, 352)
        wait_state(page, "s.proposal.source === 'click'")
        proposal = page.evaluate("() => window.__ppState.proposal.action")
        assert proposal["action"] == "click" and abs(proposal["x"] - 640) <= 2 and abs(proposal["y"] - 352) <= 2
        page.click("#btn-continue")

        # 5: continuing, but typing into a password field needs a confirmation
        wait_state(page, "s.step === 5 && s.status === 'paused'")
        assert "password" in page.inner_text("#pause-reason")
        page.click("#btn-step")

        # 7: the breakpoint on `finish` stops the continuing run
        wait_state(page, "s.step === 7 && s.status === 'paused'")
        assert "breakpoint action=finish" in page.inner_text("#pause-reason")
        page.click("#btn-step")
        wait_state(page, "s.status === 'done' && !!s.result")
        result = page.evaluate("() => window.__ppState.result")
        assert result["success"] is True and result["status"] == "finished"
        assert page.locator("#timeline .thumb").count() == 7
        page.locator("#timeline .thumb").nth(1).click()  # each step can be opened
        assert "Interventions" in page.inner_text("#step-detail")
        proc.wait(timeout=30)

    bundle = Path(result["bundle"])
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    kinds = {s["index"]: [i["kind"] for i in s["interventions"]] for s in steps}
    assert kinds == {1: [], 2: ["edit"], 3: ["skip"], 4: ["click"], 5: [], 6: [], 7: []}
    assert steps[1]["action"]["text"] == "alice" and steps[1]["interventions"][0]["proposed"]["text"] == "alicx"
    assert steps[2]["action"] is None and steps[2]["interventions"][0]["proposed"]["action"] == "scroll"
    assert steps[3]["interventions"][0]["proposed"] == {"action": "click", "x": 100.0, "y": 100.0}
    assert steps[4]["masked"] and steps[4]["action"]["text"] == "••••••••"  # the secret stays out
    assert json.loads((bundle / "episode.json").read_text())["success"] is True


def test_reask_with_sampling_on_the_tiny_model_then_stop(page: Any, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    args = [EXAMPLES_DIR / "login.yaml", "--model", tiny_qwen_dir, "--max-pixels", str(64 * 28 * 28)]
    args += ["--max-new-tokens", "24", "--max-repairs", "0", "--out", tmp_path]
    with debugger(*args) as (url, proc):
        track_state(page)
        page.goto(url)
        wait_state(page, "s.status === 'paused' && s.step === 1", timeout=60_000)
        assert "visual_tokens" in (page.text_content("#prompt") or "")  # the exact prompt is shown
        first = page.evaluate("() => window.__ppState.proposal.raw_output")
        page.check("#sample")
        page.fill("#temperature", "1.5")
        changed = False
        for _ in range(4):
            version = page.evaluate("() => window.__ppState.version")
            page.click("#btn-reask")
            wait_state(page, f"s.version > {version} && s.status === 'paused' && s.proposal.source === 'reask'")
            changed = page.evaluate("() => window.__ppState.proposal.raw_output") != first
            if changed:
                break
        assert changed, "sampling never changed the tiny model's answer"
        page.click("#btn-stop")
        wait_state(page, "s.status === 'done' && !!s.result")
        result = page.evaluate("() => window.__ppState.result")
        assert result["status"] == "stopped"
        proc.wait(timeout=30)
    step = json.loads((Path(result["bundle"]) / "steps.jsonl").read_text().splitlines()[0])
    kinds = [i["kind"] for i in step["interventions"]]
    assert kinds.count("reask") >= 1 and kinds[-1] == "stop"
    assert "sample=True" in step["interventions"][0]["note"]


def test_terminal_step_mode(tmp_path: Path) -> None:
    commands = 's\ne {"action": "type", "text": "alice"}\ns\nk\nq\n'
    proc = subprocess.run(
        [*PIXELPILOT, "debug", EXAMPLES_DIR / "login.yaml", "--repl", "--out", tmp_path],
        input=commands,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "step 1 paused (stepping)" in proc.stdout and "screenshot:" in proc.stdout
    png = Path(proc.stdout.split("screenshot:")[1].split()[0])
    assert png.exists() and png.suffix == ".png"
    assert "stopped" in proc.stdout
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert [[i["kind"] for i in s["interventions"]] for s in steps] == [[], ["edit"], ["skip"], ["stop"]]


def test_bad_debug_input_is_one_line(tmp_path: Path) -> None:
    from tests.test_cli import assert_one_line_error, cli

    assert_one_line_error(cli("debug", EXAMPLES_DIR / "login.yaml", "--break", "when=now"), "bad --break")
    assert_one_line_error(cli("debug", EXAMPLES_DIR / "login.yaml", "--confirm", "always"), "unknown confirm")
    assert_one_line_error(cli("debug", tmp_path / "missing.yaml"), "missing.yaml")


class _Guard(AgentHooks):
    """A script's hooks: never type into password fields, fix one click, stop at the finish."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_decide(self, ctx: StepContext) -> None:
        self.calls.append(f"decide {ctx.index}")

    def before_execute(self, ctx: StepContext, action: Any) -> Any:
        if action is not None and action.action == "type" and ctx.env.focus_is_secret():
            return Skip(note="no secrets from scripts")
        if action is not None and action.action == "click" and ctx.index == 1:
            return Replace(REGISTRY.validate({"action": "click", "x": 640, "y": 270}), note="moved")
        if action is not None and action.action == "finish":
            return Stop(note="enough")
        return None

    def after_execute(self, ctx: StepContext, action: Any, result: Any) -> None:
        self.calls.append(f"executed {ctx.index} {action.action if action else None}")


def test_python_hooks_veto_rewrite_and_stop(browser: BrowserEnv, tmp_path: Path) -> None:
    task = Task.from_file(EXAMPLES_DIR / "login.yaml")
    policy = ScriptedPolicy(
        [
            {"action": "click", "x": 10, "y": 10},
            {"action": "type", "text": "alice"},
            {"action": "click", "x": 640, "y": 352},
            {"action": "type", "text": "hunter2"},
            {"action": "finish", "status": "success"},
        ]
    )
    agent = Agent(browser, policy, AgentConfig(out_dir=tmp_path, write_report=False))
    guard = _Guard()
    agent.hooks.append(guard)
    result = agent.run(task.to_spec())
    assert result.status == "stopped" and result.steps == 5
    steps = [json.loads(line) for line in (result.bundle / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["action"] == {"action": "click", "x": 640.0, "y": 270.0}
    assert steps[0]["interventions"][0]["proposed"] == {"action": "click", "x": 10.0, "y": 10.0}
    assert steps[3]["action"] is None and steps[3]["interventions"][0] == {
        "kind": "skip", "proposed": {"action": "type", "text": "hunter2", "press_enter": False, "clear": False},
        "proposed_raw": None, "proposed_error": None, "hint": None, "note": "no secrets from scripts", "by": "user",
    }  # fmt: skip
    assert steps[4]["interventions"][0]["kind"] == "stop"
    assert guard.calls[:3] == ["decide 1", "executed 1 click", "decide 2"]


def test_debugging_an_android_task_on_the_simulated_device(android_sim: Any, tmp_path: Path) -> None:
    from pixelpilot.tasks import ANDROID_DIR

    script = tmp_path / "open.jsonl"
    script.write_text('{"action": "open_app", "app": "Notes"}\n{"action": "finish", "status": "success"}\n')
    proc = subprocess.run(
        [*PIXELPILOT, "debug", ANDROID_DIR / "open_notes.yaml", "--serial", android_sim.serial, "--repl",
         "--script", script, "--continue", "--confirm", "open_app", "--out", tmp_path],
        input="s\n", capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "step 1 paused (confirm: opening app 'Notes')" in proc.stdout  # even while continuing
    assert "success" in proc.stdout
    png = Path(proc.stdout.split("screenshot:")[1].split()[0])
    assert png.exists()
