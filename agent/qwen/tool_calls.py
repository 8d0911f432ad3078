"""Tool-call extraction: finding the calls a model wrote inside its text.

Models wrap their calls in prose, ``Thought:``/``Action:`` labels and code fences, and forget the
closing ``</tool_call>``. Two finders, both raising :class:`ParseError` with a message precise enough
to be fed back to the model when nothing can be read, and :class:`TruncatedOutputError` when the
output ends inside a call (never completed: that would invent a value):

- :func:`extract_tool_calls` / :func:`find_json_objects`: JSON-ish objects, inside ``<tool_call>``
  blocks when there are any, else anywhere in the text (Qwen2.5-VL, ShowUI);
- :func:`find_function_calls`: Python-style calls ``click(start_box='(1,2)')`` (UI-TARS).

The objects themselves are read by :mod:`pixelpilot.agent.qwen.loose_json`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pixelpilot.agent.qwen.loose_json import LooseJSONCutOff, LooseJSONError, LooseReader, loads_loose
from pixelpilot.agent.qwen.parse_errors import ParseError, TruncatedOutputError

EXPECTED_TOOL_CALL = "<tool_call>{...}</tool_call>"

_TOOL_CALL_OPEN = re.compile(r"<\s*tool_call\s*>", re.I)
_TOOL_CALL_CLOSE = re.compile(r"<\s*/\s*tool_call\s*>", re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*")
_LABEL = re.compile(r"^\s*(?:thought|thoughts|action|reasoning)\s*:\s*", re.I | re.M)


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
                value = LooseReader(candidate, close_at_end=repair).read_all()
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
    reader = LooseReader(text)
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
                value = LooseReader(quote + raw + quote).string()
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
