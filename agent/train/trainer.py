"""Supervised fine-tuning of a Qwen2-VL-family model on a pixelpilot training set.

The run is shaped by what the output must be used for: OUT/ itself ends as an ordinary checkpoint
(model + processor + chat template, LoRA merged) that ``PolicySpec(kind="qwen", model=OUT)`` loads
into the local policy, and every example is tokenized as the local backend tokenizes the same
step (agent/train/rows.py). A run survives being killed: OUT/checkpoint/ holds one current
snapshot (weights, optimizer, scheduler, RNG, position in the seeded data order), replaced
atomically, and ``resume=True`` continues from it with the same batches in the same order.

Evaluation on live tasks lives outside this module (the CLI passes a callback), because agent/
must not import tasks/; the image-ablation check, which needs only a model and a dataset, is here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from agent.train.format import MODEL_META, DatasetInfo, ModelMeta, read_info
from agent.train.provenance import trained_pixel_budget
from agent.train.base_model import (
    SCRATCH_BASES,
    BaseModelError,
    add_lora,
    check_base,
    count_parameters,
    load_model,
    materialize_base,
)
from agent.train.rows import (
    DataError,
    answer_ids,
    blank,
    collate,
    encode_prompts,
    load_rows,
    row_images,
    to_device,
)

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "trainer_state.json"
LOG_FILE = "train_log.jsonl"
SETTINGS_FILE = "train_settings.json"
PROBE_FILE = "aux_probe.pt"
EVAL_DIR = "eval"
#: A click counts as right when it lands within this fraction of the screen (normalised distance).
CLICK_TOLERANCE = 0.14

#: ``evaluate(model_dir, step) -> success rate per task``; the CLI runs the benchmark suite in it.
EvalFn = Callable[[Path, int], dict[str, float]]


class TrainError(ValueError):
    """A run that cannot start (bad data, base, options, nothing to resume). The message is one line."""


class TrainConfig(BaseModel):
    """Everything a run depends on; saved to OUT/train_settings.json and shown in the report."""

    model_config = ConfigDict(extra="forbid")

    data: list[Path] = Field(min_length=1, description="dataset folders (pixelpilot dataset build)")
    base: str = Field(description="hub id, folder, or a scratch architecture: tiny | small")
    dialect: str
    out: Path
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    device: str | None = None
    dtype: str | None = None
    lr: float | None = Field(None, gt=0, description="default: 1e-3 scratch, 2e-4 LoRA, 1e-5 full fine-tune")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    batch_size: int | None = Field(None, ge=1, description="rows per forward pass; default 8 on CPU, 2 on GPU")
    grad_accum: int = Field(1, ge=1)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    seed: int = 0
    save_every: int | None = Field(200, ge=1)
    eval_every: int | None = Field(None, ge=1)
    eval_data: Path | None = Field(None, description="held-out dataset for the image-ablation check")
    ablation_n: int = Field(32, ge=1)
    gradient_checkpointing: bool | None = Field(None, description="default: on for CUDA")
    workers: int | None = Field(
        None, ge=0, description="processes that prepare batches ahead of the model; default: 0 on CPU, 8 on CUDA"
    )
    aux_grounding: float = Field(
        0.0, ge=0, description="weight of the auxiliary grounding loss on the visual tokens (aux_grounding.py)"
    )
    position_frame: bool | None = Field(
        None, description="patch coordinates as the second image frame; default: on for scratch bases (or as the base)"
    )
    resume: bool = False
    progress: bool = True


class TrainResult(BaseModel):
    out: Path
    steps: int
    samples: int
    final_loss: float | None
    elapsed_s: float
    evals: list[dict[str, Any]] = Field(default_factory=list)


# --------------------------------------------------------------------------- device, data order


def _resolve_device(config: TrainConfig, torch: Any) -> tuple[str, Any]:
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    names = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16"}
    names |= {"fp32": "float32", "float32": "float32"}
    if config.dtype is not None and config.dtype.lower() not in names:
        raise TrainError(f"unknown --dtype {config.dtype!r}; use bfloat16, float16 or float32")
    name = names[config.dtype.lower()] if config.dtype else ("bfloat16" if device.startswith("cuda") else "float32")
    return device, getattr(torch, name)


def batch_rows(n_rows: int, batch_size: int, seed: int, micro_index: int) -> list[int]:
    """Row indices of micro-batch ``micro_index`` in the run's stream: a seeded shuffle per epoch.

    A pure function of (rows, batch size, seed, index), which is what lets a resumed run skip
    exactly the batches it already consumed.
    """
    import torch

    per_epoch = math.ceil(n_rows / batch_size)
    epoch, j = divmod(micro_index, per_epoch)
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[j * batch_size : (j + 1) * batch_size].tolist()


def _default_lr(config: TrainConfig) -> float:
    if config.lr is not None:
        return config.lr
    if config.base in SCRATCH_BASES:
        return 1e-3
    return 2e-4 if config.lora else 1e-5


class MicroBatches:
    """Micro-batches ``start, start+1, ...`` of the run's seeded stream, each collated for the model
    (and with its aux-grounding targets): what a DataLoader's worker processes prepare ahead of a
    GPU, which otherwise waits on the processor's image preprocessing and tokenizing in the main
    process. A pure function of the index, so the batches are those of ``workers=0`` and a resumed
    run continues the same stream.
    """

    def __init__(
        self,
        data: Any,
        processor: Any,
        info: DatasetInfo,
        *,
        batch_size: int,
        seed: int,
        start: int,
        count: int,
        position_frame: bool,
        aux_merge: int | None,
    ) -> None:
        self.data, self.processor, self.info = data, processor, info
        self.batch_size, self.seed, self.start, self.count = batch_size, seed, start, count
        self.position_frame, self.aux_merge = position_frame, aux_merge

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> dict[str, Any]:
        indices = batch_rows(len(self.data), self.batch_size, self.seed, self.start + k)
        rows = [self.data[i] for i in indices]
        batch = collate(self.processor, rows, self.info, position_frame=self.position_frame)
        if self.aux_merge is not None:
            from agent.train.aux_grounding import token_targets

            batch["aux_targets"] = token_targets(rows, batch["image_grid_thw"].tolist(), self.aux_merge)
        return batch


def _batch_stream(batches: MicroBatches, workers: int, pin: bool) -> Any:
    """An iterator over ``batches``, prepared by ``workers`` processes (in order) when > 0."""
    if workers == 0 or len(batches) == 0:
        return (batches[k] for k in range(len(batches)))
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # forked workers each tokenize on one thread
    loader = torch.utils.data.DataLoader(
        batches,  # type: ignore[arg-type]
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4,
        pin_memory=pin,
        multiprocessing_context="fork",
    )
    return iter(loader)


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 matrix products (float32 weights and optimizer state) for a run's steps only: the flags
    are process-wide, and a caller's own float32 work after ``train()`` must not inherit them."""
    if not enabled:
        yield
        return
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# --------------------------------------------------------------------------- checkpoints


