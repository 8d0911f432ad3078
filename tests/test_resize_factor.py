"""The resize factor: resolved per model (processor config, model id, --resize-factor, an explicit
dialect), never a silent 28, and the geometry (pixel limits, token counts, grid, the recorded step)
follows it. Property tests run the contract for Qwen2/2.5-VL's 28 and Qwen3-VL's 32."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelpilot.agent import read_bundle
from pixelpilot.agent.policy_spec import PolicySpec, PolicySpecError
from pixelpilot.agent.qwen.dialects import infer_dialect
from pixelpilot.agent.qwen.families import ResizeFactorError, family_for, processor_factor, resolve_resize_factor
from pixelpilot.agent.qwen.resize import ResizeGeometry, smart_resize
from tests.replay_server import ReplayServer
from tests.test_cli import PIXELPILOT, assert_one_line_error

FACTORS = st.sampled_from([28, 32])


@st.composite
def screens(draw: st.DrawFn, max_ratio: float = 4.0) -> tuple[int, int]:
    """Screens people run agents on: phones (20:9) to ultra-wide desktops (32:9), any orientation."""
    short = draw(st.integers(200, 2200))
    long = draw(st.integers(short, min(int(short * max_ratio), 8000)))
    return (long, short) if draw(st.booleans()) else (short, long)


@st.composite
def budgets(draw: st.DrawFn, factor: int) -> tuple[int, int]:
    """(min_pixels, max_pixels) with min >= 16 tokens and max >= 4 * min: limits a user could pass."""
    min_pixels = draw(st.integers(16 * factor * factor, 256 * factor * factor))
    max_pixels = draw(st.integers(4 * min_pixels, 16384 * factor * factor))
    return min_pixels, max_pixels


# ----------------------------------------------------------------------------- geometry per factor
@settings(max_examples=300, deadline=None)
@given(data=st.data(), factor=FACTORS)
def test_resized_sides_are_multiples_of_the_factor_and_the_area_within_the_limits(data: st.DataObject, factor: int):
    width, height = data.draw(screens())
    min_pixels, max_pixels = data.draw(budgets(factor))
    g = ResizeGeometry.for_image(width, height, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)
    assert g.factor == factor and g.patch_size == factor // 2
    assert g.resized_width % factor == 0 and g.resized_height % factor == 0
    assert min_pixels <= g.resized_width * g.resized_height <= max_pixels
    # the aspect ratio survives within one token's rounding per side
    assert abs(g.resized_width / g.resized_height - width / height) <= (width / height) * (2 * factor / 200 + 0.2)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), factor=FACTORS)
def test_tokens_and_grid_follow_the_factor(data: st.DataObject, factor: int) -> None:
    width, height = data.draw(screens(max_ratio=20))
    min_pixels, max_pixels = data.draw(budgets(factor))
    g = ResizeGeometry.for_image(width, height, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)
    assert g.visual_tokens * factor * factor == g.resized_width * g.resized_height
    t, gh, gw = g.image_grid_thw
    assert (t, gh * g.patch_size, gw * g.patch_size) == (1, g.resized_height, g.resized_width)
    assert g.visual_tokens == gh * gw // (g.merge_size * g.merge_size)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), factor=FACTORS)
def test_points_round_trip_within_half_a_model_unit(data: st.DataObject, factor: int) -> None:
    width, height = data.draw(screens())
    min_pixels, max_pixels = data.draw(budgets(factor))
    g = ResizeGeometry.for_image(width, height, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)
    x = data.draw(st.floats(0, width, allow_nan=False))
    y = data.draw(st.floats(0, height, allow_nan=False))
    # absolute (Qwen2.5-VL, UI-TARS-1.5): integers in the resized image
    rx, ry = g.to_resized(x, y)
    bx, by = g.from_resized(round(rx), round(ry))
    assert abs(bx - x) <= 0.5 * width / g.resized_width + 1e-9 and abs(by - y) <= 0.5 * height / g.resized_height + 1e-9
    # relative (Qwen2-VL, Qwen3-VL): integers in 0..1000
    qx, qy = g.to_relative(x, y, 1000)
    bx, by = g.from_relative(round(qx), round(qy), 1000)
    assert abs(bx - x) <= 0.5 * width / 1000 + 1e-9 and abs(by - y) <= 0.5 * height / 1000 + 1e-9


@settings(max_examples=200, deadline=None)
@given(data=st.data(), factor=FACTORS)
def test_smart_resize_matches_transformers_for_each_factor(data: st.DataObject, factor: int) -> None:
    """The processor's own arithmetic (Qwen2-VL's, which Qwen3-VL's processor reuses with patch 16)."""
    tf = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
    width, height = data.draw(screens(max_ratio=20))
    min_pixels, max_pixels = data.draw(budgets(factor))
    want = tf.smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    assert smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels) == tuple(want)


