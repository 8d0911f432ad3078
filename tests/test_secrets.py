"""Secrets never land anywhere: not in a bundle's files, not on the terminal, not in the debugger's API.

Each test runs a real login (real Chromium against a local HTTP server, through the CLI where a user
would), then searches every byte of the bundle and of the CLI's output for the secret in each form
it could take there: raw, URL-encoded (``%20`` and ``+``), HTML-escaped and JSON-escaped. The secret
holds a space, ``&``, quotes, ``<>``, ``%``, ``+``, ``/``, a backslash and a non-ASCII letter, so each
encoding changes it.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import pytest

from pixelpilot.agent import Agent, AgentConfig, Decision, EpisodeSpec, Policy, ScriptedPolicy, read_bundle
from pixelpilot.agent.secrets import SECRET_MASK, SecretSet, SecretSource
from pixelpilot.env import StartSpec
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks import Task, TaskFileError
from tests.test_cli import PIXELPILOT

SECRET = 'Tr0ub4dor & "3" <ö> 50%+/\\'
PAGES = Path(__file__).parent / "pages"
# the fields and the button of tests/pages/login_*.html (CSS px, = screenshot px at scale 1)
USER, PASSWORD, NOTE, SUBMIT = (
    {"action": "click", "x": x, "y": y} for x, y in ((220, 116), (220, 176), (220, 236), (160, 296))
)


def secret_forms(secret: str = SECRET) -> dict[str, bytes]:
    """The spellings a secret takes in artefacts, computed here with the standard library."""
    forms = {
        "raw": secret,
        "url %20": quote(secret, safe=""),
        "url +": quote_plus(secret, safe=""),
        "html": html.escape(secret),
        "html (no quotes)": html.escape(secret, quote=False),
        "json": json.dumps(secret)[1:-1],
        "json (utf-8)": json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    assert len(set(forms.values())) == len(forms)  # each encoding really changes this secret
    return {name: form.encode() for name, form in forms.items()}


def leaks(blobs: dict[str, bytes], secret: str = SECRET) -> list[str]:
    """'where: form' for every form of ``secret`` found in ``blobs`` (name -> bytes)."""
    return [
        f"{where}: {form} x{data.count(encoded)}"
        for where, data in blobs.items()
        for form, encoded in secret_forms(secret).items()
        if encoded in data
    ]


def bundle_bytes(bundle: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(bundle)): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}
    assert {"episode.json", "steps.jsonl", "report.html"} <= set(files), files.keys()
    return files


class _Site(SimpleHTTPRequestHandler):
    """tests/pages over GET; POST /login_post answers with a page whose title echoes the password."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.received.append(("GET", self.path, b""))  # type: ignore[attr-defined]
        super().do_GET()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received.append(("POST", self.path, body))  # type: ignore[attr-defined]
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        page = (
            f"<!doctype html><meta charset='utf-8'><title>Welcome {html.escape(form.get('username', ''))}"
            f" ({html.escape(form.get('password', ''))})</title><p>Signed in</p>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


@pytest.fixture()
def site() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Site, directory=str(PAGES)))
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    server.shutdown()


def passwords_received(received: list[tuple[str, str, bytes]]) -> list[str]:
    """The passwords the site got, decoded from GET queries and POST bodies."""
    found = []
    for _method, path, body in received:
        for text in (urlsplit(path).query, body.decode()):
            found += parse_qs(text).get("password", [])
    return found


def write_task(folder: Path, url: str, *, success: dict[str, Any], **extra: Any) -> Path:
    task = {"id": "secret-login", "instruction": "Sign in as alice.", "start": {"url": url}, "max_steps": 10}
    path = folder / "task.json"  # JSON: the secret's quotes and backslash need no YAML escaping
    path.write_text(json.dumps({**task, "success": success, **extra}))
    return path


def write_script(folder: Path, actions: list[dict[str, Any]]) -> Path:
    path = folder / "script.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in [{"coords": "css"}, *actions]))
    return path


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*PIXELPILOT, *map(str, args)], capture_output=True, timeout=180, env={**os.environ, **(env or {})}
    )


def only_bundle(out: Path) -> Path:
    (bundle,) = [p.parent for p in out.rglob("episode.json")]
    return bundle


LOGIN = [USER, {"action": "type", "text": "alice"}, PASSWORD, {"action": "type", "text": SECRET}, SUBMIT]
# after the submit, a pause: the form's navigation has landed by the next step's screenshot
DONE = [{"action": "wait", "seconds": 1}, {"action": "finish", "status": "success"}]


def test_secret_set_masks_every_spelling_deeply() -> None:
    secrets = SecretSet([SECRET])
    for form in secret_forms().values():
        assert secrets.mask_text(f"a{form.decode()}b") == f"a{SECRET_MASK}b"
    mixed = quote(SECRET, safe="!&").replace("%2F", "%2f")  # encodeURIComponent-like, lower-case hex
    assert secrets.mask_text(mixed) == SECRET_MASK
    record = {"id": "x", "action": "type", "text": [SECRET], "nested": ({"url": f"?p={quote_plus(SECRET)}"},)}
    assert secrets.mask(record) == {
        "id": "x",
        "action": "type",
        "text": [SECRET_MASK],
        "nested": ({"url": "?p=" + SECRET_MASK},),
    }
    assert secrets.mask_text("Tr0ub4dor & 3") == "Tr0ub4dor & 3"  # a part of a secret is not the secret
    assert SecretSet([SECRET], masking=False).mask_text(SECRET) == SECRET  # record_secrets


