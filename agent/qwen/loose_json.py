"""Lenient JSON reading: JSON, JSON5-ish text and Python literals as models write them.

Models write JSON with single quotes, trailing commas, unquoted keys or Python literals, and stop
one brace short. :func:`loads_loose` accepts what a reader would accept. What is never accepted is
a value cut off by the end of the text (``[100, 2``, a string without its closing quote): closing it
would invent a value, so the reader raises :class:`LooseJSONCutOff` instead.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any


class LooseJSONError(ValueError):
    """Text that is not even json5-ish. ``pos`` is the character offset where reading stopped."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class LooseJSONCutOff(LooseJSONError):
    """The text ended in the middle of a value (a number, string, list, key or argument list)."""


_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_KEYWORDS: dict[str, Any] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
    "none": None,
}
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "0": "\0",
    "/": "/",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "\n": "",  # line continuation
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_MAX_DEPTH = 64


class LooseReader:
    """A small recursive-descent reader for JSON5-ish and Python-literal text.

    Accepts: single- or double-quoted strings (raw newlines allowed, Python/JSON escapes), unquoted
    keys, bare words as string values, trailing and missing commas, ``(...)`` as lists,
    ``True/False/None`` and ``true/false/null``, ``//``, ``/* */`` and ``#`` comments, hex numbers.

    Running out of text inside a value raises :class:`LooseJSONCutOff`. With ``close_at_end``, an
    object whose last value is complete (a closed string, list or object, or a keyword) is closed
    at the end of the text, as if its ``}`` had been written; a number or bare word touching the
    end is not complete (``2`` may be the start of ``250``).
    """

    def __init__(self, text: str, *, close_at_end: bool = False) -> None:
        self.s = text
        self.i = 0
        self.close_at_end = close_at_end
        #: whether the value read last might continue past the end of the text
        self._open_ended = False

    def fail(self, message: str) -> LooseJSONError:
        return LooseJSONError(f"{message} at character {self.i}", self.i)

    def cut(self, message: str) -> LooseJSONCutOff:
        return LooseJSONCutOff(f"the output ends {message}", self.i)

    def read_all(self) -> Any:
        value = self.value(0)
        self.ws()
        if self.i != len(self.s):
            raise self.fail(f"unexpected {self.s[self.i]!r} after the value")
        return value

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c.isspace():
                self.i += 1
            elif s.startswith("//", self.i) or c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = n if end < 0 else end + 2
            else:
                return

    def value(self, depth: int) -> Any:
        self.ws()
        if depth > _MAX_DEPTH:
            raise self.fail("nesting too deep")
        c = self.peek()
        self._open_ended = False
        if not c:
            raise self.cut("where a value should start")
        if c == "{":
            return self.obj(depth)
        if c in "[(":
            return self.arr("]" if c == "[" else ")", depth)
        if c in "\"'":
            return self.string()
        if c in "+-.0123456789":
            m = _NUMBER.match(self.s, self.i)
            if m:
                self.i = m.end()
                text = m.group()
                self._open_ended = self.i == len(self.s)
                if self._open_ended and self.close_at_end:
                    raise self.cut(f"in the middle of the number {text!r}")
                if "x" in text or "X" in text:
                    return int(text, 16)
                if any(ch in text for ch in ".eE"):
                    return float(text)
                return int(text)
        m = _IDENT.match(self.s, self.i)
        if m:
            self.i = m.end()
            word = m.group()
            self._open_ended = self.i == len(self.s) and word not in _KEYWORDS
            if self._open_ended and self.close_at_end:
                raise self.cut(f"in the middle of the word {word!r}")
            return _KEYWORDS.get(word, word)
        raise self.fail(f"unexpected {c!r}")

    def obj(self, depth: int) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            c = self.peek()
            if c == "}":
                self.i += 1
                return out
            if c and c in "\"'":
                key = self.string()
            else:
                m = _IDENT.match(self.s, self.i) or _NUMBER.match(self.s, self.i)
                if not m:
                    if not c:
                        raise self.cut("inside an object, before its next key")
                    raise self.fail(f"expected a key or '}}', got {c!r}")
                self.i = m.end()
                key = m.group()
            self.ws()
            if not self.peek():
                raise self.cut(f"after the key {key!r}, before its value")
            if self.peek() != ":":
                raise self.fail(f"expected ':' after the key {key!r}")
            self.i += 1
            out[key] = self.value(depth + 1)
            self.ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c == "}":
                self.i += 1
                return out
            elif not c:
                if self.close_at_end and not self._open_ended:
                    return out  # the last value is complete: only the '}' is missing
                raise self.cut(f"inside an object, after the value of {key!r}, before its closing '}}'")
            elif not (c in "\"'" or c.isalpha() or c == "_"):  # else: a missing comma
                raise self.fail("expected ',' or '}'")

    def arr(self, closer: str, depth: int) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.peek() == closer:
                self.i += 1
                return out
            out.append(self.value(depth + 1))
            self.ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c == closer:
                self.i += 1
                return out
            elif not c:
                raise self.cut(f"inside a list, before its closing {closer!r}")
            else:
                raise self.fail(f"expected ',' or {closer!r}")

    def string(self) -> str:
        s, n = self.s, len(self.s)
        quote = s[self.i]
        i = self.i + 1
        buf: list[str] = []
        while i < n:
            c = s[i]
            if c == quote:
                self.i = i + 1
                out = "".join(buf)
                if any("\ud800" <= ch <= "\udfff" for ch in out):  # \uD83D\uDE00 pairs -> one character
                    out = out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
                return out
            if c == "\\" and i + 1 < n:
                nxt = s[i + 1]
                if nxt in _HEX_ESCAPES:
                    digits = s[i + 2 : i + 2 + _HEX_ESCAPES[nxt]]
                    if len(digits) == _HEX_ESCAPES[nxt] and all(d in "0123456789abcdefABCDEF" for d in digits):
                        code = int(digits, 16)
                        if code <= 0x10FFFF:
                            buf.append(chr(code))
                            i += 2 + len(digits)
                            continue
                    buf.append(c + nxt)
                elif nxt in _ESCAPES:
                    buf.append(_ESCAPES[nxt])
                else:  # unknown escape: keep the backslash, as Python does (Windows paths survive)
                    buf.append(c + nxt)
                i += 2
                continue
            buf.append(c)
            i += 1
        self.i = n
        raise self.cut(f"inside a string (no closing {quote})")


def _from_python(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_from_python(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _from_python(v) for k, v in value.items()}
    return value


def loads_loose(text: str) -> Any:
    """Parse JSON, JSON5-ish text or a Python literal. Raises :class:`LooseJSONError`."""
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    try:
        return LooseReader(text).read_all()
    except LooseJSONError as exc:
        first = exc
    try:
        return _from_python(ast.literal_eval(text.strip()))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise first from None


__all__ = ["LooseJSONCutOff", "LooseJSONError", "LooseReader", "loads_loose"]
