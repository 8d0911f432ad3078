"""Recipe for version 2 of the embedded default model: every MiniWoB family the oracle covers, and the phone.

Fine-tunes the shipped model (version 1, scripts/train_default_model.py) on the union of:

- MiniWoB demonstrations of all 27 families the DOM oracle covers (tasks/bench/miniwob/demos.py):
  secrets kept (MiniWoB's passwords are synthetic, so enter-password and login-user typing steps become
  rows), and a share of episodes with one deliberate wrong click followed by the oracle's correct
  continuation (the miss is never a target; the steps after it are, with the miss in their history);
- phone demonstrations from the seeded phone suite's UI-tree oracle (tasks/bench/phone*.py), captured at
  the phone's native 1080x2340 and seen at the model's phone budget (PHONE_MAX_PIXELS), when that suite
  is installed; without it the stage says so and the union is MiniWoB alone.

Stages, each resumable (killed at any moment, run again to continue) and skipped once complete; every
stage's wall time goes to WORK/recipe_log.jsonl. Costs measured on the 2-core CPU, shared with other
work, 2026-12-06 (docs/TRAINING.md, "Version 2"):

  demos      MiniWoB oracle episodes, 27 families x TRAIN_SEEDS seeds (2 workers)
  dataset    `pixelpilot dataset build` + dropping the injected misses
  phone      phone oracle episodes + dataset (when the phone suite exists), then the union: MiniWoB's
             rows beside the phone's (PHONE_SHARE), fine-tuned from the train stage's weights
  before     the shipped model on the validation and held-out seeds (what v2 must beat)
  train      fine-tuning from the shipped model (`pixelpilot train --resume`)
  copy       optional (--copy-steps N): the union again with respelled copies of its typing rows
             (agent/train/respell.py); measured once, not shipped (docs/TRAINING.md, "A copy stage")
  validate   each saved snapshot on the validation seeds; the best one is the candidate
  evaluate   the candidate on the held-out seeds: model, screenshot blanked, instruction-only baseline
  ship       only with --ship and only if the candidate beats --against (v1, or an earlier candidate
             of the same work folder such as `final`) on the union's validation seeds

    nice -n 19 .venv/bin/python scripts/train_default_model_v2.py [--work /work/train_v2] [--stage STAGE] [--ship]

Seed ranges (none of them used by version 1; all listed in docs/TRAINING.md): demonstrations
300000.., validation 310000.., held-out 320000...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_default_model import (  # the recipe's shared helpers
    DIALECT,
    MAX_NEW_TOKENS,
    MAX_REPAIRS,
    ROOT,
    SHIP_DIR,
    SYSTEM_PROMPT,
    _complete,
    float16_copy,
    log,
    run,
    stage_seconds,
)

SCALE = 1.0  # 160x210 -> 168x224, the budget version 1 reads well
TRAIN_SEED_START = 300_000
TRAIN_SEEDS = 120
VALIDATION_SEED_START = 310_000
VALIDATION_SEEDS = 10
HELD_OUT_SEED_START = 320_000
HELD_OUT_SEEDS = 20
#: Share of demonstration episodes with one injected miss (tasks/bench/miniwob/demos.py).
MISS_SHARE = 0.3
#: Step cap for evaluation: the oracle needs at most 6 steps on 25 families and 9 (median) to 13 (95th
#: percentile) on click-checkboxes-large; 12 leaves room for a recovery after a miss on all the others.
EVAL_MAX_STEPS = 12
#: The phone's budget: a 1080x2340 capture seen at 224x532 (152 visual tokens) keeps status-bar-sized text
#: a few pixels tall; MiniWoB keeps 43,307 (48 tokens).
PHONE_MAX_PIXELS = 134_064
#: Every dataset of the union is built with this limit (the trainer trains on sets with one limit):
#: MiniWoB's 160x210 screens sit far below it and resize exactly as under the generic budget.
UNION_MAX_PIXELS = PHONE_MAX_PIXELS
#: Held-out seeds per family of the recovery check and of the blanked-screenshot run (from HELD_OUT_SEED_START).
RECOVERY_SEEDS = 5
BLANK_SEEDS = 10
#: Phone seeds per template of each phone evaluation (validation and held-out): a phone episode costs
#: ~10-30 s here (the simulator), so the phone's figures are coarse.
PHONE_EVAL_SEEDS = 2
PHONE_SEED_START = 300_000
PHONE_SEEDS = 20
#: The phone's share of the union stage's samples: its rows are repeated until they make up about this much
#: (at most 3 times over), so that a few phone episodes are not drowned by MiniWoB's 27 families and many
#: long phone episodes do not crowd them out either.
PHONE_SHARE = 0.25
#: Respelled copies of each typing row in the copy stage (agent/train/respell.py): the typed text, wherever
#: it stands in the row, replaced by a random string of the same shape, so that copying the instruction's
#: text is practised on thousands of strings instead of remembered for a few hundred.
RESPELLED_COPIES = 4


def families() -> list[str]:
    from pixelpilot.tasks.bench.miniwob.oracle import SUPPORTED_TASKS

    return list(SUPPORTED_TASKS)


def demonstrations(work: Path, seeds: int) -> Path:
    """The MiniWoB demonstrations (secrets kept, MISS_SHARE with a miss) through the bench runner."""
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.tasks.bench.miniwob.demos import DemoSuite
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run

    out = work / "demos" / "miniwob"
    t0 = time.time()
    suite = DemoSuite(miss_share=MISS_SHARE, scale=SCALE, seed_start=TRAIN_SEED_START, reports=False)
    options = RunOptions(out=out, workers=2, seeds=seeds, tasks=families(), resume=(out / "run.json").exists())
    plan = plan_run(suite, PolicySpec(kind="oracle"), options)
    if plan.todo:
        outcome = execute(plan)
        if outcome.interrupted:
            raise SystemExit("interrupted; run again to resume")
        log(work, "demos-miniwob", t0, episodes=len(outcome.results), new=outcome.new)
    return out


def injected_misses(episodes: Path) -> set[tuple[str, int]]:
    """(bundle relative to ``episodes``, step) of every deliberate wrong click."""
    from pixelpilot.tasks.bench.miniwob.demos import MISS_KEY

    found: set[tuple[str, int]] = set()
    for steps in episodes.glob("*/*/steps.jsonl"):
        for line in steps.read_text().splitlines():
            step = json.loads(line)
            if step.get("policy", {}).get(MISS_KEY):
                found.add((str(steps.parent.relative_to(episodes.parent)), int(step["index"])))
    return found


#: How the dataset card counts the injected misses taken out as targets.
MISS_SKIP = "injected miss (history only)"


def dataset(work: Path, demos: Path, name: str) -> Path:
    """`pixelpilot dataset build` of ``demos``, then the injected misses taken out as targets."""
    import pyarrow.parquet as pq

    from pixelpilot.agent.train.format import data_files

    out = work / "data" / name
    if _complete(out) and MISS_SKIP in json.loads((out / "dataset.json").read_text()).get("skipped", {}):
        return out
    if out.exists():
        shutil.rmtree(out)
    t0 = time.time()
    episodes = demos / "episodes"
    limits = ["--max-pixels", str(UNION_MAX_PIXELS)]
    run("dataset", "build", episodes, "--dialect", DIALECT, "--out", out, "--system-prompt", SYSTEM_PROMPT, *limits)
    misses = injected_misses(episodes)
    dropped = 0
    for path in data_files(out):
        table = pq.read_table(path)
        keep = [
            i
            for i, (source, step) in enumerate(zip(table["source"].to_pylist(), table["step"].to_pylist(), strict=True))
            if (source, step) not in misses
        ]
        dropped += table.num_rows - len(keep)
        pq.write_table(table.take(keep), path)
    info = json.loads((out / "dataset.json").read_text())
    info["rows"] -= dropped
    info["skipped"] = {**info.get("skipped", {}), MISS_SKIP: dropped}  # also marks the dataset as complete
    (out / "dataset.json").write_text(json.dumps(info, indent=2))
    log(work, f"dataset-{name}", t0, rows=info["rows"], misses_dropped=dropped)
    return out


def phone_suite() -> type | None:
    """The phone suite's class (tasks/bench/phone.py), or None while this version has none."""
    try:
        from pixelpilot.tasks.bench.phone import PhoneSuite
    except ImportError:
        return None
    return PhoneSuite


