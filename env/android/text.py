"""Typing through ``input text`` safely, and the plan that delivers every character of a ``type`` action.

The device shell parses the command line, so the text travels single-quoted (a hostile string
types literally and never runs as a command). ``input text`` turns ``%s`` into a space: spaces
are sent as ``%s``, and a literal ``%s`` in the text is split across two commands so it survives.
Non-ASCII text cannot go through ``input text`` at all; it needs the ADB Keyboard IME's broadcast.

A newline and a tab are keys, not text: :func:`typing_plan` splits the text into runs and the
KEYCODE_ENTER / KEYCODE_TAB presses between them, so the env can check after each key where the
focus went (a single-line field submits or moves on) instead of typing the rest into nothing.
Any other control character has no key on a phone and is refused before anything is typed.
"""

from __future__ import annotations

from dataclasses import dataclass

ADB_KEYBOARD_IME = "com.android.adbkeyboard/.AdbIME"


def sh_quote(text: str) -> str:
    """Quote for a POSIX shell: everything literal inside single quotes; ' becomes '\\''."""
    return "'" + text.replace("'", "'\\''") + "'"


def input_text_commands(text: str) -> list[str]:
    """``input text`` command lines that type ``text`` (printable ASCII) literally."""
    if not text.isascii() or not text.isprintable():
        raise ValueError("input text only types printable ASCII; newline and tab are keys (see typing_plan)")
    commands: list[str] = []
    # split so no chunk contains a literal "%s" (which input would turn into a space)
    chunks: list[str] = []
    current = ""
    for ch in text:
        if ch == "s" and current.endswith("%"):
            chunks.append(current)
            current = ""
        current += ch
    chunks.append(current)
    for chunk in chunks:
        if not chunk:
            continue
        encoded = chunk.replace(" ", "%s")
        commands.append(f"input text {sh_quote(encoded)}")
    return commands


def adb_keyboard_command(text: str) -> str:
    return f"am broadcast -a ADB_INPUT_TEXT --es msg {sh_quote(text)}"


NEEDS_ADB_KEYBOARD = (
    f"typing non-ASCII text needs the ADB Keyboard IME ({ADB_KEYBOARD_IME}), which this device does not have "
    f"enabled and selected: install the ADB Keyboard app, then run `adb shell ime enable {ADB_KEYBOARD_IME}` and "
    f"`adb shell ime set {ADB_KEYBOARD_IME}`"
)

#: Characters typed as a key press: (what to call it, KEYCODE_* number, KEYCODE_* name).
KEYS_FOR = {
    "\n": ("newline", 66, "KEYCODE_ENTER"),
    "\r": ("newline", 66, "KEYCODE_ENTER"),
    "\t": ("tab", 61, "KEYCODE_TAB"),
}


@dataclass(frozen=True)
class TextRun:
    """Text typed as text (``input text`` or the IME), starting at ``index`` of the action's text."""

    text: str
    index: int


@dataclass(frozen=True)
class KeyPress:
    """A newline (``\\n``, ``\\r\\n`` or ``\\r``) or tab, pressed as its key; ``end`` is where the text goes on."""

    name: str
    keycode: int
    keyname: str
    index: int
    end: int


class UntypableCharacter(ValueError):
    """A character no key or IME on the device can type; raised before anything is typed."""

    def __init__(self, char: str, index: int, why: str) -> None:
        self.char, self.index, self.why = char, index, why
        super().__init__(f"cannot type {describe_char(char)} at index {index}: {why}")

    def describe(self, secret: bool) -> str:
        """The message, without the character itself when it belongs to a secret field."""
        what = f"the character at index {self.index}" if secret else f"{describe_char(self.char)} at index {self.index}"
        return f"cannot type {what}: {self.why}"


def describe_char(char: str) -> str:
    """``'é' (U+00E9)``; control characters by code point only (``U+0007``), since they print as nothing."""
    code = f"U+{ord(char):04X}"
    return f"{char!r} ({code})" if char.isprintable() else code


def typing_plan(text: str) -> list[TextRun | KeyPress]:
    """Split ``text`` into text runs and the Enter/Tab presses between them; refuse control characters.

    ``\\r\\n`` is one newline, as is a lone ``\\r``: both mean "new line" to whoever wrote the text.
    """
    plan: list[TextRun | KeyPress] = []
    start = i = 0
    while i < len(text):
        ch = text[i]
        if ch in KEYS_FOR:
            if i > start:
                plan.append(TextRun(text[start:i], start))
            end = i + 2 if text.startswith("\r\n", i) else i + 1
            name, code, keyname = KEYS_FOR[ch]
            plan.append(KeyPress(name, code, keyname, i, end))
            start = i = end
            continue
        if ch.isascii() and not ch.isprintable():
            why = (
                "it is a control character and Android has no key for it (only printable text, "
                "newline as KEYCODE_ENTER and tab as KEYCODE_TAB can be typed)"
            )
            raise UntypableCharacter(ch, i, why)
        i += 1
    if start < len(text):
        plan.append(TextRun(text[start:], start))
    return plan
