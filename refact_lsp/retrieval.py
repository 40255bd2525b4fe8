"""Which snippets of the workspace a completion at the cursor should see, ranked, within a
token budget.

Pure logic over the workspace index (it reads no file but through the index) and a ring
buffer of recently visited code that the server feeds.

Ranking, best first:
1. `Reason.IMPORTED`: the names the current file imports, resolved through its imports to
   the definitions in the modules they come from (following re-exports such as Python's
   `__init__` and JavaScript's index files), and names the file uses on a module it
   imports (`np.array`, `pkg.Func`, a C include's declarations);
2. `Reason.NAMED`: definitions of the other names the file uses, from the imported
   modules first, then from anywhere in the workspace where the name is not too common;
3. `Reason.SIMILAR`: chunks of recently visited and edited files whose identifiers are
   most like those of the lines before the cursor (Jaccard similarity, as llama.vim's
   ring buffer and RepoCoder use).
Within a tier, names used earlier in the file rank first (imports come first). Each
snippet is a header (a signature, a class's first line) plus as much of its body as the
budget leaves: every chosen snippet gets its header before any gets its body.

Stability. The definitions depend on the file, not on where in it the cursor is: the
names are those of the whole file less the cursor's line (never the word being typed),
and every order is total (ties go by path and line). So the block stays the same while
the person types and moves about a file, until a line that uses a new name is left (or
the cursor sits on the only line that uses a name): the prompt's start, and the KV cache
with it, stays put, and the prompt warmed when the file was opened serves a request
almost anywhere in it. Only the similar chunks follow the cursor (and exist only once
other files were visited).
"""

from __future__ import annotations

import functools
import keyword
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from refact_lsp import imports
from refact_lsp.imports import Import
from refact_lsp.prompts import ContextFile
from refact_lsp.text import jaccard, line_start
from refact_lsp.workspace import (
    HEADER_MAX_CHARS,
    Definition,
    DefinitionKind,
    SourceFile,
    WorkspaceIndex,
    language_of,
    normalize,
)

CountTokens = Callable[[str], int]

NEAR_CHARS = 2_000  # the code before the cursor's line that recent chunks are compared with
SNIPPET_MAX_LINES = 40
MAX_PLACES_PER_NAME = 2  # definitions shown for one name
MAX_DEFINITIONS = 32  # the best this many are read to be laid out; more never fit a prompt
COMMON_NAME_FILES = 4  # a name defined in more files than this is too common to guess from
REEXPORT_DEPTH = 3  # how many re-exports deep a name is followed
MIN_SIMILARITY = 0.2  # a recent chunk less like the cursor's code than this is left out
# (Jaccard over `identifiers`: on HumanEval, 1.6% of pairs of unrelated problems reach 0.2)
CHUNK_LINES = 32
RECENT_CHUNKS = 16
DUPLICATE_SIMILARITY = 0.9  # a new chunk this like an old one replaces it
MIN_NAME_CHARS = 3  # shorter names are locals far more often than definitions elsewhere
_NAME = re.compile(r"[^\W\d]\w*")
_ASSIGNED = re.compile(r"(?<!\w)([^\W\d]\w*)\s*:?=(?!=)")  # `x = `, `x := `, `f(x=1)`
_INDENT = re.compile(r"[ \t]*")
_KEYWORDS = frozenset((*keyword.kwlist, *keyword.softkwlist,  # and other languages'
    "abstract", "async", "await", "bool", "boolean", "break", "byte", "case", "catch", "char",
    "class", "const", "continue", "default", "defer", "delete", "do", "double", "else", "enum",
    "export", "extends", "extern", "false", "final", "finally", "float", "for", "func",
    "function", "goto", "impl", "implements", "import", "int", "interface", "let", "local",
    "long", "match", "mod", "mut", "namespace", "new", "nil", "null", "number", "object",
    "override", "package", "private", "protected", "public", "pub", "readonly", "return",
    "self", "static", "string", "struct", "super", "switch", "then", "this", "throw", "throws",
    "true", "try", "type", "typeof", "undefined", "unsigned", "use", "var", "void", "volatile",
    "where", "while", "yield", "dict", "list", "tuple", "str", "len", "range", "print", "None",
    "True", "False"))
