"""Suggestions served without the model: typing into a shown suggestion, undo, moving back.

A suggestion is remembered with the text before and after the cursor (the context
windows the model saw). When the person types characters that the suggestion starts
with, the rest of it is still right: it is returned at once (as Refact's engine and
llama.vim do). An exact match (undo, moving back) returns the whole suggestion.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    before: str
    after: str
    text: str
    replaces_line_suffix: bool


class SuggestionCache:
    """A small LRU of recent suggestions per document."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: collections.OrderedDict[tuple[str, str, str], Entry] = \
            collections.OrderedDict()

    def put(self, uri: str, before: str, after: str, text: str,
            replaces_line_suffix: bool = False) -> None:
        if not text:
            return
        key = (uri, before, after)
        self._entries[key] = Entry(before, after, text, replaces_line_suffix)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, uri: str, before: str, after: str) -> Entry | None:
        """The rest of a remembered suggestion that the typed text agrees with, if any."""
        for (key_uri, _, _), entry in reversed(self._entries.items()):
            if key_uri != uri or entry.after != after or not before.startswith(entry.before):
                continue
            typed = before[len(entry.before):]
            if entry.text.startswith(typed) and len(typed) < len(entry.text):
                return Entry(before, after, entry.text[len(typed):],
                             entry.replaces_line_suffix)
        return None

    def forget(self, uri: str) -> None:
        for key in [key for key in self._entries if key[0] == uri]:
            del self._entries[key]
