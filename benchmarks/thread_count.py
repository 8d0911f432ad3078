"""Decide latency of the shipped default model with 1 and with 2 torch threads, side by side.

The real ``QwenPolicy.decide`` (``--model default``: local backend, float32 on the CPU, greedy, the
model's own settings from its pixelpilot.json) on a MiniWoB-sized screenshot (160x210, a grey
button on white, as in ``train_throughput.py``). The thread counts alternate call by call in one
process (ABBA order, ``torch.set_num_threads`` between calls) so load changes hit both alike; the
medians of ``--rounds`` rounds are reported. Two conditions:

- ``as found``: the machine as it is (the load average is printed);
- ``one CPU busy``: a child process spins on one CPU meanwhile, as another worker, a browser or
  another user's job does on a shared machine.

    .venv/bin/python benchmarks/thread_count.py [--rounds N] [--out docs/PERFORMANCE.md]

``agent/qwen/threads.py`` picks the thread count from these figures (``SMALL_MODEL_PARAMETERS``).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script
from perf_doc import write_section

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MARK_BEGIN = "<!-- thread_count:begin -->"
MARK_END = "<!-- thread_count:end -->"
THREADS = (1, 2)


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _observation():
    from PIL import Image, ImageDraw

    from pixelpilot.env import Observation, ScreenGeometry

    image = Image.new("RGB", (160, 210), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((40, 90, 100, 115), fill=(220, 220, 220))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    geometry = ScreenGeometry(width=160, height=210, device_scale_factor=1, viewport_width=160, viewport_height=210)
    return Observation(screenshot=buf.getvalue(), image_format="jpeg", geometry=geometry)


def measure(policy, rounds: int) -> tuple[dict[int, list[float]], int | None]:
    """Seconds per decide for each thread count, interleaved ABBA; and the answer's token count."""
    import torch

    times: dict[int, list[float]] = {n: [] for n in THREADS}
    tokens = None
    for n in THREADS:  # warm-up: first calls pay one-off costs (allocations, thread pool start)
        torch.set_num_threads(n)
        policy.decide("Click the button.", _observation(), [])
    for k in range(rounds):
        order = THREADS if k % 2 == 0 else tuple(reversed(THREADS))
        for n in order:
            torch.set_num_threads(n)
            observation = _observation()  # fresh, so its one JPEG decode is inside the call
            t0 = time.perf_counter()
            decision = policy.decide("Click the button.", observation, [])
            times[n].append(time.perf_counter() - t0)
            tokens = decision.metadata.get("completion_tokens", tokens)
    return times, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20, help="calls per thread count and condition")
    ap.add_argument("--out", type=Path, help="refresh the thread_count section of this file")
    args = ap.parse_args()

    import torch

    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.agent.qwen.threads import count_parameters, usable_cpus

    default_threads = torch.get_num_threads()
    spec = PolicySpec(kind="qwen", model="default", max_repairs=0).resolved()
    policy = spec.build()
    load_before = os.getloadavg()[0]
    results: dict[str, dict[int, list[float]]] = {}
    results["as found"], tokens = measure(policy, args.rounds)
    stop = mp.Event()
    spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()
    try:
        time.sleep(0.5)
        results["one CPU busy"], _ = measure(policy, args.rounds)
    finally:
        stop.set()
        spinner.join(timeout=5)
    load_after = os.getloadavg()[0]
    policy.close()

    def ms(values: list[float], q: float | None = None) -> str:
        if q is None:
            return f"{statistics.median(values) * 1000:.0f}"
        return f"{sorted(values)[round(q * (len(values) - 1))] * 1000:.0f}"

    lines = [
        MARK_BEGIN,
        "## Local model threads: the default model's decide latency with 1 and 2 torch threads",
        "",
        f"`benchmarks/thread_count.py`, {datetime.now():%Y-%m-%d}, {cpuinfo_field('model name')}, "
        f"{os.cpu_count()} logical CPUs ({usable_cpus()} usable), torch {version('torch')}, load average "
        f"{load_before:.1f} before and {load_after:.1f} after (a machine shared with other work). "
        f"`QwenPolicy.decide` with `--model default` ({count_parameters(spec.model or '') / 1e6:.2f}M "
        f"parameters, float32, greedy, {tokens} new tokens per answer) on a 160x210 screenshot; the two "
        f"thread counts alternate call by call (ABBA), {args.rounds} calls each per condition, after one "
        'warm-up call each. "One CPU busy": a child process spins on one CPU meanwhile.',
        "",
        "| condition | threads | median ms | p90 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for condition, by_threads in results.items():
        for n, values in by_threads.items():
            lines.append(f"| {condition} | {n} | {ms(values)} | {ms(values, 0.9)} | {max(values) * 1000:.0f} |")
    faster = {c: min(by_threads, key=lambda n: statistics.median(by_threads[n])) for c, by_threads in results.items()}
    lines += ["", "Faster: " + "; ".join(f"{c}: {n} thread{'s' if n > 1 else ''}" for c, n in faster.items()) + "."]
    lines.append(MARK_END)
    text = "\n".join(lines)
    print(text)
    print(f"(torch's own default here: {default_threads} threads)")
    if args.out:
        write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