def test_the_same_screen_differs_between_28_and_32() -> None:
    """The drift a wrong factor causes: a Qwen3-VL's (1280x720 -> 1280x704) vs Qwen2.5-VL's (1288x728)."""
    g28 = ResizeGeometry.for_image(1280, 720, factor=28)
    g32 = ResizeGeometry.for_image(1280, 720, factor=32)
    assert (g28.resized_width, g28.resized_height, g28.visual_tokens) == (1288, 728, 46 * 26)
    assert (g32.resized_width, g32.resized_height, g32.visual_tokens) == (1280, 704, 40 * 22)
    assert g32.image_grid_thw == (1, 44, 80)
    assert math.isclose(g32.from_resized(640, 700)[1], 700 * 720 / 704)
    with pytest.raises(ValueError, match="not a multiple of the merge size"):
        ResizeGeometry.for_image(1280, 720, factor=27)


# ----------------------------------------------------------------------------- where the factor comes from
def _folder(tmp_path: Path, name: str, files: dict[str, object]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, content in files.items():
        (folder / file).write_text(content if isinstance(content, str) else json.dumps(content))
    return folder


def test_the_factor_comes_from_a_folders_processor_config(tmp_path: Path) -> None:
    qwen3 = _folder(tmp_path, "ckpt-a", {"preprocessor_config.json": {"patch_size": 16, "merge_size": 2}})
    nested = _folder(tmp_path, "ckpt-b", {"processor_config.json": {"image_processor": {"patch_size": 14}}})
    vision = _folder(
        tmp_path, "ckpt-c", {"config.json": {"vision_config": {"patch_size": 16, "spatial_merge_size": 2}}}
    )
    assert resolve_resize_factor(str(qwen3)).factor == 32
    assert resolve_resize_factor(str(nested)).factor == 28  # merge size defaults to 2, as in transformers
    assert resolve_resize_factor(str(vision)).factor == 32
    # the folder beats its name and an explicit dialect; --resize-factor beats the folder
    named = _folder(tmp_path, "Qwen2.5-VL-finetune", {"preprocessor_config.json": {"patch_size": 16}})
    assert resolve_resize_factor(str(named), dialect="qwen2.5-vl").factor == 32
    assert resolve_resize_factor(str(named), explicit=32).source == "--resize-factor"
    with pytest.raises(ResizeFactorError, match="--resize-factor 28 disagrees with the model's processor config, 32"):
        resolve_resize_factor(str(named), explicit=28)  # a local processor resizes by its own config regardless
    # a served model's factor is the server's business: --resize-factor is taken as given
    assert resolve_resize_factor(str(named), explicit=28, local=False).factor == 28


def test_a_broken_processor_config_is_one_line(tmp_path: Path) -> None:
    bad = _folder(tmp_path, "bad", {"preprocessor_config.json": "{not json"})
    with pytest.raises(ResizeFactorError, match=r"cannot read .*preprocessor_config\.json"):
        resolve_resize_factor(str(bad))
    odd = _folder(tmp_path, "odd", {"preprocessor_config.json": {"patch_size": "16", "merge_size": 2}})
    with pytest.raises(ResizeFactorError, match="must be positive integers"):
        processor_factor(odd)


@pytest.mark.parametrize(
    ("model_id", "factor", "dialect"),
    [
        ("Qwen/Qwen3-VL-8B-Instruct", 32, "qwen3-vl"),
        ("Qwen/Qwen3-VL-30B-A3B-Instruct", 32, "qwen3-vl"),
        ("qwen3_vl_2b_thinking", 32, "qwen3-vl"),
        ("Qwen/Qwen2.5-VL-7B-Instruct", 28, "qwen2.5-vl"),
        ("Qwen/Qwen2-VL-2B-Instruct", 28, "qwen2-vl"),
        ("ByteDance-Seed/UI-TARS-1.5-7B", 28, "ui-tars-1.5"),
        ("bytedance-research/UI-TARS-7B-DPO", 28, "qwen2-vl"),
        ("showlab/ShowUI-2B", 28, "showui"),
    ],
)
def test_the_factor_and_family_come_from_a_model_id(model_id: str, factor: int, dialect: str) -> None:
    assert resolve_resize_factor(model_id, local=False).factor == factor
    family = family_for(model_id)
    assert family is not None and family.dialect == dialect


def test_nothing_knows_the_factor_of_an_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ResizeFactorError, match=r"--resize-factor 28 .* or 32"):
        resolve_resize_factor("my-served-model", local=False)
    # an explicitly chosen dialect implies its family's factor; an inferred one implies nothing
    assert resolve_resize_factor("my-served-model", dialect="qwen2.5-vl", local=False).factor == 28
    assert infer_dialect("my-served-model") == "qwen2.5-vl"
    with pytest.raises(PolicySpecError, match="cannot tell the resize factor"):
        PolicySpec(model="my-served-model", endpoint="http://127.0.0.1:9/v1").resolved_resize_factor()
    # a served model's name is never read as a path on this machine
    folder = _folder(tmp_path, "served-name", {"preprocessor_config.json": {"patch_size": 16}})
    with pytest.raises(ResizeFactorError):
        resolve_resize_factor(str(folder), local=False)
    for odd_or_absurd in (31, 0, 4096):
        with pytest.raises(ResizeFactorError, match="even number of pixels up to 256"):
            resolve_resize_factor("Qwen/Qwen3-VL-8B-Instruct", explicit=odd_or_absurd)


