"""How many suggestions people accept: counted by the server, kept on this machine.

Each answer to an inline request is one suggestion shown, however many alternatives it
holds; each of its items gets an id that the item's command carries. The editor runs
`refact-lsp.accepted` when the person accepts an item whole; VS Code's and Neovim's
accept word / line report how much of it they took with `refact-lsp.partiallyAccepted`
(code points, as the server counts insertText). A suggestion counts as accepted once,
whichever of its items was taken, and a partial accept that reaches the item's whole
text counts as accepted (no longer as partly accepted). Only the last MAX_REMEMBERED
suggestions are remembered: an accept of an older one is ignored.

Totals across runs and editor windows are added to a small JSON file in the cache dir
(`TOTALS_FILE`), at most once every SAVE_EVERY_S and at shutdown, for `refact-lsp doctor`.
Nothing leaves the machine.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

MAX_REMEMBERED = 1000  # suggestions whose ids an accept may name
MAX_LANGUAGES = 200  # languages counted apart; the rest under OTHER_LANGUAGE
OTHER_LANGUAGE = "other"
TOTALS_FILE = "acceptance.json"
SAVE_EVERY_S = 60.0


@dataclass
class Counts:
    shown: int = 0
    accepted: int = 0
    partially_accepted: int = 0  # taken in part, and not (yet) whole
    accepted_chars: int = 0

    def plus(self, other: Counts, sign: int = 1) -> Counts:
        return Counts(*(mine + sign * theirs for mine, theirs in
                        zip(dataclasses.astuple(self), dataclasses.astuple(other),
                            strict=True)))

    def as_json(self) -> dict[str, int]:
        return {"shown": self.shown, "accepted": self.accepted,
                "partiallyAccepted": self.partially_accepted,
                "acceptedChars": self.accepted_chars}

    @classmethod
    def from_json(cls, data: Any) -> Counts:
        """Counts from their JSON shape; what is missing or not a count reads as 0."""
        data = data if isinstance(data, Mapping) else {}

        def count(key: str) -> int:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        return cls(count("shown"), count("accepted"), count("partiallyAccepted"),
                   count("acceptedChars"))


@dataclass
class Tally:
    """Counts in all and per language (the editor's languageId)."""

    total: Counts = field(default_factory=Counts)
    by_language: dict[str, Counts] = field(default_factory=dict)

    def plus(self, other: Tally, sign: int = 1) -> Tally:
        languages = {**self.by_language, **other.by_language}
        return Tally(self.total.plus(other.total, sign), {
            language: self.by_language.get(language, Counts()).plus(
                other.by_language.get(language, Counts()), sign)
            for language in languages})

    def as_json(self) -> dict[str, Any]:
        return {**self.total.as_json(), "byLanguage": {
            language: counts.as_json() for language, counts in sorted(self.by_language.items())}}

    @classmethod
    def from_json(cls, data: Any) -> Tally:
        languages = data.get("byLanguage") if isinstance(data, Mapping) else None
        languages = languages if isinstance(languages, Mapping) else {}
        return cls(Counts.from_json(data), {str(language): Counts.from_json(counts)
                                            for language, counts in languages.items()})

    def is_empty(self) -> bool:
        return all(counts == Counts() for counts in (self.total, *self.by_language.values()))


@dataclass
class _Shown:
    """A suggestion shown: its language, the length of each item, how much was taken."""

    language: str
    lengths: tuple[int, ...]
    taken: int = 0
    whole: bool = False


class Acceptance:
    """This server's counts, and the ids of the suggestions it showed last."""

    def __init__(self, remembered: int = MAX_REMEMBERED,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tally = Tally()
        self._remembered = remembered
        self._shown: collections.OrderedDict[str, _Shown] = collections.OrderedDict()
        self._prefix = uuid.uuid4().hex[:8]  # an id from another run names nothing here
        self._next = 0
        self._saved = Tally()
        self._clock = clock
        self._saved_at = clock()

    def shown(self, language: str, texts: Sequence[str]) -> list[str]:
        """Count a suggestion shown with these items (best first); their ids."""
        if not texts:
            return []
        self._next += 1
        key = f"{self._prefix}.{self._next}"
        self._shown[key] = _Shown(self._language(language), tuple(len(t) for t in texts))
        while len(self._shown) > self._remembered:
            self._shown.popitem(last=False)
        self._count(self._shown[key].language, Counts(shown=1))
        return [f"{key}.{index}" for index in range(len(texts))]

    def accepted(self, item_id: str) -> bool:
        """The item was accepted whole; False where the id names no item remembered."""
        found = self._find(item_id)
        if found is None:
            return False
        shown, index = found
        self._take(shown, shown.lengths[index], shown.lengths[index])
        return True

    def partially_accepted(self, item_id: str, length: int) -> bool:
        """`length` code points of the item (from its start) are in the document now."""
        found = self._find(item_id)
        if found is None or length <= 0:
            return False
        shown, index = found
        self._take(shown, min(length, shown.lengths[index]), shown.lengths[index])
        return True

    def _take(self, shown: _Shown, length: int, whole_length: int) -> None:
        if shown.whole:
            return
        change = Counts(accepted_chars=max(0, length - shown.taken))
        if length >= whole_length:
            shown.whole = True
            change.accepted = 1
            change.partially_accepted = -1 if shown.taken else 0
        elif length > shown.taken and not shown.taken:
            change.partially_accepted = 1
        shown.taken = max(shown.taken, length)
        self._count(shown.language, change)

    def _find(self, item_id: str) -> tuple[_Shown, int] | None:
        key, _, index = item_id.rpartition(".")
        shown = self._shown.get(key)
        if shown is None or not (index.isascii() and index.isdigit()) \
                or str(int(index)) != index or int(index) >= len(shown.lengths):
            return None  # only the ids `shown` gave
        return shown, int(index)

    def _language(self, language: str) -> str:
        language = language or "plaintext"
        known = self.tally.by_language
        return language if language in known or len(known) < MAX_LANGUAGES else OTHER_LANGUAGE

    def _count(self, language: str, change: Counts) -> None:
        self.tally.total = self.tally.total.plus(change)
        languages = self.tally.by_language
        languages[language] = languages.get(language, Counts()).plus(change)

    # -- the totals file ---------------------------------------------------------------

    def save_due(self) -> bool:
        """Whether counts are waiting and the last save is SAVE_EVERY_S old."""
        return self._clock() - self._saved_at >= SAVE_EVERY_S and not self._unsaved().is_empty()

    def save(self, path: Path) -> None:
        """Add what was counted since the last save to the totals in `path`."""
        unsaved = self._unsaved()
        self._saved_at = self._clock()
        if unsaved.is_empty():
            return
        add_to_totals(path, unsaved)
        self._saved = self._saved.plus(unsaved)

    def _unsaved(self) -> Tally:
        return self.tally.plus(self._saved, -1)


def read_totals(path: Path) -> Tally:
    """The totals kept in `path`; zeros where there is none or it cannot be read."""
    try:
        return Tally.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return Tally()


def add_to_totals(path: Path, counts: Tally) -> None:
    """Add `counts` to the totals in `path`; several servers (editor windows) may add at
    once: the lock lets one at a time read and replace the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path) + ".lock"):
        totals = read_totals(path).plus(counts)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(totals.as_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, path)
