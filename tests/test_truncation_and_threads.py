"""Output cut off mid-call is never read as an action; local models use the CPUs they were given.

Truncation: every dialect, cut mid-number, mid-string, mid-list and mid-key, is a
TruncatedOutputError whether or not the backend said the token limit stopped it; every prefix of
every well-formed corpus output, read as stopped by the limit, is an error or exactly the whole
output's action; the real tiny model stopped by a tiny max_new_tokens (local) and a replayed
``finish_reason: "length"`` (served) give a parse error naming the limit and a repair prompt asking
for the whole call.

Threads: the choice follows the affinity mask, the worker count and the model's size; a real
``pixelpilot run`` under ``taskset -c 0`` records 1 thread although OMP_NUM_THREADS=2 is inherited,
and so does a single bench worker on two CPUs running the tiny model.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent.policy_spec import DEFAULT_MODEL_DIR, PolicySpec
from pixelpilot.agent.qwen.dialects import ParseError, TruncatedOutputError, get_dialect
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.agent.qwen.threads import (
    SMALL_MODEL_PARAMETERS,
    choose_threads,
    count_parameters,
    threads_for,
    usable_cpus,
)
from pixelpilot.env import Observation, ScreenGeometry
from tests.test_cli import PIXELPILOT
from tests.test_parsing_corpus import ROWS, geometry_for

EXAMPLES = Path(__file__).resolve().parent.parent / "tasks" / "examples"
TASKSET = shutil.which("taskset")

Q25 = '<tool_call>\n{"name": "computer_use", "arguments": {"action": '
MOBILE = '<tool_call>\n{"name": "mobile_use", "arguments": {"action": '

#: (dialect, env, output): each ends in the middle of the call it starts.
TRUNCATED: list[tuple[str, str, str]] = [
    # qwen2.5-vl tool calls (JSON)
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordinate": [100, 2'),  # mid-number: not y=2
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordinate": [100'),
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordinate": [100, '),  # mid-list
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordinate": [100, 200'),  # the list never closed
    ("qwen2.5-vl", "browser", Q25 + '"type", "text": "hello wor'),  # mid-string
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordin'),  # mid-key
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordinate"'),  # a key without its value
    ("qwen2.5-vl", "browser", Q25 + '"left_click", "coordinate": '),
    ("qwen2.5-vl", "browser", Q25 + '"scroll", "pixels": -30'),  # a number touching the end
    ("qwen2.5-vl", "browser", Q25 + '"key", "keys": ["ctrl"'),
    ("qwen2.5-vl", "browser", Q25 + '"left_cl'),
    ("qwen2.5-vl", "browser", Q25 + '"left_click", '),
    ("qwen2.5-vl", "browser", "<tool_call>\n"),
    ("qwen2.5-vl", "browser", '{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [100, 2'),
    ("qwen2.5-vl", "android", MOBILE + '"swipe", "coordinate": [10, 20], "coordinate2": [300, 4'),
    ("qwen2.5-vl", "android", MOBILE + '"long_press", "coordinate": [10, 20], "time": 2'),
    # qwen2-vl / UI-TARS text
    ("qwen2-vl", "browser", "Thought: the button\nAction: click(start_box='(100,2"),
    ("qwen2-vl", "browser", "Action: click(start_box='(100,200)'"),  # the call never closed
    ("qwen2-vl", "browser", "Action: click(start_box=(100,2"),
    ("qwen2-vl", "browser", "Action: type(content='hello wor"),
    ("qwen2-vl", "browser", "Action: type(content='it's a"),
    ("qwen2-vl", "browser", "Action: drag(start_box='(10,20)', end_bo"),  # mid-key
    ("qwen2-vl", "browser", "Action: drag(start_box='(10,20)', end_box="),
    ("qwen2-vl", "browser", "Action: finished(content='The answer is 4"),
    ("qwen2-vl", "browser", "Thought: click it\nAction: cli"),
    ("qwen2-vl", "browser", "Thought: click it\nAction:"),
    ("qwen2-vl", "browser", "click(start_box='(100,2"),
    ("qwen2-vl", "browser", "<|box_start|>(100,2"),
    ("qwen2-vl", "browser", "<|box_start|>(100,200)"),  # may be the first corner of a box
    ("qwen2-vl", "browser", "<|object_ref_start|>OK<|object_ref_end|><|box_start|>(100,200),(300,4"),
    # showui
    ("showui", "browser", "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.4"),
    ("showui", "browser", "{'action': 'CLICK', 'value': None, 'position': [0.49,"),
    ("showui", "browser", "{'action': 'INPUT', 'value': 'hello wor"),
    ("showui", "browser", "{'action': 'CLICK', 'value': None, 'posit"),
    ("showui", "browser", "{'action': 'CLICK', 'value': None, 'position'"),
    ("showui", "browser", "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42], 'value': Non"),
    ("showui", "android", "{'action': 'SWIPE', 'value': None, 'position': [[0.5, 0.8], [0.5, 0.2"),
    ("showui", "browser", "[0.49, 0.4"),
    ("showui", "browser", "```python\n{'action': 'CLICK', 'value': None, 'position': [0.49, 0.4"),
]


def geometry(env: str) -> ResizeGeometry:
    return ResizeGeometry.for_image(*((1080, 2400) if env == "android" else (1288, 728)))


@pytest.mark.parametrize("at_token_limit", [False, True], ids=["stopped", "at-limit"])
@pytest.mark.parametrize(("dialect", "env", "output"), TRUNCATED, ids=[f"{d}-{o[-28:]!r}" for d, _, o in TRUNCATED])
def test_output_cut_off_mid_call_is_never_an_action(dialect: str, env: str, output: str, at_token_limit: bool) -> None:
    with pytest.raises(TruncatedOutputError) as info:
        get_dialect(dialect).parse(output, geometry(env), env, at_token_limit=at_token_limit)  # type: ignore[arg-type]
    assert "cut off" in str(info.value) or "ends" in str(info.value)


@pytest.mark.parametrize(
    ("dialect", "output"),
    [
        ("qwen2.5-vl", Q25 + '"left_click", "coordinate": [100, 200]}'),  # the last '}' missing
        ("qwen2.5-vl", Q25 + '"left_click", "coordinate": [100, 200]'),
        ("showui", "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]"),
        ("qwen2-vl", "(100,200)"),  # or the first corner of (100,200),(300,400)
    ],
)
def test_an_ending_that_may_go_on_is_read_only_when_the_model_stopped_by_itself(dialect: str, output: str) -> None:
    """A missing last brace is forgiven (documented); but when the token limit stopped the model, the
    object may have had more keys and the box another corner: nothing is completed then."""
    parsed = get_dialect(dialect).parse(output, geometry("browser"))
    assert parsed.action.action == "click"
    with pytest.raises(TruncatedOutputError):
        get_dialect(dialect).parse(output, geometry("browser"), at_token_limit=True)


def test_every_prefix_of_a_well_formed_output_is_an_error_or_the_same_action() -> None:
    """At the token limit the text may stop anywhere: reading a prefix as anything but the whole
    output's action would be acting on a value the model had not finished writing."""
    checked = 0
    for row in ROWS:
        if "error" in row["expect"]:
            continue
        g, env, dialect = geometry_for(row), row.get("env", "browser"), get_dialect(row["dialect"])
        whole = dialect.parse(row["output"], g, env).action
        for n in range(1, len(row["output"])):
            try:
                action = dialect.parse(row["output"][:n], g, env, at_token_limit=True).action
            except ParseError:
                continue
            assert action == whole, (row["note"], row["output"][:n])
            checked += 1
    assert checked > 0  # complete calls followed by a newline or a second call do parse


