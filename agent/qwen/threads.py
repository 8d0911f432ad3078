"""How many CPU threads a local model's torch operations use.

torch starts one intra-op thread per CPU it can see, whatever else runs there. For a small model
that is a loss even on an idle machine, and on a busy one a disaster: each operation waits for its
slowest thread, and a thread that lost its core to another process makes the whole step wait.
With torch's default the shipped default model was seen taking 3.7 s per step (10-20 s peaks) on
a loaded 2-core machine instead of ~180 ms with one thread, and MiniWoB's 10 s clock failed correct
answers. ``benchmarks/thread_count.py`` measures 1 against 2 threads (docs/PERFORMANCE.md).

The choice (:func:`choose_threads`, pure; :func:`threads_for` feeds it): the CPUs this process may run on
(``os.sched_getaffinity``: ``taskset``, cgroup cpusets) are split evenly between the workers that
share them; a model under :data:`SMALL_MODEL_PARAMETERS` takes one thread of its share, a larger
one all of it. ``PIXELPILOT_THREADS`` overrides the choice (never above the share). Inherited
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` are not trusted: a parent process or a shell profile set
them for something else (``setdefault`` kept such a value; :func:`apply` overwrites it).

:func:`apply` runs once in each process that loads a local model (``run``/``debug`` in the CLI,
each bench worker, so ``train``'s evaluations too), before the model and, where possible, torch are
loaded: the OpenMP variables are read when torch loads, ``torch.set_num_threads`` works after. The
count used is recorded with every step (the local backend's ``threads``).
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from pixelpilot.agent.policy_spec import PolicySpec

#: Explicit thread count per worker; wins over the choice, capped at the worker's share of the CPUs.
OVERRIDE_VARIABLE = "PIXELPILOT_THREADS"
#: Read by the OpenMP and MKL runtimes when torch loads; set for this process and its children.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Models below this many parameters run on one thread. The default model (4.76M) is several times
#: faster on one than on two (docs/PERFORMANCE.md, "Local model threads"): at ~10 MFLOP per decoded
#: token its matrix products are too small to split, and every operation waits for the slower
#: thread. The bound sits ten times above it and far below the released Qwen2-VL models (2B and
#: up), which keep torch's usual one thread per CPU of their share.
SMALL_MODEL_PARAMETERS = 50_000_000


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def choose_threads(cpus: int, *, workers: int = 1, parameters: int | None = None, requested: int | None = None) -> int:
    """Intra-op threads for one worker: ``cpus`` usable CPUs shared by ``workers`` processes each
    running a model of ``parameters`` (None: unknown, taken as large); ``requested``: an explicit
    count. Never more than the worker's share, never fewer than one."""
    share = max(1, cpus // max(1, workers))
    if requested is not None:
        return max(1, min(requested, share))
    if parameters is not None and parameters < SMALL_MODEL_PARAMETERS:
        return 1
    return share


def count_parameters(model: str | Path) -> int | None:
    """Parameters of a model folder, from its safetensors headers (no torch, no weights read), or
    None when it is not a folder with safetensors files (a hub id, .bin weights)."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        files = [folder / name for name in sorted(names)]
    if not files:
        return None
    total = 0
    try:
        for path in files:
            with path.open("rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(size))
            total += sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    return total


def _requested() -> int | None:
    value = os.environ.get(OVERRIDE_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{OVERRIDE_VARIABLE} must be a positive integer, got {value!r}")
    return int(value)


def threads_for(spec: PolicySpec, *, workers: int = 1) -> int | None:
    """Threads for each of ``workers`` processes running ``spec``'s model on this process's CPUs;
    None for a policy without a local model (served, scripted, an oracle), which sets nothing."""
    if spec.kind != "qwen" or spec.endpoint or not spec.model:
        return None
    parameters = count_parameters(spec.resolved().model or "")
    return choose_threads(usable_cpus(), workers=workers, parameters=parameters, requested=_requested())


def apply(threads: int | None) -> int | None:
    """Make this process use ``threads`` intra-op threads: the OpenMP/MKL variables (read when torch
    loads, and inherited by child processes), then torch itself, imported here if installed so that
    the variables are in place first. None or 0: leave everything as it is."""
    if not threads:
        return None
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    try:
        import torch
    except ImportError:
        return threads
    torch.set_num_threads(threads)
    logger.debug("torch intra-op threads: {} ({} usable CPUs)", threads, usable_cpus())
    return threads
