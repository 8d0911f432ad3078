"""Rows of a training set -> model inputs, tokenized exactly as the local backend tokenizes a request.

The prompt half of every example goes through the same two calls as
:meth:`agent.qwen.backends.local.LocalBackend.generate` (``apply_chat_template(...,
add_generation_prompt=True)`` then ``processor(text, images, size=...)`` with the dataset's
min/max pixels), so the ids the model learns from are the ids it will be asked with. The answer
half (target + ``<|im_end|>`` + the template's newline) is tokenized on its own and appended: the
label mask is then exact by construction (-100 for the prompt, the newline and padding), with no
guessing where a prompt ends inside a merged tokenization.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageStat

from pixelpilot.agent.train.format import INFO_FILE, DatasetInfo, data_files, read_info

#: Ignored by the loss (transformers' cross-entropy ``ignore_index``).
IGNORE_INDEX = -100
#: How an assistant turn ends in the Qwen2-VL chat template; the newline is not learned.
END_OF_TURN = "<|im_end|>"
AFTER_TURN = "\n"


class DataError(ValueError):
    """A dataset folder that cannot be trained on (missing, empty, another dialect). One line."""


class ParquetRows(Sequence[dict[str, Any]]):
    """The rows of a training set's parquet files, read with pyarrow: memory-mapped, one row
    decoded per access (images stay encoded bytes until ``row_images``).

    Not ``datasets.Dataset.from_parquet``: that copies every file into an Arrow cache under
    ~/.cache first (minutes and gigabytes for a large set, again for every new set), and pulls in
    a dependency a machine that only trains does not otherwise need.
    """

    def __init__(self, tables: Sequence[Any]) -> None:
        import pyarrow as pa

        self.table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")

    @classmethod
    def read(cls, files: Sequence[Path]) -> ParquetRows:
        import pyarrow.parquet as pq

        return cls([pq.read_table(str(f), memory_map=True) for f in files])

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.table.slice(index % len(self), 1).to_pylist()[0]


def load_rows(folders: Sequence[Path], dialect: str) -> tuple[ParquetRows, DatasetInfo]:
    """All rows of ``folders`` as one sequence (a folder named twice is sampled twice as often),
    and the first folder's DatasetInfo with every folder's sources.

    Every folder must have been built for ``dialect`` and with the same pixel limits: the prompt
    (system text, coordinate space) and the image size both depend on them.
    """
    if not folders:
        raise DataError("no training data: pass --data DIR (a folder written by `pixelpilot dataset build`)")
    parts: list[ParquetRows] = []
    infos: list[DatasetInfo] = []
    first: DatasetInfo | None = None
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"{folder}: no such dataset folder")
        if not (folder / INFO_FILE).is_file():
            raise DataError(f"{folder}: not a training set (no {INFO_FILE}); build one with `pixelpilot dataset build`")
        try:
            info = read_info(folder)
        except ValueError as exc:
            raise DataError(f"{folder}/{INFO_FILE}: unreadable ({' '.join(str(exc).split())[:200]})") from None
        if info.dialect != dialect:
            raise DataError(f"{folder} was built for dialect {info.dialect!r}, not --dialect {dialect!r}")
        if first is not None and info.resize_factor != first.resize_factor:
            raise DataError(
                f"{folder} was resized with factor {info.resize_factor}, but {folders[0]} with "
                f"{first.resize_factor}; train on sets built for the same model family"
            )
        if first is not None and (info.min_pixels, info.max_pixels) != (first.min_pixels, first.max_pixels):
            raise DataError(
                f"{folder} uses pixels {info.min_pixels}..{info.max_pixels}, but {folders[0]} uses "
                f"{first.min_pixels}..{first.max_pixels}; train on sets built with the same limits"
            )
        first = first or info
        infos.append(info)
        files = data_files(folder)
        if not files:
            raise DataError(f"{folder}: no rows (data/*.parquet is missing)")
        try:
            rows = ParquetRows.read(files)
        except (OSError, ValueError) as exc:  # pyarrow.lib.ArrowInvalid is a ValueError
            raise DataError(f"{folder}: unreadable parquet ({' '.join(str(exc).split())[:200]})") from None
        if len(rows) == 0:
            raise DataError(f"{folder}: no rows (the parquet files are empty)")
        parts.append(rows)
    assert first is not None
    sources = list(dict.fromkeys(src for info in infos for src in info.sources))
    return ParquetRows([part.table for part in parts]), first.model_copy(update={"sources": sources})


def row_images(row: dict[str, Any]) -> list[Image.Image]:
    """The row's screenshots as RGB PIL images (a datasets Image decodes to PIL; raw dicts are bytes)."""
    images = []
    for item in row.get("images") or []:
        if isinstance(item, dict):
            item = Image.open(io.BytesIO(item["bytes"])) if item.get("bytes") else Image.open(item["path"])
        images.append(item.convert("RGB") if item.mode != "RGB" else item)
    return images


