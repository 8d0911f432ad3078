"""adb latency of the Android env on the simulated device (PixelSim), through the real adb server.

Starts ``adb start-server``, a simulator (``start_simulator(port=0)``), ``adb connect``s it, and measures:

1. **screenshot**: ``AndroidEnv._capture()`` with ``capture="raw"`` and ``capture="png"``, the adb CLI
   (``adb exec-out screencap`` / ``screencap -p`` as a subprocess) for reference, and the full
   ``observe()`` (capture + JPEG encode + current app). A breakdown splits each capture into the
   device-side work (``screencap FILE`` on the device, less one adb round trip), the transfer alone
   (``cat FILE``: the same bytes through adbd, the adb server and the host socket) and the host decode;
   and ``observe()`` into ``dumpsys window``, the JPEG encode and the RGB copy.
2. **actions**: ``env.execute()`` (the adb command + settling: captures until two consecutive ones agree)
   of a tap, a swipe and typing 20 characters, against the raw adb command alone
   (``link.shell("input tap ...")``), so the settle cost shows separately; plus ``_settle()`` alone
   on a still screen.
3. **agent loop**: ``Agent`` + ``ScriptedPolicy`` episodes (harmless taps on the Notes toolbar; and
   app switches Contacts <-> Notes), per-step ``timings_ms`` read back from the bundle's steps.jsonl plus
   the wall time per loop iteration, against a raw floor step (raw screencap + ``input tap``).

Within each part the variants are interleaved (order rotated and reversed every round), so the noise of
a shared machine hits them alike; figures are medians over rounds.

    .venv/bin/python benchmarks/android_latency.py [--repeats N] [--episodes N] [--steps N]
        [--md FILE] [--json FILE] [--skip screenshot,actions,agent]

The markdown section is printed; ``--md FILE`` also writes it to FILE (whole file).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script
from PIL import Image

from pixelpilot.agent.episode import EpisodeSpec, read_bundle
from pixelpilot.agent.logs import enable_logging
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.scripted import ScriptedPolicy
from pixelpilot.env.android.env import AndroidConfig, AndroidEnv
from pixelpilot.env.android.screen import encode, parse_raw_screencap
from pixelpilot.env.android.simulator.process import SimulatorHandle, start_simulator
from pixelpilot.env.android.text import input_text_commands
from pixelpilot.env.browser.chromium import find_chromium
from pixelpilot.env.spec import StartSpec
from pixelpilot.tools import Click, Finish, OpenApp, Swipe, Type

ROOT = Path(__file__).resolve().parent.parent
#: Harmless taps: the Notes toolbar (title and empty toolbar space; not clickable).
TAPS = [(143, 156), (700, 156)]
#: Swipes over the Notes list (14 notes, scrollable), alternating up and down so it never runs out.
SWIPES = [(540, 1700, 540, 1000), (540, 1000, 540, 1700)]
SWIPE_MS = 300
TEXT = "hello world from adb"  # 20 characters
assert len(TEXT) == 20


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _iqr(values: list[float]) -> tuple[float, float]:
    """25th and 75th percentiles (the spread shown beside a median)."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return _ms(time.perf_counter() - t0), out


def _interleave(rounds: int, items: dict[str, Callable[[], Any]], warmup: int = 1) -> dict[str, list[float]]:
    """Run every item once per round, order rotated and reversed on odd rounds; times in ms."""
    names = list(items)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        if r % 2:
            order.reverse()
        for name in order:
            ms, _ = _timed(items[name])
            if r >= warmup:
                out[name].append(ms)
    return out


# --------------------------------------------------------------------------- adb + simulator
def adb(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["adb", *args], capture_output=True, text=True, timeout=timeout, check=False)


