"""Neovim's :RefactAsk and code actions (editors/nvim/lua/refact_lsp/ask.lua), headless,
against the real server on a fake OpenAI-style engine whose chat answer is known: the
answer streams into a scratch buffer, and "Write a docstring" picked from
vim.lsp.buf.code_action() changes the function in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.ask import ANSWER, answering_engine, project_file
from tests.support.fake_openai import FakeEngine
from tests.test_editors import (
    NVIM_HELPERS,
    nvim_env,
    refact_lsp_executable,
    run_editor,
)

pytestmark = pytest.mark.model  # starts the server and an editor (conftest.py)


INIT = """
vim.opt.runtimepath:append(os.getenv('REFACT_NVIM_DIR'))
require('refact_lsp').setup({
  cmd = { os.getenv('REFACT_SERVER') },
  init_options = { engine = { kind = 'openai', url = os.getenv('REFACT_ENGINE_URL') } },
})
"""

DRIVE = NVIM_HELPERS + """
local result = {}
local function answer_of(buf)
  return function()
    local ok, value = pcall(vim.api.nvim_buf_get_var, buf, 'refact_answer')
    return ok and value or nil
  end
end
poll(function() return #clients() > 0 or nil end, function()
  vim.api.nvim_win_set_cursor(0, { 3, 9 })
  local buf = require('refact_lsp').ask('What does it do?')
  result.windows = #vim.api.nvim_list_wins()
  poll(answer_of(buf), function(answer)
    result.answer = answer
    result.scratch = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\\n')
    result.filetype = vim.api.nvim_buf_get_option(buf, 'filetype')
    vim.ui.select = function(items, opts, on_choice)
      result.titles = {}
      local chosen
      for index, item in ipairs(items) do
        local title = opts.format_item(item)
        table.insert(result.titles, title)
        if title:find('Write a docstring', 1, true) then chosen = index end
      end
      on_choice(items[chosen], chosen)
    end
    vim.lsp.buf.code_action()
    poll(function()
      return vim.fn.getline(3):find(string.rep('"', 3), 1, true) and vim.fn.getline(3) or nil
    end, function()
      result.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
      finish(result)
    end)
  end)
end)
"""


engine = pytest.fixture(answering_engine, name="engine")


def test_neovim_asks_into_a_scratch_buffer_and_applies_a_docstring(
        tmp_path: Path, engine: FakeEngine) -> None:
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (.ci/run installs it with editors/ci.sh)")
    source = project_file(tmp_path)
    init = tmp_path / "init.lua"
    init.write_text(INIT)
    drive = tmp_path / "drive.lua"
    drive.write_text(DRIVE.replace("{timeout_ms}", "60000"))
    env = {**nvim_env(tmp_path, refact_lsp_executable(tmp_path)),
           "REFACT_ENGINE_URL": engine.url}
    result = run_editor([nvim, "--headless", "-u", str(init), str(source),
                         "-c", f"luafile {drive}"], cwd=source.parent, out=tmp_path / "nvim.json",
                        env=env)
    assert result["windows"] == 2  # the answer's split
    assert result["answer"] == ANSWER and result["scratch"] == ANSWER
    assert result["filetype"] == "markdown"
    assert result["titles"] == ["Refact: Explain this code", "Refact: Write a docstring",
                                "Refact: Add type hints", "Refact: Ask about this..."]
    assert result["lines"] == ["class Shape:", "    def area(self, width, height):",
                               '        """The area."""', "        return width * height"]
    asked = [body for _, path, _, body in engine.seen if path == "/v1/chat/completions"]
    assert asked[0]["messages"][0]["content"].startswith("What does it do?")
    assert "Write a docstring" in asked[1]["messages"][0]["content"]
