"""`pixelpilot debug`: run one episode paused, driven from a local web page (or the terminal).

The agent loop runs on the calling thread (it owns the browser or device); the web server runs in
a background thread and talks to the loop only through the DebugSession.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from pixelpilot.agent.debug.server import Broadcaster, WebServer, json_error, sse, static_file
from pixelpilot.agent.debug.session import CommandError, DebugSession
from pixelpilot.agent.episode import EpisodeSpec, new_bundle_dir
from pixelpilot.agent.loop import Agent, AgentConfig, EpisodeResult
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.secrets import SecretSet
from pixelpilot.env import Env


def debugger_routes(session: DebugSession) -> list[Route]:
    hub = Broadcaster()
    session.subscribe(hub.publish)

    async def state(request: Request) -> Response:
        return JSONResponse(session.state())

    async def events(request: Request) -> Response:
        return sse(hub.stream(request, session.state()))

    async def current_screenshot(request: Request) -> Response:
        ctx = session.ctx
        if ctx is None:
            return json_error("no screenshot yet", 404)
        obs = ctx.observation
        return Response(obs.screenshot, media_type=f"image/{obs.image_format}", headers={"cache-control": "no-store"})

    async def step_screenshot(request: Request) -> Response:
        index = int(request.path_params["index"])
        step = next((s for s in session.steps if s["index"] == index), None)
        if step is None or session.bundle is None:
            return json_error(f"no step {index}", 404)
        return FileResponse(session.bundle / step["screenshot"])

    async def command(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return json_error("the body must be JSON")
        if not isinstance(body, dict):
            return json_error("the body must be a JSON object")
        try:
            # off the event loop: a command may wait briefly on the session's lock
            await asyncio.to_thread(session.command, body)
        except CommandError as exc:
            return json_error(str(exc), 409)
        return JSONResponse({"ok": True})

    return [
        Route("/", static_file("debug.html")),
        Route("/app.js", static_file("app.js")),
        Route("/page_token.js", static_file("page_token.js")),
        Route("/app.css", static_file("app.css")),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/current/screenshot", current_screenshot),
        Route("/api/steps/{index:int}/screenshot", step_screenshot),
        Route("/api/command", command, methods=["POST"]),
    ]


def run_debug(
    spec: EpisodeSpec,
    env: Env,
    policy: Policy,
    session: DebugSession,
    *,
    out_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], None] = print,
    serve: bool = True,
    record_secrets: bool = False,
) -> tuple[EpisodeResult, WebServer | None]:
    """Serve the debugger page (``serve``; a terminal REPL drives the session otherwise) and run the episode."""
    web = None
    if serve:
        web = WebServer(debugger_routes(session), host=host, port=port).start()
        announce(web.url)
    agent = Agent(env, policy, AgentConfig(out_dir=out_dir, record_secrets=record_secrets))
    agent.hooks.append(session.hooks)
    agent.on_step = session.record_step
    session.secrets = SecretSet.for_spec(spec, masking=not record_secrets)  # one set: the loop's and the page's
    bundle = new_bundle_dir(out_dir, spec.id)
    session.bundle = bundle
    session.episode = {"id": spec.id, "instruction": spec.instruction, "env": spec.env, "policy": policy.describe()}
    try:
        result = agent.run(spec, bundle_dir=bundle, secrets=session.secrets)
    finally:
        agent.close()
    session.finish(_result_dict(result))
    return result, web


def _result_dict(result: EpisodeResult) -> dict[str, Any]:
    return {**result.model_dump(mode="json"), "outcome": result.outcome}
