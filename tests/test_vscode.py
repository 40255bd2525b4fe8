"""The VS Code extension: its node tests, and defaults that match the server's.

No VS Code binary can be had here. editors/ci.sh builds and packages the extension;
`npm test` checks its settings mapping, manifest and controls and, given
REFACT_LSP_SERVER, runs the bundled extension with the real vscode-languageclient against
the real server under a fake `vscode` module (editors/vscode/e2e). Skipped where `npm ci`
has not been run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from refact_lsp import __version__
from refact_lsp.config import Settings
from tests.test_editors import MODEL, refact_lsp_executable

VSCODE = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def contributed_defaults() -> dict[str, object]:
    package = json.loads((VSCODE / "package.json").read_text())
    properties = package["contributes"]["configuration"]["properties"]
    return {key.removeprefix("refact."): schema.get("default")
            for key, schema in properties.items()}


def test_extension_defaults_are_the_servers_defaults():
    # The extension always sends its whole state, so its defaults must be the server's.
    defaults = contributed_defaults()
    server = Settings()
    assert defaults["model"] == server.model
    assert defaults["maxTokens"] == server.max_tokens
    assert defaults["maxLines"] == server.max_lines
    assert defaults["timeBudgetMs"] == server.time_budget_ms
    assert defaults["candidates"] == server.candidates
    assert defaults["completeInComments"] == server.complete_in_comments
    assert defaults["engine.kind"] == server.engine.kind


def test_extension_is_released_with_the_server():
    package = json.loads((VSCODE / "package.json").read_text())
    assert package["version"] == __version__


def test_extension_setting_names_are_server_settings():
    # The shape src/settings.ts sends; null clears a remote engine field.
    cleared, problems = Settings().updated({"engine": {"kind": "llama-cpp", "url": None,
                                                       "model": None}})
    assert problems == []
    assert cleared.engine.url is None
    known, problems = Settings().updated({
        "model": "x", "maxTokens": 1, "maxLines": 1, "timeBudgetMs": 100, "candidates": 2,
        "completeInComments": True, "disabledLanguages": ["markdown"],
        "engine": {"kind": "openai", "url": "http://127.0.0.1:1", "apiKey": "k", "model": "m"},
    })
    assert problems == []
    assert known.engine.api_key == "k"


def test_extension_tests_pass_against_the_real_server(tmp_path: Path, model_path: Path):
    npm = shutil.which("npm")
    if npm is None or not (VSCODE / "node_modules").is_dir():
        pytest.skip("run `npm ci` in editors/vscode first (editors/ci.sh does)")
    env = {**os.environ, "REFACT_LSP_SERVER": refact_lsp_executable(tmp_path),
           "REFACT_LSP_MODEL": MODEL}
    proc = subprocess.run([npm, "test"], cwd=VSCODE, env=env, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout
    # Nothing skipped: the server attaches refact-lsp.accepted to its items, so the
    # accept steps run (they skip only against a server that does not count).
    assert re.findall(r"# SKIP (.*)", proc.stdout) == [], proc.stdout[-4000:]
