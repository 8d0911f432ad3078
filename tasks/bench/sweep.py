"""Pixel-budget sweeps: the same units at several ``max_pixels``, and what each budget buys.

Qwen2-VL-family models turn a screenshot into as many visual tokens as its resized area needs
(Naive Dynamic Resolution, capped by ``max_pixels``), so the budget trades accuracy for prefill
time, and which budget is right depends on the model and the screens. A sweep answers that from
evidence: ``bench SUITE --sweep-max-pixels A,B,C --out DIR`` runs the suite once per budget, each
in its own run folder ``DIR/max-pixels-<N>/`` (its own run.json, run key, results.jsonl and
report.html). Because each budget is an ordinary run, ``--resume`` continues a killed sweep budget
by budget, and ``bench compare DIR/max-pixels-A DIR/max-pixels-B`` compares two budgets unit by
unit. DIR itself holds ``sweep.json`` (the budgets and, per budget, success or grounding accuracy
with its 95% Wilson interval, visual tokens per step, model latency per step with a 95% interval)
and ``report.html``: that table and two inline-SVG charts against visual tokens per step.
"""

from __future__ import annotations

import html
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console

from pixelpilot.tasks.bench.contract import SuiteError, UnitResult
from pixelpilot.tasks.bench.pages import meta_table, num, page, pct, td
from pixelpilot.tasks.bench.results import MANIFEST, ResultsLog, RunManifest, latest
from pixelpilot.tasks.bench.stats import Z95, wilson

SWEEP = "sweep.json"
REPORT = "report.html"
#: The smallest budget a Qwen2-VL processor accepts: one 28x28 merged patch.
MIN_BUDGET = 28 * 28
#: More budgets than this is a typo, not a sweep (each one is a full run).
MAX_BUDGETS = 16
#: Above this a budget is no longer a budget: 16384 x 16384 screens do not exist.
MAX_BUDGET = 16384 * 16384


def budget_dir(out: Path, budget: int) -> Path:
    """The run folder of one budget inside a sweep folder."""
    return out / f"max-pixels-{budget}"


def parse_budgets(text: str, *, min_pixels: int = MIN_BUDGET) -> list[int]:
    """``"200704,401408,1280*28*28"`` -> the budgets, in the order given; SuiteError (one line) on bad input.

    A budget is a positive integer or a product of them (``1280*28*28``, as the Qwen docs write
    budgets). Each must be at least ``min_pixels`` (the policy's, else one 28x28 patch); duplicates
    are refused because two runs of one budget would share a folder.
    """
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise SuiteError(f"--sweep-max-pixels {text!r}: expected budgets separated by commas, e.g. 200704,401408")
    budgets: list[int] = []
    for item in items:
        factors = [f.strip() for f in item.split("*")]
        if not all(f.isascii() and f.isdigit() for f in factors):
            raise SuiteError(
                f"--sweep-max-pixels: {item!r} is not a pixel count (an integer such as 401408 or 512*28*28)"
            )
        value = math.prod(int(f) for f in factors)
        if value < max(min_pixels, MIN_BUDGET):
            floor = max(min_pixels, MIN_BUDGET)
            raise SuiteError(f"--sweep-max-pixels: {item} is below the minimum of {floor} pixels")
        if value > MAX_BUDGET:
            raise SuiteError(f"--sweep-max-pixels: {item} is above {MAX_BUDGET} pixels")
        if value in budgets:
            raise SuiteError(f"--sweep-max-pixels: {value} is given twice")
        budgets.append(value)
    if len(budgets) > MAX_BUDGETS:
        raise SuiteError(f"--sweep-max-pixels: {len(budgets)} budgets; at most {MAX_BUDGETS} per sweep")
    return budgets


