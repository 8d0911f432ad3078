"""`pixelpilot debug`: step through one episode from a web page or the terminal (view: agent/debug/viewer.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.hooks import CONFIRM_RULES, Breakpoint
from agent.policy_spec import PolicySpec, PolicySpecError


def parse_breakpoint(text: str) -> Breakpoint:
    """'step=3', 'action=type', 'parse', 'url=checkout', 'app=settings', or several joined by commas."""
    fields: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if key in ("parse", "parse_failure") and not sep:
            fields["parse_failure"] = True
        elif key == "step" and sep and value.isdigit():
            fields["step"] = int(value)
        elif key in ("action", "url", "app") and sep and value:
            fields[key] = value
        else:
            raise ValueError(f"bad --break {text!r}: use step=N, action=NAME, parse, url=REGEX or app=REGEX")
    if not fields:
        raise ValueError(f"bad --break {text!r}: use step=N, action=NAME, parse, url=REGEX or app=REGEX")
    return Breakpoint(**fields)


def debug(
    task_file: Annotated[Path, typer.Argument(help="task file (YAML/JSON)")],
    script: Annotated[Path | None, typer.Option(help="scripted actions (default: the task's solution)")] = None,
    model: Annotated[str | None, typer.Option(help="Qwen2-VL-family model: hub id or folder, or served name")] = None,
    endpoint: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint")] = None,
    dialect: Annotated[str | None, typer.Option(help="qwen2.5-vl | qwen2-vl | showui")] = None,
    max_pixels: Annotated[int | None, typer.Option(min=784)] = None,
    min_pixels: Annotated[int | None, typer.Option(min=784)] = None,
    max_repairs: Annotated[int, typer.Option(min=0)] = 2,
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 256,
    device: Annotated[str | None, typer.Option()] = None,
    dtype: Annotated[str | None, typer.Option()] = None,
    api_key_env: Annotated[str, typer.Option()] = "PIXELPILOT_API_KEY",
    request_timeout: Annotated[float, typer.Option(min=0.1)] = 60.0,
    env_kind: Annotated[str | None, typer.Option("--env", help="browser or android (default: the task's)")] = None,
    serial: Annotated[str | None, typer.Option(help="Android device serial")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="show the browser window")] = False,
    chromium: Annotated[str | None, typer.Option(help="Chromium binary")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="bundles are written under this folder")] = Path("runs"),
    host: Annotated[str, typer.Option(help="interface to serve on; anything but 127.0.0.1 is your call")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: a free one)")] = 0,
    breaks: Annotated[
        list[str] | None, typer.Option("--break", help="breakpoint: step=N, action=NAME, parse, url=RE, app=RE")
    ] = None,
    confirm: Annotated[
        list[str] | None, typer.Option(help=f"confirm before: {', '.join(CONFIRM_RULES)} (repeatable)")
    ] = None,
    run_first: Annotated[bool, typer.Option("--continue", help="start continuing (pause only at breakpoints)")] = False,
    repl: Annotated[bool, typer.Option("--repl", help="terminal step mode instead of the web page")] = False,
    exit_when_done: Annotated[bool, typer.Option("--exit-when-done", help="quit when the episode ends")] = False,
    record_secrets: Annotated[bool, typer.Option("--record-secrets")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run TASK_FILE paused, step by step, from a local web page (or the terminal with --repl)."""
    from agent.cli import _make_env, _qwen_policy, _setup_logging, episode_exit_code, err, fail, out, outcome_line
    from agent.debug.app import run_debug
    from agent.debug.repl import Repl
    from agent.debug.session import DebugSession
    from agent.policy import Policy
    from env import EnvError
    from tasks import Task, TaskFileError

    _setup_logging(verbose)
    try:
        task = Task.from_file(task_file)
    except TaskFileError as exc:
        fail(str(exc))
    try:
        points = [parse_breakpoint(b) for b in breaks or []]
        session = DebugSession(breakpoints=points, confirm=confirm or [], start_paused=not run_first)
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    spec = task.to_spec()
    if env_kind is not None:
        if env_kind not in ("browser", "android"):
            fail(f"--env must be browser or android, got {env_kind!r}")
        spec = spec.model_copy(update={"env": env_kind})
    policy: Policy
    if model or endpoint:
        policy = _qwen_policy(
            model=model,
            endpoint=endpoint,
            dialect=dialect,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            max_repairs=max_repairs,
            max_new_tokens=max_new_tokens,
            device=device,
            dtype=dtype,
            api_key_env=api_key_env,
            request_timeout=request_timeout,
        )
    else:
        path = script or (Path(task.solution) if task.solution else None)
        if path is None:
            fail("give --model (a Qwen2-VL-family model) or --script FILE (the task declares no solution)")
        try:
            policy = PolicySpec(kind="scripted", script=path).build()
        except PolicySpecError as exc:
            fail(str(exc))
    if host not in ("127.0.0.1", "localhost", "::1") and not repl:
        err.print(
            f"[yellow]warning:[/] serving on {host}: anyone who can reach it and has the token can drive the agent"
        )
    try:
        with _make_env(spec.env, headed=headed, chromium=chromium, capture="jpeg", serial=serial) as env:
            if repl:
                Repl(session, out).start()
            result, web = run_debug(
                spec,
                env,
                policy,
                session,
                out_dir=out_dir,
                host=host,
                port=port,
                serve=not repl,
                announce=lambda url: out.print(f"debugger: {url}", soft_wrap=True),
                record_secrets=record_secrets,
            )
    except (EnvError, FileNotFoundError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    out.print(f"bundle: {result.bundle}", soft_wrap=True)
    out.print(outcome_line(result), soft_wrap=True)
    if web is not None and not exit_when_done:
        out.print("[dim]the debugger page stays up for review; Ctrl-C to quit[/]")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    if web is not None:
        web.stop()
    if exit_when_done:
        # a script asked for the episode's verdict, as `run` gives it; an interactive session ends with 0
        code = episode_exit_code(result)
        if code == 2:
            fail(result.error or "the environment failed to start")
        raise typer.Exit(code)
