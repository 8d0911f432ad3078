"""Step-level action matching: AITW/AITZ "type match" and "exact match" over pixelpilot action dicts.

Offline GUI benchmarks (Android in the Wild, Android in the Zoo) score one decision at a time against
the recorded (gold) action. The Qwen2-VL paper reports AITZ as *Type* and *EM*, computed the way the
AITZ authors' evaluator does, which in turn follows AITW's ``action_matching.py``. We restate those
rules over the project's own tools, so any policy (and any gold converted into tools) can be scored:

Type groups (what "same action type" means). AITZ scores five types: click, scroll, type, press,
stop. Our tools fall into them as follows, because each group is one AITW action code family:

- ``click``  click, double_click, right_click, long_press. AITW records every touch as a DUAL_POINT
  whose touch and lift nearly coincide; press duration and button are not in the data, so these
  cannot be told apart by a gold label and are one type.
- ``scroll`` scroll, swipe, drag: a DUAL_POINT whose touch and lift are apart. A swipe or drag shorter
  than 4% of the screen is a tap in AITW (``is_tap_action``) and counts as a click here too.
- ``type``   type.
- ``press``  back, home, key: AITW's PRESS_BACK / PRESS_HOME / PRESS_ENTER. Exact when the same button
  (back, home, or the same key combo, e.g. ``Enter``).
- ``stop``   finish (success or failure) and answer: STATUS_TASK_COMPLETE / _IMPOSSIBLE. Exact on type,
  as in the AITZ evaluator (it does not compare complete against impossible).
- tools with no AITW counterpart (navigate, open_app, wait) are their own groups; navigate is exact on
  the same URL, open_app on the same app name (normalized), wait on type.

Exact match, within a type group:

- click: inside the gold element's box (edges included) *or* within 14% of the screen of the gold
  point. Distance is measured in screen-normalized units, ``hypot(dx / W, dy / H)``, as AITW does with
  its normalized (y, x) points. AITW enlarges annotation boxes by 1.4x before the box test; we do not
  (the 14% radius already covers small elements; pass a larger box to emulate it).
- scroll: the same direction. Everything is compared as the direction the *content* moves into view,
  the meaning of the ``scroll`` tool (``scroll down`` shows what is below; on Android it is a finger
  swipe *up*, see env/android/env.py). A ``swipe``/``drag`` is a finger movement, so its scroll
  direction is the opposite of the finger's: a swipe from bottom to top equals ``scroll down``. The
  axis is the one with the larger movement (ties count as vertical). AITW's own matcher compares only
  the axis; AITZ compares the direction, and so do we.
- type: normalized text equality (lowercase, strip, whitespace collapsed). The AITZ evaluator is more
  lenient (containment or Levenshtein ratio > 0.8); ours is the stricter, documented rule.

These are the ``strict`` matching mode. ``reference`` (steplevel_reference) swaps in the published
evaluators' own rules where they differ (1.4x box enlargement over every annotated box, the AITZ
scroll-axis bias, lenient text, AITW press codes), so scores can be set beside published AITZ figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pixelpilot.tasks.bench.steplevel_reference import MatchingMode, check_mode, exact_in_group
from pixelpilot.tools import tool_named

#: Fraction of the screen (normalized distance) within which two taps match (AITW ``_TAP_DISTANCE_THRESHOLD``).
TAP_DISTANCE_THRESHOLD = 0.14
#: A dual-point gesture shorter than this (normalized) is a tap (AITW ``_SWIPE_DISTANCE_THRESHOLD``).
SWIPE_DISTANCE_THRESHOLD = 0.04

#: AITZ's type group for each tool family (see tools.actions.Family); a tool of no family is its own group.
FAMILY_GROUPS: dict[str, str] = {"tap": "click", "gesture": "scroll", "text": "type", "press": "press", "end": "stop"}


def tool_group(name: str) -> str:
    """The type group of a tool, read from its family, so a tool registered at run time is scored too."""
    tool = tool_named(name)
    family = tool.family if tool is not None else None
    return FAMILY_GROUPS.get(family, name) if family is not None else name


def _is_path(name: str) -> bool:
    """A tool that moves from a start point to an end point (swipe, drag): AITW's DUAL_POINT gesture."""
    tool = tool_named(name)
    return tool is not None and len(tool.point_fields) == 2


Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in screenshot pixels, edges included."""


def normalize_text(text: str) -> str:
    """Lowercase, strip, collapse whitespace: the comparison typed text gets."""
    return " ".join(str(text).lower().split())


def _normalize_keys(keys: str) -> str:
    return "+".join(part.strip().lower() for part in str(keys).split("+"))


def _gesture_length(action: Mapping[str, Any], screen: tuple[int, int]) -> float:
    w, h = screen
    return math.hypot((action["end_x"] - action["start_x"]) / w, (action["end_y"] - action["start_y"]) / h)


def action_group(action: Mapping[str, Any], screen: tuple[int, int] | None = None) -> str:
    """The type group of an action dict; with ``screen``, a near-zero swipe/drag is a click (AITW)."""
    name = str(action.get("action", ""))
    group = tool_group(name) if name else "none"
    if _is_path(name) and screen is not None and _gesture_length(action, screen) <= SWIPE_DISTANCE_THRESHOLD:
        return "click"
    return group


def _point(action: Mapping[str, Any]) -> tuple[float, float]:
    """The touched point of a click-group action (or the start of a tap-like swipe)."""
    if "x" in action:
        return float(action["x"]), float(action["y"])
    return float(action["start_x"]), float(action["start_y"])


def scroll_direction(action: Mapping[str, Any]) -> str:
    """The direction content scrolls into view: ``scroll``'s own field; the opposite of a swipe's finger."""
    if action.get("action") == "scroll":
        return str(action["direction"])
    dx = float(action["end_x"]) - float(action["start_x"])
    dy = float(action["end_y"]) - float(action["start_y"])
    if abs(dy) >= abs(dx):
        return "down" if dy < 0 else "up"  # finger moves up -> content below comes into view
    return "right" if dx < 0 else "left"


def tap_within_threshold(gold: tuple[float, float], predicted: tuple[float, float], screen: tuple[int, int]) -> bool:
    """AITW's distance rule: within 14% of the screen, in screen-normalized units."""
    w, h = screen
    return math.hypot((predicted[0] - gold[0]) / w, (predicted[1] - gold[1]) / h) <= TAP_DISTANCE_THRESHOLD + 1e-12


