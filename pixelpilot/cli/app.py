"""The `pixelpilot` command line: the root app, `run`, `report`, `devices`, `tools`, `android-sim`.

The CLI sits above the four packages (tools, env, agent, tasks): it is the one place where a task
file and the user's options become an env and a policy (cli/assembly.py), with options declared
once (cli/options.py). Bad input gets one line on stderr and exit 2 (RUN_EXIT_CODES).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from pixelpilot.agent.episode import StepRecord
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.report import write_report
from pixelpilot.agent.report_gif import DEFAULT_WIDTH as DEFAULT_GIF_WIDTH
from pixelpilot.agent.report_gif import GifError, write_gif
from pixelpilot.agent.secrets import SecretSet
from pixelpilot.cli import options as opt
from pixelpilot.cli.assembly import episode_spec, open_env, plugins_loaded, qwen_policy, read_task, scripted_policy
from pixelpilot.cli.common import (
    BENCH_EXIT_CODES,
    RUN_EXIT_CODES,
    episode_exit_code,
    err,
    fail,
    out,
    outcome_line,
    setup_logging,
)
from pixelpilot.env import EnvError, StartSpec, Viewport
from pixelpilot.env.domains import ALLOW_DOMAIN_HELP
from pixelpilot.env.registry import EnvOptions, UnknownEnvError, env_kind
from pixelpilot.tools import REGISTRY

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="pixelpilot: GUI and mobile agents.",
    epilog=f"Exit codes of run and debug --exit-when-done:\n{RUN_EXIT_CODES}\n\n"
    f"Exit codes of bench SUITE:\n{BENCH_EXIT_CODES}",
)


def _print_version(value: bool) -> None:
    if value:
        from pixelpilot import __version__

        out.print(f"pixelpilot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    plugins_loaded()  # every command sees the installed plugins' tools and env kinds, or one line naming a broken one


class PolicyKind(str, Enum):
    scripted = "scripted"
    qwen = "qwen"


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


@app.command(epilog=f"Exit codes:\n{RUN_EXIT_CODES}")
def run(
    task_file: Annotated[Path, typer.Argument(help="task file (YAML or JSON)")],
    policy: Annotated[
        PolicyKind | None,
        typer.Option(
            rich_help_panel=opt.POLICY_PANEL, help="who decides: scripted, or qwen (default when --model is given)"
        ),
    ] = None,
    script: opt.Script = None,
    headed: opt.Headed = False,
    out_dir: opt.EpisodeOut = Path("runs"),
    viewport: Annotated[
        str | None, typer.Option(rich_help_panel=opt.ENV_PANEL, help="viewport in CSS px, e.g. 1280x720")
    ] = None,
    scale: Annotated[
        float | None, typer.Option(rich_help_panel=opt.ENV_PANEL, help="device scale factor, e.g. 2 for HiDPI")
    ] = None,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", rich_help_panel=opt.ENV_PANEL, help=ALLOW_DOMAIN_HELP)
    ] = None,
    record_secrets: opt.RecordSecrets = False,
    max_steps: Annotated[
        int | None, typer.Option(min=1, rich_help_panel=opt.LIMITS_PANEL, help="override the task's max_steps")
    ] = None,
    chromium: opt.Chromium = None,
    capture: opt.Capture = opt.CaptureFormat.jpeg,
    model: opt.Model = None,
    endpoint: opt.Endpoint = None,
    dialect: opt.Dialect = None,
    resize_factor: opt.ResizeFactor = None,
    max_pixels: opt.MaxPixels = None,
    min_pixels: opt.MinPixels = None,
    history: opt.History = 8,
    history_images: opt.HistoryImages = 0,
    zoom: opt.Zoom = False,
    zoom_max_pixels: opt.ZoomMaxPixels = None,
    zoom_crop: opt.ZoomCrop = None,
    max_repairs: opt.MaxRepairs = 2,
    sample: opt.Sample = False,
    temperature: opt.Temperature = 0.7,
    seed: opt.Seed = None,
    max_new_tokens: opt.MaxNewTokens = 256,
    device: opt.Device = None,
    dtype: opt.Dtype = None,
    attn: opt.Attn = None,
    api_key_env: opt.ApiKeyEnv = "PIXELPILOT_API_KEY",
    request_timeout: opt.RequestTimeout = 60.0,
    env_name: opt.EnvName = None,
    serial: opt.Serial = None,
    display: opt.Display = None,
    allow_display_zero: opt.AllowDisplayZero = False,
    verbose: opt.Verbose = False,
) -> None:
    """Run one episode of TASK_FILE and write its bundle."""
    setup_logging(verbose)
    task = read_task(task_file)
    try:
        vp = Viewport.parse(viewport) if viewport else None
    except ValueError as exc:
        fail(str(exc))
    if scale is not None and not 0 < scale <= 8:
        fail(f"--scale must be in (0, 8], got {scale:g}")
    overrides = {
        "viewport": vp,
        "device_scale_factor": scale,
        "allowed_domains": [*task.start.allowed_domains, *(allow_domain or [])] or None,
    }
    try:  # validated, so a malformed --allow-domain or a start URL outside the list stops here, before any browser
        start = StartSpec.model_validate({**dict(task.start), **{k: v for k, v in overrides.items() if v is not None}})
    except ValidationError as exc:
        fail(str(exc.errors()[0]["msg"]).removeprefix("Value error, "))
    task = task.model_copy(update={"start": start, **({"max_steps": max_steps} if max_steps else {})})
    spec = episode_spec(task, task_file, env_name=env_name)

    kind = policy or (PolicyKind.qwen if model or endpoint else PolicyKind.scripted)
    pol: Policy
    if kind is PolicyKind.scripted:
        pol = scripted_policy(
            task, script, missing="--policy scripted needs --script FILE (the task declares no solution)"
        )
    else:
        if not model:
            fail("--policy qwen needs --model (a hub id or folder, or the served model's name with --endpoint)")
        pol = qwen_policy(
            model=model,
            endpoint=endpoint,
            dialect=dialect,
            resize_factor=resize_factor,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            history=history,
            history_images=history_images,
            zoom=zoom,
            zoom_max_pixels=zoom_max_pixels,
            zoom_crop=zoom_crop,
            max_repairs=max_repairs,
            sample=sample,
            temperature=temperature,
            seed=seed,
            max_new_tokens=max_new_tokens,
            device=device,
            dtype=dtype,
            attn=attn,
            api_key_env=api_key_env,
            request_timeout=request_timeout,
        )

    agent_config = AgentConfig(out_dir=out_dir, record_secrets=record_secrets)
    instruction = SecretSet.for_spec(spec, masking=not record_secrets).mask_text(spec.instruction)
    out.print(f"[bold]{spec.id}[/]: {instruction}", soft_wrap=True)
    env_options = EnvOptions(
        headed=headed,
        chromium=chromium,
        capture=capture.value,
        serial=serial,
        display=display,
        allow_display_zero=allow_display_zero,
    )
    try:
        with open_env(spec, env_options) as env:
            agent = Agent(env, pol, agent_config)
            agent.on_step = _step_line
            result = agent.run(spec)
    except (EnvError, FileNotFoundError) as exc:
        fail(str(exc))
    if episode_exit_code(result) == 2:
        err.print(f"[dim]bundle: {result.bundle}[/]", soft_wrap=True)
        fail(result.error or "the environment failed to start")
    out.print(f"bundle: {result.bundle}", soft_wrap=True)
    out.print(f"report: {result.bundle / 'report.html'}", soft_wrap=True)
    out.print(outcome_line(result), soft_wrap=True)
    raise typer.Exit(episode_exit_code(result))


@app.command()
def report(
    bundle: Annotated[Path, typer.Argument(help="an episode bundle folder")],
    gif: Annotated[
        Path | None, typer.Option(help="write an animated GIF replay of the episode to this file instead")
    ] = None,
    width: Annotated[int, typer.Option(help="the GIF's largest width in px")] = DEFAULT_GIF_WIDTH,
) -> None:
    """Regenerate BUNDLE/report.html, or with --gif write an animated replay of the episode."""
    if not (bundle / "episode.json").is_file():
        fail(f"{bundle} is not an episode bundle (no episode.json)")
    if gif is not None:
        if not 32 <= width <= 4096:
            fail(f"--width must be between 32 and 4096 px, not {width}")
        try:
            made = write_gif(bundle, gif, width)
        except (GifError, OSError) as exc:
            fail(str(exc).splitlines()[0])
        for note in made.notes:
            err.print(f"note: {note}", soft_wrap=True, markup=False)
        out.print(f"{made.path} ({made.frames} frames, {made.size[0]}×{made.size[1]})", soft_wrap=True)
        return
    try:
        path = write_report(bundle)
    except ValueError as exc:
        fail(f"{bundle}: unreadable bundle: {str(exc).splitlines()[0]}")
    out.print(str(path), soft_wrap=True)


@app.command()
def devices(
    adb_port: Annotated[int, typer.Option(help="adb server port")] = 5037,
) -> None:
    """List Android devices with model, screen size and density."""
    android = env_kind("android")
    try:
        AndroidEnv, AndroidConfig = android.env_type(), android.config_type()
        from pixelpilot.env.android.link import list_devices
    except ImportError as exc:
        missing = exc.name or "adbutils"
        fail(f"listing devices needs {missing}, which is not installed: pip install {missing}")
    try:
        found = list_devices(port=adb_port)
    except Exception as exc:  # noqa: BLE001 - adbutils raises several kinds for a missing server
        fail(f"cannot reach the adb server on port {adb_port}: {exc}; start it with `adb start-server`")
    if not found:
        out.print("no devices (adb devices is empty)")
        return
    for info in found:
        if info.state != "device":
            out.print(f"{info.serial}  {info.state}")
            continue
        try:
            facts = AndroidEnv(AndroidConfig(serial=info.serial, adb_port=adb_port)).screen_info()
        except EnvError as exc:
            out.print(f"{info.serial}  error: {exc}", soft_wrap=True)
            continue
        size = "x".join(map(str, facts["size"])) if facts["size"] else "?"
        out.print(
            f"{info.serial}  {facts['model']}  {size}  density {facts['density']}  "
            f"rotation {facts['rotation'] * 90}  sdk {facts['sdk']}",
            soft_wrap=True,
        )


@app.command("android-sim")
def android_sim(
    port: Annotated[int, typer.Option(help="TCP port (0: a free one)")] = 5555,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    adb_keyboard: Annotated[bool, typer.Option("--adb-keyboard", help="simulate the ADB Keyboard IME")] = False,
    chromium: Annotated[str | None, typer.Option(help="Chromium binary (default: auto-detect)")] = None,
) -> None:
    """Run the simulated Android phone (connect with `adb connect HOST:PORT`)."""
    from pixelpilot.env.android.simulator.__main__ import main as sim_main

    args = ["--host", host, "--port", str(port), "--log-level", "WARNING"]
    if adb_keyboard:
        args.append("--adb-keyboard")
    if chromium:
        args += ["--chromium", chromium]
    sim_main(args)


@app.command()
def tools(
    env: Annotated[str | None, typer.Option(help="only the tools this env supports: browser")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the schemas as JSON")] = False,
) -> None:
    """Print the tool schemas (what a model is told it can call)."""
    registry = REGISTRY
    if env is not None:
        try:
            registry = REGISTRY.subset(env_kind(env).supported_actions)
        except UnknownEnvError as exc:
            fail(str(exc))
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


def _add_subcommands() -> None:
    from pixelpilot.cli.bench import bench_app
    from pixelpilot.cli.dataset import dataset_app
    from pixelpilot.cli.debug import debug
    from pixelpilot.cli.train import train
    from pixelpilot.cli.view import view

    app.add_typer(bench_app, name="bench")
    app.add_typer(dataset_app, name="dataset")
    debug_codes = f"Exit codes with --exit-when-done:\n{RUN_EXIT_CODES}\nWithout it: 0 once you leave, 2 on bad input."
    app.command(epilog=debug_codes)(debug)
    app.command()(view)
    app.command("train")(train)


_add_subcommands()


def main() -> None:
    """The console script: the app, with flags shown as flags and usage errors on one line (cli/help.py)."""
    import sys

    from pixelpilot.cli.help import run_app, show_flags_as_flags

    show_flags_as_flags()
    sys.exit(run_app(app))