def _plain_state_dict(model: Any) -> tuple[Any, dict[str, Any] | None]:
    """(the transformers model, a state dict to save it with): LoRA folded in, adapter keys dropped."""
    if not hasattr(model, "merge_adapter"):
        return model, None
    model.merge_adapter()
    try:
        state = {}
        for key, value in model.get_base_model().state_dict().items():
            if "lora_" in key:
                continue
            state[key.replace(".base_layer.", ".")] = value.detach().clone()
    finally:
        model.unmerge_adapter()
    return model.get_base_model(), state


def save_model(model: Any, processor: Any, folder: Path, meta: ModelMeta | None = None) -> None:
    """An ordinary checkpoint folder (LoRA merged) that from_pretrained and the local backend load,
    plus pixelpilot.json: the dialect and prompt settings the policy must use to prompt it as trained."""
    plain, state = _plain_state_dict(model)
    folder.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(folder, state_dict=state)
    processor.save_pretrained(folder)
    if meta is not None:
        (folder / MODEL_META).write_text(meta.model_dump_json(indent=2))


def _replace_atomically(tmp: Path, final: Path) -> None:
    """tmp -> final, keeping a complete folder at ``final`` or ``final.old`` at every instant."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def checkpoint_path(out: Path) -> Path | None:
    """The current checkpoint (or the previous one, if a kill hit between the two renames)."""
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".old"):
        if (out / name / STATE_FILE).is_file():
            return out / name
    return None


def _save_checkpoint(
    out: Path, model: Any, processor: Any, optimizer: Any, scheduler: Any, state: dict, probe: Any = None
) -> None:
    import torch

    tmp = out / f".{CHECKPOINT_DIR}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if hasattr(model, "peft_config"):  # the adapter only: the base is rebuilt from the settings on resume
        model.save_pretrained(tmp, save_embedding_layers=False)
    else:
        model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, tmp / "rng.pt")
    if probe is not None:
        torch.save(probe.state_dict(), tmp / PROBE_FILE)
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=2))
    _replace_atomically(tmp, out / CHECKPOINT_DIR)


# --------------------------------------------------------------------------- metrics log


class MetricsLog:
    """OUT/train_log.jsonl: one JSON object per line, ``event`` train | eval | ablation."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOG_FILE

    def truncate_after(self, step: int) -> None:
        """Drop what a killed run logged after its last checkpoint (those steps are redone)."""
        if not self.path.exists():
            return
        kept = [line for line in self.read() if line.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(e) + "\n" for e in kept))

    def append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- image ablation


