"""Zoom-in grounding: the crop's geometry composes with the resize geometry inside the coordinate contract.

Exact without a capable model: the property tests run every dialect's codec through random screens,
crops and budgets; the oracle tests drive the real QwenPolicy and ZoomPolicy with a backend that
looks at the image it is sent (the screenshot, then the crop) and points at the red target there,
adding seeded noise in the overview, so what comes back is what the geometry says it must be. A
served endpoint (a replaying HTTP server) and the shipped default model run both passes for real.
"""

from __future__ import annotations

import base64
import io
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pixelpilot.agent.episode import read_bundle
from pixelpilot.agent.policy_spec import PolicySpec, PolicySpecError
from pixelpilot.agent.qwen.backends.base import Backend, ModelRequest, ModelResponse
from pixelpilot.agent.qwen.backends.served import ServedBackend
from pixelpilot.agent.qwen.dialects import DIALECTS, get_dialect
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.prompt import PromptConfig, geometry_for
from pixelpilot.agent.qwen.zoom import (
    Crop,
    ZoomConfig,
    ZoomPolicy,
    crop_observation,
    overview_prompt,
    plan_crop,
    zoom_lines,
    zoom_prompt,
    zoom_svg,
)
from pixelpilot.env import Observation, ScreenGeometry
from pixelpilot.tools import Click, DoubleClick, Type
from tests.replay_server import ReplayServer
from tests.test_cli import PIXELPILOT

#: the factors the prompt settings can carry (Qwen3-VL's 32 where the resize factor is a setting)
FACTORS = [28, 32] if "resize_factor" in PromptConfig.model_fields else [28]
LOW = 256 * 28 * 28
RED = (255, 0, 0)


def prompt_config(factor: int, **kw: Any) -> PromptConfig:
    return PromptConfig(**kw, **({"resize_factor": factor} if factor != 28 else {}))


def quantum_px(dialect_name: str, geometry: Any, axis: int) -> float:
    """How far apart two neighbouring numbers the model can write are, in screenshot px of ``geometry``."""
    space = get_dialect(dialect_name).point_space
    size = space.size(geometry)[axis]
    extent = (geometry.width, geometry.height)[axis]
    return extent / size * 10**-space.decimals


