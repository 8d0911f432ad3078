"""`pixelpilot dataset build`: real bundles (MiniWoB oracle runs, a debugger-corrected episode) into
training sets in every dialect, whose targets decode back to the executed actions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy
from pixelpilot.agent.episode import seeded_task
from pixelpilot.agent.hooks import AgentHooks, Replace, StepContext
from pixelpilot.agent.qwen.dialects import DIALECTS, get_dialect
from pixelpilot.agent.qwen.prompt import PromptConfig, geometry_for
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.agent.train.dataset import decode_check, unit_px
from pixelpilot.agent.train.format import data_files, read_info
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import EXAMPLES_DIR, Task
from pixelpilot.tasks.bench.phone_oracle import goal_for_id
from pixelpilot.tasks.bench.phone_templates import UnknownTemplate
from pixelpilot.tools import REGISTRY
from tests.test_bench_runner import bench
from tests.test_cli import assert_one_line_error, cli

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "run"
    args = ["--tasks", "click-test", "--tasks", "enter-text", "--tasks", "click-checkboxes", "--tasks", "click-tab"]
    proc = bench("miniwob", "--policy", "oracle", *args, "--seeds", "2", "--workers", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def rows_of(folder: Path) -> list[dict]:
    table = datasets.concatenate_datasets([datasets.Dataset.from_parquet(str(f)) for f in data_files(folder)])
    return list(table)


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_targets_decode_back_to_the_executed_actions(demos: Path, dialect: str, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = cli("dataset", "build", demos, "--dialect", dialect, "--out", out, "--max-pixels", str(256 * 28 * 28))
    assert proc.returncode == 0, proc.stderr
    info = read_info(out)
    assert info.dialect == dialect and info.max_pixels == 256 * 28 * 28 and info.episodes == 8
    assert set(info.tasks) == {"click-test", "enter-text", "click-checkboxes", "click-tab"}
    assert (out / "README.md").read_text().startswith("# pixelpilot training set")
    rows = rows_of(out)
    assert len(rows) == info.rows and len({r["id"] for r in rows}) == len(rows)
    d = get_dialect(dialect)
    # the rows are resized as the dialect's model family resizes: 32 for Qwen3-VL, else 28
    assert info.resize_factor == (32 if dialect == "qwen3-vl" else 28)
    prompt = PromptConfig(max_pixels=256 * 28 * 28, resize_factor=info.resize_factor)
    for row in rows:
        g = geometry_for(row["width"], row["height"], prompt)
        assert (g.resized_width, g.resized_height) == (row["resized_width"], row["resized_height"])
        decoded = REGISTRY.validate(d.parse(row["target"], g, row["env"]).action).model_dump(mode="json")
        assert decoded == json.loads(row["action"])  # exactly what the row says the target means
        executed = json.loads(row["executed"])
        ux, uy = unit_px(d, g)
        for key, value in executed.items():
            if key in ("x", "start_x", "end_x"):
                assert abs(decoded[key] - value) <= ux / 2 + 1e-6
            elif key in ("y", "start_y", "end_y"):
                assert abs(decoded[key] - value) <= uy / 2 + 1e-6
            else:
                assert decoded[key] == value
        messages = json.loads(row["messages"])
        assert [m["role"] for m in messages] == ["system", "user"]
        assert len(row["images"]) == 1 and row["images"][0].size == (row["width"], row["height"])
    # the history in the prompt is the earlier steps in the dialect's own notation
    later = next(r for r in rows if r["task"] == "enter-text" and r["step"] == 3)
    user_text = json.loads(later["messages"])[1]["content"][-1]["text"]
    assert "Step 1:" in user_text and "Step 2:" in user_text and "The user query: Enter" in user_text


@settings(max_examples=300, deadline=None)
@given(
    w=st.integers(28, 4000),
    h=st.integers(28, 4000),
    fx=st.floats(0, 1, exclude_max=True),
    fy=st.floats(0, 1, exclude_max=True),
    dialect=st.sampled_from(list(DIALECTS)),
    env=st.sampled_from(["browser", "android"]),
    integral=st.booleans(),
)
def test_any_click_target_decodes_within_half_a_model_unit(
    w: int, h: int, fx: float, fy: float, dialect: str, env: str, integral: bool
) -> None:
    g = ResizeGeometry.for_image(w, h, min_pixels=56 * 56, max_pixels=1280 * 28 * 28)
    x, y = fx * (w - 1), fy * (h - 1)
    if integral:
        x, y = float(round(x)), float(round(y))
    action = REGISTRY.validate({"action": "click", "x": x, "y": y})
    d = get_dialect(dialect)
    decoded = decode_check(d, d.encode(action, g, env), g, env, action)  # raises if off by more
    if (w, h) == (g.resized_width, g.resized_height) and dialect == "qwen2.5-vl" and integral:
        assert (decoded["x"], decoded["y"]) == (x, y)  # identity resize: exact


def _encoded(d: object, action: object, g: ResizeGeometry) -> str | None:
    """The dialect's target for ``action`` on the phone, or None where it has no words for the action."""
    try:
        return d.encode(action, g, "android")  # type: ignore[attr-defined]
    except ValueError as exc:
        assert "express" in str(exc)
        return None


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_a_finish_note_or_scroll_distance_the_dialect_cannot_write_still_makes_a_row(dialect: str) -> None:
    """A phone demonstration ends with finish(message=...) and scrolls a list by its own distance; dialects
    without words for those still learn the step, with the dialect's own value in the row."""
    d = get_dialect(dialect)
    g = ResizeGeometry.for_image(1080, 2340, min_pixels=3136, max_pixels=134_064)
    finish = REGISTRY.validate({"action": "finish", "status": "success", "message": "note saved"})
    failed = REGISTRY.validate({"action": "finish", "status": "failure", "message": "note saved"})
    # at the screen's centre, where dialects without a scroll position (showui) scroll too
    scroll = REGISTRY.validate({"action": "scroll", "x": 540, "y": 1170, "direction": "down", "amount": 1076})
    other = REGISTRY.validate({**scroll.model_dump(mode="json"), "amount": 300})
    typed = REGISTRY.validate({"action": "type", "text": "hi", "press_enter": True})
    plain = REGISTRY.validate({"action": "type", "text": "hi"})
    checked = 0
    if (target := _encoded(d, finish, g)) is not None:
        decoded = decode_check(d, target, g, "android", finish)
        assert decoded["action"] == "finish" and decoded["status"] == "success"
        checked += 1
        if (wrong := _encoded(d, failed, g)) is not None:  # the status is what the step does: refused
            with pytest.raises(ValueError, match="status"):
                decode_check(d, wrong, g, "android", finish)
    if (target := _encoded(d, scroll, g)) is not None:
        assert decode_check(d, target, g, "android", scroll)["direction"] == "down"
        checked += 1
        # a dialect that writes the distance must decode it: a target carrying another one is refused
        if (wrong := _encoded(d, other, g)) not in (None, target):
            with pytest.raises(ValueError, match="amount decodes"):
                decode_check(d, wrong, g, "android", scroll)
    # a dropped Enter after typing changes what the step does: still refused
    if (wrong := _encoded(d, plain, g)) is not None and wrong != _encoded(d, typed, g):
        with pytest.raises(ValueError, match="press_enter"):
            decode_check(d, wrong, g, "android", typed)
    assert checked, "the dialect writes neither a finish nor a scroll on the phone"


