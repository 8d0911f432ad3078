"""Exit codes and last lines of `run`, `debug --exit-when-done` and `bench`, through the real CLI.

Scripts and CI pipelines branch on these codes: 0 the task succeeded (bench: the run completed,
whatever the scores), 1 the episode ran and did not succeed (bench: units were killed or crashed),
2 it could not start (bad input). When an episode does not succeed, its last line says why.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.env.browser import BrowserConfig
from pixelpilot.tasks import ANDROID_DIR
from tests.android_fixtures import adb, connect
from tests.replay_server import ReplayServer, Reply
from tests.test_cli import PIXELPILOT, assert_one_line_error

PAGE = "<html><body><button onclick=\"document.title='done'\">Go</button></body></html>"
HANG_PAGE = "<html><body><script>while (true) {}</script></body></html>"
PRESS_GO = '{"action": "click", "x": 20, "y": 10}\n{"action": "finish", "status": "success"}\n'
GIVE_UP = '{"action": "finish", "status": "success"}\n'  # declares success without pressing: the check says no


def pixelpilot(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # wide columns: the help tables are read line by line
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, proc.stderr
    return lines[-1]


def task_file(folder: Path, name: str = "go", page: str = PAGE, solution: str = PRESS_GO) -> Path:
    """A one-button task whose check is the page's own state, with a scripted solution."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.html").write_text(page)
    (folder / f"{name}.solution.jsonl").write_text(solution)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"id: {name}\ninstruction: press Go\nstart:\n  url: {name}.html\n  viewport: {{width: 200, height: 100}}\n"
        "success: {type: js, expression: \"document.title === 'done'\"}\n"
        f"solution: {name}.solution.jsonl\n"
    )
    return path


