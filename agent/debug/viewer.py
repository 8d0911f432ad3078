"""The episode viewer's catalog and page (the `pixelpilot view` command: pixelpilot/cli/view.py).

The catalog is built from cheap reads only, so a bench run with hundreds of episodes opens at once:
a run's outcomes come from its results.jsonl (one line per unit, never an episode.json), and a loose
bundle costs one small episode.json. steps.jsonl is read when an episode is opened, and re-read each
time, so a bundle that is still being written shows its newest steps on reload.

Episode ids are a short hash of the bundle's path (or, for a result without a bundle, of the run and
unit), so they are URL-safe and stable across restarts of the viewer. Files are served only from
inside the bundle an id names.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from pixelpilot.agent.debug.server import json_error, static_file
from pixelpilot.agent.episode import read_bundle
from pixelpilot.agent.overlay import action_svg

Outcome = Literal["success", "failure", "running"]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ViewerPathError(ValueError):
    """A PATH given to the viewer that is neither a bundle, a run, nor a folder holding any."""


class EpisodeEntry(BaseModel):
    """One row of the episode list: what the list and its filters need, nothing read from steps.jsonl."""

    id: str
    task: str
    seed: int | None = None
    label: str = Field(description="the bundle's folder name, or task/seed-N inside a run")
    run: str | None = Field(None, description="the bench run's folder name, when the episode belongs to one")
    status: str
    success: bool | None = None
    outcome: Outcome
    reward: float | None = None
    steps: int = 0
    error: str | None = None
    instruction: str | None = None
    has_bundle: bool
    bundle: Path | None = Field(None, exclude=True)
    result: dict[str, Any] | None = Field(None, exclude=True, description="the run's results.jsonl line")


def _short_id(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:12]


def _outcome(status: str, success: bool | None) -> Outcome:
    if success:
        return "success"
    return "running" if status == "running" and success is None else "failure"


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The readable lines of a JSONL file; a line cut by a crash ends the read, as read_bundle does."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            break
        if isinstance(item, dict):
            yield item


def _is_bundle(path: Path) -> bool:
    return (path / "episode.json").is_file()


def _is_run(path: Path) -> bool:
    return (path / "run.json").is_file() and (path / "results.jsonl").is_file()


def bundle_entry(bundle: Path, *, run: str | None = None, label: str | None = None) -> EpisodeEntry:
    """A list row from episode.json alone (parsed as plain JSON: cheap, and tolerant of odd headers)."""
    bundle = bundle.resolve()
    try:
        head = json.loads((bundle / "episode.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        logger.warning("unreadable episode.json in {}: {}", bundle, exc)
        head = {"status": "unreadable", "error": str(exc).splitlines()[0]}
    task = head.get("task") if isinstance(head.get("task"), dict) else {}
    status = str(head.get("status", "unknown"))
    success = head.get("success")
    return EpisodeEntry(
        id=_short_id(str(bundle)),
        task=str(task.get("id") or bundle.name),
        label=label or bundle.name,
        run=run,
        status=status,
        success=success if isinstance(success, bool) else None,
        outcome=_outcome(status, success if isinstance(success, bool) else None),
        reward=head.get("reward"),
        steps=int(head.get("steps") or 0),
        error=head.get("error"),
        instruction=task.get("instruction"),
        has_bundle=True,
        bundle=bundle,
    )


def run_entries(run_dir: Path) -> list[EpisodeEntry]:
    """A bench run's rows: one per results.jsonl unit (offline ones without a bundle), then any bundle
    under episodes/ with no result yet (a unit still running, or one a kill cut short)."""
    run_dir = run_dir.resolve()
    units: dict[tuple[str, int], dict[str, Any]] = {}
    for row in _jsonl(run_dir / "results.jsonl"):
        if "task" in row:
            units[(str(row["task"]), int(row.get("seed") or 0))] = row  # the last line of a unit wins
    entries: list[EpisodeEntry] = []
    seen: set[Path] = set()
    for (task, seed), row in units.items():
        bundle = (run_dir / row["bundle"]).resolve() if row.get("bundle") else None
        if bundle is not None and not (bundle.is_relative_to(run_dir) and _is_bundle(bundle)):
            bundle = None
        if bundle is not None:
            seen.add(bundle)
        status = str(row.get("status", "unknown"))
        success = bool(row.get("success"))
        entries.append(
            EpisodeEntry(
                id=_short_id(str(bundle)) if bundle else _short_id(str(run_dir), task, str(seed)),
                task=task,
                seed=seed,
                label=f"{task}/seed-{seed}",
                run=run_dir.name,
                status=status,
                success=success,
                outcome=_outcome(status, success),
                reward=row.get("reward"),
                steps=int(row.get("steps") or 0),
                error=row.get("error"),
                has_bundle=bundle is not None,
                bundle=bundle,
                result=row,
            )
        )
    for header in sorted((run_dir / "episodes").glob("*/*/episode.json")):
        if header.parent.resolve() not in seen:
            entry = bundle_entry(
                header.parent, run=run_dir.name, label=f"{header.parent.parent.name}/{header.parent.name}"
            )
            seed = header.parent.name.removeprefix("seed-")
            entries.append(entry.model_copy(update={"seed": int(seed) if seed.isdigit() else None}))
    return entries


def _discover(root: Path) -> Iterator[tuple[Literal["run", "bundle"], Path]]:
    """Runs and bundles at any depth under ``root``; neither is descended into once found."""
    for here, dirs, _files in os.walk(root):
        path = Path(here)
        if _is_run(path):
            dirs.clear()
            yield "run", path
        elif _is_bundle(path):
            dirs.clear()
            yield "bundle", path
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))


class Catalog:
    """Every episode the viewer was pointed at, keyed by its URL-safe id."""

    def __init__(self, entries: list[EpisodeEntry]) -> None:
        self.entries: dict[str, EpisodeEntry] = {}
        for entry in entries:
            self.entries.setdefault(entry.id, entry)  # the same bundle reached by two PATHs shows once

    @classmethod
    def load(cls, paths: list[Path]) -> Catalog:
        entries: list[EpisodeEntry] = []
        for path in paths:
            if not path.exists():
                raise ViewerPathError(f"{path} does not exist")
            if not path.is_dir():
                raise ViewerPathError(f"{path} is not a folder (give a bundle, a bench run, or a folder of them)")
            found = list(_discover(path))
            if not found:
                raise ViewerPathError(f"{path} holds no episode bundle (episode.json) or bench run (run.json)")
            for kind, where in found:
                entries.extend(run_entries(where) if kind == "run" else [bundle_entry(where)])
        return cls(entries)

    def episode(self, entry: EpisodeEntry) -> dict[str, Any]:
        """The header and every step of an entry's bundle, each step with its overlay drawn server-side."""
        assert entry.bundle is not None
        record, steps = read_bundle(entry.bundle)
        header = record.model_dump(mode="json")
        return {
            "entry": entry.model_dump(mode="json"),
            "episode": header,
            "result": entry.result,
            "final": "final.jpg" if (entry.bundle / "final.jpg").is_file() else None,
            "steps": [
                {
                    "index": s.index,
                    "started_at": s.started_at,
                    "screenshot": s.observation.screenshot,
                    "width": s.observation.width,
                    "height": s.observation.height,
                    "device_scale_factor": s.observation.device_scale_factor,
                    "page_url": s.observation.url,
                    "title": s.observation.title,
                    "app": s.observation.app,
                    "overlay": action_svg(s.action, s.observation.width, s.observation.height),
                    "action": s.action,
                    "proposed": s.proposed,
                    "error": s.error,
                    "error_kind": s.error_kind,
                    "result": s.result,
                    "raw_output": s.raw_output,
                    "timings_ms": s.timings_ms,
                    "masked": s.masked,
                    "interventions": [i.model_dump(mode="json", exclude_none=True) for i in s.interventions],
                }
                for s in steps
            ],
        }


