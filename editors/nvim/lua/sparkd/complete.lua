-- sparkd.complete — the completion-popup fallback: textDocument/completion
-- through 'omnifunc' (<C-x><C-o>), for `mode = "complete"` or a server that
-- offers no inline completion. sparkd's items insert at the cursor (an empty
-- textEdit range); a multi-line item shows its first line in the popup and the
-- rest is inserted when the item is chosen (CompleteDone).
local compat = require("sparkd.compat")

local M = {}

local function encoding(client)
  return client.offset_encoding or compat.server_capabilities(client).positionEncoding or "utf-16"
end

-- 'omnifunc' protocol: findstart == 1 -> the start column; else the matches.
function M.omnifunc(findstart, base)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = require("sparkd").client(bufnr)
  local cur = vim.api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local line = vim.api.nvim_get_current_line()
  if findstart == 1 then
    -- sparkd's items insert at the cursor (empty textEdit ranges), so the
    -- completion starts there: what was typed so far stays.
    return client and col or -3
  end
  if not client then return {} end
  local enc = encoding(client)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = compat.units(line:sub(1, col), enc) },
    context = { triggerKind = 1 },
  }
  local res, err = compat.request_sync(client, "textDocument/completion", params, 4000, bufnr)
  M.last = { err = err or (res and res.err), result = res and res.result }
  if not res or res.err or not res.result then return {} end
  local items = res.result.items or (compat.is_list(res.result) and res.result) or {}
  local out = {}
  for _, it in ipairs(items) do
    local text = (it.textEdit and (it.textEdit.newText)) or it.insertText or it.label
    if type(text) == "string" and text ~= "" then
      local first, rest = text:match("^([^\n]*)\n(.*)$")
      if not first then first, rest = text, nil end
      table.insert(out, {
        word = first,
        abbr = (it.label ~= "" and it.label or first),
        menu = "[sparkd]",
        info = text,
        icase = 1, dup = 1, empty = 1,
        user_data = rest and { sparkd_rest = rest } or "",
      })
    end
  end
  return out
end

-- For 'omnifunc' values ("v:lua.sparkd_omnifunc" works on every version).
_G.sparkd_omnifunc = function(findstart, base) return M.omnifunc(findstart, base) end

-- After an item with more lines was chosen: insert the rest.
local function insert_rest(item)
  if type(item) ~= "table" or type(item.user_data) ~= "table" then return end
  local rest = item.user_data.sparkd_rest
  if type(rest) ~= "string" or rest == "" then return end
  local cur = vim.api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local lines = vim.split("\n" .. rest, "\n", { plain = true })
  vim.api.nvim_buf_set_text(0, row, col, row, col, lines)
  vim.api.nvim_win_set_cursor(0, { row + #lines, #lines[#lines] })
end

function M.setup(group)
  vim.api.nvim_create_autocmd("CompleteDone", { group = group, callback = function()
    local item = vim.v.completed_item
    -- Text may not change inside CompleteDone itself: right after it.
    if type(item) == "table" and type(item.user_data) == "table" and item.user_data.sparkd_rest then
      vim.schedule(function() insert_rest(item) end)
    end
  end })
end

return M
