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
    require('mimi.notify').notify('mimi: indexing failed: ' .. tostring(params.message or '?'), vim.log.levels.ERROR)
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
  require('mimi.notify').notify(('mimi: %s failed: %s'):format(what, message), vim.log.levels.WARN)
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

local function present(v)
  return v ~= nil and v ~= vim.NIL and v ~= ''
end

local function scalar(v)
  if v == vim.NIL or v == nil then
    return '-'
  end
  if type(v) == 'number' and v ~= math.floor(v) then
    return ('%.1f'):format(v)
  end
  return tostring(v)
end

local function is_empty(t)
  return type(t) == 'table' and next(t) == nil
end

--- Words joined with ", " in lines no wider than `width` (continuations indented).
local function wrap(prefix, parts, width, out)
  local line = prefix
  local indent = (' '):rep(#prefix)
  for i, part in ipairs(parts) do
    local piece = part .. (i < #parts and ',' or '')
    if line ~= prefix and line ~= indent and #line + 1 + #piece > width then
      out[#out + 1] = line
      line = indent .. piece
    else
      line = (line == prefix or line == indent) and (line .. piece) or (line .. ' ' .. piece)
    end
  end
  if line ~= indent then
    out[#out + 1] = line
  end
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  return keys
end

--- A nested value as indented lines: scalars inline ("key value, key value"), nested tables
--- as their own indented block; empty tables and nulls left out. No Lua syntax ever shows.
local function describe(t, indent, width, out)
  local flat, nested = {}, {}
  if vim.islist(t) then
    for _, v in ipairs(t) do
      if type(v) == 'table' then
        nested[#nested + 1] = { key = nil, value = v }
      elseif present(v) then
        flat[#flat + 1] = scalar(v)
      end
    end
  else
    for _, k in ipairs(sorted_keys(t)) do
      local v = t[k]
      if type(v) == 'table' then
        if not is_empty(v) then
          nested[#nested + 1] = { key = k, value = v }
        end
      elseif present(v) then
        flat[#flat + 1] = ('%s %s'):format(k, scalar(v))
      end
    end
  end
  if #flat > 0 then
    wrap(indent, flat, width, out)
  end
  for _, item in ipairs(nested) do
    local value = item.value
    local scalars_only = not vim.iter(vim.tbl_values(value)):any(function(v)
      return type(v) == 'table'
    end)
    if item.key and scalars_only and vim.islist(value) then
      wrap(indent .. item.key .. ': ', vim.tbl_map(scalar, value), width, out)
    elseif item.key and scalars_only then
      local parts = {}
      for _, k in ipairs(sorted_keys(value)) do
        if present(value[k]) then
          parts[#parts + 1] = ('%s %s'):format(k, scalar(value[k]))
        end
      end
      wrap(indent .. item.key .. ': ', parts, width, out)
    else
      if item.key then
        out[#out + 1] = indent .. item.key
      end
      describe(value, indent .. '  ', width, out)
    end
  end
end

--- Lines describing a `mimi.status` answer, none wider than `width` (default: the editor).
--- @param status table
--- @param width integer?
--- @return string[]
function M.format(status, width)
  width = width or math.max(40, math.min(100, vim.o.columns - 6))
  local lines = { ('mimi-lsp %s'):format(scalar(status.version)), '' }
  lines[#lines + 1] = 'Backends'
  local backends = type(status.backends) == 'table' and status.backends or {}
  for _, name in ipairs(sorted_keys(backends)) do
    local b = backends[name]
    if type(b) == 'table' then
      local what = table.concat(
        vim.tbl_filter(function(x)
          return present(x)
        end, { b.kind, b.model }),
        ' · '
      )
      lines[#lines + 1] = ('  %-11s %-12s %s'):format(name, scalar(b.state), what)
      if present(b.message) then
        wrap('      ', vim.split(b.message, ', ', { plain = true }), width, lines)
      end
      if present(b.fix) then
        wrap('      fix: ', vim.split(b.fix, ', ', { plain = true }), width, lines)
      end
    end
  end
  lines[#lines + 1] = ''
  local index = status.index
  if type(index) == 'table' and index.state ~= 'disabled' then
    local counts = ('%s files, %s chunks'):format(scalar(index.files), scalar(index.chunks))
    if index.embedded ~= nil and index.embedded ~= vim.NIL then
      counts = counts .. (', %s embedded'):format(scalar(index.embedded))
    end
    lines[#lines + 1] = ('Index: %s, %s'):format(scalar(index.state), counts)
    if present(index.message) then
      lines[#lines + 1] = '  ' .. index.message
    end
    if present(index.embedder) then
      lines[#lines + 1] = '  embeddings: ' .. scalar(index.embedder)
    end
    for _, folder in ipairs(type(index.folders) == 'table' and index.folders or {}) do
      if type(folder) == 'table' then
        lines[#lines + 1] = ('  %s'):format(vim.fn.fnamemodify(tostring(folder.path), ':~'))
        lines[#lines + 1] = ('    database %s'):format(vim.fn.fnamemodify(tostring(folder.database), ':~'))
        if present(folder.error) then
          lines[#lines + 1] = '    error: ' .. tostring(folder.error)
        end
      end
    end
  else
    lines[#lines + 1] = 'Index: disabled'
  end
  local g = require('mimi.ghost').stats
  lines[#lines + 1] = ''
  lines[#lines + 1] = 'Neovim'
  wrap('  ', {
    ('requests %d'):format(g.requests),
    ('cancelled %d'):format(g.cancelled),
    ('shown %d'):format(g.shown),
    ('accepted %d'):format(g.accepted),
    ('partially %d'):format(g.partial),
  }, width, lines)
  local said = require('mimi.notify').history
  if #said > 0 then
    lines[#lines + 1] = ''
    lines[#lines + 1] = 'Messages'
    for i = math.max(1, #said - 5), #said do
      local item = said[i]
      wrap(('  %s '):format(os.date('%H:%M:%S', item.time)), { item.msg }, width, lines)
    end
  end
  if type(status.metrics) == 'table' and not is_empty(status.metrics) then
    lines[#lines + 1] = ''
    lines[#lines + 1] = 'Metrics'
    describe(status.metrics, '  ', width, lines)
  end
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
  local rows = 0
  for _, l in ipairs(lines) do
    rows = rows + math.max(1, math.ceil(api.nvim_strwidth(l) / width))
  end
  local height = math.min(rows, math.max(3, vim.o.lines - 4))
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
  -- Long lines wrap (never cut with "@@@"); the window scrolls when taller than the screen.
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].breakindent = true
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
      require('mimi.notify').notify(require('mimi.server').describe_error('mimi.status', err or 'no answer'), vim.log.levels.ERROR)
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
  require('mimi.notify').notify('mimi: reindexing…', vim.log.levels.INFO)
  require('mimi.server').command('mimi.reindex', nil, function(err, result)
    if err then
      require('mimi.notify').notify(require('mimi.server').describe_error('mimi.reindex', err), vim.log.levels.ERROR)
    else
      result = type(result) == 'table' and result or {}
      require('mimi.notify').notify(
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
