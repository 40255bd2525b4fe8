"""Languages are data: one `refact_lsp/grammars/<name>.scm` query file per language.

Each query file starts with a header of `; key: value` lines that says where the grammar
comes from and which files it is for, for example::

    ; module: tree_sitter_python
    ; function: language
    ; language-ids: python
    ; extensions: .py .pyi
    ; line-comment: #

(`; inherits: NAME` adds the captures of grammars/NAME.scm, and of what that one
inherits, for grammars that extend another: C++ of C, TSX of TypeScript; a file with no
`; module:` is not a language, only such a shared part, as ecmascript.scm is for
JavaScript and TypeScript) and then captures the nodes the context extractor and the
stop rules need:
`@definition` (with its `@name`, where it has one), `@block`, `@statement`, `@import`,
`@comment`, `@string` and `@arguments`. Adding a language is installing its grammar wheel
and adding such a file, no code.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from tree_sitter import Language as TsLanguage
from tree_sitter import Query

from refact_lsp.text import StrEnum, path_of

log = logging.getLogger(__name__)

HEADER = re.compile(r"^;\s*([a-z-]+)\s*:\s*(.*?)\s*$")
_CAPTURE = re.compile(r"@([\w.]+)")  # a capture's name in a query's source


class Capture(StrEnum):
    """The captures a query file gives (the keys of tree-sitter's captures)."""

    DEFINITION = "definition"
    NAME = "name"  # of a definition
    BLOCK = "block"
    STATEMENT = "statement"
    IMPORT = "import"
    COMMENT = "comment"
    STRING = "string"
    ARGUMENTS = "arguments"


@dataclass(frozen=True)
class Language:
    """A grammar and its query, ready to parse and to classify nodes."""

    name: str
    ts_language: TsLanguage
    query: Query
    language_ids: tuple[str, ...]
    extensions: tuple[str, ...]
    line_comment: str


@dataclass(frozen=True)
class _Spec:
    name: str
    module: str
    function: str
    language_ids: tuple[str, ...]
    extensions: tuple[str, ...]
    line_comment: str
    source: str


def _grammar_files() -> dict[str, str]:
    """The query files, package data of `refact_lsp.grammars`."""
    root = importlib.resources.files("refact_lsp.grammars")
    return {entry.name.removesuffix(".scm"): entry.read_text(encoding="utf-8")
            for entry in root.iterdir() if entry.name.endswith(".scm")}


@functools.cache
def _specs() -> tuple[_Spec, ...]:
    specs = []
    files = _grammar_files()
    inherited = {_header(source).get("inherits") for source in files.values()}
    for name in sorted(files):
        header = _header(files[name])
        if "module" not in header:
            if name not in inherited:
                log.warning("grammars/%s.scm has no '; module:' header and nothing "
                            "inherits it; skipped", name)
            continue
        specs.append(_Spec(
            name=name,
            module=header["module"],
            function=header.get("function", "language"),
            language_ids=tuple(header.get("language-ids", name).split()),
            extensions=tuple(header.get("extensions", "").split()),
            line_comment=header.get("line-comment", "#"),
            source=_source(name, files),
        ))
    return tuple(specs)


def _source(name: str, files: dict[str, str]) -> str:
    """A query file with what it inherits, and what that inherits (each file once)."""
    source, seen = "", set()
    while name in files and name not in seen:
        seen.add(name)
        source += files[name] + "\n"
        name = _header(files[name]).get("inherits", "")
    return source


def _header(source: str) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in source.splitlines():
        match = HEADER.match(line)
        if not match:
            break
        header[match.group(1)] = match.group(2)
    return header


def _spec(name: str) -> _Spec | None:
    return next((spec for spec in _specs() if spec.name == name), None)


@functools.cache
def load(name: str) -> Language | None:
    """The named language, or None where its grammar wheel is missing or broken."""
    spec = _spec(name)
    if spec is None:
        return None
    try:
        module = importlib.import_module(spec.module)
        ts_language = TsLanguage(getattr(module, spec.function)())
        query = Query(ts_language, spec.source)
    except Exception as exc:  # a missing wheel or a query that does not fit the grammar
        log.warning("language %s unavailable: %s", name, exc)
        return None
    return Language(name, ts_language, query, spec.language_ids, spec.extensions,
                    spec.line_comment)


@functools.cache
def narrowed_query(name: str, captures: frozenset[str]) -> Query | None:
    """The named language's query with only the patterns that capture one of `captures`:
    cheaper to run over whole files (the workspace index needs definitions, blocks and
    imports, not statements or strings), and an object apart from the documents' own."""
    language, spec = load(name), _spec(name)
    if language is None or spec is None:
        return None
    query = Query(language.ts_language, spec.source)
    source = spec.source.encode("utf-8")
    for index in range(query.pattern_count):
        pattern = source[query.start_byte_for_pattern(index):query.end_byte_for_pattern(index)]
        if not captures & set(_CAPTURE.findall(pattern.decode("utf-8"))):
            query.disable_pattern(index)
    return query


def names() -> list[str]:
    return [spec.name for spec in _specs()]


def extensions() -> list[str]:
    """The file extensions of every known language (`.py`, ...), for file watchers."""
    return sorted({extension for spec in _specs() for extension in spec.extensions})


def language_for(language_id: str | None, uri: str) -> Language | None:
    """The language of a document: its LSP languageId first, then its file extension."""
    if language_id:
        for spec in _specs():
            if language_id.lower() in spec.language_ids:
                return load(spec.name)
    suffix = PurePosixPath(path_of(uri)).suffix.lower()
    if suffix:
        for spec in _specs():
            if suffix in spec.extensions:
                return load(spec.name)
    return None
