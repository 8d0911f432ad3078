"""The debugger and the viewer obey only their own page, in real Chromium.

The user has the page open (so the browser holds its per-port cookie); a page served from another
port of 127.0.0.1, which is *same-site* with it and so gets that cookie attached to its requests,
tries a text/plain form POST, a ``no-cors`` fetch, a preflighted JSON fetch, ``<img>`` GETs of the
API and files, and framing the page. The session's state must not move, the server must have seen
and refused each attempt (its log), and the framed page must stay empty. The user's own page keeps
working, also after a reload once the token has left the address bar. A plain HTTP client is held to
the documented rule: token header, JSON, and an Origin that is the server's own or absent.
"""

from __future__ import annotations

import http.client
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pixelpilot.env.browser.chromium import find_chromium, launch_args
from pixelpilot.env.browser.env import acquire_playwright, release_playwright
from pixelpilot.tasks import EXAMPLES_DIR
from tests.test_cli import PIXELPILOT

# how long a browser or server takes to react; generous, since each wait polls and ends on success
REACT_S = 60.0
SCRIPT = [
    {"coords": "css"},
    {"action": "click", "x": 640, "y": 270},
    {"action": "type", "text": "alice"},
    {"action": "click", "x": 640, "y": 352},
    {"action": "finish", "status": "success"},
]


class Served:
    """A `pixelpilot debug`/`view` subprocess: its URL, and its stderr (where refusals are logged) as it comes."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = url.split("token=", 1)[1]
        self.lines: list[str] = []
        assert proc.stderr is not None
        stderr = proc.stderr
        threading.Thread(target=lambda: self.lines.extend(iter(stderr.readline, "")), daemon=True).start()

    def refused(self, method: str, path: str) -> int:
        return sum(f"refused {method} {path}:" in line for line in list(self.lines))

    def refusals(self) -> int:
        return sum(" refused " in line for line in list(self.lines))

    def wait_refused(self, expected: dict[tuple[str, str], int]) -> None:
        deadline = time.monotonic() + REACT_S
        while time.monotonic() < deadline:
            if all(self.refused(m, p) >= n for (m, p), n in expected.items()):
                return
            time.sleep(0.1)
        seen = {key: self.refused(*key) for key in expected}
        raise AssertionError(f"the server did not refuse every attempt: {seen}\n{''.join(self.lines)}")

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=REACT_S)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def state(self) -> dict[str, Any]:
        status, body, _ = self.request("GET", "/api/state", {"x-pixelpilot-token": self.token})
        assert status == 200, body
        return json.loads(body)


@contextmanager
def serve(*args: str | Path, prefix: str) -> Iterator[Served]:
    proc = subprocess.Popen([*PIXELPILOT, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith(prefix):
                url = line.split()[-1]
                break
        assert url, f"no URL printed; exit {proc.poll()}"
        threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
        yield Served(proc, url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def attacker() -> Iterator[tuple[str, dict[str, str]]]:
    """A site on another 127.0.0.1 port serving whatever HTML the test puts in the dict."""
    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()


@pytest.fixture()
def context() -> Iterator[Any]:
    """One browser profile: the user's tab and the other site's tab share its cookies."""
    pw = acquire_playwright()
    browser = pw.chromium.launch(executable_path=find_chromium(None), args=launch_args(()), headless=True)
    try:
        yield browser.new_context(viewport={"width": 1400, "height": 900})
    finally:
        browser.close()
        release_playwright()


def text_plain_form(target: str, fields: dict[str, Any], sink: str) -> str:
    """A form that, text/plain-encoded, posts ``fields`` as a JSON body (the classic cross-site JSON CSRF)."""
    body = json.dumps({**fields, "pad": ""})
    name, value = body[:-2], body[-2:]  # the encoder's '=' between them lands inside the pad string
    return (
        f'<iframe name="{sink}"></iframe><form method="POST" action="{target}" enctype="text/plain" target="{sink}">'
        f"<input type=\"hidden\" name='{name}' value='{value}'></form>"
    )


def attack_page(base: str, forms: list[str], images: list[str], fetches: list[str]) -> str:
    """Every attempt at once; ``window.__done`` counts the ones the page can see finish."""
    imgs = "".join(f'<img data-src="{base}{path}">' for path in images)
    return f"""<!doctype html><html><body>
{"".join(forms)}{imgs}
<iframe id="framed" name="framed" src="{base}/"></iframe>
<script>
window.__img = {{}};
window.__done = 0;
for (const img of document.querySelectorAll("img")) {{
  img.onload = () => {{ window.__img[img.dataset.src] = img.naturalWidth; window.__done++; }};
  img.onerror = () => {{ window.__img[img.dataset.src] = "error"; window.__done++; }};
  img.src = img.dataset.src;
}}
{"".join(fetches)}
for (const form of document.forms) form.submit();
</script></body></html>"""


def no_cors_post(url: str, body: dict[str, Any]) -> str:
    payload = json.dumps(json.dumps(body))
    return (
        f'fetch("{url}", {{method: "POST", mode: "no-cors", credentials: "include", '
        f'headers: {{"content-type": "text/plain"}}, body: {payload}}})'
        ".catch(() => 0).finally(() => window.__done++);\n"
    )


def json_post(url: str, body: dict[str, Any]) -> str:
    """A CORS fetch with a JSON body: the browser asks first (OPTIONS), and must be told no."""
    payload = json.dumps(json.dumps(body))
    return (
        f'fetch("{url}", {{method: "POST", credentials: "include", '
        f'headers: {{"content-type": "application/json"}}, body: {payload}}}).catch(() => 0)'
        ".finally(() => window.__done++);\n"
    )


def no_cors_get(url: str) -> str:
    return (
        f'fetch("{url}", {{mode: "no-cors", credentials: "include"}}).catch(() => 0).finally(() => window.__done++);\n'
    )


def framed_document(page: Any) -> str:
    """What the attacker's iframe of the page shows: empty when the browser refused to frame it."""
    frame = next(f for f in page.frames if f.name == "framed")
    return "" if frame.url.startswith("chrome-error:") else frame.content()


