"""The workspace index: the definitions and imports of the source files under the
workspace's folders, built in the background and kept current.

What is kept is small: per file its definitions (name, kind, header, lines) and imports,
never its tree and never its text, except for the text an editor holds for an open
document (the index's lines must match the text retrieval reads). A snippet's body is
read from disk when it is needed, and only where the file is still the one indexed.

Which files: those of known languages (grammars/*.scm say which) under the root folders,
as git would list them (.gitignore files at every level, `.git/info/exclude`), without
hidden, vendored and build folders (`SKIPPED_FOLDERS`, virtual environments), files over
`MAX_FILE_BYTES`, binary files and symbolic links (so nothing outside a root is read).
The index only reads.

Cost. Work is done in `build_step`s of one folder or one file each, meant for a
`BackgroundIndexer` thread; files are parsed in a child process at a lower priority
(`Extractor` says why), so the thread mostly waits, without the GIL. Open documents'
edits wait `EDIT_QUIET_S` so that typing does not reparse the file at every keystroke.
The records are plain tuples, which the garbage collector does not track: a large index
does not lengthen its full collections, which hold the GIL.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import multiprocessing
import os
import posixpath
import re
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from enum import Enum
from pathlib import Path
from typing import NamedTuple

import pathspec
from tree_sitter import Node, Parser, QueryCursor

from refact_lsp import imports, languages
from refact_lsp.imports import Import
from refact_lsp.languages import Language

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1 << 20
BINARY_PROBE_BYTES = 8192  # a NUL byte among these makes a file binary
SKIPPED_FOLDERS = frozenset({
    "node_modules", "bower_components", "jspm_packages", "venv", "env", "virtualenv",
    "site-packages", "target", "dist", "build", "out", "vendor", "third_party", "__pycache__",
    "Pods", "DerivedData", "coverage", "htmlcov", "bazel-bin", "bazel-out", "bazel-testlogs",
})  # and every folder whose name starts with "." (.git, .venv, .tox, .next, .cache ...)
VIRTUALENV_MARKER = "pyvenv.cfg"
CHILD_NICENESS = 10  # the parsing process's priority below the server's
PR_SET_PDEATHSIG = 1  # prctl(2): a signal for this process when its parent ends
HEADER_MAX_CHARS = 400  # a longer signature is kept by its first line
EDIT_QUIET_S = 1.0  # an open document is reindexed once its edits pause this long
TEXT_CACHE_FILES = 16  # file texts kept for retrieval's snippets
WALK_BATCH = 64  # files listed per step of the walk
# `constant`: a top-level variable (Python, JavaScript, TypeScript), a definition for the
# index only (the document's context has no use for it); grammars without one lack it.
INDEX_CAPTURES = frozenset({"definition", "constant", "name", "import"})
BODY_CAPTURES = frozenset({"block"})

_GO_MODULE = re.compile(r"^\s*module\s+(\S+)", re.MULTILINE)
_CARGO_NAME = re.compile(r'^\s*name\s*=\s*"([^"]+)"', re.MULTILINE)


class DefinitionKind(str, Enum):
    FUNCTION = "function"
    METHOD = "method"
    CLASS = "class"
    TYPE = "type"  # interfaces, structs, enums, type aliases, traits
    MODULE = "module"  # namespaces, Rust modules, Ruby modules
    CONSTANT = "constant"
    MACRO = "macro"
    PROPERTY = "property"
    OTHER = "other"


# Kinds by the grammars' node types: the queries capture `@definition` without saying what.
_KINDS = {kind: DefinitionKind(value) for value, kinds in {
    "function": ("function_definition", "function_declaration", "function_item",
                 "generator_function_declaration", "function_signature",
                 "function_signature_item", "local_function_statement", "lexical_declaration",
                 "variable_declaration"),
    "method": ("method_definition", "method_declaration", "constructor_declaration",
               "method", "singleton_method"),
    "class": ("class_definition", "class_declaration", "abstract_class_declaration",
              "class_specifier", "class", "record_declaration"),
    "type": ("interface_declaration", "type_alias_declaration", "enum_declaration",
             "struct_specifier", "union_specifier", "enum_specifier", "type_definition",
             "alias_declaration", "struct_item", "enum_item", "union_item", "trait_item",
             "type_item", "type_declaration", "struct_declaration", "trait_declaration",
             "annotation_type_declaration", "impl_item"),
    "module": ("internal_module", "mod_item", "namespace_definition", "namespace_declaration",
               "module"),
    "constant": ("const_item", "static_item", "preproc_def"),
    "macro": ("macro_definition", "preproc_function_def"),
    "property": ("property_declaration",),
}.items() for kind in kinds}
_MEMBER_OF = frozenset({DefinitionKind.CLASS, DefinitionKind.TYPE})


class Definition(NamedTuple):
    """A named definition: where it is and how it starts. Lines are 0-based.

    The index's records are tuples of strings and numbers only (a kind is kept by its
    value): the garbage collector stops tracking those, so that a large index does not
    lengthen every full collection, which holds the GIL throughout."""

    name: str
    kind_value: str  # a DefinitionKind's value
    header: str  # its signature: the lines up to its body's opening, or all of a short one
    line: int  # its first line, decorators included
    body_line: int  # the first line after the header (end_line + 1 where there is no body)
    end_line: int
    depth: int  # how many definitions enclose it, namespaces and modules aside: 0 at the top

    @property
    def kind(self) -> DefinitionKind:
        return DefinitionKind(self.kind_value)


_NAME, _LINE, _END_LINE, _DEPTH = (Definition._fields.index(field)
                                   for field in ("name", "line", "end_line", "depth"))


class SourceFile(NamedTuple):
    """What the index keeps of one file. Its definitions and imports are kept as plain
    tuples (the collector does not track those, nor tuples of them; it does track named
    tuples), the definitions in the order of their names, to be found by bisection."""

    path: str  # absolute, with "/"
    language: str  # the grammar's name
    stamp: tuple[int, int] | None  # (mtime_ns, size) of the text read from disk
    definition_rows: tuple[tuple, ...]  # Definition fields, by name and line
    import_rows: tuple[tuple, ...]
    namespaces: tuple[str, ...]
    text: str | None = None  # an open document's text, which the disk does not hold

    @classmethod
    def of(cls, path: str, language: str, stamp: tuple[int, int] | None,
           found: Iterable[Definition], imported: Iterable[Import],
           namespaces: tuple[str, ...], text: str | None = None) -> SourceFile:
        rows = sorted((tuple(row) for row in found), key=lambda row: (row[_NAME], row[_LINE]))
        return cls(path, language, stamp, tuple(rows), tuple(tuple(row) for row in imported),
                   namespaces, text)

    @property
    def definitions(self) -> list[Definition]:
        """All of them, in file order."""
        return sorted((Definition._make(row) for row in self.definition_rows),
                      key=lambda definition: (definition.line, definition.depth))

    @property
    def imports(self) -> tuple[Import, ...]:
        return tuple(Import._make(row) for row in self.import_rows)

    def names(self) -> set[str]:
        return {row[_NAME] for row in self.definition_rows}

    def defined(self, name: str) -> list[Definition]:
        """The definitions of `name` here."""
        rows = self.definition_rows
        index = bisect.bisect_left(rows, name, key=_row_name)
        found = []
        while index < len(rows) and rows[index][_NAME] == name:
            found.append(Definition._make(rows[index]))
            index += 1
        return found

    def top_level(self, names: Collection[str]) -> list[Definition]:
        """The top-level definitions of these names (a file has fewer than a file's names)."""
        return [Definition._make(row) for row in self.definition_rows
                if row[_DEPTH] == 0 and row[_NAME] in names]

    def members(self, outer: Definition) -> list[Definition]:
        """The definitions directly inside another."""
        return [Definition._make(row) for row in self.definition_rows
                if row[_DEPTH] == outer.depth + 1 and outer.line <= row[_LINE]
                and row[_END_LINE] <= outer.end_line]


def _row_name(row: tuple) -> str:
    return row[_NAME]


# -- extraction --------------------------------------------------------------------------


def definitions(language: Language, root: Node, data: bytes) -> list[Definition]:
    """The named definitions of a parsed file, in file order."""
    return _extract(language, root, data)[0]


def _extract(language: Language, root: Node, data: bytes
             ) -> tuple[list[Definition], list[Node]]:
    """The definitions of a parsed file, and its import statements' nodes."""
    query = languages.narrowed_query(language.name, INDEX_CAPTURES)
    named: dict[tuple[int, int], tuple[Node, str]] = {}
    unnamed: dict[tuple[int, int], Node] = {}  # Python's decorated definitions, Rust's impls
    statements: dict[tuple[int, int], Node] = {}
    constants: set[tuple[int, int]] = set()  # top-level variables (`@constant`)
    functions: set[tuple[int, int]] = set()  # ... and `@definition`s (`const f = () => 1`)
    for _, match in QueryCursor(query).matches(root):
        for node in match.get("import", ()):
            statements[(node.start_byte, node.end_byte)] = node
        found, names = match.get("definition") or match.get("constant"), match.get("name")
        if found and names:
            key = (found[0].start_byte, found[0].end_byte)
            named[key] = (found[0], names[0].text.decode("utf-8", "replace"))
            (constants if "constant" in match else functions).add(key)
        elif found:
            unnamed[(found[0].start_byte, found[0].end_byte)] = found[0]
    decorated: dict[tuple[int, int], Node] = {}  # a definition -> the wrapper of its decorators
    for key, (node, _) in named.items():
        parent = node.parent
        if parent is not None and (parent.start_byte, parent.end_byte) in unnamed:
            decorated[key] = unnamed.pop((parent.start_byte, parent.end_byte))
    constants -= functions
    result: list[Definition] = []
    enclosing: list[tuple[int, DefinitionKind]] = []  # (end byte, kind) of open definitions
    for (start, end), node in sorted({**unnamed, **{key: node for key, (node, _) in named.items()}}
                                     .items(), key=lambda item: (item[0][0], -item[0][1])):
        while enclosing and enclosing[-1][0] <= start:
            enclosing.pop()
        kind = DefinitionKind.CONSTANT if (start, end) in constants \
            else _KINDS.get(node.type, DefinitionKind.OTHER)
        if kind is DefinitionKind.FUNCTION and enclosing and enclosing[-1][1] in _MEMBER_OF:
            kind = DefinitionKind.METHOD
        if (start, end) in named:
            first = decorated.get((start, end), node)  # decorators belong to what they decorate
            depth = sum(1 for _, outer in enclosing if outer is not DefinitionKind.MODULE)
            result.append(_definition(data, node, _body(language, node), named[(start, end)][1],
                                      kind, depth, first.start_point.row))
        enclosing.append((end, kind))
    return result, [statements[key] for key in sorted(statements)]


def _body(language: Language, node: Node) -> Node | None:
    """A definition's body: its `body` field, else the first `@block` inside it (looked
    for only then: a file has many more blocks than definitions)."""
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    cursor = QueryCursor(languages.narrowed_query(language.name, BODY_CAPTURES))
    cursor.set_byte_range(node.start_byte, node.end_byte)
    inside = [block for block in cursor.captures(node).get("block", ())
              if node.start_byte < block.start_byte and block.end_byte <= node.end_byte]
    return min(inside, key=lambda block: block.start_byte, default=None)


def _definition(data: bytes, node: Node, body: Node | None, name: str,
                kind: DefinitionKind, depth: int, line: int) -> Definition:
    line_start = data.rfind(b"\n", 0, node.start_byte) + 1
    header_end = node.end_byte if body is None else _header_end(body)
    header = data[line_start:header_end].decode("utf-8", "replace").rstrip()
    body_line = node.start_point.row + header.count("\n") + 1
    if body is None:
        body_line = node.end_point.row + 1
    if len(header) > HEADER_MAX_CHARS:
        header = header.partition("\n")[0][:HEADER_MAX_CHARS]
    return Definition(name, kind.value, header, line, body_line, node.end_point.row, depth)


def _header_end(body: Node) -> int:
    """Where a definition's header ends: after its body's opening token (`{`), or after
    the token before a body that opens with its first statement (Python's `:`)."""
    opener = body.child(0) if body.child_count else None
    if opener is not None and not opener.is_named:
        return opener.end_byte
    before = body.prev_sibling
    while before is not None and before.is_extra:  # a comment after the `:`
        before = before.prev_sibling
    return before.end_byte if before is not None else body.start_byte


def _import_statements(language: Language, root: Node, captured: list[Node]) -> list[Import]:
    nodes = list(captured)
    reexport = imports.REEXPORT_NODE_TYPES.get(language.name)
    if reexport:
        nodes += [child for child in root.children if child.type == reexport
                  and child.child_by_field_name("source") is not None]
    return [found for node in nodes for found in imports.parse(
        language.name, node.text.decode("utf-8", "replace"), node.start_point.row)]


def read_source(path: str) -> tuple[bytes, tuple[int, int]] | None:
    """A file's bytes and stamp, or None where it is missing, too large or binary."""
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            if stat.st_size > MAX_FILE_BYTES:
                return None
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES or b"\0" in data[:BINARY_PROBE_BYTES]:
        return None
    return data, (stat.st_mtime_ns, stat.st_size)


_parsers = threading.local()  # a parser per language and thread (they are not shareable)


def index_file(path: str, text: str | None = None) -> SourceFile | None:
    """What the index keeps of one file, from `text` (an editor's) or else from disk; None
    where the file is missing, too large, binary or of no known language."""
    language = language_of(path)
    if language is None:
        return None
    if text is not None:
        data, stamp = text.encode("utf-8", "surrogatepass"), None
        if len(data) > MAX_FILE_BYTES:
            return None  # as large a file on disk is skipped
    else:
        read = read_source(path)
        if read is None:
            return None
        data, stamp = read
    parsers = _parsers.__dict__
    parser = parsers.get(language.name) or parsers.setdefault(
        language.name, Parser(language.ts_language))
    root = parser.parse(data).root_node
    found, statements = _extract(language, root, data)
    return SourceFile.of(path, language.name, stamp, found,
                         _import_statements(language, root, statements),
                         imports.namespaces(language.name, data.decode("utf-8", "replace")),
                         text)


class Extractor:
    """Runs `index_file` in a child process at a lower priority, or, not `isolated` (for
    tests), in the calling thread.

    Why a process: tree-sitter holds the GIL for a whole parse, a quarter of a second for
    a 1 MB file on these cores, and the bindings' way to parse in pieces (a read callback)
    leaks every piece in tree-sitter 0.26.1. A child parses without touching the server's
    GIL, the scheduler gives requests the CPU first, and a grammar that crashes on some
    file costs that file, not the server.
    """

    def __init__(self, isolated: bool = True) -> None:
        self.isolated = isolated
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, path: str, text: str | None) -> SourceFile | None:
        if text is not None and len(text) > MAX_FILE_BYTES:
            return None  # too large to index (index_file): not worth sending to the child
        if not self.isolated:
            return index_file(path, text)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_in_child, initargs=(os.getpid(),))
        try:
            return self._pool.submit(index_file, path, text).result()
        except BrokenProcessPool:
            log.warning("indexing %s ended the parsing process; the file is skipped", path)
            self._pool = None
            return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _in_child(server: int) -> None:
    """The parsing process runs below the server's priority, and ends with the server:
    a server killed mid-parse must not leave it working on. Linux sends it SIGKILL when
    the thread that started it ends (the indexer's, which lives as long as the server);
    elsewhere the pool's pipe closing ends it after the file at hand."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(CHILD_NICENESS)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server:  # the server ended before the line above
            os._exit(0)


# -- which files -------------------------------------------------------------------------


def language_of(path: str) -> Language | None:
    return _language_by_suffix(posixpath.splitext(path)[1].lower())


_suffix_cache: dict[str, Language | None] = {}


def _language_by_suffix(suffix: str) -> Language | None:
    if suffix not in _suffix_cache:
        _suffix_cache[suffix] = languages.language_for(None, "file:///x" + suffix) if (
            suffix) else None
    return _suffix_cache[suffix]


IgnoreChain = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]


class FileFilter:
    """Which paths under the roots are the workspace's sources, as git lists them."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.roots = tuple(roots)
        self._chains: dict[str, IgnoreChain | None] = {}  # folder -> its rules; None: skipped

    def root_of(self, path: str) -> str | None:
        found = [root for root in self.roots if path == root or path.startswith(
            root.rstrip("/") + "/")]
        return max(found, key=len) if found else None

    def chain(self, folder: str) -> IgnoreChain | None:
        """The ignore rules in force inside a folder, or None where the folder is skipped."""
        if folder in self._chains:
            return self._chains[folder]
        root = self.root_of(folder)
        if root is None:
            return None
        if folder == root:
            chain: IgnoreChain | None = _with_rules((), folder, os.path.join(
                folder, ".git", "info", "exclude"))
        else:
            parent = self.chain(posixpath.dirname(folder))
            chain = None if parent is None or self._skipped(folder, parent) else parent
        if chain is not None:
            chain = _with_rules(chain, folder, os.path.join(folder, ".gitignore"))
        self._chains[folder] = chain
        return chain

    def _skipped(self, folder: str, parent: IgnoreChain) -> bool:
        name = posixpath.basename(folder)
        return (name.startswith(".") or name in SKIPPED_FOLDERS or os.path.islink(folder)
                or os.path.exists(os.path.join(folder, VIRTUALENV_MARKER))
                or _ignored(parent, folder, True))

    def accepts(self, path: str) -> bool:
        """Whether a file is one the index keeps (it may not exist any more)."""
        chain = self.chain(posixpath.dirname(path))
        return (chain is not None and language_of(path) is not None
                and not os.path.islink(path) and not _ignored(chain, path, False))

    def forget(self, folder: str) -> None:
        """Reread a folder's .gitignore (and its subfolders') when next asked."""
        prefix = folder.rstrip("/") + "/"
        for known in list(self._chains):  # a copy: the walk may add folders meanwhile
            if known == folder or known.startswith(prefix):
                self._chains.pop(known, None)

    def walk(self) -> Iterator[str]:
        """Every accepted file, one folder at a time, in a stable order."""
        stack = sorted(self.roots, reverse=True)
        while stack:
            folder = stack.pop()
            chain = self.chain(folder)
            if chain is None:
                continue
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError:
                continue
            subfolders = []
            for entry in entries:
                path = posixpath.join(folder, entry.name)
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    subfolders.append(path)
                elif (language_of(path) is not None and not _ignored(chain, path, False)
                      and _size(entry) <= MAX_FILE_BYTES):
                    yield path
            stack.extend(reversed(subfolders))


