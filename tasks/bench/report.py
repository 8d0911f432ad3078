"""What a benchmark run reports: summary.json, a self-contained report.html and a terminal table.

Everything is computed from results.jsonl alone, so a report can be regenerated for a resumed,
interrupted or copied run. Rates come with 95% Wilson intervals. Two overall figures are given and
labelled, because papers use both: episode-weighted (all successes / all episodes) and the mean
of per-task success rates.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pixelpilot.tasks.bench.contract import UnitResult
from pixelpilot.tasks.bench.results import MANIFEST, RunManifest
from pixelpilot.tasks.bench.stats import wilson

SUMMARY = "summary.json"
REPORT = "report.html"


def _rate_block(results: list[UnitResult]) -> dict[str, Any]:
    n = len(results)
    wins = sum(r.success for r in results)
    lo, hi = wilson(wins, n)
    m: Counter[str] = Counter()
    for r in results:
        m.update({k: v for k, v in r.metrics.items() if isinstance(v, (int, float))})
    steps = m.get("steps", 0) or sum(r.steps for r in results)
    per_step = lambda key: round(m[key] / steps, 2) if steps and key in m else None  # noqa: E731
    return {
        "n": n,
        "successes": wins,
        "success_rate": round(wins / n, 4) if n else None,
        "ci95": [round(lo, 4), round(hi, 4)],
        "mean_reward": round(sum(r.reward for r in results) / n, 4) if n else None,
        "mean_steps": round(sum(r.steps for r in results) / n, 2) if n else None,
        "parse_failure_rate": round(m["parse_failure_steps"] / steps, 4) if steps and "steps" in m else None,
        "visual_tokens_per_step": round(m["visual_tokens_sum"] / m["visual_token_steps"], 1)
        if m.get("visual_token_steps")
        else None,
        "latency_ms_per_step": {
            "capture": per_step("capture_ms_sum"),
            "model": per_step("model_ms_sum"),
            "execute": per_step("execute_ms_sum"),
        },
        "killed": sum(r.status == "killed" for r in results),
        "crashed": sum(r.status == "crashed" for r in results),
    }


def summarize(results: list[UnitResult], manifest: RunManifest, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    by_task: dict[str, list[UnitResult]] = defaultdict(list)
    for r in results:
        by_task[r.task].append(r)
    tasks = {t: _rate_block(rs) for t, rs in sorted(by_task.items())}
    rates = [b["success_rate"] for b in tasks.values() if b["success_rate"] is not None]
    return {
        "suite": manifest.suite,
        "run_key": manifest.run_key,
        "policy": manifest.policy,
        "settings": manifest.settings,
        "identity": manifest.identity,
        "overall": {
            **_rate_block(results),
            "mean_of_task_success_rates": round(sum(rates) / len(rates), 4) if rates else None,
        },
        "statuses": dict(Counter(r.status for r in results)),
        "tasks": tasks,
        **({"suite_summary": extra} if extra else {}),
    }


def write_summary(out: Path, results: list[UnitResult], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest = RunManifest.model_validate_json((out / MANIFEST).read_text())
    summary = summarize(results, manifest, extra)
    tmp = out / (SUMMARY + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / SUMMARY)
    (out / REPORT).write_text(render_html(summary, results, out))
    return summary


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _ci(block: dict[str, Any]) -> str:
    lo, hi = block["ci95"]
    return f"{100 * lo:.0f}–{100 * hi:.0f}%"


def _num(x: Any) -> str:
    return "—" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def print_summary(summary: dict[str, Any], console: Console, *, max_rows: int = 60) -> None:
    table = Table(title=f"{summary['suite']} · run {summary['run_key']}", show_lines=False)
    for col in ("task", "n", "success", "95% CI", "steps", "parse fail", "vis tok", "ms cap/model/exec"):
        table.add_column(col, justify="left" if col == "task" else "right", overflow="fold")

    def row(name: str, b: dict[str, Any], style: str | None = None) -> None:
        lat = b["latency_ms_per_step"]
        table.add_row(
            name,
            str(b["n"]),
            _pct(b["success_rate"]),
            _ci(b),
            _num(b["mean_steps"]),
            _pct(b["parse_failure_rate"]),
            _num(b["visual_tokens_per_step"]),
            "/".join("—" if lat[k] is None else f"{lat[k]:.0f}" for k in ("capture", "model", "execute")),
            style=style,
        )

    tasks = summary["tasks"]
    if len(tasks) <= max_rows:
        for name, block in tasks.items():
            row(name, block)
    overall = summary["overall"]
    row("overall", overall, style="bold")
    console.print(table)
    console.print(
        f"overall = episode-weighted (all successes / all episodes): {_pct(overall['success_rate'])}; "
        f"mean of per-task success rates: {_pct(overall['mean_of_task_success_rates'])} over {len(tasks)} tasks; "
        f"statuses: {', '.join(f'{k} {v}' for k, v in sorted(summary['statuses'].items()))}",
        soft_wrap=True,
    )
    extra = summary.get("suite_summary")
    if extra:
        console.print_json(json.dumps(extra))


_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
tr.overall td{font-weight:bold;border-top:2px solid #888}
.bar{display:inline-block;height:9px;background:#4a8;vertical-align:middle}
.ok{color:#186a3b}.bad{color:#a93226}
details{margin:4px 0}code{background:#f4f4f4;padding:1px 4px}
"""


