"""The benchmark suites by name, built from user-facing options (the CLI, a Ray driver, a script)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelpilot.tasks.bench.contract import Suite, SuiteError

SUITES: dict[str, str] = {
    "miniwob": "MiniWoB++ tasks from the miniwob package, seeded and scored in-page",
    "grounding": "offline grounding in the ScreenSpot format (--data DIR); make one with make-grounding",
    "steplevel": "offline step-level actions, AITZ-style JSON or pixelpilot bundles (--data PATH)",
    "examples": "the browser example tasks shipped with pixelpilot (local pages)",
    "android": "the Android tasks for the simulated device (or a phone with the same apps)",
    "desktop": "the desktop tasks (X11 apps on an own Xvfb: the project's Tk form, xedit)",
    "phone": "seeded phone task templates on the simulated phone (a simulator per worker), scored on device state",
}


def make_suite(name: str, options: dict[str, Any]) -> Suite:
    """Build suite ``name``; ``options`` holds the CLI's suite options (unused ones are ignored)."""
    data: Path | None = options.get("data")
    if name == "miniwob":
        from pixelpilot.tasks.bench.miniwob.suite import MiniWobSuite

        return MiniWobSuite(
            scale=options.get("scale") or 2.0,
            mode=options.get("mode") or "train",
            max_steps=options.get("max_steps") or 20,
            episode_time_ms=options.get("episode_time_ms"),
            seed_start=options.get("seed_start") or 0,
            chromium=options.get("chromium"),
            capture=options.get("capture") or "jpeg",
            reports=options.get("reports", True),
        )
    if name in ("grounding", "steplevel"):
        if data is None:
            raise SuiteError(f"the {name} suite needs --data PATH")
        if not data.exists():
            raise SuiteError(f"--data {data}: no such file or folder")
        if name == "grounding":
            from pixelpilot.tasks.bench.grounding import GroundingSuite

            return GroundingSuite(data)
        from pixelpilot.tasks.bench.steplevel import StepLevelSuite

        return StepLevelSuite(data, matching=options.get("matching"))
    if name == "phone":
        from pixelpilot.tasks.bench.phone import PhoneSuite

        return PhoneSuite(
            seed_start=options.get("seed_start") or 0,
            max_steps=options.get("max_steps"),
            serials=list(options.get("serial") or []),
            chromium=options.get("chromium"),
            reports=options.get("reports", True),
        )
    if name in ("examples", "android", "desktop"):
        from pixelpilot.tasks.bench.tasksuite import TaskFileSuite

        return TaskFileSuite.for_name(name, options)
    raise SuiteError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
