"""Retrieval at the cursor: the ranking, the budget, stability while typing, class outlines
and the ring buffer of recent chunks, without a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from refact_lsp import retrieval
from refact_lsp.prompts import ContextFile
from refact_lsp.retrieval import COMMON_NAME_FILES, Reason, RecentChunks, Snippet
from refact_lsp.workspace import WorkspaceIndex
from tests.test_workspace import built, write

CURSOR = "‸"


def count(text: str) -> int:
    return len(text) // 3 + 1


def cost(files: tuple[ContextFile, ...]) -> int:
    """What the snippets cost as the retrieval counts them: a path line per file and each
    line of the text."""
    return sum(count(item.path + "\n") + sum(count(line + "\n")
                                             for line in item.text.split("\n"))
               for item in files)


def at_cursor(index: WorkspaceIndex | None, root: Path, name: str, source: str,
              budget: int = 4000, recent: RecentChunks | None = None) -> tuple[Snippet, ...]:
    return retrieval.select(index, root / name, source.replace(CURSOR, ""),
                            source.index(CURSOR), count, budget, recent)


ENGINE = ("class Engine:\n"
          "    '''Runs jobs.'''\n"
          "    limit = 4\n"
          "\n"
          "    def __init__(self, workers: int):\n"
          "        self.workers = workers\n"
          "        self.jobs = []\n"
          "\n"
          "    def run(self, job) -> bool:\n"
          "        self.jobs.append(job)\n"
          "        return True\n")
APP = ("from core import Engine\n"
       "from text import render\n"
       "\n"
       "def main():\n"
       "    configure(verbose=True)\n"
       "    text = render('x')\n"
       "    engine = Engine(2)\n"
       "    ‸\n")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, WorkspaceIndex]:
    write(tmp_path, {
        "core.py": ENGINE,
        "text.py": "def render(template: str) -> str:\n" + "    x = 1\n" * 30 + "    return x\n",
        "setup/config.py": "def configure(verbose: bool = False) -> None:\n    pass\n",
        "notes.py": "def unrelated():\n    pass\n",
        "app.py": APP.replace(CURSOR, ""),
    })
    return tmp_path, built(tmp_path)


def test_imported_names_then_other_names_then_similar_code_most_relevant_last(
        project: tuple[Path, WorkspaceIndex]) -> None:
    root, index = project
    recent = RecentChunks()
    recent.add(root / "notes.py", "engine = Engine(2)\nengine.run(job)\nrender(engine)\n", 0)
    snippets = at_cursor(index, root, "app.py", APP, recent=recent)
    assert [(s.path, s.reason) for s in snippets] == [
        ("notes.py", Reason.SIMILAR),
        ("setup/config.py", Reason.NAMED),
        ("text.py", Reason.IMPORTED),  # used further from the cursor than Engine
        ("core.py", Reason.IMPORTED),
    ]


def test_a_class_is_shown_as_an_outline_of_its_members(
        project: tuple[Path, WorkspaceIndex]) -> None:
    root, index = project
    core = next(s for s in at_cursor(index, root, "app.py", APP) if s.path == "core.py")
    assert core.text == ("class Engine:\n"
                         "    '''Runs jobs.'''\n"
                         "    limit = 4\n"
                         "\n"
                         "    def __init__(self, workers: int):\n"
                         "\n"
                         "    def run(self, job) -> bool:\n")
    assert (core.line, core.end_line) == (0, 10)


def test_names_imported_first_win_a_tight_budget(
        project: tuple[Path, WorkspaceIndex]) -> None:
    root, index = project
    smallest = count("core.py\n") + count("class Engine:\n") + count("    # ...\n")
    snippets = at_cursor(index, root, "app.py", APP, budget=smallest)
    assert [s.path for s in snippets] == ["core.py"]
    assert snippets[0].text == "class Engine:\n    # ...\n"


def test_every_header_comes_before_any_body(project: tuple[Path, WorkspaceIndex]) -> None:
    root, index = project
    full = retrieval.retrieve(index, root / "app.py", APP.replace(CURSOR, ""),
                              APP.index(CURSOR), count, 4000)
    headers_only = sum(count(item.path + "\n") + count(item.text.split("\n")[0] + "\n")
                       + count("    # ...\n") for item in full)
    snippets = at_cursor(index, root, "app.py", APP, budget=headers_only + 12)
    assert {s.path for s in snippets} == {item.path for item in full}
    core = next(s for s in snippets if s.path == "core.py")
    assert core.text.startswith("class Engine:\n    '''Runs jobs.'''\n")  # the best gets body
    assert core.text.endswith("    # ...\n")


@pytest.mark.parametrize("budget", [0, 5, 9, 17, 30, 55, 80, 120, 200, 333, 500])
def test_the_budget_is_never_exceeded(project: tuple[Path, WorkspaceIndex],
                                      budget: int) -> None:
    root, index = project
    recent = RecentChunks()
    recent.add(root / "notes.py", "engine = Engine(2)\nengine.run(job)\nrender(engine)\n", 0)
    files = retrieval.retrieve(index, root / "app.py", APP.replace(CURSOR, ""),
                               APP.index(CURSOR), count, budget, recent)
    assert cost(files) <= budget
    assert bool(files) == (budget >= count("core.py\n") + count("class Engine:\n")
                           + count("    # ...\n"))


def test_typing_on_the_cursors_line_changes_nothing(project: tuple[Path, WorkspaceIndex]) -> None:
    root, index = project
    first = at_cursor(index, root, "app.py", APP)
    for typed in ("u", "unrel", "unrelated(", "unrelated(engine"):
        assert at_cursor(index, root, "app.py", APP.replace(CURSOR, typed + CURSOR)) == first
    assert at_cursor(index, root, "app.py", APP) == first


def test_moving_about_the_file_changes_nothing(project: tuple[Path, WorkspaceIndex]) -> None:
    """The snippets follow the file, not the cursor: the prompt warmed when the file was
    opened (at its end) serves a request on any of its lines, but one that holds a name's
    only use (here `configure`, line 4): that name is left out there."""
    root, index = project
    source = APP.replace(CURSOR, "")
    expected = at_cursor(index, root, "app.py", APP)
    assert [s.path for s in expected] == ["setup/config.py", "text.py", "core.py"]
    lines = source.splitlines(keepends=True)
    for line in range(2, len(lines) + 1):
        offset = len("".join(lines[:line]))
        snippets = retrieval.select(index, root / "app.py", source, offset, count, 4000)
        assert snippets == (expected[1:] if line == 4 else expected)


def test_an_imported_name_the_file_does_not_use_yet_is_shown(tmp_path: Path) -> None:
    """The line about to use a name that so far only the import mentions (the cross-file
    benchmark's lines): its definition is among the snippets, wherever the cursor is."""
    write(tmp_path, {"lib.py": "def helper(a, b):\n    return a + b\n\ndef other():\n    pass\n"})
    source = ("from lib import helper\n\n\ndef main():\n" + "    x = 1\n" * 200
              + "    ‸\n")
    write(tmp_path, {"app.py": source.replace(CURSOR, "")})
    snippets = at_cursor(built(tmp_path), tmp_path, "app.py", source)
    assert [(s.path, s.reason, s.text) for s in snippets] == [
        ("lib.py", Reason.IMPORTED, "def helper(a, b):\n    return a + b\n")]


def test_own_names_locals_and_common_names_are_not_looked_up(tmp_path: Path) -> None:
    common = {f"m{i}.py": "def common():\n    pass\n" for i in range(COMMON_NAME_FILES + 1)}
    write(tmp_path, {**common, "other.py": "def mine():\n    pass\ndef total():\n    pass\n"})
    source = ("def mine():\n    pass\n\ndef f():\n    total = 0\n    common()\n    mine()\n"
              "    ‸\n")
    write(tmp_path, {"app.py": source.replace(CURSOR, "")})
    assert at_cursor(built(tmp_path), tmp_path, "app.py", source) == ()


def test_names_defined_in_an_imported_module_come_first(tmp_path: Path) -> None:
    """A method used near the cursor, defined both in the module its class comes from and
    elsewhere: the imported module's definition is the one shown."""
    write(tmp_path, {
        "shapes.py": "class Circle:\n    def area(self):\n        return 3.14\n",
        "zoo/animals.py": "class Cat:\n    def area(self):\n        return 0\n",
    })
    source = "from shapes import Circle\n\nc = Circle()\nc.area()\n‸"
    write(tmp_path, {"app.py": source.replace(CURSOR, "")})
    snippets = at_cursor(built(tmp_path), tmp_path, "app.py", source)
    assert [(s.path, s.line, s.reason) for s in snippets] == [("shapes.py", 0, Reason.IMPORTED)]


def test_a_file_changed_on_disk_since_indexed_shows_its_header(tmp_path: Path) -> None:
    write(tmp_path, {"lib.py": "def helper(a, b):\n    return a + b\n"})
    index = built(tmp_path)
    (tmp_path / "lib.py").write_text("# moved\n\ndef helper(a, b):\n    return a * b\n")
    source = "from lib import helper\nhelper(1, 2)\n‸"
    snippets = at_cursor(index, tmp_path, "app.py", source)
    assert [s.text for s in snippets] == ["def helper(a, b):\n"]


def test_without_an_index_or_a_language(tmp_path: Path) -> None:
    recent = RecentChunks()
    recent.add(tmp_path / "b.py", "alpha = beta(gamma)\nprint(alpha)\n", 0)
    snippets = at_cursor(None, tmp_path, "a.py", "x = beta(gamma)\nalpha\n‸", recent=recent)
    assert [(s.path, s.reason) for s in snippets] == [((tmp_path / "b.py").as_posix(),
                                                       Reason.SIMILAR)]
    assert at_cursor(None, tmp_path, "a.txt", "beta gamma alpha\n‸", recent=recent) == ()


def test_context_files_join_a_files_snippets() -> None:
    snippets = (Snippet("a.py", 0, 1, "def f():\n    pass\n", Reason.NAMED, "#"),
                Snippet("a.py", 9, 9, "def g(): ...\n", Reason.NAMED, "#"),
                Snippet("b.ts", 0, 0, "let x = 1;\n", Reason.SIMILAR, "//"))
    assert retrieval.as_context_files(snippets) == (
        ContextFile("a.py", "def f():\n    pass\n# ...\ndef g(): ..."),
        ContextFile("b.ts", "let x = 1;"),
    )


def test_the_files_names_in_order_of_first_use_leave_out_the_cursors_line() -> None:
    text = "alpha = 1\nbeta(alpha)\ngam\ndelta(beta)"
    assert retrieval.file_names(text, text.index("gam") + 2) == (
        ("alpha", "beta", "delta"), frozenset({"alpha"}))
    assert retrieval.file_names(text, len(text))[0] == ("alpha", "beta", "gam")


# -- recent chunks ------------------------------------------------------------------------


def test_recent_chunks_replace_overlaps_and_keep_the_newest(tmp_path: Path) -> None:
    recent = RecentChunks(capacity=2, chunk_lines=4)
    lines = "\n".join(f"value_{i} = compute_{i}(input_{i})" for i in range(40))
    recent.add(tmp_path / "a.py", lines, 10)
    recent.add(tmp_path / "a.py", lines, 11)  # overlaps: replaces
    recent.add(tmp_path / "b.py", lines, 30)
    recent.add(tmp_path / "c.py", "one two three four\nfive six\n", 0)  # the oldest goes
    tokens = retrieval.identifiers("value_30 compute_30 input_30 value_31")
    similar = recent.similar(tokens, exclude="")
    assert [(chunk.path.rsplit("/", 1)[1], chunk.line) for _, chunk in similar] == [("b.py", 28)]
    assert recent.similar(tokens, exclude=(tmp_path / "b.py").as_posix()) == []
    recent.remove(tmp_path / "b.py")
    assert recent.similar(tokens, exclude="") == []


def test_code_that_shares_only_keywords_and_short_names_is_not_similar(tmp_path: Path) -> None:
    """Any two functions of a language share `def`, `for`, `return`, `i`: such a chunk of an
    unrelated file would lengthen and change the prompt for nothing."""
    recent = RecentChunks()
    recent.add(tmp_path / "b.py", "def total(values, weights):\n    for i in range(len(values)):\n"
               "        if i:\n            return i\n    return None\n", 0)
    source = "def count_vowels(word):\n    for c in range(len(word)):\n        if c:\n" \
             "            return c\n‸"
    assert at_cursor(None, tmp_path, "a.py", source, recent=recent) == ()
    related = "def total_weight(values, weights):\n    return weights\n‸"
    assert [s.reason for s in at_cursor(None, tmp_path, "a.py", related, recent=recent)] \
        == [Reason.SIMILAR]


def test_recent_chunks_skip_nearly_empty_text(tmp_path: Path) -> None:
    recent = RecentChunks()
    recent.add(tmp_path / "a.py", "\n\n  x\n", 1)
    assert recent.similar(frozenset({"x"}), exclude="") == []
