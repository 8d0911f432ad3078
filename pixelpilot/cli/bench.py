"""`pixelpilot bench`: run a suite, list suites and tasks, compare runs, make a grounding set.

Every suite command takes the same policy and run options (one signature, registered once per
suite), so `bench miniwob` and `bench grounding` read alike.
"""

from __future__ import annotations

import inspect
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pixelpilot.agent.policy_spec import PolicySpec, PolicySpecError
from pixelpilot.cli import options as opt
from pixelpilot.cli.common import BENCH_EXIT_CODES, err, fail, out, setup_logging


def _suite_exit_codes() -> str:
    return f"Exit codes of a suite run:\n{BENCH_EXIT_CODES}"


bench_app = typer.Typer(
    no_args_is_help=True, help="Run benchmark suites, compare runs, make datasets.", epilog=_suite_exit_codes()
)


class BenchPolicy(str, Enum):
    qwen = "qwen"
    oracle = "oracle"
    baseline = "baseline"


class Backend(str, Enum):
    local = "local"
    ray = "ray"


def _bench_options(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", rich_help_panel=opt.OUTPUT_PANEL, help="run folder: run.json, results.jsonl, report.html"
        ),
    ],
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=256,
            rich_help_panel=opt.RUN_PANEL,
            help="parallel workers, each with its own browser, phone simulator or X display",
        ),
    ] = 1,
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", rich_help_panel=opt.RUN_PANEL, help="task name glob (repeatable), e.g. 'click-*'"),
    ] = None,
    seeds: Annotated[
        int, typer.Option(min=1, rich_help_panel=opt.RUN_PANEL, help="episodes per task (seeds seed-start .. +K-1)")
    ] = 1,
    seed_start: Annotated[
        int, typer.Option(min=0, rich_help_panel=opt.RUN_PANEL, help="first seed (held-out seeds for trained models)")
    ] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", rich_help_panel=opt.RUN_PANEL, help="continue --out, skipping finished units")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, rich_help_panel=opt.LIMITS_PANEL, help="run at most this many units")
    ] = None,
    episode_timeout: Annotated[
        float,
        typer.Option(
            min=1,
            rich_help_panel=opt.LIMITS_PANEL,
            help="hard limit per unit, s; the worker is killed and replaced after",
        ),
    ] = 300.0,
    data: Annotated[
        Path | None,
        typer.Option(rich_help_panel=opt.RUN_PANEL, help="dataset for grounding/steplevel; task folder otherwise"),
    ] = None,
    matching: Annotated[
        str | None,
        typer.Option(
            rich_help_panel=opt.RUN_PANEL,
            metavar="reference|strict",
            help="steplevel scoring rules: reference = the AITZ/AITW evaluators' (default for AITZ data), "
            "strict = pixelpilot's (default for its own episodes); docs/BENCHMARKS.md",
        ),
    ] = None,
    policy: Annotated[
        BenchPolicy | None,
        typer.Option(
            rich_help_panel=opt.POLICY_PANEL,
            help="qwen (default with --model), oracle (the suite's reference), baseline (task average)",
        ),
    ] = None,
    baseline_data: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel=opt.POLICY_PANEL,
            help="--policy baseline: the training set whose per-task mean click it uses",
        ),
    ] = None,
    blank_screenshot: Annotated[
        bool,
        typer.Option(
            "--blank-screenshot", rich_help_panel=opt.POLICY_PANEL, help="ablation: the policy sees a grey screenshot"
        ),
    ] = False,
    model: opt.Model = None,
    endpoint: opt.Endpoint = None,
    dialect: opt.Dialect = None,
    resize_factor: opt.ResizeFactor = None,
    max_pixels: opt.MaxPixels = None,
    min_pixels: opt.MinPixels = None,
    sweep_max_pixels: opt.SweepMaxPixels = None,
    history: opt.History = 8,
    zoom: opt.Zoom = False,
    zoom_max_pixels: opt.ZoomMaxPixels = None,
    zoom_crop: opt.ZoomCrop = None,
    max_repairs: opt.MaxRepairs = 2,
    sample: opt.Sample = False,
    temperature: opt.Temperature = 0.7,
    max_new_tokens: opt.MaxNewTokens = 256,
    device: opt.Device = None,
    dtype: opt.Dtype = None,
    api_key_env: opt.ApiKeyEnv = "PIXELPILOT_API_KEY",
    request_timeout: opt.RequestTimeout = 60.0,
    scale: Annotated[
        float, typer.Option(rich_help_panel=opt.ENV_PANEL, help="MiniWoB: device scale factor of the 160x210 task area")
    ] = 2.0,
    max_steps: Annotated[
        int | None, typer.Option(min=1, rich_help_panel=opt.LIMITS_PANEL, help="step cap per episode")
    ] = None,
    episode_time_ms: Annotated[
        int | None,
        typer.Option(
            min=100, rich_help_panel=opt.LIMITS_PANEL, help="MiniWoB: override the task's own time limit (ms)"
        ),
    ] = None,
    chromium: opt.Chromium = None,
    serial: Annotated[
        list[str] | None,
        typer.Option(rich_help_panel=opt.ENV_PANEL, help="Android device serial (repeatable, one per worker)"),
    ] = None,
    no_reports: Annotated[
        bool,
        typer.Option("--no-episode-reports", rich_help_panel=opt.OUTPUT_PANEL, help="skip each bundle's report.html"),
    ] = False,
    backend: Annotated[
        Backend, typer.Option(rich_help_panel=opt.RUN_PANEL, help="local worker processes, or Ray tasks on a cluster")
    ] = Backend.local,
    ray_address: Annotated[
        str | None, typer.Option(rich_help_panel=opt.RUN_PANEL, help="Ray cluster address (default: start a local Ray)")
    ] = None,
    each: Annotated[
        bool, typer.Option("--each", rich_help_panel=opt.OUTPUT_PANEL, help="print a line per finished episode")
    ] = False,
    verbose: opt.Verbose = False,
) -> None:
    """Template for the suite commands' options (never registered itself)."""


