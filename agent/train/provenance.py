"""What a trained model folder records about its inputs: the pixel budget it was trained at and
where its data came from, in terms that mean the same on any machine.

A model trained only on small screens has never seen more visual tokens than those screens give.
Shown a larger capture of the same screen (a higher device scale factor, a bigger window) with the
generic Qwen2-VL budget, it gets several times the tokens on a grid it never saw, and fails. The
folder therefore records the budget under which every training screen, captured at any larger
scale, is resized back onto the grid the model learned; the policy applies it like any other
trained setting.

Provenance is recorded as suite, task and seed ranges with counts, never as the build machine's
paths, so a shipped folder says the same thing wherever it is installed.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pixelpilot.agent.qwen.resize import FACTOR

_SEED_DIR = re.compile(r"^seed-(\d+)$")


def budget_window(
    width: int, height: int, resized_width: int, resized_height: int, factor: int = FACTOR
) -> tuple[float, float]:
    """[lowest, highest) budget under which a same-aspect, larger capture of a ``width``x``height``
    screen is resized (smart_resize's floor branch) to exactly ``resized_width``x``resized_height``."""
    area = width * height
    gw, gh = resized_width / factor, resized_height / factor
    lo = area * max((gw * factor / width) ** 2, (gh * factor / height) ** 2)
    hi = area * min(((gw + 1) * factor / width) ** 2, ((gh + 1) * factor / height) ** 2)
    return lo, hi


def trained_pixel_budget(sizes: Iterable[tuple[int, int, int, int]], *, cap: int, factor: int = FACTOR) -> int:
    """The max_pixels a model trained on ``sizes`` (width, height, resized width, resized height per
    row) should be run with: the middle of the window where every training screen keeps its trained
    grid at any larger scale (the middle, not the edge: at the edge float rounding in smart_resize's
    floor can drop a row). When screens of different shapes leave no common window, the budget that
    never gives more tokens than the largest trained grid. Never above ``cap``, the budget the data was built with."""
    lo, hi, largest = 0.0, math.inf, 0
    for width, height, rw, rh in sizes:
        row_lo, row_hi = budget_window(width, height, rw, rh, factor)
        lo, hi, largest = max(lo, row_lo), min(hi, row_hi), max(largest, rw * rh)
    if not largest:
        return cap
    # no common window (a grid rounded off the screen's shape, or screens of several shapes): the
    # largest trained area, so a larger capture never gets more tokens than training showed
    budget = (lo + hi) / 2 if hi > lo else largest
    return int(min(cap, math.ceil(budget)))


def _ranges(seeds: Sequence[int]) -> str:
    """'0..399, 1000..1002, 5' for sorted unique seeds."""
    parts: list[str] = []
    ordered = sorted(set(seeds))
    start = prev = ordered[0]
    for s in [*ordered[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        parts.append(f"{start}..{prev}" if prev > start else str(start))
        if s is not None:
            start = prev = s
    return ", ".join(parts)


def _suite_of(bundle: Path) -> str | None:
    """The benchmark suite of a bundle written by `pixelpilot bench` (RUN/episodes/TASK/seed-N)."""
    manifest = bundle.parent.parent.parent / "run.json"  # tasks.bench.results.MANIFEST (tasks imports us)
    if not _SEED_DIR.match(bundle.name) or not manifest.is_file():
        return None
    try:
        return str(json.loads(manifest.read_text()).get("suite") or "") or None
    except (OSError, ValueError):
        return None


def describe_bundles(bundles: Iterable[tuple[Path, str]]) -> list[str]:
    """Portable provenance for (bundle folder, task id) pairs: one line per suite and task with its
    seed ranges and episode count, e.g. ``miniwob click-test seeds 0..399 (400 episodes)``."""
    seeds: dict[tuple[str, str], list[int]] = defaultdict(list)
    unseeded: dict[tuple[str, str], int] = defaultdict(int)
    for bundle, task in dict.fromkeys(bundles):
        suite = _suite_of(bundle)
        match = _SEED_DIR.match(bundle.name)
        if suite is not None and match:
            seed = int(match.group(1))
            # a suite whose task ids carry the seed (the phone's TEMPLATE.SEED) is grouped by template
            seeds[(suite, task.removesuffix(f".{seed}"))].append(seed)
        else:
            unseeded[("episodes", task)] += 1
    lines = [
        f"{suite} {task} seeds {_ranges(found)} ({len(found)} episode{'s' * (len(found) != 1)})"
        for (suite, task), found in sorted(seeds.items())
    ]
    lines += [f"{kind} of task {task} ({n} episode{'s' * (n != 1)})" for (kind, task), n in sorted(unseeded.items())]
    return lines
