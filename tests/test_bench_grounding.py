"""The offline grounding suite: ScreenSpot-format reading, scoring, metrics, and the synthetic generator.

Generated boxes are checked the way a model's answer would be used: by clicking their centre in a real
Chromium through BrowserEnv and reading back which element the click reached.
"""

from __future__ import annotations

import json
import pickle
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env import StartSpec, Viewport
from pixelpilot.env.browser import BrowserConfig, BrowserEnv
from pixelpilot.tasks.bench.contract import SuiteError, Unit, UnitResult
from pixelpilot.tasks.bench.grounding import GroundingSuite, grounding_summary, load_grounding
from pixelpilot.tasks.bench.synth import make_grounding
from pixelpilot.tools import Click


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def synth_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_grounding(tmp_path_factory.mktemp("synth"), 12, seed=3)


def _png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)


@pytest.fixture
def screenspot_dir(tmp_path: Path) -> Path:
    """A tiny ScreenSpot layout: per-platform JSON lists next to screenspot_imgs/."""
    _png(tmp_path / "screenspot_imgs" / "mobile_a.png", (200, 400))
    _png(tmp_path / "screenspot_imgs" / "web_b.png", (300, 100))
    mobile = [
        {"img_filename": "mobile_a.png", "bbox": [10, 20, 30, 40], "instruction": "open settings",
         "data_type": "icon", "data_source": "android"},
        {"img_filename": "mobile_a.png", "bbox": [0, 360, 200, 40], "instruction": "tap 'Next'",
         "data_type": "text", "data_source": "ios"},
    ]  # fmt: skip
    web = [
        {"img_filename": "web_b.png", "bbox": [100, 10, 50, 20], "instruction": "click 'Pricing'",
         "data_type": "text", "data_source": "shop"},
    ]  # fmt: skip
    (tmp_path / "screenspot_mobile.json").write_text(json.dumps(mobile))
    (tmp_path / "screenspot_web_v2.json").write_text(json.dumps(web))
    return tmp_path


def _result(split: str, hit: bool, **metrics: float) -> UnitResult:
    platform, data_type = split.split("-")
    return UnitResult(
        run_key="k",
        suite="grounding",
        task=f"{split}-x",
        status="scored",
        success=hit,
        metrics={"hit": float(hit), **metrics},
        fields={"split": split, "platform": platform, "data_type": data_type},
    )


# ----------------------------------------------------------------------------------------------- reader
def test_reader_takes_screenspot_layout_and_xywh_boxes(screenspot_dir: Path) -> None:
    samples = load_grounding(screenspot_dir)
    assert [s.id for s in samples] == ["mobile-0000", "mobile-0001", "web-0000"]
    first = samples[0]
    assert first.split == "mobile-icon" and first.source == "android" and first.image_size == (200, 400)
    assert first.bbox == (10, 20, 30, 40)
    # SeeClick's test: x <= px <= x + w, edges included; w and h are sizes, not corners.
    assert first.contains(10, 20) and first.contains(40, 60) and first.contains(25, 40)
    assert not first.contains(40.5, 60) and not first.contains(30, 61) and not first.contains(9.9, 30)
    assert samples[2].split == "web-text" and samples[2].center == (125, 20)


