"""report.html: a self-contained, offline view of one episode bundle.

Plain HTML + inline CSS, screenshots referenced relative to the bundle so the file opens from
file:// with no network and no server; each step's action is drawn over its screenshot by an SVG
in screenshot pixels (see agent/overlay.py).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from pixelpilot.agent.episode import StepRecord, read_bundle
from pixelpilot.agent.overlay import action_svg

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d1f23}
header{background:#1d1f23;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:20px}.meta span{margin-right:18px;opacity:.85}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600}
.ok{background:#1f9d55;color:#fff}.bad{background:#d64545;color:#fff}.warn{background:#e8a317;color:#000}
main{padding:16px 24px}.step{background:#fff;border-radius:8px;margin:0 0 18px;padding:14px;
box-shadow:0 1px 3px rgba(0,0,0,.12);display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px}
.shot{position:relative;align-self:start}.shot img{width:100%;display:block;border:1px solid #ccd}
.pp-overlay{position:absolute;inset:0;width:100%;height:100%;pointer-events:none}
pre{white-space:pre-wrap;word-break:break-word;background:#f0f1f4;padding:8px;border-radius:6px;margin:4px 0}
h2{margin:0 0 8px;font-size:16px}.err{color:#b42318;font-weight:600}table{border-collapse:collapse}
td{padding:2px 10px 2px 0;vertical-align:top}
"""


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)
    return f"<pre>{escape(text)}</pre>"


def _step_html(step: StepRecord) -> str:
    obs = step.observation
    overlay = action_svg(
        step.action or (step.proposed if isinstance(step.proposed, dict) else None), obs.width, obs.height
    )
    timings = " · ".join(f"{k} {v:.0f} ms" for k, v in step.timings_ms.items())
    rows = [
        f"<tr><td>screen</td><td>{obs.width}×{obs.height} px @ scale {obs.device_scale_factor:g}</td></tr>",
        f"<tr><td>url</td><td>{escape(obs.url or obs.app or '')}</td></tr>",
        f"<tr><td>timings</td><td>{escape(timings)}</td></tr>",
    ]
    body = [f"<table>{''.join(rows)}</table>"]
    if step.action:
        body.append("<h3>action</h3>" + _pre(step.action))
    if step.error:
        body.append(f'<p class="err">{escape(step.error_kind or "error")}: {escape(step.error)}</p>')
    if step.proposed is not None:
        body.append("<h3>proposed (invalid)</h3>" + _pre(step.proposed))
    if step.raw_output:
        body.append("<h3>raw output</h3>" + _pre(step.raw_output))
    if step.result and step.result.get("info"):
        body.append("<h3>result</h3>" + _pre(step.result["info"]))
    if step.masked:
        body.append("<p><em>typed text was a secret and is masked</em></p>")
    name = (step.action or {}).get("action", "—")
    return (
        f'<section class="step" id="step-{step.index}"><div class="shot">'
        f'<img src="{escape(obs.screenshot)}" width="{obs.width}" height="{obs.height}" '
        f'alt="step {step.index} screenshot" loading="lazy">{overlay}</div>'
        f"<div><h2>Step {step.index}: {escape(name)}</h2>{''.join(body)}</div></section>"
    )


def render_report(bundle: Path) -> str:
    record, steps = read_bundle(bundle)
    task = record.task
    if record.status == "running":
        badge = '<span class="badge warn">incomplete</span>'
    else:
        cls, word = ("ok", "success") if record.success else ("bad", "failure")
        badge = f'<span class="badge {cls}">{word}</span>'
    meta = [
        f"<span>status: {escape(record.status)}</span>",
        f"<span>steps: {len(steps)}</span>",
        f"<span>policy: {escape(str(record.policy.get('name')))}</span>",
        f"<span>env: {escape(str(record.env.get('kind')))}</span>",
    ]
    if record.duration_s is not None:
        meta.append(f"<span>duration: {record.duration_s:.1f} s</span>")
    extra = ""
    if record.answer is not None:
        extra += f"<p>answer: {escape(record.answer)}</p>"
    if record.error:
        extra += f"<p>error: {escape(record.error)}</p>"
    if record.detail:
        extra += f"<p>check: {escape(record.detail)}</p>"
    final = next((p.name for p in (bundle / "final.jpg", bundle / "final.png") if p.exists()), None)
    final_html = (
        f'<section class="step" id="final"><div class="shot"><img src="{final}" alt="final screen"></div>'
        "<div><h2>Final screen</h2></div></section>"
        if final
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(str(task.get('id')))} — pixelpilot episode</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(str(task.get('id')))} {badge}</h1>"
        f"<div>{escape(str(task.get('instruction', '')))}</div><div class='meta'>{''.join(meta)}</div>{extra}</header>"
        f"<main>{''.join(_step_html(s) for s in steps)}{final_html}</main></body></html>"
    )


def write_report(bundle: Path) -> Path:
    path = Path(bundle) / "report.html"
    path.write_text(render_report(Path(bundle)), encoding="utf-8")
    return path
