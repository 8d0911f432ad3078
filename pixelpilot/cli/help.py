"""How the command line looks and fails: flags shown as flags, and one-line errors for bad values.

Typer's rich help prints a type column for every option, on/off flags included (``--headed <bool>``),
which reads as if the flag took a value; `show_flags_as_flags` makes that column empty for flags and
counters. Typer also answers a bad value (``--max-steps abc``, an unknown option) with a boxed,
multi-line panel, while every other bad input gets one ``error: …`` line and exit 2; `run_app` runs
the app outside click's standalone mode so a usage error reads like the rest and scripts can grep it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from rich.markup import escape
from typer import _click
from typer.core import TyperOption

from pixelpilot.cli.common import err

_original_display_type_rich = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    """No type for a flag or a counter: `--headed` takes no value, so `<bool>` beside it misleads."""
    if self.is_flag or self.count:
        return None
    return _original_display_type_rich(self, ctx)


def show_flags_as_flags() -> None:
    """Install the flag rendering (idempotent); the help of every command then lists `--headed` bare."""
    TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]


def _usage_line(exc: _click.exceptions.UsageError) -> str:
    """The one line for a usage error: the message, prefixed with the command it concerns."""
    message = " ".join(exc.format_message().split())
    ctx = exc.ctx
    where = ctx.command_path if ctx is not None else ""
    return f"{where}: {message}" if where else message


def run_app(app: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run ``app`` and return its exit code; a usage error becomes one `error:` line and 2."""
    try:
        code = app(args=args, standalone_mode=False)
    except _click.exceptions.NoArgsIsHelpError as exc:  # `pixelpilot bench`: the help, as before
        exc.show()
        return exc.exit_code
    except _click.exceptions.UsageError as exc:
        err.print(f"[bold red]error:[/] {escape(_usage_line(exc))}", soft_wrap=True)
        return 2
    except _click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
