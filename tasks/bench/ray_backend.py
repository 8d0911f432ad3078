"""`--backend ray`: the same units, run by Ray actors on a cluster, results into the same log.

Each actor is one worker (its own browser/device/model, opened once), so a cluster of N actors
behaves like N local worker processes: the driver hands out units, appends each result to
results.jsonl as it arrives, kills an actor whose unit outlives the limit and starts a fresh one.
Resume and run keys are untouched: they live in the driver. Bundles are written by the actors
under --out, which must therefore be a path every node can write (a shared filesystem).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult
from pixelpilot.tasks.bench.runner import crash_result, run_unit


def check_ray() -> None:
    """One clear line when Ray is missing."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SuiteError("--backend ray needs Ray: pip install 'pixelpilot[ray]'") from None


class _ActorImpl:
    """The body of a Ray actor: one suite worker."""

    def __init__(self, suite: Suite, policy: PolicySpec, index: int, out: str) -> None:
        from pixelpilot.env.plugins import load_plugins

        load_plugins()  # this actor may run on another machine: its plugins are the ones installed there
        self.worker = suite.open_worker(index, policy)
        self.out = Path(out)
        self.suite = suite

    def ready(self) -> bool:
        return True

    def run(self, unit: Unit) -> dict[str, Any]:
        return run_unit(self.worker, unit, self.out, self.suite).model_dump(mode="json")

    def close(self) -> None:
        self.worker.close()


def run_ray(plan: Any, on_result: Callable[[UnitResult], None]) -> None:
    """Run ``plan`` (a runner.Plan) on Ray actors; ``on_result`` appends to results.jsonl."""
    check_ray()
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

    opts = plan.options
    if not ray.is_initialized():
        ray.init(address=opts.ray_address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    Actor = ray.remote(num_cpus=1, max_restarts=0)(_ActorImpl)
    out = str(opts.out.resolve())
    next_index = 0

    def start() -> tuple[Any, int]:
        nonlocal next_index
        index = next_index
        next_index += 1
        actor = Actor.remote(plan.suite, plan.policy, index, out)
        try:
            ray.get(actor.ready.remote(), timeout=opts.startup_time_limit_s)
        except (RayActorError, RayTaskError, GetTimeoutError) as exc:
            ray.kill(actor)
            raise SuiteError(f"Ray worker {index} could not start: {str(exc).strip().splitlines()[-1]}") from None
        return actor, index

    pending: deque[Unit] = deque(plan.todo)
    actors = [start() for _ in range(min(opts.workers, len(pending)))]
    running: dict[Any, tuple[int, Unit, float]] = {}  # ref -> (slot, unit, started)
    idle = list(range(len(actors)))
    try:
        while pending or running:
            while idle and pending:
                slot = idle.pop()
                unit = pending.popleft()
                ref = actors[slot][0].run.remote(unit)
                running[ref] = (slot, unit, time.monotonic())
            done, _ = ray.wait(list(running), num_returns=1, timeout=0.25)
            now = time.monotonic()
            for ref in done:
                slot, unit, started = running.pop(ref)
                try:
                    payload = ray.get(ref)
                    result = UnitResult.model_validate(payload)
                except (RayActorError, RayTaskError) as exc:
                    result = crash_result(plan.suite, unit, "crashed", f"Ray worker died: {exc}", now - started)
                    actors[slot] = start()
                on_result(result.model_copy(update={"worker": actors[slot][1]}))
                idle.append(slot)
            for ref, (slot, unit, started) in list(running.items()):
                if now - started > opts.unit_time_limit_s:
                    logger.warning("{} seed {} outlived {:g}s; killing its Ray worker", unit.task, unit.seed,
                                   opts.unit_time_limit_s)  # fmt: skip
                    running.pop(ref)
                    ray.kill(actors[slot][0], no_restart=True)
                    worker = actors[slot][1]
                    actors[slot] = start()
                    on_result(
                        crash_result(
                            plan.suite, unit, "killed",
                            f"exceeded the {opts.unit_time_limit_s:g}s limit; worker killed and replaced",
                            now - started,
                        ).model_copy(update={"worker": worker})
                    )  # fmt: skip
                    idle.append(slot)
    finally:
        for actor, _ in actors:
            try:
                ray.get(actor.close.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
            ray.kill(actor)
