"""The benchmark runner: N worker processes, hard per-unit limits, crash-safe results, resume.

Each worker is a process with its own browser/device/model (built from the suite and a
PolicySpec), fed one unit at a time over its own pipe. The parent is the only writer of
results.jsonl. A unit that outlives its limit gets its worker killed (with every process under
it: Chromium, the Playwright driver) and a fresh worker takes its place; a worker that crashes
costs only its unit. Either way the unit gets a result line ("killed" / "crashed") and the run
goes on. Killing the parent itself loses at most the units in flight: ``--resume`` skips every
unit already in results.jsonl.

A worker never outlives its runner, however the runner dies (kill -9 included): it learns of the
death from a parent-death signal (Linux), a watch on the runner's pid, or EOF on its pipe, and then
kills every process under it and exits, so a ``--resume`` started at once meets no orphans.
"""

from __future__ import annotations

import ctypes
import fnmatch
import multiprocessing as mp
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal

import psutil
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.logs import enable_logging
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.agent.qwen.threads import apply as apply_threads
from pixelpilot.agent.qwen.threads import threads_for
from pixelpilot.env.plugins import load_plugins
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult, Worker
from pixelpilot.tasks.bench.results import HeldLock, ResultsLog, completed_keys, identity_of, lock_run, open_run, stamp

#: how often a worker checks that its runner is alive. Where it can, it is told at once (a
#: parent-death signal, a pidfd); this bounds how long a worker can miss that its runner is gone.
PARENT_WATCH_INTERVAL_S = 0.2
_PR_SET_PDEATHSIG = 1


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path
    workers: int = Field(1, ge=1, le=256)
    seeds: int = Field(1, ge=1)
    tasks: list[str] = Field(default_factory=list, description="globs over task names; empty: the suite's default")
    resume: bool = False
    unit_time_limit_s: float = Field(300.0, gt=0, description="hard cap on one unit; its worker is killed after")
    startup_time_limit_s: float = Field(600.0, gt=0, description="cap on a worker's start (browser, model load)")
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    limit: int | None = Field(None, ge=1, description="run at most this many units (after resume filtering)")


@dataclass
class RunOutcome:
    out: Path
    run_key: str
    results: list[UnitResult]
    new: int
    skipped: int
    interrupted: bool = False


@dataclass
class Plan:
    """What a run will do: the manifest is written, the units still to do are known."""

    suite: Suite
    policy: PolicySpec
    options: RunOptions
    run_key: str
    todo: list[Unit]
    done: list[UnitResult]
    total: int
    #: this runner's claim on ``options.out``, held for as long as the plan (or the process) lives
    lock: HeldLock | None = None


def select_tasks(suite: Suite, policy: PolicySpec, patterns: list[str]) -> list[str]:
    if not patterns:
        tasks = suite.default_tasks(policy)
    else:
        # a glob ranges over what this policy can run (an oracle's families); a plain name must exist
        available = suite.tasks()
        pool = set(suite.default_tasks(policy))
        tasks = [
            t
            for t in available
            if any(t == p if not _is_glob(p) else t in pool and fnmatch.fnmatchcase(t, p) for p in patterns)
        ]
        if not tasks:
            raise SuiteError(
                f"--tasks {' '.join(patterns)} matches none of the {len(available)} {suite.name} tasks "
                "(see `pixelpilot bench list`)"
            )
    suite.check_tasks(tasks, policy)
    return tasks


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def plan_run(suite: Suite, policy: PolicySpec, options: RunOptions, command: list[str] | None = None) -> Plan:
    tasks = select_tasks(suite, policy, options.tasks)
    units = suite.units(tasks, options.seeds)
    identity = identity_of(suite.name, suite.settings(), policy.run_identity())
    lock = lock_run(options.out)  # before reading anything: a live runner's folder is refused outright
    manifest = open_run(
        options.out,
        suite=suite.name,
        identity=identity,
        policy=policy.model_dump(mode="json"),
        settings=suite.describe_run(),
        resume=options.resume,
        command=command,
    )
    previous = ResultsLog(options.out).read()
    done_keys = completed_keys(previous, manifest.run_key)
    todo = [u for u in units if u.key not in done_keys]
    if options.limit is not None:
        todo = todo[: options.limit]
    done = [r for r in previous if r.run_key == manifest.run_key]
    return Plan(suite, policy, options, manifest.run_key, todo, done, len(units), lock)


# --------------------------------------------------------------------------- worker processes
def run_unit(worker: Worker, unit: Unit, out: Path, suite: Suite) -> UnitResult:
    """One unit on a worker; an exception becomes a "crashed" result, never the end of the run."""
    t0 = time.perf_counter()
    try:
        return worker.run(unit, out)
    except Exception as exc:  # noqa: BLE001 - one unit's crash must not stop the run
        logger.debug(traceback.format_exc())
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return crash_result(suite, unit, "crashed", error, time.perf_counter() - t0)


