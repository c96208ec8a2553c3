-- sparkd commands; nothing starts until require("sparkd").setup{} is called.
if vim.g.loaded_sparkd then return end
vim.g.loaded_sparkd = true

local function cmd(name, fn, opts)
  vim.api.nvim_create_user_command(name, fn, vim.tbl_extend("force", { force = true }, opts or {}))
end

cmd("SparkdStats", function() require("sparkd").stats() end, { desc = "sparkd: completion statistics (sparkd/stats)" })
cmd("SparkdEnable", function() require("sparkd").enable() end, { desc = "sparkd: enable suggestions" })
cmd("SparkdDisable", function() require("sparkd").disable() end, { desc = "sparkd: disable suggestions" })
cmd("SparkdToggle", function() require("sparkd").toggle() end, { desc = "sparkd: toggle suggestions" })
cmd("SparkdRestart", function() require("sparkd").restart() end, { desc = "sparkd: restart the server" })
cmd("SparkdLog", function() vim.cmd("edit " .. vim.fn.fnameescape(vim.lsp.get_log_path())) end,
  { desc = "sparkd: open Neovim's LSP log (sparkd's stderr is logged there)" })
