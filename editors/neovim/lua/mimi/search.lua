--- `:MimiSearch {query}`: codebase search into the quickfix list (or vim.ui.select).
---
--- Sits between the command line and `mimi.search` `[{query, k, mode}]` →
--- `{hits: [{uri, range, score, symbol?, preview}]}`; hits become quickfix items in the order
--- the server ranked them.
local api = vim.api

local M = {}

local function first_line(text)
  if type(text) ~= 'string' then
    return ''
  end
  for line in vim.gsplit(text, '\n', { plain = true }) do
    if vim.trim(line) ~= '' then
      return vim.trim(line)
    end
  end
  return ''
end

--- Byte column (1-based) of a protocol position in a file, for quickfix.
local function byte_col(fname, pos, enc)
  local buf = vim.fn.bufnr(fname)
  local line
  if buf ~= -1 and api.nvim_buf_is_loaded(buf) then
    line = api.nvim_buf_get_lines(buf, pos.line, pos.line + 1, false)[1]
  elseif pos.character > 0 and vim.fn.filereadable(fname) == 1 then
    local ok, lines = pcall(vim.fn.readfile, fname, '', pos.line + 1)
    line = ok and lines[pos.line + 1] or nil
  end
  if not line then
    return pos.character + 1
  end
  return vim.str_byteindex(line, enc, math.min(pos.character, vim.str_utfindex(line, enc)), false) + 1
end

--- Quickfix items for search hits.
--- @param hits table[]
--- @param enc string position encoding of the client
--- @return vim.quickfix.entry[]
function M.to_items(hits, enc)
  local items = {}
  for _, hit in ipairs(hits) do
    local fname = vim.uri_to_fname(hit.uri)
    local start = hit.range and hit.range.start or { line = 0, character = 0 }
    local text = first_line(hit.preview)
    if type(hit.symbol) == 'string' and hit.symbol ~= '' then
      text = ('[%s] %s'):format(hit.symbol, text)
    end
    items[#items + 1] = {
      filename = fname,
      lnum = start.line + 1,
      col = byte_col(fname, start, enc),
      end_lnum = hit.range and hit.range['end'] and hit.range['end'].line + 1 or nil,
      text = text,
      user_data = hit,
    }
  end
  return items
end

local function show_select(items, query)
  vim.ui.select(items, {
    prompt = ('mimi search: %s'):format(query),
    kind = 'mimi_search',
    format_item = function(item)
      return ('%s:%d  %s'):format(vim.fn.fnamemodify(item.filename, ':~:.'), item.lnum, item.text)
    end,
  }, function(item)
    if item then
      vim.cmd.edit(vim.fn.fnameescape(item.filename))
      api.nvim_win_set_cursor(0, { item.lnum, math.max(item.col - 1, 0) })
    end
  end)
end

--- Search the workspace.
--- @param query string
--- @param opts {ui: string?, k: integer?, mode: string?, on_done: fun(items: table[]?)?}?
function M.run(query, opts)
  opts = opts or {}
  local cfg = require('mimi.config').get().search
  query = vim.trim(query or '')
  if query == '' then
    require('mimi.notify').notify('mimi: :MimiSearch needs a query', vim.log.levels.WARN)
    return
  end
  local args = { query = query, k = opts.k or cfg.k, mode = opts.mode or cfg.mode }
  require('mimi.server').command('mimi.search', args, function(err, result, client)
    if err then
      require('mimi.notify').notify(require('mimi.server').describe_error('mimi.search', err), vim.log.levels.ERROR)
      if opts.on_done then
        opts.on_done(nil)
      end
      return
    end
    local hits = type(result) == 'table' and result.hits or {}
    local items = M.to_items(hits, client.offset_encoding or 'utf-16')
    local ui = opts.ui or cfg.ui
    if #items == 0 then
      require('mimi.notify').notify(('mimi: no results for %q'):format(query), vim.log.levels.INFO)
    elseif ui == 'select' then
      show_select(items, query)
    else
      vim.fn.setqflist({}, ' ', { title = 'mimi search: ' .. query, items = items })
      if cfg.open then
        vim.cmd('botright copen')
      end
    end
    if opts.on_done then
      opts.on_done(items)
    end
  end)
end

--- `:MimiSearch[!] {query}`; the bang uses the other UI than configured.
function M.command(args)
  local ui = require('mimi.config').get().search.ui
  if args.bang then
    ui = ui == 'select' and 'quickfix' or 'select'
  end
  M.run(args.args, { ui = ui })
end

return M
