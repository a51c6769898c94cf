-- Through the Ollama wire protocol: the real server with its real Ollama client, talking to the
-- repository's stand-in (tests/standins) on 127.0.0.1 instead of a model.
local H = require('helpers')

local function session(standin, text)
  local dir = H.workspace({ ['main.py'] = text })
  local child = H.child()
  child:start({
    settings = {
      completion = { backend = { kind = 'ollama', host = standin.url }, debounceMs = 0 },
      index = { enabled = false },
    },
    path = dir .. '/main.py',
  })
  return child
end

return {
  {
    'ghost text comes from the model server with the text after the cursor as suffix',
    function()
      local ollama = H.ollama({ '--reply', ' + b' })
      local child = session(ollama, 'def add(a, b):\n    return a\n\nprint(add(1, 2))')
      child:input('2GA')
      H.eq(' + b', child:wait('return require("mimi_test").ghost_text()', 'ghost text'))
      child:input('<Tab>')
      child:wait('return require("mimi_test").line() == "    return a + b"', 'accepted')
      local generate = ollama.requests('/api/generate')[1]
      H.truthy(generate, 'a /api/generate call')
      H.contains(generate.body.prompt, 'return a', 'prompt')
      H.contains(generate.body.suffix, 'print(add(1, 2))', 'suffix')
    end,
  },
  {
    'typing on hangs up the model stream of the stale request',
    function()
      local ollama = H.ollama({ '--reply', ' + b', '--first-token-ms', '3000' })
      local child = session(ollama, 'def add(a, b):\n    return a')
      child:input('GA')
      child:wait('return require("mimi.ghost").pending()', 'a request in flight')
      vim.wait(H.timeout, function()
        return #ollama.requests('/api/generate') >= 1
      end, 20)
      child:input('x')
      child:wait('return require("mimi_test").line() == "    return ax"', 'typed')
      local ok = vim.wait(H.timeout, function()
        local first = ollama.requests('/api/generate')[1]
        return first and first.disconnected
      end, 50)
      H.truthy(ok, 'the first /api/generate stream was closed by the client')
      H.eq(nil, child:call('ghost_text'), 'no stale ghost text')
    end,
  },
  {
    ':MimiCancel hangs up the chat stream on the model server',
    function()
      local ollama = H.ollama({ '--reply', '', '--chat-reply', 'never shown', '--first-token-ms', '5000' })
      local child = session(ollama, 'x = 1\n')
      H.require_command(child, 'mimi.chat')
      child:lua('vim.cmd("MimiChat a slow question")')
      vim.wait(H.timeout, function()
        return #ollama.requests('/api/chat') >= 1
      end, 20)
      child:wait('return require("mimi.chat").get().pending and require("mimi.chat").get().pending.id ~= nil', 'the request id')
      child:lua('vim.cmd("MimiCancel")')
      local ok = vim.wait(H.timeout, function()
        local first = ollama.requests('/api/chat')[1]
        return first and first.disconnected
      end, 50)
      H.truthy(ok, 'the /api/chat stream was closed')
    end,
  },
  {
    'a chat answer streams into the split token by token',
    function()
      local ollama = H.ollama({ '--reply', '', '--chat-reply', 'Hello from the stand-in model.' })
      local child = session(ollama, 'x = 1\n')
      H.require_command(child, 'mimi.chat')
      child:lua([[
        _G.deltas = 0
        local on_delta = require('mimi.chat').on_delta
        require('mimi.chat').on_delta = function(p) _G.deltas = _G.deltas + 1; return on_delta(p) end
      ]])
      child:lua('vim.cmd("MimiChat say hello")')
      child:wait([[
        local lines = require('mimi_test').buffer_lines('mimi://chat')
        return lines and table.concat(lines, '\n'):find('Hello from the stand-in model.', 1, true)
      ]], 'the answer')
      H.truthy(child:lua('return _G.deltas') >= 3, 'several deltas')
      H.truthy(#ollama.requests('/api/chat') >= 1, 'an /api/chat call')
    end,
  },
}
