"""SVG overlays that draw an action on its screenshot, in screenshot pixels.

Shared by report.html and (later) the debugger, so what a user sees drawn is exactly where the
action went: the SVG's viewBox is the screenshot's pixel size, so no coordinate is ever rescaled.
"""

from __future__ import annotations

from html import escape
from typing import Any

_COLOR = "#ff2d55"


def _marker(x: float, y: float, r: float, extra: str = "") -> str:
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" stroke="{_COLOR}" stroke-width="{r / 4:.1f}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r / 5:.1f}" fill="{_COLOR}"/>{extra}'
    )


def _arrow(x0: float, y0: float, x1: float, y1: float, w: float) -> str:
    return (
        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{_COLOR}" '
        f'stroke-width="{w:.1f}" marker-end="url(#pp-arrow)"/>'
    )


def _label(x: float, y: float, text: str, size: float) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.0f}" font-family="sans-serif" fill="#fff" '
        f'stroke="#000" stroke-width="{size / 8:.1f}" paint-order="stroke">{escape(text)}</text>'
    )


def action_svg(action: dict[str, Any] | None, width: int, height: int) -> str:
    """An absolutely positioned SVG drawing ``action`` over a ``width`` x ``height`` screenshot."""
    unit = max(width, height) / 100  # scale strokes with the screenshot so they read at any size
    parts: list[str] = []
    if action:
        name = action.get("action")
        if name in ("click", "double_click", "right_click", "long_press"):
            x, y = action["x"], action["y"]
            parts.append(_marker(x, y, unit * 1.6))
            if name == "double_click":
                parts.append(_marker(x, y, unit * 2.4))
            tag = {"click": "", "double_click": "double", "right_click": "right", "long_press": "hold"}[name]
            if tag:
                parts.append(_label(x + unit * 2.5, y - unit, tag, unit * 2))
        elif name in ("drag", "swipe"):
            parts.append(_marker(action["start_x"], action["start_y"], unit))
            parts.append(_arrow(action["start_x"], action["start_y"], action["end_x"], action["end_y"], unit * 0.5))
        elif name == "scroll":
            x, y, amount = action["x"], action["y"], action.get("amount", 400)
            dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[action["direction"]]
            length = min(amount, max(width, height) / 3)
            parts.append(_marker(x, y, unit))
            parts.append(_arrow(x, y, x + dx * length, y + dy * length, unit * 0.6))
            parts.append(_label(x + unit * 2, y - unit, f"scroll {action['direction']} {amount:g}", unit * 2))
        elif name == "type":
            text = action.get("text", "")
            suffix = " ⏎" if action.get("press_enter") else ""
            parts.append(_label(unit, height - unit * 1.5, f"⌨ {text}{suffix}", unit * 2.4))
        else:
            summary = {k: v for k, v in action.items() if k != "action"}
            text = f"{name} {' '.join(f'{k}={v}' for k, v in summary.items())}".strip()
            parts.append(_label(unit, height - unit * 1.5, text[:120], unit * 2.4))
    return (
        f'<svg class="pp-overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<defs><marker id="pp-arrow" markerWidth="4" markerHeight="4" refX="2" refY="2" orient="auto">'
        f'<path d="M0,0 L4,2 L0,4 z" fill="{_COLOR}"/></marker></defs>{"".join(parts)}</svg>'
    )
