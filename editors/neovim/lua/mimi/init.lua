--- mimi for Neovim: `require("mimi").setup({})`.
---
--- The entry point: merges options (mimi.config), registers and enables the `mimi` language
--- server (mimi.server), sets the ghost-text highlight and the insert-mode keys of attached
--- buffers. The user commands live in plugin/mimi.lua and call into the modules here.
local M = {}

M.did_setup = false

local function set_highlights()
  -- Comment's colours, plus a grey for 256-colour terminals: the default colorscheme gives
  -- Comment no cterm colour, and ghost text must never look like typed text.
  local hl = vim.api.nvim_get_hl(0, { name = 'Comment', link = false })
  hl.default = true
  hl.ctermfg = hl.ctermfg or 244
  if not hl.fg then
    hl.fg = '#808080'
  end
  vim.api.nvim_set_hl(0, 'MimiGhostText', hl)
  require('mimi.next_edit').set_highlights()
end

--- Start mimi: the server for the configured filetypes, ghost text, commands.
--- @param opts mimi.Config|table|nil
function M.setup(opts)
  if vim.fn.has('nvim-0.11') == 0 then
    vim.notify('mimi needs Neovim 0.11 or newer (see :checkhealth mimi)', vim.log.levels.ERROR)
    return
  end
  local cfg = require('mimi.config').set(opts)
  M.did_setup = true
  set_highlights()
  local group = vim.api.nvim_create_augroup('mimi', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = set_highlights })
  local problem = require('mimi.server').enable(cfg)
  if problem then
    M.problem = problem
    require('mimi.notify').notify('mimi: ' .. problem, vim.log.levels.WARN)
  else
    M.problem = nil
  end
end

--- Commands call this: set up with defaults when the user has not.
function M.ensure()
  if not M.did_setup then
    M.setup({})
  end
end

local actions = {
  accept_word = function()
    require('mimi.ghost').accept_word()
  end,
  accept_line = function()
    require('mimi.ghost').accept_line()
  end,
  next = function()
    require('mimi.ghost').next()
  end,
  prev = function()
    require('mimi.ghost').prev()
  end,
  dismiss = function()
    require('mimi.ghost').dismiss()
  end,
  trigger = function()
    require('mimi.ghost').trigger()
  end,
}

local descriptions = {
  accept = 'mimi: accept the suggestion',
  accept_word = 'mimi: accept the next word',
  accept_line = 'mimi: accept the next line',
  next = 'mimi: next suggestion',
  prev = 'mimi: previous suggestion',
  dismiss = 'mimi: dismiss the suggestion',
  trigger = 'mimi: suggest now',
}

--- Insert-mode keys in `buf` (unless turned off with `keymaps = false`).
--- @param buf integer
function M.attach_keymaps(buf)
  local keymaps = require('mimi.config').get().keymaps
  if not keymaps then
    return
  end
  local ghost = require('mimi.ghost')
  for name, lhs in pairs(keymaps) do
    if lhs and lhs ~= '' then
      if name == 'accept' then
        -- Falls back to the key itself when no suggestion is shown (Tab still indents).
        vim.keymap.set('i', lhs, function()
          if ghost.visible() then
            return '<Cmd>lua require("mimi.ghost").accept()<CR>'
          end
          if ghost.native() and vim.lsp.inline_completion.get() then
            return ''
          end
          -- Keep Neovim's default Tab behaviour: jump in an active snippet.
          if lhs:lower() == '<tab>' and vim.snippet.active({ direction = 1 }) then
            return '<Cmd>lua vim.snippet.jump(1)<CR>'
          end
          return lhs
        end, { buffer = buf, expr = true, desc = descriptions[name] })
      elseif actions[name] then
        vim.keymap.set('i', lhs, actions[name], { buffer = buf, desc = descriptions[name] })
      end
    end
  end
end

--- Statusline component: "mimi ok", "mimi unavailable", "mimi ok indexing 40 files", "1/3".
--- @return string
function M.statusline()
  return require('mimi.status').statusline()
end

-- Shortcuts for mappings of one's own (each returns false when there is nothing to do).
M.accept = function()
  return require('mimi.ghost').accept()
end
M.accept_word = function()
  return require('mimi.ghost').accept_word()
end
M.accept_line = function()
  return require('mimi.ghost').accept_line()
end
M.dismiss = function()
  return require('mimi.ghost').dismiss()
end
M.visible = function()
  return require('mimi.ghost').visible()
end

return M
