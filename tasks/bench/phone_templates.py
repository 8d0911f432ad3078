"""The phone suite's task templates: an instruction, a seeded goal and a success check on device state.

Each template draws its goal from ``random.Random(f"{template}:{seed}")`` on top of the seed's base
state (tasks/bench/phone_state.py) and may adjust that state so the goal makes sense (a switch the
task turns on starts off; a note to find sits below the fold). Success is read from the device, not
from what the agent says: ``settings get``, ``dumpsys window``, ``content query`` on the apps'
providers, the UI tree, or the answer for a question. Patterns are built with ``re.escape`` from the
goal's values, so names and texts in any script match exactly.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from pixelpilot.env.spec import AnswerCheck, ShellCheck, SuccessCheck, UiCheck
from pixelpilot.tasks.bench.phone_state import (
    APPS,
    SETTINGS,
    PhoneState,
    lengthen,
    new_contact,
    new_note_text,
    seeded_state,
)

CONTACTS_URI = "content://com.pixelsim.contacts/contacts"
NOTES_URI = "content://com.pixelsim.notes/notes"
CALLS_URI = "content://call_log/calls"
#: rows the Notes list shows without scrolling (a target at this index or later needs a scroll)
NOTES_ON_FIRST_SCREEN = 9


class PhoneGoal(BaseModel):
    """One episode of a template: what the agent is told, what the device starts as, what counts."""

    model_config = ConfigDict(extra="forbid")

    template: str
    seed: int
    instruction: str
    app: str | None
    params: dict[str, Any]
    state: PhoneState
    success: SuccessCheck
    max_steps: int


@dataclass(frozen=True)
class Template:
    name: str
    summary: str
    app: str | None  # the package the episode starts in (None: the launcher)
    max_steps: int
    make: Callable[[random.Random, PhoneState], tuple[str, dict[str, Any], SuccessCheck]]


# --------------------------------------------------------------------------- check patterns
def contact_row(name: str, number: str) -> str:
    return rf"(?m)^Row: \d+ _id=\d+, display_name={re.escape(name)}, number={re.escape(number)}$"


def note_row(title: str) -> str:
    return rf"^Row: \d+ _id=\d+, title={re.escape(title)}, body="


def rows_exactly(rows: list[str]) -> str:
    """A query's rows are exactly those ``rows`` patterns match (one row each, distinct), in any order: each
    one is there, and no other row is."""
    present = "".join(rf"(?=[\s\S]*{r})" for r in rows)
    row = r"Row: [^\n]*(?:\n(?!Row: )[^\n]*)*"  # a row, with the further lines of a multi-line body
    if not rows:
        return r"\A\s*No result found\.\s*\Z"
    return rf"(?m)\A{present}{row}(?:\n{row}){{{len(rows) - 1}}}\s*\Z"


def notes_exactly(titles: list[str]) -> str:
    """The notes are exactly ``titles`` (distinct), in any order."""
    return rows_exactly([note_row(t) for t in titles])


def contacts_exactly(contacts: list[tuple[str, str]]) -> str:
    """The contacts are exactly these (name, number) pairs, in any order."""
    return rows_exactly([contact_row(name, number).removeprefix("(?m)") for name, number in contacts])


def loose_number(number: str) -> str:
    """The number's digits in order, with any spaces, dashes, dots or brackets between them, and no digit around."""
    digits = re.sub(r"\D", "", number)
    return r"(?<!\d)" + r"[\s\-().]*".join(digits) + r"(?!\d)"  # not a part of a longer number