def test_get_form_login_leaves_no_trace(site: tuple[str, list], tmp_path: Path) -> None:
    url, received = site
    task = write_task(tmp_path, f"{url}/login_get.html", success={"type": "url", "pattern": "username=alice"})
    script = write_script(tmp_path, [*LOGIN, *DONE])
    proc = run_cli("run", task, "--script", script, "--out", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr.decode()
    assert passwords_received(received) == [SECRET]  # the site did get the password, in the URL
    bundle = only_bundle(tmp_path / "runs")
    _, steps = read_bundle(bundle)
    assert steps[3].masked and steps[3].action == {
        **LOGIN[3],
        "text": SECRET_MASK,
        "press_enter": False,
        "clear": False,
    }
    assert steps[-1].observation.url == f"{url}/login_get.html?username=alice&password={SECRET_MASK}&note="
    # the last line says why it succeeded, with the URL the check matched: masked there too
    assert f"password={SECRET_MASK}".encode() in proc.stdout
    assert leaks({**bundle_bytes(bundle), "stdout": proc.stdout, "stderr": proc.stderr}) == []


def test_post_form_login_leaves_no_trace(site: tuple[str, list], tmp_path: Path) -> None:
    url, received = site
    task = write_task(tmp_path, f"{url}/login_post.html", success={"type": "text", "text": "Signed in"})
    script = write_script(tmp_path, [*LOGIN, *DONE])
    proc = run_cli("run", task, "--script", script, "--out", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr.decode()
    assert passwords_received(received) == [SECRET]
    bundle = only_bundle(tmp_path / "runs")
    _, steps = read_bundle(bundle)
    assert steps[-1].observation.title == f"Welcome alice ({SECRET_MASK})"  # the page echoed it; the record does not
    assert leaks({**bundle_bytes(bundle), "stdout": proc.stdout, "stderr": proc.stderr}) == []


def test_declared_secret_in_the_instruction_is_masked_from_step_one(site: tuple[str, list], tmp_path: Path) -> None:
    url, received = site
    success = {"type": "url", "pattern": "username=alice"}
    secrets = {"password": {"env": "PP_TEST_LOGIN_SECRET"}}
    task = write_task(
        tmp_path, f"{url}/login_get.html", success=success, secrets=secrets,
        instruction=f"Sign in as alice with the password {SECRET} and note it down.",
    )  # fmt: skip
    # the password field gets the placeholder, the plain note field the value itself: no password
    # field tells the env that one is secret, only the declaration does
    actions = [*LOGIN[:3], {"action": "type", "text": "{secret:password}"}, NOTE, {"action": "type", "text": SECRET}]
    script = write_script(tmp_path, [*actions, SUBMIT, *DONE])

    unset = run_cli("run", task, "--script", script, "--out", tmp_path / "none")
    assert unset.returncode == 2 and b"environment variable PP_TEST_LOGIN_SECRET is not set" in unset.stderr

    proc = run_cli("run", task, "--script", script, "--out", tmp_path / "runs", env={"PP_TEST_LOGIN_SECRET": SECRET})
    assert proc.returncode == 0, proc.stderr.decode()
    assert passwords_received(received) == [SECRET]  # the placeholder typed the value
    bundle = only_bundle(tmp_path / "runs")
    record, steps = read_bundle(bundle)
    assert record.task["instruction"] == f"Sign in as alice with the password {SECRET_MASK} and note it down."
    assert record.task["secrets"] == {"password": {"env": "PP_TEST_LOGIN_SECRET", "file": None}}  # never the value
    assert steps[5].masked and steps[5].action["text"] == SECRET_MASK  # typed into an ordinary field
    assert f"Sign in as alice with the password {SECRET_MASK}".encode() in proc.stdout
    assert leaks({**bundle_bytes(bundle), "stdout": proc.stdout, "stderr": proc.stderr}) == []
    task_text = (tmp_path / "task.json").read_bytes()
    assert leaks({"task": task_text}) != []  # (the search does find it where it is)


def test_policy_gets_the_value_while_its_output_is_masked(
    browser: BrowserEnv, site: tuple[str, list], tmp_path: Path
) -> None:
    """A model-like policy sees the declared value in its instruction and echoes it in every encoding."""
    url, received = site
    seen: list[str] = []

    class Echo(Policy):
        def __init__(self) -> None:
            self.script = ScriptedPolicy([*LOGIN[:3], {"action": "type", "text": SECRET}, SUBMIT, {"action": "finish"}])

        def decide(self, instruction: str, observation: Any, history: list[Any]) -> Decision:
            seen.append(instruction)
            d = self.script.decide(instruction, observation, history)
            raw = f"{d.action.model_dump_json()} {quote(SECRET)} {html.escape(SECRET)} {json.dumps(instruction)}"
            return Decision(action=d.action, raw_output=raw, metadata={"messages": [{"text": instruction}]})

    spec = EpisodeSpec(
        id="echo",
        instruction="Log in with {secret:pw}.",
        start=StartSpec(url=f"{url}/login_get.html"),
        secrets={"pw": SecretSource(file=str(tmp_path / "pw.txt"))},
    )
    (tmp_path / "pw.txt").write_text(SECRET + "\n")
    result = Agent(browser, Echo(), AgentConfig(out_dir=tmp_path / "runs")).run(spec)
    assert seen[0] == f"Log in with {SECRET}." and passwords_received(received) == [SECRET]
    _, steps = read_bundle(result.bundle)
    assert steps[0].raw_output is not None and steps[0].raw_output.count(SECRET_MASK) == 3
    assert steps[0].policy["messages"][0]["text"] == f"Log in with {SECRET_MASK}."
    assert leaks(bundle_bytes(result.bundle)) == []
    kept = Agent(browser, Echo(), AgentConfig(out_dir=tmp_path / "kept", record_secrets=True)).run(spec)
    assert leaks(bundle_bytes(kept.bundle))  # --record-secrets keeps them, declared ones too
    with pytest.raises(ValueError, match="names a secret the task does not declare"):
        EpisodeSpec(id="x", instruction="use {secret:nope}", start=StartSpec(url=url))


def test_unreadable_secret_is_a_task_file_error(tmp_path: Path) -> None:
    task = write_task(tmp_path, "https://example.com/", success={"type": "none"}, secrets={"k": {"file": "k.txt"}})
    with pytest.raises(TaskFileError, match=r"secret 'k': cannot read .*k\.txt"):
        Task.from_file(task)
    (tmp_path / "k.txt").write_text("value\n")
    assert SecretSet.for_spec(Task.from_file(task)).named == {"k": "value"}  # relative to the task file


# ---------------------------------------------------------------------------------------------- debugger
@contextmanager
def debugger(*args: str | Path) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    proc = subprocess.Popen([*PIXELPILOT, "debug", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("debugger: http://127.0.0.1:"), line
        url = line.split()[1]
        base, token = url.split("/?token=")
        with httpx.Client(base_url=base, headers={"x-pixelpilot-token": token}, timeout=30) as client:
            yield client, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_state(client: httpx.Client, done: Any, what: str, limit_s: float = 90) -> httpx.Response:
    """Poll the state until ``done(state)``; the limit only catches a hung run (each step takes ~1 s)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        response = client.get("/api/state")
        response.raise_for_status()
        if done(response.json()):
            return response
        time.sleep(0.1)
    raise AssertionError(f"the debugger never reached: {what}; last state {response.json()}")


def command(client: httpx.Client, **cmd: Any) -> None:
    response = client.post("/api/command", json=cmd)
    assert response.status_code == 200, response.text


def test_debugger_edit_reask_and_approve_on_the_password_step(site: tuple[str, list], tmp_path: Path) -> None:
    url, received = site
    task = write_task(tmp_path, f"{url}/login_get.html", success={"type": "url", "pattern": "username=alice"})
    script = write_script(tmp_path, [*LOGIN, *DONE])
    out = tmp_path / "runs"
    args = [task, "--script", script, "--out", out, "--confirm", "password", "--continue", "--exit-when-done"]
    with debugger(*args) as (client, proc):
        paused = wait_state(client, lambda s: s["status"] == "paused" and s["step"] == 4, "the password step")
        # the step waiting to run shows its action as is (an edit must run what it says)
        assert paused.json()["proposal"]["action"]["text"] == SECRET
        command(client, cmd="edit", action={"action": "type", "text": SECRET, "clear": True})
        version = client.get("/api/state").json()["version"]
        command(client, cmd="reask")
        wait_state(client, lambda s: s["version"] > version and s["proposal"]["source"] == "reask", "the re-ask")
        command(client, cmd="pause")  # stop again at the next step (the run was continuing)
        command(client, cmd="step")  # approve the re-asked proposal
        after = wait_state(client, lambda s: s["status"] == "paused" and s["step"] == 5, "the step after")
        step4 = after.json()["steps"][3]
        assert [i["kind"] for i in step4["interventions"]] == ["reask", "approve"]
        assert step4["interventions"][0]["proposed"]["text"] == SECRET_MASK  # the edit the re-ask replaced
        assert leaks({"state after the step": after.content}) == []
        command(client, cmd="continue")
        final = wait_state(client, lambda s: s["status"] == "done" and s["result"] is not None, "the end")
        assert final.json()["result"]["success"] is True
        assert f"password={SECRET_MASK}" in final.json()["screenshot"]["page_url"]
        assert leaks({"final state": final.content}) == []
        stdout, stderr = proc.communicate(timeout=60)
    assert passwords_received(received) == [SECRET]
    bundle = only_bundle(out)
    assert leaks({**bundle_bytes(bundle), "stdout": stdout, "stderr": stderr}) == []
