"""Respelled copies of typing rows (agent/train/respell.py): the typed string is replaced consistently
everywhere it stands, in its shape and case, and only where the instruction names it."""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from pixelpilot.agent.qwen.dialects import DIALECTS, get_dialect
from pixelpilot.agent.qwen.prompt import PromptConfig
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.agent.train.dataset import write_info, write_rows
from pixelpilot.agent.train.format import data_files, read_info
from pixelpilot.agent.train.respell import ID_SUFFIX, RespellError, apply_shape, respell_dataset, shape_preserving
from pixelpilot.agent.train.rows import ParquetRows, row_images
from pixelpilot.tools import REGISTRY

PROMPT = PromptConfig(max_pixels=43_307)
SIZE = (160, 210)


def _png(colour: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", SIZE, (colour, 255 - colour, 90)).save(buf, format="PNG")
    return buf.getvalue()


def _row(dialect: str, i: int, instruction: str, action: dict, history: Sequence[dict] = ()) -> dict:
    d = get_dialect(dialect)
    g = ResizeGeometry.for_image(*SIZE, min_pixels=PROMPT.min_pixels, max_pixels=PROMPT.max_pixels)
    done = [f"Step {n}: {d.encode(REGISTRY.validate(a), g, 'browser')}" for n, a in enumerate(history, 1)]
    text = "\n".join([f"The user query: {instruction}", *done, "Reply with the next action."])
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "GUI agent."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
    ]
    executed = REGISTRY.validate(action)
    return {
        "id": f"ep{i}#1",
        "messages": json.dumps(messages, ensure_ascii=False),
        "images": [{"bytes": _png(i * 20), "path": None}],
        "target": d.encode(executed, g, "browser"),
        "action": json.dumps(executed.model_dump(mode="json")),
        "executed": json.dumps(executed.model_dump(mode="json")),
        "task": f"task-{i}",
        "env": "browser",
        "episode": f"ep{i}",
        "step": 1,
        "width": SIZE[0],
        "height": SIZE[1],
        "resized_width": g.resized_width,
        "resized_height": g.resized_height,
        "intervened": False,
        "source": f"bundles/ep{i}",
    }


def _type(text: str) -> dict:
    return {"action": "type", "text": text}


def _source(tmp_path: Path, dialect: str) -> Path:
    rows = [
        # the password typed into the second field: the history's first typing is respelled with it
        _row(dialect, 0, 'Enter the password "Xk" into both text fields.', _type("Xk"), [_type("Xk")]),
        # the instruction names it in lower case, the answer is upper case
        _row(dialect, 1, 'Type "renda" in all upper case letters and press Submit.', _type("RENDA")),
        _row(dialect, 2, "Add a contact with the phone number +44 20 7946 2658.", _type("+44 20 7946 2658")),
        # "in" stands inside "into" and "in" of the instruction: only the standalone word changes
        _row(dialect, 3, 'Type "in" into the field in one go.', _type("in")),
        # not in the instruction (read off the screen): no copy
        _row(dialect, 4, "Copy the number shown into a note.", _type("555-0110")),
        # nothing ASCII to respell: no copy
        _row(dialect, 5, "Create a note that says 会議.", _type("会議")),
        # not a typing step: no copy
        _row(dialect, 6, 'Enter "Renda" and press Submit.', {"action": "click", "x": 80, "y": 100}),
    ]
    src = tmp_path / "src"
    write_rows(src, rows, shard_rows=4)
    write_info(src, dialect=dialect, env="browser", prompt=PROMPT, rows=len(rows), episodes=len(rows))
    return src


def _user_text(row: dict) -> str:
    messages = json.loads(row["messages"])
    return "\n".join(p["text"] for p in messages[1]["content"] if p["type"] == "text")