def phone_run(work: Path, out: Path, policy: object, seed_start: int, seeds: int) -> dict | None:
    """One run of the phone suite through the bench runner (resumable), or None without the suite.

    The simulator captures at the phone's native 1080x2340; the model sees it at its phone budget (the
    folder's ``inputs``; the recipe's datasets are built at PHONE_MAX_PIXELS)."""
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run

    name = f"{out.parent.name}-{out.name}"
    suite_class = phone_suite()
    if suite_class is None:
        log(work, f"{name}-skipped", time.time(), why="no phone suite (tasks/bench/phone.py) in this version")
        return None
    t0 = time.time()
    suite = suite_class(seed_start=seed_start, reports=False)
    options = RunOptions(out=out, workers=1, seeds=seeds, resume=(out / "run.json").exists())
    plan = plan_run(suite, policy, options)  # type: ignore[arg-type]
    outcome = execute(plan) if plan.todo else None
    if outcome is not None and outcome.interrupted:
        raise SystemExit("interrupted; run again to resume")
    results = outcome.results if outcome is not None else plan.done
    rates: dict[str, list[bool]] = {}
    for r in results:
        rates.setdefault(r.task, []).append(r.success)
    summary = {task: sum(v) / len(v) for task, v in sorted(rates.items())}
    log(work, name, t0, episodes=len(results), tasks=summary)
    return summary


