--- Options of the mimi plugin: defaults, merging and validation.
---
--- Sits at the start of the flow: `require("mimi").setup(opts)` merges `opts` over `defaults`
--- here; every other module reads `config.get()`. `settings` is passed through untouched to
--- the server (initializationOptions and the `mimi` section of workspace/configuration).
local M = {}

--- @class mimi.Config
M.defaults = {
  --- Command starting the server; nil: `mimi-lsp` on PATH, then the project's .venv.
  --- @type string[]|string|nil
  cmd = nil,
  --- Extra environment for the server process.
  --- @type table<string,string>|nil
  cmd_env = nil,
  --- Filetypes the server attaches to; `"*"` (or `{ "*" }`) for every file buffer.
  --- @type string[]|string
  filetypes = {
    'c', 'cpp', 'cs', 'css', 'dart', 'elixir', 'go', 'haskell', 'html', 'java', 'javascript',
    'javascriptreact', 'json', 'julia', 'kotlin', 'lua', 'markdown', 'ocaml', 'php', 'python',
    'r', 'ruby', 'rust', 'scala', 'scss', 'sh', 'sql', 'svelte', 'swift', 'terraform', 'toml',
    'typescript', 'typescriptreact', 'vim', 'vue', 'yaml', 'zig', 'zsh',
  },
  --- Files marking a workspace root; the current directory is used when none is found.
  root_markers = { '.git', '.hg', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod' },
  --- Server settings (camelCase keys, see `mimi-lsp schema`), e.g.
  --- `{ completion = { model = "qwen2.5-coder:1.5b-base" } }`.
  settings = {},
  ghost = {
    --- Show AI suggestions as ghost text.
    enabled = true,
    --- Ask while typing in insert mode (otherwise only on `keymaps.trigger`).
    auto_trigger = true,
    --- Milliseconds of quiet typing before asking (the server adds its own adaptive delay).
    debounce_ms = 75,
    --- On Neovim >= 0.12 use the built-in vim.lsp.inline_completion.
    native = true,
    --- Hide ghost text while the completion menu is open.
    hide_during_completion = true,
    --- Highlight group of the ghost text (linked to Comment by default).
    hl_group = 'MimiGhostText',
  },
  next_edit = {
    --- Suggest the next edit from your recent edits (renames, repeated changes).
    enabled = true,
    --- Ask after each change (otherwise only through require("mimi.next_edit").request()).
    auto_trigger = true,
    --- Milliseconds after the last change before asking.
    debounce_ms = 300,
  },
  --- Insert-mode keys of the buffers mimi is attached to; `false` turns all off, or one key.
  --- `next_edit` and `next_edit_dismiss` are normal-mode keys.
  --- @type table<string,string|false>|false
  keymaps = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-Down>',
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
    next_edit = '<Tab>',
    next_edit_dismiss = '<C-]>',
  },
  chat = {
    --- Where :MimiChat opens: 'vertical', 'horizontal', 'tab' or 'current'.
    split = 'vertical',
    --- Width (vertical) or height (horizontal): columns/lines, or a fraction of the editor.
    size = 0.4,
  },
  search = {
    --- Number of hits asked for.
    k = 20,
    --- 'hybrid', 'bm25' or 'vector'; nil lets the server choose.
    mode = nil,
    --- 'quickfix' or 'select' (vim.ui.select); `:MimiSearch!` uses the other one.
    ui = 'quickfix',
    --- Open the quickfix window after a search.
    open = true,
  },
  commit_message = {
    --- Write a commit message from the staged diff when a gitcommit buffer opens empty
    --- (`git commit` with this Neovim as its editor); `:MimiCommitMessage` works either way.
    auto = false,
  },
  edit = {
    --- Confirm edits the server sends with workspace/applyEdit: 'always', 'annotated' (only
    --- when a change annotation asks for it) or 'never'.
    confirm = 'always',
  },
}

local current = vim.deepcopy(M.defaults)

local function check(opts)
  vim.validate('opts', opts, 'table')
  vim.validate('cmd', opts.cmd, { 'table', 'string', 'function' }, true)
  vim.validate('filetypes', opts.filetypes, { 'table', 'string' }, true)
  vim.validate('settings', opts.settings, 'table', true)
  vim.validate('ghost', opts.ghost, 'table', true)
  vim.validate('keymaps', opts.keymaps, { 'table', 'boolean' }, true)
  vim.validate('chat', opts.chat, 'table', true)
  vim.validate('search', opts.search, 'table', true)
  vim.validate('edit', opts.edit, 'table', true)
  vim.validate('next_edit', opts.next_edit, 'table', true)
  vim.validate('commit_message', opts.commit_message, 'table', true)
  if opts.edit and opts.edit.confirm then
    vim.validate('edit.confirm', opts.edit.confirm, function(v)
      return v == 'always' or v == 'annotated' or v == 'never'
    end, false, "'always', 'annotated' or 'never'")
  end
end

--- Merge `opts` over the defaults; raises a readable error on a wrong type.
--- @param opts table|nil
--- @return mimi.Config
function M.set(opts)
  opts = opts or {}
  check(opts)
  local merged = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  -- Lists replace, never merge element-wise.
  for _, key in ipairs({ 'filetypes', 'root_markers', 'cmd' }) do
    if opts[key] ~= nil then
      merged[key] = opts[key]
    end
  end
  if opts.settings ~= nil then
    merged.settings = vim.deepcopy(opts.settings)
  end
  if opts.keymaps == false then
    merged.keymaps = false
  end
  current = merged
  return current
end

--- @return mimi.Config
function M.get()
  return current
end

--- The filetypes list for vim.lsp.config, nil meaning all.
--- @return string[]|nil
function M.filetypes()
  local ft = current.filetypes
  if ft == '*' or (type(ft) == 'table' and ft[1] == '*') then
    return nil
  end
  if type(ft) == 'string' then
    return { ft }
  end
  return ft
end

--- Settings ready for JSON: empty tables dropped (Lua cannot tell `{}` from `[]`).
--- @param value any
--- @return any
function M.json_settings(value)
  if type(value) ~= 'table' then
    return value
  end
  if vim.islist(value) and #value > 0 then
    return vim.tbl_map(M.json_settings, value)
  end
  local out = {}
  for k, v in pairs(value) do
    if not (type(v) == 'table' and next(v) == nil) then
      out[k] = M.json_settings(v)
    end
  end
  if next(out) == nil then
    return vim.empty_dict()
  end
  return out
end

return M
