"""The shell's builtins and the toybox commands a shell user reaches for on a phone.

``echo``, ``true``/``false``/``:``, ``exit``, ``cd``, ``sleep`` (really sleeps: host-side timeouts
can be tested against it), ``sh -c``, ``cat``, ``ls``, ``rm``, ``mkdir``, ``touch``, ``grep``,
``head``, ``tail``, ``wc``, ``id``, ``whoami``, ``date``, ``uname``. They work on the in-memory
filesystem, never on the host's.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import time

from pixelpilot.env.android.simulator.filesystem import VirtualFS
from pixelpilot.env.android.simulator.filesystem import error_text as _why
from pixelpilot.env.android.simulator.shell import SH, ExitShell, Handler, Invocation, Shell


async def _echo(inv: Invocation) -> int:
    args = inv.args[1:]
    newline = True
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        newline = newline and "n" not in args[0]
        args = args[1:]
    await inv.print(" ".join(args), end="\n" if newline else "")
    return 0


async def _true(inv: Invocation) -> int:
    return 0


async def _false(inv: Invocation) -> int:
    return 1


async def _exit(inv: Invocation) -> int:
    raise ExitShell(int(inv.args[1]) & 0xFF if len(inv.args) > 1 and inv.args[1].isdigit() else 0)


async def _cd(inv: Invocation) -> int:
    target = inv.args[1] if len(inv.args) > 1 else "/"
    if inv.shell.fs.resolve(target) not in inv.shell.fs.dirs:
        await inv.error(f"{SH}: cd: {target}: No such file or directory")
        return 2
    return 0


async def _sleep(inv: Invocation) -> int:
    if len(inv.args) < 2:
        await inv.error("sleep: Needs 1 argument")
        return 1
    try:
        seconds = sum(float(a.rstrip("s")) for a in inv.args[1:])
    except ValueError:
        await inv.error(f"sleep: invalid number '{inv.args[1]}'")
        return 1
    await asyncio.sleep(seconds)
    return 0


async def _sh(inv: Invocation) -> int:
    """``sh -c LINE`` runs LINE in a fresh shell; plain ``sh`` runs its stdin as a script."""
    args = inv.args[1:]
    if args[:1] == ["-c"] and len(args) >= 2:
        line = args[1]
    elif not args:
        line = inv.stdin.decode("utf-8", "replace")
    else:
        await inv.error(f"{SH}: {args[0]}: only 'sh -c COMMAND' is supported by the PixelSim shell")
        return 1
    return await Shell(inv.shell.commands, inv.shell.fs).run(line, inv.out, inv.err)


async def _cat(inv: Invocation) -> int:
    status = 0
    for path in inv.args[1:] or ["-"]:
        if path == "-":
            await inv.out(inv.stdin)
            continue
        try:
            await inv.out(inv.shell.fs.read(path))
        except OSError as exc:
            await inv.error(f"cat: {path}: {_why(exc)}")
            status = 1
    return status


async def _ls(inv: Invocation) -> int:
    fs = inv.shell.fs
    flags = "".join(a[1:] for a in inv.args[1:] if a.startswith("-"))
    paths = [a for a in inv.args[1:] if not a.startswith("-")] or ["."]
    status = 0
    for path in paths:
        resolved = fs.resolve(path)
        if resolved in fs.files:
            await inv.print(_ls_line(fs, resolved, path) if "l" in flags else path)
            continue
        try:
            names = fs.listdir(path)
        except OSError:
            await inv.error(f"ls: {path}: No such file or directory")
            status = 1
            continue
        if len(paths) > 1:
            await inv.print(f"{path}:")
        for name in names:
            full = posixpath.join(resolved, name)
            await inv.print(_ls_line(fs, full, name) if "l" in flags else name)
    return status


def _ls_line(fs: VirtualFS, path: str, name: str) -> str:
    mode, size, mtime = fs.stat(path) or (0, 0, 0)
    kind = "d" if mode & 0o040000 else "-"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))
    return f"{kind}rw-rw---- 1 shell shell {size:>8} {stamp} {name}"


async def _rm(inv: Invocation) -> int:
    flags = "".join(a[1:] for a in inv.args[1:] if a.startswith("-"))
    status = 0
    for path in (a for a in inv.args[1:] if not a.startswith("-")):
        try:
            inv.shell.fs.remove(path, recursive="r" in flags or "R" in flags)
        except FileNotFoundError:
            if "f" not in flags:
                await inv.error(f"rm: {path}: No such file or directory")
                status = 1
        except OSError as exc:
            await inv.error(f"rm: {path}: {_why(exc)}")
            status = 1
    return status


async def _mkdir(inv: Invocation) -> int:
    parents = "-p" in inv.args[1:]
    status = 0
    for path in (a for a in inv.args[1:] if not a.startswith("-")):
        try:
            inv.shell.fs.mkdir(path, parents=parents)
        except OSError as exc:
            await inv.error(f"mkdir: '{path}': {_why(exc)}")
            status = 1
    return status


async def _touch(inv: Invocation) -> int:
    fs = inv.shell.fs
    status = 0
    for path in (a for a in inv.args[1:] if not a.startswith("-")):
        try:
            fs.write(path, b"", append=True)
        except OSError as exc:
            await inv.error(f"touch: '{path}': {_why(exc)}")
            status = 1
    return status


async def _grep(inv: Invocation) -> int:
    flags = ""
    args = inv.args[1:]
    pattern: str | None = None
    files: list[str] = []
    while args:
        a = args.pop(0)
        if a == "-e" and args:
            pattern = args.pop(0)
        elif a.startswith("-") and len(a) > 1 and pattern is None and not files:
            flags += a[1:]
        elif pattern is None:
            pattern = a
        else:
            files.append(a)
    if pattern is None:
        await inv.error("usage: grep [-ivcoqEF] PATTERN [FILE...]")
        return 2
    regex = re.escape(pattern) if "F" in flags else pattern
    if "w" in flags:
        regex = rf"\b(?:{regex})\b"
    try:
        compiled = re.compile(regex, re.I if "i" in flags else 0)
    except re.error:
        await inv.error(f"grep: bad regex '{pattern}'")
        return 2
    sources: list[bytes] = []
    for path in files or ["-"]:
        try:
            sources.append(inv.stdin if path == "-" else inv.shell.fs.read(path))
        except OSError as exc:
            await inv.error(f"grep: {path}: {_why(exc)}")
    matched = 0
    for data in sources:
        for line in data.decode("utf-8", "replace").splitlines():
            hit = compiled.search(line)
            if bool(hit) == ("v" in flags):
                continue
            matched += 1
            if "q" in flags or "c" in flags:
                continue
            if "o" in flags and hit:
                for m in compiled.finditer(line):
                    await inv.print(m.group(0))
            else:
                await inv.print(line)
    if "c" in flags:
        await inv.print(str(matched))
    return 0 if matched else 1


async def _head_tail(inv: Invocation) -> int:
    count = 10
    args = inv.args[1:]
    files: list[str] = []
    while args:
        a = args.pop(0)
        if a == "-n" and args:
            count = int(args.pop(0))
        elif re.fullmatch(r"-n?\d+", a):
            count = int(a.lstrip("-n"))
        else:
            files.append(a)
    try:
        data = inv.shell.fs.read(files[0]) if files else inv.stdin
    except OSError as exc:
        await inv.error(f"{inv.args[0]}: {files[0]}: {_why(exc)}")
        return 1
    lines = data.decode("utf-8", "replace").splitlines(keepends=True)
    chosen = lines[:count] if inv.args[0] == "head" else lines[-count:] if count else []
    await inv.out("".join(chosen).encode())
    return 0


async def _wc(inv: Invocation) -> int:
    data = inv.stdin
    text = data.decode("utf-8", "replace")
    if "-l" in inv.args:
        await inv.print(str(text.count("\n")))
    elif "-c" in inv.args:
        await inv.print(str(len(data)))
    else:
        await inv.print(f"{text.count(chr(10))} {len(text.split())} {len(data)}")
    return 0


async def _id(inv: Invocation) -> int:
    await inv.print(
        "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),"
        "1028(sdcard_r),1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),3002(net_bt),3003(inet),"
        "3006(net_bw_stats),3009(readproc),3011(uhid),3012(readtracefs) context=u:r:shell:s0"
    )
    return 0


async def _whoami(inv: Invocation) -> int:
    await inv.print("shell")
    return 0


async def _date(inv: Invocation) -> int:
    fmt = next((a[1:] for a in inv.args[1:] if a.startswith("+")), "%a %b %d %H:%M:%S %Z %Y")
    await inv.print(time.strftime(fmt.replace("%N", "000000000")) if "%s" not in fmt else str(int(time.time())))
    return 0


async def _uname(inv: Invocation) -> int:
    parts = {"s": "Linux", "n": "localhost", "r": "6.1.57-android14-11", "v": "#1 SMP PREEMPT", "m": "x86_64"}
    flags = "".join(a[1:] for a in inv.args[1:] if a.startswith("-")) or "s"
    if "a" in flags:
        flags = "snrvm"
    await inv.print(" ".join(parts[f] for f in "snrvm" if f in flags))
    return 0


BUILTINS: dict[str, Handler] = {
    "echo": _echo,
    "true": _true,
    ":": _true,
    "false": _false,
    "exit": _exit,
    "cd": _cd,
    "sleep": _sleep,
    "sh": _sh,
    "cat": _cat,
    "ls": _ls,
    "rm": _rm,
    "mkdir": _mkdir,
    "touch": _touch,
    "grep": _grep,
    "head": _head_tail,
    "tail": _head_tail,
    "wc": _wc,
    "id": _id,
    "whoami": _whoami,
    "date": _date,
    "uname": _uname,
}
