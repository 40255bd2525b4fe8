"""The shipped editor configs, run in the real editors against the real server.

Neovim runs headless with editors/nvim as its config and completes a Python line: on
Debian's 0.7 through the omni popup, on 0.12+ through the ghost text, and the documented
<Tab> mapping accepts either; :RefactToggle, everywhere and per buffer, keeps requests
from reaching the server (counted on the wire). Emacs 28 runs in batch mode with eglot and

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

from refact_lsp import __version__

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

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

# Helpers for the drives below. Everything is asynchronous, so they poll on a timer
# while the editor runs; shown() is the ghost text on 0.12+, else the popup's items.
NVIM_HELPERS = """
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
"""

# What a person does at the end of line 2: on 0.12+ wait for the ghost text, before that
# open the omni popup with <C-x><C-o>; then <Tab> accepts either.
NVIM_DRIVE = NVIM_HELPERS + """
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


def wire_tap(tmp_path: Path, server: str) -> tuple[str, Path]:
    """A server command that also copies what the editor sends into a file."""
    wire = tmp_path / "wire.log"
    script = tmp_path / "refact-lsp-tapped"
    script.write_text(f'#!/bin/sh\ntee -a "{wire}" | "{server}" "$@"\n')
    script.chmod(0o755)
    return str(script), wire


def requests_on_the_wire(wire: Path, method: str) -> int:
    # Neovim's JSON writes "/" as "\/".
    return wire.read_text().replace("\\/", "/").count(f'"method":"{method}"')


def nvim_env(tmp_path: Path, server: str) -> dict[str, str]:
    home = tmp_path / "home"  # no user plugins, state or shada in the way
    return {
        "REFACT_NVIM_DIR": str(EDITORS / "nvim"),
        "REFACT_SERVER": server,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
    }


def run_nvim(tmp_path: Path, server: str, python_file: Path, drive: str) -> dict:
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (.ci/run installs it with editors/ci.sh)")
    init = tmp_path / "init.lua"
    init.write_text(NVIM_INIT.replace("{model}", MODEL))
    script = tmp_path / "drive.lua"
    script.write_text(drive.replace("{timeout_ms}", str((EDITOR_TIMEOUT_S - 30) * 1000)))
    command = [nvim, "--headless", "-u", str(init), str(python_file), "-c", f"luafile {script}"]
    return run_editor(command, cwd=python_file.parent, out=tmp_path / "nvim.json",
                      env=nvim_env(tmp_path, server))


def test_neovim_completes_a_python_line(tmp_path: Path, server: str, python_file: Path):
    result = run_nvim(tmp_path, server, python_file, NVIM_DRIVE)
    assert result["clients"] == ["refact_lsp"]
    assert result["omnifunc"] == "v:lua.vim.lsp.omnifunc"
    assert result["suggestions"] and "".join(result["suggestions"]).strip()
    # <Tab> accepted the ghost text or the popup's item into the buffer, and no tab.
    first_line = "".join(result["suggestions"]).split("\n")[0].strip()
    assert result["line"].startswith(PREFIX), result
    assert first_line in result["line"], result
    assert result["line"] == result["line"].rstrip(), result


# Off everywhere, on, then off in this buffer: a completion is asked for each time (on
# 0.12+ the ghost text asks by itself), and only the one while on may reach the server.
# Then the buffer's keys and :checkhealth refact_lsp.
NVIM_TOGGLE_DRIVE = NVIM_HELPERS + """
local refact = require('refact_lsp')
local result = { inline = inline }
local function ask(done)
  keys(inline and 'A' or 'A<C-x><C-o>')
  vim.defer_fn(function()
    local items = shown() or {}
    keys('<C-e><Esc>')
    vim.defer_fn(function() done(#items) end, 200)
  end, 3000)
end
poll(function() return #clients() > 0 or nil end, function()
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  result.keys = vim.fn.maparg('<M-]>', 'i', false, true).buffer
  result.accept_word = refact.accept_word()
  vim.cmd('RefactToggle')
  result.off_everywhere = not refact.enabled(0)
  ask(function(off_count)
    result.shown_while_off = off_count
    vim.cmd('RefactToggle')
    keys(inline and 'A' or 'A<C-x><C-o>')
    poll(shown, function(items)
      result.shown_while_on = #items
      keys('<C-e><Esc>')
      vim.cmd('RefactToggle buffer')
      result.buffer_flag = vim.b.refact_enabled
      ask(function(buffer_off_count)
        result.shown_while_buffer_off = buffer_off_count
        vim.cmd('checkhealth refact_lsp')
        result.health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')
        finish(result)
      end)
    end)
  end)
end)
"""


