"""Recipe for pixelpilot's embedded default model: demonstrations -> datasets -> training -> evaluation.

Every stage is resumable and skipped when its output is complete, so the whole recipe can be
killed at any moment and run again (on this machine or a fresh one) to continue:

1. synthetic rows (agent/train/synthetic.py): only the pixels say where to click (fixed seeds);
2. MiniWoB demonstrations by the DOM oracle through `pixelpilot bench` (train seeds 0..K-1),
   turned into a dataset by `pixelpilot dataset build`; a held-out dataset from other seeds;
3. training from scratch, `small` architecture, qwen2-vl dialect, curriculum: stage 1 on the
   synthetic rows only (learn to look), stages 2-3 on synthetic + MiniWoB, stage 4 adds 2,500 more
   demonstrations of each measured task;
4. evaluation with `pixelpilot bench miniwob` on seeds never seen in training: the model, the model
   with the screenshot blanked, and the task-average (instruction-only) baseline.

    .venv/bin/python scripts/train_default_model.py [--work .cache/default-model] [--quick] [--ship]

Timings of each stage go to WORK/recipe_log.jsonl. Not part of CI (hours on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIXELPILOT = str(Path(sys.executable).parent / "pixelpilot")
REQUIRED = ["click-test", "click-test-2", "click-button", "focus-text", "click-dialog"]
EXTRA = ["click-tab", "click-dialog-2", "focus-text-2", "click-test-transfer", "click-button-sequence", "click-link"]
DIALECT = "qwen2-vl"
SCALE = "1"  # 160x210 -> the model sees 168x224
EVAL_SEED_START = 100_000
HELD_OUT_SEED_START = 50_000
TRAIN_SEEDS = 400  # demonstrations of every task: seeds 0..TRAIN_SEEDS-1
REQUIRED_SEED_START = 1_000  # the second set of demonstrations, of the measured tasks only
REQUIRED_SEEDS = 2_500
#: The third set, of the three tasks stage 4 left weakest (reading words: click-button,
#: click-test-2; focus-text's box edges).
HARDEST = ["click-button", "click-test-2", "focus-text"]
HARDEST_SEED_START = 4_000
HARDEST_SEEDS = 1_500
#: Stage 5 ran on a lent CUDA machine (scripts/gpu_stage.py), whose working tree travels in 64 MiB:
#: it took 2 of every 5 rows of the first demonstrations (the other tasks, kept from forgetting).
TRAIN_SLICE = (2, 5)
#: Decoding the evaluation uses and the shipped pixelpilot.json records: a click is ~20 tokens; no
#: repair turns (the model was never trained on them).
MAX_NEW_TOKENS = 32
MAX_REPAIRS = 0
#: A model trained from scratch needs no instructions on the format. With the 537-token vocabulary
#: every prompt token counts twice: in the step time, and in how thinly a fresh model's uniform
#: attention spreads over the prompt (48 visual tokens among ~200 at first; the dialect's own
#: system prompt is ~800 tokens, the previous one-line format description ~60).
SYSTEM_PROMPT = "GUI agent."
#: Weight of the auxiliary grounding loss on the visual tokens (agent/train/aux_grounding.py).
AUX_GROUNDING = "1.0"
SHIP_DIR = ROOT / "agent" / "qwen" / "default_model"


def log(work: Path, stage: str, started: float, **extra: object) -> None:
    entry = {"stage": stage, "seconds": round(time.time() - started, 1), **extra}
    print(json.dumps(entry), flush=True)
    with (work / "recipe_log.jsonl").open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def run(*args: str | Path) -> None:
    print("+ pixelpilot", " ".join(map(str, args)), flush=True)
    subprocess.run([PIXELPILOT, *map(str, args)], check=True)


def _complete(data: Path, rows: int | None = None) -> bool:
    """A dataset folder built with this recipe's system prompt (and row count)."""
    if not (data / "dataset.json").exists():
        return False
    info = json.loads((data / "dataset.json").read_text())
    return info.get("system_prompt") == SYSTEM_PROMPT and (rows is None or info["rows"] == rows)


