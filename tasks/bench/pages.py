"""The HTML pages of benchmark runs: a run's report.html and the page of `bench compare`.

Both are single self-contained files (inline CSS, a few lines of JS, an inline SVG chart), so a run
folder can be copied or attached anywhere and still opens. Cells never wrap: a number split over two
lines is misread, so wide tables scroll instead. Every failed episode says why it failed and links to
its replay (the bundle's report.html), because a rate alone does not tell what to fix.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pixelpilot.tasks.bench.contract import UnitResult

e = html.escape

CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:20px 0 6px}
table{border-collapse:collapse;margin:8px 0}
td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td:first-child,th:first-child{text-align:left}
table.meta th{text-align:left;color:#555;font-weight:normal}table.meta td{text-align:left}
table.sortable th{cursor:pointer;user-select:none;background:#f4f4f4}
table.sortable th[aria-sort=ascending]::after{content:" ▲"}table.sortable th[aria-sort=descending]::after{content:" ▼"}
tr.overall td{font-weight:bold;border-top:2px solid #888}
.wrap{overflow-x:auto}
.ok{color:#186a3b}.bad{color:#a93226}.up{color:#186a3b}.down{color:#a93226}
td.why{text-align:left;max-width:none}
code{background:#f4f4f4;padding:1px 4px}
details{margin:4px 0}
"""

# Sorting on header click: numbers sort as numbers (data-v holds the raw value), rows marked
# "overall" stay at the bottom.
SORT_JS = """
document.querySelectorAll('table.sortable').forEach(t=>{
 t.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
  const asc=th.getAttribute('aria-sort')!=='ascending';
  t.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  const body=t.tBodies[0],rows=[...body.rows].filter(r=>!r.classList.contains('overall'));
  const key=r=>{const c=r.cells[i],v=c.dataset.v??c.textContent.trim();const n=parseFloat(v);
   return isNaN(n)||v===''?v:n};
  rows.sort((a,b)=>{const x=key(a),y=key(b);const c=typeof x==='number'&&typeof y==='number'?x-y:
   String(x).localeCompare(String(y));return asc?c:-c});
  const tail=[...body.rows].filter(r=>r.classList.contains('overall'));
  rows.concat(tail).forEach(r=>body.appendChild(r));
 }))});
"""


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def ci(block: dict[str, Any]) -> str:
    lo, hi = block["ci95"]
    return f"{100 * lo:.0f}–{100 * hi:.0f}%"


def num(x: Any) -> str:
    return "—" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def td(text: str, value: Any = None, cls: str = "") -> str:
    v = "" if value is None else f" data-v='{e(str(value))}'"
    c = f" class='{cls}'" if cls else ""
    return f"<td{v}{c}>{text}</td>"


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}<script>{SORT_JS}</script></body></html>"
    )


def meta_table(rows: list[tuple[str, str]]) -> str:
    """A readable key/value table (the run's identity), instead of raw JSON."""
    return (
        "<table class='meta'>"
        + "".join(f"<tr><th>{e(k)}</th><td>{v}</td></tr>" for k, v in rows if v not in ("", None))
        + "</table>"
    )


def seeds_text(results: list[UnitResult]) -> str:
    seeds = sorted({r.seed for r in results})
    if not seeds:
        return ""
    per_task: dict[str, int] = defaultdict(int)
    for r in results:
        per_task[r.task] += 1
    span = (
        f"{seeds[0]}–{seeds[-1]}"
        if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1
        else ", ".join(map(str, seeds[:20]))
    )
    return f"{span} ({max(per_task.values())} per task)"


def run_header(summary: dict[str, Any], results: list[UnitResult]) -> list[tuple[str, str]]:
    """The rows that say what was run: who acted, how it saw the screen, on what, with which seeds."""
    p = summary.get("policy") or {}
    s = summary.get("settings") or {}
    ident = summary.get("identity") or {}
    who = p.get("model") or ""
    kind = p.get("kind") or ""
    policy = f"<code>{e(who)}</code> ({e(kind)})" if who else f"<code>{e(kind)}</code>"
    if p.get("endpoint"):
        policy += f" via <code>{e(p['endpoint'])}</code>"
    pixels = " – ".join(num(p.get(k)) for k in ("min_pixels", "max_pixels") if p.get(k) is not None)
    rows: list[tuple[str, str]] = [
        ("suite", e(str(summary.get("suite", "")))),
        ("model / policy", policy),
        ("dialect", e(str(p.get("dialect") or ("default" if kind == "qwen" else "")))),
        ("pixels (min – max)", e(pixels)),
        ("scale", e(num(s.get("scale"))) if "scale" in s else ""),
        ("screenshot", e(str(s.get("screenshot_px", "")))),
        ("max steps", e(num(s.get("max_steps"))) if s.get("max_steps") is not None else ""),
        ("seeds", e(seeds_text(results))),
        ("run key", f"<code>{e(str(summary.get('run_key', '')))}</code>"),
        ("pixelpilot", e(str(ident.get("pixelpilot_version", ident.get("version", ""))))),
    ]
    shown = {"scale", "screenshot_px", "max_steps"}
    rows += [
        (k.replace("_", " "), e(num(v))) for k, v in s.items() if k not in shown and not isinstance(v, (dict, list))
    ]
    return rows


