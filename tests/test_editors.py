"""The shipped editor configs, run in the real editors against the real server.

Neovim runs headless with editors/nvim as its config and completes a Python line: on
Debian's 0.7 through the omni popup, on 0.12+ through the ghost text, and the documented
<Tab> mapping accepts either. Emacs 28 runs in batch mode with eglot and
editors/emacs/refact-lsp.el and completes the same line with completion-at-point.
`.ci/run` installs both (editors/ci.sh); without an editor binary its test is skipped.
The Helix config is checked for shape only: Debian has no Helix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EDITORS = ROOT / "editors"
MODEL = "qwen2.5-coder-0.5b"
# Model load plus a completion on CPU take seconds; a cold machine may take much longer.
EDITOR_TIMEOUT_S = 240
SOURCE = "def add(a, b):\n    return \n"
PREFIX = "    return "


def refact_lsp_executable(tmp_path: Path) -> str:
    """The `refact-lsp` command, as an editor runs it."""
    script = Path(sys.executable).parent / "refact-lsp"
    if script.exists():
        return str(script)
    # Not pip-installed (a bare checkout): the same CLI through this interpreter.
    wrapper = tmp_path / "refact-lsp"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m refact_lsp.cli "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.fixture
def server(tmp_path: Path, model_path: Path) -> str:
    """The server command, with the test model in the cache before an editor starts it."""
    return refact_lsp_executable(tmp_path)


@pytest.fixture
def python_file(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    path = project / "add.py"
    path.write_text(SOURCE)
    return path


def run_editor(command: list[str], cwd: Path, out: Path, env: dict[str, str]) -> dict:
    """Run an editor that writes its findings as JSON to `out`; fail with its output."""
    try:
        proc = subprocess.run(command, cwd=cwd, env={**os.environ, **env, "REFACT_OUT": str(out)},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=EDITOR_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{command[0]} did not finish in {EDITOR_TIMEOUT_S} s: {exc.stdout!r}")
    assert out.exists(), f"{command[0]} wrote nothing (rc {proc.returncode}): " \
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert "error" not in result, f"{result['error']}: {proc.stderr[-2000:]}"
    return result


# The README's Neovim setup: the model comes as initializationOptions, so a lost option
# would load the default model instead, which is not in the cache.
NVIM_INIT = """
vim.opt.runtimepath:append(os.getenv('REFACT_NVIM_DIR'))
require('refact_lsp').setup({
  cmd = { os.getenv('REFACT_SERVER') },
  init_options = { model = '{model}' },
  tab = true,
})
"""

# What a person does at the end of line 2: on 0.12+ wait for the ghost text, before that
# open the omni popup with <C-x><C-o>; then <Tab> accepts either. Both are asynchronous,
# so this polls on a timer while the editor runs.
NVIM_DRIVE = """
local function finish(result)
  local f = assert(io.open(os.getenv('REFACT_OUT'), 'w'))
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end
local started = vim.loop.now()
local function poll(check, done)
  local timer = vim.loop.new_timer()
  timer:start(100, 100, vim.schedule_wrap(function()
    local ok, value = pcall(check)
    if not ok or value ~= nil or vim.loop.now() - started > {timeout_ms} then
      timer:stop()
      timer:close()
      if not ok then
        finish({ error = tostring(value) })
      elseif value == nil then
        finish({ error = 'timed out', line = vim.fn.getline(2), mode = vim.fn.mode() })
      else
        done(value)
      end
    end
  end))
end
local function keys(text)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(text, true, false, true), 'm', false)
end
local function clients()
  local found = {}
  for _, client in pairs(vim.lsp.buf_get_clients(0)) do table.insert(found, client.name) end
  return found
end
local inline = vim.fn.has('nvim-0.12') == 1
local function shown()
  if inline then
    local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
    local marks = ns and vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true }) or {}
    local texts = {}
    for _, mark in ipairs(marks) do
      for _, chunk in ipairs(mark[4].virt_text or {}) do table.insert(texts, chunk[1]) end
    end
    if #texts > 0 then return texts end
  else
    local items = vim.fn.complete_info({ 'items' }).items
    if #items > 0 then return vim.tbl_map(function(item) return item.word end, items) end
  end
