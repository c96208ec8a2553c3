-- sparkd — local code completion for Neovim: starts `sparkd lsp`, shows its
-- inline completions as ghost text, falls back to the completion popup.
--
--   require("sparkd").setup({ model = "~/models/qwen2.5-coder-0.5b.gguf" })
--
-- See :help sparkd. Works on Neovim 0.7 (Debian 12) and later.
local compat = require("sparkd.compat")

local M = {}

local defaults = {
  cmd = nil,              -- string or list; nil: `sparkd` on PATH, else the repo's build/sparkd
  args = {},              -- extra arguments after `sparkd lsp`
  -- start-up settings of sparkd (given as --flags; nil: sparkd's default)
  model = nil, draft = nil, device = nil, cache = nil, no_cache = nil, threads = nil,
  log_file = nil, max_message = nil, no_engine = nil, fim_order = nil, cache_size = nil,
  cache_mem = nil,
  -- settings sparkd applies while running (initializationOptions and
  -- workspace/didChangeConfiguration; nil: sparkd's default)
  log_level = nil, n_predict = nil, temp = nil, seed = nil, debounce_ms = nil,
  max_open_documents = nil, max_open_bytes = nil, quick_start_tokens = nil, timeout_ms = nil,
  settings = {},          -- any other sparkd settings, sent as they are
  filetypes = nil,        -- list of filetypes to serve; nil: every file buffer
  root_markers = { ".git" },
  mode = "auto",          -- "auto": ghost text, or the popup when the server has no inline
                          -- completion; "inline"; "complete": popup only (omnifunc)
  auto_trigger = true,    -- ask while typing (else only with trigger_key)
  client_debounce_ms = 20,-- wait this long after the last keystroke before asking
  accept_key = "<Tab>",   -- false: no mapping (call require("sparkd").accept())
  accept_word_key = "<M-Right>",
  accept_line_key = "<M-Down>",
  dismiss_key = "<C-]>",
  trigger_key = "<M-\\>",
  hl_group = "SparkdSuggestion", -- linked to Comment unless defined
  set_omnifunc = true,    -- in complete mode, set 'omnifunc' of served buffers
}

M.config = vim.deepcopy(defaults)
M.client_id = nil
M.enabled = true
M._setup_done = false

local STARTUP = { "model", "draft", "device", "cache", "no_cache", "threads", "log_file", "max_message", "no_engine",
                  "fim_order", "cache_size", "cache_mem" }
local RUNTIME = { "log_level", "n_predict", "temp", "seed", "debounce_ms", "max_open_documents", "max_open_bytes",
                  "quick_start_tokens", "timeout_ms" }
M.server_setting_names = { startup = STARTUP, runtime = RUNTIME }

local function notify(msg, level) vim.notify("sparkd: " .. msg, level or vim.log.levels.INFO) end
M.notify = notify

-- The folder of this plugin (editors/nvim), to find the repo's build when the
-- plugin is used straight from a sparkd checkout.
local function plugin_root()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  return vim.fn.fnamemodify(src, ":p:h:h:h")
end

-- The sparkd binary: config.cmd, else `sparkd` on PATH, else ../../build/sparkd.
function M.binary()
  local cmd = M.config.cmd
  if type(cmd) == "table" then return cmd[1] end
  if type(cmd) == "string" and cmd ~= "" then return vim.fn.expand(cmd) end
  local on_path = vim.fn.exepath("sparkd")
  if on_path ~= "" then return on_path end
  local built = plugin_root() .. "/../../build/sparkd"
  if vim.fn.executable(built) == 1 then return vim.fn.fnamemodify(built, ":p") end
  return "sparkd"
end

function M.server_cmd()
  local cmd = { M.binary(), "lsp" }
  if type(M.config.cmd) == "table" then cmd = vim.deepcopy(M.config.cmd) end
  for _, name in ipairs(STARTUP) do
    local v = M.config[name]
    if v ~= nil and v ~= false and v ~= "" then
      local flag = "--" .. name:gsub("_", "-")
      if v == true then table.insert(cmd, flag)
      else
        if name == "model" or name == "draft" or name == "cache" or name == "log_file" then
          if v ~= "none" then v = vim.fn.expand(v) end
        end
        table.insert(cmd, flag .. "=" .. tostring(v))
      end
    end
  end
  vim.list_extend(cmd, M.config.args or {})
  return cmd
end

function M.server_settings()
  local s = vim.deepcopy(M.config.settings or {})
  for _, name in ipairs(RUNTIME) do
    if M.config[name] ~= nil then s[name] = M.config[name] end
  end
  return s
end

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  local cur = dir
  while cur and cur ~= "" do
    for _, m in ipairs(M.config.root_markers or {}) do
      if compat.uv.fs_stat(cur .. "/" .. m) then return cur end
    end
    local parent = vim.fn.fnamemodify(cur, ":h")
    if parent == cur then break end
    cur = parent
  end
  return vim.fn.getcwd()
end

function M.wants_inline()
  return M.config.mode ~= "complete"
end

function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  if M.wants_inline() then
    -- sparkd.inline implements LSP 3.18 inline completion (ghost text).
    caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  else
    caps.textDocument.inlineCompletion = nil
  end
  return caps
end

local function on_attach(client, bufnr)
  local caps = compat.server_capabilities(client)
  if caps.inlineCompletionProvider and M.wants_inline() then
    require("sparkd.inline").attach(client, bufnr)
  elseif caps.completionProvider and M.config.set_omnifunc then
    vim.bo[bufnr].omnifunc = "v:lua.sparkd_omnifunc"
  end
end

function M.lsp_config(bufnr)
  return {
    name = "sparkd",
    cmd = M.server_cmd(),
    root_dir = root_dir(bufnr),
    capabilities = M.capabilities(),
    init_options = M.server_settings(),
    settings = { sparkd = M.server_settings() },
    flags = { debounce_text_changes = 0, allow_incremental_sync = true },
    on_attach = on_attach,
    on_exit = function(code, signal)
      if code ~= 0 and not M._stopping then
        vim.schedule(function()
          notify(("the server exited with status %s%s; see :checkhealth sparkd"):format(
            code, signal ~= 0 and (" (signal " .. signal .. ")") or ""), vim.log.levels.WARN)
        end)
      end
    end,
  }
end

local function served(bufnr)
  if not M.enabled then return false end
  if vim.bo[bufnr].buftype ~= "" then return false end
  local ft = vim.bo[bufnr].filetype
  if M.config.filetypes then return vim.tbl_contains(M.config.filetypes, ft) end
  return true
end

-- Attaches sparkd to bufnr (starting the server when needed).
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not served(bufnr) then return nil end
  if vim.fn.executable(M.server_cmd()[1]) ~= 1 then
    if not M._warned_missing then
      M._warned_missing = true
      notify(("cannot run %q: set cmd in require('sparkd').setup{} or put sparkd on PATH"):format(M.server_cmd()[1]),
        vim.log.levels.ERROR)
    end
    return nil
  end
  local existing = compat.clients(bufnr, "sparkd")[1]
  if existing then return existing.id end
  local id = compat.start(M.lsp_config(bufnr), bufnr, M.client_id)
  if id then M.client_id = id end
  return id
end

function M.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local list = compat.clients(bufnr, "sparkd")
  if list[1] then return list[1] end
  return M.client_id and compat.get_client(M.client_id) or nil
end

-- Ghost-text API, for mappings of your own (each returns true when it acted).
function M.accept() return require("sparkd.inline").accept("all") end
function M.accept_word() return require("sparkd.inline").accept("word") end
function M.accept_line() return require("sparkd.inline").accept("line") end
function M.dismiss() return require("sparkd.inline").dismiss() end
function M.trigger() return require("sparkd.inline").trigger() end
function M.is_visible() return require("sparkd.inline").visible() end
-- The state of the current buffer's suggestion (for tests and statuslines).
function M.status(bufnr) return require("sparkd.inline").status(bufnr) end

-- sparkd/stats: cb(err, stats) or, without cb, printed.
function M.stats(cb)
  local client = M.client()
  if not client then
    if cb then cb("sparkd is not running", nil) else notify("not running in this buffer", vim.log.levels.WARN) end
    return
  end
  compat.request(client, "sparkd/stats", vim.empty_dict(), function(err, result)
    if cb then return cb(err, result) end
    if err then return notify("sparkd/stats failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR) end
    local c = result.completions or {}
    local lat = c.latency or {}
    local function ms(us) return us and string.format("%.1f ms", us / 1000) or "-" end
    local lines = {
      ("sparkd: model %s, %s, %d document(s), position encoding %s"):format(result.model or "?",
        result.config and result.config.device or "?", result.documents or 0, result.position_encoding or "?"),
      ("completions: %d requested, %d answered (%d from the shown suggestion), %d empty"):format(
        c.requests or 0, c.answered or 0, c.fast_path or 0, c.empty or 0),
      ("latency: p50 %s, p99 %s, max %s over %d; draft acceptance %d%%"):format(ms(lat.p50_us), ms(lat.p99_us),
        ms(lat.max_us), lat.count or 0, math.floor(100 * (c.acceptance_rate or 0) + 0.5)),
      ("shown %d, partially accepted %d (%d chars)"):format(c.shown or 0, c.partial_accepts or 0, c.accepted_chars or 0),
    }
    if c.empty_reasons and next(c.empty_reasons) then
      local r = {}
      for k, v in pairs(c.empty_reasons) do table.insert(r, ("%s %d"):format(k, v)) end
      table.sort(r)
      table.insert(lines, "empty because: " .. table.concat(r, ", "))
    end
    local last = require("sparkd.inline").last_latency_ms
    if last then table.insert(lines, ("last round trip in this editor: %.0f ms"):format(last)) end
    vim.api.nvim_echo({ { table.concat(lines, "\n") } }, true, {})
  end, vim.api.nvim_get_current_buf())
end

-- Sends changed settings to the running server (runtime settings only).
function M.configure(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  local client = M.client()
  if client then
    compat.notify(client, "workspace/didChangeConfiguration", { settings = { sparkd = M.server_settings() } })
  end
end

function M.enable()
  M.enabled = true
  M.attach(vim.api.nvim_get_current_buf())
end

function M.disable()
  M.enabled = false
  require("sparkd.inline").dismiss()
end

function M.toggle()
  if M.enabled then M.disable() else M.enable() end
  notify(M.enabled and "enabled" or "disabled")
end

function M.restart()
  local client = M.client()
  M._stopping = true
  if client then
    if compat.has("0.11") then client:stop() else client.stop() end
  end
  M.client_id = nil
  vim.defer_fn(function()
    M._stopping = false
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(b) then M.attach(b) end
    end
  end, 200)
end

local function map(key, fn, desc)
  if not key or key == "" then return end
  vim.keymap.set("i", key, function()
    if not fn() then
      -- Not ours: the key does what it did before.
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(key, true, false, true), "n", false)
    end
  end, { desc = desc, silent = true })
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  vim.cmd("highlight default link SparkdSuggestion Comment")
  local group = vim.api.nvim_create_augroup("sparkd", { clear = true })
  -- FileType for the filetypes asked for; every file buffer otherwise (also
  -- with filetype detection off).
  vim.api.nvim_create_autocmd(M.config.filetypes and { "FileType" } or { "FileType", "BufReadPost", "BufNewFile" }, {
    group = group,
    pattern = M.config.filetypes or "*",
    callback = function(ev) M.attach(ev.buf) end,
  })
  require("sparkd.inline").setup(group)
  require("sparkd.complete").setup(group)
  map(M.config.accept_key, M.accept, "sparkd: accept the suggestion")
  map(M.config.accept_word_key, M.accept_word, "sparkd: accept a word")
  map(M.config.accept_line_key, M.accept_line, "sparkd: accept a line")
  map(M.config.dismiss_key, M.dismiss, "sparkd: dismiss the suggestion")
  map(M.config.trigger_key, M.trigger, "sparkd: ask for a suggestion now")
  M._setup_done = true
  -- Buffers already open (setup called late, e.g. from a lazy loader).
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.api.nvim_buf_get_name(b) ~= "" then M.attach(b) end
  end
end

return M
