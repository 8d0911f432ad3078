"""Allowed domains fail closed: with the list set, no connection of any kind reaches another host.

Two local servers: the allowed one on 127.0.0.1 and an off-domain one on 127.0.0.2 (plus one on
another port of 127.0.0.1, for port-specific entries) that counts every TCP connection it accepts and
every UDP datagram it receives. Each case is a page on the allowed server that tries one way out;
the off-domain counters must stay at zero and the step must record the blocked attempt. One Chromium
serves the whole module.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pixelpilot.env import ActionResult, EnvError, StartSpec, Viewport
from pixelpilot.env.base import BlockedRequest
from pixelpilot.env.browser import BrowserConfig, BrowserEnv
from pixelpilot.env.browser.domains import DomainPolicy
from pixelpilot.env.browser.proxy import FilteringProxy
from pixelpilot.env.domains import ALLOW_DOMAIN_HELP, parse_host_rule
from pixelpilot.tools import Click, Navigate, Wait

VIEWPORT = Viewport(width=400, height=300)


@dataclass
class OffDomain:
    """A host the task does not allow: counts what reaches it, and answers like a web server would
    (so that, were a connection let through, a page or redirect would really load)."""

    host: str
    tcp: int = 0
    udp: int = 0
    sock: socket.socket = field(init=False)
    udp_sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.create_server((self.host, 0))
        self.port = self.sock.getsockname()[1]
        self.udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp_sock.bind((self.host, self.port))
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._datagrams, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"{self.host}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.tcp += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        body = b"<html><body><h1>OFF-DOMAIN PAGE</h1></body></html>"
        try:
            conn.settimeout(2)
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nAccess-Control-Allow-Origin: *\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
            )
        except OSError:
            pass
        finally:
            conn.close()

    def _datagrams(self) -> None:
        while True:
            try:
                self.udp_sock.recvfrom(65536)
            except OSError:
                return
            self.udp += 1

    def close(self) -> None:
        for sock in (self.sock, self.udp_sock):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@dataclass
class Site:
    base: str
    allow: str  # the allowed-domains entry: this server's address and port only
    off: OffDomain  # 127.0.0.2
    other_port: OffDomain  # 127.0.0.1 on another port
    speculated: list[str] = field(default_factory=list)  # paths the browser fetched ahead (Sec-Purpose)


def case_page(site: Site, name: str) -> str:
    off = f"http://{site.off.origin}"
    redirect = f"/redirect?to={off}/landed"
    body = {
        "redirect_link": f'<a id="go" href="{redirect}">go</a>',
        "redirect_https_link": f'<a id="go" href="/redirect?to=https://{site.off.origin}/landed">go</a>',
        "meta_refresh": f'<meta http-equiv="refresh" content="0;url={redirect}">',
        "fetch": f"<script>fetch('{off}/fetch', {{mode: 'no-cors'}}).catch(() => 0)</script>",
        "xhr": f"<script>const x = new XMLHttpRequest(); x.open('GET', '{off}/xhr'); x.send()</script>",
        "image": f'<img src="{off}/pixel.png">',
        "script": f'<script src="{off}/app.js"></script>',
        "stylesheet": f'<link rel="stylesheet" href="{off}/site.css">',
        "beacon": f"<script>navigator.sendBeacon('{off}/beacon', 'secret=hunter2')</script>",
        "ping": f'<a id="go" href="/plain" ping="{off}/ping">go</a>',
        # this Chromium makes no preconnect, so the preconnect and DNS hints ride along with a prefetch
        "prefetch": f'<link rel="preconnect" href="https://{site.off.origin}"><link rel="dns-prefetch" href="{off}">'
        f'<link rel="prefetch" href="{off}/next.html">',
        # behind a proxy Chromium does not even try a cross-site prerender; the allowed page listed
        # after it tells the test that the rules were read
        "prerender": '<script type="speculationrules">{"prerender": [{"source": "list", "urls": ["'
        + off
        + '/next.html", "/plain?speculated"]}]}</script>',
        "websocket": f"<script>new WebSocket('ws://{site.off.origin}/socket')</script>",
        "iframe": f'<iframe src="{redirect}"></iframe>',
        "popup": f"<script>window.open('{redirect}')</script>",
        "worker": "<script>new Worker('/worker.js')</script>",
        "service_worker": "<script>navigator.serviceWorker.register('/sw.js')</script>",
        "webrtc": "<script>const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:"
        + site.off.origin
        + "'}, {urls: 'turn:"
        + site.off.origin
        + "?transport=tcp', username: 'u', credential: 'p'}]});"
        "pc.createDataChannel('d'); pc.createOffer().then(o => pc.setLocalDescription(o));</script>",
        "other_port": f'<img src="http://{site.other_port.origin}/pixel.png">',
    }[name]
    return f'<html><head>{body}</head><body style="margin:0"><div id="t">{name}</div></body></html>'


def handler(site_ref: list[Site]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: str = "", ctype: str = "text/html", **headers: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            site = site_ref[0]
            off = f"http://{site.off.origin}"
            path, _, query = self.path.partition("?")
            if self.headers.get("Sec-Purpose"):
                site.speculated.append(self.path)
            if path == "/redirect":
                self._send(302, Location=query.removeprefix("to="))
            elif path.startswith("/case/"):
                self._send(200, case_page(site, path.removeprefix("/case/")))
            elif path == "/worker.js":
                self._send(200, f"fetch('{off}/from-worker').catch(() => 0)", "text/javascript")
            elif path == "/sw.js":
                js = f"self.addEventListener('install', e => e.waitUntil(fetch('{off}/from-sw').catch(() => 0)))"
                self._send(200, js, "text/javascript")
            else:
                self._send(200, "<html><body><p>plain allowed page</p></body></html>")

        do_POST = do_GET

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    ref: list[Site] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(ref))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    ref.append(Site(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", OffDomain("127.0.0.2"), OffDomain("127.0.0.1")))
    yield ref[0]
    server.shutdown()
    ref[0].off.close()
    ref[0].other_port.close()


@pytest.fixture(scope="module")
def env() -> Iterator[BrowserEnv]:
    browser = BrowserEnv(BrowserConfig(viewport=VIEWPORT))
    yield browser
    browser.close()


def start(env: BrowserEnv, site: Site, url: str) -> None:
    env.reset(StartSpec(url=url, viewport=VIEWPORT, device_scale_factor=1, allowed_domains=[site.allow]))


def steps_until(
    env: BrowserEnv, first: ActionResult, done: Callable[[list[ActionResult]], bool], limit_s: float
) -> list[ActionResult]:
    """Results of short waits until ``done`` says so, up to ``limit_s``: attempts made by workers or
    timers arrive some time after the page loads."""
    results = [first]
    deadline = time.monotonic() + limit_s
    while not done(results) and time.monotonic() < deadline:
        results.append(env.execute(Wait(seconds=0.1), env.observe().geometry))
    return results


def steps_until_blocked(env: BrowserEnv, first: ActionResult, wanted: str, limit_s: float) -> list[ActionResult]:
    """... until one records a blocked request to ``wanted`` (host:port)."""
    return steps_until(env, first, lambda results: any(wanted in b.url for r in results for b in r.blocked), limit_s)


def blocked_of(results: list[ActionResult]) -> list[BlockedRequest]:
    return [b for r in results for b in r.blocked]


# kind of each case, as the step records it (None: only the proxy saw it, kind from the tunnel/request)
PAGE_CASES = {
    "meta_refresh": "navigation",
    "fetch": "fetch",
    "xhr": "xhr",
    "image": "image",
    "script": "script",
    "stylesheet": "stylesheet",
    "beacon": "ping",
    "prefetch": None,
    "prerender": "not attempted",
    "websocket": "websocket",
    "iframe": "iframe",
    "popup": "navigation",
    "worker": None,
    "service_worker": None,
    "webrtc": None,
    "other_port": "image",
}


@pytest.mark.parametrize("name", list(PAGE_CASES))
def test_no_connection_leaves_the_allowed_domains(env: BrowserEnv, site: Site, name: str) -> None:
    target = site.other_port if name == "other_port" else site.off
    before = (target.tcp, target.udp)
    t0 = time.monotonic()
    start(env, site, f"{site.base}/case/{name}")
    load_s = time.monotonic() - t0
    first = env.execute(Wait(seconds=0.1), env.observe().geometry)
    # generous: what the page starts arrives within a few page loads on a busy machine
    limit_s = 10 + 20 * load_s
    kind = PAGE_CASES[name]
    if kind == "not attempted":
        results = steps_until(env, first, lambda _: "/plain?speculated" in site.speculated, limit_s)
        results.append(env.execute(Wait(seconds=0.1), env.observe().geometry))
        assert "/plain?speculated" in site.speculated
    else:
        results = steps_until_blocked(env, first, target.origin, limit_s)
    blocked = [b for b in blocked_of(results) if target.origin in b.url]
    assert (target.tcp, target.udp) == before, f"{name}: a connection reached {target.origin}"
    if kind == "not attempted":
        return
    assert blocked, f"{name}: no blocked request recorded; got {blocked_of(results)}"
    if kind is not None:
        assert any(b.kind == kind for b in blocked), blocked
        assert all(b.initiator for b in blocked if b.kind == kind), blocked
    for page in env._pages:  # every tab, popups included
        assert "OFF-DOMAIN" not in page.content()
        assert target.origin not in page.url
    if name == "webrtc":  # STUN over UDP and TURN over TCP both stay inside
        assert any(b.kind == "connect" for b in blocked), blocked


@pytest.mark.parametrize("case", ["redirect_link", "redirect_https_link", "ping"])
def test_clicked_links_stay_inside(env: BrowserEnv, site: Site, case: str) -> None:
    """A link to an allowed URL that redirects off the list (http and https), and a link's ping:
    nothing connects, the redirect is an error result and the observation stays on the allowed page."""
    before = site.off.tcp
    start(env, site, f"{site.base}/case/{case}")
    result = env.execute(Click(x=6, y=6), env.observe().geometry)
    results = steps_until_blocked(env, result, site.off.origin, limit_s=10)
    obs = env.observe()
    assert site.off.tcp == before
    assert any(site.off.origin in b.url for b in blocked_of(results))
    if case == "ping":
        assert result.ok, result.error
        assert obs.url == f"{site.base}/plain"
        return
    assert not result.ok
    assert f"redirect from {site.base}/redirect?to=" in (result.error or ""), result.error
    assert obs.url == f"{site.base}/case/{case}"
    assert "OFF-DOMAIN" not in env.page.content()
    hop = next(b for b in result.blocked if b.kind == "navigation")
    assert hop.initiator == f"redirect from {site.base}/redirect?to={hop.url}"


def test_the_step_record_lists_what_was_stopped(env: BrowserEnv, site: Site, tmp_path: Path) -> None:
    """Through the agent loop: the bundle's step carries the blocked requests, the image the start
    page asked for included (stopped before step 1, reported with it)."""
    from pixelpilot.agent import Agent, AgentConfig, EpisodeSpec, ScriptedPolicy, read_bundle

    spec = EpisodeSpec(
        id="guard",
        instruction="x",
        start=StartSpec(url=f"{site.base}/case/image", viewport=VIEWPORT, allowed_domains=[site.allow]),
        max_steps=1,
    )
    result = Agent(env, ScriptedPolicy([{"action": "wait", "seconds": 0.1}]), AgentConfig(out_dir=tmp_path)).run(spec)
    step = read_bundle(result.bundle)[1][0]
    blocked = (step.result or {})["blocked"]
    assert [(b["url"], b["kind"], b["initiator"]) for b in blocked] == [
        (f"http://{site.off.origin}/pixel.png", "image", f"page {site.base}/case/image")
    ]


def test_navigate_action_that_redirects_is_an_error(env: BrowserEnv, site: Site) -> None:
    before = site.off.tcp
    start(env, site, f"{site.base}/plain")
    result = env.execute(Navigate(url=f"{site.base}/redirect?to=http://{site.off.origin}/x"), env.observe().geometry)
    assert not result.ok and "redirect from" in (result.error or ""), result.error
    assert env.observe().url == f"{site.base}/plain"
    assert site.off.tcp == before


def test_start_url_that_redirects_off_the_list_does_not_start(env: BrowserEnv, site: Site) -> None:
    before = site.off.tcp
    with pytest.raises(EnvError, match=r"redirect from .* blocked"):
        start(env, site, f"{site.base}/redirect?to=http://{site.off.origin}/x")
    assert site.off.tcp == before


def test_the_guard_follows_each_episode(env: BrowserEnv, site: Site) -> None:
    """Guarded, then unrestricted, then guarded again on the same env: each episode gets its own rules
    (the browser is relaunched when the mode changes)."""
    image = f'<img src="http://{site.off.origin}/pixel.png">'
    page = f"data:text/html,{image}"
    for allowed, reaches in ((True, False), (False, True), (True, False)):
        before = site.off.tcp
        url = f"{site.base}/case/image" if allowed else page
        env.reset(StartSpec(url=url, viewport=VIEWPORT, allowed_domains=[site.allow] if allowed else []))
        env.execute(Wait(seconds=0.1), env.observe().geometry)
        assert (site.off.tcp > before) is reaches, (allowed, site.off.tcp, before)


# ---------------------------------------------------------------------- one definition of a match
#: (entry, URL, covered): the definition in env/domains.py, row by row
COVERS = [
    ("example.com", "https://example.com/a", True),
    ("example.com", "https://docs.example.com:8443/a", True),
    ("example.com", "https://badexample.com/", False),
    ("Example.COM.", "http://EXAMPLE.com./", True),
    ("example.com:8443", "https://example.com:8443/", True),
    ("example.com:8443", "https://example.com/", False),
    ("example.com:443", "https://api.example.com/", True),  # default port of the scheme
    ("example.com:443", "http://example.com/", False),
    ("127.0.0.1", "http://127.0.0.1:9/", True),
    ("127.0.0.1", "http://x.127.0.0.1/", False),  # an address has no subdomains
    ("127.0.0.1:8000", "http://127.0.0.1:8001/", False),
    ("[::1]:8080", "http://[::1]:8080/", True),
    ("[::1]:8080", "http://[::1]:8081/", False),
    ("::1", "ws://[0:0::1]:5/", True),  # canonical form
    ("localhost", "http://localhost:3000/", True),
    ("localhost", "http://app.localhost/", True),
    ("localhost", "http://127.0.0.1/", False),  # a name, not an address
    ("127.0.0.1", "http://localhost/", False),
    ("bücher.de", "https://www.xn--bcher-kva.de/", True),
    ("example.com", "ftp://example.com/", False),
]


def test_what_an_entry_covers() -> None:
    wrong = [
        (entry, url)
        for entry, url, allowed in COVERS
        if (DomainPolicy([entry], allow_file=False).why_blocked(url) is None) is not allowed
    ]
    assert not wrong


def test_debugger_off_domain_rule_uses_the_same_definition() -> None:
    """The debugger's confirm-before rule asks env/domains.py too, ports and addresses included."""
    from pixelpilot.agent.episode import EpisodeSpec
    from pixelpilot.agent.hooks import StepContext, confirm_reason
    from pixelpilot.env import Observation, ScreenGeometry

    spec = EpisodeSpec(
        id="t", instruction="x", start=StartSpec(url="http://[::1]:8080/", allowed_domains=["[::1]:8080"])
    )
    geometry = ScreenGeometry(width=4, height=4, device_scale_factor=1, viewport_width=4, viewport_height=4)
    obs = Observation(screenshot=b"", image_format="png", geometry=geometry, url="http://[::1]:8080/")
    ctx = StepContext(index=1, spec=spec, observation=obs, history=[], env=None, policy=None)
    assert confirm_reason("off_domain", ctx, Navigate(url="http://[::1]:8080/next")) is None
    assert confirm_reason("off_domain", ctx, Navigate(url="http://[::1]:8081/")) is not None


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("https://example.com", "not a URL"),
        ("example.com/path", "not a URL"),
        ("*.example.com", "no wildcards"),
        ("example.com:0", "port must be"),
        ("example.com:http", "port must be"),
        ("[::1", "IPv6"),
        ("::1:8080x", "IPv6"),
        ("exa mple.com", "whitespace"),
        ("bad_host!", "not a valid host"),
        ("", "empty"),
    ],
)
def test_malformed_entries_are_refused_in_one_line(entry: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        parse_host_rule(entry)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=fragment):
        StartSpec(url="https://example.com/", allowed_domains=[entry])