def connect(serial: str, timeout: float = 30) -> None:
    """adb connect, then wait until the device is in the `device` state (as tests/android_fixtures.py)."""
    out = adb("connect", serial).stdout
    if "connected" not in out:
        raise RuntimeError(f"adb connect {serial}: {out.strip()}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if adb("-s", serial, "get-state").stdout.strip() == "device":
            return
        time.sleep(0.2)
    raise RuntimeError(f"{serial} did not reach the device state")


def _env(serial: str, capture: str) -> AndroidEnv:
    return AndroidEnv(AndroidConfig(serial=serial, capture=capture, command_timeout_s=30))  # type: ignore[arg-type]


class _Instrumented:
    """Counts captures and times ``_settle`` of one env (instance attributes shadow the methods)."""

    def __init__(self, env: AndroidEnv) -> None:
        self.captures = 0
        self.settle_ms: list[float] = []
        capture, settle = env._capture_with_bytes, env._settle

        def counted_capture() -> tuple[bytes, Image.Image]:
            self.captures += 1
            return capture()

        def timed_settle() -> None:
            ms, _ = _timed(settle)
            self.settle_ms.append(ms)

        env._capture_with_bytes = counted_capture  # type: ignore[method-assign]
        env._settle = timed_settle  # type: ignore[method-assign]


# --------------------------------------------------------------------------- 1. screenshots
def screenshots(serial: str, rounds: int) -> dict[str, Any]:
    raw_env, png_env = _env(serial, "raw"), _env(serial, "png")
    raw_env.reset(StartSpec(app="Notes"))
    link = raw_env.link
    frame = raw_env._capture()
    sizes: dict[str, int] = {}

    def cli(*cmd: str) -> bytes:
        proc = subprocess.run(["adb", "-s", serial, "exec-out", *cmd], capture_output=True, check=True, timeout=60)
        return proc.stdout

    def observe_fresh() -> None:
        raw_env._frame = None
        raw_env.observe()

    def observe_reused() -> None:  # the agent loop's case: execute() left its settled frame
        raw_env._frame = frame
        raw_env.observe()

    raw_bytes = link.exec_out("screencap")
    raw_again = link.exec_out("screencap")  # a distinct bytes object of the same still screen
    png_bytes = link.exec_out("screencap -p")
    sizes["raw"], sizes["png"] = len(raw_bytes), len(png_bytes)
    sizes["jpeg"] = len(encode(frame, "jpeg", 90))
    link.shell("screencap /sdcard/bench.raw && screencap -p /sdcard/bench.png")
    items: dict[str, Callable[[], Any]] = {
        "raw_capture": raw_env._capture,
        "png_capture": png_env._capture,
        "cli_raw": lambda: cli("screencap"),
        "cli_png": lambda: cli("screencap", "-p"),
        "observe_fresh": observe_fresh,
        "observe_reused": observe_reused,
        # breakdown
        "round_trip": lambda: link.exec_out("echo"),
        "raw_device": lambda: link.exec_out("screencap /sdcard/bench.raw"),
        "png_device": lambda: link.exec_out("screencap -p /sdcard/bench.png"),
        "raw_transfer": lambda: link.exec_out("cat /sdcard/bench.raw"),
        "png_transfer": lambda: link.exec_out("cat /sdcard/bench.png"),
        "raw_parse": lambda: parse_raw_screencap(raw_bytes),
        "png_decode": lambda: Image.open(io.BytesIO(png_bytes)).load(),
        "current_app": raw_env.current_app,
        "jpeg_encode": lambda: encode(frame, "jpeg", 90),
        "rgb_copy": lambda: frame.convert("RGB"),
        "settle_compare": lambda: frame.tobytes() == frame.tobytes(),
        "bytes_compare": lambda: raw_bytes == raw_again,
    }
    times = _interleave(rounds, items)
    raw_env.close()
    png_env.close()
    return {
        "rounds": rounds,
        "sizes": sizes,
        "ms": {k: _median(v) for k, v in times.items()},
        "iqr": {k: _iqr(v) for k, v in times.items()},
        "samples": times,
    }


# --------------------------------------------------------------------------- 2. actions
def actions(serial: str, rounds: int) -> dict[str, Any]:
    env = _env(serial, "raw")
    env.reset(StartSpec(app="Notes"))
    geometry = env.observe().geometry
    link = env.link
    inst = _Instrumented(env)
    per_kind: dict[str, dict[str, list[float]]] = {}
    counters = {"tap": 0, "swipe": 0, "raw_tap": 0, "raw_swipe": 0}

    def executed(kind: str, action_for: Callable[[], Any]) -> Callable[[], None]:
        stats = per_kind.setdefault(kind, {"captures": [], "settle": []})

        def run() -> None:
            before, settles = inst.captures, len(inst.settle_ms)
            result = env.execute(action_for(), geometry)
            if not result.ok:
                raise RuntimeError(f"{kind}: {result.error}")
            stats["captures"].append(float(inst.captures - before))
            stats["settle"].extend(inst.settle_ms[settles:])

        return run

    def nxt(key: str, seq: list[Any]) -> Any:
        counters[key] += 1
        return seq[counters[key] % len(seq)]

    def tap() -> Click:
        x, y = nxt("tap", TAPS)
        return Click(x=x, y=y)

    def swipe() -> Swipe:
        x1, y1, x2, y2 = nxt("swipe", SWIPES)
        return Swipe(start_x=x1, start_y=y1, end_x=x2, end_y=y2, duration_ms=SWIPE_MS)

    def raw_tap() -> None:
        x, y = nxt("raw_tap", TAPS)
        link.shell(f"input tap {x} {y}")

    def raw_swipe() -> None:
        x1, y1, x2, y2 = nxt("raw_swipe", SWIPES)
        link.shell(f"input swipe {x1} {y1} {x2} {y2} {SWIPE_MS}")

    list_times = _interleave(
        rounds,
        {
            "execute_tap": executed("tap", tap),
            "raw_tap": raw_tap,
            "execute_swipe": executed("swipe", swipe),
            "raw_swipe": raw_swipe,
            "settle_still": env._settle,
            "capture": env._capture,
        },
    )
    # Typing: a new note's text field, focused by a tap; the text grows by 20 characters a round.
    add = next(e for e in env.ui_tree() if e.resource_id.endswith(":id/add_note"))
    env.execute(Click(x=(add.bounds[0] + add.bounds[2]) / 2, y=(add.bounds[1] + add.bounds[3]) / 2), geometry)
    field = next(e for e in env.ui_tree() if e.resource_id.endswith(":id/note_text"))
    env.execute(Click(x=(field.bounds[0] + field.bounds[2]) / 2, y=(field.bounds[1] + field.bounds[3]) / 2), geometry)
    (raw_type_command,) = input_text_commands(TEXT)

    def raw_type() -> None:
        rc, out = link.shell_rc(raw_type_command)
        if rc != 0:
            raise RuntimeError(f"input text failed: {out}")

    type_times = _interleave(
        rounds,
        {
            "execute_type": executed("type", lambda: Type(text=TEXT)),
            "raw_type": raw_type,
            "ui_tree": env.ui_tree,
        },
    )
    typed = next((e.text for e in env.ui_tree() if e.resource_id.endswith(":id/note_text")), "")
    link.shell("am force-stop com.pixelsim.notes")  # drop the draft
    env.close()
    times = {**list_times, **type_times}
    expected = len(TEXT) * 2 * (rounds + 1)
    return {
        "rounds": rounds,
        "ms": {k: _median(v) for k, v in times.items()},
        "iqr": {k: _iqr(v) for k, v in times.items()},
        "captures": {k: _median(v["captures"]) for k, v in per_kind.items()},
        "settle": {k: _median(v["settle"]) for k, v in per_kind.items()},
        "typed_chars": len(typed),
        "typed_expected": expected,
        "samples": times,
    }


# --------------------------------------------------------------------------- 3. agent loop
def _spec(name: str, steps: int) -> EpisodeSpec:
    return EpisodeSpec(
        id=name,
        instruction="tap the toolbar",
        env="android",
        start=StartSpec(app="Notes"),
        max_steps=steps + 1,
        time_limit_s=3600,
    )


def _script(kind: str, steps: int) -> ScriptedPolicy:
    if kind == "tap":
        acts: list[Any] = [Click(x=TAPS[i % 2][0], y=TAPS[i % 2][1]) for i in range(steps)]
    else:
        # labels, as a model would write them; "Settings" would resolve to com.android.providers.settings
        acts = [OpenApp(app="Contacts" if i % 2 == 0 else "Notes") for i in range(steps)]
    return ScriptedPolicy([*acts, Finish(status="success")])


def episode(env: AndroidEnv, kind: str, steps: int, bundle: Path, cfg: AgentConfig) -> dict[str, list[float]]:
    """One real episode; per-step timings_ms from steps.jsonl and loop wall time; first step dropped."""
    agent = Agent(env, _script(kind, steps), cfg)
    marks: list[float] = []
    agent.on_step = lambda step: marks.append(time.perf_counter())
    try:
        result = agent.run(_spec(f"android-{kind}", steps), bundle_dir=bundle)
    finally:
        agent.close()
    if not result.success:
        raise RuntimeError(f"{kind} episode failed: {result.status} {result.detail} {result.error}")
    _, records = read_bundle(bundle)
    if failed := [f"step {s.index}: {s.error}" for s in records if s.error]:
        raise RuntimeError(f"{kind} episode had failed steps: {failed}")
    out: dict[str, list[float]] = {k: [] for k in ("capture", "decide", "execute", "record", "step")}
    for i, step in enumerate(records):
        if i == 0 or (step.action or {}).get("action") == "finish":
            continue
        for key in ("capture", "decide", "execute", "record"):
            out[key].append(step.timings_ms[key])
        out["step"].append(_ms(marks[i] - marks[i - 1]))
    return out


def raw_floor(env: AndroidEnv, steps: int) -> dict[str, list[float]]:
    """The least an adb agent does per step: raw screencap (+ parse) and ``input tap``; no settle, no encode."""
    link = env.link
    out: dict[str, list[float]] = {"capture": [], "execute": [], "step": []}
    for i in range(steps + 1):
        t0 = time.perf_counter()
        parse_raw_screencap(link.exec_out("screencap"))
        t1 = time.perf_counter()
        x, y = TAPS[i % 2]
        link.shell(f"input tap {x} {y}")
        t2 = time.perf_counter()
        if i:
            out["capture"].append(_ms(t1 - t0))
            out["execute"].append(_ms(t2 - t1))
            out["step"].append(_ms(t2 - t0))
    return out


def agent_loop(serial: str, episodes: int, steps: int) -> dict[str, Any]:
    env = _env(serial, "raw")
    blocks: dict[str, list[dict[str, list[float]]]] = {"tap": [], "switch": [], "floor": []}
    with tempfile.TemporaryDirectory(prefix="pp-android-bench-") as tmp:
        cfg = AgentConfig(out_dir=Path(tmp), write_report=False)
        episode(env, "tap", 2, Path(tmp) / "warmup", cfg)
        for r in range(episodes):
            order: list[Callable[[], None]] = [
                lambda r=r: blocks["tap"].append(episode(env, "tap", steps, Path(tmp) / f"tap-{r}", cfg)),
                lambda r=r: blocks["switch"].append(episode(env, "switch", steps, Path(tmp) / f"switch-{r}", cfg)),
                lambda: blocks["floor"].append(raw_floor(env, steps)),
            ]
            for block in order if r % 2 == 0 else reversed(order):
                block()
    env.close()

    def pooled(kind: str) -> dict[str, float]:
        keys = blocks[kind][0].keys()
        out: dict[str, Any] = {k: _median([v for b in blocks[kind] for v in b[k]]) for k in keys}
        out["step_iqr"] = _iqr([v for b in blocks[kind] for v in b["step"]])
        return out

    return {
        "episodes": episodes,
        "steps": steps,
        "n": {k: sum(len(b["step"]) for b in v) for k, v in blocks.items()},
        **{k: pooled(k) for k in blocks},
    }


# --------------------------------------------------------------------------- machine + report
def machine() -> dict[str, Any]:
    cpu = cpuinfo_field("model name")
    adb_version = " ".join(adb("version").stdout.splitlines()[:2]) or "unknown"
    chromium = "unknown"
    try:
        path = find_chromium()
        if path:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
            chromium = out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "adb": adb_version,
        "adbutils": version("adbutils"),
        "pillow": version("pillow"),
        "playwright": version("playwright"),
        "chromium": chromium,
        "commit": commit or "unknown",
        "load_start": os.getloadavg()[0],
    }


