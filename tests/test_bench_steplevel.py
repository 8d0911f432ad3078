"""The step-level offline suite: the AITW/AITZ matcher, the AITZ reader, bundles as sets, and the suite end to end."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy, read_bundle
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task
from pixelpilot.tasks.bench.contract import SuiteError, Unit
from pixelpilot.tasks.bench.steplevel import (
    StepLevelOracle,
    StepLevelSuite,
    action_to_aitw,
    aitw_to_action,
    bundles_to_steplevel,
    evaluate_bundle,
    match_action,
    read_steplevel,
    sample_history,
    steplevel_summary,
)
from pixelpilot.tasks.bench.steplevel_match import scroll_direction

AITZ = Path(__file__).parent / "data" / "steplevel" / "aitz"
SCREEN = (1000, 2000)  # width, height: 14% of the screen is 140 px across and 280 px down


def click(x: float, y: float, name: str = "click") -> dict[str, Any]:
    return {"action": name, "x": x, "y": y}


def swipe(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"action": "swipe", "start_x": x0, "start_y": y0, "end_x": x1, "end_y": y1}


def scroll(direction: str) -> dict[str, Any]:
    return {"action": "scroll", "x": 500, "y": 1000, "direction": direction}


# ------------------------------------------------------------------------------------------- matcher
@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        (click(500, 1000), (True, True)),
        (click(640, 1000), (True, True)),  # exactly 14% of the width away: on the radius counts
        (click(641, 1000), (True, False)),  # just outside
        (click(500, 1280), (True, True)),  # 14% of the height down
        (click(500, 1281), (True, False)),
        (click(584, 1168), (True, True)),  # hypot(0.084, 0.084) = 0.1188
        (click(600, 1200), (True, False)),  # hypot(0.1, 0.1) = 0.1414 > 0.14
        (click(500, 1000, "long_press"), (True, True)),  # long press is a click-type action (AITW has one tap)
        (click(500, 1000, "double_click"), (True, True)),
        (swipe(500, 1000, 500, 1040), (True, True)),  # 2% of the screen: a tap in AITW terms
        (swipe(500, 1500, 500, 500), (False, False)),  # a real swipe is not a click
        ({"action": "type", "text": "hello"}, (False, False)),
        (None, (False, False)),  # a parse failure matches nothing
    ],
)
def test_click_matching_by_distance(predicted: dict[str, Any] | None, expected: tuple[bool, bool]) -> None:
    assert match_action(click(500, 1000), predicted, SCREEN) == expected


def test_click_matching_by_the_gold_elements_box() -> None:
    gold, box = click(500, 1000), (100.0, 900.0, 900.0, 1100.0)  # a wide list row
    far_in_box = click(880, 1090)  # 38% of the width away, inside the row
    assert match_action(gold, far_in_box, SCREEN) == (True, False)
    assert match_action(gold, far_in_box, SCREEN, gold_box=box) == (True, True)
    assert match_action(gold, click(900, 1100), SCREEN, gold_box=box) == (True, True)  # edges included
    assert match_action(gold, click(901, 1100), SCREEN, gold_box=box) == (True, False)
    # the box does not take the radius away: near but outside the box still counts (AITW: box OR 14%)
    assert match_action(gold, click(500, 1150), SCREEN, gold_box=box) == (True, True)


def test_scroll_directions_and_the_swipe_convention() -> None:
    finger_up = swipe(500, 1600, 500, 400)  # content below comes into view: scroll down
    finger_left = swipe(900, 1000, 100, 1000)
    assert scroll_direction(finger_up) == "down" and scroll_direction(finger_left) == "right"
    assert scroll_direction(swipe(500, 400, 500, 1600)) == "up"
    assert scroll_direction(swipe(100, 1000, 900, 1000)) == "left"
    assert match_action(finger_up, scroll("down"), SCREEN) == (True, True)
    assert match_action(finger_up, scroll("up"), SCREEN) == (True, False)
    assert match_action(finger_up, scroll("right"), SCREEN) == (True, False)
    assert match_action(scroll("right"), finger_left, SCREEN) == (True, True)
    assert match_action(scroll("up"), scroll("up"), SCREEN) == (True, True)
    drag = {"action": "drag", "start_x": 500, "start_y": 1600, "end_x": 520, "end_y": 600}
    assert match_action(finger_up, drag, SCREEN) == (True, True)  # main axis vertical, finger up
    assert match_action(scroll("down"), click(500, 1000), SCREEN) == (False, False)


def test_text_keys_and_terminal_actions() -> None:
    typed = {"action": "type", "text": "Wireless  Mouse "}
    assert match_action(typed, {"action": "type", "text": " wireless mouse"}, SCREEN) == (True, True)
    assert match_action(typed, {"action": "type", "text": "wireless mice"}, SCREEN) == (True, False)
    enter = {"action": "key", "keys": "Enter"}
    assert match_action(enter, {"action": "key", "keys": "enter"}, SCREEN) == (True, True)
    assert match_action(enter, {"action": "key", "keys": "Tab"}, SCREEN) == (True, False)
    assert match_action(enter, {"action": "back"}, SCREEN) == (True, False)  # same group (press), other button
    assert match_action({"action": "back"}, {"action": "back"}, SCREEN) == (True, True)
    assert match_action({"action": "home"}, {"action": "back"}, SCREEN) == (True, False)
    done = {"action": "finish", "status": "success"}
    assert match_action(done, {"action": "finish", "status": "failure"}, SCREEN) == (True, True)
    assert match_action(done, {"action": "answer", "text": "42"}, SCREEN) == (True, True)
    assert match_action(done, {"action": "home"}, SCREEN) == (False, False)
    assert match_action({"action": "open_app", "app": "Clock"}, {"action": "open_app", "app": "clock "}, SCREEN) == (
        True,
        True,
    )


def test_summary_overall_per_type_and_per_episode() -> None:
    rows = [
        {"episode": "a", "step": 0, "gold_type": "click", "type_match": True, "exact_match": True},
        {"episode": "a", "step": 1, "gold_type": "click", "type_match": True, "exact_match": False},
        {"episode": "a", "step": 2, "gold_type": "stop", "type_match": True, "exact_match": True},
        {"episode": "b", "step": 1, "gold_type": "type", "type_match": False, "exact_match": False,
         "parse_failure": True},
        {"episode": "b", "step": 0, "gold_type": "click", "type_match": True, "exact_match": True},
    ]  # fmt: skip
    summary = steplevel_summary(rows)
    assert (summary["steps"], summary["type_match"], summary["exact_match"]) == (5, 0.8, 0.6)
    assert summary["parse_failure"] == 0.2
    assert summary["by_type"]["click"] == {"steps": 3, "type_match": 1.0, "exact_match": 0.6667}
    assert summary["by_type"]["type"] == {"steps": 1, "type_match": 0.0, "exact_match": 0.0}
    a, b = summary["by_episode"]["a"], summary["by_episode"]["b"]
    assert (a["exact_match"], a["success"], a["progress"]) == (0.6667, False, 0.3333)
    assert (b["success"], b["progress"]) == (False, 0.5)  # ordered by step: 0 exact, then 1 missed
    assert summary["episodes"] == {"count": 2, "success_rate": 0.0, "goal_progress": 0.4167}
    assert steplevel_summary([])["steps"] == 0


# -------------------------------------------------------------------------------------- AITZ reader
def test_reading_an_aitz_style_set() -> None:
    samples = {s.id: s for s in read_steplevel(AITZ)}
    assert list(samples) == [f"GENERAL-111-{i}" for i in range(4)] + [f"WEB-222-{i}" for i in range(3)]
    s = samples["GENERAL-111-1"]  # touch (0.8, 0.5) -> lift (0.2, 0.5) on a 140 x 300 screenshot
    assert (s.width, s.height, s.env) == (140, 300, "android")
    assert s.gold == {
        "action": "swipe",
        "start_x": 70.0,
        "start_y": 240.0,
        "end_x": 70.0,
        "end_y": 60.0,
        "duration_ms": 300,
    }
    assert scroll_direction(s.gold) == "down" and s.history == [{"action": "home"}]
    tap = samples["GENERAL-111-2"]  # (0.5, 0.6) with lift 1% away: a tap, at the touch point
    assert tap.gold == {"action": "click", "x": 84.0, "y": 150.0}
    assert tap.gold_box == (60.0, 140.0, 110.0, 160.0)  # the smallest of the two boxes holding the point
    assert samples["GENERAL-111-3"].gold == {"action": "finish", "status": "success", "message": ""}
    assert samples["GENERAL-111-3"].history[-1] == tap.gold
    assert samples["WEB-222-1"].gold["text"] == "Wireless  Mouse"
    assert samples["WEB-222-2"].gold == {"action": "key", "keys": "Enter"}
    assert samples["WEB-222-0"].gold_box is None and samples["WEB-222-0"].image.is_file()
    # one episode file on its own reads the same
    one = read_steplevel(AITZ / "web_shopping" / "WEB-222" / "WEB-222.json")
    assert [x.id for x in one] == ["WEB-222-0", "WEB-222-1", "WEB-222-2"]


def _broken_copy(tmp_path: Path, step: int, **changes: Any) -> Path:
    root = tmp_path / "aitz"
    shutil.copytree(AITZ, root)
    path = root / "web_shopping" / "WEB-222" / "WEB-222.json"
    data = json.loads(path.read_text())
    data[step].update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del data[step][key]
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("step", "changes", "message"),
    [
        (1, {"result_action_type": 9}, "unknown result_action_type 9"),
        (0, {"result_touch_yx": "[0.5]"}, "result_touch_yx must be [y, x]"),
        (0, {"result_touch_yx": "[120, 300]"}, "normalized 0..1"),
        (0, {"result_lift_yx": "not json"}, "result_lift_yx is not valid JSON"),
        (2, {"image_path": "web_shopping/WEB-222/missing.png"}, "image not found"),
        (1, {"instruction": None}, "missing field 'instruction'"),
        (2, {"ui_positions": "[[1, 2, 3]]"}, "ui_positions"),
        (1, {"pixelpilot": {"action": {"action": "teleport"}}}, "unknown tool 'teleport'"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_step(
    tmp_path: Path, step: int, changes: dict[str, Any], message: str
) -> None:
    path = _broken_copy(tmp_path, step, **changes)
    with pytest.raises(SuiteError) as info:
        read_steplevel(tmp_path / "aitz")
    text = str(info.value)
    assert message in text and f"{path}: step {step}" in text and "\n" not in text


def test_bad_files_and_paths(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="not found"):
        read_steplevel(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuiteError, match="no step-level samples"):
        read_steplevel(tmp_path / "empty")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SuiteError, match=r"bad\.json: not valid JSON"):
        read_steplevel(bad)
    bad.write_text('{"episode_id": 1}')
    with pytest.raises(SuiteError, match="expected a non-empty JSON list"):
        read_steplevel(bad)
    twice = tmp_path / "twice"
    shutil.copytree(AITZ, twice / "one")
    shutil.copytree(AITZ, twice / "two")
    with pytest.raises(SuiteError, match="duplicate sample id GENERAL-111-0"):
        read_steplevel(twice)


# ------------------------------------------------------------------------------------------- suite
def test_suite_with_the_oracle_scores_every_aitz_step_exact(tmp_path: Path) -> None:
    suite = StepLevelSuite(AITZ)
    assert (suite.name, suite.kind) == ("steplevel", "offline")
    units = suite.units(suite.tasks(), seeds=3)
    assert len(units) == 7 and all(u.seed == 0 for u in units)
    with pytest.raises(SuiteError, match="unknown step id"):
        suite.units(["nope-0"], 1)
    worker = suite.open_worker(0, PolicySpec(kind="oracle"))
    assert isinstance(worker.policy, StepLevelOracle)
    results = [worker.run(u, tmp_path) for u in units]
    worker.close()
    assert all(r.status == "scored" and r.success for r in results)
    assert all(r.metrics == {"type_match": 1.0, "exact_match": 1.0, "parse_failure": 0.0} for r in results)
    assert results[1].fields == {
        "episode": "GENERAL-111",
        "step": "1",
        "gold_type": "scroll",
        "predicted_type": "scroll",
    }
    summary = steplevel_summary(results)
    assert summary["exact_match"] == 1.0 and summary["episodes"]["success_rate"] == 1.0
    assert set(summary["by_type"]) == {"click", "press", "scroll", "stop", "type"}


def test_suite_pickles_small() -> None:
    suite = StepLevelSuite(AITZ)
    assert len(suite.tasks()) == 7
    clone = pickle.loads(pickle.dumps(suite))
    assert clone._samples is None and clone.path == AITZ and clone.tasks() == suite.tasks()
    assert suite.settings()["set"] == str(AITZ.resolve()) and len(suite.settings()["digest"]) == 16
    run = suite.describe_run()
    assert (run["steps"], run["episodes"]) == (7, 2)
    assert run["per_gold_type"] == {"press": 2, "scroll": 1, "click": 2, "stop": 1, "type": 1}
    unit = suite.units(["WEB-222-1"], 1)[0]  # the sample rides in the unit: workers need not read the set
    assert unit.payload["sample"]["gold"]["action"] == "type"
    assert pickle.loads(pickle.dumps(unit)) == unit


@pytest.mark.parametrize("direction", ["up", "down", "left", "right"])
def test_scroll_round_trips_through_aitw_fields_as_a_swipe(direction: str) -> None:
    step = action_to_aitw({"action": "scroll", "x": 500, "y": 1000, "direction": direction}, *SCREEN)
    assert step["result_action_type"] == 4
    gold = aitw_to_action(step, *SCREEN, where="test")
    assert gold["action"] == "swipe" and scroll_direction(gold) == direction


def test_history_reaches_the_policy_as_step_records() -> None:
    sample = {s.id: s for s in read_steplevel(AITZ)}["GENERAL-111-2"]
    records = sample_history(sample)
    assert [r.index for r in records] == [1, 2]
    assert [r.action for r in records] == sample.history
    assert all(r.ok and r.result and r.result["ok"] for r in records)
    assert records[0].observation.width == 140


@pytest.fixture(scope="module")
def search_bundle(browser: BrowserEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle: the search example solved by its script in Chromium at device scale factor 2."""
    task = Task.from_file(EXAMPLES_DIR / "search.yaml")
    assert task.solution
    spec = task.to_spec()
    spec = spec.model_copy(update={"start": spec.start.model_copy(update={"device_scale_factor": 2.0})})
    out = tmp_path_factory.mktemp("bundles")
    config = AgentConfig(out_dir=out, write_report=False)
    result = Agent(browser, ScriptedPolicy.from_file(task.solution), config).run(spec)
    assert result.success, result.detail
    return result.bundle


