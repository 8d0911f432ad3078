"""`pixelpilot bench` end to end: MiniWoB with the DOM oracle in real Chromium, resume after kill -9,
a hung unit killed by its limit, run keys, bad input; plus the statistics and the report's sums."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.tasks.bench.contract import UnitResult
from pixelpilot.tasks.bench.report import summarize
from pixelpilot.tasks.bench.results import ResultsLog, RunManifest, identity_of, open_run
from pixelpilot.tasks.bench.stats import binom_two_sided, compare, fisher_exact, wilson
from tests.test_cli import PIXELPILOT, assert_one_line_error, cli


def bench(
    *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PIXELPILOT, "bench", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def read_results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


TASKS = ["click-test", "click-button", "focus-text", "enter-text", "click-checkboxes", "click-dialog"]


def test_miniwob_oracle_scores_everything_through_the_full_harness(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [a for t in TASKS for a in ("--tasks", t)]
    proc = bench("miniwob", "--policy", "oracle", *args, "--seeds", "3", "--workers", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert sorted((r["task"], r["seed"]) for r in results) == sorted((t, s) for t in TASKS for s in range(3))
    failed = [(r["task"], r["seed"], r["status"], r["error"]) for r in results if not r["success"]]
    assert not failed
    assert all(r["raw_reward"] > 0 and 0 < r["reward"] <= 1 for r in results)  # MiniWoB's own scoring
    assert {r["worker"] for r in results} == {0, 1}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["success_rate"] == 1.0 and summary["overall"]["n"] == 18
    assert summary["settings"]["screenshot_px"] == "320x420"
    assert "overall = episode-weighted" in proc.stdout and "mean of per-task success rates: 100.0%" in proc.stdout
    report = (out / "report.html").read_text()
    assert "episode report" in report and "mean of per-task success rates" in report

    # the bundle is a full one, decided on the 160x210 task area at scale 2
    enter = next(r for r in results if r["task"] == "enter-text")
    bundle = out / enter["bundle"]
    episode = json.loads((bundle / "episode.json").read_text())
    assert episode["policy"]["name"] == "miniwob-oracle" and episode["status"] == "finished"
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert [s["action"]["action"] for s in steps] == ["click", "type", "click"]
    assert (steps[0]["observation"]["width"], steps[0]["observation"]["height"]) == (320, 420)
    assert (bundle / "report.html").exists()

    # seeding is MiniWoB's: the same seed gives the same episode, other seeds other ones
    utterances = {
        r["seed"]: json.loads((out / r["bundle"] / "episode.json").read_text())["task"]["instruction"]
        for r in results
        if r["task"] == "enter-text"
    }
    assert len(set(utterances.values())) > 1
    again = tmp_path / "again"
    proc = bench("miniwob", "--policy", "oracle", "--tasks", "enter-text", "--seeds", "3", "--out", again)
    assert proc.returncode == 0, proc.stderr
    for r in read_results(again):
        assert (
            json.loads((again / r["bundle"] / "episode.json").read_text())["task"]["instruction"]
            == utterances[r["seed"]]
        )

    # the run key guards --resume; a finished run resumes to nothing new
    proc = bench("miniwob", "--policy", "oracle", "--tasks", "enter-text", "--seeds", "3", "--out", again, "--resume")
    assert proc.returncode == 0 and "3 already done, 0 to run" in proc.stdout
    assert_one_line_error(
        bench("miniwob", "--policy", "oracle", "--tasks", "enter-text", "--seeds", "3", "--out", again),
        "already holds a run",
    )
    assert_one_line_error(
        bench("miniwob", "--policy", "oracle", "--tasks", "enter-text", "--scale", "3", "--out", again, "--resume"),
        "refusing to resume",
    )

    # compare: the same oracle on shared seeds -> no difference, exact paired test
    proc = bench("compare", out, again, "--json")
    assert proc.returncode == 0, proc.stderr
    report_json = json.loads(proc.stdout)
    row = next(r for r in report_json["tasks"] if r["task"] == "enter-text")
    assert row["test"] == "mcnemar" and row["paired"] == 3 and row["delta"] == 0 and row["p_value"] == 1.0
    assert any("only one run" in w for w in report_json["warnings"])


def test_resume_after_kill_minus_nine_loses_and_redoes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["miniwob", "--policy", "oracle", "--tasks", "click-test", "--seeds", "30", "--out", str(out)]
    proc = subprocess.Popen(
        [*PIXELPILOT, "bench", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 6:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)  # the runner only; its worker notices and exits
    proc.wait()
    before = read_results(out)
    assert 6 <= len(before) < 30
    resumed = bench(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(before)} already done" in resumed.stdout
    after = read_results(out)
    keys = [(r["task"], r["seed"]) for r in after]
    assert len(keys) == len(set(keys)) == 30  # nothing lost, nothing done twice
    assert after[: len(before)] == before  # the first results are untouched
    assert all(r["success"] for r in after)
    assert len({r["run_key"] for r in after}) == 1


HANG_PAGE = "<html><body><script>while (true) {}</script></body></html>"
OK_PAGE = "<html><body><button onclick=\"document.title='done'\">Go</button></body></html>"


def test_a_hung_unit_is_killed_and_the_run_goes_on(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "hang.html").write_text(HANG_PAGE)
    (tasks / "ok.html").write_text(OK_PAGE)
    for name in ("hang", "ok"):
        (tasks / f"{name}.yaml").write_text(
            f"id: {name}\ninstruction: press Go\nstart:\n  url: {name}.html\n  viewport: {{width: 200, height: 100}}\n"
            "success: {type: js, expression: \"document.title === 'done'\"}\n"
            f"solution: {name}.solution.jsonl\n"
        )
        (tasks / f"{name}.solution.jsonl").write_text(
            '{"action": "click", "x": 20, "y": 10}\n{"action": "finish", "status": "success"}\n'
        )
    out = tmp_path / "run"
    proc = bench("examples", "--data", tasks, "--policy", "oracle", "--episode-timeout", "15", "--out", out)
    assert proc.returncode == 1, proc.stderr + proc.stdout  # the run went on, and says a unit has no verdict
    by_task = {r["task"]: r for r in read_results(out)}
    assert by_task["hang"]["status"] == "killed" and "15s limit" in by_task["hang"]["error"]
    assert by_task["ok"]["status"] == "finished" and by_task["ok"]["success"]
    assert by_task["hang"]["worker"] != by_task["ok"]["worker"]  # a fresh worker took over


def test_bad_bench_input_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "x"
    assert_one_line_error(bench("miniwob", "--out", out), "choose who acts")
    assert_one_line_error(bench("miniwob", "--policy", "oracle", "--tasks", "nope-*", "--out", out), "matches none")
    assert_one_line_error(
        bench("miniwob", "--policy", "oracle", "--tasks", "click-pie", "--out", out), "does not support click-pie"
    )
    assert_one_line_error(bench("grounding", "--policy", "oracle", "--out", out), "needs --data")
    assert_one_line_error(bench("steplevel", "--policy", "oracle", "--data", out / "missing", "--out", out), "no such")
    assert_one_line_error(bench("miniwob", "--model", "m", "--dialect", "nope", "--out", out), "unknown dialect")
    assert_one_line_error(bench("compare", out, tmp_path), "not a benchmark run")
    proc = bench("list")
    assert proc.returncode == 0 and "miniwob" in proc.stdout and "grounding" in proc.stdout
    proc = bench("list", "miniwob")
    assert proc.returncode == 0 and "click-test  (oracle)" in proc.stdout and "flight.AA" in proc.stdout
    assert "130 tasks" not in cli("bench", "list", "miniwob").stderr


# --------------------------------------------------------------------------- statistics, by hand
def test_wilson_intervals() -> None:
    lo, hi = wilson(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson(0, 10)
    assert lo == 0 and round(hi, 4) == 0.2775
    lo, hi = wilson(10, 10)
    assert round(lo, 4) == 0.7225 and hi == 1
    assert wilson(0, 0) == (0.0, 1.0)


def test_exact_tests() -> None:
    assert round(fisher_exact(3, 1, 1, 3), 4) == 0.4857  # Fisher's tea-tasting table
    assert fisher_exact(5, 0, 0, 5) == pytest.approx(2 / 252)
    assert binom_two_sided(0, 6) == pytest.approx(2 / 64)
    assert binom_two_sided(3, 6) == 1.0
    a = {f"t#{i}": i < 2 for i in range(10)}
    b = {f"t#{i}": i < 8 for i in range(10)}
    c = compare(a, b)
    assert (c.test, c.only_a_wins, c.only_b_wins, c.delta) == ("mcnemar", 0, 6, pytest.approx(0.6))
    assert c.p_value == pytest.approx(2 / 64)
    unpaired = compare({"t#1": True, "t#2": True}, {"t#3": False, "t#4": False})
    assert unpaired.test == "fisher" and unpaired.paired == 0


def test_summary_sums_steps_and_labels_both_averages(tmp_path: Path) -> None:
    def unit(task: str, seed: int, ok: bool, steps: int, parse: int, tokens: int, capture: float) -> UnitResult:
        return UnitResult(
            run_key="k", suite="s", task=task, seed=seed, status="finished", success=ok, steps=steps,
            metrics={
                "steps": steps, "parse_failure_steps": parse, "visual_tokens_sum": tokens * steps,
                "visual_token_steps": steps, "capture_ms_sum": capture * steps, "model_ms_sum": 0.0,
                "execute_ms_sum": 10.0 * steps,
            },
        )  # fmt: skip

    results = [
        unit("a", 0, True, 2, 0, 100, 20.0),
        unit("a", 1, True, 2, 1, 100, 20.0),
        unit("a", 2, True, 2, 0, 100, 20.0),
        unit("b", 0, False, 4, 2, 200, 50.0),
    ]
    manifest = RunManifest(run_key="k", identity={}, suite="s", policy={}, settings={}, created_at="", updated_at="")
    s = summarize(results, manifest)
    o = s["overall"]
    assert o["success_rate"] == 0.75  # episode-weighted: 3 of 4
    assert o["mean_of_task_success_rates"] == 0.5  # (1.0 + 0.0) / 2
    assert o["parse_failure_rate"] == 0.3  # 3 failed steps of 10
    assert o["visual_tokens_per_step"] == 140.0  # (600 + 800) / 10
    assert o["latency_ms_per_step"] == {"capture": 32.0, "model": 0.0, "execute": 10.0}
    assert o["mean_steps"] == 2.5
    assert s["tasks"]["b"]["success_rate"] == 0.0 and s["tasks"]["b"]["ci95"][1] > 0.7


def test_results_log_survives_a_cut_line_and_keys_guard_mixing(tmp_path: Path) -> None:
    spec = PolicySpec(kind="oracle")
    identity = identity_of("miniwob", {"scale": 2}, spec.run_identity())
    manifest = open_run(tmp_path, suite="miniwob", identity=identity, policy={}, settings={}, resume=False)
    log = ResultsLog(tmp_path)
    log.append(UnitResult(run_key=manifest.run_key, suite="miniwob", task="a", seed=0, status="finished", success=True))
    log.close()
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"run_key": "' + manifest.run_key + '", "suite": "miniw')  # killed mid-write
    assert [r.task for r in ResultsLog(tmp_path).read()] == ["a"]
    log = ResultsLog(tmp_path)
    log.append(UnitResult(run_key=manifest.run_key, suite="miniwob", task="b", seed=0, status="finished", success=True))
    log.close()
    assert [r.task for r in ResultsLog(tmp_path).read()] == ["a", "b"]
    other = identity_of("miniwob", {"scale": 3}, spec.run_identity())
    with pytest.raises(ValueError, match="suite_settings"):
        open_run(tmp_path, suite="miniwob", identity=other, policy={}, settings={}, resume=True)
    qwen = PolicySpec(model="Qwen/Qwen2-VL-7B-Instruct", max_pixels=256 * 28 * 28).run_identity()
    assert qwen["dialect"] == "qwen2-vl" and qwen["max_pixels"] == 256 * 28 * 28 and "prompt_version" in qwen


def test_ray_backend_on_a_local_ray_instance(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_bin = str(Path(ray.__file__).parents[3].parent / "bin" / "ray")
    if not Path(ray_bin).exists():
        ray_bin = "ray"
    # a throwaway single-machine cluster: Ray's token auth is for clusters that outlive a test
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    start = subprocess.run(
        [ray_bin, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    try:
        out = tmp_path / "run"
        args = ["miniwob", "--policy", "oracle", "--tasks", "click-test", "--tasks", "focus-text", "--seeds", "2"]
        ray_args = ["--backend", "ray", "--ray-address", f"127.0.0.1:{port}", "--workers", "2", "--out", out]
        first = bench(*args, *ray_args, "--limit", "2", env=env)
        assert first.returncode == 0, first.stderr + first.stdout
        assert len(read_results(out)) == 2
        resumed = bench(*args, *ray_args, "--resume", env=env)  # the same results.jsonl and resume logic
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        results = read_results(out)
        assert sorted((r["task"], r["seed"]) for r in results) == [
            ("click-test", 0), ("click-test", 1), ("focus-text", 0), ("focus-text", 1)
        ]  # fmt: skip
        assert all(r["success"] and (out / r["bundle"] / "episode.json").exists() for r in results)
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, timeout=120, env=env)


def test_flight_tasks_are_served_over_http() -> None:
    from pixelpilot.tasks.bench.miniwob.env import MiniWobEnv

    env = MiniWobEnv(scale=1)
    try:
        instruction = env.begin("flight.AA", 3)
        assert env.page.url.startswith("http://127.0.0.1:") and env.page.url.endswith("/flight/AA/wrapper.html")
        assert instruction  # the flight wrapper's utterance
        obs = env.observe()
        assert (obs.geometry.width, obs.geometry.height) == (375, 667)
        assert not env.episode_over()
    finally:
        env.close()
