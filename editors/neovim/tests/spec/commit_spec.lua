-- :MimiCommitMessage and the automatic message in a gitcommit buffer, against the real
-- mimi-lsp and real git.
local H = require('helpers')

local MESSAGE = 'fix(cart): round totals down\n\nTotals were rounded up before.'

--- A real repository with one commit and a staged change; its directory.
local function repository()
  local dir = vim.fn.tempname() .. '-mimi-git'
  vim.fn.mkdir(dir, 'p')
  local function git(...)
    local out = vim.system({ 'git', ... }, { cwd = dir, text = true }):wait()
    assert(out.code == 0, out.stderr)
  end
  git('init', '-q', '-b', 'main')
  git('config', 'user.email', 'dev@example.com')
  git('config', 'user.name', 'Dev')
  vim.fn.writefile({ 'def total(xs):', '    return round(sum(xs))' }, dir .. '/cart.py')
  git('add', '.')
  git('commit', '-qm', 'feat(cart): add total')
  vim.fn.writefile({ 'def total(xs):', '    return int(sum(xs))' }, dir .. '/cart.py')
  git('add', 'cart.py')
  -- What `git commit` hands its editor: an empty message above git's comments.
  vim.fn.writefile({ '', '# Please enter the commit message for your changes.', '#', '# Changes to be committed:', '#\tmodified:   cart.py' }, dir .. '/.git/COMMIT_EDITMSG')
  return dir
end

local function session(setup)
  local dir = repository()
  local settings = H.settings({ '' }, { completion = { backend = { chatReplies = { MESSAGE }, chunkChars = 4 } } })
  local child = H.child()
  child:call('capture_notify')
  child:start({ settings = settings, path = dir .. '/cart.py', setup = setup })
  return child, dir
end

local function message_lines(child)
  return child:lua([[
    local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    return table.concat(lines, '\n')
  ]])
end

return {
  {
    ':MimiCommitMessage fills the gitcommit buffer above the comments',
    function()
      local child, dir = session()
      H.require_command(child, 'mimi.git.commitMessage')
      child:lua('vim.cmd.edit(...)', dir .. '/.git/COMMIT_EDITMSG')
      H.eq('gitcommit', child:lua('return vim.bo.filetype'), 'filetype')
      child:lua('vim.cmd("MimiCommitMessage")')
      child:wait([[return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] == 'fix(cart): round totals down']], 'the subject')
      child:wait([[return vim.api.nvim_buf_get_lines(0, 2, 3, false)[1] == 'Totals were rounded up before.']], 'the body')
      local text = message_lines(child)
      H.contains(text, MESSAGE .. '\n\n# Please enter the commit message', 'message above the comments')
    end,
  },
  {
    'with commit_message.auto an empty commit buffer gets a message as it opens',
    function()
      local child, dir = session({ commit_message = { auto = true } })
      H.require_command(child, 'mimi.git.commitMessage')
      child:lua('vim.cmd.edit(...)', dir .. '/.git/COMMIT_EDITMSG')
      child:wait([[return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] == 'fix(cart): round totals down']], 'the automatic message')
    end,
  },
  {
    'nothing staged and nothing changed: a notification, the buffer untouched',
    function()
      local child, dir = session()
      H.require_command(child, 'mimi.git.commitMessage')
      vim.system({ 'git', 'commit', '-qm', 'fix: done' }, { cwd = dir }):wait()
      child:lua('vim.cmd.edit(...)', dir .. '/.git/COMMIT_EDITMSG')
      child:lua('vim.api.nvim_buf_set_lines(0, 0, 1, false, { "draft" })')
      child:lua('vim.cmd("MimiCommitMessage")')
      child:wait([[
        for _, msg in ipairs(require('mimi_test').notes()) do
          if msg:find('Nothing to commit', 1, true) then return true end
        end
      ]], 'the notification')
      H.eq('draft', child:lua('return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]'), 'first line')
    end,
  },
}
