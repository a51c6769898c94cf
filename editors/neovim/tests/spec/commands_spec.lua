-- :MimiSearch, :MimiReindex, :MimiEdit, :MimiStatus, :MimiChat against the real mimi-lsp.
local H = require('helpers')

local UPLOAD_PY = [[
"""Uploading files to the bucket."""

import time


def retry_failed_uploads(queue, attempts=3):
    for item in queue.failed():
        for attempt in range(attempts):
            if item.upload():
                break
            time.sleep(2 ** attempt)


class UploadQueue:
    def failed(self):
        return [i for i in self.items if not i.ok]
]]

local PRICING_PY = 'TAX_RATE = 0.2\n\n\ndef with_tax(amount):\n    return amount * (1 + TAX_RATE)\n'

local function tool_call(name, arguments)
  return vim.json.encode({ tool_calls = { { name = name, arguments = arguments } } })
end

--- A child editing `file` in a fresh workspace with the index on (BM25 + fake vectors).
local function indexed_session(files, file, extra)
  local dir = H.workspace(files)
  local settings = H.settings({ '' }, vim.tbl_deep_extend('force', {
    index = { enabled = true, cacheDir = dir .. '/.cache' },
    embedding = { backend = { kind = 'fake' } },
  }, extra or {}))
  local child = H.child()
  child:call('capture_notify')
  child:start({ settings = settings, path = dir .. '/' .. file })
  return child, dir
end

local function agent_session(turns, file_text, opts)
  local dir = H.workspace({ ['pricing.py'] = file_text or PRICING_PY })
  local settings = H.settings({ '' }, {
    completion = { backend = { chatReplies = turns } },
  })
  local child = H.child()
  child:call('capture_notify')
  child:start({ settings = settings, path = dir .. '/pricing.py', setup = opts })
  return child, dir
end

