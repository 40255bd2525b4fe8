"""The package as people install it: `python -m build` makes an sdist and, from it, a
wheel that carry everything refact-lsp needs at run time; the wheel, installed into a
fresh virtual environment with pip and as a pipx application (not editable), runs
`--version`, `doctor` and `complete` from a folder that has nothing to do with this
checkout. llama-cpp-python comes from pip's wheel cache (setup.sh fills it), the other
dependencies from the package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import platformdirs
import pytest

from refact_lsp import __version__
from tests.conftest import TEST_MODEL

pytestmark = pytest.mark.model  # builds and installs the package, loads the model

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "refact_lsp"
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "build",
                                    "dist", "*.egg-info", ".*_cache", ".hypothesis", "*.vsix")
# pip's cache, read before conftest.py moves XDG_CACHE_HOME: the built llama-cpp-python
# wheel is there (without it, pip compiles llama.cpp again: many minutes).
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or platformdirs.user_cache_dir("pip")
INSTALL_TIMEOUT_S = 900  # every dependency, from the index or pip's caches, on shared CPUs
SOURCE = "def add(a, b):\n    return \n"


def run(command: list[str | Path], cwd: Path, timeout: float = 300,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A command as a person runs it: no PYTHONPATH pointing into this checkout."""
    environ = {key: value for key, value in os.environ.items()
               if key != "PYTHONPATH" and not key.startswith("REFACT_LSP_")}
    environ["PIP_CACHE_DIR"] = PIP_CACHE
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**environ, **(env or {})})
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with `build` and `pipx`; its bin folder."""
    venv = tmp_path_factory.mktemp("tools") / "venv"
    run([sys.executable, "-m", "venv", "--upgrade-deps", venv], cwd=venv.parent)
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "build", "pipx"],
        cwd=venv.parent, timeout=INSTALL_TIMEOUT_S)
    return venv / "bin"


@pytest.fixture(scope="module")
def dist(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` on a copy of the source tree (it writes build files there)."""
    work = tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCE)
    run([tools / "python", "-m", "build", "--outdir", work / "dist", work / "src"], cwd=work,
        timeout=INSTALL_TIMEOUT_S)
    return work / "dist"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder unrelated to the checkout, with a file to complete in."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "add.py").write_text(SOURCE)
    return folder


def run_time_files() -> set[str]:
    """What the package needs at run time: its modules and its grammars' queries."""
    return {str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*")
            if path.suffix in (".py", ".scm") and "__pycache__" not in path.parts}


def test_the_sdist_and_the_wheel_carry_everything_run_time_needs(dist: Path) -> None:
    wheel = dist / f"refact_lsp-{__version__}-py3-none-any.whl"
    sdist = dist / f"refact_lsp-{__version__}.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = run_time_files()
    assert any(name.startswith("refact_lsp/grammars/") for name in needed)
    assert needed <= in_wheel, sorted(needed - in_wheel)
    assert needed | {"pyproject.toml", "README.md"} <= in_sdist, sorted(needed - in_sdist)
    metadata = next(name for name in in_wheel if name.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "refact-lsp = refact_lsp.cli:main" in archive.read(metadata).decode()


def check_installed(bin_dir: Path, elsewhere: Path, cache_home: Path) -> None:
    """`--version`, `doctor` and `complete` of an installed refact-lsp, from `elsewhere`,
    with the test model in the tests' cache dir."""
    program = bin_dir / "refact-lsp"
    env = {"XDG_CACHE_HOME": str(cache_home)}
    version = run([program, "--version"], cwd=elsewhere, env=env).stdout
    assert version.startswith(f"refact-lsp {__version__}\nllama-cpp-python ")
    assert "CPU:" in version and "GPU offload:" in version
    doctor = run([program, "doctor", "--model", TEST_MODEL, "--n-ctx", "1024"], cwd=elsewhere,
                 env=env, timeout=600).stdout
    assert f"refact-lsp {__version__}, llama-cpp-python " in doctor
    assert f"ok    model {TEST_MODEL}: " in doctor and "test generation: " in doctor
    assert doctor.rstrip().endswith("completions work"), doctor
    completion = run([program, "complete", "add.py:2:12", "--model", TEST_MODEL,
                      "--max-tokens", "16", "--n-ctx", "1024"], cwd=elsewhere, env=env,
                     timeout=600)
    assert completion.stdout.strip(), completion.stderr


def test_the_wheel_installed_with_pip_works_from_anywhere(
        dist: Path, elsewhere: Path, tmp_path: Path, model_path: Path,
        cache_home: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--upgrade-deps", venv], cwd=tmp_path)
    wheel = dist / f"refact_lsp-{__version__}-py3-none-any.whl"
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=tmp_path,
        timeout=INSTALL_TIMEOUT_S)
    where = run([venv / "bin" / "python", "-c", "import refact_lsp; print(refact_lsp.__file__)"],
                cwd=elsewhere).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed copy, not the checkout
    check_installed(venv / "bin", elsewhere, cache_home)


def test_the_wheel_installed_with_pipx_works_from_anywhere(
        tools: Path, dist: Path, elsewhere: Path, tmp_path: Path, model_path: Path,
        cache_home: Path) -> None:
    pipx = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
            "PIPX_MAN_DIR": str(tmp_path / "man")}
    wheel = dist / f"refact_lsp-{__version__}-py3-none-any.whl"
    run([tools / "pipx", "install", wheel], cwd=tmp_path, env=pipx, timeout=INSTALL_TIMEOUT_S)
    check_installed(tmp_path / "bin", elsewhere, cache_home)