def blank(image: Image.Image) -> Image.Image:
    """The same-size image with every pixel set to its mean colour (the image-ablation input)."""
    mean = tuple(round(c) for c in ImageStat.Stat(image.convert("RGB")).mean)
    return Image.new("RGB", image.size, mean)  # type: ignore[arg-type]


def prompt_text(processor: Any, row: dict[str, Any]) -> str:
    """The prompt exactly as the local backend renders it for this step."""
    return processor.apply_chat_template(json.loads(row["messages"]), tokenize=False, add_generation_prompt=True)


def pixel_size(info: DatasetInfo) -> dict[str, int]:
    return {"shortest_edge": info.min_pixels, "longest_edge": info.max_pixels}


def encode_prompts(
    processor: Any,
    rows: Sequence[dict[str, Any]],
    info: DatasetInfo,
    *,
    images: list[list[Image.Image]] | None = None,
    position_frame: bool = False,
) -> Any:
    """One processor call over the rows' prompts and all their images (the backend's call, batched).

    ``position_frame``: replace the repeated image frame by patch coordinates, as the local backend
    does for models whose pixelpilot.json asks for it (agent/qwen/position_frame.py).
    """
    texts = [prompt_text(processor, row) for row in rows]
    per_row = images if images is not None else [row_images(row) for row in rows]
    flat = [im for ims in per_row for im in ims]
    inputs = processor(text=texts, images=flat or None, size=pixel_size(info), padding=True, return_tensors="pt")
    if position_frame:
        from pixelpilot.agent.qwen.position_frame import apply_to_inputs

        apply_to_inputs(inputs, processor)
    return inputs


def answer_ids(processor: Any, target: str) -> tuple[list[int], int]:
    """Token ids of ``target + <|im_end|> + newline`` and how many of them are learned (all but the newline)."""
    tokenizer = processor.tokenizer
    learned = tokenizer(target + END_OF_TURN, add_special_tokens=False)["input_ids"]
    tail = tokenizer(AFTER_TURN, add_special_tokens=False)["input_ids"]
    return [*learned, *tail], len(learned)


def collate(
    processor: Any,
    rows: Sequence[dict[str, Any]],
    info: DatasetInfo,
    *,
    images: list[list[Image.Image]] | None = None,
    position_frame: bool = False,
) -> dict[str, Any]:
    """A training batch: prompts (as the backend builds them) + answers, right-padded, answer-only labels.

    ``images``: per row, screenshots to use instead of the row's own (the image-ablation check).
    """
    import torch

    prompts = encode_prompts(processor, rows, info, images=images, position_frame=position_frame)
    pad_id = processor.tokenizer.pad_token_id
    sequences: list[list[int]] = []
    labels: list[list[int]] = []
    token_types: list[list[int]] = []
    has_types = "mm_token_type_ids" in prompts
    for i, row in enumerate(rows):
        keep = prompts["attention_mask"][i].bool()
        prompt = prompts["input_ids"][i][keep].tolist()
        answer, learned = answer_ids(processor, row["target"])
        sequences.append(prompt + answer)
        labels.append([IGNORE_INDEX] * len(prompt) + answer[:learned] + [IGNORE_INDEX] * (len(answer) - learned))
        if has_types:
            token_types.append(prompts["mm_token_type_ids"][i][keep].tolist() + [0] * len(answer))
    width = max(len(s) for s in sequences)
    batch: dict[str, Any] = {
        "input_ids": torch.tensor([s + [pad_id] * (width - len(s)) for s in sequences], dtype=torch.long),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], dtype=torch.long),
        "labels": torch.tensor([x + [IGNORE_INDEX] * (width - len(x)) for x in labels], dtype=torch.long),
    }
    if has_types:
        batch["mm_token_type_ids"] = torch.tensor([t + [0] * (width - len(t)) for t in token_types], dtype=torch.int)
    for key in ("pixel_values", "image_grid_thw"):
        if key in prompts:
            batch[key] = prompts[key]
    return batch


def to_device(batch: dict[str, Any], device: Any, dtype: Any) -> dict[str, Any]:
    """The batch on ``device``, with the pixel values (the only float input) in the model's ``dtype``."""
    moved = {k: v.to(device) for k, v in batch.items()}
    if "pixel_values" in moved:
        moved["pixel_values"] = moved["pixel_values"].to(dtype)
    return moved