def _f(value: float, digits: int = 0) -> str:
    return f"{value:.{digits}f}"


def _step(row: dict[str, Any]) -> str:
    lo, hi = row["step_iqr"]
    return f"**{row['step']:.0f}** <sub>({lo:.0f}–{hi:.0f})</sub>"


def _mq(part: dict[str, Any], key: str) -> str:
    """Median with its interquartile range: ``235 (207–352)``."""
    lo, hi = part["iqr"][key]
    return f"{part['ms'][key]:.0f} <sub>({lo:.0f}–{hi:.0f})</sub>"


def render(m: dict[str, Any], shots: dict[str, Any] | None, acts: dict[str, Any] | None, loop: dict[str, Any] | None,
           args: argparse.Namespace) -> str:  # fmt: skip
    lines = [
        "## Android: adb latency on the simulated device",
        "",
        f"_Generated by `benchmarks/android_latency.py --repeats {args.repeats} --episodes {args.episodes} "
        f"--steps {args.steps}` on {datetime.now().strftime('%Y-%m-%d %H:%M')} (commit {m['commit']})._",
        "",
        "**Method.** One PixelSim simulator (`start_simulator(port=0)`, 1080×2340, Notes app) is `adb connect`ed "
        "to the real adb server; everything goes device ← adbd (the simulator) ← adb server ← adbutils/`adb` CLI, "
        "all over loopback TCP. Within each table the variants run interleaved, one of each per round, the order "
        "rotated and reversed every round (one warm-up round dropped), so the noise of this shared machine hits "
        "them alike. Figures are medians in ms, with the interquartile range (25th–75th percentile) in small type.",
        "",
        f"**Machine.** {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, "
        f"{m['ram_gb']} GiB RAM, shared with other work; {m['os']}; Python {m['python']}; {m['adb']}; "
        f"adbutils {m['adbutils']}; Pillow {m['pillow']}; Playwright {m['playwright']}; {m['chromium']} "
        f"(headless, software compositing) renders the simulated screen. Load average (1 min) at start "
        f"{m['load_start']:.1f}, at the end {m.get('load_end', float('nan')):.1f}.",
    ]
    if shots is not None:
        t, s = shots["ms"], shots["sizes"]
        rt = t["round_trip"]
        lines += [
            "",
            f"### Screenshots ({shots['rounds']} rounds)",
            "",
            "| path | median ms | bytes | of which: device side | transfer | host decode |",
            "|---|---|---|---|---|---|",
            f'| `AndroidEnv._capture()`, `capture="raw"` (adbutils `exec:screencap`) | **{_mq(shots, "raw_capture")}** '
            f"| {s['raw'] / 1e6:.1f} MB | {_f(t['raw_device'] - rt)} | {_f(t['raw_transfer'])} "
            f"| {_f(t['raw_parse'], 2)} (zero-copy) |",
            f'| `AndroidEnv._capture()`, `capture="png"` (`exec:screencap -p`) | **{_mq(shots, "png_capture")}** '
            f"| {s['png'] / 1e3:.0f} kB | {_f(t['png_device'] - rt)} | {_f(t['png_transfer'])} "
            f"| {_f(t['png_decode'])} |",
            f"| `adb exec-out screencap` (CLI subprocess) | {_mq(shots, 'cli_raw')} | {s['raw'] / 1e6:.1f} MB | | | |",
            f"| `adb exec-out screencap -p` (CLI subprocess) | {_mq(shots, 'cli_png')} "
            f"| {s['png'] / 1e3:.0f} kB | | | |",
            f"| `observe()` from scratch (raw capture + `dumpsys window` + JPEG q90 + RGB copy) "
            f"| **{_mq(shots, 'observe_fresh')}** | {s['jpeg'] / 1e3:.0f} kB JPEG | | | |",
            f"| `observe()` reusing the settled frame (the agent loop's case) | **{_mq(shots, 'observe_reused')}** | "
            f"| | | |",
            "",
            f"Breakdown: one adb round trip (`exec:echo`) {_f(t['round_trip'])}; *device side* = `screencap FILE` on "
            f"the device less that round trip; *transfer* = `cat FILE` of the same bytes (device → adb server → "
            f"host, incl. one round trip). In `observe()`: `dumpsys window` (current app) {_f(t['current_app'])}, "
            f"JPEG q90 encode of the 1080×2340 frame (incl. its RGBA→RGB convert) {_f(t['jpeg_encode'])}, the "
            f"second RGBA→RGB copy for `obs.image` {_f(t['rgb_copy'])}; settle's frame comparison "
            f"(`tobytes() == tobytes()`) {_f(t['settle_compare'])}, against {_f(t['bytes_compare'], 1)} for "
            "comparing the two raw screencap byte strings directly.",
        ]
    if acts is not None:
        t, cap, st = acts["ms"], acts["captures"], acts["settle"]
        lines += [
            "",
            f"### Actions ({acts['rounds']} rounds; typed {acts['typed_chars']} of {acts['typed_expected']} "
            "characters expected)",
            "",
            "| action | `env.execute()` | raw adb command alone | difference | captures in execute | "
            "`_settle()` inside |",
            "|---|---|---|---|---|---|",
            f"| tap | **{_mq(acts, 'execute_tap')}** | {_mq(acts, 'raw_tap')} (`input tap`) "
            f"| {t['execute_tap'] - t['raw_tap']:+.0f} | {_f(cap['tap'])} | {_f(st['tap'])} |",
            f"| swipe {SWIPE_MS} ms | **{_mq(acts, 'execute_swipe')}** | {_mq(acts, 'raw_swipe')} (`input swipe`) "
            f"| {t['execute_swipe'] - t['raw_swipe']:+.0f} | {_f(cap['swipe'])} | {_f(st['swipe'])} |",
            f"| type 20 characters | **{_mq(acts, 'execute_type')}** | {_mq(acts, 'raw_type')} (`input text`) "
            f"| {t['execute_type'] - t['raw_type']:+.0f} | {_f(cap['type'])} | {_f(st['type'])} |",
            "",
            f"On a still screen `_settle()` alone takes {_f(t['settle_still'])} ms (two raw captures, "
            f"{_f(t['capture'])} ms each here, with the {AndroidConfig.model_fields['settle_interval_s'].default:g} s "
            f"interval between them); typing also reads the UI tree first (`uiautomator dump`, "
            f"{_f(t['ui_tree'])} ms) to learn whether the field is a password field.",
        ]
    if loop is not None:
        tap, sw, fl, n = loop["tap"], loop["switch"], loop["floor"], loop["n"]
        lines += [
            "",
            f"### Agent loop ({loop['episodes']} episodes of each kind, {loop['steps']} steps each, first step "
            f"dropped; {n['tap']} / {n['switch']} / {n['floor']} steps measured)",
            "",
            '`Agent` + `ScriptedPolicy` + `AndroidEnv(capture="raw")` writing a real bundle (JPEG q90 '
            "screenshots, steps.jsonl); phases are the bundle's `timings_ms`, *step* the wall time of one loop "
            "iteration. The raw floor is a raw `screencap` + parse and an `input tap` per step (no settle, no "
            "encode, no record).",
            "",
            "| loop | capture (observe) | decide | execute | record | **step** | vs raw floor |",
            "|---|---|---|---|---|---|---|",
            f"| taps on the Notes toolbar | {_f(tap['capture'])} | {_f(tap['decide'], 2)} | {_f(tap['execute'])} "
            f"| {_f(tap['record'], 1)} | {_step(tap)} | {tap['step'] / fl['step']:.2f}× |",
            f"| `open_app` Contacts ↔ Notes | {_f(sw['capture'])} | {_f(sw['decide'], 2)} | {_f(sw['execute'])} "
            f"| {_f(sw['record'], 1)} | {_step(sw)} | {sw['step'] / fl['step']:.2f}× |",
            f"| raw floor (screencap + `input tap`) | {_f(fl['capture'])} | – | {_f(fl['execute'])} | – "
            f"| {_step(fl)} | 1.00× |",
        ]
    lines += ["", *NOTES, "", *settle_notes(shots, acts, loop)]
    return "\n".join(lines) + "\n"


