"""The windows of a document stay where they were while a person types (windows.py)."""

from __future__ import annotations

import pytest

from refact_lsp import context
from refact_lsp.documents import Document
from refact_lsp.windows import Windows

HEAD = '''from collections.abc import MutableMapping
from collections import ChainMap as _ChainMap
import functools
import io
import itertools
import os


class Error(Exception):
    """Base class for ConfigParser exceptions."""

    def __init__(self, msg=''):
        self.message = msg
        Exception.__init__(self, msg)


class NoSectionError(Error):
    """Raised when no section matches a requested option."""

    def __init__(self, section):
        '''
TAIL = '''

class DuplicateSectionError(Error):
    """Raised when a section is repeated in an input source."""
'''
LINE = "Error.__init__(self, 'No section: %r' % (section,))"


def count(text: str) -> int:
    return (len(text) + 3) // 4


def typed(windows: Windows | None) -> list[tuple[str, int, int]]:
    """The smallest definition window after each key of LINE: its outline, its start
    and its end counted from the document's end."""
    found = []
    for keys in range(1, len(LINE) + 1):
        doc = Document("file:///w/configparser.py", HEAD + LINE[:keys] + TAIL, keys, "python")
        offset = len(HEAD) + keys
        window = windows.build(doc, offset, 48, 16, enclosing=True) if windows \
            else context.build(doc, offset, count, 48, 16, enclosing=True)
        assert window.prefix == window.outline + doc.text[window.start:offset]
        found.append((window.outline, window.start, len(doc.text) - window.end))
    return found


def test_a_definitions_window_holds_its_outline_and_edges_while_its_line_is_typed() -> None:
    assert len(set(typed(Windows(count)))) == 1
    # Built afresh at each key, the half-typed line moves them (why they are held).
    assert len(set(typed(None))) > 1


def test_a_held_window_is_made_again_when_the_text_before_it_changes_or_it_outgrows_its_budget(
        ) -> None:
    windows = Windows(count)
    doc = Document("file:///w/configparser.py", HEAD + TAIL, 1, "python")
    first = windows.build(doc, len(HEAD), 48, 16, enclosing=True)
    edited = Document(doc.uri, "import sys\n" + HEAD + TAIL, 2, "python")
    moved = windows.build(edited, len(HEAD) + 11, 48, 16, enclosing=True)
    assert moved.start == first.start + 11  # built again on the new text
    long_line = "x = " + "a + " * 60  # typed on, one key at a time
    for keys in range(1, len(long_line) + 1):
        grown = Document(doc.uri, "import sys\n" + HEAD + long_line[:keys] + TAIL, 3, "python")
        window = windows.build(grown, len(HEAD) + 11 + keys, 48, 16, enclosing=True)
        assert count(window.prefix) <= 48
    assert window.start > len(HEAD) + 11  # inside the long line
    windows.forget(doc.uri)
    assert not windows._held and not windows._edges


def test_a_held_window_keeps_the_definition_like_its_own_without_looking_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The definition most like the cursor's (`sibling`) is looked for once, when the
    window is made; while the window is held it stays in the outline, and a line typed in
    it costs no search of the file's definitions at every key."""
    looked = []
    definitions = context._Syntax.definitions
    monkeypatch.setattr(context._Syntax, "definitions",
                        lambda self, *args: looked.append(args) or definitions(self, *args))
    head = ("import re\n\n\nclass Basic:\n"
            "    def before_set(self, parser, section, option, value):\n"
            "        tmp_value = value.replace('%%', '')\n"
            "        return value\n\n"
            + "".join(f"    def other_{i}(self):\n        return {i}\n\n" for i in range(30))
            + "\nclass Extended:\n"
            "    def before_set(self, parser, section, option, value):\n        ")
    windows = Windows(count)
    outlines = set()
    for keys in range(1, len(LINE) + 1):
        doc = Document("file:///w/interpolation.py", head + LINE[:keys] + "\n", keys, "python")
        window = windows.build(doc, len(head) + keys, 128, 32, enclosing=True, sibling=True)
        outlines.add(window.outline)
    assert len(outlines) == 1 and "tmp_value = value.replace" in outlines.pop()
    assert len(looked) == 1


def test_a_window_made_before_the_method_parsed_gives_way_to_the_methods_own() -> None:
    """A method whose body is still empty parses as no definition: its first window is
    the class's (the method before it, whose body the model then copies). Once a line of
    it parses the method does, and its own window, with the definition most like it,
    serves from then on, however the rest of the line parses."""
    head = ("import re\n\n\nclass Basic:\n"
            "    def before_set(self, parser, section, option, value):\n"
            "        tmp_value = value.replace('%%', '')\n"
            "        return value\n\n\n"
            "class Extended(Basic):\n"
            "    def before_get(self, parser, section, option, value, defaults):\n"
            "        L = []\n        return ''.join(L)\n\n"
            "    def before_set(self, parser, section, option, value):\n        ")
    tail = "\n\n    def write(self, fp):\n        fp.write('')\n"
    windows = Windows(count)

    def window(typed: str) -> context.Context:
        doc = Document("file:///w/interpolation.py", head + typed + tail, 1, "python")
        return windows.build(doc, len(head) + len(typed), 128, 32, enclosing=True,
                             sibling=True)

    assert "L = []" in window("").prefix  # the class's window: no method parsed
    # The method parses at the line's first word; not with an open string after it.
    methods = [window(typed) for typed in ("tmp_value", "tmp_value = value.replace('$$",
                                           "")]
    for made in methods[:2]:
        assert "L = []" not in made.prefix
        assert "tmp_value = value.replace('%%', '')" in made.outline
    assert methods[0].start == methods[1].start and methods[0].outline == methods[1].outline
    assert "L = []" in methods[2].prefix  # moved back: made again
