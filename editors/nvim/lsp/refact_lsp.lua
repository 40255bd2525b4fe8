---@brief
---
--- https://github.com/refact-lsp/refact-lsp
---
--- refact-lsp: code completion from a local fill-in-the-middle model (Refact-1.6B,
--- Qwen2.5-Coder, any FIM GGUF) through llama.cpp, as LSP 3.18 inline completion (ghost
--- text, Neovim 0.12+) and as a completion item.
---
--- Install the server so that `refact-lsp` is on PATH (`pipx install` of its checkout or
--- wheel), or set `cmd` to its full path. Settings go in `init_options`, camelCase:
--- ```lua
--- vim.lsp.config('refact_lsp', { init_options = { model = 'qwen2.5-coder-0.5b' } })
--- vim.lsp.enable('refact_lsp')
--- vim.lsp.inline_completion.enable()
--- ```
---
--- This is the config table for Neovim 0.11+ (`vim.lsp.config`/`vim.lsp.enable` find it as
--- lsp/refact_lsp.lua on 'runtimepath'), in the shape of nvim-lspconfig's lsp/*.lua.
--- `require('refact_lsp').setup()` from the same directory adds :RefactToggle, keys for
--- accept word / line and next / previous, :checkhealth refact_lsp, and Neovim 0.7-0.10.

---@type vim.lsp.Config
return {
  cmd = { 'refact-lsp' },
  -- The languages the server has grammars for; it completes other text too, so add
  -- more filetypes freely (an empty list would mean none on older Neovim versions).
  filetypes = {
    'bash',
    'c',
    'cpp',
    'cs',
    'go',
    'java',
    'javascript',
    'javascriptreact',
    'lua',
    'php',
    'python',
    'ruby',
    'rust',
    'sh',
    'typescript',
    'typescriptreact',
  },
  root_markers = { '.git' },
  -- Neovim sends the filetype as languageId; a few differ from the LSP names, which
  -- `disabledLanguages` uses.
  get_language_id = function(_, filetype)
    return ({ cs = 'csharp', sh = 'shellscript', bash = 'shellscript' })[filetype] or filetype
  end,
  -- Sent as initializationOptions: camelCase keys as in the README, e.g.
  -- { model = 'qwen2.5-coder-0.5b', maxTokens = 64, engine = { kind = 'llama-server', url = ... } }
  init_options = {},
}
