-- Measures ghost text in Neovim against the real server (fake backend, no model time):
--   ask:     key typed (TextChangedI) -> request -> answer -> extmark drawn
--   through: key typed that matches the suggestion -> suggestion redrawn (no request)
--   keystroke: time the plugin spends in its TextChangedI handler
-- Run: nvim --headless --clean -l bench/ghost_latency.lua [N]  (prints one JSON line)
local tests_dir = vim.fs.dirname(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p'))) .. '/tests'
package.path = tests_dir .. '/?.lua;' .. package.path
local H = require('helpers')
local n = tonumber(arg and arg[1] or '') or 200

local dir = H.workspace({ ['main.py'] = 'def f():\n    return ' })
local child = H.child()
child:start({
  settings = H.settings({ 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' }),
  setup = { ghost = { debounce_ms = 0 } },
  path = dir .. '/main.py',
})
child:lua([[
  local ghost = require('mimi.ghost')
  _G.bench = { ask = {}, through = {}, keystroke = {} }
  local api = vim.api
  local set_extmark = api.nvim_buf_set_extmark
  api.nvim_buf_set_extmark = function(buf, ns, ...)
    local id = set_extmark(buf, ns, ...)
    if ns == ghost.ns and _G.bench.t0 and _G.bench[_G.bench.kind] then
      table.insert(_G.bench[_G.bench.kind], (vim.uv.hrtime() - _G.bench.t0) / 1e6)
      _G.bench.t0 = nil
    end
    return id
  end
  -- First in line among the TextChangedI handlers: the moment the key is in the buffer.
  api.nvim_create_autocmd('TextChangedI', { buffer = 0, callback = function()
    _G.bench.t0 = vim.uv.hrtime()
  end })
  -- Cost of the plugin's own handler: time it from a wrapper around ghost's autocmd.
  for _, au in ipairs(api.nvim_get_autocmds({ group = 'mimi.ghost.' .. api.nvim_get_current_buf(), event = 'TextChangedI' })) do
    local cb = au.callback
    api.nvim_del_autocmd(au.id)
    api.nvim_create_autocmd('TextChangedI', { buffer = 0, callback = function(ev)
      local t = vim.uv.hrtime()
      cb(ev)
      table.insert(_G.bench.keystroke, (vim.uv.hrtime() - t) / 1e6)
    end })
  end
]])
child:input('GA')
child:wait('return require("mimi_test").ghost_text() ~= nil', 'first ghost text')
for i = 1, n do
  -- "a" never matches the "z…" suggestion: a new request each time.
  child:lua('_G.bench.kind = "ask"')
  child:input('a')
  child:wait('return #_G.bench.ask >= ...', 'ghost after a request', nil, i)
  -- "z" matches: the suggestion is redrawn without asking.
  child:lua('_G.bench.kind = "through"')
  child:input('z')
  child:wait('return #_G.bench.through >= ...', 'ghost after typing through', nil, i)
  child:lua('_G.bench.kind = "reset"')
  child:input('<BS><BS>')
  local ok, err = pcall(child.wait, child, 'return require("mimi_test").line() == "    return " and require("mimi_test").ghost_text() ~= nil and not require("mimi.ghost").pending()', 'reset', 3000)
  if not ok then
    error(err .. vim.inspect(child:lua('return {require("mimi_test").line(), require("mimi_test").ghost_text(), require("mimi.ghost").pending(), require("mimi.ghost").stats}')))
  end
end
local result = child:lua('_G.bench.requests = require("mimi.ghost").stats.requests; return _G.bench')
H.cleanup()
io.stdout:write(vim.json.encode({ ask = result.ask, through = result.through, keystroke = result.keystroke, n = n }), '\n')
