"""Writing a benchmark's marked section into docs/PERFORMANCE.md (replaced in place on a rerun)."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, begin: str, end: str, text: str) -> None:
    """Replace the text between the ``begin`` and ``end`` markers of ``path`` (``text`` includes them),
    or append it when the markers are not there yet."""
    doc = path.read_text() if path.exists() else "# Performance\n"
    if begin in doc:
        doc = doc.split(begin)[0] + text + doc.split(end, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    path.write_text(doc)
