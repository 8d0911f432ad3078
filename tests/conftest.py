"""Shared fixtures: a real HTTP server on 127.0.0.1 and real Chromium through the browser env."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixelpilot.env.browser import BrowserConfig, BrowserEnv

pytest_plugins = ["tests.qwen_fixtures", "tests.android_fixtures"]

PAGES = Path(__file__).parent / "pages"
EXAMPLES = Path(__file__).resolve().parents[1] / "tasks" / "examples"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """Serves tests/pages and tasks/examples/pages on http://127.0.0.1:PORT (/ and /examples/)."""

    class Handler(_QuietHandler):
        def translate_path(self, path: str) -> str:
            if path.startswith("/examples/"):
                return str(EXAMPLES / "pages" / path[len("/examples/") :].split("?")[0])
            return super().translate_path(path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(PAGES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[BrowserEnv]:
    """One Chromium for the whole session; every reset opens a fresh context."""
    env = BrowserEnv(BrowserConfig())
    yield env
    env.close()