def test_a_saved_tiny_qwen2vl_folder_says_28(tiny_qwen_dir: Path) -> None:
    """A folder transformers itself wrote: the factor is read from its real processor config."""
    choice = resolve_resize_factor(str(tiny_qwen_dir))
    assert choice.factor == 28 and "14x2" in choice.source
    assert PolicySpec(model=str(tiny_qwen_dir)).resolved_resize_factor() == 28


# ----------------------------------------------------------------------------- through the CLI, into the bundle
TERMINATE = json.dumps({"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}})
TERMINATE = f"<tool_call>\n{TERMINATE}\n</tool_call>"


def _task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "go.html").write_text("<html><body><button>Go</button></body></html>")
    path = folder / "go.yaml"
    path.write_text(
        "id: go\ninstruction: press Go\nstart:\n  url: go.html\n  viewport: {width: 200, height: 100}\n"
        'success: {type: js, expression: "true"}\n'
    )
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def test_cli_refuses_a_served_model_whose_factor_nothing_knows(tmp_path: Path) -> None:
    with ReplayServer(model="mystery-vlm") as server:
        proc = _run("run", _task(tmp_path / "t"), "--endpoint", server.url, "--model", server.model, "--out", tmp_path)
        assert not server.requests  # refused before any screenshot was sent
    assert_one_line_error(proc, "cannot tell the resize factor of model 'mystery-vlm'")
    assert "--resize-factor" in proc.stderr


def test_bench_refuses_in_the_parent_before_any_worker_starts(tmp_path: Path) -> None:
    proc = _run(
        "bench", "grounding", "--endpoint", "http://127.0.0.1:9/v1", "--model", "mystery-vlm", "--out", tmp_path
    )
    assert_one_line_error(proc, "cannot tell the resize factor of model 'mystery-vlm'")
    assert not any(tmp_path.iterdir())  # no run folder, no worker
    proc = _run("bench", "grounding", "--model", "Qwen/Qwen3-VL-2B", "--resize-factor", "31", "--out", tmp_path)
    assert_one_line_error(proc, "--resize-factor must be an even number of pixels")


def test_cli_resize_factor_reaches_the_recorded_geometry(tmp_path: Path) -> None:
    with ReplayServer(model="mystery-vlm") as server:
        server.script(TERMINATE)
        proc = _run(
            "run", _task(tmp_path / "t"), "--endpoint", server.url, "--model", server.model,
            "--resize-factor", "32", "--out", tmp_path / "runs",
        )  # fmt: skip
        sent = server.requests[0]
    assert proc.returncode == 0, proc.stderr + proc.stdout
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    _, steps = read_bundle(bundle)
    meta = steps[0].policy
    # 200x100 at factor 32 is 192x96 (at 28 it would be 196x112)
    assert meta["geometry"]["factor"] == 32
    assert (meta["geometry"]["resized_width"], meta["geometry"]["resized_height"]) == (192, 96)
    assert meta["image_grid_thw"] == [1, 6, 12] and meta["visual_tokens"] == 6 * 3
    assert "192x96" in sent["messages"][0]["content"][0]["text"]  # the prompt states the size the model sees
