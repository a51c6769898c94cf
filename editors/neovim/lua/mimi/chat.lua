--- `:MimiChat`: a conversation in a scratch split that fills as the answer streams.
---
--- Sits between the chat buffer and the `mimi.chat` command: a message is sent with the
--- conversation so far (`history`) and the current file (and selected lines); tokens arrive as
--- `mimi/chatDelta {chatId, delta}` notifications and are appended as they come; the final
--- answer `{chatId, reply, citations}` closes the turn and lists its sources. `<C-c>` in the
--- chat buffer cancels the request in flight (`$/cancelRequest`).
local api = vim.api

local M = {}

--- @class mimi.Chat
--- @field id string chatId sent to the server
--- @field buf integer
--- @field history {role: string, content: string}[]
--- @field pending {client: vim.lsp.Client, id: integer?}?
--- @field streamed string text received as deltas in the current turn
--- @field sources table<integer, {uri: string, range: lsp.Range?}>? citations by buffer line (1-based)

local chats = {} --- @type table<string, mimi.Chat>
local source_ns = api.nvim_create_namespace('mimi.chat.sources')
local current --- @type mimi.Chat?
local counter = 0

local function new_id()
  counter = counter + 1
  return ('nvim-%d-%d-%d'):format(vim.fn.getpid(), os.time(), counter)
end

local function valid(chat)
  return chat and api.nvim_buf_is_valid(chat.buf)
end

local function set_lines(chat, first, last, lines)
  vim.bo[chat.buf].modifiable = true
  api.nvim_buf_set_lines(chat.buf, first, last, false, lines)
  vim.bo[chat.buf].modifiable = false
end

local function follow(chat)
  local last = api.nvim_buf_line_count(chat.buf)
  for _, win in ipairs(vim.fn.win_findbuf(chat.buf)) do
    if win ~= api.nvim_get_current_win() or api.nvim_get_mode().mode == 'n' then
      api.nvim_win_set_cursor(win, { last, 0 })
    end
  end
end

--- Append `text` to the end of the chat buffer (continuing its last line).
local function append(chat, text)
  if not valid(chat) or text == '' then
    return
  end
  local n = api.nvim_buf_line_count(chat.buf)
  local last = api.nvim_buf_get_lines(chat.buf, n - 1, n, false)[1] or ''
  local parts = vim.split(text, '\n', { plain = true })
  parts[1] = last .. parts[1]
  set_lines(chat, n - 1, n, parts)
  follow(chat)
end

local function create_buffer(chat)
  local buf = api.nvim_create_buf(false, true)
  chat.buf = buf
  api.nvim_buf_set_name(buf, 'mimi://chat/' .. chat.id)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  set_lines(chat, 0, -1, {
    '# mimi chat',
    '',
    '<CR> new message (on a source: open it) · <C-c> stop · q close · :MimiChat! new conversation',
  })
  local function map(lhs, fn, desc)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true, desc = desc })
  end
  map('<CR>', function()
    if not M.open_source() then
      M.prompt()
    end
  end, 'mimi: open the source under the cursor, or a new chat message')
  map('gf', function()
    M.open_source()
  end, 'mimi: open the source under the cursor')
  map('<C-c>', function()
    M.cancel(chat)
  end, 'mimi: stop the answer')
  map('q', '<Cmd>close<CR>', 'mimi: close the chat')
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    callback = function()
      M.cancel(chat)
      chats[chat.id] = nil
      if current == chat then
        current = nil
      end
    end,
  })
end

--- The current conversation (a new one with `fresh`).
--- @param fresh boolean?
--- @return mimi.Chat
function M.get(fresh)
  if fresh or not valid(current) then
    if current then
      M.cancel(current)
    end
    local chat = { id = new_id(), history = {}, streamed = '' }
    create_buffer(chat)
    chats[chat.id] = chat
    current = chat
  end
  return current --[[@as mimi.Chat]]
end

