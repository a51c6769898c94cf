-- :checkhealth mimi: what is missing and how to fix it.
local H = require('helpers')

local function checkhealth(child)
  child:lua('vim.cmd("checkhealth mimi")')
  return child:wait([[
    if vim.bo.filetype ~= 'checkhealth' then return nil end
    local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    local text = table.concat(lines, '\n')
    return text:find('mimi: server', 1, true) and (text:find('mimi: backends', 1, true) or text:find('ERROR', 1, true)) and lines
  ]], 'the health report', 30000)
end

return {
  {
    'reports the running server, its commands and healthy backends',
    function()
      local dir = H.workspace({ ['main.py'] = 'x = 1\n' })
      local child = H.child()
      child:start({ settings = H.settings({ '' }), path = dir .. '/main.py' })
      local lines = checkhealth(child)
      H.contains(lines, 'OK Neovim 0.11')
      H.contains(lines, 'ghost text drawn with extmarks')
      H.contains(lines, 'OK setup() called')
      H.contains(lines, 'OK mimi-lsp ')
      H.contains(lines, 'server running (client')
      H.contains(lines, 'server offers inline completion')
      H.contains(lines, 'completion backend (fake')
      H.contains(lines, ': ok')
    end,
  },
  {
    'starts a probe server when none runs and reports how long it took',
    function()
      local child = H.child()
      child:start({ settings = H.settings({ '' }) }) -- set up, but no file opened: no client
      local lines = checkhealth(child)
      H.contains(lines, 'server starts and answers initialize in')
      H.contains(lines, 'completion backend (fake')
      H.eq(0, child:lua('return #vim.lsp.get_clients()'), 'no client left behind')
    end,
  },
  {
    'says when the binary is missing and how to fix it',
    function()
      local child = H.child()
      child:lua('require("mimi").setup({ cmd = { "/nonexistent/mimi-lsp" } })')
      local lines = checkhealth(child)
      H.contains(lines, 'ERROR configured cmd "/nonexistent/mimi-lsp" is not executable')
    end,
  },
  {
    'says when setup() was not called',
    function()
      local child = H.child()
      local lines = checkhealth(child)
      H.contains(lines, 'WARNING setup() has not been called')
      H.contains(lines, 'require("mimi").setup({})')
    end,
  },
  {
    'reports an unreachable model server with the fix after a failed completion',
    function()
      -- An Ollama backend on a port nobody listens on.
      local port = vim.uv.new_tcp()
      port:bind('127.0.0.1', 0)
      local free = port:getsockname().port
      port:close()
      local dir = H.workspace({ ['main.py'] = 'def f():\n    return ' })
      local child = H.child()
      child:call('capture_notify')
      child:start({
        settings = {
          completion = { backend = { kind = 'ollama', host = 'http://127.0.0.1:' .. free, timeoutMs = 2000 }, debounceMs = 0 },
          index = { enabled = false },
        },
        path = dir .. '/main.py',
      })
      child:input('GA1')
      child:wait([[
        local c = require('mimi.status').state.features.completion
        return c and c.state ~= 'ok' and c
      ]], 'mimi/status unavailable', 30000)
      child:input('<Esc>')
      local lines = checkhealth(child)
      H.contains(lines, 'WARNING completion backend (ollama')
      H.contains(lines, 'unavailable')
      H.contains(lines, 'ADVICE')
      H.contains(child:lua('return require("mimi").statusline()'), 'mimi unavailable')
    end,
  },
}
