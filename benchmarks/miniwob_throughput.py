"""MiniWoB throughput: pixelpilot against the raw Playwright floor, miniwob's own gym env and BrowserGym.

On click-test and click-button, with the same seeds and the same oracle actions (pixelpilot's MiniWoB oracle,
``tasks/bench/miniwob/oracle.js``, or the same rule over the DOM the peer returns), one run measures:

* **pixelpilot**: the suite's own worker (``MiniWobSuite().open_worker``: ``MiniWobEnv`` + ``MiniWobOracle``
  through the real ``Agent``, ``agent.hooks.append(oracle.hook())``), recording full bundles (episode.json,
  steps.jsonl, screenshots, report.html). Reset = ``env.begin(task, seed)``; step = the bundle's ``timings_ms``
  (capture incl. the oracle's DOM read, decide, execute, record); episode = the worker's ``run(unit)`` wall time.
* **raw floor**: the same page loaded once in plain Playwright (system Chromium, the env's launch flags, 500x320
  window, scale 2); per episode the same in-page reset JS, then per step one JPEG q90 screenshot of the 160x210
  task area, the oracle's evaluate and ``page.mouse.click``; the reward read from ``WOB_REWARD_GLOBAL``.
* **miniwob gym**: ``gymnasium.make("miniwob/<task>-v1")`` (Selenium + chromedriver, headless, screenshot in
  every observation as by default), ``reset(seed=...)``, ``CLICK_COORDS`` at the centre of the oracle's target
  in the returned ``dom_elements``.
* **BrowserGym 0.14.3** (its own venv, ``benchmarks/peers/``): defaults, and tuned (slow_mo=0,
  pre_observation_delay=0, use_raw_page_output=True + one BrowserGym screenshot per step); ``mouse_click(x, y)``.

Every variant runs in its own process (a JSON-lines server), so all of them stay up and are interleaved: each
round runs one block of episodes per (task, variant), the variant order reversed every other round (ABBA), and
the first episode of each block is dropped as a warm-up (pixelpilot's env reloads the page when the task
changes; BrowserGym's pages are new on every reset anyway). Figures are medians over all measured episodes;
episodes/min is the median over rounds of (block episodes / block wall time) with one worker. Then the
**scaling** part runs the project's runner (``plan_run``/``execute``, ``MiniWobSuite``, ``PolicySpec("oracle")``)
with 1, 2 and 4 workers into a temp --out.

    .venv/bin/python benchmarks/miniwob_throughput.py [--rounds 5] [--episodes 6] [--browsergym-episodes 2]
        [--quick] [--write-doc]
        [--skip-gym] [--skip-browsergym] [--skip-scaling] [--scaling-episodes 60] [--json FILE]

BrowserGym needs its venv: ``bash benchmarks/peers/setup_browsergym.sh`` (run automatically when missing);
miniwob's gym env needs chromedriver (``apt-get install -y chromium-driver``). A peer whose setup fails is
reported and skipped; the others still run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

import psutil
from machine_info import cpuinfo_field  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / "peers"
BG_VENV = PEERS / "browsergym-venv"
BG_BROWSERS = PEERS / "pw-browsers"
ORACLE_JS = ROOT / "tasks" / "bench" / "miniwob" / "oracle.js"
TASKS = ("click-test", "click-button")
SCALE = 2.0
WINDOW = {"width": 500, "height": 320}
TASK_AREA = {"width": 160, "height": 210}
MAX_STEPS = 5
GOAL_STEP_RATIO = 1.5
GOAL_VS_GYM = 1.2
GOAL_VS_BROWSERGYM = 20.0
GOAL_RESET_MS = 100.0
HEADING = "## MiniWoB throughput"
BEGIN, END = "<!-- miniwob_throughput:begin -->", "<!-- miniwob_throughput:end -->"

#: MiniWobEnv's in-page reset, as tasks/bench/miniwob/env.py runs it (kept here so the floor owes it nothing).
BEGIN_JS = """([seed, mode]) => {
  core.endEpisode(0);
  Math.seedrandom(seed);
  core.setDataMode(mode);
  window.__ppOracleMemory = null;
  core.startEpisodeReal();
  return WOB_TASK_READY;
}"""

#: label, short description; the order of the report's rows.
VARIANTS = {
    "pixelpilot": "pixelpilot: MiniWobEnv + oracle through the Agent, full bundles + report.html",
    "raw": "raw Playwright floor: in-page reset, screenshot, oracle evaluate, mouse.click",
    "gym": "miniwob gym env (Selenium, screenshot per step, CLICK_COORDS)",
    "browsergym": "BrowserGym defaults (slow_mo 100 ms, pre_observation_delay 0.5 s, full obs)",
    "browsergym-tuned": "BrowserGym tuned (slow_mo 0, pre_observation_delay 0, raw page output + screenshot)",
}


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# =========================================================================== the variants' servers (children)
class PixelpilotRunner:
    """The suite's own worker, timed from outside: ``env.begin`` and the phases are wrapped on the instances."""

    def __init__(self, out: Path) -> None:
        from pixelpilot.agent.policy_spec import PolicySpec
        from pixelpilot.tasks.bench.miniwob.suite import MiniWobSuite

        self.out = out
        self.worker: Any = MiniWobSuite(scale=SCALE).open_worker(0, PolicySpec(kind="oracle"))
        self.parts: dict[str, float] = defaultdict(float)
        env, agent = self.worker.env, self.worker.agent
        for owner, name, label in (
            (env, "begin", "reset"),
            (env, "observe", "observe"),
            (env, "execute", "execute"),
            (env, "episode_over", "episode_over"),
            (env, "evaluate", "evaluate"),
            (self.worker.policy, "prepare", "oracle_prepare"),
            (agent, "_report", "report_html"),
        ):
            setattr(owner, name, self._timed(getattr(owner, name), label))

    def _timed(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.parts[label] += _ms(time.perf_counter() - t0)
                self.parts[f"{label}_calls"] += 1

        return wrapper

    def info(self) -> dict[str, Any]:
        return {"pixelpilot": _version("pixelpilot"), "playwright": _version("playwright")}

    def run(self, task: str, seed: int) -> dict[str, Any]:
        from pixelpilot.agent.episode import read_bundle
        from pixelpilot.tasks.bench.contract import Unit

        self.parts.clear()
        t0 = time.perf_counter()
        result = self.worker.run(Unit(task=task, seed=seed), self.out)
        wall = _ms(time.perf_counter() - t0)
        parts = dict(self.parts)
        bundle = self.out / result.bundle if result.bundle else None
        steps = read_bundle(bundle)[1] if bundle is not None and (bundle / "episode.json").exists() else []
        phases = ("capture", "decide", "execute", "record")
        for k in phases:
            parts[f"step_{k}"] = sum(s.timings_ms.get(k, 0.0) for s in steps)
        files = sorted(p.name for p in bundle.iterdir()) if bundle is not None else []
        return {
            "seed": seed,
            "reset_ms": parts.get("reset", float("nan")),
            "step_ms": [sum(s.timings_ms.get(k, 0.0) for k in phases) for s in steps],
            "episode_ms": wall,
            "success": bool(result.success),
            "reward": float(result.reward),
            "parts": parts,
            "bundle_files": files,
        }

    def attribution(self, task: str, seeds: list[int]) -> dict[str, list[float]]:
        """Per seed, on the env's own page: the env's calls against the raw calls they wrap, order alternating.

        A: ``env.begin``, ``env.observe()``, ``env.observe()`` again (nothing changed: the final screenshot's
        case), the oracle's evaluate, ``env.execute(Click)``, one bare ``page.evaluate("0")``.
        B: ``env.begin`` (same seed), ``page.screenshot`` (same clip, JPEG q90), the oracle's evaluate,
        ``page.mouse.click``.
        """
        from pixelpilot.tools import Click

        env = self.worker.env
        oracle_js = ORACLE_JS.read_text()
        clip = {"x": 0, "y": 0, **TASK_AREA}
        out: dict[str, list[float]] = defaultdict(list)

        def timed(key: str, fn: Callable[[], Any]) -> Any:
            t0 = time.perf_counter()
            value = fn()
            out[key].append(_ms(time.perf_counter() - t0))
            return value

        def env_side(seed: int) -> None:
            timed("env.begin", lambda: env.begin(task, seed))
            obs = timed("env.observe", env.observe)
            timed("env.observe (unchanged page)", env.observe)
            plan = timed("oracle evaluate (env side)", lambda: env.page.evaluate(oracle_js, [task, TASK_AREA]))
            click = Click(x=int(plan["x"] * SCALE), y=int(plan["y"] * SCALE))
            timed("env.execute(Click)", lambda: env.execute(click, obs.geometry))
            timed("one round trip", lambda: env.page.evaluate("0"))

        def raw_side(seed: int) -> None:
            timed("raw begin (reset JS)", lambda: env.page.evaluate(BEGIN_JS, [seed, "train"]))
            page = env.page
            timed("page.screenshot", lambda: page.screenshot(type="jpeg", quality=90, clip=clip))
            plan = timed("oracle evaluate (raw side)", lambda: page.evaluate(oracle_js, [task, TASK_AREA]))
            timed("page.mouse.click", lambda: page.mouse.click(plan["x"], plan["y"]))

        env.begin(task, seeds[0])  # loads the page when the task changed
        for i, seed in enumerate(seeds):
            for side in (env_side, raw_side) if i % 2 == 0 else (raw_side, env_side):
                side(seed)
        return dict(out)

    def close(self) -> None:
        self.worker.close()


class RawRunner:
    """Plain Playwright on the same page, loaded once per task; the floor under any MiniWoB harness."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        from pixelpilot.env.browser.chromium import find_chromium, launch_args

        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(
            executable_path=find_chromium(), headless=True, args=launch_args(), chromium_sandbox=False
        )
        self.pages: dict[str, Any] = {}
        self.oracle_js = ORACLE_JS.read_text()

    def info(self) -> dict[str, Any]:
        return {"playwright": _version("playwright"), "chromium": self.browser.version}

    def _page(self, task: str) -> Any:
        from pixelpilot.tasks.bench.miniwob.env import html_dir

        if task not in self.pages:
            # one context per task: each page is alone in its context, like pixelpilot's env's page
            page = self.browser.new_context(viewport=WINDOW, device_scale_factor=SCALE).new_page()
            page.goto((html_dir() / "miniwob" / f"{task}.html").as_uri(), wait_until="load")
            self.pages[task] = page
        return self.pages[task]

    def run(self, task: str, seed: int) -> dict[str, Any]:
        page = self._page(task)
        clip = {"x": 0, "y": 0, **TASK_AREA}
        parts: dict[str, float] = defaultdict(float)
        t0 = time.perf_counter()
        ready = page.evaluate(BEGIN_JS, [seed, "train"])
        while not ready:
            time.sleep(0.005)
            ready = page.evaluate("() => WOB_TASK_READY")
        t1 = time.perf_counter()
        steps: list[float] = []
        done = False
        for _ in range(MAX_STEPS):
            s0 = time.perf_counter()
            page.screenshot(type="jpeg", quality=90, clip=clip)
            s1 = time.perf_counter()
            plan = page.evaluate(self.oracle_js, [task, TASK_AREA])
            s2 = time.perf_counter()
            if "x" not in plan:
                raise RuntimeError(f"oracle has no click for {task} seed {seed}: {plan}")
            page.mouse.click(plan["x"], plan["y"])
            s3 = time.perf_counter()
            parts["screenshot"] += _ms(s1 - s0)
            parts["oracle"] += _ms(s2 - s1)
            parts["click"] += _ms(s3 - s2)
            steps.append(_ms(s3 - s0))
            done, reward = page.evaluate("() => [WOB_DONE_GLOBAL, WOB_REWARD_GLOBAL]")
            if done:
                break
        t2 = time.perf_counter()
        return {
            "seed": seed,
            "reset_ms": _ms(t1 - t0),
            "step_ms": steps,
            "episode_ms": _ms(t2 - t0),
            "success": bool(done and reward > 0),
            "reward": float(reward or 0.0),
            "parts": dict(parts),
        }

    def close(self) -> None:
        self.browser.close()
        self.pw.stop()


def gym_target(task: str, obs: dict[str, Any]) -> tuple[float, float]:
    """The oracle's rule for these two tasks over miniwob's ``dom_elements``: the centre of the target (CSS px)."""
    elements = obs["dom_elements"]
    if task == "click-test":
        target = next((e for e in elements if e["id"] == "subbtn"), None)
    elif task == "click-button":
        quoted = obs["utterance"].split('"')[1] if '"' in obs["utterance"] else ""
        target = next((e for e in elements if e["tag"] == "button" and e["text"].strip() == quoted), None)
    else:
        raise ValueError(f"no gym oracle for {task}")
    if target is None:
        raise RuntimeError(f"no target for {task} in the gym observation")
    left, top = float(target["left"][0]), float(target["top"][0])
    width, height = float(target["width"][0]), float(target["height"][0])
    x0, x1 = max(left, 0.0), min(left + width, TASK_AREA["width"])
    y0, y1 = max(top, 0.0), min(top + height, TASK_AREA["height"])
    return (x0 + x1) / 2, (y0 + y1) / 2


class GymRunner:
    """miniwob's own gymnasium env (Selenium), one per task, defaults kept (screenshot in every observation)."""

    def __init__(self) -> None:
        import gymnasium
        import miniwob

        gymnasium.register_envs(miniwob)
        self.gymnasium = gymnasium
        self.envs: dict[str, Any] = {}

    def info(self) -> dict[str, Any]:
        import selenium

        out = subprocess.run(
            [os.environ.get("MINIWOB_CHROMEDRIVER", "chromedriver"), "--version"], capture_output=True, text=True
        )
        return {
            "miniwob": _version("miniwob"),
            "gymnasium": _version("gymnasium"),
            "selenium": selenium.__version__,
            "chromedriver": out.stdout.split(" (")[0].strip(),
        }

    def run(self, task: str, seed: int) -> dict[str, Any]:
        import numpy as np
        from miniwob.action import ActionTypes

        if task not in self.envs:
            self.envs[task] = self.gymnasium.make(f"miniwob/{task}-v1")
        env = self.envs[task]
        parts: dict[str, float] = defaultdict(float)
        t0 = time.perf_counter()
        obs, _ = env.reset(seed=seed)
        t1 = time.perf_counter()
        steps: list[float] = []
        reward, done = 0.0, False
        for _ in range(MAX_STEPS):
            s0 = time.perf_counter()
            x, y = gym_target(task, obs)
            action = env.unwrapped.create_action(ActionTypes.CLICK_COORDS, coords=np.array([x, y], dtype=np.float32))
            s1 = time.perf_counter()
            obs, reward, terminated, truncated, _ = env.step(action)
            s2 = time.perf_counter()
            parts["oracle"] += _ms(s1 - s0)
            parts["env_step"] += _ms(s2 - s1)
            steps.append(_ms(s2 - s0))
            if obs.get("screenshot") is None:
                raise RuntimeError("the gym env returned no screenshot")
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
            "parts": dict(parts),
        }

    def close(self) -> None:
        for env in self.envs.values():
            env.close()


