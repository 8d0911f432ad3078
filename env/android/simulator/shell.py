"""The simulated device's ``/system/bin/sh``: it parses a command line the way sh does and interprets it.

adb hands the device one command line; a real phone runs it through mksh. This module does the same
parsing (quotes, backslashes, ``$?``/``$VAR``/``$(...)``/backticks, word splitting, ``;`` ``&&`` ``||``
``|`` ``&``, redirections) so that escaping bugs on the host side show up exactly as they would on a
phone. It never starts a process: every command is a Python coroutine (coreutils.py and the
device's commands); anything else answers like mksh,
``/system/bin/sh: NAME: inaccessible or not found`` with status 127. Control structures (``if``,
``for``, subshells, here-documents, arithmetic) are refused with a syntax error rather than
half-interpreted.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pixelpilot.env.android.simulator.filesystem import VirtualFS, error_text

Writer = Callable[[bytes], Awaitable[None]]
SH = "/system/bin/sh"
RESERVED = frozenset("if then else elif fi do done case esac while until for function select time { } [[ ]]".split())
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ShellSyntaxError(Exception):
    """The line cannot be parsed (or uses syntax the simulated shell refuses)."""


class ExitShell(Exception):
    """`exit N`: ends the whole line with status N."""

    def __init__(self, status: int) -> None:
        self.status = status


# --------------------------------------------------------------------------- lexing
@dataclass
class Part:
    kind: str  # "lit" | "var" | "cmd"
    value: str
    quoted: bool


@dataclass
class Word:
    parts: list[Part] = field(default_factory=list)

    def literal(self) -> str | None:
        """The word's text when it is one unquoted literal (operators, reserved words, fds)."""
        if len(self.parts) == 1 and self.parts[0].kind == "lit" and not self.parts[0].quoted:
            return self.parts[0].value
        return None


@dataclass
class Op:
    value: str


def _find_close_paren(line: str, i: int) -> int:
    """Index of the ``)`` closing a ``$(`` whose body starts at ``i``, skipping quoted text."""
    depth = 1
    while i < len(line):
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                break
            i = j + 1
            continue
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError("no closing quote")


def _dollar(line: str, i: int, quoted: bool) -> tuple[Part, int]:
    """Parse an expansion at ``line[i] == '$'``; returns the part and the index after it."""
    nxt = line[i + 1] if i + 1 < len(line) else ""
    if nxt == "(":
        if line.startswith("((", i + 1):
            raise ShellSyntaxError("arithmetic expansion $((...)) is not supported by the PixelSim shell")
        end = _find_close_paren(line, i + 2)
        return Part("cmd", line[i + 2 : end], quoted), end + 1
    if nxt == "{":
        end = line.find("}", i + 2)
        if end < 0:
            raise ShellSyntaxError("missing '}'")
        name = line[i + 2 : end]
        if not (_NAME.fullmatch(name) or name in ("?", "$", "#", "!", "@", "*", "-") or name.isdigit()):
            raise ShellSyntaxError(f"${{{name}}}: parameter operators are not supported by the PixelSim shell")
        return Part("var", name, quoted), end + 1
    if nxt and nxt in "?$#!@*-0123456789":
        return Part("var", nxt, quoted), i + 2
    m = _NAME.match(line, i + 1)
    if m:
        return Part("var", m.group(0), quoted), m.end()
    return Part("lit", "$", quoted), i + 1