def test_reader_takes_a_single_jsonl_with_platform_fields(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "a.png", (64, 64))
    lines = [
        {"img_filename": "a.png", "bbox": [1, 1, 8, 8], "instruction": "x", "data_type": "icon", "platform": "desktop"},
        {"img_filename": "a.png", "bbox": [0, 0, 64, 64], "instruction": "y", "data_type": "text", "platform": "web"},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    samples = load_grounding(path)
    assert [(s.id, s.split) for s in samples] == [("desktop-0000", "desktop-icon"), ("web-0000", "web-text")]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"bbox": [1, 1, 2, 2], "instruction": "x", "data_type": "text"}, "record 1: missing field(s) img_filename"),
        ({"img_filename": "a.png", "bbox": [50, 10, 20, 5], "instruction": "x", "data_type": "text"},
         "record 1: bbox [x, y, w, h] = [50, 10, 20, 5] lies outside the 64x32 image a.png"),
        ({"img_filename": "a.png", "bbox": [1, 1, 2], "instruction": "x", "data_type": "text"}, "record 1: bbox must"),
        ({"img_filename": "gone.png", "bbox": [1, 1, 2, 2], "instruction": "x", "data_type": "text"},
         "record 1: image not found"),
        ({"img_filename": "a.png", "bbox": [1, 1, 2, 2], "instruction": "x", "data_type": "widget"},
         "record 1: data_type 'widget' is not text or icon"),
    ],
)  # fmt: skip
def test_reader_names_file_and_record_on_bad_input(tmp_path: Path, record: dict[str, Any], message: str) -> None:
    _png(tmp_path / "images" / "a.png", (64, 32))
    good = {"img_filename": "a.png", "bbox": [1, 1, 2, 2], "instruction": "ok", "data_type": "icon"}
    (tmp_path / "screenspot_desktop.json").write_text(json.dumps([good, record]))
    with pytest.raises(SuiteError) as info:
        load_grounding(tmp_path)
    text = str(info.value)
    assert "\n" not in text and text.startswith("screenspot_desktop.json: ") and message in text


def test_reader_refuses_missing_paths_and_unnamed_platforms(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="not found"):
        load_grounding(tmp_path / "nope")
    with pytest.raises(SuiteError, match="no annotation files"):
        load_grounding(tmp_path)
    _png(tmp_path / "images" / "a.png", (10, 10))
    (tmp_path / "odd.json").write_text(json.dumps([{"img_filename": "a.png", "bbox": [0, 0, 5, 5],
                                                     "instruction": "x", "data_type": "icon"}]))  # fmt: skip
    with pytest.raises(SuiteError, match=r"odd.json: record 0: platform None"):
        load_grounding(tmp_path / "odd.json")


# ----------------------------------------------------------------------------------------------- metrics
def test_summary_reports_both_averaging_conventions() -> None:
    # mobile-text 3/4, mobile-icon 0/1, web-icon 1/1 -> sample-weighted 4/6, split-averaged (0.75 + 0 + 1) / 3.
    results = [_result("mobile-text", h) for h in (True, True, True, False)]
    results += [_result("mobile-icon", False, parse_failure=1.0), _result("web-icon", True)]
    summary = grounding_summary(results)
    assert summary["samples"] == 6 and summary["hits"] == 4
    assert summary["sample_weighted_accuracy"] == pytest.approx(4 / 6)
    assert summary["split_averaged_accuracy"] == pytest.approx(1.75 / 3)
    assert list(summary["per_split"]) == ["mobile-text", "mobile-icon", "web-icon"]
    assert summary["per_split"]["mobile-text"] == {"hits": 3, "n": 4, "accuracy": 0.75}
    assert summary["per_platform"]["mobile"] == {"hits": 3, "n": 5, "accuracy": 0.6}
    assert summary["per_platform"]["web"]["accuracy"] == 1.0
    assert summary["parse_failure_rate"] == pytest.approx(1 / 6)


def test_summary_counts_unscored_units_as_misses() -> None:
    crashed = _result("web-text", True).model_copy(update={"status": "crashed"})
    summary = grounding_summary([crashed, _result("web-text", True)])
    assert summary["per_split"]["web-text"]["hits"] == 1 and summary["sample_weighted_accuracy"] == 0.5
    assert grounding_summary([])["sample_weighted_accuracy"] is None


