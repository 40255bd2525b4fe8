"""Import statements per language: what they bring into scope, and, over small synthetic
workspaces, which definitions a name used near the cursor resolves to through them."""

from __future__ import annotations

from pathlib import Path

import pytest

from refact_lsp import imports, retrieval
from refact_lsp.imports import ALL, Import
from refact_lsp.retrieval import Reason
from tests.test_workspace import built, write

CURSOR = "‸"


@pytest.mark.parametrize(("language", "statement", "expected"), [
    ("python", "import os.path, numpy as np",
     [Import("os.path", alias="path"), Import("numpy", alias="np")]),
    ("python", "from ..pkg.mod import (a as b,\n    c)  # why",
     [Import("..pkg.mod", (("a", "b"), ("c", "c")))]),
    ("python", "from . import *", [Import(".", (ALL,))]),
    ("python", "from __future__ import annotations", []),
    ("typescript", "import Default, { a as b, type T } from './m';",
     [Import("./m", (("a", "b"), ("T", "T"), ("default", "Default")), "Default")]),
    ("typescript", "import * as ns from \"../x\"", [Import("../x", alias="ns")]),
    ("typescript", "export * from './models';", [Import("./models", (ALL,))]),
    ("javascript", "import './side-effect.js'", [Import("./side-effect.js")]),
    ("typescript", "import fs = require('fs');", [Import("fs", alias="fs")]),
    ("go", 'import (\n\t"fmt"\n\tst "example.com/app/store"\n\t_ "x/driver"\n'
           '\t"example.com/y/v2"\n)',
     [Import("fmt", alias="fmt"), Import("example.com/app/store", alias="st"),
      Import("example.com/y/v2", alias="y")]),
    ("rust", "pub use crate::net::{http::{get, Client as C}, self};",
     [Import("crate::net::http", (("get", "get"),)), Import("crate::net::http", (("Client", "C"),)),
      Import("crate::net", alias="net")]),
    ("rust", "use super::*;", [Import("super", (ALL,))]),
    ("java", "import static com.x.Util.max;", [Import("com.x.Util", (("max", "max"),))]),
    ("java", "import com.x.model.*;", [Import("com.x.model", (ALL,))]),
    ("c_sharp", "using Alias = App.Models.User;", [Import("App.Models", (("User", "Alias"),))]),
    ("c_sharp", "using App.Models;", [Import("App.Models", (ALL,))]),
    ("c", '#include "lib/math.h"', [Import("./lib/math.h", (ALL,))]),
    ("cpp", "#include <vector>", [Import("vector", (ALL,))]),
    ("ruby", "require_relative 'helpers'", [Import("./helpers", (ALL,))]),
    ("lua", 'local json = require("lib.json")', [Import("lib.json", alias="json")]),
    ("php", "use App\\Models\\User as U;", [Import("App\\Models", (("User", "U"),))]),
    ("bash", "source ./env.sh", [Import("././env.sh", (ALL,))]),
    ("rust", "use crate::{a, b", []),  # half-typed
    ("cobol", "COPY x.", []),
])
def test_parse(language: str, statement: str, expected: list[Import]) -> None:
    assert imports.parse(language, statement) == expected


def test_namespaces() -> None:
    assert imports.namespaces("java", "// c\npackage com.x.model;\nclass A {}") == ("com.x.model",)
    assert imports.namespaces("c_sharp", "namespace A.B { }\nnamespace A.C;") == ("A.B", "A.C")
    assert imports.namespaces("python", "package x") == ()


