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
from rich.markup import escape

from pixelpilot.tasks.bench.contract import UnitResult
from pixelpilot.tasks.bench.pages import (
    ci,
    failure_reason,
    failures_table,
    meta_table,
    num,
    page,
    pct,
    replay_link,
    run_header,
    success_chart,
    td,
)
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


_pct, _ci, _num = pct, ci, num


def print_summary(summary: dict[str, Any], console: Console, *, max_rows: int = 60) -> None:
    """The run's table in the terminal: borderless aligned columns, task names never split.

    On a terminal the table fits its width by leaving out the rightmost figures (named below it;
    summary.json has them all); piped (CI logs, `make demo | tee`) it prints every column as plain
    aligned lines with no box drawing, which survive any log viewer.
    """
    headers = ["task", "n", "success", "95% CI", "steps", "parse fail", "vis tok", "ms cap/model/exec"]

    def row(name: str, b: dict[str, Any]) -> list[str]:
        lat = b["latency_ms_per_step"]
        return [
            name,
            str(b["n"]),
            _pct(b["success_rate"]),
            _ci(b),
            _num(b["mean_steps"]),
            _pct(b["parse_failure_rate"]),
            _num(b["visual_tokens_per_step"]),
            "/".join("—" if lat[k] is None else f"{lat[k]:.0f}" for k in ("capture", "model", "execute")),
        ]

    tasks = summary["tasks"]
    rows = [row(n, b) for n, b in tasks.items()] if len(tasks) <= max_rows else []
    overall = summary["overall"]
    rows.append(row("overall", overall))
    console.print(f"[bold]{escape(summary['suite'])}[/] · run {summary['run_key']}", soft_wrap=True)
    print_columns(console, headers, rows, left={0}, bold_last=True)
    if len(tasks) > max_rows:
        console.print(f"({len(tasks)} tasks: per-task rows in summary.json and report.html)")
    console.print(
        f"overall = episode-weighted (all successes / all episodes): {_pct(overall['success_rate'])}; "
        f"mean of per-task success rates: {_pct(overall['mean_of_task_success_rates'])} over {len(tasks)} tasks; "
        f"statuses: {', '.join(f'{k} {v}' for k, v in sorted(summary['statuses'].items()))}",
        soft_wrap=not console.is_terminal,
    )
    extra = summary.get("suite_summary")
    if extra:
        print_suite_summary(extra, console)


def print_columns(
    console: Console, headers: list[str], rows: list[list[str]], *, left: set[int], bold_last: bool = False
) -> None:
    """Aligned columns separated by two spaces; on a terminal, drop right-hand columns until it fits."""
    keep = list(range(len(headers)))
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in keep]
    dropped: list[str] = []
    if console.is_terminal:
        while len(keep) > 2 and sum(widths[i] for i in keep) + 2 * (len(keep) - 1) > console.width:
            dropped.insert(0, headers[keep.pop()])

    def line(cells: list[str]) -> str:
        return "  ".join(cells[i].ljust(widths[i]) if i in left else cells[i].rjust(widths[i]) for i in keep).rstrip()

    tty = console.is_terminal
    console.print(escape(line(headers)), style="bold" if tty else None, soft_wrap=True, highlight=False)
    for k, r in enumerate(rows):
        last = bold_last and k == len(rows) - 1
        console.print(escape(line(r)), style="bold" if tty and last else None, soft_wrap=True, highlight=False)
    if dropped:
        console.print(f"(left out at this width: {', '.join(dropped)})", soft_wrap=not tty)


def print_suite_summary(extra: dict[str, Any], console: Console) -> None:
    """A suite's own figures as a table: grounding's per-split and per-platform accuracy, or key: value lines."""
    if "per_split" in extra and "per_platform" in extra:
        rows: list[list[str]] = []
        for group in ("per_split", "per_platform"):
            for name, c in extra[group].items():
                rows.append([group.replace("per_", ""), name, str(c["hits"]), str(c["n"]), _pct(c["accuracy"])])
        rows.append(
            [
                "overall",
                "sample-weighted",
                str(extra["hits"]),
                str(extra["samples"]),
                _pct(extra["sample_weighted_accuracy"]),
            ]
        )
        rows.append(
            [
                "overall",
                "split-averaged",
                "",
                str(len(extra["per_split"])) + " splits",
                _pct(extra["split_averaged_accuracy"]),
            ]
        )
        print_columns(console, ["by", "group", "hits", "n", "accuracy"], rows, left={0, 1})
        console.print(
            "sample-weighted = all hits / all samples; split-averaged = mean of the per-split accuracies; "
            f"parse failures {_pct(extra.get('parse_failure_rate'))}",
            soft_wrap=not console.is_terminal,
        )
        return
    for key, value in extra.items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else _num(value)
        console.print(f"{key.replace('_', ' ')}: {escape(str(text))}", soft_wrap=not console.is_terminal)


