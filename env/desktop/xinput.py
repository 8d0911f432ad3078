"""Pointer and keyboard input through XTest, the X server's own synthetic-input extension.

Events made here are indistinguishable from a real mouse and keyboard to the applications (unlike
``send_event``, which toolkits may ignore). Coordinates are root-window pixels, which on a single
screen are the screenshot's pixels: the desktop's input space is its screenshot space, scale 1.

Typing does not depend on the keyboard layout: each character's keysym is looked up in the server's
current keymap (with Shift when it sits on the second level), and a character the layout lacks
(CJK, emoji, accented letters on a US map) is put on a spare keycode for as long as it is needed,
the technique xdotool uses. A client reads the keymap after a MappingNotify, lazily or per changed
range, so the map must not change while keys that depend on it are still queued: a text's missing
characters are mapped in one request, the env waits for the focused client to catch up (a ping round
trip) around each change, and only then are keys sent.
Characters stay on their spares until the episode ends, and spares are reused least recently used first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib.ext import xtest

#: Key names as models and people write them -> X keysym names.
_ALIASES = {
    "ctrl": "Control_L",
    "control": "Control_L",
    "alt": "Alt_L",
    "option": "Alt_L",
    "shift": "Shift_L",
    "meta": "Super_L",
    "super": "Super_L",
    "win": "Super_L",
    "cmd": "Super_L",
    "command": "Super_L",
    "enter": "Return",
    "return": "Return",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "space": "space",
    "spacebar": "space",
    "backspace": "BackSpace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "page_up": "Prior",
    "pagedown": "Next",
    "page_down": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "arrowup": "Up",
    "arrowdown": "Down",
    "arrowleft": "Left",
    "arrowright": "Right",
    "capslock": "Caps_Lock",
    "menu": "Menu",
    "print": "Print",
    "plus": "plus",
    "minus": "minus",
}
_BUTTONS = {"left": 1, "middle": 2, "right": 3}
#: Scroll wheel buttons by direction (X11 core protocol: 4 up, 5 down, 6 left, 7 right).
_WHEEL = {"up": 4, "down": 5, "left": 6, "right": 7}


def char_keysym(char: str) -> int:
    """The keysym of a character: Latin-1 keysyms equal their code point; the rest are 0x01000000 + U."""
    if char == "\n":
        return XK.string_to_keysym("Return")
    if char == "\t":
        return XK.string_to_keysym("Tab")
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 + code


def key_keysyms(combo: str) -> list[int]:
    """'ctrl+shift+t' -> the keysyms to hold in order; ValueError names an unknown key."""
    text = combo.strip()
    if text.endswith("++"):
        parts = [p for p in text[:-2].split("+") if p] + ["+"]
    else:
        parts = text.split("+") if text != "+" else ["+"]
    keysyms: list[int] = []
    for part in parts:
        name = part.strip()
        if not name:
            raise ValueError(f"empty key name in {combo!r}")
        low = name.lower()
        if low in _ALIASES:
            keysyms.append(XK.string_to_keysym(_ALIASES[low]))
        elif len(name) == 1:
            keysyms.append(char_keysym(name.lower() if len(parts) > 1 else name))
        elif (low[0] == "f" and low[1:].isdigit()) and 1 <= int(low[1:]) <= 24:
            keysyms.append(XK.string_to_keysym(low.upper()))
        elif (ks := XK.string_to_keysym(name)) or (ks := XK.string_to_keysym(name[0].upper() + name[1:])):
            keysyms.append(ks)  # an X keysym name as written: KP_Enter, XF86AudioMute, Escape
        else:
            raise ValueError(f"unknown key {name!r} in {combo!r}")
    return keysyms


class XInput:
    """Synthetic pointer and keyboard on one X connection."""

    def __init__(self, display_name: str) -> None:
        self.d = xdisplay.Display(display_name)
        if not self.d.has_extension("XTEST"):
            raise RuntimeError(f"the X server on {display_name} has no XTEST extension")
        self._load_keymap()

    def close(self) -> None:
        try:
            self.release_spares()
            self.d.close()
        except Exception:  # noqa: BLE001 - the server may be gone
            pass

    # ------------------------------------------------------------------ keymap
    def _load_keymap(self) -> None:
        first = self.d.display.info.min_keycode
        count = self.d.display.info.max_keycode - first + 1
        table = self.d.get_keyboard_mapping(first, count)
        self._width = len(table[0]) if table else 2
        self._lookup: dict[int, tuple[int, int]] = {}  # keysym -> (keycode, level 0/1)
        self._free: list[int] = []
        self._table: dict[int, tuple[int, ...]] = {}  # keycode -> its keysyms, as the server has them
        for offset, syms in enumerate(table):
            code = first + offset
            self._table[code] = tuple(syms)
            if not any(syms):
                self._free.append(code)
                continue
            for level in (0, 1):
                if level < len(syms) and syms[level] and syms[level] not in self._lookup:
                    self._lookup[syms[level]] = (code, level)
        self._spares: OrderedDict[int, int] = OrderedDict()  # keysym -> spare keycode, oldest first
        self._shift = self._lookup.get(XK.string_to_keysym("Shift_L"), (50, 0))[0]

    def _keycode(self, keysym: int) -> tuple[int, int]:
        """(keycode, level) of a keysym in the layout or already on a spare (see :meth:`prepare`)."""
        if keysym in self._lookup:
            return self._lookup[keysym]
        self._spares.move_to_end(keysym)
        return self._spares[keysym], 0

    @property
    def spare_capacity(self) -> int:
        return len(self._free) + len(self._spares)

    def prepare(self, keysyms: list[int], catch_up: Callable[[], None] | None = None) -> None:
        """Put every keysym of ``keysyms`` that the layout lacks on a spare keycode, before any of its keys.

        Clients read the map lazily or per changed range, so the map changes only in one request over one
        keycode range per text (one MappingNotify), never while keys that need a keycode's old meaning may
        still be queued: before a spare is given a new keysym, and after the change, ``catch_up`` waits
        until the focused client has read everything sent so far (a ping round trip)."""
        wanted = set(keysyms)
        missing = [ks for ks in dict.fromkeys(keysyms) if ks not in self._lookup and ks not in self._spares]
        if not missing:
            return
        reuse = max(0, len(missing) - len(self._free))
        if reuse:
            reusable = [ks for ks in self._spares if ks not in wanted]
            if reuse > len(reusable):
                raise ValueError(f"{len(missing)} characters need a spare keycode; there are {self.spare_capacity}")
            if catch_up is not None:
                catch_up()  # the keys typed with the old meanings are read before the meanings change
            for ks in reusable[:reuse]:
                self._free.append(self._spares.pop(ks))
        changed = []
        for ks in missing:
            code = self._free.pop()
            self._table[code] = (ks,) * self._width
            self._spares[ks] = code
            changed.append(code)
        self._write_map(min(changed), max(changed))
        if catch_up is not None:
            catch_up()

    def _write_map(self, lo: int, hi: int) -> None:
        self.d.change_keyboard_mapping(lo, [self._table[code] for code in range(lo, hi + 1)])
        self.d.sync()

    def release_spares(self) -> None:
        """Give the spare keycodes back (the layout as it was), at the end of an episode."""
        codes = list(self._spares.values())
        if not codes:
            return
        for code in codes:
            self._table[code] = (0,) * self._width
            self._free.append(code)
        self._spares.clear()
        self._write_map(min(codes), max(codes))

    # ------------------------------------------------------------------ pointer
    def move(self, x: int, y: int) -> None:
        xtest.fake_input(self.d, X.MotionNotify, x=int(x), y=int(y))
        self.d.sync()

    def button(self, number: int, press: bool) -> None:
        xtest.fake_input(self.d, X.ButtonPress if press else X.ButtonRelease, number)

    def click(self, x: int, y: int, *, button: str = "left", count: int = 1) -> None:
        self.move(x, y)
        number = _BUTTONS[button]
        for _ in range(count):
            self.button(number, True)
            self.button(number, False)
        self.d.sync()

    def drag(self, x0: int, y0: int, x1: int, y1: int, *, steps: int = 12, step_delay_s: float = 0.01) -> None:
        """Press at the start, move in ``steps`` (toolkits start a drag after a few pixels of motion), release."""
        self.move(x0, y0)
        self.button(1, True)
        self.d.sync()
        for i in range(1, steps + 1):
            time.sleep(step_delay_s)
            self.move(round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps))
        self.button(1, False)
        self.d.sync()

    def scroll(self, x: int, y: int, direction: str, clicks: int) -> None:
        self.move(x, y)
        number = _WHEEL[direction]
        for _ in range(clicks):
            self.button(number, True)
            self.button(number, False)
        self.d.sync()

    # ------------------------------------------------------------------ keyboard
    def _tap(self, code: int, level: int) -> None:
        if level:
            xtest.fake_input(self.d, X.KeyPress, self._shift)
        xtest.fake_input(self.d, X.KeyPress, code)
        xtest.fake_input(self.d, X.KeyRelease, code)
        if level:
            xtest.fake_input(self.d, X.KeyRelease, self._shift)

    def key(self, combo: str, *, catch_up: Callable[[], None] | None = None) -> None:
        """Press a combination ('ctrl+s', 'alt+F4', 'Return'): hold each key in order, release in reverse."""
        keysyms = key_keysyms(combo)
        self.prepare(keysyms, catch_up)
        codes = [self._keycode(ks) for ks in keysyms]
        if len(codes) == 1:  # a lone key keeps its level ('A', '?'); in a combo the modifiers say it
            self._tap(*codes[0])
        else:
            for code, _ in codes:
                xtest.fake_input(self.d, X.KeyPress, code)
            for code, _ in reversed(codes):
                xtest.fake_input(self.d, X.KeyRelease, code)
        self.d.sync()

    def type_text(self, text: str, *, catch_up: Callable[[], None] | None = None) -> None:
        """Type ``text`` character by character through the current keymap (see the module docstring).

        ``catch_up`` should wait until the focused client has read its event queue (see :meth:`prepare`)."""
        chars = [c for c in text if c != "\r"]
        for chunk in self._chunks(chars):
            keysyms = [char_keysym(c) for c in chunk]
            self.prepare(keysyms, catch_up)
            for ks in keysyms:
                self._tap(*self._keycode(ks))
            self.d.sync()

    def _chunks(self, chars: list[str]) -> list[list[str]]:
        """Runs of ``chars`` whose characters missing from the layout fit on the spare keycodes at once."""
        chunks: list[list[str]] = [[]]
        missing: set[int] = set()
        for c in chars:
            ks = char_keysym(c)
            if ks not in self._lookup and ks not in missing:
                if len(missing) == self.spare_capacity:
                    chunks.append([])
                    missing = set()
                missing.add(ks)
            chunks[-1].append(c)
        return [chunk for chunk in chunks if chunk]
