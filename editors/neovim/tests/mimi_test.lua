-- Loaded inside the child Neovim: reads back what the plugin put on screen and in buffers.
local M = {}

--- Whether the mimi client is initialized and ghost text is wired to the current buffer.
function M.attached()
  local buf = vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = buf, name = 'mimi' })[1]
  return client ~= nil and client.initialized and require('mimi.ghost').attached(buf)
end

--- The ghost text as drawn: extmarks of the mimi.ghost namespace in the current buffer.
--- @return {row: integer, col: integer, inline: string, lines: string[]}?
function M.ghost()
  local ns = require('mimi.ghost').ns
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local _, row, col, details = unpack(marks[1])
  local inline = ''
  for _, chunk in ipairs(details.virt_text or {}) do
    inline = inline .. chunk[1]
  end
  local lines = {}
  for _, vline in ipairs(details.virt_lines or {}) do
    local text = ''
    for _, chunk in ipairs(vline) do
      text = text .. chunk[1]
    end
    lines[#lines + 1] = text
  end
  return { row = row, col = col, inline = inline, lines = lines, count = #marks, pos = details.virt_text_pos }
end

--- The ghost text as one string (first line .. "\n" .. virtual lines), or nil.
function M.ghost_text()
  local g = M.ghost()
  if not g then
    return nil
  end
  return table.concat({ g.inline, unpack(g.lines) }, '\n')
end

function M.lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

function M.line()
  return vim.api.nvim_get_current_line()
end

function M.cursor()
  return vim.api.nvim_win_get_cursor(0)
end

function M.mode()
  return vim.api.nvim_get_mode().mode
end

function M.stats()
  return require('mimi.ghost').stats
end

--- Lines of the first buffer whose name matches `pattern`.
function M.buffer_lines(pattern)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(buf):find(pattern) then
      return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    end
  end
end

--- Record vim.notify calls in _G.notes.
function M.capture_notify()
  _G.notes = {}
  vim.notify = function(msg, level)
    table.insert(_G.notes, { msg = msg, level = level })
  end
end

function M.notes()
  return vim.tbl_map(function(n)
    return n.msg
  end, _G.notes or {})
end

--- Answer vim.ui.select with `choice`, recording prompts and the lines of the current window.
function M.answer_select(choice)
  _G.selects = {}
  vim.ui.select = function(items, opts, on_choice)
    table.insert(_G.selects, {
      items = items,
      prompt = opts.prompt,
      kind = opts.kind,
      screen = vim.api.nvim_buf_get_lines(0, 0, -1, false),
    })
    local picked
    for _, item in ipairs(items) do
      local text = opts.format_item and opts.format_item(item) or item
      if choice == true or text == choice then
        picked = item
        break
      end
    end
    on_choice(picked)
  end
end

function M.selects()
  return _G.selects
end

return M
