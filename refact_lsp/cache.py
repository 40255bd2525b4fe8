"""Suggestions served without the model: typing into a shown suggestion, undo, moving back.

A suggestion is remembered with the text before and after the cursor (the context
windows the model saw). When the person types characters that the suggestion starts
with, the rest of it is still right: it is returned at once (as Refact's engine and
llama.vim do). An exact match (undo, moving back) returns the whole suggestion. The
alternatives shown with it (`candidates`) are remembered with it, so that a repeated
request (an editor's "next suggestion") still has them to cycle through.

A suggestion from a smaller window (after a jump) is provisional: typing into it gets its
rest only while smaller windows still serve, and asking again where it was made never
does, so that a larger window's answer replaces it as soon as there is one.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cached:
    text: str
    replaces_line_suffix: bool = False


@dataclass(frozen=True)
class Entry:
    before: str
    after: str
    suggestions: tuple[Cached, ...]  # best first: the alternatives are cycled through too
    provisional: bool = False  # from a smaller window


class SuggestionCache:
    """A small LRU of recent suggestions per document."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: collections.OrderedDict[tuple[str, str, str], Entry] = \
            collections.OrderedDict()

    def put(self, uri: str, before: str, after: str, suggestions: Sequence[Cached],
            provisional: bool = False) -> None:
        suggestions = tuple(suggestion for suggestion in suggestions if suggestion.text)
        if not suggestions:
            return
        key = (uri, before, after)
        self._entries[key] = Entry(before, after, suggestions, provisional)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, uri: str, before: str, after: str, provisional: bool = False
            ) -> list[Cached]:
        """The rests of the newest remembered suggestions that the typed text agrees
        with, best first; none where there are none. Provisional ones count only with
        `provisional` (smaller windows still serve) and some text typed into them."""
        for (key_uri, _, _), entry in reversed(self._entries.items()):
            if key_uri != uri or entry.after != after or not before.startswith(entry.before):
                continue
            typed = before[len(entry.before):]
            if entry.provisional and not (provisional and typed):
                continue
            rests = [Cached(cached.text[len(typed):], cached.replaces_line_suffix)
                     for cached in entry.suggestions
                     if cached.text.startswith(typed) and len(typed) < len(cached.text)]
            if rests:
                return rests
        return []

    def forget(self, uri: str) -> None:
        for key in [key for key in self._entries if key[0] == uri]:
            del self._entries[key]