# ----------------------------------------------------------------------------------------------- generator
def test_generated_boxes_are_hit_by_clicking_their_centre(synth_set: Path) -> None:
    card = json.loads((synth_set / "dataset.json").read_text())
    assert card["samples"] == 12 and sum(card["per_split"].values()) == 12
    records = [r for f in sorted(synth_set.glob("synth_*.json")) for r in json.loads(f.read_text())]
    assert len(records) == 12 and {r["platform"] for r in records} == {"mobile", "desktop", "web"}
    assert {r["data_type"] for r in records} == {"text", "icon"}
    by_page: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_page[r["page"]].append(r)
    env = BrowserEnv(BrowserConfig(capture_format="png"))
    try:
        for page, recs in by_page.items():
            first = recs[0]
            width, height = first["viewport"]
            env.reset(
                StartSpec(
                    url=(synth_set / page).as_uri(),
                    viewport=Viewport(width=width, height=height),
                    device_scale_factor=first["device_scale_factor"],
                )
            )
            obs = env.observe()
            with Image.open(synth_set / "images" / first["img_filename"]) as img:
                assert (obs.geometry.width, obs.geometry.height) == img.size
            for r in recs:
                x, y, w, h = r["bbox"]
                assert 0 <= x and 0 <= y and x + w <= obs.geometry.width and y + h <= obs.geometry.height
                env.page.evaluate("window.__ppClicked = undefined")
                result = env.execute(Click(x=x + w / 2, y=y + h / 2), obs.geometry)
                assert result.ok, result.error
                clicked = env.page.evaluate("window.__ppClicked")
                assert clicked == r["target_id"], f"{r['instruction']!r} on {page}: clicked {clicked}"
    finally:
        env.close()


def test_generator_is_deterministic_for_a_seed(synth_set: Path, tmp_path: Path) -> None:
    again = make_grounding(tmp_path, 4, seed=3)  # the first page of the same seed
    first = json.loads((again / "synth_mobile.json").read_text())
    assert len(first) == 4
    assert first == json.loads((synth_set / "synth_mobile.json").read_text())[:4]
    name = first[0]["img_filename"]
    assert (again / "images" / name).read_bytes() == (synth_set / "images" / name).read_bytes()


# ----------------------------------------------------------------------------------------------- suite
def _run_all(suite: GroundingSuite, spec: PolicySpec, out: Path) -> list[UnitResult]:
    units = suite.units(suite.tasks(), seeds=3)
    assert all(isinstance(u, Unit) and u.seed == 0 for u in units)
    worker = suite.open_worker(0, spec)
    try:
        return [worker.run(u, out) for u in units]
    finally:
        worker.close()


def test_oracle_scores_every_sample(
    synth_set: Path, screenspot_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("run")
    for dataset in (synth_set, screenspot_dir):
        suite = pickle.loads(pickle.dumps(GroundingSuite(dataset)))  # suites travel to worker processes
        assert suite.kind == "offline" and suite.name == "grounding"
        results = _run_all(suite, PolicySpec(kind="oracle"), out)
        assert results and all(r.status == "scored" and r.success and r.metrics["hit"] == 1.0 for r in results)
        assert all(r.metrics["parse_failure"] == 0.0 and r.error is None for r in results)
        assert grounding_summary(results)["sample_weighted_accuracy"] == 1.0
    assert {r.fields["split"] for r in results} == {"mobile-icon", "mobile-text", "web-text"}
    assert results[0].fields == {"split": "mobile-icon", "platform": "mobile", "data_type": "icon", "source": "android"}
    assert list(out.iterdir()) == []  # offline units write nothing


def test_limit_takes_samples_across_splits(synth_set: Path) -> None:
    suite = GroundingSuite(synth_set, limit=6)
    splits = [u.payload["sample"]["platform"] + "-" + u.payload["sample"]["data_type"]
              for u in suite.units(suite.tasks(), 1)]  # fmt: skip
    assert len(splits) == 6 and len(set(splits)) == 6
    assert suite.settings()["digest"] == GroundingSuite(synth_set).settings()["digest"]
    with pytest.raises(SuiteError, match="unknown grounding sample"):
        suite.units(["web-9999"], 1)


def test_tiny_qwen_model_is_scored_without_crashing(synth_set: Path, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = PolicySpec(
            kind="qwen", model=str(tiny_qwen_dir), max_pixels=64 * 28 * 28, max_new_tokens=8, max_repairs=0
        )
        results = _run_all(GroundingSuite(synth_set, limit=3), spec, tmp_path)
    finally:
        torch.set_num_threads(threads)
    assert len(results) == 3
    for r in results:
        assert r.status == "scored" and r.metrics["hit"] in (0.0, 1.0)
        assert r.metrics["parse_failure"] in (0.0, 1.0) and (r.error is not None) == (r.metrics["parse_failure"] == 1)
        assert 0 < r.metrics["visual_tokens"] <= 64 and r.metrics["model_ms"] > 0
    assert grounding_summary(results)["parse_failure_rate"] is not None
