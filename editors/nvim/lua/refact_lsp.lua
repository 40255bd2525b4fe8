-- refact-lsp for Neovim 0.7 and newer: local fill-in-the-middle code completion.
--
--   vim.opt.runtimepath:append('/path/to/refact-lsp/editors/nvim')
--   require('refact_lsp').setup({ init_options = { model = 'qwen2.5-coder-0.5b' }, tab = true })
--
-- 0.12+: ghost text (vim.lsp.inline_completion), <Tab> accepts it.
-- 0.11:  vim.lsp.config/vim.lsp.enable, completion with <C-x><C-o>.
-- 0.7-0.10: the client is started by hand on FileType, completion with <C-x><C-o>.
--
-- :RefactToggle turns suggestions off and on everywhere, :RefactToggle buffer in one
-- buffer (lua/refact_lsp/switch.lua); keys for accept word / line and next / previous are
-- set in each buffer the client attaches to (lua/refact_lsp/accept.lua);
-- :checkhealth refact_lsp says what works (lua/refact_lsp/health.lua).
-- :RefactAsk asks the model about the selected lines or the definition at the cursor,
-- the answer in a scratch buffer; vim.lsp.buf.code_action() offers explain, docstring,
-- type hints and ask (lua/refact_lsp/ask.lua).

local accept = require('refact_lsp.accept')
local ask = require('refact_lsp.ask')
local switch = require('refact_lsp.switch')

local M = {}

-- Our own options; everything else in setup()'s table is LSP client config.
local OWN_KEYS = { tab = true, inline = true, keys = true }

-- The default insert-mode keys, as copilot.vim's: set `keys = false` for none, or a
-- table with some of them (false for one: none).
M.default_keys = {
  accept_word = '<M-Right>',
  accept_line = '<M-C-Right>',
  next = '<M-]>',
  prev = '<M-[>',
}

M.toggle = switch.toggle
M.enabled = switch.enabled
M.accept = accept.accept
M.accept_word = accept.accept_word
M.accept_line = accept.accept_line
M.next = accept.next
M.prev = accept.prev
M.ask = ask.ask

local current -- the client config setup() started with, for :checkhealth

--- The client config setup() started with, or nil before setup().
function M.current_config()
  return current
end

local function has(version)
  return vim.fn.has('nvim-' .. version) == 1
end

--- The defaults from lsp/refact_lsp.lua beside this file, so that there is one copy.
function M.defaults()
  local here = debug.getinfo(1, 'S').source:sub(2) -- .../editors/nvim/lua/refact_lsp.lua
  return dofile(vim.fn.fnamemodify(here, ':p:h:h') .. '/lsp/refact_lsp.lua')
end

--- The client config: the defaults with `opts` on top (lists are replaced, not merged),
--- and an on_init that lets the switch answer requests from switched-off buffers.
function M.config(opts)
  local config = M.defaults()
  for key, value in pairs(opts or {}) do
    if not OWN_KEYS[key] then
      if key == 'init_options' then
        config.init_options = vim.tbl_deep_extend('force', config.init_options or {}, value)
      else
        config[key] = value
      end
    end
  end
  local on_init = config.on_init
  config.on_init = function(client, result)
    switch.gate(client)
    if on_init then
      return on_init(client, result)
    end
  end
  return config
end

