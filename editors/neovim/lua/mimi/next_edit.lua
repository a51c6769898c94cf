--- Next-edit suggestions: the edit the server predicts from your recent edits, often away from
--- the cursor (rename a parameter and its uses follow).
---
--- Sits beside ghost text, never in its way: after a change (debounced) and on leaving insert
--- mode it asks `textDocument/copilotInlineEdit` (the method Copilot's server uses, so the
--- answer has its shape: `{edits = {{range, text, textDocument = {uri, version}, command}}}`).
--- The suggestion is drawn with extmarks at its own site: the replaced text struck through and
--- the new text inline after it (more lines as virtual lines). In normal mode `<Tab>` jumps to
--- the suggestion, and pressed again there applies it (`keymaps.next_edit`); `<C-]>` hides it.
--- An answer for an older buffer version is dropped; any change clears what is shown.
local api = vim.api

local M = {}

local ns = api.nvim_create_namespace('mimi.next_edit')
M.ns = ns
local METHOD = 'textDocument/copilotInlineEdit'

--- Counters for tests and :MimiStatus.
M.stats = { requests = 0, shown = 0, accepted = 0, dropped = 0, jumps = 0 }

--- @class mimi.NextEditState
--- @field client_id integer
--- @field edit table? the protocol edit on screen
--- @field timer uv.uv_timer_t?
--- @field req integer? id of the request in flight
--- @field gen integer bumped on every change: answers of older generations are dropped

local bufs = {} --- @type table<integer, mimi.NextEditState>

local function cfg()
  return require('mimi.config').get().next_edit or {}
end

local function client_of(buf)
  local s = bufs[buf]
  return s and vim.lsp.get_client_by_id(s.client_id) or nil
end

local function byte_col(buf, row, character, enc)
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, enc, character, false)
  return ok and col or #line
end

--- The shown edit's range in bytes: start row/col, end row/col.
local function byte_range(buf, edit, enc)
  local r = edit.range
  return r.start.line, byte_col(buf, r.start.line, r.start.character, enc), r['end'].line,
    byte_col(buf, r['end'].line, r['end'].character, enc)
end

--- Remove what is shown in `buf`.
function M.clear(buf)
  buf = buf or api.nvim_get_current_buf()
  if api.nvim_buf_is_valid(buf) then
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  end
  local s = bufs[buf]
  if s then
    s.edit = nil
  end
end

--- The edit on screen in `buf` (the protocol object), or nil.
function M.current(buf)
  local s = bufs[buf or api.nvim_get_current_buf()]
  return s and s.edit or nil
end

local function draw(buf, edit, enc)
  local srow, scol, erow, ecol = byte_range(buf, edit, enc)
  local text = (edit.text or ''):gsub('\r\n', '\n')
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  if srow ~= erow or scol ~= ecol then
    api.nvim_buf_set_extmark(buf, ns, srow, scol, {
      end_row = erow,
      end_col = ecol,
      hl_group = 'MimiNextEditDelete',
      priority = 300,
    })
  end
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], 'MimiNextEditAdd' } }
  end
  api.nvim_buf_set_extmark(buf, ns, erow, ecol, {
    virt_text = lines[1] ~= '' and { { lines[1], 'MimiNextEditAdd' } } or nil,
    virt_text_pos = 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    priority = 300,
  })
  local row = api.nvim_win_get_cursor(0)[1] - 1
  if row ~= srow then
    -- Far from the cursor: say where it is and how to get there.
    api.nvim_buf_set_extmark(buf, ns, row, 0, {
      virt_text = { { ('  next edit: line %d (Tab)'):format(srow + 1), 'MimiNextEditHint' } },
      virt_text_pos = 'eol',
    })
  end
end

local function on_result(buf, gen, version, err, result, ctx)
  local s = bufs[buf]
  if not s or s.gen ~= gen or not api.nvim_buf_is_valid(buf) then
    return
  end
  s.req = nil
  if err or type(result) ~= 'table' or type(result.edits) ~= 'table' then
    return
  end
  local edit = result.edits[1]
  if type(edit) ~= 'table' or type(edit.range) ~= 'table' then
    return
  end
  local doc = edit.textDocument or {}
  local current = vim.lsp.util.buf_versions[buf]
  if doc.uri ~= vim.uri_from_bufnr(buf) or doc.version ~= current or version ~= current then
    M.stats.dropped = M.stats.dropped + 1 -- stale, or in another file
    return
  end
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  s.edit = edit
  draw(buf, edit, client.offset_encoding or 'utf-16')
  M.stats.shown = M.stats.shown + 1
  client:notify('textDocument/didShowInlineEdit', { item = { command = edit.command } })
end

--- Ask the server for the next edit at the cursor of `buf` now.
function M.request(buf)
  buf = buf or api.nvim_get_current_buf()
  local s = bufs[buf]
  local client = client_of(buf)
  if not s or not client or cfg().enabled == false then
    return
  end
  if s.req then
    client:cancel_request(s.req)
    s.req = nil
  end
  local version = vim.lsp.util.buf_versions[buf]
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or 'utf-16')
  params.textDocument.version = version
  local gen = s.gen
  M.stats.requests = M.stats.requests + 1
  local ok, id = client:request(METHOD, params, function(err, result, ctx)
    on_result(buf, gen, version, err, result, ctx)
  end, buf)
  s.req = ok and id or nil
