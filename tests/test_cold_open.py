"""The cold-open benchmark: which lines it draws (no model), and one short run over LSP
and through the raw model on the tiny random-weight model, so that it cannot rot."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest

from benchmarks.cold_open import RAW, SERVER, code_lines, rows, run
from benchmarks.crossfile.projects import Project
from benchmarks.crossfile.sample import choose
from tests.support.tiny_gguf import write_tiny_refact_gguf

SOURCE = '''"""A module: this docstring is no line of code."""
import os

# A comment is none either.


def run(values):
    total = 0

    for value in values:
        total += value
    return total
'''

PROJECT = Project("python", "pypi", "demo", "1.0", "demo-1.0.tar.gz", "0" * 64, "demo", "",
                  "2025")


def project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "app.py").write_text(SOURCE)
    (root / "tests" / "test_app.py").write_text("def test_run():\n    assert True\n")
    return root


def test_every_line_of_code_and_nothing_else_is_drawn(tmp_path: Path):
    lines = code_lines(project(tmp_path), PROJECT)
    assert [line.target for line in lines] == [
        "import os", "def run(values):", "total = 0", "for value in values:",
        "total += value", "return total"]
    assert {line.path for line in lines} == {"app.py"}  # tests are left out
    total = next(line for line in lines if line.target == "total = 0")
    assert total.indent == "    " and total.document(SOURCE).split("\n")[total.line] == "    "
    assert choose(lines, 3, seed=1) == choose(lines, 3, seed=1)
    assert choose(lines, 3, seed=1) != choose(lines, 3, seed=2)
    assert [line.line for line in choose(lines, 6, 0)] == sorted(line.line for line in lines)


@pytest.mark.model
def test_a_short_run_of_the_server_and_the_raw_model(tmp_path: Path):
    """The tiny model writes noise: what is checked is the run, not the figures."""
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    lines = choose(code_lines(project(tmp_path / "demo"), PROJECT), 2, 0)
    args = argparse.Namespace(model=str(model), threads=1, server_only=False, verbose=False,
                              settings=json.dumps({"maxTokens": 8}))
    log = io.StringIO()
    outcomes = asyncio.run(run([(line, SOURCE) for line in lines], args, log))
    assert [(o.system, o.sample) for o in outcomes] == \
        [(system, line) for line in lines for system in (SERVER, RAW)]
    assert all(o.seconds > 0 for o in outcomes)
    assert [json.loads(entry)["system"] for entry in log.getvalue().splitlines()] == \
        [o.system for o in outcomes]
    table = rows(outcomes)
    assert table[1].startswith(SERVER) and table[2].startswith(RAW)