def phone_demonstrations(work: Path) -> Path | None:
    """Phone oracle episodes (UI-tree oracle) and their dataset at the phone budget, or None without the suite."""
    from pixelpilot.agent.policy_spec import PolicySpec

    demos = work / "demos" / "phone"
    if phone_run(work, demos, PolicySpec(kind="oracle"), PHONE_SEED_START, PHONE_SEEDS) is None:
        return None
    return dataset(work, demos, "phone")


def phone_repeats(miniwob: Path, phone: Path) -> int:
    """How many times the union stage lists the phone's rows: about PHONE_SHARE of the samples, 1 to 3 times."""
    rows = {d: int(json.loads((d / "dataset.json").read_text())["rows"]) for d in (miniwob, phone)}
    wanted = PHONE_SHARE / (1 - PHONE_SHARE) * rows[miniwob] / max(1, rows[phone])
    return max(1, min(3, round(wanted)))


def respelled(work: Path, source: Path) -> Path:
    """RESPELLED_COPIES respelled copies of ``source``'s typing rows, as WORK/data/<name>-respelled."""
    from pixelpilot.agent.train.respell import respell_dataset

    out = work / "data" / f"{source.name}-respelled"
    if not _complete(out):
        t0 = time.time()
        info = respell_dataset(source, out, copies=RESPELLED_COPIES, seed=TRAIN_SEED_START)
        log(work, f"dataset-{out.name}", t0, rows=info.rows)
    return out


def check_demonstrations(work: Path, tasks: list[str]) -> Path:
    """Rows for the trainer's image-ablation check: 2 oracle episodes per family on validation seeds."""
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.tasks.bench.miniwob.demos import DemoSuite
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run

    out = work / "demos" / "miniwob-check"
    suite = DemoSuite(scale=SCALE, seed_start=VALIDATION_SEED_START, reports=False)
    opts = RunOptions(out=out, workers=2, seeds=2, tasks=tasks, resume=(out / "run.json").exists())
    plan = plan_run(suite, PolicySpec(kind="oracle"), opts)
    if plan.todo:
        execute(plan)
    return out


