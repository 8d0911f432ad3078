"""The served backend and the Qwen policy's parse/repair/retry paths, against a replaying HTTP server."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from pixelpilot.agent import Agent, AgentConfig, EpisodeSpec, read_bundle
from pixelpilot.agent.qwen.backends.base import BackendError
from pixelpilot.agent.qwen.backends.served import ServedBackend
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig, replay
from pixelpilot.env import JsCheck, StartSpec
from pixelpilot.env.browser import BrowserEnv
from tests.replay_server import ReplayServer, Reply


def call(action: str, **args: object) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": "computer_use", "arguments": {"action": action, **args}})
        + "\n</tool_call>"
    )


CLICK_A = call("left_click", coordinate=[161, 121])  # resized 1288x728 -> screenshot (160, 119.7): button A
DONE = call("terminate", status="success")


@pytest.fixture()
def server():
    with ReplayServer() as srv:
        yield srv


def policy_for(server: ReplayServer, **kw: object) -> QwenPolicy:
    backend = ServedBackend(
        server.url,
        server.model,
        timeout_s=kw.pop("timeout_s", 5.0),
        backoff_s=0.01,
        max_retries=kw.pop("max_retries", 3),
    )
    return QwenPolicy(backend, "qwen2.5-vl", QwenPolicyConfig(**kw))


def spec(http_server: str, **kw: object) -> EpisodeSpec:
    return EpisodeSpec(
        id="served",
        instruction="Press the button A three times",
        start=StartSpec(url=f"{http_server}/loop.html"),
        success=JsCheck(expression="() => window.clicks >= 1"),
        **kw,
    )


def test_served_episode_sends_the_screenshot_and_records_everything(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXELPILOT_API_KEY", "sk-test-123")
    server.script(CLICK_A, DONE)
    result = Agent(browser, policy_for(server), AgentConfig(out_dir=tmp_path)).run(spec(http_server))
    assert result.success and result.status == "finished" and result.steps == 2

    first = server.requests[0]
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"
    assert first["model"] == "replay-qwen" and first["temperature"] == 0.0
    # vLLM's Qwen2/2.5-VL processors read min/max_pixels; transformers 5 and Qwen3-VL's read size
    assert first["mm_processor_kwargs"] == {
        "min_pixels": 3136, "max_pixels": 1003520, "size": {"shortest_edge": 3136, "longest_edge": 1003520}
    }  # fmt: skip
    system = first["messages"][0]["content"][0]["text"]
    assert "<tools>" in system and "1288x728" in system
    image = next(p for p in first["messages"][1]["content"] if p["type"] == "image_url")["image_url"]["url"]
    assert image.startswith("data:image/jpeg;base64,")
    _, steps = read_bundle(result.bundle)
    shot = (result.bundle / steps[0].observation.screenshot).read_bytes()
    assert base64.b64decode(image.split(",", 1)[1]) == shot  # the captured bytes, never re-encoded

    meta = steps[0].policy
    assert meta["dialect"] == "qwen2.5-vl" and meta["endpoint"] == server.url and meta["model"] == "replay-qwen"
    assert meta["geometry"]["resized_width"] == 1288 and meta["geometry"]["resized_height"] == 728
    assert meta["visual_tokens"] == 46 * 26 and meta["image_grid_thw"] == [1, 52, 92]
    assert meta["messages"][1]["content"][0] == {
        "type": "image",
        "width": 1280,
        "height": 720,
        "resized_width": 1288,
        "resized_height": 728,
        "captured_at": meta["messages"][1]["content"][0]["captured_at"],
    }
    assert steps[0].raw_output == CLICK_A
    assert steps[0].action == {"action": "click", "x": 160.0, "y": pytest.approx(119.67, abs=0.01)}
    # the second prompt shows the first action in the model's own notation
    history_text = server.requests[1]["messages"][1]["content"][-1]["text"]
    assert "Step 1:" in history_text and "left_click" in history_text


def test_malformed_output_is_repaired_within_the_step(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script("I will click the button now.", call("left_click"), CLICK_A, DONE)
    result = Agent(browser, policy_for(server), AgentConfig(out_dir=tmp_path)).run(spec(http_server))
    assert result.success and result.steps == 2
    _, steps = read_bundle(result.bundle)
    meta = steps[0].policy
    assert meta["repairs"] == 2 and meta["parse_failures"] == 2
    assert [("parse_error" in a) for a in meta["attempts"]] == [True, True, False]
    assert "no tool call" in meta["attempts"][0]["parse_error"]
    assert "coordinate" in meta["attempts"][1]["parse_error"]
    # the repair request carries the failed answer and the error
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-2]["content"][0]["text"] == "I will click the button now."
    assert "could not be used" in repair[-1]["content"][0]["text"]


def test_unrepairable_output_becomes_a_recorded_parse_error(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script(*["garbage"] * 9)
    result = Agent(
        browser, policy_for(server, max_repairs=2), AgentConfig(out_dir=tmp_path, max_consecutive_failures=3)
    ).run(spec(http_server, max_steps=5))
    assert result.status == "error" and result.steps == 3
    _, steps = read_bundle(result.bundle)
    assert all(s.error_kind == "parse" and s.raw_output == "garbage" for s in steps)
    assert all(s.policy["parse_failures"] == 3 for s in steps)
    assert len(server.requests) == 9


def test_retries_on_429_and_500_then_succeeds(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "0"}), Reply(status=500), Reply(status=503), DONE)
    result = Agent(browser, policy_for(server), AgentConfig(out_dir=tmp_path)).run(spec(http_server))
    assert result.status == "finished"
    _, steps = read_bundle(result.bundle)
    retries = steps[0].policy["attempts"][0]["extra"]["retries"]
    assert [r.split(":")[0] for r in retries] == ["HTTP 429", "HTTP 500", "HTTP 503"]


def test_gives_up_after_max_retries_and_on_client_errors(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script(*[Reply(status=500)] * 3, Reply(status=400))
    result = Agent(
        browser, policy_for(server, max_retries=2), AgentConfig(out_dir=tmp_path, max_consecutive_failures=2)
    ).run(spec(http_server))
    _, steps = read_bundle(result.bundle)
    assert "failed after 3 attempt(s): HTTP 500" in (steps[0].error or "")
    assert "failed after 1 attempt(s): HTTP 400" in (steps[1].error or "")  # not retried
    assert result.status == "error"


def test_slow_reply_times_out_and_is_retried(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script(Reply(DONE, delay_s=2.0), DONE)
    started = time.monotonic()
    result = Agent(browser, policy_for(server, timeout_s=0.5), AgentConfig(out_dir=tmp_path)).run(spec(http_server))
    assert result.status == "finished"
    _, steps = read_bundle(result.bundle)
    assert steps[0].policy["attempts"][0]["extra"]["retries"] == ["timeout after 0.5s"]
    assert time.monotonic() - started < 10


def test_check_reports_unreachable_endpoints_and_unknown_models(server: ReplayServer) -> None:
    ServedBackend(server.url, server.model).check()
    with pytest.raises(BackendError, match="does not serve model 'other'; it serves: replay-qwen"):
        ServedBackend(server.url, "other").check()
    with pytest.raises(BackendError, match="is unreachable"):
        ServedBackend("http://127.0.0.1:9/v1", "x", timeout_s=2).check()


def test_replay_hook_pairs_gold_and_predicted(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script(CLICK_A, DONE)
    result = Agent(browser, policy_for(server), AgentConfig(out_dir=tmp_path)).run(spec(http_server))
    server.script(call("left_click", coordinate=[500, 300]), "not an action", "still not", "nope")
    pairs = replay(policy_for(server), result.bundle)
    assert [p.step for p in pairs] == [1, 2]
    assert pairs[0].gold == {"action": "click", "x": 160.0, "y": pytest.approx(119.67, abs=0.01)}
    assert pairs[0].predicted is not None and pairs[0].predicted["x"] == pytest.approx(500 * 1280 / 1288)
    assert pairs[1].gold == {"action": "finish", "status": "success", "message": ""}
    assert pairs[1].predicted is None and pairs[1].parse_error
    assert pairs[0].screen == (1280, 720)


def test_pixel_limits_fall_back_to_the_servers_dialect(
    server: ReplayServer, browser: BrowserEnv, http_server: str, tmp_path: Path
) -> None:
    server.script(Reply(status=422, raw='{"detail": "Unexpected fields: mm_processor_kwargs"}'), CLICK_A, DONE)
    result = Agent(browser, policy_for(server), AgentConfig(out_dir=tmp_path)).run(spec(http_server))
    assert result.status == "finished"
    assert "mm_processor_kwargs" in server.requests[0]
    assert "mm_processor_kwargs" not in server.requests[1]
    assert server.requests[1]["chat_template_kwargs"] == {
        "processor_kwargs": {"size": {"shortest_edge": 3136, "longest_edge": 1003520}}
    }
    _, steps = read_bundle(result.bundle)
    attempt = steps[0].policy["attempts"][0]
    assert attempt["extra"] == {"pixel_limits": "chat_template_kwargs"}  # a fallback is not a retry
    assert steps[1].policy["pixel_limits"] == "chat_template_kwargs"
