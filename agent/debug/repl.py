"""`pixelpilot debug --repl`: the step-through debugger for a terminal (SSH sessions).

Prints each proposed action with the path of a PNG that shows it drawn on the screenshot, and
reads one-letter commands; the same DebugSession as the web UI, so the same interventions are
recorded.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from pixelpilot.agent.debug.annotate import write_annotated
from pixelpilot.agent.debug.session import CommandError, DebugSession

HELP = (
    "s step · c continue · p pause · k skip · q stop · e {json} edit · x X Y click-to-act · "
    "r [hint] re-ask · rs [hint] re-ask sampling · ? help"
)


def parse_command(line: str) -> dict[str, Any] | None:
    """One terminal line -> one session command (None: print help)."""
    line = line.strip()
    if not line or line == "?":
        return None
    head, _, rest = line.partition(" ")
    simple = {"s": "step", "c": "continue", "p": "pause", "k": "skip", "q": "stop"}
    if head in simple:
        return {"cmd": simple[head]}
    if head == "e":
        return {"cmd": "edit", "action": rest, "run": False}
    if head == "x":
        parts = rest.split()
        if len(parts) not in (2, 4):
            raise CommandError("x needs X Y (click) or X Y X2 Y2 (drag/swipe), in screenshot pixels")
        cmd: dict[str, Any] = {"cmd": "click", "x": float(parts[0]), "y": float(parts[1])}
        if len(parts) == 4:
            cmd.update({"x2": float(parts[2]), "y2": float(parts[3])})
        return cmd
    if head in ("r", "rs"):
        return {"cmd": "reask", "hint": rest, "sample": head == "rs"}
    raise CommandError(f"unknown command {head!r}; {HELP}")


class Repl:
    def __init__(self, session: DebugSession, console: Console, stdin: TextIO = sys.stdin) -> None:
        self.session = session
        self.console = console
        self.stdin = stdin
        self._shown: tuple[Any, ...] | None = None
        self._latest: dict[str, Any] = {"status": "starting", "step": None, "version": 0}
        self._changed = threading.Condition()
        session.subscribe(self._on_state)
        self.thread = threading.Thread(target=self._read, name="pixelpilot-repl", daemon=True)

    def start(self) -> Repl:
        self.console.print(escape(HELP), style="dim")
        self.thread.start()
        return self

    def _wait_for(self, ready: Any) -> dict[str, Any]:
        with self._changed:
            self._changed.wait_for(lambda: ready(self._latest) or self._latest["status"] == "done")
            return self._latest

    def _on_state(self, state: dict[str, Any]) -> None:
        with self._changed:
            self._latest = state
            self._changed.notify_all()
        if state["status"] != "paused":
            return
        proposal = state["proposal"] or {}
        key = (state["step"], json.dumps(proposal.get("action")), proposal.get("source"))
        if key == self._shown:
            return
        self._shown = key
        ctx = self.session.ctx
        path = None
        if ctx is not None and self.session.bundle is not None:
            path = write_annotated(
                ctx.observation.image,
                proposal.get("action"),
                self.session.bundle / "debug" / f"step_{state['step']:04d}_{proposal.get('source', 'policy')}.png",
            )
        action = json.dumps(proposal.get("action")) if proposal.get("action") else "—"
        self.console.print(
            f"[bold]step {state['step']}[/] paused ({state['pause_reason']}): {action}"
            f" [dim](from {proposal.get('source')})[/]",
            soft_wrap=True,
        )
        if proposal.get("error"):
            self.console.print(f"[red]  {proposal['error']}[/]", soft_wrap=True)
        if proposal.get("raw_output"):
            self.console.print(f"[dim]  model: {proposal['raw_output'][:300]}[/]", soft_wrap=True)
        if path is not None:
            self.console.print(f"  screenshot: {path}", soft_wrap=True)

    def _read(self) -> None:
        for line in self.stdin:
            try:
                cmd = parse_command(line)
                if cmd is None:
                    self.console.print(escape(HELP))
                    continue
                # typed-ahead (or piped) commands wait for the pause they are meant for
                state = self._wait_for(lambda s: s["status"] == "paused")
                if state["status"] == "done":
                    return
                step, version = state["step"], state["version"]
                self.session.command(cmd)
                if cmd["cmd"] in ("step", "continue", "skip", "stop") or cmd.get("run"):
                    self._wait_for(lambda s, n=step: s["status"] == "paused" and (s["step"] or 0) > n)
                elif cmd["cmd"] in ("edit", "click", "reask"):
                    self._wait_for(lambda s, v=version: s["status"] == "paused" and s["version"] > v)
            except CommandError as exc:
                self.console.print(f"[red]{exc}[/]", soft_wrap=True)
            except ValueError as exc:
                self.console.print(f"[red]{exc}[/]", soft_wrap=True)
        # end of input: stop rather than leave the agent paused forever
        try:
            self.session.command({"cmd": "stop"})
        except CommandError:
            pass