def wait_state(page: Any, predicate: str) -> None:
    page.wait_for_function(
        f"() => {{ const s = window.__ppState; return !!s && ({predicate}); }}", timeout=REACT_S * 1000
    )


def track_state(page: Any) -> None:
    page.add_init_script(
        "(() => { const orig = window.EventSource; window.EventSource = function (u) { const es = new orig(u);"
        " es.addEventListener('message', (e) => { window.__ppState = JSON.parse(e.data); }); return es; }; })()"
    )


def test_another_port_cannot_drive_the_paused_debugger(context: Any, attacker: Any, tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    script.write_text("\n".join(json.dumps(line) for line in SCRIPT))
    site, pages = attacker
    args = ["debug", EXAMPLES_DIR / "login.yaml", "--script", script, "--out", tmp_path / "runs"]
    with serve(*args, "--confirm", "password", prefix="debugger: ") as dbg:
        user = context.new_page()
        track_state(user)
        user.goto(dbg.url)
        wait_state(user, "s.status === 'paused' && s.step === 1")
        assert "token=" not in user.url  # the page cleared it from the address bar (and so from history)
        before = dbg.state()
        assert before["confirm"] == ["password"] and before["proposal"]["action"]["x"] == 640.0
        quiet = dbg.refusals()

        command = f"{dbg.base}/api/command"
        pages["/attack.html"] = attack_page(
            dbg.base,
            forms=[
                text_plain_form(command, {"cmd": "set_confirm", "confirm": []}, "sink1"),
                text_plain_form(command, {"cmd": "edit", "action": {"action": "click", "x": 1, "y": 1}}, "sink2"),
            ],
            images=["/api/current/screenshot", "/api/state"],
            fetches=[no_cors_post(command, {"cmd": "continue"}), json_post(command, {"cmd": "skip"})],
        )
        evil = context.new_page()
        evil.goto(f"{site}/attack.html")
        evil.wait_for_function("() => window.__done >= 4", timeout=REACT_S * 1000)  # 2 images, 2 fetches
        dbg.wait_refused(
            {
                ("POST", "/api/command"): 3,  # two forms, the no-cors fetch
                ("OPTIONS", "/api/command"): 1,  # the JSON fetch's preflight
                ("GET", "/api/current/screenshot"): 1,
                ("GET", "/api/state"): 1,
                ("GET", "/"): 1,  # the iframe
            }
        )
        images = evil.evaluate("() => window.__img")
        assert images == {f"{dbg.base}/api/current/screenshot": "error", f"{dbg.base}/api/state": "error"}
        assert "btn-step" not in framed_document(evil)

        after = dbg.state()
        for key in ("status", "step", "mode", "confirm", "breakpoints", "proposal", "version"):
            assert after[key] == before[key], key

        # the user's own page still drives the session, also after a reload without the token in the URL
        evil.close()
        refused_by_attack = dbg.refusals()
        user.click("#btn-step")
        wait_state(user, "s.status === 'paused' && s.step === 2")
        user.reload()
        wait_state(user, "s.status === 'paused' && s.step === 2")
        user.wait_for_function("() => window.__ppShotLoads >= 1", timeout=REACT_S * 1000)  # images by the cookie
        user.click("#confirm input[data-rule='navigate']")
        wait_state(user, "s.confirm.includes('navigate')")
        user.click("#btn-continue")
        wait_state(user, "s.status === 'done' && !!s.result")
        assert sorted(dbg.state()["confirm"]) == ["navigate", "password"]
        assert dbg.refusals() == refused_by_attack > quiet


def test_plain_clients_need_the_token_header_json_and_their_own_origin(tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    script.write_text("\n".join(json.dumps(line) for line in SCRIPT))
    args = ["debug", EXAMPLES_DIR / "login.yaml", "--script", script, "--out", tmp_path / "runs"]
    with serve(*args, "--confirm", "password", prefix="debugger: ") as dbg:
        deadline = time.monotonic() + REACT_S
        while dbg.state()["status"] != "paused" and time.monotonic() < deadline:
            time.sleep(0.1)
        header = {"x-pixelpilot-token": dbg.token}
        cookie = {"cookie": f"pixelpilot_token_{urlsplit(dbg.base).port}={dbg.token}"}
        as_json = {"content-type": "application/json"}
        own, other = dbg.base, "http://127.0.0.1:1"
        body = json.dumps({"cmd": "set_confirm", "confirm": []}).encode()

        def post(headers: dict[str, str], path: str = "/api/command") -> int:
            return dbg.request("POST", path, headers, body)[0]

        refused = {
            "text/plain body": {**header, "content-type": "text/plain"},
            "no content type": header,
            "token in the cookie only": {**cookie, **as_json, "sec-fetch-site": "same-origin", "origin": own},
            "another origin": {**header, **as_json, "origin": other},
            "Origin: null": {**header, **as_json, "origin": "null"},
            "another port (same-site)": {**header, **as_json, "sec-fetch-site": "same-site", "origin": other},
            "a browser page without Origin": {**header, **as_json, "sec-fetch-site": "same-origin"},
            "a user navigation": {**header, **as_json, "sec-fetch-site": "none"},
        }
        for why, headers in refused.items():
            assert post(headers) == 403, why
        assert post(as_json, f"/api/command?token={dbg.token}") == 403  # the token in the query only
        assert dbg.state()["confirm"] == ["password"]

        assert post({**header, **as_json}) == 200  # a script: no Origin, no Sec-Fetch-Site
        assert dbg.state()["confirm"] == []
        assert post({**header, **as_json, "origin": own, "sec-fetch-site": "same-origin"}) == 200  # the page

        # reads: the token header always works; the cookie only with a browser's own-page metadata
        assert dbg.request("GET", "/api/state", header)[0] == 200
        assert dbg.request("GET", "/api/state", cookie)[0] == 403
        assert dbg.request("GET", "/api/state", {**cookie, "sec-fetch-site": "same-origin"})[0] == 200
        assert dbg.request("GET", "/api/state", {**cookie, "sec-fetch-site": "same-site"})[0] == 403
        assert dbg.request("GET", "/api/state", {**header, "sec-fetch-site": "cross-site"})[0] == 403
        # the printed link clicked on another local site opens the page, but only as a top-level document
        link = {"sec-fetch-site": "same-site", "sec-fetch-mode": "navigate"}
        assert dbg.request("GET", f"/?token={dbg.token}", {**link, "sec-fetch-dest": "document"})[0] == 200
        assert dbg.request("GET", f"/?token={dbg.token}", {**link, "sec-fetch-dest": "iframe"})[0] == 403
        assert dbg.request("GET", "/", {**cookie, **link, "sec-fetch-dest": "document"})[0] == 403

        for status_wanted, path, headers in ((200, "/", header), (200, "/api/state", header), (403, "/", {})):
            status, page, got = dbg.request("GET", path, headers)
            assert status == status_wanted, path
            assert got["x-frame-options"] == "DENY" and got["content-security-policy"] == "frame-ancestors 'none'"
            assert got["referrer-policy"] == "no-referrer" and got["cache-control"] == "no-store"
        status, page, _ = dbg.request("GET", "/", header)
        assert f'content="{dbg.token}"' in page.decode()  # the page carries its token; its URL need not


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("origin-bundles")
    proc = subprocess.run(
        [*PIXELPILOT, "run", str(EXAMPLES_DIR / "login.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return next(out.iterdir())


def test_another_port_cannot_read_the_viewer(context: Any, attacker: Any, bundle: Path) -> None:
    site, pages = attacker
    with serve("view", bundle, "--no-open", "--port", "0", prefix="viewer: ") as viewer:
        header = {"x-pixelpilot-token": viewer.token}
        episode = json.loads(viewer.request("GET", "/api/episodes", header)[1])["episodes"][0]
        detail = json.loads(viewer.request("GET", f"/api/episodes/{episode['id']}", header)[1])
        shot = f"/api/episodes/{episode['id']}/files/{detail['steps'][0]['screenshot']}"

        user = context.new_page()
        user.goto(viewer.url)
        user.wait_for_selector("body[data-ready]")
        assert "token=" not in user.url
        quiet = viewer.refusals()

        pages["/attack.html"] = attack_page(
            viewer.base,
            forms=[text_plain_form(f"{viewer.base}/api/episodes", {"cmd": "anything"}, "sink1")],
            images=[shot, "/api/episodes"],
            fetches=[no_cors_get(f"{viewer.base}/api/episodes/{episode['id']}")],
        )
        evil = context.new_page()
        evil.goto(f"{site}/attack.html")
        evil.wait_for_function("() => window.__done >= 3", timeout=REACT_S * 1000)
        viewer.wait_refused(
            {
                ("GET", shot): 1,
                ("GET", "/api/episodes"): 1,
                ("GET", f"/api/episodes/{episode['id']}"): 1,
                ("POST", "/api/episodes"): 1,
                ("GET", "/"): 1,
            }
        )
        assert evil.evaluate("() => window.__img") == {
            f"{viewer.base}{shot}": "error",
            f"{viewer.base}/api/episodes": "error",
        }
        assert "episodes" not in framed_document(evil)
        evil.close()
        refused_by_attack = viewer.refusals()

        # read-only even for the token holder: no method but GET/HEAD
        assert viewer.request("POST", "/api/episodes", {**header, "content-type": "application/json"}, b"{}")[0] == 403

        # the user's page still lists, opens and shows an episode after a reload without the token
        user.reload()
        user.wait_for_selector("body[data-ready]")
        user.click(f'#episodes a:text-is("{episode["label"]}")')
        user.wait_for_function("document.querySelector('.pane .shot img')?.naturalWidth > 0")
        assert viewer.refusals() == refused_by_attack + 1 > quiet
