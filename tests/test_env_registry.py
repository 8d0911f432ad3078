"""Env kinds are one registry entry each: the CLI, the episode spec, the task loader, bench's live
suites and the dialects all ask the registry, so a new kind needs no edit anywhere else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env import StartSpec
from pixelpilot.env.android import AndroidConfig, AndroidEnv
from pixelpilot.env.browser import BrowserConfig, BrowserEnv
from pixelpilot.env.registry import (
    EnvKindEntry,
    EnvOptions,
    UnknownEnvError,
    env_kind,
    env_kinds,
    input_modality,
    register_env,
)
from pixelpilot.env.spec import TextCheck, UiCheck
from pixelpilot.tasks import EXAMPLES_DIR, Task, TaskFileError
from pixelpilot.tasks.bench.suites import make_suite
from pixelpilot.tools import Click

PIXELPILOT = [shutil.which("pixelpilot") or str(Path(sys.executable).parent / "pixelpilot")]
GEOMETRY = ResizeGeometry.for_image(1080, 1920)


@pytest.fixture()
def tablet() -> Iterator[EnvKindEntry]:
    """A touch-screen kind that is not called "android": what a dialect says must follow the modality."""
    entry = register_env(
        EnvKindEntry(
            name="tablet",
            summary="a touch screen for the test",
            env_class=AndroidEnv,
            config_class=AndroidConfig,
            modality="touch",
            checks=frozenset({"ui"}),
            start_fields=frozenset({"app"}),
        )
    )
    yield entry
    from pixelpilot.env import registry

    registry._KINDS.pop("tablet", None)


def test_the_built_in_kinds_name_their_classes_checks_and_modality() -> None:
    assert list(env_kinds())[:2] == ["browser", "android"]
    browser, android = env_kind("browser"), env_kind("android")
    assert browser.env_type() is BrowserEnv and browser.config_type() is BrowserConfig
    assert android.env_type() is AndroidEnv and android.config_type() is AndroidConfig
    assert (browser.modality, android.modality) == ("pointer", "touch")
    assert browser.supported_actions == BrowserEnv.supported_actions
    assert {"url", "text", "js", "answer", "none"} <= browser.supported_checks
    assert {"ui", "shell", "answer", "none"} <= android.supported_checks and "js" not in android.supported_checks
    assert input_modality("android") == "touch" and input_modality("browser") == "pointer"


def test_an_unknown_kind_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(UnknownEnvError, match=r"unknown env 'fridge'; known: browser, android, desktop"):
        env_kind("fridge")


def test_the_episode_spec_resolves_its_env_through_the_registry(tablet: EnvKindEntry) -> None:
    with pytest.raises(ValidationError, match="unknown env 'fridge'"):
        EpisodeSpec(id="x", instruction="y", env="fridge", start=StartSpec())
    with pytest.raises(ValidationError, match="the android env has no 'text' success check"):
        EpisodeSpec(id="x", instruction="y", env="android", start=StartSpec(), success=TextCheck(text="hi"))
    spec = EpisodeSpec(id="x", instruction="y", env="tablet", start=StartSpec(app="Notes"), success=UiCheck(text="a"))
    assert spec.env == "tablet"


def test_the_task_loader_names_the_file_and_the_unsupported_check(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("id: t\ninstruction: x\nenv: android\nstart: {app: Notes}\nsuccess: {type: js, expression: '1'}\n")
    with pytest.raises(TaskFileError, match=r"t.yaml: .*the android env has no 'js' success check"):
        Task.from_file(path)


def test_a_builder_takes_the_options_that_apply_to_its_kind(tablet: EnvKindEntry) -> None:
    env = env_kind("browser").make(EnvOptions(headed=True, chromium="/x/chrome", capture="png", serial="s1"))
    assert isinstance(env, BrowserEnv)
    assert (env.config.headless, env.config.chromium_path, env.config.capture_format) == (False, "/x/chrome", "png")
    env = tablet.make(EnvOptions(serial="emulator-5554", headed=True))  # the default builder: the config's fields
    assert isinstance(env, AndroidEnv) and env.config.serial == "emulator-5554"


@pytest.mark.parametrize("dialect", ["qwen2.5-vl", "qwen2-vl", "showui"])
def test_dialects_word_the_prompt_by_modality_not_by_name(dialect: str, tablet: EnvKindEntry) -> None:
    d = get_dialect(dialect)
    geometry = GEOMETRY
    assert d.system_prompt("tablet", geometry) == d.system_prompt("android", geometry)
    assert d.system_prompt("tablet", geometry) != d.system_prompt("browser", geometry)
    click = Click(x=540, y=960)
    assert d.encode(click, geometry, "tablet") == d.encode(click, geometry, "android")


def test_live_suites_take_each_tasks_env_from_its_file() -> None:
    suite = make_suite("examples", {})
    assert suite.env_kinds() == ["browser"]  # type: ignore[attr-defined]
    assert suite.settings()["env"] == "browser"
    assert make_suite("android", {}).settings()["env"] == "android"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_run_and_debug_refuse_an_unknown_env_in_one_line() -> None:
    for command in ("run", "debug"):
        proc = cli(command, EXAMPLES_DIR / "login.yaml", "--env", "fridge")
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--env must be browser, android or desktop, got 'fridge'" in lines[0], proc.stderr


def test_run_refuses_a_check_the_chosen_env_cannot_score() -> None:
    proc = cli("run", EXAMPLES_DIR / "login.yaml", "--env", "android")
    assert proc.returncode == 2
    assert "the android env has no" in proc.stderr and "Traceback" not in proc.stderr