def serve(variant: str, tmp: Path) -> None:
    """A child: answer JSON request lines on stdin with JSON lines on the saved stdout."""
    from pixelpilot.agent.logs import enable_logging

    enable_logging("WARNING")
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a library prints must not break the protocol
    sys.stdout = sys.stderr

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, default=str) + "\n")

    t0 = time.perf_counter()
    try:
        runner: Any = {"pixelpilot": lambda: PixelpilotRunner(tmp), "raw": RawRunner, "gym": GymRunner}[variant]()
        info = runner.info()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        send({"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"})
        return
    send({"ready": True, "startup_ms": _ms(time.perf_counter() - t0), "versions": info})
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("cmd") == "quit":
                break
            try:
                if request.get("cmd") == "attribution":
                    send({"attribution": runner.attribution(request["task"], request["seeds"])})
                    continue
                send({"episodes": [runner.run(request["task"], seed) for seed in request["seeds"]]})
            except Exception as exc:  # noqa: BLE001 - one failed block is reported, the server stays up
                send({"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"})
    finally:
        runner.close()


# =========================================================================== the parent
def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


class PeerError(RuntimeError):
    """A variant could not be set up or failed; the message says what to do."""


class Peer:
    """One variant's server process; requests and replies are JSON lines, its stderr goes to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, start_timeout_s: float) -> None:
        self.name = name
        self.log = log
        self._log: IO[str] = log.open("w")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env, cwd=ROOT
        )
        hello = self._read()
        if "error" in hello:
            self.close()
            raise PeerError(f"{name} could not start: {hello['error']}")
        self.versions: dict[str, Any] = hello.get("versions", {})
        self.startup_ms = float(hello.get("startup_ms", float("nan")))

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            tail = self.log.read_text(errors="replace").strip().splitlines()[-8:]
            raise PeerError(f"{self.name} exited (code {self.proc.returncode}):\n    " + "\n    ".join(tail))
        return json.loads(line)

    def run(self, task: str, seeds: list[int]) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"task": task, "seeds": seeds}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise PeerError(f"{self.name} on {task}: {reply['error']}")
        return reply["episodes"]

    def attribution(self, task: str, seeds: list[int]) -> dict[str, list[float]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": "attribution", "task": task, "seeds": seeds}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise PeerError(f"{self.name} attribution on {task}: {reply['error']}")
        return reply["attribution"]

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "benchmarks"), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _chromium() -> str:
    from pixelpilot.env.browser.chromium import find_chromium

    path = find_chromium()
    if path is None:
        raise PeerError("no system Chromium found (PIXELPILOT_CHROMIUM or chromium on PATH)")
    return os.path.realpath(path)


def start_local(name: str, tmp: Path, **env: str) -> Peer:
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", name, "--tmp", str(tmp)]
    return Peer(name, argv, _child_env(**env), tmp / f"{name}.log", 300)


def start_gym(tmp: Path) -> Peer:
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not Path(driver).exists():
        raise PeerError("miniwob's gym env needs chromedriver: apt-get install -y chromium-driver")
    return start_local("gym", tmp, MINIWOB_CHROME_BINARY=_chromium(), MINIWOB_CHROMEDRIVER=driver)


def ensure_browsergym_venv() -> Path:
    python = BG_VENV / "bin" / "python"
    ok = python.exists() and (BG_BROWSERS / "chromium-1117" / "chrome-linux" / "chrome").exists()
    if ok:
        probe = subprocess.run([str(python), "-c", "import browsergym.miniwob"], capture_output=True, text=True)
        ok = probe.returncode == 0
    if not ok:
        print("setting up BrowserGym's venv (benchmarks/peers/setup_browsergym.sh) ...", file=sys.stderr)
        setup = subprocess.run(["bash", str(PEERS / "setup_browsergym.sh")], capture_output=True, text=True)
        if setup.returncode != 0:
            tail = [ln for ln in setup.stderr.splitlines() if "is ignored" not in ln][-6:]
            detail = "\n    ".join(tail)
            raise PeerError(f"BrowserGym setup failed (benchmarks/peers/setup_browsergym.sh):\n    {detail}")
    return python


def start_browsergym(tmp: Path, mode: str) -> Peer:
    from pixelpilot.tasks.bench.miniwob.env import html_dir

    python = ensure_browsergym_venv()
    argv = [
        str(python),
        str(PEERS / "browsergym_peer.py"),
        "--mode",
        mode,
        "--chromium",
        _chromium(),
        "--oracle-js",
        str(ORACLE_JS),
    ]
    env = dict(os.environ)
    env.update(
        MINIWOB_URL=(html_dir() / "miniwob").as_uri() + "/",
        PLAYWRIGHT_BROWSERS_PATH=str(BG_BROWSERS),
    )
    name = "browsergym" if mode == "default" else "browsergym-tuned"
    return Peer(name, argv, env, tmp / f"{name}.log", 300)


# --------------------------------------------------------------------------- the interleaved comparison
def compare(peers: dict[str, Peer], rounds: int, episodes: int, slow_episodes: int) -> dict[str, Any]:
    """``rounds`` rounds; in each, one block of ``episodes + 1`` seeds per (task, variant), ABBA order.

    BrowserGym's blocks take the first ``slow_episodes + 1`` of those seeds (its episodes take seconds each).
    """
    data: dict[str, dict[str, list[dict[str, Any]]]] = {t: defaultdict(list) for t in TASKS}
    rates: dict[str, dict[str, list[float]]] = {t: defaultdict(list) for t in TASKS}
    round_steps: dict[str, dict[str, list[float]]] = {t: defaultdict(list) for t in TASKS}
    failures: dict[str, str] = {}
    names = list(peers)
    for r in range(rounds):
        seeds = list(range(1000 * r, 1000 * r + episodes + 1))  # the same seeds for every variant in a round
        for task in TASKS:
            for name in names if r % 2 == 0 else reversed(names):
                if name in failures:
                    continue
                t0 = time.perf_counter()
                block = seeds if not name.startswith("browsergym") else seeds[: slow_episodes + 1]
                try:
                    eps = peers[name].run(task, block)
                except PeerError as exc:
                    failures[name] = str(exc)
                    print(f"  {name} failed and is dropped: {exc}", file=sys.stderr)
                    continue
                measured = eps[1:]  # the first episode of a block is a warm-up
                block_ms = sum(e["episode_ms"] for e in measured)
                data[task][name].extend(measured)
                rates[task][name].append(len(measured) / (block_ms / 60000.0))
                round_steps[task][name].append(_median([x for e in measured for x in e["step_ms"]]))
                print(
                    f"  round {r + 1}/{rounds} {task:12s} {name:17s} {time.perf_counter() - t0:6.1f} s, "
                    f"{sum(e['success'] for e in measured)}/{len(measured)} ok, "
                    f"{rates[task][name][-1]:.0f} eps/min",
                    file=sys.stderr,
                )
    summary: dict[str, dict[str, Any]] = {}
    for task in TASKS:
        summary[task] = {}
        for name, eps in data[task].items():
            steps = [s for e in eps for s in e["step_ms"]]
            parts: dict[str, list[float]] = defaultdict(list)
            for e in eps:
                for k, v in e.get("parts", {}).items():
                    parts[k].append(v)
            summary[task][name] = {
                "n": len(eps),
                "success": sum(e["success"] for e in eps),
                "reset_ms": _median([e["reset_ms"] for e in eps]),
                "step_ms": _median(steps),
                "steps_per_episode": len(steps) / len(eps) if eps else float("nan"),
                "episode_ms": _median([e["episode_ms"] for e in eps]),
                "eps_per_min": _median(rates[task][name]),
                "eps_per_min_rounds": rates[task][name],
                "step_ms_rounds": round_steps[task][name],
                "parts": {k: _median(v) for k, v in parts.items()},
                "bundle_files": eps[0].get("bundle_files") if eps else None,
            }
    return {"summary": summary, "failures": failures}


# --------------------------------------------------------------------------- scaling with the runner
def scaling(workers: list[int], episodes: int, tmp: Path) -> list[dict[str, Any]]:

    from pixelpilot.agent.logs import enable_logging
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.tasks.bench.miniwob.suite import MiniWobSuite
    from pixelpilot.tasks.bench.runner import RunOptions, execute, plan_run

    enable_logging("WARNING")
    rows = []
    for w in workers:
        out = tmp / f"scaling-w{w}"
        plan = plan_run(
            MiniWobSuite(scale=SCALE),
            PolicySpec(kind="oracle"),
            RunOptions(out=out, workers=w, seeds=episodes, tasks=["click-test"]),
        )
        arrivals: list[float] = []
        psutil.cpu_percent(interval=None)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        outcome = execute(plan, on_result=lambda _r, arrivals=arrivals: arrivals.append(time.perf_counter()))
        wall = time.perf_counter() - t0
        cpu = psutil.cpu_percent(interval=None)
        # steady state: from each worker's first result (its browser start and page load are behind it) on
        steady_n = len(arrivals) - w
        steady_s = arrivals[-1] - arrivals[w - 1] if steady_n > 0 else float("nan")
        row = {
            "workers": w,
            "episodes": len(outcome.results),
            "success": sum(r.success for r in outcome.results),
            "wall_s": wall,
            "eps_per_min": len(outcome.results) / wall * 60,
            "steady_eps_per_min": steady_n / steady_s * 60 if steady_n > 0 and steady_s > 0 else float("nan"),
            "first_result_s": arrivals[0] - t0 if arrivals else float("nan"),
            "cpu_percent": cpu,
            "load_start": load0,
            "load_end": os.getloadavg()[0],
            "median_unit_s": _median([r.elapsed_s for r in outcome.results]),
        }
        rows.append(row)
        print(
            f"  scaling w={w}: {row['eps_per_min']:.0f} eps/min overall, {row['steady_eps_per_min']:.0f} steady, "
            f"{row['success']}/{row['episodes']} ok, CPU {cpu:.0f}%",
            file=sys.stderr,
        )
        shutil.rmtree(out, ignore_errors=True)
    return rows


# --------------------------------------------------------------------------- machine + report
def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        chromium = subprocess.run([_chromium(), "--version"], capture_output=True, text=True).stdout.strip()
    except (OSError, PeerError):
        chromium = "unknown"
    return {
        "cpu": cpuinfo_field("model name"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "chromium": chromium,
        "commit": commit or "unknown",
        "load_start": os.getloadavg(),
    }


def _f(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:,.{digits}f}"  # NaN -> dash


def _paired(ours: list[float], theirs: list[float]) -> str:
    """The same ratio round by round (each block against its neighbour in the same round): min–max."""
    ratios = [a / b for a, b in zip(ours, theirs, strict=False) if b]
    return f" (rounds {min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""


def _goal(met: bool) -> str:
    return "met" if met else "**missed**"


def render(m: dict[str, Any], result: dict[str, Any], scale_rows: list[dict[str, Any]], args: Any) -> str:
    summary, failures, versions = result["summary"], result["failures"], result["versions"]
    cmd = "benchmarks/miniwob_throughput.py " + " ".join(args.argv)
    lines = [
        HEADING,
        "",
        BEGIN,
        f"_Generated by `{cmd.strip()}` on {datetime.now().strftime('%Y-%m-%d %H:%M')} (commit {m['commit']})._",
        "",
        f"**Machine:** {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, {m['ram_gb']} GiB "
        f"RAM; {m['os']}; Python {m['python']}; {m['chromium']} (system build, headless, every variant). "
        f"Load average (1/5/15 min) at start {' / '.join(f'{x:.1f}' for x in m['load_start'])}, at the end "
        f"{' / '.join(f'{x:.1f}' for x in m['load_end'])} — a shared machine, other work was running.",
        "",
        "**Versions:** "
        + "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in vs.items()) for name, vs in versions.items())
        + ".",
        "",
        f"**Method:** every variant is its own process, all up at once; {args.rounds} rounds, each running one block "
        f"of {args.episodes} + 1 episodes per task and variant ({args.browsergym_episodes} + 1 for BrowserGym, "
        "whose episodes take seconds) with the same seeds, variant order reversed every "
        "other round; the first episode of each block is dropped. Same oracle actions everywhere (pixelpilot's "
        "`oracle.js`; for the miniwob gym env the same rule over its `dom_elements`). Times are medians in ms over "
        "all measured episodes; *step* = one agent–env iteration (observe incl. screenshot + oracle + act + "
        "record where the variant records); *eps/min* = median over rounds of episodes / block wall time, one "
        "worker. BrowserGym seeds the page with a number drawn from the seed, so its episodes are the same tasks "
        "but not the same page instances.",
        "",
        "| task | variant | reset | step | steps/ep | episode | **eps/min** | success |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        for name in VARIANTS:
            s = summary[task].get(name)
            if s is None:
                continue
            lines.append(
                f"| {task} | {name} | {_f(s['reset_ms'])} | {_f(s['step_ms'])} | {s['steps_per_episode']:.1f} "
                f"| {_f(s['episode_ms'])} | **{_f(s['eps_per_min'], 0)}** | {s['success']}/{s['n']} |"
            )
    lines += ["", "Variants: " + "; ".join(f"*{k}* = {v}" for k, v in VARIANTS.items()) + ".", ""]
    lines += [
        "**Goals** (per task; ratio of the medians above, then the same ratio per round, min–max):",
        "",
        "| task | pixelpilot reset < 100 ms | pixelpilot step / raw floor step ≤ 1.5× "
        "| pixelpilot eps/min / miniwob gym ≥ 1.2× | pixelpilot eps/min / BrowserGym default ≥ 20× "
        "| / BrowserGym tuned |",
        "|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        s = summary[task]
        p = s.get("pixelpilot")
        if p is None:
            continue
        cells = [f"{_f(p['reset_ms'])} ms {_goal(p['reset_ms'] < GOAL_RESET_MS)}"]
        raw = s.get("raw")
        if raw:
            ratio = p["step_ms"] / raw["step_ms"]
            paired = _paired(p["step_ms_rounds"], raw["step_ms_rounds"])
            cells.append(f"{ratio:.2f}× {_goal(ratio <= GOAL_STEP_RATIO)}{paired}")
        else:
            cells.append("–")
        for peer, goal in (("gym", GOAL_VS_GYM), ("browsergym", GOAL_VS_BROWSERGYM)):
            if s.get(peer):
                ratio = p["eps_per_min"] / s[peer]["eps_per_min"]
                paired = _paired(p["eps_per_min_rounds"], s[peer]["eps_per_min_rounds"])
                cells.append(f"{ratio:.2f}× {_goal(ratio >= goal)}{paired}")
            else:
                cells.append("not run")
        tuned = s.get("browsergym-tuned")
        cells.append(f"{p['eps_per_min'] / tuned['eps_per_min']:.1f}×" if tuned else "not run")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines += ["", "**Where pixelpilot's time goes** (medians per episode, ms; wrapped on the worker's instances):", ""]
    keys = [
        ("reset", "reset (`env.begin`)"),
        ("step_capture", "step: capture (observe + oracle)"),
        ("oracle_prepare", "… of which oracle DOM read"),
        ("step_decide", "step: decide"),
        ("step_execute", "step: execute (click + settle)"),
        ("step_record", "step: record"),
        ("episode_over", "`episode_over`"),
        ("evaluate", "`evaluate`"),
        ("observe", "all `observe` calls (+ final screenshot if configured)"),
        ("report_html", "report.html"),
    ]
    lines += ["| task | " + " | ".join(k[1] for k in keys) + " | episode |", "|---|" + "---|" * (len(keys) + 1)]
    for task in TASKS:
        p = summary[task].get("pixelpilot")
        if p is None:
            continue
        parts = p["parts"]
        lines.append(
            f"| {task} | " + " | ".join(_f(parts.get(k, float("nan"))) for k, _ in keys) + f" | {_f(p['episode_ms'])} |"
        )
    attribution = result.get("attribution") or {}
    if attribution:
        cols = [
            "env.begin",
            "raw begin (reset JS)",
            "env.observe",
            "page.screenshot",
            "env.observe (unchanged page)",
            "env.execute(Click)",
            "page.mouse.click",
            "oracle evaluate (env side)",
            "one round trip",
        ]
        lines += [
            "",
            f"**Attribution**, interleaved per call on the pixelpilot env's own page ({args.attribution_seeds} seeds "
            "per task, the env's calls and the raw calls they wrap alternating; medians, ms):",
            "",
            "| task | " + " | ".join(f"`{c}`" for c in cols) + " | observe − screenshot | execute − click |",
            "|---|" + "---|" * (len(cols) + 2),
        ]
        for task, a in attribution.items():
            nan = float("nan")
            cells = [_f(a.get(c, nan)) for c in cols]
            d_obs = a.get("env.observe", nan) - a.get("page.screenshot", nan)
            d_exe = a.get("env.execute(Click)", nan) - a.get("page.mouse.click", nan)
            lines.append(f"| {task} | " + " | ".join(cells) + f" | {d_obs:+.1f} | {d_exe:+.1f} |")
    raw_parts = {t: summary[t]["raw"]["parts"] for t in TASKS if summary[t].get("raw")}
    if raw_parts:
        lines += [
            "",
            "Raw floor per step (ms): "
            + "; ".join(
                f"{t}: screenshot {_f(p.get('screenshot', float('nan')))}, oracle {_f(p.get('oracle', float('nan')))}"
                f", click {_f(p.get('click', float('nan')))}"
                for t, p in raw_parts.items()
            )
            + ".",
        ]
    lines += reading(summary, attribution)
    files = next((summary[t]["pixelpilot"].get("bundle_files") for t in TASKS if summary[t].get("pixelpilot")), None)
    if files:
        lines += ["", f"pixelpilot bundle of one episode: {', '.join(files)}."]
    if failures:
        lines += ["", "**Variants that failed:**", ""] + [f"- {k}: {v}" for k, v in failures.items()]
    if scale_rows:
        lines += [
            "",
            f"**Scaling** with the project's runner (`plan_run`/`execute`, MiniWobSuite, oracle, click-test, "
            f"{scale_rows[0]['episodes']} episodes per run, full bundles + report.html, temp --out; *overall* "
            "includes the workers' start, *steady* counts from each worker's first result on):",
            "",
            "| workers | eps/min overall | **eps/min steady** | vs 1 worker | success | wall s | first result s "
            "| median unit s | CPU % (all cores) | load 1 min start → end |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        base = scale_rows[0]["steady_eps_per_min"]
        for row in scale_rows:
            lines.append(
                f"| {row['workers']} | {_f(row['eps_per_min'], 0)} | **{_f(row['steady_eps_per_min'], 0)}** "
                f"| {row['steady_eps_per_min'] / base:.2f}× | {row['success']}/{row['episodes']} "
                f"| {_f(row['wall_s'])} | {_f(row['first_result_s'])} | {_f(row['median_unit_s'], 3)} "
                f"| {row['cpu_percent']:.0f} | {row['load_start']:.1f} → {row['load_end']:.1f} |"
            )
        gains = [
            f"{a['workers']} → {b['workers']} workers {b['steady_eps_per_min'] / a['steady_eps_per_min'] - 1:+.0%}"
            for a, b in itertools.pairwise(scale_rows)
        ]
        saturated = next(
            (a for a, b in itertools.pairwise(scale_rows) if b["steady_eps_per_min"] < 1.15 * a["steady_eps_per_min"]),
            None,
        )
        lines += [
            "",
            f"Saturation (steady eps/min): {'; '.join(gains)}. "
            + (
                f"Past {saturated['workers']} worker(s) a worker adds less than 15% "
                f"(CPU {saturated['cpu_percent']:.0f}% at {saturated['workers']}): this machine "
                f"({m['usable_cpus']} usable CPUs, each worker one Python process + one Chromium) saturates there."
                if saturated
                else "No saturation within the workers tried."
            ),
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def reading(summary: dict[str, Any], attribution: dict[str, Any]) -> list[str]:
    """Where pixelpilot's step and episode go beyond the floor, in words computed from this run's figures."""
    nan = float("nan")
    out = ["", "**Reading** (computed from the figures above):", ""]
    for task in TASKS:
        p, r = summary[task].get("pixelpilot"), summary[task].get("raw")
        if not p or not r:
            continue
        pp, rp, a = p["parts"], r["parts"], attribution.get(task, {})
        shot_share = rp.get("screenshot", nan) / r["step_ms"] if r["step_ms"] else nan
        d_obs = a.get("env.observe", nan) - a.get("page.screenshot", nan)
        d_exe = a.get("env.execute(Click)", nan) - a.get("page.mouse.click", nan)
        rest = p["episode_ms"] - p["reset_ms"] - p["step_ms"] * p["steps_per_episode"]
        out.append(
            f"- {task}: pixelpilot step {_f(p['step_ms'])} vs floor {_f(r['step_ms'])} ms "
            f"(+{_f(p['step_ms'] - r['step_ms'])}). The screenshot is {shot_share:.0%} of the floor's step. "
            f"Per call on the same page: observe − screenshot {d_obs:+.1f} ms (observe adds `page.title()`), "
            f"execute − click {d_exe:+.1f} ms (settle: page round trips of {_f(a.get('one round trip', nan))} ms "
            f"each after the click); record {_f(pp.get('step_record', nan))} ms, decide (thread hop) "
            f"{_f(pp.get('step_decide', nan))} ms. Outside the steps and the reset, an episode "
            f"spends {_f(rest)} ms (`episode_over` {_f(pp.get('episode_over', nan))}, `evaluate` "
            f"{_f(pp.get('evaluate', nan))}, report.html {_f(pp.get('report_html', nan))}, bundle writes, "
            f"the worker's bookkeeping); `env.begin` is {_f(p['reset_ms'])} ms against {_f(r['reset_ms'])} for "
            "the bare reset JS (it also reads the scores)."
        )
    return out


def write_section(path: Path, section: str) -> None:
    """Replace the generated section (between the markers, heading included) or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        head = head.rstrip()
        if head.endswith(HEADING):
            head = head[: -len(HEADING)]
        text = head.rstrip("\n") + "\n\n" + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--episodes", type=int, default=6, help="measured episodes per block (plus one warm-up)")
    parser.add_argument("--browsergym-episodes", type=int, default=2, help="measured episodes per BrowserGym block")
    parser.add_argument("--attribution-seeds", type=int, default=20, help="seeds per task in the attribution")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 episodes, scaling 1-2 x 8")
    parser.add_argument("--skip-gym", action="store_true", help="leave out miniwob's own gym env")
    parser.add_argument("--skip-browsergym", action="store_true", help="leave out BrowserGym")
    parser.add_argument("--skip-scaling", action="store_true", help="leave out the runner's worker scaling")
    parser.add_argument("--scaling-workers", default="1,2,4")
    parser.add_argument("--scaling-episodes", type=int, default=60)
    parser.add_argument("--write-doc", action="store_true", help="write the section into docs/PERFORMANCE.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    parser.add_argument("--serve", choices=("pixelpilot", "raw", "gym"), help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.tmp)
        return
    args.argv = sys.argv[1:]
    if args.quick:
        args.rounds, args.episodes, args.browsergym_episodes, args.attribution_seeds = 1, 2, 1, 4
        args.scaling_workers, args.scaling_episodes = "1,2", 8
    m = machine()
    print(f"load average at start: {m['load_start']}", file=sys.stderr)
    peers: dict[str, Peer] = {}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pp-miniwob-tp-") as tmp_name:
        tmp = Path(tmp_name)
        starters: dict[str, Callable[[], Peer]] = {
            "pixelpilot": lambda: start_local("pixelpilot", tmp),
            "raw": lambda: start_local("raw", tmp),
        }
        if not args.skip_gym:
            starters["gym"] = lambda: start_gym(tmp)
        if not args.skip_browsergym:
            starters["browsergym"] = lambda: start_browsergym(tmp, "default")
            starters["browsergym-tuned"] = lambda: start_browsergym(tmp, "tuned")
        try:
            for name, start in starters.items():
                try:
                    peers[name] = start()
                    print(f"{name}: up in {peers[name].startup_ms:.0f} ms, {peers[name].versions}", file=sys.stderr)
                except PeerError as exc:
                    failures[name] = str(exc)
                    print(f"{name} skipped: {exc}", file=sys.stderr)
            if "pixelpilot" not in peers:
                raise SystemExit(f"pixelpilot itself could not start: {failures.get('pixelpilot')}")
            result = compare(peers, args.rounds, args.episodes, args.browsergym_episodes)
            result["attribution"] = {}
            if args.attribution_seeds > 0:
                seeds = list(range(5000, 5000 + args.attribution_seeds))
                for task in TASKS:
                    try:
                        raw_attr = peers["pixelpilot"].attribution(task, seeds)
                    except PeerError as exc:
                        print(f"attribution skipped: {exc}", file=sys.stderr)
                        break
                    result["attribution"][task] = {k: _median(v) for k, v in raw_attr.items()}
                    print(f"  attribution {task}: {result['attribution'][task]}", file=sys.stderr)
        finally:
            for peer in peers.values():
                peer.close()
        result["failures"] = {**failures, **result["failures"]}
        result["versions"] = {name: peer.versions for name, peer in peers.items()}
        scale_rows: list[dict[str, Any]] = []
        if not args.skip_scaling:
            workers = [int(w) for w in args.scaling_workers.split(",")]
            scale_rows = scaling(workers, args.scaling_episodes, tmp)
    m["load_end"] = os.getloadavg()
    section = render(m, result, scale_rows, args)
    print(section)
    if args.write_doc:
        write_section(ROOT / "docs" / "PERFORMANCE.md", section)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": m, "result": result, "scaling": scale_rows}, indent=1, default=str),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
