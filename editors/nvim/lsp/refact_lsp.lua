-- refact-lsp: local fill-in-the-middle code completion.
--
-- The config table for Neovim 0.11+ (`vim.lsp.config`/`vim.lsp.enable` find it as
-- lsp/refact_lsp.lua on 'runtimepath') and the same shape as nvim-lspconfig's own
-- lsp/*.lua entries. Older Neovim versions get it through require('refact_lsp').setup().
--
-- Install the server so that `refact-lsp` is on PATH, or set `cmd` to its full path.

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
