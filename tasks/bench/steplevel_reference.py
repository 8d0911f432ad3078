"""The reference matching mode: the rules of the evaluators that published AITZ figures were scored with.

Two public sources define how an AITZ step is scored:

- the AITZ authors' evaluator, ``coat/evaluate.py`` (class ``ActionEvaluator``) in IMNearth/CoAT, with
  the gold conversion ``extract_gt_action`` in ``coat/action_utils.py``;
- AITW's matcher, ``android_in_the_wild/action_matching.py`` (``check_actions_match`` and helpers)
  in google-research/google-research.

They agree on most points and pixelpilot's strict mode (steplevel_match) restates them; this module
holds only the rules where ``reference`` scores differently, each function naming the source it
follows. Where the two sources disagree (stop: the AITZ evaluator accepts complete for impossible,
AITW does not; scroll: AITZ compares the direction, AITW only the axis) reference follows the AITZ
evaluator, because reference exists to reproduce AITZ figures. The click rule is AITW's: the AITZ
evaluator's own click test needs a predicted *box* (a point prediction can never pass it) and, as
released, compares against a gold point that is always (0, 0) (IMNearth/CoAT issue #13), so the
Qwen-family point predictions can only be scored with AITW's rule. docs/BENCHMARKS.md lists every
rule with its source.

Everything here is written from the rules, not from the sources' code: no JAX, no Levenshtein
package; the ratio is computed from a longest common subsequence, which is what the package's
``ratio`` reduces to (normalized InDel similarity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

#: The matching modes a step-level run can be scored by.
MatchingMode = Literal["reference", "strict"]
MATCHING_MODES: tuple[MatchingMode, ...] = ("reference", "strict")

#: AITW ``ANNOTATION_WIDTH_AUGMENT_FRACTION`` / ``..._HEIGHT_...``: a box grows by 1.4x its own size.
BOX_AUGMENT_FRACTION = 1.4
#: AITZ ``extract_gt_action``: a gesture is vertical when its vertical change is at least 0.9x the horizontal.
VERTICAL_BIAS = 0.9
#: AITZ ``ActionEvaluator``: typed text matches above this Levenshtein ratio.
TEXT_RATIO_THRESHOLD = 0.8

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in screenshot pixels, edges included (as steplevel_match.Box)."""


def check_mode(mode: str) -> MatchingMode:
    """``mode`` if it is a known matching mode; ValueError with one line naming the known ones otherwise."""
    if mode not in MATCHING_MODES:
        raise ValueError(f"unknown matching mode {mode!r}; known: {', '.join(MATCHING_MODES)}")
    return mode  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------- click
def augmented_box(box: Box, screen: tuple[int, int]) -> tuple[float, float, float, float]:
    """A box as AITW's ``_resize_annotation_bounding_boxes`` enlarges it, normalized (top, left, height, width).

    Each side moves out by 0.7x the box's size (the size grows by 1.4x, to 2.4x). Then, as in the
    source, top and left are clamped at 0 *without* taking the cut-off part back from the height or
    width, and height and width are capped at 1 (the whole screen). So a box near the top or left
    edge reaches further down or right than a centred enlargement would. AITW works in normalized
    coordinates; AITZ stores boxes in pixels, which we normalize first (applied to pixel boxes, the
    cap at 1 would shrink every box to one pixel).
    """
    w, h = screen
    x0, y0, x1, y1 = box
    top, left, height, width = y0 / h, x0 / w, (y1 - y0) / h, (x1 - x0) / w
    grow_h, grow_w = BOX_AUGMENT_FRACTION * height, BOX_AUGMENT_FRACTION * width
    return (
        max(0.0, top - grow_h / 2),
        max(0.0, left - grow_w / 2),
        min(1.0, height + grow_h),
        min(1.0, width + grow_w),
    )


