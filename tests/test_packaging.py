"""pixelpilot installs under one import name, and works beside a user's own tools.py, env/, tasks.py
and agent.py: the wheel is built from this checkout, installed (not editable) into a fresh virtual
environment, and the README's Python quick start and `pixelpilot run` go through it there."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN_CARD = ("agent", "env", "tools", "tasks")
SOURCE_DIRS = (*DESIGN_CARD, "pixelpilot", "tests", "benchmarks", "scripts")


def _python_files() -> list[Path]:
    return [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts]


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_no_module_imports_the_design_card_folders_by_their_bare_names() -> None:
    """`tools.Click` and `pixelpilot.tools.Click` would be two classes at run time (and a user's own
    tools.py would shadow ours): every import goes through `pixelpilot.`."""
    bare: list[str] = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            bare += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in DESIGN_CARD]
        # code and module names in strings run by a subprocess (python -c ..., -m ...) obey the same rule
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            found = re.findall(r"\b(?:from|import)(?: [\w.]+,)* ((?:agent|env|tools|tasks)\.[\w.]+)", node.value)
            if re.fullmatch(r"(?:agent|env|tools|tasks)(?:\.\w+)+", node.value) and _is_module(node.value):
                found.append(node.value)
            bare += [f"{path.relative_to(ROOT)}:{node.lineno} {m!r}" for m in found]
    assert bare == []


# --------------------------------------------------------------------------- the wheel

USER_MODULES = {
    "tools.py": 'raise SystemExit("the user\'s own tools.py was imported")\n',
    "tasks.py": 'raise SystemExit("the user\'s own tasks.py was imported")\n',
    "agent.py": 'raise SystemExit("the user\'s own agent.py was imported")\n',
    "env/__init__.py": 'raise SystemExit("the user\'s own env/ was imported")\n',
}


def _readme_quick_start() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start: Python") :]
    return section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 9)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of this checkout (so the build leaves nothing in the tree)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (*DESIGN_CARD, "pixelpilot"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (found,) = dist.glob("pixelpilot-*.whl")
    return found


def test_the_wheel_has_one_top_level_name_and_every_runtime_file(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"pixelpilot"}, tops
    top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    if top_level:
        assert zipfile.ZipFile(wheel).read(top_level[0]).decode().split() == ["pixelpilot"]
    for pattern in (
        r"pixelpilot/agent/qwen/default_model/model\.safetensors",
        r"pixelpilot/agent/qwen/default_model/pixelpilot\.json",
        r"pixelpilot/agent/debug/static/app\.js",
        r"pixelpilot/agent/debug/static/view\.html",
        r"pixelpilot/env/android/simulator/apps/.+",
        r"pixelpilot/tasks/bench/miniwob/.+\.js",
        r"pixelpilot/tasks/examples/login\.yaml",
        r"pixelpilot/tasks/examples/login\.solution\.jsonl",
        r"pixelpilot/tasks/examples/pages/.+\.html",
        r"pixelpilot/tasks/android/.+\.yaml",
        r"pixelpilot/__main__\.py",
    ):
        assert any(re.fullmatch(pattern, n) for n in names), pattern
    assert not any(n.startswith(("pixelpilot/tests/", "pixelpilot/benchmarks/")) for n in names)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no downloads: the project venv's packages are made
    visible to it by a .pth line, after its own site-packages, so the wheel's pixelpilot wins)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    visible = [p for p in sys.path if p.rstrip("/").endswith("site-packages")] or [sysconfig.get_paths()["purelib"]]
    (site / "zz_project_packages.pth").write_text("".join(f"{p}\n" for p in visible))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH (the checkout must not be importable) and Chromium/adb found as in the suite."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env


def _scratch_project(tmp_path: Path) -> Path:
    project = tmp_path / "myproj"
    for rel, text in USER_MODULES.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    return project


def test_the_readme_quick_start_runs_beside_a_users_own_modules(installed: Path, tmp_path: Path) -> None:
    project = _scratch_project(tmp_path)
    python = installed / "bin" / "python"
    proc = subprocess.run(
        [python, "-c", _readme_quick_start()], cwd=project, capture_output=True, text=True, timeout=300,
        env=_clean_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.split()[:2] == ["success", "finished"], proc.stdout
    # it ran from the installed wheel, not from this checkout
    where = subprocess.run(
        [python, "-c", "import pixelpilot, pixelpilot.tools as t; print(pixelpilot.__file__); print(t.__file__)"],
        cwd=project, capture_output=True, text=True, timeout=120, env=_clean_env(),
    ).stdout.split()  # fmt: skip
    assert all(str(installed) in w and str(ROOT) not in w for w in where), where


def test_the_installed_cli_runs_an_example_and_claims_no_generic_names(installed: Path, tmp_path: Path) -> None:
    project = _scratch_project(tmp_path)
    python = installed / "bin" / "python"
    examples = subprocess.run(
        [python, "-c", "from pixelpilot import EXAMPLES_DIR; print(EXAMPLES_DIR)"],
        cwd=project, capture_output=True, text=True, timeout=120, env=_clean_env(),
    ).stdout.strip()  # fmt: skip
    proc = subprocess.run(
        [installed / "bin" / "pixelpilot", "run", f"{examples}/login.yaml", "--out", tmp_path / "runs"],
        cwd=project, capture_output=True, text=True, timeout=300, env=_clean_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "success" in proc.stdout
    version = subprocess.run(
        [python, "-m", "pixelpilot", "--version"], cwd=project, capture_output=True, text=True, timeout=120,
        env=_clean_env(),
    )  # fmt: skip
    assert version.returncode == 0 and re.fullmatch(r"pixelpilot \d+\.\d+\.\d+\S*", version.stdout.strip())
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in DESIGN_CARD:
        proc = subprocess.run(
            [python, "-c", f"import {name}"], cwd=empty, capture_output=True, text=True, timeout=120, env=_clean_env()
        )
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, (name, proc.stderr[-500:])
