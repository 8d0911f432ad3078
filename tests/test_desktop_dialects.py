"""The Qwen2.5-VL computer_use actions on a desktop as the cookbook means them: mouse_move hovers,
middle_click, and left_click_drag from where the pointer is (the observation's recorded pointer), with
the start_coordinate extension still accepted and winning when given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelpilot.agent import Agent, AgentConfig
from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.qwen.backends.served import ServedBackend
from pixelpilot.agent.qwen.dialects import ParseError, get_dialect
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env.spec import FileCheck
from pixelpilot.tools import Drag, MiddleClick, MouseMove
from tests.desktop_fixtures import desktop, events, layout, probe_start
from tests.replay_server import ReplayServer

G = ResizeGeometry.for_image(1288, 728)  # resized 1288x728: model px are screenshot px


def call(action: str, **args: object) -> str:
    body = {"name": "computer_use", "arguments": {"action": action, **args}}
    return "<tool_call>\n" + json.dumps(body) + "\n</tool_call>"


def test_cookbook_drag_starts_at_the_recorded_pointer_and_start_coordinate_wins() -> None:
    dialect = get_dialect("qwen2.5-vl")
    dialect.pointer = (40.0, 50.0)  # type: ignore[attr-defined]
    cookbook = dialect.parse(call("left_click_drag", coordinate=[300, 200]), G, "desktop").action
    assert cookbook == Drag(start_x=40, start_y=50, end_x=300, end_y=200)
    explicit = dialect.parse(call("left_click_drag", start_coordinate=[7, 8], coordinate=[300, 200]), G, "desktop")
    assert explicit.action == Drag(start_x=7, start_y=8, end_x=300, end_y=200)
    dialect.pointer = None  # type: ignore[attr-defined]  # offline data: no pointer was recorded
    with pytest.raises(ParseError, match="start_coordinate is required"):
        dialect.parse(call("left_click_drag", coordinate=[300, 200]), G, "desktop")


def test_mouse_move_and_middle_click_read_and_write_as_the_cookbook_does() -> None:
    dialect = get_dialect("qwen2.5-vl")
    assert dialect.parse(call("mouse_move", coordinate=[10, 20]), G, "desktop").action == MouseMove(x=10, y=20)
    assert dialect.parse(call("middle_click", coordinate=[5, 6]), G, "browser").action == MiddleClick(x=5, y=6)
    for action in (MouseMove(x=10, y=20), MiddleClick(x=5, y=6)):
        text = dialect.encode_verb(action, G, "desktop")
        assert dialect.parse(text, G, "desktop").action == action
    prompt = dialect.system_prompt("desktop", G)
    assert "`mouse_move`" in prompt and "`middle_click`" in prompt and "from start_coordinate if given" in prompt
    with pytest.raises(ParseError, match="unknown action 'mouse_move' for mobile_use"):
        dialect.parse('<tool_call>{"name": "mobile_use", "arguments": {"action": "mouse_move"}}</tool_call>', G)


def test_a_served_qwen25_episode_hovers_drags_from_the_pointer_and_middle_clicks(tmp_path: Path) -> None:
    with desktop() as env, ReplayServer() as server:
        env.reset(probe_start())
        targets = layout(env)
        geometry = ResizeGeometry.for_image(1280, 800)

        def model_xy(name: str) -> list[int]:
            x, y, w, h = targets[name]
            rx, ry = geometry.to_resized(x + w / 2, y + h / 2)
            return [round(rx), round(ry)]

        server.script(
            call("mouse_move", coordinate=model_xy("drag_source")),
            call("left_click_drag", coordinate=model_xy("drop")),  # the cookbook form: from the pointer
            call("middle_click", coordinate=model_xy("middle")),
            call("terminate", status="success"),
        )
        backend = ServedBackend(server.url, server.model, timeout_s=30.0, backoff_s=0.01, max_retries=1)
        policy = QwenPolicy(backend, "qwen2.5-vl", QwenPolicyConfig())
        spec = EpisodeSpec(
            id="drag",
            instruction="drag the teal box onto the olive one",
            env="desktop",
            start=probe_start(),
            success=FileCheck(path="report.jsonl", pattern='"event": "release", "button": 1, [^}]*"target": "drop"'),
            max_steps=6,
        )
        result = Agent(env, policy, AgentConfig(out_dir=tmp_path)).run(spec)
        assert result.success and result.status == "finished", result
        got = events(env)
        hover = next(e for e in got if e["event"] == "enter" and e["target"] == "drag_source")
        press = next(e for e in got if e["event"] == "press" and e["button"] == 1)
        # the drag pressed exactly where the hover left the pointer, which the observation had recorded
        assert (press["x"], press["y"], press["target"]) == (hover["x"], hover["y"], "drag_source")
        assert [e["target"] for e in got if e["event"] == "press" and e["button"] == 2] == ["middle"]
        steps = [json.loads(line) for line in (result.bundle / "steps.jsonl").read_text().splitlines()]
        assert steps[1]["observation"]["pointer"] == [hover["x"], hover["y"]]
        assert steps[1]["action"]["start_x"] == hover["x"] and steps[1]["action"]["action"] == "drag"


def test_showui_and_qwen2_word_the_desktop_as_a_pointer_screen() -> None:
    showui = get_dialect("showui")
    assert "navigate the computer screen" in showui.system_prompt("desktop", G)
    assert "navigate the web screen" in showui.system_prompt("browser", G)
    qwen2 = get_dialect("qwen2-vl").system_prompt("desktop", G)
    assert "left_double(" in qwen2 and "press_home" not in qwen2  # the pointer action space, not the phone's
