"""Tolerant extraction of tool calls from model text, and the argument checks dialects share.

Models wrap their calls in prose, ``Thought:``/``Action:`` labels and code fences, write JSON with
single quotes, trailing commas, unquoted keys or Python literals, forget the closing ``</tool_call>``
or stop one brace short. Everything here accepts what a reader would accept and, when nothing
can be read, raises :class:`ParseError` with a message precise enough to be fed back to the model.

What is never accepted is a value cut off by the end of the output (``"coordinate": [100, 2``, a
string without its closing quote, a key without its value, a call without its ``)``): closing it
would invent a value (y=2 where the model was writing 250). Only objects whose last value is
complete are closed; everything else raises :class:`TruncatedOutputError`.

Two readers:

- :func:`extract_tool_calls` / :func:`extract_json_objects`: JSON-ish objects, inside
  ``<tool_call>`` blocks when there are any, else anywhere in the text (Qwen2.5-VL, ShowUI).
- :func:`find_function_calls`: Python-style calls ``click(start_box='(1,2)')`` (UI-TARS).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agent.qwen.dialects.base import ParseError, TruncatedOutputError
from agent.qwen.resize import ResizeGeometry
from tools import ActionBase

EXPECTED_TOOL_CALL = "<tool_call>{...}</tool_call>"

_TOOL_CALL_OPEN = re.compile(r"<\s*tool_call\s*>", re.I)
_TOOL_CALL_CLOSE = re.compile(r"<\s*/\s*tool_call\s*>", re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*")
_LABEL = re.compile(r"^\s*(?:thought|thoughts|action|reasoning)\s*:\s*", re.I | re.M)


# ----------------------------------------------------------------------------- loose JSON
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


class _LooseReader:
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
        return _LooseReader(text).read_all()
    except LooseJSONError as exc:
        first = exc
    try:
        return _from_python(ast.literal_eval(text.strip()))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise first from None


# ----------------------------------------------------------------------------- finding objects
def _string_end(text: str, start: int) -> int:
    """Index just past the quoted string starting at ``start`` (backslash escapes honoured), or -1."""
    quote = text[start]
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i + 1
        i += 1
    return -1


def _balanced_end(text: str, start: int) -> tuple[int, list[str] | None]:
    """(index just past the bracket closing ``text[start]``, None), or (-1, closers still open) when
    the text ends first (also inside a string), or (-1, None) for a mismatched bracket."""
    closers = {"{": "}", "[": "]"}
    stack: list[str] = []
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            end = _string_end(text, i)
            if end < 0:
                return -1, stack
            i = end
            continue
        if c in closers:
            stack.append(closers[c])
        elif c in "}]":
            if not stack or stack[-1] != c:
                return -1, None
            stack.pop()
            if not stack:
                return i + 1, None
        i += 1
    return -1, stack


@dataclass
class JsonMatch:
    """A JSON-ish object found in text: the value and where it was."""

    value: dict[str, Any]
    start: int
    end: int


def find_json_objects(text: str, *, repair: bool = True) -> tuple[list[JsonMatch], LooseJSONError | None]:
    """Every top-level ``{...}`` in ``text`` that reads as an object, and the first reading error
    (a :class:`LooseJSONCutOff` when an object was cut off by the end of the text).

    Braces inside strings do not count. A candidate that does not read (prose in braces) is skipped
    and its inside searched. An object running to the end of the text is cut off: an error, and
    nothing inside it is searched (the inner object of a cut-off call is not a call); except that
    with ``repair`` one whose last value is complete (a model that stopped one brace short) is
    closed and read.
    """
    found: list[JsonMatch] = []
    error: LooseJSONError | None = None
    i = text.find("{")
    while 0 <= i < len(text):
        end, open_closers = _balanced_end(text, i)
        if end > 0:
            candidate = text[i:end]
            try:
                value = loads_loose(candidate)
            except LooseJSONError as exc:  # prose in braces, or a comment hiding the '}'
                error = error or LooseJSONError(f"{exc} of {_clip(candidate)!r}", exc.pos)
                value = None
        elif open_closers is not None:
            candidate = _FENCE.sub(" ", text[i:])  # a fence ends a value as surely as a space
            try:
                value = _LooseReader(candidate, close_at_end=repair).read_all()
            except LooseJSONCutOff as exc:
                error = LooseJSONCutOff(f"{exc}: {clip_end(candidate)!r}", exc.pos)
                break
            except LooseJSONError as exc:
                error = error or LooseJSONError(f"{exc} of {_clip(candidate)!r}", exc.pos)
                value = None
            end = len(text)
        else:
            error = error or LooseJSONError(f"unbalanced braces in {_clip(text[i:])!r}", i)
            value = None
        if isinstance(value, dict):
            found.append(JsonMatch(value, i, end))
            i = text.find("{", end)
            continue
        i = text.find("{", i + 1)
    return found, error


def _clip(text: str, limit: int = 80) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip_end(text: str, limit: int = 60) -> str:
    """The last ``limit`` characters: where a cut-off output stopped is what the model needs to see."""
    text = text.strip()
    return text if len(text) <= limit else "..." + text[3 - limit :]


def tool_call_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each ``<tool_call>`` block's content; a block without its closing tag ends at
    the next opening tag or at the end of the text. Empty when there is no opening tag."""
    opens = list(_TOOL_CALL_OPEN.finditer(text))
    blocks = []
    for k, m in enumerate(opens):
        limit = opens[k + 1].start() if k + 1 < len(opens) else len(text)
        close = _TOOL_CALL_CLOSE.search(text, m.end(), limit)
        blocks.append((m.end(), close.start() if close else limit))
    return blocks