def tokenize(line: str) -> list[Word | Op]:
    tokens: list[Word | Op] = []
    word: Word | None = None
    i, n = 0, len(line)

    def add(part: Part) -> None:
        nonlocal word
        if word is None:
            word = Word()
        word.parts.append(part)

    def end_word() -> None:
        nonlocal word
        if word is not None:
            tokens.append(word)
            word = None

    while i < n:
        c = line[i]
        if c in " \t":
            end_word()
            i += 1
        elif c == "\n":
            end_word()
            tokens.append(Op(";"))
            i += 1
        elif c == "#" and word is None:
            while i < n and line[i] != "\n":
                i += 1
        elif c in ";&|<>()":
            if c in "<>" and word is not None and (lit := word.literal()) is not None and lit.isdigit():
                word = None  # "2>": the digits name the file descriptor
                fd = lit
            else:
                end_word()
                fd = ""
            for op in ("&&", "||", ";;", ">>", ">&", "<&", "<<", ">|", c):
                if line.startswith(op, i):
                    break
            if op in (";;", "<<", "(", ")"):
                raise ShellSyntaxError(f"'{op}' is not supported by the PixelSim shell")
            tokens.append(Op(fd + op))
            i += len(op)
        elif c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("no closing quote")
            add(Part("lit", line[i + 1 : j], True))
            i = j + 1
        elif c == '"':
            i += 1
            add(Part("lit", "", True))  # "" is an empty word, not no word
            buf: list[str] = []
            while True:
                if i >= n:
                    raise ShellSyntaxError("no closing quote")
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
                    if line[i + 1] != "\n":
                        buf.append(line[i + 1])
                    i += 2
                elif c == "$" or c == "`":
                    if buf:
                        add(Part("lit", "".join(buf), True))
                        buf = []
                    if c == "$":
                        part, i = _dollar(line, i, True)
                    else:
                        part, i = _backtick(line, i, True)
                    add(part)
                else:
                    buf.append(c)
                    i += 1
            if buf:
                add(Part("lit", "".join(buf), True))
        elif c == "\\":
            if i + 1 < n and line[i + 1] == "\n":
                i += 2
            else:
                add(Part("lit", line[i + 1 : i + 2], True))
                i += 2
        elif c == "$":
            part, i = _dollar(line, i, False)
            add(part)
        elif c == "`":
            part, i = _backtick(line, i, False)
            add(part)
        else:
            j = i
            while j < n and line[j] not in " \t\n;&|<>()'\"\\$`":
                j += 1
            add(Part("lit", line[i:j], False))
            i = j
    end_word()
    return tokens


def _backtick(line: str, i: int, quoted: bool) -> tuple[Part, int]:
    j = i + 1
    body: list[str] = []
    while j < len(line) and line[j] != "`":
        if line[j] == "\\" and j + 1 < len(line) and line[j + 1] in "`\\$":
            body.append(line[j + 1])
            j += 2
            continue
        body.append(line[j])
        j += 1
    if j >= len(line):
        raise ShellSyntaxError("no closing quote")
    return Part("cmd", "".join(body), quoted), j + 1


# --------------------------------------------------------------------------- parsing
@dataclass
class Redirect:
    fd: int
    op: str  # ">", ">>", "<", ">&", "<&"
    target: Word


@dataclass
class Command:
    words: list[Word]
    redirects: list[Redirect]


@dataclass
class Pipeline:
    commands: list[Command]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]


