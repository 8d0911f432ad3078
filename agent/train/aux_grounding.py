"""An auxiliary grounding loss on the visual tokens, for models trained from scratch.

A fresh model's answer tokens attend almost uniformly over the prompt, so what reaches them from
the screenshot is the *mean* of the visual tokens. The coordinates of a target can only pass
through that mean if a token's features carry "the target is here" times "here is (x, y)"; the
language-model loss alone grows such features too slowly on a CPU budget (docs/TRAINING.md:
no image use after thousands of samples). This loss trains them directly: a linear probe on the
vision tower's output predicts, per merged token, whether the step's click point lies in it and,
for that token, the point's normalised (x, y). The probe is training machinery only: it is
saved with the checkpoint (to resume) and never with the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pixelpilot.tools import tool_named


def target_point(action: dict[str, Any]) -> tuple[float, float] | None:
    """The point a tap-family action acts on (its one point is the element it targets), else None:
    a scroll's point says where, not what, and type, key and the rest have none."""
    tool = tool_named(action.get("action"))
    if tool is None or tool.family != "tap" or len(tool.point_fields) != 1:
        return None
    fx, fy = tool.point_fields[0]
    if fx not in action or fy not in action:
        return None
    return float(action[fx]), float(action[fy])


def token_targets(rows: Sequence[dict[str, Any]], grids: Sequence[Sequence[int]], merge: int) -> Any:
    """Per merged visual token of every row's *first* image: (is_target, x, y) with x, y in -1..1.

    Rows without a point action, and every image after a row's first (history screenshots), get
    all-zero targets. ``grids`` is image_grid_thw, one entry per image in the batch's order.
    """
    import torch

    wanted = sum(len(row.get("images") or []) for row in rows)
    if wanted != len(grids):
        raise ValueError(f"the rows hold {wanted} images but image_grid_thw lists {len(grids)}")
    per_image: list[Any] = []
    image = 0
    for row in rows:
        n_images = len(row.get("images") or [])
        action = json.loads(row["action"]) if row.get("action") else {}
        for k in range(n_images):
            t, gh, gw = (int(v) for v in grids[image])
            th, tw = gh // merge, gw // merge
            target = torch.zeros(t, th, tw, 3)
            point = target_point(action) if k == 0 else None
            if point is not None:
                x = point[0] / float(row["width"])
                y = point[1] / float(row["height"])
                col = min(tw - 1, max(0, int(x * tw)))
                line = min(th - 1, max(0, int(y * th)))
                target[:, line, col] = torch.tensor([1.0, 2 * x - 1, 2 * y - 1])
            per_image.append(target.reshape(-1, 3))
            image += 1
    return torch.cat(per_image) if per_image else torch.zeros(0, 3)


class VisualTap:
    """Keeps the vision tower's last output (the merged tokens the language model receives)."""

    def __init__(self, model: Any) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.merger = base.model.visual.merger
        self.output: Any = None
        self._handle = self.merger.register_forward_hook(self._keep)

    def _keep(self, module: Any, args: Any, output: Any) -> None:
        self.output = output[0] if isinstance(output, tuple) else output

    def close(self) -> None:
        self._handle.remove()


def make_probe(model: Any) -> Any:
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.model.visual.merger.mlp[-1].out_features
    probe = torch.nn.Linear(hidden, 3)
    torch.nn.init.zeros_(probe.weight)
    torch.nn.init.zeros_(probe.bias)
    return probe


class AuxGrounding:
    """The tap on the vision tower, its probe and the processor's merge size: one batch's aux loss
    after the model's forward pass (the trainer's step and the throughput benchmark share it)."""

    def __init__(self, model: Any, processor: Any, device: str = "cpu") -> None:
        self.tap = VisualTap(model)
        self.probe = make_probe(model).to(device)
        self.merge = int(processor.image_processor.merge_size)

    def loss(self, rows: Sequence[dict[str, Any]], image_grid_thw: Any) -> Any:
        return self.loss_on(token_targets(rows, image_grid_thw.tolist(), self.merge))

    def loss_on(self, targets: Any) -> Any:
        """The loss for targets ``token_targets`` made (in a data worker, say) for the last forward pass."""
        return aux_loss(self.probe, self.tap.output, targets.to(self.probe.weight.device))

    def close(self) -> None:
        self.tap.close()


def aux_loss(probe: Any, features: Any, targets: Any) -> Any:
    """Binary cross-entropy on "target here" (positives weighted up to balance them) + squared
    error of the here-weighted point on every token."""
    import torch

    out = probe(features.float())
    here = targets[:, 0]
    positives = here.sum().clamp(min=1.0)
    weight = torch.where(here > 0, (here.numel() - positives) / positives, torch.ones_like(here))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], here, weight=weight)
    point = ((out[:, 1:] - targets[:, 1:]) ** 2).sum(dim=1).mean()
    return bce + point
