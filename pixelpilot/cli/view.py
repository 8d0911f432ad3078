"""`pixelpilot view`: browse recorded episode bundles and bench runs (the page: agent/debug/viewer.py)."""

from __future__ import annotations

import time
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from pixelpilot.agent.debug.server import WebServer
from pixelpilot.agent.debug.viewer import LOOPBACK, Catalog, ViewerPathError, viewer_routes
from pixelpilot.cli import options as opt
from pixelpilot.cli.common import err, fail, out, setup_logging


def view(
    paths: Annotated[list[Path], typer.Argument(help="episode bundles, bench runs, or folders holding them")],
    host: Annotated[str, typer.Option(help="interface to serve on; anything but 127.0.0.1 is your call")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: a free one)")] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="do not open a browser tab")] = False,
    verbose: opt.Verbose = False,
) -> None:
    """Browse episode bundles and bench runs: filter, step through, compare two episodes side by side."""
    setup_logging(verbose)
    try:
        catalog = Catalog.load(paths)
    except ViewerPathError as exc:
        fail(str(exc))
    if host not in LOOPBACK:
        err.print(
            f"[yellow]warning:[/] serving on {host}: anyone who can reach it and has the token can read the bundles"
        )
    try:
        web = WebServer(viewer_routes(catalog), host=host, port=port, read_only=True).start()
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    entries = list(catalog.entries.values())
    with_bundle = sum(e.has_bundle for e in entries)
    out.print(f"{len(entries)} episodes ({with_bundle} with bundles)", soft_wrap=True)
    out.print(f"viewer: {web.url}", soft_wrap=True)
    if not no_open:
        webbrowser.open(web.url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()
