"""Context extraction: budgets at their limits, syntax-aware cuts, stability while typing,
the outline, the cursor's situation and snippets of other open files.

Most tests count tokens as one per three characters plus one, a deterministic stand-in
that, like a real tokenizer, never counts a joined text as more than its parts; one test
uses the model's own tokenizer.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import llama_cpp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refact_lsp import context, documents
from refact_lsp.config import Settings
from refact_lsp.context import Situation, build
from refact_lsp.documents import Document
from refact_lsp.prompts import TEMPLATES, FimOrder, render

ARGPARSE = Path("/root/.pyenv/versions/3.11.7/lib/python3.11/argparse.py")
CURSOR = "‸"


def count(text: str) -> int:
    return len(text) // 3 + 1


def at_cursor(source: str, uri: str = "file:///work/sample.py",
              language_id: str | None = None) -> tuple[Document, int]:
    """A document from text with one CURSOR mark, and the mark's offset."""
    offset = source.index(CURSOR)
    return Document(uri, source.replace(CURSOR, ""), 1, language_id), offset


@pytest.fixture(scope="module")
def argparse_source() -> str:
    return ARGPARSE.read_text()


def type_at(document: Document, offset: int, text: str):
    """Types `text` one character at a time, as incremental edits; yields the cursor."""
    for char in text:
        position = document.position_at(offset)
        document.replace(position, position, char)
        offset += 1
        yield offset


# -- budgets at their limits ---------------------------------------------------------


@pytest.mark.parametrize("uri", ["file:///e.py", "file:///e.txt"])
def test_empty_file(uri: str) -> None:
    ctx = build(Document(uri, ""), 0, count, 100, 100)
    assert (ctx.prefix, ctx.suffix, ctx.line_prefix, ctx.line_suffix) == ("", "", "", "")
    assert ctx.situation == "code"


def test_cursor_at_start_and_end(argparse_source: str) -> None:
    document = Document("file:///argparse.py", argparse_source, 0, "python")
    first = build(document, 0, count, 300, 300)
    assert first.prefix == "" and first.suffix and argparse_source.startswith(first.suffix)
    last = build(document, len(argparse_source), count, 300, 300)
    assert last.suffix == "" and argparse_source.endswith(last.prefix[len(last.outline):])
    assert count(first.suffix) <= 300 and count(last.prefix) <= 300


def test_offsets_outside_the_text_are_clamped() -> None:
    document = Document("file:///a.py", "x = 1\n")
    assert build(document, -5, count, 50, 50).suffix == "x = 1\n"
    assert build(document, 99, count, 50, 50).prefix == "x = 1\n"


@pytest.mark.parametrize("uri", ["file:///min.js", "file:///min.txt"])
def test_a_single_100_kb_line_is_cut_between_words(uri: str) -> None:
    words = [f"value{i % 97}" for i in range(14_000)]
    text = " ".join(words)
    assert len(text) > 100_000
    offset = len(text) // 2
    ctx = build(Document(uri, text), offset, count, 200, 100)
    assert count(ctx.prefix) <= 200 and count(ctx.suffix) <= 100
    assert ctx.prefix and text[:offset].endswith(ctx.prefix)
    assert ctx.prefix.lstrip(" ").split(" ")[0] in words  # begins with a whole word
    assert ctx.suffix and text[offset:].startswith(ctx.suffix)
    assert ctx.line_prefix == text[:offset] and ctx.line_suffix == text[offset:]


def test_zero_budgets_give_empty_windows() -> None:
    ctx = build(Document("file:///a.py", "x = 1\ny = 2\n"), 6, count, 0, 0)
    assert (ctx.prefix, ctx.suffix, ctx.line_prefix) == ("", "", "")


def test_budgets_hold_exactly_everywhere(argparse_source: str) -> None:
    document = Document("file:///argparse.py", argparse_source, 0, "python")
    for index, offset in enumerate(range(0, len(argparse_source), 7919)):
        prefix_budget, suffix_budget = 40 + 97 * index % 1500, 20 + 53 * index % 500
        ctx = build(document, offset, count, prefix_budget, suffix_budget)
        assert count(ctx.prefix) <= prefix_budget
        assert count(ctx.suffix) <= suffix_budget
        assert ctx.prefix.endswith(ctx.line_prefix)  # the text nearest the cursor is kept
        assert ctx.suffix.startswith(ctx.line_suffix)
        assert ctx.prefix == ctx.outline + argparse_source[ctx.start:offset]
        assert ctx.suffix == argparse_source[offset:ctx.end]


