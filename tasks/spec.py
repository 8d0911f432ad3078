"""Task files: YAML or JSON describing an episode, its start and its success check.

A task is an EpisodeSpec plus what only makes sense on disk: relative start URLs resolve against
the file's folder (and become file:// URLs), and a scripted ``solution`` path and the files of
``secrets`` resolve the same way (secret values are read, never stored: agent/secrets.py).
``viewport``, ``device_scale_factor`` and ``allowed_domains`` may sit at the top level for
readability; they belong to the start and are moved there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, model_validator

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.secrets import SecretError, SecretSet


class TaskFileError(ValueError):
    """A task file that cannot be used; the message names the file and the field."""


class Task(EpisodeSpec):
    solution: str | None = Field(None, description="scripted solution (JSONL/YAML), relative to the task file")
    source: str | None = Field(None, description="the file this task was loaded from")

    @model_validator(mode="before")
    @classmethod
    def _lift_start_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            start = dict(data.get("start") or {})
            for key in ("viewport", "device_scale_factor", "allowed_domains"):
                if key in data:
                    start.setdefault(key, data.pop(key))
            data["start"] = start
        return data

    @classmethod
    def from_file(cls, path: str | Path) -> Task:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TaskFileError(f"task file not found: {path}") from None
        except OSError as exc:
            raise TaskFileError(f"cannot read task file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise TaskFileError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise TaskFileError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}") from None
        if not isinstance(data, dict):
            raise TaskFileError(f"{path}: a task file must be a mapping of fields, got {type(data).__name__}")
        try:
            task = cls.model_validate({**data, "source": str(path)})
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union")))
            what = "missing" if err["type"] == "missing" else err["msg"]
            if not loc:  # the task as a whole (its env cannot score its check): no field to name
                raise TaskFileError(f"{path}: {str(what).removeprefix('Value error, ')}") from None
            raise TaskFileError(f"{path}: field '{loc}': {what}") from None
        task = task.resolved(path.parent)
        try:
            SecretSet.for_spec(task)  # an unset variable is a one-line error now, not at step 1
        except SecretError as exc:
            raise TaskFileError(f"{path}: {exc}") from None
        return task

    def resolved(self, base: Path) -> Task:
        """Absolute start URL, solution path and secret files, relative to ``base``."""
        update: dict[str, Any] = {}
        url = self.start.url
        if url and not urlsplit(url).scheme:
            update["start"] = self.start.model_copy(update={"url": (base / url).resolve().as_uri()})
        if self.solution and not Path(self.solution).is_absolute():
            update["solution"] = str((base / self.solution).resolve())
        if any(s.file and not Path(s.file).is_absolute() for s in self.secrets.values()):
            update["secrets"] = {
                name: s.model_copy(update={"file": str((base / s.file).resolve())}) if s.file else s
                for name, s in self.secrets.items()
            }
        return self.model_copy(update=update)

    def to_spec(self) -> EpisodeSpec:
        """The part the agent needs (drops file-only fields)."""
        return EpisodeSpec.model_validate(self.model_dump(exclude={"solution", "source"}))


def load_task(path: str | Path) -> Task:
    return Task.from_file(path)
