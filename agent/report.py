"""report.html: a self-contained, offline view of one episode bundle.

Plain HTML + inline CSS and script (agent/report_assets.py), screenshots referenced relative to the
bundle so the file opens from file:// with no network and no server; each step's action is drawn over
its screenshot by an SVG in screenshot pixels (see agent/overlay.py). On screen a player shows one step
at a time (←/→, play at a chosen speed, a timeline strip, a diff against the previous screenshot);
printed, every step is shown.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from pixelpilot.agent.episode import EpisodeRecord, StepRecord, read_bundle
from pixelpilot.agent.overlay import action_svg
from pixelpilot.agent.qwen.zoom import zoom_lines, zoom_svg
from pixelpilot.agent.report_assets import CSS, JS

SMALL_SHOT = 640  # screenshots narrower than this are upscaled on screen: draw their pixels crisp


def rounded(value: Any, digits: int = 1) -> Any:
    """``value`` with every float rounded, so coordinates read as 412.5, not 412.49999237060547."""
    if isinstance(value, float):
        return round(value, digits) if value != int(value) else int(value)
    if isinstance(value, dict):  # an action's name first, then its arguments
        keys = sorted(value, key=lambda k: k != "action")
        return {k: rounded(value[k], digits) for k in keys}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(rounded(value), indent=2, ensure_ascii=False)
    return f"<pre>{escape(text)}</pre>"


def step_outcome(step: StepRecord) -> str:
    """ok / bad / warn: the colour a step gets in the timeline strip."""
    if step.error:
        return "bad"
    if step.interventions:
        return "warn"
    return "ok"


def _interventions_html(step: StepRecord) -> str:
    items = []
    for iv in step.interventions:
        lines = [f"<strong>{escape(iv.kind)}</strong> by {escape(iv.by)}"]
        if iv.proposed is not None:
            lines.append("the model proposed" + _pre(iv.proposed))
        if iv.proposed_error:
            lines.append(f'<span class="err">which could not run: {escape(iv.proposed_error)}</span>')
        if iv.proposed_raw:
            lines.append("raw output" + _pre(iv.proposed_raw))
        if iv.kind in ("edit", "click") and step.action:
            lines.append("changed to" + _pre(step.action))
        if iv.hint:
            lines.append(f"hint: {escape(iv.hint)}")
        if iv.note:
            lines.append(f"note: {escape(iv.note)}")
        items.append(f'<div class="iv">{"<br>".join(lines)}</div>')
    return "<h3>interventions</h3>" + "".join(items) if items else ""


def _step_html(step: StepRecord, previous: StepRecord | None) -> str:
    obs = step.observation
    overlay = action_svg(
        step.action or (step.proposed if isinstance(step.proposed, dict) else None), obs.width, obs.height
    ) + zoom_svg(step.policy.get("zoom"), obs.width, obs.height)
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
        body.append(f'<p class="err">{escape(step.error_kind or "error")} error: {escape(step.error)}</p>')
    if step.proposed is not None:
        body.append("<h3>proposed (invalid)</h3>" + _pre(step.proposed))
    body.append(_interventions_html(step))
    if step.raw_output:
        body.append("<h3>raw output</h3>" + _pre(step.raw_output))
    if zoom := zoom_lines(step.policy.get("zoom")):
        body.append("<h3>zoom</h3>" + _pre("\n".join(zoom)))
    if step.result and step.result.get("info"):
        body.append("<h3>result</h3>" + _pre(step.result["info"]))
    if step.masked:
        body.append("<p><em>typed text was a secret and is masked</em></p>")
    name = (step.action or {}).get("action") or ("error" if step.error else "—")
    small = ' class="small"' if obs.width < SMALL_SHOT else ""
    prev = (
        f'<img class="prev" src="{escape(previous.observation.screenshot)}" alt="">'
        if previous is not None and (previous.observation.width, previous.observation.height) == (obs.width, obs.height)
        else ""
    )
    return (
        f'<section class="step s-{step_outcome(step)}" id="step-{step.index}"><div class="shot">'
        f'<img{small} src="{escape(obs.screenshot)}" width="{obs.width}" height="{obs.height}" '
        f'alt="step {step.index} screenshot">{prev}{overlay}</div>'
        f"<div><h2>Step {step.index}: {escape(str(name))}</h2>{''.join(body)}</div></section>"
    )


def outcome_words(record: EpisodeRecord, steps: int) -> tuple[str, str, str]:
    """(badge class, badge word, a sentence saying why the episode ended as it did)."""
    if record.status == "running":
        return "warn", "incomplete", f"The episode has not finished (or its process died) after {steps} steps."
    cls, word = ("ok", "success") if record.success else ("bad", "failure")
    if record.success is None:
        cls, word = "warn", record.status.replace("_", " ")
    why = record.reason or record.error or record.detail or f"status {record.status}"
    return cls, word, why


def _player_html(steps: list[StepRecord], final: str | None) -> str:
    thumbs = [
        f'<a href="#step-{s.index}" class="s-{step_outcome(s)}" title="step {s.index}: '
        f'{escape(str((s.action or {}).get("action") or s.error_kind or "—"))}">'
        f'<img src="{escape(s.observation.screenshot)}" width="{s.observation.width}" '
        f'height="{s.observation.height}" alt="step {s.index}"></a>'
        for s in steps
    ]
    if final:
        thumbs.append(f'<a href="#final" title="final screen"><img src="{final}" alt="final"></a>')
    speeds = "".join(f'<option value="{v}"{" selected" if v == 1 else ""}>{v} step/s</option>' for v in (0.5, 1, 2, 4))
    return (
        '<nav id="player"><button id="prevbtn" title="previous step (←)">◀</button>'
        '<button id="playbtn" title="play/pause (space)">▶ play</button>'
        '<button id="nextbtn" title="next step (→)">▶▶</button>'
        f'<label>speed <select id="speed">{speeds}</select></label> '
        '<span id="pos" style="margin:0 12px;font-weight:600"></span> '
        '<label><input type="checkbox" id="diff"> diff with previous</label> '
        '<label><input type="checkbox" id="all"> show all steps</label>'
        f'<div id="strip">{"".join(thumbs)}</div></nav>'
    )


def final_screen(bundle: Path) -> str | None:
    return next((p.name for p in (bundle / "final.jpg", bundle / "final.png") if p.exists()), None)


def render_report(bundle: Path) -> str:
    record, steps = read_bundle(bundle)
    task = record.task
    cls, word, why = outcome_words(record, len(steps))
    meta = [
        f"<span>status: {escape(record.status)}</span>",
        f"<span>steps: {len(steps)}</span>",
        f"<span>policy: {escape(str(record.policy.get('name')))}</span>",
        f"<span>env: {escape(str(record.env.get('kind')))}</span>",
    ]
    if record.duration_s is not None:
        meta.append(f"<span>duration: {record.duration_s:.1f} s</span>")
    extra = f'<p class="outcome"><span class="badge {cls}">{escape(word)}</span> {escape(why)}</p>'
    if record.answer is not None:
        extra += f"<p>answer: {escape(record.answer)}</p>"
    if record.error and record.error not in why:
        extra += f"<p>error: {escape(record.error)}</p>"
    if record.detail and record.detail not in why:
        extra += f"<p>check: {escape(record.detail)}</p>"
    final = final_screen(bundle)
    final_html = (
        f'<section class="step" id="final"><div class="shot"><img src="{final}" alt="final screen"></div>'
        "<div><h2>Final screen</h2></div></section>"
        if final
        else ""
    )
    sections = "".join(_step_html(s, steps[i - 1] if i else None) for i, s in enumerate(steps))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(str(task.get('id')))} — pixelpilot episode</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(str(task.get('id')))}</h1>"
        f"<div>{escape(str(task.get('instruction', '')))}</div><div class='meta'>{''.join(meta)}</div>{extra}</header>"
        f"{_player_html(steps, final)}<main>{sections}{final_html}</main><script>{JS}</script></body></html>"
    )


def write_report(bundle: Path) -> Path:
    path = Path(bundle) / "report.html"
    path.write_text(render_report(Path(bundle)), encoding="utf-8")
    return path
