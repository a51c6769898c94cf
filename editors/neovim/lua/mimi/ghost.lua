--- Ghost text: AI suggestions drawn after the cursor while typing in insert mode.
---
--- Sits between the keyboard and `textDocument/inlineCompletion`. Typing schedules a request
--- (debounced) and cancels the one in flight (`client:cancel_request`); an answer computed for
--- an older buffer state is dropped. The suggestion is drawn with extmarks: its first line as
--- inline `virt_text` at the cursor, the rest as `virt_lines`. Typing what the suggestion shows
--- keeps it (shortened) without asking again; typing anything else clears it at once. Accepting
--- writes with `nvim_buf_set_text`. On Neovim >= 0.12 the built-in `vim.lsp.inline_completion`
--- does the drawing instead (see `native()`).
local api = vim.api

local M = {}

local ns = api.nvim_create_namespace('mimi.ghost')
M.ns = ns

local AUTOMATIC, INVOKED = 2, 1
local REQUEST_CANCELLED = -32800

--- Counters for :MimiStatus and tests.
M.stats = { requests = 0, cancelled = 0, shown = 0, accepted = 0, partial = 0, dropped = 0 }

--- Per-buffer state.
--- @class mimi.GhostState
--- @field client_id integer
--- @field items mimi.GhostItem[]?
--- @field index integer
--- @field req {client: vim.lsp.Client, id: integer}?
--- @field timer uv.uv_timer_t?
--- @field cycle integer? direction asked for by next/prev while only one item was known
--- @field shown mimi.GhostItem? the item whose text is on screen

--- @class mimi.GhostItem
--- @field text string what the item inserts from `start` (snippets: their plain text)
--- @field snippet string? the snippet body, expanded on accept
--- @field start integer[] {row, col} (0-based, bytes) where the insertion starts
--- @field tail string text after the original cursor that the item replaces
--- @field raw table the protocol item
--- @field client_id integer

local bufs = {} --- @type table<integer, mimi.GhostState>

local function cfg()
  return require('mimi.config').get().ghost
end

--- True when the built-in inline completion (Neovim >= 0.12) is used.
--- @return boolean
function M.native()
  return cfg().native and vim.lsp.inline_completion ~= nil
end

local function cursor()
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function line_at(buf, row)
  return api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
end

local function in_insert_mode()
  local mode = api.nvim_get_mode().mode
  return mode:sub(1, 1) == 'i' or mode == 'ic' or mode == 'ix'
end

--- Plain text of a snippet for display and typed-through matching.
local function snippet_text(body)
  local ok, parsed = pcall(function()
    return vim.lsp._snippet_grammar.parse(body)
  end)
  if ok and parsed then
    return tostring(parsed)
  end
  return (body:gsub('%$%b{}', ''):gsub('%$%d+', ''))
end

--- A protocol item in buffer coordinates, or nil when it does not apply at the cursor.
local function normalize(raw, buf, row, col, client)
  local text, snippet = raw.insertText, nil
  if type(text) == 'table' then
    if text.kind == 'snippet' then
      snippet = text.value
      text = snippet_text(text.value)
    else
      text = text.value
    end
  end
  if type(text) ~= 'string' or text == '' then
    return nil
  end
  text = text:gsub('\r\n', '\n')
  local start, tail = { row, col }, ''
  local range = raw.range
  if type(range) == 'table' then
    local enc = client.offset_encoding or 'utf-16'
    local srow, erow = range.start.line, range['end'].line
    local scol = vim.str_byteindex(line_at(buf, srow), enc, range.start.character, false)
    local ecol = vim.str_byteindex(line_at(buf, erow), enc, range['end'].character, false)
    if erow ~= row or ecol < col or srow > row or (srow == row and scol > col) then
      return nil -- a range not around the cursor: cannot be shown as ghost text here
    end
    start = { srow, scol }
    tail = line_at(buf, row):sub(col + 1, ecol)
  end
  return {
    text = text,
    snippet = snippet,
    start = start,
    tail = tail,
    raw = raw,
    client_id = client.id,
  }
end

