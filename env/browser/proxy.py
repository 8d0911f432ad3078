"""The filtering proxy: the layer that makes allowed domains fail closed.

Route handlers see only what Playwright reports (not the hops of a redirect, not preconnects,
WebRTC or every worker), so they cannot be the guard. With allowed domains set, Chromium is launched
with this proxy as its only way out (``--proxy-server`` with ``<-loopback>``, see chromium.py):
every connection the browser opens, for any reason, arrives here first, and a host outside the list
is answered ``403`` before any DNS lookup or connection is made for it. What the proxy cannot see
(a URL inside an https tunnel) the env adds from the browser's own events.

It is a small threaded HTTP/1.1 proxy on 127.0.0.1: ``CONNECT`` tunnels for https and ws(s), and
plain forwarding (one request per connection) for http:// and ws:// upgrades.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from loguru import logger

from pixelpilot.env.domains import canonical_host

_MAX_HEAD = 64 * 1024
_HEAD_TIMEOUT_S = 30.0
_CONNECT_TIMEOUT_S = 10.0
_LINGER_S = 2.0
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te", b"trailer"}
# Sec-Fetch-Dest values (sent to trustworthy origins) named the way Playwright names resource types.
_DEST_KINDS = {
    b"document": "navigation",
    b"iframe": "iframe",
    b"frame": "iframe",
    b"image": "image",
    b"script": "script",
    b"style": "stylesheet",
    b"font": "font",
    b"empty": "fetch",
    b"worker": "worker",
    b"sharedworker": "worker",
    b"serviceworker": "serviceworker",
    b"audio": "media",
    b"video": "media",
    b"track": "media",
    b"manifest": "manifest",
    b"report": "report",
}


@dataclass(frozen=True)
class Refusal:
    """One connection the proxy refused: where it was going and, when the request said, why."""

    host: str
    port: int
    url: str | None  # known for plain http; a CONNECT names only host and port
    kind: str  # a resource kind when the headers tell it, else "connect" / "http"
    at: float


class FilteringProxy:
    """A local proxy that opens a connection only where ``allows(host, port)`` says so.

    ``allows`` receives the canonical host (see env.domains.canonical_host); it can be swapped
    between episodes with :meth:`set_policy`. Refusals are kept until :meth:`drain` takes them.
    """

    def __init__(self, allows: Callable[[str, int], bool]) -> None:
        self._allows = allows
        self._lock = threading.Lock()
        self._refusals: list[Refusal] = []
        self._sockets: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()  # one per connection being served
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"pixelpilot-proxy:{self.port}", daemon=True)
        self._thread.start()
        logger.debug("filtering proxy listening on 127.0.0.1:{}", self.port)

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_policy(self, allows: Callable[[str, int], bool]) -> None:
        self._allows = allows

    def drain(self) -> list[Refusal]:
        with self._lock:
            taken, self._refusals = self._refusals, []
        return taken

    def close(self) -> None:
        """Stop accepting, cut every open connection and wait (a few seconds at most) for the threads that
        served them, so none is still writing once close() returns; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for sock in [self._listener, *self._tracked()]:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept/select on it
            except OSError:
                pass
            sock.close()
        self._thread.join(timeout=5)
        deadline = time.monotonic() + 5
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))

    # ----------------------------------------------------------------- plumbing
    def _tracked(self) -> list[socket.socket]:
        with self._lock:
            return list(self._sockets)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._closed:  # close() ran between accept/connect and here
            sock.close()

    def _forget(self, *socks: socket.socket | None) -> None:
        for sock in socks:
            if sock is None:
                continue
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            worker = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._workers.add(worker)
            worker.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(_HEAD_TIMEOUT_S)
            head, rest = _read_head(client)
            if head is None:
                return
            lines = head.split(b"\r\n")
            try:
                method, target, _version = lines[0].split(b" ", 2)
            except ValueError:
                return _answer(client, 400, "malformed request line")
            headers = [tuple(part.strip() for part in line.split(b":", 1)) for line in lines[1:] if b":" in line]
            if method == b"CONNECT":
                authority = target.decode("latin-1")
                raw_host, _, port_text = authority.rpartition(":")
                url, kind = None, "connect"
            else:
                url = target.decode("latin-1")
                parts = urlsplit(url)
                if parts.scheme not in ("http", "ws") or not parts.hostname:
                    return _answer(client, 400, "a proxy request needs an absolute http:// URL")
                raw_host, port_text = parts.hostname, str(parts.port or 80)
                kind = _kind_of(headers)
            host = canonical_host(raw_host)
            port = int(port_text) if port_text.isdigit() else -1
            if host is None or not 0 < port < 65536 or not self._allows(host, port) or self._is_self(host, port):
                with self._lock:
                    self._refusals.append(Refusal(host or raw_host, port, url, kind, time.time()))
                logger.debug("proxy refused {} {}:{} ({})", method.decode("latin-1"), raw_host, port, kind)
                return _answer(client, 403, f"{raw_host}:{port} is not in the allowed domains")
            try:
                upstream = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S)
            except OSError as exc:
                return _answer(client, 502, f"cannot connect to {raw_host}:{port}: {exc.strerror or exc}")
            self._track(upstream)
            if method == b"CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._relay(client, upstream, rewrite_response=False)
            else:
                upgrade = any(k.lower() == b"upgrade" for k, *_ in headers)
                upstream.sendall(_origin_form(method, url, headers, keep_upgrade=upgrade) + rest)
                self._relay(client, upstream, rewrite_response=not upgrade)
        except (OSError, ValueError):
            # a peer went away, or close() closed this connection's sockets under it (a closed socket's
            # fd is -1, which selectors refuse with ValueError): nothing to report beyond the closed connection
            pass
        finally:
            self._forget(client, upstream)
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _is_self(self, host: str, port: int) -> bool:
        return port == self.port and host in ("127.0.0.1", "localhost")

    def _relay(self, client: socket.socket, upstream: socket.socket, *, rewrite_response: bool) -> None:
        """Copy both ways until either side closes. A forwarded plain request gets its response's
        head rewritten to ``Connection: close``, so the browser never sends a second request (maybe
        for another host) down a connection already opened to this one."""
        client.settimeout(None)
        upstream.settimeout(None)
        head = b""
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            while not self._closed:
                for key, _ in sel.select(timeout=1.0):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    dst: socket.socket = key.data
                    data = src.recv(65536)
                    if not data:
                        if head:
                            dst.sendall(head)
                        return
                    if src is upstream and rewrite_response:
                        head += data
                        end = head.find(b"\r\n\r\n")
                        if end < 0 and len(head) < _MAX_HEAD:
                            continue
                        data, head, rewrite_response = _closing_head(head, end), b"", False
                    dst.sendall(data)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head (without its blank line) and whatever arrived after it."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > _MAX_HEAD:
            return None, b""
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _origin_form(method: bytes, url: str, headers: list[tuple[bytes, ...]], *, keep_upgrade: bool) -> bytes:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    out = [method + b" " + path.encode("latin-1") + b" HTTP/1.1"]
    for name, *value in headers:
        lower = name.lower()
        if lower in _HOP_BY_HOP and not (keep_upgrade and lower == b"connection"):
            continue
        out.append(name + b": " + (value[0] if value else b""))
    if not keep_upgrade:
        out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n"