def _generate(
    model: Any, processor: Any, info: DatasetInfo, row: dict[str, Any], images: list[Any], position_frame: bool
) -> str:
    import torch

    inputs = encode_prompts(processor, [row], info, images=[images], position_frame=position_frame).to(model.device)
    answer, _ = answer_ids(processor, row["target"])
    tokenizer = processor.tokenizer
    end = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    with torch.inference_mode():
        output = model.generate(
            **inputs, max_new_tokens=min(256, len(answer) + 16), do_sample=False, eos_token_id=end, use_cache=True
        )
    new = output[0, inputs["input_ids"].shape[1] :].tolist()
    while new and new[-1] in end:
        new.pop()
    return tokenizer.decode(new, skip_special_tokens=False)


def _matches(text: str, row: dict[str, Any], info: DatasetInfo) -> bool:
    """Exact answer, or the same action (points within CLICK_TOLERANCE of the screen)."""
    if text.strip() == row["target"].strip():
        return True
    from agent.qwen.dialects import get_dialect
    from agent.qwen.resize import ResizeGeometry

    geometry = ResizeGeometry.for_image(
        int(row["width"]), int(row["height"]), min_pixels=info.min_pixels, max_pixels=info.max_pixels
    )
    env = row.get("env") or info.env
    try:
        parsed = get_dialect(info.dialect).parse(text, geometry, env)  # an unknown kind reads as a pointer
    except ValueError:  # ParseError: unusable output is simply wrong here
        return False
    got = parsed.action.model_dump()
    want = json.loads(row["action"])
    if got.get("action") != want.get("action"):
        return False
    points = list(parsed.action.points())
    if not points:
        return got == {k: v for k, v in want.items() if k in got}
    from tools import REGISTRY

    try:
        target_points = list(REGISTRY.validate(want).points())
    except ValueError:
        return False
    if len(points) != len(target_points):
        return False
    w, h = float(row["width"]), float(row["height"])
    return all(
        math.hypot((x - a) / w, (y - b) / h) <= CLICK_TOLERANCE
        for (x, y), (a, b) in zip(points, target_points, strict=True)
    )


def ablation_on_rows(
    model: Any, processor: Any, info: DatasetInfo, rows: list[dict[str, Any]], *, position_frame: bool = False
) -> dict[str, Any]:
    """Greedy-decoded action accuracy, and the answer's NLL (teacher-forced), with the real
    screenshots vs the same screenshots blanked.

    A model that scores the same either way has learned the answers' text, not to look: the check
    the default-model recipe needs before a checkpoint is worth benchmarking. The NLL gap
    (``image_gain_nats``: blanked minus real, summed over the answer's tokens) moves long before
    greedy accuracy does, so it shows whether a run has started to look at all.
    """
    was_training = model.training
    model.eval()
    hits = {"with_image": 0, "blanked": 0}
    nll = {"with_image": 0.0, "blanked": 0.0}
    try:
        for row in rows:
            images = row_images(row)
            blanked = [blank(i) for i in images]
            seen = _generate(model, processor, info, row, images, position_frame)
            hits["with_image"] += _matches(seen, row, info)
            blind = _generate(model, processor, info, row, blanked, position_frame)
            hits["blanked"] += _matches(blind, row, info)
            nll["with_image"] += _answer_nll(model, processor, info, row, images, position_frame)
            nll["blanked"] += _answer_nll(model, processor, info, row, blanked, position_frame)
    finally:
        model.train(was_training)
    n = max(1, len(rows))
    return {
        "with_image": hits["with_image"] / n,
        "blanked": hits["blanked"] / n,
        "image_gain_nats": round((nll["blanked"] - nll["with_image"]) / n, 4),
        "n": len(rows),
    }


