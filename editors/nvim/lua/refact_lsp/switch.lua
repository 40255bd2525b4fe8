-- Suggestions on and off, for every buffer (g:refact_enabled) or one (b:refact_enabled).
--
-- Off means that refact-lsp's own client answers its completion requests from such a
-- buffer with an empty list, so the server receives none. Other language servers are
-- untouched, and the document stays in sync, so switching back on is instant. (Detaching
-- the buffer instead would resend it whole, and on Neovim 0.7 a detach and re-attach
-- leaves two change listeners, which sends every edit twice.)

local M = {}

-- The requests that ask for suggestions, and the empty answer each gets while off.
local EMPTY_ANSWERS = {
  ['textDocument/completion'] = function()
    return { isIncomplete = false, items = {} }
  end,
  ['textDocument/inlineCompletion'] = function()
    return { items = {} }
  end,
}

-- The id returned for a request answered here: no real id is negative, and a cancel
-- of it is a notification the server ignores.
local ANSWERED_HERE = -1

local function resolve(bufnr)
  if bufnr == nil or bufnr == 0 then
    return vim.api.nvim_get_current_buf()
  end
  return bufnr
end

--- Whether suggestions are on for `bufnr` (default: the current buffer).
function M.enabled(bufnr)
  if vim.g.refact_enabled == false then
    return false
  end
  return vim.b[resolve(bufnr)].refact_enabled ~= false
end

--- Turns suggestions on or off: everywhere, or with opts.buffer (true or a number) in one buffer.
function M.set(on, opts)
  opts = opts or {}
  if opts.buffer then
    vim.b[resolve(opts.buffer == true and 0 or opts.buffer)].refact_enabled = on
  else
    vim.g.refact_enabled = on
  end
end

--- Flips the switch that opts names (see set) and says what holds now.
function M.toggle(opts)
  opts = opts or {}
  local bufnr = resolve(opts.buffer ~= true and opts.buffer or 0)
  local on
  if opts.buffer then
    on = vim.b[bufnr].refact_enabled ~= false
  else
    on = vim.g.refact_enabled ~= false
  end
  M.set(not on, opts)
  local where = opts.buffer and 'in this buffer' or 'in all buffers'
  local note = (opts.buffer and not on and vim.g.refact_enabled == false) and ' (but off everywhere)' or ''
  vim.notify(('refact-lsp: suggestions %s %s%s'):format(on and 'off' or 'on', where, note))
end

--- Makes `client` answer suggestion requests from switched-off buffers itself. Works on
--- both call styles: client.request(...) before 0.11, client:request(...) from 0.11.
function M.gate(client)
  local request = client.request
  client.request = function(...)
    local count = select('#', ...)
    local args = { ... }
    local first = args[1] == client and 2 or 1
    local method, params, handler, bufnr = args[first], args[first + 1], args[first + 2], args[first + 3]
    local empty = EMPTY_ANSWERS[method]
    if empty == nil or M.enabled(bufnr) then
      return request(unpack(args, 1, count))
    end
    handler = handler or client.handlers[method] or vim.lsp.handlers[method]
    local ctx = { method = method, client_id = client.id, bufnr = resolve(bufnr), params = params }
    vim.schedule(function()
      handler(nil, empty(), ctx)
    end)
    return true, ANSWERED_HERE
  end
end

return M
