"""What a run leaves on disk to be used or resumed: the model folder and the checkpoint.

OUT/ itself ends as an ordinary checkpoint (model + processor + chat template, LoRA merged, plus
pixelpilot.json) that ``PolicySpec(kind="qwen", model=OUT)`` loads. OUT/checkpoint/ holds one
current snapshot to resume from (weights or LoRA adapter, optimizer, scheduler, RNG, the aux probe
and the trainer state with the position in the data order), replaced atomically so that a kill at
any instant leaves a complete one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from pixelpilot.agent.train.format import MODEL_META, ModelMeta

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "trainer_state.json"
PROBE_FILE = "aux_probe.pt"


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


def save_checkpoint(
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


def read_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state a checkpoint was saved with (step, position in the data order, settings)."""
    return json.loads((checkpoint / STATE_FILE).read_text())


def load_adapter(model: Any, checkpoint: Path) -> None:
    """Put a checkpoint's LoRA adapter weights into ``model`` (whose base was rebuilt from the settings)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))


def load_probe(probe: Any, checkpoint: Path) -> None:
    """The aux-grounding probe's weights, when the checkpoint has them (a run may add the loss later)."""
    import torch

    if (checkpoint / PROBE_FILE).is_file():
        probe.load_state_dict(torch.load(checkpoint / PROBE_FILE, weights_only=True))


def restore_progress(checkpoint: Path, optimizer: Any, scheduler: Any) -> None:
    """Optimizer, scheduler and random-number states as they were at the checkpoint."""
    import torch

    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=False))
    rng = torch.load(checkpoint / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