def test_neovim_toggle_keeps_requests_from_the_server(tmp_path: Path, server: str,
                                                     python_file: Path):
    tapped, wire = wire_tap(tmp_path, server)
    result = run_nvim(tmp_path, tapped, python_file, NVIM_TOGGLE_DRIVE)
    method = "textDocument/inlineCompletion" if result["inline"] else "textDocument/completion"
    assert result["off_everywhere"] is True
    assert result["shown_while_off"] == 0, result
    assert result["shown_while_on"] > 0, result
    assert result["buffer_flag"] is False
    assert result["shown_while_buffer_off"] == 0, result
    # The one request made while on reached the server; the two made while off did not.
    assert requests_on_the_wire(wire, method) == 1, wire.read_text()[-2000:]
    # The keys are the buffer's own, set when the client attached.
    assert result["keys"] == 1
    health = result["health"]
    assert "OK" in health and "ERROR" not in health, health
    assert "refact-lsp" in health and "serves 1 buffer" in health, health
    if not result["inline"]:
        assert result["accept_word"] is False  # no ghost text before 0.12: it says so


# The README's eglot setup (the model comes as initializationOptions), then the end of
# line 2 of the Python file; `{scenario}` is what a person does there, and hands its
# findings to refact-test-finish.
EMACS_DRIVE_FRAME = r""";; -*- lexical-binding: t; -*-
(require 'json)
(defun refact-test-finish (result)
  (with-temp-file (getenv "REFACT_OUT") (insert (json-encode result)))
  (kill-emacs 0))
(condition-case err
    (progn
      (add-to-list 'load-path (getenv "REFACT_EMACS_DIR"))
      (require 'refact-lsp)
      (setq refact-lsp-command (list (getenv "REFACT_SERVER")))
      (setq refact-lsp-initialization-options '(:model "{model}"))
      (refact-lsp-eglot-setup)
      (add-hook 'python-mode-hook #'eglot-ensure)
      ;; The model runs on CPU: give the start and the first requests time (eglot
      ;; waits 3 s for the server by default, less than a busy machine needs).
      (setq eglot-connect-timeout 120 eglot-sync-connect 120
            jsonrpc-default-request-timeout 120)
      (find-file (getenv "REFACT_FILE"))
      ;; eglot-ensure connects after the next command, and batch mode runs none.
      (run-hooks 'post-command-hook)
      (unless (eglot-current-server) (error "eglot did not connect"))
      (goto-char (point-min))
      (forward-line 1)
      (end-of-line)
      {scenario})
  (error (refact-test-finish `((error . ,(error-message-string err))))))
"""

EMACS_DRIVE = EMACS_DRIVE_FRAME.replace("{scenario}", r"""
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
                                 (match-string 1)))))))""")


def run_emacs(tmp_path: Path, server: str, python_file: Path, drive: str,
              env: dict[str, str] | None = None) -> dict:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (.ci/run installs it with editors/ci.sh)")
    script = tmp_path / "drive.el"
    script.write_text(drive.replace("{model}", MODEL))
    env = {
        "REFACT_EMACS_DIR": str(EDITORS / "emacs"),
        "REFACT_SERVER": server,
        "REFACT_FILE": str(python_file),
        **(env or {}),
    }
    # --batch skips the user's init file but loads Debian's site-start, which puts the
    # elpa-eglot package on the load path.
    return run_editor([emacs, "--batch", "-l", str(script)], cwd=python_file.parent,
                      out=tmp_path / "emacs.json", env=env)


def test_emacs_eglot_completes_a_python_line(tmp_path: Path, server: str, python_file: Path):
    result = run_emacs(tmp_path, server, python_file, EMACS_DRIVE)
    assert result["languageId"] == "python"
    assert result["candidates"] and result["candidates"][0].strip()
    # completion-at-point inserted the sole candidate, through its textEdit.
    assert result["line"].startswith(PREFIX), result
    assert result["candidates"][0].strip() in result["line"], result


