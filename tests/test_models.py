"""Model files: catalog names, checks before use, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from refact_lsp import models


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(models.ModelError, match="nope.gguf"):
        models.resolve(str(tmp_path / "nope.gguf"))


def test_a_file_that_is_not_gguf_is_named(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 not a gguf file at all")
    with pytest.raises(models.ModelError, match="not a GGUF file"):
        models.resolve(str(path))


def test_a_truncated_file_is_named(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF\x03\x00")
    with pytest.raises(models.ModelError, match="truncated"):
        models.resolve(str(path))


def test_the_catalog_model_is_whole_and_verified(model_path):
    entry = models.CATALOG["qwen2.5-coder-0.5b"]
    assert model_path.stat().st_size == entry.size
    assert model_path.with_suffix(".sha256").read_text().strip() == entry.sha256


def test_an_unreachable_hub_is_one_clear_line(tmp_path, capfd):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    source = tmp_path / "a.py"
    source.write_text("def f():\n    \n")
    result = subprocess.run([sys.executable, "-m", "refact_lsp.cli", "complete",
                             f"{source}:2:5", "--model", "refact-1.6b", "--cache-dir",
                             str(tmp_path / "cache")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "--model /path/to/model.gguf" in lines[0]