# ----------------------------------------------------------------------------- through the policy
def _observation() -> Observation:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1288, 728), (255, 255, 255)).save(buf, "PNG")
    geometry = ScreenGeometry(width=1288, height=728, device_scale_factor=1, viewport_width=1288, viewport_height=728)
    return Observation(screenshot=buf.getvalue(), image_format="png", geometry=geometry)


def test_served_output_cut_off_at_the_token_limit_is_repaired_by_asking_for_the_whole_call() -> None:
    from pixelpilot.agent.qwen.backends.base import SamplingConfig
    from pixelpilot.agent.qwen.backends.served import ServedBackend
    from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
    from tests.replay_server import ReplayServer, Reply

    whole = Q25 + '"left_click", "coordinate": [161, 121]}}\n</tool_call>'
    with ReplayServer() as server:
        server.script(Reply(Q25 + '"left_click", "coordinate": [161, 1', finish_reason="length"), Reply(whole))
        backend = ServedBackend(server.url, server.model, timeout_s=5.0, backoff_s=0.01)
        config = QwenPolicyConfig(sampling=SamplingConfig(max_new_tokens=24), max_repairs=1)
        decision = QwenPolicy(backend, "qwen2.5-vl", config).decide("Click A", _observation(), [])
        requests = server.requests
    first = decision.metadata["attempts"][0]
    assert first["finish_reason"] == "length"
    assert first["parse_error"].startswith("output cut off at the token limit (24 tokens)")
    repair = requests[1]["messages"][-1]["content"][0]["text"]
    assert "Write the whole call again, from its beginning" in repair and "token limit (24 tokens)" in repair
    assert decision.parse_error is None and decision.action is not None
    assert (decision.action.x, decision.action.y) == (pytest.approx(160, abs=1), pytest.approx(120, abs=1))


