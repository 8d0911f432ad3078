"""Per-step latency of the Qwen2-VL policy on this machine (CPU by default).

Four parts, each printed as a Markdown table (``--json FILE`` also writes the raw figures):

``policy``
    The real ``QwenPolicy.decide`` (qwen2.5-vl dialect, ``max_repairs=0``, greedy, ``--max-new-tokens``)
    on a ``LocalBackend`` loaded from the tiny random Qwen2-VL (``pixelpilot.agent.qwen.tiny``), with real
    Chromium screenshots of ``tasks/examples/pages/search.html`` at 1280x720 (scale 1) and 1920x1080
    (1280x720 at scale 1.5), at the default pixel budget (1280*28*28) and at 256*28*28. Phases are the
    backend's ``timings_ms`` (preprocess / prefill / decode). Each call gets a fresh ``Observation``
    (same bytes), so the one JPEG decode a real step pays is inside *preprocess*. The tiny model's
    transformer is ~free, so this isolates what the framework and the image pipeline cost.
``preprocess``
    Image preprocessing of a 1920x1080 screenshot (dense.html and search.html), interleaved call by call:
    pixelpilot's path (the observation's cached PIL image through the backend's processor, exactly as
    ``LocalBackend.generate`` calls it, with and without the chat template/tokenizer), transformers'
    torchvision-backed ``Qwen2VLImageProcessor`` called directly on the PIL image, and the PIL backend
    (``Qwen2VLImageProcessorPil``, what ``use_fast=False`` / ``backend="pil"`` selects in transformers 5),
    plus the JPEG decode itself. Outputs are compared (pixel values, grids).
``codec``
    Counts image encodes/decodes between capture and model input during a real ``Agent`` episode
    (BrowserEnv + QwenPolicy on the tiny model, report written) by wrapping Playwright's
    ``Page.screenshot`` (Chromium's encode), PIL's decode (``ImageFile.load``), encode (``Image.save``),
    resize/convert, and torchvision.io's codecs, and says where each happened.
``real2b``
    Qwen2-VL-2B-Instruct's architecture (its config values, written out below) with random weights, in
    float32 on the CPU: one ``generate`` with a prefill and ``--real-decode-tokens`` decode tokens at 256*28*28
    and 1280*28*28 on the 1280x720 screenshot, the vision tower timed apart with forward hooks. Inputs
    come from the tiny model's processor on the policy's real prompt, with the ids remapped onto the
    real vocabulary (same layout, same number of image pads). Takes several minutes on 2 cores.

    .venv/bin/python benchmarks/policy_latency.py [--repeats N] [--parts policy,preprocess,codec,real2b]

Compared variants are interleaved (ABBA order) in one process and medians are reported, because the
machine this was written on is a shared, noisy 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pixelpilot.env import Observation  # noqa: E402

SEARCH_PAGE = ROOT / "tasks" / "examples" / "pages" / "search.html"
DENSE_PAGE = ROOT / "benchmarks" / "pages" / "dense.html"
INSTRUCTION = 'Search the shop for "keyboard" and open the product page of the mechanical keyboard.'
BUDGETS = {"1280·28·28": 1280 * 28 * 28, "256·28·28": 256 * 28 * 28}
#: (label, viewport w, viewport h, device scale factor)
SIZES = [("1280×720", 1280, 720, 1.0), ("1920×1080", 1280, 720, 1.5)]

#: Qwen/Qwen2-VL-2B-Instruct config.json, as transformers 5 wants it: text fields nested in
#: ``text_config`` with ``rope_theta``/``mrope_section`` inside ``rope_parameters`` ("mrope" is read as
#: rope_type "default" there), vision fields in ``vision_config`` (``in_chans`` is ``in_channels``).
QWEN2_VL_2B = {
    "text_config": {
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-06,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        "use_sliding_window": False,
        "sliding_window": 32768,
        "max_window_layers": 28,
        "tie_word_embeddings": True,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
    },
    "vision_config": {
        "depth": 32,
        "embed_dim": 1280,
        "hidden_size": 1536,
        "hidden_act": "quick_gelu",
        "mlp_ratio": 4,
        "num_heads": 16,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "tie_word_embeddings": True,
}
#: Assumed characters per token of Qwen2's tokenizer on the (English + JSON) prompt; not measured here,
#: since the real tokenizer cannot be downloaded. The tiny tokenizer gives ~1.8 characters per token.
CHARS_PER_TOKEN = 4.0
#: The real vocabulary's special tokens start here, in agent.qwen.tiny.SPECIAL_TOKENS' order.
REAL_SPECIAL_BASE = 151643


# --------------------------------------------------------------------------- helpers
def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float, digits: int = 1) -> str:
    if value != value:  # nan
        return "–"
    return f"{value:.{digits}f}"


def _abba(items: list[Any], r: int) -> list[Any]:
    """Forward on even repeats, reversed on odd ones: drift hits every variant alike."""
    return items if r % 2 == 0 else list(reversed(items))


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    import psutil
    import torch

    cpu = cpuinfo_field("model name", platform.processor() or "unknown")
    flags = " " + cpuinfo_field("flags", "")
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "isa": isa,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": psutil.virtual_memory().total / 2**30,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torchvision": version("torchvision"),
        "transformers": version("transformers"),
        "pillow": version("pillow"),
        "playwright": version("playwright"),
        "commit": commit or "unknown",
        "loadavg": os.getloadavg(),
        "when": datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"**Machine:** {m['cpu']} ({', '.join(m['isa']) or 'no AVX2'}), {m['usable_cpus']} usable of "
        f"{m['logical_cpus']} logical CPUs, {m['ram_gib']:.1f} GiB RAM, no GPU; {m['platform']}; Python {m['python']}; "
        f"torch {m['torch']} ({m['torch_threads']} intra-op threads), torchvision {m['torchvision']}, "
        f"transformers {m['transformers']}, Pillow {m['pillow']}; commit {m['commit']}; {m['when']}. "
        f"Load average (1 min) at start {m['loadavg'][0]:.1f}."
    )


def fresh(obs: Observation) -> Observation:
    """A new Observation with the same bytes: its image is not decoded yet, as in a real step."""
    return Observation(
        screenshot=obs.screenshot,
        image_format=obs.image_format,
        geometry=obs.geometry,
        url=obs.url,
        title=obs.title,
    )


def capture(shots: list[tuple[str, Path, int, int, float]]) -> dict[str, Observation]:
    """Real Chromium screenshots (BrowserEnv.observe, JPEG q90) keyed by name."""
    from pixelpilot.env.browser.env import BrowserConfig, BrowserEnv
    from pixelpilot.env.spec import StartSpec, Viewport

    out: dict[str, Observation] = {}
    env = BrowserEnv(BrowserConfig())
    try:
        for name, page, w, h, dsf in shots:
            env.reset(
                StartSpec(url=page.resolve().as_uri(), viewport=Viewport(width=w, height=h), device_scale_factor=dsf)
            )
            env.observe()  # first capture after load warms the compositor
            out[name] = env.observe()
    finally:
        env.close()
    return out


def tiny_backend(folder: Path) -> Any:
    from pixelpilot.agent.qwen.backends.local import LocalBackend
    from pixelpilot.agent.qwen.tiny import build_tiny_qwen2vl

    if not (folder / "config.json").is_file():
        build_tiny_qwen2vl(folder)
    return LocalBackend(str(folder), device="cpu")


def make_policy(backend: Any, max_pixels: int, max_new_tokens: int) -> Any:
    from pixelpilot.agent.qwen.backends.base import SamplingConfig
    from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
    from pixelpilot.agent.qwen.prompt import PromptConfig

    config = QwenPolicyConfig(
        prompt=PromptConfig(max_pixels=max_pixels),
        sampling=SamplingConfig(max_new_tokens=max_new_tokens),
        max_repairs=0,
    )
    return QwenPolicy(backend, "qwen2.5-vl", config, env="browser")


# --------------------------------------------------------------------------- part 1: policy.decide
def bench_policy(backend: Any, shots: dict[str, Observation], repeats: int, max_new_tokens: int) -> dict[str, Any]:
    configs = [(size, budget) for size, *_ in SIZES for budget in BUDGETS]
    policies = {budget: make_policy(backend, px, max_new_tokens) for budget, px in BUDGETS.items()}
    samples: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)

    def one(size: str, budget: str) -> dict[str, Any]:
        obs = fresh(shots[f"search {size}"])
        t0 = time.perf_counter()
        decision = policies[budget].decide(INSTRUCTION, obs, [])
        wall = _ms(time.perf_counter() - t0)
        meta = decision.metadata
        attempt = meta["attempts"][0]
        if "timings_ms" not in attempt:
            raise RuntimeError(f"policy call failed: {attempt}")
        return {
            "wall": wall,
            **{k: attempt["timings_ms"][k] for k in ("preprocess", "prefill", "decode", "total")},
            "visual_tokens": attempt["visual_tokens"],
            "prompt_tokens": attempt["prompt_tokens"],
            "text_tokens": attempt["text_tokens"],
            "completion_tokens": attempt["completion_tokens"],
            "grid": attempt["image_grid_thw"][0],
            "resized": (meta["geometry"]["resized_width"], meta["geometry"]["resized_height"]),
            "screen": (meta["geometry"]["width"], meta["geometry"]["height"]),
            "parsed": decision.parse_error is None,
        }

    for size, budget in configs:  # warm-up: first calls allocate, compile regexes, fill caches
        one(size, budget)
    for r in range(repeats):
        for size, budget in _abba(configs, r):
            samples[(size, budget)].append(one(size, budget))

    rows = []
    for size, budget in configs:
        s = samples[(size, budget)]
        med = {k: _median([x[k] for x in s]) for k in ("wall", "preprocess", "prefill", "decode", "total")}
        completion = _median([x["completion_tokens"] for x in s])
        rows.append(
            {
                "size": size,
                "budget": budget,
                "screen": s[0]["screen"],
                "resized": s[0]["resized"],
                "grid": s[0]["grid"],
                "visual_tokens": s[0]["visual_tokens"],
                "prompt_tokens": s[0]["prompt_tokens"],
                "text_tokens": s[0]["text_tokens"],
                "completion_tokens": completion,
                "decode_per_token": _median([x["decode"] / max(1, x["completion_tokens"] - 1) for x in s]),
                "parsed": sum(x["parsed"] for x in s),
                "n": len(s),
                **med,
            }
        )
    return {"rows": rows, "max_new_tokens": max_new_tokens, "repeats": repeats}


def policy_table(res: dict[str, Any]) -> str:
    lines = [
        "| screenshot | max_pixels | resized → grid (t,h,w) | visual tokens | prompt tokens | new tokens | "
        "preprocess | prefill | decode (per token) | backend total | **decide wall** |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['screen'][0]}×{r['screen'][1]} | {r['budget']} | {r['resized'][0]}×{r['resized'][1]} → "
            f"{tuple(r['grid'])} | {r['visual_tokens']} | {r['prompt_tokens']} | {r['completion_tokens']:g} | "
            f"{_fmt(r['preprocess'])} | {_fmt(r['prefill'])} | "
            f"{_fmt(r['decode'])} ({_fmt(r['decode_per_token'], 2)}) | "
            f"{_fmt(r['total'])} | **{_fmt(r['wall'])}** |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- part 2: preprocessing
def _preprocess_variants(
    processor: Any, tv: Any, pil: Any, obs: Observation, image: Any, request: Any, size: dict[str, int]
) -> dict[str, Callable[[], Any]]:
    def pixelpilot_full() -> Any:
        # LocalBackend.generate's preprocessing, minus the (separately timed) decode.
        prompt = processor.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        return processor(text=[prompt], images=[image], size=size, return_tensors="pt")

    return {
        "decode": lambda: fresh(obs).image,
        "pixelpilot": pixelpilot_full,
        "pixelpilot_image": lambda: processor.image_processor(images=[image], size=size, return_tensors="pt"),
        "torchvision": lambda: tv(images=[image], size=size, return_tensors="pt"),
        "pil": lambda: pil(images=[image], size=size, return_tensors="pt"),
    }


def bench_preprocess(backend: Any, shots: dict[str, Observation], repeats: int) -> dict[str, Any]:
    import torch
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from pixelpilot.agent.qwen.backends.base import SamplingConfig
    from pixelpilot.agent.qwen.dialects import get_dialect
    from pixelpilot.agent.qwen.prompt import PromptConfig, build_request

    processor = backend.processor
    tv = Qwen2VLImageProcessor()  # transformers' default (torchvision) backend, fresh, default settings
    pil = Qwen2VLImageProcessorPil()  # the PIL ("slow", use_fast=False) backend
    dialect = get_dialect("qwen2.5-vl")
    pages = ["dense 1920×1080", "search 1920×1080"]
    results: dict[str, Any] = {
        "rows": [],
        "checks": [],
        "backend_image_processor": type(processor.image_processor).__name__,
    }

    for page in pages:
        obs = shots[page]
        image = fresh(obs).image
        for budget, max_px in BUDGETS.items():
            size = {"shortest_edge": 56 * 56, "longest_edge": max_px}
            request = build_request(
                dialect=dialect,
                env="browser",
                instruction=INSTRUCTION,
                observation=obs,
                history=[],
                config=PromptConfig(max_pixels=max_px),
                sampling=SamplingConfig(),
            )

            variants = _preprocess_variants(processor, tv, pil, obs, image, request, size)
            outs = {k: fn() for k, fn in variants.items() if k != "decode"}  # warm-up, and outputs to compare
            ref = outs["torchvision"]
            check = {"page": page, "budget": budget, "grid": ref["image_grid_thw"].tolist()[0]}
            for k in ("pixelpilot", "pixelpilot_image", "pil"):
                same_grid = outs[k]["image_grid_thw"].tolist() == ref["image_grid_thw"].tolist()
                diff = (outs[k]["pixel_values"].float() - ref["pixel_values"].float()).abs()
                check[k] = {
                    "same_grid": same_grid,
                    "max_abs_diff": float(diff.max()),
                    "mean_abs_diff": float(diff.mean()),
                    "shape": list(outs[k]["pixel_values"].shape),
                }
            results["checks"].append(check)
            times: dict[str, list[float]] = defaultdict(list)
            names = list(variants)
            for r in range(repeats):
                for k in _abba(names, r):
                    t0 = time.perf_counter()
                    variants[k]()
                    times[k].append(_ms(time.perf_counter() - t0))
            results["rows"].append(
                {
                    "page": page,
                    "budget": budget,
                    "jpeg_kib": len(obs.screenshot) / 1024,
                    "n": repeats,
                    **{k: _median(v) for k, v in times.items()},
                    **{f"{k}_iqr": _iqr(v) for k, v in times.items()},
                    # Paired per round (neighbouring calls), so drift between rounds cancels out.
                    "paired_image_vs_tv": _paired(times["pixelpilot_image"], times["torchvision"]),
                    "paired_full_vs_tv": _paired(times["pixelpilot"], times["torchvision"]),
                    "paired_pil_vs_tv": _paired(times["pil"], times["torchvision"]),
                }
            )
    results["torch_threads"] = torch.get_num_threads()
    return results


def _paired(a: list[float], b: list[float]) -> float:
    return _median([x / y for x, y in zip(a, b, strict=True)])


def _iqr(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return (min(values), max(values)) if values else (float("nan"), float("nan"))
    q = statistics.quantiles(values, n=4)
    return (q[0], q[2])


def preprocess_table(res: dict[str, Any]) -> str:
    lines = [
        "| screenshot | max_pixels | JPEG decode (once per step) | **pixelpilot** (template + tokenizer + image) | "
        "pixelpilot image part | **transformers torchvision** | transformers PIL backend | "
        "paired ratios to torchvision: pixelpilot image / pixelpilot full / PIL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['page']} ({r['jpeg_kib']:.0f} KiB JPEG) | {r['budget']} | {_fmt(r['decode'])} | "
            f"**{_fmt(r['pixelpilot'])}** | {_fmt(r['pixelpilot_image'])} | **{_fmt(r['torchvision'])}** | "
            f"{_fmt(r['pil'])} | {r['paired_image_vs_tv']:.2f}× / {r['paired_full_vs_tv']:.2f}× / "
            f"{r['paired_pil_vs_tv']:.2f}× |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- part 3: codec count
class CodecCounter:
    """Wraps every place an image can be encoded or decoded and remembers who called it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._undo: list[Callable[[], None]] = []
        self.screenshot_bytes: list[bytes] = []

    @staticmethod
    def _where() -> str:
        """The caller (nearest project frame in another file), the innermost project frame, the library frame."""
        frames = traceback.extract_stack()[:-2]  # drop _where and the wrapper
        mine = "benchmarks/policy_latency.py"
        ours = [
            f
            for f in frames
            if f.filename.startswith(str(ROOT)) and mine not in f.filename and ".venv" not in f.filename
        ]

        def name(f: traceback.FrameSummary) -> str:
            path = f.filename.split("site-packages/")[-1] if "site-packages/" in f.filename else f.filename
            path = str(Path(path).relative_to(ROOT)) if path.startswith(str(ROOT)) else path
            return f"{path}:{f.lineno} ({f.name})"

        parts = []
        if ours:
            caller = [f for f in ours if f.filename != ours[-1].filename]
            if caller:  # the nearest project frame in another file: who asked for it
                parts.append(name(caller[-1]))
            parts.append(name(ours[-1]))
            below = frames[frames.index(ours[-1]) + 1 :]
            if below:
                parts.append(name(below[-1]))
        else:
            parts.append(name(frames[-1]))
        return " → ".join(parts)

    def _wrap(self, owner: Any, name: str, label: str, when: Callable[..., bool] = lambda *a, **k: True) -> None:
        original = getattr(owner, name)
        counter = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if when(*args, **kwargs):
                counter.events.append((label, counter._where()))
            result = original(*args, **kwargs)
            if label.startswith("Chromium") and isinstance(result, bytes):
                counter.screenshot_bytes.append(result)
            return result

        setattr(owner, name, wrapper)
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> CodecCounter:
        import torchvision.io
        from PIL import Image, ImageFile
        from playwright.sync_api import Page

        self._wrap(Page, "screenshot", "Chromium encode (page.screenshot)")
        # load() decodes only while the image still has undecoded tiles.
        self._wrap(ImageFile.ImageFile, "load", "PIL decode (ImageFile.load)", lambda im, *a, **k: bool(im.tile))
        self._wrap(Image, "open", "PIL open (header parse)")
        self._wrap(Image.Image, "save", "PIL encode (Image.save)")
        self._wrap(Image.Image, "resize", "PIL resize")
        self._wrap(Image.Image, "convert", "PIL convert")
        for fn in ("decode_jpeg", "decode_image", "decode_png", "encode_jpeg", "encode_png"):
            if hasattr(torchvision.io, fn):
                self._wrap(torchvision.io, fn, f"torchvision.io.{fn}")
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


