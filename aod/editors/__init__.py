"""Editor integrations shipped as package data: `nvim/` (a Neovim plugin, Lua) and `emacs/`
(an Emacs package). No Python here: `aoctl editor install` copies the files
(importlib.resources), and plugin managers can point at `aoctl editor install nvim --print-path`."""