def _answer_nll(
    model: Any, processor: Any, info: DatasetInfo, row: dict[str, Any], images: list[Any], position_frame: bool
) -> float:
    """Summed NLL of the row's answer tokens, teacher-forced, with ``images`` as the screenshots."""
    import torch

    batch = collate(processor, [row], info, images=[images], position_frame=position_frame)
    batch = to_device(batch, model.device, model.dtype)
    with torch.inference_mode():
        logits = model(**batch).logits[0, :-1].float()
    labels = batch["labels"][0, 1:]
    keep = labels != -100
    return float(torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum"))


def ablation_check(model_dir: Path | str, data_dir: Path | str, n: int = 32) -> dict[str, float]:
    """Image-ablation accuracy of a saved checkpoint on the first ``n`` rows of a (held-out) dataset.

    Returns ``{"with_image": acc, "blanked": acc, "n": rows}``.
    """
    import torch

    info = read_info(Path(data_dir))
    data, info = load_rows([Path(data_dir)], info.dialect)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model, processor = load_model(str(model_dir), dtype=dtype, device=device)
    rows = [data[i] for i in range(min(n, len(data)))]
    from agent.qwen.position_frame import model_uses_position_frame

    return ablation_on_rows(model, processor, info, rows, position_frame=model_uses_position_frame(model_dir))


# --------------------------------------------------------------------------- the run


def _trained_budget(data: Any, info: DatasetInfo) -> int:
    """The pixel budget the rows were seen at (agent/train/provenance.py), for pixelpilot.json."""
    table = data.table
    columns = [table.column(name).to_pylist() for name in ("width", "height", "resized_width", "resized_height")]
    return trained_pixel_budget(zip(*columns, strict=True), cap=info.max_pixels)


def _portable(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as a model folder may carry them anywhere: folders by name, not by this machine's path."""

    def name(value: Any) -> Any:
        if isinstance(value, list):
            return [name(v) for v in value]
        if isinstance(value, str) and Path(value).is_absolute():
            return Path(value).name
        return value

    return {key: name(value) for key, value in settings.items()}


def _prepare_out(config: TrainConfig) -> dict[str, Any] | None:
    """The trainer state to resume from, or None for a fresh run; refuses to overwrite a run."""
    out = config.out
    found = checkpoint_path(out) if out.exists() else None
    if config.resume:
        if found is None:
            raise TrainError(f"nothing to resume: {out} has no {CHECKPOINT_DIR}/{STATE_FILE}")
        state = json.loads((found / STATE_FILE).read_text())
        if state.get("lora") != config.lora:
            raise TrainError(f"{out} was trained with lora={state.get('lora')}; resume it with the same setting")
        return state
    if found is not None:
        raise TrainError(f"{out} already holds a training run; pass --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    return None


def train(
    config: TrainConfig,
    *,
    evaluate: EvalFn | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Run (or resume) a training run. Raises TrainError for inputs that cannot be trained on.

    ``on_step(step, loss)`` is called after every optimizer step and checkpoint (progress hooks,
    tests that interrupt a run); ``evaluate`` every ``eval_every`` steps and at the end.
    """
    try:
        check_base(config.base)
        data, info = load_rows(config.data, config.dialect)
    except (BaseModelError, DataError) as exc:
        raise TrainError(str(exc)) from None
    eval_rows: list[dict[str, Any]] = []
    if config.eval_data is not None:
        try:
            held_out, held_info = load_rows([config.eval_data], config.dialect)
        except DataError as exc:
            raise TrainError(str(exc)) from None
        if (held_info.min_pixels, held_info.max_pixels) != (info.min_pixels, info.max_pixels):
            raise TrainError(f"{config.eval_data} uses other pixel limits than the training data")
        eval_rows = [held_out[i] for i in range(min(config.ablation_n, len(held_out)))]
    resume_state = _prepare_out(config)
    from agent.qwen.position_frame import model_uses_position_frame

    position_frame = (
        config.position_frame
        if config.position_frame is not None
        else config.base in SCRATCH_BASES or model_uses_position_frame(config.base)
    )
    meta = ModelMeta.of(info, position_frame=position_frame, max_pixels=_trained_budget(data, info))

    import torch
    import transformers

    device, dtype = _resolve_device(config, torch)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    out = config.out
    log = MetricsLog(out)
    checkpoint = checkpoint_path(out)

    scratch = out / ".base"
    if resume_state is not None and not config.lora:
        assert checkpoint is not None
        model, processor = load_model(str(checkpoint), dtype=dtype, device=device)
    else:
        try:
            source = materialize_base(config.base, scratch, seed=config.seed)
            model, processor = load_model(source, dtype=dtype, device=device)
        except BaseModelError as exc:
            raise TrainError(str(exc)) from None
        finally:
            if scratch.exists():
                shutil.rmtree(scratch)
    if config.lora:
        model = add_lora(model, r=config.lora_r, alpha=config.lora_alpha)
        if resume_state is not None:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            assert checkpoint is not None
            set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))
    use_gc = config.gradient_checkpointing if config.gradient_checkpointing is not None else device.startswith("cuda")
    if use_gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if config.lora:
            model.enable_input_require_grads()
    workers = config.workers if config.workers is not None else (8 if device.startswith("cuda") else 0)
    model.config.use_cache = False
    model.train()
    aux = None
    if config.aux_grounding > 0:
        from agent.train.aux_grounding import AuxGrounding

        aux = AuxGrounding(model, processor, device)
        if resume_state is not None and checkpoint is not None and (checkpoint / PROBE_FILE).is_file():
            aux.probe.load_state_dict(torch.load(checkpoint / PROBE_FILE, weights_only=True))
    probe = aux.probe if aux is not None else None

    batch_size = config.batch_size or (8 if device == "cpu" else 2)
    per_epoch = math.ceil(len(data) / batch_size)
    total_micro = None if config.max_steps else config.epochs * per_epoch
    total_steps = config.max_steps or math.ceil(config.epochs * per_epoch / config.grad_accum)
    lr = _default_lr(config)
    params = [p for p in model.parameters() if p.requires_grad] + ([*probe.parameters()] if probe is not None else [])
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    warmup = round(config.warmup_ratio * total_steps)
    if config.schedule == "cosine":
        scheduler = transformers.get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
    elif config.schedule == "linear":
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    else:
        scheduler = transformers.get_constant_schedule_with_warmup(optimizer, warmup)

    state: dict[str, Any] = {"step": 0, "micro_batches": 0, "samples": 0, "elapsed_s": 0.0}
    if resume_state is not None:
        assert checkpoint is not None
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=False))
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=False))
        rng = torch.load(checkpoint / "rng.pt", weights_only=False)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        expected = {"rows": len(data), "batch_size": batch_size, "grad_accum": config.grad_accum, "seed": config.seed}
        changed = [f"{k} {resume_state.get(k)} -> {v}" for k, v in expected.items() if resume_state.get(k) != v]
        if changed:
            raise TrainError(f"cannot resume {out} in the same data order: {', '.join(changed)}")
        state = {k: resume_state[k] for k in state}
        log.truncate_after(state["step"])
        logger.info("resuming {} at step {} (micro-batch {})", out, state["step"], state["micro_batches"])

    total, trainable = count_parameters(model)
    settings = {
        **_portable(config.model_dump(mode="json")),
        "lr": lr,
        "batch_size": batch_size,
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
        "dtype": str(dtype).removeprefix("torch."),
        "gradient_checkpointing": use_gc,
        "workers": workers,
        "total_steps": total_steps,
        "rows": len(data),
        "dataset": info.model_dump(mode="json"),
        "parameters": total,
        "trainable_parameters": trainable,
        "position_frame": position_frame,
    }
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
    logger.info(
        "training {} ({} params, {} trainable) on {} rows, {} steps",
        config.base,
        total,
        trainable,
        len(data),
        total_steps,
    )

    def snapshot_state() -> dict[str, Any]:
        epoch, batch_in_epoch = divmod(state["micro_batches"], per_epoch)
        return {**state, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "total_steps": total_steps,
                "lora": config.lora, "seed": config.seed, "rows": len(data), "batch_size": batch_size,
                "grad_accum": config.grad_accum}  # fmt: skip

    evals: list[dict[str, Any]] = []

    def run_eval(step: int, model_dir: Path | None) -> None:
        if evaluate is None and not eval_rows:
            return
        entry: dict[str, Any] = {"event": "eval", "step": step}
        if evaluate is not None:
            folder = model_dir
            if folder is None:
                folder = out / ".eval-model"
                save_model(model, processor, folder, meta=meta)
            try:
                success = evaluate(folder, step)
            finally:
                if model_dir is None and folder.exists():
                    shutil.rmtree(folder)
            entry["success"] = success
            entry["overall"] = sum(success.values()) / len(success) if success else None
        if eval_rows:
            entry["ablation"] = ablation_on_rows(model, processor, info, eval_rows, position_frame=position_frame)
        log.append(entry)
        evals.append(entry)

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]} samples/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not config.progress,
    )
    last_loss: float | None = None
    remaining = (total_micro if total_micro is not None else total_steps * config.grad_accum) - state["micro_batches"]
    batches = MicroBatches(
        data, processor, info, batch_size=batch_size, seed=config.seed, start=state["micro_batches"],
        count=max(0, remaining), position_frame=position_frame, aux_merge=aux.merge if aux is not None else None,
    )  # fmt: skip
    stream = _batch_stream(batches, workers, pin=device.startswith("cuda"))
    with progress, tf32(device.startswith("cuda") and dtype == torch.float32):
        bar = progress.add_task("train", total=total_steps, completed=state["step"], loss="—", rate="—")
        while state["step"] < total_steps:
            if total_micro is not None and state["micro_batches"] >= total_micro:
                break
            t0 = time.perf_counter()
            step_lr = scheduler.get_last_lr()[0]
            optimizer.zero_grad(set_to_none=True)
            losses: list[float] = []
            aux_losses: list[float] = []
            samples = 0
            for _ in range(config.grad_accum):
                if total_micro is not None and state["micro_batches"] >= total_micro:
                    break
                batch = next(stream)
                aux_targets = batch.pop("aux_targets", None)
                samples += len(batch["input_ids"])
                batch = to_device(batch, device, dtype)
                loss = model(**batch).loss
                losses.append(float(loss.detach()))
                if aux is not None:
                    extra = aux.loss_on(aux_targets)
                    aux_losses.append(float(extra.detach()))
                    loss = loss + config.aux_grounding * extra
                (loss / config.grad_accum).backward()
                state["micro_batches"] += 1
            if len(losses) < config.grad_accum:  # the last, partial accumulation: rescale to a mean
                for p in params:
                    if p.grad is not None:
                        p.grad.mul_(config.grad_accum / len(losses))
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            state["step"] += 1
            state["samples"] += samples
            state["elapsed_s"] += dt
            last_loss = sum(losses) / len(losses)
            rate = samples / dt if dt > 0 else 0.0
            log.append(
                {
                    "event": "train",
                    "step": state["step"],
                    "epoch": round(state["micro_batches"] / per_epoch, 4),
                    "loss": last_loss,
                    **({"aux_loss": sum(aux_losses) / len(aux_losses)} if aux_losses else {}),
                    "lr": step_lr,
                    "samples_per_s": round(rate, 3),
                    "elapsed_s": round(state["elapsed_s"], 3),
                }
            )
            progress.update(bar, completed=state["step"], loss=f"{last_loss:.4f}", rate=f"{rate:.1f}")
            step = state["step"]
            finished = step >= total_steps or (total_micro is not None and state["micro_batches"] >= total_micro)
            if config.save_every and step % config.save_every == 0 and not finished:
                _save_checkpoint(out, model, processor, optimizer, scheduler, snapshot_state(), probe)
            if config.eval_every and step % config.eval_every == 0 and not finished:
                run_eval(step, None)
            if on_step is not None:
                on_step(step, last_loss)

    if aux is not None:
        aux.close()  # the probe is saved below; the final evaluation needs no tap on the vision tower
    _save_checkpoint(out, model, processor, optimizer, scheduler, snapshot_state(), probe)
    save_model(model, processor, out, meta=meta)
    run_eval(state["step"], out)
    from agent.train.report import write_train_report

    write_train_report(out)
    return TrainResult(
        out=out,
        steps=state["step"],
        samples=state["samples"],
        final_loss=last_loss,
        elapsed_s=round(state["elapsed_s"], 3),
        evals=evals,
    )
