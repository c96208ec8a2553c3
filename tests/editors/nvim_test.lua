-- nvim_test.lua — the sparkd Neovim plugin against the real `sparkd lsp`,
-- inside a real headless Neovim (run by tests/editors/test_nvim.sh).
--
-- The test types with nvim_input(), so keys go through Neovim's own Insert
-- mode, mappings and autocommands (InsertCharPre, TextChangedI, CursorMovedI,
-- InsertLeave, CompleteDone) exactly as a user's would. Steps run in a
-- coroutine that yields to Neovim's main loop between keystrokes.
--
-- Env: SPARKD_BIN, SPARKD_TEST_MODEL (made by test_nvim.sh when unset),
-- SPARKD_TEST_DIR (a scratch folder), SPARKD_TEST_TIMEOUT_MS.
-- Results go to $SPARKD_TEST_DIR/results.txt (Neovim's own messages share
-- stdout in headless mode; test_nvim.sh prints the file).
local out = assert(io.open(assert(os.getenv("SPARKD_TEST_DIR"), "SPARKD_TEST_DIR") .. "/results.txt", "w"))
local passed, failed = 0, 0
local function say(s) out:write(s .. "\n"); out:flush() end
local function check(name, cond, detail)
  if cond then passed = passed + 1; say("ok   " .. name)
  else failed = failed + 1; say("FAIL " .. name .. (detail and (": " .. detail) or "")) end
  return cond
end

local bin = assert(os.getenv("SPARKD_BIN"), "SPARKD_BIN")
local model = assert(os.getenv("SPARKD_TEST_MODEL"), "SPARKD_TEST_MODEL")
local dir = assert(os.getenv("SPARKD_TEST_DIR"), "SPARKD_TEST_DIR")
local timeout = tonumber(os.getenv("SPARKD_TEST_TIMEOUT_MS") or "") or 30000

local co
local function sleep(ms)
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      say("FAIL exception: " .. tostring(err))
      say(("test_nvim: %d passed, %d failed"):format(passed, failed + 1))
      vim.cmd("cquit 1")
    end
  end, ms)
  coroutine.yield()
end
-- Waits (running the main loop) until cond() is true; false on timeout.
local function wait_for(cond, ms)
  local deadline = vim.loop.hrtime() + (ms or timeout) * 1e6
  while vim.loop.hrtime() < deadline do
    if cond() then return true end
    sleep(20)
  end
  return cond()
end
local function keys(k) vim.api.nvim_input(k) end
local function lines() return vim.api.nvim_buf_get_lines(0, 0, -1, false) end
local function mode() return vim.api.nvim_get_mode().mode end
local sparkd, inline

