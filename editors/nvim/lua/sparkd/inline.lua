-- sparkd.inline — ghost text from textDocument/inlineCompletion (LSP 3.18).
--
-- While typing in Insert mode, a debounced request goes out for the cursor
-- (the previous one, if still running, is cancelled with $/cancelRequest);
-- the first item of the answer is drawn at the cursor as virtual text (its
-- first line) and virtual lines (the rest). Typing a character that the
-- suggestion starts with keeps it (shortened); any other edit, a cursor move
-- or leaving Insert mode removes it. Accepting inserts all of it, a word or a
-- line.
local compat = require("sparkd.compat")

local M = {}

local ns = vim.api.nvim_create_namespace("sparkd")
M.ns = ns
M.last_latency_ms = nil

-- Per buffer: { client, timer, gen, req_id, asked_at, sugg, counters... }
local bufs = {}

local function cfg() return require("sparkd").config end

local function state(bufnr)
  local s = bufs[bufnr]
  if not s then
    s = { gen = 0, requests = 0, responses = 0, empty = 0, shown = 0, accepted = 0, cancelled = 0, errors = 0 }
    bufs[bufnr] = s
  end
  return s
end

local function encoding(client)
  local caps = compat.server_capabilities(client)
  return client.offset_encoding or caps.positionEncoding or "utf-16"
end

local function in_insert()
  local m = vim.api.nvim_get_mode().mode
  return m:sub(1, 1) == "i"
end

-- ------------------------------------------------------------ drawing
local function clear_mark(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1) end
end

local function render(bufnr)
  local s = bufs[bufnr]
  clear_mark(bufnr)
  if not s or not s.sugg or s.sugg.text == "" then return end
  local sg = s.sugg
  local lines = vim.split(sg.text, "\n", { plain = true })
  local hl = cfg().hl_group
  local line = vim.api.nvim_buf_get_lines(bufnr, sg.row, sg.row + 1, false)[1] or ""
  local opts = { hl_mode = "combine" }
  local first = lines[1]
  if first ~= "" then
    if compat.has("0.10") then
      opts.virt_text = { { first, hl } }
      opts.virt_text_pos = "inline"
    elseif sg.col >= #line then
      opts.virt_text = { { first, hl } }
      opts.virt_text_pos = "overlay"
    else
      -- No inline virtual text before 0.10: show it at the end of the line.
      opts.virt_text = { { " " .. first, hl } }
      opts.virt_text_pos = "eol"
    end
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do table.insert(opts.virt_lines, { { lines[i] == "" and " " or lines[i], hl } }) end
  end
  if not opts.virt_text and not opts.virt_lines then return end
  local col = math.min(sg.col, #line)
  s.mark = vim.api.nvim_buf_set_extmark(bufnr, ns, sg.row, col, opts)
end

local function set_suggestion(bufnr, client, sugg)
  local s = state(bufnr)
  s.sugg = sugg
  render(bufnr)
  if sugg and not sugg.shown_sent then
    sugg.shown_sent = true
    s.shown = s.shown + 1
    -- Copilot-style notification: sparkd counts what was shown.
    compat.notify(client, "textDocument/didShowCompletion", { item = sugg.item })
  end
end

function M.dismiss(bufnr)
  if not bufnr or bufnr == 0 then bufnr = vim.api.nvim_get_current_buf() end
  local s = bufs[bufnr]
  if not s then return false end
  local had = s.sugg ~= nil
  s.sugg = nil
  s.gen = s.gen + 1   -- answers still on their way are dropped
  if s.timer then s.timer:stop() end
  if s.req_id and s.client then
    compat.cancel(s.client, s.req_id)
    s.cancelled = s.cancelled + 1
  end
  s.req_id = nil
  clear_mark(bufnr)
  return had
end

function M.visible(bufnr)
  local s = bufs[bufnr or vim.api.nvim_get_current_buf()]
  return s ~= nil and s.sugg ~= nil and s.sugg.text ~= ""
end

-- ------------------------------------------------------------ requests
local function item_text(item)
  local t = item.insertText
  if type(t) == "table" then
    -- StringValue (a snippet): keep the text, drop tab stops and placeholders.
    t = (t.value or ""):gsub("%${%d+:([^}]*)}", "%1"):gsub("%$%d+", ""):gsub("\\([$}\\])", "%1")
  end
  if type(t) ~= "string" then return nil end
  return t
end

-- The suggestion to show for `item` at the cursor (row 0-based, col bytes), or nil.
local function from_item(bufnr, client, item, row, col)
  local text = item_text(item)
  if not text or text == "" then return nil end
  local enc = encoding(client)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local end_col = col
  local r = item.range
  if type(r) == "table" and r.start then
    if r.start.line ~= row or r["end"].line ~= row then return nil end   -- multi-line ranges: not shown
    local start_col = compat.byte_index(line, r.start.character, enc)
    end_col = compat.byte_index(line, r["end"].character, enc)
    if start_col > col or end_col < col then return nil end
    -- The part of the range before the cursor is already typed: it must match.
    local typed = line:sub(start_col + 1, col)
    if text:sub(1, #typed) ~= typed then return nil end
    text = text:sub(#typed + 1)
  end
  if text == "" then return nil end
  return { text = text, row = row, col = col, end_col = end_col, item = item, accepted = 0 }
end

-- Asks for a suggestion at the cursor of the current window (invoked: the user asked).
function M.request(bufnr, invoked)
  if not bufnr or bufnr == 0 then bufnr = vim.api.nvim_get_current_buf() end
  local sparkd = require("sparkd")
  if not sparkd.enabled then return false end
  local client = sparkd.client(bufnr)
  if not client or compat.is_stopped(client) or not compat.server_capabilities(client).inlineCompletionProvider then
    return false
  end
  local s = state(bufnr)
  s.client = client
  if s.req_id then
    compat.cancel(client, s.req_id)   -- a newer keystroke: the old answer is stale
    s.cancelled = s.cancelled + 1
    s.req_id = nil
  end
  s.gen = s.gen + 1
  local gen = s.gen
  local cur = vim.api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = compat.units(line:sub(1, col), encoding(client)) },
    context = { triggerKind = invoked and 1 or 2 },
  }
  local t0 = compat.uv.hrtime()
  s.requests = s.requests + 1
  local ok, id = compat.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if s.gen == gen then s.req_id = nil end
    if err then
      if err.code ~= -32800 then s.errors = s.errors + 1 end
      return
    end
    s.responses = s.responses + 1
    M.last_latency_ms = (compat.uv.hrtime() - t0) / 1e6
    if s.gen ~= gen or not vim.api.nvim_buf_is_valid(bufnr) then return end
    if vim.api.nvim_get_current_buf() ~= bufnr or not in_insert() then return end
    local now = vim.api.nvim_win_get_cursor(0)
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick or now[1] - 1 ~= row or now[2] ~= col then return end
    local items = result and (result.items or (compat.is_list(result) and result)) or {}
    local sugg
    for _, item in ipairs(items) do
      sugg = from_item(bufnr, client, item, row, col)
      if sugg then break end
    end
    if not sugg then
      s.empty = s.empty + 1
      if s.sugg and (s.sugg.row ~= row or s.sugg.col ~= col) then M.dismiss(bufnr) end
      return
    end
    set_suggestion(bufnr, client, sugg)
  end, bufnr)
  if ok then s.req_id = id end
  return ok
