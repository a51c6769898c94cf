--- Server health and the index: `:MimiStatus`, `:MimiReindex`, the statusline component.
---
--- Sits at the receiving end of `mimi/status` and `mimi/indexStatus` (kept here and re-emitted
--- as `User MimiStatus` / `User MimiIndexStatus` autocmds) and calls `mimi.status` and
--- `mimi.reindex`. The server already shows a message once when a backend goes down; this
--- module does not repeat it.
local api = vim.api

local M = {}

--- Last notifications: feature -> {state, message}; `index` -> mimi/indexStatus params.
M.state = { features = {}, index = nil }

local warned = {} --- @type table<string, boolean>

local function emit(pattern, data)
  api.nvim_exec_autocmds('User', { pattern = pattern, modeline = false, data = data })
  vim.cmd('redrawstatus!')
end

--- `mimi/status` `{completion: "ok"|"unavailable"|"error", message?}`.
function M.on_status(params)
  if type(params) ~= 'table' then
    return
  end
  for feature, value in pairs(params) do
    if feature ~= 'message' and type(value) == 'string' then
      M.state.features[feature] = { state = value, message = params.message }
    end
  end
  emit('MimiStatus', params)
end

--- `mimi/indexStatus` `{state, files, chunks, message?}`.
function M.on_index_status(params)
  if type(params) ~= 'table' then
    return
  end
  local previous = M.state.index
  M.state.index = params
  if params.state == 'error' and (not previous or previous.message ~= params.message) then
    vim.notify('mimi: indexing failed: ' .. tostring(params.message or '?'), vim.log.levels.ERROR)
  end
  emit('MimiIndexStatus', params)
end

--- Show an unexpected request error once per distinct message.
--- @param what string
--- @param err table
function M.note_error(what, err)
  local message = type(err) == 'table' and tostring(err.message) or tostring(err)
  local key = what .. message
  if warned[key] then
    return
  end
  warned[key] = true
  vim.notify(('mimi: %s failed: %s'):format(what, message), vim.log.levels.WARN)
end

--- A short statusline string: "mimi ok", "mimi unavailable", "mimi indexing 12/…".
--- @return string
function M.statusline()
  if not require('mimi.server').get_client() then
    return ''
  end
  local parts = { 'mimi' }
  local completion = M.state.features.completion
  parts[#parts + 1] = completion and completion.state or 'ok'
  local index = M.state.index
  if index and index.state == 'indexing' then
    parts[#parts + 1] = ('indexing %s files'):format(index.files or '?')
  elseif index and index.state == 'error' then
    parts[#parts + 1] = 'index error'
  end
  local position = require('mimi.ghost').position()
  if position ~= '' then
    parts[#parts + 1] = position
  end
  return table.concat(parts, ' ')
end

local function scalar(v)
  if type(v) == 'table' then
    return vim.inspect(v, { newline = ' ', indent = '' })
  end
  if v == vim.NIL or v == nil then
    return '-'
  end
  if type(v) == 'number' and v ~= math.floor(v) then
    return ('%.1f'):format(v)
  end
  return tostring(v)
end

local function pairs_line(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    if t[k] ~= vim.NIL then
      out[#out + 1] = ('%s %s'):format(k, scalar(t[k]))
    end
  end
  return table.concat(out, ', ')
end

--- Lines describing a `mimi.status` answer.
--- @param status table
--- @return string[]
function M.format(status)
  local lines = { ('mimi-lsp %s'):format(scalar(status.version)), '' }
  lines[#lines + 1] = 'Backends'
  local backends = type(status.backends) == 'table' and status.backends or {}
  local names = vim.tbl_keys(backends)
  table.sort(names)
  for _, name in ipairs(names) do
    local b = backends[name]
    if type(b) == 'table' then
      local what = table.concat(
        vim.tbl_filter(function(x)
          return x ~= nil and x ~= vim.NIL and x ~= ''
        end, { b.kind, b.model }),
        ' · '
      )
      lines[#lines + 1] = ('  %-11s %-12s %s'):format(name .. ':', scalar(b.state), what)
      if b.message and b.message ~= vim.NIL and b.message ~= '' then
        lines[#lines + 1] = '      ' .. b.message
      end
      if b.fix and b.fix ~= vim.NIL and b.fix ~= '' then
        lines[#lines + 1] = '      fix: ' .. b.fix
      end
    end
  end
  lines[#lines + 1] = ''
  local index = status.index
  if type(index) == 'table' and index.state ~= 'disabled' then
    lines[#lines + 1] = 'Index: ' .. pairs_line(index)
  else
    lines[#lines + 1] = 'Index: disabled'
  end
  if type(status.metrics) == 'table' then
    lines[#lines + 1] = ''
    lines[#lines + 1] = 'Metrics'
    local keys = vim.tbl_keys(status.metrics)
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = status.metrics[k]
      lines[#lines + 1] = ('  %s: %s'):format(k, type(v) == 'table' and pairs_line(v) or scalar(v))
    end
  end
  local g = require('mimi.ghost').stats
  lines[#lines + 1] = ''
  lines[#lines + 1] = ('Neovim: requests %d, cancelled %d, shown %d, accepted %d, partially %d'):format(
    g.requests,
    g.cancelled,
    g.shown,
    g.accepted,
    g.partial
  )
  return lines
end

--- Show lines in a centred floating window closed with q or <Esc>.
--- @param title string
--- @param lines string[]
--- @param filetype string?
--- @return integer buf, integer win
function M.float(title, lines, filetype)
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  if filetype then
    vim.bo[buf].filetype = filetype
  end
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, api.nvim_strwidth(l))
  end
  width = math.min(width + 2, math.max(20, vim.o.columns - 4))
  local height = math.min(#lines, math.max(3, vim.o.lines - 4))
  local win = api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
    title = ' ' .. title .. ' ',
  })
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set('n', key, '<Cmd>close<CR>', { buffer = buf, nowait = true })
  end
  return buf, win
end

--- `:MimiStatus`: ask the server and show the answer.
--- @param on_done fun(lines: string[]?, status: table?)?
function M.show(on_done)
  require('mimi.server').command('mimi.status', nil, function(err, result)
    if err or type(result) ~= 'table' then
      vim.notify(require('mimi.server').describe_error('mimi.status', err or 'no answer'), vim.log.levels.ERROR)
      if on_done then
        on_done(nil, nil)
      end
      return
    end
    local lines = M.format(result)
    M.float('mimi status', lines, 'mimi-status')
    if on_done then
      on_done(lines, result)
    end
  end)
end

--- `:MimiReindex`: rebuild the workspace index.
--- @param on_done fun(result: table?)?
function M.reindex(on_done)
  vim.notify('mimi: reindexing…', vim.log.levels.INFO)
  require('mimi.server').command('mimi.reindex', nil, function(err, result)
    if err then
      vim.notify(require('mimi.server').describe_error('mimi.reindex', err), vim.log.levels.ERROR)
    else
      result = type(result) == 'table' and result or {}
      vim.notify(
        ('mimi: index ready: %s files, %s chunks'):format(scalar(result.files), scalar(result.chunks)),
        vim.log.levels.INFO
      )
    end
    if on_done then
      on_done(not err and result or nil)
    end
  end)
end

return M
