"""Policies for ablations and baselines: what a model does without the screenshot.

``BlankScreen`` wraps any policy and shows it a uniformly grey screenshot of the same size, so
``bench --blank-screenshot`` measures how much a model relies on the pixels. ``TaskAverage`` is
the instruction-only baseline: it clicks where, on average, the training set's target for the
task was, which is what a model that ignores the screenshot converges to at best.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

from pixelpilot.agent.episode import EpisodeSpec, StepRecord, seeded_task
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.env import Observation


class BlankScreen(Policy):
    """Delegates to ``inner`` with the screenshot replaced by a grey image of the same size."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.name = f"{inner.name}+blank-screenshot"
        self._cache: dict[tuple[int, int, str], bytes] = {}

    def reset(self, spec: EpisodeSpec) -> None:
        self.inner.reset(spec)

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        g = observation.geometry
        key = (g.width, g.height, observation.image_format)
        if key not in self._cache:
            buf = io.BytesIO()
            Image.new("RGB", (g.width, g.height), (128, 128, 128)).save(
                buf, format="JPEG" if observation.image_format == "jpeg" else "PNG"
            )
            self._cache[key] = buf.getvalue()
        blank = observation.model_copy(update={"screenshot": self._cache[key]})
        blank.__dict__.pop("image", None)  # the cached decoded image belongs to the real screenshot
        return self.inner.decide(instruction, blank, history)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "name": self.name, "ablation": "blank screenshot"}

    def close(self) -> None:
        self.inner.close()


def template_of(task_id: str) -> str:
    """The template of a seeded task id (``add_contact.320000`` -> ``add_contact``); other ids unchanged."""
    seeded = seeded_task(task_id)
    return seeded[0] if seeded else task_id


class TaskAverage(Policy):
    """Clicks the mean first-click target of the task in a training set (relative to the screen)."""

    name = "task-average-baseline"

    def __init__(self, means: dict[str, tuple[float, float]], source: str = "") -> None:
        self.means = means
        self.source = source
        self.task = ""

    @classmethod
    def from_dataset(cls, folder: Path) -> TaskAverage:
        import datasets

        from pixelpilot.agent.train.format import data_files

        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for f in data_files(folder):
            table = datasets.Dataset.from_parquet(str(f), columns=["task", "executed", "width", "height", "step"])
            for row in table:
                action = json.loads(row["executed"])
                if row["step"] == 1 and "x" in action:
                    # per task, and per template for suites whose task ids are TEMPLATE.SEED (the phone's):
                    # held-out seeds are other ids of the same template
                    for key in dict.fromkeys((row["task"], template_of(row["task"]))):
                        s = sums[key]
                        s[0] += action["x"] / row["width"]
                        s[1] += action["y"] / row["height"]
                        s[2] += 1
        if not sums:
            raise ValueError(f"{folder}: no first-step clicks to average")
        return cls({t: (s[0] / s[2], s[1] / s[2]) for t, s in sums.items()}, source=str(folder))

    def reset(self, spec: EpisodeSpec) -> None:
        self.task = spec.id

    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        mean = self.means.get(self.task) or self.means.get(template_of(self.task))
        if mean is None:
            return Decision(parse_error=f"the baseline has no average for task {self.task!r}")
        g = observation.geometry
        x, y = min(g.width - 1, mean[0] * g.width), min(g.height - 1, mean[1] * g.height)
        return Decision(action={"action": "click", "x": round(x), "y": round(y)})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "baseline", "source": self.source, "tasks": len(self.means)}
