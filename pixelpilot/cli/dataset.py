"""`pixelpilot dataset build`: episode bundles -> a Qwen2-VL training set (agent/train/dataset.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dataset_app = typer.Typer(no_args_is_help=True, help="Training sets from episode bundles.")


@dataset_app.command()
def build(
    bundles: Annotated[list[Path], typer.Argument(help="bundle folders, or folders holding bundles (a bench run)")],
    dialect: Annotated[str, typer.Option(help="qwen2.5-vl | qwen3-vl | qwen2-vl | showui: how targets are written")],
    out_dir: Annotated[Path, typer.Option("--out", help="dataset folder (parquet + dataset.json + README.md)")],
    include_failures: Annotated[
        bool, typer.Option("--include-failures", help="also unsuccessful episodes (default: successful only)")
    ] = False,
    max_pixels: Annotated[int | None, typer.Option(min=784, help="visual pixel budget, as the policy will use")] = None,
    min_pixels: Annotated[int | None, typer.Option(min=784, help="minimum visual pixels (default 56*56)")] = None,
    resize_factor: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="px per visual token side of the model to train, patch x merge: 28 Qwen2/2.5-VL, 32 Qwen3-VL "
            "(default: the dialect's model family)",
        ),
    ] = None,
    history: Annotated[int, typer.Option(min=0, help="previous actions in the prompt (as the policy)")] = 8,
    system_prompt: Annotated[
        str | None,
        typer.Option(help="a short system prompt instead of the dialect's (for models trained from scratch)"),
    ] = None,
) -> None:
    """Turn every usable step of BUNDLES into a training example in DIALECT."""
    from pixelpilot.agent.qwen.dialects import DIALECTS
    from pixelpilot.agent.qwen.families import ResizeFactorError, dialect_family_factor, resolve_resize_factor
    from pixelpilot.agent.qwen.prompt import PromptConfig
    from pixelpilot.agent.train.dataset import DatasetError, build_dataset
    from pixelpilot.cli.common import fail, out

    options = {k: v for k, v in {"min_pixels": min_pixels, "max_pixels": max_pixels}.items() if v is not None}
    # The rows are resized as the model to be trained resizes: its factor, else its dialect's family's.
    if resize_factor is not None:
        try:
            options["resize_factor"] = resolve_resize_factor("", explicit=resize_factor, local=False).factor
        except ResizeFactorError as exc:
            fail(str(exc))
    elif dialect in DIALECTS:  # an unknown dialect is reported by the build, with the known ones
        factor = dialect_family_factor(dialect)
        if factor is None:
            fail(f"models speaking {dialect} differ in resize factor: pass --resize-factor 28 or 32")
        options["resize_factor"] = factor
    try:
        prompt = PromptConfig(history_actions=history, system_prompt=system_prompt, **options)
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    if prompt.min_pixels > prompt.max_pixels:
        fail(f"--min-pixels ({prompt.min_pixels}) must not exceed --max-pixels ({prompt.max_pixels})")
    try:
        info = build_dataset(bundles, out_dir, dialect=dialect, prompt=prompt, successful_only=not include_failures)
    except DatasetError as exc:
        fail(str(exc))
    out.print(
        f"{info.rows} examples from {info.episodes} episodes ({len(info.tasks)} tasks) in {info.dialect}, "
        f"resize factor {info.resize_factor} -> {out_dir}",
        soft_wrap=True,
    )
    if info.skipped:
        out.print("left out: " + ", ".join(f"{k} {v}" for k, v in sorted(info.skipped.items())), soft_wrap=True)
