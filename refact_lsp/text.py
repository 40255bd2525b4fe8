"""Plain text: one definition of a line end, a word character and a document's path,
for every module that needs them (documents, context, stops, the server).

Lines end at `\\n`, `\\r\\n` or a lone `\\r`, as LSP says; a word character is a letter,
a digit or `_` (what Python's `\\w` matches).
"""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

LINE_END = re.compile(r"\r\n|\r|\n")
LINE_BREAK = re.compile(r"[\r\n]")  # either character of a line end

try:
    from enum import StrEnum
except ImportError:  # Python 3.10
    class StrEnum(str, enum.Enum):  # type: ignore[no-redef]
        """A fixed set of string values that prints as its value."""

        def __str__(self) -> str:
            return str(self.value)


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def word_before(text: str) -> str:
    """The word characters at the end of `text`."""
    index = len(text)
    while index > 0 and is_word_char(text[index - 1]):
        index -= 1
    return text[index:]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """How alike two sets of words are: shared among all, 0 to 1."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def line_start(text: str, offset: int) -> int:
    """Where the line holding `offset` starts."""
    start = text.rfind("\n", 0, offset) + 1
    return text.rfind("\r", start, offset) + 1 or start


def line_around(before: str, after: str) -> tuple[str, str]:
    """The cursor's line, before and after the cursor, from the text on each side."""
    match = LINE_BREAK.search(after)
    return before[line_start(before, len(before)):], after[:match.start() if match else None]


def path_of(uri: str) -> str:
    """The file path of a document's URI (`file:///a/b%20c.py` → `/a/b c.py`); a URI
    without a scheme is taken as a path already."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme else uri


def name_of(uri: str) -> str:
    """The file name of a document's URI."""
    return PurePosixPath(path_of(uri)).name
