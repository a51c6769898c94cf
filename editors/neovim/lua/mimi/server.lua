--- Starting mimi-lsp and talking to it.
---
--- Sits between the user-facing modules (ghost, chat, search, edit, status) and Neovim's LSP
--- client: registers the `mimi` config with `vim.lsp.config` / `vim.lsp.enable`, declares the
--- capabilities the server looks at (inline completion, annotated workspace edits), routes the
--- `mimi/*` notifications, and runs `workspace/executeCommand` on a ready client.
local M = {}

M.name = 'mimi'

--- Directory of the plugin (editors/neovim).
--- @return string
function M.plugin_root()
  local source = debug.getinfo(1, 'S').source:sub(2)
  return vim.fn.fnamemodify(source, ':p:h:h:h')
end

local function venv_binary(dir)
  for _, rel in ipairs({ '/.venv/bin/mimi-lsp', '/.venv/Scripts/mimi-lsp.exe' }) do
    local path = vim.fs.normalize(dir .. rel)
    if vim.fn.executable(path) == 1 then
      return path
    end
  end
end

--- The server command and where it was found, or nil and what to do about it.
--- @param cfg mimi.Config
--- @return string[]|fun(...)|nil cmd
--- @return string where (or the problem)
function M.resolve_cmd(cfg)
  if type(cfg.cmd) == 'function' then
    return cfg.cmd, 'configured (function)'
  end
  if cfg.cmd ~= nil then
    local cmd = type(cfg.cmd) == 'string' and { cfg.cmd, '--stdio' } or cfg.cmd
    if vim.fn.executable(cmd[1]) == 1 then
      return cmd, 'configured'
    end
    return nil, ('configured cmd %q is not executable'):format(cmd[1])
  end
  if vim.fn.executable('mimi-lsp') == 1 then
    return { vim.fn.exepath('mimi-lsp'), '--stdio' }, 'PATH'
  end
  -- The plugin lives in <repo>/editors/neovim: use the repository's virtualenv.
  local repo = vim.fn.fnamemodify(M.plugin_root(), ':h:h')
  for _, dir in ipairs({ repo, vim.fn.getcwd() }) do
    local path = venv_binary(dir)
    if path then
      return { path, '--stdio' }, dir .. '/.venv'
    end
  end
  return nil,
    'mimi-lsp not found on PATH nor in ' .. repo .. '/.venv: run `make setup` in the mimi-lsp '
      .. 'repository or `pip install mimi-lsp`, or set cmd in require("mimi").setup()'
end

--- Client capabilities: Neovim's own plus what mimi-lsp checks for.
--- @return lsp.ClientCapabilities
function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  -- Declared so the server drops its completion-menu fallback (no suggestion shown twice).
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion
    or { dynamicRegistration = false }
  caps.workspace.workspaceEdit = vim.tbl_extend('force', caps.workspace.workspaceEdit or {}, {
    documentChanges = true,
    changeAnnotationSupport = { groupsOnLabel = false },
  })
  -- Code actions resolve their command only, not their edit: Neovim 0.11 applies a resolved
  -- edit without a preview, while a command edit arrives as workspace/applyEdit, which
  -- mimi.edit previews and confirms (the agent marks its edits needsConfirmation).
  local code_action = caps.textDocument.codeAction
  if code_action and code_action.resolveSupport then
    code_action.resolveSupport = { properties = { 'command' } }
  end
  caps.experimental = vim.tbl_extend('force', caps.experimental or {}, {
    mimi = { chatDelta = true, indexStatus = true, status = true },
  })
  return caps
end

-- Callbacks waiting for a client started for a command (no buffer attached).
local waiting = {} --- @type table<integer, fun(client: vim.lsp.Client)[]>

local function on_init(client)
  local fns = waiting[client.id]
  waiting[client.id] = nil
  for _, fn in ipairs(fns or {}) do
    fn(client)
  end
end

local function root_dir(bufnr, on_dir)
  local cfg = require('mimi.config').get()
  local root = vim.fs.root(bufnr, cfg.root_markers)
  if not root then
    local name = vim.api.nvim_buf_get_name(bufnr)
    local cwd = vim.fn.getcwd()
    if name == '' or vim.startswith(vim.fs.normalize(name), vim.fs.normalize(cwd) .. '/') then
      root = cwd
    else
      root = vim.fs.dirname(name)
    end
  end
  on_dir(root)
end

--- The vim.lsp.Config registered as `mimi`.
--- @param cfg mimi.Config
--- @return vim.lsp.Config|nil config
--- @return string? problem
function M.lsp_config(cfg)
  local cmd, where = M.resolve_cmd(cfg)
  if not cmd then
    return nil, where
  end
  local settings = require('mimi.config').json_settings(cfg.settings or {})
  return {
    cmd = cmd,
    cmd_env = cfg.cmd_env,
    filetypes = require('mimi.config').filetypes(),
    root_dir = root_dir,
    -- Answered for workspace/configuration section `mimi` by Neovim's default handler.
    settings = { mimi = settings },
    init_options = settings,
    capabilities = M.capabilities(),
    handlers = M.handlers(),
    commands = M.client_commands(),
    on_init = on_init,
    on_attach = function(client, bufnr)
      require('mimi.ghost').attach(bufnr, client)
      require('mimi').attach_keymaps(bufnr)
      require('mimi.next_edit').attach(bufnr, client)
      vim.cmd('redrawstatus!') -- the statusline component now has a client to report on
    end,
  }