def bench(work: Path, name: str, policy: list[str | Path], seed_start: int, seeds: int, tasks: list[str]) -> dict:
    """One `pixelpilot bench miniwob` run (resumable), its per-task success rates logged."""
    out = work / "eval" / name
    t0 = time.time()
    args: list[str | Path] = ["bench", "miniwob", *policy, *[a for t in tasks for a in ("--tasks", t)]]
    args += ["--seeds", str(seeds), "--seed-start", str(seed_start), "--scale", str(SCALE)]
    args += ["--max-steps", str(EVAL_MAX_STEPS), "--workers", "2", "--no-episode-reports", "--out", out]
    if not (out / "summary.json").exists():
        run(*args, *(["--resume"] if (out / "run.json").exists() else []))
        summary = json.loads((out / "summary.json").read_text())
        log(work, f"eval-{name}", t0, tasks={t: b["success_rate"] for t, b in summary["tasks"].items()})
    return json.loads((out / "summary.json").read_text())


def recovery(work: Path, name: str, model: Path) -> dict[str, float]:
    """After a forced wrong first click (tasks/bench/miniwob/demos.py, RecoverySuite), on RECOVERY_SEEDS
    held-out seeds per family: the share of the model's later steps that do not parse, and the share of
    episodes the miss left open that the model still wins."""
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.tasks.bench.miniwob.demos import RecoverySuite
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run

    out = work / "eval" / f"{name}-recovery"
    t0 = time.time()
    policy = PolicySpec(model=str(model), dialect=DIALECT, max_new_tokens=MAX_NEW_TOKENS, max_repairs=MAX_REPAIRS)
    suite = RecoverySuite(scale=SCALE, seed_start=HELD_OUT_SEED_START, reports=False, max_steps=EVAL_MAX_STEPS)
    opts = RunOptions(out=out, workers=2, seeds=RECOVERY_SEEDS, tasks=families(), resume=(out / "run.json").exists())
    plan = plan_run(suite, policy, opts)
    outcome = execute(plan) if plan.todo else None
    if outcome is not None and outcome.interrupted:
        raise SystemExit("interrupted; run again to resume")
    results = outcome.results if outcome is not None else plan.done
    later = [r for r in results if r.steps > 1]
    model_steps = sum(r.steps - 1 for r in later)
    failures = sum(r.metrics.get("parse_failure_steps", 0.0) for r in later)
    summary = {
        "episodes": len(results),
        "left_open": len(later),
        "won_after_miss": sum(r.success for r in later) / max(1, len(later)),
        "parse_failures_after_miss": failures / max(1, model_steps),
    }
    log(work, f"recovery-{name}", t0, **summary)
    return summary


def model_policy(model: Path | str, *extra: str) -> list[str | Path]:
    decoding = ["--max-new-tokens", str(MAX_NEW_TOKENS), "--max-repairs", str(MAX_REPAIRS)]
    return ["--model", model, "--dialect", DIALECT, *decoding, *extra]


def mean(summary: dict) -> float:
    return float(summary["overall"]["mean_of_task_success_rates"])


def train(work: Path, name: str, base: Path, data: list[Path], held_out: Path, steps: int, lr: float) -> Path:
    """Fine-tune ``base`` on ``data`` into WORK/``name`` (resumable; skipped once ``steps`` are done)."""
    out = work / name
    state = out / "checkpoint" / "trainer_state.json"
    if state.exists() and json.loads(state.read_text())["step"] >= steps and (out / "config.json").exists():
        return out
    t0 = time.time()
    args: list[str | Path] = ["train", *[a for d in data for a in ("--data", d)], "--base", base]
    args += ["--dialect", DIALECT, "--out", out, "--max-steps", str(steps), "--batch-size", "8", "--lr", str(lr)]
    args += ["--save-every", "100", "--aux-grounding", "1.0", "--warmup-ratio", "0.02"]
    args += ["--eval-data", held_out, "--ablation-n", "16", "--eval-every", "500"]
    # one torch thread: on a shared 2-core machine a 4.8M-parameter model's products are too small to split,
    # and every op would wait for the slower, often descheduled, second thread (docs/PERFORMANCE.md, threads)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(*args, *(["--resume"] if (out / "checkpoint").exists() else []))
    log(work, f"train-{name}", t0, steps=steps)
    return out


def latest_run(work: Path) -> Path:
    """The last training stage that has started: copy, else phone, else the MiniWoB one."""
    for name in ("train-copy", "train-phone"):
        if (work / name / "checkpoint").exists():
            return work / name
    return work / "train"


