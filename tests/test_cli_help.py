"""What the command line shows: flags as flags, a help line for every option, grouped options,
suite-specific bench options only on their suites, one-line usage errors, and `bench --each`.

Every check runs the real `pixelpilot` console script in a subprocess at 120 columns, as a user's
terminal would, so the rich help formatter and main()'s error handling are the ones exercised.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import PIXELPILOT

BOX = "╭╮╰╯│─"
# every command with options (the root, groups and leaf commands), as typed after `pixelpilot`
COMMANDS = [
    [],
    ["run"],
    ["report"],
    ["debug"],
    ["view"],
    ["train"],
    ["dataset", "build"],
    ["bench", "miniwob"],
    ["bench", "grounding"],
    ["bench", "steplevel"],
    ["bench", "examples"],
    ["bench", "android"],
    ["bench", "list"],
    ["bench", "compare"],
    ["bench", "make-grounding"],
]


def pixelpilot(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def help_text(*command: str) -> str:
    proc = pixelpilot(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def option_rows(text: str) -> list[str]:
    """The rows of the help's option tables that name an option (continuation rows start blank)."""
    rows = [line for line in text.splitlines() if re.match(r"│ (\*  |   )?--", line)]
    return [line.strip("│ ").removeprefix("*").strip() for line in rows]


def test_flags_render_as_flags_without_a_type() -> None:
    text = help_text("run")
    headed = next(row for row in option_rows(text) if row.startswith("--headed"))
    assert "<bool>" not in text, text
    assert headed.split()[:4] == ["--headed", "show", "the", "browser"], headed
    for command in (["debug"], ["bench", "miniwob"], ["train"]):
        assert "<bool>" not in help_text(*command), command


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_option_has_a_help_line(command: list[str]) -> None:
    for row in option_rows(help_text(*command)):
        # option names, an optional short form, an optional <type> with its range, then words
        described = re.sub(r"^--[\w-]+(\s+-\w)?(\s+<[^>]*>)?(\s+\[[^\]]*\])?", "", row).strip()
        assert re.search(r"[a-zA-Z]{2}", described), f"{' '.join(command)}: no help for {row!r}"


def test_options_are_grouped_in_panels() -> None:
    run = help_text("run")
    for panel in ("Environment", "Policy", "Model", "Run limits", "Output"):
        assert f"─ {panel} ─" in run, panel
    bench = help_text("bench", "miniwob")
    panels = ("Environment", "Policy", "Model", "Run", "Run limits", "Output")
    where = [bench.find(f"─ {panel} ─") for panel in panels]
    assert -1 not in where and where == sorted(where), dict(zip(panels, where, strict=True))


def test_bench_suites_list_only_the_options_they_use() -> None:
    names = {suite: {row.split()[0] for row in option_rows(help_text("bench", suite))} for suite in
             ("miniwob", "android", "grounding", "examples")}  # fmt: skip
    assert "--serial" not in names["miniwob"] and "--data" not in names["miniwob"], names["miniwob"]
    assert {"--serial", "--data"} <= names["android"] and "--scale" not in names["android"]
    assert "--data" in names["grounding"] and not {"--scale", "--chromium", "--serial"} & names["grounding"]
    assert {"--scale", "--episode-time-ms", "--seed-start"} <= names["miniwob"]
    assert {"--model", "--policy", "--workers", "--out", "--each"} <= names["grounding"]
    # an option a suite does not take is refused, not silently ignored
    proc = pixelpilot("bench", "miniwob", "--serial", "emulator-5554", "--policy", "oracle", "--out", "/nonexistent")
    assert proc.returncode == 2 and "--serial" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "task.yaml", "--max-steps", "abc"], "--max-steps"),
        (["bench", "miniwob", "--workers", "0", "--out", "x"], "--workers"),
        (["bench", "examples", "--out", "x", "--no-such-option"], "--no-such-option"),
        (["run", "task.yaml", "--capture", "gif"], "--capture"),
        (["bench", "compare"], "run_a"),
        (["debug", "task.yaml", "--port", "70000"], "--port"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_bad_values_give_one_error_line_and_exit_2(args: list[str], fragment: str, tmp_path: Path) -> None:
    proc = pixelpilot(*args)
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0], lines[0]
    assert not set(BOX) & set(proc.stderr), proc.stderr


def test_help_and_no_args_still_print_the_help() -> None:
    proc = pixelpilot("bench")
    assert proc.returncode == 2 and "Usage: pixelpilot bench" in proc.stdout + proc.stderr
    assert pixelpilot("--version").returncode == 0


def test_bench_each_prints_a_line_per_finished_episode(tmp_path: Path) -> None:
    args = ["bench", "miniwob", "--policy", "oracle", "--tasks", "click-test", "--seeds", "2",
            "--no-episode-reports", "--episode-timeout", "120"]  # fmt: skip
    line = re.compile(r"^✓ click-test seed (\d) finished, 1 step, \d+\.\d s$", re.MULTILINE)
    quiet = pixelpilot(*args, "--out", tmp_path / "quiet", timeout=600)
    assert quiet.returncode == 0, quiet.stderr + quiet.stdout
    assert not line.search(quiet.stdout + quiet.stderr), quiet.stderr
    each = pixelpilot(*args, "--each", "--out", tmp_path / "each", timeout=600)
    assert each.returncode == 0, each.stderr + each.stdout
    assert sorted(line.findall(each.stderr)) == ["0", "1"], each.stderr


def test_help_into_a_closed_pipe_exits_quietly() -> None:
    """`pixelpilot run --help | head -1`: the reader is gone; no traceback, exit 1 as before."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: every write fails with EPIPE
    try:
        proc = subprocess.run(
            [*PIXELPILOT, "run", "--help"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "120"},
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
