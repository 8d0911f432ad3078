"""One stage of the default-model recipe on a CUDA machine with no Chromium and no network.

The trainer itself (agent/train/trainer.py) runs there unchanged; what this adds is what such a
lent machine needs: only the trainer's imports (no CLI, no browser), a float32 run with TF32
matrix products and batches prepared by worker processes, and the weights exported as float16
into EXPORT/ every ``--snapshot-every`` steps and at the end, so a run killed at its time limit
still hands back its last snapshot. The benchmark evaluation happens afterwards, on a machine
with Chromium (scripts/train_default_model.py, `pixelpilot bench miniwob --model ...`).

    python3 scripts/gpu_stage.py --data D1 --data D2 --base agent/qwen/default_model \\
        --out /tmp/stage5 --steps 6000 --batch 64 --lr 5e-4 --export $OUT
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from train_default_model import float16_copy  # noqa: E402  (scripts/ is sys.path[0] when run as a script)


def export(model_dir: Path, export_dir: Path, name: str) -> None:
    """model_dir as a float16 model folder (float16_copy), in one tar: the way back takes few files."""
    staging = export_dir / f".{name}"
    shutil.rmtree(staging, ignore_errors=True)
    float16_copy(model_dir, staging)
    tmp = export_dir / f".{name}.tar"
    with tarfile.open(tmp, "w") as tar:
        tar.add(staging, arcname=name)
    tmp.rename(export_dir / f"{name}.tar")
    shutil.rmtree(staging)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--aux-grounding", type=float, default=1.0)
    parser.add_argument("--snapshot-every", type=int, default=500)
    parser.add_argument("--export", type=Path, required=True)
    args = parser.parse_args()

    import torch
    import transformers

    from pixelpilot.agent.train.checkpoints import CHECKPOINT_DIR
    from pixelpilot.agent.train.metrics import LOG_FILE
    from pixelpilot.agent.train.trainer import TrainConfig, train

    print(f"torch {torch.__version__} transformers {transformers.__version__} cuda {torch.cuda.is_available()}")
    args.export.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(
        data=args.data, base=args.base, dialect="qwen2-vl", out=args.out, max_steps=args.steps,
        batch_size=args.batch, lr=args.lr, dtype="float32", gradient_checkpointing=False,
        workers=args.workers, aux_grounding=args.aux_grounding, save_every=args.snapshot_every,
        progress=False, resume=(args.out / CHECKPOINT_DIR).exists(),
    )  # fmt: skip
    started = time.time()

    def on_step(step: int, loss: float) -> None:
        if step % 50 == 0:
            log = [json.loads(x) for x in (args.out / LOG_FILE).read_text().splitlines()[-50:]]
            rate = sum(e["samples_per_s"] for e in log) / len(log)
            print(f"step {step} loss {loss:.4f} {rate:.0f} samples/s {time.time() - started:.0f}s", flush=True)
        if step % args.snapshot_every == 0 and step < args.steps:
            export(args.out / CHECKPOINT_DIR, args.export, f"step-{step}")
            shutil.copy(args.out / LOG_FILE, args.export / LOG_FILE)

    result = train(config, on_step=on_step)
    export(args.out, args.export, "final")
    shutil.copy(args.out / LOG_FILE, args.export / LOG_FILE)
    (args.export / "result.json").write_text(result.model_dump_json(indent=2))
    print(result.model_dump_json())


if __name__ == "__main__":
    main()
