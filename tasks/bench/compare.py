"""Comparing two benchmark runs task by task, with exact tests.

Units that ran in both runs (same task and seed) are compared pairwise (McNemar's exact test on
the units only one run solved), which is far more sensitive than comparing two rates; tasks with
no shared seeds fall back to Fisher's exact test. Runs of different suites or suite settings can
still be compared, with a warning, because that is sometimes the point (scale 1 vs scale 2). Step-level
runs scored by different matching modes cannot, unless asked to: the same decisions score differently
under the two modes, so a delta between them would be a property of the rules, not of the policies.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pixelpilot.tasks.bench.contract import UnitResult
from pixelpilot.tasks.bench.results import MANIFEST, ResultsLog, RunManifest, latest
from pixelpilot.tasks.bench.stats import compare


class CompareError(ValueError):
    """A run folder is missing or unreadable, or the two runs must not be compared."""


def matching_of(manifest: RunManifest) -> str | None:
    """The matching mode a step-level run was scored by; None for other suites.

    Step-level runs recorded before the modes existed name none: they were scored by today's strict rules.
    """
    settings = manifest.identity.get("suite_settings") or {}
    if "matching" in settings:
        return str(settings["matching"])
    return "strict" if manifest.suite == "steplevel" else None


def _load(run: Path) -> tuple[RunManifest, dict[str, dict[str, bool]]]:
    manifest, units = _load_units(run)
    by_task: dict[str, dict[str, bool]] = defaultdict(dict)
    for r in units.values():
        by_task[r.task][r.key] = r.success
    return manifest, by_task


def _load_units(run: Path) -> tuple[RunManifest, dict[str, UnitResult]]:
    manifest_path = run / MANIFEST
    if not manifest_path.is_file():
        raise CompareError(f"{run} is not a benchmark run (no {MANIFEST})")
    try:
        manifest = RunManifest.model_validate_json(manifest_path.read_text())
    except (ValidationError, ValueError) as exc:
        raise CompareError(f"{manifest_path}: unreadable manifest: {str(exc).splitlines()[0]}") from None
    units = {r.key: r for r in latest(ResultsLog(run).read()) if r.run_key == manifest.run_key}
    if not units:
        raise CompareError(f"{run} has no results yet")
    return manifest, units


def compare_runs(run_a: Path, run_b: Path, *, allow_mixed_matching: bool = False) -> dict[str, Any]:
    """Per-task and overall comparison of run B against baseline run A (JSON-ready).

    Raises CompareError when the runs were scored by different matching modes, unless
    ``allow_mixed_matching`` (then it is a warning).
    """
    man_a, a = _load(run_a)
    man_b, b = _load(run_b)
    warnings: list[str] = []
    mode_a, mode_b = matching_of(man_a), matching_of(man_b)
    if mode_a is not None and mode_b is not None and mode_a != mode_b:
        what = f"{run_a} was scored with --matching {mode_a}, {run_b} with --matching {mode_b}"
        if not allow_mixed_matching:
            raise CompareError(
                f"refusing to compare: {what}; rerun one with the other's mode or pass --allow-mixed-matching"
            )
        warnings.append(f"different matching modes: {what}")
    if man_a.suite != man_b.suite:
        warnings.append(f"different suites: {man_a.suite} vs {man_b.suite}")
    settings_a = man_a.identity.get("suite_settings")
    settings_b = man_b.identity.get("suite_settings")
    if settings_a != settings_b:
        warnings.append(f"different suite settings: {settings_a} vs {settings_b}")
    shared_tasks = sorted(a.keys() & b.keys())
    only = sorted(a.keys() ^ b.keys())
    if only:
        warnings.append(f"{len(only)} task(s) ran in only one run and are left out: {', '.join(only[:5])}")
    if not shared_tasks:
        raise CompareError("the two runs share no task")
    rows = []
    all_a: dict[str, bool] = {}
    all_b: dict[str, bool] = {}
    for task in shared_tasks:
        c = compare(a[task], b[task])
        rows.append({"task": task, **c.__dict__})
        all_a.update(a[task])
        all_b.update(b[task])
    overall = compare(all_a, all_b)
    return {
        "run_a": {"path": str(run_a), "run_key": man_a.run_key, "policy": man_a.policy, "matching": mode_a},
        "run_b": {"path": str(run_b), "run_key": man_b.run_key, "policy": man_b.policy, "matching": mode_b},
        "warnings": warnings,
        "tasks": rows,
        "overall": {"task": "overall", **overall.__dict__},
    }


def flipped_units(run_a: Path, run_b: Path) -> list[dict[str, Any]]:
    """The units (same task and seed) one run solved and the other did not, with each run's bundle."""
    _, a = _load_units(run_a)
    _, b = _load_units(run_b)
    rows = []
    for key in sorted(a.keys() & b.keys(), key=lambda k: (a[k].task, a[k].seed)):
        ra, rb = a[key], b[key]
        if ra.success != rb.success:
            rows.append({"task": ra.task, "seed": ra.seed, "a": ra, "b": rb, "gained": rb.success})
    return rows


