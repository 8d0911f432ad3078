"""A benchmark run on disk: run.json (what ran), results.jsonl (one line per finished unit).

results.jsonl is the source of truth. Each line is appended, flushed and fsynced by the single
process that owns the run, so a kill -9 loses at most the unit in flight; a line cut off by the
kill is skipped on reading. ``--resume`` reads it, skips every (task, seed) already there, and
refuses to continue a run whose key differs: results of different models, dialects, resize
settings, prompt or framework versions must never be averaged together.

Two writers never share a folder: the runner holds an flock on ``.runner.lock`` in the run folder
for its whole life (a second runner on it is refused), and a worker holds one on ``.writer.lock``
in a unit's bundle folder while it writes it. flock, not a pid file: the kernel drops the lock the
moment its holder dies, however it dies, so a dead runner's folder never needs cleaning up.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from pixelpilot.agent.episode import now_iso
from pixelpilot.tasks.bench.contract import SuiteError, UnitResult

RESULTS = "results.jsonl"
MANIFEST = "run.json"
RUN_LOCK = ".runner.lock"


def framework_version() -> str:
    try:
        from importlib.metadata import version

        return version("pixelpilot")
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0+unknown"


def run_key(identity: dict[str, Any]) -> str:
    """A short stable hash of everything that makes results comparable."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class LockBusy(SuiteError):
    """Another live process holds the lock; ``holder`` is its pid when it wrote one."""

    def __init__(self, message: str, holder: int | None) -> None:
        super().__init__(message)
        self.holder = holder


class HeldLock:
    """An exclusive flock on a file, held until ``release()`` or until this process dies.

    The descriptor is not inherited (close-on-exec), so a browser or driver started while it is held
    cannot keep it alive after its holder is gone. The holder's pid is written into the file so that
    whoever is refused can say by whom.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, *, what: str, wait_s: float = 0.0, poll_s: float = 0.1) -> HeldLock:
        """Take the lock, waiting up to ``wait_s`` for its holder to let go; LockBusy after that."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    by = f" (pid {holder})" if holder else ""
                    raise LockBusy(f"{what} is in use by a live process{by}", holder) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        # the file stays: unlinking it would let a waiter lock an inode nobody else can find
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def __del__(self) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def lock_run(out: Path) -> HeldLock:
    """Claim ``out`` for this runner for as long as the process lives (or the lock is released).

    Refuses (SuiteError, one line) while another live runner holds it, with or without --resume:
    two runners appending to one results.jsonl and writing the same bundles would corrupt both.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        return HeldLock.acquire(out / RUN_LOCK, what=str(out))
    except LockBusy as exc:
        by = f" (pid {exc.holder})" if exc.holder else ""
        raise SuiteError(f"{out} is in use by a live runner{by}; wait for it to end or use a new --out") from None
    except OSError as exc:
        raise SuiteError(f"cannot use --out {out}: {exc.strerror or exc}") from None


class RunManifest(BaseModel):
    """run.json: the identity of a run (hashed into its key) plus how it was started."""

    model_config = ConfigDict(extra="forbid")

    run_key: str
    identity: dict[str, Any]
    suite: str
    policy: dict[str, Any]
    settings: dict[str, Any]
    created_at: str
    updated_at: str
    command: list[str] = []


def identity_of(suite: str, suite_settings: dict[str, Any], policy_identity: dict[str, Any]) -> dict[str, Any]:
    return {
        "suite": suite,
        "suite_settings": suite_settings,
        **policy_identity,
        "framework_version": framework_version(),
    }


def open_run(
    out: Path,
    *,
    suite: str,
    identity: dict[str, Any],
    policy: dict[str, Any],
    settings: dict[str, Any],
    resume: bool,
    command: list[str] | None = None,
) -> RunManifest:
    """Create ``out`` for a new run, or check that ``--resume`` continues the same one."""
    key = run_key(identity)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        try:
            old = RunManifest.model_validate_json(manifest_path.read_text())
        except (ValidationError, ValueError) as exc:
            raise SuiteError(f"{manifest_path} is not a pixelpilot run manifest: {str(exc).splitlines()[0]}") from None
        if not resume:
            raise SuiteError(
                f"{out} already holds a run ({old.suite}, key {old.run_key}); pass --resume or a new --out"
            )
        if old.run_key != key:
            diff = sorted(k for k in identity.keys() | old.identity.keys() if identity.get(k) != old.identity.get(k))
            raise SuiteError(
                f"refusing to resume {out}: its run key {old.run_key} differs from this run's {key} "
                f"(changed: {', '.join(diff)}); use a new --out"
            )
        manifest = old.model_copy(update={"updated_at": now_iso()})
    else:
        if resume and (out / RESULTS).exists():
            raise SuiteError(f"{out} has results but no {MANIFEST}; cannot check the run key, use a new --out")
        now = now_iso()
        manifest = RunManifest(
            run_key=key,
            identity=identity,
            suite=suite,
            policy=policy,
            settings=settings,
            created_at=now,
            updated_at=now,
            command=command or [],
        )
    out.mkdir(parents=True, exist_ok=True)
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2))
    os.replace(tmp, manifest_path)
    return manifest


class ResultsLog:
    """Append-only results.jsonl with crash-safe writes and tolerant reads."""

    def __init__(self, out: Path) -> None:
        self.path = out / RESULTS
        self._file = None

    def read(self) -> list[UnitResult]:
        if not self.path.exists():
            return []
        results: list[UnitResult] = []
        with self.path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    results.append(UnitResult.model_validate_json(line))
                except (ValidationError, ValueError):
                    # a line cut off by a kill mid-write: that unit simply runs again
                    logger.warning("{}:{}: skipping an incomplete result line", self.path, number)
        return results

    def append(self, result: UnitResult) -> None:
        if self._file is None:
            self._repair_tail()
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(result.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def _repair_tail(self) -> None:
        """End a line cut off by a kill, so the next result starts on a line of its own."""
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb+") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def completed_keys(results: list[UnitResult], run_key_: str) -> set[str]:
    """Units already done in this run (killed and crashed units count as done: they have a result)."""
    return {r.key for r in results if r.run_key == run_key_}


def latest(results: list[UnitResult]) -> list[UnitResult]:
    """One result per unit (the last written), in first-seen order."""
    by_key: dict[str, UnitResult] = {}
    for r in results:
        by_key[r.key] = r
    return list(by_key.values())


def stamp(result: UnitResult, **updates: Any) -> UnitResult:
    return result.model_copy(update={"finished_at": now_iso(), **updates})