def point_in_box(point: tuple[float, float], box: Box) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


def match_action(
    gold: Mapping[str, Any],
    predicted: Mapping[str, Any] | None,
    screen: tuple[int, int],
    gold_box: Box | None = None,
    *,
    mode: MatchingMode = "strict",
    boxes: Sequence[Box] = (),
) -> tuple[bool, bool]:
    """(type_match, exact_match) of a predicted action against the gold one, both in screenshot px.

    ``screen`` is (width, height) of the screenshot; ``gold_box`` the gold element's box, when known.
    ``mode`` picks the rules (``strict`` these, ``reference`` the published evaluators'); ``boxes``
    are every annotated element of the screen, which reference's click rule reads (``gold_box``
    stands in when there are none). A missing prediction (parse failure, invalid tool call) matches nothing.
    """
    check_mode(mode)
    if predicted is None:
        return False, False
    group = action_group(gold, screen)
    if action_group(predicted, screen) != group:
        return False, False
    if mode == "reference":
        annotated = list(boxes) or ([gold_box] if gold_box is not None else [])
        exact = exact_in_group(group, gold, predicted, screen, annotated, _point)
        if exact is not None:
            return True, exact
    if group == "click":
        gold_xy, pred_xy = _point(gold), _point(predicted)
        inside = gold_box is not None and point_in_box(pred_xy, gold_box)
        return True, inside or tap_within_threshold(gold_xy, pred_xy, screen)
    if group == "scroll":
        return True, scroll_direction(gold) == scroll_direction(predicted)
    if group == "type":
        return True, normalize_text(gold.get("text", "")) == normalize_text(predicted.get("text", ""))
    if group == "press":
        if gold.get("action") != predicted.get("action"):
            return True, False
        if gold.get("action") == "key":
            return True, _normalize_keys(gold.get("keys", "")) == _normalize_keys(predicted.get("keys", ""))
        return True, True
    if group == "navigate":
        return True, str(gold.get("url", "")).rstrip("/") == str(predicted.get("url", "")).rstrip("/")
    if group == "open_app":
        return True, normalize_text(gold.get("app", "")) == normalize_text(predicted.get("app", ""))
    return True, True  # stop, wait: exact on type