end
poll(function() return #clients() > 0 or nil end, function()
  local omnifunc = vim.bo.omnifunc
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  keys(inline and 'A' or 'A<C-x><C-o>')
  poll(shown, function(suggestions)
    -- The ghost text is accepted on the next tick: <Esc> only after that.
    keys('<Tab>')
    vim.defer_fn(function()
      keys('<Esc>')
      vim.defer_fn(function()
        finish({ clients = clients(), omnifunc = omnifunc, inline = inline,
                 suggestions = suggestions, line = vim.fn.getline(2) })
      end, 200)
    end, 300)
  end)
end)
"""


def test_neovim_completes_a_python_line(tmp_path: Path, server: str, python_file: Path):
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (.ci/run installs it with editors/ci.sh)")
    init = tmp_path / "init.lua"
    init.write_text(NVIM_INIT.replace("{model}", MODEL))
    drive = tmp_path / "drive.lua"
    drive.write_text(NVIM_DRIVE.replace("{timeout_ms}", str((EDITOR_TIMEOUT_S - 30) * 1000)))
    home = tmp_path / "home"  # no user plugins, state or shada in the way
    env = {
        "REFACT_NVIM_DIR": str(EDITORS / "nvim"),
        "REFACT_SERVER": server,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    result = run_editor([nvim, "--headless", "-u", str(init), str(python_file),
                         "-c", f"luafile {drive}"],
                        cwd=python_file.parent, out=tmp_path / "nvim.json", env=env)
    assert result["clients"] == ["refact_lsp"]
    assert result["omnifunc"] == "v:lua.vim.lsp.omnifunc"
    assert result["suggestions"] and "".join(result["suggestions"]).strip()
    # <Tab> accepted the ghost text or the popup's item into the buffer, and no tab.
    first_line = "".join(result["suggestions"]).split("\n")[0].strip()
    assert result["line"].startswith(PREFIX), result
    assert first_line in result["line"], result
    assert result["line"] == result["line"].rstrip(), result


EMACS_DRIVE = r""";; -*- lexical-binding: t; -*-
(require 'json)
(defun refact-test-finish (result)
  (with-temp-file (getenv "REFACT_OUT") (insert (json-encode result)))
  (kill-emacs 0))
(condition-case err
    (progn
      ;; The README's eglot setup; the model comes as initializationOptions.
      (add-to-list 'load-path (getenv "REFACT_EMACS_DIR"))
      (require 'refact-lsp)
      (setq refact-lsp-command (list (getenv "REFACT_SERVER")))
      (setq refact-lsp-initialization-options '(:model "{model}"))
      (refact-lsp-eglot-setup)
      (add-hook 'python-mode-hook #'eglot-ensure)
      ;; The model runs on CPU: give the first requests time.
      (setq eglot-connect-timeout 120 jsonrpc-default-request-timeout 120)
      (find-file (getenv "REFACT_FILE"))
      ;; eglot-ensure connects after the next command, and batch mode runs none.
      (run-hooks 'post-command-hook)
      (unless (eglot-current-server) (error "eglot did not connect"))
      (goto-char (point-min))
      (forward-line 1)
      (end-of-line)
      (let ((deadline (+ (float-time) 120)) candidates)
        (while (and (null candidates) (< (float-time) deadline))
          (let ((capf (eglot-completion-at-point)))
            (setq candidates (and capf (all-completions "" (nth 2 capf)))))
          (unless candidates (sleep-for 1)))
        ;; M-x completion-at-point: a sole candidate is inserted through its textEdit.
        (when candidates (completion-at-point))
        (refact-test-finish
         `((candidates . ,(vconcat candidates))
           (line . ,(buffer-substring-no-properties (line-beginning-position)
                                                    (line-end-position)))
           (languageId . ,(with-current-buffer
                              (jsonrpc-events-buffer (eglot-current-server))
                            (goto-char (point-min))
                            (and (re-search-forward ":languageId \"\\([^\"]+\\)\"" nil t)
                                 (match-string 1))))))))
  (error (refact-test-finish `((error . ,(error-message-string err))))))
"""


def test_emacs_eglot_completes_a_python_line(tmp_path: Path, server: str, python_file: Path):
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (.ci/run installs it with editors/ci.sh)")
    drive = tmp_path / "drive.el"
    drive.write_text(EMACS_DRIVE.replace("{model}", MODEL))
    env = {
        "REFACT_EMACS_DIR": str(EDITORS / "emacs"),
        "REFACT_SERVER": server,
        "REFACT_FILE": str(python_file),
    }
    # --batch skips the user's init file but loads Debian's site-start, which puts the
    # elpa-eglot package on the load path.
    result = run_editor([emacs, "--batch", "-l", str(drive)], cwd=python_file.parent,
                        out=tmp_path / "emacs.json", env=env)
    assert result["languageId"] == "python"
    assert result["candidates"] and result["candidates"][0].strip()
    # completion-at-point inserted the sole candidate, through its textEdit.
    assert result["line"].startswith(PREFIX), result
    assert result["candidates"][0].strip() in result["line"], result


def test_emacs_package_byte_compiles_cleanly(tmp_path: Path):
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (.ci/run installs it with editors/ci.sh)")
    source = tmp_path / "refact-lsp.el"
    shutil.copy(EDITORS / "emacs" / "refact-lsp.el", source)
    proc = subprocess.run([emacs, "--batch", "--eval", "(setq byte-compile-error-on-warn t)",
                           "-f", "batch-byte-compile", str(source)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_helix_config_adds_refact_lsp_next_to_the_usual_servers():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    server = config["language-server"]["refact-lsp"]
    assert server["command"] == "refact-lsp"
    assert isinstance(server.get("config", {}), dict)
    languages = {entry["name"]: entry["language-servers"] for entry in config["language"]}
    assert {"python", "javascript", "typescript", "go", "rust", "c", "cpp"} <= set(languages)
    for name, servers in languages.items():
        # refact-lsp is added, never the only server: the usual one keeps working.
        assert servers[-1] == "refact-lsp", name
        assert len(servers) >= 2, name
        assert len(set(servers)) == len(servers), name
