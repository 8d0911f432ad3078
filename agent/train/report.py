"""OUT/report.html for a training run: loss and success curves, eval results, the run's settings.

Built only from files in OUT (train_log.jsonl, train_settings.json), so it can be regenerated at
any time, and self-contained (PNG curves embedded as base64) so it can be mailed or attached to
an issue; loss.png and success.png are written beside it for slides and notes.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

LOG_FILE = "train_log.jsonl"
SETTINGS_FILE = "train_settings.json"


def _read_log(out: Path) -> list[dict[str, Any]]:
    path = out / LOG_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _smooth(values: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _plots(entries: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    written: dict[str, Path] = {}
    train = [e for e in entries if e.get("event") == "train"]
    if train:
        steps = [e["step"] for e in train]
        losses = [e["loss"] for e in train]
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
        ax.plot(steps, losses, color="#9ab", linewidth=0.8, label="loss")
        if len(losses) >= 10:
            ax.plot(steps, _smooth(losses, max(5, len(losses) // 20)), color="#147", linewidth=1.6, label="smoothed")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (answer tokens)")
        ax.set_yscale("log" if min(losses) > 0 and max(losses) / min(losses) > 20 else "linear")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "loss.png")
        plt.close(fig)
        written["loss"] = out / "loss.png"
    evals = [e for e in entries if e.get("event") == "eval"]
    if evals:
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
        tasks = sorted({t for e in evals for t in (e.get("success") or {})})
        for task in tasks:
            points = [(e["step"], e["success"][task]) for e in evals if task in (e.get("success") or {})]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=task)
        for key, style in (("with_image", "-"), ("blanked", ":")):
            points = [(e["step"], e["ablation"][key]) for e in evals if e.get("ablation")]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, color="black",
                        marker="s", label=f"held-out accuracy ({key.replace('_', ' ')})")  # fmt: skip
        ax.set_xlabel("step")
        ax.set_ylabel("success / accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "success.png")
        plt.close(fig)
        written["success"] = out / "success.png"
    return written


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return f"<p class=dim>no {html.escape(alt)} yet</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _eval_table(evals: list[dict[str, Any]]) -> str:
    if not evals:
        return "<p class=dim>no evaluations (pass --eval-suite or --eval-data)</p>"
    tasks = sorted({t for e in evals for t in (e.get("success") or {})})
    head = "".join(f"<th>{html.escape(t)}</th>" for t in tasks)
    rows = []
    for e in evals:
        cells = "".join(
            f"<td>{100 * e['success'][t]:.1f}%</td>" if t in (e.get("success") or {}) else "<td>—</td>" for t in tasks
        )
        overall = e.get("overall")
        ablation = e.get("ablation") or {}
        rows.append(
            f"<tr><td>{e['step']}</td>{cells}<td>{'—' if overall is None else f'{100 * overall:.1f}%'}</td>"
            f"<td>{_pct(ablation.get('with_image'))}</td><td>{_pct(ablation.get('blanked'))}</td></tr>"
        )
    return (
        f"<table><tr><th>step</th>{head}<th>overall</th><th>held-out acc.</th><th>blanked image</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def render_train_report(out: Path) -> str:
    entries = _read_log(out)
    plots = _plots(entries, out)
    settings = json.loads((out / SETTINGS_FILE).read_text()) if (out / SETTINGS_FILE).exists() else {}
    train = [e for e in entries if e.get("event") == "train"]
    evals = [e for e in entries if e.get("event") == "eval"]
    summary = "no steps yet"
    if train:
        last = train[-1]
        rate = sum(e["samples_per_s"] for e in train) / len(train)
        summary = (
            f"{last['step']} steps, final loss {last['loss']:.4f} (first {train[0]['loss']:.4f}), "
            f"{last['elapsed_s']:.0f} s of training, {rate:.2f} samples/s on average"
        )
    settings_rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td><code>{html.escape(json.dumps(v))}</code></td></tr>"
        for k, v in settings.items()
        if k != "dataset"
    )
    dataset = settings.get("dataset")
    title = f"pixelpilot training run: {settings.get('base', out.name)}"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }}
code {{ font-size: 12px; word-break: break-all; }}
.dim {{ color: #888; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(summary)}. Output: <code>{html.escape(str(out))}</code></p>
<h2>Loss</h2>{_img(plots.get("loss"), "loss curve")}
<h2>Evaluation</h2>{_img(plots.get("success"), "success curve")}{_eval_table(evals)}
<h2>Settings</h2><table>{settings_rows}</table>
<h2>Dataset</h2><pre>{html.escape(json.dumps(dataset, indent=2)) if dataset else "—"}</pre>
</body></html>
"""


def write_train_report(out: Path) -> Path:
    """Write OUT/report.html (and OUT/loss.png, OUT/success.png); return the report's path."""
    path = out / "report.html"
    path.write_text(render_train_report(out), encoding="utf-8")
    return path
