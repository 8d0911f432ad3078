"""The episode bundle: the one artefact runs, benchmarks and the debugger all read and write.

A bundle is a folder::

    episode.json    header + outcome (rewritten atomically at the end; status "running" until then)
    steps.jsonl     one StepRecord per line, appended and flushed as each step ends
    step_0001.jpg   the screenshot each step was decided on, bytes exactly as captured
    final.jpg       the screen when the episode ended
    report.html     human-readable report (regenerate with `pixelpilot report DIR`)

Written incrementally so a crash at step 7 leaves steps 1-6 complete and readable. See
docs/BUNDLE_FORMAT.md for every field.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pixelpilot.agent.secrets import PLACEHOLDER, SecretSource
from pixelpilot.agent.secrets import SECRET_MASK as SECRET_MASK  # re-exported: importable from here as before
from pixelpilot.env import Observation, ScreenGeometry, StartSpec, SuccessCheck
from pixelpilot.env.registry import env_kind
from pixelpilot.env.spec import NoCheck

FORMAT_VERSION = 1

EpisodeStatus = Literal[
    "running",  # not finished (or the process died): steps.jsonl holds what happened
    "finished",  # the agent ended it with finish/answer
    "max_steps",
    "time_limit",
    "error",  # too many consecutive failed steps
    "env_error",  # the environment could not start or went away
    "aborted",  # an exception or an interrupt stopped the loop
    "stopped",  # a person (debugger) or a hook stopped the episode
]
ErrorKind = Literal["parse", "validation", "execution", "timeout", "policy"]


class EpisodeSpec(BaseModel):
    """What the agent is asked to do. tasks.Task extends this with file loading."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    instruction: str = Field(min_length=1)
    env: str = Field("browser", description="the env kind (env/registry.py): browser, android, or a plugin's")
    start: StartSpec
    success: SuccessCheck = Field(default_factory=NoCheck)
    max_steps: int = Field(20, ge=1, le=10_000)
    time_limit_s: float = Field(300.0, gt=0)
    secrets: dict[str, SecretSource] = Field(
        default_factory=dict,
        description="secrets by name, each read from an environment variable or a file when the episode starts; "
        "masked in every record from step 1, and {secret:NAME} in the instruction, the start URL or typed text "
        "stands for the value",
    )

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        env_kind(value)  # an UnknownEnvError (a ValueError) names the known kinds
        return value

    @model_validator(mode="after")
    def _env_supports_task(self) -> EpisodeSpec:
        """A check the env cannot score, or a start field it ignores, is the task's error, found on load."""
        env_kind(self.env).check_task(self.start, self.success)
        return self

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: dict[str, SecretSource]) -> dict[str, SecretSource]:
        for name in value:
            if not PLACEHOLDER.fullmatch(f"{{secret:{name}}}"):
                raise ValueError(f"secret name {name!r} must be letters, digits and _ (not starting with a digit)")
        return value

    @model_validator(mode="after")
    def _placeholders_declared(self) -> EpisodeSpec:
        for text in (self.instruction, self.start.url or ""):
            for name in PLACEHOLDER.findall(text):
                if name not in self.secrets:
                    raise ValueError(f"{{secret:{name}}} names a secret the task does not declare under secrets:")
        return self


class ObservationRecord(BaseModel):
    screenshot: str = Field(description="file name of the screenshot inside the bundle")
    image_format: str
    width: int
    height: int
    device_scale_factor: float
    viewport_width: float
    viewport_height: float
    url: str | None = None
    title: str | None = None
    app: str | None = None
    pointer: tuple[float, float] | None = None
    window: dict[str, Any] | None = None

    @classmethod
    def of(cls, obs: Observation, filename: str) -> ObservationRecord:
        g = obs.geometry
        return cls(
            screenshot=filename,
            image_format=obs.image_format,
            width=g.width,
            height=g.height,
            device_scale_factor=g.device_scale_factor,
            viewport_width=g.viewport_width,
            viewport_height=g.viewport_height,
            url=obs.url,
            title=obs.title,
            app=obs.app,
            pointer=obs.pointer,
            window=obs.window,
        )

    def to_observation(self, bundle: Path) -> Observation:
        """The observation this record describes, screenshot bytes read back from ``bundle``."""
        return Observation(
            screenshot=(bundle / self.screenshot).read_bytes(),
            image_format="png" if self.screenshot.endswith(".png") else "jpeg",
            geometry=ScreenGeometry(
                width=self.width,
                height=self.height,
                device_scale_factor=self.device_scale_factor,
                viewport_width=self.viewport_width,
                viewport_height=self.viewport_height,
            ),
            url=self.url,
            title=self.title,
            app=self.app,
            pointer=self.pointer,
            window=self.window,
        )