# Options only some suites read (make_suite passes each suite what it uses); every other option is
# shared. A suite's --help lists only its own, so `bench miniwob --serial` is an unknown option rather
# than a silently ignored one. A suite not named here (a plugin's) keeps them all.
SUITE_OPTIONS: dict[str, frozenset[str]] = {
    "data": frozenset({"grounding", "steplevel", "examples", "android", "desktop"}),
    "matching": frozenset({"steplevel"}),
    "serial": frozenset({"android", "phone"}),
    "scale": frozenset({"miniwob"}),
    "episode_time_ms": frozenset({"miniwob"}),
    "seed_start": frozenset({"miniwob", "phone"}),
    "chromium": frozenset({"miniwob", "examples", "phone"}),
    "max_steps": frozenset({"miniwob", "examples", "android", "phone", "desktop"}),
    "no_reports": frozenset({"miniwob", "examples", "android", "phone", "desktop"}),
}
_BUILTIN_SUITES = frozenset().union(*SUITE_OPTIONS.values())
_TEMPLATE = inspect.signature(_bench_options, eval_str=True)
_DEFAULTS = {name: p.default for name, p in _TEMPLATE.parameters.items() if p.default is not p.empty}


def _suite_takes(suite_name: str, option: str) -> bool:
    users = SUITE_OPTIONS.get(option)
    return users is None or suite_name not in _BUILTIN_SUITES or suite_name in users


def _episode_line(result: Any) -> str:
    """One finished unit, for --each: task, seed, outcome, steps, time, and why it did not complete."""
    mark = "[green]✓[/]" if result.success else "[red]✗[/]"
    why = f" [dim]{escape(result.error.splitlines()[0])}[/]" if result.error else ""
    return (
        f"{mark} {escape(result.task)} seed {result.seed} {result.status}, {result.steps} "
        f"step{'' if result.steps == 1 else 's'}, {result.elapsed_s:.1f} s{why}"
    )