return {
  {
    ':MimiSearch fills the quickfix list with ranked hits',
    function()
      local child, dir = indexed_session({ ['src/upload.py'] = UPLOAD_PY, ['README.md'] = '# Project\n' }, 'src/upload.py')
      H.require_command(child, 'mimi.search')
      child:wait([[
        local s = require('mimi.status').state.index
        return s and s.state == 'ready'
      ]], 'the index to be ready', 60000)
      child:lua('vim.cmd("MimiSearch retry failed uploads")')
      local qf = child:wait([[
        local qf = vim.fn.getqflist({ title = 1, items = 1 })
        return #qf.items > 0 and qf
      ]], 'quickfix items')
      H.eq('mimi search: retry failed uploads', qf.title, 'title')
      local first = qf.items[1]
      H.eq(dir .. '/src/upload.py', child:lua('return vim.api.nvim_buf_get_name(...)', first.bufnr), 'first hit file')
      H.truthy(first.lnum >= 1 and first.lnum <= 7, 'first hit line ' .. first.lnum)
      H.contains(first.text, 'retry_failed_uploads', 'first hit text')
      H.truthy(child:lua('return vim.fn.getqflist({ winid = 1 }).winid ~= 0'), 'quickfix window open')
    end,
  },
  {
    ':MimiSearch! offers the hits through vim.ui.select and jumps to the chosen one',
    function()
      local child, dir = indexed_session({ ['src/upload.py'] = UPLOAD_PY, ['notes.py'] = 'x = 1\n' }, 'notes.py')
      H.require_command(child, 'mimi.search')
      child:wait([[
        local s = require('mimi.status').state.index
        return s and s.state == 'ready'
      ]], 'the index to be ready', 60000)
      child:call('answer_select', true)
      child:lua('vim.cmd("MimiSearch! UploadQueue failed")')
      child:wait('return require("mimi_test").selects() and #require("mimi_test").selects() > 0', 'the picker')
      child:wait('return vim.api.nvim_buf_get_name(0):find("upload.py", 1, true) ~= nil', 'the jump to the hit')
      H.eq(dir .. '/src/upload.py', child:lua('return vim.api.nvim_buf_get_name(0)'))
    end,
  },
  {
    ':MimiReindex rebuilds the index and reports files and chunks',
    function()
      local child = indexed_session({ ['a.py'] = 'def alpha():\n    return 1\n', ['b.py'] = 'def beta():\n    return 2\n' }, 'a.py')
      H.require_command(child, 'mimi.reindex')
      child:wait([[
        local s = require('mimi.status').state.index
        return s and s.state == 'ready'
      ]], 'the first index build', 60000)
      child:lua('vim.cmd("MimiReindex")')
      local note = child:wait([[
        for _, n in ipairs(require('mimi_test').notes()) do
          if n:find('index ready', 1, true) then return n end
        end
      ]], 'the reindex report', 60000)
      H.contains(note, '2 files')
    end,
  },
  {
    ':MimiEdit shows the diff, applies the edit on Apply',
    function()
      local turns = {
        tool_call('edit', { path = 'pricing.py', edits = { { search = 'TAX_RATE = 0.2', replace = 'TAX_RATE = 0.25' } } }),
        'Raised the tax rate.',
      }
      local child = agent_session(turns)
      H.require_command(child, 'mimi.agent.edit')
      child:call('answer_select', 'Apply')
      child:lua('vim.cmd("MimiEdit raise the tax rate to 25%")')
      child:wait('return require("mimi_test").line():find("0.25", 1, true) ~= nil or vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] == "TAX_RATE = 0.25"', 'the edit applied')
      H.eq('TAX_RATE = 0.25', child:lua('return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]'))
      local select = child:call('selects')[1]
      H.eq('mimi_edit', select.kind, 'picker kind')
      H.contains(select.prompt, 'raise the tax rate', 'prompt (the edit label)')
      H.contains(select.screen, '-TAX_RATE = 0.2', 'diff shown while asking')
      H.contains(select.screen, '+TAX_RATE = 0.25', 'diff shown while asking')
      H.contains(select.screen, '+++ b/', 'diff header')
      local note = child:wait([[
        for _, n in ipairs(require('mimi_test').notes()) do
          if n:find('edited', 1, true) then return n end
        end
      ]], 'the summary')
      H.contains(note, 'pricing.py')
      H.contains(note, 'Raised the tax rate.')
      H.eq(0, child:lua('return #vim.tbl_filter(function(b) return vim.api.nvim_buf_get_name(b):find("edit%-preview") end, vim.api.nvim_list_bufs())'), 'preview closed')
    end,
  },
  {
    ':MimiEdit leaves the file alone on Reject and says so',
    function()
      local turns = {
        tool_call('edit', { path = 'pricing.py', edits = { { search = 'TAX_RATE = 0.2', replace = 'TAX_RATE = 0.3' } } }),
        'Raised the tax rate.',
      }
      local child = agent_session(turns)
      H.require_command(child, 'mimi.agent.edit')
      child:call('answer_select', 'Reject')
      child:lua('vim.cmd("MimiEdit raise the tax rate")')
      local note = child:wait([[
        for _, n in ipairs(require('mimi_test').notes()) do
          if n:find('no change applied', 1, true) then return n end
        end
      ]], 'the rejection')
      H.contains(note, 'rejected')
      H.eq('TAX_RATE = 0.2', child:lua('return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]'))
      H.eq(false, child:lua('return vim.bo.modified'), 'buffer unmodified')
    end,
  },
  {
    ':MimiEdit on a range with confirm = never applies at once, creating files',
    function()
      local content = 'from pricing import with_tax\n\n\ndef test_zero():\n    assert with_tax(0) == 0\n'
      local turns = { tool_call('create_file', { path = 'test_pricing.py', content = content }), 'Added a test.' }
      local child, dir = agent_session(turns, nil, { edit = { confirm = 'never' } })
      H.require_command(child, 'mimi.agent.edit')
      child:lua('vim.cmd("4,5MimiEdit add a test for with_tax(0)")')
      child:wait('return vim.fn.bufnr(...) ~= -1', 'the new file', nil, dir .. '/test_pricing.py')
      local lines = child:lua('return vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 0, -1, false)', dir .. '/test_pricing.py')
      H.eq('from pricing import with_tax', lines[1])
      H.eq('    assert with_tax(0) == 0', lines[5])
    end,
  },
  {
    'an agent code action previews its edit and applies it on Apply',
    function()
      local turns = {
        tool_call('edit', { path = 'pricing.py', edits = { {
          search = 'def with_tax(amount):\n',
          replace = 'def with_tax(amount):\n    """The amount with tax."""\n',
        } } }),
        'Added a docstring.',
      }
      local child = agent_session(turns)
      H.require_command(child, 'mimi.agent.edit')
      child:call('answer_select', 'Apply')
      child:lua([[
        vim.api.nvim_win_set_cursor(0, { 5, 4 })
        vim.lsp.buf.code_action({
          apply = true,
          filter = function(action) return action.title == 'Mimi: add docstrings' end,
        })
      ]])
      child:wait('return vim.api.nvim_buf_get_lines(0, 4, 5, false)[1] == [[    """The amount with tax."""]]', 'the docstring')
      H.contains(child:call('selects')[1].screen, '+    """The amount with tax."""', 'diff shown')
    end,
  },
  {
    'the explain code action answers in the chat split',
    function()
      local dir = H.workspace({ ['pricing.py'] = PRICING_PY })
      local settings = H.settings({ '' }, { completion = { backend = { chatReplies = { 'It multiplies by 1.2.' } } } })
      local child = H.child()
      child:start({ settings = settings, path = dir .. '/pricing.py' })
      H.require_command(child, 'mimi.explain')
      child:lua([[
        vim.api.nvim_win_set_cursor(0, { 5, 4 })
        vim.lsp.buf.code_action({
          apply = true,
          filter = function(action) return action.title == 'Mimi: explain' end,
        })
      ]])
      local lines = child:wait([[
        local lines = require('mimi_test').buffer_lines('mimi://chat')
        return lines and table.concat(lines, '\n'):find('It multiplies by 1.2.', 1, true) and lines
      ]], 'the explanation in the chat')
      H.contains(lines, 'Explain pricing.py:4-5')
    end,
  },
  {
    ':MimiCancel stops a chat answer at once and ignores the rest',
    function()
      local dir = H.workspace({ ['pricing.py'] = PRICING_PY })
      local settings = H.settings({ '' }, { completion = { backend = { chatReplies = { 'too late' }, delayMs = 5000 } } })
      local child = H.child()
      child:start({ settings = settings, path = dir .. '/pricing.py' })
      H.require_command(child, 'mimi.chat')
      child:lua('vim.cmd("MimiChat a slow question")')
      child:wait([[
        local lines = require('mimi_test').buffer_lines('mimi://chat')
        return lines and table.concat(lines, '\n'):find('## mimi', 1, true)
      ]], 'the question shown')
      child:wait('return require("mimi.chat").get().pending and require("mimi.chat").get().pending.id ~= nil', 'the request id')
      child:lua('vim.cmd("MimiCancel")')
      local lines = child:wait([[
        local lines = require('mimi_test').buffer_lines('mimi://chat')
        return table.concat(lines, '\n'):find('(stopped)', 1, true) and lines
      ]], 'the stop', 4000)
      H.eq(false, table.concat(lines, '\n'):find('too late', 1, true) ~= nil, 'no answer after the stop')
    end,
  },
  {
    ':MimiStatus shows version, backend health and metrics in a float',
    function()
      local child = H.child()
      local dir = H.workspace({ ['main.py'] = 'x = 1\n' })
      child:start({ settings = H.settings({ '' }), path = dir .. '/main.py' })
      child:lua('vim.cmd("MimiStatus")')
      local lines = child:wait([[
        local win = vim.api.nvim_get_current_win()
        if vim.api.nvim_win_get_config(win).relative == '' then return nil end
        return vim.api.nvim_buf_get_lines(0, 0, -1, false)
      ]], 'the status float')
      H.contains(lines[1], 'mimi-lsp ')
      H.contains(lines, 'completion:')
      H.contains(lines, 'ok')
      H.contains(lines, 'fake')
      H.contains(lines, 'Metrics')
      -- Readable text: no Lua tables, nothing cut ("@@@"), every line fits the window.
      local text = table.concat(lines, '\n')
      for _, raw in ipairs({ 'vim.empty_dict', '{', '}', ' = ' }) do
        H.truthy(not text:find(raw, 1, true), 'raw Lua in :MimiStatus: ' .. raw .. '\n' .. text)
      end
      local width = child:lua('return vim.api.nvim_win_get_width(0)')
      H.truthy(child:lua('return vim.wo.wrap'), 'long lines wrap instead of being cut')
      for _, line in ipairs(lines) do
        H.truthy(vim.fn.strdisplaywidth(line) <= width, ('line wider than the float (%d): %s'):format(width, line))
      end
      child:input('q')
      child:wait('return vim.api.nvim_win_get_config(0).relative == ""', 'the float closed')
    end,
  },
  {
    'settings reach the server at start and again when setup() changes them',
    function()
      local dir = H.workspace({ ['main.py'] = 'x = 1\n' })
      local child = H.child()
      child:start({ settings = H.settings({ '' }, { completion = { model = 'first-model' } }), path = dir .. '/main.py' })
      local function model()
        return child:lua([[
          local c = require('mimi.server').get_client()
          local r = c:request_sync('workspace/executeCommand', { command = 'mimi.status', arguments = {} }, 5000)
          return r and r.result and r.result.backends.completion.model
        ]])
      end
      H.eq('first-model', model(), 'from initializationOptions')
      -- setup() again: didChangeConfiguration, the server pulls workspace/configuration "mimi".
      child:lua('require("mimi").setup(...)', {
        cmd = { H.server, '--stdio' },
        settings = H.settings({ '' }, { completion = { model = 'second-model' } }),
      })
      local ok = vim.wait(H.timeout, function()
        return model() == 'second-model'
      end, 50)
      H.truthy(ok, 'the new model after setup(): ' .. tostring(model()))
    end,
  },
  {
    ':MimiChat streams the answer into a scratch split',
    function()
      local reply = 'Use `with_tax(amount)` [1]:\nit adds TAX_RATE.'
      local dir = H.workspace({ ['pricing.py'] = PRICING_PY })
      local settings = H.settings({ '' }, { completion = { backend = { chatReplies = { reply }, chunkChars = 4 } } })
      local child = H.child()
      child:start({ settings = settings, path = dir .. '/pricing.py' })
      H.require_command(child, 'mimi.chat')
      child:lua([[
        _G.deltas = 0
        local on_delta = require('mimi.chat').on_delta
        require('mimi.chat').on_delta = function(p) _G.deltas = _G.deltas + 1; return on_delta(p) end
      ]])
      child:lua('vim.cmd("MimiChat how do I add tax?")')
      child:wait('return #vim.fn.win_findbuf(vim.fn.bufnr("mimi://chat")) > 0', 'the chat split')
      local lines = child:wait([[
        local lines = require('mimi_test').buffer_lines('mimi://chat')
        return table.concat(lines, '\n'):find('it adds TAX_RATE.', 1, true) and lines
      ]], 'the whole answer')
      H.contains(lines, '## You')
      H.contains(lines, 'how do I add tax?')
      H.contains(lines, '## mimi')
      H.contains(lines, 'Use `with_tax(amount)` [1]:')
      H.truthy(child:lua('return _G.deltas') > 1, 'streamed in several deltas')
      H.eq(dir .. '/pricing.py', child:lua('return vim.api.nvim_buf_get_name(0)'), 'focus stays in the code')
      -- Sources are listed, underlined, and <CR> on one opens it in the code window.
      local source = child:wait([[
        local lines = require('mimi_test').buffer_lines('mimi://chat')
        for i, l in ipairs(lines) do
          if l:match('^%- pricing%.py:%d+$') then return i end
        end
      ]], 'a source line')
      child:lua([[
        vim.api.nvim_set_current_win(vim.fn.win_findbuf(vim.fn.bufnr('mimi://chat'))[1])
        vim.api.nvim_win_set_cursor(0, { ..., 0 })
      ]], source)
      child:input('<CR>')
      child:wait('return vim.api.nvim_buf_get_name(0):match("pricing%.py$") and true', 'the source opened')
      H.eq(1, #child:lua('return vim.fn.win_findbuf(vim.fn.bufnr("mimi://chat"))'), 'the chat stays open')
      -- A follow-up question goes into the same conversation with the history.
      child:lua('vim.cmd("MimiChat and without tax?")')
      child:wait([[
        local text = table.concat(require('mimi_test').buffer_lines('mimi://chat'), '\n')
        local _, n = text:gsub('it adds TAX_RATE%.', '')
        return n == 2
      ]], 'the second answer')
    end,
  },
}
