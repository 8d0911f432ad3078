"""PhoneOracle: a reference policy for the phone suite that reads the UI tree. An oracle, not an agent.

It proves the suite right: every template at every seed must be solvable through the same tools and
screenshot-pixel coordinates a model uses (taps, scrolls, long presses, typing, Home), so an oracle
failure is a bug in the suite, not a hard task. It also records demonstrations for training. It reads
``uiautomator dump`` through adb before each step (a model sees only the screenshot) and is named and
recorded as an oracle everywhere, so its numbers are never mistaken for a model's.

Each step it looks at the screen afresh and decides from what is there (which app, which screen, what
the list shows), plus a little memory per episode (a number read in Contacts, a form already saved),
so it recovers from a step that did not land instead of replaying a fixed script.
"""

from __future__ import annotations

from typing import Any

from pixelpilot.agent.episode import EpisodeSpec, StepRecord, seeded_task
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.env import Observation
from pixelpilot.env.android.env import AndroidEnv
from pixelpilot.env.android.uitree import UIElement
from pixelpilot.tasks.bench.phone_templates import PhoneGoal, UnknownTemplate, make_goal

LAUNCHER = "com.pixelsim.launcher"
CONTACTS = "com.pixelsim.contacts"
NOTES = "com.pixelsim.notes"


class OracleStuck(RuntimeError):
    """The oracle found no way forward (a suite bug: the screen does not offer what the goal needs)."""


def episode_id(template: str, seed: int) -> str:
    """The episode id of (template, seed); the oracle reads its goal back from it."""
    return f"{template}.{seed}"


def goal_for_id(spec_id: str) -> PhoneGoal:
    seeded = seeded_task(spec_id)
    if seeded is None:
        raise UnknownTemplate(f"{spec_id!r} is not a phone-suite episode id (TEMPLATE.SEED)")
    return make_goal(*seeded)


class _View:
    """One UI tree dump, with the lookups the oracle needs."""

    def __init__(self, elements: list[UIElement], app: str | None) -> None:
        self.elements = elements
        self.app = app

    def all(self, rid: str, text: str | None = None) -> list[UIElement]:
        return [e for e in self.elements if e.resource_id.endswith(f":id/{rid}") and (text is None or e.text == text)]

    def one(self, rid: str, text: str | None = None) -> UIElement | None:
        found = self.all(rid, text)
        return found[0] if found else None

    def need(self, rid: str) -> UIElement:
        """The element ``rid``, which the plan needs on this screen (OracleStuck when it is not there)."""
        found = self.one(rid)
        if found is None:
            raise OracleStuck(f"no {rid} on screen")
        return found

    def has(self, rid: str) -> bool:
        return self.one(rid) is not None

    def inside(self, outer: UIElement, rid: str) -> UIElement | None:
        x1, y1, x2, y2 = outer.bounds
        for e in self.all(rid):
            cx, cy = e.center
            if x1 <= cx <= x2 and y1 <= cy <= y2:
                return e
        return None

    def reachable(self, e: UIElement, container: UIElement) -> bool:
        """Its centre is inside the list's visible part (clear of the edges) and not under a floating button."""
        x, y = e.center
        cx1, cy1, cx2, cy2 = container.bounds
        if not (cx1 < x < cx2 and cy1 + 8 < y < cy2 - 8) or e.bounds[3] - e.bounds[1] < 24:
            return False
        for fab in self.all("add_contact") + self.all("add_note"):
            fx1, fy1, fx2, fy2 = fab.bounds
            if fx1 - 8 <= x <= fx2 + 8 and fy1 - 8 <= y <= fy2 + 8:
                return False
        return True

    def signature(self, rid: str) -> tuple[str, ...]:
        return tuple(f"{e.text}@{e.bounds[1]}" for e in self.all(rid))