# ----------------------------------------------------------------------------------------------- properties
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(200, 5120),
    height=st.integers(200, 2880),
    side=st.integers(56, 1400),
    factor=st.sampled_from(FACTORS),
    dialect=st.sampled_from(sorted(DIALECTS)),
    env=st.sampled_from(["browser", "android"]),
    tx=st.floats(0, 1),
    ty=st.floats(0, 1),
    nx=st.floats(-0.25, 0.25),
    ny=st.floats(-0.25, 0.25),
    budget=st.integers(784, 4000 * 4000),
)
def test_a_point_in_the_crop_maps_back_to_its_screenshot_pixel(
    width: int, height: int, side: int, factor: int, dialect: str, env: str,
    tx: float, ty: float, nx: float, ny: float, budget: int,
) -> None:  # fmt: skip
    target = (round(tx * (width - 1)), round(ty * (height - 1)))
    # an overview point off by up to a quarter of the crop: the crop still holds the target
    first = (min(max(target[0] + nx * side, 0), width), min(max(target[1] + ny * side, 0), height))
    crop = plan_crop(first, width, height, side, factor)
    assert 0 <= crop.x and crop.x + crop.width <= width and 0 <= crop.y and crop.y + crop.height <= height
    assert crop.width == min(max(factor, side // factor * factor), width)
    assert crop.contains(*target)
    full = prompt_config(factor, max_pixels=max(budget, factor * factor), min_pixels=784)
    geometry = geometry_for(crop.width, crop.height, zoom_prompt(full, crop))
    if crop.width % factor == 0 and crop.height % factor == 0:  # seen at native resolution, exactly
        assert (geometry.resized_width, geometry.resized_height) == (crop.width, crop.height)
        assert geometry.visual_tokens == crop.width * crop.height // factor**2
    # what the model writes for the target, in the crop's own space, decodes to the target's screenshot pixel
    d = get_dialect(dialect)
    text = d.encode(Click(x=target[0] - crop.x, y=target[1] - crop.y), geometry, env)
    point = crop.to_screen(*d.parse(text, geometry, env).action.points()[0])
    assert abs(point[0] - target[0]) <= quantum_px(dialect, geometry, 0) / 2 + 1e-6
    assert abs(point[1] - target[1]) <= quantum_px(dialect, geometry, 1) / 2 + 1e-6
    # the overview sees the whole screen at no more than the low budget
    overview = geometry_for(width, height, overview_prompt(full, ZoomConfig(first_max_pixels=LOW)))
    whole = geometry_for(width, height, full)
    assert overview.max_pixels == min(LOW, full.max_pixels)
    assert overview.resized_width * overview.resized_height <= whole.resized_width * whole.resized_height


def test_the_crop_keeps_inside_the_screen_and_never_exceeds_it() -> None:
    assert plan_crop((5, 5), 2560, 1440, 672) == Crop(0, 0, 672, 672)
    assert plan_crop((2559, 1439), 2560, 1440, 672) == Crop(1888, 768, 672, 672)
    assert plan_crop((100, 100), 320, 420, 672) == Crop(0, 0, 320, 420)  # a small screen: the whole of it
    assert plan_crop((1280, 720), 2560, 1440, 690) == Crop(944, 384, 672, 672)  # rounded down to the factor
    assert plan_crop((1280, 720), 2560, 1440, 700) == Crop(930, 370, 700, 700)  # 25 x 28
    assert plan_crop((1280, 720), 2560, 1440, 700, 32) == Crop(944, 384, 672, 672)  # 21 x 32


# ----------------------------------------------------------------------------------------------- the oracle
def red_box_centre(image: Image.Image) -> tuple[float, float] | None:
    """The centre of the pure-red pixels of ``image`` (its own px), or None when it shows none."""
    rgb = np.asarray(image.convert("RGB")).astype(int)  # a JPEG capture's red is near, not exactly, pure
    ys, xs = np.nonzero((rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60))
    if xs.size == 0:
        return None
    return (int(xs.min()) + int(xs.max()) + 1) / 2, (int(ys.min()) + int(ys.max()) + 1) / 2


class LookingOracle(Backend):
    """Answers what a perfect grounder would on the image it is sent: the red target's centre, encoded
    by the dialect in that request's geometry. On the full screenshot (the overview) it is off by seeded
    noise, as a low-budget look is; on the crop it is exact. No red in the image: it says so in words."""

    name = "looking-oracle"

    def __init__(self, dialect: str, screen: tuple[int, int], noise_px: float, seed: int, *, verb: str = "click"):
        self.dialect = get_dialect(dialect)
        self.screen, self.noise_px, self.rng, self.verb = screen, noise_px, random.Random(seed), verb
        self.requests: list[ModelRequest] = []

    def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        image = request.images[-1]
        g = image.geometry
        tokens = sum(im.geometry.visual_tokens for im in request.images)
        if self.verb == "type":
            return ModelResponse(text=self.dialect.encode(Type(text="hello"), g, "browser"), visual_tokens=tokens)
        centre = red_box_centre(image.observation.image)
        if centre is None:
            return ModelResponse(text="I see no target here.", visual_tokens=tokens, finish_reason="stop")
        x, y = centre
        if (g.width, g.height) == self.screen:
            x = min(max(x + self.rng.uniform(-self.noise_px, self.noise_px), 0), g.width - 1)
            y = min(max(y + self.rng.uniform(-self.noise_px, self.noise_px), 0), g.height - 1)
        action = DoubleClick(x=x, y=y) if self.verb == "double_click" else Click(x=x, y=y)
        return ModelResponse(text=self.dialect.encode(action, g, "browser"), visual_tokens=tokens, finish_reason="stop")


def screen_with_target(width: int, height: int, box: tuple[int, int, int, int]) -> Observation:
    image = Image.new("RGB", (width, height), (240, 240, 244))
    x, y, w, h = box
    image.paste(RED, (x, y, x + w, y + h))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    geometry = ScreenGeometry(width=width, height=height, viewport_width=width, viewport_height=height)
    return Observation(screenshot=buf.getvalue(), image_format="png", geometry=geometry)


def zoom_policy(backend: Backend, dialect: str, *, max_pixels: int = 1280 * 28 * 28, crop: int = 672) -> ZoomPolicy:
    config = QwenPolicyConfig(prompt=PromptConfig(max_pixels=max_pixels), max_repairs=0)
    return ZoomPolicy(QwenPolicy(backend, dialect, config), ZoomConfig(first_max_pixels=LOW, crop=crop))


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize(("width", "height"), [(2560, 1440), (3840, 2160)])
def test_oracle_zoom_lands_on_small_targets_and_records_both_passes(dialect: str, width: int, height: int) -> None:
    rng = random.Random(f"{dialect}:{width}")
    noise = 120.0  # the overview's error, screenshot px: ten times the target's size
    for sample in range(6):
        box = (rng.randrange(0, width - 12), rng.randrange(0, height - 12), 12, 12)
        backend = LookingOracle(dialect, (width, height), noise, seed=sample)
        decision = zoom_policy(backend, dialect).decide(
            "click the red square", screen_with_target(width, height, box), []
        )
        zoom = decision.metadata["zoom"]
        crop = Crop(**zoom["crop"])
        x, y, w, h = box
        assert crop.contains(x, y) and crop.contains(x + w, y + h)  # the crop holds the whole target
        assert crop.contains(*zoom["first_point"])
        # the refined point is the target's centre, up to one step of the dialect's numbers in the crop
        cx, cy = x + w / 2, y + h / 2
        px, py = decision.action.points()[0]
        crop_geometry = geometry_for(crop.width, crop.height, PromptConfig(min_pixels=784, max_pixels=crop.width**2))
        assert abs(px - cx) <= quantum_px(dialect, crop_geometry, 0) / 2 + 0.5
        assert abs(py - cy) <= quantum_px(dialect, crop_geometry, 1) / 2 + 0.5
        assert [px, py] == zoom["point"] and "fallback" not in zoom
        # the two passes' visual tokens: each what its geometry gives, and their sum is the step's
        overview_g = geometry_for(width, height, PromptConfig(max_pixels=LOW))
        overview, close_up = zoom["passes"]
        assert overview["visual_tokens"] == overview_g.visual_tokens and overview["geometry"] == overview_g.model_dump()
        assert close_up["visual_tokens"] == crop.width * crop.height // 28**2
        assert decision.metadata["visual_tokens"] == overview["visual_tokens"] + close_up["visual_tokens"]
        # the zoom pass's request carried exactly the crop's pixels, and the hint that says so
        sent = backend.requests[1].images[-1].observation
        expected = screen_with_target(width, height, box).image.crop(
            (crop.x, crop.y, crop.x + crop.width, crop.y + crop.height)
        )
        assert sent.image.tobytes() == expected.convert(sent.image.mode).tobytes()
        assert "close-up" in json.dumps(close_up["messages"])
    assert len(backend.requests) == 2


def test_zoom_keeps_the_overviews_action_and_passes_other_actions_through() -> None:
    box = (2000, 1200, 12, 12)
    obs = screen_with_target(2560, 1440, box)
    double = LookingOracle("qwen2.5-vl", (2560, 1440), 50, seed=1, verb="double_click")
    decision = zoom_policy(double, "qwen2.5-vl").decide("open it", obs, [])
    assert isinstance(decision.action, DoubleClick) and len(double.requests) == 2
    typing = LookingOracle("qwen2.5-vl", (2560, 1440), 50, seed=1, verb="type")
    decision = zoom_policy(typing, "qwen2.5-vl").decide("type hello", obs, [])
    assert isinstance(decision.action, Type) and len(typing.requests) == 1
    zoom = decision.metadata["zoom"]
    assert len(zoom["passes"]) == 1 and "not a single-point action" in zoom["skipped"]
    assert decision.metadata["visual_tokens"] == zoom["passes"][0]["visual_tokens"]


def test_a_zoom_pass_that_finds_nothing_leaves_the_overviews_point() -> None:
    """A crop without the target (the overview was too far off): the zoom pass's words are no point,
    the overview's click stands, and the step says why."""
    obs = screen_with_target(2560, 1440, (100, 100, 12, 12))
    backend = LookingOracle("qwen2.5-vl", (2560, 1440), 1500, seed=3)
    decision = zoom_policy(backend, "qwen2.5-vl", crop=112).decide("click it", obs, [])
    zoom = decision.metadata["zoom"]
    assert zoom["passes"][1]["parse_error"] and "the overview's point stands" in zoom["fallback"]
    assert list(decision.action.points()[0]) == zoom["first_point"]
    lines = zoom_lines(zoom)
    assert lines[0].startswith("overview: 2560×1440") and lines[-1].startswith("fallback:")
    svg = zoom_svg(zoom, 2560, 1440)
    c = zoom["crop"]
    assert f'x="{c["x"]}" y="{c["y"]}" width="{c["width"]}" height="{c["height"]}"' in svg


def test_crop_observation_is_the_screenshots_pixels_at_the_same_scale() -> None:
    obs = screen_with_target(1000, 800, (500, 400, 12, 12))
    obs = obs.model_copy(update={"geometry": obs.geometry.model_copy(update={"device_scale_factor": 2.0})})
    _ = obs.image  # decoded and cached: the crop must not inherit the cached full image
    cropped = crop_observation(obs, Crop(400, 300, 224, 224))
    assert cropped.image.size == (224, 224) and cropped.geometry.device_scale_factor == 2.0
    assert red_box_centre(cropped.image) == (106.0, 106.0)


# ----------------------------------------------------------------------------------------------- real backends
def test_zoom_runs_against_a_served_model(tmp_path: Path) -> None:
    """Both passes go over the wire: the second request carries the crop as its image and the crop's own
    pixel budget; the replayed answer, in the crop's resized pixels, lands where the crop says."""
    obs = screen_with_target(2560, 1440, (1500, 900, 12, 12))
    with ReplayServer() as server:
        overview_g = geometry_for(2560, 1440, PromptConfig(max_pixels=LOW))
        first = get_dialect("qwen2.5-vl").encode(Click(x=1450, y=850), overview_g, "browser")
        server.script(first, '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", '
                      '"coordinate": [300, 200]}}\n</tool_call>')  # fmt: skip
        backend = ServedBackend(server.url, server.model, timeout_s=10.0, backoff_s=0.01)
        decision = zoom_policy(backend, "qwen2.5-vl").decide("click", obs, [])
        requests = server.requests
    zoom = decision.metadata["zoom"]
    crop = Crop(**zoom["crop"])
    assert (crop.width, crop.height) == (672, 672) and crop.contains(*zoom["first_point"])
    assert decision.action.points()[0] == (crop.x + 300, crop.y + 200)
    assert len(requests) == 2
    url = next(p for p in requests[1]["messages"][-1]["content"] if p["type"] == "image_url")["image_url"]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == (672, 672)
    limits = json.dumps({k: v for k, v in requests[1].items() if k != "messages"})
    assert str(672 * 672) in limits and str(672 * 672) not in json.dumps(
        {k: v for k, v in requests[0].items() if k != "messages"}
    )


def test_zoom_is_a_policy_spec_field_and_refused_without_a_model() -> None:
    spec = PolicySpec(kind="qwen", model="some/model", zoom=True, zoom_max_pixels=100352, zoom_crop=448)
    assert spec.run_identity()["zoom"] == {"max_pixels": 100352, "crop": 448}
    assert "zoom" not in PolicySpec(kind="qwen", model="some/model").run_identity()
    with pytest.raises(PolicySpecError, match="--zoom needs a model"):
        PolicySpec(kind="oracle", zoom=True).build()


def test_default_model_runs_both_passes_end_to_end_and_they_are_recorded(tmp_path: Path) -> None:
    """The shipped (tiny, trained) model through `pixelpilot run --zoom`: each pointer step holds the
    overview and the zoom pass, their tokens as their geometries give them and summed, and report.html
    shows the crop and the passes."""
    from pixelpilot.tasks import EXAMPLES_DIR

    args = ["run", EXAMPLES_DIR / "login.yaml", "--model", "default", "--zoom", "--zoom-crop", "224",
            "--max-steps", "2", "--out", tmp_path]  # fmt: skip
    # a model load and four model calls on a busy CPU: a generous limit, not a speed assertion
    proc = subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    zoomed = [s for s in steps if len(s["policy"].get("zoom", {}).get("passes", [])) == 2]
    assert zoomed, [s["policy"].get("zoom") for s in steps]
    for step in zoomed:
        policy = step["policy"]
        overview, close_up = policy["zoom"]["passes"]
        crop = policy["zoom"]["crop"]
        assert (crop["width"], crop["height"]) == (224, 224)
        assert close_up["geometry"]["resized_width"] == close_up["geometry"]["resized_height"] == 224
        assert close_up["visual_tokens"] == 64 and overview["visual_tokens"] == policy["attempts"][-1]["visual_tokens"]
        assert policy["visual_tokens"] == overview["visual_tokens"] + close_up["visual_tokens"]
        assert close_up["messages"] and close_up["attempts"] and close_up["ms"] > 0
        if "point" in policy["zoom"]:
            assert [step["action"]["x"], step["action"]["y"]] == policy["zoom"]["point"]
        else:
            assert [step["action"]["x"], step["action"]["y"]] == policy["zoom"]["first_point"]
    page = (bundle / "report.html").read_text()
    assert "pp-zoom" in page and "<h3>zoom</h3>" in page and "zoom: 224×224 → 224×224" in page


def test_make_grounding_renders_small_targets_on_large_screens(tmp_path: Path) -> None:
    """`bench make-grounding --screen desktop:2560x1440`: the sets zoom is measured on; a bad screen is one line."""
    out = tmp_path / "big"
    proc = subprocess.run([*PIXELPILOT, "bench", "make-grounding", "--out", str(out), "--n", "4", "--screen",
                           "desktop:2560x1440"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = json.loads((out / "synth_desktop.json").read_text())
    assert len(records) == 4 and json.loads((out / "dataset.json").read_text())["profiles"] == ["desktop 2560x1440@1"]
    for r in records:
        with Image.open(out / "images" / r["img_filename"]) as img:
            assert img.size == (2560, 1440)
        assert r["bbox"][2] < 2560 / 10  # a target is a small part of the screen
    bad = subprocess.run([*PIXELPILOT, "bench", "make-grounding", "--out", str(tmp_path / "bad"), "--screen",
                          "desktop:2560by1440"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert bad.returncode == 2 and "expected PLATFORM:WxH or PLATFORM:WxH@SCALE" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_zoom_clicks_a_small_target_in_the_browser_and_the_debugger_shows_both_passes(
    browser: Any, http_server: str, tmp_path: Path
) -> None:
    """A 12-px button on a 3200x2000 screenshot (scale 2), an overview 120 px off: the zoomed click lands
    on it through the browser env's own device-px -> CSS-px mapping; the debugger's state and timeline
    carry both passes and draw the crop, and the bundle's report lists them."""
    from pixelpilot.agent import Agent, AgentConfig, EpisodeSpec
    from pixelpilot.agent.debug.session import DebugSession
    from pixelpilot.agent.report import write_report
    from pixelpilot.env import JsCheck, StartSpec

    spec = EpisodeSpec(
        id="zoom",
        instruction="click the red square",
        start=StartSpec(
            url=f"{http_server}/zoom_target.html", viewport={"width": 1600, "height": 1000}, device_scale_factor=2
        ),
        success=JsCheck(expression="() => window.clicked === true"),
        max_steps=1,
    )
    backend = LookingOracle("qwen2.5-vl", (3200, 2000), 120, seed=4)
    session = DebugSession(start_paused=False)
    states: list[dict[str, Any]] = []
    session.subscribe(states.append)
    agent = Agent(browser, zoom_policy(backend, "qwen2.5-vl"), AgentConfig(out_dir=tmp_path))
    agent.hooks.append(session.hooks)
    agent.on_step = session.record_step
    result = agent.run(spec, bundle_dir=tmp_path / "bundle")
    assert result.success, result
    zoom = read_bundle(tmp_path / "bundle")[1][0].policy["zoom"]
    (x0, y0), (x1, y1) = zoom["first_point"], zoom["point"]
    assert not (2468 <= x0 <= 2492 and 1554 <= y0 <= 1578)  # the overview alone would have missed it
    assert 2468 <= x1 <= 2492 and 1554 <= y1 <= 1578  # the refined point is on the 24x24 device-px button
    shown = [s for s in states if s.get("zoom") and "pp-zoom" in s.get("overlay", "")]
    assert shown and shown[-1]["zoom"][0].startswith("overview: 3200×2000")
    assert "zoom" in shown[-1]["prompt"]
    assert session.steps[0]["zoom"] == zoom_lines(zoom) and "pp-zoom" in session.steps[0]["overlay"]
    page = write_report(tmp_path / "bundle").read_text()
    assert "<h3>zoom</h3>" in page and "pp-zoom" in page
