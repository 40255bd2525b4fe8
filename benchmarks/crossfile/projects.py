"""The projects the lines are drawn from: pinned releases fetched from the registries.

Each is a release from after the test model's training data (Qwen2.5-Coder's ends about
mid-2024), pinned by version and by the sha256 of the file the registry serves, fetched
once with the registry's own client (`pip download`, `npm pack`) and unpacked into the
user cache dir. The workspace is only the project's source folder: a package's compiled
copies (an npm package's `build/`) would hold the very lines asked for.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class Project:
    """A pinned release and where its source lies in the file the registry serves."""

    language: str  # "python" or "typescript"
    registry: str  # "pypi" or "npm"
    package: str
    version: str
    file: str  # the file's name as the registry's client saves it
    sha256: str
    source: str  # the folder of the unpacked file that is copied ...
    target: str  # ... to this folder of the workspace ("": its root)
    released: str

    @property
    def name(self) -> str:
        return f"{self.package}=={self.version}"


PROJECTS = (
    # The Model Context Protocol's Python SDK: first released November 2024.
    Project("python", "pypi", "mcp", "1.20.0", "mcp-1.20.0-py3-none-any.whl",
            "d0dc06f93653f7432ff89f694721c87f79876b6f93741bf628ad1e48f7ac5e5d",
            "mcp", "mcp", "2025"),
    # TanStack Query's framework-free core; the npm package ships its TypeScript sources.
    Project("typescript", "npm", "@tanstack/query-core", "5.90.5",
            "tanstack-query-core-5.90.5.tgz",
            "51ca5896f65b33d23a2f3fde6df57ff3c4562e74d8d3801b69247c850c7349ed",
            "package/src", "", "2025-10-16"),
)


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("refact-lsp")) / "crossfile"


def unpacked(project: Project, cache: Path | None = None) -> Path:
    """The project's source folder, fetched and checked on first use."""
    cache = cache or cache_dir()
    folder = cache / f"{project.file}.d"
    if not folder.is_dir():
        archive = _fetched(project, cache)
        scratch = Path(tempfile.mkdtemp(dir=cache))
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as unzipped:
                unzipped.extractall(scratch)
        else:
            with tarfile.open(archive) as untarred:
                untarred.extractall(scratch, filter="data")
        scratch.rename(folder)
    return folder / project.source


def copy_workspace(project: Project, into: Path) -> Path:
    """A fresh copy of the project's sources as a workspace folder; its root."""
    shutil.copytree(unpacked(project), into / project.target if project.target else into,
                    dirs_exist_ok=True)
    return into


def _fetched(project: Project, cache: Path) -> Path:
    archive = cache / project.file
    if archive.is_file() and _sha256(archive) == project.sha256:
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        if project.registry == "pypi":
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "--quiet", "-d", scratch, project.name]
        else:
            command = ["npm", "pack", f"{project.package}@{project.version}", "--silent",
                       "--pack-destination", scratch]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=600)
        fetched = Path(scratch) / project.file
        digest = _sha256(fetched)
        if digest != project.sha256:
            raise RuntimeError(f"{project.file}: sha256 {digest}, pinned {project.sha256}")
        fetched.replace(archive)
    return archive


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
