-- Headless test runner: `nvim --headless --clean -l tests/run.lua [name-filter]`.
--
-- Each spec in tests/spec/*_spec.lua returns a list of { name, fn }. Tests drive child Neovim
-- processes (`nvim --embed`, real insert-mode key handling) that run the plugin against the real
-- mimi-lsp server. Prints one line per test and closes with "N passed, N failed".
local tests_dir = vim.fs.dirname(vim.fs.normalize(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')))
package.path = tests_dir .. '/?.lua;' .. package.path

local H = require('helpers')

-- print() goes to stderr under `nvim -l`: results go to stdout.
local function print(line)
  io.stdout:write(line, '\n')
  io.stdout:flush()
end
local filter = arg and arg[1] or nil

local files = vim.fn.glob(tests_dir .. '/spec/*_spec.lua', false, true)
table.sort(files)

local passed, failed, pending, failures = 0, 0, 0, {}
local started = vim.uv.hrtime()
for _, file in ipairs(files) do
  local spec = vim.fn.fnamemodify(file, ':t:r'):gsub('_spec$', '')
  local tests = dofile(file)
  for _, test in ipairs(tests) do
    local name = spec .. ': ' .. test[1]
    if not filter or name:find(filter, 1, true) then
      local t0 = vim.uv.hrtime()
      local ok, err = xpcall(test[2], debug.traceback)
      H.cleanup()
      local ms = (vim.uv.hrtime() - t0) / 1e6
      if ok then
        passed = passed + 1
        print(('ok   %s (%d ms)'):format(name, ms))
      elseif type(err) == 'string' and err:find(H.PENDING, 1, true) then
        pending = pending + 1
        print(('PENDING %s: %s'):format(name, err:match(H.PENDING .. ' ([^\n]*)') or ''))
      else
        failed = failed + 1
        failures[#failures + 1] = name
        print(('FAIL %s (%d ms)\n%s'):format(name, ms, tostring(err):gsub('\n', '\n    ')))
      end
      io.stdout:flush()
    end
  end
end

if #failures > 0 then
  print('\nfailed:\n  ' .. table.concat(failures, '\n  '))
end
if pending > 0 then
  print(('%d pending (waiting for server features; shown above)'):format(pending))
end
print(('%d passed, %d failed (%.1f s)'):format(passed, failed, (vim.uv.hrtime() - started) / 1e9))
io.stdout:flush()
os.exit(failed == 0 and passed > 0 and 0 or 1)