def _respelled_back(text: str, new: str, old: str) -> str:
    """``text`` with every standalone occurrence of ``new`` (any case) turned back into ``old`` in that case."""
    back = {i: ch.lower() for i, ch in enumerate(old) if ch.isascii() and ch.isalnum()}
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(new)}(?![A-Za-z0-9])", re.IGNORECASE)
    return pattern.sub(lambda m: apply_shape(m.group(0), back), text)


def _shape(text: str) -> str:
    return re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", re.sub(r"[0-9]", "0", text)))


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_typing_rows_are_respelled_consistently_in_their_shape_and_case(dialect: str, tmp_path: Path) -> None:
    src = _source(tmp_path, dialect)
    info = respell_dataset(src, tmp_path / "out", copies=3, seed=7)
    d = get_dialect(dialect)
    originals = {r["id"]: r for r in ParquetRows.read(data_files(src))}
    copies = list(ParquetRows.read(data_files(tmp_path / "out")))
    assert info.rows == len(copies) == 12 and read_info(tmp_path / "out").rows == 12
    assert sorted(info.tasks) == ["task-0", "task-1", "task-2", "task-3"]
    assert info.dialect == d.name and info.max_pixels == PROMPT.max_pixels
    for row in copies:
        source_id, _, k = row["id"].partition(ID_SUFFIX)
        source = originals[source_id]
        assert k in ("0", "1", "2")
        old, new = json.loads(source["executed"])["text"], json.loads(row["executed"])["text"]
        assert _shape(new) == _shape(old) and json.loads(row["action"])["text"] == new
        g = ResizeGeometry.for_image(*SIZE, min_pixels=PROMPT.min_pixels, max_pixels=PROMPT.max_pixels)
        assert d.parse(row["target"], g, "browser").action.text == new  # what the policy would act on
        text, was = _user_text(row), _user_text(source)
        # everything but the respelled string is untouched, and the string stands where it stood
        assert _respelled_back(text, new, old) == was
        assert row_images(row)[0].tobytes() == row_images(source)[0].tobytes()
        assert row["task"] == source["task"] and row["episode"] == source["episode"]
    by_task = {r["task"]: r for r in copies}
    assert '"' + json.loads(by_task["task-1"]["executed"])["text"].lower() + '"' in _user_text(by_task["task-1"])
    assert _user_text(by_task["task-3"]).count("into the field in one go") == 1  # the quoted word only
    history = _user_text(by_task["task-0"]).split("\n", 1)[1]
    assert json.loads(by_task["task-0"]["executed"])["text"] in history  # the earlier typing, respelled too
    # different strings across copies: the point is to see many
    assert len({json.loads(r["executed"])["text"] for r in copies}) >= 10


def test_shapes_keep_case_digits_and_everything_else() -> None:
    new = shape_preserving("Ab-9 会", random.Random(3))
    assert sorted(new) == [0, 1, 3]
    for occurrence in ("Ab-9 会", "AB-9 会", "ab-9 会"):
        out = apply_shape(occurrence, new)
        assert _shape(out) == _shape(occurrence) and out[2] == "-" and out[-1] == "会"
    assert apply_shape("AB-9 会", new).lower() == apply_shape("ab-9 会", new)


def test_a_set_with_nothing_to_respell_is_one_line(tmp_path: Path) -> None:
    rows = [_row("qwen2-vl", 4, "Copy the number shown into a note.", _type("555-0110"))]
    write_rows(tmp_path / "src", rows, shard_rows=4)
    write_info(tmp_path / "src", dialect="qwen2-vl", env="browser", prompt=PROMPT, rows=1, episodes=1)
    with pytest.raises(RespellError, match="no row types a text that its instruction names"):
        respell_dataset(tmp_path / "src", tmp_path / "out", copies=2)
    with pytest.raises(RespellError, match="not a training set"):
        respell_dataset(tmp_path / "missing", tmp_path / "out", copies=2)
    with pytest.raises(RespellError, match="at least 1"):
        respell_dataset(tmp_path / "src", tmp_path / "out", copies=0)
    assert not (tmp_path / "out").exists()
