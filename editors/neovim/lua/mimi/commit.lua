--- Commit messages written from the diff (`mimi.git.commitMessage`) into a gitcommit buffer.
---
--- `:MimiCommitMessage` (or, with `commit_message = { auto = true }`, opening an empty commit
--- message buffer) asks the server for a message from the repository's staged diff, in the
--- repository's own style. The text streams into the buffer above git's `#` comment lines as
--- the model writes (`mimi/chatDelta` with our chatId); `:MimiCancel` stops it. Problems (no
--- repository, nothing staged, a merge in progress) are one notification; the buffer keeps
--- what it had.
local M = {}

local pending = nil --- @type {chat_id: string, bufnr: integer, text: string, before: string[], client: vim.lsp.Client?, id: integer?}?

--- Lines of the message part: everything above git's first comment line.
--- @param bufnr integer
--- @return integer
local function message_end(bufnr)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  for i, line in ipairs(lines) do
    if line:sub(1, 1) == '#' then
      return i - 1
    end
  end
  return #lines
end

--- Whether the buffer has no message yet (only blank lines above the comments).
--- @param bufnr integer
function M.is_empty(bufnr)
  for _, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, message_end(bufnr), false)) do
    if line:match('%S') then
      return false
    end
  end
  return true
end

--- Replace the message part with `text` (a blank line stays between it and the comments).
local function set_message(bufnr, text)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  local lines = vim.split(text, '\n', { plain = true })
  local stop = message_end(bufnr)
  if stop < vim.api.nvim_buf_line_count(bufnr) then
    lines[#lines + 1] = ''
  end
  vim.api.nvim_buf_set_lines(bufnr, 0, stop, false, lines)
end

--- The repository folder of `bufnr` (its `.git`'s parent), else the current directory.
local function repository(bufnr)
  return vim.fs.root(bufnr, '.git') or vim.fn.getcwd()
end

--- Write a commit message into `bufnr` (default: the current buffer).
--- @param bufnr integer?
function M.write(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if pending then
    vim.notify('mimi: a commit message is already being written', vim.log.levels.INFO)
    return
  end
  local chat_id = ('commit-%x'):format(math.random(0, 0x7fffffff))
  local stop = message_end(bufnr)
  pending = {
    chat_id = chat_id,
    bufnr = bufnr,
    text = '',
    before = vim.api.nvim_buf_get_lines(bufnr, 0, stop, false),
  }
  local args = { folder = repository(bufnr), chatId = chat_id }
  require('mimi.server').command('mimi.git.commitMessage', args, function(err, result)
    vim.schedule(function()
      local mine = pending and pending.chat_id == chat_id and pending or nil
      if mine then
        pending = nil
      end
      if err then
        if mine and vim.api.nvim_buf_is_valid(bufnr) then
          vim.api.nvim_buf_set_lines(bufnr, 0, message_end(bufnr), false, mine.before)
        end
        vim.notify('mimi: ' .. (err.message or tostring(err)), vim.log.levels.WARN)
        return
      end
      if mine and result and type(result.message) == 'string' then
        set_message(bufnr, result.message)
      end
    end)
  end, function(client, request_id)
    if pending and pending.chat_id == chat_id then
      pending.client, pending.id = client, request_id
    end
  end)
end

--- `mimi/chatDelta {chatId, delta}`: stream into the buffer being written, if it is ours.
function M.on_delta(params)
  if not pending or type(params) ~= 'table' or params.chatId ~= pending.chat_id then
    return
  end
  if type(params.delta) ~= 'string' then
    return
  end
  pending.text = pending.text .. params.delta
  set_message(pending.bufnr, pending.text)
end

--- Stop the message being written; whether one was.
function M.cancel()
  local p = pending
  if not p then
    return false
  end
  pending = nil
  if p.client and p.id and not p.client:is_stopped() then
    p.client:cancel_request(p.id)
  end
  if vim.api.nvim_buf_is_valid(p.bufnr) then
    vim.api.nvim_buf_set_lines(p.bufnr, 0, message_end(p.bufnr), false, p.before)
  end
  return true
end

--- On `FileType gitcommit`: write a message when enabled and the buffer opened empty.
--- @param bufnr integer
function M.auto(bufnr)
  local cfg = require('mimi.config').get()
  if not (cfg.commit_message and cfg.commit_message.auto) then
    return
  end
  if M.is_empty(bufnr) then
    M.write(bufnr)
  end
end

return M