def snapshot(work: Path, name: str) -> Path:
    """The latest training run's current weights as a model folder (float16, as shipped) named ``name``."""
    dest = work / "snapshots" / name
    if not (dest / "model.safetensors").exists():
        if dest.exists():
            shutil.rmtree(dest)
        run_dir = latest_run(work)
        source = run_dir / "checkpoint"
        model = source if (source / "model.safetensors").exists() else run_dir
        float16_copy(model, dest)
        for extra in ("pixelpilot.json", "config.json"):
            if not (dest / extra).exists():  # a checkpoint has no pixelpilot.json: the base's prompt settings
                shutil.copy(run_dir / extra if (run_dir / extra).exists() else work / "base" / extra, dest / extra)
        write_inputs(dest, work / "base")
        meta = json.loads((dest / "pixelpilot.json").read_text())
        base_meta = json.loads((work / "base" / "pixelpilot.json").read_text())
        sources = [
            line
            for name in ("miniwob", "phone")
            if (work / "data" / name / "dataset.json").exists()
            for line in json.loads((work / "data" / name / "dataset.json").read_text())["sources"]
        ]
        meta["trained_on"] = [*base_meta["trained_on"], *sources]
        (dest / "pixelpilot.json").write_text(json.dumps(meta, indent=2))
    return dest


def write_inputs(folder: Path, base: Path) -> None:
    """pixelpilot.json with the per-env input settings (browser: MiniWoB's budget; android: the phone's)."""
    path = folder / "pixelpilot.json"
    meta = json.loads(path.read_text())
    # the browser keeps the budget the base model records for MiniWoB at scale 1 (168x224, 48 tokens)
    base_meta = json.loads((base / "pixelpilot.json").read_text())
    browser_budget = base_meta.get("inputs", {}).get("browser", {}).get("max_pixels", base_meta["max_pixels"])
    meta |= {"max_new_tokens": MAX_NEW_TOKENS, "max_repairs": MAX_REPAIRS, "max_pixels": browser_budget}
    meta["inputs"] = {
        "browser": {"min_pixels": meta["min_pixels"], "max_pixels": browser_budget},
        "android": {"min_pixels": meta["min_pixels"], "max_pixels": PHONE_MAX_PIXELS},
    }
    path.write_text(json.dumps(meta, indent=2))


def _rates(work: Path, name: str) -> dict[str, float]:
    path = work / "eval" / name / "summary.json"
    if not path.exists():
        return {}
    return {t: float(b["success_rate"]) for t, b in json.loads(path.read_text())["tasks"].items()}


def _phone_rates(work: Path, name: str) -> dict[str, float]:
    rates: dict[str, list[bool]] = {}
    path = work / "eval" / name / "results.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        result = json.loads(line)
        rates.setdefault(result["task"], []).append(bool(result["success"]))
    return {task: sum(v) / len(v) for task, v in sorted(rates.items())}


def _recovery(work: Path, name: str) -> dict | None:
    entries = [json.loads(line) for line in (work / "recipe_log.jsonl").read_text().splitlines() if line.strip()]
    found = [e for e in entries if e["stage"] == f"recovery-{name}"]
    return found[-1] if found else None


def _init_note(work: Path) -> str:
    """Where the fine-tuning started when not from version 1 itself (``--init``), for the model card."""
    settings = work / "train" / "train_settings.json"
    base = json.loads(settings.read_text()).get("base") if settings.exists() else "base"
    return "" if base == "base" else f", starting from an earlier run's weights (`{base}`, see docs/TRAINING.md)"


def _copy_note(work: Path) -> str:
    """What the copy stage added, when it ran, for the model card."""
    if not (work / "train-copy" / "checkpoint").exists():
        return ""
    return (
        f"; then the same union with {RESPELLED_COPIES} respelled copies of every typing row (the typed text "
        "replaced by random strings of its shape in the instruction, history and answer, "
        "agent/train/respell.py), to practise copying the instruction's text"
    )