def _worker_main(
    conn: Connection,
    index: int,
    suite: Suite,
    policy: PolicySpec,
    out: str,
    verbose: bool,
    threads: int = 0,
    parent_pid: int | None = None,
) -> None:
    """Runs in the worker process: open the worker once, then run units until told to stop."""
    _end_with_parent(parent_pid if parent_pid is not None else os.getppid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    apply_threads(threads)  # this worker's share of the CPUs, before its model (and torch) loads
    enable_logging("DEBUG" if verbose else "WARNING", fmt=f"w{index} {{time:HH:mm:ss}} {{message}}")
    try:
        load_plugins()  # a spawned process has none of the parent's registrations: read the installed plugins
        worker = suite.open_worker(index, policy)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("fatal", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
        return
    conn.send(("ready", None))
    try:
        while True:
            unit = conn.recv()
            if unit is None:
                break
            conn.send(("result", run_unit(worker, unit, Path(out), suite).model_dump(mode="json")))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        try:
            worker.close()
        except Exception:  # noqa: BLE001 - closing must not mask how we got here
            pass


def _end_with_parent(parent_pid: int) -> None:
    """Make this worker, and everything it started, end when the runner ``parent_pid`` ends.

    A worker stuck in a hung unit never reads its pipe, so EOF alone would leave it (and its
    Chromium) running until the unit gave up, and then writing into a bundle a resumed run owns.
    Three ways in, one way out: the kernel's parent-death signal (SIGTERM, Linux), a thread that
    watches the runner's pid (a pidfd where there is one, else a poll every
    PARENT_WATCH_INTERVAL_S), and EOF on the pipe (the idle loop); the first two kill this
    worker's process tree and exit at once, without running any cleanup that might write.
    """
    signal.signal(signal.SIGTERM, lambda *_: _end_worker_tree())
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):  # no prctl: the watch thread covers it
            pass
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="runner-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    pidfd: int | None = None
    try:
        pidfd = os.pidfd_open(parent_pid)
    except (AttributeError, OSError):  # old kernel or platform, or the runner is gone already
        pass
    while os.getppid() == parent_pid:  # reparented: the runner has died
        if pidfd is not None:
            readable, _, _ = select.select([pidfd], [], [], PARENT_WATCH_INTERVAL_S)
            if readable:  # the runner exited; the reparenting the loop checks follows at once
                os.close(pidfd)
                pidfd = None
        else:
            time.sleep(PARENT_WATCH_INTERVAL_S)
    _end_worker_tree()


def _end_worker_tree() -> None:
    """Kill every process under this worker (Chromium, the Playwright driver, adb or model helpers),
    then exit without cleanup: a finally block here could still write into a bundle."""
    try:
        kill_tree(os.getpid(), include_root=False, wait_s=0)
    finally:
        os._exit(128 + signal.SIGTERM)


def kill_tree(pid: int, *, include_root: bool = True, wait_s: float = 5.0) -> None:
    """Kill a process and everything under it (Chromium, drivers, renderers).

    Playwright starts Chromium in a session of its own and Chromium forks while we look, so each
    process group led by a process of the tree is killed as a group too: that also takes a renderer
    forked after the snapshot, or one whose parent died first and was reparented out of the tree.
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if include_root else root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    own_group = os.getpgrp()
    groups: set[int] = set()
    for p in procs:
        try:
            if os.getpgid(p.pid) == p.pid != own_group:
                groups.add(p.pid)
        except OSError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    _wait_gone(procs, wait_s)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until each process is gone or a zombie (a killed process whose parent has not reaped it;
    it runs nothing and holds no locks, and psutil.wait_procs would wait out its timeout on it)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() >= deadline:
            return
        psutil.wait_procs(alive, timeout=min(0.05, max(0.0, deadline - time.monotonic())))
        procs = alive


@dataclass
class _Slot:
    index: int
    process: Any
    conn: Connection
    ready: bool = False
    unit: Unit | None = None
    started: float = field(default_factory=time.monotonic)


class LocalPool:
    """Worker processes on this machine."""

    def __init__(self, suite: Suite, policy: PolicySpec, out: Path, size: int, verbose: bool = False) -> None:
        self.suite, self.policy, self.out, self.verbose = suite, policy, out, verbose
        self.threads = threads_for(policy, workers=size) or 0
        self.ctx = mp.get_context("spawn")
        self.slots: list[_Slot] = []
        self._next_index = 0
        for _ in range(size):
            self.slots.append(self._spawn())

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        index = self._next_index
        self._next_index += 1
        process = self.ctx.Process(
            target=_worker_main,
            args=(child, index, self.suite, self.policy, str(self.out), self.verbose, self.threads, os.getpid()),
            name=f"bench-worker-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        return _Slot(index, process, parent)

    def replace(self, slot: _Slot) -> _Slot:
        kill_tree(slot.process.pid)
        slot.process.join(timeout=5)
        slot.conn.close()
        fresh = self._spawn()
        self.slots[self.slots.index(slot)] = fresh
        return fresh

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + 10
        for slot in self.slots:
            slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                kill_tree(slot.process.pid)
            slot.conn.close()


def crash_result(suite: Suite, unit: Unit, status: str, error: str, elapsed: float) -> UnitResult:
    return UnitResult(
        run_key="",
        suite=suite.name,
        task=unit.task,
        seed=unit.seed,
        status=status,  # type: ignore[arg-type]
        success=False,
        error=error,
        elapsed_s=round(elapsed, 3),
    )


def run_local(plan: Plan, on_result: Callable[[UnitResult], None], verbose: bool = False) -> None:
    """Drive the plan's units through local worker processes; calls on_result for each."""
    opts = plan.options
    pending: deque[Unit] = deque(plan.todo)
    pool = LocalPool(plan.suite, plan.policy, opts.out, min(opts.workers, len(pending)) or 1, verbose)
    try:
        while pending or any(s.unit is not None for s in pool.slots):
            for slot in pool.slots:
                if slot.ready and slot.unit is None and pending:
                    slot.unit = pending.popleft()
                    slot.started = time.monotonic()
                    slot.conn.send(slot.unit)
            live = [s for s in pool.slots if s.unit is not None or not s.ready]
            if not live:
                break
            ready = wait([s.conn for s in live] + [s.process.sentinel for s in live], timeout=0.25)
            now = time.monotonic()
            for slot in list(pool.slots):
                if slot.conn in ready or slot.process.sentinel in ready:
                    died = _drain(slot, plan.suite, on_result, now)
                    if died:
                        _bury(pool, slot, plan.suite, on_result, now, bool(pending))
                        continue
                if slot.unit is not None and now - slot.started > opts.unit_time_limit_s:
                    unit = slot.unit
                    logger.warning("{} seed {} outlived {:g}s; killing worker {}", unit.task, unit.seed,
                                   opts.unit_time_limit_s, slot.index)  # fmt: skip
                    slot.unit = None
                    pool.replace(slot)
                    on_result(
                        crash_result(
                            plan.suite, unit, "killed",
                            f"exceeded the {opts.unit_time_limit_s:g}s limit; worker killed and replaced",
                            now - slot.started,
                        ).model_copy(update={"worker": slot.index})
                    )  # fmt: skip
                elif not slot.ready and now - slot.started > opts.startup_time_limit_s:
                    raise SuiteError(f"worker {slot.index} did not start within {opts.startup_time_limit_s:g}s")
    finally:
        pool.close()


def _drain(slot: _Slot, suite: Suite, on_result: Callable[[UnitResult], None], now: float) -> bool:
    """Handle every message the worker sent; True when the worker is gone."""
    while True:
        try:
            if not slot.conn.poll():
                break
            kind, payload = slot.conn.recv()
        except (EOFError, OSError):
            return True
        if kind == "ready":
            slot.ready = True
            slot.started = now
        elif kind == "result" and slot.unit is not None:
            slot.unit = None
            on_result(UnitResult.model_validate(payload).model_copy(update={"worker": slot.index}))
        elif kind == "fatal":
            raise SuiteError(f"worker {slot.index} could not start: {payload}")
    return not slot.process.is_alive()


def _bury(
    pool: LocalPool, slot: _Slot, suite: Suite, on_result: Callable[[UnitResult], None], now: float, more: bool
) -> None:
    """A worker died: its unit (if any) is recorded as crashed and a fresh worker takes its place."""
    slot.process.join(timeout=1)
    code = slot.process.exitcode
    if slot.unit is not None:
        on_result(
            crash_result(suite, slot.unit, "crashed", f"worker died (exit {code})", now - slot.started).model_copy(
                update={"worker": slot.index}
            )
        )
        slot.unit = None
    elif not slot.ready:
        raise SuiteError(f"worker {slot.index} died while starting (exit {code})")
    if more:
        pool.replace(slot)
    else:
        pool.slots.remove(slot)
        slot.conn.close()


def execute(
    plan: Plan,
    *,
    on_result: Callable[[UnitResult], None] | None = None,
    verbose: bool = False,
) -> RunOutcome:
    """Run the plan, appending each result to results.jsonl as it arrives."""
    log = ResultsLog(plan.options.out)
    new: list[UnitResult] = []

    def record(result: UnitResult) -> None:
        result = stamp(result, run_key=plan.run_key)
        log.append(result)
        new.append(result)
        if on_result is not None:
            on_result(result)

    interrupted = False
    try:
        if plan.todo:
            if plan.options.backend == "ray":
                from pixelpilot.tasks.bench.ray_backend import run_ray

                run_ray(plan, record)
            else:
                run_local(plan, record, verbose=verbose)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        log.close()
    return RunOutcome(
        out=plan.options.out,
        run_key=plan.run_key,
        results=[*plan.done, *new],
        new=len(new),
        skipped=len(plan.done),
        interrupted=interrupted,
    )