NOTES = [
    "### What these figures do and don't say",
    "",
    "- **The simulator inverts the raw/PNG trade-off.** PixelSim renders its screen with headless Chromium and "
    "gets every frame as a PNG from the compositor (CDP `Page.captureScreenshot`); `screencap` (raw) then *decodes* "
    "that PNG to RGBA in the simulator. So here raw = PNG capture + decode + 10 MB transfer and is the slower "
    "path, while on a phone it is the other way round: `screencap` reads the frame buffer and `screencap -p` adds "
    "a software PNG encode of it on the phone's CPU. Public reports put `adb exec-out screencap -p` at **1–2 s** "
    "on real phones (~250 ms to capture but ~2 s to convert to PNG in "
    "[scrcpy #112](https://github.com/Genymobile/scrcpy/issues/112); ~2 s per call in "
    "[scrcpy #469](https://github.com/Genymobile/scrcpy/issues/469)), and one write-up measured an Android 15 "
    "emulator at 1440×3120 at a median 2.1 s for `-p` (p10 0.66 s, p90 3.0 s) "
    "against a steady 0.68 s for raw, 17.5 MB "
    "([handsets blog](https://elliotgao2.github.io/handsets/blog/why-adb-screencap-is-slow/)). That is why "
    '`capture="raw"` is the default; the simulated figures do not show that gain.',
    "- **Transfer here is loopback TCP**, hundreds of MB/s. A raw 1080×2340 RGBA frame is ~10 MB; native adb "
    "over USB 2 moves roughly 30–40 MB/s in practice (38 MB/s pushing to a Mi 11 over USB 2 in "
    "[ya-webadb #510](https://github.com/yume-chan/ya-webadb/pull/510)), so on a USB 2 cable the raw transfer "
    "alone is ~0.25–0.35 s per frame, and over adb-over-Wi-Fi "
    "it can be seconds; a phone's PNG is several times smaller (UI "
    "screens compress well; here 149 kB against 10.1 MB) but costs the on-device encode. Which wins depends on the "
    "phone's CPU and the link; both are one config switch (`AndroidConfig.capture`).",
    "- **What carries over**: the *structure* of the cost: how many captures a step takes (settling), the host "
    "side (JPEG encode, RGB copies, frame compare, `dumpsys`/`uiautomator` round trips) and adb's per-command "
    "overhead. Device-side times (capture, `input`, `dumpsys`, `uiautomator dump`, much slower on most "
    "phones) are the simulator's, not a phone's, and the simulated screen never animates, so settling always "
    "succeeds on its first comparison here; a real app's transitions and animations make it loop longer.",
]