--- Show the chat buffer in a split (or focus it); returns its window.
--- @param chat mimi.Chat
--- @return integer win
function M.show(chat)
  local wins = vim.fn.win_findbuf(chat.buf)
  if #wins > 0 then
    return wins[1]
  end
  local opts = require('mimi.config').get().chat
  local size = opts.size or 0.4
  local source_win = api.nvim_get_current_win()
  if opts.split == 'tab' then
    vim.cmd('tab split')
  elseif opts.split == 'horizontal' then
    local height = size < 1 and math.floor(vim.o.lines * size) or size
    vim.cmd(('botright %dsplit'):format(math.max(height, 5)))
  elseif opts.split ~= 'current' then
    local width = size < 1 and math.floor(vim.o.columns * size) or size
    vim.cmd(('botright %dvsplit'):format(math.max(width, 20)))
  end
  local win = api.nvim_get_current_win()
  api.nvim_win_set_buf(win, chat.buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  if opts.split ~= 'current' and api.nvim_win_is_valid(source_win) then
    api.nvim_set_current_win(source_win)
  end
  return win
end

local function relative(path)
  return vim.fn.fnamemodify(path, ':~:.')
end

local function finish(chat, err, result)
  chat.pending = nil
  if err then
    if err.code == -32800 then
      append(chat, '\n\n_(stopped)_\n')
    else
      append(chat, '\n\n**error:** ' .. require('mimi.server').describe_error('mimi.chat', err) .. '\n')
    end
    chat.history[#chat.history + 1] = { role = 'assistant', content = chat.streamed }
    return
  end
  result = type(result) == 'table' and result or {}
  local reply = type(result.reply) == 'string' and result.reply or chat.streamed
  if chat.streamed == '' and reply ~= '' then
    append(chat, reply) -- the server did not stream: show the whole answer now
  elseif vim.startswith(reply, chat.streamed) and #reply > #chat.streamed then
    append(chat, reply:sub(#chat.streamed + 1)) -- a tail that missed the deltas
  end
  chat.history[#chat.history + 1] = { role = 'assistant', content = reply }
  local citations = type(result.citations) == 'table' and result.citations or {}
  if #citations > 0 then
    local lines = { '', '', 'Sources:' }
    local first = api.nvim_buf_line_count(chat.buf) + #lines - 1 -- 0-based row of the first source
    chat.sources = chat.sources or {}
    for i, c in ipairs(citations) do
      local line = c.range and c.range.start and (c.range.start.line + 1) or 1
      lines[#lines + 1] = ('- %s:%d'):format(relative(vim.uri_to_fname(c.uri)), line)
      chat.sources[first + i] = c
    end
    append(chat, table.concat(lines, '\n'))
    for i = 1, #citations do
      pcall(api.nvim_buf_set_extmark, chat.buf, source_ns, first + i - 1, 2, {
        end_col = #lines[3 + i],
        hl_group = 'Underlined',
      })
    end
  end
  append(chat, '\n')
  api.nvim_exec_autocmds('User', { pattern = 'MimiChatDone', modeline = false, data = result })
end

--- One turn: show the user's message, run `command` with `args`, stream the answer.
local function turn(chat, message, command, args)
  M.show(chat)
  if chat.pending then
    M.cancel(chat)
  end
  local header = { '', '## You', '' }
  vim.list_extend(header, vim.split(message, '\n', { plain = true }))
  vim.list_extend(header, { '', '## mimi', '', '' })
  local n = api.nvim_buf_line_count(chat.buf)
  set_lines(chat, n, n, header)
  follow(chat)
  chat.history[#chat.history + 1] = { role = 'user', content = message }
  chat.streamed = ''
  local pending = {}
  chat.pending = pending
  require('mimi.server').command(command, args, function(err, result)
    if chat.pending == pending then -- not stopped or superseded meanwhile
      finish(chat, err, result)
    end
  end, function(client, id)
    pending.client, pending.id = client, id
  end)
  return chat
end

--- Send `message` in the current conversation.
--- @param message string
--- @param opts {uri: string?, range: lsp.Range?, fresh: boolean?}?
--- @return mimi.Chat
function M.send(message, opts)
  opts = opts or {}
  local chat = M.get(opts.fresh)
  local args = { chatId = chat.id, message = message, uri = opts.uri, range = opts.range }
  if #chat.history > 0 then
    args.history = vim.deepcopy(chat.history)
  end
  return turn(chat, message, 'mimi.chat', args)
end

--- "Mimi: explain" (`mimi.explain {uri, range}`): the answer goes into the chat split.
--- @param args {uri: string, range: lsp.Range?}
--- @return mimi.Chat
function M.explain(args)
  local chat = M.get(false)
  local where = relative(vim.uri_to_fname(args.uri))
  if type(args.range) == 'table' then
    where = ('%s:%d-%d'):format(where, args.range.start.line + 1, args.range['end'].line + 1)
  end
  return turn(chat, 'Explain ' .. where, 'mimi.explain', {
    uri = args.uri,
    range = args.range,
    chatId = chat.id,
  })
end

--- `mimi/chatDelta {chatId, delta}`: append to the conversation it belongs to.
function M.on_delta(params)
  if type(params) ~= 'table' then
    return
  end
  local chat = chats[params.chatId]
  if not chat or not chat.pending or type(params.delta) ~= 'string' then
    return -- unknown, finished or cancelled conversation
  end
  chat.streamed = chat.streamed .. params.delta
  append(chat, params.delta)
end

--- Open the chat source (citation) on the cursor line in the window the chat was opened from.
--- @return boolean whether the line was a source
function M.open_source()
  local buf = api.nvim_get_current_buf()
  local chat
  for _, c in pairs(chats) do
    if c.buf == buf then
      chat = c
    end
  end
  local row = api.nvim_win_get_cursor(0)[1]
  local source = chat and chat.sources and chat.sources[row]
  if not source then
    return false
  end
  local target
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) ~= buf and api.nvim_win_get_config(win).relative == '' then
      target = target or win
    end
  end
  if target then
    api.nvim_set_current_win(target)
  else
    vim.cmd('aboveleft split')
  end
  vim.cmd.edit(vim.fn.fnameescape(vim.uri_to_fname(source.uri)))
  local start = source.range and source.range.start or { line = 0, character = 0 }
  local lnum = math.min(start.line + 1, api.nvim_buf_line_count(0))
  api.nvim_win_set_cursor(0, { lnum, 0 })
  vim.cmd('normal! zz')
  return true
end

--- Stop the answer in flight.
--- @param chat mimi.Chat?
--- @return boolean whether one was running
function M.cancel(chat)
  chat = chat or current
  if not chat or not chat.pending then
    return false
  end
  local pending = chat.pending
  if pending.client and pending.id and not pending.client:is_stopped() then
    pending.client:cancel_request(pending.id)
  end
  -- Close the turn now; whatever the server still sends for it is ignored.
  finish(chat, { code = -32800, message = 'cancelled' })
  return true
end

--- Ask for a message with vim.ui.input and send it.
--- @param opts table?
function M.prompt(opts)
  vim.ui.input({ prompt = 'mimi> ' }, function(input)
    if input and vim.trim(input) ~= '' then
      M.send(input, opts)
    end
  end)
end

--- The context of the buffer a command runs in: its uri and, for a range, the selected lines.
--- @param range {line1: integer, line2: integer}?
--- @return {uri: string?, range: lsp.Range?}
function M.context(range)
  local buf = api.nvim_get_current_buf()
  if vim.bo[buf].buftype ~= '' or api.nvim_buf_get_name(buf) == '' then
    return {}
  end
  local ctx = { uri = vim.uri_from_bufnr(buf) }
  if range then
    local last = api.nvim_buf_get_lines(buf, range.line2 - 1, range.line2, false)[1] or ''
    local client = require('mimi.server').get_client(buf)
    local enc = client and client.offset_encoding or 'utf-16'
    ctx.range = {
      start = { line = range.line1 - 1, character = 0 },
      ['end'] = { line = range.line2 - 1, character = vim.str_utfindex(last, enc) },
    }
  end
  return ctx
end

--- `:[range]MimiChat[!] [message]`.
--- @param args {args: string, bang: boolean, range: integer, line1: integer, line2: integer}
function M.command(args)
  local ctx = M.context(args.range > 0 and args or nil)
  ctx.fresh = args.bang
  if args.args ~= '' then
    M.send(args.args, ctx)
    return
  end
  local chat = M.get(args.bang)
  M.show(chat)
  M.prompt({ uri = ctx.uri, range = ctx.range })
end

return M