@dataclass
class ExtractedCalls:
    """The JSON objects found in a model output, in order, and the text around them."""

    calls: list[dict[str, Any]]
    thought: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)


def extract_tool_calls(text: str, *, expected: str = EXPECTED_TOOL_CALL, close_objects: bool = True) -> ExtractedCalls:
    """All tool-call objects in ``text``: inside ``<tool_call>`` blocks when there are any, else any
    JSON-ish object in the text. Raises :class:`ParseError` when there is none, and
    :class:`TruncatedOutputError` when the first one is cut off by the end of the output.

    When the first ``<tool_call>`` block does not read, that is an error even if a later one does:
    executing the second of two intended calls would be worse than asking again. ``close_objects``:
    see :func:`find_json_objects` (``repair``); False where the output was stopped by the token limit.
    """
    if text is None or not text.strip():
        raise ParseError(f"no tool call found in the output (it is empty); expected {expected}")
    blocks = tool_call_blocks(text)
    calls: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    if blocks:
        for start, end in blocks:
            matches, error = find_json_objects(text[start:end], repair=close_objects)
            if not matches:
                if calls:
                    break
                block = text[start:end].strip()
                if isinstance(error, LooseJSONCutOff) or (not block and end == len(text)):
                    why = error or "the output ends right after <tool_call>"
                    raise TruncatedOutputError(f"the tool call is cut off ({why}); expected {expected}")
                why = " (the block is empty)" if not block else f" ({error})" if error else " (no {...} object in it)"
                raise ParseError(
                    f"could not read the JSON object inside <tool_call></tool_call>{why}; expected {expected}"
                )
            calls.extend(m.value for m in matches)
        open_tags = [m.start() for m in _TOOL_CALL_OPEN.finditer(text)]
        spans = [(tag, _block_end(text, end)) for tag, (_, end) in zip(open_tags, blocks, strict=True)]
    else:
        matches, error = find_json_objects(text, repair=close_objects)
        if not matches:
            if isinstance(error, LooseJSONCutOff):
                raise TruncatedOutputError(f"the tool call is cut off ({error}); expected {expected}")
            raise ParseError(f"no tool call found in the output; expected {expected}")
        calls = [m.value for m in matches]
        spans = [(m.start, m.end) for m in matches]
    return ExtractedCalls(calls=calls, thought=thought_outside(text, spans), spans=spans)


def _block_end(text: str, content_end: int) -> int:
    close = _TOOL_CALL_CLOSE.match(text, content_end)
    return close.end() if close else content_end


def extract_json_objects(text: str, *, expected: str = EXPECTED_TOOL_CALL) -> list[dict[str, Any]]:
    """The tool-call objects in ``text`` (see :func:`extract_tool_calls`); never empty."""
    return extract_tool_calls(text, expected=expected).calls


