"""The `pixelpilot` command line.

Bad input (task files, scripts, options, an unreachable start page) gets one clear line on stderr
and exit code 2; nothing already recorded is lost. An episode that ran exits 0 when the task
succeeded and 1 when it did not, and its last line says why (RUN_EXIT_CODES): scripts and CI
pipelines branch on these codes, so they are part of the interface.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from agent.episode import StepRecord
from agent.loop import Agent, AgentConfig, EpisodeResult
from agent.policy import Policy
from agent.report import write_report
from agent.scripted import ScriptedPolicy, ScriptError
from agent.secrets import SecretSet
from env import Env, EnvError, StartSpec, Viewport
from env.browser import BrowserConfig, BrowserEnv
from env.domains import ALLOW_DOMAIN_HELP
from tasks import Task, TaskFileError
from tools import REGISTRY

RUN_EXIT_CODES = """\
0  the task succeeded
1  the episode ran and did not succeed: the check failed, steps kept failing,
   the env failed mid-episode, it was stopped, or a limit was reached;
   the last line says why
2  it could not start: bad input, or a missing or unreachable environment"""
BENCH_EXIT_CODES = """\
0    the run completed, whatever the scores
1    units were killed by their time limit or crashed; the last line counts
     them and results.jsonl says why
2    bad input: options, data, task files, a run folder that cannot be used
130  interrupted; finished units are saved (continue with --resume)"""

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="pixelpilot: GUI and mobile agents.",
    epilog=f"Exit codes of run and debug --exit-when-done:\n{RUN_EXIT_CODES}\n\n"
    f"Exit codes of bench SUITE:\n{BENCH_EXIT_CODES}",
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class PolicyKind(str, Enum):
    scripted = "scripted"
    qwen = "qwen"


class CaptureFormat(str, Enum):
    jpeg = "jpeg"
    png = "png"


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)


def episode_exit_code(result: EpisodeResult) -> int:
    """RUN_EXIT_CODES for an episode: 0 it succeeded, 1 it ran and did not, 2 its environment never started."""
    if result.success:
        return 0
    return 2 if result.status == "env_error" and result.steps == 0 else 1


def outcome_line(result: EpisodeResult) -> str:
    """The last line of an episode: outcome, status, steps, and why in words."""
    colour = "green" if result.success else "red"
    why = result.reason or result.error or result.detail
    return (
        f"[bold {colour}]{result.outcome}[/] ({result.status}, {result.steps} step{'' if result.steps == 1 else 's'})"
        f"{': ' + escape(why) if why else ''}"
    )


def _setup_logging(verbose: bool) -> None:
    from agent.logs import enable_logging

    enable_logging("DEBUG" if verbose else "WARNING")


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
        PolicyKind | None, typer.Option(help="who decides: scripted, or qwen (default when --model is given)")
    ] = None,
    script: Annotated[
        Path | None, typer.Option(help="actions to replay (JSONL/YAML); default: the task's solution")
    ] = None,
    headed: Annotated[bool, typer.Option("--headed", help="show the browser window")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="bundles are written under this folder")] = Path("runs"),
    viewport: Annotated[str | None, typer.Option(help="viewport in CSS px, e.g. 1280x720")] = None,
    scale: Annotated[float | None, typer.Option(help="device scale factor, e.g. 2 for HiDPI")] = None,
    allow_domain: Annotated[list[str] | None, typer.Option("--allow-domain", help=ALLOW_DOMAIN_HELP)] = None,
    record_secrets: Annotated[
        bool, typer.Option("--record-secrets", help="keep text typed into password fields")
    ] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, help="override the task's max_steps")] = None,
    chromium: Annotated[str | None, typer.Option(help="Chromium binary (default: auto-detect)")] = None,
    capture: Annotated[CaptureFormat, typer.Option(help="screenshot encoding")] = CaptureFormat.jpeg,
    model: Annotated[
        str | None, typer.Option(help="Qwen2-VL-family model: hub id or folder (local), or served name")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint, e.g. http://host:8000/v1")] = None,
    dialect: Annotated[
        str | None, typer.Option(help="qwen2.5-vl | qwen2-vl | showui (default: from the model id)")
    ] = None,
    max_pixels: Annotated[int | None, typer.Option(min=784, help="visual pixel budget (default 1280*28*28)")] = None,
    min_pixels: Annotated[int | None, typer.Option(min=784, help="minimum visual pixels (default 56*56)")] = None,
    history: Annotated[int, typer.Option(min=0, help="previous actions shown to the model")] = 8,
    history_images: Annotated[int, typer.Option(min=0, help="previous screenshots shown to the model")] = 0,
    max_repairs: Annotated[int, typer.Option(min=0, help="re-asks after unparsable output, per step")] = 2,
    sample: Annotated[bool, typer.Option("--sample", help="sample instead of greedy decoding")] = False,
    temperature: Annotated[float, typer.Option(min=0.01, help="sampling temperature (with --sample)")] = 0.7,
    seed: Annotated[int | None, typer.Option(help="sampling seed")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 256,
    device: Annotated[str | None, typer.Option(help="local backend device (default cuda if available)")] = None,
    dtype: Annotated[
        str | None, typer.Option(help="local backend dtype (default bf16 on CUDA, float32 on CPU)")
    ] = None,
    attn: Annotated[str | None, typer.Option(help="attention implementation (eager, sdpa, flash_attention_2)")] = None,
    api_key_env: Annotated[str, typer.Option(help="env var holding the endpoint's API key")] = "PIXELPILOT_API_KEY",
    request_timeout: Annotated[float, typer.Option(min=0.1, help="per-request timeout for --endpoint, s")] = 60.0,
    env_kind: Annotated[str | None, typer.Option("--env", help="browser or android (default: the task's)")] = None,
    serial: Annotated[str | None, typer.Option(help="Android device serial (default: the only one)")] = None,
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
    overrides = {
        "viewport": vp,
        "device_scale_factor": scale,
        "allowed_domains": [*task.start.allowed_domains, *(allow_domain or [])] or None,
    }
    try:  # validated, so a malformed --allow-domain or a start URL outside the list stops here, before any browser
        start = StartSpec.model_validate({**dict(task.start), **{k: v for k, v in overrides.items() if v is not None}})
    except ValidationError as exc:
        fail(str(exc.errors()[0]["msg"]).removeprefix("Value error, "))
    spec = task.to_spec().model_copy(update={"start": start, **({"max_steps": max_steps} if max_steps else {})})
    if env_kind is not None:
        if env_kind not in ("browser", "android"):
            fail(f"--env must be browser or android, got {env_kind!r}")
        spec = spec.model_copy(update={"env": env_kind})
    if spec.env == "browser" and not spec.start.url:
        fail(f"{task_file}: a browser task needs start.url")

    kind = policy or (PolicyKind.qwen if model or endpoint else PolicyKind.scripted)
    pol: Policy
    if kind is PolicyKind.scripted:
        script_path = script or (Path(task.solution) if task.solution else None)
        if script_path is None:
            fail("--policy scripted needs --script FILE (the task declares no solution)")
        try:
            pol = ScriptedPolicy.from_file(script_path)
        except ScriptError as exc:
            fail(str(exc))
    else:
        if not model:
            fail("--policy qwen needs --model (a hub id or folder, or the served model's name with --endpoint)")
        pol = _qwen_policy(
            model=model,
            endpoint=endpoint,
            dialect=dialect,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            history=history,
            history_images=history_images,
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
    try:
        with _make_env(spec.env, headed=headed, chromium=chromium, capture=capture.value, serial=serial) as env:
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


def _make_env(kind: str, *, headed: bool, chromium: str | None, capture: str, serial: str | None) -> Env:
    if kind == "android":
        try:
            from env.android import AndroidConfig, AndroidEnv
        except ImportError:
            fail("the Android env needs adbutils: pip install 'pixelpilot[android]'")
        env = AndroidEnv(AndroidConfig(serial=serial))
        env.link  # noqa: B018 - connect now, so a missing device is a clean CLI error
        return env
    return BrowserEnv(BrowserConfig(headless=not headed, chromium_path=chromium, capture_format=capture))


def _qwen_policy(**options: object) -> Policy:
    """A Qwen2-VL policy from the run options (PolicySpec applies a trained folder's pixelpilot.json).

    An option given as None is left to PolicySpec's default (pixel limits the user did not set).
    """
    from agent.policy_spec import PolicySpec, PolicySpecError
    from agent.qwen.threads import apply, threads_for

    given = {k: v for k, v in options.items() if v is not None}
    try:
        spec = PolicySpec(kind="qwen", **given)  # type: ignore[arg-type]
        apply(threads_for(spec))  # torch threads from this process's CPUs and the model's size, before it loads
        return spec.build()
    except PolicySpecError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


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
def devices(
    adb_port: Annotated[int, typer.Option(help="adb server port")] = 5037,
) -> None:
    """List Android devices with model, screen size and density."""
    try:
        from env.android import AndroidConfig, AndroidEnv
        from env.android.link import list_devices
    except ImportError:
        fail("listing devices needs adbutils: pip install 'pixelpilot[android]'")
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
    from env.android.simulator.__main__ import main as sim_main

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
    if env == "browser":
        registry = REGISTRY.subset(BrowserEnv.supported_actions)
    elif env == "android":
        from env.android.env import AndroidEnv

        registry = REGISTRY.subset(AndroidEnv.supported_actions)
    elif env is not None:
        fail(f"unknown env {env!r}; known: browser, android")
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
    from agent.cli_bench import bench_app
    from agent.cli_dataset import dataset_app
    from agent.cli_debug import debug
    from agent.cli_train import train
    from agent.debug.viewer import view

    app.add_typer(bench_app, name="bench")
    app.add_typer(dataset_app, name="dataset")
    debug_codes = f"Exit codes with --exit-when-done:\n{RUN_EXIT_CODES}\nWithout it: 0 once you leave, 2 on bad input."
    app.command(epilog=debug_codes)(debug)
    app.command()(view)
    app.command("train")(train)


_add_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
