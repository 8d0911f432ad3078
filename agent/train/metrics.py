"""What a run writes about itself as it goes: OUT/train_log.jsonl and the progress bar.

The log is the run's history (agent/train/report.py draws the report from it alone), so a resumed
run first drops what a killed run logged after its last checkpoint: those steps are done again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOG_FILE = "train_log.jsonl"


class MetricsLog:
    """OUT/train_log.jsonl: one JSON object per line, ``event`` train | eval | ablation."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOG_FILE

    def truncate_after(self, step: int) -> None:
        """Drop what a killed run logged after its last checkpoint (those steps are redone)."""
        if not self.path.exists():
            return
        kept = [line for line in self.read() if line.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(e) + "\n" for e in kept))

    def append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def progress_bar(enabled: bool) -> Any:
    """A rich progress bar on stderr: steps, loss, samples/s, elapsed and remaining time."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]} samples/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