local function write(name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- Types characters (one nvim_input each, like keystrokes) until a suggestion
-- is visible. A random-weight model sometimes starts with a byte that is not
-- text (sparkd then answers nothing): each retry types one more character.
local TYPED = { "r", "e", "s", "u", "l", "t", " ", "+", " ", "v", "a", "l", ";" }
local function type_until_suggestion(label)
  for i = 1, #TYPED do
    local before = inline.status().responses or 0
    keys(TYPED[i])
    wait_for(function() return inline.status().visible or (inline.status().responses or 0) > before end, timeout)
    if wait_for(function() return inline.status().visible end, 150) then return inline.status(), i end
  end
  say("     " .. label .. ": no suggestion after typing " .. #TYPED .. " characters: " .. vim.inspect(inline.status()))
  return nil
end

-- The ghost text drawn in the buffer: first line (virt_text) and the rest (virt_lines).
-- Neovim draws control characters in virtual text as ^X.
local function caret(s)
  return (s:gsub("[%z\1-\8\11-\31\127]", function(c)
    local b = c:byte()
    return "^" .. string.char(b == 127 and 63 or b + 64)
  end))
end

local function drawn()
  local marks = vim.api.nvim_buf_get_extmarks(0, inline.ns, 0, -1, { details = true })
  if #marks == 0 then return nil end
  local d = marks[1][4]
  local first = d.virt_text and d.virt_text[1] and d.virt_text[1][1] or ""
  local rest = {}
  for _, vl in ipairs(d.virt_lines or {}) do table.insert(rest, vl[1][1]) end
  return { row = marks[1][2], col = marks[1][3], first = first, rest = rest, pos = d.virt_text_pos, n = #marks }
end

local function stop_client()
  local c = sparkd.client()
  if c then
    sparkd._stopping = true
    if vim.fn.has("nvim-0.11") == 1 then c:stop() else c.stop() end
    wait_for(function() return c.is_stopped and (vim.fn.has("nvim-0.11") == 1 and c:is_stopped() or c.is_stopped()) end, 5000)
    sparkd.client_id = nil
  end
end

local function main()
  local v = vim.version()
  say(("neovim %d.%d.%d, sparkd %s, model %s"):format(v.major, v.minor, v.patch, bin, model))
  vim.o.hidden = true      -- switch buffers with unsaved typing in them
  vim.o.showmode = false   -- no "-- INSERT --" on stdout
  vim.cmd("runtime plugin/sparkd.lua")
  check("plugin: :SparkdStats and the other commands exist", vim.fn.exists(":SparkdStats") == 2 and vim.fn.exists(":SparkdToggle") == 2)
  sparkd = require("sparkd")
  inline = require("sparkd.inline")
  sparkd.setup({
    cmd = { bin, "lsp" }, model = model, draft = "none", log_level = "debug", no_cache = true,
    n_predict = 24, client_debounce_ms = 10,
  })

  -- ---------------------------------------------------------------- attach
  local file = write("main.c", "#include <stdio.h>\n\nint add(int a, int b) {\n    int r = a + b;\n    return \n}\n\nint main(void) {\n    printf(\"%d\\n\", add(2, 3));\n    return 0;\n}\n")
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local ok = wait_for(function() local c = sparkd.client(); return c and c.initialized end)
  if not check("attach: sparkd started and initialized for a C file", ok) then return end
  local client = sparkd.client()
  local caps = client.server_capabilities or {}
  check("initialize: the plugin advertises textDocument.inlineCompletion",
    client.config.capabilities.textDocument.inlineCompletion ~= nil)
  check("initialize: sparkd answers with inlineCompletionProvider and no completionProvider",
    caps.inlineCompletionProvider ~= nil and caps.completionProvider == nil, vim.inspect(caps))
  check("initialize: start-up settings went on the command line", vim.tbl_contains(client.config.cmd, "--model=" .. model),
    table.concat(client.config.cmd, " "))

  -- ---------------------------------------------------------------- ghost text + Tab
  vim.api.nvim_win_set_cursor(0, { 5, 10 })   -- "    return |"
  keys("a")
  wait_for(function() return mode() == "i" end, 2000)
  local st = type_until_suggestion("inline")
  if check("inline: typing shows a suggestion (textDocument/inlineCompletion answered)", st ~= nil) then
    local g = drawn()
    local parts = vim.split(st.text, "\n", { plain = true })
    check("inline: the suggestion is drawn as ghost text at the cursor (extmark)",
      g ~= nil and g.row == st.row and (caret(g.first) == caret(parts[1]) or caret(g.first) == " " .. caret(parts[1]))
        and #g.rest == #parts - 1,
      vim.inspect({ drawn = g, text = st.text }))
    check("inline: nothing was inserted into the buffer yet", not table.concat(lines(), "\n"):find(st.text, 1, true)
      or st.text:match("^%s*$") ~= nil)
    if #st.text >= 2 and st.text:sub(1, 1):match("[%w%p]") then
      -- Typing what the suggestion starts with keeps the rest on screen.
      local want = st.text:sub(2)
      keys(st.text:sub(1, 1))
      wait_for(function() return inline.status().responses > st.responses end, timeout)
      local now = inline.status()
      check("inline: typing the suggestion's first character keeps the rest shown",
        now.visible and now.text:sub(1, #want) == want or now.text == want, vim.inspect({ had = st.text, now = now }))
      st = now
    end
    local row, col = st.row, st.col
    parts = vim.split(st.text, "\n", { plain = true })
    local before = lines()[row + 1]
    keys("<Tab>")
    ok = wait_for(function() return not inline.status().visible or inline.status().text ~= st.text end, 3000)
    local now = lines()
    local expected_first = before:sub(1, col) .. parts[1]
    check("inline: <Tab> inserts the whole suggestion into the buffer",
      now[row + 1]:sub(1, #expected_first) == expected_first and (#parts == 1 or now[row + #parts]:find(parts[#parts], 1, true) == 1),
      vim.inspect({ suggestion = st.text, line = now[row + 1], expected = expected_first }))
    local cur = vim.api.nvim_win_get_cursor(0)
    check("inline: the cursor ends after the inserted text", cur[1] == row + #parts and
      cur[2] == (#parts == 1 and col + #parts[1] or #parts[#parts]), vim.inspect({ cur = cur, row = row, col = col }))
  end

  -- ---------------------------------------------------------------- Esc dismisses
  st = type_until_suggestion("dismiss")
  if st then
    keys("<Esc>")
    ok = wait_for(function() return mode() == "n" end, 2000)
    check("dismiss: <Esc> removes the ghost text", ok and not inline.status().visible and drawn() == nil,
      vim.inspect({ mode = mode(), status = inline.status() }))
  end

  -- ---------------------------------------------------------------- manual trigger, mismatch, word accept
  sparkd.config.auto_trigger = false
  vim.api.nvim_win_set_cursor(0, { 5, 0 })
  keys("A")   -- end of the line
  wait_for(function() return mode() == "i" end, 2000)
  local got
  for i = 1, #TYPED do
    local r0 = inline.status().responses or 0
    keys("<M-\\>")   -- trigger_key
    wait_for(function() return (inline.status().responses or 0) > r0 end, timeout)
    if inline.status().visible then got = inline.status(); break end
    keys(TYPED[i])
    sleep(30)
  end
  check("trigger key: <M-\\> asks for a suggestion (auto trigger off)", got ~= nil, vim.inspect(inline.status()))
  if got then
    local line_before = lines()[got.row + 1]
    keys("<M-Right>")   -- accept_word_key
    wait_for(function() return lines()[got.row + 1] ~= line_before end, 2000)
    local after = lines()
    local word = got.text:match("^[ \t]*[%w_]+") or got.text:match("^[ \t]*[^%w_ \t\n]") or got.text:sub(1, 1)
    check("accept word: <M-Right> inserts the next word of the suggestion",
      after[got.row + 1]:sub(got.col + 1, got.col + #word) == word or (word:find("\n") and #after > 0),
      vim.inspect({ suggestion = got.text, word = word, line = after[got.row + 1] }))
    local rest = got.text:sub(#word + 1)
    if rest ~= "" then
      check("accept word: the rest stays visible", inline.status().visible and inline.status().text == rest,
        vim.inspect(inline.status()))
      -- A character the suggestion does not start with: the ghost text goes.
      local first = rest:sub(1, 1)
      local other = first == "#" and "@" or "#"
      keys(other)
      wait_for(function() return not inline.status().visible end, 2000)
      check("mismatch: typing a different character removes the suggestion",
        not inline.status().visible and drawn() == nil, vim.inspect(inline.status()))
    end
  end
  sparkd.config.auto_trigger = true
  keys("<Esc>")
  wait_for(function() return mode() == "n" end, 2000)

  -- ---------------------------------------------------------------- stale requests are cancelled
  vim.api.nvim_win_set_cursor(0, { 4, 0 })
  keys("A")
  wait_for(function() return mode() == "i" end, 2000)
  local c0 = inline.status().cancelled or 0
  inline.request(0, false)
  inline.request(0, false)   -- supersedes the first: $/cancelRequest for it
  wait_for(function() return not inline.status().pending end, timeout)
  check("cancel: a newer request cancels the pending one", (inline.status().cancelled or 0) > c0, vim.inspect(inline.status()))
  keys("<Esc>")
  wait_for(function() return mode() == "n" end, 2000)

  -- ---------------------------------------------------------------- stats
  local stats
  sparkd.stats(function(err, res) stats = res or { err = err } end)
  wait_for(function() return stats ~= nil end, timeout)
  local c = stats and stats.completions or {}
  check("sparkd/stats: answered, with the plugin's shown / accepted notifications counted",
    (c.answered or 0) >= 1 and (c.shown or 0) >= 1 and (c.partial_accepts or 0) >= 1 and (stats.cancel_requests or 0) >= 1,
    vim.inspect({ completions = c, cancel_requests = stats and stats.cancel_requests }))
  check("sparkd/stats: runtime settings arrived (n_predict 24, log_level debug)",
    stats and stats.config and stats.config.n_predict == 24 and stats.config.log_level == "debug",
    vim.inspect(stats and stats.config))
  local names = {}
  for _, n in ipairs(sparkd.server_setting_names.startup) do names[n] = true end
  for _, n in ipairs(sparkd.server_setting_names.runtime) do names[n] = true end
  local unknown = {}
  for k in pairs(stats and stats.config or {}) do if not names[k] then table.insert(unknown, k) end end
  check("setup{}: every sparkd setting is an option of the plugin", #unknown == 0, table.concat(unknown, ", "))
  local echoed = vim.fn.execute("SparkdStats")
  ok = wait_for(function()
    echoed = vim.fn.execute("messages")
    return echoed:find("completions:", 1, true) ~= nil
  end, timeout)
  check(":SparkdStats prints the statistics", ok, echoed:sub(-300))

  -- ---------------------------------------------------------------- checkhealth
  vim.cmd("checkhealth sparkd")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  check(":checkhealth sparkd: model ready, no errors", report:find("model ready", 1, true) ~= nil
    and not report:find("ERROR", 1, true), report)
  vim.cmd("bwipeout!")

  -- ---------------------------------------------------------------- fallback: completion popup
  stop_client()
  sparkd.setup({ cmd = { bin, "lsp" }, model = model, draft = "none", no_cache = true, mode = "complete" })
  local pyfile = write("util.py", "def square(x):\n    return \n\nprint(square(3))\n")
  vim.cmd("edit " .. vim.fn.fnameescape(pyfile))
  ok = wait_for(function() local cl = sparkd.client(); return cl and cl.initialized end)
  if not check("fallback: sparkd started in complete mode", ok) then return end
  client = sparkd.client()
  caps = client.server_capabilities or {}
  check("fallback: without inline completion in the client's capabilities sparkd offers textDocument/completion",
    caps.completionProvider ~= nil and client.config.capabilities.textDocument.inlineCompletion == nil, vim.inspect(caps))
  check("fallback: 'omnifunc' is set to sparkd's", vim.bo.omnifunc == "v:lua.sparkd_omnifunc", vim.bo.omnifunc)
  vim.api.nvim_win_set_cursor(0, { 2, 10 })
  keys("a")
  wait_for(function() return mode() == "i" end, 2000)
  local inserted
  for i = 1, #TYPED do
    local before = table.concat(lines(), "\n")
    keys("<C-x><C-o>")
    wait_for(function()
      local last = require("sparkd.complete").last
      return last ~= nil and (table.concat(lines(), "\n") ~= before or vim.fn.pumvisible() == 1 or #vim.fn.complete_info().items == 0)
    end, timeout)
    sleep(50)
    local info = vim.fn.complete_info()
    if #info.items > 0 then
      inserted = info.items[1].word
      if vim.fn.pumvisible() == 1 then keys("<C-y>") end
      sleep(50)
      break
    end
    require("sparkd.complete").last = nil
    keys("<C-e>" .. TYPED[i])
    sleep(30)
  end
  local text = table.concat(lines(), "\n")
  check("fallback: <C-x><C-o> completes from sparkd and the item lands in the buffer",
    inserted ~= nil and text:find("    return " , 1, true) and lines()[2]:find(inserted, 1, true) ~= nil,
    vim.inspect({ inserted = inserted, line = lines()[2], last = require("sparkd.complete").last }))
  keys("<Esc>")
  wait_for(function() return mode() == "n" end, 2000)
  stop_client()
end

local function finish()
  say(("test_nvim: %d passed, %d failed"):format(passed, failed))
  vim.cmd((failed == 0 and passed > 0) and "qall!" or "cquit 1")
end
-- (No pcall around main: yielding across pcall needs LuaJIT; resume reports errors.)
co = coroutine.create(function() main(); finish() end)
local ok, err = coroutine.resume(co)
if not ok then say("FAIL exception: " .. tostring(err)); failed = failed + 1; finish() end