# --------------------------------------------------------------------------- run
def test_a_task_that_succeeds_exits_0_and_says_so_last(tmp_path: Path) -> None:
    proc = pixelpilot("run", task_file(tmp_path / "t"), "--out", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert last_line(proc) == "success (finished, 2 steps): success check passed: js predicate returned True"


def test_a_failed_success_check_exits_1_naming_the_checks_reason(tmp_path: Path) -> None:
    proc = pixelpilot("run", task_file(tmp_path / "t", solution=GIVE_UP), "--out", tmp_path / "runs")
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert last_line(proc) == "failure (finished, 1 step): success check failed: js predicate returned False"
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    record = json.loads((bundle / "episode.json").read_text())
    assert record["reason"] == "success check failed: js predicate returned False"  # the bundle says it too


def test_reaching_max_steps_exits_1_naming_the_limit(tmp_path: Path) -> None:
    waits = tmp_path / "waits.jsonl"
    waits.write_text('{"action": "wait", "seconds": 0}\n' * 5)
    proc = pixelpilot("run", task_file(tmp_path / "t"), "--script", waits, "--max-steps", "2", "--out", tmp_path)
    assert proc.returncode == 1, proc.stderr + proc.stdout
    line = last_line(proc)
    assert line.startswith("failure (max_steps, 2 steps): reached the step limit (2 steps)"), line
    assert "success check failed: js predicate returned False" in line


def test_a_model_producing_garbage_exits_1_naming_the_parse_failures(tmp_path: Path) -> None:
    with ReplayServer() as server:  # with nothing scripted, every reply is a JSON object, not a tool call
        proc = pixelpilot(
            "run", task_file(tmp_path / "t"), "--endpoint", server.url, "--model", server.model,
            "--dialect", "qwen2.5-vl", "--max-repairs", "1", "--out", tmp_path / "runs",
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr + proc.stdout
    line = last_line(proc)
    # three steps in a row failed (the loop's limit), each after one re-ask: six outputs unread
    assert line.startswith("failure (error, 3 steps): 3 failed steps in a row, the last: "), line
    assert line.endswith("; 6 parse failures"), line
    assert len(server.requests) == 6


class _KillingReply(Reply):
    """A reply that first kills the phone: the device drops while the model is deciding step 2."""

    def __init__(self, content: str, kill: Callable[[], Any]) -> None:
        super().__init__(content)
        self.kill = kill

    def body(self, model: str) -> bytes:
        self.kill()
        return super().body(model)


def test_an_android_device_killed_mid_episode_exits_1_naming_the_env_error(adb_server: None, tmp_path: Path) -> None:
    from pixelpilot.env.android.simulator.process import start_simulator

    wait = '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "wait", "time": 0.1}}\n</tool_call>'
    sim = start_simulator(port=0)
    try:
        connect(sim.serial)
        with ReplayServer() as server:
            server.script(wait, _KillingReply(wait, sim.stop))
            proc = pixelpilot(
                "run", ANDROID_DIR / "open_notes.yaml", "--serial", sim.serial, "--endpoint", server.url,
                "--model", server.model, "--dialect", "qwen2.5-vl", "--out", tmp_path,
            )  # fmt: skip
    finally:
        sim.stop()
        adb("disconnect", sim.serial)
    assert proc.returncode == 1, proc.stderr + proc.stdout
    line = last_line(proc)
    assert line.startswith(
        f"failure (env_error, 1 step): the environment failed at step 2: device {sim.serial} is gone"
    )


def test_a_bad_task_file_exits_2_from_run_debug_and_bench(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    task = task_file(folder)
    task.write_bytes(b"id: go\ninstruction: caf\xe9\n")  # Latin-1, not UTF-8
    assert_one_line_error(pixelpilot("run", task, "--out", tmp_path / "runs"), "go.yaml: not UTF-8 text")
    assert_one_line_error(
        pixelpilot("debug", task, "--continue", "--exit-when-done", "--out", tmp_path / "runs"), "not UTF-8 text"
    )
    assert_one_line_error(
        pixelpilot("bench", "examples", "--data", folder, "--policy", "oracle", "--out", tmp_path / "bench"),
        "go.yaml: not UTF-8 text",
    )
    script = tmp_path / "s.jsonl"
    script.write_bytes(b'{"action": "type", "text": "caf\xe9"}\n')
    good = task_file(tmp_path / "good")
    assert_one_line_error(pixelpilot("run", good, "--script", script, "--out", tmp_path), "s.jsonl: not UTF-8 text")


# --------------------------------------------------------------------------- debug --exit-when-done
def test_debug_exit_when_done_exits_like_run(tmp_path: Path) -> None:
    ok = pixelpilot("debug", task_file(tmp_path / "ok"), "--continue", "--exit-when-done", "--out", tmp_path)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert last_line(ok) == "success (finished, 2 steps): success check passed: js predicate returned True"

    bad = task_file(tmp_path / "bad", solution=GIVE_UP)
    failed = pixelpilot("debug", bad, "--continue", "--exit-when-done", "--out", tmp_path)
    assert failed.returncode == 1, failed.stderr + failed.stdout
    assert last_line(failed) == "failure (finished, 1 step): success check failed: js predicate returned False"


# --------------------------------------------------------------------------- bench
def test_bench_exits_0_on_any_scores_and_1_when_a_unit_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    task_file(folder, "miss", solution=GIVE_UP)
    task_file(folder, "hang", page=HANG_PAGE)

    scored = pixelpilot("bench", "examples", "--data", folder, "--policy", "oracle", "--tasks", "miss",
                        "--out", tmp_path / "scored")  # fmt: skip
    assert scored.returncode == 0, scored.stderr + scored.stdout
    (result,) = [json.loads(line) for line in (tmp_path / "scored" / "results.jsonl").read_text().splitlines()]
    assert result["status"] == "finished" and not result["success"]  # a failed task is a score, not a fault

    # the hung page never loads: the unit is killed by its limit, below the browser's own timeouts
    # (which would end it as an env_error instead)
    config = BrowserConfig()
    limit = min(config.navigation_timeout_s, config.hang_timeout_s) / 6
    killed = pixelpilot("bench", "examples", "--data", folder, "--policy", "oracle", "--tasks", "hang",
                        "--episode-timeout", f"{limit:g}", "--out", tmp_path / "killed")  # fmt: skip
    assert killed.returncode == 1, killed.stderr + killed.stdout
    line = last_line(killed)
    assert line.startswith("1 of 1 units did not complete (1 killed by the time limit, 0 crashed)"), line
    assert f"hang seed 0: exceeded the {limit:g}s limit" in line


def test_bad_bench_arguments_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    task_file(folder)
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a run folder")
    proc = pixelpilot("bench", "examples", "--data", folder, "--policy", "oracle", "--out", a_file)
    assert_one_line_error(proc, f"cannot use --out {a_file}")
    proc = pixelpilot("bench", "examples", "--data", folder, "--policy", "oracle", "--workers", "0", "--out", tmp_path)
    assert proc.returncode == 2 and "--workers" in proc.stderr, proc.stderr
    latin1 = tmp_path / "screenspot_web.json"
    latin1.write_bytes(b'[{"img_filename": "caf\xe9.png"}]')  # a dataset file in Latin-1, not UTF-8
    proc = pixelpilot("bench", "grounding", "--data", latin1, "--policy", "oracle", "--out", tmp_path / "g")
    assert_one_line_error(proc, "screenspot_web.json: not UTF-8 text")


# --------------------------------------------------------------------------- documented where people look
@pytest.mark.parametrize(
    "args, codes",
    [
        ([], ["0  the task succeeded", "1  the episode ran and did not succeed", "0    the run completed"]),
        (["run"], ["0  the task succeeded", "1  the episode ran and did not succeed", "2  it could not start"]),
        (["debug"], ["Exit codes with --exit-when-done:", "0  the task succeeded", "2  it could not start"]),
        (["bench"], ["0    the run completed, whatever the scores", "1    units were killed"]),
        (["bench", "miniwob"], ["0    the run completed, whatever the scores", "2    bad input"]),
    ],
    ids=["top", "run", "debug", "bench", "bench-suite"],
)
def test_help_documents_the_exit_codes(args: list[str], codes: list[str]) -> None:
    proc = pixelpilot(*args, "--help")
    assert proc.returncode == 0, proc.stderr
    for code in codes:
        assert code in proc.stdout, proc.stdout
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "## Exit codes" in readme and readme.index("## Exit codes") > readme.index("## Quick start: the CLI")
