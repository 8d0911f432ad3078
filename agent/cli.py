"""The `pixelpilot` command line.

Bad input (task files, scripts, options, an unreachable start page) gets one clear line on stderr
and exit code 2; nothing already recorded is lost.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from loguru import logger
from rich.console import Console

from agent.episode import StepRecord
from agent.loop import Agent, AgentConfig
from agent.report import write_report
from agent.scripted import ScriptedPolicy, ScriptError
from env import EnvError, StartSpec, Viewport
from env.browser import BrowserConfig, BrowserEnv
from tasks import Task, TaskFileError
from tools import REGISTRY

app = typer.Typer(add_completion=False, no_args_is_help=True, help="pixelpilot: GUI and mobile agents.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class PolicyKind(str, Enum):
    scripted = "scripted"


class CaptureFormat(str, Enum):
    jpeg = "jpeg"
    png = "png"


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)


def _setup_logging(verbose: bool) -> None:
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if verbose else "WARNING", format="{time:HH:mm:ss} {level} {message}")


def _step_line(step: StepRecord) -> None:
    action = step.action or {}
    name = action.get("action", "—")
    args = " ".join(
        f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in action.items()
        if k != "action"
    )
    ms = sum(step.timings_ms.values())
    status = f"[red]✗ {step.error_kind}: {step.error}[/]" if step.error else "[green]✓[/]"
    out.print(f"[dim]{step.index:>3}[/] [bold]{name}[/] {args} {status} [dim]{ms:.0f} ms[/]", soft_wrap=True)


@app.command()
def run(
    task_file: Annotated[Path, typer.Argument(help="task file (YAML or JSON)")],
    policy: Annotated[PolicyKind, typer.Option(help="who decides the actions")] = PolicyKind.scripted,
    script: Annotated[
        Path | None, typer.Option(help="actions to replay (JSONL/YAML); default: the task's solution")
    ] = None,
    headed: Annotated[bool, typer.Option("--headed", help="show the browser window")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="bundles are written under this folder")] = Path("runs"),
    viewport: Annotated[str | None, typer.Option(help="viewport in CSS px, e.g. 1280x720")] = None,
    scale: Annotated[float | None, typer.Option(help="device scale factor, e.g. 2 for HiDPI")] = None,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", help="domain the agent may reach (repeatable)")
    ] = None,
    record_secrets: Annotated[
        bool, typer.Option("--record-secrets", help="keep text typed into password fields")
    ] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, help="override the task's max_steps")] = None,
    chromium: Annotated[str | None, typer.Option(help="Chromium binary (default: auto-detect)")] = None,
    capture: Annotated[CaptureFormat, typer.Option(help="screenshot encoding")] = CaptureFormat.jpeg,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run one episode of TASK_FILE and write its bundle."""
    _setup_logging(verbose)
    try:
        task = Task.from_file(task_file)
    except TaskFileError as exc:
        fail(str(exc))
    try:
        vp = Viewport.parse(viewport) if viewport else None
    except ValueError as exc:
        fail(str(exc))
    if scale is not None and not 0 < scale <= 8:
        fail(f"--scale must be in (0, 8], got {scale:g}")
    start: StartSpec = task.start.model_copy(
        update={
            k: v
            for k, v in {
                "viewport": vp,
                "device_scale_factor": scale,
                "allowed_domains": [*task.start.allowed_domains, *(allow_domain or [])] or None,
            }.items()
            if v is not None
        }
    )
    spec = task.to_spec().model_copy(update={"start": start, **({"max_steps": max_steps} if max_steps else {})})
    if spec.env != "browser":
        fail(f"{task_file}: env {spec.env!r} is not available in this build; use a browser task")

    script_path = script or (Path(task.solution) if task.solution else None)
    if script_path is None:
        fail("--policy scripted needs --script FILE (the task declares no solution)")
    try:
        pol = ScriptedPolicy.from_file(script_path)
    except ScriptError as exc:
        fail(str(exc))

    config = BrowserConfig(headless=not headed, chromium_path=chromium, capture_format=capture.value)
    agent_config = AgentConfig(out_dir=out_dir, record_secrets=record_secrets)
    out.print(f"[bold]{spec.id}[/]: {spec.instruction}", soft_wrap=True)
    try:
        with BrowserEnv(config) as env:
            agent = Agent(env, pol, agent_config)
            agent.on_step = _step_line
            result = agent.run(spec)
    except (EnvError, FileNotFoundError) as exc:
        fail(str(exc))
    if result.status == "env_error" and result.steps == 0:
        err.print(f"[dim]bundle: {result.bundle}[/]", soft_wrap=True)
        fail(result.error or "the environment failed to start")
    colour = "green" if result.success else "red"
    out.print(
        f"[bold {colour}]{result.outcome}[/] ({result.status}, {result.steps} steps"
        f"{', ' + result.detail if result.detail else ''})",
        soft_wrap=True,
    )
    out.print(f"bundle: {result.bundle}", soft_wrap=True)
    out.print(f"report: {result.bundle / 'report.html'}", soft_wrap=True)


@app.command()
def report(bundle: Annotated[Path, typer.Argument(help="an episode bundle folder")]) -> None:
    """Regenerate BUNDLE/report.html."""
    if not (bundle / "episode.json").is_file():
        fail(f"{bundle} is not an episode bundle (no episode.json)")
    try:
        path = write_report(bundle)
    except ValueError as exc:
        fail(f"{bundle}: unreadable bundle: {str(exc).splitlines()[0]}")
    out.print(str(path), soft_wrap=True)


@app.command()
def tools(
    env: Annotated[str | None, typer.Option(help="only the tools this env supports: browser")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the schemas as JSON")] = False,
) -> None:
    """Print the tool schemas (what a model is told it can call)."""
    registry = REGISTRY
    if env == "browser":
        registry = REGISTRY.subset(BrowserEnv.supported_actions)
    elif env is not None:
        fail(f"unknown env {env!r}; known: browser")
    schemas = registry.schemas()
    if as_json:
        print(json.dumps(schemas, indent=2))
        return
    for schema in schemas:
        params = schema["parameters"]
        args = ", ".join(
            f"{name}{'' if name in params['required'] else '?'}: {spec.get('type', spec.get('enum', ''))}"
            for name, spec in params["properties"].items()
        )
        out.print(f"[bold]{schema['name']}[/]({args})  [dim]{schema['description']}[/]", soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