# Completion as completion-at-point asks for it, with refact-lsp-mode on (as eglot's
# hook turned it on), off, and on again; the wire says what reached the server.
EMACS_TOGGLE_DRIVE = EMACS_DRIVE_FRAME.replace("{scenario}", r"""
      (cl-flet ((ask ()
                  (let* ((completion-at-point-functions (remq t completion-at-point-functions))
                         (capf (run-hook-with-args-until-success 'completion-at-point-functions)))
                    (and capf (all-completions "" (nth 2 capf)))))
                (requests ()
                  (sleep-for 0.3)
                  (with-temp-buffer
                    (insert-file-contents (getenv "REFACT_WIRE"))
                    (count-matches "\"method\":\"textDocument/completion\""
                                   (point-min) (point-max)))))
        (let ((deadline (+ (float-time) 120)) (mode refact-lsp-mode) candidates)
          ;; The first answers wait for the model to load.
          (while (and (null candidates) (< (float-time) deadline))
            (setq candidates (ask))
            (unless candidates (sleep-for 1)))
          (let ((before (requests)))
            (refact-lsp-mode -1)
            (let* ((off (ask)) (while-off (requests)) (mode-off refact-lsp-mode))
              (refact-lsp-mode 1)
              (let* ((on (ask)) (after-on (requests)))
                (refact-test-finish
                 `((modeOnAttach . ,mode) (first . ,(vconcat candidates))
                   (requestsBefore . ,before) (modeOff . ,mode-off)
                   (offCandidates . ,(vconcat off)) (requestsWhileOff . ,while-off)
                   (onCandidates . ,(vconcat on)) (requestsAfterOn . ,after-on)))))))))""")


def test_emacs_minor_mode_keeps_requests_from_the_server(tmp_path: Path, server: str,
                                                         python_file: Path):
    tapped, wire = wire_tap(tmp_path, server)
    result = run_emacs(tmp_path, tapped, python_file, EMACS_TOGGLE_DRIVE,
                       env={"REFACT_WIRE": str(wire)})
    assert result["modeOnAttach"] is True, result  # eglot's hook turned it on
    assert result["first"], result
    assert result["modeOff"] is None, result
    # Off: nothing asked refact-lsp; on again: it answers.
    assert result["offCandidates"] == [], result
    assert result["requestsWhileOff"] == result["requestsBefore"] > 0, result
    assert result["onCandidates"], result
    assert result["requestsAfterOn"] > result["requestsWhileOff"], result


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


# accept.lua's word and line acceptance against a stand-in for 0.12's inline completion
# (the one this Neovim lacks): it shows one item, as 0.12 hands it to on_accept, and a
# client that records the commands sent to the server.
NVIM_ACCEPT_DRIVE = """
vim.opt.runtimepath:append(os.getenv('REFACT_NVIM_DIR'))
local accept = require('refact_lsp.accept')
vim.o.virtualedit = 'onemore' -- the cursor after the line's end, as in insert mode
local sent = {}
local client = {
  id = 7,
  server_capabilities = { executeCommandProvider = {
    commands = { 'refact-lsp.accepted', 'refact-lsp.partiallyAccepted' } } },
  exec_cmd = function(_, command) table.insert(sent, command) end,
}
vim.lsp.get_client_by_id = function(id) return id == 7 and client or nil end
local shown
vim.lsp.inline_completion = {
  get = function(opts)
    if shown == nil then return false end
    opts.on_accept(vim.deepcopy(shown))
    return true
  end,
}
local function item(text, row, col, end_col)
  local command = { title = '', command = 'refact-lsp.accepted', arguments = { { id = text } } }
  return { client_id = 7, insert_text = text, command = command,
           range = { start = { row = row, col = col }, end_ = { row = row, col = end_col } } }
end
local steps = {}
local function step(name, run)
  local ok = run()
  local cursor = vim.api.nvim_win_get_cursor(0)
  table.insert(steps, { name = name, ok = ok, lines = vim.api.nvim_buf_get_lines(0, 0, -1, false),
                        cursor = cursor, sent = #sent })
end
vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def add(a, b):', '    return )' })
vim.api.nvim_win_set_cursor(0, { 2, 11 })
-- The server's item replaces the ')' after the cursor: its range ends after it.
shown = item('a + b)', 1, 11, 12)
step('word', accept.accept_word)
step('word', accept.accept_word)
step('line', accept.accept_line)
-- A block: the rest of the line, then the next line.
vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def f():', '    ' })
vim.api.nvim_win_set_cursor(0, { 2, 4 })
shown = item('x = 1\\n    return x', 1, 4, 4)
step('line', accept.accept_line)
step('line', accept.accept_line)
shown = nil
step('nothing shown', accept.accept_word)
local f = assert(io.open(os.getenv('REFACT_OUT'), 'w'))
f:write(vim.fn.json_encode({ steps = steps, sent = sent }))
f:close()
vim.cmd('qa!')
"""


