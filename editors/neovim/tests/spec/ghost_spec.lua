-- Ghost text in insert mode against the real mimi-lsp (scripted fake backend).
local H = require('helpers')

local function session(text, replies, extra)
  local dir = H.workspace({ ['main.py'] = text })
  local child = H.child()
  child:start({
    settings = H.settings(replies, extra and extra.settings),
    setup = extra and extra.setup,
    path = dir .. '/main.py',
  })
  return child, dir
end

local function ghost(child, what)
  return child:wait('return require("mimi_test").ghost_text()', what or 'ghost text')
end

return {
  {
    'keys typed before the server is ready get ghost text once it is, without another key',
    function()
      local dir = H.workspace({ ['main.py'] = 'def add(a, b):\n    return ' })
      local child = H.child()
      child:start({ settings = H.settings({ ' + b' }) })
      -- Open the file and type at once: the server is still starting (no client attached).
      child:lua('vim.fn.chdir(...); vim.cmd.edit("main.py")', dir)
      child:input('GAa')
      child:wait('return require("mimi_test").line() == "    return a"', 'the typed text')
      H.truthy(not child:call('attached'), 'typed before the server attached')
      H.eq(' + b', ghost(child, 'ghost text once the server is ready'))
      H.eq('i', child:call('mode'), 'mode')
    end,
  },
  {
    'ghost text appears after the cursor while typing',
    function()
      local child = session('def add(a, b):\n    return ', { ' + b' })
      child:input('GA')
      child:input('a')
      child:wait('return require("mimi_test").line() == "    return a"', 'the typed text')
      local g = child:wait([[
        local g = require("mimi_test").ghost()
        return g and g.col == 12 and g
      ]], 'ghost text at the cursor')
      H.eq(' + b', g.inline, 'inline ghost text')
      H.eq('inline', g.pos, 'virt_text_pos')
      H.eq(1, g.row, 'row')
      H.eq('i', child:call('mode'), 'mode')
    end,
  },
  {
    'Tab accepts the whole suggestion and leaves the cursor after it',
    function()
      local child = session('def add(a, b):\n    return a', { ' + b', '' })
      child:input('GA')
      H.eq(' + b', ghost(child))
      child:input('<Tab>')
      child:wait('return require("mimi_test").line() == "    return a + b"', 'the accepted text')
      H.eq({ 2, 16 }, child:call('cursor'), 'cursor')
      H.eq('i', child:call('mode'), 'still in insert mode')
      -- The next answer is empty: nothing stays on screen.
      child:wait('return require("mimi_test").stats().requests >= 2 and not require("mimi.ghost").pending()', 'the next request')
      H.eq(nil, child:call('ghost_text'), 'ghost after accept')
    end,
  },
  {
    'Tab inserts a tab when no suggestion is shown',
    function()
      local child = session('x = 1\n', { '' })
      child:lua('vim.bo.expandtab = false')
      child:input('Go')
      child:wait('return require("mimi_test").stats().requests >= 1 and not require("mimi.ghost").pending()', 'an empty answer')
      child:input('<Tab>y')
      child:wait('return require("mimi_test").line() == "\\ty"', 'a literal tab')
    end,
  },
  {
    'a multi-line suggestion is drawn inline plus virtual lines and accepted word, line, all',
    function()
      local reply = 'total = sum(values)\n    print(total)\n    return total'
      local child = session('def main(values):\n    ', { reply })
      child:input('GA')
      local g = child:wait('return require("mimi_test").ghost()', 'ghost text')
      H.eq('total = sum(values)', g.inline, 'first line inline')
      H.eq({ '    print(total)', '    return total' }, g.lines, 'virtual lines')
      local requests = child:call('stats').requests

      child:input('<M-Right>') -- a word
      child:wait('return require("mimi_test").line() == "    total"', 'the first word')
      H.eq(' = sum(values)', child:call('ghost').inline, 'rest after a word')

      child:input('<M-Right>') -- blanks and punctuation
      child:wait('return require("mimi_test").line() == "    total ="', 'the second word')

      child:input('<M-Down>') -- the rest of the line
      child:wait('return require("mimi_test").line() == "    total = sum(values)"', 'the rest of the line')
      H.eq({ '    print(total)', '    return total' }, child:call('ghost').lines, 'lines left')
      H.eq('', child:call('ghost').inline, 'nothing left on the first line')

      child:input('<M-Down>') -- the next line
      child:wait('return #require("mimi_test").lines() == 3', 'the next line')
      H.eq({ 'def main(values):', '    total = sum(values)', '    print(total)' }, child:call('lines'))
      H.eq({ 3, 16 }, child:call('cursor'), 'cursor after a line')

      child:input('<Tab>') -- all the rest
      child:wait('return #require("mimi_test").lines() == 4', 'the rest')
      H.eq({ 'def main(values):', '    total = sum(values)', '    print(total)', '    return total' }, child:call('lines'))
      H.eq({ 4, 16 }, child:call('cursor'), 'cursor at the end')
      -- Partial accepts never asked the server again.
      local stats = child:call('stats')
      H.eq(requests, stats.requests - (stats.requests > requests and 1 or 0), 'requests during partial accepts')
      H.eq(1, stats.accepted, 'accepted')
      H.eq(4, stats.partial, 'partially accepted')
    end,
  },
  {
    'typing what the suggestion shows keeps it without asking again',
    function()
      local child = session('def add(a, b):\n    return a', { ' + b' })
      child:input('GA')
      H.eq(' + b', ghost(child))
      local requests = child:call('stats').requests
      child:input(' +')
      child:wait('return require("mimi_test").line() == "    return a +"', 'typed through')
      H.eq(' b', child:call('ghost_text'), 'the rest stays')
      H.eq(requests, child:call('stats').requests, 'requests')
      child:input('<BS>')
      child:wait('return require("mimi_test").line() == "    return a "', 'backspace')
      H.eq('+ b', child:call('ghost_text'), 'backspace grows it back')
    end,
  },
  {
    'stale ghost text is cleared at once when typing something else',
    function()
      -- Every answer takes 400 ms: the old suggestion must go before the next answer comes.
      local child = session('def add(a, b):\n    return a', { ' + b', '' }, { settings = {
        completion = { backend = { delayMs = 400 } },
      } })
      child:input('GA')
      H.eq(' + b', ghost(child))
      local requests = child:call('stats').requests
      child:input('x')
      child:wait('return require("mimi_test").line() == "    return ax"', 'the typed x')
      H.eq(nil, child:call('ghost_text'), 'ghost right after typing')
      child:wait('return require("mimi_test").stats().requests > ... and not require("mimi.ghost").pending()', 'the new answer', nil, requests)
      H.eq(nil, child:call('ghost_text'), 'ghost after the (empty) new answer')
    end,
  },
  {
    'typing cancels the request in flight and shows only the answer for the latest text',
    function()
      local child = session('def add(a, b):\n    return ', { ' + b' }, { settings = {
        completion = { backend = { delayMs = 300 } },
      } })
      child:input('GA')
      child:wait('return require("mimi.ghost").pending()', 'a request in flight')
      child:input('a')
      child:wait('return require("mimi_test").line() == "    return a"', 'the typed a')
      local g = child:wait([[
        local g = require("mimi_test").ghost()
        return g and g
      ]], 'ghost text')
      H.eq(12, g.col, 'the ghost belongs to the latest cursor')
      local stats = child:call('stats')
      H.truthy(stats.cancelled >= 1, 'cancelled requests: ' .. stats.cancelled)
    end,
  },
  {
    'quick typing is debounced into one request',
    function()
      local child = session('def add(a, b):\n    return ', { 'c + d' }, { setup = { ghost = { debounce_ms = 200 } } })
      child:input('GAa + b + ')
      child:wait('return require("mimi_test").line() == "    return a + b + "', 'the typed text')
      H.eq('c + d', ghost(child))
      H.eq(1, child:call('stats').requests, 'requests')
    end,
  },
  {
    'dismiss hides the suggestion and leaving insert mode clears it',
    function()
      local child = session('def add(a, b):\n    return a', { ' + b' })
      child:input('GA')
      H.eq(' + b', ghost(child))
      child:input('<C-]>')
      child:wait('return require("mimi_test").ghost() == nil', 'dismissed')
      H.eq('    return a', child:call('line'), 'text unchanged')
      H.eq('i', child:call('mode'), 'still inserting')
      child:input(' ')
      H.eq('+ b', ghost(child, 'a new suggestion after typing'))
      child:input('<Esc>')
      child:wait('return require("mimi_test").mode() == "n" and require("mimi_test").ghost() == nil', 'cleared on leaving insert')
    end,
  },
  {
    'manual trigger works with auto-trigger off',
    function()
      -- After the typed space the suggestion has none of its own (the server drops a double one).
      local child = session('def add(a, b):\n    return a', { '+ b' }, { setup = { ghost = { auto_trigger = false } } })
      child:input('GA')
      child:input(' ')
      child:wait('return require("mimi_test").line() == "    return a "', 'typed')
      H.eq(0, child:call('stats').requests, 'no automatic request')
      child:input('<M-\\>')
      H.eq('+ b', ghost(child))
    end,
  },
  {
    'next and prev cycle between suggestions',
    function()
      local child = session('def add(a, b):\n    return a', { ' + b' })
      -- Today the server answers one item per request; make it answer a second alternative
      -- on explicit requests so cycling has something to cycle through.
      child:lua([[
        local client = vim.lsp.get_clients({ name = 'mimi' })[1]
        local request = client.request
        client.request = function(self, method, params, handler, buf)
          if method == 'textDocument/inlineCompletion' and params.context.triggerKind == 1 then
            local inner = handler
            handler = function(err, result, ...)
              if result and result.items then
                table.insert(result.items, { insertText = ' - b' })
              end
              return inner(err, result, ...)
            end
          end
          return request(self, method, params, handler, buf)
        end
      ]])
      child:input('GA')
      H.eq(' + b', ghost(child))
      child:input('<M-]>')
      child:wait('return require("mimi_test").ghost_text() == " - b"', 'the second suggestion')
      H.eq('2/2', child:lua('return require("mimi.ghost").position()'))
      child:input('<M-[>')
      child:wait('return require("mimi_test").ghost_text() == " + b"', 'back to the first')
      child:input('<M-[>')
      child:wait('return require("mimi_test").ghost_text() == " - b"', 'wrapping around')
      child:input('<Tab>')
      child:wait('return require("mimi_test").line() == "    return a - b"', 'the chosen one accepted')
    end,
  },
  {
    'an item with a range replaces the text after the cursor and shows no copy of it',
    function()
      local child = session('x = foo(a)', { ', b' })
      -- The server trims such tails itself today; answer in the LSP range form other servers
      -- use: start before the cursor (the typed "foo(a"), end after ")".
      child:lua([[
        local client = vim.lsp.get_clients({ name = 'mimi' })[1]
        local request = client.request
        client.request = function(self, method, params, handler, buf)
          if method == 'textDocument/inlineCompletion' then
            local inner = handler
            handler = function(err, result, ...)
              if result and result.items and result.items[1] then
                result.items[1] = {
                  insertText = 'foo(a, b)',
                  range = { start = { line = 0, character = 4 }, ['end'] = { line = 0, character = 10 } },
                }
              end
              return inner(err, result, ...)
            end
          end
          return request(self, method, params, handler, buf)
        end
      ]])
      child:input('$i') -- the cursor before ")"
      local g = child:wait('return require("mimi_test").ghost()', 'ghost text')
      H.eq(', b', g.inline, 'the replaced ")" is not drawn twice')
      H.eq(9, g.col, 'at the cursor')
      child:input('<Tab>')
      child:wait('return require("mimi_test").line() == "x = foo(a, b)"', 'the replacement')
      H.eq({ 1, 13 }, child:call('cursor'), 'cursor after the replaced text')
    end,
  },
  {
    'keymaps = false leaves the keys alone',
    function()
      local child = session('x = 1\n', { ' + b' }, { setup = { keymaps = false } })
      H.eq(0, child:lua('return #vim.api.nvim_buf_get_keymap(0, "i")'), 'buffer-local insert mappings')
      local defaults = session('x = 1\n', { ' + b' })
      H.eq(7, defaults:lua('return #vim.api.nvim_buf_get_keymap(0, "i")'), 'default mappings')
    end,
  },
  {
    'the capabilities declare inline completion so the server offers no menu copy',
    function()
      local child = session('x = 1\n', { '' })
      local caps = child:lua([[
        local c = vim.lsp.get_clients({ name = 'mimi' })[1]
        return { inline = c.server_capabilities.inlineCompletionProvider ~= nil,
                 menu = c.server_capabilities.completionProvider ~= nil }
      ]])
      H.eq({ inline = true, menu = false }, caps)
    end,
  },
}