def parse(line: str) -> list[AndOr]:
    tokens = tokenize(line)
    pos = 0

    def peek() -> Word | Op | None:
        return tokens[pos] if pos < len(tokens) else None

    def command() -> Command:
        nonlocal pos
        words: list[Word] = []
        redirects: list[Redirect] = []
        while (tok := peek()) is not None:
            if isinstance(tok, Word):
                if not words and not redirects and tok.literal() in RESERVED:
                    raise ShellSyntaxError(f"'{tok.literal()}' is not supported by the PixelSim shell")
                words.append(tok)
                pos += 1
                continue
            m = re.fullmatch(r"(\d*)(>>|>&|<&|>\||>|<)", tok.value)
            if not m:
                break
            pos += 1
            target = peek()
            if not isinstance(target, Word):
                raise ShellSyntaxError(f"syntax error: '{tok.value}' unexpected")
            pos += 1
            op = ">" if m.group(2) == ">|" else m.group(2)
            fd = int(m.group(1)) if m.group(1) else (0 if op[0] == "<" else 1)
            redirects.append(Redirect(fd, op, target))
        if not words and not redirects:
            tok = peek()
            raise ShellSyntaxError(f"syntax error: '{tok.value if isinstance(tok, Op) else 'newline'}' unexpected")
        return Command(words, redirects)

    def pipeline() -> Pipeline:
        nonlocal pos
        negate = False
        tok = peek()
        if isinstance(tok, Word) and tok.literal() == "!":
            negate = True
            pos += 1
        commands = [command()]
        while isinstance(tok := peek(), Op) and tok.value == "|":
            pos += 1
            commands.append(command())
        return Pipeline(commands, negate)

    script: list[AndOr] = []
    while pos < len(tokens):
        tok = peek()
        if isinstance(tok, Op) and tok.value in (";", "&"):
            if not script:
                raise ShellSyntaxError(f"syntax error: '{tok.value}' unexpected")
            pos += 1
            continue
        first = pipeline()
        rest: list[tuple[str, Pipeline]] = []
        while isinstance(tok := peek(), Op) and tok.value in ("&&", "||"):
            pos += 1
            rest.append((tok.value, pipeline()))
        script.append(AndOr(first, rest))
        tok = peek()
        if tok is not None and not (isinstance(tok, Op) and tok.value in (";", "&")):
            raise ShellSyntaxError(f"syntax error: '{tok.value if isinstance(tok, Op) else 'word'}' unexpected")
    return script


# --------------------------------------------------------------------------- running
@dataclass
class Invocation:
    """One command's view of the world: its argv, stdin and output streams."""

    args: list[str]
    stdin: bytes
    out: Writer
    err: Writer
    shell: Shell

    async def print(self, text: str, end: str = "\n") -> None:
        await self.out((text + end).encode())

    async def error(self, text: str, end: str = "\n") -> None:
        await self.err((text + end).encode())


Handler = Callable[[Invocation], Awaitable[int]]


class _Capture:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def __call__(self, data: bytes) -> None:
        self.chunks.append(data)

    def value(self) -> bytes:
        return b"".join(self.chunks)


async def _discard(data: bytes) -> None:
    return None


