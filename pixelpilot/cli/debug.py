"""`pixelpilot debug`: step through one episode from a web page or the terminal (view: agent/debug/viewer.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pixelpilot.agent.hooks import CONFIRM_RULES, Breakpoint
from pixelpilot.cli import options as opt


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
    model: opt.Model = None,
    endpoint: opt.Endpoint = None,
    dialect: opt.Dialect = None,
    resize_factor: opt.ResizeFactor = None,
    max_pixels: opt.MaxPixels = None,
    min_pixels: opt.MinPixels = None,
    zoom: opt.Zoom = False,
    zoom_max_pixels: opt.ZoomMaxPixels = None,
    zoom_crop: opt.ZoomCrop = None,
    max_repairs: opt.MaxRepairs = 2,
    max_new_tokens: opt.MaxNewTokens = 256,
    device: opt.Device = None,
    dtype: opt.Dtype = None,
    api_key_env: opt.ApiKeyEnv = "PIXELPILOT_API_KEY",
    request_timeout: opt.RequestTimeout = 60.0,
    env_name: opt.EnvName = None,
    serial: opt.Serial = None,
    display: opt.Display = None,
    allow_display_zero: opt.AllowDisplayZero = False,
    headed: opt.Headed = False,
    chromium: opt.Chromium = None,
    out_dir: opt.EpisodeOut = Path("runs"),
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
    record_secrets: opt.RecordSecrets = False,
    verbose: opt.Verbose = False,
) -> None:
    """Run TASK_FILE paused, step by step, from a local web page (or the terminal with --repl)."""
    from pixelpilot.agent.debug.app import run_debug
    from pixelpilot.agent.debug.repl import Repl
    from pixelpilot.agent.debug.session import DebugSession
    from pixelpilot.agent.policy import Policy
    from pixelpilot.cli.assembly import episode_spec, open_env, qwen_policy, read_task, scripted_policy
    from pixelpilot.cli.common import episode_exit_code, err, fail, out, outcome_line, setup_logging
    from pixelpilot.env import EnvError
    from pixelpilot.env.registry import EnvOptions

    setup_logging(verbose)
    task = read_task(task_file)
    try:
        points = [parse_breakpoint(b) for b in breaks or []]
        session = DebugSession(breakpoints=points, confirm=confirm or [], start_paused=not run_first)
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    spec = episode_spec(task, task_file, env_name=env_name)
    policy: Policy
    if model or endpoint:
        policy = qwen_policy(
            model=model,
            endpoint=endpoint,
            dialect=dialect,
            resize_factor=resize_factor,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            zoom=zoom,
            zoom_max_pixels=zoom_max_pixels,
            zoom_crop=zoom_crop,
            max_repairs=max_repairs,
            max_new_tokens=max_new_tokens,
            device=device,
            dtype=dtype,
            api_key_env=api_key_env,
            request_timeout=request_timeout,
        )
    else:
        policy = scripted_policy(
            task,
            script,
            missing="give --model (a Qwen2-VL-family model) or --script FILE (the task declares no solution)",
        )
    if host not in ("127.0.0.1", "localhost", "::1") and not repl:
        err.print(
            f"[yellow]warning:[/] serving on {host}: anyone who can reach it and has the token can drive the agent"
        )
    try:
        options = EnvOptions(
            headed=headed, chromium=chromium, serial=serial, display=display, allow_display_zero=allow_display_zero
        )
        with open_env(spec, options) as env:
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