def settle_notes(shots: dict[str, Any] | None, acts: dict[str, Any] | None, loop: dict[str, Any] | None) -> list[str]:
    """The settle strategy's cost, with this run's figures where they were measured, and alternatives."""
    interval = AndroidConfig.model_fields["settle_interval_s"].default
    cap = AndroidConfig.model_fields["settle_timeout_s"].default
    lines = [
        "### Settling: what it costs, and what could cut it further",
        "",
        f"After every action `execute()` captures until two consecutive frames are identical (samples spaced "
        f"{interval:g} s apart by start time, so no sleep is added when a capture outlasts the interval; frames "
        f"compared as the bytes adb delivered; cap {cap:g} s) and hands the last frame to the next `observe()`. "
        "Best case that is two captures, of which one replaces `observe()`'s own: the net price is **one extra "
        "full capture per step**. While the screen moves (a transition, an animation, a blinking caret, a "
        "spinner, a ticking clock) it loops on, up to the cap.",
    ]
    if acts is not None and loop is not None:
        t = acts["ms"]
        lines += [
            "",
            f"Measured here: a tap's `execute()` takes {t['execute_tap']:.0f} ms against {t['raw_tap']:.0f} ms for "
            f"`input tap` alone; `_settle()` is {acts['settle']['tap']:.0f} ms of it (2 captures of ~"
            f"{t['capture']:.0f} ms). A whole agent-loop step (tap) is {loop['tap']['step']:.0f} ms against "
            f"{loop['floor']['step']:.0f} ms for a raw screencap + `input tap` "
            f"({loop['tap']['step'] / loop['floor']['step']:.1f}×); the difference is the extra capture and "
            "`observe()`'s `dumpsys window` + JPEG encode. On a phone with raw capture over USB 2 the extra "
            "capture alone is ~0.4–1 s per step; with PNG 1–2 s.",
        ]
    lines += [
        "",
        "Already applied (measured before/after in this benchmark: tap step 645 → ~450 ms): samples spaced by "
        "start time instead of a full sleep after each capture, and a byte comparison of adb's output instead "
        "of two ~10 MB `tobytes()` copies. Further alternatives, cheapest first:",
        "",
        "3. **Hash on the device, transfer once.** `screencap | md5sum` (toybox has `md5sum` on Android 6+) sends "
        "33 bytes instead of 10 MB; settle on consecutive hashes and fetch only the final frame, or fetch the "
        "second sample in full and compare its host-side MD5 with the first hash. Saves one 10 MB transfer per "
        "step (~0.3 s on USB 2); the on-device captures remain. PixelSim's shell has no `md5sum` yet, so it would "
        "need one to be tested here.",
        "4. **An ignore region / decimated compare.** Comparing every 8th row, minus the status bar, keeps a "
        "ticking clock or a blinking caret from holding a real phone's settle to the cap (the simulator's clock is "
        "fixed, so this never shows here).",
        "5. **A quiet window instead of a second frame** for actions whose effect is local (tap, type): sleep a "
        "fixed delay and capture once, as the browser env's optional `settle_quiet_s` does; keep the frame check "
        "for `open_app`, `back`, `home` and swipes, where transitions are long. Cheapest, but blind to slow "
        "reactions.",
        "6. **Ask the system whether it is idle.** `dumpsys gfxinfo PKG framestats` or `dumpsys SurfaceFlinger "
        "--latency` say whether new frames were drawn recently in a few kB of text; looping on those replaces full "
        "captures, with one capture at the end. Output differs across Android versions, so (3) stays the fallback.",
        "",
        "One caveat cuts the other way: the first settle sample is taken as soon as `input` returns. On a phone "
        "the app may not have drawn its reaction yet, and two identical *pre-reaction* frames would settle on the "
        "old screen. A short minimum delay before the first sample (or, for actions that should change the "
        "screen, requiring a change from the pre-action frame within a bound) guards against it; the simulator "
        "draws synchronously, so it cannot show this.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds for screenshots and actions")
    parser.add_argument("--episodes", type=int, default=4, help="agent episodes of each kind (interleaved)")
    parser.add_argument("--steps", type=int, default=10, help="steps per agent episode (first one dropped)")
    parser.add_argument("--skip", default="", help="comma list of: screenshot, actions, agent")
    parser.add_argument("--md", type=Path, help="also write the markdown section to this file")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    args = parser.parse_args()
    enable_logging("WARNING")
    if shutil.which("adb") is None:
        sys.exit("adb is not installed (Debian: apt-get install adb)")
    skip = set(filter(None, args.skip.split(",")))

    adb("start-server")
    m = machine()
    handle: SimulatorHandle | None = None
    shots = acts = loop = None
    try:
        handle = start_simulator(port=0)
        connect(handle.serial)
        if "screenshot" not in skip:
            t0 = time.perf_counter()
            shots = screenshots(handle.serial, args.repeats)
            print(f"screenshots: {json.dumps(shots['ms'])} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        if "actions" not in skip:
            t0 = time.perf_counter()
            acts = actions(handle.serial, args.repeats)
            print(f"actions: {json.dumps(acts['ms'])} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        if "agent" not in skip:
            t0 = time.perf_counter()
            loop = agent_loop(handle.serial, args.episodes, args.steps)
            summary = {k: loop[k]["step"] for k in ("tap", "switch", "floor")}
            print(f"agent loop: {summary} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    finally:
        if handle is not None:
            adb("disconnect", handle.serial)
            handle.stop()
    m["load_end"] = os.getloadavg()[0]
    section = render(m, shots, acts, loop, args)
    print(section)
    if args.md:
        args.md.write_text(section, encoding="utf-8")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": m, "screenshots": shots, "actions": acts, "agent": loop}, indent=1, default=str),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