def _closing_head(buf: bytes, end: int) -> bytes:
    """The response with its head saying ``Connection: close`` (unchanged if no head was found)."""
    if end < 0:
        return buf
    lines = [
        line
        for line in buf[:end].split(b"\r\n")
        if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive", b"proxy-connection")
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + buf[end:]


def _kind_of(headers: list[tuple[bytes, ...]]) -> str:
    """What a plain-http request is for, from the headers the browser sent with it."""
    h = {name.lower(): (value[0] if value else b"") for name, *value in headers}
    if h.get(b"upgrade", b"").lower() == b"websocket":
        return "websocket"
    if b"ping-to" in h or h.get(b"content-type", b"").startswith(b"text/ping"):
        return "ping"
    if b"prefetch" in h.get(b"sec-purpose", b"") or b"prefetch" in h.get(b"purpose", b""):
        return "prefetch"
    if (dest := h.get(b"sec-fetch-dest")) is not None:
        return _DEST_KINDS.get(dest, dest.decode("latin-1"))
    return "http"


def _answer(sock: socket.socket, status: int, message: str) -> None:
    """Answer and close without forwarding. The answer goes out first, then what the client still
    sends (a POST body, say) is read and dropped: closing with unread input would reset the connection,
    and the browser could lose the answer and retry."""
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = f"pixelpilot proxy: {message}\n".encode()
    sock.sendall(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n".encode()
        + body
    )
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(_LINGER_S)
    with contextlib.suppress(OSError):
        for _ in range(64):
            if not sock.recv(65536):
                break
