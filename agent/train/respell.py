"""Respelled copies of typing rows: teach a small model to copy the instruction's text, not remember it.

A task such as "Enter "Renda" into the text field" is won only if the model types exactly the string the
instruction names. Each demonstration shows one string once, so a small model learns the *kind* of string
each task wants (a capitalised name, two letters) and writes a plausible one from memory: asked for
"Renda" it typed "Kenda". Copying is a skill of its own that needs many different strings to learn.

This module makes that practice cheap: for every row whose target types a text the instruction also
names, it writes ``copies`` new rows in which that text is replaced by a random one of the same shape
(each letter by a random letter of the same case, each digit by a random digit; anything else, such as
spaces, punctuation or CJK characters, kept). The replacement is made consistently wherever the string
stands in the row: the instruction (in whatever case it is written there, so enter-text-2's "type it in
upper case" keeps working), the history's earlier actions, the target and the recorded actions. The
screenshots are left as they are; the string the model must copy is the one in its prompt.

Rows are only written when the respelled target still decodes, through the dialect, to the respelled
action (agent.train.dataset.decode_check), so a copy can never teach an answer the policy would not act on.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.agent.train.dataset import decode_check, write_rows
from pixelpilot.agent.train.format import DatasetInfo, card, data_files, read_info
from pixelpilot.agent.train.rows import ParquetRows
from pixelpilot.tools import REGISTRY

#: How the copies' ids differ from their source row's: "<source id>~respelled<k>".
ID_SUFFIX = "~respelled"


class RespellError(ValueError):
    """A source set that cannot be respelled (missing, or no row types a text its instruction names)."""


def _respellable(ch: str) -> bool:
    """An ASCII letter or digit: what a respelling replaces (anything else is kept)."""
    return ch.isascii() and ch.isalnum()


def shape_preserving(text: str, rng: random.Random) -> dict[int, str]:
    """A new character for every ASCII letter or digit of ``text``, by position: letters as lower case
    (each occurrence applies its own case), digits as digits. Other positions are absent (kept)."""
    return {
        i: rng.choice(string.digits if ch.isdigit() else string.ascii_lowercase)
        for i, ch in enumerate(text)
        if _respellable(ch)
    }


def apply_shape(occurrence: str, new: dict[int, str]) -> str:
    """``occurrence`` (the text in one of its cases) with the positions of ``new`` replaced, case kept."""
    out = []
    for i, ch in enumerate(occurrence):
        repl = new.get(i)
        if repl is None:
            out.append(ch)
        elif ch.isdigit():
            out.append(repl)
        else:
            out.append(repl.upper() if ch.isupper() else repl)
    return "".join(out)


#: Quote marks around a string in an instruction or in an encoded action (straight and typographic).
QUOTES = "\"'\u201c\u201d\u2018\u2019"


def _pattern(text: str, quoted: bool = False) -> re.Pattern[str]:
    """``text`` standing on its own (not inside a longer word or number), in any case; with ``quoted``, only
    where a quote mark stands right before and after it."""
    if quoted:
        return re.compile(rf"(?<=[{QUOTES}]){re.escape(text)}(?=[{QUOTES}])", re.IGNORECASE)
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])", re.IGNORECASE)


def instruction_of(messages: list[dict[str, Any]]) -> str:
    """The user turn's text parts joined (the instruction, the history, the closing request)."""
    return "\n".join(
        part["text"] for m in messages if m["role"] == "user" for part in m["content"] if part["type"] == "text"
    )


def respell_row(row: dict[str, Any], text: str, new: dict[int, str]) -> dict[str, Any]:
    """A copy of ``row`` with ``text`` respelled by ``new`` in any case: in the prompt wherever it stands on
    its own, or, when the instruction quotes it, only where it is quoted (so that typing "in" leaves the
    word "in" of the instruction alone; the history's actions quote it too); in the target wherever it
    stands on its own (the target is one action)."""
    messages = json.loads(row["messages"])
    prompt = _pattern(text, quoted=bool(_pattern(text, quoted=True).search(instruction_of(messages))))
    standalone = _pattern(text)

    def swap(s: str, pattern: re.Pattern[str] = standalone) -> str:
        return pattern.sub(lambda m: apply_shape(m.group(0), new), s)

    for message in messages:
        for part in message["content"]:
            if part["type"] == "text":
                part["text"] = swap(part["text"], prompt)
    copy = dict(row)
    copy["messages"] = json.dumps(messages, ensure_ascii=False)
    copy["target"] = swap(row["target"])
    for key in ("action", "executed"):
        action = json.loads(row[key])
        if isinstance(action.get("text"), str):
            action["text"] = swap(action["text"])
        copy[key] = json.dumps(action, ensure_ascii=False)
    return copy


def typed_text(row: dict[str, Any]) -> str | None:
    """The text the row's executed action types, when its instruction names it (any case) and it has a
    letter or digit to respell; else None."""
    executed = json.loads(row["executed"])
    text = executed.get("text") if executed.get("action") == "type" else None
    if not text or not any(map(_respellable, text)):
        return None
    first_user_text = instruction_of(json.loads(row["messages"])).split("\n", 1)[0]
    return text if _pattern(text).search(first_user_text) else None


def respell_dataset(source: Path, out: Path, *, copies: int, seed: int = 0, shard_rows: int = 2000) -> DatasetInfo:
    """Write OUT: ``copies`` respelled copies of every row of SOURCE that types a text its instruction names.

    Returns OUT's DatasetInfo (SOURCE's prompt settings; ``sources`` names SOURCE's own sources)."""
    import datasets

    datasets.disable_progress_bars()
    if copies < 1:
        raise RespellError(f"copies must be at least 1 (got {copies})")
    if not (source / "dataset.json").exists():
        raise RespellError(f"{source}: not a training set (no dataset.json)")
    info = read_info(source)
    dialect = get_dialect(info.dialect)
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for row in _rows(source):
        text = typed_text(row)
        if text is None:
            continue
        geometry = ResizeGeometry(
            width=row["width"],
            height=row["height"],
            resized_width=row["resized_width"],
            resized_height=row["resized_height"],
            min_pixels=info.min_pixels,
            max_pixels=info.max_pixels,
            factor=info.resize_factor,
        )
        for k in range(copies):
            copy = respell_row(row, text, shape_preserving(text, rng))
            copy["id"] = f"{row['id']}{ID_SUFFIX}{k}"
            executed = REGISTRY.validate(json.loads(copy["executed"]))
            try:
                decode_check(dialect, copy["target"], geometry, row["env"], executed)
            except ValueError:
                skipped["respelled target does not decode to the respelled action"] += 1
                continue
            rows.append(copy)
    if not rows:
        raise RespellError(f"{source}: no row types a text that its instruction names")
    out.mkdir(parents=True, exist_ok=True)
    write_rows(out, rows, shard_rows)
    new = info.model_copy(
        update={
            "rows": len(rows),
            "episodes": len({r["episode"] for r in rows}),
            "tasks": dict(Counter(r["task"] for r in rows)),
            "skipped": dict(skipped),
        }
    )
    (out / "dataset.json").write_text(new.model_dump_json(indent=2))
    (out / "README.md").write_text(
        card(new) + f"\nRespelled copies ({copies} per typing row, seed {seed}) of `{source}` "
        "(agent/train/respell.py).\n"
    )
    return new


def _rows(source: Path) -> ParquetRows:
    files = data_files(source)
    if not files:
        raise RespellError(f"{source}: no data/*.parquet")
    return ParquetRows.read(files)
