"""Typing through ``input text`` safely.

The device shell parses the command line, so the text travels single-quoted (a hostile string
types literally and never runs as a command). ``input text`` turns ``%s`` into a space: spaces
are sent as ``%s``, and a literal ``%s`` in the text is split across two commands so it survives.
Non-ASCII text cannot go through ``input text`` at all; it needs the ADB Keyboard IME's broadcast.
"""

from __future__ import annotations

ADB_KEYBOARD_IME = "com.android.adbkeyboard/.AdbIME"


def sh_quote(text: str) -> str:
    """Quote for a POSIX shell: everything literal inside single quotes; ' becomes '\\''."""
    return "'" + text.replace("'", "'\\''") + "'"


def input_text_commands(text: str) -> list[str]:
    """``input text`` command lines that type ``text`` (ASCII) literally."""
    if not text.isascii():
        raise ValueError("input text only types ASCII")
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
    f"enabled: install the ADB Keyboard app, then run `adb shell ime enable {ADB_KEYBOARD_IME}` and "
    f"`adb shell ime set {ADB_KEYBOARD_IME}`"
)