def imported(root: Path, files: dict[str, str], current: str) -> list[tuple[str, str]]:
    """(path, first line) of the IMPORTED snippets at the cursor in `current`."""
    text = files[current]
    write(root, {name: content.replace(CURSOR, "") for name, content in files.items()})
    index = built(root)
    snippets = retrieval.select(index, root / current, text.replace(CURSOR, ""),
                                text.index(CURSOR), lambda piece: len(piece) // 3 + 1, 4000)
    return [(snippet.path, snippet.text.partition("\n")[0]) for snippet in snippets
            if snippet.reason is Reason.IMPORTED]


RESOLUTION = {
    "python_reexport_through_init": ({
        "pkg/__init__.py": "from .core import Engine\nfrom . import util\n",
        "pkg/core.py": "class Engine:\n    def run(self, n):\n        return n\n",
        "pkg/util.py": "def helper(x):\n    return x\n",
        "app.py": "from pkg import Engine, util\n\nengine = Engine()\nutil.helper(1)\n‸",
    }, "app.py", [("pkg/core.py", "class Engine:"), ("pkg/util.py", "def helper(x):")]),
    "python_relative_and_module_alias": ({
        "src/app/models.py": "def load(path):\n    return path\n",
        "src/app/views.py": "from .models import load\nimport app.models as m\n\n"
                            "load('x')\nm.load('y')\n‸",
    }, "src/app/views.py", [("src/app/models.py", "def load(path):")]),
    "typescript_index_and_js_specifier": ({
        "src/models/user.ts": "export class User {\n  name = '';\n}\n",
        "src/models/index.ts": "export * from './user';\n",
        "src/util.ts": "export function format(u: User): string { return u.name; }\n",
        "src/app.ts": "import { User } from './models';\nimport * as util from './util.js';\n\n"
                      "const u = new User();\nutil.format(u);\n‸",
    }, "src/app.ts", [
        ("src/models/user.ts", "export class User {"),
        ("src/util.ts", "export function format(u: User): string { return u.name; }")]),
    "go_package_from_go_mod": ({
        "go.mod": "module example.com/app\n\ngo 1.22\n",
        "internal/store/store.go": "package store\n\nfunc Open(path string) *Store {\n"
                                   "\treturn nil\n}\n",
        "internal/store/store_test.go": "package store\n\nfunc Open(path string) {}\n",
        "main.go": "package main\n\nimport \"example.com/app/internal/store\"\n\n"
                   "func main() {\n\ts := store.Open(\"x\")\n\t‸\n}\n",
    }, "main.go", [("internal/store/store.go", "func Open(path string) *Store {")]),
    "rust_crate_super_and_mod_files": ({
        "Cargo.toml": "[package]\nname = \"app\"\n",
        "src/lib.rs": "pub mod net;\n",
        "src/net/mod.rs": "pub mod http;\npub fn shared() -> u8 { 1 }\n",
        "src/net/http.rs": "use super::shared;\n\npub struct Client { url: String }\n"
                           "pub fn get() -> u8 { shared() }\n",
        "src/main.rs": "use app::net::http::get;\nuse crate::net::http::Client;\n\n"
                       "fn main() {\n    let c = Client { url: String::new() };\n"
                       "    get();\n    ‸\n}\n",
    }, "src/main.rs", [("src/net/http.rs", "pub struct Client { url: String }"),
                       ("src/net/http.rs", "pub fn get() -> u8 { shared() }")]),
    "rust_super": ({
        "src/lib.rs": "pub mod net;\n",
        "src/net/mod.rs": "pub mod http;\npub fn shared() -> u8 { 1 }\n",
        "src/net/http.rs": "use super::shared;\n\nfn f() {\n    shared();\n    ‸\n}\n",
    }, "src/net/http.rs", [("src/net/mod.rs", "pub fn shared() -> u8 { 1 }")]),
    "java_package_import": ({
        "src/main/java/com/x/model/User.java": "package com.x.model;\n\npublic class User {\n"
                                               "  public String name() { return \"\"; }\n}\n",
        "src/main/java/com/x/App.java": "package com.x;\n\nimport com.x.model.User;\n\n"
                                        "class App {\n  void f() {\n    User u = new User();\n"
                                        "    ‸\n  }\n}\n",
    }, "src/main/java/com/x/App.java", [("src/main/java/com/x/model/User.java",
                                         "public class User {")]),
    "c_sharp_namespace": ({
        "Models/User.cs": "namespace App.Models\n{\n    public class User\n    {\n"
                          "        public string Name { get; set; }\n    }\n}\n",
        "Program.cs": "using App.Models;\n\nclass Program {\n    static void Main() {\n"
                      "        var u = new User();\n        ‸\n    }\n}\n",
    }, "Program.cs", [("Models/User.cs", "    public class User")]),
    "c_include_relative_then_include_folder": ({
        "include/lib/geometry.h": "struct point {\n    int x, y;\n};\n",
        "src/util.h": "static inline int twice(int x) { return 2 * x; }\n",
        "src/main.c": "#include \"lib/geometry.h\"\n#include \"util.h\"\n\nint main(void) {\n"
                      "    struct point p = {1, 2};\n    int y = twice(p.x);\n    ‸\n}\n",
    }, "src/main.c", [("include/lib/geometry.h", "struct point {"),
                      ("src/util.h", "static inline int twice(int x) { return 2 * x; }")]),
}


@pytest.mark.parametrize("case", sorted(RESOLUTION))
def test_names_resolve_through_imports(tmp_path: Path, case: str) -> None:
    files, current, expected = RESOLUTION[case]
    found = imported(tmp_path, files, current)
    assert sorted(found) == sorted(expected)
