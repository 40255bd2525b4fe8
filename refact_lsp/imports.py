"""Import statements per language: what names they bring in, and which files they point to.

Pure: parsing works on the text of one import statement (as the grammars' `@import`
captures find it); resolution asks a `FileLookup` (the workspace index) which files exist.
What a language's imports look like is code, one small parser and one resolver per
language; which languages exist stays data (grammars/*.scm).

An `Import` brings in either names of a module (`names`; `ALL` for all of them) or the
module itself under a local name (`alias`), as Python's `import a.b as c`, a Go package or
a JavaScript namespace import do. A name imported from a module that turns out to be a
module itself (Python's `from pkg import submodule`, a Rust `use` of a module) is resolved
by the caller through `Import.child`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol

ALL = ("*", "*")  # every name of the module is in scope
JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs")
PYTHON_EXTENSIONS = (".py", ".pyi")

# A file's own package or namespace, which other files' imports name (data, per language).
NAMESPACE_PATTERNS = {
    "go": re.compile(r"^\s*package\s+(\w+)", re.MULTILINE),
    "java": re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE),
    "c_sharp": re.compile(r"^\s*namespace\s+([\w.]+)", re.MULTILINE),
    "php": re.compile(r"^\s*namespace\s+([\w\\]+)\s*[;{]", re.MULTILINE),
}

# Statements that import although the grammar's query does not capture them as `@import`:
# JavaScript's `export ... from` re-exports, which index files are made of.
REEXPORT_NODE_TYPES = {
    "javascript": "export_statement",
    "typescript": "export_statement",
    "tsx": "export_statement",
}

# How a module path joins a module and a name inside it, where not ".".
SEPARATORS = {"rust": "::", "php": "\\", "javascript": "/", "typescript": "/", "tsx": "/"}

_GO_VERSION = re.compile(r"v\d+")
_COMMENT_PY = re.compile(r"#[^\n]*")
_COMMENT_C = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r"""["'`]([^"'`\n]+)["'`]""")
_PY_FROM = re.compile(r"^\s*from\s+([.\w]+)\s+import\s+(.+)$", re.DOTALL)
_PY_IMPORT = re.compile(r"^\s*import\s+(.+)$", re.DOTALL)
_JS_FROM = re.compile(r"^\s*(?:import|export)\s+(?:type\s+)?(.*?)\s*\bfrom\s*['\"]([^'\"]+)['\"]",
                      re.DOTALL)
_JS_BARE = re.compile(r"^\s*import\s*['\"]([^'\"]+)['\"]")
_JS_REQUIRE = re.compile(r"^\s*import\s+(\w+)\s*=\s*require\(\s*['\"]([^'\"]+)['\"]\s*\)")
_JS_BRACES = re.compile(r"\{(.*)\}", re.DOTALL)
_GO_SPEC = re.compile(r"(?:([\w.]+)\s+)?\"([^\"]+)\"")
_RUST_USE = re.compile(r"^(?:pub(?:\([^)]*\))?\s+)?use\s+")
_JAVA = re.compile(r"^\s*import\s+(?:static\s+)?([\w.]+?)(\.\*)?\s*;")
_CSHARP = re.compile(r"^\s*(?:global\s+)?using\s+(static\s+)?(?:(\w+)\s*=\s*)?([\w.]+)\s*;")
_INCLUDE = re.compile(r"#\s*include\s*([\"<])([^\">]+)[\">]")
_RUBY = re.compile(r"^\s*(require_relative|require|load)\b")
_LUA_REQUIRE = re.compile(r"^\s*local\s+(\w+)\s*=\s*require\s*\(?\s*['\"]([^'\"]+)['\"]")
_PHP_USE = re.compile(r"^\s*use\s+(?:function\s+|const\s+)?([\w\\]+)(?:\s+as\s+(\w+))?\s*;")
_WORD = re.compile(r"[^\W\d]\w*")


class Import(NamedTuple):
    """One module an import statement names, and what it brings into scope.

    A tuple of strings and numbers only, as the index's other records: the garbage
    collector stops tracking those, so a large index does not lengthen its pauses."""

    module: str  # as written: ".models", "a.b", "./util", "fmt", "crate::a", "./x/y.h"
    names: tuple[tuple[str, str], ...] = ()  # (name in the module, local name), or ALL
    alias: str = ""  # the local name of the module itself
    line: int = 0  # the statement's first line in its file, 0-based

    @property
    def everything(self) -> bool:
        return ALL in self.names

    def local_names(self) -> dict[str, str]:
        """Local name -> name in the module, for the names imported one by one."""
        return {local: name for name, local in self.names if name != "*"}

    def child(self, name: str, language: str) -> Import:
        """The import of `name`, a module inside this one, under its local name."""
        separator = SEPARATORS.get(language, ".")
        local = {name: local for name, local in self.names}.get(name, name)
        joiner = "" if self.module.endswith(separator) else separator
        return Import(self.module + joiner + name, alias=local, line=self.line)


class FileLookup(Protocol):
    """Which files the workspace has: what resolution needs of an index. Paths are
    absolute, with `/`."""

    def exists(self, path: str) -> bool: ...

    def with_tail(self, tail: str) -> Sequence[str]: ...  # files whose path ends with /tail

    def in_directory(self, directory: str) -> Sequence[str]: ...

    def in_namespace(self, namespace: str) -> Sequence[str]: ...

    def go_module(self, path: str) -> tuple[str, str] | None: ...  # (module path, folder)

    def crate_source(self, name: str) -> str | None: ...  # a workspace crate's src folder


# -- parsing -----------------------------------------------------------------------------


def parse(language: str, statement: str, line: int = 0) -> list[Import]:
    """The imports of one statement in `language` (a grammar's name); [] where none."""
    parser = _PARSERS.get(language)
    if parser is None:
        return []
    try:
        found = parser(statement)
    except (ValueError, IndexError):  # a half-typed statement
        return []
    return [Import(imp.module, imp.names, imp.alias, line) for imp in found if imp.module]


def namespaces(language: str, text: str) -> tuple[str, ...]:
    """The packages or namespaces a file declares itself part of."""
    pattern = NAMESPACE_PATTERNS.get(language)
    return tuple(dict.fromkeys(pattern.findall(text))) if pattern else ()


def _name_list(clause: str) -> tuple[tuple[str, str], ...]:
    """`a as b, c` as ((a, b), (c, c)); `*` as ALL."""
    names = []
    for item in clause.split(","):
        name, _, local = (part.strip() for part in item.partition(" as "))
        name = name.removeprefix("type ").strip()
        if name == "*":
            names.append(ALL)
        elif _WORD.fullmatch(name) and (not local or _WORD.fullmatch(local)):
            names.append((name, local or name))
    return tuple(names)


def _python(statement: str) -> list[Import]:
    text = _COMMENT_PY.sub("", statement).replace("\\\n", " ")
    match = _PY_FROM.match(text)
    if match:
        module, clause = match.groups()
        return [] if module == "__future__" else [Import(module, _name_list(
            clause.strip().strip("()")))]
    match = _PY_IMPORT.match(text)
    if not match:
        return []
    imports = []
    for item in match.group(1).split(","):
        module, _, alias = (part.strip() for part in item.partition(" as "))
        if module:  # `import a.b` is used as `a.b.name`: the last part stands for it
            imports.append(Import(module, alias=alias or module.rpartition(".")[2]))
    return imports


def _javascript(statement: str) -> list[Import]:
    text = _COMMENT_C.sub("", statement)
    match = _JS_REQUIRE.match(text)
    if match:
        return [Import(match.group(2), alias=match.group(1))]
    match = _JS_FROM.match(text)
    if not match:
        bare = _JS_BARE.match(text)
        return [Import(bare.group(1))] if bare else []
    clause, module = match.groups()
    names: list[tuple[str, str]] = []
    alias = ""
    braces = _JS_BRACES.search(clause)
    if braces:
        names.extend(_name_list(braces.group(1)))
        clause = clause[:braces.start()] + clause[braces.end():]
    for part in (part.strip() for part in clause.split(",")):
        if part.startswith("*"):
            local = part.partition(" as ")[2].strip()
            if local:
                alias = local
            else:
                names.append(ALL)
        elif _WORD.fullmatch(part):
            names.append(("default", part))
            alias = alias or part  # a default export is often an object of the module's names
    return [Import(module, tuple(names), alias)]


def _go(statement: str) -> list[Import]:
    imports = []
    for alias, path in _GO_SPEC.findall(_COMMENT_C.sub("", statement)):
        if alias == "_":
            continue
        if alias == ".":
            imports.append(Import(path, (ALL,)))
            continue
        segments = path.split("/")
        if len(segments) > 1 and _GO_VERSION.fullmatch(segments[-1]):
            segments.pop()  # example.com/x/v2 is package x
        imports.append(Import(path, alias=alias or segments[-1].replace("-", "_")))
    return imports


def _rust(statement: str) -> list[Import]:
    text = _RUST_USE.sub("", _COMMENT_C.sub("", statement).strip())
    if text.startswith(("extern", "pub extern")):
        return []
    return [_rust_import(path, local)
            for path, local in _use_tree(re.sub(r"\s+", " ", text.rstrip("; ")))]


def _rust_import(path: list[str], local: str) -> Import:
    parent, leaf = "::".join(path[:-1]), path[-1]
    if leaf == "*":
        return Import(parent, (ALL,))
    if leaf == "self":
        return Import(parent, alias=path[-2] if local == "self" else local)
    return Import(parent, ((leaf, local),))


def _use_tree(text: str) -> list[tuple[list[str], str]]:
    """A `use` tree flattened: `a::{b, c::d as e}` is ([a, b], b) and ([a, c, d], e)."""
    text = text.strip()
    brace = text.find("{")
    if brace < 0:
        path, _, local = (part.strip() for part in text.partition(" as "))
        segments = [segment.strip() for segment in path.split("::") if segment.strip()]
        return [(segments, local or segments[-1])] if segments else []
    if not text.endswith("}"):
        raise ValueError("unbalanced use tree")
    prefix = [segment.strip() for segment in text[:brace].split("::") if segment.strip()]
    return [(prefix + path, local) for item in _top_level_split(text[brace + 1:-1])
            for path, local in _use_tree(item)]


def _top_level_split(text: str) -> Iterable[str]:
    depth, start = 0, 0
    for index, char in enumerate(text):
        depth += (char == "{") - (char == "}")
        if char == "," and depth == 0:
            yield text[start:index]
            start = index + 1
    if text[start:].strip():
        yield text[start:]


def _java(statement: str) -> list[Import]:
    match = _JAVA.match(_COMMENT_C.sub("", statement))
    if not match:
        return []
    path, star = match.groups()
    if star:
        return [Import(path, (ALL,))]
    module, _, name = path.rpartition(".")  # a class of a package, or a static member of a
    return [Import(module, ((name, name),))]  # class (whose file is its module)


def _c_sharp(statement: str) -> list[Import]:
    match = _CSHARP.match(_COMMENT_C.sub("", statement))
    if not match:
        return []
    static, alias, path = match.groups()
    if alias or static:
        module, _, name = path.rpartition(".")
        return [Import(module, ((name, alias or name),))]
    return [Import(path, (ALL,))]


def _include(statement: str) -> list[Import]:
    match = _INCLUDE.search(statement)
    if not match:
        return []
    quote, path = match.groups()
    return [Import(("./" if quote == '"' else "") + path, (ALL,))]


def _ruby(statement: str) -> list[Import]:
    match, string = _RUBY.match(statement), _STRING.search(statement)
    if not match or not string:
        return []
    prefix = "./" if match.group(1) == "require_relative" else ""
    return [Import(prefix + string.group(1), (ALL,))]


def _lua(statement: str) -> list[Import]:
    match = _LUA_REQUIRE.match(statement)
    return [Import(match.group(2), alias=match.group(1))] if match else []


def _php(statement: str) -> list[Import]:
    match = _PHP_USE.match(statement)
    if match:
        module, _, name = match.group(1).rpartition("\\")
        return [Import(module, ((name, match.group(2) or name),))]
    if statement.lstrip().startswith("namespace"):
        return []
    string = _STRING.search(statement)
    return [Import("./" + string.group(1).lstrip("/"), (ALL,))] if string else []


def _bash(statement: str) -> list[Import]:
    words = statement.split()
    if len(words) >= 2 and words[0] in ("source", "."):
        return [Import("./" + words[1].strip("'\""), (ALL,))]
    return []


_PARSERS: dict[str, Callable[[str], list[Import]]] = {
    "python": _python, "javascript": _javascript, "typescript": _javascript,
    "tsx": _javascript, "go": _go, "rust": _rust, "java": _java, "c_sharp": _c_sharp,
    "c": _include, "cpp": _include, "ruby": _ruby, "lua": _lua, "php": _php, "bash": _bash,
}


# -- resolution --------------------------------------------------------------------------


def module_files(language: str, lookup: FileLookup, importer: str, imp: Import) -> list[str]:
    """The files of the workspace that make up the module `imp` names, best first.

    `importer` is the importing file's absolute path (posix).
    """
    resolver = _RESOLVERS.get(language)
    return list(dict.fromkeys(resolver(lookup, importer, imp.module))) if resolver else []


def nearest(paths: Iterable[str], near: str) -> list[str]:
    """Paths ordered by how much of their folder they share with the folder of `near`,
    then by depth and name: among equal tails the importer's own project wins, and the
    order is always the same."""
    folder = posixpath.dirname(near)

    def shared(path: str) -> int:
        return posixpath.commonpath([folder, posixpath.dirname(path)]).count("/")

    return sorted(set(paths), key=lambda path: (-shared(path), path.count("/"), path))


def _first_existing(lookup: FileLookup, candidates: Iterable[str]) -> list[str]:
    for candidate in candidates:
        if lookup.exists(candidate):
            return [candidate]
    return []


def _python_files(lookup: FileLookup, importer: str, module: str) -> list[str]:
    stripped = module.lstrip(".")
    level = len(module) - len(stripped)
    relative = stripped.replace(".", "/")
    if level:
        base = posixpath.dirname(importer)
        for _ in range(level - 1):
            base = posixpath.dirname(base)
        target = posixpath.join(base, relative) if relative else base
        return _first_existing(lookup, _python_candidates(target, bool(relative)))
    sibling = _first_existing(lookup, _python_candidates(  # a script's own folder
        posixpath.join(posixpath.dirname(importer), relative), True))
    if sibling:
        return sibling
    tails = [path for tail in _python_candidates(relative, True)
             for path in lookup.with_tail(tail)]
    return nearest(tails, importer)[:1]


def _python_candidates(target: str, as_file: bool) -> list[str]:
    files = [target + extension for extension in PYTHON_EXTENSIONS] if as_file else []
    return files + [f"{target}/__init__{extension}" for extension in PYTHON_EXTENSIONS]


def _javascript_files(lookup: FileLookup, importer: str, module: str) -> list[str]:
    if not module.startswith("."):
        return []  # a package: not the workspace's own files
    target = posixpath.normpath(posixpath.join(posixpath.dirname(importer), module))
    stem, extension = posixpath.splitext(target)
    candidates = [target] if extension else []
    if extension in (".js", ".jsx", ".mjs", ".cjs"):  # TypeScript's ESM names the output
        candidates += [stem + ".ts", stem + ".tsx", stem + ".d.ts"]
    candidates += [target + extension for extension in JS_EXTENSIONS]
    candidates += [f"{target}/index{extension}" for extension in JS_EXTENSIONS]
    return _first_existing(lookup, candidates)


def _go_files(lookup: FileLookup, importer: str, module: str) -> list[str]:
    found = lookup.go_module(importer)
    if found is None:
        return []
    module_path, folder = found
    if module != module_path and not module.startswith(module_path + "/"):
        return []
    package = posixpath.join(folder, module[len(module_path):].lstrip("/")).rstrip("/")
    return sorted(path for path in lookup.in_directory(package)
                  if path.endswith(".go") and not path.endswith("_test.go"))


def _rust_files(lookup: FileLookup, importer: str, module: str) -> list[str]:
    segments = [segment for segment in module.split("::") if segment]
    if not segments:
        return []
    head = segments[0]
    folder: str | None
    if head in ("self", "super"):
        folder = _rust_module_folder(importer)
        while segments and segments[0] in ("self", "super"):
            if segments.pop(0) == "super":
                folder = posixpath.dirname(folder)
    else:
        folder = (_rust_crate_root(lookup, importer) if head == "crate"
                  else lookup.crate_source(head))
        segments = segments[1:]
    if folder is None:
        return []
    folder = posixpath.join(folder, *segments)
    return _first_existing(lookup, [folder + ".rs", f"{folder}/mod.rs", f"{folder}/lib.rs",
                                    f"{folder}/main.rs"])


def _rust_module_folder(path: str) -> str:
    """Where a Rust module's child modules live: beside `lib.rs`, `main.rs` and `mod.rs`,
    in a folder of the module's name otherwise."""
    folder, name = posixpath.split(path)
    if name in ("lib.rs", "main.rs", "mod.rs"):
        return folder
    return posixpath.join(folder, name.removesuffix(".rs"))


def _rust_crate_root(lookup: FileLookup, path: str) -> str | None:
    folder = posixpath.dirname(path)
    while folder not in ("", "/"):
        if lookup.exists(f"{folder}/lib.rs") or lookup.exists(f"{folder}/main.rs"):
            return folder
        folder = posixpath.dirname(folder)
    return None


def _namespace_files(lookup: FileLookup, importer: str, module: str) -> list[str]:
    """Java packages, C# and PHP namespaces: the files that declare them, else the file
    the path names (a Java class, a PHP class as PSR-4 lays them out)."""
    declared = lookup.in_namespace(module)
    if declared:
        return nearest(declared, importer)
    tail = module.replace(".", "/").replace("\\", "/")
    return nearest([*lookup.with_tail(tail + ".java"), *lookup.with_tail(tail + ".php")],
                   importer)[:1]


def _relative_or_tail(extensions: tuple[str, ...], dotted: bool = False
                      ) -> Callable[[FileLookup, str, str], list[str]]:
    """C includes, Ruby, Lua and shell: a path relative to the importing file where it
    starts with `./`, else the file nearest to it whose path ends with it (Lua's modules
    are dotted)."""

    def resolve(lookup: FileLookup, importer: str, module: str) -> list[str]:
        path = module.replace(".", "/") if dotted else module
        if path.startswith("./"):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(importer), path))
            found = _first_existing(lookup, [target] + [target + ext for ext in extensions])
            if found:
                return found
            path = path[2:]
        tails = [found for tail in [path] + [path + ext for ext in extensions]
                 for found in lookup.with_tail(tail.lstrip("/"))]
        return nearest(tails, importer)[:1]

    return resolve


_relative_path = _relative_or_tail(())


def _php_files(lookup: FileLookup, importer: str, module: str) -> list[str]:
    if module.startswith("./"):
        return _relative_path(lookup, importer, module)
    return _namespace_files(lookup, importer, module)


_RESOLVERS: dict[str, Callable[[FileLookup, str, str], list[str]]] = {
    "python": _python_files, "javascript": _javascript_files,
    "typescript": _javascript_files, "tsx": _javascript_files, "go": _go_files,
    "rust": _rust_files, "java": _namespace_files, "c_sharp": _namespace_files,
    "php": _php_files, "c": _relative_path, "cpp": _relative_path,
    "ruby": _relative_or_tail((".rb",)), "lua": _relative_or_tail((".lua", "/init.lua"), True),
    "bash": _relative_or_tail((".sh",)),
}
