"""report.html as a user sees it in real Chromium (aspect ratio at any width and in print, keyboard
playback) and `pixelpilot report --gif` on real bundles, including cut-off and damaged ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pixelpilot.agent import Agent, AgentConfig, EpisodeSpec, ScriptedPolicy
from pixelpilot.agent.report_gif import GifError, write_gif
from pixelpilot.cli.app import app
from pixelpilot.env import StartSpec, Viewport
from pixelpilot.env.browser import BrowserEnv

ACTIONS = [
    {"action": "click", "x": 160, "y": 120},
    {"action": "drag", "start_x": 10, "start_y": 10, "end_x": 300, "end_y": 200},
    {"action": "scroll", "x": 100, "y": 100, "direction": "down", "amount": 200},
    {"action": "finish", "status": "success"},
]

ASPECT_JS = """() => [...document.querySelectorAll('main .shot > img:not(.prev)')].map(i => {
    const r = i.getBoundingClientRect();
    return [i.naturalWidth, i.naturalHeight, r.width, r.height];
})"""


def _episode(browser: BrowserEnv, server: str, out: Path, viewport: Viewport | None, n: int = 0) -> Path:
    actions = ACTIONS if not n else [{"action": "click", "x": 20 + i, "y": 30} for i in range(n)]
    spec = EpisodeSpec(
        id="page",
        instruction="report page",
        start=StartSpec(url=f"{server}/loop.html", viewport=viewport),
        max_steps=max(n, len(ACTIONS)),
    )
    return Agent(browser, ScriptedPolicy(actions), AgentConfig(out_dir=out)).run(spec).bundle


@pytest.fixture(scope="module")
def bundles(browser: BrowserEnv, http_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report_page")
    return {
        "wide": _episode(browser, http_server, root / "wide", None),
        "miniwob": _episode(browser, http_server, root / "miniwob", Viewport(width=320, height=420)),
    }


def _check_aspect(page, expected: tuple[int, int]) -> int:
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    shots = page.evaluate(ASPECT_JS)
    shown = [s for s in shots if s[2] > 0]
    assert shown, "no step screenshot is displayed"
    for nw, nh, w, h in shown:
        assert (nw, nh) == expected
        assert abs((w / h) / (nw / nh) - 1) < 0.01, (nw, nh, w, h)
    return len(shown)


@pytest.mark.parametrize("name,size", [("wide", (1280, 720)), ("miniwob", (320, 420))])
def test_screenshots_keep_their_aspect_ratio(
    browser: BrowserEnv, bundles: dict[str, Path], name: str, size: tuple[int, int]
) -> None:
    url = (bundles[name] / "report.html").as_uri()
    browser.reset(StartSpec(url=url))
    page = browser.page
    for width in (480, 1024, 1600):
        page.set_viewport_size({"width": width, "height": 900})
        assert _check_aspect(page, size) == 1  # the player shows one step
        page.check("#all")
        assert _check_aspect(page, size) == 5  # 4 steps + the final screen
        page.uncheck("#all")
    page.emulate_media(media="print")
    assert _check_aspect(page, size) == 5  # 4 steps + the final screen  # printed: every step, undistorted
    page.emulate_media(media="screen")
    if size[0] < 640:
        assert page.evaluate("getComputedStyle(document.querySelector('main .shot img')).imageRendering") == "pixelated"
    lazy = page.evaluate("document.querySelectorAll('img[loading=lazy]').length")
    assert lazy == 0


def test_keyboard_steps_and_plays(browser: BrowserEnv, bundles: dict[str, Path]) -> None:
    browser.reset(StartSpec(url=(bundles["wide"] / "report.html").as_uri()))
    page = browser.page
    shown = "() => [...document.querySelectorAll('main > section.step')].filter(s => s.offsetHeight > 0).map(s => s.id)"
    assert page.evaluate(shown) == ["step-1"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate(shown) == ["step-3"]
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(shown) == ["step-2"]
    assert page.evaluate("document.querySelector('#strip a.cur').getAttribute('href')") == "#step-2"
    page.select_option("#speed", "4")
    page.keyboard.press(" ")
    assert "pause" in page.inner_text("#playbtn")
    page.wait_for_function("() => document.body.dataset.step === 'final'", timeout=15_000)
    assert "play" in page.inner_text("#playbtn")  # stopped at the end
    page.check("#diff")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("getComputedStyle(document.querySelector('#step-4 img.prev')).display") == "block"
    header = page.inner_text("header")
    assert "success" in header
    # markers on the shown step are at least 12 CSS px across
    page.uncheck("#diff")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    ring = page.evaluate("document.querySelector('#step-1 svg circle').getBoundingClientRect().width")
    assert ring >= 12


def _frames(path: Path) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as img:
        return img.n_frames, img.size


def test_gif_one_frame_per_step_plus_final(bundles: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(bundles["wide"]), "--gif", str(tmp_path / "a.gif")])
    assert result.exit_code == 0, result.output
    assert _frames(tmp_path / "a.gif") == (5, (800, 450))
    result = CliRunner().invoke(
        app, ["report", str(bundles["miniwob"]), "--gif", str(tmp_path / "b.gif"), "--width", "200"]
    )
    assert result.exit_code == 0, result.output
    assert _frames(tmp_path / "b.gif") == (5, (200, round(420 * 200 / 320)))


def _copy(bundle: Path, tmp: Path, name: str) -> Path:
    return Path(shutil.copytree(bundle, tmp / name))


def test_gif_of_damaged_bundles(bundles: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    # still being written: header says running, no final screen yet
    running = _copy(bundles["wide"], tmp_path, "running")
    header = json.loads((running / "episode.json").read_text())
    (running / "episode.json").write_text(json.dumps({**header, "status": "running", "success": None}))
    (running / "final.jpg").unlink()
    result = runner.invoke(app, ["report", str(running), "--gif", str(tmp_path / "r.gif")])
    assert result.exit_code == 0 and "still running" in result.output
    assert _frames(tmp_path / "r.gif")[0] == 4
    # cut off mid-line, and a screenshot gone
    cut = _copy(bundles["wide"], tmp_path, "cut")
    text = (cut / "steps.jsonl").read_text()
    (cut / "steps.jsonl").write_text(text[: len(text) - 40])
    (cut / "step_0002.jpg").unlink()
    made = write_gif(cut, tmp_path / "c.gif")
    assert made.frames == 4 and _frames(tmp_path / "c.gif")[0] == 4  # steps 1-3 + final
    assert any("cut off" in n for n in made.notes) and any("missing" in n for n in made.notes)
    # zero steps: the final screen alone; with no final screen either, one error line and exit 2
    empty = _copy(bundles["wide"], tmp_path, "empty")
    (empty / "steps.jsonl").write_text("")
    assert write_gif(empty, tmp_path / "e.gif").frames == 1
    (empty / "final.jpg").unlink()
    with pytest.raises(GifError):
        write_gif(empty, tmp_path / "e2.gif")
    result = runner.invoke(app, ["report", str(empty), "--gif", str(tmp_path / "e2.gif")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "error:" in result.output and not (tmp_path / "e2.gif").exists()


def test_gif_of_500_steps(bundles: dict[str, Path], tmp_path: Path) -> None:
    """A real bundle's steps repeated to 500: the GIF holds them all at the size asked."""
    long = _copy(bundles["miniwob"], tmp_path, "long")
    lines = (long / "steps.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    out = [json.dumps({**records[i % len(records)], "index": i + 1}) for i in range(500)]
    (long / "steps.jsonl").write_text("\n".join(out) + "\n")
    made = write_gif(long, tmp_path / "long.gif", width=64)
    assert made.frames == 501 and _frames(tmp_path / "long.gif") == (501, (64, 84))
