-- :checkhealth sparkd
local compat = require("sparkd.compat")

local M = {}

function M.check()
  local h = compat.health()
  local sparkd = require("sparkd")
  h.start("sparkd: Neovim")
  local v = vim.version()
  local ver = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if compat.has("0.7") then h.ok("Neovim " .. ver) else h.error("Neovim " .. ver .. ": sparkd needs 0.7 or later") end
  if compat.has("0.10") then
    h.ok("ghost text drawn inline (virt_text_pos=inline)")
  else
    h.info("ghost text in the middle of a line is drawn at the end of the line (inline virtual text needs 0.10)")
  end
  if not sparkd._setup_done then h.warn("require('sparkd').setup{} has not been called") end

  h.start("sparkd: server")
  local cmd = sparkd.server_cmd()
  local bin = cmd[1]
  if vim.fn.executable(bin) ~= 1 then
    h.error(("cannot run %q"):format(bin), { "Build it (./setup.sh in the sparkd checkout) or set cmd in setup{}" })
    return
  end
  local out = vim.fn.system({ bin, "--version" })
  if vim.v.shell_error == 0 then h.ok(("%s (%s)"):format(vim.trim(out), bin))
  else h.error(("%s --version failed: %s"):format(bin, vim.trim(out))) end
  h.info("command: " .. table.concat(cmd, " "))
  for _, name in ipairs({ "model", "draft" }) do
    local p = sparkd.config[name]
    if p and p ~= "none" then
      if vim.fn.filereadable(vim.fn.expand(p)) == 1 then h.ok(name .. ": " .. p)
      else h.error(name .. ": cannot read " .. p) end
    end
  end

  h.start("sparkd: this buffer")
  local client = sparkd.client(vim.api.nvim_get_current_buf())
  if not client then
    h.warn("sparkd is not attached to this buffer", { "Open a file of a served filetype, or check `filetypes` in setup{}" })
    return
  end
  local caps = compat.server_capabilities(client)
  h.ok(("client %d attached, position encoding %s"):format(client.id, client.offset_encoding or "utf-16"))
  if caps.inlineCompletionProvider and sparkd.wants_inline() then h.ok("inline completion (ghost text)")
  elseif caps.completionProvider then h.ok("completion popup via 'omnifunc' (<C-x><C-o>)")
  else h.warn("the server offers no completion: is an engine configured (model)?") end
  local res = compat.request_sync(client, "sparkd/stats", vim.empty_dict(), 2000, vim.api.nvim_get_current_buf())
  if not res or res.err then
    h.warn("sparkd/stats did not answer")
  elseif res.result.model == "ready" then
    h.ok("model ready")
  else
    h.error("model: " .. tostring(res.result.model), { "Set model = '/path/to/model.gguf' in setup{}" })
  end
end

return M