def _rates(rows: list[Mapping[str, Any]]) -> dict[str, float]:
    n = len(rows)
    return {
        "steps": n,
        "type_match": round(sum(bool(r["type_match"]) for r in rows) / n, 4) if n else 0.0,
        "exact_match": round(sum(bool(r["exact_match"]) for r in rows) / n, 4) if n else 0.0,
    }


def _score_row(item: Any) -> dict[str, Any]:
    """One scored step as a plain dict, from a StepScore-like mapping or a benchmark UnitResult."""
    if hasattr(item, "metrics") and hasattr(item, "fields"):  # tasks.bench.contract.UnitResult
        fields, metrics = item.fields, item.metrics
        return {
            "episode": fields.get("episode", ""),
            "step": int(fields.get("step", 0) or 0),
            "gold_type": fields.get("gold_type", ""),
            "type_match": bool(metrics.get("type_match", 0)),
            "exact_match": bool(metrics.get("exact_match", 0)),
            "parse_failure": bool(metrics.get("parse_failure", 0)),
        }
    data = item.model_dump() if hasattr(item, "model_dump") else dict(item)
    return {
        "episode": str(data.get("episode", "")),
        "step": int(data.get("step", 0) or 0),
        "gold_type": str(data.get("gold_type", "")),
        "type_match": bool(data.get("type_match")),
        "exact_match": bool(data.get("exact_match")),
        "parse_failure": bool(data.get("parse_failure")),
    }


def steplevel_summary(results: Iterable[Any]) -> dict[str, Any]:
    """Type- and exact-match rates overall, per gold type group and per episode.

    ``results`` holds StepScores, dicts with the same keys, or UnitResults of the steplevel suite.
    Per episode it also gives AITZ's episode metrics: ``success`` (every step exact) and
    ``progress`` (the fraction of steps exact before the first miss), averaged under ``episodes``.
    """
    rows = [_score_row(r) for r in results]
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_episode: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_type[row["gold_type"]].append(row)
        by_episode[row["episode"]].append(row)
    episodes: dict[str, dict[str, Any]] = {}
    progress: list[float] = []
    for name, steps in sorted(by_episode.items()):
        ordered = sorted(steps, key=lambda r: r["step"])
        leading = next((i for i, r in enumerate(ordered) if not r["exact_match"]), len(ordered))
        progress.append(leading / len(ordered))
        episodes[name] = {
            **_rates(ordered),
            "success": leading == len(ordered),
            "progress": round(leading / len(ordered), 4),
        }
    n_ep = len(episodes)
    return {
        **_rates(rows),
        "parse_failure": round(sum(r["parse_failure"] for r in rows) / len(rows), 4) if rows else 0.0,
        "by_type": {group: _rates(steps) for group, steps in sorted(by_type.items())},
        "by_episode": episodes,
        "episodes": {
            "count": n_ep,
            "success_rate": round(sum(e["success"] for e in episodes.values()) / n_ep, 4) if n_ep else 0.0,
            "goal_progress": round(sum(progress) / n_ep, 4) if n_ep else 0.0,
        },
    }