end

--- Handlers for the server's notifications and requests.
--- @return table<string, function>
function M.handlers()
  return {
    ['mimi/chatDelta'] = function(_, params)
      require('mimi.chat').on_delta(params)
      require('mimi.commit').on_delta(params)
    end,
    ['mimi/status'] = function(_, params, ctx)
      require('mimi.status').on_status(params, ctx)
    end,
    ['mimi/indexStatus'] = function(_, params, ctx)
      require('mimi.status').on_index_status(params, ctx)
    end,
    -- Never Neovim's default: its echo stops typing at "Press ENTER" (mimi.notify does not).
    ['window/showMessage'] = function(err, params)
      require('mimi.notify').on_show_message(err, params)
    end,
    ['workspace/applyEdit'] = function(err, params, ctx)
      return require('mimi.edit').on_apply_edit(err, params, ctx)
    end,
  }
end

--- Commands of code actions that the plugin runs itself (see :h vim.lsp.commands).
--- @return table<string, fun(command: lsp.Command, ctx: table)>
function M.client_commands()
  return {
    -- "Mimi: explain": the answer streams into the chat split.
    ['mimi.explain'] = function(command)
      require('mimi.chat').explain((command.arguments or {})[1] or {})
    end,
    -- Agent actions ("Mimi: edit selection…" comes without an instruction: ask for one).
    ['mimi.agent.edit'] = function(command)
      require('mimi.edit').from_code_action((command.arguments or {})[1] or {})
    end,
  }
end

--- Register and enable the `mimi` config; returns a problem when the server cannot start.
--- @param cfg mimi.Config
--- @return string? problem
function M.enable(cfg)
  local config, problem = M.lsp_config(cfg)
  if not config then
    return problem
  end
  local running = vim.lsp.is_enabled(M.name)
  vim.lsp.config(M.name, config)
  vim.lsp.enable(M.name)
  if running then
    M.push_settings(config.settings)
  end
end

--- Send changed settings to running clients (they answer workspace/configuration from them).
--- @param settings table
function M.push_settings(settings)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client.settings = settings
    client:notify('workspace/didChangeConfiguration', { settings = settings })
  end
end

--- Stop running clients.
function M.disable()
  if vim.lsp.is_enabled(M.name) then
    vim.lsp.enable(M.name, false)
  end
end

--- The mimi client for `bufnr` (default current), else any running mimi client.
--- @param bufnr integer?
--- @return vim.lsp.Client?
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr or 0 })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = M.name })
  end
  for _, client in ipairs(clients) do
    if not client:is_stopped() then
      return client
    end
  end
end

--- Call `fn(client)` with an initialized client, starting one for the current directory when
--- no buffer has one (commands such as :MimiSearch work from any buffer).
--- @param fn fun(client: vim.lsp.Client)
function M.with_client(fn)
  local client = M.get_client()
  if client and client.initialized then
    return fn(client)
  end
  if client then
    waiting[client.id] = waiting[client.id] or {}
    table.insert(waiting[client.id], fn)
    return
  end
  local cfg = require('mimi.config').get()
  local config, problem = M.lsp_config(cfg)
  if not config then
    require('mimi.notify').notify('mimi: ' .. problem, vim.log.levels.ERROR)
    return
  end
  config = vim.tbl_deep_extend('force', vim.deepcopy(vim.lsp.config[M.name] or {}), config)
  config.name = M.name
  config.root_dir = vim.fs.root(0, cfg.root_markers) or vim.fn.getcwd()
  local id = vim.lsp.start(config, { attach = false })
  if not id then
    require('mimi.notify').notify('mimi: the server did not start (see :checkhealth mimi)', vim.log.levels.ERROR)
    return
  end
  local started = vim.lsp.get_client_by_id(id)
  if started and started.initialized then
    return fn(started)
  end
  waiting[id] = waiting[id] or {}
  table.insert(waiting[id], fn)
end

--- Run `workspace/executeCommand`; `on_result(err, result, client)` when it answers.
--- @param command string
--- @param args table|nil first argument object
--- @param on_result fun(err: lsp.ResponseError?, result: any, client: vim.lsp.Client)
--- @param on_sent fun(client: vim.lsp.Client, request_id: integer)?
function M.command(command, args, on_result, on_sent)
  M.with_client(function(client)
    local params = { command = command, arguments = args and { args } or {} }
    local ok, id = client:request('workspace/executeCommand', params, function(err, result)
      on_result(err, result, client)
    end, 0)
    if not ok then
      on_result({ code = -32603, message = 'the server is not running' }, nil, client)
    elseif on_sent then
      on_sent(client, id)
    end
  end)
end

--- A readable message for a command error (unknown command: the server is too old).
--- @param command string
--- @param err lsp.ResponseError|table|string
--- @return string
function M.describe_error(command, err)
  local message = type(err) == 'table' and (err.message or vim.inspect(err)) or tostring(err)
  if message:find('not found', 1, true) or message:find('Unknown command', 1, true) then
    return ('mimi: the server does not offer %s yet (update mimi-lsp): %s'):format(
      command,
      message
    )
  end
  return ('mimi: %s failed: %s'):format(command, message)
end

return M
