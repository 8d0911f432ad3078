"""Running an episode's programs: in a bubblewrap sandbox where one is available, and never beyond the episode.

X11 isolates nothing: any client may read every window and send input anywhere on its display, and an
agent that opens a terminal can run anything as the user. What the sandbox adds (docs/DESKTOP.md):

- HOME is the episode's scratch home; the invoking user's home folder, /root and /home are replaced by
  empty file systems (the Python install the env itself runs from is bound back, read-only, so the
  project's own apps start);
- the rest of the file system is read-only; /tmp is a fresh, empty one holding only the display's socket;
- no network (its own empty network namespace) unless the task asks for it with ``start.network``;
- its own pid namespace, a new session (no typing into the calling terminal) and death with the env;
- a clean environment: only PATH, LANG, DISPLAY, HOME and the task's own variables, never the caller's
  (API keys stay out).

It does not stop: reading files outside the hidden homes (read-only), using other X clients on the same
display, or spending CPU and memory. Without bubblewrap, programs run as the user with only the clean
environment and the scratch HOME, and the env says so at start-up.

Every process started for an episode carries ``PIXELPILOT_EPISODE=<token>`` in its environment; ending the
episode kills each started process group and then every process still carrying the token, so a program
that daemonized itself (a new session, reparented to init) does not outlive its episode either.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from loguru import logger

from pixelpilot.env.desktop.display import die_with_parent

MARKER = "PIXELPILOT_EPISODE"


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


def bubblewrap_works() -> bool:
    """bwrap may be installed but unusable (no user namespaces in a container); try it once."""
    path = bubblewrap()
    if path is None:
        return False
    try:
        done = subprocess.run(
            [path, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _hidden_roots() -> list[Path]:
    roots = {Path("/root"), Path("/home"), Path.home()}
    return sorted(p for p in roots if p.is_dir())


#: The sandbox's /tmp is a fresh, empty file system, so what the env's Python needs there is bound back too.
TMP = Path("/tmp")


def _python_paths() -> set[Path]:
    """Where the env's own Python and the project live (pyenv installs, a venv, a source checkout)."""
    wanted = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(os.path.realpath(sys.executable)).parent.parent,
        Path(__file__).resolve().parents[2],  # the folder holding env/ (a source checkout) or the package
    }
    return wanted | {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()}


def _bind_back(hidden: list[Path], wanted: set[Path] | None = None) -> list[Path]:
    """Paths under a hidden home or under /tmp that the env's own Python needs: a checkout cloned into
    /tmp (as a CI job may) with its venv would otherwise be missing inside the sandbox, and
    ``{python}`` apps would exit before their window appears."""
    roots = [*hidden, TMP]
    wanted = _python_paths() if wanted is None else wanted
    return sorted(p for p in wanted if any(p.is_relative_to(h) and p != h for h in roots))


class Sandbox:
    """Starts an episode's programs (sandboxed or not) and ends them all."""

    def __init__(self, *, use_bwrap: bool, display_number: int, display_name: str) -> None:
        self.use_bwrap = use_bwrap
        self.display_number = display_number
        self.display_name = display_name
        self.token = ""
        self.home: Path | None = None
        self.network = False
        self._procs: list[subprocess.Popen] = []
        hidden = _hidden_roots()
        self._hidden = hidden
        self._back = _bind_back(hidden)

    def describe(self) -> str:
        if self.use_bwrap:
            return (
                "apps run in a bubblewrap sandbox: scratch HOME, your home folders hidden, the rest read-only, "
                "no network unless the task asks; they can still read files outside the home folders and act "
                "on every window of their display"
            )
        return (
            "no sandbox (bubblewrap is not available): apps run as you, with your files and network; "
            "only HOME (a scratch folder) and a clean environment separate them"
        )

    def begin(self, token: str, home: Path, *, network: bool) -> None:
        self.token, self.home, self.network = token, home, network

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        assert self.home is not None
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "DISPLAY": self.display_name,
            "HOME": str(self.home),
            "TMPDIR": "/tmp",
            MARKER: self.token,
        }
        env.update(extra or {})
        env[MARKER] = self.token  # a task cannot hide its processes from the sweep
        return env

    def argv(self, command: list[str], cwd: Path) -> list[str]:
        if not self.use_bwrap:
            return command
        assert self.home is not None
        args = [bubblewrap() or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for hidden in self._hidden:
            args += ["--tmpfs", str(hidden)]
        args += ["--tmpfs", str(TMP), "--dir", "/tmp/.X11-unix"]
        for path in self._back:  # after the empty homes and /tmp, which they sit in
            args += ["--ro-bind", str(path), str(path)]
        sock = f"/tmp/.X11-unix/X{self.display_number}"
        if Path(sock).exists():
            args += ["--bind", sock, sock]
        args += ["--bind", str(self.home), str(self.home)]
        args += ["--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
        if not self.network:
            args.append("--unshare-net")
        args += ["--chdir", str(cwd), "--"]
        return args + command

    def popen(self, command: list[str], *, cwd: Path, env: dict[str, str] | None = None, log: Path | None = None):
        """Start ``command`` for the episode; its output goes to ``log`` (or nowhere)."""
        out = open(log, "ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                self.argv(command, cwd),
                cwd=cwd,
                env=self.environment(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # a killed env takes its app along, sandboxed or not
            )
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        self._procs.append(proc)
        return proc

    def run(self, command: str, *, timeout_s: float, env: dict[str, str] | None = None) -> tuple[int, str]:
        """A shell command in the scratch home, waited for: (exit status, output). Timeout: (124, output so far)."""
        assert self.home is not None
        proc = subprocess.Popen(
            self.argv(["sh", "-c", command], self.home),
            cwd=self.home,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout_s)
            return proc.returncode, out.decode(errors="replace")
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            out, _ = proc.communicate()
            return 124, out.decode(errors="replace")

    def end(self) -> int:
        """Kill every process of the episode; how many were still running."""
        killed = 0
        for proc in self._procs:
            if proc.poll() is None:
                killed += 1
            _kill_group(proc.pid)
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                logger.warning("process {} did not exit after SIGKILL", proc.pid)
        self._procs.clear()
        if self.token:
            killed += sweep(self.token)
        return killed


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def marked_processes(token: str) -> list[psutil.Process]:
    """Processes whose environment carries the episode's token (the started ones and all they started)."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(MARKER) == token:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def sweep(token: str) -> int:
    """SIGKILL every process still marked with ``token``; how many there were."""
    procs = marked_processes(token)
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)
    return len(procs)