def render_html(summary: dict[str, Any], results: list[UnitResult], out: Path) -> str:
    e = html.escape
    o = summary["overall"]
    head = (
        f"<h1>{e(summary['suite'])} benchmark</h1>"
        f"<p>run key <code>{e(summary['run_key'])}</code> · policy <code>{e(json.dumps(summary['policy']))}</code></p>"
        f"<p>settings <code>{e(json.dumps(summary['settings']))}</code></p>"
        f"<p><b>{_pct(o['success_rate'])}</b> success (episode-weighted, 95% CI {_ci(o)}, n={o['n']}); "
        f"mean of per-task success rates {_pct(o['mean_of_task_success_rates'])}</p>"
    )
    rows = []
    by_task: dict[str, list[UnitResult]] = defaultdict(list)
    for r in results:
        by_task[r.task].append(r)

    def tr(name: str, b: dict[str, Any], cls: str = "") -> str:
        lat = b["latency_ms_per_step"]
        width = int(100 * (b["success_rate"] or 0))
        return (
            f"<tr class='{cls}'><td>{e(name)}</td><td>{b['n']}</td>"
            f"<td><span class='bar' style='width:{width}px'></span> {_pct(b['success_rate'])}</td>"
            f"<td>{_ci(b)}</td><td>{_num(b['mean_steps'])}</td><td>{_pct(b['parse_failure_rate'])}</td>"
            f"<td>{_num(b['visual_tokens_per_step'])}</td><td>{_num(lat['capture'])}</td>"
            f"<td>{_num(lat['model'])}</td><td>{_num(lat['execute'])}</td><td>{b['killed'] + b['crashed']}</td></tr>"
        )

    for name, block in summary["tasks"].items():
        rows.append(tr(name, block))
    rows.append(tr("overall (episode-weighted)", o, "overall"))
    table = (
        "<table><tr><th>task</th><th>n</th><th>success</th><th>95% CI</th><th>mean steps</th>"
        "<th>parse failures</th><th>visual tokens/step</th><th>capture ms</th><th>model ms</th>"
        "<th>execute ms</th><th>killed/crashed</th></tr>" + "".join(rows) + "</table>"
    )
    episodes = []
    for name, rs in sorted(by_task.items()):
        items = []
        for r in sorted(rs, key=lambda r: r.seed):
            mark = "<span class='ok'>✓</span>" if r.success else "<span class='bad'>✗</span>"
            label = f"seed {r.seed} · {r.status} · {r.steps} steps · reward {r.reward:g}"
            link = ""
            if r.bundle:
                target = Path(r.bundle) / "report.html"
                link = f" <a href='{e(target.as_posix())}'>episode report</a>" if (out / target).exists() else ""
            err = f" — <code>{e(r.error)}</code>" if r.error else ""
            items.append(f"<li>{mark} {e(label)}{link}{err}</li>")
        episodes.append(f"<details><summary>{e(name)} ({len(rs)})</summary><ul>{''.join(items)}</ul></details>")
    extra = summary.get("suite_summary")
    extra_html = f"<h2>suite summary</h2><pre>{e(json.dumps(extra, indent=2))}</pre>" if extra else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(summary['suite'])} benchmark</title>"
        f"<style>{_CSS}</style></head><body>{head}{table}{extra_html}<h2>episodes</h2>{''.join(episodes)}"
        "</body></html>"
    )
