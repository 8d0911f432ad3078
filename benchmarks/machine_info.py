"""Facts about this machine that every benchmark prints beside its figures."""

from __future__ import annotations

from pathlib import Path


def cpuinfo_field(name: str, default: str = "unknown") -> str:
    """The first ``name : value`` line of /proc/cpuinfo (e.g. 'model name', 'flags'), or ``default``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default
