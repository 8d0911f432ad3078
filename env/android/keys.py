"""Key names -> Android keycodes (``input keyevent`` / ``input keycombination``)."""

from __future__ import annotations

KEYCODES = {
    "home": 3,
    "back": 4,
    "call": 5,
    "endcall": 6,
    "up": 19,
    "down": 20,
    "left": 21,
    "right": 22,
    "volume_up": 24,
    "volumeup": 24,
    "volume_down": 25,
    "volumedown": 25,
    "power": 26,
    "camera": 27,
    "tab": 61,
    "space": 62,
    "enter": 66,
    "return": 66,
    "delete": 67,
    "backspace": 67,
    "del": 67,
    "menu": 82,
    "search": 84,
    "page_up": 92,
    "pageup": 92,
    "page_down": 93,
    "pagedown": 93,
    "escape": 111,
    "esc": 111,
    "forward_delete": 112,
    "ctrl": 113,
    "control": 113,
    "shift": 59,
    "alt": 57,
    "meta": 117,
    "move_home": 122,
    "move_end": 123,
    "volume_mute": 164,
    "mute": 164,
    "app_switch": 187,
    "recent": 187,
    "recents": 187,
    "overview": 187,
    "wakeup": 224,
    "sleep": 223,
    "arrowup": 19,
    "arrowdown": 20,
    "arrowleft": 21,
    "arrowright": 22,
}


def keycode(name: str) -> int:
    key = name.strip().lower().removeprefix("keycode_")
    if key.isdigit():
        return int(key)
    if len(key) == 1 and key.isalpha():
        return 29 + ord(key) - ord("a")  # KEYCODE_A = 29
    if len(key) == 1 and key.isdigit():
        return 7 + int(key)
    if key in KEYCODES:
        return KEYCODES[key]
    raise ValueError(f"unknown Android key {name!r}; known: {', '.join(sorted(KEYCODES))}")


def key_command(keys: str) -> str:
    """'back' -> input keyevent 4; 'ctrl+a' -> input keycombination 113 29 (Android 13+)."""
    parts = [p for p in keys.split("+") if p.strip()] if keys.strip() != "+" else ["+"]
    codes = [keycode(p) for p in parts]
    if len(codes) == 1:
        return f"input keyevent {codes[0]}"
    return "input keycombination " + " ".join(map(str, codes))
