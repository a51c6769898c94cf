-- The plugin's pieces that need no server: help tags, options, word and line splitting.
local H = require('helpers')
vim.opt.rtp:prepend(H.plugin_dir)

return {
  {
    ':help has a tag for every command, option section and key action',
    function()
      local dir = vim.fn.tempname()
      vim.fn.mkdir(dir, 'p')
      vim.fn.writefile(vim.fn.readfile(H.plugin_dir .. '/doc/mimi.txt'), dir .. '/mimi.txt')
      vim.cmd.helptags(vim.fn.fnameescape(dir))
      local tags = table.concat(vim.fn.readfile(dir .. '/tags'), '\n')
      for _, tag in ipairs({
        ':MimiChat', ':MimiSearch', ':MimiEdit', ':MimiStatus', ':MimiReindex', ':MimiToggle',
        ':MimiCancel', ':MimiSetup',
        'mimi-options', 'mimi-settings', 'mimi-keys', 'mimi-health', 'mimi.setup()',
        'hl-MimiGhostText', 'mimi.statusline()',
      }) do
        H.contains(tags, tag .. '\t', 'help tags')
      end
    end,
  },
  {
    'every user command is defined by plugin/mimi.lua',
    function()
      local child = H.child()
      local names = child:lua('return vim.tbl_keys(vim.api.nvim_get_commands({}))')
      table.sort(names)
      H.eq({
        'MimiCancel', 'MimiChat', 'MimiCommitMessage', 'MimiEdit', 'MimiReindex', 'MimiSearch',
        'MimiSetup', 'MimiStatus', 'MimiToggle',
      },
        vim.tbl_filter(function(n) return n:find('^Mimi') end, names))
    end,
  },
  {
    'setup() rejects options of the wrong type with a readable error',
    function()
      local config = require('mimi.config')
      local ok, err = pcall(config.set, { keymaps = 'tab' })
      H.eq(false, ok)
      H.contains(err, 'keymaps')
      ok, err = pcall(config.set, { edit = { confirm = 'sometimes' } })
      H.eq(false, ok)
      H.contains(err, 'edit.confirm')
      config.set({})
    end,
  },
  {
    'options merge over defaults; lists replace; keymaps = false turns all keys off',
    function()
      local config = require('mimi.config')
      local cfg = config.set({ filetypes = { 'python' }, ghost = { debounce_ms = 10 }, keymaps = { next = false } })
      H.eq({ 'python' }, cfg.filetypes)
      H.eq(10, cfg.ghost.debounce_ms)
      H.eq(true, cfg.ghost.auto_trigger)
      H.eq(false, cfg.keymaps.next)
      H.eq('<Tab>', cfg.keymaps.accept)
      H.eq(false, config.set({ keymaps = false }).keymaps)
      config.set({ filetypes = '*' })
      H.eq(nil, config.filetypes(), 'all filetypes')
      config.set({})
    end,
  },
  {
    'settings sent to the server never turn empty tables into JSON arrays',
    function()
      local config = require('mimi.config')
      H.eq('{}', vim.json.encode(config.json_settings({})))
      local out = config.json_settings({ agent = { mcpServers = {} }, index = { exclude = { 'a/**' } } })
      H.eq('{}', vim.json.encode(out.agent), 'an object emptied by pruning')
      H.eq('{"exclude":["a/**"]}', vim.json.encode(out.index), 'lists kept')
    end,
  },
  {
    'a word is leading blanks plus a run of word or punctuation characters',
    function()
      local ghost = require('mimi.ghost')
      H.eq('total', ghost.next_word('total = sum(values)'))
      H.eq(' =', ghost.next_word(' = sum(values)'))
      H.eq(' sum', ghost.next_word(' sum(values)'))
      H.eq('(', ghost.next_word('(values)'))
      H.eq('\n    ', ghost.next_word('\n    return total'))
      H.eq('größe', ghost.next_word('größe + 1'))
    end,
  },
  {
    'a line is the text up to the break, or the break and the next line',
    function()
      local ghost = require('mimi.ghost')
      H.eq('total = sum(values)', ghost.next_line('total = sum(values)\n    return total'))
      H.eq('\n    return total', ghost.next_line('\n    return total\n'))
      H.eq('x', ghost.next_line('x'))
    end,
  },
}