def test_neovim_accepts_a_word_and_a_line_and_reports_them(tmp_path: Path):
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (.ci/run installs it with editors/ci.sh)")
    script = tmp_path / "accept.lua"
    script.write_text(NVIM_ACCEPT_DRIVE)
    result = run_editor([nvim, "--headless", "-u", "NONE", "-c", f"luafile {script}"],
                        cwd=tmp_path, out=tmp_path / "nvim.json",
                        env={"REFACT_NVIM_DIR": str(EDITORS / "nvim")})
    steps = [(s["name"], s["ok"], s["lines"][1:], s["cursor"], s["sent"]) for s in result["steps"]]
    assert steps == [
        ("word", True, ["    return a)"], [2, 12], 1),
        ("word", True, ["    return a +)"], [2, 14], 2),
        # The rest is the whole item: it replaces its range (the ')') and counts as accepted.
        ("line", True, ["    return a + b)"], [2, 17], 3),
        ("line", True, ["    x = 1"], [2, 9], 4),
        ("line", True, ["    x = 1", "    return x"], [3, 12], 5),
        ("nothing shown", False, ["    x = 1", "    return x"], [3, 12], 5),
    ]
    partial, accepted = "refact-lsp.partiallyAccepted", "refact-lsp.accepted"
    assert [(c["command"], c["arguments"]) for c in result["sent"]] == [
        (partial, [{"id": "a + b)", "acceptedLength": 1}]),   # "a"
        (partial, [{"id": "a + b)", "acceptedLength": 3}]),   # "a +", counted from the start
        (accepted, [{"id": "a + b)"}]),
        (partial, [{"id": "x = 1\n    return x", "acceptedLength": 5}]),
        (accepted, [{"id": "x = 1\n    return x"}]),
    ]


# What package.el and lisp-mnt (MELPA's tools too) read from the file's headers.
EMACS_HEADERS = r"""(progn
  (require 'package)
  (require 'lisp-mnt)
  (with-temp-buffer
    (insert-file-contents (getenv "REFACT_EL"))
    (emacs-lisp-mode)
    (let ((info (package-buffer-info)))
      (princ (json-encode
              `((name . ,(symbol-name (package-desc-name info)))
                (version . ,(package-version-join (package-desc-version info)))
                (requires . ,(mapcar (lambda (r) (symbol-name (car r))) (package-desc-reqs info)))
                (url . ,(lm-homepage))
                (authors . ,(mapcar #'car (lm-authors)))
                (keywords . ,(lm-keywords-list))))))))"""


def test_emacs_package_headers_are_complete():
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (.ci/run installs it with editors/ci.sh)")
    proc = subprocess.run([emacs, "--batch", "--eval", EMACS_HEADERS], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "REFACT_EL": str(EDITORS / "emacs" / "refact-lsp.el")})
    assert proc.returncode == 0, proc.stderr
    headers = json.loads(proc.stdout)
    assert headers["name"] == "refact-lsp"
    assert headers["version"] == __version__  # released with the server
    assert headers["requires"] == ["emacs"]  # eglot and lsp-mode are optional
    assert headers["url"].startswith("https://")
    assert headers["authors"]
    assert "languages" in headers["keywords"]


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


def test_helix_keys_stop_and_restart_the_configured_server():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    languages = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    (name,) = languages["language-server"]
    keys = tomllib.loads((EDITORS / "helix" / "config.toml").read_text())["keys"]["normal"]["+"]
    # Helix 25.07's :lsp-stop / :lsp-restart take the server's name from languages.toml.
    assert keys["s"] == f":lsp-stop {name}"
    assert keys["r"] == f":lsp-restart {name}"
    assert keys["a"] == ":toggle auto-completion"
