"""Desktop env: screenshot capture per method, and a pixelpilot desktop step against the raw floor.

    .venv/bin/python benchmarks/desktop_capture.py                            # print the figures (~2 min)
    .venv/bin/python benchmarks/desktop_capture.py --out docs/PERFORMANCE.md  # and refresh the doc's section
    .venv/bin/python benchmarks/desktop_capture.py --rounds 3 --steps 5       # smoke

1. Capture: at 1280x800 and 1920x1080, on an own Xvfb showing the project's probe app full screen, each
   method grabs the whole screen once per round, methods interleaved round by round: mss XShmGetImage
   (the env's default), mss XGetImage, python-xlib XGetImage, and `xwd -root` as a process per frame.
   The JPEG (q90) and PNG (level 1) encodes of one frame are timed alongside.
2. Step against floor, at 1280x800, interleaved block by block (ABAB): the floor is one capture (mss
   XShm), the same JPEG encode and one XTest click on a fresh connection's worth of calls; the pixelpilot
   step is `env.observe()` + `env.execute(Click)` of a DesktopEnv, without settling (`settle_timeout_s=0`,
   the env's own overhead: the hang ping, window and pointer queries) and with the default settling
   (ping barrier + frames until two agree), reported separately. Median ms per step.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import cpuinfo_field
from perf_doc import write_section

from pixelpilot.env import StartSpec, Viewport
from pixelpilot.env.desktop import DesktopConfig, DesktopEnv
from pixelpilot.env.desktop.capture import open_capturer
from pixelpilot.tools import Click

BEGIN, END = "<!-- desktop_capture:begin -->", "<!-- desktop_capture:end -->"
METHODS = ("xshm", "xgetimage", "python-xlib", "xwd")
PROBE = ["{python}", "-m", "pixelpilot.env.desktop.testapp", "probe", "--fullscreen"]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return buf.getvalue()


def capture(sizes: list[tuple[int, int]], rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for width, height in sizes:
        with DesktopEnv(DesktopConfig(width=width, height=height)) as env:
            env.reset(StartSpec(command=PROBE, wait_window="probe", viewport=Viewport(width=width, height=height)))
            assert env.display is not None
            grabbers = {m: open_capturer(env.display.name, m) for m in METHODS}  # type: ignore[arg-type]
            times: dict[str, list[float]] = {m: [] for m in [*METHODS, "jpeg q90", "png 1"]}
            frame = grabbers["xshm"].grab()
            for _ in range(rounds):
                for method, grabber in grabbers.items():
                    t0 = time.perf_counter()
                    image = grabber.grab()
                    times[method].append(_ms(t0))
                    assert image.size == (width, height)
                for fmt, key in (("JPEG", "jpeg q90"), ("PNG", "png 1")):
                    t0 = time.perf_counter()
                    _encode(frame, fmt)
                    times[key].append(_ms(t0))
            for grabber in grabbers.values():
                grabber.close()
        results[f"{width}x{height}"] = {k: statistics.median(v) for k, v in times.items()}
    return results


def step_vs_floor(rounds: int, steps: int) -> dict[str, Any]:
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    configs = {"no settle": DesktopConfig(settle_timeout_s=0), "default settle": DesktopConfig()}
    envs = {name: DesktopEnv(config) for name, config in configs.items()}
    per_step: dict[str, list[float]] = {"floor": [], **{name: [] for name in envs}}
    try:
        start = StartSpec(command=PROBE, wait_window="probe", viewport=Viewport(width=1280, height=800))
        for env in envs.values():
            env.reset(start)
        floor_env = envs["no settle"]  # the floor acts on the same display, outside the env
        assert floor_env.display is not None
        grabber = open_capturer(floor_env.display.name, "xshm")
        d = xdisplay.Display(floor_env.display.name)
        point = (104, 74)  # the probe's first target
        geometry = floor_env.observe().geometry
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(steps):
                _encode(grabber.grab(), "JPEG")
                xtest.fake_input(d, X.MotionNotify, x=point[0], y=point[1])
                xtest.fake_input(d, X.ButtonPress, 1)
                xtest.fake_input(d, X.ButtonRelease, 1)
                d.sync()
            per_step["floor"].append(_ms(t0) / steps)
            for name, env in envs.items():
                t0 = time.perf_counter()
                for _ in range(steps):
                    env.observe()
                    result = env.execute(Click(x=point[0], y=point[1]), geometry)
                    assert result.ok, result.error
                per_step[name].append(_ms(t0) / steps)
        grabber.close()
        d.close()
    finally:
        for env in envs.values():
            env.close()
    medians = {k: statistics.median(v) for k, v in per_step.items()}
    return {"median_ms": medians, "ratio": {k: medians[k] / medians["floor"] for k in envs}}


def markdown(cap: dict[str, dict[str, float]], step: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        BEGIN,
        "## Desktop: screenshot capture and a step against the raw floor",
        "",
        f"`benchmarks/desktop_capture.py --rounds {args.rounds} --steps {args.steps}`. **Machine.** "
        f"{cpuinfo_field('model name')}, {os.cpu_count()} logical CPUs shared with other work (a training job "
        "at nice 19 ran throughout), Xvfb at depth 24, no GPU. Medians in ms.",
        "",
        "### Full-screen capture per method (interleaved round by round)",
        "",
        "| screen | " + " | ".join(METHODS) + " | JPEG q90 encode | PNG level-1 encode |",
        "| --- | " + " | ".join("---:" for _ in range(len(METHODS) + 2)) + " |",
    ]
    for size, t in cap.items():
        row = [f"{t[m]:.1f}" for m in METHODS] + [f"{t['jpeg q90']:.1f}", f"{t['png 1']:.1f}"]
        lines.append(f"| {size} | " + " | ".join(row) + " |")
    med, ratio = step["median_ms"], step["ratio"]
    lines += [
        "",
        "### One step at 1280x800 against the raw floor (interleaved blocks)",
        "",
        "| per step | ms | × floor |",
        "| --- | ---: | ---: |",
        f"| raw floor: mss XShm capture + JPEG q90 + one XTest click | {med['floor']:.1f} | 1.00 |",
        f"| pixelpilot `observe()` + `execute(click)`, no settling | {med['no settle']:.1f} | "
        f"{ratio['no settle']:.2f} |",
        f"| the same with the default settling | {med['default settle']:.1f} | {ratio['default settle']:.2f} |",
        "",
        "The env's default capture is mss's XShmGetImage path (`env/desktop/capture.py`): the server copies the "
        "frame into shared memory, so no pixels cross the X socket; XGetImage (through mss or python-xlib) moves "
        "the frame over the socket, and `xwd` adds a process and a file format per frame. Without settling, a "
        "pixelpilot step adds to the floor the active window's title and bounds (its class and pid are read once "
        "per window), the pointer query, and at most once a second the hang check (a `_NET_WM_PING` round trip "
        "to the active window). The default settling is the bulk of the difference and a choice, not overhead: "
        "it waits for the app to read the input (a ping) and captures until two frames 30 ms apart agree, at "
        "least one more capture and one interval per step, so the next observation shows the app after it "
        "redrew rather than before (`DesktopConfig.settle_timeout_s=0` turns it off).",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write the figures into this markdown file's marked section")
    args = parser.parse_args()
    cap = capture([(1280, 800), (1920, 1080)], args.rounds)
    step = step_vs_floor(args.rounds, args.steps)
    text = markdown(cap, step, args)
    print(text)
    if args.out:
        write_section(args.out, BEGIN, END, text)


if __name__ == "__main__":
    main()
