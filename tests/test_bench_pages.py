"""What a user reads after a benchmark: the run's report.html and the compare page in real Chromium,
the terminal table at 80 columns on a terminal and as plain lines in a pipe, and the grounding table."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from pixelpilot.env.browser.chromium import find_chromium, launch_args
from tests.test_bench_runner import bench
from tests.test_cli import PIXELPILOT

TASKS = ["click-test", "enter-text", "click-checkboxes-transfer"]
BOX = set("─│┃━┏┓┗┛┌┐└┘├┤┬┴┼╭╮╯╰═║")


def _task_args() -> list[str]:
    return [a for t in TASKS for a in ("--tasks", t)]


def _run_in_pty(args: list[str], columns: int = 80, timeout: float = 300) -> str:
    """Run the CLI on a pseudo-terminal COLUMNS wide; return what it printed, escape codes removed."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*PIXELPILOT, *args], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=timeout)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    # the progress bar redraws with \r; the last state of each line is what the user sees
    return "\n".join(line.split("\r")[-1] for line in text.replace("\r\n", "\n").split("\n"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run A: the oracle solves every unit (piped). Run B: one step allowed, so enter-text (three steps)
    fails; run on an 80-column pseudo-terminal."""
    root = tmp_path_factory.mktemp("pages")
    a, b = root / "a", root / "b"
    piped = bench("miniwob", "--policy", "oracle", *_task_args(), "--seeds", "2", "--workers", "2", "--out", a)
    assert piped.returncode == 0, piped.stderr + piped.stdout
    tty = _run_in_pty(
        ["bench", "miniwob", "--policy", "oracle", *_task_args(), "--seeds", "2", "--workers", "2",
         "--max-steps", "1", "--out", str(b)]
    )  # fmt: skip
    assert (b / "report.html").exists(), tty
    return {"a": a, "b": b, "root": root, "piped": piped.stdout, "tty": tty}


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(None), args=launch_args(()), headless=True)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def _no_cell_wraps(page: Page, selector: str) -> None:
    """Every cell is one line tall: its height is at most one line box (line-height plus padding)."""
    heights = page.eval_on_selector_all(
        selector,
        """cells => cells.map(c => { const s = getComputedStyle(c);
            const line = parseFloat(s.lineHeight) || parseFloat(s.fontSize) * 1.4;
            return [c.textContent.slice(0, 40), c.getBoundingClientRect().height,
                    line + parseFloat(s.paddingTop) + parseFloat(s.paddingBottom) + 2]; })""",
    )
    assert heights
    tall = [(text, h, limit) for text, h, limit in heights if h > limit * 1.5]
    assert not tall, tall


def test_run_report_header_failures_sorting_chart(runs: dict[str, object], page: Page) -> None:
    b = runs["b"]
    assert isinstance(b, Path)
    page.goto((b / "report.html").as_uri())
    keys = page.locator("table.meta th").all_inner_texts()
    meta = dict(zip(keys, page.locator("table.meta td").all_inner_texts(), strict=True))
    assert "oracle" in meta["model / policy"]
    assert meta["scale"] == "2" and meta["seeds"].startswith("0–1") and meta["max steps"] == "1"
    assert len(meta["run key"]) == 16

    failed = page.locator("table.failures tr.failed")
    assert failed.count() == 2  # enter-text, seeds 0 and 1
    first = failed.first
    assert first.locator("td").first.inner_text() == "enter-text"
    assert "step limit" in first.locator("td.why").inner_text()
    href = first.locator("a").get_attribute("href")
    assert href and (b / href).is_file()

    tasks = page.locator("table.tasks tbody tr.task td:first-child")
    assert tasks.all_inner_texts() == sorted(TASKS)
    page.locator("table.tasks th", has_text="success").click()
    assert tasks.all_inner_texts()[0] == "enter-text"  # 0% first, ascending
    page.locator("table.tasks th", has_text="success").click()
    assert tasks.all_inner_texts()[-1] == "enter-text"
    assert page.locator("table.tasks tbody tr").last.get_attribute("class") == "overall"

    bars = page.locator("svg.chart g.bar")
    assert sorted(bars.evaluate_all("gs => gs.map(g => g.dataset.task)")) == sorted(TASKS)
    _no_cell_wraps(page, "table td, table th")


def test_compare_page_lists_flipped_episodes_with_links(runs: dict[str, object], page: Page) -> None:
    a, b, root = runs["a"], runs["b"], runs["root"]
    assert isinstance(a, Path) and isinstance(b, Path) and isinstance(root, Path)
    target = root / "pages" / "compare.html"
    target.parent.mkdir()
    proc = bench("compare", a, b, "--html", target)
    assert proc.returncode == 0, proc.stderr
    page.goto(target.as_uri())
    flips = page.locator("table.flips tbody tr")
    assert flips.count() == 2
    assert flips.first.locator("td").nth(2).inner_text() == "lost in B"
    links = flips.first.locator("a")
    assert links.count() == 2
    for href in links.evaluate_all("as => as.map(a => a.href)"):
        assert Path(href.removeprefix("file://")).is_file()
    rows = page.locator("table.tasks tbody tr.task td:first-child").all_inner_texts()
    assert sorted(rows) == sorted(TASKS)
    assert "McNemar" in page.content()
    _no_cell_wraps(page, "table td, table th")


def test_terminal_table_fits_80_columns_and_pipes_as_plain_lines(runs: dict[str, object]) -> None:
    tty = str(runs["tty"])
    lines = tty.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), max(lines, key=len)
    for task in TASKS:
        assert any(line.startswith(task + " ") for line in lines), tty
    assert any(line.startswith("overall ") for line in lines)

    piped = str(runs["piped"])
    assert not BOX & set(piped)
    names = {"task", "overall", *TASKS}
    table = [line for line in piped.splitlines() if line.split(" ")[0] in names and " = " not in line]
    assert len(table) == len(TASKS) + 2
    assert len({len(line) for line in table}) == 1  # aligned: every row as wide as the header
    assert "ms cap/model/exec" in table[0]  # every column when piped


def test_grounding_prints_split_and_platform_tables_above_60_samples(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (64, 64), "white").save(images / "a.png")
    platforms = ["mobile", "desktop", "web"]
    records = [
        {"img_filename": "a.png", "bbox": [i % 50, 2, 8, 8], "instruction": f"target {i}",
         "data_type": "icon" if i % 2 else "text", "platform": platforms[i % 3]}
        for i in range(66)
    ]  # fmt: skip
    data = tmp_path / "set.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    proc = bench("grounding", "--data", data, "--policy", "oracle", "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    stdout = proc.stdout
    assert '"per_split"' not in stdout and "{" not in stdout  # no raw JSON
    rows = [line.split() for line in stdout.splitlines()]
    splits = {r[1] for r in rows if r and r[0] == "split"}
    assert splits == {f"{p}-{t}" for p in platforms for t in ("icon", "text")}
    assert {r[1] for r in rows if r and r[0] == "platform"} == set(platforms)
    assert any(r[:2] == ["overall", "sample-weighted"] and r[-1] == "100.0%" for r in rows)
    assert any(r[:2] == ["overall", "split-averaged"] and r[-1] == "100.0%" for r in rows)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["suite_summary"]["samples"] == 66
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<table class='sortable grounding'>" in report and "split-averaged" in report
