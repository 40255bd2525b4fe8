-- Asking the model about code: :RefactAsk and the server's code actions.
--
-- :RefactAsk [question]      about the definition at the cursor
-- :'<,'>RefactAsk [question] about the selected lines
-- The answer streams into a scratch buffer (markdown) in a split below: the server sends
-- the whole answer so far as $/progress reports on the request's workDoneToken.
--
-- The server's code actions (vim.lsp.buf.code_action(): Explain this code, Write a
-- docstring, Add type hints, Ask about this...) run through M.run_action, which Neovim
-- calls for the command `refact-lsp.codeAction`: explanations and answers go to the
-- scratch buffer, "Ask about this..." asks for the question first, and a docstring or
-- type hints come back as an edit the server applies (workspace/applyEdit).

local M = {}

local COMMAND = 'refact-lsp.codeAction'
local listeners = {} -- workDoneToken -> function(value) for its $/progress
local count = 0

local function client_for(bufnr)
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == 'refact_lsp' then
      return client
    end
  end
end

local function new_token()
  count = count + 1
  return 'refact-lsp-ask-' .. count
end

--- A scratch buffer in a split below, and a function that shows a text in it. The
--- buffer's b:refact_answer is set to the answer once it is complete.
local function answer_window(title)
  local origin = vim.api.nvim_get_current_win()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_option(buf, 'filetype', 'markdown')
  vim.api.nvim_buf_set_option(buf, 'bufhidden', 'wipe')
  pcall(vim.api.nvim_buf_set_name, buf, 'refact-lsp: ' .. title .. ' ' .. count)
  vim.cmd('botright split')
  vim.api.nvim_win_set_buf(0, buf)
  vim.api.nvim_set_current_win(origin)
  local function show(text)
    if vim.api.nvim_buf_is_valid(buf) then
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
    end
  end
  show('(' .. title .. ': waiting for the answer)')
  return buf, show
end

--- Streams the answer of `method` (refact/chat, or the code action command) into
--- `show`; `done(err, result)` once it is answered.
local function request_streamed(client, bufnr, method, params, token, show, done)
  listeners[token] = function(value)
    if value.kind == 'report' and value.message then
      show(value.message)
    end
  end
  client.request(method, params, function(err, result)
    listeners[token] = nil
    done(err, result)
  end, bufnr)
end

--- :RefactAsk: `question` (asked for where empty) about lines line1..line2 (1-based),
--- or about the definition at the cursor where `line1` is nil. Returns the scratch
--- buffer, or nil where nothing was asked.
function M.ask(question, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    vim.notify('refact-lsp is not running in this buffer', vim.log.levels.ERROR)
    return nil
  end
  if not question or question == '' then
    question = vim.fn.input('Ask refact-lsp: ')
  end
  if question == '' then
    return nil
  end
  local range
  if line1 then
    range = { start = { line = line1 - 1, character = 0 }, ['end'] = { line = line2, character = 0 } }
  else
    local position = vim.lsp.util.make_position_params().position
    range = { start = position, ['end'] = position }
  end
  local token = new_token()
  local buf, show = answer_window('answer')
  local params = {
    messages = { { role = 'user', content = question } },
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = range,
    workDoneToken = token,
  }
  request_streamed(client, bufnr, 'refact/chat', params, token, show, function(err, result)
    local text = err and ('refact-lsp: ' .. err.message) or result.text
    show(text)
    if vim.api.nvim_buf_is_valid(buf) then
      vim.api.nvim_buf_set_var(buf, 'refact_answer', text)
    end
  end)
  return buf
end

--- The code action command, run here rather than sent as is: the question of "Ask
--- about this..." is asked for, and an answer to read gets a scratch buffer.
function M.run_action(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local argument = vim.deepcopy((command.arguments or {})[1] or {})
  if not client then
    return
  end
  if argument.action == 'ask' then
    argument.question = vim.fn.input('Ask refact-lsp: ')
    if argument.question == '' then
      return
    end
  end
  local token = new_token()
  argument.workDoneToken = token
  local edits = argument.action == 'docstring' or argument.action == 'typeHints'
  local buf, show
  if edits then
    show = function() end
    vim.notify('refact-lsp: ' .. command.title .. '...', vim.log.levels.INFO)
  else
    buf, show = answer_window(command.title)
  end
  local params = { command = COMMAND, arguments = { argument } }
  request_streamed(client, ctx.bufnr, 'workspace/executeCommand', params, token, show,
    function(err, result)
      if err then
        vim.notify('refact-lsp: ' .. err.message, vim.log.levels.ERROR)
        show('refact-lsp: ' .. err.message)
      elseif edits and not result.applied then
        vim.notify('refact-lsp: not applied: ' .. (result.reason or '?'), vim.log.levels.WARN)
      elseif not edits then
        show(result.text)
        if vim.api.nvim_buf_is_valid(buf) then
          vim.api.nvim_buf_set_var(buf, 'refact_answer', result.text)
        end
      end
    end)
end

--- Routes the $/progress of our own tokens to their answer (nothing else sees them:
--- each report is a whole answer, too long for a status line); the rest goes on to
--- the handler that was there.
function M.setup()
  if M.installed then
    return
  end
  M.installed = true
  local original = vim.lsp.handlers['$/progress']
  vim.lsp.handlers['$/progress'] = function(err, result, ctx, config)
    local listener = result and listeners[result.token]
    if listener then
      listener(result.value or {})
      return
    end
    if original then
      return original(err, result, ctx, config)
    end
  end
  vim.lsp.commands[COMMAND] = M.run_action
  vim.api.nvim_create_user_command('RefactAsk', function(command)
    if command.range > 0 then
      M.ask(command.args, command.line1, command.line2)
    else
      M.ask(command.args)
    end
  end, {
    nargs = '*',
    range = true,
    desc = 'refact-lsp: ask the model about the selected lines or the definition at the cursor',
  })
end

return M
