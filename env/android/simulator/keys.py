"""Android key codes: names and numbers as ``input keyevent`` accepts them, and how the page receives them."""

from __future__ import annotations

#: KeyEvent.KEYCODE_* values (the commonly injected ones; see android.view.KeyEvent).
KEYCODES: dict[str, int] = {
    "UNKNOWN": 0, "SOFT_LEFT": 1, "SOFT_RIGHT": 2, "HOME": 3, "BACK": 4, "CALL": 5, "ENDCALL": 6,
    **{str(d): 7 + d for d in range(10)},
    "STAR": 17, "POUND": 18, "DPAD_UP": 19, "DPAD_DOWN": 20, "DPAD_LEFT": 21, "DPAD_RIGHT": 22, "DPAD_CENTER": 23,
    "VOLUME_UP": 24, "VOLUME_DOWN": 25, "POWER": 26, "CAMERA": 27, "CLEAR": 28,
    **{chr(ord("A") + i): 29 + i for i in range(26)},
    "COMMA": 55, "PERIOD": 56, "ALT_LEFT": 57, "ALT_RIGHT": 58, "SHIFT_LEFT": 59, "SHIFT_RIGHT": 60, "TAB": 61,
    "SPACE": 62, "SYM": 63, "EXPLORER": 64, "ENVELOPE": 65, "ENTER": 66, "DEL": 67, "GRAVE": 68, "MINUS": 69,
    "EQUALS": 70, "LEFT_BRACKET": 71, "RIGHT_BRACKET": 72, "BACKSLASH": 73, "SEMICOLON": 74, "APOSTROPHE": 75,
    "SLASH": 76, "AT": 77, "NUM": 78, "HEADSETHOOK": 79, "FOCUS": 80, "PLUS": 81, "MENU": 82, "NOTIFICATION": 83,
    "SEARCH": 84, "MEDIA_PLAY_PAUSE": 85, "MEDIA_STOP": 86, "MEDIA_NEXT": 87, "MEDIA_PREVIOUS": 88,
    "MEDIA_REWIND": 89, "MEDIA_FAST_FORWARD": 90, "MUTE": 91, "PAGE_UP": 92, "PAGE_DOWN": 93, "ESCAPE": 111,
    "FORWARD_DEL": 112, "CTRL_LEFT": 113, "CTRL_RIGHT": 114, "CAPS_LOCK": 115, "MOVE_HOME": 122, "MOVE_END": 123,
    "INSERT": 124, "MEDIA_PLAY": 126, "MEDIA_PAUSE": 127, "NUMPAD_ENTER": 160, "VOLUME_MUTE": 164,
    "APP_SWITCH": 187, "SETTINGS": 176, "BRIGHTNESS_DOWN": 220, "BRIGHTNESS_UP": 221, "SLEEP": 223,
    "WAKEUP": 224, "ASSIST": 219, "VOICE_ASSIST": 231, "CUT": 277, "COPY": 278, "PASTE": 279, "ALL_APPS": 284,
}  # fmt: skip

#: Key codes the focused view receives, as Playwright key names. BACK, HOME, APP_SWITCH and the power
#: keys act on the phone itself (device.py); other valid codes are accepted with no visible effect.
PAGE_KEYS: dict[int, str] = {
    **{7 + d: str(d) for d in range(10)},
    **{29 + i: chr(ord("a") + i) for i in range(26)},
    17: "*", 18: "#", 19: "ArrowUp", 20: "ArrowDown", 21: "ArrowLeft", 22: "ArrowRight", 23: "Enter",
    55: ",", 56: ".", 61: "Tab", 62: " ", 66: "Enter", 67: "Backspace", 68: "`", 69: "-", 70: "=", 71: "[",
    72: "]", 73: "\\", 74: ";", 75: "'", 76: "/", 77: "@", 81: "+", 92: "PageUp", 93: "PageDown",
    112: "Delete", 122: "Home", 123: "End", 160: "Enter",
}  # fmt: skip


def keycode(name: str) -> int | None:
    """``KEYCODE_BACK``, ``BACK``, ``back`` or ``4`` -> 4; None for a name Android does not know."""
    text = name.strip()
    if text.isdigit():
        code = int(text)
        return code if 0 <= code <= 400 else None
    text = text.upper()
    if text.startswith("KEYCODE_"):
        text = text[len("KEYCODE_") :]
    return KEYCODES.get(text)