def bench_codec(backend: Any, tmp: Path, steps: int = 3) -> dict[str, Any]:
    from pixelpilot.agent.episode import EpisodeSpec, read_bundle
    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.env.browser.env import BrowserConfig, BrowserEnv
    from pixelpilot.env.spec import StartSpec, Viewport

    spec = EpisodeSpec(
        id="codec-count",
        instruction=INSTRUCTION,
        start=StartSpec(
            url=SEARCH_PAGE.resolve().as_uri(), viewport=Viewport(width=1280, height=720), device_scale_factor=1.5
        ),
        max_steps=steps,
        time_limit_s=600,
    )
    policy = make_policy(backend, BUDGETS["1280·28·28"], 8)
    env = BrowserEnv(BrowserConfig())
    agent = Agent(env, policy, AgentConfig(out_dir=tmp, write_report=True, max_consecutive_failures=steps + 1))
    # The tiny model's text is noise: replace the parsed action by a harmless wait, so each step runs
    # capture → decide (the real model call) → execute → record; decide's own work is untouched.
    real_decide = policy.decide

    def decide(instruction: str, observation: Observation, history: list[Any]) -> Any:
        decision = real_decide(instruction, observation, history)
        return decision.model_copy(update={"action": {"action": "wait", "seconds": 0.0}, "parse_error": None})

    policy.decide = decide  # type: ignore[method-assign]
    bundle = tmp / "codec-bundle"
    try:
        with CodecCounter() as counter:
            result = agent.run(spec, bundle_dir=bundle)
    finally:
        agent.close()
        env.close()
    _, records = read_bundle(bundle)
    stored = [bundle / s.observation.screenshot for s in records]
    identical = all(p.read_bytes() in counter.screenshot_bytes for p in stored)
    tally: Counter[tuple[str, str]] = Counter(counter.events)
    return {
        "steps": len(records),
        "status": result.status,
        "events": [{"what": k[0], "where": k[1], "count": n} for k, n in sorted(tally.items())],
        "stored_screenshots_identical_to_capture": identical,
        "screenshot_calls": len(counter.screenshot_bytes),
    }