def test_budgets_hold_with_the_models_tokenizer(model_path: Path,
                                                argparse_source: str) -> None:
    llm = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)

    def tokens(text: str) -> int:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    prefix_budget, suffix_budget = Settings().budgets()
    document = Document("file:///argparse.py", argparse_source, 0, "python")
    for offset in range(len(argparse_source) // 10, len(argparse_source), 23_456):
        ctx = build(document, offset, tokens, prefix_budget, suffix_budget)
        assert prefix_budget * 0.5 < tokens(ctx.prefix) <= prefix_budget
        assert suffix_budget * 0.5 < tokens(ctx.suffix) <= suffix_budget
        assert ctx.outline or ctx.start == 0


PIECES = ("def f(x):\n", "    return x\n", "class A:\n", "    pass\n", "if x:\n", "{", "}",
          "(", ")", '"', '"""', "# note\n", "\n", "\r\n", "\t", " ", "x = 1\n", "é", "名前",
          "😀", "import os\n")


@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=60).map("".join),
       where=st.floats(0, 1), budgets=st.tuples(st.integers(0, 60), st.integers(0, 60)),
       name=st.sampled_from(["a.py", "a.js", "a.txt"]))
def test_any_text_any_cursor_keeps_the_budgets(text: str, where: float,
                                               budgets: tuple[int, int], name: str) -> None:
    offset = int(len(text) * where)
    ctx = build(Document(f"file:///{name}", text), offset, count, *budgets)
    assert count(ctx.prefix) <= max(budgets[0], count(""))
    assert count(ctx.suffix) <= max(budgets[1], count(""))
    assert text[:offset].endswith(ctx.prefix[len(ctx.outline):])
    assert text[offset:].startswith(ctx.suffix)
    assert ctx.situation in set(Situation)


def test_crlf_lines() -> None:
    source = "def f(a):\r\n    b = a + 1\r\n    return b\r\n\r\ndef g():\r\n    pa‸ss\r\n"
    document, offset = at_cursor(source)
    ctx = build(document, offset, count, 9, 100)
    assert (ctx.line_prefix, ctx.line_suffix) == ("    pa", "ss")
    assert ctx.prefix == "def g():\r\n    pa"
    assert ctx.suffix == "ss\r\n"


def test_tabs_and_non_ascii_identifiers() -> None:
    steps = "".join(f"\t\tschritt_{i} = größe(名前) + {i}\n" for i in range(20))
    source = ("import os\n\n"
              "def größe(wert):\n\t\"\"\"Größe eines Werts — in Bytes.\"\"\"\n"
              "\treturn len(wert)\n\n"
              f"class Überblick:\n\tdef zähle(self, 名前):\n{steps}"
              "\t\tif schritt_19:\n\t\t\treturn schritt_19 + 1\n\t\tre‸\n\n"
              "def später():\n\treturn 'ö'\n")
    document, offset = at_cursor(source)
    ctx = build(document, offset, count, 120, 8)
    assert ctx.outline == ("import os\n# ...\nclass Überblick:\n\tdef zähle(self, 名前):\n"
                           "\t\t# ...\n")
    assert ctx.prefix.endswith("\t\tif schritt_19:\n\t\t\treturn schritt_19 + 1\n\t\tre")
    assert ctx.prefix[len(ctx.outline):].startswith("\t\tschritt_")
    assert ctx.suffix == "\n\ndef später():\n"
    assert ctx.situation == "identifier"


# -- windows follow the syntax --------------------------------------------------------

MULTILINE = '''import sys


def first():
    message = """a long
text that goes on
over lines"""
    values = compute(
        1,
        2,
    )
    return message, values


def second():
    # about to change
    total = 0
    for value in range(10):
        total += value
    ‸
    return total


def third():
    return """one
two
three"""
'''


