"""The debugger's and viewer's local web server: Starlette on uvicorn, in a background thread.

Bound to 127.0.0.1 by default (another interface only when asked for), on a free port. Every request
must carry the random access token (``?token=`` once, which sets a per-port cookie; the page then
clears it from the address bar and sends it as a header) and must come from the server's own page or
a non-browser client: see :func:`refusal`, the one rule for both the debugger and the viewer. Live
updates go out as server-sent events. The agent loop runs on another thread, so a slow model call
never blocks a request.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn
from loguru import logger
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"
TOKEN_HEADER = "x-pixelpilot-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Sent with every response, refusals included: nothing is framed (clickjacking), cached, read by another
# origin's <img>/<script>, sniffed into another type, or leaks its URL (and a token in it) as a Referer.
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "same-origin",
}


def refusal(request: Request, token: str, *, read_only: bool = False) -> str | None:
    """Why ``request`` is refused (None: let it through). The one rule every route of both servers obeys.

    The token alone is not enough: a page on another port of 127.0.0.1 is *same-site* with this server,
    so the browser attaches its SameSite cookie to that page's forms, images and ``no-cors`` fetches. A
    request is therefore also judged by what the browser says about where it comes from:

    - ``Sec-Fetch-Site`` (browsers set it; pages cannot forge it) must be ``same-origin`` (the page
      itself) or ``none`` (the user typed or opened the URL); anything else (``same-site``: another port,
      ``cross-site``: another host) is refused, except a top-level navigation to the page that carries
      the token in its URL (the printed link clicked in, say, a notebook on another port);
    - an ``Origin`` header, when present, must be this server's own (scheme and the request's Host);
    - without ``Sec-Fetch-Site`` (curl, Python clients) the cookie does not count: send the token header;
    - a state change (any method but GET/HEAD) needs all of: the token in the ``X-Pixelpilot-Token``
      header (a cross-site form cannot set one), an ``application/json`` body, and either
      ``Sec-Fetch-Site: same-origin`` with a matching ``Origin``, or neither header (a non-browser client).
    """
    method = request.method
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    if origin is not None and origin.lower() != own:
        return f"Origin {origin} is not this server's ({own})"
    header_token = request.headers.get(TOKEN_HEADER)
    query_token = request.query_params.get("token")
    cookie_token = request.cookies.get(cookie_name(request)) if site is not None else None
    given = header_token or query_token or cookie_token
    if not given or not secrets.compare_digest(given, token):
        return "no valid access token"
    if site not in (None, "same-origin", "none"):
        top_level = (
            method == "GET"
            and request.url.path == "/"
            and request.headers.get("sec-fetch-mode") == "navigate"
            and request.headers.get("sec-fetch-dest") == "document"
            and query_token is not None
        )
        if not top_level:
            return f"a {site} request (Sec-Fetch-Site), not one from this server's own page"
    if method in SAFE_METHODS:
        return None
    if read_only:
        return f"{method}: this server only serves GET"
    if header_token is None:
        return "a state change needs the token in the X-Pixelpilot-Token header"
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return f"a state change needs an application/json body, not {media_type or 'none'}"
    if site == "same-origin" and origin is None:
        return "a state change from a browser page needs its Origin header"
    if site not in (None, "same-origin"):
        return f"a state change from a {site} page"
    return None


def cookie_name(request: Request) -> str:
    """One cookie per port: cookies do not separate ports, so the debugger and a viewer must not share one."""
    return f"pixelpilot_token_{request.url.port or 80}"


class _RequestGate(BaseHTTPMiddleware):
    """403 for any request :func:`refusal` refuses; the security headers on every response."""

    def __init__(self, app: Any, token: str, read_only: bool) -> None:
        super().__init__(app)
        self.token = token
        self.read_only = read_only

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        reason = refusal(request, self.token, read_only=self.read_only)
        if reason is not None:
            # the path only: a query may hold a (wrong or stolen) token, and logs are shared more than URLs
            logger.warning("refused {} {}: {}", request.method, request.url.path, reason)
            response: Response = PlainTextResponse(f"forbidden: {reason}\n", status_code=403)
        else:
            request.state.token = self.token  # for the page, which embeds it (see static_file)
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie(cookie_name(request), self.token, httponly=True, samesite="strict", path="/")
        response.headers.update(SECURITY_HEADERS)
        return response


def static_file(name: str) -> Callable[[Request], Any]:
    """A file of static/; an HTML page gets the session's token in place of ``__PIXELPILOT_TOKEN__``.

    The page reads the token from there, not from its address bar, which it clears on load: so a reload,
    or a tab opened on the bare URL with the cookie, can still send the token header that state changes
    need. Only a request that passed the gate gets a page, and no other origin can read or frame it.
    """
    media = {"js": "text/javascript", "css": "text/css", "html": "text/html"}[name.rsplit(".", 1)[1]]

    async def handler(request: Request) -> Response:
        if media == "text/html":
            page = (STATIC / name).read_text(encoding="utf-8")
            token = html.escape(getattr(request.state, "token", ""), quote=True)
            return HTMLResponse(page.replace("__PIXELPILOT_TOKEN__", token))
        return FileResponse(STATIC / name, media_type=media)

    return handler


class Broadcaster:
    """Fans state updates from any thread out to each SSE connection's asyncio queue."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queues: set[asyncio.Queue[str]] = set()

    def publish(self, payload: dict[str, Any]) -> None:
        if self.loop is None:
            return
        data = json.dumps(payload)
        for q in list(self.queues):
            self.loop.call_soon_threadsafe(_put_latest, q, data)

    async def stream(self, request: Request, first: dict[str, Any]) -> AsyncIterator[str]:
        self.loop = asyncio.get_running_loop()
        q: asyncio.Queue[str] = asyncio.Queue()
        self.queues.add(q)
        try:
            yield f"data: {json.dumps(first)}\n\n"
            while not await request.is_disconnected():
                try:
                    data = await asyncio.wait_for(q.get(), timeout=15)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"data: {data}\n\n"
        finally:
            self.queues.discard(q)


def _put_latest(q: asyncio.Queue[str], data: str) -> None:
    # a slow client only needs the newest state: drop what it has not read yet
    while not q.empty():
        q.get_nowait()
    q.put_nowait(data)


def sse(generator: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        generator, media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"}
    )


class WebServer:
    """uvicorn serving a Starlette app in a daemon thread; ``url`` carries the token.

    ``read_only``: the server takes no state change at all (the viewer): any method but GET/HEAD is 403.
    """

    def __init__(
        self,
        routes: list[Route],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        read_only: bool = False,
    ):
        self.token = token or secrets.token_urlsafe(18)
        self.host = host
        gate = Middleware(_RequestGate, token=self.token, read_only=read_only)
        self.app = Starlette(routes=routes, middleware=[gate])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)  # connections queue up from now on, even before uvicorn is running
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="pixelpilot-web", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def start(self) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def json_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
