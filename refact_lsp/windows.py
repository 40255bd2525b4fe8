"""A document's context windows, kept steady while a person types.

Each request builds its windows again from the document; what the model sees before the
cursor must not move with each key, or the KV cache behind the prompt is lost. A
window's edges are kept where they still fit (`context.build(keep=...)`). A definition's
window (the smaller ones after a jump, `enclosing`) is held more firmly: while the text
before the line it was made on is unchanged, the cursor moves on within it and it fits
its budget, its outline and its edges stay as they were made. A half-typed line (an open
string, a trailing dot) changes how the parser sees the code around it, and with it
which definition encloses the cursor and which outline fits: each such change cost the
cache the whole window (in the typing replay, 60 to 190 tokens evaluated again at most
keys, and the ladder's growth behind it lost).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from refact_lsp import context
from refact_lsp.context import Context, CountTokens
from refact_lsp.documents import Document
from refact_lsp.text import line_start


@dataclass(frozen=True)
class _Held:
    """A definition's window as it was made."""

    before_line: str  # the document's text before the cursor's line then
    window: Context
    end_from_end: int  # the window's end, counted from the document's end
    cursor: int  # the cursor then


class Windows:
    """The windows of each document and budget (thread-safe; one per Completer)."""

    def __init__(self, count_tokens: CountTokens) -> None:
        self.count_tokens = count_tokens
        self._edges: dict[tuple[str, int, int], tuple[int, int]] = {}  # keep, per window
        self._held: dict[tuple[str, int, int], _Held] = {}
        self._lock = threading.Lock()

    def build(self, document: Document, offset: int, prefix_budget: int, suffix_budget: int,
              enclosing: bool = False, sibling: bool = False) -> Context:
        """The window of these budgets at `offset` (a string index)."""
        key = (document.uri, prefix_budget, suffix_budget)
        with self._lock:
            keep = self._edges.get(key)
            held = self._held.get(key)
        window = context.build(document, offset, self.count_tokens, prefix_budget,
                               suffix_budget, keep=keep, enclosing=enclosing,
                               sibling=sibling)
        if enclosing:
            window = self._steady(key, document.text, offset, window, held, prefix_budget)
        with self._lock:
            self._edges[key] = (window.start, len(document.text) - window.end)
        return window

    def _steady(self, key: tuple[str, int, int], text: str, offset: int, window: Context,
                held: _Held | None, prefix_budget: int) -> Context:
        """The held window, grown to `offset`, where the text before the line it was made
        on is unchanged, the cursor did not move back or past its end, and it still fits
        the budget; else `window`, held from now on."""
        if held is not None and held.cursor <= offset <= len(text) - held.end_from_end \
                and held.window.start <= len(held.before_line) \
                and text.startswith(held.before_line):
            kept, end = held.window, len(text) - held.end_from_end
            prefix = kept.outline + text[kept.start:offset]
            if context.counter(self.count_tokens)(prefix) <= prefix_budget:
                return dataclasses.replace(window, prefix=prefix, outline=kept.outline,
                                           start=kept.start, suffix=text[offset:end], end=end)
        with self._lock:
            self._held[key] = _Held(text[:line_start(text, offset)], window,
                                    len(text) - window.end, offset)
        return window

    def forget(self, uri: str) -> None:
        """A closed document leaves nothing behind."""
        with self._lock:
            for table in (self._edges, self._held):
                for key in [key for key in table if key[0] == uri]:
                    del table[key]
