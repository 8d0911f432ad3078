"""What every command shares: the consoles, one-line failures, logging, and how an episode ends.

Bad input gets one clear line on stderr and exit code 2; an episode that ran exits 0 when the task
succeeded and 1 when it did not (RUN_EXIT_CODES). Scripts and CI pipelines branch on these codes,
so they are part of the interface.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from pixelpilot.agent.loop import EpisodeResult

RUN_EXIT_CODES = """\
0  the task succeeded
1  the episode ran and did not succeed: the check failed, steps kept failing,
   the env failed mid-episode, it was stopped, or a limit was reached;
   the last line says why
2  it could not start: bad input, or a missing or unreachable environment"""
BENCH_EXIT_CODES = """\
0    the run completed, whatever the scores
1    units were killed by their time limit or crashed; the last line counts
     them and results.jsonl says why
2    bad input: options, data, task files, a run folder that cannot be used
130  interrupted; finished units are saved (continue with --resume)"""

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)


def setup_logging(verbose: bool) -> None:
    """The library is silent on import; a command turns its logging on (warnings, or all with -v)."""
    from pixelpilot.agent.logs import enable_logging

    enable_logging("DEBUG" if verbose else "WARNING")


def episode_exit_code(result: EpisodeResult) -> int:
    """RUN_EXIT_CODES for an episode: 0 it succeeded, 1 it ran and did not, 2 its environment never started."""
    if result.success:
        return 0
    return 2 if result.status == "env_error" and result.steps == 0 else 1


def outcome_line(result: EpisodeResult) -> str:
    """The last line of an episode: outcome, status, steps, and why in words."""
    colour = "green" if result.success else "red"
    why = result.reason or result.error or result.detail
    return (
        f"[bold {colour}]{result.outcome}[/] ({result.status}, {result.steps} step{'' if result.steps == 1 else 's'})"
        f"{': ' + escape(why) if why else ''}"
    )
