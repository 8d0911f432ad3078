"""SVG overlays that draw an action on its screenshot, in screenshot pixels.

Shared by report.html and (later) the debugger, so what a user sees drawn is exactly where the
action went: the SVG's viewBox is the screenshot's pixel size, so no coordinate is ever rescaled.
What to draw comes from the tool's model (its ``point_fields``, ``family`` and ``marker``), so a tool
registered at run time is drawn like the built-in ones with the same shape.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pixelpilot.tools import tool_named

_COLOR = "#ff2d55"
_OUTLINE = "#ffffff"


def _marker(x: float, y: float, r: float, extra: str = "") -> str:
    """A ring and a dot, each outlined in white so they stay visible on any background."""
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" stroke="{_OUTLINE}" stroke-width="{r / 2.2:.1f}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r / 5 + r / 10:.1f}" fill="{_OUTLINE}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" stroke="{_COLOR}" stroke-width="{r / 4:.1f}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r / 5:.1f}" fill="{_COLOR}"/>{extra}'
    )


def _arrow(x0: float, y0: float, x1: float, y1: float, w: float) -> str:
    return (
        f'<path d="M{x0:.1f},{y0:.1f} L{x1:.1f},{y1:.1f}" stroke="{_OUTLINE}" '
        f'stroke-width="{w * 2:.1f}" stroke-linecap="round"/>'
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
    # scale strokes with the screenshot so they read at any size; a floor keeps a marker on a small phone
    # or MiniWoB shot at least 12 CSS px across once the report shows it at its usual width
    unit = max(max(width, height) / 100, 6.0)
    parts: list[str] = []
    if action:
        name = action.get("action")
        tool = tool_named(name)  # what the tool is, from its model: its points, kind and marker
        pairs = tool.point_fields if tool is not None else ()
        if not all(fx in action and fy in action for fx, fy in pairs):
            pairs = ()  # a recorded dict missing a point: drawn as a label below
        points = [(float(action[fx]), float(action[fy])) for fx, fy in pairs]
        if len(points) == 1 and "direction" in action:  # scroll-like: where, which way, how far
            (x, y), amount = points[0], action.get("amount", 400)
            dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[action["direction"]]
            length = min(amount, max(width, height) / 3)
            parts.append(_marker(x, y, unit))
            parts.append(_arrow(x, y, x + dx * length, y + dy * length, unit * 0.6))
            parts.append(_label(x + unit * 2, y - unit, f"{name} {action['direction']} {amount:g}", unit * 2))
        elif len(points) == 1:
            (x, y), tag = points[0], tool.marker if tool else ""
            parts.append(_marker(x, y, unit * 1.6))
            if name == "double_click":
                parts.append(_marker(x, y, unit * 2.4))
            if tag:
                parts.append(_label(x + unit * 2.5, y - unit, tag, unit * 2))
        elif len(points) == 2:
            (x0, y0), (x1, y1) = points
            parts.append(_marker(x0, y0, unit))
            parts.append(_arrow(x0, y0, x1, y1, unit * 0.5))
        elif tool is not None and tool.family == "text":
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
