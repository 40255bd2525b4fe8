"""Open documents: their text, their incremental syntax tree and LSP positions.

A document owns its text and tree, as llm-ls's `document.rs` does. Positions arrive in
the negotiated encoding's code units (UTF-16 by default); lines end at `\\n`, `\\r\\n`
or a lone `\\r`.
Positions past the end of a line or of the document are clamped, never an error: an
editor's stale position must not lose an edit.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

from tree_sitter import Parser, Point, Tree

from refact_lsp.languages import Language, language_for
from refact_lsp.text import LINE_END

log = logging.getLogger(__name__)

MAX_TREE_BYTES = 8 * 1024 * 1024  # larger files get line-based context only


@dataclass(frozen=True)
class Position:
    """An LSP position: zero-based line and UTF-16 character offset."""

    line: int
    character: int


UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def column_of(text: str, encoding: str = UTF16) -> int:
    """Length of `text` in the code units of a position encoding."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def index_of(line: str, character: int, encoding: str = UTF16) -> int:
    """Index into `line` of a column in code units, clamped; a split character rounds down."""
    if character <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(character, len(line))
    units = 0
    for index, char in enumerate(line):
        if encoding == UTF8:
            units += len(char.encode("utf-8", "surrogatepass"))
        else:
            units += 2 if ord(char) > 0xFFFF else 1
        if units > character:
            return index
    return len(line)


class Document:
    """One open text document and, for known languages, its syntax tree."""

    def __init__(self, uri: str, text: str, version: int = 0,
                 language_id: str | None = None, encoding: str = UTF16) -> None:
        self.uri = uri
        self.version = version
        self.language_id = language_id or ""
        self.encoding = encoding
        self.language: Language | None = language_for(language_id, uri)
        self._text = text
        self._line_starts: list[int] | None = None
        self._parser: Parser | None = None
        self._tree: Tree | None = None
        self._tree_stale = True

    @property
    def text(self) -> str:
        return self._text

    # -- positions -------------------------------------------------------------------

    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in LINE_END.finditer(self._text)]
        return self._line_starts

    def line_text(self, line: int) -> str:
        """The text of `line` without its line break."""
        starts = self.line_starts()
        if line < 0 or line >= len(starts):
            return ""
        end = starts[line + 1] if line + 1 < len(starts) else len(self._text)
        return self._text[starts[line]:end].rstrip("\r\n")

    def offset_at(self, position: Position) -> int:
        """The string index of an LSP position, clamped into the document."""
        starts = self.line_starts()
        if position.line < 0:
            return 0
        if position.line >= len(starts):
            return len(self._text)
        start = starts[position.line]
        return start + index_of(self.line_text(position.line), position.character, self.encoding)

    def position_at(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self._text)))
        starts = self.line_starts()
        line = bisect.bisect_right(starts, offset) - 1
        line_text = self.line_text(line)
        column = min(offset - starts[line], len(line_text))
        return Position(line, column_of(line_text[:column], self.encoding))

    # -- edits -----------------------------------------------------------------------

    def replace(self, start: Position, end: Position, new_text: str) -> None:
        """Apply one incremental change; an inverted range is taken in order."""
        a, b = self.offset_at(start), self.offset_at(end)
        if b < a:
            a, b = b, a
        self._splice(a, b, new_text)

    def set_text(self, text: str) -> None:
        """A full-text change."""
        self._splice(0, len(self._text), text)

    def _splice(self, a: int, b: int, new_text: str) -> None:
        old = self._text
        if self._tree is not None:
            start_byte = len(old[:a].encode("utf-8", "surrogatepass"))
            old_end_byte = start_byte + len(old[a:b].encode("utf-8", "surrogatepass"))
            new_end_byte = start_byte + len(new_text.encode("utf-8", "surrogatepass"))
            start_point = self._point(a)
            old_end_point = self._point(b)
        self._text = old[:a] + new_text + old[b:]
        self._line_starts = None
        if self._tree is not None:
            self._tree.edit(start_byte=start_byte, old_end_byte=old_end_byte,
                            new_end_byte=new_end_byte, start_point=start_point,
                            old_end_point=old_end_point,
                            new_end_point=self._point(a + len(new_text)))
        self._tree_stale = True

    def _point(self, offset: int) -> Point:
        """A tree-sitter point of a string index: rows count `\\n` only, columns are bytes."""
        text = self._text
        line_start = text.rfind("\n", 0, offset) + 1
        row = text.count("\n", 0, offset)
        return Point(row, len(text[line_start:offset].encode("utf-8", "surrogatepass")))

    # -- syntax ----------------------------------------------------------------------

    def tree(self) -> Tree | None:
        """The syntax tree of the current text, reparsed incrementally when edits are pending."""
        if self.language is None:
            return None
        if not self._tree_stale:
            return self._tree
        data = self._text.encode("utf-8", "surrogatepass")
        if len(data) > MAX_TREE_BYTES:
            self._tree, self._tree_stale = None, False
            return None
        if self._parser is None:
            self._parser = Parser(self.language.ts_language)
        old = self._tree
        self._tree = self._parser.parse(data, old) if old is not None else self._parser.parse(data)
        self._tree_stale = False
        return self._tree

    def close(self) -> None:
        """Drop the text and tree now rather than when the last reference goes."""
        self._text = ""
        self._tree = None
        self._parser = None
        self._line_starts = None
