"""Desktop episodes end cleanly whatever the app does: hung or crashed apps, leftover processes, a fresh home,
the sandbox's boundary, and bad starts that are one line and exit 2."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from pixelpilot.agent import Agent, AgentConfig, ScriptedPolicy, read_bundle
from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.hooks import AgentHooks, StepContext
from pixelpilot.env import EnvError, StartSpec
from pixelpilot.env.desktop import DesktopEnv
from pixelpilot.env.desktop.display import XDisplay
from pixelpilot.env.desktop.sandbox import MARKER, bubblewrap_works, marked_processes
from pixelpilot.tools import Click, Wait
from tests.desktop_fixtures import desktop, layout, probe_start, wait_pingable

PIXELPILOT = [shutil.which("pixelpilot") or str(Path(sys.executable).parent / "pixelpilot")]


class Signal(AgentHooks):
    """Sends ``sig`` to the app owning the active window before step ``at`` is decided, once the app has
    finished starting (it lists _NET_WM_PING once its window is visible)."""

    def __init__(self, env: DesktopEnv, sig: signal.Signals, at: int) -> None:
        self.env, self.sig, self.at, self.pid = env, sig, at, None

    def before_decide(self, ctx: StepContext) -> None:
        if ctx.index == self.at:
            window = ctx.observation.window or {}
            wait_pingable(self.env, window["id"])
            self.pid = window["pid"]
            os.kill(self.pid, self.sig)


def probe_spec(**start: object) -> EpisodeSpec:
    return EpisodeSpec(id="probe", instruction="click around", env="desktop", start=probe_start(**start), max_steps=6)


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL])
def test_a_hung_or_crashed_app_ends_the_episode_env_error_and_the_next_one_works(
    tmp_path: Path, sig: signal.Signals
) -> None:
    with desktop(ping_timeout_s=1.0, ping_every_s=0) as env:
        policy = ScriptedPolicy([Click(x=100, y=70), Wait(seconds=0.2), Click(x=100, y=70), Wait(seconds=0.2)])
        agent = Agent(env, policy, AgentConfig(out_dir=tmp_path))
        hook = Signal(env, sig, at=2)
        agent.hooks.append(hook)
        result = agent.run(probe_spec())
        assert result.status == "env_error", result
        why = "did not answer _NET_WM_PING" if sig is signal.SIGSTOP else "crashed"
        assert why in (result.error or ""), result.error
        record, steps = read_bundle(result.bundle)  # the bundle is whole: the record and every step written
        assert record.status == "env_error" and len(steps) >= 1
        assert (result.bundle / "report.html").exists()
        assert _ended(hook.pid)

        agent.hooks.clear()
        again = Agent(env, ScriptedPolicy([Click(x=100, y=70)]), AgentConfig(out_dir=tmp_path)).run(probe_spec())
        assert again.status != "env_error", again.error
        assert [e["target"] for e in _events(env) if e["event"] == "press"] == ["click"]


def _alive(*pids: int) -> list[psutil.Process]:
    """The processes among ``pids`` that still exist. A pid can vanish between any two psutil calls (its parent
    reaps it), so a lookup that finds none counts as ended rather than failing the test."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return procs


