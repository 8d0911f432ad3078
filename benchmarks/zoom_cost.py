"""What zoom-in grounding costs and buys on small targets on large screens.

For a grounding set rendered by ``bench make-grounding`` at large screens (default: desktop 2560x1440,
web 3840x2160 and phones 390x844 at scale 3, i.e. 1170x2532), three variants decide every sample,
interleaved sample by sample so machine noise hits them alike:

* ``full``: one pass at the full budget (``--full-max-pixels``, default Qwen's 1280*28*28);
* ``low``: one pass at the low budget (``--low-max-pixels``, default 256*28*28);
* ``zoom``: ``--zoom``: the low-budget overview, then a native-resolution ``--crop`` px crop.

Two deciders:

* ``default``: the shipped model (``--model default``, tiny, trained on MiniWoB only) through the
  real local backend: visual tokens per step and decide latency (median and p90 over every sample and
  ``--rounds`` repeats). Its accuracy is printed too, and is not evidence about zoom: it was never
  trained on these screens (see the doc's text).
* ``simulated``: not a model. A grounder that sees the target exactly and answers its centre with a
  fixed error of ``--sim-error`` px *in the image it is shown* (seeded, uniform in a disc), encoded by
  the dialect: the way a real model's error is roughly constant in its own resized pixels. It isolates
  the geometry: what the budget's downscale and the zoom's crop do to a grounder's accuracy.

    .venv/bin/python benchmarks/zoom_cost.py [--n 36] [--rounds 2] [--out docs/PERFORMANCE.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import cpuinfo_field
from perf_doc import write_section

from pixelpilot.agent.policy import Policy
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.agent.qwen.backends.base import Backend, ModelRequest, ModelResponse
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.prompt import PromptConfig
from pixelpilot.agent.qwen.zoom import ZoomConfig, ZoomPolicy, plan_crop
from pixelpilot.env import Observation, ScreenGeometry
from pixelpilot.tasks.bench.grounding import GroundingSample, load_grounding, load_screenshot
from pixelpilot.tasks.bench.synth import make_grounding, parse_screen
from pixelpilot.tools import Click

BEGIN = "<!-- zoom_cost:begin -->"
END = "<!-- zoom_cost:end -->"
SCREENS = ("desktop:2560x1440", "web:3840x2160", "mobile:390x844@3")
VARIANTS = ("full", "low", "zoom")


class SimulatedGrounder(Backend):
    """Sees the target; answers its centre off by up to ``error_px`` px of the image it is shown."""

    name = "simulated-grounder"

    def __init__(self, dialect: str, error_px: float, crop: int) -> None:
        self.dialect = get_dialect(dialect)
        self.error_px, self.crop = error_px, crop
        self.sample: GroundingSample | None = None
        self.rng = random.Random(0)
        self.first: tuple[float, float] | None = None

    def start(self, sample: GroundingSample, seed: int) -> None:
        self.sample, self.rng, self.first = sample, random.Random(seed), None

    def generate(self, request: ModelRequest) -> ModelResponse:
        assert self.sample is not None
        g = request.images[-1].geometry
        cx, cy = self.sample.center
        w, h = self.sample.image_size or (g.width, g.height)
        if (g.width, g.height) != (w, h):  # the zoom pass: the crop the policy planned around our first answer
            assert self.first is not None
            crop = plan_crop(self.first, w, h, self.crop, g.factor if hasattr(g, "factor") else 28)
            cx, cy = cx - crop.x, cy - crop.y
        # an error of error_px in the resized image is error_px * (screen px per resized px) here
        angle, radius = self.rng.uniform(0, 2 * math.pi), self.error_px * math.sqrt(self.rng.random())
        x = cx + radius * math.cos(angle) * g.width / g.resized_width
        y = cy + radius * math.sin(angle) * g.height / g.resized_height
        x, y = min(max(x, 0), g.width - 1), min(max(y, 0), g.height - 1)
        if (g.width, g.height) == (w, h):
            self.first = (x, y)
        text = self.dialect.encode(Click(x=x, y=y), g, "browser")
        return ModelResponse(text=text, visual_tokens=g.visual_tokens, finish_reason="stop")


def observation(sample: GroundingSample) -> Observation:
    data, fmt, (w, h) = load_screenshot(Path(sample.image))
    return Observation(
        screenshot=data,
        image_format=fmt,
        geometry=ScreenGeometry(width=w, height=h, viewport_width=w, viewport_height=h),
    )


def variants_for(inner: QwenPolicy, full: int, low: int, crop: int) -> dict[str, tuple[Policy, PromptConfig]]:
    """The three variants over one loaded model: each a policy and the prompt settings it runs under."""
    base = inner.config.prompt
    return {
        "full": (inner, base.model_copy(update={"max_pixels": full})),
        "low": (inner, base.model_copy(update={"max_pixels": low, "min_pixels": min(base.min_pixels, low)})),
        "zoom": (
            ZoomPolicy(inner, ZoomConfig(first_max_pixels=low, crop=crop)),
            base.model_copy(update={"max_pixels": full}),
        ),
    }


def decide(
    inner: QwenPolicy, policy: Policy, prompt: PromptConfig, sample: GroundingSample, obs: Observation
) -> dict[str, Any]:
    inner.config = inner.config.model_copy(update={"prompt": prompt, "env_inputs": {}})
    t0 = time.perf_counter()
    d = policy.decide(sample.instruction, obs, [])
    ms = (time.perf_counter() - t0) * 1000
    points = d.action.points() if d.action is not None and hasattr(d.action, "points") else []
    hit = bool(points) and sample.contains(*points[0])
    tokens = d.metadata.get("visual_tokens")
    if tokens is None:
        tokens = next((a.get("visual_tokens") for a in d.metadata.get("attempts", []) if a.get("visual_tokens")), 0)
    return {"ms": ms, "tokens": tokens, "hit": hit, "parsed": d.parse_error is None}


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="zoom-cost-"))
    if not args.data:
        make_grounding(data, args.n, seed=args.seed, screens=[parse_screen(s) for s in args.screens.split(",")])
    samples = load_grounding(data)[: args.n]
    observations = {s.id: observation(s) for s in samples}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    # the shipped model through the real local backend
    model = PolicySpec(kind="qwen", model="default", max_new_tokens=32, max_repairs=0).build()
    assert isinstance(model, QwenPolicy)
    default_variants = variants_for(model, args.full_max_pixels, args.low_max_pixels, args.crop)
    results["default"] = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        for s in samples:
            order = VARIANTS if (r + samples.index(s)) % 2 == 0 else tuple(reversed(VARIANTS))
            for v in order:
                policy, prompt = default_variants[v]
                results["default"][v].append(decide(model, policy, prompt, s, observations[s.id]))
    model.close()
    # the simulated grounder (no model), at each error level
    for error in (float(e) for e in args.sim_error.split(",")):
        sim_backend = SimulatedGrounder("qwen2.5-vl", error, args.crop)
        sim = QwenPolicy(sim_backend, "qwen2.5-vl", QwenPolicyConfig(max_repairs=0))
        sim_variants = variants_for(sim, args.full_max_pixels, args.low_max_pixels, args.crop)
        name = f"simulated, error {error:g} px"
        results[name] = {v: [] for v in VARIANTS}
        for k, s in enumerate(samples):
            for rep in range(args.sim_repeats):
                for v in VARIANTS:
                    sim_backend.start(s, seed=k * 1000 + rep)
                    policy, prompt = sim_variants[v]
                    results[name][v].append(decide(sim, policy, prompt, s, observations[s.id]))
    sizes = sorted({f"{s.image_size[0]}x{s.image_size[1]}" for s in samples if s.image_size})
    return {"results": results, "samples": len(samples), "screens": sizes, "data": str(data)}


def summarise(out: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for decider, per_variant in out["results"].items():
        table[decider] = {}
        for v, rows in per_variant.items():
            ms = sorted(r["ms"] for r in rows)
            table[decider][v] = {
                "n": len(rows),
                "tokens": statistics.fmean(r["tokens"] for r in rows),
                "ms_median": statistics.median(ms),
                "ms_p90": ms[int(0.9 * (len(ms) - 1))],
                "accuracy": sum(r["hit"] for r in rows) / len(rows),
                "parsed": sum(r["parsed"] for r in rows) / len(rows),
            }
    return table


def markdown(out: dict[str, Any], table: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        BEGIN,
        "## Zoom-in grounding: tokens, latency and accuracy on small targets on large screens",
        "",
        f"`benchmarks/zoom_cost.py --n {args.n} --rounds {args.rounds}`: {out['samples']} samples of "
        f"`bench make-grounding --screen {' --screen '.join(args.screens.split(','))}` (screenshots "
        f"{', '.join(out['screens'])}); full = one pass at max_pixels {args.full_max_pixels}, low = one pass at "
        f"{args.low_max_pixels}, zoom = `--zoom` (overview at {args.low_max_pixels}, then a {args.crop}x{args.crop} "
        "native crop). Variants interleaved sample by sample. "
        f"Machine: {cpuinfo_field('model name')}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        "shared with a background training job at nice 19.",
        "",
        "| decider | variant | visual tokens / step | decide ms (median) | p90 ms | accuracy | parsed |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for decider, per_variant in table.items():
        for v, f in per_variant.items():
            timing = (f"{f['ms_median']:.0f}", f"{f['ms_p90']:.0f}") if decider == "default" else ("—", "—")
            lines.append(
                f"| {decider} | {v} | {f['tokens']:.0f} | {timing[0]} | {timing[1]} | "
                f"{100 * f['accuracy']:.1f}% (n={f['n']}) | {100 * f['parsed']:.0f}% |"
            )
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=36, help="grounding samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screens", default=",".join(SCREENS))
    parser.add_argument("--data", help="an existing grounding set instead of rendering one")
    parser.add_argument("--rounds", type=int, default=2, help="repeats of the default model's timing")
    parser.add_argument("--sim-repeats", type=int, default=10, help="noise draws per sample for the simulated grounder")
    parser.add_argument("--sim-error", default="14,28", help="simulated errors, px of the image shown (comma list)")
    parser.add_argument("--full-max-pixels", type=int, default=1280 * 28 * 28)
    parser.add_argument("--low-max-pixels", type=int, default=256 * 28 * 28)
    parser.add_argument("--crop", type=int, default=672)
    parser.add_argument("--json", help="write the raw figures here")
    parser.add_argument("--out", help="write the section into this markdown file (docs/PERFORMANCE.md)")
    args = parser.parse_args()
    out = run(args)
    table = summarise(out)
    text = markdown(out, table, args)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table, **out}, indent=1))
    if args.out:
        write_section(Path(args.out), BEGIN, END, text)


if __name__ == "__main__":
    main()
