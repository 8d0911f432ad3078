"""Key names as models and people write them -> Playwright key names."""

from __future__ import annotations

_ALIASES = {
    "ctrl": "Control",
    "control": "Control",
    "cmd": "Meta",
    "command": "Meta",
    "meta": "Meta",
    "win": "Meta",
    "super": "Meta",
    "alt": "Alt",
    "option": "Alt",
    "shift": "Shift",
    "enter": "Enter",
    "return": "Enter",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "space": " ",
    "spacebar": " ",
    "backspace": "Backspace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "PageUp",
    "page_up": "PageUp",
    "pagedown": "PageDown",
    "page_down": "PageDown",
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "arrowup": "ArrowUp",
    "arrowdown": "ArrowDown",
    "arrowleft": "ArrowLeft",
    "arrowright": "ArrowRight",
    "capslock": "CapsLock",
    "plus": "+",
}


def _one_key(name: str) -> str:
    key = name.strip()
    if not key:
        raise ValueError("empty key name")
    low = key.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    if len(low) in (2, 3) and low[0] == "f" and low[1:].isdigit() and 1 <= int(low[1:]) <= 24:
        return low.upper()
    if len(key) == 1:
        return key
    # Playwright's own names (e.g. 'NumpadEnter', 'KeyA') pass through unchanged.
    return key[0].upper() + key[1:]


def to_playwright_combo(keys: str) -> str:
    """'ctrl+shift+t' -> 'Control+Shift+t'; 'ctrl++' -> 'Control++'."""
    text = keys.strip()
    parts: list[str] = []
    if text.endswith("++"):
        text, trailing = text[:-2], "+"
        parts = [p for p in text.split("+") if p] + [trailing]
    else:
        parts = text.split("+") if text != "+" else ["+"]
    return "+".join(_one_key(p) for p in parts)