end

local function schedule(buf)
  local s = bufs[buf]
  if not s then
    return
  end
  s.gen = s.gen + 1
  M.clear(buf)
  if cfg().enabled == false or cfg().auto_trigger == false then
    return
  end
  s.timer = s.timer or vim.uv.new_timer()
  s.timer:stop()
  s.timer:start(cfg().debounce_ms or 300, 0, vim.schedule_wrap(function()
    if api.nvim_buf_is_valid(buf) and api.nvim_get_current_buf() == buf then
      M.request(buf)
    end
  end))
end

--- Move the cursor to the shown edit; true when it moved.
function M.jump(buf)
  buf = buf or api.nvim_get_current_buf()
  local edit, client = M.current(buf), client_of(buf)
  if not edit or not client then
    return false
  end
  local srow, scol = byte_range(buf, edit, client.offset_encoding or 'utf-16')
  local row, col = unpack(api.nvim_win_get_cursor(0))
  if row - 1 == srow and col == scol then
    return false
  end
  api.nvim_win_set_cursor(0, { srow + 1, scol })
  M.stats.jumps = M.stats.jumps + 1
  draw(buf, edit, client.offset_encoding or 'utf-16') -- the hint follows the cursor
  return true
end

--- Apply the shown edit; true when there was one.
function M.accept(buf)
  buf = buf or api.nvim_get_current_buf()
  local edit, client = M.current(buf), client_of(buf)
  if not edit or not client then
    return false
  end
  local enc = client.offset_encoding or 'utf-16'
  M.clear(buf)
  vim.lsp.util.apply_text_edits({ { range = edit.range, newText = edit.text } }, buf, enc)
  local text = edit.text or ''
  local lines = vim.split(text, '\n', { plain = true })
  local srow, scol = edit.range.start.line, byte_col(buf, edit.range.start.line, edit.range.start.character, enc)
  local row = srow + #lines - 1
  local col = (#lines == 1 and scol or 0) + #lines[#lines]
  pcall(api.nvim_win_set_cursor, 0, { row + 1, math.max(col - 1, 0) })
  M.stats.accepted = M.stats.accepted + 1
  if type(edit.command) == 'table' and edit.command.command then
    client:request('workspace/executeCommand', {
      command = edit.command.command,
      arguments = edit.command.arguments,
    }, function() end, buf)
  end
  return true
end

--- `<Tab>` in normal mode: jump to the suggestion, then apply it; else the key itself.
function M.tab()
  local buf = api.nvim_get_current_buf()
  if M.current(buf) then
    if not M.jump(buf) then
      M.accept(buf)
    end
    return ''
  end
  return nil
end

--- Start next-edit suggestions for `buf` (from the client's on_attach).
--- @param buf integer
--- @param client vim.lsp.Client
function M.attach(buf, client)
  if bufs[buf] then
    bufs[buf].client_id = client.id
    return
  end
  bufs[buf] = { client_id = client.id, gen = 0 }
  local group = api.nvim_create_augroup('mimi.next_edit.' .. buf, { clear = true })
  api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI' }, {
    group = group,
    buffer = buf,
    callback = function()
      schedule(buf)
    end,
  })
  api.nvim_create_autocmd('InsertLeave', {
    group = group,
    buffer = buf,
    callback = function()
      schedule(buf)
    end,
  })
  api.nvim_create_autocmd({ 'BufDelete', 'LspDetach' }, {
    group = group,
    buffer = buf,
    callback = function()
      local s = bufs[buf]
      if s and s.timer then
        s.timer:close()
      end
      bufs[buf] = nil
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
  local keymaps = require('mimi.config').get().keymaps
  local key = keymaps and keymaps.next_edit
  if key and key ~= '' then
    -- Not an expr mapping: applying an edit is not allowed under expr's text lock.
    vim.keymap.set('n', key, function()
      if M.tab() == nil then
        api.nvim_feedkeys(vim.keycode(key), 'n', false)
      end
    end, { buffer = buf, desc = 'mimi: go to / accept the next edit' })
  end
  local dismiss = keymaps and keymaps.next_edit_dismiss
  if dismiss and dismiss ~= '' then
    vim.keymap.set('n', dismiss, function()
      if M.current(buf) then
        M.clear(buf)
      else
        api.nvim_feedkeys(vim.keycode(dismiss), 'n', false)
      end
    end, { buffer = buf, desc = 'mimi: hide the next edit' })
  end
end

--- Whether `buf` is wired.
function M.attached(buf)
  return bufs[buf or api.nvim_get_current_buf()] ~= nil
end

--- Highlights (default links, so colorschemes can override).
function M.set_highlights()
  api.nvim_set_hl(0, 'MimiNextEditDelete', { default = true, link = 'DiffDelete' })
  api.nvim_set_hl(0, 'MimiNextEditAdd', { default = true, link = 'DiffAdd' })
  api.nvim_set_hl(0, 'MimiNextEditHint', { default = true, link = 'Comment' })
end

return M