def thought_outside(text: str, spans: Sequence[tuple[int, int]]) -> str | None:
    """The text around the calls, without fences and ``Thought:``/``Action:`` labels; None if empty."""
    parts, last = [], 0
    for start, end in sorted(spans):
        parts.append(text[last:start])
        last = max(last, end)
    parts.append(text[last:])
    rest = _FENCE.sub("", "\n".join(parts))
    rest = _TOOL_CALL_OPEN.sub("", _TOOL_CALL_CLOSE.sub("", rest))
    rest = _LABEL.sub("", rest)
    rest = "\n".join(line.rstrip() for line in rest.strip().splitlines() if line.strip())
    return rest or None


# ----------------------------------------------------------------------------- Python-style calls
_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
_ARG_NAME = re.compile(r"([A-Za-z_]\w*)\s*=")


@dataclass
class FunctionCall:
    """``name(positional..., key=value...)`` as written; values are strings (quoted ones unescaped)."""

    name: str
    args: dict[str, str]
    positional: list[str]
    start: int
    end: int

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.name}
        if self.positional:
            out["args"] = list(self.positional)
        out.update(self.args)
        return out


def _read_call_args(text: str, pos: int) -> tuple[dict[str, str], list[str], int]:
    """Arguments of a call whose '(' ends just before ``pos``: (keyword, positional, index past ')')."""
    args: dict[str, str] = {}
    positional: list[str] = []
    reader = _LooseReader(text)
    n = len(text)
    i = pos
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise LooseJSONCutOff("the output ends before the call's closing ')'", i)
        if text[i] == ")":
            return args, positional, i + 1
        name = None
        m = _ARG_NAME.match(text, i)
        if m:
            name = m.group(1)
            i = m.end()
            while i < n and text[i].isspace():
                i += 1
        if i < n and text[i] in "\"'":
            quote, opening = text[i], i
            reader.i = i
            value = reader.string()
            i = reader.i
            j = i
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] not in ",)":
                # An unescaped quote inside the value (type(content='I'm here')): extend the value
                # to the next quote that is followed by ')' or ', name='.
                closing = re.compile(re.escape(quote) + r"\s*(?=\)|,\s*[A-Za-z_]\w*\s*=)")
                cm = closing.search(text, i)
                if cm is None:
                    if quote not in text[i:]:  # the quote that ended the value began a cut-off one
                        raise LooseJSONCutOff(f"the output ends inside the string {text[opening:]!r}", n)
                    raise LooseJSONError(f"expected ',' or ')' after the string {value!r}", j)
                raw = re.sub(r"(?<!\\)" + re.escape(quote), "\\" + quote, text[opening + 1 : cm.start()])
                value = _LooseReader(quote + raw + quote).string()
                i = cm.start() + 1
        else:  # a bare value: up to the next top-level ',' or ')'
            start, depth = i, 0
            while i < n:
                c = text[i]
                if c in "([{":
                    depth += 1
                elif c in ")]}":
                    if depth == 0:
                        break
                    depth -= 1
                elif c == "," and depth == 0:
                    break
                i += 1
            value = text[start:i].strip()
        if name is None:
            positional.append(value)
        else:
            args[name] = value
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == ",":
            i += 1
        elif i < n and text[i] == ")":
            return args, positional, i + 1
        elif i >= n:
            raise LooseJSONCutOff("the output ends before the call's closing ')'", i)
        else:
            raise LooseJSONError(f"expected ',' or ')' but found {text[i]!r}", i)


def find_function_calls(text: str, names: Collection[str] | None = None) -> list[FunctionCall]:
    """Python-style calls in ``text``, in order. With ``names``, only calls of those names (case-
    insensitive) count, so prose like 'wait (a second)' is not taken for a call; without, every
    ``identifier(`` does. Raises :class:`ParseError` when the first call's arguments do not read
    (:class:`TruncatedOutputError` when the output ends inside them)."""
    wanted = None if names is None else {n.lower() for n in names}
    out: list[FunctionCall] = []
    i = 0
    while True:
        m = _CALL_START.search(text, i)
        if m is None:
            return out
        name = m.group(1)
        if wanted is not None and name.lower() not in wanted:
            i = m.end()
            continue
        try:
            args, positional, end = _read_call_args(text, m.end())
        except LooseJSONError as exc:
            if out:
                return out
            error = TruncatedOutputError if isinstance(exc, LooseJSONCutOff) else ParseError
            raise error(f"could not read the arguments of {name}(...): {exc}") from None
        out.append(FunctionCall(name, args, positional, m.start(), end))
        i = end


