-- Next-edit suggestions in a real child Neovim against the real mimi-lsp (no model running).
local H = require('helpers')

local SOURCE = table.concat({
  'def total(items, rate):',
  '    result = 0',
  '    for item in items:',
  '        result += item.price * rate',
  '    return result * rate',
  '',
}, '\n')

local function session(extra)
  local dir = H.workspace({ ['pricing.py'] = SOURCE })
  local child = H.child()
  child:start({
    settings = H.settings({ '' }, extra and extra.settings),
    setup = vim.tbl_deep_extend('force', { next_edit = { debounce_ms = 20 } }, extra and extra.setup or {}),
    path = dir .. '/pricing.py',
  })
  return child
end

--- The suggestion as drawn: struck range and inline replacement text.
local SHOWN = [[
  local ns = require('mimi.next_edit').ns
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  local out = { struck = nil, added = nil }
  for _, m in ipairs(marks) do
    local _, row, col, d = unpack(m)
    if d.hl_group == 'MimiNextEditDelete' then
      out.struck = { row, col, d.end_row, d.end_col }
    elseif d.virt_text and d.virt_text[1][2] == 'MimiNextEditAdd' then
      out.added = { row, col, d.virt_text[1][1] }
    end
  end
  return out.struck and out.added and out
]]

return {
  {
    'a renamed parameter: the next use is shown, Tab jumps to it and Tab applies it',
    function()
      local child = session()
      -- Rename `rate` at the definition: cursor on it, change the word, leave insert mode.
      child:lua('vim.api.nvim_win_set_cursor(0, {1, 18})')
      child:input('ciwfactor<Esc>')
      child:wait('return require("mimi_test").line() == "def total(items, factor):"', 'the rename')
      local shown = child:wait('return (function() ' .. SHOWN .. ' end)()', 'the next edit')
      H.eq({ 3, 31, 3, 35 }, shown.struck, 'struck range (the next use)')
      H.eq({ 3, 35, 'factor' }, shown.added, 'replacement drawn at its site')
      H.eq({ 1, 22 }, child:call('cursor'), 'cursor stays until Tab')

      child:input('<Tab>')
      child:wait('return require("mimi_test").cursor()[1] == 4', 'the jump')
      H.eq({ 4, 31 }, child:call('cursor'), 'cursor at the edit')
      H.eq('        result += item.price * rate', child:lua('return vim.fn.getline(4)'), 'not applied yet')

      child:input('<Tab>')
      child:wait('return vim.fn.getline(4) == "        result += item.price * factor"', 'the accepted edit')
      -- The rename goes on: the last use is suggested next.
      local next_shown = child:wait('return (function() ' .. SHOWN .. ' end)()', 'the following edit')
      H.eq({ 4, 20, 4, 24 }, next_shown.struck, 'the next use after accepting')
      local stats = child:lua('return require("mimi.next_edit").stats')
      H.eq(1, stats.accepted, 'accepted')
      H.truthy(stats.shown >= 2, 'shown twice')
    end,
  },
  {
    'a suggestion for an older version is dropped, and typing clears the one shown',
    function()
      local child = session()
      child:lua('vim.api.nvim_win_set_cursor(0, {1, 18})')
      child:input('ciwfactor<Esc>')
      child:wait('return (function() ' .. SHOWN .. ' end)()', 'the next edit')
      child:input('Ax<Esc>')
      child:wait([[return #vim.api.nvim_buf_get_extmarks(0, require('mimi.next_edit').ns, 0, -1, {}) == 0
        or vim.fn.getline(1):sub(-1) == 'x']], 'the change')
      -- Answers computed for the version before the keystroke never reach the screen.
      local edit = child:lua('return require("mimi.next_edit").current()')
      if edit then
        H.eq(child:lua('return vim.lsp.util.buf_versions[0] or vim.lsp.util.buf_versions[vim.api.nvim_get_current_buf()]'), edit.textDocument.version, 'only current versions are shown')
      end
    end,
  },
  {
    'nextEdit can be turned off in the plugin',
    function()
      local child = session({ setup = { next_edit = { enabled = false } } })
      child:lua('vim.api.nvim_win_set_cursor(0, {1, 18})')
      child:input('ciwfactor<Esc>')
      child:wait('return require("mimi_test").line() == "def total(items, factor):"', 'the rename')
      vim.wait(300)
      H.eq(0, child:lua('return require("mimi.next_edit").stats.requests'), 'no requests')
    end,
  },
}
