"""Decide latency of default-model folders at their shipped budgets, per env kind, side by side.

The real ``QwenPolicy.decide`` (local backend, float32 on the CPU, one torch thread as
agent/qwen/threads.py gives a model this small, greedy, each folder's own pixelpilot.json settings:
per env kind where the folder records ``inputs``) for each ``--model`` folder on two screens:

- ``browser``: a MiniWoB-sized screenshot (160x210, a grey button on white);
- ``android``: a phone screenshot at its native 1080x2340 (a list of grey rows on white), which the
  folder's phone budget downscales (a folder without one applies its single budget to it too).

Folders and screens alternate call by call in one process (ABBA over the folders) so that the load of
a shared machine hits all alike; medians of ``--rounds`` calls after one warm-up call each.

    .venv/bin/python benchmarks/default_model_latency.py --model default --model /path/to/candidate \\
        [--rounds N] [--out docs/PERFORMANCE.md]
"""

from __future__ import annotations

import argparse
import io
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

MARK_BEGIN = "<!-- default_model_latency:begin -->"
MARK_END = "<!-- default_model_latency:end -->"
SCREENS = {"browser": (160, 210), "android": (1080, 2340)}


def _observation(env: str):
    from PIL import Image, ImageDraw

    from pixelpilot.env import Observation, ScreenGeometry

    width, height = SCREENS[env]
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if env == "browser":
        draw.rectangle((40, 90, 100, 115), fill=(220, 220, 220))
    else:
        for row in range(8):
            top = 300 + row * 220
            draw.rectangle((60, top, width - 60, top + 160), fill=(225, 225, 225))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    geometry = ScreenGeometry(width=width, height=height, viewport_width=width, viewport_height=height)
    return Observation(screenshot=buf.getvalue(), image_format="jpeg", geometry=geometry)


def _decide(policy, env: str) -> tuple[float, dict]:
    from pixelpilot.agent.episode import EpisodeSpec
    from pixelpilot.env import StartSpec

    policy.reset(EpisodeSpec(id="latency", instruction="Click the button.", env=env, start=StartSpec()))
    observation = _observation(env)  # fresh, so its one JPEG decode is inside the call
    t0 = time.perf_counter()
    decision = policy.decide("Click the button.", observation, [])
    return time.perf_counter() - t0, decision.metadata


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="a model folder, or 'default' (repeatable)")
    ap.add_argument("--label", action="append", help="a name per --model for the table (default: the folder's name)")
    ap.add_argument("--rounds", type=int, default=15, help="calls per folder and screen")
    ap.add_argument("--out", type=Path, help="refresh the default_model_latency section of this file")
    args = ap.parse_args()

    import torch

    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.agent.qwen.threads import count_parameters

    torch.set_num_threads(1)
    labels = args.label or [Path(m).name if m != "default" else "default" for m in args.model]
    specs = [PolicySpec(kind="qwen", model=m, max_repairs=0).resolved() for m in args.model]
    policies = [spec.build() for spec in specs]
    load_before = os.getloadavg()[0]
    times: dict[tuple[int, str], list[float]] = {(i, env): [] for i in range(len(policies)) for env in SCREENS}
    seen: dict[tuple[int, str], dict] = {}
    for i, policy in enumerate(policies):  # warm-up
        for env in SCREENS:
            _, seen[(i, env)] = _decide(policy, env)
    for k in range(args.rounds):
        order = list(range(len(policies))) if k % 2 == 0 else list(reversed(range(len(policies))))
        for i in order:
            for env in SCREENS:
                seconds, _ = _decide(policies[i], env)
                times[(i, env)].append(seconds)
    load_after = os.getloadavg()[0]
    for policy in policies:
        policy.close()

    lines = [
        MARK_BEGIN,
        "## The default model's decide latency per env kind, at its shipped budgets",
        "",
        f"`benchmarks/default_model_latency.py`, {datetime.now():%Y-%m-%d}, {cpuinfo_field('model name')}, "
        f"{os.cpu_count()} logical CPUs, torch {version('torch')}, one torch thread, load average "
        f"{load_before:.1f} before and {load_after:.1f} after (a machine shared with other work). "
        "`QwenPolicy.decide` (float32, greedy, each folder's pixelpilot.json) on a 160x210 MiniWoB-sized "
        f"screenshot and a 1080x2340 phone screenshot; folders alternate call by call (ABBA), {args.rounds} "
        "calls each after one warm-up call.",
        "",
        "| model | parameters | env | screen | seen at | visual tokens | median ms | p90 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, label in enumerate(labels):
        for env, (width, height) in SCREENS.items():
            values = sorted(times[(i, env)])
            geometry = seen[(i, env)]["geometry"]
            grid = seen[(i, env)]["image_grid_thw"]
            tokens = grid[0] * grid[1] * grid[2] // 4
            lines.append(
                f"| {label} | {count_parameters(specs[i].model or '') / 1e6:.2f}M | {env} | {width}x{height} | "
                f"{geometry['resized_width']}x{geometry['resized_height']} | {tokens} | "
                f"{statistics.median(values) * 1000:.0f} | {values[round(0.9 * (len(values) - 1))] * 1000:.0f} |"
            )
    lines.append(MARK_END)
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