# ----------------------------------------------------------------------------------------------- figures
def unit_figures(r: UnitResult) -> tuple[float | None, int, float | None]:
    """(visual tokens summed over the unit's model steps, how many steps they cover, model ms per step).

    Live suites record sums over an episode (``visual_tokens_sum``, ``model_ms_sum``); offline ones
    one decision (``visual_tokens``, ``model_ms``). A unit that recorded neither gives Nones.
    """
    m = r.metrics
    if "visual_tokens_sum" in m or "model_ms_sum" in m:
        steps = m.get("steps") or r.steps
        tokens = m.get("visual_tokens_sum") if m.get("visual_token_steps") else None
        ms = m["model_ms_sum"] / steps if steps and "model_ms_sum" in m else None
        return tokens, int(m.get("visual_token_steps", 0)), ms
    tokens = m.get("visual_tokens")
    return tokens, 1 if tokens is not None else 0, m.get("model_ms")


def mean_ci(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """Mean and its 95% interval (normal approximation over units); the interval is None below 2 values."""
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = Z95 * statistics.stdev(values) / math.sqrt(len(values))
    return mean, max(0.0, mean - half), mean + half


def budget_row(budget: int, folder: Path) -> dict[str, Any]:
    """One budget's figures, from its run folder alone (so a sweep's report can be rebuilt any time)."""
    row: dict[str, Any] = {"max_pixels": budget, "run": folder.name, "n": 0, "run_key": None}
    if not (folder / MANIFEST).is_file():
        return row
    manifest = RunManifest.model_validate_json((folder / MANIFEST).read_text())
    row["model"] = manifest.policy.get("model")
    results = [r for r in latest(ResultsLog(folder).read()) if r.run_key == manifest.run_key]
    wins = sum(r.success for r in results)
    lo, hi = wilson(wins, len(results))
    tokens = steps = 0.0
    latencies: list[float] = []
    for r in results:
        t, s, ms = unit_figures(r)
        if t is not None and s:
            tokens += t
            steps += s
        if ms is not None:
            latencies.append(ms)
    mean, ms_lo, ms_hi = mean_ci(latencies)
    row.update(
        {
            "run_key": manifest.run_key,
            "suite": manifest.suite,
            "n": len(results),
            "successes": wins,
            "success_rate": round(wins / len(results), 4) if results else None,
            "ci95": [round(lo, 4), round(hi, 4)],
            "visual_tokens_per_step": round(tokens / steps, 1) if steps else None,
            "model_ms_per_step": round(mean, 1) if mean is not None else None,
            "model_ms_ci95": [round(ms_lo, 1), round(ms_hi, 1)] if ms_lo is not None and ms_hi is not None else None,
            "mean_steps": round(sum(r.steps for r in results) / len(results), 2) if results else None,
            "killed_or_crashed": sum(r.status in ("killed", "crashed") for r in results),
        }
    )
    return row


def sweep_summary(out: Path, budgets: list[int], suite: str) -> dict[str, Any]:
    rows = [budget_row(b, budget_dir(out, b)) for b in sorted(budgets)]
    metric = "grounding accuracy" if suite == "grounding" else "success"
    return {"suite": suite, "metric": metric, "budgets": sorted(budgets), "rows": rows}


def open_sweep(out: Path, suite: str, budgets: list[int], *, resume: bool) -> list[int]:
    """Claim ``out`` for a sweep of ``suite``; returns every budget the folder's sweep now covers.

    A folder that holds a plain run, or a sweep of another suite, is refused; without ``--resume`` so
    is any earlier sweep (as for a plain run). A resumed sweep may add budgets: the report covers them all.
    """
    if (out / MANIFEST).exists():
        raise SuiteError(f"{out} holds a single run, not a sweep; use a new --out")
    path = out / SWEEP
    known: list[int] = []
    if path.exists():
        try:
            old = json.loads(path.read_text())
            old_suite, known = str(old["suite"]), [int(b) for b in old["budgets"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SuiteError(f"{path} is not a pixelpilot sweep file ({type(exc).__name__})") from None
        if not resume:
            raise SuiteError(
                f"{out} already holds a sweep ({old_suite}, budgets {known}); pass --resume or a new --out"
            )
        if old_suite != suite:
            raise SuiteError(f"{out} holds a sweep of the {old_suite} suite, not {suite}; use a new --out")
    elif resume and any(out.glob("max-pixels-*")):
        raise SuiteError(f"{out} has budget folders but no {SWEEP}; use a new --out")
    covered = sorted(set(known) | set(budgets))
    write_sweep(out, sweep_summary(out, covered, suite))
    return covered


def write_sweep(out: Path, summary: dict[str, Any]) -> None:
    """sweep.json and report.html, each replaced atomically (a kill never leaves half a file)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in ((SWEEP, json.dumps(summary, indent=2)), (REPORT, render_sweep_html(summary))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out / name)


# ----------------------------------------------------------------------------------------------- output
def print_sweep(summary: dict[str, Any], console: Console) -> None:
    """The sweep's table in the terminal, one line per budget."""
    from pixelpilot.tasks.bench.report import print_columns

    metric = summary["metric"]
    headers = ["max pixels", "n", metric, "95% CI", "vis tok/step", "model ms/step", "95% CI ms", "run"]
    rows = [
        [
            str(r["max_pixels"]),
            str(r["n"]),
            pct(r.get("success_rate")),
            _rate_ci(r),
            num(r.get("visual_tokens_per_step")),
            num(r.get("model_ms_per_step")),
            _ms_ci(r),
            r["run"],
        ]
        for r in summary["rows"]
    ]
    console.print(f"[bold]{summary['suite']}[/] sweep over {len(rows)} pixel budgets", soft_wrap=True)
    print_columns(console, headers, rows, left={7})


def _rate_ci(r: dict[str, Any]) -> str:
    if not r.get("n"):
        return "—"
    lo, hi = r["ci95"]
    return f"{100 * lo:.0f}–{100 * hi:.0f}%"


def _ms_ci(r: dict[str, Any]) -> str:
    c = r.get("model_ms_ci95")
    return "—" if not c else f"{c[0]:g}–{c[1]:g}"


def render_sweep_html(summary: dict[str, Any]) -> str:
    """The sweep's page: what ran, the table, and two charts against visual tokens per step."""
    e = html.escape
    metric = summary["metric"]
    rows = summary["rows"]
    body_rows = "".join(
        f"<tr>{td(str(r['max_pixels']), r['max_pixels'])}{td(str(r['n']), r['n'])}"
        f"{td(pct(r.get('success_rate')), r.get('success_rate'))}{td(_rate_ci(r))}"
        f"{td(num(r.get('visual_tokens_per_step')), r.get('visual_tokens_per_step'))}"
        f"{td(num(r.get('model_ms_per_step')), r.get('model_ms_per_step'))}{td(_ms_ci(r))}"
        f"{td(num(r.get('mean_steps')), r.get('mean_steps'))}{td(str(r.get('killed_or_crashed', 0)))}"
        f"<td><a href='{e(r['run'])}/report.html'>{e(r['run'])}</a></td></tr>"
        for r in rows
    )
    table = (
        "<div class='wrap'><table class='sortable sweep'><thead><tr><th>max pixels</th><th>n</th>"
        f"<th>{e(metric)}</th><th>95% CI</th><th>visual tokens/step</th><th>model ms/step</th><th>95% CI (ms)</th>"
        f"<th>mean steps</th><th>killed/crashed</th><th>run</th></tr></thead><tbody>{body_rows}</tbody></table></div>"
    )
    rate_points = [
        (r["visual_tokens_per_step"], r["success_rate"], *r["ci95"], r["max_pixels"])
        for r in rows
        if r.get("visual_tokens_per_step") is not None and r.get("success_rate") is not None
    ]
    ms_points = [
        (
            r["visual_tokens_per_step"],
            r["model_ms_per_step"],
            *(r.get("model_ms_ci95") or (None, None)),
            r["max_pixels"],
        )
        for r in rows
        if r.get("visual_tokens_per_step") is not None and r.get("model_ms_per_step") is not None
    ]
    head = meta_table(
        [
            ("suite", e(summary["suite"])),
            ("model", e(str(next((r["model"] for r in rows if r.get("model")), "")))),
            ("budgets (max pixels)", e(", ".join(map(str, summary["budgets"])))),
            ("runs", "one run folder per budget (resume and compare them as any run)"),
        ]
    )
    return page(
        f"{summary['suite']} pixel-budget sweep",
        f"<h1>{e(summary['suite'])}: pixel-budget sweep</h1>{head}<h2>budgets</h2>{table}"
        f"<h2>{e(metric)} against visual tokens per step (95% Wilson intervals)</h2>"
        f"{xy_chart(rate_points, y_label=metric, percent=True)}"
        f"<h2>model latency per step against visual tokens per step (95% intervals of the mean)</h2>"
        f"{xy_chart(ms_points, y_label='model ms per step', percent=False)}",
    )


def xy_chart(points: list[tuple[Any, ...]], *, y_label: str, percent: bool) -> str:
    """An inline SVG line chart: (x, y, lo, hi, label) points joined in x order, whiskers for lo..hi."""
    if not points:
        return "<p>no figures yet</p>"
    w, h, left, bottom, top, right = 520, 240, 60, 36, 12, 20
    pts = sorted(points, key=lambda p: p[0])
    xmax = max(p[0] for p in pts) * 1.08 or 1.0
    ymax = 1.0 if percent else (max(p[3] if p[3] is not None else p[1] for p in pts) * 1.1 or 1.0)
    px = lambda x: left + x / xmax * (w - left - right)  # noqa: E731
    py = lambda y: top + (1 - y / ymax) * (h - top - bottom)  # noqa: E731
    fmt = (lambda y: f"{100 * y:.0f}%") if percent else (lambda y: f"{y:.0f}")
    parts = [
        f"<svg class='chart sweep' xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-size='11' "
        "font-family='system-ui,sans-serif'>"
    ]
    for k in range(5):
        y = ymax * k / 4
        parts.append(f"<line x1='{left}' x2='{w - right}' y1='{py(y):.1f}' y2='{py(y):.1f}' stroke='#eee'/>")
        parts.append(f"<text x='{left - 4}' y='{py(y) + 4:.1f}' text-anchor='end' fill='#666'>{fmt(y)}</text>")
    for k in range(5):
        x = xmax * k / 4
        parts.append(f"<text x='{px(x):.1f}' y='{h - bottom + 14}' text-anchor='middle' fill='#666'>{x:.0f}</text>")
    parts.append(
        f"<text x='{(left + w - right) / 2}' y='{h - 4}' text-anchor='middle' fill='#444'>visual tokens per step</text>"
        f"<text x='12' y='{(top + h - bottom) / 2}' transform='rotate(-90 12 {(top + h - bottom) / 2})' "
        f"text-anchor='middle' fill='#444'>{html.escape(y_label)}</text>"
    )
    line = " ".join(f"{px(p[0]):.1f},{py(p[1]):.1f}" for p in pts)
    parts.append(f"<polyline points='{line}' fill='none' stroke='#4a8' stroke-width='2'/>")
    for x, y, lo, hi, label in pts:
        whisker = (
            f"<line x1='{px(x):.1f}' x2='{px(x):.1f}' y1='{py(lo):.1f}' y2='{py(hi):.1f}' stroke='#222'/>"
            if lo is not None and hi is not None
            else ""
        )
        interval = f" ({fmt(lo)}–{fmt(hi)})" if lo is not None and hi is not None else ""
        parts.append(
            f"<g class='point' data-max-pixels='{label}'><title>max_pixels {label}: {x:g} tokens/step, "
            f"{fmt(y)}{interval}</title>{whisker}"
            f"<circle cx='{px(x):.1f}' cy='{py(y):.1f}' r='4' fill='#4a8'/>"
            f"<text x='{px(x) + 6:.1f}' y='{py(y) - 6:.1f}' fill='#444'>{label}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