def render_compare_html(report: dict[str, Any], run_a: Path, run_b: Path, page_path: Path) -> str:
    """The comparison as a page: both runs' identities side by side, per-task deltas with the exact
    test's p-value, and every flipped episode linked to its replay in each run (links are relative to
    where the page is written, so the page can live anywhere)."""
    import os

    from pixelpilot.tasks.bench.pages import e, failure_reason, meta_table, page, td

    base = page_path.resolve().parent

    def link(run: Path, r: UnitResult, label: str) -> str:
        if not r.bundle or not (run / r.bundle / "report.html").exists():
            return ""
        href = Path(os.path.relpath((run / r.bundle / "report.html").resolve(), base)).as_posix()
        return f"<a href='{e(href)}'>{e(label)}</a>"

    def who(side: dict[str, Any]) -> str:
        p = side.get("policy") or {}
        name = str(p.get("model") or p.get("kind") or "")
        mode = f" · matching <code>{e(side['matching'])}</code>" if side.get("matching") else ""
        return f"<code>{e(name)}</code> · run key <code>{e(side['run_key'])}</code>{mode}"

    head = meta_table(
        [
            ("A (baseline)", f"{e(str(run_a))} · {who(report['run_a'])}"),
            ("B", f"{e(str(run_b))} · {who(report['run_b'])}"),
        ]
    )
    warn = "".join(f"<p class='bad'>warning: {e(w)}</p>" for w in report["warnings"])
    rows = []
    for row in [*report["tasks"], report["overall"]]:
        cls = "overall" if row is report["overall"] else "task"
        delta_cls = "up" if row["delta"] > 0 else "down" if row["delta"] < 0 else ""
        ra, rb, d, pv = row["rate_a"], row["rate_b"], row["delta"], row["p_value"]
        rows.append(
            f"<tr class='{cls}'><td>{e(row['task'])}</td>{td(str(row['n_a']), row['n_a'])}"
            f"{td(f'{100 * ra:.1f}%', ra)}{td(str(row['n_b']), row['n_b'])}{td(f'{100 * rb:.1f}%', rb)}"
            f"{td(f'{100 * d:+.1f}', d, delta_cls)}{td(f'{pv:.3g}', pv)}<td>{e(row['test'])}</td>"
            f"{td(str(row['only_a_wins']), row['only_a_wins'])}{td(str(row['only_b_wins']), row['only_b_wins'])}</tr>"
        )
    table = (
        "<div class='wrap'><table class='sortable tasks'><thead><tr><th>task</th><th>n A</th><th>A</th><th>n B</th>"
        "<th>B</th><th>Δ (points)</th><th>p</th><th>test</th><th>only A solved</th><th>only B solved</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )
    flips = flipped_units(run_a, run_b)
    flip_rows = "".join(
        f"<tr class='flip'><td>{e(f['task'])}</td>{td(str(f['seed']), f['seed'])}"
        f"<td class='{'up' if f['gained'] else 'down'}'>{'gained in B' if f['gained'] else 'lost in B'}</td>"
        f"<td class='why'>{e(failure_reason(run_a, f['a']) if f['gained'] else failure_reason(run_b, f['b']))}</td>"
        f"<td>{link(run_a, f['a'], 'A replay')}</td><td>{link(run_b, f['b'], 'B replay')}</td></tr>"
        for f in flips
    )
    flip_html = (
        "<div class='wrap'><table class='sortable flips'><thead><tr><th>task</th><th>seed</th><th>change</th>"
        f"<th>why the failing run failed</th><th>A</th><th>B</th></tr></thead><tbody>{flip_rows}</tbody></table></div>"
        if flips
        else "<p>no episode changed outcome</p>"
    )
    return page(
        "benchmark comparison",
        f"<h1>benchmark comparison</h1>{head}{warn}<h2>tasks</h2>"
        "<p>p: exact McNemar test on the seeds both runs ran (Fisher's exact test where none are shared)</p>"
        f"{table}<h2>flipped episodes ({len(flips)})</h2>{flip_html}",
    )
