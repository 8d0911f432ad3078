"""The CLI end to end, and every bad input it must refuse with one line and exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pixelpilot.tasks import EXAMPLES_DIR

PIXELPILOT = [shutil.which("pixelpilot") or str(Path(sys.executable).parent / "pixelpilot")]


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("bundle:")]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_run_example_prints_steps_outcome_and_bundle(tmp_path: Path) -> None:
    proc = cli("run", EXAMPLES_DIR / "login.yaml", "--out", tmp_path, "--scale", "1.5", "--viewport", "1280x720")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "success" in out and "bundle:" in out
    assert out.count("✓") == 6
    assert "text='hunter2'" not in out and "text='••••••••'" in out
    bundle = Path(out.split("bundle:")[1].split()[0])
    steps = [json.loads(line) for line in (bundle / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["observation"]["width"] == 1920
    assert (bundle / "report.html").exists()

    (bundle / "report.html").unlink()
    proc = cli("report", bundle)
    assert proc.returncode == 0 and (bundle / "report.html").exists()


def test_tools_prints_schemas() -> None:
    proc = cli("tools", "--json")
    schemas = json.loads(proc.stdout)
    assert {s["name"] for s in schemas} >= {"click", "swipe", "open_app"}
    proc = cli("tools", "--env", "browser")
    assert proc.returncode == 0 and "click(" in proc.stdout and "swipe(" not in proc.stdout


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def page(tmp_path: Path) -> Path:
    return write(tmp_path / "p.html", "<html><body><button>ok</button></body></html>")


def test_missing_task_file(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", tmp_path / "nope.yaml", "--out", tmp_path), "task file not found")


def test_malformed_yaml(tmp_path: Path) -> None:
    task = write(tmp_path / "bad.yaml", "id: x\ninstruction: [unclosed\n")
    assert_one_line_error(cli("run", task, "--out", tmp_path), "not valid YAML")


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("id: t\nstart: {url: p.html}\n", "field 'instruction': missing"),
        ("id: t\ninstruction: go\nstart: {url: p.html}\nmax_steps: zero\n", "field 'max_steps'"),
        ("id: t\ninstruction: go\nstart: {url: p.html}\nsuccess: {type: colour}\n", "field 'success'"),
        (
            "id: t\ninstruction: go\nstart: {url: p.html}\nsuccess: {type: url}\n",
            "field 'success.url.pattern': missing",
        ),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_invalid_task_fields_are_named(tmp_path: Path, page: Path, body: str, fragment: str) -> None:
    task = write(tmp_path / "t.yaml", body)
    assert_one_line_error(cli("run", task, "--script", task, "--out", tmp_path), fragment)


def test_unknown_tool_in_script(tmp_path: Path, page: Path) -> None:
    task = write(tmp_path / "t.yaml", "id: t\ninstruction: go\nstart: {url: p.html}\n")
    script = write(tmp_path / "s.jsonl", '{"action": "click", "x": 1, "y": 1}\n{"action": "teleport", "to": "moon"}\n')
    assert_one_line_error(cli("run", task, "--script", script, "--out", tmp_path), "action 2: unknown tool 'teleport'")


def test_bad_json_in_script(tmp_path: Path, page: Path) -> None:
    task = write(tmp_path / "t.yaml", "id: t\ninstruction: go\nstart: {url: p.html}\n")
    script = write(tmp_path / "s.jsonl", '{"action": "click", "x": 1,\n')
    assert_one_line_error(cli("run", task, "--script", script, "--out", tmp_path), "s.jsonl:1: invalid JSON")


def test_no_script(tmp_path: Path, page: Path) -> None:
    task = write(tmp_path / "t.yaml", "id: t\ninstruction: go\nstart: {url: p.html}\n")
    assert_one_line_error(cli("run", task, "--out", tmp_path), "needs --script")


def test_unreachable_start_url(tmp_path: Path) -> None:
    task = write(tmp_path / "t.yaml", "id: t\ninstruction: go\nstart: {url: 'http://127.0.0.1:9/x'}\n")
    script = write(tmp_path / "s.jsonl", '{"action": "finish"}\n')
    proc = cli("run", task, "--script", script, "--out", tmp_path)
    assert_one_line_error(proc, "cannot open start URL http://127.0.0.1:9/x")


@pytest.mark.parametrize(
    "args, fragment",
    [(["--viewport", "big"], "viewport must look like 1280x720"), (["--scale", "0"], "--scale must be in")],
)
def test_bad_options(tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(cli("run", EXAMPLES_DIR / "login.yaml", "--out", tmp_path, *args), fragment)


def test_report_on_a_non_bundle(tmp_path: Path) -> None:
    assert_one_line_error(cli("report", tmp_path), "is not an episode bundle")