def _in_augmented(yx: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    """AITW ``_yx_in_bounding_boxes``: edges included, bottom = top + height, right = left + width."""
    top, left, height, width = box
    return top <= yx[0] <= top + height and left <= yx[1] <= left + width


def taps_match(
    gold: tuple[float, float], predicted: tuple[float, float], screen: tuple[int, int], boxes: Iterable[Box]
) -> bool:
    """AITW ``_check_tap_actions_match``: both taps inside one enlarged annotation box, or within 14%.

    ``gold`` and ``predicted`` are (x, y) screenshot px; ``boxes`` every annotated element of the
    screen (AITZ ``ui_positions``), not only the one under the gold tap.
    """
    from pixelpilot.tasks.bench.steplevel_match import tap_within_threshold

    w, h = screen
    gold_yx, pred_yx = (gold[1] / h, gold[0] / w), (predicted[1] / h, predicted[0] / w)
    for box in boxes:
        big = augmented_box(box, screen)
        if _in_augmented(gold_yx, big) and _in_augmented(pred_yx, big):
            return True
    return tap_within_threshold(gold, predicted, screen)


# ------------------------------------------------------------------------------------------ scroll
def gesture_direction(action: Mapping[str, Any], screen: tuple[int, int]) -> str:
    """The scroll direction of a finger gesture by AITZ ``extract_gt_action``, in pixelpilot's naming.

    AITZ measures the change in normalized coordinates and calls a gesture vertical when the
    vertical change is at least 0.9x the horizontal one; it names the direction after the finger
    ("scroll up" = the finger moves up). pixelpilot's ``scroll`` names the direction the content
    comes from (a finger moving up shows what is below: ``down``), so the name is flipped; matching
    compares directions, which the flip leaves unchanged.
    """
    w, h = screen
    dx = (float(action["end_x"]) - float(action["start_x"])) / w
    dy = (float(action["end_y"]) - float(action["start_y"])) / h
    if abs(dy) >= VERTICAL_BIAS * abs(dx):
        return "down" if dy < 0 else "up"
    return "right" if dx < 0 else "left"


def scroll_direction(action: Mapping[str, Any], screen: tuple[int, int]) -> str:
    """A scroll's own direction, or a swipe/drag's by the AITZ rule above."""
    if action.get("action") == "scroll":
        return str(action["direction"])
    return gesture_direction(action, screen)


# -------------------------------------------------------------------------------------------- text
def _lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (two-row dynamic programme, O(len a x len b))."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for ca in a:
        current = [0]
        for j, cb in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if ca == cb else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def levenshtein_ratio(a: str, b: str) -> float:
    """The Levenshtein package's ``ratio``: normalized InDel similarity, 1 - indel / (len a + len b).

    The InDel distance (insertions and deletions only; a substitution costs two) is
    len a + len b - 2 * LCS, so the ratio is 2 * LCS / (len a + len b); two empty strings give 1.
    """
    total = len(a) + len(b)
    return 1.0 if total == 0 else 2 * _lcs_length(a, b) / total


def texts_match(gold: str, predicted: str) -> bool:
    """AITZ ``ActionEvaluator.__call__``: containment either way, or Levenshtein ratio above 0.8.

    On the raw strings: no lowercasing, no whitespace folding. An empty prediction is contained in
    every gold text and so matches (the source does the same).
    """
    return predicted in gold or gold in predicted or levenshtein_ratio(predicted, gold) > TEXT_RATIO_THRESHOLD


# ------------------------------------------------------------------------------------------- press
def aitw_press_code(action: Mapping[str, Any]) -> int | None:
    """The AITW action code of a press (back 5, home 6, enter 7), None for a key AITW has no code for.

    The AITZ evaluator compares the pressed button (enter, back, home); a ``key`` of Enter or Return
    is AITW's PRESS_ENTER either way (steplevel_data.action_to_aitw is the one conversion).
    """
    from pixelpilot.tasks.bench.steplevel_data import action_to_aitw

    code = action_to_aitw(action, 1, 1)["result_action_type"]
    return code if code in (5, 6, 7) else None


# ------------------------------------------------------------------------------------------ summary
def describe(mode: MatchingMode) -> str:
    """One line saying what a mode follows, for reports and summaries."""
    if mode == "reference":
        return "reference: the AITZ evaluator (IMNearth/CoAT coat/evaluate.py) and AITW action_matching.py"
    return "strict: pixelpilot's documented rules (docs/BENCHMARKS.md)"


def exact_in_group(
    group: str,
    gold: Mapping[str, Any],
    predicted: Mapping[str, Any],
    screen: tuple[int, int],
    boxes: Sequence[Box],
    point: Any,
) -> bool | None:
    """Reference exact match within a type group, or None where reference adds no rule of its own.

    ``point`` is steplevel_match's touched-point helper (passed in to keep the import one way).
    """
    if group == "click":
        return taps_match(point(gold), point(predicted), screen, boxes)
    if group == "scroll":
        return scroll_direction(gold, screen) == scroll_direction(predicted, screen)
    if group == "type":
        return texts_match(str(gold.get("text", "")), str(predicted.get("text", "")))
    if group == "press":
        gold_code, pred_code = aitw_press_code(gold), aitw_press_code(predicted)
        if gold_code is None and pred_code is None:
            return None  # two keys AITW cannot encode (ctrl+a, Tab): the strict key comparison decides
        return gold_code == pred_code
    return None


__all__ = [
    "BOX_AUGMENT_FRACTION",
    "MATCHING_MODES",
    "TEXT_RATIO_THRESHOLD",
    "VERTICAL_BIAS",
    "MatchingMode",
    "augmented_box",
    "check_mode",
    "describe",
    "exact_in_group",
    "gesture_direction",
    "levenshtein_ratio",
    "scroll_direction",
    "taps_match",
    "texts_match",
]
