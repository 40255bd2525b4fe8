-- Accepting refact-lsp's ghost text whole, a word or a line at a time, and cycling
-- through its candidates: Neovim 0.12's vim.lsp.inline_completion.
--
-- Before 0.12 there is no ghost text: suggestions come in the completion popup, where
-- <C-n>/<C-p> (and the next/prev keys here) cycle and <C-y> accepts. accept_word and
-- accept_line then say once that they need 0.12 and return false.

local M = {}

local ACCEPTED = 'refact-lsp.accepted'
local PARTIALLY_ACCEPTED = 'refact-lsp.partiallyAccepted'

-- Neovim 0.12's module, or nil before.
local function inline_completion()
  return vim.lsp.inline_completion
end

--- The next word of `text`: leading blanks, then a run of word or of other characters.
function M.next_word(text)
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text
end

--- The rest of the line in `text`; at a line break, the break and the next line.
function M.next_line(text)
  return text:match('^\n?[^\n]*')
end

-- What of the item is typed already (since it was requested) and what is left: the
-- item starts at its range, or at the cursor.
local function split_typed(bufnr, item, row, col)
  local start = item.range and item.range.start
  local typed = ''
  if type(start) == 'table' and start.row == row and start.col <= col then
    typed = vim.api.nvim_buf_get_text(bufnr, row, start.col, row, col, {})[1]
  end
  if vim.startswith(item.insert_text, typed) then
    return typed, item.insert_text:sub(#typed + 1)
  end
  return '', item.insert_text
end

-- Puts `text` at the cursor, over the buffer up to `finish` ({row, col}, 0-based), and
-- leaves the cursor after it.
local function put(text, row, col, finish)
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_set_text(0, row, col, finish[1], finish[2], lines)
  vim.api.nvim_win_set_cursor(0, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
end

-- Tells the server how much of the item is in the buffer now, where it counts that.
local function report_partial(client, bufnr, item, accepted)
  local command = item.command
  local argument = command and command.command == ACCEPTED and command.arguments and command.arguments[1]
  local provider = client.server_capabilities.executeCommandProvider
  if type(argument) ~= 'table' or not (provider and vim.tbl_contains(provider.commands or {}, PARTIALLY_ACCEPTED)) then
    return
  end
  client:exec_cmd({
    title = 'refact-lsp: partially accepted',
    command = PARTIALLY_ACCEPTED,
    -- Characters (code points), as the server counts its insertText.
    arguments = { { id = argument.id, acceptedLength = vim.fn.strchars(accepted) } },
  }, { bufnr = bufnr })
end

-- Accepts `take(rest)` of the shown item; all of it counts as a whole accept.
local function accept_part(take)
  local completion = inline_completion()
  if not completion then
    vim.notify_once('refact-lsp: accepting a word or a line needs Neovim 0.12 (ghost text); '
      .. 'here suggestions come in the completion popup, where <C-y> accepts.', vim.log.levels.WARN)
    return false
  end
  local bufnr = vim.api.nvim_get_current_buf()
  return completion.get({
    bufnr = bufnr,
    -- Does the insertion itself and returns nothing, so no default insertion follows.
    on_accept = function(item)
      local client = vim.lsp.get_client_by_id(item.client_id)
      if type(item.insert_text) ~= 'string' or client == nil then
        return item
      end
      local row, col = unpack(vim.api.nvim_win_get_cursor(0))
      row = row - 1
      local typed, rest = split_typed(bufnr, item, row, col)
      local part = take(rest)
      if part ~= rest then
        put(part, row, col, { row, col })
        report_partial(client, bufnr, item, typed .. part)
        return nil
      end
      -- All of it: it also replaces what its range covers after the cursor (the range
      -- is the buffer's from before `typed` came in front of that).
      local finish = { row, col }
      if item.range then
        local start, stop = item.range.start, item.range.end_
        finish = { stop.row, stop.col + (stop.row == start.row and #typed or 0) }
      end
      put(part, row, col, finish)
      if item.command then
        client:exec_cmd(item.command, { bufnr = bufnr })
      end
      return nil
    end,
  })
end

--- Accepts the shown suggestion; false where there is none (so a mapping can fall back).
function M.accept()
  local completion = inline_completion()
  return completion ~= nil and completion.get() or false
end

--- Accepts the next word of the shown suggestion (like copilot.lua's accept_word).
function M.accept_word()
  return accept_part(M.next_word)
end

--- Accepts the rest of the line of the shown suggestion (like copilot.lua's accept_line).
function M.accept_line()
  return accept_part(M.next_line)
end

local function cycle(count)
  local completion = inline_completion()
  if not completion or not completion.select then
    return false
  end
  completion.select({ count = count })
  return true
end

--- Shows the next candidate (the server sends up to `candidates` of them).
function M.next()
  return cycle(1)
end

--- Shows the previous candidate.
function M.prev()
  return cycle(-1)
end

-- The actions keys can be mapped to, and the popup key each becomes before 0.12.
local ACTIONS = {
  accept_word = { run = M.accept_word, desc = 'Accept the next word of the refact-lsp suggestion' },
  accept_line = { run = M.accept_line, desc = 'Accept the next line of the refact-lsp suggestion' },
  next = { run = M.next, popup = '<C-n>', desc = 'Next refact-lsp suggestion' },
  prev = { run = M.prev, popup = '<C-p>', desc = 'Previous refact-lsp suggestion' },
}

--- Insert-mode mappings in one buffer: `keys` maps action names to keys (false: none).
function M.map(bufnr, keys)
  for name, lhs in pairs(keys) do
    local action = ACTIONS[name]
    if action == nil then
      vim.notify(('refact-lsp: no key action %q'):format(name), vim.log.levels.WARN)
    elseif lhs then
      vim.keymap.set('i', lhs, function()
        if action.run() then
          return ''
        end
        -- complete_info rather than pumvisible(): the latter is false without a UI.
        if action.popup and vim.fn.complete_info({ 'mode' }).mode ~= '' then
          return action.popup
        end
        return lhs
      end, { buffer = bufnr, expr = true, desc = action.desc })
    end
  end
end

return M