end

-- Debounced request after a keystroke.
local function schedule(bufnr)
  local s = state(bufnr)
  if not s.timer then s.timer = compat.uv.new_timer() end
  s.timer:stop()
  s.timer:start(cfg().client_debounce_ms or 0, 0, vim.schedule_wrap(function()
    if vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_get_current_buf() == bufnr and in_insert() then
      M.request(bufnr, false)
    end
  end))
end

function M.trigger()
  local bufnr = vim.api.nvim_get_current_buf()
  return M.request(bufnr, true)
end

-- ------------------------------------------------------------ accepting
local function word_part(text)
  -- leading blanks, then a word, or else a single other character
  local w = text:match("^[ \t]*[%w_]+") or text:match("^[ \t]*[^%w_ \t\n]") or text:match("^[ \t]*\n?")
  if not w or w == "" then w = text:sub(1, 1) end
  return w
end

local function line_part(text)
  local nl = text:find("\n", 1, true)
  if nl == 1 then return "\n" end
  return nl and text:sub(1, nl - 1) or text
end

-- Inserts the whole suggestion ("all"), its next word or its next line.
function M.accept(kind)
  local bufnr = vim.api.nvim_get_current_buf()
  local s = bufs[bufnr]
  if not s or not s.sugg or s.sugg.text == "" then return false end
  local sg = s.sugg
  local cur = vim.api.nvim_win_get_cursor(0)
  if cur[1] - 1 ~= sg.row or cur[2] ~= sg.col then
    M.dismiss(bufnr)
    return false
  end
  local part = kind == "word" and word_part(sg.text) or kind == "line" and line_part(sg.text) or sg.text
  local lines = vim.split(part, "\n", { plain = true })
  local end_col = (part == sg.text) and sg.end_col or sg.col
  vim.api.nvim_buf_set_text(bufnr, sg.row, sg.col, sg.row, end_col, lines)
  local row, col
  if #lines == 1 then row, col = sg.row, sg.col + #lines[1]
  else row, col = sg.row + #lines - 1, #lines[#lines] end
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  s.accepted = s.accepted + 1
  local enc = encoding(s.client)
  sg.accepted = sg.accepted + compat.units(part, enc)
  -- sparkd counts accepted characters (whole acceptances too, reported as
  -- everything accepted) from Copilot's partial-accept notification.
  compat.notify(s.client, "textDocument/didPartiallyAcceptCompletion",
    { item = sg.item, acceptedLength = sg.accepted })
  local rest = sg.text:sub(#part + 1)
  if rest ~= "" then
    -- Keep showing the rest; the server answers the next request from it too.
    sg.text, sg.row, sg.col, sg.end_col = rest, row, col, col
    s.gen = s.gen + 1
    render(bufnr)
  else
    s.sugg = nil
    clear_mark(bufnr)
    local cmd = sg.item.command
    if type(cmd) == "table" and cmd.command then
      compat.request(s.client, "workspace/executeCommand", { command = cmd.command, arguments = cmd.arguments },
        function() end, bufnr)
    end
  end
  return true
end

-- ------------------------------------------------------------ events
function M.attach(client, bufnr)
  local s = state(bufnr)
  s.client = client
  s.attached = true
end

local function attached(bufnr)
  local s = bufs[bufnr]
  return s and s.attached
end

-- A typed character: keep the suggestion when it starts with it.
local function on_char(bufnr)
  local s = bufs[bufnr]
  if not s or not s.sugg then return end
  local ch = vim.v.char
  local sg = s.sugg
  if ch ~= "" and sg.text:sub(1, #ch) == ch and sg.end_col == sg.col then
    sg.text = sg.text:sub(#ch + 1)
    sg.col = sg.col + #ch
    sg.end_col = sg.col
    sg.typed = true
    if sg.text == "" then s.sugg = nil end
  else
    s.sugg = nil
    vim.schedule(function() if not (bufs[bufnr] or {}).sugg then clear_mark(bufnr) end end)
  end
end

local function on_changed(bufnr)
  local s = bufs[bufnr]
  if not s then return end
  local cur = vim.api.nvim_win_get_cursor(0)
  if s.sugg and (cur[1] - 1 ~= s.sugg.row or cur[2] ~= s.sugg.col) then s.sugg = nil end
  render(bufnr)
  if cfg().auto_trigger and require("sparkd").enabled then schedule(bufnr) end
end

local function on_moved(bufnr)
  local s = bufs[bufnr]
  if not s or not s.sugg then return end
  local cur = vim.api.nvim_win_get_cursor(0)
  if cur[1] - 1 ~= s.sugg.row or cur[2] ~= s.sugg.col then M.dismiss(bufnr) end
end

function M.setup(group)
  vim.api.nvim_create_autocmd("InsertCharPre", { group = group, callback = function(ev)
    if attached(ev.buf) then on_char(ev.buf) end
  end })
  vim.api.nvim_create_autocmd({ "TextChangedI", "TextChangedP" }, { group = group, callback = function(ev)
    if attached(ev.buf) then on_changed(ev.buf) end
  end })
  vim.api.nvim_create_autocmd("CursorMovedI", { group = group, callback = function(ev)
    if attached(ev.buf) then on_moved(ev.buf) end
  end })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, { group = group, callback = function(ev)
    if bufs[ev.buf] then M.dismiss(ev.buf) end
  end })
  vim.api.nvim_create_autocmd("BufUnload", { group = group, callback = function(ev)
    local s = bufs[ev.buf]
    if s and s.timer then s.timer:stop(); s.timer:close() end
    bufs[ev.buf] = nil
  end })
end

function M.status(bufnr)
  if not bufnr or bufnr == 0 then bufnr = vim.api.nvim_get_current_buf() end
  local s = bufs[bufnr]
  if not s then return { attached = false } end
  return {
    attached = s.attached == true,
    visible = s.sugg ~= nil and s.sugg.text ~= "",
    text = s.sugg and s.sugg.text or nil,
    row = s.sugg and s.sugg.row or nil,
    col = s.sugg and s.sugg.col or nil,
    requests = s.requests, responses = s.responses, empty = s.empty, shown = s.shown,
    accepted = s.accepted, cancelled = s.cancelled, errors = s.errors,
    pending = s.req_id ~= nil,
    last_latency_ms = M.last_latency_ms,
    marks = #vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, {}),
  }
end

return M
