"""Supervised fine-tuning of a Qwen2-VL-family model on a pixelpilot training set.

The run is shaped by what the output must be used for: OUT/ itself ends as an ordinary checkpoint
(model + processor + chat template, LoRA merged) that ``PolicySpec(kind="qwen", model=OUT)`` loads
into the local policy, and every example is tokenized as the local backend tokenizes the same
step (agent/train/rows.py). A run survives being killed: OUT/checkpoint/ holds one current
snapshot (agent/train/checkpoints.py), and ``resume=True`` continues from it with the same batches
in the same order (agent/train/data_order.py).

This module holds the run itself: its settings, and :class:`TrainingRun`, which sets a run up
(data, model, optimizer, resume) and then steps it. The metrics log, the checkpoints, the data
order and the image-ablation check each have their own module beside it. Evaluation on live tasks
lives outside agent/ (the CLI passes a callback), because agent/ must not import tasks/.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.train.base_model import (
    SCRATCH_BASES,
    BaseModelError,
    add_lora,
    base_resize_factor,
    check_base,
    check_resize_factor,
    count_parameters,
    load_model,
    materialize_base,
    processor_resize_factor,
)
from pixelpilot.agent.train.checkpoints import (
    CHECKPOINT_DIR,
    STATE_FILE,
    checkpoint_path,
    load_adapter,
    load_probe,
    read_state,
    restore_progress,
    save_checkpoint,
    save_model,
)
from pixelpilot.agent.train.data_order import MicroBatches, batch_stream
from pixelpilot.agent.train.format import DatasetInfo, ModelMeta
from pixelpilot.agent.train.image_ablation import ablation_on_rows
from pixelpilot.agent.train.metrics import MetricsLog, progress_bar
from pixelpilot.agent.train.provenance import trained_pixel_budget
from pixelpilot.agent.train.rows import DataError, load_rows, to_device

SETTINGS_FILE = "train_settings.json"

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


# --------------------------------------------------------------------------- device, options


def _resolve_device(config: TrainConfig, torch: Any) -> tuple[str, Any]:
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    names = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16"}
    names |= {"fp32": "float32", "float32": "float32"}
    if config.dtype is not None and config.dtype.lower() not in names:
        raise TrainError(f"unknown --dtype {config.dtype!r}; use bfloat16, float16 or float32")
    name = names[config.dtype.lower()] if config.dtype else ("bfloat16" if device.startswith("cuda") else "float32")
    return device, getattr(torch, name)


def _default_lr(config: TrainConfig) -> float:
    if config.lr is not None:
        return config.lr
    if config.base in SCRATCH_BASES:
        return 1e-3
    return 2e-4 if config.lora else 1e-5


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


# --------------------------------------------------------------------------- the run


def _trained_budget(data: Any, info: DatasetInfo) -> int:
    """The pixel budget the rows were seen at (agent/train/provenance.py), for pixelpilot.json."""
    table = data.table
    columns = [table.column(name).to_pylist() for name in ("width", "height", "resized_width", "resized_height")]
    return trained_pixel_budget(zip(*columns, strict=True), cap=info.max_pixels, factor=info.resize_factor)


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
        state = read_state(found)
        if state.get("lora") != config.lora:
            raise TrainError(f"{out} was trained with lora={state.get('lora')}; resume it with the same setting")
        return state
    if found is not None:
        raise TrainError(f"{out} already holds a training run; pass --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    return None


class TrainingRun:
    """One run, from its settings to OUT/ (model folder, checkpoint, log, settings, report).

    Building it checks what needs no torch (base, data, held-out data, OUT/) and raises TrainError
    before anything heavy is loaded; :meth:`run` loads the model, resumes when asked, and steps.
    ``on_step(step, loss)`` is called after every optimizer step and checkpoint (progress hooks,
    tests that interrupt a run); ``evaluate`` every ``eval_every`` steps and at the end.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        evaluate: EvalFn | None = None,
        on_step: Callable[[int, float], None] | None = None,
    ) -> None:
        self.config, self.evaluate, self.on_step = config, evaluate, on_step
        self.out = config.out
        try:
            check_base(config.base)
            self.data, self.info = load_rows(config.data, config.dialect)
            if (factor := base_resize_factor(config.base)) is not None:
                check_resize_factor(config.base, factor, self.info.resize_factor)
        except (BaseModelError, DataError) as exc:
            raise TrainError(str(exc)) from None
        self.eval_rows = self._held_out_rows()
        self.resume_state = _prepare_out(config)
        from pixelpilot.agent.qwen.position_frame import model_uses_position_frame

        self.position_frame = (
            config.position_frame
            if config.position_frame is not None
            else config.base in SCRATCH_BASES or model_uses_position_frame(config.base)
        )
        self.meta = ModelMeta.of(
            self.info, position_frame=self.position_frame, max_pixels=_trained_budget(self.data, self.info)
        )
        self.log = MetricsLog(self.out)
        self.evals: list[dict[str, Any]] = []
        self.last_loss: float | None = None
        self.state: dict[str, Any] = {"step": 0, "micro_batches": 0, "samples": 0, "elapsed_s": 0.0}

    def _held_out_rows(self) -> list[dict[str, Any]]:
        """The first ``ablation_n`` rows of ``eval_data`` (none without it), at the training set's pixel limits."""
        config = self.config
        if config.eval_data is None:
            return []
        try:
            held_out, held_info = load_rows([config.eval_data], config.dialect)
        except DataError as exc:
            raise TrainError(str(exc)) from None
        if (held_info.min_pixels, held_info.max_pixels) != (self.info.min_pixels, self.info.max_pixels):
            raise TrainError(f"{config.eval_data} uses other pixel limits than the training data")
        if held_info.resize_factor != self.info.resize_factor:
            raise TrainError(f"{config.eval_data} was resized with another factor than the training data")
        return [held_out[i] for i in range(min(config.ablation_n, len(held_out)))]

    # ----------------------------------------------------------------------- setting up

    def run(self) -> TrainResult:
        """Load, resume if asked, train to the end, and write the model folder, checkpoint and report."""
        import torch

        config = self.config
        self.device, self.dtype = _resolve_device(config, torch)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.checkpoint = checkpoint_path(self.out)
        self._load_model()
        self._build_optimizer()
        if self.resume_state is not None:
            self._resume()
        self._write_settings()
        self._train()
        return self._finish()

    def _load_model(self) -> None:
        """The model to train: the base (or, resuming a full fine-tune, the checkpoint), with LoRA,
        gradient checkpointing and the aux-grounding probe as the settings ask."""
        config, resuming = self.config, self.resume_state is not None
        scratch = self.out / ".base"
        if resuming and not config.lora:
            assert self.checkpoint is not None
            model, processor = load_model(str(self.checkpoint), dtype=self.dtype, device=self.device)
        else:
            try:
                source = materialize_base(config.base, scratch, seed=config.seed)
                model, processor = load_model(source, dtype=self.dtype, device=self.device)
                check_resize_factor(config.base, processor_resize_factor(processor), self.info.resize_factor)
            except BaseModelError as exc:
                raise TrainError(str(exc)) from None
            finally:
                if scratch.exists():
                    shutil.rmtree(scratch)
        if config.lora:
            model = add_lora(model, r=config.lora_r, alpha=config.lora_alpha)
            if resuming:
                assert self.checkpoint is not None
                load_adapter(model, self.checkpoint)
        cuda = self.device.startswith("cuda")
        self.use_gc = config.gradient_checkpointing if config.gradient_checkpointing is not None else cuda
        if self.use_gc:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if config.lora:
                model.enable_input_require_grads()
        self.workers = config.workers if config.workers is not None else (8 if cuda else 0)
        model.config.use_cache = False
        model.train()
        self.model, self.processor = model, processor
        self.aux = None
        if config.aux_grounding > 0:
            from pixelpilot.agent.train.aux_grounding import AuxGrounding

            self.aux = AuxGrounding(model, processor, self.device)
            if resuming and self.checkpoint is not None:
                load_probe(self.aux.probe, self.checkpoint)
        self.probe = self.aux.probe if self.aux is not None else None

    def _build_optimizer(self) -> None:
        """Batch size, step counts, AdamW over the trainable parameters (and the probe), the schedule."""
        import torch
        import transformers

        config = self.config
        self.batch_size = config.batch_size or (8 if self.device == "cpu" else 2)
        self.per_epoch = math.ceil(len(self.data) / self.batch_size)
        self.total_micro = None if config.max_steps else config.epochs * self.per_epoch
        self.total_steps = config.max_steps or math.ceil(config.epochs * self.per_epoch / config.grad_accum)
        self.lr = _default_lr(config)
        probe = [*self.probe.parameters()] if self.probe is not None else []
        self.params = [p for p in self.model.parameters() if p.requires_grad] + probe
        self.optimizer = torch.optim.AdamW(self.params, lr=self.lr, weight_decay=config.weight_decay)
        warmup = round(config.warmup_ratio * self.total_steps)
        if config.schedule == "cosine":
            self.scheduler = transformers.get_cosine_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        elif config.schedule == "linear":
            self.scheduler = transformers.get_linear_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        else:
            self.scheduler = transformers.get_constant_schedule_with_warmup(self.optimizer, warmup)

    def _resume(self) -> None:
        """Optimizer, scheduler, RNG and position from the checkpoint; refuses a changed data order."""
        assert self.checkpoint is not None and self.resume_state is not None
        config, resume_state = self.config, self.resume_state
        restore_progress(self.checkpoint, self.optimizer, self.scheduler)
        expected = {"rows": len(self.data), "batch_size": self.batch_size, "grad_accum": config.grad_accum,
                    "seed": config.seed}  # fmt: skip
        changed = [f"{k} {resume_state.get(k)} -> {v}" for k, v in expected.items() if resume_state.get(k) != v]
        if changed:
            raise TrainError(f"cannot resume {self.out} in the same data order: {', '.join(changed)}")
        self.state = {k: resume_state[k] for k in self.state}
        self.log.truncate_after(self.state["step"])
        step, micro = self.state["step"], self.state["micro_batches"]
        logger.info("resuming {} at step {} (micro-batch {})", self.out, step, micro)

    def _write_settings(self) -> None:
        """OUT/train_settings.json: the config as a model folder may carry it, and what was resolved."""
        import torch

        total, trainable = count_parameters(self.model)
        settings = {
            **_portable(self.config.model_dump(mode="json")),
            "lr": self.lr,
            "batch_size": self.batch_size,
            "device": self.device,
            "device_name": torch.cuda.get_device_name(self.device) if self.device.startswith("cuda") else None,
            "dtype": str(self.dtype).removeprefix("torch."),
            "gradient_checkpointing": self.use_gc,
            "workers": self.workers,
            "total_steps": self.total_steps,
            "rows": len(self.data),
            "dataset": self.info.model_dump(mode="json"),
            "parameters": total,
            "trainable_parameters": trainable,
            "position_frame": self.position_frame,
        }
        (self.out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
        logger.info(
            "training {} ({} params, {} trainable) on {} rows, {} steps",
            self.config.base,
            total,
            trainable,
            len(self.data),
            self.total_steps,
        )

    # ----------------------------------------------------------------------- stepping

    def _done(self) -> bool:
        """Every step taken, or (epochs, no max_steps) every micro-batch of the last epoch consumed."""
        out_of_batches = self.total_micro is not None and self.state["micro_batches"] >= self.total_micro
        return self.state["step"] >= self.total_steps or out_of_batches

    def _train(self) -> None:
        import torch

        config, state = self.config, self.state
        cuda = self.device.startswith("cuda")
        total_micro = self.total_micro if self.total_micro is not None else self.total_steps * config.grad_accum
        batches = MicroBatches(
            self.data, self.processor, self.info, batch_size=self.batch_size, seed=config.seed,
            start=state["micro_batches"], count=max(0, total_micro - state["micro_batches"]),
            position_frame=self.position_frame, aux_merge=self.aux.merge if self.aux is not None else None,
        )  # fmt: skip
        stream = batch_stream(batches, self.workers, pin=cuda)
        progress = progress_bar(config.progress)
        with progress, tf32(cuda and self.dtype == torch.float32):
            bar = progress.add_task("train", total=self.total_steps, completed=state["step"], loss="—", rate="—")
            while not self._done():
                rate = self._step(stream)
                progress.update(bar, completed=state["step"], loss=f"{self.last_loss:.4f}", rate=f"{rate:.1f}")
                step, finished = state["step"], self._done()
                if config.save_every and step % config.save_every == 0 and not finished:
                    self._save_checkpoint()
                if config.eval_every and step % config.eval_every == 0 and not finished:
                    self._evaluate(step, None)
                if self.on_step is not None:
                    assert self.last_loss is not None
                    self.on_step(step, self.last_loss)

    def _step(self, stream: Iterator[dict[str, Any]]) -> float:
        """One optimizer step over ``grad_accum`` micro-batches (fewer at the very end), logged;
        returns its samples per second."""
        import torch

        config, state = self.config, self.state
        t0 = time.perf_counter()
        step_lr = self.scheduler.get_last_lr()[0]
        self.optimizer.zero_grad(set_to_none=True)
        losses: list[float] = []
        aux_losses: list[float] = []
        samples = 0
        for _ in range(config.grad_accum):
            if self.total_micro is not None and state["micro_batches"] >= self.total_micro:
                break
            batch = next(stream)
            aux_targets = batch.pop("aux_targets", None)
            samples += len(batch["input_ids"])
            batch = to_device(batch, self.device, self.dtype)
            loss = self.model(**batch).loss
            losses.append(float(loss.detach()))
            if self.aux is not None:
                extra = self.aux.loss_on(aux_targets)
                aux_losses.append(float(extra.detach()))
                loss = loss + config.aux_grounding * extra
            (loss / config.grad_accum).backward()
            state["micro_batches"] += 1
        if len(losses) < config.grad_accum:  # the last, partial accumulation: rescale to a mean
            for p in self.params:
                if p.grad is not None:
                    p.grad.mul_(config.grad_accum / len(losses))
        torch.nn.utils.clip_grad_norm_(self.params, config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        state["step"] += 1
        state["samples"] += samples
        state["elapsed_s"] += dt
        self.last_loss = sum(losses) / len(losses)
        rate = samples / dt if dt > 0 else 0.0
        self.log.append(
            {
                "event": "train",
                "step": state["step"],
                "epoch": round(state["micro_batches"] / self.per_epoch, 4),
                "loss": self.last_loss,
                **({"aux_loss": sum(aux_losses) / len(aux_losses)} if aux_losses else {}),
                "lr": step_lr,
                "samples_per_s": round(rate, 3),
                "elapsed_s": round(state["elapsed_s"], 3),
            }
        )
        return rate

    def _save_checkpoint(self) -> None:
        config, state = self.config, self.state
        epoch, batch_in_epoch = divmod(state["micro_batches"], self.per_epoch)
        snapshot = {**state, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "total_steps": self.total_steps,
                    "lora": config.lora, "seed": config.seed, "rows": len(self.data), "batch_size": self.batch_size,
                    "grad_accum": config.grad_accum}  # fmt: skip
        save_checkpoint(self.out, self.model, self.processor, self.optimizer, self.scheduler, snapshot, self.probe)

    def _evaluate(self, step: int, model_dir: Path | None) -> None:
        """The CLI's live evaluation (on ``model_dir``, or a model folder saved for it) and the image
        ablation on the held-out rows; one ``eval`` line in the log."""
        if self.evaluate is None and not self.eval_rows:
            return
        entry: dict[str, Any] = {"event": "eval", "step": step}
        if self.evaluate is not None:
            folder = model_dir
            if folder is None:
                folder = self.out / ".eval-model"
                save_model(self.model, self.processor, folder, meta=self.meta)
            try:
                success = self.evaluate(folder, step)
            finally:
                if model_dir is None and folder.exists():
                    shutil.rmtree(folder)
            entry["success"] = success
            entry["overall"] = sum(success.values()) / len(success) if success else None
        if self.eval_rows:
            entry["ablation"] = ablation_on_rows(
                self.model, self.processor, self.info, self.eval_rows, position_frame=self.position_frame
            )
        self.log.append(entry)
        self.evals.append(entry)

    def _finish(self) -> TrainResult:
        """The last checkpoint, the model folder, the final evaluation and the report."""
        if self.aux is not None:
            self.aux.close()  # the probe is saved below; the final evaluation needs no tap on the vision tower
        self._save_checkpoint()
        save_model(self.model, self.processor, self.out, meta=self.meta)
        self._evaluate(self.state["step"], self.out)
        from pixelpilot.agent.train.report import write_train_report

        write_train_report(self.out)
        return TrainResult(
            out=self.out,
            steps=self.state["step"],
            samples=self.state["samples"],
            final_loss=self.last_loss,
            elapsed_s=round(self.state["elapsed_s"], 3),
            evals=self.evals,
        )


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
    return TrainingRun(config, evaluate=evaluate, on_step=on_step).run()
