"""The debugger's and viewer's local web server: Starlette on uvicorn, in a background thread.

Bound to 127.0.0.1 by default (another interface only when asked for), on a free port, and every
request must carry the random access token (``?token=`` once; the page then sends it as a header
and the image URLs as a query parameter). Live updates go out as server-sent events. The agent
loop runs on another thread, so a slow model call never blocks a request.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"


class _TokenGate(BaseHTTPMiddleware):
    """403 for any request without the session's token (query, header or cookie)."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = (
            request.query_params.get("token")
            or request.headers.get("x-pixelpilot-token")
            or request.cookies.get("pixelpilot_token")
        )
        if not given or not secrets.compare_digest(given, self.token):
            return PlainTextResponse("forbidden: this pixelpilot session needs its access token\n", status_code=403)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie("pixelpilot_token", self.token, httponly=True, samesite="strict")
        return response


def static_file(name: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        media = {"js": "text/javascript", "css": "text/css", "html": "text/html"}[name.rsplit(".", 1)[1]]
        return FileResponse(STATIC / name, media_type=media, headers={"cache-control": "no-store"})

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
    """uvicorn serving a Starlette app in a daemon thread; ``url`` carries the token."""

    def __init__(self, routes: list[Route], *, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.token = token or secrets.token_urlsafe(18)
        self.host = host
        self.app = Starlette(routes=routes, middleware=[Middleware(_TokenGate, token=self.token)])
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
