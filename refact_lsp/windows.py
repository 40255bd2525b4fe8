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
keys, and the ladder's growth behind it lost). One change does end the hold: the cursor's
own definition parsing where it did not when the window was made. A method whose body is
still empty parses as none, so its first window is the class's (with the method before
it, whose body the model copied: in the typing replay `L = []` for every line of
`ExtendedInterpolation.before_set`); once a line of it parses, the method's own window,
with the definition most like it, serves.
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
        text = document.text
        with self._lock:
            keep = self._edges.get(key)
            held = self._held.get(key) if enclosing else None
        if held is not None and not self._holds(held, text, offset, prefix_budget):
            held = None
        # A held window keeps the definition like its own: none is looked for again.
        window = context.build(document, offset, self.count_tokens, prefix_budget,
                               suffix_budget, keep=keep, enclosing=enclosing,
                               sibling=sibling and held is None)
        if held is not None and _deeper(window.definition, held.window.definition):
            held = None  # made where the parser saw no definition of the cursor's own
            if sibling:
                window = context.build(document, offset, self.count_tokens, prefix_budget,
                                       suffix_budget, keep=keep, enclosing=True, sibling=True)
        if held is not None:
            kept, end = held.window, len(text) - held.end_from_end
            window = dataclasses.replace(window, prefix=kept.outline + text[kept.start:offset],
                                         outline=kept.outline, start=kept.start,
                                         suffix=text[offset:end], end=end,
                                         definition=kept.definition)
        with self._lock:
            if enclosing and held is None:
                self._held[key] = _Held(text[:line_start(text, offset)], window,
                                        len(text) - window.end, offset)
            self._edges[key] = (window.start, len(text) - window.end)
        return window

    def _holds(self, held: _Held, text: str, offset: int, prefix_budget: int) -> bool:
        """Whether the held window still serves at `offset`: the text before the line it
        was made on is unchanged, the cursor did not move back or past its end, and grown
        to the cursor it still fits the budget."""
        kept = held.window
        return held.cursor <= offset <= len(text) - held.end_from_end \
            and kept.start <= len(held.before_line) and text.startswith(held.before_line) \
            and context.counter(self.count_tokens)(kept.outline + text[kept.start:offset]) \
            <= prefix_budget

    def forget(self, uri: str) -> None:
        """A closed document leaves nothing behind."""
        with self._lock:
            for table in (self._edges, self._held):
                for key in [key for key in table if key[0] == uri]:
                    del table[key]


def _deeper(definition: int | None, held: int | None) -> bool:
    """Whether a window made now lies in a definition inside the one the held window was
    made in (a later start: the text before the held line is unchanged). A method whose
    body is still empty, or a half-typed line, parses as no definition: the enclosing
    class, or none, is what the window was made of; once the method parses, its own
    window (and the definition like it) serves instead."""
    return definition is not None and (held is None or definition > held)
