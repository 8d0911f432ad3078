"""Task specs (files), success checks, and (later) benchmark suites."""

from pathlib import Path

from tasks.spec import Task, TaskFileError, load_task

#: The example tasks shipped with the package (local pages, scripted solutions).
EXAMPLES_DIR = Path(__file__).parent / "examples"

__all__ = ["EXAMPLES_DIR", "Task", "TaskFileError", "load_task"]
