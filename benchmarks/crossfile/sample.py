"""The lines to complete: where file A first uses a name it imports from file B.

A line qualifies when it uses, as code, a name that A imports from another file B of the
project, and the name occurs nowhere in A before that line except in import statements
(not in a comment, a docstring or a string either): the model cannot copy it from above,
only guess it from the import line or read it in B. Imports are resolved here, on their
own, from the files on disk (Python `from` imports, absolute and relative, a submodule
imported by name; TypeScript relative imports, `.js` specifiers and `index` files), not
with the server's resolver: the set must not depend on what it measures.
"""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

SUFFIXES = {"python": (".py",), "typescript": (".ts", ".tsx")}
TS_EXTENSIONS = (".ts", ".tsx", "/index.ts", "/index.tsx")
TEST_PARTS = ("tests", "test", "__tests__")
MAX_LINE = 200  # longer lines are generated data, not code a person types

TS_IMPORT = re.compile(
    r"^[ \t]*import\s+(?:type\s+)?([^;'\"]*?)\s+from\s+['\"](\.{1,2}/[^'\"]+)['\"]", re.MULTILINE)
TS_NOISE = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """One line to complete: line `line` (0-based) of `path`, emptied to `indent`."""

    language: str
    path: str  # A, relative to the project's root
    line: int
    indent: str
    target: str  # the line's text without its indentation
    name: str  # the imported name the line uses first
    source: str  # B, the file the name is imported from, relative to the root


@dataclass(frozen=True)
class _Imported:
    name: str  # the local name
    source: Path  # B
    lines: range  # the import statement's lines (0-based)


def candidates(root: Path, language: str) -> list[Sample]:
    """Every qualifying line of the project's non-test files, one per (file, line)."""
    root = root.resolve()
    found: dict[tuple[str, int], Sample] = {}
    for path in source_files(root, language):
        for sample in file_candidates(root, path, language):
            found.setdefault((sample.path, sample.line), sample)
    return list(found.values())


def source_files(root: Path, language: str) -> list[Path]:
    """The project's source files of `language`, tests and type declarations left out,
    in path order."""
    return [path for path in sorted(root.rglob("*"))
            if path.is_file() and path.name.endswith(SUFFIXES[language])
            and not _is_test(path.relative_to(root)) and not path.name.endswith(".d.ts")]


class Located(Protocol):
    """A line of a project's file: what a draw is ordered by."""

    @property
    def path(self) -> str: ...

    @property
    def line(self) -> int: ...


L = TypeVar("L", bound=Located)


def choose(samples: Sequence[L], limit: int, seed: int) -> list[L]:
    """`limit` samples drawn with `seed`, in the project's file order."""
    ordered = sorted(samples, key=lambda s: (s.path, s.line))
    drawn = random.Random(seed).sample(ordered, min(limit, len(ordered)))
    return sorted(drawn, key=ordered.index)


def file_candidates(root: Path, path: Path, language: str) -> Iterator[Sample]:
    """The first use of each name `path` imports from another file of the project."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    imported = _python_imports(root, path, text) if language == "python" \
        else _typescript_imports(path, text)
    import_lines = {number for item in imported for number in item.lines}
    code = code_names(text, language)
    for item in imported:
        line = first_use(lines, item.name, import_lines)
        if line is None or item.name not in code.get(line, ()):
            continue
        original = lines[line]
        target = original.strip()
        if len(original) > MAX_LINE:
            continue
        yield Sample(language, path.relative_to(root).as_posix(), line,
                     original[:len(original) - len(original.lstrip())], target, item.name,
                     item.source.relative_to(root).as_posix())


def first_use(lines: list[str], name: str, skipped: set[int]) -> int | None:
    """The first line outside `skipped` (the imports) where `name` occurs as a word."""
    word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")
    for number, text in enumerate(lines):
        if number not in skipped and word.search(text):
            return number
    return None


def _is_test(relative: Path) -> bool:
    return any(part in TEST_PARTS for part in relative.parts[:-1]) \
        or relative.name.startswith("test_") or ".test." in relative.name \
        or ".spec." in relative.name or relative.name == "conftest.py"


def code_names(text: str, language: str) -> dict[int, set[str]]:
    """Identifiers by line (0-based) outside comments and strings."""
    names: dict[int, set[str]] = {}
    if language == "python":
        try:
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.NAME:
                    names.setdefault(token.start[0] - 1, set()).add(token.string)
        except (tokenize.TokenError, SyntaxError):
            return {}
        return names
    blanked = TS_NOISE.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text)
    for number, line in enumerate(blanked.split("\n")):
        names[number] = set(re.findall(r"[A-Za-z_$][\w$]*", line))
    return names


def _python_imports(root: Path, path: Path, text: str) -> list[_Imported]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _python_module(root, path, node.level, node.module or "")
        span = range(node.lineno - 1, (node.end_lineno or node.lineno))
        for alias in node.names:
            if alias.name == "*":
                continue
            submodule = _python_module(root, path, node.level,
                                       f"{node.module}.{alias.name}" if node.module else alias.name)
            source = submodule or base
            if source is not None and source != path:
                found.append(_Imported(alias.asname or alias.name, source, span))
    return found


def _python_module(root: Path, path: Path, level: int, module: str) -> Path | None:
    """The file of a module: `level` dots up from `path`'s package, else from the root."""
    folder = path.parent
    for _ in range(max(0, level - 1)):
        folder = folder.parent
    base = (folder if level else root).joinpath(*[part for part in module.split(".") if part])
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file() and root in candidate.parents:
            return candidate
    return None


def _typescript_imports(path: Path, text: str) -> list[_Imported]:
    found = []
    for match in TS_IMPORT.finditer(text):
        source = _typescript_module(path, match.group(2))
        if source is None or source == path:
            continue
        first = text.count("\n", 0, match.start())
        span = range(first, first + match.group().count("\n") + 1)
        found.extend(_Imported(name, source, span) for name in _clause_names(match.group(1)))
    return found


def _clause_names(clause: str) -> list[str]:
    """The local names of an import clause: `D`, `{ a, b as c, type T }`, `* as ns`."""
    names = []
    braces = re.search(r"\{(.*)\}", clause, re.DOTALL)
    outside = clause[:braces.start()] if braces else clause
    for part in outside.split(","):
        part = part.strip()
        if part:
            names.append(part.split(" as ")[-1].strip())
    if braces:
        for part in braces.group(1).split(","):
            part = re.sub(r"^\s*type\s+", "", part).strip()
            if part:
                names.append(part.split(" as ")[-1].strip())
    return [name for name in names if re.fullmatch(r"[A-Za-z_$][\w$]*", name)]


def _typescript_module(path: Path, specifier: str) -> Path | None:
    base = (path.parent / specifier).resolve()
    stem = base.with_suffix("") if base.suffix in (".js", ".ts", ".tsx") else base
    for extension in TS_EXTENSIONS:
        candidate = Path(str(stem) + extension)
        if candidate.is_file():
            return candidate
    return None
