"""The cross-file benchmark: its line sampler on small made-up projects (no model), and
one short run over LSP on the tiny random-weight model, so that it cannot rot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from benchmarks.crossfile.__main__ import in_process, over_lsp, run_samples, table
from benchmarks.crossfile.inprocess import InProcess
from benchmarks.crossfile.run import Condition, emptied
from benchmarks.crossfile.sample import candidates, choose
from benchmarks.crossfile.snippets import Found, retrieved
from refact_lsp.repository import Repository
from tests.support.tiny_gguf import write_tiny_refact_gguf

PY_B = '''"""Helpers."""


def helper(value):
    return value + 1


class Thing:
    size = 3
'''

PY_A = '''"""Uses the helpers."""
from .b import Thing, helper
from . import c

# A Thing is mentioned here before its first use: it may be copied from above.


def run(values):
    total = 0
    for value in values:
        total += helper(value)
    return total + Thing.size + c.LIMIT
'''

TS_B = "export function helper(x: number): number {\n  return x + 1\n}\nexport type Size = number\n"

TS_A = '''import {
  helper,
  type Size,
} from './util/b.js'

// helper is explained in this comment; the other name is not.
export function run(values: Array<number>): number {
  const limit: Size = 3
  return values.map((value) => helper(value)).length + limit
}
'''


def python_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "b.py").write_text(PY_B)
    (root / "pkg" / "c.py").write_text("LIMIT = 10\n")
    (root / "pkg" / "a.py").write_text(PY_A)
    return root


def test_a_line_qualifies_where_an_imported_name_is_first_used(tmp_path: Path):
    found = candidates(python_project(tmp_path), "python")
    by_name = {sample.name: sample for sample in found}
    # Thing occurs in a comment before its use, so it does not qualify.
    assert set(by_name) == {"helper", "c"}
    helper = by_name["helper"]
    assert (helper.path, helper.source, helper.line) == ("pkg/a.py", "pkg/b.py", 10)
    assert (helper.indent, helper.target) == (" " * 8, "total += helper(value)")
    assert by_name["c"].source == "pkg/c.py"  # a submodule imported by name is its file


def test_typescript_imports_resolve_js_specifiers_and_skip_comments(tmp_path: Path):
    (tmp_path / "util").mkdir()
    (tmp_path / "util" / "b.ts").write_text(TS_B)
    (tmp_path / "a.ts").write_text(TS_A)
    (tmp_path / "a.test.ts").write_text(TS_A.replace("./util", "./util"))
    found = candidates(tmp_path, "typescript")
    assert [(s.path, s.name, s.source, s.line) for s in found] == \
        [("a.ts", "Size", "util/b.ts", 7)]  # helper occurs in a comment first; tests skipped


def test_a_draw_is_fixed_by_its_seed_and_keeps_the_file_order(tmp_path: Path):
    for number in range(6):
        (tmp_path / f"m{number}.py").write_text(
            "from .b import helper\n\n\ndef f():\n    return helper(1)\n")
    (tmp_path / "b.py").write_text(PY_B)
    found = candidates(tmp_path, "python")
    assert len(found) == 6
    first = choose(found, 3, seed=1)
    assert first == choose(found, 3, seed=1) and len(first) == 3
    assert [s.path for s in first] == sorted(s.path for s in first)
    assert choose(found, 10, seed=1) == sorted(found, key=lambda s: s.path)


def test_file_a_on_disk_holds_the_editor_text_while_asked(tmp_path: Path):
    root = python_project(tmp_path)
    sample = next(s for s in candidates(root, "python") if s.name == "helper")
    with emptied(root, sample) as text:
        assert (root / "pkg" / "a.py").read_text() == text
        assert text.split("\n")[sample.line] == sample.indent
        assert "helper(value)" not in text
    assert (root / "pkg" / "a.py").read_text() == PY_A


def test_the_repository_says_when_its_index_is_built(tmp_path: Path):
    repository = Repository([str(python_project(tmp_path))], isolated=False)
    try:
        deadline = time.monotonic() + 30
        while repository.progress()["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert repository.progress() == {"files": 4, "known": 4, "pending": False}
    finally:
        repository.close()


@pytest.mark.model
def test_two_lines_in_three_conditions_over_lsp(tmp_path: Path):
    """The tiny model writes noise: what is checked is the run, not the figures."""
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    root = python_project(tmp_path / "workspace")
    samples = choose(candidates(root, "python"), 2, seed=0)
    outcomes = asyncio.run(run_samples(samples, root, over_lsp(
        str(model), {"jumpPromptMs": 0, "maxTokens": 8})))
    assert [(o.sample, o.condition) for o in outcomes] == \
        [(s, c) for s in samples for c in Condition]
    assert {o.indexed for o in outcomes if o.condition == Condition.WORKSPACE} == {4}
    assert {o.indexed for o in outcomes if o.condition != Condition.WORKSPACE} == {1, 2}
    assert all(o.seconds > 0 for o in outcomes)
    assert (root / "pkg" / "a.py").read_text() == PY_A  # restored after each ask
    rows = table(outcomes)
    assert rows[1].startswith("in-file") and "workspace / in-file" in rows[-2]


@pytest.mark.model
def test_the_same_lines_asked_in_process_see_b_only_with_the_workspace_or_b_open(
        tmp_path: Path):
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    root = python_project(tmp_path / "workspace")
    # retrieval finds `helper` (used on another line); `c`'s only use is the line itself
    samples = [s for s in candidates(root, "python") if s.name == "helper"]
    completer = InProcess(str(model), {"jumpPromptMs": 0, "maxTokens": 8})
    try:
        outcomes = asyncio.run(run_samples(samples, root, in_process(completer)))
    finally:
        completer.close()
    assert [(o.sample, o.condition) for o in outcomes] == \
        [(s, c) for s in samples for c in Condition]
    assert {o.indexed for o in outcomes if o.condition == Condition.WORKSPACE} == {4}
    assert [o.saw_source for o in outcomes] == [False, True, True]
    assert (root / "pkg" / "a.py").read_text() == PY_A
    assert table(outcomes)[1].rstrip().endswith("0.0%")  # in-file: B in no prompt


def test_retrieval_is_checked_without_the_model(tmp_path: Path):
    root = python_project(tmp_path)
    helper = [s for s in candidates(root, "python") if s.name == "helper"]
    assert retrieved(helper, root) == Found(lines=1, source=1, definition=1)
    assert retrieved(helper, root, budget=0) == Found(lines=1, source=0, definition=0)
    assert (root / "pkg" / "a.py").read_text() == PY_A
