--- `:MimiSetup`: point mimi at a model server in three picks.
---
--- Asks the server (`mimi.setup.detect`) which model servers answer (the configured address,
--- $OLLAMA_HOST, Ollama's port, the usual OpenAI-compatible ports) or what answers at an address
--- the user types, then for a completion model and a chat model (`vim.ui.select`, so a picker
--- plugin shows them if one is installed). The choice applies at once to the running server
--- (`settings.completion.provider/url/model`, `settings.chat.model`) and is printed as the
--- `setup()` lines that keep it, copied to the unnamed register: nothing is written behind the
--- user's back.
local M = {}

local PROVIDERS = { ollama = 'Ollama', openai = 'OpenAI-compatible', triton = 'Triton' }

local function describe(server)
  return ('%s at %s'):format(PROVIDERS[server.provider] or server.provider, server.url)
end

local function rank(models, score)
  local list = vim.deepcopy(models)
  table.sort(list, function(a, b)
    local sa, sb = score(a:lower()), score(b:lower())
    if sa ~= sb then
      return sa > sb
    end
    return a < b
  end)
  return list
end

--- Code models that fill in the middle first (base before instruct).
function M.rank_for_completion(models)
  return rank(models, function(name)
    local s = 0
    if name:find('cod') or name:find('starcoder') then
      s = s + 2
    end
    if name:find('base') then
      s = s + 1
    end
    if name:find('instruct') or name:find('chat') or name:find('embed') then
      s = s - 2
    end
    return s
  end)
end

--- Instruct / chat models first.
function M.rank_for_chat(models)
  return rank(models, function(name)
    local s = 0
    if name:find('instruct') or name:find('chat') then
      s = s + 2
    end
    if name:find('cod') then
      s = s + 1
    end
    if name:find('base') or name:find('embed') then
      s = s - 2
    end
    return s
  end)
end

local function notify(msg, level)
  require('mimi.notify').notify(msg, level)
end

local function detect(args, on_found)
  require('mimi.server').command('mimi.setup.detect', args, function(err, result)
    if err then
      notify(require('mimi.server').describe_error('mimi.setup.detect', err), vim.log.levels.ERROR)
      return
    end
    on_found(type(result) == 'table' and result.servers or {})
  end)
end

--- The `setup()` lines that keep `settings`.
--- @param settings table {completion = {...}, chat = {...}}
--- @return string
function M.snippet(settings)
  local function fields(t)
    local keys = vim.tbl_keys(t)
    table.sort(keys)
    local out = {}
    for _, k in ipairs(keys) do
      out[#out + 1] = ('%s = %q'):format(k, t[k])
    end
    return table.concat(out, ', ')
  end
  local parts = { ('completion = { %s }'):format(fields(settings.completion)) }
  if settings.chat then
    parts[#parts + 1] = ('chat = { %s }'):format(fields(settings.chat))
  end
  return ('require("mimi").setup({ settings = { %s } })'):format(table.concat(parts, ', '))
end

--- Apply the choice to the running server and say how to keep it.
local function apply(server, completion_model, chat_model, key_env, on_done)
  local chosen = {
    completion = { provider = server.provider, url = server.url, model = completion_model },
  }
  if key_env then
    chosen.completion.apiKeyEnv = key_env
  end
  if chat_model then
    chosen.chat = { model = chat_model }
  end
  local cfg = require('mimi.config').get()
  cfg.settings = vim.tbl_deep_extend('force', cfg.settings or {}, chosen)
  require('mimi.server').enable(cfg)
  local snippet = M.snippet(chosen)
  vim.fn.setreg('"', snippet)
  notify(
    ('mimi: ghost text from %s%s, on %s. To keep it, add to your config (copied to the " register): %s'):format(
      completion_model,
      chat_model and (', chat with ' .. chat_model) or '',
      describe(server),
      snippet
    )
  )
  if on_done then
    on_done(chosen)
  end
end

local function pick_models(server, key_env, on_done)
  local function ask_model(title, models, on_model)
    if #models == 0 then
      vim.ui.input({ prompt = title .. ' (the server lists none; type a name): ' }, function(name)
        on_model(name and vim.trim(name) ~= '' and vim.trim(name) or nil)
      end)
      return
    end
    vim.ui.select(models, { prompt = title, kind = 'mimi_model' }, on_model)
  end
  ask_model('mimi: completion model (a base code model fills in the middle best)', M.rank_for_completion(server.models), function(completion_model)
    if not completion_model then
      return
    end
    ask_model('mimi: chat model (an instruct model)', M.rank_for_chat(server.models), function(chat_model)
      apply(server, completion_model, chat_model, key_env, on_done)
    end)
  end)
end

local function with_key(server, on_done)
  if not server.needsKey then
    pick_models(server, nil, on_done)
    return
  end
  vim.ui.input({ prompt = describe(server) .. ' wants an API key. Name of the environment variable that holds it: ' }, function(name)
    name = name and vim.trim(name) or ''
    if name == '' then
      return
    end
    detect({ url = server.url, apiKeyEnv = name }, function(found)
      local again = vim.tbl_filter(function(s)
        return s.reachable and not s.needsKey
      end, found)[1]
      pick_models(again or server, name, on_done)
    end)
  end)
end

local function at_address(address, on_done)
  detect({ url = address }, function(found)
    local answered = vim.tbl_filter(function(s)
      return s.reachable
    end, found)[1]
    if answered then
      with_key(answered, on_done)
      return
    end
    local why = found[1] and found[1].message or 'no model server'
    notify(('mimi: nothing answers at %s: %s'):format(address, why), vim.log.levels.WARN)
  end)
end

--- `:MimiSetup [address]`.
--- @param address string? skip the search and use the server at this address
--- @param on_done fun(settings: table)? (tests)
function M.run(address, on_done)
  if address and vim.trim(address) ~= '' then
    at_address(vim.trim(address), on_done)
    return
  end
  notify('mimi: looking for model servers…')
  detect(vim.empty_dict(), function(found)
    local other = { other = true }
    local items = vim.list_extend(vim.deepcopy(found), { other })
    vim.ui.select(items, {
      prompt = #found > 0 and 'mimi: model server' or 'mimi: no model server on the usual ports',
      kind = 'mimi_server',
      format_item = function(item)
        if item.other then
          return 'Another address…'
        end
        local n = #(item.models or {})
        return ('%s (%s)'):format(describe(item), item.needsKey and 'needs an API key' or (n .. ' model' .. (n == 1 and '' or 's')))
      end,
    }, function(choice)
      if not choice then
        return
      end
      if not choice.other then
        with_key(choice, on_done)
        return
      end
      vim.ui.input({ prompt = 'Model server address (e.g. 127.0.0.1:11434): ' }, function(input)
        if input and vim.trim(input) ~= '' then
          at_address(vim.trim(input), on_done)
        end
      end)
    end)
  end)
end

return M