def test_windows_never_start_or_end_inside_strings_or_statements() -> None:
    document, offset = at_cursor(MULTILINE)
    text = document.text
    forbidden = ("text that goes", "over lines", "        1,", "        2,", "    )", "two",
                 "three")
    for budget in range(1, 120):
        ctx = build(document, offset, count, budget, budget)
        first_line = text[ctx.start:text.find("\n", ctx.start)]
        after_end = text[ctx.end:text.find("\n", ctx.end)]
        assert not first_line.startswith(forbidden), (budget, first_line)
        assert not after_end.startswith(forbidden), (budget, after_end)


def test_the_prefix_starts_at_a_definition_when_it_can() -> None:
    document, offset = at_cursor(MULTILINE)
    ctx = build(document, offset, count, 60, 10)
    assert ctx.prefix.startswith("import sys\n# ...\ndef second():\n")


def test_files_of_unknown_languages_get_line_windows() -> None:
    source = "".join(f"line {i} of notes\n" for i in range(200)) + "and wr‸"
    document, offset = at_cursor(source, uri="file:///notes.txt")
    ctx = build(document, offset, count, 100, 100)
    assert document.tree() is None and ctx.outline == ""
    assert count(ctx.prefix) <= 100 and ctx.prefix.startswith("line ")
    assert ctx.situation == "identifier"


