"""A killed `pixelpilot bench` runner leaves nothing behind its resume: its workers and their
Chromium end with it, the resumed unit owns its bundle, and a live runner's --out is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from pixelpilot.tasks.bench.runner import PARENT_WATCH_INTERVAL_S
from tests.test_bench_runner import HANG_PAGE, OK_PAGE, read_results
from tests.test_cli import PIXELPILOT, assert_one_line_error

# waits for progress (a runner starting, a browser loading a page) are generous; the one assertion
# about speed, how soon a dead runner's processes are gone, derives its limit from the runner itself
PROGRESS_S = 180.0


def make_tasks(root: Path) -> Path:
    """One example task, "hang", whose page spins forever (until the test swaps in a working page)."""
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "hang.html").write_text(HANG_PAGE)
    (tasks / "hang.yaml").write_text(
        "id: hang\ninstruction: press Go\nstart:\n  url: hang.html\n  viewport: {width: 200, height: 100}\n"
        "success: {type: js, expression: \"document.title === 'done'\"}\nsolution: hang.solution.jsonl\n"
    )
    (tasks / "hang.solution.jsonl").write_text(
        '{"action": "click", "x": 20, "y": 10}\n{"action": "finish", "status": "success"}\n'
    )
    return tasks


class Runners:
    """Starts `pixelpilot bench examples` runners; kills whatever is left of them at the end, so a
    failing test (or the code before the fix) does not leave browsers running on the machine."""

    def __init__(self, tmp_path: Path) -> None:
        self.tasks = make_tasks(tmp_path)
        self.out = tmp_path / "run"
        self.procs: list[psutil.Process] = []

    def args(self, *extra: str) -> list[str]:
        return [*PIXELPILOT, "bench", "examples", "--data", str(self.tasks), "--policy", "oracle",
                "--episode-timeout", "600", "--out", str(self.out), *extra]  # fmt: skip

    def start(self, *extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self.args(*extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self.procs.append(psutil.Process(proc.pid))
        return proc

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        proc = self.start(*extra)
        stdout, stderr = proc.communicate(timeout=PROGRESS_S)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    def tree(self, proc: subprocess.Popen[str]) -> list[psutil.Process]:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
        self.procs += tree
        return tree

    def cleanup(self) -> None:
        for p in list(self.procs):
            try:
                self.procs += p.children(recursive=True)
            except psutil.Error:
                pass
        for p in self.procs:
            try:
                if p.is_running():
                    p.kill()
            except psutil.Error:
                pass


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[Runners]:
    r = Runners(tmp_path)
    try:
        yield r
    finally:
        r.cleanup()


def wait_until_hanging(runners: Runners, proc: subprocess.Popen[str], since: float = 0.0) -> None:
    """Until the runner's worker has started the unit (its bundle header is written) and hangs in it."""
    header = runners.out / "episodes" / "hang" / "seed-0" / "episode.json"
    deadline = time.monotonic() + PROGRESS_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if header.exists() and header.stat().st_mtime > since:
            return
        time.sleep(0.05)
    pytest.fail("the hanging unit never started")


def kill_minus_nine(proc: subprocess.Popen[str]) -> float:
    """SIGKILL the runner alone; the seconds this machine took to make it gone (reaped)."""
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.monotonic() - t0


def still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Processes that still run (a zombie waits for its parent's wait() only: it runs nothing)."""
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_a_killed_runner_leaves_no_orphans_and_its_resume_owns_the_bundle(runners: Runners) -> None:
    first = runners.start()
    wait_until_hanging(runners, first)
    tree = runners.tree(first)
    assert any("chrom" in p.name() for p in tree), [p.name() for p in tree]  # the worker's browser is in it
    latency = kill_minus_nine(first)
    (runners.tasks / "hang.html").write_text(OK_PAGE)  # the resumed attempt can finish the unit
    resume_started = datetime.now().astimezone()
    resumed = runners.start("--resume")  # at once, while the first run's processes may still be there

    # every process of the first run ends within the runner's own watch interval (10x, for a busy
    # machine) plus the time a kill -9 took to take effect on this machine just now
    limit = 10 * PARENT_WATCH_INTERVAL_S + latency
    deadline = time.monotonic() + limit
    while still_running(tree) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [(p.pid, p.name()) for p in still_running(tree)]
    assert not left, f"{len(left)} of the first run's {len(tree)} processes outlived it by {limit:.2f}s: {left}"

    stdout, stderr = resumed.communicate(timeout=PROGRESS_S)
    assert resumed.returncode == 0, stderr + stdout
    assert "0 already done, 1 to run" in stdout
    [result] = read_results(runners.out)
    assert (result["status"], result["success"], result["steps"]) == ("finished", True, 2)
    bundle = runners.out / result["bundle"]
    episode = json.loads((bundle / "episode.json").read_text())
    assert datetime.fromisoformat(episode["started_at"]) >= resume_started  # the resumed run's header
    assert (episode["status"], episode["success"], episode["steps"]) == ("finished", True, 2)
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert [s["index"] for s in steps] == [1, 2]
    assert [s["action"]["action"] for s in steps] == ["click", "finish"]
    assert all((bundle / s["observation"]["screenshot"]).exists() for s in steps)
    assert datetime.fromisoformat(steps[0]["started_at"]) >= resume_started
    assert (bundle / "report.html").exists()


def test_a_second_runner_on_a_live_out_is_refused(runners: Runners) -> None:
    first = runners.start()
    wait_until_hanging(runners, first)
    results_before = (runners.out / "results.jsonl").read_bytes() if (runners.out / "results.jsonl").exists() else b""
    assert_one_line_error(runners.run("--resume"), "in use by a live runner")
    assert_one_line_error(runners.run(), "in use by a live runner")
    assert first.poll() is None  # the live runner goes on, its folder untouched by the refused ones
    assert ((runners.out / "results.jsonl").read_bytes() if (runners.out / "results.jsonl").exists() else b"") == (
        results_before
    )


def test_a_dead_runners_out_is_resumed_and_claimed_by_the_resume(runners: Runners) -> None:
    first = runners.start()
    wait_until_hanging(runners, first)
    runners.tree(first)
    kill_minus_nine(first)  # its lock file stays behind, naming a dead pid
    killed_at = time.time()
    resumed = runners.start("--resume")  # not refused: the dead runner's lock died with it
    wait_until_hanging(runners, resumed, since=killed_at)  # the unit runs (and hangs) again, in the resume
    assert_one_line_error(runners.run("--resume"), f"in use by a live runner (pid {resumed.pid})")
    runners.tree(resumed)
    kill_minus_nine(resumed)