def test_start_url_outside_the_list_is_refused_before_any_browser() -> None:
    with pytest.raises(ValueError, match=r"start URL http://evil\.example/ is outside the allowed domains"):
        StartSpec(url="http://evil.example/", allowed_domains=["example.com"])
    # local pages and relative task URLs open no connection; entries come back canonical
    assert StartSpec(url="pages/a.html", allowed_domains=["Example.COM"]).allowed_domains == ["example.com"]


def test_cli_refuses_bad_entries_and_outside_start_with_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pixelpilot.cli import app

    task = tmp_path / "t.yaml"
    task.write_text("id: t\ninstruction: x\nstart: {url: 'http://example.com/'}\n")
    for extra, fragment in (
        (["--allow-domain", "https://example.com"], "not a URL"),
        (["--allow-domain", "other.org"], "outside the allowed domains"),
    ):
        out = tmp_path / "runs"
        proc = CliRunner().invoke(app, ["run", str(task), "--out", str(out), *extra])
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.exit_code == 2 and len(lines) == 1 and fragment in lines[0], proc.stderr
        assert not out.exists()  # stopped before an episode (and its browser) began
    helptext = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).stdout
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", helptext).split())
    assert " ".join(ALLOW_DOMAIN_HELP.split()) in words


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_proxy_refuses_and_forwards_and_closes_cleanly(site: Site) -> None:
    """The proxy on its own: 403 for a host outside, plain forwarding and CONNECT inside, and close()
    cuts a tunnel that is still open, even one whose relay has not started yet (no thread dies with an
    exception: close() may close a connection's sockets at any point of its serving thread)."""
    host, port = site.base.removeprefix("http://").split(":")
    proxy = FilteringProxy(lambda h, p: h == host and p == int(port))
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            s.sendall(f"GET http://{site.off.origin}/x HTTP/1.1\r\nHost: {site.off.origin}\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 403")
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            s.sendall(
                f"GET {site.base}/plain HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: keep-alive\r\n\r\n".encode()
            )
            reply = _read_all(s)
            assert reply.startswith(b"HTTP/1.0 200") and b"plain allowed page" in reply
            assert b"Connection: close" in reply
        tunnel = socket.create_connection(("127.0.0.1", proxy.port))
        tunnel.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        assert tunnel.recv(100).startswith(b"HTTP/1.1 200")
        refusals = proxy.drain()
        assert [(r.host, r.port, r.kind) for r in refusals] == [("127.0.0.2", site.off.port, "http")]
    finally:
        proxy.close()
    tunnel.settimeout(5)
    assert tunnel.recv(100) == b""  # the open tunnel was cut
    tunnel.close()


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
