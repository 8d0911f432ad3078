"""Task specs (files), success checks, and the benchmark suites with their runner and metrics (tasks/bench/)."""

from pathlib import Path

from pixelpilot.tasks.spec import Task, TaskFileError, load_task

#: The example tasks shipped with the package (local pages, scripted solutions).
EXAMPLES_DIR = Path(__file__).parent / "examples"
#: Android tasks for the simulated device (env/android/simulator) or a phone with the same apps.
ANDROID_DIR = Path(__file__).parent / "android"
#: Desktop tasks (env/desktop): the project's own Tk app and Debian's xedit, on an own Xvfb.
DESKTOP_DIR = Path(__file__).parent / "desktop"

__all__ = ["ANDROID_DIR", "DESKTOP_DIR", "EXAMPLES_DIR", "Task", "TaskFileError", "load_task"]
