"""The phone suite: seeded state, its checks, the UI-tree oracle through `pixelpilot bench phone`, workers
with a simulator each, and a simulator killed in the middle of a unit.

The device tests start simulators of their own (the session's shared one keeps its default layout for
the fixed Android tasks) through the real adb server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from pixelpilot.env.android.simulator.content import decode_state
from pixelpilot.tasks.bench.phone import PhoneDevice, make_episode, templates
from pixelpilot.tasks.bench.phone_state import APPS, SETTINGS, seeded_state
from pixelpilot.tasks.bench.phone_templates import NOTES_URI, contacts_exactly, loose_number, notes_exactly
from tests.test_bench_runner import PIXELPILOT, bench, read_results

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
#: one oracle episode takes a few seconds on an idle machine; limits are generous multiples of that
EPISODE_BUDGET_S = 60


def test_seeding_is_deterministic_varies_by_seed_and_is_multilingual() -> None:
    names = [t.name for t in templates()]
    assert len(names) >= 8
    for name in names:
        first, again = make_episode(name, 11), make_episode(name, 11)
        assert first.model_dump() == again.model_dump(), name
        others = [make_episode(name, s) for s in range(12, 16)]
        assert any(o.goal.state != first.goal.state for o in others), name
        assert len({o.goal.instruction for o in [first, *others]}) > 1, name
    states = [seeded_state(s) for s in range(20)]
    assert len({tuple(c.name for c in s.contacts) for s in states}) == 20
    assert len({tuple(s.launcher) for s in states}) == 20 and len({tuple(s.settings_order) for s in states}) == 20
    assert len({len(s.contacts) for s in states}) > 3 and len({len(s.notes) for s in states}) > 3
    assert sum(bool(CJK.search(" ".join(c.name for c in s.contacts))) for s in states) >= 15
    assert sum(bool(CJK.search(" ".join(n.text for n in s.notes))) for s in states) >= 15
    assert len({tuple(sorted(s.settings.items())) for s in states}) > 10
    # the setup carries exactly the state: the broadcast decodes back to it
    episode = make_episode("copy_number", 3)
    encoded = re.search(r"--es state '([^']+)'", episode.spec.start.setup[0]).group(1)  # type: ignore[union-attr]
    loaded = decode_state(encoded)
    assert loaded.contacts == episode.goal.state.contacts and loaded.notes == episode.goal.state.notes
    assert loaded.launcher == episode.goal.state.launcher


def test_the_same_episode_in_another_process_with_another_hash_seed() -> None:
    """Workers are spawned processes and the oracle rebuilds its goal from the episode id: both must agree."""
    code = (
        "from pixelpilot.tasks.bench.phone import make_episode; print(make_episode('edit_note', 23).model_dump_json())"
    )
    here = make_episode("edit_note", 23).model_dump_json()
    for hash_seed in ("1", "987"):
        there = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )  # fmt: skip
        assert there.returncode == 0, there.stderr
        assert there.stdout.strip() == here


def test_a_model_runs_the_suite_like_the_oracle(adb_server: None, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = bench(
        "phone", "--model", str(tiny_qwen_dir), "--max-pixels", str(64 * 28 * 28), "--max-new-tokens", "16",
        "--max-repairs", "0", "--tasks", "open_app", "--max-steps", "2", "--out", out, "--no-episode-reports",
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    (result,) = read_results(out)
    assert result["status"] in ("max_steps", "finished", "error") and result["steps"] >= 1, result
    episode = json.loads((out / result["bundle"] / "episode.json").read_text())
    assert episode["task"]["instruction"] == make_episode("open_app", 0).goal.instruction
    assert episode["policy"]["name"] != "phone-oracle" and result["metrics"]["visual_tokens_sum"] > 0


def test_goals_that_must_scroll_start_below_the_fold_and_switches_start_the_other_way() -> None:
    for seed in range(30):
        find = make_episode("find_note", seed).goal
        index = [n.text for n in find.state.notes].index(find.params["title"])
        assert index >= 9, (seed, index)
        toggle = make_episode("toggle_setting", seed).goal
        assert toggle.state.settings[toggle.params["row"]] is not toggle.params["on"]
        add = make_episode("add_contact", seed).goal
        assert add.params["name"] not in {c.name for c in add.state.contacts}


def test_note_checks_want_exactly_the_expected_notes_so_wrong_deletions_or_edits_fail() -> None:
    rows = ["Buy milk", "牛乳を買う", "Call mom", "Pay rent"]

    def dump(titles: list[str]) -> str:
        return "\n".join(f"Row: {i} _id={i + 1}, title={t}, body=" for i, t in enumerate(titles))

    delete = notes_exactly(["Buy milk", "Call mom", "Pay rent"])  # 牛乳を買う deleted
    assert re.search(delete, dump(["Buy milk", "Call mom", "Pay rent"]))
    assert re.search(delete, dump(["Pay rent", "Buy milk", "Call mom"]))
    assert not re.search(delete, dump(rows))  # not deleted
    assert not re.search(delete, dump(["Buy milk", "Call mom"]))  # another one deleted too
    assert not re.search(delete, dump(["Buy milk", "Call mom", "牛乳を買う x"]))  # renamed, another deleted
    assert not re.search(delete, dump(["Buy milk x", "Call mom", "Pay rent"]))  # a title is matched whole
    rename = notes_exactly(["Buy milk", "牛乳を買う", "给妈妈打电话", "Pay rent"])  # Call mom renamed
    assert re.search(rename, dump(["Buy milk", "牛乳を買う", "给妈妈打电话", "Pay rent"]))
    assert not re.search(rename, dump([*rows, "给妈妈打电话"]))  # added instead of renamed
    assert not re.search(rename, dump(["Buy milk", "牛乳を買う", "给妈妈打电话", "Call mom"]))  # another renamed
    contacts = [("李伟", "+86 10 1234 5678"), ("Ana Díaz", "555-0101")]
    listing = "\n".join(f"Row: {i} _id={i + 1}, display_name={n}, number={p}" for i, (n, p) in enumerate(contacts))
    assert re.search(contacts_exactly(contacts), listing)
    assert not re.search(contacts_exactly([contacts[0], ("Ana Díaz", "555-0102")]), listing)  # number not changed
    assert not re.search(contacts_exactly(contacts[:1]), listing)  # not deleted


def test_a_number_matches_in_any_format_but_not_inside_a_longer_number() -> None:
    pattern = loose_number("+49 30 8358663")
    for answer in ("+49 30 8358663", "4930 835-8663", "The number is (49) 30.8358663.", "+4930 8358663"):
        assert re.search(pattern, answer), answer
    for answer in ("+49 30 835866", "+49 30 83586631", "149 30 8358663", "+49 30 8358664"):
        assert not re.search(pattern, answer), answer


def test_a_seeded_state_reaches_the_phone_through_the_setup(adb_server: None) -> None:
    episode = make_episode("toggle_setting", 5)
    state = episode.goal.state
    with PhoneDevice() as device:
        env, link = device.env, device.env.link
        for command in episode.spec.start.setup:
            rc, out = link.shell_rc(command)
            assert rc == 0, out
        contacts = link.shell(f"content query --uri {NOTES_URI.replace('notes/notes', 'contacts/contacts')}")
        assert contacts.count("Row: ") == len(state.contacts)
        for contact in state.contacts:
            assert f"display_name={contact.name}, number={contact.phone}" in contacts
        notes = link.shell(f"content query --uri {NOTES_URI}").splitlines()
        assert [re.sub(r"^Row: \d+ _id=\d+, title=(.*), body=$", r"\1", line) for line in notes] == [
            n.text for n in state.notes
        ]
        for row, on in state.settings.items():
            _, ns, key, on_value, off_value = SETTINGS[row]
            assert link.shell(f"settings get {ns} {key}") == (on_value if on else off_value), row
        # the launcher shows the seeded order, row by row
        icons = [e for e in env.ui_tree() if e.resource_id.startswith("com.pixelsim.launcher:id/app_")]
        shown = [APPS[e.text] for e in sorted(icons, key=lambda e: (e.bounds[1] // 50, e.bounds[0]))]
        assert shown == state.launcher
        # Settings lists its switches in the seeded order, each in its seeded state
        link.shell("am start -n com.pixelsim.settings/.SettingsActivity")
        switches = [e for e in env.ui_tree() if e.resource_id.endswith("_switch")]
        first = [e.resource_id.rsplit("/", 1)[1].removesuffix("_switch") for e in switches]
        assert first == state.settings_order[: len(first)] and len(first) < len(SETTINGS)  # the rest: scroll
        assert all(e.checked == state.settings[r] for e, r in zip(switches, first, strict=True))
        # a broken state is refused, and the setup fails loudly instead of starting from the last state
        rc, out = link.shell_rc("am broadcast -a com.pixelsim.action.LOAD_STATE --es state 'bm90IGpzb24='")
        assert rc == 1 and "Broadcast failed: state is not base64 of UTF-8 JSON" in out
        assert link.shell(f"content query --uri {NOTES_URI}").count("Row: ") == len(state.notes)  # unchanged
        rc, out = link.shell_rc("content query --uri content://sms/inbox")
        assert rc == 1 and "Unknown URI content://sms/inbox" in out


def _bundle_serial(out: Path, result: dict[str, Any]) -> str:
    return json.loads((out / result["bundle"] / "episode.json").read_text())["env"]["serial"]


def test_the_oracle_solves_every_template_on_two_workers_with_a_simulator_each(
    adb_server: None, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    names = [t.name for t in templates()]
    units = len(names) * 2
    args = ["--policy", "oracle", "--seeds", "2", "--seed-start", "40", "--workers", "2", "--out", out]
    proc = bench("phone", *args, "--no-episode-reports", timeout=120 + units * EPISODE_BUDGET_S / 2)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = read_results(out)
    assert sorted((r["task"], r["seed"]) for r in results) == sorted((n, s) for n in names for s in (40, 41))
    failed = [(r["task"], r["seed"], r["status"], r["error"]) for r in results if not r["success"]]
    assert not failed
    # two workers, each on a simulator of its own (a port each, never shared)
    by_worker = {r["worker"]: set() for r in results}
    for r in results:
        by_worker[r["worker"]].add(_bundle_serial(out, r))
    assert sorted(by_worker) == [0, 1] and all(len(s) == 1 for s in by_worker.values())
    assert len(set.union(*by_worker.values())) == 2
    # it acts through a model's tools in screenshot pixels: scrolling long lists, long presses, typing
    actions = Counter()
    for r in results:
        for line in (out / r["bundle"] / "steps.jsonl").read_text().splitlines():
            action = json.loads(line)["action"]
            actions[action["action"]] += 1
            if "x" in action:
                assert 0 <= action["x"] < 1080 and 0 <= action["y"] < 2340
    assert set(actions) <= {"click", "scroll", "long_press", "type", "home", "back", "answer", "finish"}
    assert {"scroll", "long_press", "type", "home", "answer"} <= set(actions), actions
    # the run key and resume work as for MiniWoB: nothing left to do, the same key
    key = results[0]["run_key"]
    again = bench("phone", *args, "--resume", timeout=120)
    assert again.returncode == 0, again.stderr + again.stdout
    assert f"{units} units, {units} already done, 0 to run" in again.stdout and key in again.stdout
    other = bench("phone", *args[:-2], "--max-steps", "40", "--limit", "1", "--out", tmp_path / "other", timeout=300)
    assert other.returncode == 0 and key not in other.stdout  # a setting that changes results changes the key
    listed = bench("list", "phone")
    assert listed.returncode == 0 and all(n in listed.stdout for n in names) and "long list" in listed.stdout


def _simulators_under(pid: int) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if "pixelpilot.env.android.simulator" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def test_a_simulator_killed_mid_unit_is_an_env_error_and_the_run_goes_on(adb_server: None, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [*PIXELPILOT, "bench", "phone", "--policy", "oracle", "--tasks", "copy_number", "--seeds", "3",
               "--out", str(out), "--no-episode-reports"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = out / "episodes" / "copy_number" / "seed-0" / "steps.jsonl"
        deadline = time.monotonic() + 180
        while not (first.exists() and first.read_text().count("\n") >= 2):  # two steps in: mid-unit
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        simulators = _simulators_under(proc.pid)
        assert len(simulators) == 1
        simulators[0].kill()
        stdout, stderr = proc.communicate(timeout=3 * EPISODE_BUDGET_S + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr + stdout  # an env error is the unit's result, not a lost unit
    results = {r["seed"]: r for r in read_results(out)}
    assert sorted(results) == [0, 1, 2]
    assert results[0]["status"] == "env_error" and not results[0]["success"] and results[0]["error"]
    assert results[1]["success"] and results[2]["success"], results
    assert Counter(r["worker"] for r in results.values()) == {0: 3}  # the same worker, with a new simulator
    assert _bundle_serial(out, results[1]) != _bundle_serial(out, results[0])
    assert re.search(r"statuses: .*env_error 1", stdout), stdout


def test_serial_runs_the_suite_on_a_simulator_started_elsewhere(adb_server: None, tmp_path: Path) -> None:
    from pixelpilot.env.android.simulator import start_simulator
    from tests.android_fixtures import adb, connect

    with start_simulator(port=0, adb_keyboard=True) as phone:
        connect(phone.serial)
        try:
            out = tmp_path / "run"
            args = ["--policy", "oracle", "--tasks", "add_contact", "--seed-start", "10", "--serial", phone.serial]
            proc = bench("phone", *args, "--out", out, timeout=120 + EPISODE_BUDGET_S)
            assert proc.returncode == 0, proc.stderr + proc.stdout
            (result,) = read_results(out)
            assert result["success"] and _bundle_serial(out, result) == phone.serial
            # the contact (高橋美咲) is on this phone, typed in its own script
            contact = make_episode("add_contact", 10).goal.params
            shown = subprocess.run(
                ["adb", "-s", phone.serial, "shell", "content query --uri content://com.pixelsim.contacts/contacts"],
                capture_output=True, text=True, timeout=60,
            ).stdout  # fmt: skip
            assert f"display_name={contact['name']}, number={contact['number']}" in shown
        finally:
            adb("disconnect", phone.serial)