def bundle_file(bundle: Path, name: str) -> Path | None:
    """``name`` resolved inside ``bundle``; None when it leads outside (``..``, an absolute path, a link)."""
    root = bundle.resolve()
    target = (root / name).resolve()
    return target if target.is_relative_to(root) and target != root else None


def viewer_routes(catalog: Catalog) -> list[Route]:
    def entry_of(request: Request) -> EpisodeEntry | None:
        return catalog.entries.get(request.path_params["id"])

    async def episodes(request: Request) -> Response:
        return JSONResponse({"episodes": [e.model_dump(mode="json") for e in catalog.entries.values()]})

    async def episode(request: Request) -> Response:
        entry = entry_of(request)
        if entry is None:
            return json_error("no such episode", 404)
        if entry.bundle is None:
            return json_error("this result has no episode bundle (an offline unit, or one that never started)", 404)
        try:
            return JSONResponse(await asyncio.to_thread(catalog.episode, entry))
        except (OSError, ValueError) as exc:
            return json_error(f"unreadable bundle {entry.bundle.name}: {str(exc).splitlines()[0]}", 500)

    async def episode_file(request: Request) -> Response:
        entry = entry_of(request)
        if entry is None or entry.bundle is None:
            return json_error("no such episode", 404)
        path = bundle_file(entry.bundle, request.path_params["name"])
        if path is None:
            return json_error("refused: that path leads outside the episode's bundle", 403)
        if not path.is_file():
            return json_error("no such file in this bundle", 404)
        return FileResponse(path)  # no-store, like every response (server.SECURITY_HEADERS)

    return [
        Route("/", static_file("view.html")),
        Route("/view.js", static_file("view.js")),
        Route("/page_token.js", static_file("page_token.js")),
        Route("/view.css", static_file("view.css")),
        Route("/app.css", static_file("app.css")),
        Route("/api/episodes", episodes),
        Route("/api/episodes/{id}", episode),
        Route("/api/episodes/{id}/files/{name:path}", episode_file),
    ]
