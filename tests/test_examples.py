"""Every example task is solved by its scripted solution, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy, read_bundle
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))


def test_there_are_at_least_four_examples() -> None:
    ids = {Task.from_file(p).id for p in EXAMPLES}
    assert {"login", "todo", "search", "ja_contact"} <= ids


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_example_solved_by_its_script(path: Path, scale: float, browser: BrowserEnv, tmp_path: Path) -> None:
    task = Task.from_file(path)
    assert task.solution and task.start.url and task.start.url.startswith("file://")
    spec = task.to_spec()
    spec = spec.model_copy(update={"start": spec.start.model_copy(update={"device_scale_factor": scale})})
    result = Agent(browser, ScriptedPolicy.from_file(task.solution), AgentConfig(out_dir=tmp_path)).run(spec)
    assert result.success, result.detail
    assert result.status == "finished"
    _, steps = read_bundle(result.bundle)
    assert all(s.error is None for s in steps)
    assert steps[0].observation.width == 1280 * scale


def test_unsolved_example_fails_its_check(browser: BrowserEnv, tmp_path: Path) -> None:
    """The checks are real: finishing without doing the work is a failure."""
    for path in EXAMPLES:
        task = Task.from_file(path)
        result = Agent(browser, ScriptedPolicy([{"action": "finish"}]), AgentConfig(out_dir=tmp_path)).run(
            task.to_spec()
        )
        assert not result.success, task.id
