"""A model folder's pixel budget per env kind (pixelpilot.json ``inputs``) is what the policy applies.

The shipped default model (real weights, the local backend) is copied into a folder whose pixelpilot.json
records a small budget for the browser and a larger one for the phone; a real decision on a MiniWoB-sized
screenshot and one on a 1080x2340 phone screenshot must each be resized with its own env kind's budget
(the step's recorded geometry and the image grid the model was fed say so). A folder in the older
single-budget format keeps one budget for every env kind; an explicit --max-pixels wins everywhere; a bad
entry is refused with one line.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.policy_spec import DEFAULT_MODEL_DIR, PolicySpec, PolicySpecError
from pixelpilot.agent.qwen.resize import smart_resize
from pixelpilot.env import Observation, ScreenGeometry, StartSpec
from tests.test_cli import assert_one_line_error, cli

BROWSER = {"min_pixels": 3136, "max_pixels": 43_307}
PHONE = {"min_pixels": 3136, "max_pixels": 134_064}


def _folder(tmp_path: Path, **changes: object) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    meta = json.loads((folder / "pixelpilot.json").read_text())
    meta.pop("inputs", None)
    meta |= changes
    (folder / "pixelpilot.json").write_text(json.dumps(meta))
    return folder


def _screen(width: int, height: int) -> Observation:
    image = Image.new("RGB", (width, height), (240, 240, 240))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    geometry = ScreenGeometry(width=width, height=height, viewport_width=width, viewport_height=height)
    return Observation(screenshot=buf.getvalue(), image_format="png", geometry=geometry)


def _seen(policy, env: str, width: int, height: int) -> dict:  # type: ignore[no-untyped-def]
    """The geometry one real decision on a ``width`` x ``height`` screen of ``env`` was made at."""
    policy.reset(EpisodeSpec(id="t", instruction="Click the button.", env=env, start=StartSpec()))
    decision = policy.decide("Click the button.", _screen(width, height), [])
    return decision.metadata["geometry"] | {"grid": decision.metadata["image_grid_thw"]}


def _expected(width: int, height: int, budget: dict[str, int]) -> tuple[int, int]:
    h, w = smart_resize(height, width, min_pixels=budget["min_pixels"], max_pixels=budget["max_pixels"])
    return w, h


def test_each_env_kind_is_seen_at_the_budget_recorded_for_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "per-env", inputs={"browser": BROWSER, "android": PHONE})
    single = PolicySpec(model=str(_folder(tmp_path / "single")), device="cpu")
    assert single.resolved().env_inputs is None
    policies = [PolicySpec(model=str(folder), device="cpu").build(), single.build()]
    try:
        browser = _seen(policies[0], "browser", 160, 210)
        phone = _seen(policies[0], "android", 1080, 2340)
        phone_single = _seen(policies[1], "android", 1080, 2340)
    finally:
        for policy in policies:
            policy.close()
    # the older single-budget format stays readable: one budget for every env kind
    assert (phone_single["resized_width"], phone_single["resized_height"]) == _expected(1080, 2340, BROWSER)
    assert (browser["resized_width"], browser["resized_height"]) == _expected(160, 210, BROWSER) == (168, 224)
    assert browser["max_pixels"] == BROWSER["max_pixels"]
    assert (phone["resized_width"], phone["resized_height"]) == _expected(1080, 2340, PHONE)
    assert phone["max_pixels"] == PHONE["max_pixels"]
    # the phone's image really is bigger in the model's input: more patches than the single budget gives
    assert phone["grid"][1] * phone["grid"][2] > phone_single["grid"][1] * phone_single["grid"][2]


def test_an_explicit_budget_wins_over_every_env_kind(tmp_path: Path) -> None:
    folder = _folder(tmp_path, inputs={"browser": BROWSER, "android": PHONE})
    spec = PolicySpec(model=str(folder), device="cpu", max_pixels=20_000)
    assert spec.resolved().env_inputs is None
    policy = spec.build()
    try:
        phone = _seen(policy, "android", 1080, 2340)
    finally:
        policy.close()
    assert phone["max_pixels"] == 20_000


def test_the_budgets_are_part_of_the_run_identity(tmp_path: Path) -> None:
    """Two folders that differ only in the phone's budget never share a bench run key."""
    a = PolicySpec(model=str(_folder(tmp_path / "a", inputs={"android": PHONE}))).run_identity()
    b = PolicySpec(model=str(_folder(tmp_path / "b", inputs={"android": BROWSER}))).run_identity()
    assert a["env_inputs"] != b["env_inputs"]


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"Android": PHONE}, "inputs.Android"),  # a typo of a kind's name, not another kind
        ({"android": {"min_pixels": 200_000, "max_pixels": 134_064}}, "exceeds max_pixels"),
        ({"android": {**PHONE, "zoom": 2}}, "unknown setting 'inputs.android.zoom'"),
        ({"android": {"min_pixels": 3136, "max_pixels": 10}}, "inputs.android.max_pixels"),
    ],
)
def test_a_bad_entry_is_refused_with_one_line(tmp_path: Path, inputs: dict, fragment: str) -> None:
    folder = _folder(tmp_path, inputs=inputs)
    with pytest.raises(PolicySpecError, match=r"pixelpilot\.json") as error:
        PolicySpec(model=str(folder)).resolved()
    assert fragment in str(error.value) and "\n" not in str(error.value)
    from pixelpilot.tasks import EXAMPLES_DIR

    proc = cli("run", EXAMPLES_DIR / "login.yaml", "--model", folder, "--out", tmp_path / "runs")
    assert_one_line_error(proc, fragment)
