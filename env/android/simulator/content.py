"""``content query`` over the bundled apps' data, and the broadcast that loads a whole starting state.

A task's success check reads the device's data the way a check on a phone would, through a content
provider (``content query --uri content://call_log/calls``), instead of the screen, which shows only
the part of a long list that is scrolled into view. Rows print as Android's ``content`` tool prints
them (``Row: 0 _id=1, display_name=Alice, number=555``; ``No result found.`` for none).

A benchmark episode's setup loads its seeded state with one broadcast, ``am broadcast -a
com.pixelsim.action.LOAD_STATE --es state BASE64``, where BASE64 is the UTF-8 JSON of
:class:`LoadedState`'s fields: the apps' data and layout, every app closed, the launcher in front.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pixelpilot.env.android.simulator.shell import Invocation

if TYPE_CHECKING:
    from pixelpilot.env.android.simulator.device import Device

LOAD_STATE_ACTION = "com.pixelsim.action.LOAD_STATE"

#: provider URI -> the page's table
TABLES = {
    "content://com.android.contacts/data/phones": "contacts",
    "content://com.pixelsim.contacts/contacts": "contacts",
    "content://com.pixelsim.notes/notes": "notes",
    "content://call_log/calls": "calls",
}

_USAGE = f"usage: content query --uri URI [--projection COLUMN:COLUMN...]\nPixelSim's providers: {', '.join(TABLES)}"


class SeedContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(max_length=60)


class SeedNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    body: str = Field("", max_length=5000)


class LoadedState(BaseModel):
    """What LOAD_STATE carries: lists in the order the apps show them (contacts sort by name anyway)."""

    model_config = ConfigDict(extra="forbid")
    contacts: list[SeedContact] = Field(default_factory=list, max_length=500)
    notes: list[SeedNote] = Field(default_factory=list, max_length=500)
    launcher: list[str] | None = Field(None, description="packages in the launcher grid's order")
    settings_order: list[str] | None = Field(None, description="Settings' switch rows in list order")


def decode_state(encoded: str) -> LoadedState:
    """The state a LOAD_STATE broadcast carries; ValueError (one line) when it is not one."""
    try:
        raw = base64.b64decode(encoded, validate=True)
        return LoadedState.model_validate(json.loads(raw.decode("utf-8")))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"state is not base64 of UTF-8 JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ValueError(f"state.{where}: {first.get('msg')}") from None


def encode_state(state: LoadedState) -> str:
    return base64.b64encode(state.model_dump_json(exclude_none=True).encode("utf-8")).decode("ascii")


async def load_state(dev: Device, encoded: str) -> str:
    """Load a state into the page; returns what was loaded, in words (raises ValueError on bad input)."""
    state = decode_state(encoded)
    counts = await dev.screen.call("load", state.model_dump(exclude_none=True))
    return f"loaded {counts['contacts']} contacts, {counts['notes']} notes"


async def content(dev: Device, inv: Invocation) -> int:
    args = inv.args[1:]
    if not args or args[0] != "query":
        await inv.error(_USAGE)
        return 1
    uri, projection = None, None
    i = 1
    while i < len(args):
        if args[i] == "--uri" and i + 1 < len(args):
            uri = args[i + 1]
        elif args[i] == "--projection" and i + 1 < len(args):
            projection = [c for c in args[i + 1].split(":") if c]
        elif args[i] == "--user" and i + 1 < len(args):
            pass
        else:
            await inv.error(f"PixelSim: content query supports --uri and --projection, not {args[i]!r}\n{_USAGE}")
            return 1
        i += 2
    table = TABLES.get(uri or "")
    if table is None:
        await inv.error(f"Error while accessing provider:{uri}\njava.lang.IllegalArgumentException: Unknown URI {uri}")
        return 1
    rows = await dev.screen.call("query", table)
    if not rows:
        await inv.print("No result found.")
        return 0
    for n, row in enumerate(rows):
        cells = [(k, v) for k, v in row if projection is None or k in projection]
        await inv.print(f"Row: {n} " + ", ".join(f"{k}={v}" for k, v in cells))
    return 0
