"""Training throughput of the `small` architecture on this CPU, and its step latency as a policy.

1. Samples/s of one optimizer step (collate + forward + backward + AdamW) at batch 8 on synthetic
   rows (168x224 screenshots), for the variants the default-model recipe chose between, run
   interleaved (round-robin, ``--rounds`` rounds of ``--steps`` steps each; medians reported):
   - ``recipe``: system prompt "GUI agent.", position frame, auxiliary grounding loss;
   - ``no-aux``: the same without the auxiliary loss;
   - ``no-frame``: the same without the position frame;
   - ``60-token prompt``: the previous recipe's one-line format description as system prompt.
2. Decide latency of the same architecture inside the Qwen policy (local backend, float32, greedy,
   32 new tokens at most) on a MiniWoB-sized screenshot (160x210), median of ``--calls`` calls.

    .venv/bin/python benchmarks/train_throughput.py [--data DIR] [--out docs/PERFORMANCE.md]

DIR defaults to the recipe's synthetic set (.cache/default-model/data/synthetic); build it first
with scripts/train_default_model.py (its first stage takes under a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script
from perf_doc import write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
MARK_BEGIN = "<!-- train_throughput:begin -->"
MARK_END = "<!-- train_throughput:end -->"
OLD_PROMPT = "GUI agent. One action: Action: click(start_box='(x,y)') (x,y in 0..1000) or type(content='...')."


def with_system_prompt(row: dict[str, Any], text: str) -> dict[str, Any]:
    messages = json.loads(row["messages"])
    for message in messages:
        if message["role"] == "system":
            message["content"] = [{"type": "text", "text": text}]
    return {**row, "messages": json.dumps(messages)}


class Variant:
    def __init__(self, name: str, base: Path, *, frame: bool, aux: bool, prompt: str | None) -> None:
        import torch

        from pixelpilot.agent.train.aux_grounding import AuxGrounding
        from pixelpilot.agent.train.base_model import load_model

        self.name, self.frame, self.aux, self.prompt = name, frame, aux, prompt
        torch.manual_seed(0)
        self.model, self.processor = load_model(str(base), dtype=torch.float32, device="cpu")
        self.model.train()
        self.aux = AuxGrounding(self.model, self.processor) if aux else None
        params = [*self.model.parameters(), *(self.aux.probe.parameters() if self.aux is not None else [])]
        self.optimizer = torch.optim.AdamW(params, lr=1e-4)
        self.rates: list[float] = []
        self.tokens: list[int] = []

    def step(self, rows: list[dict[str, Any]], info: Any) -> None:
        from pixelpilot.agent.train.rows import collate

        t0 = time.perf_counter()
        if self.prompt is not None:
            rows = [with_system_prompt(r, self.prompt) for r in rows]
        batch = collate(self.processor, rows, info, position_frame=self.frame)
        loss = self.model(**batch).loss
        if self.aux is not None:
            loss = loss + self.aux.loss(rows, batch["image_grid_thw"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.rates.append(len(rows) / (time.perf_counter() - t0))
        self.tokens.append(int(batch["input_ids"].shape[1]))


def decide_latency(base: Path, calls: int) -> list[float]:
    """Seconds per QwenPolicy.decide with the architecture's random weights on a 160x210 screenshot."""
    import io
    import shutil

    from PIL import Image, ImageDraw
    from train_default_model import SYSTEM_PROMPT

    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.env import Observation, ScreenGeometry

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        shutil.copytree(base, model)
        meta = {"dialect": "qwen2-vl", "min_pixels": 3136, "max_pixels": 1003520, "history_actions": 8,
                "system_prompt": SYSTEM_PROMPT, "position_frame": True}  # fmt: skip
        (model / "pixelpilot.json").write_text(json.dumps(meta))
        policy = PolicySpec(kind="qwen", model=str(model), max_new_tokens=32, max_repairs=0).build()
        image = Image.new("RGB", (160, 210), (255, 255, 255))
        ImageDraw.Draw(image).rectangle((40, 90, 100, 115), fill=(220, 220, 220))
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=90)
        geometry = ScreenGeometry(width=160, height=210, device_scale_factor=1, viewport_width=160, viewport_height=210)
        times = []
        for _ in range(calls + 1):
            observation = Observation(screenshot=buf.getvalue(), image_format="jpeg", geometry=geometry)
            t0 = time.perf_counter()
            policy.decide("Click the button.", observation, [])
            times.append(time.perf_counter() - t0)
        policy.close()
        return times[1:]  # the first call pays one-off costs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT / ".cache" / "default-model" / "data" / "synthetic")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch

    from pixelpilot.agent.train.base_model import build_small_qwen2vl
    from pixelpilot.agent.train.rows import load_rows

    torch.set_num_threads(os.cpu_count() or 1)
    data, info = load_rows([args.data], "qwen2-vl")
    with tempfile.TemporaryDirectory() as tmp:
        base = build_small_qwen2vl(Path(tmp) / "small")
        variants = [
            Variant("recipe", base, frame=True, aux=True, prompt=None),
            Variant("no-aux", base, frame=True, aux=False, prompt=None),
            Variant("no-frame", base, frame=False, aux=True, prompt=None),
            Variant("60-token prompt", base, frame=True, aux=True, prompt=OLD_PROMPT),
        ]
        k = 0
        for variant in variants:  # warm-up step each
            variant.step([data[i] for i in range(8)], info)
            variant.rates.clear()
        for _ in range(args.rounds):
            for variant in variants:
                for _ in range(args.steps):
                    variant.step([data[(k + i) % len(data)] for i in range(8)], info)
                    k += 8
        latency = decide_latency(base, args.calls)

    cpu = cpuinfo_field("model name")
    lines = [
        MARK_BEGIN,
        "## Training: samples/s of the small architecture, and its decide latency",
        "",
        f"`benchmarks/train_throughput.py`, {datetime.now():%Y-%m-%d}, {cpu}, {os.cpu_count()} cores, load "
        f"average {os.getloadavg()[0]:.1f} at the end (a shared machine). The `small` architecture "
        "(4.76M parameters), float32, batch 8 of synthetic rows (168x224 screenshots), AdamW; "
        f"{args.rounds} interleaved rounds of {args.steps} steps per variant.",
        "",
        "| variant | samples/s (median) | min | max | prompt tokens (batch max) |",
        "|---|---|---|---|---|",
    ]
    for v in variants:
        lines.append(
            f"| {v.name} | {statistics.median(v.rates):.1f} | {min(v.rates):.1f} | {max(v.rates):.1f} | "
            f"{statistics.median(v.tokens):.0f} |"
        )
    lines += [
        "",
        f"Decide latency of the same architecture as a policy (local backend, greedy, at most 32 new "
        f"tokens, 160x210 screenshot -> 168x224 model input, random weights): median "
        f"{statistics.median(latency) * 1000:.0f} ms, p90 "
        f"{sorted(latency)[int(0.9 * (len(latency) - 1))] * 1000:.0f} ms over {len(latency)} calls.",
        MARK_END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