--- What is left to show of `item` at the cursor, or nil when the buffer moved away from it.
--- @return string? rest, integer row, integer col
local function resolve(buf, item)
  local row, col = cursor()
  local srow, scol = item.start[1], item.start[2]
  if row < srow or (row == srow and col < scol) then
    return nil, row, col
  end
  local ok, typed = pcall(api.nvim_buf_get_text, buf, srow, scol, row, col, {})
  if not ok then
    return nil, row, col
  end
  local prefix = table.concat(typed, '\n')
  if item.text:sub(1, #prefix) ~= prefix then
    return nil, row, col
  end
  local rest = item.text:sub(#prefix + 1)
  if rest == '' then
    return nil, row, col
  end
  if item.tail ~= '' and line_at(buf, row):sub(col + 1, col + #item.tail) ~= item.tail then
    return nil, row, col
  end
  return rest, row, col
end

local function expand_tabs(text)
  if not text:find('\t', 1, true) then
    return text
  end
  return (text:gsub('\t', string.rep(' ', vim.bo.tabstop)))
end

local function state(buf)
  local s = bufs[buf]
  if not s then
    s = { index = 1 }
    bufs[buf] = s
  end
  return s
end

local function current_item(s)
  return s and s.items and s.items[s.index] or nil
end

local function hide(buf)
  if api.nvim_buf_is_valid(buf) then
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  end
  local s = bufs[buf]
  if s then
    s.shown = nil
  end
end

--- Cancel the request in flight for `buf`, if any.
local function cancel(buf)
  local s = bufs[buf]
  if s and s.req then
    local req = s.req
    s.req = nil
    if not req.client:is_stopped() then
      req.client:cancel_request(req.id)
    end
    M.stats.cancelled = M.stats.cancelled + 1
  end
end

local function stop_timer(buf)
  local s = bufs[buf]
  if s then
    s.gen = (s.gen or 0) + 1 -- also voids a request scheduled without debounce
    if s.timer then
      s.timer:stop()
    end
  end
end

local function client_of(buf)
  local s = bufs[buf]
  local client = s and s.client_id and vim.lsp.get_client_by_id(s.client_id)
  if client and not client:is_stopped() then
    return client
  end
end

--- Draw the current item (or clear when it no longer applies).
--- @return boolean shown
local function render(buf)
  local s = bufs[buf]
  local item = current_item(s)
  if not item then
    hide(buf)
    return false
  end
  local rest, row, col = resolve(buf, item)
  if not rest then
    hide(buf)
    return false
  end
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  if cfg().hide_during_completion and vim.fn.pumvisible() == 1 then
    s.shown = nil
    return false
  end
  -- The replaced tail is already on screen after the cursor: do not draw it twice.
  local display = rest
  if item.tail ~= '' and not rest:find('\n', 1, true) and vim.endswith(rest, item.tail) then
    display = rest:sub(1, #rest - #item.tail)
  end
  local lines = vim.split(display, '\n', { plain = true })
  local hl = cfg().hl_group
  local opts = { hl_mode = 'combine', priority = 300 }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], hl } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      opts.virt_lines[#opts.virt_lines + 1] = { { expand_tabs(lines[i]), hl } }
    end
  end
  if opts.virt_text or opts.virt_lines then
    api.nvim_buf_set_extmark(buf, ns, row, col, opts)
  end
  if s.shown ~= item then
    s.shown = item
    M.stats.shown = M.stats.shown + 1
    local client = vim.lsp.get_client_by_id(item.client_id)
    if client and not client:is_stopped() then
      client:notify('textDocument/didShowCompletion', { item = item.raw })
    end
  end
  return true
end

local function on_result(buf, id, tick, row, col, err, result, client)
  local s = bufs[buf]
  if not s or not s.req or s.req.id ~= id then
    return -- cancelled or superseded
  end
  s.req = nil
  if err then
    if err.code ~= REQUEST_CANCELLED then
      require('mimi.status').note_error('inline completion', err)
    end
    return
  end
  if
    not api.nvim_buf_is_valid(buf)
    or api.nvim_get_current_buf() ~= buf
    or api.nvim_buf_get_changedtick(buf) ~= tick
    or not in_insert_mode()
  then
    M.stats.dropped = M.stats.dropped + 1
    return
  end
  local crow, ccol = cursor()
  if crow ~= row or ccol ~= col then
    M.stats.dropped = M.stats.dropped + 1
    return
  end
  local raw_items = result and (result.items or result) or {}
  if type(raw_items) ~= 'table' then
    raw_items = {}
  end
  local items, seen = {}, {}
  for _, raw in ipairs(raw_items) do
    local item = normalize(raw, buf, row, col, client)
    if item and resolve(buf, item) and not seen[item.text] then
      seen[item.text] = true
      items[#items + 1] = item
    end
  end
  local previous, known = current_item(s), s.items
  s.index = 1
  if s.cycle and previous and known then
    -- Asked for another candidate: keep the ones known (prev goes back to them) and show the
    -- first new one; when there is none, stay on the current one.
    local merged, index = {}, nil
    for _, item in ipairs(known) do
      if resolve(buf, item) then
        merged[#merged + 1] = item
        seen[item.text] = 'known'
      end
    end
    for _, item in ipairs(items) do
      if seen[item.text] ~= 'known' then
        merged[#merged + 1] = item
        index = index or #merged
      end
    end
    items = merged
    s.index = index or math.max(1, vim.fn.index(vim.tbl_map(function(i)
      return i.text
    end, merged), previous.text) + 1)
  end
  s.items = #items > 0 and items or nil
  s.cycle = nil
  render(buf)
end

--- Ask the server for suggestions at the cursor now.
--- @param buf integer
--- @param kind integer? trigger kind (2 automatic, 1 invoked)
local function request(buf, kind)
  stop_timer(buf)
  cancel(buf)
  if not api.nvim_buf_is_valid(buf) or api.nvim_get_current_buf() ~= buf then
    return
  end
  if not in_insert_mode() and kind ~= INVOKED then
    return
  end
  local client = client_of(buf)
  if not client or not client:supports_method('textDocument/inlineCompletion', buf) then
    return
  end
  local s = state(buf)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind or AUTOMATIC }
  local tick = api.nvim_buf_get_changedtick(buf)
  local row, col = cursor()
  local id
  local ok, request_id = client:request('textDocument/inlineCompletion', params, function(err, result)
    on_result(buf, id, tick, row, col, err, result, client)
  end, buf)
  if ok and request_id then
    id = request_id
    s.req = { client = client, id = id }
    M.stats.requests = M.stats.requests + 1
  end
end

--- Ask after the debounce delay (restarting it on each call).
local function schedule(buf)
  local c = cfg()
  if not c.enabled or not c.auto_trigger or M.disabled then
    return
  end
  local s = state(buf)
  stop_timer(buf)
  if c.debounce_ms <= 0 then
    -- Several keys in one go schedule several calls: only the last one asks.
    local gen = s.gen
    vim.schedule(function()
      if s.gen == gen then
        request(buf, AUTOMATIC)
      end
    end)
    return
  end
  s.timer = s.timer or vim.uv.new_timer()
  s.timer:start(
    c.debounce_ms,
    0,
    vim.schedule_wrap(function()
      request(buf, AUTOMATIC)
    end)
  )
end

--- Text changed or cursor moved in insert mode.
local function on_edit(buf)
  local s = bufs[buf]
  if not s then
    return
  end
  cancel(buf)
  if current_item(s) and render(buf) then
    return -- typed what the suggestion shows: keep it, nothing to ask
  end
  hide(buf)
  s.items = nil
  schedule(buf)
end

local function on_leave(buf)
  stop_timer(buf)
  cancel(buf)
  hide(buf)
  local s = bufs[buf]
  if s then
    s.items = nil
  end
end

--- Start showing suggestions in `buf` from `client`.
--- @param buf integer
--- @param client vim.lsp.Client
function M.attach(buf, client)
  if not client:supports_method('textDocument/inlineCompletion', buf) then
    return
  end
  if M.native() then
    vim.lsp.inline_completion.enable(cfg().enabled, { bufnr = buf })
    return
  end
  local s = state(buf)
  s.client_id = client.id
  local group = api.nvim_create_augroup('mimi.ghost.' .. buf, { clear = true })
  api.nvim_create_autocmd({ 'TextChangedI', 'TextChangedP', 'CursorMovedI' }, {
    group = group,
    buffer = buf,
    callback = function()
      on_edit(buf)
    end,
  })
  api.nvim_create_autocmd('InsertEnter', {
    group = group,
    buffer = buf,
    callback = function()
      vim.schedule(function()
        if in_insert_mode() and api.nvim_get_current_buf() == buf and not current_item(s) then
          schedule(buf)
        end
      end)
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = buf,
    callback = function()
      on_leave(buf)
    end,
  })
  api.nvim_create_autocmd('CompleteDone', {
    group = group,
    buffer = buf,
    callback = function()
      render(buf)
    end,
  })
  api.nvim_create_autocmd({ 'BufUnload', 'LspDetach' }, {
    group = group,
    buffer = buf,
    callback = function(ev)
      if ev.event == 'LspDetach' and ev.data and ev.data.client_id ~= s.client_id then
        return
      end
      M.detach(buf)
    end,
  })
  -- Keys typed while the server was starting asked nobody: ask now, not at the next key.
  vim.schedule(function()
    if in_insert_mode() and api.nvim_get_current_buf() == buf and not current_item(s) then
      schedule(buf)
    end
  end)
end

--- Whether suggestions are wired to `buf` (extmark ghost text or the built-in one).
--- @param buf integer?
--- @return boolean
function M.attached(buf)
  buf = (buf == nil or buf == 0) and api.nvim_get_current_buf() or buf
  if M.native() then
    return vim.lsp.inline_completion.is_enabled({ bufnr = buf })
  end
  return bufs[buf] ~= nil and bufs[buf].client_id ~= nil
end

--- Stop showing suggestions in `buf`.
--- @param buf integer
function M.detach(buf)
  on_leave(buf)
  local s = bufs[buf]
  if s and s.timer then
    s.timer:stop()
    s.timer:close()
  end
  bufs[buf] = nil
  pcall(api.nvim_del_augroup_by_name, 'mimi.ghost.' .. buf)
end

local function resolve_buf(buf)
  return (buf == nil or buf == 0) and api.nvim_get_current_buf() or buf
end

--- The ghost text on screen in `buf`, or nil.
--- @param buf integer?
--- @return string?
function M.text(buf)
  buf = resolve_buf(buf)
  local s = bufs[buf]
  if not s or not s.shown then
    return nil
  end
  return (resolve(buf, s.shown))
end

--- Whether a suggestion is on screen.
--- @param buf integer?
--- @return boolean
function M.visible(buf)
  buf = resolve_buf(buf)
  if M.native() then
    return false
  end
  return M.text(buf) ~= nil
end

--- Whether a request is in flight for `buf`.
--- @param buf integer?
--- @return boolean
function M.pending(buf)
  local s = bufs[resolve_buf(buf)]
  return s ~= nil and s.req ~= nil
end

--- "2/3" when several suggestions are known, else "".
--- @param buf integer?
--- @return string
function M.position(buf)
  local s = bufs[resolve_buf(buf)]
  if not s or not s.items or #s.items < 2 then
    return ''
  end
  return ('%d/%d'):format(s.index, #s.items)
end

local function notify_accept(item, method, extra)
  local client = vim.lsp.get_client_by_id(item.client_id)
  if client and not client:is_stopped() then
    client:notify(method, vim.tbl_extend('force', { item = item.raw }, extra or {}))
  end
  return client
end

local function set_cursor_after(start_row, start_col, lines)
  local row = start_row + #lines - 1
  local col = (#lines == 1 and start_col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { row + 1, col })
end

--- Accept the whole suggestion. Returns false when none is shown (for mapping fallbacks).
--- @param buf integer?
--- @return boolean
function M.accept(buf)
  buf = resolve_buf(buf)
  if M.native() then
    return vim.lsp.inline_completion.get({ bufnr = buf })
  end
  local s = bufs[buf]
  local item = current_item(s)
  if not item then
    return false
  end
  local rest, row, col = resolve(buf, item)
  if not rest then
    return false
  end
  on_leave(buf)
  local srow, scol = item.start[1], item.start[2]
  local ecol = col + #item.tail
  if item.snippet then
    api.nvim_buf_set_text(buf, srow, scol, row, ecol, { '' })
    api.nvim_win_set_cursor(0, { srow + 1, scol })
    vim.snippet.expand(item.snippet)
  else
    local lines = vim.split(item.text, '\n', { plain = true })
    api.nvim_buf_set_text(buf, srow, scol, row, ecol, lines)
    set_cursor_after(srow, scol, lines)
  end
  M.stats.accepted = M.stats.accepted + 1
  local client = notify_accept(item, 'mimi/didAcceptCompletion')
  if client and type(item.raw.command) == 'table' then
    client:exec_cmd(item.raw.command, { bufnr = buf })
  end
  return true
end

--- The next word of `rest`: leading blanks plus a run of word or of punctuation characters.
--- @param rest string
--- @return string
function M.next_word(rest)
  local newline = rest:match('^\r?\n[ \t]*')
  if newline then
    return newline
  end
  local blanks = rest:match('^[ \t]*')
  local after = rest:sub(#blanks + 1)
  local word = after:match('^[%w_\128-\255]+') or after:match('^[^%w_\128-\255%s]+') or ''
  return blanks .. word
end

--- The next line of `rest`: up to the line break, or the break and the line after it.
--- @param rest string
--- @return string
function M.next_line(rest)
  if rest:sub(1, 1) == '\n' then
    return rest:match('^\n[^\n]*')
  end
  return rest:match('^[^\n]*')
end

local function accept_part(buf, pick, native_pick)
  buf = resolve_buf(buf)
  if M.native() then
    return vim.lsp.inline_completion.get({ bufnr = buf, on_accept = native_pick })
  end
  local s = bufs[buf]
  local item = current_item(s)
  if not item then
    return false
  end
  local rest, row, col = resolve(buf, item)
  if not rest then
    return false
  end
  local part = pick(rest)
  if part == '' or part == rest or item.snippet then
    return M.accept(buf)
  end
  cancel(buf)
  stop_timer(buf)
  local lines = vim.split(part, '\n', { plain = true })
  api.nvim_buf_set_text(buf, row, col, row, col, lines)
  set_cursor_after(row, col, lines)
  M.stats.partial = M.stats.partial + 1
  local accepted = table.concat(api.nvim_buf_get_text(buf, item.start[1], item.start[2], row, col, {}), '\n')
    .. part
  notify_accept(item, 'textDocument/didPartiallyAcceptCompletion', {
    acceptedLength = vim.str_utfindex(accepted, 'utf-16'),
  })
  render(buf) -- the rest stays on screen; TextChangedI keeps it (typed-through)
  return true
end

--- Built-in inline completion (>= 0.12): insert part of the accepted item.
local function native_partial(pick)
  return function(item)
    local text = type(item.insert_text) == 'string' and item.insert_text or item.insert_text.value
    local row, col = cursor()
    local range = item.range
    local typed = ''
    if range then
      typed = table.concat(
        api.nvim_buf_get_text(0, range.start.row, range.start.col, row, col, {}),
        '\n'
      )
    end
    local rest = text:sub(#typed + 1)
    local lines = vim.split(pick(rest), '\n', { plain = true })
    api.nvim_buf_set_text(0, row, col, row, col, lines)
    set_cursor_after(row, col, lines)
  end
end

--- Accept the next word of the suggestion.
--- @param buf integer?
--- @return boolean
function M.accept_word(buf)
  return accept_part(buf, M.next_word, native_partial(M.next_word))
end

--- Accept the next line of the suggestion.
--- @param buf integer?
--- @return boolean
function M.accept_line(buf)
  return accept_part(buf, M.next_line, native_partial(M.next_line))
end

--- Hide the suggestion and stop asking until the next edit.
--- @param buf integer?
--- @return boolean whether something was shown
function M.dismiss(buf)
  buf = resolve_buf(buf)
  local shown = M.visible(buf)
  on_leave(buf)
  return shown
end

--- Ask now (trigger kind Invoked), e.g. with auto-trigger off.
--- @param buf integer?
function M.trigger(buf)
  buf = resolve_buf(buf)
  if M.native() then
    return
  end
  request(buf, INVOKED)
end

local function cycle(buf, step)
  buf = resolve_buf(buf)
  if M.native() then
    vim.lsp.inline_completion.select({ bufnr = buf, count = step })
    return
  end
  local s = bufs[buf]
  if s and s.items and #s.items > 1 then
    local n = #s.items
    for _ = 1, n do
      s.index = (s.index - 1 + step) % n + 1
      if render(buf) then
        return
      end
    end
    return
  end
  -- One (or no) candidate known: ask explicitly, the server may have others.
  state(buf).cycle = step
  request(buf, INVOKED)
end

--- Show the next suggestion (asking for more when only one is known).
function M.next(buf)
  cycle(buf, 1)
end

--- Show the previous suggestion.
function M.prev(buf)
  cycle(buf, -1)
end

--- Turn automatic suggestions on or off everywhere (`:MimiToggle`).
--- @param on boolean?
--- @return boolean enabled
function M.toggle(on)
  if on == nil then
    on = M.disabled == true
  end
  M.disabled = not on
  if M.native() then
    vim.lsp.inline_completion.enable(on)
  end
  if not on then
    for buf in pairs(bufs) do
      on_leave(buf)
    end
  end
  return on
end

return M
