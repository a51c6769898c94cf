--- Messages from mimi that never block typing.
---
--- Every message of the plugin and of the server (`window/showMessage`) goes through `notify`.
--- Neovim's own vim.notify echoes on the command line, and a long message or two in a row
--- there stop everything at "Press ENTER"; so when vim.notify is Neovim's own, messages are
--- drawn in a small floating window at the top right that closes by itself (no focus, no
--- prompt). A vim.notify replaced by a notification plugin (nvim-notify, noice, snacks, fidget)
--- is used instead. The same message twice in a row within a few seconds is shown once. The
--- last messages stay readable in `:MimiStatus`.
local api = vim.api
local levels = vim.log.levels

local M = {}

--- Recent messages, oldest first: {time, level, msg}.
M.history = {}
local HISTORY = 20

--- How long a message stays on screen (ms), by level.
M.timeout = { [levels.ERROR] = 8000, [levels.WARN] = 6000, default = 4000 }

local HL = { [levels.ERROR] = 'ErrorMsg', [levels.WARN] = 'WarningMsg' }

local float = { win = nil, buf = nil, items = {} } --- items: {msg, level, expires}
local timer = nil
local last = { msg = nil, at = 0 }

--- Whether vim.notify is Neovim's own (echo) rather than a notification plugin's.
local function builtin_notify()
  local info = debug.getinfo(vim.notify, 'S')
  return info ~= nil and info.source:find('vim/_editor.lua', 1, true) ~= nil
end

local function close_float()
  if float.win and api.nvim_win_is_valid(float.win) then
    pcall(api.nvim_win_close, float.win, true)
  end
  float.win = nil
end

local function render()
  local now = vim.uv.now()
  float.items = vim.tbl_filter(function(item)
    return item.expires > now
  end, float.items)
  if #float.items == 0 then
    close_float()
    return
  end
  local width = math.max(20, math.min(70, vim.o.columns - 4))
  local lines, marks = {}, {}
  for _, item in ipairs(float.items) do
    local first = #lines
    for _, piece in ipairs(vim.split(item.msg, '\n', { plain = true })) do
      -- Wrap long lines at spaces so nothing is cut.
      while vim.fn.strdisplaywidth(piece) > width do
        local cut = width
        local space = piece:sub(1, width):match('.*() ')
        if space and space > width / 2 then
          cut = space - 1
        end
        lines[#lines + 1] = piece:sub(1, cut)
        piece = piece:sub(cut + 1):gsub('^ ', '')
      end
      lines[#lines + 1] = piece
    end
    marks[#marks + 1] = { first, #lines, HL[item.level] }
  end
  local height = math.min(#lines, math.max(1, vim.o.lines - 4))
  if not (float.buf and api.nvim_buf_is_valid(float.buf)) then
    float.buf = api.nvim_create_buf(false, true)
    vim.bo[float.buf].bufhidden = 'hide'
  end
  api.nvim_buf_set_lines(float.buf, 0, -1, false, lines)
  local ns = api.nvim_create_namespace('mimi.notify')
  api.nvim_buf_clear_namespace(float.buf, ns, 0, -1)
  for _, mark in ipairs(marks) do
    if mark[3] then
      api.nvim_buf_set_extmark(float.buf, ns, mark[1], 0, { end_row = mark[2], hl_group = mark[3], hl_eol = false })
    end
  end
  local used = 0
  for _, l in ipairs(lines) do
    used = math.max(used, vim.fn.strdisplaywidth(l))
  end
  local config = {
    relative = 'editor',
    anchor = 'NE',
    row = 1,
    col = vim.o.columns,
    width = math.max(used, 10),
    height = height,
    style = 'minimal',
    border = 'rounded',
    focusable = false,
    zindex = 250,
    noautocmd = true,
  }
  if float.win and api.nvim_win_is_valid(float.win) then
    config.noautocmd = nil
    api.nvim_win_set_config(float.win, config)
  else
    config.title = ' mimi '
    float.win = api.nvim_open_win(float.buf, false, config)
    vim.wo[float.win].winblend = 0
    vim.wo[float.win].wrap = false
  end
end

local function schedule_expiry()
  timer = timer or vim.uv.new_timer()
  timer:stop()
  local now, soonest = vim.uv.now(), nil
  for _, item in ipairs(float.items) do
    soonest = math.min(soonest or item.expires, item.expires)
  end
  if soonest then
    timer:start(math.max(10, soonest - now), 0, vim.schedule_wrap(function()
      render()
      schedule_expiry()
    end))
  end
end

local function show(msg, level)
  float.items[#float.items + 1] = {
    msg = msg,
    level = level,
    expires = vim.uv.now() + (M.timeout[level] or M.timeout.default),
  }
  while #float.items > 4 do
    table.remove(float.items, 1)
  end
  render()
  schedule_expiry()
end

--- Tell the user `msg` ("mimi: " is added) without ever blocking typing.
--- @param msg string
--- @param level integer? vim.log.levels (default INFO)
function M.notify(msg, level)
  level = level or levels.INFO
  msg = tostring(msg)
  if not msg:match('^mimi') then
    msg = 'mimi: ' .. msg
  end
  local now = vim.uv.now()
  if last.msg == msg and now - last.at < 5000 then
    return -- said a moment ago (two channels, or a repeated event)
  end
  last.msg, last.at = msg, now
  M.history[#M.history + 1] = { time = os.time(), level = level, msg = msg }
  if #M.history > HISTORY then
    table.remove(M.history, 1)
  end
  vim.schedule(function()
    if not builtin_notify() then
      vim.notify(msg, level, { title = 'mimi' })
      return
    end
    local ok = pcall(show, msg, level)
    if not ok then
      close_float()
    end
  end)
end

--- `window/showMessage` of the mimi server.
function M.on_show_message(_, params)
  if type(params) ~= 'table' or type(params.message) ~= 'string' then
    return
  end
  local by_type = { [1] = levels.ERROR, [2] = levels.WARN, [3] = levels.INFO, [4] = levels.DEBUG }
  local level = by_type[params.type] or levels.INFO
  if level == levels.DEBUG then
    return
  end
  local message = params.message
  if level == levels.WARN then
    -- A model server that cannot be used (mimi/status said so just before): say how to fix it.
    for _, health in pairs(require('mimi.status').state.features) do
      if health.state ~= 'ok' and type(health.message) == 'string' and message:find(health.message, 1, true) then
        message = message .. '\n:MimiSetup picks another model server.'
        break
      end
    end
  end
  M.notify(message, level)
end

--- The floating window on screen, if any (for tests).
--- @return integer?
function M.window()
  if float.win and api.nvim_win_is_valid(float.win) then
    return float.win
  end
end

--- Close the messages on screen now.
function M.clear()
  float.items = {}
  close_float()
end

return M
