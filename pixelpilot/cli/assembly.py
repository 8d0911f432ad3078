"""One path from (task file, options) to (episode spec, env, policy), for run, debug and bench.

Every check that can fail on the user's input happens here, before a browser or device starts,
and fails as one line with exit code 2 (common.fail).
"""

from __future__ import annotations

from pathlib import Path

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.policy_spec import PolicySpec, PolicySpecError
from pixelpilot.cli.common import fail
from pixelpilot.env import Env
from pixelpilot.env.plugins import PluginError, load_plugins
from pixelpilot.env.registry import EnvOptions, UnknownEnvError, env_kind, env_kinds
from pixelpilot.tasks import Task, TaskFileError


def plugins_loaded() -> None:
    """Load the installed plugins now, so a broken one is one line naming it and exit 2."""
    try:
        load_plugins()
    except PluginError as exc:
        fail(str(exc))


def read_task(task_file: Path) -> Task:
    try:
        return Task.from_file(task_file)
    except TaskFileError as exc:
        fail(str(exc))


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def episode_spec(task: Task, task_file: Path, *, env_name: str | None = None) -> EpisodeSpec:
    """The task's spec on the env ``--env`` names (default: the task's), checked against that kind."""
    spec = task.to_spec()
    if env_name is not None:
        try:
            env_kind(env_name)
        except UnknownEnvError:
            fail(f"--env must be {_either(list(env_kinds()))}, got {env_name!r}")
        spec = spec.model_copy(update={"env": env_name})
    entry = env_kind(spec.env)
    for name in entry.required_start:
        if not getattr(spec.start, name):
            fail(f"{task_file}: a {entry.name} task needs start.{name}")
    try:
        entry.check_task(spec.start, spec.success)
    except ValueError as exc:
        fail(f"{task_file}: {exc}")
    return spec


def scripted_policy(task: Task, script: Path | None, *, missing: str) -> Policy:
    """The actions of ``script``, or of the task's solution; ``missing`` is the line when there is neither."""
    path = script or (Path(task.solution) if task.solution else None)
    if path is None:
        fail(missing)
    try:
        return PolicySpec(kind="scripted", script=path).build()
    except PolicySpecError as exc:
        fail(str(exc))


def qwen_policy(**options: object) -> Policy:
    """A Qwen2-VL policy from the command's options (PolicySpec applies a trained folder's pixelpilot.json).

    An option given as None is left to PolicySpec's default (pixel limits the user did not set).
    """
    from pixelpilot.agent.qwen.threads import apply, threads_for

    given = {k: v for k, v in options.items() if v is not None}
    try:
        spec = PolicySpec(kind="qwen", **given)  # type: ignore[arg-type]
        apply(threads_for(spec))  # torch threads from this process's CPUs and the model's size, before it loads
        return spec.build()
    except PolicySpecError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def open_env(spec: EpisodeSpec, options: EnvOptions) -> Env:
    """The spec's env kind built from the user's options (a device is reached now: a missing one is one line)."""
    entry = env_kind(spec.env)
    try:
        return entry.make(options)
    except ImportError as exc:
        fail(f"the {entry.name} env needs {exc.name or 'a package'}, which is not installed: pip install {exc.name}")
