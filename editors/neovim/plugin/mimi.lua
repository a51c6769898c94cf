-- mimi user commands. Loaded at startup; the work happens in lua/mimi/ on first use.
if vim.g.loaded_mimi == 1 then
  return
end
vim.g.loaded_mimi = 1

if vim.fn.has('nvim-0.11') == 0 then
  return -- :checkhealth mimi explains; setup() says so too
end

local function command(name, fn, opts)
  vim.api.nvim_create_user_command(name, function(args)
    require('mimi').ensure()
    fn(args)
  end, opts)
end

command('MimiChat', function(args)
  require('mimi.chat').command(args)
end, { nargs = '*', range = true, bang = true, desc = 'mimi: chat about the code (! new conversation)' })

command('MimiSearch', function(args)
  require('mimi.search').command(args)
end, { nargs = '+', bang = true, desc = 'mimi: search the codebase into the quickfix list' })

command('MimiEdit', function(args)
  require('mimi.edit').command(args)
end, { nargs = '*', range = true, desc = 'mimi: let the agent edit this file (or the range)' })

command('MimiCommitMessage', function()
  require('mimi.commit').write(0)
end, { nargs = 0, desc = 'mimi: write the commit message from the staged diff' })

vim.api.nvim_create_autocmd('FileType', {
  pattern = 'gitcommit',
  group = vim.api.nvim_create_augroup('mimi_commit_message', { clear = true }),
  callback = function(args)
    require('mimi.commit').auto(args.buf) -- nothing unless setup() enabled it
  end,
  desc = 'mimi: write the commit message when enabled (commit_message.auto)',
})

command('MimiStatus', function()
  require('mimi.status').show()
end, { nargs = 0, desc = 'mimi: server, backends and index health' })

command('MimiSetup', function(args)
  require('mimi.setup').run(args.args)
end, { nargs = '?', desc = 'mimi: find a model server, pick models, use them' })

command('MimiReindex', function()
  require('mimi.status').reindex()
end, { nargs = 0, desc = 'mimi: rebuild the workspace index' })

command('MimiCancel', function()
  local chat = require('mimi.chat').cancel()
  local edit = require('mimi.edit').cancel()
  local commit = require('mimi.commit').cancel()
  if not chat and not edit and not commit then
    require('mimi.notify').notify('mimi: nothing to stop', vim.log.levels.INFO)
  end
end, { nargs = 0, desc = 'mimi: stop the chat answer or agent edit in flight' })

command('MimiToggle', function(args)
  local on = require('mimi.ghost').toggle(args.args == '' and nil or args.args == 'on')
  require('mimi.notify').notify('mimi: suggestions ' .. (on and 'on' or 'off'), vim.log.levels.INFO)
end, {
  nargs = '?',
  complete = function()
    return { 'on', 'off' }
  end,
  desc = 'mimi: turn automatic suggestions on or off',
})
