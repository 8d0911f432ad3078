"""The agent loop against a real browser: bundles, failure handling, limits."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixelpilot.agent import Agent, AgentConfig, Decision, EpisodeSpec, Policy, ScriptedPolicy, read_bundle
from pixelpilot.env import ActionResult, Env, JsCheck, Observation, ScreenGeometry, StartSpec
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tools import ActionBase

BUTTON_A = {"action": "click", "x": 160, "y": 120}


def spec(url: str, **kw: Any) -> EpisodeSpec:
    return EpisodeSpec(id="loop", instruction="press A", start=StartSpec(url=url), **kw)


class CallbackPolicy(Policy):
    """A policy whose decision is computed by a function of (step index, history)."""

    name = "callback"

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.seen: list[list[Any]] = []

    def decide(self, instruction: str, observation: Observation, history: list[Any]) -> Decision:
        self.seen.append(list(history))
        return self.fn(len(history) + 1, history)


def test_scripted_episode_writes_a_complete_bundle(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    policy = ScriptedPolicy([BUTTON_A, BUTTON_A, BUTTON_A, {"action": "finish", "status": "success"}])
    task = spec(f"{http_server}/loop.html", success=JsCheck(expression="() => window.clicks === 3"))
    result = Agent(browser, policy, AgentConfig(out_dir=tmp_path)).run(task)
    assert (result.status, result.success, result.steps, result.reward) == ("finished", True, 4, 1.0)

    record, steps = read_bundle(result.bundle)
    assert record.format_version == 1 and record.status == "finished" and record.success
    assert record.policy["name"] == "scripted" and record.env["kind"] == "browser"
    assert record.env["viewport"] == {"width": 1280, "height": 720}
    assert [s.index for s in steps] == [1, 2, 3, 4]
    for step in steps:
        assert set(step.timings_ms) == {"capture", "decide", "execute", "record"}
        shot = result.bundle / step.observation.screenshot
        assert Image.open(shot).size == (step.observation.width, step.observation.height) == (1280, 720)
        assert step.result == {"ok": True, "error": None, "info": {}, "sensitive": False, "blocked": []}
    assert steps[0].action == {"action": "click", "x": 160.0, "y": 120.0}
    assert (result.bundle / "final.jpg").exists() and (result.bundle / "report.html").exists()


class CrashAt(Env):
    """Delegates to the real browser env, but hits a programming error on the Nth execute."""

    kind = "browser"
    supported_actions = BrowserEnv.supported_actions

    def __init__(self, inner: BrowserEnv, crash_on: int) -> None:
        self.inner, self.crash_on, self.calls = inner, crash_on, 0

    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        self.inner.reset(start, artifacts_dir=artifacts_dir)

    def observe(self) -> Observation:
        return self.inner.observe()

    def _execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        self.calls += 1
        if self.calls == self.crash_on:
            raise RuntimeError("boom at step 7")
        return self.inner._execute(action, geometry)

    def _evaluate(self, check: Any) -> Any:
        return self.inner._evaluate(check)


def test_crash_mid_episode_leaves_finished_steps_intact(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    agent = Agent(CrashAt(browser, crash_on=7), ScriptedPolicy([BUTTON_A] * 10), AgentConfig(out_dir=tmp_path))
    with pytest.raises(RuntimeError, match="boom"):
        agent.run(spec(f"{http_server}/loop.html"))
    bundle = next(tmp_path.iterdir())
    lines = (bundle / "steps.jsonl").read_text().splitlines()
    assert len(lines) == 6
    for i, line in enumerate(lines, 1):
        step = json.loads(line)
        assert step["index"] == i and step["error"] is None
        assert (bundle / step["observation"]["screenshot"]).stat().st_size > 1000
    episode = json.loads((bundle / "episode.json").read_text())
    assert episode["status"] == "aborted" and "boom at step 7" in episode["error"]
    assert len(re.findall(r'<section class="step [^"]*" id="step-\d+"', (bundle / "report.html").read_text())) == 6


def test_garbage_from_the_policy_is_recorded_and_ends_the_episode(
    browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    outputs = [
        lambda: Decision(raw_output="I think I should click", parse_error="no tool call found"),
        lambda: Decision(action={"action": "tap", "x": 1, "y": 1}, raw_output='{"action": "tap"}'),
        lambda: 1 / 0,
        lambda: "not a decision",
        lambda: Decision(),
        lambda: Decision(action=BUTTON_A),
    ]
    policy = CallbackPolicy(lambda i, h: outputs[i - 1]())
    config = AgentConfig(out_dir=tmp_path, max_consecutive_failures=5)
    result = Agent(browser, policy, config).run(spec(f"{http_server}/loop.html", max_steps=10))
    assert result.status == "error" and not result.success and result.steps == 5
    _, steps = read_bundle(result.bundle)
    assert [s.error_kind for s in steps] == ["parse", "validation", "parse", "parse", "policy"]
    assert "unknown tool 'tap'" in (steps[1].error or "")
    assert steps[1].proposed == {"action": "tap", "x": 1, "y": 1}
    assert "ZeroDivisionError" in (steps[2].error or "")
    assert steps[0].raw_output == "I think I should click"
    # every error is visible to the next decision
    assert [s.error for s in policy.seen[4]] == [s.error for s in steps[:4]]


def test_one_success_resets_the_failure_count(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    def fn(i: int, history: list[Any]) -> Decision:
        return Decision(action=BUTTON_A) if i % 2 == 0 else Decision(parse_error="bad")

    result = Agent(browser, CallbackPolicy(fn), AgentConfig(out_dir=tmp_path, max_consecutive_failures=2)).run(
        spec(f"{http_server}/loop.html", max_steps=6)
    )
    assert result.status == "max_steps" and result.steps == 6


def test_execution_errors_unsupported_and_out_of_bounds(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    script = ScriptedPolicy(
        [
            {"action": "swipe", "start_x": 1, "start_y": 1, "end_x": 5, "end_y": 5},
            {"action": "click", "x": 1280, "y": 10},
            {"action": "home"},
            BUTTON_A,
            {"action": "finish", "status": "failure", "message": "gave up"},
        ]
    )
    result = Agent(browser, script, AgentConfig(out_dir=tmp_path, max_consecutive_failures=3)).run(
        spec(f"{http_server}/loop.html")
    )
    _, steps = read_bundle(result.bundle)
    assert result.status == "error"  # three failures in a row
    assert "swipe is not supported by the browser environment" in (steps[0].error or "")
    assert "outside the 1280x720 screenshot" in (steps[1].error or "")
    assert [s.error_kind for s in steps] == ["execution"] * 3


def test_finish_failure_is_a_failure(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    script = ScriptedPolicy([{"action": "finish", "status": "failure", "message": "impossible"}])
    result = Agent(browser, script, AgentConfig(out_dir=tmp_path)).run(spec(f"{http_server}/loop.html"))
    assert (result.status, result.success) == ("finished", False)
    script = ScriptedPolicy([{"action": "answer", "text": "42"}])
    result = Agent(browser, script, AgentConfig(out_dir=tmp_path)).run(spec(f"{http_server}/loop.html"))
    assert (result.status, result.success, result.answer) == ("finished", True, "42")


def test_step_time_limit_bounds_a_hung_policy(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    def slow(i: int, history: list[Any]) -> Decision:
        if i == 1:
            time.sleep(3)
        return Decision(action={"action": "finish"})

    result = Agent(browser, CallbackPolicy(slow), AgentConfig(out_dir=tmp_path, step_time_limit_s=0.5)).run(
        spec(f"{http_server}/loop.html")
    )
    _, steps = read_bundle(result.bundle)
    assert steps[0].error_kind == "timeout" and "within 0.5s" in (steps[0].error or "")
    assert result.status == "finished" and result.steps == 2
    assert steps[0].timings_ms["decide"] < 1500  # not the 3 s the policy slept


def test_episode_time_limit(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    script = ScriptedPolicy([{"action": "wait", "seconds": 0.4}] * 20)
    result = Agent(browser, script, AgentConfig(out_dir=tmp_path)).run(
        spec(f"{http_server}/loop.html", time_limit_s=1.0)
    )
    assert result.status == "time_limit" and 1 <= result.steps < 10  # 20 waits would take 8 s


def test_unreachable_start_is_an_env_error_with_a_bundle(browser: BrowserEnv, tmp_path: Path) -> None:
    result = Agent(browser, ScriptedPolicy([BUTTON_A]), AgentConfig(out_dir=tmp_path)).run(
        spec("http://127.0.0.1:9/nothing.html")
    )
    assert result.status == "env_error" and result.steps == 0
    assert "cannot open start URL http://127.0.0.1:9/nothing.html" in (result.error or "")
    record, _ = read_bundle(result.bundle)
    assert record.status == "env_error"


def test_http_error_status_at_start_is_an_env_error(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    result = Agent(browser, ScriptedPolicy([BUTTON_A]), AgentConfig(out_dir=tmp_path)).run(
        spec(f"{http_server}/missing-page.html")
    )
    assert result.status == "env_error" and "HTTP 404" in (result.error or "")


def test_hung_page_is_killed_and_the_episode_ends_cleanly(http_server: str, tmp_path: Path) -> None:
    from pixelpilot.env.browser import BrowserConfig

    hang = {"action": "click", "x": 460, "y": 120}
    started = time.monotonic()
    with BrowserEnv(BrowserConfig(hang_timeout_s=2)) as env:
        env.reset(StartSpec(url=f"{http_server}/loop.html"))
        assert env._watchdog.armed
        result = Agent(env, ScriptedPolicy([BUTTON_A, hang, BUTTON_A]), AgentConfig(out_dir=tmp_path)).run(
            spec(f"{http_server}/loop.html")
        )
        assert result.status == "env_error" and "stopped responding" in (result.error or "")
        _, steps = read_bundle(result.bundle)
        assert [s.error is None for s in steps] == [True, False]
        assert "renderer was killed" in (steps[1].error or "")
        # the env recovers for the next episode
        ok = Agent(env, ScriptedPolicy([BUTTON_A, {"action": "finish"}]), AgentConfig(out_dir=tmp_path)).run(
            spec(f"{http_server}/loop.html")
        )
        assert ok.status == "finished"
    assert time.monotonic() - started < 30
