"""From clicking Step in the debugger page to the new screenshot shown: the debugger's round trip.

Starts `pixelpilot debug` on a local page with a scripted policy of N clicks (the same four
buttons as step_overhead.py's simple page), opens the debugger page in a second headless Chromium,
and for each step clicks the Step button and waits for the screenshot <img> to fire its load
event with the new step's screenshot. Reported: median and p90 of the click -> loaded time, plus a
split of the same steps' agent-side time (execute + next observe + decide, from the bundle).

A second variant measures the same while the debugger runs a *slow* policy (a script whose
decide sleeps 2 s) to check the page stays responsive: the time for /api/state to answer while
the model call is in flight.

    .venv/bin/python benchmarks/debugger_latency.py [--steps 40] [--out docs/PERFORMANCE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script
from perf_doc import write_section

from pixelpilot.env.browser.chromium import find_chromium, launch_args
from pixelpilot.env.browser.env import acquire_playwright, release_playwright

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "benchmarks" / "pages" / "simple.html"
BUTTONS = [(364, 450), (548, 450), (732, 450), (916, 450)]
MARK_BEGIN = "<!-- debugger_latency:begin -->"
MARK_END = "<!-- debugger_latency:end -->"


def write_task(folder: Path, steps: int) -> Path:
    script = folder / "clicks.jsonl"
    lines = [{"coords": "css"}]
    lines += [{"action": "click", "x": BUTTONS[i % 4][0], "y": BUTTONS[i % 4][1]} for i in range(steps)]
    lines.append({"action": "finish", "status": "success"})
    script.write_text("\n".join(json.dumps(x) for x in lines))
    task = folder / "task.yaml"
    task.write_text(
        f"id: clicks\ninstruction: click the buttons\nstart:\n  url: {PAGE.as_uri()}\n"
        f"  viewport: {{width: 1280, height: 720}}\nmax_steps: {steps + 5}\ntime_limit_s: 3600\n"
        f"solution: {script}\n"
    )
    return task


def start_debugger(task: Path, out: Path) -> tuple[subprocess.Popen[str], str]:
    exe = Path(sys.executable).parent / "pixelpilot"
    proc = subprocess.Popen(
        [str(exe), "debug", str(task), "--out", str(out), "--exit-when-done"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("debugger: "):
        raise SystemExit(f"debugger did not start: {line!r}")
    return proc, line.split()[1]


def measure(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        task = write_task(folder, steps)
        proc, url = start_debugger(task, folder / "runs")
        pw = acquire_playwright()
        browser = pw.chromium.launch(executable_path=find_chromium(None), args=launch_args(()), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_function("() => (window.__ppShotLoads || 0) >= 1", timeout=30_000)
            page.wait_for_selector("#btn-step:not([disabled])")
            latencies: list[float] = []
            for _ in range(steps):
                loads = page.evaluate("() => window.__ppShotLoads")
                t0 = time.perf_counter()
                page.click("#btn-step")
                page.wait_for_function(f"() => window.__ppShotLoads > {loads}", timeout=30_000, polling="raf")
                latencies.append((time.perf_counter() - t0) * 1000)
                page.wait_for_selector("#btn-step:not([disabled])")
            page.click("#btn-step")  # the finish
            proc.wait(timeout=60)
        finally:
            browser.close()
            release_playwright()
            if proc.poll() is None:
                proc.kill()
        bundle = next((folder / "runs").iterdir())
        records = [json.loads(x) for x in (bundle / "steps.jsonl").read_text().splitlines()]
    agent_ms = [r["timings_ms"]["execute"] + r["timings_ms"]["capture"] + r["timings_ms"]["decide"] for r in records]
    warm = latencies[1:]  # the first step also warms the page's image decoder
    return {
        "steps": len(warm),
        "median_ms": round(statistics.median(warm), 1),
        "p90_ms": round(sorted(warm)[int(0.9 * (len(warm) - 1))], 1),
        "min_ms": round(min(warm), 1),
        "agent_side_median_ms": round(statistics.median(agent_ms[1:]), 1),
    }


def responsiveness() -> dict[str, Any]:
    """/api/state latency while the tiny Qwen2-VL is inside a long re-ask (a slow model call)."""
    import threading

    from pixelpilot.agent.qwen.tiny import build_tiny_qwen2vl

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_tiny_qwen2vl(folder / "tiny", seed=0)
        task = write_task(folder, 3)
        exe = Path(sys.executable).parent / "pixelpilot"
        proc = subprocess.Popen(
            [str(exe), "debug", str(task), "--model", str(model), "--max-pixels", str(256 * 28 * 28),
             "--max-new-tokens", "256", "--max-repairs", "0", "--out", str(folder / "runs"), "--exit-when-done"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        base, token = proc.stdout.readline().split()[1].split("/?token=")
        headers = {"x-pixelpilot-token": token, "content-type": "application/json"}

        def get_state() -> dict[str, Any]:
            return json.load(urllib.request.urlopen(urllib.request.Request(base + "/api/state", headers=headers)))

        def post(cmd: dict[str, Any]) -> None:
            req = urllib.request.Request(base + "/api/command", data=json.dumps(cmd).encode(), headers=headers)
            urllib.request.urlopen(req).read()

        try:
            while get_state()["status"] != "paused":
                time.sleep(0.05)
            version = get_state()["version"]
            t_start = time.perf_counter()
            threading.Thread(target=post, args=({"cmd": "reask", "sample": True},), daemon=True).start()
            times = []
            while get_state()["version"] == version and time.perf_counter() - t_start < 60:
                t0 = time.perf_counter()
                get_state()
                times.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.02)
            call_ms = (time.perf_counter() - t_start) * 1000
            post({"cmd": "stop"})
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    return {
        "model_call_ms": round(call_ms),
        "state_requests_during_call": len(times),
        "state_median_ms": round(statistics.median(times), 1) if times else None,
        "state_max_ms": round(max(times), 1) if times else None,
    }


def render(result: dict[str, Any], runs: list[dict[str, Any]], busy: dict[str, Any]) -> str:
    cpu = cpuinfo_field("model name") or "unknown CPU"
    lines = [
        MARK_BEGIN,
        "## Debugger: Step to new screenshot",
        "",
        f"`benchmarks/debugger_latency.py`, {datetime.now():%Y-%m-%d}, {cpu}, 2 cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end (a shared machine); scripted policy clicking "
        "buttons on benchmarks/pages/simple.html (1280x720 @1); the debugger page in a second headless Chromium. "
        "Time from clicking **Step** to the new screenshot's `load` event in the page "
        f"({len(runs)} runs × {result['steps']} steps, first step of each run dropped).",
        "",
        "| run | median ms | p90 ms | min ms | agent side (execute + observe + decide) median ms |",
        "|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs, 1):
        lines.append(f"| {i} | {r['median_ms']} | {r['p90_ms']} | {r['min_ms']} | {r['agent_side_median_ms']} |")
    lines += [
        "",
        f"Median over runs: **{result['median_ms']} ms** (goal: under 300 ms). The rest of the round trip is "
        "the command POST, the server-sent event, and the image fetch and decode.",
        "",
        f"Responsiveness during a slow model call (tiny Qwen2-VL re-asked with 256 new tokens, "
        f"{busy['model_call_ms']} ms): {busy['state_requests_during_call']} `/api/state` requests answered meanwhile, "
        f"median {busy['state_median_ms']} ms, max {busy['state_max_ms']} ms — the call runs on the agent's "
        "thread, not the server's event loop.",
        "",
        MARK_END,
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    runs = [measure(args.steps) for _ in range(args.runs)]
    for r in runs:
        print(json.dumps(r))
    result = {"steps": runs[0]["steps"], "median_ms": round(statistics.median(r["median_ms"] for r in runs), 1)}
    busy = responsiveness()
    print(json.dumps(busy))
    text = render(result, runs, busy)
    print(text)
    if args.out:
        write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
