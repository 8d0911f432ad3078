"""Third-party tools and env kinds through entry points, in every process that needs them.

The plugin is a real one, installed the way pip leaves a package: a ``*.dist-info`` folder with
METADATA and entry_points.txt beside the module, on PYTHONPATH for the subprocesses. Its env kind,
"canvas", draws into a PIL image in-process and has its own tool, "paint". The CLI runs an episode
on it with the scripted policy, bench runs it on two spawned workers (which must find the plugin
themselves), `tools` lists the tool, and a dialect writes and reads it back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PIXELPILOT = [shutil.which("pixelpilot") or str(Path(sys.executable).parent / "pixelpilot")]

PLUGIN_MODULE = '''
"""canvasplugin: a tiny env kind that paints dots on an in-memory image, and its tool."""
from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar, Literal

from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from pixelpilot.agent.qwen.dialects import Qwen25Dialect
from pixelpilot.agent.qwen.dialects.codecs import JsonToolCallCodec
from pixelpilot.env import Env, Evaluation, Observation, ScreenGeometry, StartSpec
from pixelpilot.env.base import handles
from pixelpilot.env.registry import EnvKindEntry
from pixelpilot.env.spec import TextCheck
from pixelpilot.tools import ActionBase, Modality


class Paint(ActionBase):
    """Paint a dot of a colour at a point of the canvas."""

    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "y"),)
    modalities: ClassVar[frozenset[Modality]] = frozenset({"pointer"})
    marker: ClassVar[str] = "paint"
    action: Literal["paint"] = "paint"
    x: float = Field(ge=0, description="screenshot pixels, origin top-left")
    y: float = Field(ge=0, description="screenshot pixels, origin top-left")
    color: str = Field("red", description="a colour name")


class CanvasConfig(BaseModel):
    width: int = 320
    height: int = 240
    capture: Literal["jpeg", "png"] = "png"


class CanvasEnv(Env):
    kind = "canvas"

    def __init__(self, config: CanvasConfig | None = None) -> None:
        self.config = config or CanvasConfig()
        self.image = Image.new("RGB", (self.config.width, self.config.height), "white")
        self.log: list[str] = []

    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        self.image = Image.new("RGB", (self.config.width, self.config.height), "white")
        self.log = []

    def observe(self) -> Observation:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        geometry = ScreenGeometry(
            width=self.config.width, height=self.config.height, viewport_width=self.config.width,
            viewport_height=self.config.height,
        )
        return Observation(screenshot=buffer.getvalue(), image_format="png", geometry=geometry, title="canvas")

    @handles(Paint)
    def _paint(self, action, geometry):
        box = (action.x - 4, action.y - 4, action.x + 4, action.y + 4)
        ImageDraw.Draw(self.image).ellipse(box, fill=action.color)
        self.log.append(f"{action.color} at {action.x:g},{action.y:g}")

    def _evaluate(self, check) -> Evaluation:
        if isinstance(check, TextCheck):
            ok = any(check.text in line for line in self.log)
            return Evaluation(success=ok, reward=float(ok), detail="; ".join(self.log) or "nothing painted")
        return Evaluation(success=False, reward=0.0, detail=f"no {check.type} check on a canvas")


# a model of the Qwen2.5-VL family can call it: its schema joins <tools>, its calls are read and written
Qwen25Dialect.register_codec(JsonToolCallCodec(Paint))

CANVAS = EnvKindEntry(
    name="canvas",
    summary="an in-memory canvas to paint on",
    env_class=CanvasEnv,
    config_class=CanvasConfig,
    modality="pointer",
    checks=frozenset({"text"}),
)
'''

TASK = """\
id: paint-a-dot
instruction: paint a red dot near the top left
env: canvas
start: {}
success: {type: text, text: "red at 40,30"}
solution: paint.jsonl
max_steps: 5
"""
SOLUTION = '{"action": "paint", "x": 40, "y": 30, "color": "red"}\n{"action": "finish", "status": "success"}\n'


def _dist_info(root: Path, name: str, entry_points: str) -> None:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "canvasplugin.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    _dist_info(
        root,
        "canvasplugin",
        "[pixelpilot.tools]\npaint = canvasplugin:Paint\n\n[pixelpilot.envs]\ncanvas = canvasplugin:CANVAS\n",
    )
    return root


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("canvas_tasks")
    (folder / "paint.yaml").write_text(TASK, encoding="utf-8")
    (folder / "paint.jsonl").write_text(SOLUTION, encoding="utf-8")
    return folder


def cli(*args: str | Path, site: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=240, env=env, cwd=cwd)


def test_run_plays_an_episode_on_a_plugin_env_with_its_tool(plugin: Path, tasks: Path, tmp_path: Path) -> None:
    proc = cli("run", tasks / "paint.yaml", "--out", tmp_path, site=plugin)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    bundle = Path(proc.stdout.split("bundle:")[1].split()[0])
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["action"] == {"action": "paint", "x": 40.0, "y": 30.0, "color": "red"}
    episode = json.loads((bundle / "episode.json").read_text())
    assert episode["success"] is True and episode["env"]["kind"] == "canvas"


def test_bench_runs_a_plugin_env_on_two_spawned_workers(plugin: Path, tasks: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli(
        "bench",
        "examples",
        "--data",
        tasks,
        "--policy",
        "oracle",
        "--workers",
        "2",
        "--seeds",
        "3",
        "--out",
        out,
        "--no-episode-reports",
        site=plugin,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 3 and all(r["success"] for r in results), results


def test_tools_lists_the_plugin_tool_and_the_env_kind_selects_it(plugin: Path) -> None:
    proc = cli("tools", site=plugin)
    assert proc.returncode == 0, proc.stderr
    assert "paint(" in proc.stdout and "click(" in proc.stdout
    proc = cli("tools", "--env", "canvas", site=plugin)
    assert proc.returncode == 0, proc.stderr
    assert "paint(" in proc.stdout and "swipe(" not in proc.stdout
    proc = cli("tools", "--env", "browser", site=plugin)
    assert "paint(" not in proc.stdout


def test_without_the_plugin_its_env_is_unknown(tasks: Path, tmp_path: Path) -> None:
    proc = cli("run", tasks / "paint.yaml", "--out", tmp_path, site=tmp_path)
    assert proc.returncode == 2
    assert "unknown env 'canvas'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_dialect_writes_and_reads_the_plugin_tool(plugin: Path) -> None:
    """In a fresh process, as a worker would be: the plugin loads from its entry points alone."""
    code = (
        "import json\n"
        "from pixelpilot.env.plugins import load_plugins\n"
        "from pixelpilot.agent.qwen.dialects import get_dialect\n"
        "from pixelpilot.agent.qwen.resize import ResizeGeometry\n"
        "from pixelpilot.tools import REGISTRY\n"
        "load_plugins()\n"
        "d = get_dialect('qwen2.5-vl')\n"
        "g = ResizeGeometry.for_image(640, 480)\n"
        "paint = REGISTRY.validate({'action': 'paint', 'x': 320, 'y': 240, 'color': 'blue'})\n"
        "text = d.encode(paint, g, 'canvas')\n"
        "back = d.parse(text, g, 'canvas').action\n"
        "print(json.dumps({'text': text, 'back': back.model_dump(), 'prompt': d.system_prompt('canvas', g)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert '"name": "paint"' in got["text"], got["text"]
    assert got["back"] == {"action": "paint", "x": 320.0, "y": 240.0, "color": "blue"}
    assert '"name": "paint"' in got["prompt"]


def test_a_plugin_that_fails_to_import_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "brokenplugin.py").write_text("import no_such_module_anywhere\n", encoding="utf-8")
    _dist_info(tmp_path, "brokenplugin", "[pixelpilot.envs]\nbroken = brokenplugin:KIND\n")
    proc = cli("tools", site=tmp_path)
    assert proc.returncode == 2, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'broken'" in lines[0] and "brokenplugin:KIND" in lines[0], proc.stderr
    assert "no_such_module_anywhere" in lines[0]
