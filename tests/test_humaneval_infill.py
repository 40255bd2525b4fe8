"""The HumanEval infilling benchmark's tasks, sandbox and editor edits (no model needed)."""

from __future__ import annotations

from lsprotocol import types

from benchmarks.humaneval_infill import execute, tasks
from benchmarks.humaneval_infill.client import accept


def test_task_counts_are_those_of_bavarian_et_al():
    assert len(tasks.build(tasks.SINGLE)) == 1033
    assert len(tasks.build(tasks.MULTI)) == 5815


def test_a_hole_is_one_indented_empty_line_with_the_cursor_after_the_indent():
    for task in tasks.build(tasks.MULTI)[:200]:
        line = task.document.split("\n")[task.line]
        assert line.strip() == "" and len(line) == task.character
        original = task.problem["prompt"] + task.problem["canonical_solution"]
        assert task.prefix + task.middle + task.suffix == original
        assert task.middle.count("\n") + 1 == task.middle_lines


def test_samples_are_fixed_by_their_seed_and_keep_the_task_order():
    all_tasks = tasks.build(tasks.SINGLE)
    first, again = tasks.sample(all_tasks, 20, 3), tasks.sample(all_tasks, 20, 3)
    assert [t.task_id for t in first] == [t.task_id for t in again]
    assert first == sorted(first, key=all_tasks.index)
    assert tasks.sample(all_tasks, 20, 4) != first


def test_the_canonical_middle_passes_and_an_empty_hole_fails():
    task = tasks.build(tasks.SINGLE)[0]
    assert execute.passes(tasks.program(task, task.prefix + task.middle + task.suffix))
    assert not execute.passes(tasks.program(task, task.document))


def test_a_program_that_never_ends_is_stopped():
    assert not execute.passes("while True:\n    pass\n", timeout_s=1)


def test_accepting_an_item_replaces_its_range_in_utf16_columns():
    text = 'x = "🐍" + foo()\n'
    item = types.InlineCompletionItem(insert_text="bar())", range=types.Range(
        types.Position(0, 11), types.Position(0, 16)))
    assert accept(text, item, types.Position(0, 11)) == 'x = "🐍" + bar())\n'
    no_range = types.InlineCompletionItem(insert_text="1")
    assert accept("x = \n", no_range, types.Position(0, 4)) == "x = 1\n"
