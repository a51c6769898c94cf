-- :MimiSetup and a new user's first minutes, against the real server and an Ollama stand-in.
local H = require('helpers')

return {
  {
    ':MimiSetup finds the model server at a typed address, picks models and applies them',
    function()
      local ollama = H.ollama({
        '--models', 'llama3:8b,qwen2.5-coder:7b-instruct,qwen2.5-coder:1.5b-base',
        '--reply', ' + b',
      })
      local dir = H.workspace({ ['main.py'] = 'def add(a, b):\n    return a\n' })
      local child = H.child()
      child:call('capture_notify')
      -- No settings: Ollama's default port, where nothing runs.
      child:start({ settings = { completion = { debounceMs = 0 }, index = { enabled = false } }, path = dir .. '/main.py' })
      child:lua([[
        local address = ...
        _G.picked = {}
        vim.ui.select = function(items, opts, on_choice)
          local labels = vim.tbl_map(function(i) return opts.format_item and opts.format_item(i) or i end, items)
          table.insert(_G.picked, { prompt = opts.prompt, labels = labels })
          -- "Another address…" for the server, the first (suggested) model otherwise.
          local choice = items[1]
          for i, label in ipairs(labels) do
            if label == 'Another address…' then choice = items[i] end
          end
          on_choice(choice)
        end
        vim.ui.input = function(opts, on_confirm) on_confirm(address) end
      ]], (ollama.url:gsub('^http://', '')))
      child:lua('vim.cmd("MimiSetup")')
      local picked = child:wait([[return #(_G.picked or {}) == 3 and _G.picked]], 'three picks', 30000)
      H.eq('qwen2.5-coder:1.5b-base', picked[2].labels[1], 'a base code model first for completion')
      H.eq('qwen2.5-coder:7b-instruct', picked[3].labels[1], 'an instruct model first for chat')
      local note = child:wait([[
        for _, n in ipairs(_G.notes) do if n.msg:find('To keep it', 1, true) then return n.msg end end
      ]], 'the summary')
      H.contains(note, 'settings = { completion = { model = "qwen2.5-coder:1.5b-base", provider = "ollama", url = "' .. ollama.url .. '" }')
      H.contains(child:lua('return vim.fn.getreg(\'"\')'), 'require("mimi").setup(')
      -- Ghost text now comes from the stand-in.
      child:input('GA')
      H.eq(' + b', child:wait('return require("mimi_test").ghost_text()', 'ghost text from the stand-in', 30000))
    end,
  },
}
