"""`pixelpilot view` end to end: a real bench run and a real bundle, the viewer as a subprocess, the
page driven in real Chromium (list, filters, steps, overlay, side by side); the token gate, bundle
confinement of file requests, bad PATHs; and that indexing a large run reads no steps.jsonl."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pixelpilot.agent.debug.viewer import Catalog, ViewerPathError
from pixelpilot.env.browser.chromium import find_chromium, launch_args
from pixelpilot.env.browser.env import acquire_playwright, release_playwright
from tests.test_bench_runner import bench, read_results
from tests.test_cli import PIXELPILOT, assert_one_line_error, cli

EXAMPLES = Path(__file__).resolve().parents[1] / "tasks" / "examples"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A bench run (login, two seeds, plus one offline-style result without a bundle)
    and a standalone bundle, recorded by the real CLI."""
    root = tmp_path_factory.mktemp("viewer")
    run_dir, loose = root / "run", root / "loose"
    single = subprocess.Popen(
        [*PIXELPILOT, "run", str(EXAMPLES / "login.yaml"), "--out", str(loose)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = bench(
        "examples", "--policy", "oracle", "--tasks", "login", "--seeds", "2", "--workers", "2", "--out", run_dir
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out, errors = single.communicate(timeout=120)
    assert single.returncode == 0, errors + out
    first = read_results(run_dir)[0]
    crashed = {**first, "task": "search", "seed": 0, "status": "crashed", "success": False, "reward": 0.0}
    crashed.update(steps=0, bundle=None, error="worker died", metrics={})
    with (run_dir / "results.jsonl").open("a") as fh:
        fh.write(json.dumps(crashed) + "\n")
    return {"root": root, "run": run_dir, "bundle": next(loose.iterdir())}


@contextmanager
def viewer(*paths: Path) -> Iterator[str]:
    """`pixelpilot view PATHS --no-open` as a subprocess; yields the URL it prints (token included)."""
    proc = subprocess.Popen(
        [*PIXELPILOT, "view", *map(str, paths), "--no-open", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("viewer: "):
                url = line.split(" ", 1)[1].strip()
        assert url, f"no URL printed; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def raw_get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("content-type") or ""
    finally:
        conn.close()


def test_page_lists_filters_steps_and_compares_side_by_side(recorded: dict[str, Path]) -> None:
    pw = acquire_playwright()
    browser = pw.chromium.launch(executable_path=find_chromium(), args=launch_args(), chromium_sandbox=False)
    try:
        with viewer(recorded["run"], recorded["bundle"]) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_selector("body[data-ready]")
            rows = page.locator("#episodes tbody tr")
            assert rows.count() == 4  # 2 run episodes + 1 result without a bundle + the loose bundle
            assert "4 of 4 episodes · 3 success · 1 failure" in page.inner_text("#counts")
            crashed = page.locator('#episodes tr[data-task="search"]')
            assert crashed.locator("a").count() == 0 and "crashed" in crashed.inner_text()

            page.select_option("#f-outcome", "failure")
            assert rows.count() == 1 and rows.first.get_attribute("data-task") == "search"
            page.select_option("#f-outcome", "")
            page.select_option("#f-task", "login")
            assert rows.count() == 3 and "3 of 4 episodes · 3 success · 0 failure" in page.inner_text("#counts")
            page.select_option("#f-status", "crashed")
            assert rows.count() == 0
            page.select_option("#f-task", "")
            assert rows.count() == 1
            page.select_option("#f-status", "")
            page.fill("#f-text", "seed-1")
            assert rows.count() == 1
            page.fill("#f-text", "")

            # open login seed 0: its first screenshot at native size, the click drawn over it
            page.click('#episodes a:text-is("login/seed-0")')
            pane = page.locator(".pane").first
            pane.locator(".shot .ovl svg circle").first.wait_for()
            page.wait_for_function("document.querySelector('.pane .shot img').naturalWidth > 0")
            assert page.evaluate("document.querySelector('.pane .shot img').naturalWidth") == 1280
            assert pane.locator(".step-no").inner_text() == "1"
            assert json.loads(pane.locator(".action-json").inner_text())["action"] == "click"
            assert "Sign in as alice" in pane.locator(".ep-instruction").inner_text()
            assert "policy scripted" in pane.locator(".ep-meta").inner_text()
            assert "capture" in pane.locator(".timings").inner_text()
            assert pane.locator(".thumb").count() == 7  # 6 steps and the final screen
            page.keyboard.press("ArrowRight")
            assert pane.locator(".step-no").inner_text() == "2"
            assert json.loads(pane.locator(".action-json").inner_text())["action"] == "type"
            assert "step_0002" in (pane.locator(".shot img").get_attribute("src") or "")

            # side by side: the select offers the other login episodes only
            options = pane.locator(".compare option").all_inner_texts()
            assert len(options) == 3 and options[0].startswith("compare with")
            assert all("login" in o for o in options[1:])
            page.select_option(".pane .compare", index=1)
            page.locator(".pane").nth(1).locator(".shot .ovl svg").wait_for()
            second = page.locator(".pane").nth(1)
            assert second.locator(".ep-task").inner_text() == "login"
            assert second.get_attribute("data-id") != pane.get_attribute("data-id")
            assert second.locator(".step-no").inner_text() == "1"
            page.keyboard.press("ArrowRight")  # both columns step
            assert pane.locator(".step-no").inner_text() == "3" and second.locator(".step-no").inner_text() == "2"
            second.locator(".next").click()  # a column's own buttons step only it
            assert pane.locator(".step-no").inner_text() == "3" and second.locator(".step-no").inner_text() == "3"
            page.keyboard.press("ArrowLeft")
            assert pane.locator(".step-no").inner_text() == "2" and second.locator(".step-no").inner_text() == "2"

            # the view lives in the hash: a reload restores both columns and their steps
            page.reload()
            page.wait_for_selector("body[data-ready]")
            assert page.locator(".pane").count() == 2
            assert page.locator(".pane").nth(1).locator(".step-no").inner_text() == "2"
            second = page.locator(".pane").nth(1)
            second.locator(".close").click()
            assert page.locator(".pane").count() == 1
            assert not errors, errors
            page.close()
    finally:
        browser.close()
        release_playwright()


def test_token_gate_and_file_confinement(recorded: dict[str, Path]) -> None:
    with viewer(recorded["root"]) as url:  # a folder holding a run and a bundle at depth
        token = url.split("token=", 1)[1]
        auth = {"x-pixelpilot-token": token}
        for path in ("/", "/api/episodes", "/view.js", f"/api/episodes?token={token[:-1]}x"):
            assert raw_get(url, path)[0] == 403, path
        status, body, _ = raw_get(url, "/api/episodes", auth)
        assert status == 200
        episodes = json.loads(body)["episodes"]
        assert len(episodes) == 4 and len({e["id"] for e in episodes}) == 4
        assert all(e["id"].isalnum() for e in episodes)
        bundled = next(e for e in episodes if e["has_bundle"] and e["run"])
        offline = next(e for e in episodes if not e["has_bundle"])
        assert offline["status"] == "crashed" and offline["outcome"] == "failure"

        status, body, _ = raw_get(url, f"/api/episodes/{bundled['id']}", auth)
        detail = json.loads(body)
        assert status == 200 and detail["episode"]["status"] == "finished" and detail["result"]["seed"] in (0, 1)
        step = detail["steps"][0]
        assert step["overlay"].startswith("<svg") and step["action"]["action"] == "click"
        assert set(step["timings_ms"]) >= {"capture", "decide", "execute", "record"}

        base = f"/api/episodes/{bundled['id']}/files"
        status, body, kind = raw_get(url, f"{base}/{step['screenshot']}", auth)
        assert status == 200 and kind == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert raw_get(url, f"{base}/nope.jpg", auth)[0] == 404
        for escape in ("../../../run.json", "..%2f..%2f..%2frun.json", "%2fetc%2fpasswd", "../other/episode.json"):
            status, body, _ = raw_get(url, f"{base}/{escape}", auth)
            assert status == 403, (escape, status)
            assert b"run_key" not in body and b"root:" not in body
        assert raw_get(url, f"/api/episodes/{offline['id']}", auth)[0] == 404
        assert raw_get(url, "/api/episodes/0000deadbeef", auth)[0] == 404


def test_bad_paths_exit_2_with_one_line(tmp_path: Path, recorded: dict[str, Path]) -> None:
    assert_one_line_error(cli("view", tmp_path / "missing", "--no-open"), "does not exist")
    (tmp_path / "file.txt").write_text("x")
    assert_one_line_error(cli("view", tmp_path / "file.txt", "--no-open"), "not a folder")
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    # a folder with no bundle or run below it, even next to a good PATH
    assert_one_line_error(cli("view", recorded["bundle"], tmp_path / "empty", "--no-open"), "holds no episode bundle")


def test_indexing_a_large_run_reads_only_results_and_headers(tmp_path: Path, recorded: dict[str, Path]) -> None:
    run = tmp_path / "big"
    (run / "episodes").mkdir(parents=True)
    shutil.copy(recorded["run"] / "run.json", run / "run.json")
    template = read_results(recorded["run"])[0]
    source = recorded["run"] / template["bundle"]
    lines = []
    for seed in range(400):
        bundle = run / "episodes" / "login" / f"seed-{seed}"
        bundle.mkdir(parents=True)
        shutil.copy(source / "episode.json", bundle / "episode.json")
        (bundle / "steps.jsonl").write_text("not json at all\n")  # would fail loudly if indexing read it
        lines.append(json.dumps({**template, "task": "login", "seed": seed, "bundle": f"episodes/login/seed-{seed}"}))
    (run / "results.jsonl").write_text("\n".join(lines) + "\n" + '{"cut by a kill')
    catalog = Catalog.load([run, recorded["bundle"]])
    assert len(catalog.entries) == 401  # indexed from results.jsonl without touching any steps.jsonl
    entry = next(e for e in catalog.entries.values() if e.seed == 7)
    assert entry.label == "login/seed-7" and entry.outcome == "success" and entry.bundle is not None
    assert catalog.episode(entry)["steps"] == []  # the unreadable line ends the read, as read_bundle does
    with pytest.raises(ViewerPathError, match="does not exist"):
        Catalog.load([run, tmp_path / "void"])  # one bad PATH among good ones is still an error