def synthetic(
    work: Path,
    n: int,
    name: str = "synthetic",
    seed: int = 0,
    sizes: tuple[float, float] = (14, 42),
    locate: float = 0.5,
) -> Path:
    out = work / "data" / name
    if _complete(out, rows=n):
        return out
    if out.exists():
        shutil.rmtree(out)
    from pixelpilot.agent.qwen.prompt import PromptConfig
    from pixelpilot.agent.train.synthetic import make_synthetic

    t0 = time.time()
    prompt = PromptConfig(system_prompt=SYSTEM_PROMPT)
    make_synthetic(
        out, n, seed=seed, dialect=DIALECT, scale=float(SCALE), prompt=prompt, sizes=sizes, locate_share=locate
    )
    log(work, name, t0, rows=n)
    return out


def demonstrations(work: Path, name: str, seeds: int, seed_start: int, task_names: list[str] | None = None) -> Path:
    demos = work / "demos" / name
    chosen = task_names or REQUIRED + EXTRA
    tasks = [a for t in chosen for a in ("--tasks", t)]
    t0 = time.time()
    args = ["bench", "miniwob", "--policy", "oracle", *tasks, "--seeds", str(seeds), "--seed-start", str(seed_start)]
    args += ["--scale", SCALE, "--workers", "2", "--no-episode-reports", "--out", demos]
    run(*args, *(["--resume"] if (demos / "run.json").exists() else []))
    log(work, f"demos-{name}", t0, episodes=seeds * len(chosen))
    out = work / "data" / f"miniwob-{name}"
    if not _complete(out):
        if out.exists():
            shutil.rmtree(out)
        t0 = time.time()
        run(
            "dataset", "build", demos / "episodes", "--dialect", DIALECT, "--out", out, "--system-prompt", SYSTEM_PROMPT
        )
        log(work, f"dataset-{name}", t0)
    return out