InterventionKind = Literal["edit", "click", "skip", "hint", "reask", "stop", "approve"]


class Intervention(BaseModel):
    """A person's (or a script's) change to a step, recorded beside what the policy proposed."""

    model_config = ConfigDict(extra="forbid")

    kind: InterventionKind
    proposed: dict[str, Any] | None = Field(None, description="the action the policy proposed, if any")
    proposed_raw: str | None = Field(None, description="the policy's raw output for that proposal")
    proposed_error: str | None = Field(None, description="why the proposal could not run, if it could not")
    hint: str | None = None
    note: str | None = None
    by: str = Field("user", description="user (debugger), script, or a hook's name")


class StepRecord(BaseModel):
    """One line of steps.jsonl; also what policies receive as history."""

    index: int = Field(ge=1)
    started_at: str
    observation: ObservationRecord
    raw_output: str | None = None
    action: dict[str, Any] | None = Field(None, description="the validated action that was executed")
    proposed: Any = Field(None, description="what the policy returned when it did not validate")
    error: str | None = None
    error_kind: ErrorKind | None = None
    result: dict[str, Any] | None = Field(None, description="ActionResult: ok, error, info, sensitive")
    policy: dict[str, Any] = Field(default_factory=dict, description="policy metadata (prompt, tokens...)")
    timings_ms: dict[str, float] = Field(default_factory=dict)
    masked: bool = Field(False, description="typed text was a secret and is masked in this record")
    interventions: list[Intervention] = Field(
        default_factory=list, description="changes a person or hook made to this step (debugger edits, skips…)"
    )

    @property
    def ok(self) -> bool:
        return self.error is None


class EpisodeRecord(BaseModel):
    """episode.json."""

    format_version: int = FORMAT_VERSION
    id: str
    task: dict[str, Any]
    policy: dict[str, Any]
    env: dict[str, Any]
    config: dict[str, Any]
    started_at: str
    ended_at: str | None = None
    status: EpisodeStatus = "running"
    success: bool | None = None
    reward: float | None = None
    detail: str | None = None
    answer: str | None = None
    error: str | None = None
    reason: str | None = Field(
        None, description="why the episode ended as it did, in words: the limit, the check's verdict, the env error"
    )
    steps: int = 0
    duration_s: float | None = None
    framework_version: str | None = None


def seeded_task(task_id: str) -> tuple[str, int] | None:
    """``(template, seed)`` of a seeded task id ``TEMPLATE.SEED`` (the phone suite's, e.g.
    ``add_contact.320000``), or None for an id without a numeric seed after its last dot. The one reading of
    such ids: the suite's oracle and the instruction-only baseline both go through it."""
    template, _, seed = task_id.rpartition(".")
    return (template, int(seed)) if template and seed.isdigit() else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_bundle_dir(root: Path, task_id: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{task_id}-{stamp}-{secrets.token_hex(2)}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class EpisodeRecorder:
    """Writes a bundle as the episode runs."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._steps = (self.dir / "steps.jsonl").open("a", encoding="utf-8")
        self.record: EpisodeRecord | None = None
        self._t0 = time.monotonic()

    def start(self, record: EpisodeRecord) -> None:
        self.record = record
        self._write_header()

    def _write_header(self) -> None:
        assert self.record is not None
        _write_atomic(self.dir / "episode.json", self.record.model_dump_json(indent=2))

    def save_screenshot(self, obs: Observation, name: str) -> str:
        filename = f"{name}.{'jpg' if obs.image_format == 'jpeg' else 'png'}"
        (self.dir / filename).write_bytes(obs.screenshot)
        return filename

    def write_step(self, step: StepRecord) -> None:
        self._steps.write(step.model_dump_json() + "\n")
        self._steps.flush()
        if self.record is not None:
            self.record.steps = step.index

    def finish(self, **outcome: Any) -> EpisodeRecord:
        assert self.record is not None
        self.record = self.record.model_copy(
            update={**outcome, "ended_at": now_iso(), "duration_s": round(time.monotonic() - self._t0, 3)}
        )
        self._steps.close()
        self._write_header()
        return self.record


def read_bundle(directory: Path) -> tuple[EpisodeRecord, list[StepRecord]]:
    """Load a bundle, tolerating a truncated last line (a crash mid-write)."""
    record = EpisodeRecord.model_validate_json((directory / "episode.json").read_text(encoding="utf-8"))
    steps: list[StepRecord] = []
    path = directory / "steps.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                steps.append(StepRecord.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValueError):
                break
    return record, steps