def success_chart(tasks: dict[str, dict[str, Any]]) -> str:
    """One horizontal bar per task (success rate) with its 95% Wilson interval as a whisker."""
    row_h, label_w, bar_w = 18, 190, 300
    height = row_h * len(tasks) + 24
    parts = [
        f"<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='{label_w + bar_w + 70}' height='{height}' "
        "font-size='12' font-family='system-ui,sans-serif'>"
    ]
    for x in (0, 0.5, 1):
        gx = label_w + x * bar_w
        parts.append(f"<line x1='{gx}' y1='0' x2='{gx}' y2='{height - 16}' stroke='#ddd'/>")
        parts.append(f"<text x='{gx}' y='{height - 4}' text-anchor='middle' fill='#666'>{int(100 * x)}%</text>")
    for i, (name, b) in enumerate(tasks.items()):
        y = i * row_h + 3
        rate = b["success_rate"] or 0.0
        lo, hi = b["ci95"]
        label = name if len(name) <= 28 else name[:27] + "…"
        parts.append(
            f"<g class='bar' data-task='{e(name)}'><title>{e(name)}: {pct(b['success_rate'])} "
            f"(95% CI {ci(b)}, n={b['n']})</title>"
            f"<text x='{label_w - 6}' y='{y + 11}' text-anchor='end'>{e(label)}</text>"
            f"<rect x='{label_w}' y='{y}' width='{rate * bar_w:.1f}' height='{row_h - 6}' fill='#4a8'/>"
            f"<line x1='{label_w + lo * bar_w:.1f}' x2='{label_w + hi * bar_w:.1f}' y1='{y + 6}' y2='{y + 6}' "
            "stroke='#222'/>"
            f"<text x='{label_w + bar_w + 6}' y='{y + 11}' fill='#444'>{pct(b['success_rate'])}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _episode_json(out: Path, r: UnitResult) -> dict[str, Any]:
    if not r.bundle:
        return {}
    try:
        data = json.loads((out / r.bundle / "episode.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def failure_reason(out: Path, r: UnitResult) -> str:
    """Why a unit failed, in words: the env error, the suite's verdict, parse failures, the episode's reason."""
    parts: list[str] = []
    if r.error:
        parts.append(f"error: {r.error}")
    why = r.fields.get("reason")
    if why:
        try:
            decoded = json.loads(why)
        except ValueError:
            decoded = why
        parts.append(f"expected: {decoded if isinstance(decoded, str) else json.dumps(decoded)}")
    if r.raw_reward is not None:
        parts.append(f"raw reward {r.raw_reward:g}")
    if r.metrics.get("parse_failures"):
        parts.append(f"{r.metrics['parse_failures']:g} parse failure(s)")
    episode_reason = _episode_json(out, r).get("reason")
    if episode_reason:
        parts.append(str(episode_reason))
    return "; ".join(parts) or r.status


def replay_link(out: Path, r: UnitResult, label: str = "replay") -> str:
    if not r.bundle:
        return ""
    target = Path(r.bundle) / "report.html"
    return f"<a href='{e(target.as_posix())}'>{e(label)}</a>" if (out / target).exists() else ""


def failures_table(out: Path, results: list[UnitResult]) -> str:
    failed = sorted((r for r in results if not r.success), key=lambda r: (r.task, r.seed))
    if not failed:
        return "<p>no failed episodes</p>"

    def why(r: UnitResult) -> str:
        text = failure_reason(out, r)
        short = text if len(text) <= 110 else text[:109] + "…"
        return f"<td class='why' title='{e(text)}'>{e(short)}</td>"

    rows = "".join(
        f"<tr class='failed'><td>{e(r.task)}</td>{td(str(r.seed), r.seed)}<td>{e(r.status)}</td>"
        f"{td(str(r.steps), r.steps)}{td(f'{r.reward:g}', r.reward)}<td>{replay_link(out, r)}</td>{why(r)}</tr>"
        for r in failed
    )
    return (
        "<div class='wrap'><table class='sortable failures'><thead><tr><th>task</th><th>seed</th><th>status</th>"
        "<th>steps</th><th>reward</th><th>replay</th><th>why (hover for all)</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )
