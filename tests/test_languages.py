"""Languages are data: every grammar loads, is found by languageId and extension, and
draws window boundaries, outlines and situations right on a real-looking file.

Each sample marks its lines in a two-character margin: `>` for a line a window may start
or end at (a statement at block level), `|` for one it must never start or end at (inside
a statement, a string or a comment, or a closing line), `-` for one either way. `‸` is the
cursor.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from refact_lsp import context, languages
from refact_lsp.context import build
from refact_lsp.documents import Document

ISSUE_LANGUAGES = {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c",
                   "cpp", "c_sharp", "ruby", "php", "bash", "lua"}
CURSOR = "‸"
COMMENTS = ("Settings are read once", "Settings in the file", "Reads settings files",
            "Defaults apply before", "The defaults", "A list with a filter", "Reads the project")
STRINGS = ("no settings file", "no filter yet")
WORDS = ("values", "filter", "DEFAULT_JOBS")


def count(text: str) -> int:
    return len(text) // 3 + 1


@dataclass(frozen=True)
class Sample:
    language: str
    language_id: str
    uri: str
    first_import: str
    headers: tuple[str, ...]  # signatures around the cursor, outermost first
    marked: str

    @property
    def source(self) -> str:
        return self._unmarked().replace(CURSOR, "")

    @property
    def cursor(self) -> int:
        return self._unmarked().index(CURSOR)

    def lines(self) -> list[str]:
        return self.marked.lstrip("\n").splitlines()

    def _unmarked(self) -> str:
        return "".join(line[2:] + "\n" for line in self.lines())

    def marks(self) -> dict[int, str]:
        """Line start offset -> mark, for every marked line."""
        marks, pos = {}, 0
        for line in self.lines():
            if line.startswith(("|", ">")):
                marks[pos] = line[0]
            pos += len(line[2:].replace(CURSOR, "")) + 1
        return marks

    def document(self) -> Document:
        """The sample as an editor opens it; its language comes from the file extension."""
        return Document(self.uri, self.source, 1)


SAMPLES = [
    Sample("python", "python", "file:///src/loader.py",
           "import os",
           ("class Loader:", "    def load(self, name: str) -> dict:"),
           r'''
> """Configuration loading for the build tool.

| Settings come from a TOML file and the environment.
| """

> import os
> from pathlib import Path

> DEFAULTS = {
|     "jobs": 4,
|     "verbose": False,
| }


> class Loader:
>     """Reads settings, once."""

>     def __init__(self, root: Path) -> None:
>         self.root = root
>         self.cache = {}

>     def load(self, name: str) -> dict:
>         path = self.root / name
>         if not path.exists():
>             raise FileNotFoundError(
|                 f"no settings file {path}",
|             )
>         text = path.read_text()
>         values = dict(DEFAULTS)
>         # Settings in the file win over the defaults.
>         for line in text.splitlines():
>             key, _, value = line.partition("=")
>             values[key.strip()] = value.strip()
-         ‸
>         return values
'''),
    Sample("javascript", "javascript", "file:///src/loader.js",
           "import fs from \"node:fs\";",
           ("export class Loader {", "  load(name) {"),
           r'''
> import fs from "node:fs";
> import { join } from "node:path";

> /**
|  * Reads the project's settings.
|  * Values in the environment win.
|  */
> const DEFAULTS = {
|   jobs: 4,
|   verbose: false,
| };

> export class Loader {
>   constructor(root) {
>     this.root = root;
>     this.cache = new Map();
|   }

>   load(name) {
>     const path = join(this.root, name);
>     if (!fs.existsSync(path)) {
>       throw new Error(
|         `no settings file ${path}`,
|       );
|     }
>     const values = { ...DEFAULTS };
>     for (const line of fs.readFileSync(path, "utf8").split("\n")) {
>       const [key, value] = line.split("=");
>       values[key.trim()] = value.trim();
|     }
-     ‸
>     return values;
|   }
| }
'''),
    Sample("typescript", "typescript", "file:///src/loader.ts",
           "import * as fs from \"node:fs\";",
           ("export class Loader {", "  load(name: string): Settings {"),
           r'''
> import * as fs from "node:fs";
> import { join } from "node:path";

> interface Settings {
>   jobs: number;
>   verbose: boolean;
| }

> /* The defaults,
|    before the environment. */
> const DEFAULTS: Settings = {
|   jobs: 4,
|   verbose: false,
| };

> export class Loader {
>   private cache = new Map<string, Settings>();

>   constructor(private root: string) {}

>   load(name: string): Settings {
>     const path = join(this.root, name);
>     if (!fs.existsSync(path)) {
>       throw new Error(
|         `no settings file ${path}`,
|       );
|     }
>     const values: Settings = { ...DEFAULTS };
>     for (const line of fs.readFileSync(path, "utf8").split("\n")) {
>       const [key, value] = line.split("=");
>       (values as any)[key.trim()] = value.trim();
|     }
-     ‸
>     return values;
|   }
| }
'''),
    Sample("tsx", "typescriptreact", "file:///src/list.tsx",
           "import React from \"react\";",
           ("export function FilteredList({ title, items }: Props) {",),
           r'''
> import React from "react";
> import { useState } from "react";

> type Props = {
|   title: string;
|   items: string[];
| };

> /* A list with a filter box;
|    the filter is case-insensitive. */
> export function FilteredList({ title, items }: Props) {
>   const [filter, setFilter] = useState("no filter yet");
>   const shown = items.filter((item) =>
|     item.toLowerCase().includes(filter.toLowerCase()),
|   );
-   ‸
>   return (
|     <div>
|       <h2>{title}</h2>
|       <ul>
|         {shown.map((item) => (
|           <li key={item}>{item}</li>
|         ))}
|       </ul>
|     </div>
|   );
| }
'''),
    Sample("go", "go", "file:///src/loader.go",
           "package config",
           ("func (l *Loader) Load(name string) (map[string]string, error) {",),
           r'''
> package config

> import (
| 	"fmt"
| 	"os"
| 	"strings"
| )

> /* Defaults apply before
|    the environment. */
> var defaults = map[string]string{
| 	"jobs":    "4",
| 	"verbose": "false",
| }

> type Loader struct {
> 	Root  string
> 	cache map[string]string
| }

> func (l *Loader) Load(name string) (map[string]string, error) {
> 	path := l.Root + "/" + name
> 	data, err := os.ReadFile(path)
> 	if err != nil {
> 		return nil, fmt.Errorf(
| 			"no settings file %s: %w",
| 			path, err)
| 	}
> 	values := map[string]string{}
> 	for _, line := range strings.Split(string(data), "\n") {
> 		key, value, _ := strings.Cut(line, "=")
> 		values[strings.TrimSpace(key)] = strings.TrimSpace(value)
| 	}
- 	‸
> 	return values, nil
| }
'''),
    Sample("rust", "rust", "file:///src/loader.rs",
           "use std::collections::HashMap;",
           ("impl Loader {",
            "    pub fn load(&mut self, name: &str) -> Result<HashMap<String, String>, String> {"),
           r'''
> use std::collections::HashMap;
> use std::fs;
> use std::path::PathBuf;

> /* Defaults apply before
|    the environment. */
> const DEFAULT_JOBS: u32 = 4;

> pub struct Loader {
>     root: PathBuf,
>     cache: HashMap<String, String>,
| }

> impl Loader {
>     pub fn new(root: PathBuf) -> Self {
>         Loader { root, cache: HashMap::new() }
|     }

>     pub fn load(&mut self, name: &str) -> Result<HashMap<String, String>, String> {
>         let path = self.root.join(name);
>         let text = fs::read_to_string(&path).map_err(|err| {
-             format!("no settings file {}: {}", path.display(), err)
|         })?;
>         let mut values = HashMap::new();
>         for line in text.lines() {
>             if let Some((key, value)) = line.split_once('=') {
>                 values.insert(key.trim().to_string(), value.trim().to_string());
|             }
|         }
-         ‸
>         Ok(values)
|     }
| }
'''),
    Sample("java", "java", "file:///src/Loader.java",
           "package org.example.config;",
           ("public class Loader {",
            "    public Map<String, String> load(String name) throws IOException {"),
           r'''
> package org.example.config;

> import java.io.IOException;
> import java.nio.file.Files;
> import java.nio.file.Path;
> import java.util.HashMap;
> import java.util.Map;

> /**
|  * Reads settings files.
|  */
> public class Loader {
>     private final Path root;

>     public Loader(Path root) {
>         this.root = root;
|     }

>     public Map<String, String> load(String name) throws IOException {
>         Path path = root.resolve(name);
>         if (!Files.exists(path)) {
>             throw new IOException(
|                 "no settings file " + path);
|         }
>         Map<String, String> values = new HashMap<>();
>         for (String line : Files.readAllLines(path)) {
>             String[] pair = line.split("=", 2);
>             values.put(pair[0].trim(), pair[1].trim());
|         }
-         ‸
>         return values;
|     }
| }
'''),
    Sample("c", "c", "file:///src/loader.c",
           "#include <stdio.h>",
           ("int load_settings(const char *path, struct settings *out)\n{",),
           r'''
> #include <stdio.h>
> #include <stdlib.h>
> #include <string.h>

> /* Settings are read once
|    and kept in a table. */
> struct settings {
>     int jobs;
>     int verbose;
| };

> static int parse_line(const char *line, char *key, char *value)
| {
>     const char *eq = strchr(line, '=');
>     if (eq == NULL) {
>         return -1;
|     }
>     strncpy(key, line, eq - line);
>     strcpy(value, eq + 1);
>     return 0;
| }

> int load_settings(const char *path, struct settings *out)
| {
>     FILE *file = fopen(path, "r");
>     char line[256], key[128], value[128];
>     if (file == NULL) {
>         fprintf(stderr,
|                 "no settings file %s\n",
|                 path);
>         return -1;
|     }
>     while (fgets(line, sizeof line, file) != NULL) {
>         if (parse_line(line, key, value) == 0 && strcmp(key, "jobs") == 0) {
>             out->jobs = atoi(value);
|         }
|     }
-     ‸
>     fclose(file);
>     return 0;
| }
'''),
    Sample("cpp", "cpp", "file:///src/loader.cpp",
           "#include <fstream>",
           ("class Loader {",
            "    std::map<std::string, std::string> load(const std::string &name) {"),
           r'''
> #include <fstream>
> #include <map>
> #include <string>

> namespace config {

> /* Settings are read once
|    and kept in a table. */
> class Loader {
> public:
>     explicit Loader(std::string root) : root_(std::move(root)) {}

>     std::map<std::string, std::string> load(const std::string &name) {
>         std::ifstream file(root_ + "/" + name);
>         if (!file) {
>             throw std::runtime_error(
|                 "no settings file " + name);
|         }
>         std::map<std::string, std::string> values;
>         std::string line;
>         while (std::getline(file, line)) {
>             auto eq = line.find('=');
>             values[line.substr(0, eq)] = line.substr(eq + 1);
|         }
-         ‸
>         return values;
|     }

> private:
>     std::string root_;
| };

| }  // namespace config
'''),
    Sample("c_sharp", "csharp", "file:///src/Loader.cs",
           "using System;",
           ("    public class Loader\n    {",
            "        public Dictionary<string, string> Load(string name)\n        {"),
           r'''
> using System;
> using System.Collections.Generic;
> using System.IO;

> namespace Example.Config
| {
>     /* Settings are read once
|        and kept in a table. */
>     public class Loader
|     {
>         private readonly string root;

>         public Loader(string root)
|         {
>             this.root = root;
|         }

>         public Dictionary<string, string> Load(string name)
|         {
>             var path = Path.Combine(root, name);
>             if (!File.Exists(path))
|             {
>                 throw new FileNotFoundException(
|                     $"no settings file {path}");
|             }
>             var values = new Dictionary<string, string>();
>             foreach (var line in File.ReadAllLines(path))
|             {
>                 var pair = line.Split('=', 2);
>                 values[pair[0].Trim()] = pair[1].Trim();
|             }
-             ‸
>             return values;
|         }
|     }
| }
'''),
    Sample("ruby", "ruby", "file:///src/loader.rb",
           "require \"json\"",
           ("  class Loader", "    def load(name)"),
           r'''
> require "json"
> require_relative "defaults"

> # Reads settings files,
> # once per name.
> module Config
>   class Loader
>     def initialize(root)
>       @root = root
>       @cache = {}
|     end

>     def load(name)
>       path = File.join(@root, name)
>       unless File.exist?(path)
>         raise ArgumentError,
|               "no settings file #{path}"
|       end
>       values = DEFAULTS.dup
>       File.readlines(path).each do |line|
>         key, value = line.split("=", 2)
>         values[key.strip] = value.strip
|       end
-       ‸
>       values
|     end
|   end
| end
'''),
    Sample("php", "php", "file:///src/Loader.php",
           "namespace App\\Config;",
           ("class Loader\n{", "    public function load(string $name): array\n    {"),
           r'''
> <?php

> namespace App\Config;

> use InvalidArgumentException;
> use App\Support\Defaults;

> /* Settings are read once
|    and kept in a table. */
> class Loader
| {
>     private array $cache = [];

>     public function __construct(private string $root)
|     {
|     }

>     public function load(string $name): array
|     {
>         $path = $this->root . '/' . $name;
>         if (!file_exists($path)) {
>             throw new InvalidArgumentException(
|                 "no settings file $path"
|             );
|         }
>         $values = Defaults::all();
>         foreach (file($path) as $line) {
>             [$key, $value] = explode('=', $line, 2);
>             $values[trim($key)] = trim($value);
|         }
-         ‸
>         return $values;
|     }
| }
'''),
    Sample("bash", "shellscript", "file:///src/load.sh",
           "source ./lib/common.sh",
           ("load_settings() {",),
           r'''
> #!/usr/bin/env bash
> source ./lib/common.sh

> # Reads settings files,
> # once per name.
> DEFAULT_JOBS=4

> usage() {
>   cat <<USAGE
| usage: load NAME
| reads the settings
| USAGE
| }

> load_settings() {
>   local path="$ROOT/$1"
>   if [ ! -f "$path" ]; then
-     echo "no settings file $path" \
|       >&2
-     return 1
|   fi
>   while IFS="=" read -r key value; do
>     export "$key=$value"
>   done < "$path"
-   ‸
>   return 0
| }
'''),
    Sample("lua", "lua", "file:///src/loader.lua",
           "local json = require(\"json\")",
           ("function M:load(name)",),
           r'''
> local json = require("json")
> local util = require("util")

> --[[ Settings are read once
|      and kept in a table. ]]
> local M = {}

> local DEFAULTS = {
|   jobs = 4,
|   verbose = false,
| }

> function M.new(root)
>   return setmetatable({ root = root, cache = {} }, { __index = M })
| end

> function M:load(name)
>   local path = self.root .. "/" .. name
>   local file = io.open(path, "r")
>   if not file then
>     error(
|       "no settings file " .. path)
|   end
>   local values = util.copy(DEFAULTS)
>   for line in file:lines() do
>     local key, value = line:match("([^=]+)=(.*)")
>     values[key] = value
|   end
-   ‸
>   file:close()
>   return values
| end

> return M
'''),
]


@pytest.mark.parametrize("name", sorted(ISSUE_LANGUAGES))
def test_every_issue_language_loads_with_the_captures_it_needs(name: str) -> None:
    language = languages.load(name)
    assert language is not None
    query = language.query
    captures = {query.capture_name(i) for i in range(query.capture_count)}
    shell_commands_have_no_argument_lists = {"arguments"} if name == "bash" else set()
    assert captures >= set(languages.Capture) - shell_commands_have_no_argument_lists
    assert language.line_comment and language.language_ids and language.extensions


def test_grammars_take_what_they_inherit_down_the_chain() -> None:
    """TSX inherits TypeScript, which inherits the part it shares with JavaScript; C++
    inherits C. A shared part is no language, and a cycle of inherits ends."""
    def patterns(name: str) -> int:
        language = languages.load(name)
        assert language is not None
        return language.query.pattern_count

    assert patterns("tsx") == patterns("typescript") > patterns("javascript")
    assert patterns("cpp") > patterns("c")
    assert languages.load("ecmascript") is None
    looped = {"a": "; inherits: b\n(a) @x\n", "b": "; inherits: a\n(b) @y\n"}
    assert languages._source("a", looped) == looped["a"] + "\n" + looped["b"] + "\n"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_language_from_language_id_and_from_extension(sample: Sample) -> None:
    by_id = Document("untitled:Untitled-1", "", 0, sample.language_id)
    assert by_id.language is not None and by_id.language.name == sample.language
    by_extension = sample.document()
    assert by_extension.language is not None and by_extension.language.name == sample.language


def test_unknown_languages_have_no_tree() -> None:
    document = Document("file:///notes.txt", "hello", 0, "plaintext")
    assert document.language is None and document.tree() is None


def test_samples_cover_every_issue_language() -> None:
    assert {sample.language for sample in SAMPLES} == ISSUE_LANGUAGES


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_sample_parses_cleanly(sample: Sample) -> None:
    tree = sample.document().tree()
    assert tree is not None and not tree.root_node.has_error


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_lines_are_classified_as_marked(sample: Sample) -> None:
    document = sample.document()
    tree = document.tree()
    assert tree is not None
    syntax = context._Syntax(document, tree, sample.cursor)
    text = document.text

    def may_be_an_edge(pos: int) -> bool:
        """As the extractor decides: not a closing line, and directly in a block."""
        return text[pos:].lstrip()[:1] not in context._CLOSERS and syntax.is_boundary(pos)

    wrong = [(mark, text[pos:text.find("\n", pos)]) for pos, mark in sample.marks().items()
             if (mark == ">") != may_be_an_edge(pos)]
    assert wrong == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_windows_start_and_end_only_at_marked_boundaries(sample: Sample) -> None:
    document, marks = sample.document(), sample.marks()
    edges = set()
    for budget in range(80, 400, 3):
        ctx = build(document, sample.cursor, count, budget, budget)
        assert count(ctx.prefix) <= budget and count(ctx.suffix) <= budget
        for edge in (ctx.start, ctx.end):
            if 0 < edge < len(document.text):
                assert marks.get(edge) == ">", document.text[edge:edge + 40]
                edges.add(edge)
    assert len(edges) >= 3


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_outline_shows_the_imports_and_signatures_a_window_cuts_through(sample: Sample) -> None:
    document = sample.document()
    all_headers = imports = False
    for budget in range(40, 400, 4):
        ctx = build(document, sample.cursor, count, budget, 30)
        for header in sample.headers:
            if header in ctx.outline:
                assert document.text.index(header) < ctx.start
                assert header not in ctx.prefix[len(ctx.outline):]
        all_headers = all_headers or all(header in ctx.outline for header in sample.headers)
        imports = imports or ctx.outline.startswith(sample.first_import + "\n")
    assert all_headers and imports


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.language)
def test_situations_in_every_language(sample: Sample) -> None:
    document = sample.document()
    text = document.text

    def situation(offset: int) -> str:
        return build(document, offset, count, 200, 50).situation

    def inside(phrases: tuple[str, ...], end: int = len(text)) -> int:
        return max(text.rfind(phrase, 0, end) for phrase in phrases) + 3

    assert situation(sample.cursor) == "code"
    assert situation(inside(COMMENTS)) == "comment"
    assert situation(inside(STRINGS)) == "string"
    assert situation(inside(WORDS, sample.cursor)) == "identifier"
