"""The desktop example tasks: each solved by its script through `pixelpilot run` and `pixelpilot bench desktop`,
none solved by doing nothing, and a desktop episode stepped and corrected by click-to-act in the debugger."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from pixelpilot.tasks import DESKTOP_DIR, Task
from tests.test_cli import PIXELPILOT
from tests.test_debugger import click_screenshot_at, debugger, page, track_state, wait_state  # noqa: F401

TASKS = sorted(p.stem for p in DESKTOP_DIR.glob("*.yaml"))


def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def xvfb_pids() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "Xvfb"}


def test_the_shipped_desktop_tasks() -> None:
    assert TASKS == ["form", "form_ja", "hover_help", "xedit_note"]
    for name in TASKS:
        task = Task.from_file(DESKTOP_DIR / f"{name}.yaml")
        assert task.env == "desktop" and task.solution and Path(task.solution).exists()


@pytest.mark.parametrize("name", TASKS)
def test_each_desktop_task_is_solved_by_its_script_through_run(name: str, tmp_path: Path) -> None:
    proc = run("run", DESKTOP_DIR / f"{name}.yaml", "--out", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "success (finished" in proc.stdout
    bundle = next(tmp_path.iterdir())
    record = json.loads((bundle / "episode.json").read_text())
    assert record["env"]["kind"] == "desktop" and record["env"]["screen"] == [1280, 800]
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["observation"]["window"]["title"].startswith(("pixelpilot form", "xedit"))
    assert (bundle / "app.log").exists() and (bundle / "report.html").exists()


@pytest.mark.parametrize("name", TASKS)
def test_doing_nothing_solves_no_desktop_task(name: str, tmp_path: Path) -> None:
    script = tmp_path / "nothing.jsonl"
    script.write_text('{"action": "finish", "status": "success"}\n')
    proc = run("run", DESKTOP_DIR / f"{name}.yaml", "--script", script, "--out", tmp_path)
    assert proc.returncode == 1 and "success check failed" in proc.stdout, proc.stdout + proc.stderr


def test_bench_desktop_solves_every_task_on_two_workers_and_leaves_no_display(tmp_path: Path) -> None:
    before = xvfb_pids()
    proc = run("bench", "desktop", "--policy", "oracle", "--workers", "2", "--out", tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task"] for r in results) == TASKS and all(r["success"] for r in results), results
    assert xvfb_pids() <= before  # each worker's own display went with it


def test_debugger_steps_and_click_to_act_on_a_desktop_episode(page: Any, tmp_path: Path) -> None:  # noqa: F811
    script = tmp_path / "script.jsonl"
    lines = [
        {"action": "click", "x": 900, "y": 650},  # misses the form; the user clicks the Name field instead
        {"action": "type", "text": "Ada Lovelace"},
        {"action": "click", "x": 260, "y": 195},
        {"action": "click", "x": 290, "y": 279},
        {"action": "finish", "status": "success"},
    ]
    script.write_text("\n".join(json.dumps(line) for line in lines))
    with debugger(DESKTOP_DIR / "form.yaml", "--script", script, "--out", tmp_path) as (url, proc):
        track_state(page)
        page.goto(url)
        wait_state(page, "s.status === 'paused' && s.step === 1")
        page.wait_for_function("() => window.__ppShotLoads >= 1")
        page.check("#click-mode")
        click_screenshot_at(page, 400, 137)  # screenshot px are the desktop's px
        wait_state(page, "s.proposal.source === 'click'")
        proposal = page.evaluate("() => window.__ppState.proposal.action")
        assert proposal["action"] == "click" and abs(proposal["x"] - 400) <= 2 and abs(proposal["y"] - 137) <= 2
        page.click("#btn-step")
        wait_state(page, "s.step === 2 && s.status === 'paused'")
        page.click("#btn-step")  # the typing, as proposed
        wait_state(page, "s.step === 3 && s.status === 'paused'")
        page.click("#btn-continue")
        wait_state(page, "s.status === 'done' && !!s.result")
        result = page.evaluate("() => window.__ppState.result")
        assert result["success"] is True and result["status"] == "finished", result
        proc.wait(timeout=30)
    steps = [json.loads(line) for line in (Path(result["bundle"]) / "steps.jsonl").read_text().splitlines()]
    assert [i["kind"] for i in steps[0]["interventions"]] == ["click"]
    assert steps[0]["interventions"][0]["proposed"] == {"action": "click", "x": 900.0, "y": 650.0}
    x, y = steps[0]["action"]["x"], steps[0]["action"]["y"]
    assert steps[1]["observation"]["pointer"] == [int(x), int(y)]  # where the corrected click left the pointer


def test_the_viewer_shows_a_desktop_episode_with_its_hover(tmp_path: Path) -> None:
    from pixelpilot.env.browser.chromium import find_chromium, launch_args
    from pixelpilot.env.browser.env import acquire_playwright, release_playwright
    from tests.test_viewer import viewer

    proc = run("bench", "desktop", "--tasks", "hover_help", "--policy", "oracle", "--workers", "1", "--out", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pw = acquire_playwright()
    browser = pw.chromium.launch(executable_path=find_chromium(), args=launch_args(), chromium_sandbox=False)
    try:
        with viewer(tmp_path) as url:
            view = browser.new_page(viewport={"width": 1400, "height": 900})
            view.goto(url)
            view.wait_for_selector("body[data-ready]")
            view.click('#episodes a:text-is("hover_help/seed-0")')
            pane = view.locator(".pane").first
            pane.locator(".shot .ovl svg circle").first.wait_for()  # the hover's point, drawn over the desktop
            view.wait_for_function("document.querySelector('.pane .shot img').naturalWidth > 0")
            assert view.evaluate("document.querySelector('.pane .shot img').naturalWidth") == 1280
            assert json.loads(pane.locator(".action-json").inner_text())["action"] == "mouse_move"
            assert "hover" in pane.locator(".shot .ovl svg").inner_html()
    finally:
        browser.close()
        release_playwright()
