--- `:checkhealth mimi`: what is missing and how to fix it.
---
--- Checks, in the order a user needs them: Neovim version, setup, the server binary, that the
--- server starts and answers (the running client, or a short-lived probe process), the backends'
--- health from `mimi.status`, the index, and the commands the server offers.
local M = {}

local health = vim.health

local REQUIRED_COMMANDS = { 'mimi.status', 'mimi.chat', 'mimi.search', 'mimi.agent.edit', 'mimi.reindex' }

local function present(v)
  return v ~= nil and v ~= vim.NIL and v ~= ''
end

--- Start the server as a bare RPC process, initialize it and ask `mimi.status`.
--- @param cmd string[]
--- @param settings table
--- @return table? answer {capabilities, status, ms, messages}
--- @return string? problem
local function probe(cmd, settings)
  local messages, stderr = {}, {}
  local ok_start, rpc = pcall(vim.lsp.rpc.start, cmd, {
    notification = function(method, params)
      if method == 'window/showMessage' or method == 'window/logMessage' then
        if params.type and params.type <= 2 then
          messages[#messages + 1] = params.message
        end
      end
    end,
    server_request = function(method, params)
      if method == 'workspace/configuration' then
        local out = {}
        for _ in ipairs(params.items or {}) do
          out[#out + 1] = settings
        end
        return out
      end
      return vim.NIL
    end,
    on_error = function(code, err)
      stderr[#stderr + 1] = tostring(err or code)
    end,
  })
  if not ok_start or not rpc then
    return nil, 'could not start: ' .. tostring(rpc)
  end
  local started = vim.uv.hrtime()
  local init, init_err
  rpc.request('initialize', {
    processId = vim.fn.getpid(),
    rootUri = vim.uri_from_fname(vim.fn.getcwd()),
    workspaceFolders = vim.NIL,
    capabilities = require('mimi.server').capabilities(),
    initializationOptions = settings,
  }, function(err, result)
    init_err, init = err, result or vim.NIL
  end)
  vim.wait(15000, function()
    return init ~= nil or init_err ~= nil or rpc.is_closing()
  end, 20)
  local ms = (vim.uv.hrtime() - started) / 1e6
  if not init or init == vim.NIL then
    rpc.terminate()
    local why = init_err and (init_err.message or vim.inspect(init_err))
      or (rpc.is_closing() and 'the process exited' or 'no answer to initialize within 15 s')
    return nil, why .. (#stderr > 0 and (' (' .. table.concat(stderr, '; ') .. ')') or '')
  end
  rpc.notify('initialized', vim.empty_dict())
  local status, status_err
  rpc.request('workspace/executeCommand', { command = 'mimi.status', arguments = {} }, function(err, result)
    status_err, status = err, result or vim.NIL
  end)
  vim.wait(10000, function()
    return status ~= nil or status_err ~= nil
  end, 20)
  local done = false
  rpc.request('shutdown', vim.NIL, function()
    done = true
  end)
  vim.wait(3000, function()
    return done
  end, 20)
  rpc.notify('exit', vim.NIL)
  vim.wait(1000, function()
    return rpc.is_closing()
  end, 20)
  if not rpc.is_closing() then
    rpc.terminate()
  end
  return {
    capabilities = init.capabilities or {},
    server_info = init.serverInfo,
    status = type(status) == 'table' and status or nil,
    status_error = status_err,
    ms = ms,
    messages = messages,
  }
end

local function check_backends(status)
  local backends = type(status.backends) == 'table' and status.backends or {}
  local names = vim.tbl_keys(backends)
  table.sort(names)
  if #names == 0 then
    health.warn('the server reported no backends')
  end
  for _, name in ipairs(names) do
    local b = backends[name]
    local what = ('%s backend (%s%s)'):format(
      name,
      tostring(b.kind or '?'),
      present(b.model) and (', model ' .. b.model) or ''
    )
    local advice = {}
    if present(b.fix) then
      advice[#advice + 1] = b.fix
    end
    if b.state == 'ok' then
      health.ok(what .. ': ok')
    elseif b.state == 'unavailable' then
      health.warn(what .. ': unavailable' .. (present(b.message) and (': ' .. b.message) or ''), advice)
    else
      health.error(what .. ': ' .. tostring(b.state) .. (present(b.message) and (': ' .. b.message) or ''), advice)
    end
  end
  local index = status.index
  if type(index) == 'table' and (index.state == 'disabled' or index.state == 'idle') then
    index = nil
  end
  if type(index) == 'table' then
    local state = index.state or 'ready'
    local line = ('index %s: %s files, %s chunks'):format(state, tostring(index.files or '?'), tostring(index.chunks or '?'))
    if state == 'error' then
      health.error(line .. (present(index.message) and (': ' .. index.message) or ''), { 'Run :MimiReindex' })
    else
      health.ok(line)
    end
  else
    health.info('index: disabled (set settings.index.enabled = true for :MimiSearch and chat context)')
  end
end

local function check_capabilities(caps)
  if caps.inlineCompletionProvider then
    health.ok('server offers inline completion (ghost text)')
  else
    health.error('server does not offer textDocument/inlineCompletion', { 'Update mimi-lsp' })
  end
  local provider = caps.executeCommandProvider
  local commands = type(provider) == 'table' and provider.commands or {}
  local missing = {}
  for _, name in ipairs(REQUIRED_COMMANDS) do
    if not vim.list_contains(commands, name) then
      missing[#missing + 1] = name
    end
  end
  if #missing == 0 then
    health.ok('server commands: ' .. table.concat(REQUIRED_COMMANDS, ', '))
  else
    health.warn(
      'server lacks ' .. table.concat(missing, ', ') .. ' (the matching :Mimi commands will fail)',
      { 'Update mimi-lsp to a version with these commands' }
    )
  end
end

function M.check()
  health.start('mimi: Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 0 then
    health.error('Neovim ' .. version .. ' is too old', { 'Install Neovim 0.11 or newer' })
    return
  end
  local ghost = require('mimi.ghost')
  if vim.lsp.inline_completion then
    health.ok(('Neovim %s: ghost text by the built-in vim.lsp.inline_completion%s'):format(
      version,
      ghost.native() and '' or ' (disabled: ghost.native = false, extmarks used)'
    ))
  else
    health.ok('Neovim ' .. version .. ': ghost text drawn with extmarks')
  end

  health.start('mimi: setup')
  local mimi = require('mimi')
  local cfg = require('mimi.config').get()
  if mimi.did_setup then
    local fts = require('mimi.config').filetypes()
    health.ok(('setup() called; filetypes: %s'):format(fts and (#fts .. ' configured') or 'all'))
  else
    health.warn('setup() has not been called', { 'Add require("mimi").setup({}) to your config' })
  end
  if cfg.keymaps then
    local taken = {}
    for name, lhs in pairs(cfg.keymaps) do
      local other = lhs and vim.fn.maparg(lhs, 'i', false, true) or {}
      -- Neovim's own <Tab> (snippet jumps) is kept by mimi's fallback: not a conflict.
      if other.lhs and not tostring(other.desc or ''):find('snippet', 1, true) then
        taken[#taken + 1] = ('%s (%s)'):format(lhs, name)
      end
    end
    if #taken > 0 then
      health.info('keys also mapped globally, mimi overrides them in its buffers: ' .. table.concat(taken, ', '))
    end
  else
    health.info('default keymaps are off (keymaps = false)')
  end

  health.start('mimi: server')
  local server = require('mimi.server')
  local cmd, where = server.resolve_cmd(cfg)
  if not cmd then
    health.error(where)
    return
  end
  if type(cmd) == 'function' then
    health.info('cmd is a function: ' .. where)
  else
    local out = vim.system({ cmd[1], '--version' }, { text = true }):wait(10000)
    if out.code == 0 then
      health.ok(('%s (%s, found via %s)'):format(vim.trim(out.stdout or ''), cmd[1], where))
    else
      health.error(('%s --version failed (exit %s): %s'):format(cmd[1], tostring(out.code), vim.trim(out.stderr or '')), {
        'Reinstall mimi-lsp (make setup in the repository)',
      })
      return
    end
  end

  local client = server.get_client()
  local caps, status
  if client and client.initialized then
    health.ok(('server running (client %d, root %s)'):format(client.id, tostring(client.root_dir)))
    caps = client.server_capabilities or {}
    local answer = client:request_sync('workspace/executeCommand', { command = 'mimi.status', arguments = {} }, 10000)
    if answer and answer.result then
      status = answer.result
    else
      health.error('mimi.status did not answer: ' .. vim.inspect(answer and answer.err or 'timeout'))
    end
  elseif type(cmd) == 'table' then
    local settings = require('mimi.config').json_settings(cfg.settings or {})
    local result, problem = probe(cmd, settings)
    if not result then
      health.error('the server did not start: ' .. problem, {
        'Run `' .. table.concat(cmd, ' ') .. '` in a terminal to see its error',
        'Check :LspLog',
      })
      return
    end
    health.ok(('server starts and answers initialize in %d ms'):format(result.ms))
    caps = result.capabilities
    status = result.status
    if not status then
      health.error('mimi.status failed: ' .. vim.inspect(result.status_error))
    end
    for _, message in ipairs(result.messages) do
      health.warn('server says: ' .. message)
    end
  end
  if caps then
    check_capabilities(caps)
  end
  if status then
    health.start('mimi: backends')
    health.info('mimi-lsp ' .. tostring(status.version))
    check_backends(status)
  end
end

return M
