"""BrowserGym's MiniWoB env as a peer of benchmarks/miniwob_throughput.py (runs in benchmarks/peers/browsergym-venv).

It imports nothing of pixelpilot's: it runs in its own venv (BrowserGym 0.14.3 pins Playwright 1.44). The parent
starts it, it prints one JSON line when ready, then answers each JSON request line
``{"task": ..., "seeds": [...]}`` with one JSON line of per-episode timings; ``{"cmd": "quit"}`` ends it.

Actions come from pixelpilot's MiniWoB oracle (``oracle.js``, passed by path), evaluated on BrowserGym's page,
and are sent as BrowserGym's own ``mouse_click(x, y)`` in its screenshot space (CSS px times the task's
``_bgym_scale_factor``). Modes:

* ``default``: ``gym.make("browsergym/miniwob.<task>")`` with BrowserGym's defaults (the task's slow_mo=100 ms,
  ``pre_observation_delay=0.5`` s, full observation: DOM snapshot, AXTree, screenshot);
* ``tuned``: ``slow_mo=0``, ``pre_observation_delay=0``, ``use_raw_page_output=True`` (no DOM/AXTree
  extraction), plus one screenshot per step through BrowserGym's own ``extract_screenshot`` so the comparison
  stays "with a screenshot".

Every reset is BrowserGym's: a new Chromium, a new context and page, a page load, and the chat window's own
Chromium. Environment: MINIWOB_URL (file://.../html/miniwob/), PLAYWRIGHT_BROWSERS_PATH (revision 1117 linked to
the system Chromium), and --chromium for ``pw_chromium_kwargs={"executable_path": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

MAX_STEPS = 5
TASK_AREA = {"width": 160, "height": 210}
#: BrowserGym empties #query (remove_human_display); the oracle reads the instruction from it, so the goal is put
#: back for the length of the oracle's call (#query has a fixed height: nothing moves) and the page restored.
ORACLE_WRAPPER = """([task, area, goal]) => {
  const query = document.getElementById("query");
  const saved = query ? query.innerHTML : null;
  if (query) query.textContent = goal;
  try {
    return (%s)([task, area]);
  } finally {
    if (query) query.innerHTML = saved;
  }
}"""


def _ms(seconds: float) -> float:
    return seconds * 1000.0


class BrowserGymPeer:
    def __init__(self, mode: str, chromium: str, oracle_js: str) -> None:
        import browsergym.miniwob  # noqa: F401 - registers the browsergym/miniwob.* envs
        import gymnasium as gym

        self.gym = gym
        self.mode = mode
        self.chromium = chromium
        self.oracle_js = ORACLE_WRAPPER % oracle_js.strip().rstrip(";")
        self.envs: dict[str, Any] = {}

    def _env(self, task: str) -> Any:
        if task not in self.envs:
            from browsergym.core.action.highlevel import HighLevelActionSet

            # the default action set plus "coord" (mouse_click); parsing only, no effect on timing
            actions = HighLevelActionSet(subsets=["chat", "infeas", "bid", "nav", "tab", "coord"])
            kwargs: dict[str, Any] = {
                "headless": True,
                "pw_chromium_kwargs": {"executable_path": self.chromium},
                "action_mapping": actions.to_python_code,
            }
            if self.mode == "tuned":
                kwargs.update(slow_mo=0, pre_observation_delay=0.0, use_raw_page_output=True)
            self.envs[task] = self.gym.make(f"browsergym/miniwob.{task}", **kwargs)
        return self.envs[task]

    def run(self, task: str, seed: int) -> dict[str, Any]:
        from browsergym.core.observation import extract_screenshot

        env = self._env(task)
        t0 = time.perf_counter()
        obs, _ = env.reset(seed=seed)
        t1 = time.perf_counter()
        goal = str(obs["goal"])
        page = env.unwrapped.page
        steps: list[float] = []
        parts: dict[str, float] = {"oracle": 0.0, "env_step": 0.0, "screenshot": 0.0}
        reward, done = 0.0, False
        for _ in range(MAX_STEPS):
            s0 = time.perf_counter()
            plan = page.evaluate(self.oracle_js, [task, TASK_AREA, goal])
            s1 = time.perf_counter()
            if "x" not in plan:
                raise RuntimeError(f"oracle has no click for {task} seed {seed}: {plan}")
            scale = getattr(page, "_bgym_scale_factor", 1.0)
            _, reward, terminated, truncated, info = env.step(f"mouse_click({plan['x'] * scale}, {plan['y'] * scale})")
            s2 = time.perf_counter()
            if self.mode == "tuned":
                extract_screenshot(page)
            s3 = time.perf_counter()
            parts["oracle"] += _ms(s1 - s0)
            parts["env_step"] += _ms(s2 - s1)
            parts["screenshot"] += _ms(s3 - s2)
            steps.append(_ms(s3 - s0))
            if info.get("last_action_error") or env.unwrapped.last_action_error:
                raise RuntimeError(f"BrowserGym refused the action: {env.unwrapped.last_action_error}")
            page = env.unwrapped.page
            if terminated or truncated:
                done = bool(terminated)
                break
        t2 = time.perf_counter()
        return {
            "seed": seed,
            "reset_ms": _ms(t1 - t0),
            "step_ms": steps,
            "episode_ms": _ms(t2 - t0),
            "success": bool(done and reward > 0),
            "reward": float(reward),
            "parts": parts,
        }

    def close(self) -> None:
        for env in self.envs.values():
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing must not hide the figures
                pass
        self.envs.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("default", "tuned"), default="default")
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--oracle-js", type=Path, required=True)
    args = parser.parse_args()
    # the protocol owns stdout; anything the libraries print goes to stderr
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")

    t0 = time.perf_counter()
    try:
        peer = BrowserGymPeer(args.mode, args.chromium, args.oracle_js.read_text())
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        send({"error": f"{type(exc).__name__}: {exc}"})
        return
    versions = {p: version(p) for p in ("browsergym-core", "browsergym-miniwob", "playwright", "gymnasium")}
    send({"ready": True, "startup_ms": _ms(time.perf_counter() - t0), "versions": versions})
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("cmd") == "quit":
                break
            try:
                episodes = [peer.run(request["task"], seed) for seed in request["seeds"]]
                # an idle BrowserGym env keeps two Chromiums (page + chat) open; every reset launches new ones
                # anyway, so closing between blocks costs its episodes nothing and spares the other variants
                peer.close()
                send({"episodes": episodes})
            except Exception as exc:  # noqa: BLE001 - one failed block is reported, the peer stays up
                send({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
    finally:
        peer.close()


if __name__ == "__main__":
    main()
