"""A small OpenAI-compatible HTTP server that replays scripted responses.

Drives the served backend's error paths deterministically (malformed outputs, 429, 500, a slow
reply past the timeout) and records every request it received for inspection.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Reply:
    def __init__(
        self,
        content: str = "",
        *,
        status: int = 200,
        delay_s: float = 0.0,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
        finish_reason: str = "stop",
    ) -> None:
        self.content, self.status, self.delay_s = content, status, delay_s
        self.headers, self.raw, self.finish_reason = headers or {}, raw, finish_reason

    def body(self, model: str) -> bytes:
        if self.raw is not None:
            return self.raw.encode()
        if self.status >= 400:
            return json.dumps({"error": {"message": f"scripted {self.status}"}}).encode()
        return json.dumps(
            {
                "id": "chatcmpl-replay",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.content},
                        "finish_reason": self.finish_reason,
                    }
                ],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 12, "total_tokens": 1012},
            }
        ).encode()


class ReplayServer:
    def __init__(self, model: str = "replay-qwen") -> None:
        self.model = model
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._send(200, json.dumps({"data": [{"id": server.model}]}).encode())
                else:
                    self._send(404, b"{}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append(json.loads(self.rfile.read(length)))
                server.headers.append(dict(self.headers))
                reply = server.replies.popleft() if server.replies else Reply('{"oops": "no scripted reply left"}')
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(reply.status, reply.body(server.model), reply.headers)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *replies: Reply | str) -> None:
        self.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)
