"""The workspace index: which files it reads (as git lists them), what it keeps of each,
and how it stays current, on small workspaces made in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refact_lsp import workspace
from refact_lsp.workspace import (
    MAX_FILE_BYTES,
    BackgroundIndexer,
    DefinitionKind,
    WorkspaceIndex,
    normalize,
)


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def built(root: Path) -> WorkspaceIndex:
    """The index of `root`, parsed in this process (a child costs a second to start)."""
    index = WorkspaceIndex([root], isolated=False)
    while index.build_step(1.0):
        pass
    return index


def indexed(index: WorkspaceIndex, root: Path) -> set[str]:
    base = normalize(root)
    with index._lock:
        return {path[len(base) + 1:] for path in index._files}


@pytest.fixture(autouse=True)
def no_edit_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspace, "EDIT_QUIET_S", 0.0)


# -- which files --------------------------------------------------------------------------


def test_gitignore_files_at_every_level_and_git_exclude(tmp_path: Path) -> None:
    write(tmp_path, {
        ".gitignore": "ignored.py\ngenerated/\n*.log\n",
        ".git/info/exclude": "excluded.py\n",
        "main.py": "def main(): pass\n",
        "ignored.py": "x = 1\n",
        "excluded.py": "x = 1\n",
        "generated/out.py": "x = 1\n",
        "deep/generated/out.py": "x = 1\n",
        "sub/.gitignore": "*.py\n!kept.py\n",
        "sub/dropped.py": "x = 1\n",
        "sub/kept.py": "def kept(): pass\n",
        "sub/lib.js": "function f() {}\n",
    })
    assert indexed(built(tmp_path), tmp_path) == {"main.py", "sub/kept.py", "sub/lib.js"}


def test_vendored_hidden_virtualenv_large_binary_linked_and_unknown_files_are_skipped(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    write(outside, {"secret.py": "def secret(): pass\n", "lib/inner.py": "def inner(): pass\n"})
    write(root, {
        "app.py": "def app(): pass\n",
        "node_modules/pkg/index.js": "function f() {}\n",
        ".venv/lib/x.py": "x = 1\n",
        "myenv/pyvenv.cfg": "home = /usr\n",
        "myenv/lib/y.py": "y = 1\n",
        "target/debug/build.rs": "fn main() {}\n",
        "dist/bundle.js": "function f() {}\n",
        "vendor/dep/dep.go": "package dep\n",
        "big.py": "x = 1\n" * (MAX_FILE_BYTES // 6 + 1),
        "binary.py": b"x = 1\n\x00\x01",
        "notes.txt": "def not_code(): pass\n",
    })
    (root / "linked.py").symlink_to(outside / "secret.py")
    (root / "linked_dir").symlink_to(outside / "lib")
    index = built(root)
    assert indexed(index, root) == {"app.py"}
    index.file_changed(root / "linked.py")  # a watcher's event does not open the link either
    while index.build_step(1.0):
        pass
    assert indexed(index, root) == {"app.py"}


def test_the_index_writes_nothing_in_the_workspace(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "x/\n", "a.py": "import b\n", "b.py": "def f(): pass\n"})
    before = sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    built(tmp_path)
    assert sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


# -- what it keeps --------------------------------------------------------------------------


def test_python_definitions_kinds_headers_and_lines(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": (
        "import os\n"                       # 0
        "\n"                                # 1
        "@decorator\n"                      # 2
        "def top(a,\n"                      # 3
        "        b):  # a comment\n"        # 4
        "    return a\n"                    # 5
        "\n"                                # 6
        "class Shape(Base):\n"              # 7
        "    '''Doc.'''\n"                  # 8
        "    def area(self) -> float:\n"    # 9
        "        def inner(): pass\n"       # 10
        "        return 0.0\n"              # 11
        "LIMIT: int = 4\n"                  # 12
        "a.b = LIMIT\n"                     # 13
        "def later():\n"                    # 14
        "    local = 1\n")})                # 15
    record = built(tmp_path).file(normalize(tmp_path / "m.py"))
    assert record is not None
    found = {d.name: d for d in record.definitions}
    assert [(d.name, d.kind, d.line, d.body_line, d.end_line, d.depth)
            for d in record.definitions] == [
        ("top", DefinitionKind.FUNCTION, 2, 5, 5, 0),
        ("Shape", DefinitionKind.CLASS, 7, 8, 11, 0),
        ("area", DefinitionKind.METHOD, 9, 10, 11, 1),
        ("inner", DefinitionKind.FUNCTION, 10, 11, 10, 2),
        ("LIMIT", DefinitionKind.CONSTANT, 12, 13, 12, 0),  # top-level variables only
        ("later", DefinitionKind.FUNCTION, 14, 15, 15, 0),
    ]
    assert found["LIMIT"].header == "LIMIT: int = 4"
    assert found["top"].header == "def top(a,\n        b):"
    assert found["area"].header == "    def area(self) -> float:"
    assert [imp.module for imp in record.imports] == ["os"]


@pytest.mark.parametrize(("name", "source", "expected"), [
    ("a.ts", "interface Shape { area(): number }\n"
             "type Id = string;\n"
             "export class Circle implements Shape {\n  area(): number { return 1; }\n}\n"
             "const make = (r: number) => new Circle();\n"
             "export const isServer = typeof window === 'undefined';\n"
             "function f() { const local = 1; }\n",
     [("Shape", "type", "interface Shape {"), ("Id", "type", "type Id = string;"),
      ("Circle", "class", "export class Circle implements Shape {"),
      ("area", "method", "  area(): number {"),
      ("make", "function", "const make = (r: number) => new Circle();"),
      ("isServer", "constant", "export const isServer = typeof window === 'undefined';"),
      ("f", "function", "function f() {")]),
    ("a.go", "package a\n\ntype Store struct {\n\tpath string\n}\n\n"
             "func (s *Store) Get(key string) string {\n\treturn key\n}\n\n"
             "func Open(path string) *Store { return nil }\n",
     [("Store", "type", "type Store struct {"),
      ("Get", "method", "func (s *Store) Get(key string) string {"),
      ("Open", "function", "func Open(path string) *Store {")]),
    ("a.rs", "pub struct Client { url: String }\n"
             "impl Client {\n    pub fn get(&self) -> u32 { 1 }\n}\n"
             "pub trait Fetch {\n    fn fetch(&self);\n}\n",
     [("Client", "type", "pub struct Client {"),
      ("get", "method", "    pub fn get(&self) -> u32 {"),
      ("Fetch", "type", "pub trait Fetch {"), ("fetch", "method", "    fn fetch(&self);")]),
    ("A.java", "package p;\npublic class A {\n  public int size(int x) { return x; }\n}\n",
     [("A", "class", "public class A {"), ("size", "method", "  public int size(int x) {")]),
    ("a.c", "struct point { int x; };\nstatic int add(int a, int b) { return a + b; }\n"
            "#define MAX(a, b) ((a) > (b) ? (a) : (b))\n",
     [("point", "type", "struct point {"), ("add", "function", "static int add(int a, int b) {"),
      ("MAX", "macro", "#define MAX(a, b) ((a) > (b) ? (a) : (b))")]),
])
def test_definitions_in_other_languages(tmp_path: Path, name: str, source: str,
                                        expected: list[tuple[str, str, str]]) -> None:
    write(tmp_path, {name: source})
    record = built(tmp_path).file(normalize(tmp_path / name))
    assert record is not None
    assert [(d.name, d.kind.value, d.header) for d in record.definitions] == expected


# -- kept current ---------------------------------------------------------------------------


def test_changed_created_and_removed_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def old(): pass\n", "pkg/b.py": "def b(): pass\n"})
    index = built(tmp_path)
    a = normalize(tmp_path / "a.py")
    assert index.defining("old") == [a]
    (tmp_path / "a.py").write_text("def new(): pass\n")
    os.utime(tmp_path / "a.py", ns=(1, time.time_ns() + 10**9))  # a new stamp, surely
    write(tmp_path, {"c.py": "def c(): pass\n"})
    index.file_changed(tmp_path / "a.py")
    index.file_changed(tmp_path / "c.py")
    while index.build_step(1.0):
        pass
    assert index.defining("old") == [] and index.defining("new") == [a]
    assert index.defining("c") == [normalize(tmp_path / "c.py")]
    (tmp_path / "pkg" / "b.py").unlink()
    index.file_removed(tmp_path / "pkg")  # a folder's deletion
    assert index.defining("b") == [] and not index.exists(normalize(tmp_path / "pkg/b.py"))


def test_an_open_documents_text_stands_for_the_file_until_closed(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def on_disk(): pass\n"})
    index = built(tmp_path)
    path = normalize(tmp_path / "a.py")
    index.document_changed(path, "def in_editor(): pass\n")
    index.file_changed(path)  # the watcher's event for the open file does not win
    while index.build_step(1.0):
        pass
    assert index.defining("in_editor") == [path] and index.defining("on_disk") == []
    assert index.lines(path) == ["def in_editor(): pass", ""]
    index.document_closed(path)
    while index.build_step(1.0):
        pass
    assert index.defining("on_disk") == [path] and index.defining("in_editor") == []


def test_an_open_document_over_the_size_limit_leaves_the_index(tmp_path: Path) -> None:
    """As a file on disk over MAX_FILE_BYTES is skipped, so is an editor's text: a 50 MB
    document is not parsed (in the child process that took the whole shutdown)."""
    write(tmp_path, {"a.py": "def on_disk(): pass\n"})
    index = built(tmp_path)
    path = normalize(tmp_path / "a.py")
    huge = "def in_editor(): pass\n" + "éééé = 1\n" * (MAX_FILE_BYTES // 10)  # bytes over
    assert len(huge) <= MAX_FILE_BYTES < len(huge.encode())
    for text in (huge, huge + "x" * MAX_FILE_BYTES):
        index.document_changed(path, text)
        while index.build_step(1.0):
            pass
        assert index.defining("in_editor") == [] and index.defining("on_disk") == []
        assert index.file(path) is None


def test_edits_wait_for_a_pause_before_the_file_is_parsed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"a.py": "def first(): pass\n"})
    index = built(tmp_path)
    monkeypatch.setattr(workspace, "EDIT_QUIET_S", 60.0)
    path = normalize(tmp_path / "a.py")
    index.document_changed(path, "def second(): pass\n")
    index.build_step(1.0)
    assert index.defining("first") == [path] and index.pending()
    opened = normalize(tmp_path / "new.py")  # a document the index has not seen yet
    index.document_changed(opened, "def third(): pass\n")
    index.build_step(1.0)
    assert index.defining("third") == [opened]


def test_an_open_file_outside_the_roots_is_indexed_from_the_editor(tmp_path: Path) -> None:
    write(tmp_path, {"root/a.py": "x = 1\n"})
    index = built(tmp_path / "root")
    elsewhere = normalize(tmp_path / "elsewhere.py")
    index.document_changed(elsewhere, "def helper(): pass\n")
    while index.build_step(1.0):
        pass
    assert index.defining("helper") == [elsewhere]
    assert index.relative(elsewhere) == elsewhere


def test_a_changed_gitignore_rescans(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "x = 1\n", "gen/b.py": "def b(): pass\n"})
    index = built(tmp_path)
    assert "gen/b.py" in indexed(index, tmp_path)
    write(tmp_path, {".gitignore": "gen/\n"})
    index.file_changed(tmp_path / ".gitignore")
    while index.build_step(1.0):
        pass
    assert indexed(index, tmp_path) == {"a.py"}


def test_lines_of_a_file_changed_since_are_not_given(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def f():\n    return 1\n"})
    index = built(tmp_path)
    path = normalize(tmp_path / "a.py")
    assert index.lines(path) == ["def f():", "    return 1", ""]
    (tmp_path / "a.py").write_text("def f():\n    return 22\n")
    assert index.lines(path) is None  # the spans no longer fit: queued again
    while index.build_step(1.0):
        pass
    assert index.lines(path) == ["def f():", "    return 22", ""]


def test_background_indexer_builds_and_waits_while_held(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": f"def f{i}(): pass\n" for i in range(20)})
    index = WorkspaceIndex([tmp_path])  # parsed in a child process, as in the server
    indexer = BackgroundIndexer(index, rest_s=0.001, idle_s=0.01)
    indexer.start()
    try:
        deadline = time.monotonic() + 10
        while index.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert index.counts() == (20, 20)
        with indexer.held():
            time.sleep(0.05)  # a step under way finishes
            write(tmp_path, {"new.py": "def fresh(): pass\n"})
            index.file_changed(tmp_path / "new.py")
            time.sleep(0.1)
            assert index.defining("fresh") == []
        deadline = time.monotonic() + 10
        while not index.defining("fresh") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert index.defining("fresh") == [normalize(tmp_path / "new.py")]
    finally:
        indexer.stop()
        index.close()


ROOT = Path(__file__).resolve().parent.parent
ORPHAN_SCRIPT = """
import os, time
from refact_lsp.workspace import Extractor
if __name__ == "__main__":
    extractor = Extractor(isolated=True)
    extractor("/nowhere/a.py", "def f(): pass\\n")
    print(*[process.pid for process in extractor._pool._processes.values()], flush=True)
    extractor._pool.submit(time.sleep, 60)  # the child is busy, as with a long parse
    time.sleep(0.5)
    os.kill(os.getpid(), 9)  # the server dies without cleaning up
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux's /proc")
def test_the_parsing_process_ends_with_a_server_that_is_killed(tmp_path: Path) -> None:
    """A killed server's parsing child went on with its file for half an hour (orphans
    of 1.5 GB each were found after a test run): it now gets SIGKILL with its parent."""
    script = tmp_path / "server.py"
    script.write_text(ORPHAN_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
