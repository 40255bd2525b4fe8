"""Documents: UTF-16 positions, incremental edits, and an incremental tree that stays equal
to a fresh parse of the same text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tree_sitter import Node, Parser

from refact_lsp.documents import Document, Position

PIECES = ("def f(x):\n", "    return x\n", "class A:\n", "    pass\n", "if x:\n", "{", "}",
          "function g() {", "(", ")", "[", "]", '"', "'", '"""', "#", "//", "/*", "*/", "\n",
          "\r\n", "\r", " ", "\t", "x", "=", "1", ":", ";", ",", "é", "名前", "😀")
texts = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)
positions = st.builds(Position, st.integers(-1, 12), st.integers(-1, 30))
edits = st.lists(st.tuples(positions, positions, texts), min_size=1, max_size=12)


def reference_lines(text: str) -> list[tuple[int, int]]:
    """(start, end of content) of each line; lines end at \\r\\n, \\n or a lone \\r."""
    lines, start, index = [], 0, 0
    while index < len(text):
        if text.startswith("\r\n", index):
            lines.append((start, index))
            index += 2
            start = index
        elif text[index] in "\r\n":
            lines.append((start, index))
            index += 1
            start = index
        else:
            index += 1
    return lines + [(start, len(text))]


def reference_offset(text: str, position: Position) -> int:
    """An LSP position as a string index, clamped; written apart from documents.py."""
    lines = reference_lines(text)
    if position.line < 0:
        return 0
    if position.line >= len(lines):
        return len(text)
    start, end = lines[position.line]
    units = 0
    for index in range(start, end):
        units += 2 if ord(text[index]) > 0xFFFF else 1
        if units > position.character:
            return index
    return end


def shape(node: Node) -> list[tuple[str, int, int, tuple[int, int], tuple[int, int]]]:
    """Every node with its byte range and points, in document order."""
    nodes, cursor = [], node.walk()
    while True:
        current = cursor.node
        nodes.append((current.type, current.start_byte, current.end_byte,
                       tuple(current.start_point), tuple(current.end_point)))
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return nodes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=texts, changes=edits, language=st.sampled_from(["python", "javascript"]))
def test_incremental_edits_match_a_reference_and_a_fresh_parse(
        initial: str, changes: list[tuple[Position, Position, str]], language: str) -> None:
    document = Document(f"file:///edit.{'py' if language == 'python' else 'js'}", initial, 0,
                        language)
    assert document.language is not None
    parser = Parser(document.language.ts_language)
    expected = initial
    for start, end, new_text in changes:
        document.tree()  # each edit goes to a parsed tree, as while a person types
        document.replace(start, end, new_text)
        a, b = sorted((reference_offset(expected, start), reference_offset(expected, end)))
        expected = expected[:a] + new_text + expected[b:]
        assert document.text == expected
    tree = document.tree()
    assert tree is not None
    fresh = parser.parse(expected.encode("utf-8", "surrogatepass"))
    assert tree.root_node.has_error == fresh.root_node.has_error
    assert tree.root_node.end_byte == fresh.root_node.end_byte
    if not fresh.root_node.has_error:
        # Where the text does not parse, tree-sitter may recover from the error one way
        # incrementally and another way afresh (hypothesis found such a case): the
        # trees are the same only for text that parses.
        assert str(tree.root_node) == str(fresh.root_node)
        assert shape(tree.root_node) == shape(fresh.root_node)


def test_utf16_positions_round_trip() -> None:
    document = Document("file:///a.py", "a = '😀'\r\nb = '名'\rc\n", 0, "python")
    for offset in range(len(document.text) + 1):
        position = document.position_at(offset)
        if document.text[offset - 1:offset + 1] != "\r\n":
            assert document.offset_at(position) == offset
    assert document.position_at(document.text.index("'", 5)) == Position(0, 7)
    assert document.offset_at(Position(0, 6)) == document.text.index("😀")  # inside the pair
    assert document.offset_at(Position(1, 6)) == document.text.index("名") + 1
    assert document.offset_at(Position(2, 0)) == document.text.index("c")


def test_positions_past_the_end_are_clamped() -> None:
    document = Document("file:///a.py", "x = 1\ny = 2\n", 0, "python")
    assert document.offset_at(Position(0, 99)) == 5
    assert document.offset_at(Position(99, 0)) == len(document.text)
    document.replace(Position(1, 99), Position(99, 99), " + x\n")
    assert document.text == "x = 1\ny = 2 + x\n"


def test_tree_follows_edits_and_full_changes() -> None:
    document = Document("file:///a.py", "def f():\n    return 1\n", 0, "python")
    tree = document.tree()
    assert tree is not None and not tree.root_node.has_error
    document.replace(Position(1, 11), Position(1, 12), "(")
    broken = document.tree()
    assert broken is not None and broken.root_node.has_error
    document.set_text("class A:\n    pass\n")
    fixed = document.tree()
    assert fixed is not None and str(fixed.root_node).startswith("(module (class_definition")


def test_unknown_languages_keep_text_without_a_tree() -> None:
    document = Document("file:///notes.txt", "one\ntwo\n", 0, None)
    document.replace(Position(1, 0), Position(1, 3), "2")
    assert document.text == "one\n2\n" and document.tree() is None