class Shell:
    """One ``sh -c LINE``: variables live as long as the line; files and the device outlive it."""

    def __init__(self, commands: Mapping[str, Handler], fs: VirtualFS) -> None:
        self.commands = dict(commands)
        self.fs = fs
        self.vars: dict[str, str] = {
            "?": "0", "$": "4242", "#": "0", "0": SH, "HOME": "/", "USER": "shell", "HOSTNAME": "localhost",
            "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin",
            "SHELL": SH, "TMPDIR": "/data/local/tmp", "EXTERNAL_STORAGE": "/sdcard", "ANDROID_DATA": "/data",
        }  # fmt: skip

    async def run(self, line: str, out: Writer, err: Writer, stdin: bytes = b"") -> int:
        try:
            script = parse(line)
        except ShellSyntaxError as exc:
            await err(f"{SH}: {exc}\n".encode())
            return 1
        try:
            for item in script:
                status = await self._pipeline(item.first, out, err, stdin)
                for op, pipeline in item.rest:
                    if (op == "&&") == (status == 0):
                        status = await self._pipeline(pipeline, out, err, stdin)
                self.vars["?"] = str(status)
        except ExitShell as exc:
            self.vars["?"] = str(exc.status)
        except ShellSyntaxError as exc:
            await err(f"{SH}: {exc}\n".encode())
            self.vars["?"] = "1"
        return int(self.vars["?"])

    async def _pipeline(self, pipeline: Pipeline, out: Writer, err: Writer, stdin: bytes) -> int:
        data = stdin
        status = 0
        for i, command in enumerate(pipeline.commands):
            last = i == len(pipeline.commands) - 1
            capture = None if last else _Capture()
            status = await self._command(command, out if capture is None else capture, err, data)
            if capture is not None:
                data = capture.value()
        if pipeline.negate:
            status = int(status == 0)
        self.vars["?"] = str(status)
        return status

    async def _command(self, command: Command, out: Writer, err: Writer, stdin: bytes) -> int:
        argv: list[str] = []
        for word in command.words:
            argv.extend(await self._expand(word, err))
        assignments: dict[str, str] = {}
        while argv and (m := re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", argv[0], re.S)):
            argv.pop(0)
            assignments[m.group(1)] = m.group(2)
        if not argv:
            self.vars.update(assignments)  # NAME=value alone sets a variable; before a command it is env
        pending: list[tuple[str, _Capture]] = []
        streams: dict[int, Writer] = {1: out, 2: err}
        for redirect in command.redirects:
            target = "".join(await self._expand(redirect.target, err))
            if redirect.op in (">&", "<&"):
                if target == "-":
                    streams[redirect.fd] = _discard
                elif target.isdigit() and int(target) in streams:
                    streams[redirect.fd] = streams[int(target)]
                else:
                    await err(f"{SH}: {target}: bad file descriptor\n".encode())
                    return 1
                continue
            if redirect.op == "<":
                try:
                    stdin = self.fs.read(target)
                except OSError as exc:
                    await err(f"{SH}: can't open {target}: {error_text(exc)}\n".encode())
                    return 1
                continue
            if self.fs.resolve(target) == "/dev/null":
                streams[redirect.fd] = _discard
                continue
            try:  # create (or truncate) now, as sh does before the command runs
                self.fs.write(target, b"", append=redirect.op == ">>")
            except OSError as exc:
                await err(f"{SH}: can't create {target}: {error_text(exc)}\n".encode())
                return 1
            capture = _Capture()
            pending.append((target, capture))
            streams[redirect.fd] = capture
        if not argv:
            status = 0
        else:
            status = await self._exec(argv, stdin, streams[1], streams[2])
        for target, capture in pending:
            self.fs.write(target, capture.value(), append=True)
        return status

    async def _exec(self, argv: list[str], stdin: bytes, out: Writer, err: Writer) -> int:
        name = argv[0]
        if "/" in name:
            directory, base = posixpath.split(self.fs.resolve(name))
            handler = self.commands.get(base) if directory in ("/system/bin", "/system/xbin", "/bin") else None
        else:
            handler = self.commands.get(name)
        if handler is None:
            await err(f"{SH}: {name}: inaccessible or not found\n".encode())
            return 127
        try:
            return await handler(Invocation(argv, stdin, out, err, self))
        except (ExitShell, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a failing command is an error message, not a dead stream
            await err(f"{name}: PixelSim internal error: {type(exc).__name__}: {exc}\n".encode())
            return 1

    async def _expand(self, word: Word, err: Writer) -> list[str]:
        """Expansions and field splitting (no globbing: a ``*`` stays a ``*``)."""
        fields: list[str] = []
        current: list[str] = []
        started = False
        for part in word.parts:
            if part.kind == "lit":
                current.append(part.value)
                started = True
                continue
            if part.kind == "var":
                value = self.vars.get(part.value, "")
            else:
                capture = _Capture()
                sub = Shell(self.commands, self.fs)
                sub.vars = dict(self.vars)
                await sub.run(part.value, capture, err)
                value = capture.value().decode("utf-8", "replace").rstrip("\n")
            if part.quoted:
                current.append(value)
                started = True
                continue
            pieces = value.split()
            if not pieces:
                if value and started:
                    fields.append("".join(current))
                    current, started = [], False
                continue
            if value[:1].isspace() and started:
                fields.append("".join(current))
                current = []
            for j, piece in enumerate(pieces):
                if j:
                    fields.append("".join(current))
                    current = []
                current.append(piece)
            started = True
            if value[-1:].isspace():
                fields.append("".join(current))
                current = []
                started = False
        if started:
            fields.append("".join(current))
        return fields