def _run_bench(suite_name: str, **o: Any) -> None:
    o = {**_DEFAULTS, **o}  # a suite's command lacks the options it does not use: they keep their defaults
    from pixelpilot.tasks.bench.contract import SuiteError
    from pixelpilot.tasks.bench.report import print_summary, write_summary
    from pixelpilot.tasks.bench.results import latest
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run
    from pixelpilot.tasks.bench.suites import make_suite

    setup_logging(o["verbose"])
    kind = o["policy"].value if o["policy"] else ("qwen" if o["model"] else None)
    if kind is None:
        fail("choose who acts: --model MODEL (with --endpoint for a served one) or --policy oracle")
    if o["sweep_max_pixels"] is not None:
        _run_sweep(suite_name, kind, o)
        return
    try:
        spec = PolicySpec(
            kind=kind,
            model=o["model"],
            endpoint=o["endpoint"],
            dialect=o["dialect"],
            resize_factor=o["resize_factor"],
            **{k: o[k] for k in ("min_pixels", "max_pixels", "zoom_max_pixels", "zoom_crop") if o[k] is not None},
            zoom=o["zoom"],
            history=o["history"],
            max_repairs=o["max_repairs"],
            sample=o["sample"],
            temperature=o["temperature"],
            max_new_tokens=o["max_new_tokens"],
            device=o["device"],
            dtype=o["dtype"],
            api_key_env=o["api_key_env"],
            request_timeout=o["request_timeout"],
            baseline_data=o["baseline_data"],
            blank_screenshot=o["blank_screenshot"],
        ).check()
        if spec.kind == "qwen":
            # fail fast in the parent on what a worker would fail on (unknown dialect, no endpoint)
            from pixelpilot.agent.qwen.dialects import DIALECTS

            if spec.resolved_dialect() not in DIALECTS:
                raise PolicySpecError(f"unknown dialect {spec.resolved_dialect()!r}; known: {', '.join(DIALECTS)}")
            spec.resolved_resize_factor()
        if o["backend"] is Backend.ray:
            from pixelpilot.tasks.bench.ray_backend import check_ray

            check_ray()
        suite = make_suite(suite_name, {**o, "reports": not o["no_reports"]})
        options = RunOptions(
            out=o["out_dir"],
            workers=o["workers"],
            seeds=o["seeds"],
            tasks=o["tasks"] or [],
            resume=o["resume"],
            unit_time_limit_s=o["episode_timeout"],
            backend=o["backend"].value,
            ray_address=o["ray_address"],
            limit=o["limit"],
        )
        plan = plan_run(suite, spec, options, command=sys.argv)
    except (PolicySpecError, SuiteError, ValidationError) as exc:
        fail(_one_line(exc))
        return
    except OSError as exc:  # --out is a file, or a folder nobody may write: bad input, not a crash
        fail(f"cannot use --out {o['out_dir']}: {exc.strerror or _one_line(exc)}")
        return
    total = plan.total
    done = len(plan.done)
    out.print(
        f"[bold]{suite_name}[/]: {total} units, {done} already done, {len(plan.todo)} to run "
        f"on {o['workers']} worker(s) · run key {plan.run_key} · {options.out}",
        soft_wrap=not out.is_terminal,
    )
    wins = [sum(r.success for r in plan.done), done]
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("success {task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )

    def on_result(result: Any) -> None:
        wins[0] += result.success
        wins[1] += 1
        progress.update(bar, advance=1, rate=f"{100 * wins[0] / wins[1]:.1f}%")
        if o["each"]:
            progress.console.print(_episode_line(result), soft_wrap=True)

    with progress:
        bar = progress.add_task(suite_name, total=total, completed=done, rate="—")
        try:
            outcome = execute(plan, on_result=on_result, verbose=o["verbose"])
        except SuiteError as exc:
            fail(_one_line(exc))
            return
    results = latest(outcome.results)
    summary = write_summary(options.out, results, suite.summarize(results))
    print_summary(summary, out)
    out.print(f"results: {options.out / 'results.jsonl'}", soft_wrap=not out.is_terminal)
    out.print(f"report: {options.out / 'report.html'}", soft_wrap=not out.is_terminal)
    if outcome.interrupted:
        err.print(f"interrupted; finished units are saved. Continue with: --resume --out {options.out}")
        raise typer.Exit(130)
    lost = [r for r in results if r.status in ("killed", "crashed")]
    if lost:
        # scores are the suite's business; a unit with no verdict is the run's, and a pipeline must see it
        killed = sum(r.status == "killed" for r in lost)
        first = next((r for r in lost if r.error), lost[0])
        out.print(
            f"[bold red]{len(lost)} of {len(results)} units did not complete[/] ({killed} killed by the time limit, "
            f"{len(lost) - killed} crashed); first: {first.task} seed {first.seed}: {escape(first.error or '?')}",
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _run_sweep(suite_name: str, kind: str, o: dict[str, Any]) -> None:
    """One run per --sweep-max-pixels budget (smallest first), each in its own folder under --out, then
    the sweep's table and report; exit 1 if any budget lost units, 130 at once when interrupted."""
    from pixelpilot.tasks.bench import sweep
    from pixelpilot.tasks.bench.contract import SuiteError

    if kind != "qwen":
        fail(f"--sweep-max-pixels needs a model (--model): the {kind} policy does not see a pixel budget")
    if o["max_pixels"] is not None:
        fail("--sweep-max-pixels replaces --max-pixels: give one or the other")
    try:
        resolved = PolicySpec(kind="qwen", model=o["model"], endpoint=o["endpoint"]).resolved()
        floor = o["min_pixels"] or resolved.min_pixels
        budgets = sorted(sweep.parse_budgets(o["sweep_max_pixels"], min_pixels=floor))
        covered = sweep.open_sweep(o["out_dir"], suite_name, budgets, resume=o["resume"])
    except (PolicySpecError, SuiteError) as exc:
        fail(_one_line(exc))
    except OSError as exc:
        fail(f"cannot use --out {o['out_dir']}: {exc.strerror or _one_line(exc)}")
    status = 0
    try:
        for budget in budgets:
            out.print(f"[bold]max pixels {budget}[/]", soft_wrap=True)
            try:
                folder = sweep.budget_dir(o["out_dir"], budget)
                _run_bench(suite_name, **{**o, "sweep_max_pixels": None, "max_pixels": budget, "out_dir": folder})
            except typer.Exit as exc:
                if exc.exit_code != 1:
                    raise
                status = 1  # lost units in this budget: say so at the end, but run the other budgets
    finally:
        summary = sweep.sweep_summary(o["out_dir"], covered, suite_name)
        sweep.write_sweep(o["out_dir"], summary)
    sweep.print_sweep(summary, out)
    out.print(f"sweep report: {o['out_dir'] / 'report.html'}", soft_wrap=not out.is_terminal)
    if status:
        raise typer.Exit(status)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _suite_command(name: str, help_text: str) -> Any:
    def command(**kwargs: Any) -> None:
        _run_bench(name, **kwargs)

    command.__name__ = name
    command.__doc__ = help_text
    taken = [p.replace(kind=p.KEYWORD_ONLY) for p in _TEMPLATE.parameters.values() if _suite_takes(name, p.name)]
    command.__signature__ = _TEMPLATE.replace(  # type: ignore[attr-defined]
        parameters=sorted(taken, key=_panel_rank)  # keyword-only, so --help can list them panel by panel
    )
    return command


def _panel_rank(param: inspect.Parameter) -> int:
    """Where PARAM's panel comes in a suite's --help: what it runs on, who acts, then how, and the output last."""
    order = [opt.ENV_PANEL, opt.POLICY_PANEL, opt.MODEL_PANEL, opt.RUN_PANEL, opt.LIMITS_PANEL, opt.OUTPUT_PANEL]
    info = next((m for m in getattr(param.annotation, "__metadata__", ()) if hasattr(m, "rich_help_panel")), None)
    panel = getattr(info, "rich_help_panel", None)
    return order.index(panel) if panel in order else len(order)


def _register_suites() -> None:
    from pixelpilot.tasks.bench.suites import SUITES

    for name, help_text in SUITES.items():
        bench_app.command(name, help=help_text, epilog=_suite_exit_codes())(_suite_command(name, help_text))


_register_suites()


@bench_app.command("list")
def list_suites(
    suite: Annotated[str | None, typer.Argument(help="one suite: list its tasks")] = None,
    data: Annotated[Path | None, typer.Option(help="dataset for grounding/steplevel")] = None,
) -> None:
    """The suites, and the tasks of one suite."""
    from pixelpilot.tasks.bench.contract import SuiteError
    from pixelpilot.tasks.bench.suites import SUITES, make_suite

    if suite is None:
        for name, text in SUITES.items():
            out.print(f"[bold]{name}[/]  {text}", soft_wrap=True)
        return
    if suite not in SUITES:
        fail(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    try:
        s = make_suite(suite, {"data": data})
        names = s.tasks()
        oracle = set(s.default_tasks(PolicySpec(kind="oracle"))) if suite == "miniwob" else set()
        summaries: dict[str, str] = getattr(s, "task_summaries", dict)()
    except SuiteError as exc:
        fail(_one_line(exc))
        return
    for name in names:
        about = f"  [dim]{escape(summaries[name])}[/]" if name in summaries else ""
        out.print(f"{name}{'  [dim](oracle)[/]' if name in oracle else ''}{about}", soft_wrap=True)
    out.print(f"[dim]{len(names)} tasks[/]")


@bench_app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="baseline run folder")],
    run_b: Annotated[Path, typer.Argument(help="run folder compared against it")],
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="also write the comparison page (deltas, flipped episodes) to FILE")
    ] = None,
    allow_mixed_matching: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-matching", help="compare step-level runs scored by different --matching modes (warns)"
        ),
    ] = False,
) -> None:
    """Per-task success deltas of RUN_B against RUN_A, with exact significance tests."""
    from pixelpilot.tasks.bench.compare import CompareError, compare_runs, render_compare_html
    from pixelpilot.tasks.bench.report import print_columns

    try:
        report = compare_runs(run_a, run_b, allow_mixed_matching=allow_mixed_matching)
        if html_file is not None:
            html_file.write_text(render_compare_html(report, run_a, run_b, html_file))
    except CompareError as exc:
        fail(str(exc))
        return
    except OSError as exc:
        fail(f"cannot write --html {html_file}: {exc.strerror or _one_line(exc)}")
        return
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for warning in report["warnings"]:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    out.print(f"{escape(str(run_b))} vs {escape(str(run_a))}", soft_wrap=not out.is_terminal)
    rows = [
        [
            row["task"],
            str(row["n_a"]),
            f"{100 * row['rate_a']:.1f}%",
            str(row["n_b"]),
            f"{100 * row['rate_b']:.1f}%",
            f"{100 * row['delta']:+.1f}",
            f"{row['p_value']:.3g}",
            row["test"],
        ]
        for row in [*report["tasks"], report["overall"]]
    ]
    print_columns(out, ["task", "n A", "A", "n B", "B", "Δ", "p", "test"], rows, left={0, 7}, bold_last=True)
    if html_file is not None:
        out.print(f"page: {escape(str(html_file))}", soft_wrap=not out.is_terminal)


@bench_app.command("make-grounding")
def make_grounding_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for images and annotation files")],
    n: Annotated[int, typer.Option("--n", min=1, help="number of samples")] = 500,
    seed: Annotated[int, typer.Option(help="generator seed (same seed, same set)")] = 0,
    chromium: Annotated[str | None, typer.Option(help="Chromium binary (default: auto-detect)")] = None,
    screen: Annotated[
        list[str] | None,
        typer.Option(
            help="screen to render on, PLATFORM:WxH or PLATFORM:WxH@SCALE (repeatable), e.g. desktop:2560x1440; "
            "default: phones at scale 2-3, desktop and web 1280x800 at scale 1-2"
        ),
    ] = None,
) -> None:
    """Render synthetic GUIs in Chromium into a ScreenSpot-format grounding set."""
    from pixelpilot.tasks.bench.synth import make_grounding, parse_screen

    try:
        screens = [parse_screen(s) for s in screen or []]
        path = make_grounding(out_dir, n, seed=seed, chromium=chromium, screens=screens)
    except (OSError, ValueError) as exc:
        fail(_one_line(exc))
        return
    out.print(f"grounding set: {path}", soft_wrap=True)
