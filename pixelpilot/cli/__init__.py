"""The `pixelpilot` command line, above the four packages: it alone joins tools, env, agent and tasks.

``pixelpilot.cli:main`` is the console script and ``python -m pixelpilot``'s entry. Commands live in
their own modules (app: run, report, devices, tools, android-sim; bench; debug; view; train;
dataset); options are declared once (options.py) and a task file with options becomes an env and a
policy in one place (assembly.py).
"""

from pixelpilot.cli.app import app, main

__all__ = ["app", "main"]