def test_too_large_files_get_line_windows(monkeypatch: pytest.MonkeyPatch,
                                          argparse_source: str) -> None:
    monkeypatch.setattr(documents, "MAX_TREE_BYTES", 1000)
    document = Document("file:///argparse.py", argparse_source, 0, "python")
    ctx = build(document, len(argparse_source) // 2, count, 500, 200)
    assert document.tree() is None and ctx.outline == ""
    assert count(ctx.prefix) <= 500 and count(ctx.suffix) <= 200


# -- the outline ---------------------------------------------------------------------


def test_outline_keeps_imports_and_enclosing_signatures(argparse_source: str) -> None:
    document = Document("file:///argparse.py", argparse_source, 0, "python")
    offset = argparse_source.index("        if self.exit_on_error:\n            try:\n")
    ctx = build(document, offset, count, 300, 100)
    assert ctx.outline.startswith("import os as _os\nimport re as _re\n")
    assert ctx.outline.endswith(
        "# ...\nclass ArgumentParser(_AttributeHolder, _ActionsContainer):\n"
        "    # ...\n    def parse_known_args(self, args=None, namespace=None):\n"
        "        # ...\n")
    assert count(ctx.outline) <= 300 // context.OUTLINE_SHARE
    assert ctx.prefix.startswith(ctx.outline)


def test_outline_is_cut_to_its_share() -> None:
    imports = "".join(f"import module_{i}\n" for i in range(80))
    body = "".join(f"    step_{i} = {i}\n" for i in range(200))
    source = imports + "\n\ndef run():\n" + body + "    ‸\n"
    document, offset = at_cursor(source)
    ctx = build(document, offset, count, 400, 50)
    assert count(ctx.prefix) <= 400
    assert count(ctx.outline) <= 100
    assert ctx.outline.startswith("import module_0\n")
    assert ctx.outline.endswith("# ...\ndef run():\n    # ...\n")


# -- stability while typing ----------------------------------------------------------


def test_window_stays_put_while_typing_a_function(argparse_source: str) -> None:
    offset = argparse_source.index("    def parse_known_args(")
    document = Document("file:///argparse.py", argparse_source, 0, "python")
    typed = ("    def check(self, value):\n        if value is None:\n"
             "            return self.default(value, [1, 2\n")
    starts, suffixes = set(), set()
    for cursor in type_at(document, offset, typed):
        ctx = build(document, cursor, count, 1500, 500)
        starts.add((ctx.start, ctx.outline))
        suffixes.add(ctx.suffix)
        assert count(ctx.prefix) <= 1500
    assert len(starts) == 1 and len(suffixes) == 1


def test_a_half_typed_string_does_not_shrink_the_window() -> None:
    """An open string on the cursor's line changes how tree-sitter reads code far below
    (here, keystroke by keystroke, the suffix window's last cell had another least
    indented line). The window is kept as the Completer keeps it: an edge that still fits
    stays, so the KV cache keeps the text behind it."""
    source = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()
    line_end = source.index("\n", sum(len(line) + 1 for line in source.split("\n")[:194]))
    typed = '\n        x = f("in section {!r} and'

    def ends(keep_windows: bool) -> list[int]:
        document = Document("file:///textwrap.py", source, 0, "python")
        keep, found = None, []
        for cursor in type_at(document, line_end, typed):
            ctx = build(document, cursor, count, 1500, 500,
                        keep=keep if keep_windows else None)
            keep = (ctx.start, len(document.text) - ctx.end)
            found.append(keep[1])  # the suffix window's end, counted from the file's end
        return found

    flapping = ends(keep_windows=False)
    assert any(later > earlier for earlier, later in zip(flapping, flapping[1:], strict=False))
    kept = ends(keep_windows=True)
    assert all(later <= earlier for earlier, later in zip(kept, kept[1:], strict=False))
    assert len(set(kept)) <= 2  # the end never comes nearer; it moved out at most once


def test_window_moves_by_whole_cells_when_the_budget_forces_it() -> None:
    source = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(400))
    document = Document("file:///many.py", source)
    starts = [build(document, offset, count, 300, 50).start
              for offset in range(len(source) // 2, len(source) // 2 + 4000, 10)]
    moves = [b - a for a, b in zip(starts, starts[1:], strict=False) if b != a]
    assert moves and all(move >= 300 * context.CELL_CHARS_PER_TOKEN // 2 for move in moves)
    assert all(source[start:].startswith("def f") for start in starts)


def test_spm_prompts_share_their_head_while_typing() -> None:
    source = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(300))
    offset = source.index("def f150")
    document = Document("file:///many.py", source)
    previous, moves = "", 0
    for cursor in type_at(document, offset, "def g(y):\n    return y * 2\n\n\n"):
        ctx = build(document, cursor, count, 800, 200)
        prompt = render(TEMPLATES["refact"], FimOrder.SPM, ctx.prefix, ctx.suffix).text
        kept = len(os.path.commonprefix([previous, prompt]))
        moves += kept < len(prompt) - len("<fim_middle>") - 1
        previous = prompt
    assert moves <= 2  # the first prompt, and at most one step of the window


# -- the cursor's situation ----------------------------------------------------------


@pytest.mark.parametrize(("uri", "source", "situation"), [
    ("a.py", "x = 1  # a comm‸\ny = 2\n", "comment"),
    ("a.py", 'x = "ab‸c"\n', "string"),
    ("a.py", 'x = """doc\nmore ‸\n"""\n', "string"),
    ("a.py", "foo(a, ‸)\n", "arguments"),
    ("a.py", "def f():\n    ‸\n\nx = 1\n", "empty_block"),
    ("a.py", "class A:\n    def f(self):\n        ‸", "empty_block"),
    ("a.py", "def f():\n    x = 1\n    ‸\n", "code"),
    ("a.py", "x = valu‸\n", "identifier"),
    ("a.c", "int f() {\n  ‸\n}\n", "empty_block"),
    ("a.c", "int f() {\n  /* abc‸ */\n}\n", "comment"),
    ("a.c", "int f() {}\n‸\n", "code"),
    ("a.c", 'int f() { printf(x, ‸); }\n', "arguments"),
    ("a.js", "const s = `a ${b} ‸`;\n", "string"),
    ("a.go", "func f() {\n\t‸\n}\n", "empty_block"),
    ("a.rb", "def f\n  ‸\nend\n", "empty_block"),
    ("a.lua", "-- note‸\n", "comment"),
    ("a.sh", "f() {\n  ‸\n}\n", "empty_block"),
    ("a.txt", "hello wor‸ld", "identifier"),
    ("a.txt", "hello ‸", "code"),
])
def test_situations(uri: str, source: str, situation: str) -> None:
    document, offset = at_cursor(source, uri=f"file:///{uri}")
    ctx = build(document, offset, count, 100, 100)
    assert ctx.situation == situation
    assert ctx.situation in set(Situation)


# -- other open files ----------------------------------------------------------------

def test_long_pieces_of_a_line_are_counted_but_not_remembered() -> None:
    """Typing at the end of a 13 KB line makes a new long piece each keystroke: counted
    each time, kept none (2,000 keystrokes kept 15 MiB)."""
    calls: list[int] = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return count(text)

    line = "values = [" + ", ".join(str(i) for i in range(2600)) + ", "
    document = Document("file:///work/long.py", "import os\n\n" + line + "\n", 1)
    offset = len("import os\n\n" + line)
    for typed in range(50):
        document.replace(documents.Position(2, len(line) + typed),
                         documents.Position(2, len(line) + typed), "1")
        build(document, offset + typed + 1, counting, 4000, 1000)
    cached = context._counts.counter(counting)
    assert cached.cache_info().currsize < 10
    assert max(calls) > 1024  # the long pieces were counted all the same


def test_an_enclosing_window_is_the_definition_with_the_files_outline() -> None:
    """A small window after a jump is the function the cursor is in, its signature first,
    with the imports and the class around it in the outline, not the last lines before
    the cursor whatever they are."""
    source = ("import os\nimport sys\n\n\nclass Shapes:\n    '''Areas.'''\n\n"
              + "".join(f"    def other_{i}(self):\n        return {i}\n\n" for i in range(30))
              + "    def area(self, width, height):\n        scale = 2\n"
              "        return width * ‸\n\n    def after(self):\n        return 0\n")
    doc, offset = at_cursor(source)
    ctx = build(doc, offset, count, 400, 100, enclosing=True)
    assert ctx.prefix.startswith("import os\nimport sys\n")
    assert "class Shapes:\n" in ctx.outline and "other_29" not in ctx.prefix
    assert ctx.prefix.endswith("    def area(self, width, height):\n        scale = 2\n"
                               "        return width * ")
    assert ctx.suffix == "\n"  # the definition's last line: not the next method
    plain = build(doc, offset, count, 400, 100)
    assert "other_29" in plain.prefix and "def after" in plain.suffix
    small = build(doc, offset, count, 12, 4, enclosing=True)  # what fits of it
    assert small.prefix.endswith("return width * ") and "other_29" not in small.prefix
    top = at_cursor("x = 1\ny = ‸\n")
    assert build(*top, count, 400, 100, enclosing=True) == build(*top, count, 400, 100)


def test_a_short_definitions_window_brings_the_one_most_like_it_from_before() -> None:
    """Asked for (`sibling`), where the definition the cursor is in leaves room, the
    window's outline holds the definition most like it (by the words of its first line)
    from earlier in the file, in file order: how the file writes such a thing. Unlike ones
    are left out, and so are all in a plain window."""
    source = ("import re\n\n\nclass Basic:\n"
              "    def before_set(self, parser, section, option, value):\n"
              "        tmp_value = value.replace('%%', '')\n"
              "        return value\n\n"
              "    def unrelated(self):\n        return 1\n\n"
              + "".join(f"    def other_{i}(self):\n        return {i}\n\n" for i in range(30))
              + "\nclass Extended:\n"
              "    def before_set(self, parser, section, option, value):\n        t‸\n")
    doc, offset = at_cursor(source)
    assert "tmp_value" not in build(doc, offset, count, 128, 32, enclosing=True).prefix
    ctx = build(doc, offset, count, 128, 32, enclosing=True, sibling=True)
    assert "    def before_set(self, parser, section, option, value):\n" \
           "        tmp_value = value.replace('%%', '')\n" in ctx.outline
    assert ctx.outline.index("tmp_value") < ctx.outline.index("class Extended:")
    assert "unrelated" not in ctx.prefix and "other_" not in ctx.prefix
    assert ctx.prefix.endswith("class Extended:\n    def before_set(self, parser, section, "
                               "option, value):\n        t")
    plain = build(doc, offset, count, 128, 32)
    assert "tmp_value" not in plain.prefix
    unlike = at_cursor(source.replace("class Extended:\n    def before_set(self, parser, "
                                      "section, option, value):",
                                      "class Extended:\n    def write(self, fp):"))
    assert "tmp_value" not in build(*unlike, count, 128, 32, enclosing=True,
                                    sibling=True).prefix
