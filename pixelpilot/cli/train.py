"""`pixelpilot train`: fine-tune a Qwen2-VL-family model on training sets, evaluate it on live tasks.

The trainer (agent/train/trainer.py) knows nothing of benchmarks; this command builds the
evaluation callback from the benchmark runner, which only a CLI module may import.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.cli import options as opt

#: Suites ``--eval-suite`` accepts (live suites the runner can score per task).
EVAL_SUITES = ("miniwob",)
#: MiniWoB's task area is 160 CSS px wide; a dataset's screenshot width / 160 is its scale.
MINIWOB_CSS_WIDTH = 160


def _data_scale(folders: list[Path]) -> float | None:
    """The MiniWoB scale the data was captured at (median screenshot width / 160), if readable."""
    try:
        import pyarrow.parquet as pq

        from pixelpilot.agent.train.format import data_files

        widths = sorted(
            w
            for folder in folders
            for f in data_files(folder)
            for w in pq.read_table(f, columns=["width"])["width"].to_pylist()
        )
    except Exception:  # noqa: BLE001 - a missing or odd dataset is reported by the trainer, with its reason
        return None
    return round(widths[len(widths) // 2] / MINIWOB_CSS_WIDTH, 3) if widths else None


def _miniwob_eval(
    *,
    out: Path,
    dialect: str,
    data: list[Path],
    tasks: list[str],
    seeds: int,
    seed_start: int,
    scale: float,
    workers: int,
    device: str | None,
    max_steps: int,
) -> Any:
    """A trainer evaluation callback: the MiniWoB tasks on held-out seeds, success rate per task."""
    from pixelpilot.agent.train.format import read_info
    from pixelpilot.tasks.bench.contract import SuiteError
    from pixelpilot.tasks.bench.miniwob.suite import MiniWobSuite
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run, select_tasks

    info = read_info(data[0])

    def spec_for(model: str) -> PolicySpec:
        return PolicySpec(
            kind="qwen",
            model=model,
            dialect=dialect,
            min_pixels=info.min_pixels,
            max_pixels=info.max_pixels,
            history=info.history_actions,
            history_images=info.history_images,
            max_repairs=0,
            device=device,
        )

    def suite() -> MiniWobSuite:
        return MiniWobSuite(scale=scale, seed_start=seed_start, max_steps=max_steps, reports=False)

    try:  # unknown task names or a missing miniwob package: refuse before training, not after
        select_tasks(suite(), spec_for("check"), tasks)
    except SuiteError as exc:
        _fail(str(exc).splitlines()[0])

    def evaluate(model_dir: Path, step: int) -> dict[str, float]:
        folder = out / "eval" / f"step-{step}"
        if folder.exists():
            shutil.rmtree(folder)  # a killed run's partial evaluation of this very step
        options = RunOptions(out=folder, workers=workers, seeds=seeds, tasks=tasks)
        outcome = execute(plan_run(suite(), spec_for(str(model_dir)), options))
        per_task: dict[str, list[bool]] = {}
        for result in outcome.results:
            per_task.setdefault(result.task, []).append(result.success)
        return {task: sum(v) / len(v) for task, v in sorted(per_task.items())}

    return evaluate


def _fail(message: str) -> None:
    from pixelpilot.cli.common import fail

    fail(message)


def train(
    data: Annotated[
        list[Path], typer.Option("--data", help="dataset folder from `pixelpilot dataset build` (repeatable)")
    ],
    base: Annotated[str, typer.Option(help="hub id, folder, or a from-scratch architecture: tiny | small")],
    dialect: Annotated[str, typer.Option(help="qwen2.5-vl | qwen2-vl | showui; must match the data")],
    out_dir: Annotated[Path, typer.Option("--out", help="run folder; ends as a loadable checkpoint")],
    lora: Annotated[bool, typer.Option("--lora", help="LoRA on the LM's q/k/v/o (merged at the end)")] = False,
    lora_r: Annotated[int, typer.Option(min=1, help="LoRA rank")] = 16,
    lora_alpha: Annotated[int, typer.Option(min=1, help="LoRA alpha (scale = alpha / rank)")] = 32,
    device: opt.Device = None,
    dtype: opt.Dtype = None,
    lr: Annotated[float | None, typer.Option(help="peak learning rate (default 1e-3 scratch, 2e-4 LoRA, 1e-5)")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="passes over the training set")] = 1,
    max_steps: Annotated[int | None, typer.Option(min=1, help="optimizer steps (overrides --epochs)")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="rows per forward pass (default 8 CPU, 2 GPU)")] = None,
    grad_accum: Annotated[int, typer.Option(min=1, help="forward passes per optimizer step")] = 1,
    schedule: Annotated[str, typer.Option(help="cosine | linear | constant (after warmup)")] = "cosine",
    warmup_ratio: Annotated[float, typer.Option(min=0, max=0.99, help="share of steps warming up the LR")] = 0.03,
    weight_decay: Annotated[float, typer.Option(min=0, help="AdamW weight decay")] = 0.0,
    seed: Annotated[int, typer.Option(help="initialisation and data order")] = 0,
    save_every: Annotated[int, typer.Option(min=1, help="checkpoint every N steps (and at the end)")] = 200,
    resume: Annotated[bool, typer.Option("--resume", help="continue OUT/checkpoint after a kill")] = False,
    gradient_checkpointing: Annotated[
        bool | None, typer.Option("--gradient-checkpointing/--no-gradient-checkpointing", help="default: on CUDA")
    ] = None,
    position_frame: Annotated[
        bool | None,
        typer.Option(
            "--position-frame/--no-position-frame",
            help="patch coordinates as the second image frame (local backend only); default: on for tiny/small",
        ),
    ] = None,
    aux_grounding: Annotated[
        float, typer.Option(min=0, help="weight of the auxiliary grounding loss on visual tokens (scratch models)")
    ] = 0.0,
    workers: Annotated[
        int | None, typer.Option(min=0, help="processes preparing batches ahead of the model; default 0 CPU, 8 CUDA")
    ] = None,
    eval_suite: Annotated[str | None, typer.Option(help="live suite to evaluate on: miniwob")] = None,
    eval_tasks: Annotated[str, typer.Option(help="comma-separated task names or globs")] = "click-test,click-button",
    eval_seeds: Annotated[int, typer.Option(min=1, help="episodes per task")] = 20,
    eval_seed_start: Annotated[int, typer.Option(min=0, help="first seed; keep it away from the data's")] = 100_000,
    eval_scale: Annotated[float | None, typer.Option(help="MiniWoB scale (default: the data's)")] = None,
    eval_every: Annotated[int | None, typer.Option(min=1, help="also evaluate every K steps")] = None,
    eval_workers: Annotated[int, typer.Option(min=1, help="parallel workers for the evaluation run")] = 1,
    eval_max_steps: Annotated[int, typer.Option(min=1, help="step cap per evaluation episode")] = 10,
    eval_data: Annotated[Path | None, typer.Option(help="held-out dataset for the image-ablation check")] = None,
    ablation_n: Annotated[int, typer.Option(min=1, help="rows of --eval-data the ablation check decodes")] = 32,
    verbose: opt.Verbose = False,
) -> None:
    """Fine-tune a Qwen2-VL-family model on training sets; OUT ends as a checkpoint `run --model OUT` loads."""
    from pixelpilot.agent.train.trainer import TrainConfig, TrainError
    from pixelpilot.agent.train.trainer import train as run_training
    from pixelpilot.cli.common import out, setup_logging

    setup_logging(verbose)
    try:
        import matplotlib  # noqa: F401
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        _fail(
            f"training needs the local and train extras ({exc.name} is missing): pip install 'pixelpilot[local,train]'"
        )
    # The run has its own progress bar; the libraries' per-file bars (shards, splits) only add noise.
    transformers.utils.logging.disable_progress_bar()
    from pixelpilot.agent.qwen.dialects import DIALECTS, get_dialect

    try:
        dialect = get_dialect(dialect).name
    except ValueError:
        _fail(f"unknown --dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    if schedule not in ("cosine", "linear", "constant"):
        _fail(f"--schedule must be cosine, linear or constant, got {schedule!r}")
    try:
        config = TrainConfig(
            data=data, base=base, dialect=dialect, out=out_dir, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha,
            device=device, dtype=dtype, lr=lr, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
            grad_accum=grad_accum, schedule=schedule, warmup_ratio=warmup_ratio, weight_decay=weight_decay, seed=seed,
            save_every=save_every, resume=resume, gradient_checkpointing=gradient_checkpointing,
            position_frame=position_frame, aux_grounding=aux_grounding, workers=workers,
            eval_every=eval_every if eval_suite or eval_data else None, eval_data=eval_data, ablation_n=ablation_n,
        )  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"--{'.'.join(map(str, first['loc'])).replace('_', '-')}: {first['msg']}")
    evaluate = None
    if eval_suite is not None:
        if eval_suite not in EVAL_SUITES:
            _fail(f"--eval-suite must be one of {', '.join(EVAL_SUITES)}, got {eval_suite!r}")
        scale = eval_scale or _data_scale(data) or 2.0
        evaluate = _miniwob_eval(
            out=out_dir, dialect=dialect, data=data, tasks=[t.strip() for t in eval_tasks.split(",") if t.strip()],
            seeds=eval_seeds, seed_start=eval_seed_start, scale=scale, workers=eval_workers, device=device,
            max_steps=eval_max_steps,
        )  # fmt: skip
    try:
        result = run_training(config, evaluate=evaluate)
    except TrainError as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return
    except KeyboardInterrupt:
        from pixelpilot.cli.common import err

        err.print(f"interrupted; continue with the same command and --resume (last checkpoint in {out_dir})")
        raise typer.Exit(130) from None
    loss = "—" if result.final_loss is None else f"{result.final_loss:.4f}"
    out.print(f"trained {result.steps} steps ({result.samples} samples), final loss {loss}", soft_wrap=True)
    for entry in result.evals[-1:]:
        for task, rate in (entry.get("success") or {}).items():
            out.print(f"  {task}: {100 * rate:.1f}% success", soft_wrap=True)
        if entry.get("ablation"):
            a = entry["ablation"]
            out.print(f"  held-out accuracy {a['with_image']:.2f}, image blanked {a['blanked']:.2f}", soft_wrap=True)
    out.print(f"model: {out_dir}", soft_wrap=True)
    out.print(f"report: {out_dir / 'report.html'}", soft_wrap=True)
