--- `:MimiEdit {instruction}` and the confirmation of edits the server applies.
---
--- Sits between the agent and the buffers: `mimi.agent.edit [{uri, range?, instruction}]` runs
--- the agent, which sends its `WorkspaceEdit` back with `workspace/applyEdit`. That request is
--- answered here instead of by Neovim's default (which applies silently): the edit is applied to
--- scratch copies, the unified diff is shown in a split, and the user chooses Apply or Reject
--- (`vim.ui.select`, answered asynchronously: the handler runs in a coroutine). Edits computed for
--- an older version of a document are refused, never applied half-way.
local api = vim.api

local M = {}

--- Last edit request handled: {label, diff, files, applied, reason}.
M.last = nil

local function lines_of(uri)
  local fname = vim.uri_to_fname(uri)
  local buf = vim.fn.bufnr(fname)
  if buf ~= -1 and api.nvim_buf_is_loaded(buf) then
    return api.nvim_buf_get_lines(buf, 0, -1, false)
  end
  if vim.fn.filereadable(fname) == 1 then
    return vim.fn.readfile(fname)
  end
  return {}
end

local function relative(uri)
  return vim.fn.fnamemodify(vim.uri_to_fname(uri), ':~:.')
end

local function present(v)
  return v ~= nil and v ~= vim.NIL
end