class _Fix(AgentHooks):
    def before_execute(self, ctx: StepContext, action: object) -> object:
        if ctx.index == 2:
            return Replace(REGISTRY.validate({"action": "type", "text": "alice"}), note="typo fixed")
        return None


def test_filters_interventions_and_duplicates(browser: BrowserEnv, tmp_path: Path) -> None:
    task = Task.from_file(EXAMPLES_DIR / "login.yaml")
    good = [
        {"action": "click", "x": 640, "y": 270},
        {"action": "type", "text": "alicx"},  # corrected by the hook to "alice"
        {"action": "click", "x": 640, "y": 352},
        {"action": "type", "text": "hunter2"},  # a secret: masked, never an example
        {"action": "click", "x": 640, "y": 455},
        {"action": "finish", "status": "success"},
    ]
    agent = Agent(browser, ScriptedPolicy(good), AgentConfig(out_dir=tmp_path / "b", write_report=False))
    agent.hooks.append(_Fix())
    ok = agent.run(task.to_spec())
    assert ok.success
    bad = Agent(
        browser,
        ScriptedPolicy([{"action": "click", "x": 5, "y": 5}, {"action": "finish", "status": "failure"}]),
        AgentConfig(out_dir=tmp_path / "b", write_report=False),
    ).run(task.to_spec())
    assert not bad.success
    shutil.copytree(ok.bundle, tmp_path / "copy" / ok.bundle.name)  # the same episode twice

    out = tmp_path / "ds"
    proc = cli("dataset", "build", tmp_path / "b", tmp_path / "copy", "--dialect", "qwen2-vl", "--out", out)
    assert proc.returncode == 0, proc.stderr
    info = read_info(out)
    rows = rows_of(out)
    assert (
        info.episodes == 1 and info.skipped["unsuccessful episode"] == 1 and info.skipped["masked secret"] == 2
    )  # one per copy
    assert info.skipped["duplicate"] == len(rows)  # every row of the copy
    typed = next(r for r in rows if json.loads(r["executed"])["action"] == "type")
    assert typed["intervened"] and json.loads(typed["executed"])["text"] == "alice" and "alice" in typed["target"]
    assert [json.loads(r["executed"])["action"] for r in rows] == ["click", "type", "click", "click", "finish"]

    proc = cli("dataset", "build", tmp_path / "b", "--dialect", "qwen2-vl", "--out", out, "--include-failures")
    assert proc.returncode == 0 and read_info(out).episodes == 2


