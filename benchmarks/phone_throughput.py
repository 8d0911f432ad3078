"""Throughput of the phone suite: oracle episodes per minute with 1 and 2 workers, and setup cost per episode.

Two parts, both on PixelSim simulators through the real adb server:

1. **setup**: one simulator (``PhoneDevice``, ADB Keyboard selected); for each round and each template, an
   episode's ``env.reset(spec.start)``: the seeded setup (one ``am broadcast`` that loads contacts, notes and
   layout, one line of ``settings put``), Home, force-stop + launch of the start app, and settling, timed
   as a whole and with the setup commands alone. Captures ``png`` (the suite's default on the simulator) and
   ``raw`` run interleaved, template by template.
2. **throughput**: the real runner (``plan_run`` + ``execute``, as ``pixelpilot bench phone --policy oracle``
   runs it) over every template for ``--seeds`` seeds, with 1 worker and with 2 workers (each starting its
   own simulator), in alternating order per round on the same seeds. Reported: episodes per minute over the
   whole run (worker start included) and in steady state (from each worker's first result to the last one),
   and the success rate (the oracle must stay at 100 %).

Figures are medians over ``--rounds`` rounds.

    .venv/bin/python benchmarks/phone_throughput.py [--rounds 3] [--seeds 1] [--setup-rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script

from pixelpilot.agent.logs import enable_logging
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.tasks.bench.contract import UnitResult
from pixelpilot.tasks.bench.phone import PhoneDevice, PhoneSuite, make_episode, templates
from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def setup_costs(rounds: int) -> dict[str, Any]:
    """ms per episode reset, per capture mode, pooled over templates and rounds."""
    names = [t.name for t in templates()]
    out: dict[str, dict[str, list[float]]] = {c: {"reset": [], "setup_commands": []} for c in ("png", "raw")}
    devices = {c: PhoneDevice(capture=c) for c in ("png", "raw")}  # type: ignore[arg-type]
    try:
        for r in range(rounds + 1):  # round 0 warms up and is dropped
            order = ["png", "raw"] if r % 2 else ["raw", "png"]
            for i, name in enumerate(names):
                spec = make_episode(name, 500 + r * 37 + i).spec
                for capture in order:
                    env = devices[capture].env
                    t0 = time.perf_counter()
                    for command in spec.start.setup:
                        rc, text = env.link.shell_rc(command)
                        assert rc == 0, text
                    t1 = time.perf_counter()
                    env.reset(spec.start)
                    t2 = time.perf_counter()
                    if r:
                        out[capture]["setup_commands"].append((t1 - t0) * 1000)
                        out[capture]["reset"].append((t2 - t1) * 1000)
    finally:
        for device in devices.values():
            device.close()
    return {
        c: {k: round(_median(v), 1) for k, v in parts.items()} | {"n": len(parts["reset"])} for c, parts in out.items()
    }


def throughput_run(workers: int, seeds: int, seed_start: int, out: Path) -> dict[str, Any]:
    suite = PhoneSuite(seed_start=seed_start, reports=False)
    options = RunOptions(out=out, workers=workers, seeds=seeds)
    plan = plan_run(suite, PolicySpec(kind="oracle"), options)
    arrivals: list[tuple[float, UnitResult]] = []
    t0 = time.perf_counter()
    outcome = execute(plan, on_result=lambda r: arrivals.append((time.perf_counter(), r)))
    wall = time.perf_counter() - t0
    first_by_worker: dict[int, float] = {}
    for t, r in arrivals:
        first_by_worker.setdefault(r.worker, t)
    start = max(first_by_worker.values())  # every worker is up and has finished one unit
    later = [t for t, _ in arrivals if t > start]
    steady = len(later) / ((arrivals[-1][0] - start) / 60) if len(later) >= 2 else float("nan")
    results = outcome.results
    return {
        "workers": workers,
        "units": len(results),
        "success": sum(r.success for r in results) / len(results),
        "wall_s": round(wall, 1),
        "per_min_wall": len(results) / (wall / 60),
        "per_min_steady": steady,
        "steps": sum(r.steps for r in results) / len(results),
        "episode_s": _median([r.elapsed_s for r in results]),
    }


def throughput(rounds: int, seeds: int, tmp: Path) -> dict[int, list[dict[str, Any]]]:
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for r in range(rounds):
        for workers in [1, 2] if r % 2 == 0 else [2, 1]:
            run = throughput_run(workers, seeds, 1000 + r * seeds, tmp / f"r{r}-w{workers}")
            print(f"  round {r} workers {workers}: {run}", file=sys.stderr, flush=True)
            runs[workers].append(run)
    return runs


def markdown(setup: dict[str, Any], runs: dict[int, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    load = os.getloadavg()[0]
    lines = [
        "## Phone suite: oracle throughput and setup cost",
        "",
        f"_Generated by `benchmarks/phone_throughput.py --rounds {args.rounds} --seeds {args.seeds} "
        f"--setup-rounds {args.setup_rounds}` on {datetime.now():%Y-%m-%d %H:%M}._",
        "",
        f"**Machine.** {cpuinfo_field('model name')}, {os.cpu_count()} logical CPUs shared with other work "
        f"(a training job at nice 19 and other test runs); Python {platform.python_version()}; load average "
        f"(1 min) at the end {load:.1f}. Each simulator is a headless Chromium rendering 1080×2340.",
        "",
        "**Setup cost per episode** (ms, median over every template × "
        f"{args.setup_rounds} rounds, captures interleaved): *setup commands* = the seeded state's two shell "
        "commands alone; *reset* = `env.reset(spec.start)`, which runs them and then goes Home, force-stops and "
        "launches the start app and settles (captures until two agree).",
        "",
        "| capture | setup commands | **reset (whole setup)** | episodes |",
        "|---|---:|---:|---:|",
    ]
    for capture in ("png", "raw"):
        s = setup[capture]
        lines.append(f"| {capture} | {s['setup_commands']:.0f} | **{s['reset']:.0f}** | {s['n']} |")
    lines += [
        "",
        f"**Oracle episodes per minute** through the runner (every template × {args.seeds} seed(s) per run, "
        f"{args.rounds} rounds, 1 and 2 workers alternating on the same seeds; medians over rounds). *Wall* "
        "counts the whole run including each worker starting its simulator; *steady* runs from the moment every "
        "worker has finished one unit to the last result.",
        "",
        "| workers | episodes / min (wall) | **episodes / min (steady)** | episode s (median) | steps / episode "
        "| oracle success | speed-up (steady) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = _median([r["per_min_steady"] for r in runs[1]])
    for workers in (1, 2):
        rs = runs[workers]
        steady = _median([r["per_min_steady"] for r in rs])
        lines.append(
            f"| {workers} | {_median([r['per_min_wall'] for r in rs]):.1f} | **{steady:.1f}** | "
            f"{_median([r['episode_s'] for r in rs]):.1f} | {_median([r['steps'] for r in rs]):.1f} | "
            f"{min(r['success'] for r in rs):.0%} | {steady / base:.2f}× |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (each: 1 and 2 workers)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per template in each run")
    parser.add_argument("--setup-rounds", type=int, default=3, help="rounds over every template for setup cost")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = parser.parse_args()
    enable_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="phone-throughput-") as tmp:
        setup = setup_costs(args.setup_rounds)
        print(f"setup: {setup}", file=sys.stderr, flush=True)
        runs = throughput(args.rounds, args.seeds, Path(tmp))
    text = markdown(setup, runs, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"setup": setup, "throughput": runs}, indent=2))


if __name__ == "__main__":
    main()
