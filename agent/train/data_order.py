"""The order a run sees its rows in, and the batches prepared from it ahead of the model.

Every micro-batch is a pure function of (rows, batch size, seed, index): a seeded shuffle per
epoch. That is what lets a resumed run skip exactly the batches it already consumed, and what
lets worker processes prepare batches out of the main process and still hand over the batches a
``workers=0`` run would see.
"""

from __future__ import annotations

import math
import os
from typing import Any

from pixelpilot.agent.train.format import DatasetInfo
from pixelpilot.agent.train.rows import collate


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
            from pixelpilot.agent.train.aux_grounding import token_targets

            batch["aux_targets"] = token_targets(rows, batch["image_grid_thw"].tolist(), self.aux_merge)
        return batch


def batch_stream(batches: MicroBatches, workers: int, pin: bool) -> Any:
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
