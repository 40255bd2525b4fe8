"""Prefix and suffix windows around the cursor, within token budgets.

Pure: from a document's text (and tree) and a cursor offset to the text the model sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from refact_lsp.documents import Document
from refact_lsp.prompts import ContextFile

CountTokens = Callable[[str], int]

STABLE_STEP_LINES = 32  # the prefix window starts on a multiple of this many lines


@dataclass(frozen=True)
class Context:
    prefix: str
    suffix: str
    line_prefix: str  # the cursor line before the cursor
    line_suffix: str  # the cursor line after the cursor
    situation: str = "code"
    context_files: tuple[ContextFile, ...] = ()


def build(document: Document, offset: int, count_tokens: CountTokens,
          prefix_budget: int, suffix_budget: int, *, other_documents: Sequence[Document] = (),
          files_budget: int = 0) -> Context:
    text = document.text
    offset = max(0, min(offset, len(text)))
    position = document.position_at(offset)
    starts = document.line_starts()
    line_start = starts[position.line]
    line_end = starts[position.line + 1] if position.line + 1 < len(starts) else len(text)
    line = text[line_start:line_end].rstrip("\r\n")
    column = offset - line_start
    prefix = _prefix_window(text, starts, position.line, offset, count_tokens, prefix_budget)
    suffix = _suffix_window(text, starts, position.line, offset, count_tokens, suffix_budget)
    return Context(prefix, suffix, line[:column], line[column:])


def _prefix_window(text: str, starts: list[int], line: int, offset: int,
                   count_tokens: CountTokens, budget: int) -> str:
    first = (max(0, line - 200) // STABLE_STEP_LINES) * STABLE_STEP_LINES
    while first < line and count_tokens(text[starts[first]:offset]) > budget:
        first += STABLE_STEP_LINES
    first = min(first, line)
    window = text[starts[first]:offset]
    while window and count_tokens(window) > budget:
        window = window[len(window) // 4:]
    return window


def _suffix_window(text: str, starts: list[int], line: int, offset: int,
                   count_tokens: CountTokens, budget: int) -> str:
    last = min(len(starts) - 1, line + 64)
    end = starts[last + 1] if last + 1 < len(starts) else len(text)
    window = text[offset:end]
    while window and count_tokens(window) > budget:
        window = window[:len(window) * 3 // 4]
    return window