def _bundle(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (bundle,) = [p.parent for p in out.rglob("episode.json")]
    episode = json.loads((bundle / "episode.json").read_text())
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines() if line.strip()]
    return episode, steps


def _pixelpilot(cpus: str, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``pixelpilot ARGS`` on the CPUs ``cpus`` (taskset), with OMP_NUM_THREADS=2 inherited (a value set
    for something else, which the thread choice must not trust) and no PIXELPILOT_THREADS."""
    environment = {k: v for k, v in os.environ.items() if k != "PIXELPILOT_THREADS"}
    environment |= {"OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1", **env}
    command = [TASKSET or "taskset", "-c", cpus, *PIXELPILOT, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)


TINY_ARGS = ("--max-steps", "1", "--max-new-tokens", "3", "--max-pixels", str(64 * 28 * 28))


@pytest.mark.skipif(TASKSET is None, reason="needs taskset (util-linux)")
def test_run_under_one_cpu_uses_one_thread_and_names_the_token_limit(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    """The tiny model stopped after 3 tokens: the step's parse error says the limit cut it, the
    recorded repair prompt asks for the whole call; under ``taskset -c 0`` torch ran one thread
    although the environment said OMP_NUM_THREADS=2."""
    login = EXAMPLES / "login.yaml"
    proc = _pixelpilot("0", "run", login, "--model", tiny_qwen_dir, *TINY_ARGS, "--max-repairs", "1", "--out", tmp_path)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the episode failed, as a random model's does
    episode, steps = _bundle(tmp_path)
    assert episode["policy"]["threads"] == 1
    (step,) = steps
    assert step["policy"]["threads"] == 1
    attempts = step["policy"]["attempts"]
    assert [a["finish_reason"] for a in attempts] == ["length", "length"]
    assert "output cut off at the token limit (3 tokens)" in step["error"]
    assert "Write the whole call again" in attempts[0]["repair_prompt"]


@pytest.mark.skipif(TASKSET is None or usable_cpus() < 2, reason="needs taskset and two usable CPUs")
def test_a_single_bench_worker_still_sets_its_threads(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    """``--workers 1`` used to set nothing: torch took the inherited OMP_NUM_THREADS (or one thread per
    CPU). The worker now chooses, from its two CPUs and the model's size: one thread for the tiny model."""
    pytest.importorskip("miniwob")
    out = tmp_path / "run"
    args = ("--tasks", "click-test", "--workers", "1", "--max-repairs", "0", "--no-episode-reports", "--out", out)
    proc = _pixelpilot("0,1", "bench", "miniwob", "--model", tiny_qwen_dir, *TINY_ARGS, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    steps = (out / result["bundle"] / "steps.jsonl").read_text().splitlines()
    assert [json.loads(step)["policy"]["threads"] for step in steps] == [1]


# ----------------------------------------------------------------------------- the choice itself
def test_threads_follow_the_cpus_the_workers_and_the_model_size() -> None:
    big, small = 7_000_000_000, 4_760_000
    assert choose_threads(16, workers=1, parameters=big) == 16
    assert choose_threads(16, workers=4, parameters=big) == 4  # workers split the CPUs
    assert choose_threads(16, workers=3, parameters=None) == 5  # unknown size: taken as large
    assert choose_threads(2, workers=4, parameters=big) == 1  # never zero
    assert choose_threads(16, workers=1, parameters=small) == 1  # small models: one thread
    assert choose_threads(16, workers=1, parameters=SMALL_MODEL_PARAMETERS) == 16
    assert choose_threads(4, workers=2, parameters=small, requested=8) == 2  # a request within the share
    assert choose_threads(4, workers=1, parameters=big, requested=3) == 3


def test_the_model_size_is_read_from_the_safetensors_headers() -> None:
    assert count_parameters(DEFAULT_MODEL_DIR) == 4_762_880
    assert count_parameters("Qwen/Qwen2-VL-2B-Instruct") is None  # a hub id: not read, taken as large
    assert threads_for(PolicySpec(kind="qwen", model="default")) == 1
    assert threads_for(PolicySpec(kind="qwen", model="Qwen/Qwen2-VL-2B-Instruct")) == usable_cpus()
    assert threads_for(PolicySpec(kind="qwen", model="x", endpoint="http://127.0.0.1:1/v1")) is None
    assert threads_for(PolicySpec(kind="oracle")) is None


@pytest.mark.skipif(TASKSET is None, reason="needs taskset (util-linux)")
def test_the_usable_cpus_are_the_affinity_mask_not_the_machine() -> None:
    code = "from pixelpilot.agent.qwen.threads import usable_cpus; print(usable_cpus())"
    out = subprocess.run([TASKSET, "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1", out.stderr
