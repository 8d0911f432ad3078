"""The trainer's CUDA defaults, run for real on a lent GPU machine: what a user fine-tuning a
Qwen2-VL-2B/7B gets without options (bfloat16 weights, activation checkpointing, 8 batch workers),
full fine-tuning and LoRA, each a few steps on a small dataset, then the image-ablation check
(greedy decoding on the GPU) of the result. The CPU suite covers the same code in float32; this is
the check that the CUDA-only branches (bf16 casts of the pixel values, checkpointing with and
without LoRA's input grads, pinned batches from forked workers) run and lower the loss.

    python3 scripts/gpu_check.py --data DIR --base agent/qwen/default_model --out /tmp/check
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    import torch

    from pixelpilot.agent.train.image_ablation import ablation_check
    from pixelpilot.agent.train.metrics import LOG_FILE
    from pixelpilot.agent.train.trainer import TrainConfig, train

    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}", flush=True)
    for lora in (False, True):
        out = args.out / ("lora" if lora else "full")
        t0 = time.time()
        config = TrainConfig(
            data=[args.data], base=args.base, dialect="qwen2-vl", out=out, lora=lora, max_steps=args.steps,
            lr=5e-4 if lora else 1e-4, progress=False, save_every=args.steps // 2,
        )  # fmt: skip
        result = train(config)
        settings = json.loads((out / "train_settings.json").read_text())
        log = [json.loads(x) for x in (out / LOG_FILE).read_text().splitlines()]
        losses = [e["loss"] for e in log if e["event"] == "train"]
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        check = ablation_check(out, args.data, n=8)
        line = {
            "variant": "lora" if lora else "full",
            "device": settings["device"],
            "dtype": settings["dtype"],
            "gradient_checkpointing": settings["gradient_checkpointing"],
            "workers": settings["workers"],
            "batch_size": settings["batch_size"],
            "steps": result.steps,
            "loss_first5": round(first, 4),
            "loss_last5": round(last, 4),
            "samples_per_s": round(result.samples / result.elapsed_s, 1),
            "ablation": check,
            "wall_s": round(time.time() - t0, 1),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