def thin(work: Path, source: Path, name: str, keep: int, every: int) -> Path:
    """A dataset of rows i of ``source`` with ``i % every < keep``, in order, with source's card."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pixelpilot.agent.train.format import data_files

    out = work / "data" / name
    if _complete(out):
        return out
    table = pa.concat_tables([pq.read_table(f) for f in data_files(source)])
    kept = table.take([i for i in range(table.num_rows) if i % every < keep])
    (out / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(kept, out / "data" / "train-00000.parquet")
    info = json.loads((source / "dataset.json").read_text()) | {"rows": kept.num_rows}
    (out / "dataset.json").write_text(json.dumps(info, indent=2))
    return out


def cuda_options() -> list[str]:
    """`pixelpilot train` options for a CUDA machine: float32 weights (TF32 products; bf16 weights
    lose the small late updates of a 4.8M-parameter model), no activation checkpointing (nothing
    to save memory for), every spare core preparing batches. None on a CPU."""
    import os

    import torch

    if not torch.cuda.is_available():
        return []
    workers = max(1, (os.cpu_count() or 4) - 3)
    return ["--dtype", "float32", "--no-gradient-checkpointing", "--workers", str(workers)]


def train_stage(
    work: Path,
    name: str,
    base: str,
    data: list[Path],
    steps: int,
    batch: int,
    lr: float,
    held_out: Path,
    eval_every: int = 250,
) -> Path:
    out = work / name
    state = out / "checkpoint" / "trainer_state.json"
    if (out / "config.json").exists() and state.exists() and json.loads(state.read_text())["step"] >= steps:
        return out  # finished
    t0 = time.time()
    args = ["train", *[a for d in data for a in ("--data", d)], "--base", base, "--dialect", DIALECT, "--out", out]
    args += ["--max-steps", str(steps), "--batch-size", str(batch), "--lr", str(lr), "--save-every", "100"]
    args += ["--aux-grounding", AUX_GROUNDING]
    # the image-ablation check on held-out rows every 250 steps: accuracy with the screenshot blanked must
    # fall below accuracy with it, or the model is guessing from the instruction
    args += ["--eval-data", held_out, "--ablation-n", "16", "--eval-every", str(eval_every), *cuda_options()]
    run(*args, *(["--resume"] if (out / "checkpoint").exists() else []))
    log(work, f"train-{name}", t0, steps=steps)
    return out


def evaluate(work: Path, model: Path, seeds: int) -> dict[str, float]:
    tasks = [a for t in REQUIRED for a in ("--tasks", t)]
    results: dict[str, float] = {}
    decoding = ["--max-new-tokens", str(MAX_NEW_TOKENS), "--max-repairs", str(MAX_REPAIRS)]
    variants = {
        "model": ["--model", model, "--dialect", DIALECT, *decoding],
        "blank": ["--model", model, "--dialect", DIALECT, *decoding, "--blank-screenshot"],
        "baseline": ["--policy", "baseline", "--baseline-data", work / "data" / "miniwob-train"],
    }
    for name, policy in variants.items():
        out = work / "eval" / name
        t0 = time.time()
        args = ["bench", "miniwob", *policy, *tasks, "--seeds", str(seeds), "--seed-start", str(EVAL_SEED_START)]
        args += ["--scale", SCALE, "--max-steps", "5", "--workers", "2", "--no-episode-reports", "--out", out]
        if out.exists():
            shutil.rmtree(out)
        run(*args)
        summary = json.loads((out / "summary.json").read_text())
        results[name] = summary["overall"]["mean_of_task_success_rates"]
        log(work, f"eval-{name}", t0, tasks={t: b["success_rate"] for t, b in summary["tasks"].items()})
    return results


def stage_seconds(stage: Path) -> float:
    """Training time of one stage (optimizer steps only, summed over resumes) from its train_log.jsonl."""
    log = stage / "train_log.jsonl"
    if not log.exists():
        return 0.0
    train = [json.loads(line) for line in log.read_text().splitlines() if '"event": "train"' in line]
    return float(train[-1]["elapsed_s"]) if train else 0.0


def model_card(work: Path, stages: list[Path]) -> str:
    """README.md shipped beside the weights of ``stages[-1]``: what the model is, how it was made
    (the training time of every stage in ``stages``, on the CPU or the GPU its settings name), how
    it scores."""
    entries = [json.loads(line) for line in (work / "recipe_log.jsonl").read_text().splitlines() if line.strip()]
    evals = {e["stage"].removeprefix("eval-"): e["tasks"] for e in entries if e["stage"].startswith("eval-")}
    ran = {stage: json.loads((stage / "train_settings.json").read_text()) for stage in stages}
    on_gpu = [stage for stage in stages if str(ran[stage]["device"]).startswith("cuda")]
    cpu_s = sum(stage_seconds(stage) for stage in stages if stage not in on_gpu)
    gpu_s = sum(stage_seconds(stage) for stage in on_gpu)
    gpus = sorted({str(ran[stage].get("device_name") or "GPU") for stage in on_gpu})
    gpu_names = ", ".join(stage.name for stage in on_gpu)
    settings = ran[stages[-1]]
    lines = [
        "# pixelpilot default model",
        "",
        f"A {settings['parameters'] / 1e6:.2f}M-parameter Qwen2VLForConditionalGeneration (text 256 x 4 layers, "
        "vision 4 blocks x 128, M-RoPE base 10) with its own 537-token tokenizer, trained from scratch"
        + (" (on a 2-core CPU, then one GPU). " if on_gpu else " on a 2-core CPU. ")
        + "Dialect `qwen2-vl`; input 168x224 (MiniWoB at scale 1); the second image "
        "frame carries patch coordinates (`position_frame`), so it runs in the local backend only.",
        "",
        "Data: synthetic screens where only the pixels say where to click (agent/train/synthetic.py, seed 0), "
        f"then those plus DOM-oracle demonstrations on MiniWoB ({', '.join(REQUIRED + EXTRA)}; "
        f"seeds 0..{TRAIN_SEEDS - 1}), then more demonstrations of the five measured tasks (seeds "
        f"{REQUIRED_SEED_START}..{REQUIRED_SEED_START + REQUIRED_SEEDS - 1}), then more of the three weakest "
        f"({', '.join(HARDEST)}; seeds {HARDEST_SEED_START}..{HARDEST_SEED_START + HARDEST_SEEDS - 1}). "
        f"Training: {cpu_s / 3600:.2f} hours of optimizer steps on a 2-core CPU"
        + (f", and {gpu_s / 60:.1f} minutes on one {' / '.join(gpus)} ({gpu_names}). " if on_gpu else ". ")
        + "Recipe: `scripts/train_default_model.py` (regenerates "
        "the demonstrations, the datasets and this checkpoint).",
        "",
        f"Held-out evaluation (seeds from {EVAL_SEED_START}, `pixelpilot bench miniwob --model default`):",
        "",
        "| task | " + " | ".join(evals) + " |",
        "|---|" + "---|" * len(evals),
    ]
    tasks = sorted({t for v in evals.values() for t in v})
    for task in tasks:
        lines.append(f"| {task} | " + " | ".join(f"{v.get(task, float('nan')):.0%}" for v in evals.values()) + " |")
    means = [sum(v.values()) / len(v) for v in evals.values()]
    lines.append("| **mean** | " + " | ".join(f"**{m:.1%}**" for m in means) + " |")
    lines += ["", "`blank`: the same model with the screenshot replaced by grey; `baseline`: always click the "
              "task's average target (instruction only)."]  # fmt: skip
    return "\n".join(lines) + "\n"


#: What a run or checkpoint folder holds besides the model: training state, logs, reports.
NOT_MODEL = ("checkpoint", "eval", "*.jsonl", "*.png", "*.html", "*.pt", "trainer_state.json")


def float16_copy(model: Path, dest: Path) -> None:
    """``model`` (a run's or checkpoint's folder) as a model folder at ``dest``: its config,
    processor and settings files and float16 safetensors (half the size; the local backend loads
    them in float32 on a CPU), without the training state."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(model, dest, ignore=shutil.ignore_patterns(*NOT_MODEL, "model.safetensors"))
    weights = {k: v.to(torch.float16).contiguous() for k, v in load_file(model / "model.safetensors").items()}
    save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})