class PhoneOracle(Policy):
    """Solves every phone-suite template from the UI tree, acting in screenshot pixels like any policy."""

    name = "phone-oracle"

    def __init__(self, env: AndroidEnv) -> None:
        self.env = env
        self.goal: PhoneGoal | None = None
        self.problem: str | None = None
        self.memory: dict[str, Any] = {}

    def reset(self, spec: EpisodeSpec) -> None:
        self.memory = {}
        try:
            self.goal, self.problem = goal_for_id(spec.id), None
        except UnknownTemplate as exc:
            self.goal, self.problem = None, str(exc)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "oracle", "reads": "uiautomator dump"}

    # ------------------------------------------------------------------ the step
    def decide(self, instruction: str, observation: Observation, history: list[StepRecord]) -> Decision:
        if self.goal is None:
            return Decision(parse_error=self.problem or "the oracle was not reset with a phone-suite episode")
        try:
            elements = self.env.ui_tree()
        except Exception as exc:  # noqa: BLE001 - a failed dump is this step's error, the loop goes on
            return Decision(parse_error=f"oracle could not read the UI tree: {str(exc).splitlines()[0][:200]}")
        view = _View(elements, observation.app)
        try:
            action = self._plan(self.goal, view)
        except OracleStuck as exc:
            return Decision(parse_error=f"oracle stuck: {exc}", metadata={"oracle": {"stuck": str(exc)}})
        action = self._to_screenshot(action, elements, observation)
        return Decision(
            action=action, metadata={"oracle": {"template": self.goal.template, "memory": dict(self.memory)}}
        )

    @staticmethod
    def _to_screenshot(action: dict[str, Any], elements: list[UIElement], observation: Observation) -> dict[str, Any]:
        """Device px (the tree's) -> screenshot px of this observation (the same on a phone, kept general)."""
        if not elements or "x" not in action:
            return action
        width = max(e.bounds[2] for e in elements) or observation.geometry.width
        height = max(e.bounds[3] for e in elements) or observation.geometry.height
        sx, sy = observation.geometry.width / width, observation.geometry.height / height
        out = dict(action)
        out["x"] = min(max(round(action["x"] * sx), 0), observation.geometry.width - 1)
        out["y"] = min(max(round(action["y"] * sy), 0), observation.geometry.height - 1)
        if "amount" in out:
            out["amount"] = round(action["amount"] * sy)
        return out

    def _plan(self, goal: PhoneGoal, v: _View) -> dict[str, Any]:
        p = goal.params
        if v.has("button1") and goal.template not in ("delete_note", "delete_contact"):
            return _tap(v.one("button2"))  # a dialog the task did not ask for: cancel it
        t = goal.template
        if t == "toggle_setting":
            return self._toggle(v, p["row"], p["on"])
        if t == "open_app":
            if v.app == p["package"]:
                return _finish(f"{p['label']} is open")
            return self._launch(v, p["label"])
        if t == "add_contact":
            return self._add_contact(v, p["name"], p["number"])
        if t == "call_contact":
            if v.has("in_call"):
                return _finish(f"calling {p['name']}")
            row = self._contact_row(v, p["name"])
            return row if "action" in row else _tap(v.inside(row["row"], "call_button"))
        if t == "lookup_number":
            row = self._contact_row(v, p["name"])
            if "action" in row:
                return row
            phone = v.inside(row["row"], "contact_phone")
            return {"action": "answer", "text": phone.text if phone else ""}
        if t == "edit_contact":
            return self._edit_contact(v, p["name"], p["number"])
        if t == "delete_contact":
            return self._delete_contact(v, p["name"])
        if t == "create_note":
            return self._new_note(v, p["text"])
        if t == "edit_note":
            return self._edit_note(v, p["old"], p["new"])
        if t == "delete_note":
            return self._delete_note(v, p["title"])
        if t == "find_note":
            field = v.one("note_text")
            if field is not None and field.text == p["title"]:
                return _finish(f"opened {p['title']}")
            if field is not None:
                return {"action": "back"}
            return self._open_note(v, p["title"])
        if t == "copy_number":
            return self._copy_number(v, p["name"])
        raise OracleStuck(f"no plan for template {t!r}")

    # ------------------------------------------------------------------ building blocks
    def _scroll_to(self, v: _View, list_rid: str, item_rid: str, text: str | None) -> dict[str, Any] | UIElement:
        """The element showing ``text`` once it can be tapped, or the scroll that brings it closer."""
        container = v.need(list_rid)
        target = v.one(item_rid, text)
        if target is not None and v.reachable(target, container):
            return target
        key = f"scroll:{list_rid}"
        direction = self.memory.get(key, "down")
        if target is not None:  # on screen but under the edge or the button: move it towards the middle
            direction = "down" if target.center[1] > (container.bounds[1] + container.bounds[3]) / 2 else "up"
        else:
            signature = v.signature(item_rid)
            if self.memory.get(f"{key}:last") == signature:  # the last scroll moved nothing: an end of the list
                if direction == "up":
                    raise OracleStuck(f"{text or item_rid!r} is not in {list_rid}")
                direction = "up"
            self.memory[key] = direction
            self.memory[f"{key}:last"] = signature
        x1, y1, x2, y2 = container.bounds
        height = y2 - y1
        amount = height * (0.3 if target is not None else 0.55)
        return {"action": "scroll", "x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "direction": direction, "amount": amount}

    def _toggle(self, v: _View, row: str, on: bool) -> dict[str, Any]:
        if v.app != "com.pixelsim.settings" or not v.has("settings_list"):
            return {"action": "back"} if v.app == "com.pixelsim.settings" else self._launch(v, "Settings")
        found = self._scroll_to(v, "settings_list", f"{row}_switch", None)
        if isinstance(found, dict):
            return found
        if found.checked == on:
            return _finish(f"{row} is {'on' if on else 'off'}")
        return _tap(found)  # the switch itself: a small target

    def _launch(self, v: _View, label: str) -> dict[str, Any]:
        if v.app != LAUNCHER or not v.has("apps_grid"):
            return {"action": "home"}
        icon = next((e for e in v.all(f"app_{label.lower()}") if e.text == label), None)
        if icon is None:
            raise OracleStuck(f"no {label} icon on the launcher")
        return _tap(icon)

    def _contact_row(self, v: _View, name: str) -> dict[str, Any]:
        """{'row': element} once the contact's row can be tapped, else the action that gets there."""
        if v.app != CONTACTS:
            return self._launch(v, "Contacts")
        if not v.has("contact_list"):
            return {"action": "back"}
        found = self._scroll_to(v, "contact_list", "contact_name", name)
        if isinstance(found, dict):
            return found
        row = next(
            (r for r in v.all("contact_row") if r.bounds[1] <= found.center[1] <= r.bounds[3]),
            None,
        )
        if row is None:
            raise OracleStuck(f"no row around {name!r}")
        for rid in ("call_button", "contact_phone"):  # what the templates tap or read must be in view too
            part = v.inside(row, rid)
            if part is None or not v.reachable(part, v.need("contact_list")):
                return self._nudge(v, "contact_list", row)
        return {"row": row}

    def _nudge(self, v: _View, list_rid: str, e: UIElement) -> dict[str, Any]:
        x1, y1, x2, y2 = v.need(list_rid).bounds
        direction = "down" if e.center[1] > (y1 + y2) / 2 else "up"
        return {"action": "scroll", "x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "direction": direction,
                "amount": (y2 - y1) * 0.3}  # fmt: skip

    def _fill(self, v: _View, rid: str, value: str) -> dict[str, Any] | None:
        """The next action that makes text field ``rid`` hold ``value``; None once it does."""
        field = v.one(rid)
        if field is None:
            raise OracleStuck(f"no field {rid}")
        if field.text == value:
            return None
        if not field.focused:
            return _tap(field)
        # clear only what is there: an empty field needs none, and dialects without a clear (qwen2-vl,
        # qwen2.5-vl) can then learn the step from the demonstration. An empty field shows its hint as its
        # text in the UI tree, as Android's does.
        return {"action": "type", "text": value, "clear": field.text not in ("", FIELD_HINTS.get(rid))}

    def _add_contact(self, v: _View, name: str, number: str) -> dict[str, Any]:
        if self.memory.get("saved") and v.has("contact_list"):
            return _finish(f"added {name}")
        if v.app != CONTACTS:
            return self._launch(v, "Contacts")
        if v.has("contact_list"):
            return _tap(v.one("add_contact"))
        for rid, value in (("name", name), ("phone", number)):
            step = self._fill(v, rid, value)
            if step is not None:
                return step
        self.memory["saved"] = True
        return _tap(v.one("save"))

    def _edit_contact(self, v: _View, name: str, number: str) -> dict[str, Any]:
        if self.memory.get("saved") and v.has("contact_list"):
            return _finish(f"{name}'s number is {number}")
        if v.app == CONTACTS and v.has("phone"):  # the form
            step = self._fill(v, "phone", number)
            if step is not None:
                return step
            self.memory["saved"] = True
            return _tap(v.one("save"))
        row = self._contact_row(v, name)
        return row if "action" in row else _tap(v.inside(row["row"], "contact_name"))

    def _delete_contact(self, v: _View, name: str) -> dict[str, Any]:
        if v.has("button1"):
            self.memory["confirmed"] = True
            return _tap(v.one("button1"))
        if self.memory.get("confirmed") and v.has("contact_list"):
            return _finish(f"deleted {name}")
        row = self._contact_row(v, name)
        if "action" in row:
            return row
        name_text = v.inside(row["row"], "contact_name")
        if name_text is None:
            raise OracleStuck(f"no name in {name!r}'s row")
        x, y = name_text.center
        return {"action": "long_press", "x": x, "y": y, "duration_ms": 800}

    def _new_note(self, v: _View, text: str) -> dict[str, Any]:
        if self.memory.get("saved") and v.has("note_list"):
            return _finish("note saved")
        if v.app != NOTES:
            return self._launch(v, "Notes")
        if v.has("note_list"):
            return _tap(v.one("add_note"))
        step = self._fill(v, "note_text", text)
        if step is not None:
            return step
        self.memory["saved"] = True
        return _tap(v.one("save_note"))

    def _open_note(self, v: _View, title: str) -> dict[str, Any]:
        if v.app != NOTES:
            return self._launch(v, "Notes")
        if not v.has("note_list"):
            return {"action": "back"}
        found = self._scroll_to(v, "note_list", "note_title", title)
        return found if isinstance(found, dict) else _tap(found)

    def _edit_note(self, v: _View, old: str, new: str) -> dict[str, Any]:
        if self.memory.get("saved") and v.has("note_list"):
            return _finish(f"renamed to {new}")
        field = v.one("note_text")
        if field is None or v.app != NOTES:
            return self._open_note(v, old)
        step = self._fill(v, "note_text", new)
        if step is not None:
            return step
        self.memory["saved"] = True
        return _tap(v.one("save_note"))

    def _delete_note(self, v: _View, title: str) -> dict[str, Any]:
        if v.has("button1"):
            self.memory["confirmed"] = True
            return _tap(v.one("button1"))
        if self.memory.get("confirmed") and v.has("note_list"):
            return _finish(f"deleted {title}")
        if v.app == NOTES and v.has("note_list"):
            found = self._scroll_to(v, "note_list", "note_title", title)
            if isinstance(found, dict):
                return found
            x, y = found.center
            return {"action": "long_press", "x": x, "y": y, "duration_ms": 800}
        return self._open_note(v, title)

    def _copy_number(self, v: _View, name: str) -> dict[str, Any]:
        number = self.memory.get("number")
        if number is None:
            row = self._contact_row(v, name)
            if "action" in row:
                return row
            phone = v.inside(row["row"], "contact_phone")
            if phone is None:
                raise OracleStuck(f"no number in {name!r}'s row")
            self.memory["number"] = phone.text
            return {"action": "home"}
        return self._new_note(v, number)


def _tap(e: UIElement | None) -> dict[str, Any]:
    if e is None:
        raise OracleStuck("the element to tap is not on screen")
    x, y = e.center
    return {"action": "click", "x": x, "y": y}


#: The hint each of the simulator's text fields shows while empty (env/android/simulator/apps/phone.js).
FIELD_HINTS = {"name": "Name", "phone": "Phone", "note_text": "Note", "note_body": "Details"}


def _finish(message: str) -> dict[str, Any]:
    return {"action": "finish", "status": "success", "message": message}