--- The unified diff of `edit` against the current documents, and the files it touches.
--- @param edit lsp.WorkspaceEdit
--- @param enc string position encoding
--- @return string[] lines, string[] files
function M.preview(edit, enc)
  local out, files = {}, {}
  local docs, order = {}, {}
  local notes = {}

  local function doc(uri, created)
    local d = docs[uri]
    if not d then
      local old = created and {} or lines_of(uri)
      local scratch = api.nvim_create_buf(false, true)
      api.nvim_buf_set_lines(scratch, 0, -1, false, old)
      d = { old = old, scratch = scratch, created = created }
      docs[uri] = d
      order[#order + 1] = uri
      files[#files + 1] = vim.uri_to_fname(uri)
    end
    return d
  end

  local function apply(uri, edits)
    local d = doc(uri, false)
    vim.lsp.util.apply_text_edits(edits, d.scratch, enc)
  end

  local annotations = present(edit.changeAnnotations) and edit.changeAnnotations or {}
  for _, a in pairs(annotations) do
    local line = '# ' .. tostring(a.label or '')
    if present(a.description) and a.description ~= '' then
      line = line .. ': ' .. a.description
    end
    if a.needsConfirmation then
      line = line .. '  (needs confirmation)'
    end
    notes[#notes + 1] = line
  end

  if present(edit.documentChanges) then
    for _, change in ipairs(edit.documentChanges) do
      if change.kind == 'create' then
        doc(change.uri, true)
      elseif change.kind == 'rename' then
        notes[#notes + 1] = ('# rename %s -> %s'):format(relative(change.oldUri), relative(change.newUri))
        files[#files + 1] = vim.uri_to_fname(change.newUri)
      elseif change.kind == 'delete' then
        notes[#notes + 1] = '# delete ' .. relative(change.uri)
        files[#files + 1] = vim.uri_to_fname(change.uri)
      elseif change.textDocument then
        apply(change.textDocument.uri, change.edits or {})
      end
    end
  elseif present(edit.changes) then
    local uris = vim.tbl_keys(edit.changes)
    table.sort(uris)
    for _, uri in ipairs(uris) do
      apply(uri, edit.changes[uri])
    end
  end

  vim.list_extend(out, notes)
  for _, uri in ipairs(order) do
    local d = docs[uri]
    local new = api.nvim_buf_get_lines(d.scratch, 0, -1, false)
    api.nvim_buf_delete(d.scratch, { force = true })
    local a = #d.old > 0 and table.concat(d.old, '\n') .. '\n' or ''
    local b = table.concat(new, '\n') .. '\n'
    if d.created and #new == 1 and new[1] == '' then
      b = ''
    end
    local diff = vim.diff(a, b, { result_type = 'unified', ctxlen = 3 }) --[[@as string]]
    out[#out + 1] = ('--- %s'):format(d.created and '/dev/null' or 'a/' .. relative(uri))
    out[#out + 1] = ('+++ b/%s'):format(relative(uri))
    if diff == '' then
      out[#out + 1] = '# (no textual change)'
    else
      vim.list_extend(out, vim.split(diff:gsub('\n$', ''), '\n', { plain = true }))
    end
  end
  return out, files
end

--- Documents whose edits were computed for an older version than the buffer holds.
--- @param edit lsp.WorkspaceEdit
--- @return string[] paths
function M.stale_documents(edit)
  local stale = {}
  if not present(edit.documentChanges) then
    return stale
  end
  for _, change in ipairs(edit.documentChanges) do
    local td = change.textDocument
    if td and present(td.version) then
      local buf = vim.fn.bufnr(vim.uri_to_fname(td.uri))
      if buf ~= -1 and api.nvim_buf_is_loaded(buf) then
        local version = vim.lsp.util.buf_versions[buf] or api.nvim_buf_get_changedtick(buf)
        if version > td.version then
          stale[#stale + 1] = relative(td.uri)
        end
      end
    end
  end
  return stale
end

local function needs_confirmation(edit)
  local mode = require('mimi.config').get().edit.confirm
  if mode == 'always' then
    return true
  elseif mode == 'never' then
    return false
  end
  for _, a in pairs(present(edit.changeAnnotations) and edit.changeAnnotations or {}) do
    if a.needsConfirmation then
      return true
    end
  end
  return false
end

--- Show the diff in a split and ask; `on_answer(true)` to apply.
--- @param title string
--- @param lines string[]
--- @param on_answer fun(approved: boolean)
function M.confirm(title, lines, on_answer)
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = 'diff'
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  pcall(api.nvim_buf_set_name, buf, 'mimi://edit-preview/' .. buf)
  local previous = api.nvim_get_current_win()
  local height = math.max(5, math.min(#lines + 1, math.floor(vim.o.lines / 2)))
  vim.cmd(('botright %dsplit'):format(height))
  local win = api.nvim_get_current_win()
  api.nvim_win_set_buf(win, buf)
  M.preview_buf = buf
  vim.cmd.redraw()
  local answered = false
  local function answer(approved)
    if answered then
      return
    end
    answered = true
    if api.nvim_win_is_valid(win) then
      api.nvim_win_close(win, true)
    end
    if api.nvim_win_is_valid(previous) then
      api.nvim_set_current_win(previous)
    end
    on_answer(approved)
  end
  vim.ui.select({ 'Apply', 'Reject' }, {
    prompt = title,
    kind = 'mimi_edit',
  }, function(choice)
    answer(choice == 'Apply')
  end)
end

--- Handler of `workspace/applyEdit` for the mimi client.
--- @return lsp.ApplyWorkspaceEditResult
function M.on_apply_edit(_, params, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local enc = client and client.offset_encoding or 'utf-16'
  local edit = params and params.edit or {}
  local label = params and present(params.label) and params.label or 'mimi: apply these changes?'
  local result = { label = label }
  M.last = result

  local stale = M.stale_documents(edit)
  if #stale > 0 then
    result.applied = false
    result.reason = 'document changed since the edit was computed: ' .. table.concat(stale, ', ')
    require('mimi.notify').notify('mimi: edit not applied, ' .. result.reason, vim.log.levels.WARN)
    return { applied = false, failureReason = result.reason }
  end

  local ok_preview, lines, files = pcall(M.preview, edit, enc)
  if not ok_preview then
    lines, files = { '# preview failed: ' .. tostring(lines) }, {}
  end
  result.diff, result.files = lines, files

  if needs_confirmation(edit) then
    local approved
    local co, is_main = coroutine.running()
    if co and not is_main then
      M.confirm(label, lines, function(answer)
        -- Resume later: a synchronous vim.ui.select answers before we yield.
        vim.schedule(function()
          local ok, err = coroutine.resume(co, answer)
          if not ok then
            require('mimi.notify').notify('mimi: applying the edit failed: ' .. tostring(err), vim.log.levels.ERROR)
          end
        end)
      end)
      approved = coroutine.yield()
    else
      approved = vim.fn.confirm(table.concat(lines, '\n') .. '\n\n' .. label, '&Apply\n&Reject', 2) == 1
    end
    if not approved then
      result.applied = false
      result.reason = 'rejected by the user'
      return { applied = false, failureReason = result.reason }
    end
  end

  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, edit, enc)
  result.applied = ok
  if not ok then
    result.reason = tostring(err)
    require('mimi.notify').notify('mimi: applying the edit failed: ' .. result.reason, vim.log.levels.ERROR)
    return { applied = false, failureReason = result.reason }
  end
  return { applied = true }
end

--- Run the agent on the current file (and range) with `instruction`.
--- @param instruction string
--- @param ctx {uri: string, range: lsp.Range?}
--- @param on_done fun(result: table?)?
function M.run(instruction, ctx, on_done)
  local short = instruction:match('^[^\n]*')
  if #short > 60 then
    short = short:sub(1, 59) .. '…'
  end
  require('mimi.notify').notify(('mimi: editing (%s)…'):format(short), vim.log.levels.INFO)
  local args = { uri = ctx.uri, range = ctx.range, instruction = instruction }
  local request = {}
  M.pending = request
  require('mimi.server').command('mimi.agent.edit', args, function(err, result)
    if M.pending == request then
      M.pending = nil
    end
    if err and err.code == -32800 then
      require('mimi.notify').notify('mimi: edit stopped', vim.log.levels.INFO)
      if on_done then
        on_done(nil)
      end
      return
    end
    if err then
      require('mimi.notify').notify(require('mimi.server').describe_error('mimi.agent.edit', err), vim.log.levels.ERROR)
      if on_done then
        on_done(nil)
      end
      return
    end
    result = type(result) == 'table' and result or {}
    local summary = present(result.summary) and result.summary or ''
    if result.applied then
      local files = type(result.files) == 'table' and result.files or {}
      local names = vim.tbl_map(function(f)
        return vim.fn.fnamemodify(f:match('^%a+://') and vim.uri_to_fname(f) or f, ':~:.')
      end, files)
      require('mimi.notify').notify(
        ('mimi: edited %s. %s'):format(#names > 0 and table.concat(names, ', ') or 'files', summary),
        vim.log.levels.INFO
      )
    else
      require('mimi.notify').notify('mimi: no change applied. ' .. summary, vim.log.levels.WARN)
    end
    if on_done then
      on_done(result)
    end
  end, function(client, id)
    request.client, request.id = client, id
  end)
end

--- Stop the agent run in flight (`$/cancelRequest`; the server stops the model).
--- @return boolean whether one was running
function M.cancel()
  local request = M.pending
  M.pending = nil
  if request and request.client and request.id then
    request.client:cancel_request(request.id)
    return true
  end
  return false
end

--- A code action's `mimi.agent.edit` command: run it, asking for the instruction if missing.
--- @param args {uri: string, range: lsp.Range?, instruction: string?}
function M.from_code_action(args)
  local ctx = { uri = args.uri, range = args.range }
  if type(args.instruction) == 'string' and args.instruction ~= '' then
    M.run(args.instruction, ctx)
    return
  end
  vim.ui.input({ prompt = 'mimi edit> ' }, function(input)
    if input and vim.trim(input) ~= '' then
      M.run(input, ctx)
    end
  end)
end

--- `:[range]MimiEdit {instruction}`.
function M.command(args)
  local ctx = require('mimi.chat').context(args.range > 0 and args or nil)
  if not ctx.uri then
    require('mimi.notify').notify('mimi: :MimiEdit works on a file buffer', vim.log.levels.WARN)
    return
  end
  if args.args ~= '' then
    M.run(args.args, ctx)
    return
  end
  vim.ui.input({ prompt = 'mimi edit> ' }, function(input)
    if input and vim.trim(input) ~= '' then
      M.run(input, ctx)
    end
  end)
end

return M