def test_bad_dataset_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("dataset", "build", tmp_path / "empty", "--dialect", "qwen2-vl", "--out", tmp_path / "o"),
                          "no episode bundles")  # fmt: skip
    assert_one_line_error(cli("dataset", "build", tmp_path / "nope", "--dialect", "qwen2-vl", "--out", tmp_path / "o"),
                          "no such file")  # fmt: skip
    assert_one_line_error(cli("dataset", "build", tmp_path, "--dialect", "klingon", "--out", tmp_path / "o"),
                          "unknown dialect")  # fmt: skip


def test_task_average_baseline_and_blank_screenshot_ablation(demos: Path, tmp_path: Path) -> None:
    from pixelpilot.agent.baselines import BlankScreen, TaskAverage
    from pixelpilot.agent.episode import EpisodeSpec
    from pixelpilot.agent.policy import Decision, Policy
    from pixelpilot.env import Observation, ScreenGeometry, StartSpec

    data = tmp_path / "ds"
    assert cli("dataset", "build", demos, "--dialect", "qwen2-vl", "--out", data).returncode == 0
    baseline = TaskAverage.from_dataset(data)
    rows = [r for r in rows_of(data) if r["task"] == "click-test"]
    want_x = sum(json.loads(r["executed"])["x"] / r["width"] for r in rows) / len(rows)
    assert baseline.means["click-test"][0] == pytest.approx(want_x)
    baseline.reset(EpisodeSpec(id="click-test", instruction="x", start=StartSpec(url="about:blank")))
    g = ScreenGeometry(width=320, height=420, device_scale_factor=2, viewport_width=160, viewport_height=210)
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 420), (255, 0, 0)).save(buf, format="JPEG")
    obs = Observation(screenshot=buf.getvalue(), image_format="jpeg", geometry=g)
    assert baseline.decide("x", obs, []).action == {"action": "click", "x": round(want_x * 320), "y": pytest.approx(
        round(baseline.means["click-test"][1] * 420))}  # fmt: skip
    # a seeded task id (the phone's TEMPLATE.SEED) falls back to its template's average: held-out seeds
    # are ids no training row has
    seeded = TaskAverage({"add_contact": (0.5, 0.25), "add_contact.300000": (0.9, 0.9)})
    seeded.reset(EpisodeSpec(id="add_contact.320000", instruction="x", start=StartSpec(url="about:blank")))
    assert seeded.decide("x", obs, []).action == {"action": "click", "x": 160, "y": 105}
    seeded.reset(EpisodeSpec(id="open_app.320000", instruction="x", start=StartSpec(url="about:blank")))
    assert seeded.decide("x", obs, []).action is None
    # the one reading of such ids, shared with the phone suite's oracle
    assert seeded_task("add_contact.320000") == ("add_contact", 320000) and seeded_task("v1.2.3") == ("v1.2", 3)
    assert seeded_task("click-test") is None and seeded_task("a.b") is None and seeded_task(".5") is None
    with pytest.raises(UnknownTemplate, match="not a phone-suite episode id"):
        goal_for_id("add_contact")

    class Looker(Policy):
        def __init__(self) -> None:
            self.seen: list[tuple[int, int, int]] = []

        def decide(self, instruction: str, observation: Observation, history: list) -> Decision:
            self.seen.append(observation.image.getpixel((10, 10)))
            assert observation.image.size == (320, 420)
            return Decision(action={"action": "wait", "seconds": 0})

    looker = Looker()
    BlankScreen(looker).decide("x", obs, [])
    looker.decide("x", obs, [])
    grey, red = looker.seen
    assert abs(grey[0] - 128) < 4 and grey[0] == grey[1] == grey[2] and red[0] > 200 and red[1] < 40
