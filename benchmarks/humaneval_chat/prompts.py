"""What both systems are asked and how an answer becomes a program: the same for both,
so that the gap between them is the server's alone.

The question is EvalPlus's instruction with the task's prompt in a `python` code block
(EvalPlus leaves the language out and starts the answer itself with "```python"; a chat
cannot, and without it the test model answers "```" and "python" on lines of their
own). The program is the answer's first fenced code block (else the whole answer) after
the task's prompt: the prompt brings the imports and helper functions the answer may leave
out, and the answer's definition of the entry point takes the place of the prompt's
body-less one. An answer that is only a body (no `def` of the entry point) is indented
under the prompt's signature instead.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from benchmarks.humaneval_infill import tasks
from refact_lsp.code_actions import code_from_answer
from refact_lsp.text import StrEnum

INSTRUCTION = ("Please provide a self-contained Python script that solves the following "
               "problem in a markdown code block:")


def question(problem: dict[str, Any]) -> str:
    """The user message for a HumanEval problem."""
    return f"{INSTRUCTION}\n```python\n{problem['prompt'].strip()}\n```\n"


def program(problem: dict[str, Any], answer: str) -> str:
    """The program an answer comes to, with the problem's tests run against it."""
    code = code_from_answer(answer)
    defines = re.search(rf"^\s*def\s+{re.escape(problem['entry_point'])}\s*\(", code, re.M)
    if defines is None:
        code = textwrap.indent(code, "    ")
    return tasks.tested(problem, f"{problem['prompt']}\n{code}\n")


class Failure(StrEnum):
    """Why an answer failed, the first that applies: what the gap to a model's reported
    score is made of."""

    EMPTY = "empty answer"
    CUT = "cut at max tokens"  # a code block opened and never closed
    SYNTAX = "does not compile"
    TESTS = "tests fail"


def failure(problem: dict[str, Any], answer: str) -> Failure:
    """The reason a failed answer failed."""
    if not answer.strip():
        return Failure.EMPTY
    if answer.count("```") % 2:
        return Failure.CUT
    try:
        compile(program(problem, answer), "<answer>", "exec")
    except (SyntaxError, ValueError):
        return Failure.SYNTAX
    return Failure.TESTS