def render_html(summary: dict[str, Any], results: list[UnitResult], out: Path) -> str:
    """The run's self-contained page: what ran (a table), the overall figures, a chart of success by
    task, the sortable per-task table, every failed episode with its reason and replay, and all episodes."""
    e = html.escape
    o = summary["overall"]
    head = (
        f"<h1>{e(summary['suite'])} benchmark</h1>{meta_table(run_header(summary, results))}"
        f"<p><b>{_pct(o['success_rate'])}</b> success (episode-weighted, 95% CI {_ci(o)}, n={o['n']}); "
        f"mean of per-task success rates {_pct(o['mean_of_task_success_rates'])}</p>"
    )
    by_task: dict[str, list[UnitResult]] = defaultdict(list)
    for r in results:
        by_task[r.task].append(r)

    def tr(name: str, b: dict[str, Any], cls: str = "") -> str:
        lat = b["latency_ms_per_step"]
        return (
            f"<tr class='{cls}'><td>{e(name)}</td>{td(str(b['n']), b['n'])}"
            f"{td(_pct(b['success_rate']), b['success_rate'])}{td(_ci(b), b['ci95'][0])}"
            f"{td(_num(b['mean_steps']), b['mean_steps'])}{td(_pct(b['parse_failure_rate']), b['parse_failure_rate'])}"
            f"{td(_num(b['visual_tokens_per_step']), b['visual_tokens_per_step'])}"
            f"{td(_num(lat['capture']), lat['capture'])}{td(_num(lat['model']), lat['model'])}"
            f"{td(_num(lat['execute']), lat['execute'])}{td(str(b['killed'] + b['crashed']))}</tr>"
        )

    rows = [tr(name, block, "task") for name, block in summary["tasks"].items()]
    rows.append(tr("overall (episode-weighted)", o, "overall"))
    table = (
        "<div class='wrap'><table class='sortable tasks'><thead><tr><th>task</th><th>n</th><th>success</th>"
        "<th>95% CI</th><th>mean steps</th><th>parse failures</th><th>visual tokens/step</th><th>capture ms</th>"
        "<th>model ms</th><th>execute ms</th><th>killed/crashed</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )
    episodes = []
    for name, rs in sorted(by_task.items()):
        items = []
        for r in sorted(rs, key=lambda r: r.seed):
            mark = "<span class='ok'>✓</span>" if r.success else "<span class='bad'>✗</span>"
            label = f"seed {r.seed} · {r.status} · {r.steps} steps · reward {r.reward:g}"
            link = replay_link(out, r, "episode report")
            why = "" if r.success else f" — {e(failure_reason(out, r))}"
            items.append(f"<li>{mark} {e(label)} {link}{why}</li>")
        episodes.append(f"<details><summary>{e(name)} ({len(rs)})</summary><ul>{''.join(items)}</ul></details>")
    extra = summary.get("suite_summary")
    extra_html = f"<h2>suite summary</h2>{_suite_summary_html(extra)}" if extra else ""
    return page(
        f"{summary['suite']} benchmark",
        f"{head}<h2>success by task (95% Wilson intervals)</h2>{success_chart(summary['tasks'])}"
        f"<h2>tasks</h2>{table}<h2>failed episodes</h2>{failures_table(out, results)}{extra_html}"
        f"<h2>all episodes</h2>{''.join(episodes)}",
    )


def _suite_summary_html(extra: dict[str, Any]) -> str:
    """Grounding's accuracy per split and platform as a table (both overall conventions); other suites' JSON."""
    e = html.escape
    if not ("per_split" in extra and "per_platform" in extra):
        return f"<pre>{e(json.dumps(extra, indent=2))}</pre>"
    rows = [
        f"<tr><td>{group.replace('per_', '')}</td><td>{e(name)}</td>{td(str(c['hits']), c['hits'])}"
        f"{td(str(c['n']), c['n'])}{td(_pct(c['accuracy']), c['accuracy'])}</tr>"
        for group in ("per_split", "per_platform")
        for name, c in extra[group].items()
    ]
    rows.append(
        f"<tr class='overall'><td>overall</td><td>sample-weighted</td><td>{extra['hits']}</td>"
        f"<td>{extra['samples']}</td><td>{_pct(extra['sample_weighted_accuracy'])}</td></tr>"
        f"<tr class='overall'><td>overall</td><td>split-averaged</td><td></td><td>{len(extra['per_split'])} splits</td>"
        f"<td>{_pct(extra['split_averaged_accuracy'])}</td></tr>"
    )
    return (
        "<div class='wrap'><table class='sortable grounding'><thead><tr><th>by</th><th>group</th><th>hits</th>"
        f"<th>n</th><th>accuracy</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
