-- Test helpers: child Neovim processes driven over msgpack-RPC, and assertions.
--
-- A child is a real `nvim --embed --headless --clean` with the plugin on 'runtimepath'; keys
-- go through `nvim_input`, so mappings, insert mode and autocmds behave as when typing.
-- Waiting is always on a condition (`vim.wait` with a predicate), never a fixed sleep.
local H = {}

H.tests_dir = vim.fs.dirname(vim.fs.normalize(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')))
H.plugin_dir = vim.fs.dirname(H.tests_dir)
H.repo = vim.fn.fnamemodify(H.plugin_dir, ':h:h')
H.server = os.getenv('MIMI_LSP') or (H.repo .. '/.venv/bin/mimi-lsp')
H.timeout = tonumber(os.getenv('MIMI_TEST_TIMEOUT') or '') or 15000

local children = {}

--- Settings for the real server with the scripted (fake) backend.
--- @param replies string[] completion replies, used in turn (the last repeats)
--- @param extra table? deep-merged over
function H.settings(replies, extra)
  return vim.tbl_deep_extend('force', {
    completion = { backend = { kind = 'fake', replies = replies }, debounceMs = 0 },
    index = { enabled = false },
  }, extra or {})
end

--- A fresh workspace directory with `files` (name -> text).
--- @param files table<string,string>?
--- @return string dir
function H.workspace(files)
  local dir = vim.fn.tempname() .. '-mimi'
  vim.fn.mkdir(dir, 'p')
  vim.fn.mkdir(dir .. '/.git', 'p') -- a root marker
  for name, text in pairs(files or {}) do
    local path = dir .. '/' .. name
    vim.fn.mkdir(vim.fs.dirname(path), 'p')
    vim.fn.writefile(vim.split(text, '\n', { plain = true }), path)
  end
  return dir
end

local Child = {}
Child.__index = Child

--- Start a child Neovim with the plugin (not yet set up).
--- @return table child
function H.child()
  local chan = vim.fn.jobstart({
    vim.v.progpath, '--embed', '--headless', '--clean', '-n', '-i', 'NONE',
    '--cmd', 'set rtp^=' .. vim.fn.fnameescape(H.plugin_dir),
    '--cmd', ('lua package.path = %q .. package.path'):format(H.tests_dir .. '/?.lua;'),
  }, { rpc = true })
  assert(chan > 0, 'could not start ' .. vim.v.progpath)
  local child = setmetatable({ chan = chan }, Child)
  children[#children + 1] = child
  child:lua('vim.o.columns, vim.o.lines = 120, 40')
  return child
end

--- Run Lua in the child and return its result.
function Child:lua(code, ...)
  local value = vim.rpcrequest(self.chan, 'nvim_exec_lua', code, { ... })
  if value == vim.NIL then
    return nil
  end
  return value
end

--- Call a function of tests/mimi_test.lua in the child.
function Child:call(fn, ...)
  return self:lua(('return require("mimi_test").%s(...)'):format(fn), ...)
end

--- Type keys (queued like a user typing; processed by the child's input loop).
function Child:input(keys)
  vim.rpcrequest(self.chan, 'nvim_input', keys)
end

--- Wait until `code` (Lua run in the child) returns a truthy value; returns it.
function Child:wait(code, what, timeout, ...)
  local args = { ... }
  local value
  local t0 = vim.uv.hrtime()
  local ok = vim.wait(timeout or H.timeout, function()
    value = vim.rpcrequest(self.chan, 'nvim_exec_lua', code, args)
    return value ~= nil and value ~= false and value ~= vim.NIL
  end, 10)
  if os.getenv('MIMI_TEST_TRACE') then
    io.stdout:write(('  waited %d ms for %s\n'):format((vim.uv.hrtime() - t0) / 1e6, what))
  end
  if not ok then
    error(('timed out waiting for %s (last value %s)'):format(what, vim.inspect(value)), 2)
  end
  return value
end

--- setup() with the real server and `settings`, then edit `path` and wait for attachment.
--- @param opts {settings: table, path: string, setup: table?}
function Child:start(opts)
  local setup = vim.tbl_deep_extend('force', {
    cmd = { H.server, '--stdio' },
    settings = opts.settings,
  }, opts.setup or {})
  self:lua('require("mimi").setup(...)', setup)
  if opts.path then
    -- Like a user starting nvim in the project: cwd at the workspace root.
    self:lua('vim.fn.chdir(vim.fs.root(..., ".git") or vim.fs.dirname(...))', opts.path)
    self:lua('vim.cmd.edit(vim.fn.fnameescape(...))', opts.path)
    self:wait('return require("mimi_test").attached()', 'the server to attach', 30000)
  end
end

function Child:stop()
  pcall(vim.rpcrequest, self.chan, 'nvim_exec_lua', [[
    for _, c in ipairs(vim.lsp.get_clients()) do c:stop(true) end
  ]], {})
  pcall(vim.fn.jobstop, self.chan)
end

local standins = {}

H.python = os.getenv('MIMI_PYTHON') or (H.repo .. '/.venv/bin/python')

--- The repository's Ollama stand-in (tests/standins: the real wire protocol on 127.0.0.1).
--- @param args string[] extra arguments, e.g. { '--reply', ' + b', '--first-token-ms', '500' }
--- @return {url: string, requests: fun(path: string?): table[]}
function H.ollama(args)
  local url
  local cmd = { H.python, '-m', 'tests.standins.ollama', '--port', '0' }
  vim.list_extend(cmd, args or {})
  local job = vim.fn.jobstart(cmd, {
    cwd = H.repo,
    on_stdout = function(_, data)
      for _, line in ipairs(data) do
        url = url or line:match('^READY (%S+)')
      end
    end,
  })
  assert(job > 0, 'could not start the Ollama stand-in')
  standins[#standins + 1] = job
  if not vim.wait(H.timeout, function()
    return url ~= nil
  end, 10) then
    error('the Ollama stand-in did not start')
  end
  local standin = { url = url }
  function standin.requests(path)
    local out = vim.system({ H.python, '-c', 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())', url .. '/_standin/requests' }, { text = true }):wait()
    local all = vim.json.decode(out.stdout).requests
    return vim.tbl_filter(function(r)
      return path == nil or r.path == path
    end, all)
  end
  return standin
end

--- Stop every child and stand-in started by the current test.
function H.cleanup()
  for _, child in ipairs(children) do
    child:stop()
  end
  children = {}
  for _, job in ipairs(standins) do
    pcall(vim.fn.jobstop, job)
  end
  standins = {}
end

H.PENDING = '[pending]'

--- Stop the test as pending when the server does not offer `command` yet (printed, counted,
--- never silent); the test runs for real as soon as the server has it.
function H.require_command(child, command)
  local has = child:lua([[
    local c = require('mimi.server').get_client()
    local p = c and c.server_capabilities.executeCommandProvider
    return p and vim.list_contains(p.commands or {}, ...)
  ]], command)
  if not has then
    error(('%s the server does not offer %s yet'):format(H.PENDING, command), 0)
  end
end

function H.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(('%s: expected %s, got %s'):format(what or 'value', vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function H.truthy(value, what)
  if not value or value == vim.NIL then
    error((what or 'value') .. ' was ' .. vim.inspect(value), 2)
  end
  return value
end

function H.contains(haystack, needle, what)
  if type(haystack) == 'table' then
    haystack = table.concat(haystack, '\n')
  end
  if not tostring(haystack):find(needle, 1, true) then
    error(('%s: %q not found in:\n%s'):format(what or 'text', needle, tostring(haystack)), 2)
  end
end

return H