def _size(entry: os.DirEntry) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return MAX_FILE_BYTES + 1


def _with_rules(chain: IgnoreChain, folder: str, rules: str) -> IgnoreChain:
    try:
        with open(rules, encoding="utf-8", errors="replace") as file:
            spec = pathspec.GitIgnoreSpec.from_lines(file.read().splitlines())
    except (OSError, ValueError):
        return chain
    return (*chain, (folder, spec))


def _ignored(chain: IgnoreChain, path: str, folder: bool) -> bool:
    """Git's answer: the deepest rules file with a pattern for the path decides."""
    for base, spec in reversed(chain):
        relative = posixpath.relpath(path, base) + ("/" if folder else "")
        include = spec.check_file(relative).include
        if include is not None:
            return include
    return False


# -- the index ---------------------------------------------------------------------------


class _Catalog:
    """The files the index knows, parsed or not yet, found the ways imports name them:
    by the end of their path, their folder, their declared namespace."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self._by_basename: dict[str, tuple[str, ...]] = {}
        self._by_folder: dict[str, tuple[str, ...]] = {}
        self._by_namespace: dict[str, tuple[str, ...]] = {}
        self._go_modules: dict[str, tuple[str, str] | None] = {}
        self._crate_names: dict[str, str] = {}

    def add(self, path: str) -> None:
        if path not in self.known:
            self.known.add(path)
            folder, name = posixpath.split(path)
            _add(self._by_basename, name, path)
            _add(self._by_folder, folder, path)

    def remove(self, path: str) -> None:
        if path in self.known:
            self.known.discard(path)
            folder, name = posixpath.split(path)
            _discard(self._by_basename, name, path)
            _discard(self._by_folder, folder, path)

    def set_namespaces(self, path: str, old: Iterable[str], new: Iterable[str]) -> None:
        for namespace in old:
            _discard(self._by_namespace, namespace, path)
        for namespace in new:
            _add(self._by_namespace, namespace, path)

    def forget_manifests(self) -> None:
        """go.mod and Cargo.toml files are read again when next needed."""
        self._go_modules.clear()
        self._crate_names.clear()

    # FileLookup (imports.py)
    def exists(self, path: str) -> bool:
        return path in self.known

    def with_tail(self, tail: str) -> list[str]:
        return [path for path in self._by_basename.get(posixpath.basename(tail), ())
                if path.endswith("/" + tail)]

    def in_directory(self, directory: str) -> list[str]:
        return list(self._by_folder.get(directory, ()))

    def in_namespace(self, namespace: str) -> list[str]:
        return list(self._by_namespace.get(namespace, ()))

    def crate_source(self, name: str) -> str | None:
        """A library crate's `src` folder, by the name in its Cargo.toml (else its folder's)."""
        found = sorted(posixpath.dirname(path) for path in self._by_basename.get("lib.rs", ())
                       if posixpath.basename(posixpath.dirname(path)) == "src"
                       and self._crate_name(posixpath.dirname(posixpath.dirname(path))) == name)
        return found[0] if found else None

    def _crate_name(self, folder: str) -> str:
        if folder not in self._crate_names:
            try:
                with open(posixpath.join(folder, "Cargo.toml"), encoding="utf-8") as file:
                    match = _CARGO_NAME.search(file.read(65536))
            except OSError:
                match = None
            name = match.group(1) if match else posixpath.basename(folder)
            self._crate_names[folder] = name.replace("-", "_")
        return self._crate_names[folder]

    def go_module(self, path: str) -> tuple[str, str] | None:
        folder = posixpath.dirname(path)
        if folder not in self._go_modules:
            found = None
            try:
                with open(posixpath.join(folder, "go.mod"), encoding="utf-8") as file:
                    match = _GO_MODULE.search(file.read(65536))
                found = (match.group(1), folder) if match else None
            except OSError:
                parent = posixpath.dirname(folder)
                found = self.go_module(folder) if parent != folder else None
            self._go_modules[folder] = found
        return self._go_modules[folder]


def _add(table: dict[str, tuple[str, ...]], key: str, path: str) -> None:
    """Tables hold tuples of strings, which the garbage collector does not track."""
    table[key] = (*table.get(key, ()), path)


def _discard(table: dict[str, tuple[str, ...]], key: str, path: str) -> None:
    paths = table.get(key, ())
    if path in paths:
        remaining = tuple(other for other in paths if other != path)
        if remaining:
            table[key] = remaining
        else:
            del table[key]


def normalize(path: str | os.PathLike[str]) -> str:
    """The absolute path, with "/", that the index keys files by."""
    return Path(os.path.abspath(path)).as_posix()


class WorkspaceIndex:
    """The definitions and imports of the workspace's files, by file and by name.

    Thread-safe: one thread builds (`build_step`), any thread feeds changes and reads.
    """

    def __init__(self, roots: Iterable[str | os.PathLike[str]], isolated: bool = True) -> None:
        self.extractor = Extractor(isolated)
        self.filter = FileFilter([normalize(os.path.realpath(root)) for root in roots
                                  if os.path.isdir(root)])
        self.catalog = _Catalog()
        self.longest_step_s = 0.0  # the longest single unit of work so far, for measuring
        self._lock = threading.RLock()
        self._building = threading.Lock()
        self._files: dict[str, SourceFile] = {}
        self._defining: dict[str, tuple[str, ...]] = {}
        self._walk: Iterator[str] | None = None
        self._seen: set[str] = set()
        self._queue: OrderedDict[str, None] = OrderedDict()
        self._changes: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._open: set[str] = set()
        self._texts: OrderedDict[str, tuple[tuple[int, int], list[str]]] = OrderedDict()
        self.rescan()

    # -- feeding ----------------------------------------------------------------------

    def rescan(self) -> None:
        """Walk the roots again (after a .gitignore or a folder changed): new files are
        indexed, unchanged ones kept, vanished ones dropped."""
        with self._lock:
            self._walk, self._seen = self.filter.walk(), set()

    def document_changed(self, path: str | os.PathLike[str], text: str) -> None:
        """An open document's text (didOpen, didChange): it stands for the file until
        `document_closed`, and is indexed once its edits pause."""
        key = normalize(path)
        if language_of(key) is None:
            return
        with self._lock:
            self._open.add(key)
            self._changes[key] = (text, time.monotonic())
            self._changes.move_to_end(key)

    def document_closed(self, path: str | os.PathLike[str]) -> None:
        key = normalize(path)
        with self._lock:
            self._open.discard(key)
            self._changes.pop(key, None)
            self._changes[key] = (None, 0.0)

    def file_changed(self, path: str | os.PathLike[str]) -> None:
        """A file or folder was created or changed on disk (didSave, didChangeWatchedFiles)."""
        key = normalize(path)
        name = posixpath.basename(key)
        with self._lock:
            if name in (".gitignore", "exclude") or os.path.isdir(key):
                self.filter.forget(posixpath.dirname(key) if name == ".gitignore" else key)
                self.rescan()
            elif name in ("go.mod", "Cargo.toml"):
                self.catalog.forget_manifests()
            elif key not in self._open:
                self._changes[key] = (None, 0.0)

    def file_removed(self, path: str | os.PathLike[str]) -> None:
        """A file or a folder was deleted."""
        key = normalize(path)
        prefix = key.rstrip("/") + "/"
        with self._lock:
            for known in [known for known in self.catalog.known
                          if (known == key or known.startswith(prefix))
                          and known not in self._open]:
                self._drop(known)

    def want(self, paths: Iterable[str]) -> None:
        """Index these known files next: retrieval found them and needs their definitions."""
        with self._lock:
            for path in paths:
                if path in self._queue:
                    self._queue.move_to_end(path, last=False)

    def build_step(self, budget_s: float = 0.02) -> bool:
        """Do units of work (one folder's listing or one file) for about `budget_s`;
        whether work remains. One builder at a time: a concurrent call does nothing."""
        if not self._building.acquire(blocking=False):
            return True
        try:
            deadline = time.perf_counter() + budget_s
            while True:
                started = time.perf_counter()
                if not self._work():
                    return self._has_work()
                finished = time.perf_counter()
                self.longest_step_s = max(self.longest_step_s, finished - started)
                if finished >= deadline:
                    return True
        finally:
            self._building.release()

    def close(self) -> None:
        """End the parsing process (the index stays readable)."""
        self.extractor.close()

    def pending(self) -> bool:
        """Whether work remains, the file being parsed now included."""
        return self._building.locked() or self._has_work()

    def _has_work(self) -> bool:
        with self._lock:
            return bool(self._walk or self._queue or self._changes)

    # -- reading ----------------------------------------------------------------------

    def file(self, path: str) -> SourceFile | None:
        with self._lock:
            return self._files.get(path)

    def defining(self, name: str) -> list[str]:
        """The files that define `name`."""
        with self._lock:
            return list(self._defining.get(name, ()))

    def lines(self, path: str) -> list[str] | None:
        """The lines of the text the file's definitions were taken from, or None where the
        file changed since (it is queued to be indexed again)."""
        record = self.file(path)
        if record is None:
            return None
        if record.text is not None:
            return record.text.split("\n")
        if _stamp(path) != record.stamp:
            self.file_changed(path)
            return None
        with self._lock:
            cached = self._texts.get(path)
        if cached is None or cached[0] != record.stamp:
            read = read_source(path)
            if read is None or read[1] != record.stamp:
                self.file_changed(path)
                return None
            cached = (read[1], read[0].decode("utf-8", "replace").split("\n"))
        with self._lock:
            self._texts[path] = cached
            self._texts.move_to_end(path)
            while len(self._texts) > TEXT_CACHE_FILES:
                self._texts.popitem(last=False)
        return cached[1]

    def relative(self, path: str) -> str:
        """A file's path as shown to the model: relative to its root folder."""
        root = self.filter.root_of(path)
        return posixpath.relpath(path, root) if root else path

    def counts(self) -> tuple[int, int]:
        """(files indexed, files known)."""
        with self._lock:
            return len(self._files), len(self.catalog.known)

    # FileLookup (imports.py), for resolving imports
    def exists(self, path: str) -> bool:
        with self._lock:
            return self.catalog.exists(path)

    def with_tail(self, tail: str) -> list[str]:
        with self._lock:
            return self.catalog.with_tail(tail)

    def in_directory(self, directory: str) -> list[str]:
        with self._lock:
            return self.catalog.in_directory(directory)

    def in_namespace(self, namespace: str) -> list[str]:
        with self._lock:
            return self.catalog.in_namespace(namespace)

    def go_module(self, path: str) -> tuple[str, str] | None:
        with self._lock:
            return self.catalog.go_module(path)

    def crate_source(self, name: str) -> str | None:
        with self._lock:
            return self.catalog.crate_source(name)

    # -- building ---------------------------------------------------------------------

    def _work(self) -> bool:
        """One unit of work; False where there is none."""
        with self._lock:
            change = self._next_change()
            walk = self._walk if change is None else None
            if walk is None:
                path = change[0] if change else next(iter(self._queue), None)
                if path is None:
                    return False
                self._queue.pop(path, None)
                text = change[1] if change else None
                known = self._files.get(path)
        if walk is not None:  # the folders are read without the lock
            self._walked(walk, list(itertools.islice(walk, WALK_BATCH)))
        else:
            self._index(path, text, known)
        return True

    def _next_change(self) -> tuple[str, str | None] | None:
        now = time.monotonic()
        for path, (text, when) in self._changes.items():  # a document just opened: at once
            if text is None or path not in self._files or now - when >= EDIT_QUIET_S:
                del self._changes[path]
                return path, text
        return None

    def _walked(self, walk: Iterator[str], paths: list[str]) -> None:
        with self._lock:
            if walk is not self._walk:
                return  # a rescan began meanwhile
            for path in paths:
                self._seen.add(path)
                if path not in self.catalog.known:
                    self.catalog.add(path)
                    self._queue[path] = None
                elif path in self._files and path not in self._open:
                    self._queue[path] = None  # restamped when its turn comes
            if len(paths) == WALK_BATCH:
                return
            self._walk = None  # the walk is complete: what it did not see is gone
            for path in [path for path in self.catalog.known
                         if path not in self._seen and path not in self._open]:
                self._drop(path)
            self._seen = set()

    def _index(self, path: str, text: str | None, known: SourceFile | None) -> None:
        if text is None and known is not None and known.stamp is not None and (
                _stamp(path) == known.stamp):
            return  # unchanged since indexed
        record = self.extractor(path, text) if text is not None or self.filter.accepts(
            path) else None
        with self._lock:
            if text is None and path in self._open:
                return  # an editor took the file over meanwhile
            if record is None:
                self._drop(path)
            else:
                self._commit(record)

    def _commit(self, record: SourceFile) -> None:
        old = self._files.get(record.path)
        self._forget_names(old)
        self._files[record.path] = record
        self.catalog.add(record.path)
        self.catalog.set_namespaces(record.path, old.namespaces if old else (),
                                    record.namespaces)
        for name in sorted(record.names()):
            _add(self._defining, name, record.path)

    def _forget_names(self, record: SourceFile | None) -> None:
        if record is not None:
            for name in record.names():
                _discard(self._defining, name, record.path)

    def _drop(self, path: str) -> None:
        old = self._files.pop(path, None)
        self._forget_names(old)
        if old is not None:
            self.catalog.set_namespaces(path, old.namespaces, ())
        self.catalog.remove(path)
        self._queue.pop(path, None)
        self._texts.pop(path, None)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class BackgroundIndexer:
    """Builds an index in a daemon thread, a short step at a time with rests between, and
    not at all while requests hold it (`held`), so that completions keep the CPU."""

    def __init__(self, index: WorkspaceIndex, step_s: float = 0.01, rest_s: float = 0.01,
                 idle_s: float = 0.25) -> None:
        self.index = index
        self._step_s, self._rest_s, self._idle_s = step_s, rest_s, idle_s
        self._holds = 0
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="workspace-index", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """No new step starts inside this block (a step under way finishes its file)."""
        with self._condition:
            self._holds += 1
        try:
            yield
        finally:
            with self._condition:
                self._holds -= 1
                self._condition.notify_all()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._stopped or self._holds == 0)
                if self._stopped:
                    return
            try:
                more = self.index.build_step(self._step_s)
            except Exception:  # a bug must not end the index for the session
                log.exception("workspace index step failed")
                more = False
            with self._condition:
                self._condition.wait(self._rest_s if more else self._idle_s)