def _ended(pid: int) -> bool:
    """True when ``pid`` is gone or a zombie (dead, waiting for its parent to reap it), reaped mid-check included."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _names(procs: list[psutil.Process]) -> list[str]:
    names = []
    for proc in procs:
        try:
            names.append(proc.name())
        except psutil.NoSuchProcess:
            pass
    return names


def _events(env: DesktopEnv) -> list[dict]:
    from tests.desktop_fixtures import wait_for

    return wait_for(env, lambda ev: any(e["event"] == "press" for e in ev))


@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
def test_each_episode_gets_a_fresh_home_and_no_process_outlives_it(sandbox: str) -> None:
    if sandbox == "bwrap" and not bubblewrap_works():
        pytest.skip("bubblewrap cannot create namespaces here")
    # setup leaves a daemon behind (a new session, its parent gone), as careless or hostile setups do
    start = StartSpec(setup=["echo one > marker.txt", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"])
    env = desktop(sandbox=sandbox)
    try:
        env.reset(start)
        first = env.home
        assert first is not None and (first / "marker.txt").read_text() == "one\n"
        token = env.sandbox.token  # type: ignore[union-attr]
        # unsandboxed, the daemon runs on until the episode ends; in bubblewrap's pid namespace it dies with the
        # setup (the kernel ends the namespace when its first process exits, a moment after)
        expected = ["sleep"] if sandbox == "none" else []
        deadline = time.monotonic() + 30
        while (names := _names(marked_processes(token))) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert names == expected
        env.reset(StartSpec(setup=["test ! -e marker.txt", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"]))
        assert env.home != first and not first.exists()  # the old home is gone, and the new one started empty
        assert marked_processes(token) == []
        second = env.sandbox.token  # type: ignore[union-attr]
        server, wm = env.display.server.pid, env.display.wm.pid  # type: ignore[union-attr]
        env.close()
        assert marked_processes(second) == []
        assert not psutil.pid_exists(server) and not psutil.pid_exists(wm)
    finally:
        env.close()
    env.close()  # twice is fine


CRASHING_PARENT = """
import json, sys, time
from pixelpilot.env.desktop import DesktopConfig, DesktopEnv
from tests.desktop_fixtures import probe_start
env = DesktopEnv(DesktopConfig(sandbox=sys.argv[1]))
env.reset(probe_start())
obs = env.observe()
print(json.dumps([env.display.server.pid, env.display.wm.pid, obs.window["pid"], env.sandbox.token]), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sandbox", ["none", "auto"])
def test_a_killed_env_process_leaves_no_display_and_no_app(sandbox: str) -> None:
    """The worst moment: the process holding the env is SIGKILLed mid-episode (no close(), no finalizer)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_PARENT, sandbox],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.stdout is not None
    server, wm, app, token = json.loads(proc.stdout.readline())
    assert all(psutil.pid_exists(p) for p in (server, wm, app))
    proc.kill()
    proc.wait()
    gone = psutil.wait_procs(_alive(server, wm, app), timeout=30)[1]
    assert not gone, f"still running after their env's process died: {gone}"
    assert marked_processes(token) == []


@pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap cannot create namespaces here")
def test_the_sandbox_hides_the_users_home_environment_and_network(monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = Path.home() / f".pixelpilot-sandbox-probe-{os.getpid()}"
    secret_file.write_text("private")
    monkeypatch.setenv("PIXELPILOT_TEST_API_KEY", "sk-do-not-leak")
    try:
        with desktop(sandbox="bwrap") as env:
            env.reset(StartSpec())
            assert env.sandbox is not None and env.sandbox.use_bwrap
            run = env.sandbox.run
            rc, out = run(f"cat {secret_file}", timeout_s=30)
            assert rc != 0 and "private" not in out
            rc, out = run("env", timeout_s=30)
            assert "sk-do-not-leak" not in out and f"HOME={env.home}" in out and MARKER in out
            interfaces = "sed -n 's/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev"
            rc, out = run(interfaces, timeout_s=30)
            assert out.split() == ["lo"], out  # no network interface but loopback
            rc, out = run("echo x > $HOME/ok && echo y > /usr/pwned", timeout_s=30)
            assert rc != 0 and (env.home / "ok").exists() and not Path("/usr/pwned").exists()
            env.reset(StartSpec(network=True))
            rc, out = env.sandbox.run(interfaces, timeout_s=30)
            assert len(out.split()) > 1, out
    finally:
        secret_file.unlink()


def test_a_python_under_tmp_is_bound_back_and_the_rest_of_tmp_stays_hidden(tmp_path: Path) -> None:
    # a checkout cloned into /tmp with its venv (as a CI job may clone) must still start {python} apps
    from pixelpilot.env.desktop.sandbox import _bind_back

    venv, other = tmp_path / "clone" / ".venv", tmp_path / "other.txt"
    venv.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = here")
    other.write_text("private")
    with desktop(sandbox="bwrap") as env:
        env.reset(StartSpec())
        assert env.sandbox is not None and env.sandbox.use_bwrap
        env.sandbox._back = _bind_back(env.sandbox._hidden, {venv})
        rc, out = env.sandbox.run(f"cat {venv / 'pyvenv.cfg'}", timeout_s=30)
        assert rc == 0 and "home = here" in out, out
        rc, out = env.sandbox.run(f"cat {other}; echo x > {venv}/w", timeout_s=30)
        assert rc != 0 and "private" not in out and not (venv / "w").exists()


def test_a_stopped_app_is_detected_by_ping_even_though_its_frame_still_shows() -> None:
    with desktop(ping_timeout_s=1.0, ping_every_s=0) as env:
        env.reset(probe_start())
        layout(env)
        window = env.observe().window or {}
        wait_pingable(env, window["id"])
        pid = window["pid"]
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(EnvError, match=r"did not answer _NET_WM_PING within 1 s"):
            env.observe()
        env.reset(probe_start())  # the stopped app goes with its episode
        assert _ended(pid)
        assert env.observe().title == "pixelpilot probe"


# ---------------------------------------------------------------------------------------------- bad starts
def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIXELPILOT, *map(str, args)], capture_output=True, text=True, timeout=180, env=env)


def task_file(tmp_path: Path, **start: object) -> Path:
    path = tmp_path / "task.yaml"
    spec = {"id": "t", "instruction": "do it", "env": "desktop", "start": start, "max_steps": 2}
    path.write_text(yaml.safe_dump(spec))
    (tmp_path / "solution.jsonl").write_text('{"action": "finish"}\n')
    return path


def one_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [
        line
        for line in proc.stderr.splitlines()
        if line.strip() and not line.startswith("bundle:") and "no sandbox (bubblewrap" not in line  # a warning
    ]
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_bad_starts_are_one_line_and_exit_2(tmp_path: Path) -> None:
    task = task_file(tmp_path, command=["true"], wait_window="never")
    sol = tmp_path / "solution.jsonl"
    one_line(cli("run", task, "--script", sol, "--out", tmp_path), "true exited (exit status 0) before its window")
    no_xvfb = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # our venv only: no Xvfb on it
    one_line(cli("run", task, "--script", sol, env=no_xvfb), "needs Xvfb, which is not installed")
    one_line(cli("run", task, "--script", sol, "--display", ":0"), "add --allow-display-zero")
    one_line(cli("run", task, "--script", sol, "--display", ":917"), "no X server on display :917")
    one_line(cli("run", task, "--script", sol, "--display", "remote.example:1"), "give a local X display")


def test_a_window_that_never_appears_is_one_line(tmp_path: Path) -> None:
    task = task_file(tmp_path, command=["sleep", "600"], wait_window="never")
    proc = cli("run", task, "--script", tmp_path / "solution.jsonl", "--out", tmp_path)
    one_line(proc, "a window titled /never/ did not appear within 20 s")
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "600"]]


def test_a_display_number_in_use_is_not_a_problem() -> None:
    """-displayfd lets each server pick a free number: an own display never collides with one already there."""
    taken = [XDisplay.start(320, 240, 24, window_manager=None) for _ in range(2)]
    try:
        with desktop() as env:
            env.reset(StartSpec())
            assert env.display is not None and env.display.number not in {d.number for d in taken}
            assert env.observe().geometry.width == 1280
    finally:
        for d in taken:
            d.close()


def test_attaching_to_an_existing_display(tmp_path: Path) -> None:
    other = XDisplay.start(800, 600, 24)
    try:
        zero = other.number == 0  # -displayfd may pick :0 on a machine without a desktop: it is ours here
        with desktop(display=other.name, allow_display_zero=zero) as env:
            env.reset(probe_start(800, 600))
            assert env.info()["own_display"] is False and env.observe().geometry.width == 800
        assert other.alive()  # closing the env leaves a display it did not start running
        with (
            desktop(display=other.name, allow_display_zero=zero) as env,
            pytest.raises(EnvError, match="differs from the attached display"),
        ):
            env.reset(probe_start(1280, 800))
    finally:
        other.close()
    time.sleep(0)
