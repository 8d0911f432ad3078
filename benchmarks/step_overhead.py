"""Per-step overhead of the pixelpilot loop against the raw Playwright floor.

For each page (simple, dense) and device scale factor (1, 2) this measures, in one browser run:

* raw floor: ``page.screenshot(type="jpeg", quality=90)`` + ``page.mouse.click`` on a plain context of
  the *same* Chromium process the env launched (and the PNG variant of the screenshot);
* pixelpilot step: the real ``Agent`` loop (ScriptedPolicy clicking the same buttons, BrowserEnv, the
  real EpisodeRecorder writing a bundle to a temp dir), read back from the bundle's ``timings_ms`` plus
  the wall time between consecutive ``on_step`` callbacks (the whole loop iteration); once with the
  default BrowserConfig and once with another ``settle_quiet_s`` (the post-action quiet window).

Blocks alternate in ABBA order so machine noise hits all of them alike; the first step of each block
is a warm-up and is dropped. A per-step interleaved attribution (``env.observe``/``env.execute``
against the raw calls) follows, then two child processes measure memory over a long episode and
Chromium process counts over many episodes.

    .venv/bin/python benchmarks/step_overhead.py [--repeats N] [--steps N] [--out docs/PERFORMANCE.md]

``--out`` replaces the generated section between the step_overhead markers in that file (it is
created if missing); the results are always printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script

from pixelpilot.agent.episode import EpisodeSpec, read_bundle
from pixelpilot.agent.logs import enable_logging
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.scripted import ScriptedPolicy
from pixelpilot.env.browser.env import BrowserConfig, BrowserEnv
from pixelpilot.env.spec import JsCheck, StartSpec, Viewport
from pixelpilot.tools import Click, Finish

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "benchmarks" / "pages"
VIEWPORT = Viewport(width=1280, height=720)
#: Button centres in CSS px; every click increments #counter.
BUTTONS = {
    "simple": [(364, 450), (548, 450), (732, 450), (916, 450)],
    "dense": [(788, 180), (890, 180), (992, 180), (1094, 180)],
}
SCALES = (1, 2)
GOAL_RATIO = 1.3
#: Clicks per episode in the Chromium process check (the episodes, not the steps, are what is tested).
EPISODE_CLICKS = 2
#: BrowserConfig field holding the post-action quiet window (see measure_config).
QUIET_FIELD = "settle_quiet_s"
#: The opt-in value the variant measures when the default window is off.
OPT_IN_QUIET_S = 0.05
BEGIN, END = "<!-- step_overhead:begin -->", "<!-- step_overhead:end -->"


def _url(page: str) -> str:
    return (PAGES / f"{page}.html").resolve().as_uri()


def _counter_is(n: int) -> JsCheck:
    return JsCheck(expression=f"() => document.querySelector('#counter').textContent === '{n}'")


def _spec(page: str, scale: float, clicks: int, name: str) -> EpisodeSpec:
    return EpisodeSpec(
        id=name,
        instruction=f"click the buttons {clicks} times",
        start=StartSpec(url=_url(page), viewport=VIEWPORT, device_scale_factor=scale),
        success=_counter_is(clicks),
        max_steps=clicks + 1,
        time_limit_s=3600,
    )


def _script(page: str, clicks: int) -> ScriptedPolicy:
    """Alternating button clicks in CSS px (so one script serves every scale), then finish."""
    buttons = BUTTONS[page]
    actions: list[Any] = [Click(x=buttons[i % len(buttons)][0], y=buttons[i % len(buttons)][1]) for i in range(clicks)]
    return ScriptedPolicy([*actions, Finish()], coords="css")


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------- timed blocks
def raw_block(browser: Any, page_name: str, scale: float, steps: int, fmt: str) -> dict[str, list[float]]:
    """``steps`` raw screenshot+click steps on a fresh plain context; first step dropped."""
    ctx = browser.new_context(viewport=VIEWPORT.model_dump(), device_scale_factor=scale)
    try:
        page = ctx.new_page()
        page.goto(_url(page_name), wait_until="load")
        buttons = BUTTONS[page_name]
        kwargs: dict[str, Any] = {"type": fmt, **({"quality": 90} if fmt == "jpeg" else {})}
        out: dict[str, list[float]] = {"screenshot": [], "click": [], "step": [], "bytes": []}
        for i in range(steps):
            t0 = time.perf_counter()
            data = page.screenshot(**kwargs)
            t1 = time.perf_counter()
            page.mouse.click(*buttons[i % len(buttons)])
            t2 = time.perf_counter()
            if i == 0:
                continue
            out["screenshot"].append(_ms(t1 - t0))
            out["click"].append(_ms(t2 - t1))
            out["step"].append(_ms(t2 - t0))
            out["bytes"].append(float(len(data)))
        count = page.evaluate("document.querySelector('#counter').textContent")
        if count != str(steps):
            raise RuntimeError(f"raw floor on {page_name}: counter is {count}, expected {steps} (clicks missed)")
        return out
    finally:
        ctx.close()


def pixelpilot_block(agent: Agent, spec: EpisodeSpec, bundle: Path) -> dict[str, list[float]]:
    """One real episode; per-step timings_ms from steps.jsonl plus loop wall time; first step dropped."""
    marks: list[float] = []
    agent.on_step = lambda step: marks.append(time.perf_counter())
    result = agent.run(spec, bundle_dir=bundle)
    agent.on_step = None
    if not result.success:
        raise RuntimeError(f"pixelpilot episode {spec.id} failed: {result.status} {result.detail} {result.error}")
    _, steps = read_bundle(bundle)
    out: dict[str, list[float]] = {k: [] for k in ("capture", "decide", "execute", "record", "sum", "step", "bytes")}
    for i, step in enumerate(steps):
        if i == 0 or (step.action or {}).get("action") != "click":
            continue
        t = step.timings_ms
        for key in ("capture", "decide", "execute", "record"):
            out[key].append(t[key])
        out["sum"].append(sum(t[k] for k in ("capture", "decide", "execute", "record")))
        out["step"].append(_ms(marks[i] - marks[i - 1]))
        out["bytes"].append(float((bundle / step.observation.screenshot).stat().st_size))
    return out


def measure_config(
    page: str, scale: float, repeats: int, steps: int, png_steps: int, tmp: Path, variant_quiet: float | None
) -> dict[str, Any]:
    """Interleaved blocks on one browser: raw JPEG, raw PNG, pixelpilot, pixelpilot variant.

    The variant swaps ``env.config`` for one with ``settle_quiet_s=variant_quiet`` (same browser, same
    page) to show what the post-action quiet window costs; skipped when None.
    """
    default = BrowserConfig(viewport=VIEWPORT, device_scale_factor=scale)
    variant = None if variant_quiet is None else default.model_copy(update={QUIET_FIELD: variant_quiet})
    env = BrowserEnv(default)
    agent = Agent(env, _script(page, steps), AgentConfig(out_dir=tmp, write_report=False))
    spec = _spec(page, scale, steps, f"{page}-x{scale:g}")
    blocks: dict[str, list[dict[str, list[float]]]] = {"raw": [], "png": [], "pixelpilot": [], "variant": []}

    def run_pixelpilot(key: str, config: BrowserConfig, r: int) -> None:
        env.config = config
        try:
            blocks[key].append(pixelpilot_block(agent, spec, tmp / f"{spec.id}-{key}-{r}"))
        finally:
            env.config = default

    try:
        # Warm-up: launches the browser, loads the page once (disk cache, fonts) for both paths.
        pixelpilot_block(agent, spec, tmp / f"{spec.id}-warmup")
        browser = env.page.context.browser
        raw_block(browser, page, scale, 3, "jpeg")
        for r in range(repeats):
            order = [
                lambda: blocks["raw"].append(raw_block(browser, page, scale, steps, "jpeg")),
                lambda: blocks["png"].append(raw_block(browser, page, scale, png_steps, "png")),
                lambda r=r: run_pixelpilot("pixelpilot", default, r),
            ]
            if variant is not None:
                order.append(lambda r=r: run_pixelpilot("variant", variant, r))
            for block in order if r % 2 == 0 else reversed(order):  # ABBA: drift hits every kind alike
                block()
        chromium = browser.version
    finally:
        agent.close()
        env.close()

    def pooled(key: str, field: str) -> list[float]:
        return [v for b in blocks[key] for v in b[field]]

    def medians(key: str) -> dict[str, float]:
        return {f: _median(pooled(key, f)) for f in blocks[key][0]} if blocks[key] else {}

    raw_step = _median(pooled("raw", "step"))
    return {
        "page": page,
        "scale": scale,
        "chromium": chromium,
        "pixelpilot": medians("pixelpilot"),
        "variant": medians("variant"),
        "variant_quiet_s": variant_quiet,
        "default_quiet_s": getattr(default, QUIET_FIELD, None),
        "raw": medians("raw"),
        "png": medians("png"),
        "ratio": _median(pooled("pixelpilot", "step")) / raw_step,
        "ratio_variant": _median(pooled("variant", "step")) / raw_step if blocks["variant"] else None,
        "paired_ratios": [
            _median(p["step"]) / _median(r_["step"]) for p, r_ in zip(blocks["pixelpilot"], blocks["raw"], strict=True)
        ],
        "n": {k: len(pooled(k, "step")) for k in blocks if blocks[k]},
    }


def attribution(page_name: str, scale: float, steps: int) -> dict[str, Any]:
    """Where the loop's extra time goes, interleaved *per step* (less exposed to noise than blocks).

    Each step times, on one browser: the raw screenshot and click on a plain context, then the env's
    own ``observe()`` and ``execute(Click)`` (default BrowserConfig) on its page, and one bare protocol
    round trip (``page.evaluate("0")``), the unit most of the env's extra work is made of.
    """
    env = BrowserEnv(BrowserConfig(viewport=VIEWPORT, device_scale_factor=scale))
    out: dict[str, list[float]] = {k: [] for k in ("raw_shot", "raw_click", "observe", "execute", "round_trip")}

    def timed(key: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value = fn()
        out[key].append(_ms(time.perf_counter() - t0))
        return value

    try:
        env.reset(StartSpec(url=_url(page_name), viewport=VIEWPORT, device_scale_factor=scale))
        ctx = env.page.context.browser.new_context(viewport=VIEWPORT.model_dump(), device_scale_factor=scale)
        raw = ctx.new_page()
        raw.goto(_url(page_name), wait_until="load")
        buttons = BUTTONS[page_name]
        for i in range(steps + 1):
            x, y = buttons[i % len(buttons)]
            timed("raw_shot", lambda: raw.screenshot(type="jpeg", quality=90))
            timed("raw_click", lambda x=x, y=y: raw.mouse.click(x, y))
            obs = timed("observe", env.observe)
            timed("execute", lambda x=x, y=y, obs=obs: env.execute(Click(x=x * scale, y=y * scale), obs.geometry))
            timed("round_trip", lambda: env.page.evaluate("0"))
        ctx.close()
    finally:
        env.close()
    return {"page": page_name, "scale": scale, "steps": steps, **{k: _median(v[1:]) for k, v in out.items()}}


# --------------------------------------------------------------------------- child processes
def _chromium_tree() -> list[psutil.Process]:
    """Chromium processes under this Python process (python -> playwright driver -> chromium ...)."""
    procs = []
    for proc in psutil.Process().children(recursive=True):
        try:
            exe = " ".join(proc.cmdline()[:1]) or proc.name()
            if "chrom" in exe.lower() or "chrom" in proc.name().lower():
                procs.append(proc)
        except psutil.Error:
            continue
    return procs


def _tree_rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def child_memory(page: str, scale: float, steps: int) -> dict[str, Any]:
    """Peak RSS and tracemalloc peak of this (fresh) Python process over one long episode."""
    me = psutil.Process()
    rss_imports = me.memory_info().rss / 2**20
    with tempfile.TemporaryDirectory(prefix="pp-bench-mem-") as tmp:
        env = BrowserEnv(BrowserConfig(viewport=VIEWPORT, device_scale_factor=scale))
        agent = Agent(env, _script(page, steps), AgentConfig(out_dir=Path(tmp)))  # report on: the real default
        samples: dict[int, float] = {}

        def on_step(step: Any) -> None:
            if step.index in (1, 10, 50, 100, 150, steps):
                samples[step.index] = me.memory_info().rss / 2**20

        agent.on_step = on_step
        tracemalloc.start()
        t0 = time.perf_counter()
        result = agent.run(_spec(page, scale, steps, f"memory-{page}"), bundle_dir=Path(tmp) / "bundle")
        wall = time.perf_counter() - t0
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_end = me.memory_info().rss / 2**20
        chromium_rss = _tree_rss_mb(_chromium_tree())
        bundle_mb = sum(p.stat().st_size for p in (Path(tmp) / "bundle").iterdir()) / 2**20
        agent.close()
        env.close()
    return {
        "page": page,
        "scale": scale,
        "steps": result.steps,
        "success": result.success,
        "wall_s": wall,
        "rss_after_imports_mb": rss_imports,
        "rss_by_step_mb": samples,
        "rss_end_mb": rss_end,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "tracemalloc_peak_mb": peak / 2**20,
        "tracemalloc_end_mb": current / 2**20,
        "chromium_tree_rss_mb": chromium_rss,
        "bundle_mb": bundle_mb,
    }


def child_processes(episodes: int) -> dict[str, Any]:
    """Chromium process count, RSS, threads and fds across many episodes of one Agent/BrowserEnv."""
    me = psutil.Process()
    checkpoints = sorted({1, 2, 5, 10, 25, episodes} & set(range(1, episodes + 1)))
    rows: list[dict[str, Any]] = []

    def snapshot(label: str) -> None:
        procs = _chromium_tree()
        rows.append(
            {
                "after": label,
                "chromium_procs": len(procs),
                "chromium_rss_mb": round(_tree_rss_mb(procs), 1),
                "python_rss_mb": round(me.memory_info().rss / 2**20, 1),
                "threads": threading.active_count(),
                "fds": me.num_fds(),
            }
        )

    with tempfile.TemporaryDirectory(prefix="pp-bench-procs-") as tmp:
        env = BrowserEnv(BrowserConfig(viewport=VIEWPORT))
        agent = Agent(env, _script("simple", EPISODE_CLICKS), AgentConfig(out_dir=Path(tmp)))
        snapshot("0 episodes")
        ok = 0
        t0 = time.perf_counter()
        for n in range(1, episodes + 1):
            ok += agent.run(_spec("simple", 1, EPISODE_CLICKS, f"procs-{n}"), bundle_dir=Path(tmp) / f"ep{n}").success
            if n in checkpoints:
                snapshot(f"{n} episodes")
        wall = time.perf_counter() - t0
        agent.close()
        env.close()
        time.sleep(0.5)
        snapshot("env.close()")
    return {"episodes": episodes, "successes": ok, "wall_s": wall, "rows": rows}


def _run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- machine + report
def machine() -> dict[str, Any]:
    cpu = cpuinfo_field("model name")
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        commit = "unknown"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "playwright": version("playwright"),
        "pixelpilot": version("pixelpilot"),
        "commit": commit,
        "load_start": os.getloadavg()[0],
    }


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def render(
    m: dict[str, Any],
    configs: list[dict[str, Any]],
    attrib: list[dict[str, Any]],
    mem: dict[str, Any] | None,
    procs: dict[str, Any] | None,
    args: argparse.Namespace,
) -> str:
    chromium = configs[0]["chromium"] if configs else "?"
    lines = [
        BEGIN,
        f"_Generated by `benchmarks/step_overhead.py --repeats {args.repeats} --steps {args.steps}` on "
        f"{datetime.now().strftime('%Y-%m-%d %H:%M')} (commit {m['commit']})._",
        "",
        f"**Machine:** {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, "
        f"{m['ram_gb']} GiB RAM; {m['os']}; Python {m['python']}; Playwright {m['playwright']}; "
        f"Chromium {chromium} (system build, headless, `--disable-gpu`: software compositing); "
        f"pixelpilot {m['pixelpilot']}. Load average (1 min) at start {m['load_start']:.1f}, "
        f"at the end {m.get('load_end', float('nan')):.1f}.",
        "",
        "Per-step medians in ms (all steps of all repeats pooled; warm-up step of each block dropped). "
        "pixelpilot phases are the bundle's `timings_ms`; *step* is the wall time of one whole loop iteration. "
        "Ratio = pixelpilot step / raw floor step (goal ≤ 1.3); *paired* = the same ratio per repeat "
        "(each pixelpilot block against its neighbouring raw block), min–max.",
        "",
        "| page | scale | capture | decide | execute | record | **pixelpilot step** | raw shot | raw click "
        "| **raw floor step** | **ratio** | paired | goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    quiet_rows = []
    for c in configs:
        p, r = c["pixelpilot"], c["raw"]
        paired = f"{min(c['paired_ratios']):.2f}–{max(c['paired_ratios']):.2f}"
        lines.append(
            f"| {c['page']} | {c['scale']:g} | {_f(p['capture'])} | {_f(p['decide'], 2)} | {_f(p['execute'])} "
            f"| {_f(p['record'])} | **{_f(p['step'])}** | {_f(r['screenshot'])} | {_f(r['click'])} "
            f"| **{_f(r['step'])}** | **{c['ratio']:.2f}×** | {paired} "
            f"| {'met' if c['ratio'] <= GOAL_RATIO else 'missed'} |"
        )
        if c.get("variant"):
            q = c["variant"]
            quiet_rows.append(
                f"| {c['page']} | {c['scale']:g} | {_f(q['capture'])} | {_f(q['execute'])} | {_f(q['record'])} "
                f"| **{_f(q['step'])}** | {_f(r['step'])} | **{c['ratio_variant']:.2f}×** "
                f"| {'met' if c['ratio_variant'] <= GOAL_RATIO else 'missed'} |"
            )
    if quiet_rows:
        lines += [
            "",
            f"Same loop with `BrowserConfig({QUIET_FIELD}={configs[0]['variant_quiet_s']:g})` "
            f"(default {configs[0]['default_quiet_s']:g}; interleaved in the same run; ms):",
            "",
            "| page | scale | capture | execute | record | **pixelpilot step** | raw floor step | **ratio** | goal |",
            "|---|---|---|---|---|---|---|---|---|",
            *quiet_rows,
        ]
    lines += [
        "",
        "Capture format, raw floor (screenshot only, ms; sizes in KiB):",
        "",
        "| page | scale | JPEG q90 | PNG | PNG / JPEG | JPEG size | PNG size "
        "| steps measured (raw / png / pixelpilot) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        r, g, n = c["raw"], c["png"], c["n"]
        lines.append(
            f"| {c['page']} | {c['scale']:g} | {_f(r['screenshot'])} | {_f(g['screenshot'])} "
            f"| {g['screenshot'] / r['screenshot']:.2f}× | {r['bytes'] / 1024:.0f} | {g['bytes'] / 1024:.0f} "
            f"| {n['raw']} / {n['png']} / {n['pixelpilot']} |"
        )
    if attrib:
        lines += [
            "",
            "Attribution, interleaved per step (raw screenshot, raw click, `env.observe()`, `env.execute(Click)`, "
            'one `page.evaluate("0")`; default BrowserConfig; ms):',
            "",
            "| page | scale | raw shot | observe | observe − shot | raw click | execute | execute − click "
            "| one round trip | steps |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for a in attrib:
            lines.append(
                f"| {a['page']} | {a['scale']:g} | {_f(a['raw_shot'])} | {_f(a['observe'])} "
                f"| {a['observe'] - a['raw_shot']:+.1f} | {_f(a['raw_click'])} | {_f(a['execute'])} "
                f"| {a['execute'] - a['raw_click']:+.1f} | {_f(a['round_trip'])} | {a['steps']} |"
            )
    if mem is not None:
        by_step = ", ".join(f"step {k}: {v:.1f}" for k, v in mem["rss_by_step_mb"].items())
        lines += [
            "",
            f"**Memory** (fresh child process, one {mem['steps']}-step episode on {mem['page']} at scale "
            f"{mem['scale']:g}, report.html written, success={mem['success']}, "
            f"{mem['wall_s']:.1f} s with tracemalloc on):",
            "",
            "- Python process peak RSS (`ru_maxrss`, whole process life incl. imports): "
            f"**{mem['ru_maxrss_mb']:.1f} MiB**; "
            f"RSS after imports {mem['rss_after_imports_mb']:.1f} MiB, at the end {mem['rss_end_mb']:.1f} MiB",
            f"- RSS during the episode (MiB): {by_step}",
            f"- tracemalloc peak (Python allocations during the episode): **{mem['tracemalloc_peak_mb']:.2f} MiB**, "
            f"still allocated at the end {mem['tracemalloc_end_mb']:.2f} MiB",
            f"- for scale: Chromium process tree RSS {mem['chromium_tree_rss_mb']:.0f} MiB (not counted above); "
            f"bundle on disk {mem['bundle_mb']:.1f} MiB",
        ]
    if procs is not None:
        lines += [
            "",
            f"**Chromium processes** (fresh child process, one Agent + BrowserEnv, {procs['episodes']} episodes of "
            f"{EPISODE_CLICKS} clicks + finish, {procs['successes']}/{procs['episodes']} succeeded, "
            f"{procs['wall_s']:.1f} s):",
            "",
            "| after | Chromium processes | Chromium RSS MiB | Python RSS MiB | Python threads | open fds |",
            "|---|---|---|---|---|---|",
        ]
        for row in procs["rows"]:
            lines.append(
                f"| {row['after']} | {row['chromium_procs']} | {row['chromium_rss_mb']} | {row['python_rss_mb']} "
                f"| {row['threads']} | {row['fds']} |"
            )
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=4, help="interleaved raw/pixelpilot blocks per config")
    parser.add_argument("--steps", type=int, default=10, help="clicks per block (first one is a warm-up)")
    parser.add_argument("--png-steps", type=int, default=None, help="steps per PNG block (default: steps/2)")
    parser.add_argument("--pages", default="simple,dense")
    parser.add_argument("--scales", default="1,2")
    parser.add_argument(
        "--variant-quiet",
        type=float,
        default=None,
        help=f"settle_quiet_s of the pixelpilot variant (default: {OPT_IN_QUIET_S} if the default is 0, else 0; "
        "negative: no variant)",
    )
    parser.add_argument("--attribution", default="simple:1,dense:2", help="page:scale list for the attribution")
    parser.add_argument("--attribution-steps", type=int, default=20)
    parser.add_argument("--memory-steps", type=int, default=200)
    parser.add_argument("--memory-config", default="dense:2", help="page:scale of the memory episode")
    parser.add_argument("--episodes", type=int, default=50, help="episodes for the Chromium process check")
    parser.add_argument("--skip", default="", help="comma list of: timing, attribution, memory, processes")
    parser.add_argument("--out", type=Path, help="markdown file whose step_overhead section is replaced")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    enable_logging("WARNING")

    if args.child:
        kind, *rest = args.child
        if kind == "memory":
            out = child_memory(rest[0], float(rest[1]), int(rest[2]))
        else:
            out = child_processes(int(rest[0]))
        print(json.dumps(out))
        return

    skip = set(filter(None, args.skip.split(",")))
    png_steps = args.png_steps or max(3, args.steps // 2)
    if args.variant_quiet is not None:
        variant_quiet: float | None = args.variant_quiet if args.variant_quiet >= 0 else None
    elif QUIET_FIELD in BrowserConfig.model_fields:
        default_quiet = BrowserConfig.model_fields[QUIET_FIELD].default
        variant_quiet = OPT_IN_QUIET_S if default_quiet == 0 else 0.0
    else:
        variant_quiet = None
    m = machine()
    configs: list[dict[str, Any]] = []
    if "timing" not in skip:
        with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
            for page in args.pages.split(","):
                for scale in (float(s) for s in args.scales.split(",")):
                    t0 = time.perf_counter()
                    configs.append(
                        measure_config(page, scale, args.repeats, args.steps, png_steps, Path(tmp), variant_quiet)
                    )
                    c = configs[-1]
                    print(
                        f"{page} x{scale:g}: pixelpilot {c['pixelpilot']['step']:.1f} ms, raw "
                        f"{c['raw']['step']:.1f} ms, ratio {c['ratio']:.2f} ({time.perf_counter() - t0:.0f} s)",
                        file=sys.stderr,
                    )
    attrib: list[dict[str, Any]] = []
    if "attribution" not in skip:
        for item in args.attribution.split(","):
            page, scale = item.split(":")
            attrib.append(attribution(page, float(scale), args.attribution_steps))
            print(f"attribution {item}: {attrib[-1]}", file=sys.stderr)
    mem = None
    if "memory" not in skip:
        page, scale = args.memory_config.split(":")
        mem = _run_child("memory", page, scale, str(args.memory_steps))
        print(f"memory: peak RSS {mem['ru_maxrss_mb']:.1f} MiB", file=sys.stderr)
    procs = None
    if "processes" not in skip:
        procs = _run_child("processes", str(args.episodes))
        print(f"processes: {[r['chromium_procs'] for r in procs['rows']]}", file=sys.stderr)
    m["load_end"] = os.getloadavg()[0]
    section = render(m, configs, attrib, mem, procs, args)
    print(section)
    if args.out:
        write_section(args.out, section)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": m, "configs": configs, "memory": mem, "processes": procs}, indent=1, default=str),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