def test_bundles_become_a_steplevel_set(search_bundle: Path, tmp_path: Path) -> None:
    _, steps = read_bundle(search_bundle)
    out = bundles_to_steplevel([search_bundle], tmp_path / "set")
    episode = search_bundle.name
    rows = json.loads((out / episode / f"{episode}.json").read_text())
    assert [r["step_id"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["result_action_type"] for r in rows] == [4, 3, 4, 4, 10]
    first = rows[0]
    assert first["pixelpilot"]["action"] == {"action": "click", "x": 1160.0, "y": 592.0}  # css (580, 296) x 2
    assert json.loads(first["result_touch_yx"]) == [round(592 / 1440, 6), round(1160 / 2560, 6)]
    shot = out / first["image_path"]
    assert shot.read_bytes() == (search_bundle / steps[0].observation.screenshot).read_bytes()

    samples = read_steplevel(out)
    assert [s.id for s in samples] == [f"{episode}-{i}" for i in range(5)]
    assert samples[0].env == "browser" and (samples[0].width, samples[0].height) == (2560, 1440)
    assert samples[3].history == [s.gold for s in samples[:3]]
    assert samples[1].gold == {"action": "type", "text": "keyboard", "press_enter": False, "clear": False}
    for sample, step in zip(samples, steps, strict=True):
        assert match_action(sample.gold, step.action, (sample.width, sample.height)) == (True, True)

    # without the pixelpilot extension the AITW fields alone give the same gold (in px of each image)
    plain = out / episode / f"{episode}.json"
    plain.write_text(json.dumps([{k: v for k, v in r.items() if k != "pixelpilot"} for r in rows]))
    derived = read_steplevel(out)
    assert [d.env for d in derived] == ["android"] * 5  # AITW data is Android unless the extension says so
    for sample, plain_sample in zip(samples, derived, strict=True):
        assert match_action(sample.gold, plain_sample.gold, (sample.width, sample.height)) == (True, True)
    assert derived[0].gold == {"action": "click", "x": 1160.0, "y": 592.0}
    plain.write_text(json.dumps(rows))

    # the suite reads the bundle folder itself with the same ids, and the oracle is exact on both
    for source in (out, search_bundle.parent):
        suite = StepLevelSuite(source)
        worker = suite.open_worker(0, PolicySpec(kind="oracle"))
        results = [worker.run(u, tmp_path) for u in suite.units(suite.tasks(), 1)]
        assert [r.task for r in results] == [s.id for s in samples]
        assert all(r.success and r.metrics["exact_match"] == 1.0 for r in results)

    # an unsuccessful episode is left out unless asked for
    failed = tmp_path / "failed" / "search-failed"
    shutil.copytree(search_bundle, failed)
    record = json.loads((failed / "episode.json").read_text())
    (failed / "episode.json").write_text(json.dumps({**record, "success": False, "status": "max_steps"}))
    assert not (bundles_to_steplevel([failed], tmp_path / "only-ok") / "search-failed").exists()
    assert (bundles_to_steplevel([failed], tmp_path / "all", successful_only=False) / "search-failed").is_dir()
    with pytest.raises(SuiteError, match="not a pixelpilot bundle"):
        bundles_to_steplevel([tmp_path], tmp_path / "x")


def test_replaying_a_bundle_scores_the_same_script_exact(search_bundle: Path) -> None:
    task = Task.from_file(EXAMPLES_DIR / "search.yaml")
    assert task.solution
    scores = evaluate_bundle(ScriptedPolicy.from_file(task.solution), search_bundle)
    assert [s.step for s in scores] == [0, 1, 2, 3, 4]
    assert all(s.exact_match and not s.parse_failure for s in scores)
    assert [s.gold_type for s in scores] == ["click", "type", "click", "click", "stop"]
    # a script one step behind is wrong from the first step on
    script = ScriptedPolicy.from_file(task.solution)
    lagging = ScriptedPolicy([{"action": "wait", "seconds": 0}, *script.actions], coords=script.coords)
    summary = steplevel_summary(evaluate_bundle(lagging, search_bundle))
    assert summary["type_match"] < 1.0 and summary["by_episode"][search_bundle.name]["progress"] == 0.0


def test_suite_with_a_tiny_qwen2vl_scores_and_records_parse_failures(
    tiny_qwen_dir: Path, search_bundle: Path, tmp_path: Path
) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = PolicySpec(
            kind="qwen",
            model=str(tiny_qwen_dir),
            # the folder's name ("tiny-qwen2vl") now infers qwen2-vl; this test reads qwen2.5-vl's mobile_use
            dialect="qwen2.5-vl",
            min_pixels=28 * 28 * 4,
            max_pixels=28 * 28 * 16,
            max_new_tokens=16,
            max_repairs=0,
            device="cpu",
        )
        suite = StepLevelSuite(AITZ)
        worker = suite.open_worker(1, spec)
        units = [Unit(task=t) for t in ("GENERAL-111-0", "GENERAL-111-2", "WEB-222-1")]
        results = [worker.run(u, tmp_path) for u in units]
        # the recorded history reaches the prompt, in the dialect's notation for the sample's env (android)
        _, _, decision = worker.decide(suite.samples()["GENERAL-111-2"])
        prompt = decision.metadata["messages"][1]["content"][-1]["text"]
        assert "open the app drawer and open Clock" in prompt and "Step 1:" in prompt and "Step 2:" in prompt
        assert "mobile_use" in prompt
        # the same policy also replays a browser bundle
        scores = evaluate_bundle(worker.policy, search_bundle)
        worker.close()
    finally:
        torch.set_num_threads(threads)
    for result in results:
        assert result.status == "scored" and result.worker == 1
        assert set(result.metrics) >= {"type_match", "exact_match", "parse_failure"}
        assert result.fields["gold_type"] in {"press", "click", "type"}
        if result.metrics["parse_failure"]:
            assert result.error and "\n" not in result.error and not result.success
            assert result.fields["predicted_type"] == "none"
    assert any(r.metrics["parse_failure"] for r in results)  # a random model's text is data, not a crash
    assert len(scores) == 5 and all(isinstance(s.exact_match, bool) for s in scores)
    summary = steplevel_summary(results)
    assert summary["steps"] == 3 and 0.0 <= summary["exact_match"] <= summary["type_match"] <= 1.0