_OUTLINED = frozenset({DefinitionKind.CLASS, DefinitionKind.TYPE, DefinitionKind.MODULE})


class Reason(str, Enum):
    """Why a snippet was chosen, best first."""

    IMPORTED = "imported"
    NAMED = "named"
    SIMILAR = "similar"


@dataclass(frozen=True)
class Snippet:
    path: str  # relative to its root folder
    line: int  # its first line in the file, 0-based
    end_line: int  # its last line
    text: str  # whole lines, ending with a line break
    reason: Reason
    comment: str  # its language's line comment, for the `...` between snippets


def file_names(text: str, offset: int) -> tuple[tuple[str, ...], frozenset[str]]:
    """The names used in `text` outside the cursor's line, in order of first use, and
    those assigned there (locals and keyword arguments).

    The cursor's own line is left out: its half-typed word would change the choice of
    snippets, and with it the start of the prompt, on every keystroke.
    """
    return _file_names(*_outside_line(text, offset))


@functools.lru_cache(maxsize=4)
def _file_names(before: str, after: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """`file_names`, kept while the person types on one line: in a 100 KB file reading
    them takes tens of milliseconds."""
    used = tuple(dict.fromkeys(_NAME.findall(before) + _NAME.findall(after)))
    return used, frozenset(_ASSIGNED.findall(before) + _ASSIGNED.findall(after))


def _outside_line(text: str, offset: int) -> tuple[str, str]:
    """The text before the cursor's line and after it."""
    end = text.find("\n", offset)
    return text[:line_start(text, offset)], "" if end < 0 else text[end:]


def identifiers(text: str) -> frozenset[str]:
    """The names that say what code is about: keywords and short names, which any two
    pieces of code of a language share, left out."""
    return frozenset(name for name in _NAME.findall(text)
                     if len(name) >= MIN_NAME_CHARS and name not in _KEYWORDS)


# -- recently visited code ---------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    path: str  # absolute, with "/"
    line: int
    lines: tuple[str, ...]
    tokens: frozenset[str] = field(compare=False)


class RecentChunks:
    """A ring buffer of chunks of recently visited and edited code, as llama.vim keeps.

    The server adds a chunk where the person opens, saves or leaves a file, or edits it
    (not at every keystroke: each new chunk may change the snippets). A chunk much like
    one already kept, or overlapping one of the same file, replaces it.
    """

    def __init__(self, capacity: int = RECENT_CHUNKS, chunk_lines: int = CHUNK_LINES) -> None:
        self._chunks: deque[Chunk] = deque()
        self._capacity, self._chunk_lines = capacity, chunk_lines
        self._lock = threading.Lock()

    def add(self, path: str | Path, text: str, line: int) -> None:
        """The chunk of `text` (the file at `path`) centred on `line` (0-based)."""
        lines = text.split("\n")
        start = max(0, min(line - self._chunk_lines // 2, len(lines) - self._chunk_lines))
        piece = tuple(item.rstrip("\r") for item in lines[start:start + self._chunk_lines])
        tokens = identifiers("\n".join(piece))
        if len(tokens) < 3:
            return
        chunk = Chunk(normalize(path), start, piece, tokens)
        with self._lock:
            self._chunks = deque(old for old in self._chunks if not _replaces(chunk, old))
            self._chunks.append(chunk)
            while len(self._chunks) > self._capacity:
                self._chunks.popleft()

    def remove(self, path: str | Path) -> None:
        key = normalize(path)
        with self._lock:
            self._chunks = deque(chunk for chunk in self._chunks if chunk.path != key)

    def similar(self, tokens: frozenset[str], exclude: str) -> list[tuple[float, Chunk]]:
        """Chunks of other files like `tokens`, most alike first."""
        with self._lock:
            chunks = list(self._chunks)
        scored = [(jaccard(tokens, chunk.tokens), chunk) for chunk in chunks
                  if chunk.path != exclude]
        return sorted(((score, chunk) for score, chunk in scored if score >= MIN_SIMILARITY),
                      key=lambda item: (-item[0], item[1].path, item[1].line))


def _replaces(new: Chunk, old: Chunk) -> bool:
    same_place = new.path == old.path and (
        old.line < new.line + len(new.lines) and new.line < old.line + len(old.lines))
    return same_place or jaccard(new.tokens, old.tokens) > DUPLICATE_SIMILARITY


# -- candidates --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    rank: tuple  # smaller is better; total, so the order never depends on chance
    path: str  # absolute
    line: int
    end_line: int
    head: tuple[str, ...]  # always shown
    body: tuple[str, ...]  # shown as far as the budget allows
    reason: Reason
    comment: str


class _Finder:
    """The candidates for one cursor: the file's names resolved through its imports."""

    def __init__(self, index: WorkspaceIndex, path: str, language: str,
                 used: Sequence[str], assigned: frozenset[str]) -> None:
        self.index, self.path, self.language = index, path, language
        self.rank = {name: rank for rank, name in enumerate(used)}  # first use first
        self.assigned = assigned  # locals and keyword arguments: not looked up elsewhere
        record = index.file(path)
        self.imports: tuple[Import, ...] = record.imports if record else ()
        self.own = record.names() if record else set()
        self.wanted = self.rank.keys() - self.own  # what a module imported whole may define
        self.related: list[str] = []  # files of the imported modules the file uses
        self.found: dict[tuple[str, int], tuple[tuple, Reason, Definition]] = {}
        self.followed: set[tuple[str, str]] = set()  # (file, name) re-exports looked through

    def run(self) -> None:
        for imp in self.imports:
            self._imported(imp)
        self.related = list(dict.fromkeys(self.related))
        bound = {local for imp in self.imports for local in (imp.alias, *imp.local_names())}
        skipped = self.own | bound | self.assigned
        taken = {definition.name for _, _, definition in self.found.values()}
        for name, rank in self.rank.items():
            if len(name) >= MIN_NAME_CHARS and name not in skipped and name not in taken:
                self._named(name, rank)

    def _imported(self, imp: Import) -> None:
        names = imp.local_names()
        for local, name in names.items():
            if local in self.rank and local not in self.own:  # a default export is most
                exported = local if name == "default" else name  # often named as imported
                places = self._resolve(self.language, self.path, imp, exported, 0)
                if places:
                    self._add(places, (0, self.rank[local]), Reason.IMPORTED)
                else:  # a module inside the module: `from pkg import mod`
                    self._on_module(imp.child(name, self.language))
        if imp.alias:
            self._on_module(imp)
        elif imp.everything:
            self._scope(self._files(self.language, self.path, imp))

    def _on_module(self, imp: Import) -> None:
        """Names the file uses on a module it imports whole (`np.array`)."""
        if imp.alias in self.rank:
            self._scope(self._files(self.language, self.path, imp))

    def _scope(self, files: Sequence[str]) -> None:
        self.related.extend(files)
        for path in files:
            record = self.index.file(path)
            found = record.top_level(self.wanted) if record else []
            for definition in found:
                self._add([(path, definition)], (0, self.rank[definition.name]),
                          Reason.IMPORTED)

    def _named(self, name: str, rank: int) -> None:
        """A name's definitions in the imported modules (methods too), else its top-level
        ones anywhere, where few files define it: a method or a common name found in an
        unrelated file is more often noise than help."""
        files = [path for path in self.index.defining(name) if path != self.path]
        if not files:
            return
        preferred = [path for path in self.related if path in files]
        if not preferred and len(files) > COMMON_NAME_FILES:
            return
        places = [(path, definition) for path in preferred or imports.nearest(files, self.path)
                  for definition in _defined(self.index.file(path), name,
                                             top_level=not preferred)]
        self._add(places[:MAX_PLACES_PER_NAME], (1, rank), Reason.NAMED)

    def _add(self, places: Iterable[tuple[str, Definition]], rank: tuple,
             reason: Reason) -> None:
        for order, (path, definition) in enumerate(places):
            if path == self.path:
                continue
            key = (path, definition.line)
            full = (*rank, order, path, definition.line)
            if key not in self.found or full < self.found[key][0]:
                self.found[key] = (full, reason, definition)

    def _files(self, language: str, importer: str, imp: Import) -> list[str]:
        files = imports.module_files(language, self.index, importer, imp)
        self.index.want(path for path in files if self.index.file(path) is None)
        return files

    def _resolve(self, language: str, importer: str, imp: Import, name: str,
                 depth: int) -> list[tuple[str, Definition]]:
        """Where the module `imp` names defines `name`, through its re-exports."""
        found: list[tuple[str, Definition]] = []
        files = self._files(language, importer, imp)
        for path in files:
            record = self.index.file(path)
            here = _defined(record, name, top_level=True)
            if here:
                self.related.append(path)
                found.extend((path, definition) for definition in here)
        if found or depth >= REEXPORT_DEPTH or self._files(
                language, importer, imp.child(name, language)):
            return found[:MAX_PLACES_PER_NAME]  # a module of that name: the caller's to use
        for path in files:
            record = self.index.file(path)
            if record is not None and (path, name) not in self.followed:
                self.followed.add((path, name))  # star re-exports may form a lattice
                found.extend(self._reexported(record, name, depth))
        return found[:MAX_PLACES_PER_NAME]

    def _reexported(self, record: SourceFile, name: str, depth: int
                    ) -> list[tuple[str, Definition]]:
        found = []
        for imp in record.imports:
            exported = imp.local_names().get(name)
            if exported is not None or imp.everything:
                found.extend(self._resolve(record.language, record.path, imp,
                                           exported or name, depth + 1))
        return found


def _defined(record: SourceFile | None, name: str, top_level: bool) -> list[Definition]:
    if record is None:
        return []
    found = record.defined(name)
    outermost = min((definition.depth for definition in found), default=0)
    return [definition for definition in found
            if definition.depth == outermost and (outermost == 0 or not top_level)]


def _definition_candidate(index: WorkspaceIndex, path: str, rank: tuple, reason: Reason,
                          definition: Definition) -> _Candidate:
    record = index.file(path)
    lines = index.lines(path)
    language = language_of(path)
    comment = language.line_comment if language else "#"
    if lines is None or definition.end_line >= len(lines):
        head: tuple[str, ...] = tuple(definition.header.split("\n"))
        body: tuple[str, ...] = ()
    else:
        head = tuple(line.rstrip("\r") for line in lines[definition.line:definition.body_line])
        if len("\n".join(head)) > HEADER_MAX_CHARS:
            head = head[:1]
        outlined = record is not None and definition.kind in _OUTLINED
        body = tuple(line.rstrip("\r") for line in _body_lines(
            lines, definition, record.members(definition) if outlined else ()))
    budget = max(0, SNIPPET_MAX_LINES - len(head))
    return _Candidate(rank, path, definition.line, definition.end_line, head, body[:budget],
                      reason, comment)


def _body_lines(lines: list[str], definition: Definition,
                members: Sequence[Definition]) -> list[str]:
    """A definition's body, with its members' bodies left out (an outline of a class)."""
    hidden = set()
    for member in members:
        hidden.update(range(member.body_line, member.end_line + 1))
    return [lines[number] for number in range(definition.body_line, definition.end_line + 1)
            if number not in hidden]


# -- choosing within the budget ----------------------------------------------------------


def select(index: WorkspaceIndex | None, path: str | Path, text: str, offset: int,
           count_tokens: CountTokens, budget: int, recent: RecentChunks | None = None
           ) -> tuple[Snippet, ...]:
    """The snippets a completion at `offset` of `text` (the file at `path`) should see.

    Their cost, counted as `as_context_files` lays them out (a path line per file, a `...`
    line between snippets and where a body is cut), is at most `budget` tokens. The most
    relevant file comes last, nearest the current file.
    """
    key = normalize(path)
    language = language_of(key)
    if budget <= 0 or language is None:
        return ()
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    window = text[max(0, line_start - NEAR_CHARS):line_start]
    candidates: list[_Candidate] = []
    if index is not None:
        used, assigned = file_names(text, offset)
        finder = _Finder(index, key, language.name, used, assigned)
        finder.run()
        best = sorted((rank, place_path, reason, definition) for (place_path, _), (
            rank, reason, definition) in finder.found.items())[:MAX_DEFINITIONS]
        candidates = [_definition_candidate(index, place_path, rank, reason, definition)
                      for rank, place_path, reason, definition in best]
    if recent is not None:
        for order, (score, chunk) in enumerate(recent.similar(identifiers(window), key)):
            chunk_language = language_of(chunk.path)
            candidates.append(_Candidate(
                (2, order, -score, chunk.path, chunk.line), chunk.path, chunk.line,
                chunk.line + len(chunk.lines) - 1, chunk.lines[:1], chunk.lines[1:],
                Reason.SIMILAR, chunk_language.line_comment if chunk_language else "#"))
    candidates.sort(key=lambda candidate: candidate.rank)
    relative = index.relative if index is not None else (lambda item: item)
    return _ordered(_pack(candidates, count_tokens, budget, relative), relative)


def _pack(candidates: Sequence[_Candidate], count: CountTokens, budget: int,
          relative: Callable[[str], str]) -> dict[_Candidate, int]:
    """Headers first, in rank order; then bodies, in rank order, as far as they fit.
    Returns the chosen candidates with how many body lines each shows."""
    chosen: dict[_Candidate, int] = {}
    files: set[str] = set()
    total = 0
    for candidate in candidates:
        if any(other.path == candidate.path and other.line <= candidate.end_line
               and candidate.line <= other.end_line for other in chosen):
            continue
        cost = sum(count(line + "\n") for line in candidate.head)
        cost += count(_cut(candidate)) if candidate.body else 0
        cost += count(_marker(candidate)) if candidate.path in files else count(
            relative(candidate.path) + "\n")
        if total + cost <= budget:
            chosen[candidate] = 0
            files.add(candidate.path)
            total += cost
    for candidate in chosen:
        for line in candidate.body:
            cost = count(line + "\n")
            if total + cost > budget:
                break
            chosen[candidate] += 1
            total += cost
        if chosen[candidate] == len(candidate.body) and candidate.body:
            total -= count(_cut(candidate))  # the whole body: no `...` line
    return chosen


def _marker(candidate: _Candidate) -> str:
    """The line between two snippets of a file."""
    return f"{candidate.comment} ...\n"


def _cut(candidate: _Candidate) -> str:
    """The line where a body is cut short, indented as the body."""
    return _INDENT.match(candidate.body[0]).group() + _marker(candidate)


def _ordered(chosen: dict[_Candidate, int], relative: Callable[[str], str]
             ) -> tuple[Snippet, ...]:
    """Snippets grouped by file, in file order; the file with the best snippet last."""
    best: dict[str, tuple] = {}
    for candidate in chosen:
        best[candidate.path] = min(best.get(candidate.path, candidate.rank), candidate.rank)
    snippets = []
    for path in sorted(best, key=best.__getitem__, reverse=True):
        for candidate in sorted((c for c in chosen if c.path == path), key=lambda c: c.line):
            shown = chosen[candidate]
            lines = list(candidate.head + candidate.body[:shown])
            if shown < len(candidate.body):
                lines.append(_cut(candidate).rstrip("\n"))
            snippets.append(Snippet(relative(path), candidate.line, candidate.end_line,
                                    "".join(line + "\n" for line in lines), candidate.reason,
                                    candidate.comment))
    return tuple(snippets)


def as_context_files(snippets: Iterable[Snippet]) -> tuple[ContextFile, ...]:
    """One ContextFile per file, its snippets joined by `...` lines, in the given order."""
    files: list[tuple[str, list[Snippet]]] = []
    for snippet in snippets:
        if files and files[-1][0] == snippet.path:
            files[-1][1].append(snippet)
        else:
            files.append((snippet.path, [snippet]))
    return tuple(ContextFile(path, f"{group[0].comment} ...\n".join(
        snippet.text for snippet in group)[:-1]) for path, group in files)


def retrieve(index: WorkspaceIndex | None, path: str | Path, text: str, offset: int,
             count_tokens: CountTokens, budget: int, recent: RecentChunks | None = None
             ) -> tuple[ContextFile, ...]:
    """`select`'s snippets as the prompt's context files."""
    return as_context_files(select(index, path, text, offset, count_tokens, budget, recent))