# --------------------------------------------------------------------------- templates
def _toggle(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    row = rng.choice(list(SETTINGS))
    on = rng.random() < 0.5
    state.settings[row] = not on  # the switch starts the other way
    title, ns, key, on_value, off_value = SETTINGS[row]
    instruction = f"Turn {'on' if on else 'off'} {title} in Settings."
    check = ShellCheck(command=f"settings get {ns} {key}", pattern=f"^{on_value if on else off_value}$")
    return instruction, {"row": row, "title": title, "on": on}, check


def _open_app(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    label = rng.choice(list(APPS))
    package = APPS[label]
    check = ShellCheck(command="dumpsys window", pattern=rf"mCurrentFocus=Window\{{\S+ u0 {re.escape(package)}/")
    return f"Open the {label} app.", {"label": label, "package": package}, check


def _add_contact(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    contact = new_contact(rng, state)
    check = ShellCheck(command=f"content query --uri {CONTACTS_URI}", pattern=contact_row(contact.name, contact.phone))
    instruction = f"Add a contact named {contact.name} with the phone number {contact.phone}."
    return instruction, {"name": contact.name, "number": contact.phone}, check


def _call_contact(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    lengthen(rng, state, contacts=18)
    contact = rng.choice(state.contacts)
    pattern = rf"(?m)^Row: \d+ _id=\d+, number={re.escape(contact.phone)}, name={re.escape(contact.name)}, type=2$"
    check = ShellCheck(command=f"content query --uri {CALLS_URI}", pattern=pattern)
    return f"Call {contact.name} from Contacts.", {"name": contact.name, "number": contact.phone}, check


def _lookup_number(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    lengthen(rng, state, contacts=18)
    contact = rng.choice(state.contacts)
    check = AnswerCheck(pattern=loose_number(contact.phone))
    instruction = f"What is {contact.name}'s phone number? Look it up in Contacts and answer with the number."
    return instruction, {"name": contact.name, "number": contact.phone}, check


def _delete_contact(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    lengthen(rng, state, contacts=14)
    contact = rng.choice(state.contacts)
    others = [(c.name, c.phone) for c in state.contacts if c is not contact]
    check = ShellCheck(command=f"content query --uri {CONTACTS_URI}", pattern=contacts_exactly(others))
    return f"Delete the contact {contact.name}.", {"name": contact.name}, check


def _edit_contact(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    lengthen(rng, state, contacts=14)
    contact = rng.choice(state.contacts)
    number = new_contact(rng, state).phone
    pairs = [(c.name, number if c is contact else c.phone) for c in state.contacts]
    check = ShellCheck(command=f"content query --uri {CONTACTS_URI}", pattern=contacts_exactly(pairs))
    instruction = f"Change {contact.name}'s phone number to {number}."
    return instruction, {"name": contact.name, "old": contact.phone, "number": number}, check


def _create_note(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    text = new_note_text(rng, state)
    check = ShellCheck(command=f"content query --uri {NOTES_URI}", pattern="(?m)" + note_row(text))
    return f"Create a note that says “{text}”.", {"text": text}, check


def _edit_note(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    old = rng.choice(state.notes).text
    new = new_note_text(rng, state)
    others = [n.text for n in state.notes if n.text != old]
    check = ShellCheck(command=f"content query --uri {NOTES_URI}", pattern=notes_exactly([*others, new]))
    return f"Rename the note “{old}” to “{new}”.", {"old": old, "new": new}, check


def _delete_note(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    title = rng.choice(state.notes).text
    others = [n.text for n in state.notes if n.text != title]
    check = ShellCheck(command=f"content query --uri {NOTES_URI}", pattern=notes_exactly(others))
    return f"Delete the note “{title}”.", {"title": title}, check


def _find_note(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    lengthen(rng, state, notes=NOTES_ON_FIRST_SCREEN + 12)
    title = state.notes[rng.randrange(NOTES_ON_FIRST_SCREEN, len(state.notes))].text
    check = UiCheck(resource_id="com.pixelsim.notes:id/note_text", text=title)
    return f"Find the note “{title}” in Notes and open it.", {"title": title}, check


def _copy_number(rng: random.Random, state: PhoneState) -> tuple[str, dict[str, Any], SuccessCheck]:
    lengthen(rng, state, contacts=12)
    contact = rng.choice(state.contacts)
    pattern = rf"(?m)^Row: \d+ _id=\d+, title=.*{loose_number(contact.phone)}"
    check = ShellCheck(command=f"content query --uri {NOTES_URI}", pattern=pattern)
    instruction = f"Copy {contact.name}'s phone number from Contacts into a new note in Notes."
    return instruction, {"name": contact.name, "number": contact.phone}, check


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("toggle_setting", "turn a named switch in Settings on or off (seeded order and states; may scroll)",
                 "com.pixelsim.settings", 12, _toggle),
        Template("open_app", "open an app by its name from the launcher (seeded icon order)", None, 6, _open_app),
        Template("add_contact", "add a contact with a name and a number (multilingual names)",
                 "com.pixelsim.contacts", 12, _add_contact),
        Template("call_contact", "find a contact in a long list and tap its small call button",
                 "com.pixelsim.contacts", 20, _call_contact),
        Template("lookup_number", "find a contact in a long list and answer with its number",
                 "com.pixelsim.contacts", 20, _lookup_number),
        Template("edit_contact", "find a contact and change its number (the form is filled: clear, then type)",
                 "com.pixelsim.contacts", 20, _edit_contact),
        Template("delete_contact", "find a contact and delete it (long press, confirm)",
                 "com.pixelsim.contacts", 20, _delete_contact),
        Template("create_note", "create a note with a given text", "com.pixelsim.notes", 10, _create_note),
        Template("edit_note", "find a named note and rename it", "com.pixelsim.notes", 24, _edit_note),
        Template("delete_note", "find a named note and delete it (long press, confirm)",
                 "com.pixelsim.notes", 24, _delete_note),
        Template("find_note", "scroll a long note list to a note below the fold and open it",
                 "com.pixelsim.notes", 24, _find_note),
        Template("copy_number", "two apps: read a contact's number in Contacts and save it in a new note",
                 "com.pixelsim.contacts", 30, _copy_number),
    )
}  # fmt: skip


class UnknownTemplate(ValueError):
    """A template name the suite does not have."""


def make_goal(template: str, seed: int) -> PhoneGoal:
    """Template ``template`` at seed ``seed``: the same arguments always give the same goal and state."""
    try:
        t = TEMPLATES[template]
    except KeyError:
        raise UnknownTemplate(f"unknown phone template {template!r}; known: {', '.join(TEMPLATES)}") from None
    state = seeded_state(seed)
    instruction, params, check = t.make(random.Random(f"{template}:{seed}"), state)
    return PhoneGoal(
        template=template,
        seed=seed,
        instruction=instruction,
        app=t.app,
        params=params,
        state=state,
        success=check,
        max_steps=t.max_steps,
    )