# ----------------------------------------------------------------------------- argument checks
def fmt_number(value: Any) -> str:
    """A model-space number as the model would write it: 12 not 12.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def check_arguments(
    action: str, args: Mapping[str, Any], required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    """ParseError naming the first missing (absent or null) or unexpected argument of ``action``."""
    takes = ", ".join([*required, *(f"{o} (optional)" for o in optional)]) or "no arguments"
    for name in required:
        if args.get(name) is None:
            raise ParseError(f"action {action!r} is missing the argument {name!r}; it takes: {takes}")
    for name in args:
        if name not in required and name not in optional:
            raise ParseError(f"action {action!r} got an unexpected argument {name!r}; it takes: {takes}")


def as_number(value: Any, name: str) -> float:
    """A finite number; numeric strings are accepted."""
    if isinstance(value, bool):
        raise ParseError(f"{name!r} must be a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ParseError(f"{name!r} must be a number, got {value!r}") from None
    else:
        raise ParseError(f"{name!r} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise ParseError(f"{name!r} must be a finite number, got {value!r}")
    return number


_NUMBER_IN_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def as_point(value: Any, name: str) -> tuple[float, float]:
    """``[x, y]`` (also a tuple, ``{"x":..,"y":..}``, or a string such as ``'(12, 34)'``)."""
    expected = f"{name!r} must be a list of two numbers [x, y], got {value!r}"
    if isinstance(value, str):
        numbers = _NUMBER_IN_TEXT.findall(value)
        stripped = _NUMBER_IN_TEXT.sub("", value)
        if len(numbers) != 2 or re.search(r"[A-Za-z]", stripped):
            raise ParseError(expected)
        return float(numbers[0]), float(numbers[1])
    if isinstance(value, Mapping) and set(value) == {"x", "y"}:
        value = [value["x"], value["y"]]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ParseError(expected)
    try:
        return as_number(value[0], name), as_number(value[1], name)
    except ParseError:
        raise ParseError(expected) from None


def as_text(value: Any, name: str) -> str:
    """A string; a bare number is taken as its text (models type '42' as 42)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return fmt_number(value)
    raise ParseError(f"{name!r} must be a string, got {value!r}")


def model_point(
    x: float,
    y: float,
    geometry: ResizeGeometry,
    *,
    space: tuple[float, float],
    decode: Callable[[float, float], tuple[float, float]],
    name: str = "coordinate",
    hint: str = "",
) -> tuple[float, float]:
    """A model-space point -> screenshot px. Points outside ``space`` (the model's ``W x H``) are a
    ParseError; points on the far edge decode to at most ``width - 1`` / ``height - 1`` so an
    action never lands outside the screenshot."""
    w, h = space
    if not (0 <= x <= w and 0 <= y <= h):
        raise ParseError(
            f"{name} [{fmt_number(x)}, {fmt_number(y)}] is outside the {fmt_number(w)}x{fmt_number(h)} image{hint}; "
            f"x must be within 0..{fmt_number(w)} and y within 0..{fmt_number(h)}"
        )
    px, py = decode(x, y)
    return clamp_to_screen(px, py, geometry)


def clamp_to_screen(x: float, y: float, geometry: ResizeGeometry) -> tuple[float, float]:
    return min(max(x, 0.0), max(geometry.width - 1, 0)), min(max(y, 0.0), max(geometry.height - 1, 0))


def build_action(cls: type[ActionBase], model_action: str, names: Mapping[str, str] | None = None, **fields: Any):
    """``cls(**fields)``, turning a pydantic error into a ParseError in the model's own terms
    (``names`` maps pixelpilot field names to the model's argument names)."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        where = (names or {}).get(where, where)
        raise ParseError(
            f"action {model_action!r}: argument {where!r}: {err['msg']} (got {err.get('input')!r})"
        ) from None


#: Scrolls and swipes given only a direction move this fraction of the screen along their axis.
DIRECTION_FRACTION = 0.5
DIRECTIONS = ("up", "down", "left", "right")


def as_direction(value: Any, name: str = "direction") -> str:
    if isinstance(value, str) and value.strip().lower() in DIRECTIONS:
        return value.strip().lower()
    raise ParseError(f"{name!r} must be one of 'up', 'down', 'left', 'right', got {value!r}")


def direction_distance(direction: str, geometry: ResizeGeometry, fraction: float = DIRECTION_FRACTION) -> float:
    """``fraction`` of the screenshot's height (up/down) or width (left/right), in screenshot px."""
    return fraction * (geometry.height if direction in ("up", "down") else geometry.width)