-- The nearest directory above `path` holding one of `markers`.
local function find_root(path, markers)
  local dir = path
  while true do
    for _, marker in ipairs(markers) do
      if vim.loop.fs_stat(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      return nil
    end
    dir = parent
  end
end

-- Before 0.11 there is no vim.lsp.enable: start one client per root on FileType.
local clients = {} -- root_dir -> client id

local function attach_legacy(config, bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= '' and vim.fn.fnamemodify(name, ':p:h') or vim.fn.getcwd()
  local root = find_root(dir, config.root_markers or {}) or dir
  local id = clients[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client({
      name = 'refact_lsp',
      cmd = config.cmd,
      root_dir = root,
      init_options = config.init_options,
      get_language_id = config.get_language_id,
      on_init = config.on_init,
      on_attach = function(c, b)
        -- Completion through the omni popup: <C-x><C-o>.
        vim.api.nvim_buf_set_option(b, 'omnifunc', 'v:lua.vim.lsp.omnifunc')
        if config.on_attach then
          config.on_attach(c, b)
        end
      end,
    })
    if not id then
      vim.notify('refact-lsp: could not start ' .. tostring(config.cmd[1]), vim.log.levels.ERROR)
      return
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

local function start_legacy(config)
  local group = vim.api.nvim_create_augroup('refact_lsp', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = config.filetypes,
    callback = function(args)
      attach_legacy(config, args.buf)
    end,
  })
  -- Buffers opened before setup() ran.
  local wanted = {}
  for _, ft in ipairs(config.filetypes) do
    wanted[ft] = true
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and wanted[vim.api.nvim_buf_get_option(bufnr, 'filetype')] then
      attach_legacy(config, bufnr)
    end
  end
end

--- <Tab> accepts the ghost text on 0.12+, or the selected popup item before; else a tab.
function M.map_tab()
  if has('0.12') and vim.lsp.inline_completion then
    vim.keymap.set('i', '<Tab>', function()
      if not vim.lsp.inline_completion.get() then
        return '<Tab>'
      end
    end, { expr = true, desc = 'Accept the refact-lsp inline completion' })
  else
    -- complete_info rather than pumvisible(): the latter is false without a UI (headless).
    vim.keymap.set('i', '<Tab>', function()
      return vim.fn.complete_info({ 'selected' }).selected >= 0 and '<C-y>' or '<Tab>'
    end, { expr = true, desc = 'Accept the selected completion' })
  end
end

--- Registers the server with a pre-0.11 style nvim-lspconfig (lspconfig.configs), so that
--- require('lspconfig').refact_lsp.setup({}) works there too.
function M.lspconfig()
  local configs = require('lspconfig.configs')
  if configs.refact_lsp then
    return
  end
  local config = M.defaults()
  configs.refact_lsp = {
    default_config = {
      cmd = config.cmd,
      filetypes = config.filetypes,
      root_dir = require('lspconfig.util').root_pattern(unpack(config.root_markers)),
      single_file_support = true,
      init_options = config.init_options,
      get_language_id = config.get_language_id,
      on_init = switch.gate, -- so that require('refact_lsp').toggle() works here too
    },
    docs = { description = 'refact-lsp: local fill-in-the-middle code completion.' },
  }
end

-- Buffer keys wherever the client attaches: on LspAttach from 0.8, on_attach on 0.7.
local function map_keys_on_attach(config, keys)
  if keys == false then
    return
  end
  keys = vim.tbl_extend('force', M.default_keys, keys or {})
  if has('0.8') then
    vim.api.nvim_create_autocmd('LspAttach', {
      group = vim.api.nvim_create_augroup('refact_lsp_keys', { clear = true }),
      callback = function(args)
        local client = vim.lsp.get_client_by_id(args.data.client_id)
        if client and client.name == 'refact_lsp' then
          accept.map(args.buf, keys)
        end
      end,
    })
  else
    local on_attach = config.on_attach
    config.on_attach = function(client, bufnr)
      accept.map(bufnr, keys)
      if on_attach then
        on_attach(client, bufnr)
      end
    end
  end
end

local function add_commands()
  ask.setup()
  vim.api.nvim_create_user_command('RefactToggle', function(command)
    switch.toggle({ buffer = command.args == 'buffer' })
  end, {
    nargs = '?',
    complete = function()
      return { 'buffer' }
    end,
    desc = 'refact-lsp: suggestions off or on, in all buffers or (with "buffer") this one',
  })
end

--- Starts refact-lsp for the configured filetypes.
--- opts: LSP client config (cmd, filetypes, root_markers, init_options, on_attach) plus
---   tab = true     map <Tab> to accept (see map_tab)
---   inline = false do not turn on ghost text on 0.12+
---   keys = {...}   insert-mode keys per buffer (M.default_keys), or false for none
function M.setup(opts)
  opts = opts or {}
  local config = M.config(opts)
  current = config
  add_commands()
  map_keys_on_attach(config, opts.keys)
  if has('0.11') then
    vim.lsp.config('refact_lsp', config)
    vim.lsp.enable('refact_lsp')
  else
    start_legacy(config)
  end
  if has('0.12') and vim.lsp.inline_completion and opts.inline ~= false then
    vim.lsp.inline_completion.enable()
  end
  if opts.tab then
    M.map_tab()
  end
end

return M