def codec_table(res: dict[str, Any]) -> str:
    lines = [
        f"Episode of {res['steps']} steps (+ the loop's final screenshot), report written; stored step "
        f"screenshots byte-identical to Chromium's output: {res['stored_screenshots_identical_to_capture']}.",
        "",
        "| operation | where | count | per step |",
        "|---|---|---|---|",
    ]
    for e in res["events"]:
        lines.append(f"| {e['what']} | `{e['where']}` | {e['count']} | {e['count'] / res['steps']:.2f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- part 4: real 2B architecture
def _dtype_probe() -> dict[str, float]:
    """GFLOP/s of a Qwen2-2B-sized MLP matmul (256 tokens) in float32 and bfloat16 on this CPU."""
    import torch

    out = {}
    for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a = torch.randn(256, 1536, dtype=dt)
        b = torch.randn(1536, 8960, dtype=dt)
        a @ b
        t0 = time.perf_counter()
        n = 0
        while n < 3 or time.perf_counter() - t0 < 0.5:
            a @ b
            n += 1
            if time.perf_counter() - t0 > 20:
                break
        dt_s = (time.perf_counter() - t0) / n
        out[name] = 2 * 256 * 1536 * 8960 / dt_s / 1e9
    return out


def _shrink_text(ids: list[int], ratio: float) -> list[int]:
    """Each maximal run of ordinary (non-special) ids cut to round(len * ratio) ids, at least one."""
    out: list[int] = []
    run: list[int] = []
    for i in [*ids, -1]:
        if 0 <= i < REAL_SPECIAL_BASE:
            run.append(i)
            continue
        if run:
            out += run[: max(1, round(len(run) * ratio))]
            run = []
        if i >= 0:
            out.append(i)
    return out


def _real_inputs(
    backend: Any, obs: Observation, max_px: int, text_tokens: str = "estimate"
) -> tuple[dict[str, Any], dict[str, int]]:
    """The policy's real prompt through the tiny processor, ids remapped onto Qwen2-VL's vocabulary.

    ``text_tokens="tiny"`` keeps the tiny tokenizer's ids one for one; ``"estimate"`` resizes the text to
    what Qwen2's tokenizer would roughly produce (see CHARS_PER_TOKEN). Image pads are never touched.
    """
    import torch

    from pixelpilot.agent.qwen.backends.base import SamplingConfig
    from pixelpilot.agent.qwen.dialects import get_dialect
    from pixelpilot.agent.qwen.prompt import PromptConfig, build_request
    from pixelpilot.agent.qwen.tiny import SPECIAL_TOKENS

    processor = backend.processor
    request = build_request(
        dialect=get_dialect("qwen2.5-vl"),
        env="browser",
        instruction=INSTRUCTION,
        observation=obs,
        history=[],
        config=PromptConfig(max_pixels=max_px),
        sampling=SamplingConfig(),
    )
    prompt = processor.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(
        text=[prompt], images=[obs.image], size={"shortest_edge": 56 * 56, "longest_edge": max_px}, return_tensors="pt"
    )
    tok = processor.tokenizer
    special = {tok.convert_tokens_to_ids(t): REAL_SPECIAL_BASE + i for i, t in enumerate(SPECIAL_TOKENS)}
    ids = inputs["input_ids"][0].tolist()
    remapped = [special.get(i, (i * 7919 + 12345) % REAL_SPECIAL_BASE) for i in ids]
    tiny_text = sum(1 for i in remapped if i < REAL_SPECIAL_BASE)
    chars = len(prompt) - len("<|image_pad|>")
    if text_tokens == "estimate":
        # The tiny byte-level BPE (768 merges) needs ~2x the tokens of Qwen2's 151k vocabulary; shrink
        # every run of ordinary text proportionally to chars / CHARS_PER_TOKEN, keeping all specials.
        remapped = _shrink_text(remapped, round(chars / CHARS_PER_TOKEN) / max(1, tiny_text))
    input_ids = torch.tensor([remapped], dtype=torch.long)
    n_img = sum(1 for i in remapped if i == QWEN2_VL_2B["image_token_id"])
    grid = inputs["image_grid_thw"][0].tolist()
    if n_img != grid[0] * grid[1] * grid[2] // 4:
        raise RuntimeError(f"{n_img} image pads but grid {grid}")
    counts = {
        "prompt_tokens": len(remapped),
        "visual_tokens": n_img,
        "text_tokens": len(remapped) - n_img,
        "patches": grid[0] * grid[1] * grid[2],
        "prompt_chars_without_image": chars,
        "tiny_text_tokens": tiny_text,
    }
    return (
        {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": inputs["pixel_values"],
            "image_grid_thw": inputs["image_grid_thw"],
        },
        {**counts, "grid": grid},
    )


def bench_real2b(
    backend: Any, obs: Observation, repeats: int, decode_tokens: int, dtype: str, text_tokens: str
) -> dict[str, Any]:
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    res: dict[str, Any] = {
        "dtype": dtype,
        "decode_tokens": decode_tokens,
        "rows": [],
        "repeats": repeats,
        "text_tokens": text_tokens,
    }
    res["dtype_probe_gflops"] = _dtype_probe()
    print(f"[real2b] matmul probe GFLOP/s: {res['dtype_probe_gflops']}", flush=True)
    config = Qwen2VLConfig(**json.loads(json.dumps(QWEN2_VL_2B)))
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen2VLForConditionalGeneration(config).to(getattr(torch, dtype)).eval()
    res["init_s"] = time.perf_counter() - t0
    res["params"] = sum(p.numel() for p in model.parameters())
    res["vision_params"] = sum(p.numel() for p in model.model.visual.parameters())
    res["rss_model_mib"] = _rss_mib() - rss0
    res["attn_implementation"] = model.config._attn_implementation
    print(f"[real2b] built {res['params'] / 1e9:.3f} B params in {res['init_s']:.0f} s", flush=True)

    vision_spans: list[float] = []

    def pre(_m: Any, _a: Any) -> None:
        vision_spans.append(time.perf_counter())

    def post(_m: Any, _a: Any, _o: Any) -> None:
        vision_spans[-1] = time.perf_counter() - vision_spans[-1]

    model.model.visual.register_forward_pre_hook(pre)
    model.model.visual.register_forward_hook(post)

    for budget in ("256·28·28", "1280·28·28"):  # cheap one first: a figure comes back early
        inputs, counts = _real_inputs(backend, obs, BUDGETS[budget], text_tokens)
        for r in range(repeats):
            first: list[float] = []

            class FirstToken(LogitsProcessor):
                """Timestamps the first call: the prefill has produced the first logits."""

                def __init__(self, marks: list[float]) -> None:
                    self.marks = marks

                def __call__(self, ids: Any, scores: Any) -> Any:
                    if not self.marks:
                        self.marks.append(time.perf_counter())
                    return scores

            vision_spans.clear()
            t1 = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(
                    **inputs,
                    max_new_tokens=decode_tokens,
                    min_new_tokens=decode_tokens,
                    do_sample=False,
                    pad_token_id=151643,
                    eos_token_id=151645,
                    logits_processor=LogitsProcessorList([FirstToken(first)]),
                )
            t2 = time.perf_counter()
            new = int(out.shape[1] - inputs["input_ids"].shape[1])
            prefill = _ms(first[0] - t1)
            vision = _ms(vision_spans[0]) if vision_spans else float("nan")
            decode = _ms(t2 - first[0])
            row = {
                "budget": budget,
                "repeat": r,
                **counts,
                "vision_ms": vision,
                "prefill_ms": prefill,
                "text_prefill_ms": prefill - vision,
                "decode_ms": decode,
                "new_tokens": new,
                "decode_per_token_ms": decode / max(1, new - 1),
                "total_ms": _ms(t2 - t1),
                "peak_rss_mib": _peak_rss_mib(),
            }
            res["rows"].append(row)
            print(f"[real2b] {json.dumps(row)}", flush=True)
    return res


def real2b_table(res: dict[str, Any]) -> str:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in res["rows"]:
        by[r["budget"]].append(r)
    lines = [
        "| max_pixels | resized grid (t,h,w) / patches | visual tokens | prompt tokens | vision tower | text prefill | "
        "**prefill (to 1st token)** | decode per token | step with 50 output tokens (est.) | runs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for budget, rows in by.items():
        med = {
            k: _median([r[k] for r in rows])
            for k in ("vision_ms", "text_prefill_ms", "prefill_ms", "decode_per_token_ms")
        }
        est = med["prefill_ms"] + 49 * med["decode_per_token_ms"]
        r0 = rows[0]
        lines.append(
            f"| {budget} | {tuple(r0['grid'])} / {r0['patches']} | {r0['visual_tokens']} | {r0['prompt_tokens']} | "
            f"{med['vision_ms'] / 1000:.1f} s | {med['text_prefill_ms'] / 1000:.1f} s | "
            f"**{med['prefill_ms'] / 1000:.1f} s** | "
            f"{med['decode_per_token_ms']:.0f} ms | {est / 1000:.0f} s | {len(rows)} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds for the policy part (default 7)")
    parser.add_argument(
        "--preprocess-repeats", type=int, default=None, help="calls per variant for preprocessing (default 6×repeats)"
    )
    parser.add_argument(
        "--parts", default="policy,preprocess,codec", help="comma list of policy,preprocess,codec,real2b"
    )
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--real-repeats", type=int, default=1, help="generate calls per budget for real2b")
    parser.add_argument("--real-decode-tokens", type=int, default=8)
    parser.add_argument("--real-dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument(
        "--real-text-tokens",
        default="estimate",
        choices=["estimate", "tiny"],
        help="text length for real2b: prompt chars / 4 (default) or the tiny tokenizer's count",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--md", type=Path, help="also write the Markdown tables here")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"policy", "preprocess", "codec", "real2b"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    from pixelpilot.agent.logs import enable_logging

    enable_logging("WARNING")

    info = machine()
    results: dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}
    md = [machine_line(info), ""]
    print(md[0], flush=True)

    with tempfile.TemporaryDirectory(prefix="pp-policy-latency-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        backend = tiny_backend(tmp / "tiny")
        results["tiny_load_s"] = time.perf_counter() - t0
        shots = capture(
            [
                ("search 1280×720", SEARCH_PAGE, 1280, 720, 1.0),
                ("search 1920×1080", SEARCH_PAGE, 1280, 720, 1.5),
                ("dense 1920×1080", DENSE_PAGE, 1280, 720, 1.5),
            ]
        )
        results["screenshots"] = {k: {"size": o.image.size, "jpeg_bytes": len(o.screenshot)} for k, o in shots.items()}

        if "policy" in parts:
            res = bench_policy(backend, shots, args.repeats, args.max_new_tokens)
            results["policy"] = res
            table = policy_table(res)
            md += [
                f"### Per-step policy latency, tiny model (medians of {args.repeats} interleaved rounds, ms)",
                "",
                table,
                "",
            ]
            print(table, flush=True)
        if "preprocess" in parts:
            n = args.preprocess_repeats or 6 * args.repeats
            res = bench_preprocess(backend, shots, n)
            results["preprocess"] = res
            table = preprocess_table(res)
            md += [
                f"### Image preprocessing, 1920×1080 screenshot (medians of {n} interleaved calls, ms)",
                "",
                table,
                "",
            ]
            print(table, flush=True)
            print(json.dumps(res["checks"], indent=1), flush=True)
        if "codec" in parts:
            res = bench_codec(backend, tmp)
            results["codec"] = res
            table = codec_table(res)
            md += ["### Encodes and decodes between capture and model input", "", table, ""]
            print(table, flush=True)
        if "real2b" in parts:
            res = bench_real2b(
                backend,
                shots["search 1280×720"],
                args.real_repeats,
                args.real_decode_tokens,
                args.real_dtype,
                args.real_text_tokens,
            )
            results["real2b"] = res
            table = real2b_table(res)
            md += ["### Qwen2-VL-2B architecture, random weights, one step on the 1280×720 screenshot", "", table, ""]
            print(table, flush=True)
        backend.close()

    results["loadavg_end"] = os.getloadavg()
    results["peak_rss_mib"] = _peak_rss_mib()
    md.append(
        f"Load average (1 min) at the end: {results['loadavg_end'][0]:.1f}; peak RSS {results['peak_rss_mib']:.0f} MiB."
    )
    print(md[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    if args.md:
        args.md.write_text("\n".join(md) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