def model_card(work: Path, model: Path, name: str = "final", against: str = "v1") -> str:
    """README.md shipped beside version 2's weights: what it is, how it was made, how it scores.

    ``name``: the candidate's evaluation runs (WORK/eval/<name>-*); ``against``: the model it replaces."""
    settings = json.loads((latest_run(work) / "train_settings.json").read_text())
    meta = json.loads((model / "pixelpilot.json").read_text())
    seconds = sum(stage_seconds(work / stage) for stage in ("train", "train-phone", "train-copy"))
    columns = {
        "v2": _rates(work, f"{name}-heldout"),
        "v2 blanked": _rates(work, f"{name}-blank"),
        "instruction only": _rates(work, "baseline"),
        **({f"previous ({against})": _rates(work, f"{against}-heldout")} if against != "v1" else {}),
        "v1": _rates(work, "v1-heldout"),
    }
    lines = [
        "# pixelpilot default model (version 2)",
        "",
        f"A {settings['parameters'] / 1e6:.2f}M-parameter Qwen2VLForConditionalGeneration (text 256 x 4 layers, vision "
        "4 blocks x 128, M-RoPE base 10) with its own 537-token tokenizer: version 1 (trained from scratch by "
        "`scripts/train_default_model.py`, see docs/TRAINING.md) fine-tuned on oracle demonstrations of all 27 "
        "MiniWoB families the DOM oracle covers "
        f"(seeds {TRAIN_SEED_START}.., {TRAIN_SEEDS} per family; secrets kept, {MISS_SHARE:.0%} of episodes with one "
        "injected wrong click whose continuation is trained on) and of the phone suite's templates (UI-tree oracle, "
        f"1080x2340){_copy_note(work)}. Dialect `qwen2-vl`; the second image frame carries patch coordinates "
        f"(`position_frame`), so it runs in the local backend only. Fine-tuning: {seconds / 3600:.2f} hours of "
        f"optimizer steps on a shared 2-core CPU{_init_note(work)}. Recipe: `scripts/train_default_model_v2.py`.",
        "",
        "Inputs per env kind (pixelpilot.json `inputs`, applied by the policy): "
        + ", ".join(f"{kind} up to {v['max_pixels']:,} px" for kind, v in meta.get("inputs", {}).items())
        + ".",
        "",
        f"Held-out MiniWoB (seeds {HELD_OUT_SEED_START}.., {HELD_OUT_SEEDS} per family, blanked {BLANK_SEEDS}; "
        f"scale 1, at most {EVAL_MAX_STEPS} steps):",
        "",
        "| task | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for task in families():
        cells = [f"{v[task]:.0%}" if task in v else "-" for v in columns.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    means = [f"**{sum(v.values()) / len(v):.1%}**" if v else "-" for v in columns.values()]
    lines.append("| **mean** | " + " | ".join(means) + " |")
    phone = {
        "v2": _phone_rates(work, f"{name}-phone-heldout"),
        "v2 blanked": _phone_rates(work, f"{name}-phone-blank"),
        "instruction only": _phone_rates(work, "phone-baseline"),
        **({f"previous ({against})": _phone_rates(work, f"{against}-phone-heldout")} if against != "v1" else {}),
    }
    if phone["v2"]:
        lines += ["", f"Phone suite (held-out seeds {HELD_OUT_SEED_START}.., {PHONE_EVAL_SEEDS} per template; "
                  "captured at 1080x2340, seen at the folder's phone budget):", "",
                  "| template | " + " | ".join(phone) + " |", "|---|" + "---|" * len(phone)]  # fmt: skip
        for template in phone["v2"]:
            cells = [f"{v[template]:.0%}" if template in v else "-" for v in phone.values()]
            lines.append(f"| {template} | " + " | ".join(cells) + " |")
        means = [f"**{sum(v.values()) / len(v):.1%}**" if v else "-" for v in phone.values()]
        lines.append("| **mean** | " + " | ".join(means) + " |")
    rec = _recovery(work, name)
    if rec:
        lines += ["", f"After a forced wrong first click ({RECOVERY_SEEDS} held-out seeds per family): "
                  f"{rec['parse_failures_after_miss']:.1%} of the model's later steps do not parse; "
                  f"{rec['won_after_miss']:.1%} of the episodes the miss left open are still won."]  # fmt: skip
    lines += ["", "`blanked`: the same model with the screenshot replaced by grey; `instruction only`: the "
              "task-average baseline (always the task's average target)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / ".cache" / "default-model-v2")
    ap.add_argument(
        "--stage",
        choices=["all", "data", "phone-data", "before", "train", "phone", "copy", "snapshot", "after"],
        default="all",
        help="all (in order), or one part: data (MiniWoB demos + datasets), phone-data, before (the shipped "
        "model measured), train (MiniWoB), phone (phone demos, then the union), copy (the union with respelled "
        "copies of its typing rows), snapshot (validate the latest "
        "run's current weights), after (validate, evaluate, ship)",
    )
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps of the fine-tuning stage")
    ap.add_argument("--phone-steps", type=int, default=600, help="optimizer steps of the union stage")
    ap.add_argument("--copy-steps", type=int, default=0, help="optimizer steps of the copy stage (0: none)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start the fine-tuning from this model folder (an earlier run's snapshot) instead of the shipped "
        "model; the shipped model stays what the candidate is measured against",
    )
    ap.add_argument("--snapshot", default="latest", help="--stage snapshot: the name to validate it under")
    ap.add_argument("--ship", action="store_true", help="copy the candidate into the package if it wins")
    ap.add_argument("--candidate", default="final", help="--stage after: the snapshot's name (WORK/snapshots/NAME)")
    ap.add_argument(
        "--against",
        default="v1",
        help="--stage after: what the candidate must beat on the union's validation seeds: v1 (the work "
        "folder's base) or an earlier candidate's name in this folder (e.g. final, once shipped)",
    )
    args = ap.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    tasks = families()
    stage = args.stage
    if stage in ("all", "before", "snapshot", "after"):
        if not (work / "base" / "model.safetensors").exists():
            shutil.copytree(SHIP_DIR, work / "base", dirs_exist_ok=True)
    if stage in ("all", "before"):
        # the shipped model (the base, and what v2 must beat), measured on the union before any training
        base = model_policy(work / "base")
        bench(work, "v1-validation", base, VALIDATION_SEED_START, VALIDATION_SEEDS, tasks)
        bench(work, "v1-heldout", base, HELD_OUT_SEED_START, HELD_OUT_SEEDS, tasks)
        recovery(work, "v1", work / "base")
        if stage == "before":
            return
    if stage == "phone-data":
        phone_demonstrations(work)
        return
    if stage in ("all", "data", "train", "phone", "copy"):
        demos = demonstrations(work, TRAIN_SEEDS)
        miniwob = dataset(work, demos, "miniwob")
        check = dataset(work, check_demonstrations(work, tasks), "miniwob-check")
        if stage == "data":
            return
        if not (work / "base" / "model.safetensors").exists():
            shutil.copytree(SHIP_DIR, work / "base", dirs_exist_ok=True)
        # the 27 families from the shipped model, with the phone rows recorded so far (three times over:
        # far fewer screens than MiniWoB's); --stage phone-data records them
        phone_rows = work / "data" / "phone"
        union = [miniwob, *([phone_rows] * 3 if _complete(phone_rows) else [])]
        first = train(work, "train", args.init or work / "base", union, check, args.steps, args.lr)
        if stage == "train":
            return
        # then the union: the phone's rows (twice: fewer screens than MiniWoB's) beside MiniWoB's
        phone = phone_demonstrations(work)
        union, second = [miniwob], first
        if phone is not None:
            union += [phone] * phone_repeats(miniwob, phone)
            second = train(work, "train-phone", first, union, check, args.phone_steps, args.lr)
        if stage == "phone":
            return
        # then the union again with respelled copies of its typing rows: copying the instruction's text
        if args.copy_steps:
            copies = [respelled(work, d) for d in dict.fromkeys(union)]
            train(work, "train-copy", second, [*union, *copies], check, args.copy_steps, args.lr)
        if stage == "copy":
            return
    if stage == "snapshot":
        before_val = bench(work, "v1-validation", model_policy(work / "base"), VALIDATION_SEED_START,
                           VALIDATION_SEEDS, tasks)  # fmt: skip
        model = snapshot(work, args.snapshot)
        score = bench(work, f"{args.snapshot}-validation", model_policy(model), VALIDATION_SEED_START,
                      VALIDATION_SEEDS, tasks)  # fmt: skip
        print(json.dumps({"snapshot": args.snapshot, "validation": mean(score), "v1": mean(before_val)}))
        return
    name, against = args.candidate, args.against
    model = snapshot(work, name)
    previous = work / "base" if against == "v1" else work / "snapshots" / against
    before_val = bench(work, f"{against}-validation", model_policy(previous), VALIDATION_SEED_START,
                       VALIDATION_SEEDS, tasks)  # fmt: skip
    after_val = bench(work, f"{name}-validation", model_policy(model), VALIDATION_SEED_START, VALIDATION_SEEDS, tasks)
    # the union's phone part: a few validation seeds per template, both models
    phone_before = phone_run(work, work / "eval" / f"{against}-phone-validation", policy_spec(previous),
                             VALIDATION_SEED_START, PHONE_EVAL_SEEDS) or {}  # fmt: skip
    phone_after = phone_run(work, work / "eval" / f"{name}-phone-validation", policy_spec(model),
                            VALIDATION_SEED_START, PHONE_EVAL_SEEDS) or {}  # fmt: skip
    before_union = union_score(before_val, phone_before)
    after_union = union_score(after_val, phone_after)
    better = after_union > before_union
    log(work, f"validation-{name}", time.time(), **{against: before_union, name: after_union}, better=better)
    bench(work, f"{name}-heldout", model_policy(model), HELD_OUT_SEED_START, HELD_OUT_SEEDS, tasks)
    bench(work, f"{name}-blank", model_policy(model, "--blank-screenshot"), HELD_OUT_SEED_START, BLANK_SEEDS, tasks)
    baseline = ["--policy", "baseline", "--baseline-data", work / "data" / "miniwob"]
    bench(work, "baseline", baseline, HELD_OUT_SEED_START, HELD_OUT_SEEDS, tasks)
    recovery(work, name, model)
    phone_run(work, work / "eval" / f"{name}-phone-heldout", policy_spec(model), HELD_OUT_SEED_START,
              PHONE_EVAL_SEEDS)  # fmt: skip
    # the phone's ablations: the screenshot blanked, and the instruction-only baseline (per template)
    phone_run(work, work / "eval" / f"{name}-phone-blank", policy_spec(model, blank_screenshot=True),
              HELD_OUT_SEED_START, PHONE_EVAL_SEEDS)  # fmt: skip
    phone_run(work, work / "eval" / "phone-baseline", phone_baseline(work), HELD_OUT_SEED_START, PHONE_EVAL_SEEDS)
    log(work, f"done-{name}", time.time(), **{f"validation_{against}": before_union}, validation=after_union,
        better=better)  # fmt: skip
    if args.ship and better:
        shutil.rmtree(SHIP_DIR)
        shutil.copytree(model, SHIP_DIR)
        (SHIP_DIR / "README.md").write_text(model_card(work, model, name, against))
        print(f"shipped to {SHIP_DIR}")
    elif args.ship:
        print(f"not shipped: the candidate does not beat {against} on the validation seeds")


def policy_spec(model: Path, **extra: object) -> object:
    """The model's PolicySpec for runs through the Python API (decoding as shipped)."""
    from pixelpilot.agent.policy_spec import PolicySpec

    return PolicySpec(
        model=str(model), dialect=DIALECT, max_new_tokens=MAX_NEW_TOKENS, max_repairs=MAX_REPAIRS, **extra
    )


def phone_baseline(work: Path) -> object:
    """The instruction-only baseline on the phone: each template's average first tap in the phone rows."""
    from pixelpilot.agent.policy_spec import PolicySpec

    return PolicySpec(kind="baseline", baseline_data=work / "data" / "phone")


def union_score(miniwob: dict, phone: dict[str, float]) -> float:
    """Mean success over every task of the union: MiniWoB's families and the phone's templates alike."""
    rates = [float(b["success_rate"]) for b in miniwob["tasks"].values()] + list(phone.values())
    return sum(rates) / len(rates)


if __name__ == "__main__":
    main()
