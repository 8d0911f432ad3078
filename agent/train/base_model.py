"""Where the weights a run starts from come from: a hub id, a folder, or a small model built from scratch.

``tiny`` is :func:`agent.qwen.tiny.build_tiny_qwen2vl` (a test-sized model); ``small`` is a
~5M-parameter Qwen2-VL with the same tokenizer and processor, large enough to learn MiniWoB-style
clicks on a CPU in minutes. Anything else must be a Qwen2-VL-family checkpoint (Qwen2-VL,
Qwen2.5-VL, Qwen3-VL): the dialects, the chat template and the coordinate codecs are written for
those model types only. Its processor must resize with the factor the training rows were built
with (28 or 32): a row's target coordinates were computed for that resize.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pixelpilot.agent.qwen.backends.local import SUPPORTED_MODEL_TYPES
from pixelpilot.agent.qwen.resize import FACTOR

#: Named architectures trained from scratch.
SCRATCH_BASES = ("tiny", "small")
#: The small architecture's M-RoPE base (see build_small_qwen2vl).
SMALL_ROPE_THETA = 10.0


class BaseModelError(ValueError):
    """The base model cannot be trained (not found, not Qwen2-VL-family). One line."""


def check_base(base: str) -> None:
    """Refuse, before anything heavy is loaded, a base whose config.json is not Qwen2-VL-family."""
    if base in SCRATCH_BASES:
        return
    from pixelpilot.agent.qwen.backends.base import BackendError
    from pixelpilot.agent.qwen.backends.local import LocalBackend

    try:
        config = LocalBackend._read_config(base, {})
    except BackendError as exc:
        raise BaseModelError(str(exc)) from None
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise BaseModelError(
            f"'{base}' is not a Qwen2-VL-family checkpoint: its config.json has model_type {model_type!r}; "
            f"expected one of {', '.join(sorted(SUPPORTED_MODEL_TYPES))}"
        )


def base_resize_factor(base: str) -> int | None:
    """The factor the base's processor resizes with, when it is known before loading (scratch bases
    are Qwen2-VL: 28; a folder or cached hub id: its processor config; else its name), else None."""
    if base in SCRATCH_BASES:
        return FACTOR
    from pixelpilot.agent.qwen.families import ResizeFactorError, resolve_resize_factor

    try:
        return resolve_resize_factor(base).factor
    except ResizeFactorError:
        return None


def processor_resize_factor(processor: Any) -> int:
    """patch_size x merge_size of a loaded processor: what it actually resizes images to multiples of."""
    image_processor = processor.image_processor
    return int(image_processor.patch_size) * int(image_processor.merge_size)


def check_resize_factor(base: str, model_factor: int, data_factor: int) -> None:
    """Refuse (one line) a base whose processor resizes otherwise than the training rows were built."""
    if model_factor != data_factor:
        raise BaseModelError(
            f"the training data was built for resize factor {data_factor}, but '{base}' resizes to multiples of "
            f"{model_factor} (patch x merge): its coordinates would be wrong; rebuild the data with "
            f"`pixelpilot dataset build --resize-factor {model_factor}`"
        )


def build_small_qwen2vl(out_dir: Path, *, seed: int = 0) -> Path:
    """A ~5M-parameter random Qwen2-VL (text 256 wide x 4 layers, vision 4 blocks x 128) in ``out_dir``.

    It reuses the tiny model's tokenizer, processor and chat template (built by
    build_tiny_qwen2vl), so token counts and special-token ids are the same as the tiny model's.
    """
    import torch
    from transformers import AutoProcessor, GenerationConfig, Qwen2VLForConditionalGeneration

    from pixelpilot.agent.qwen.tiny import build_tiny_qwen2vl, qwen2vl_config

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="pixelpilot-tiny-") as tmp:
        tiny = build_tiny_qwen2vl(Path(tmp), seed=seed)
        processor = AutoProcessor.from_pretrained(tiny)
        tiny_config = json.loads((tiny / "config.json").read_text())
    tokenizer = processor.tokenizer
    ids = {
        name: tokenizer.convert_tokens_to_ids(name)
        for name in (
            "<|endoftext|>",
            "<|im_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "<|vision_start|>",
            "<|vision_end|>",
        )
    }
    hidden, heads = 256, 8  # head_dim 32: M-RoPE sections (t, h, w) cover its 16 frequencies
    config = qwen2vl_config(
        ids,
        len(tokenizer),
        hidden=hidden,
        heads=heads,
        kv_heads=4,
        intermediate=768,
        layers=4,
        mrope_section=(4, 6, 6),
        vision_depth=4,
        vision_embed=128,
        vision_heads=4,
        vision_mlp_ratio=4,
        # M-RoPE gives the height and width of image tokens the *lowest* frequencies of the head
        # (sections t, h, w in frequency order). With head_dim 32 and Qwen2-VL's theta of 1e6 the
        # width section turns by at most 0.002 rad across a screenshot: the language model cannot
        # tell left from right. Measured: with 1e6 a fresh model had not learned "is the black half
        # on the left or the right" after 960 samples (first-digit NLL ln 2, image = blanked);
        # with 10 it had after 640 (NLL 0.02 with the image, 2.1 blanked). Contexts here are a
        # few hundred tokens, where 10 still leaves the text distinct positions.
        rope_theta=SMALL_ROPE_THETA,
    )
    assert tiny_config["model_type"] == config.model_type
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def materialize_base(base: str, scratch_dir: Path, *, seed: int) -> str:
    """A path or hub id from_pretrained can load: scratch architectures are built into ``scratch_dir``."""
    if base == "tiny":
        from pixelpilot.agent.qwen.tiny import build_tiny_qwen2vl

        return str(build_tiny_qwen2vl(scratch_dir, seed=seed))
    if base == "small":
        return str(build_small_qwen2vl(scratch_dir, seed=seed))
    return base


def load_model(source: str, *, dtype: Any, device: str) -> tuple[Any, Any]:
    """(model, processor) from a folder or hub id, in ``dtype`` on ``device``, in train mode."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(source)
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 - any loading failure is one line for the user
        raise BaseModelError(f"cannot load '{source}': {' '.join(str(exc).split())[:300]}") from None
    return model.to(device), processor


def add_lora(model: Any, *, r: int, alpha: int, dropout: float = 0.0) -> Any:
    """Wrap the language model's attention projections (q/k/v/o) in LoRA adapters; the rest is frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        # The vision tower's attention is a fused ``qkv``/``proj``, so these names hit only the LM.
        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)",
        bias="none",
    )
    return get_peft_model(model, config)


def count_parameters(model: Any) -> tuple[int, int]:
    """(all, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
