-- ao: aod's fleet in Neovim (:Ao, require("ao").statusline(), :checkhealth ao). See :help ao.
if vim.g.loaded_ao then
  return
end
vim.g.loaded_ao = true

vim.api.nvim_create_user_command("Ao", function()
  require("ao").open()
end, { desc = "aod: the session list" })

vim.api.nvim_create_user_command("AoSend", function(opts)
  require("ao").start()
  require("ao.list").send_prompt(opts.args)
end, { nargs = 1, desc = "aod: write a message to a session" })