def ship(work: Path, stages: list[Path]) -> None:
    """Copy the last stage's model into the package (float16_copy) with its model card."""
    model = stages[-1]
    if SHIP_DIR.exists():
        shutil.rmtree(SHIP_DIR)
    float16_copy(model, SHIP_DIR)
    meta = json.loads((model / "pixelpilot.json").read_text())
    meta |= {"max_new_tokens": MAX_NEW_TOKENS, "max_repairs": MAX_REPAIRS}  # as evaluated
    (SHIP_DIR / "pixelpilot.json").write_text(json.dumps(meta, indent=2))
    (SHIP_DIR / "README.md").write_text(model_card(work, stages))
    print(f"shipped to {SHIP_DIR}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / ".cache" / "default-model")
    ap.add_argument("--quick", action="store_true", help="a small end-to-end pass (minutes) to check the recipe")
    ap.add_argument("--ship", action="store_true", help="copy the final model into agent/qwen/default_model/")
    # Before the small architecture's M-RoPE base was lowered (base_model.py), stage 1 left the model
    # blind to the image at any length tried; with it, stage 1 is a short warm-up on synthetic screens
    ap.add_argument("--stage0-steps", type=int, default=1000)
    ap.add_argument("--stage1-steps", type=int, default=1500)
    ap.add_argument("--stage2-steps", type=int, default=1500)
    ap.add_argument("--stage3-steps", type=int, default=1000)
    ap.add_argument("--stage4-steps", type=int, default=8000)
    ap.add_argument("--stage5-steps", type=int, default=3987)
    args = ap.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    quick = args.quick
    syn = synthetic(work, 400 if quick else 20_000)
    syn_held_out = synthetic(work, 64 if quick else 256, "synthetic-heldout", seed=99)
    # stage 0: one large shape per screen. How fast a fresh model starts to look scales with the
    # target's share of the visual tokens (a half-screen target: ~80 steps; 1-4 of 48 tokens: no
    # sign after 400), so the curriculum starts with targets that cover a quarter of the screen
    big = synthetic(work, 400 if quick else 8000, "synthetic-big", seed=1, sizes=(60, 120), locate=1.0)
    big_held_out = synthetic(work, 64, "synthetic-big-heldout", seed=98, sizes=(60, 120), locate=1.0)
    train_data = demonstrations(work, "train", 4 if quick else TRAIN_SEEDS, 0)
    demonstrations(work, "heldout", 1 if quick else 20, HELD_OUT_SEED_START)
    held_out = work / "data" / "miniwob-heldout"
    s0 = train_stage(work, "stage0", "small", [big], 20 if quick else args.stage0_steps, 8, 1e-3, big_held_out)
    s1 = train_stage(work, "stage1", str(s0), [syn], 20 if quick else args.stage1_steps, 8, 1e-3, syn_held_out)
    # MiniWoB rows three times over: 40% of stage 2's batches instead of 18%
    mix = [syn, train_data, train_data, train_data]
    s2 = train_stage(work, "stage2", str(s1), mix, 20 if quick else args.stage2_steps, 8, 5e-4, held_out)
    # stage 3: the same mix again at a lower rate (after stage 2, most MiniWoB failures were broken
    # formats on later steps of an episode, which more passes over the demonstrations address)
    s3 = train_stage(work, "stage3", str(s2), mix, 20 if quick else args.stage3_steps, 8, 3e-4, held_out)
    # stage 4: many more demonstrations of the five measured tasks (other seeds than the first set).
    # After stage 3 the misses were near-misses on small targets (click-dialog's "x") and wrong words
    # (click-test-2, click-button) with 400 screens per task; a further 1,200 steps on the same rows
    # added 1.2 points, so the next stage adds screens rather than passes
    required = demonstrations(work, "required", 4 if quick else REQUIRED_SEEDS, REQUIRED_SEED_START, REQUIRED)
    mix = [syn, train_data, required, required, required]
    s4 = train_stage(work, "stage4", str(s3), mix, 20 if quick else args.stage4_steps, 8, 5e-4, held_out)
    # stage 5: after stage 4 the model scored about what it scored on its own training screens
    # (click-button 63%, click-test-2 50% on seeds it was trained on): too few passes, not too
    # few screens. So: 254k samples (stages 0-4 together: 104k), which a CUDA device gives in
    # 8 minutes (~550 samples/s with 13 batch workers; ~6 h on this 2-core CPU), on the
    # measured tasks' rows plus 1,500 more screens of the three weakest, twice over. The shipped
    # run started from stage 4's float16 copy (agent/qwen/default_model at that commit).
    hardest = demonstrations(work, "hardest", 4 if quick else HARDEST_SEEDS, HARDEST_SEED_START, HARDEST)
    train_slice = thin(work, train_data, "miniwob-train-slice", *TRAIN_SLICE)
    mix = [required, hardest, hardest, train_slice]
    steps5 = 20 if quick else args.stage5_steps
    s5 = train_stage(work, "stage5", str(s4), mix, steps5, 64, 5e-4, held_out, eval_every=1000)
    scores = evaluate(work, s5, 3 if quick else 50)
    log(work, "done", time.time(), **scores)
    if args.ship:
        ship(work, [s0, s1, s2, s3, s4, s5])


if __name__ == "__main__":
    main()
