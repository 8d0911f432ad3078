"""pixelpilot's logging stays quiet until an application asks for it.

A library that prints DEBUG lines to whoever imports it makes its users' programs noisy and their
own logs hard to read; loguru's advice for libraries is to disable the library's loggers on import
and let the application enable them. ``pixelpilot/__init__.py`` disables them; the CLI (and any
script that wants the messages) calls :func:`enable_logging`.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from loguru import logger

#: The import name pixelpilot's modules log under.
PACKAGES = ("pixelpilot",)


def enable_logging(level: str | None = "INFO", sink: TextIO | Any = sys.stderr, *, fmt: str | None = None) -> None:
    """Turn pixelpilot's log messages on. With ``level`` (the default), also replace loguru's
    handlers with one ``sink`` at that level; with ``level=None``, only enable the messages and
    leave the handlers to the application's own loguru set-up."""
    for name in PACKAGES:
        logger.enable(name)
    if level is not None:
        logger.remove()
        logger.add(sink, level=level.upper(), format=fmt or "{time:HH:mm:ss} {level} {message}")


def disable_logging() -> None:
    """Silence pixelpilot's log messages again (the state after import)."""
    for name in PACKAGES:
        logger.disable(name)
