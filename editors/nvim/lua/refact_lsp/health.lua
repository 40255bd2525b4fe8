-- :checkhealth refact_lsp: what works and what to do, in plain lines.

local M = {}

-- vim.health.start/ok/... from 0.10; report_* before (0.8, 0.9 as vim.health, 0.7 as
-- require('health')).
local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local info = health.info or health.report_info
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error

local function clients()
  local all = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  return vim.tbl_filter(function(client)
    return client.name == 'refact_lsp'
  end, all)
end

local function check_neovim()
  start('Neovim')
  if vim.fn.has('nvim-0.12') == 1 then
    ok('Neovim 0.12+: ghost text (vim.lsp.inline_completion), accept word / line, next / previous')
  elseif vim.fn.has('nvim-0.7') == 1 then
    ok('Neovim 0.7 to 0.11: suggestions in the completion popup (<C-x><C-o>); '
      .. 'ghost text, accept word and accept line need 0.12')
  else
    fail('Neovim 0.7 or newer is needed')
  end
end

local function check_server(config)
  start('refact-lsp server')
  if config == nil then
    warn("setup() has not run: require('refact_lsp').setup({}) starts the server and adds :RefactToggle")
    config = require('refact_lsp').defaults()
  end
  local program = config.cmd[1]
  if vim.fn.executable(program) ~= 1 then
    fail(('%s is not an executable'):format(program), {
      "install refact-lsp so that it is on PATH, or pass setup({ cmd = { '/path/to/refact-lsp' } })",
    })
    return
  end
  local version = vim.fn.system({ program, '--version' })
  if vim.v.shell_error == 0 then
    ok(('%s: %s'):format(vim.fn.exepath(program), vim.trim(version)))
  else
    fail(('%s --version failed: %s'):format(program, vim.trim(version)))
  end
  info(('refact-lsp doctor checks the model and the engine: %s doctor'):format(program))
end

local function check_clients()
  start('This Neovim')
  local switch = require('refact_lsp.switch')
  if vim.g.refact_enabled == false then
    warn('suggestions are off in all buffers: :RefactToggle turns them on')
  else
    ok(('suggestions are %s in the current buffer'):format(switch.enabled(0) and 'on' or 'off (:RefactToggle buffer)'))
  end
  local running = clients()
  if #running == 0 then
    info('no refact_lsp client is running: open a file of a configured filetype')
    return
  end
  for _, client in ipairs(running) do
    local buffers = vim.tbl_keys(client.attached_buffers or {})
    ok(('client %d (root %s) serves %d buffer(s)'):format(client.id, client.config.root_dir or '-', #buffers))
    local capabilities = client.server_capabilities or {}
    local commands = (capabilities.executeCommandProvider or {}).commands or {}
    if vim.tbl_contains(commands, 'refact-lsp.accepted') then
      ok('the server counts accepted suggestions, on this machine only')
    else
      info('this server does not count accepted suggestions')
    end
  end
  if vim.fn.has('nvim-0.12') == 1 and vim.lsp.inline_completion then
    if vim.lsp.inline_completion.is_enabled() then
      ok('ghost text is on (vim.lsp.inline_completion)')
    else
      warn('ghost text is off: vim.lsp.inline_completion.enable()')
    end
  end
end

function M.check()
  check_neovim()
  check_server(require('refact_lsp').current_config())
  check_clients()
end

return M
