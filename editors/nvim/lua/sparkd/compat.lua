-- sparkd.compat — the few places where Neovim's Lua API differs between the
-- versions sparkd supports (0.7 — Debian 12's — up to 0.11+).
local M = {}

local uv = vim.uv or vim.loop
M.uv = uv

function M.has(version) return vim.fn.has("nvim-" .. version) == 1 end

-- Client methods: `client.request(...)` up to 0.10, `client:request(...)` from
-- 0.11 (the dot form is deprecated there).
local colon = M.has("0.11")

function M.request(client, method, params, handler, bufnr)
  if colon then return client:request(method, params, handler, bufnr) end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if colon then return client:request_sync(method, params, timeout_ms, bufnr) end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  if colon then return client:notify(method, params) end
  return client.notify(method, params)
end

function M.cancel(client, id)
  if not id then return end
  if colon then return client:cancel_request(id) end
  return client.cancel_request(id)
end

function M.is_stopped(client)
  if not client then return true end
  if colon then return client:is_stopped() end
  return client.is_stopped()
end

function M.get_client(id)
  if vim.lsp.get_client_by_id then return vim.lsp.get_client_by_id(id) end
end

-- The clients named `name` attached to bufnr.
function M.clients(bufnr, name)
  local list
  if vim.lsp.get_clients then
    list = vim.lsp.get_clients({ bufnr = bufnr, name = name })
  else
    list = {}
    for _, c in pairs(vim.lsp.buf_get_clients(bufnr)) do
      if c.name == name then table.insert(list, c) end
    end
  end
  return list
end

-- What the server answered in `initialize` (0.7 also has the raw table).
function M.server_capabilities(client)
  return client.server_capabilities or {}
end

-- Starts (or reuses) a client for config and attaches bufnr. vim.lsp.start
-- (0.8+) reuses a running client with the same name and root_dir; on 0.7 the
-- caller's `reuse` id is tried first.
function M.start(config, bufnr, reuse)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = reuse
  local client = id and M.get_client(id)
  if not client or M.is_stopped(client) then
    id = vim.lsp.start_client(config)
    if not id then return nil end
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

-- Health report functions: vim.health (0.8+; start/ok/... from 0.10) or the
-- 0.7 `health` module.
function M.health()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
    info = h.info or h.report_info,
  }
end

function M.is_list(t)
  if vim.islist then return vim.islist(t) end
  return vim.tbl_islist(t)
end

-- Position encodings. `units(s, enc)` counts the code units of the UTF-8 string
-- s; `byte_index(s, n, enc)` is the byte length of the longest prefix of s
-- that has at most n code units. Own code: the vim.str_utfindex signature
-- changed in 0.11. Invalid bytes count as one unit each, as sparkd does.
local function char_len(b)
  if b < 0x80 then return 1 elseif b >= 0xF0 and b < 0xF8 then return 4
  elseif b >= 0xE0 then return 3 elseif b >= 0xC0 then return 2 end
  return 1
end

local function char_units(len, enc)
  if enc == "utf-8" then return len end
  if enc == "utf-32" then return 1 end
  return len == 4 and 2 or 1
end

function M.units(s, enc)
  local i, n, total = 1, #s, 0
  while i <= n do
    local len = char_len(s:byte(i))
    if i + len - 1 > n then len = 1 end
    total = total + char_units(len, enc)
    i = i + len
  end
  return total
end

function M.byte_index(s, units, enc)
  local i, n, total = 1, #s, 0
  while i <= n do
    local len = char_len(s:byte(i))
    if i + len - 1 > n then len = 1 end
    local u = char_units(len, enc)
    if total + u > units then break end
    total = total + u
    i = i + len
  end
  return i - 1
end

return M
