-- :checkhealth ao — the socket, its permissions, and whether aod answers (and its version).
local M = {}

local h = vim.health or require("health")
local start = h.start or h.report_start
local ok = h.ok or h.report_ok
local warn = h.warn or h.report_warn
local err = h.error or h.report_error
local info = h.info or h.report_info

function M.check()
  local rpc = require("ao.rpc")
  start("ao: aod's socket")
  if vim.fn.has("nvim-0.7") == 0 then
    err("Neovim 0.7 or newer is needed")
  end
  local path = rpc.state.path or require("ao").config.socket or rpc.default_path()
  info("socket: " .. path .. (os.getenv("AOD_SOCKET") and " (from AOD_SOCKET)" or ""))
  local p = rpc.permissions(path)
  if p.dir_mode == nil then
    err(("%s does not exist: aod is not running. Start it with `aoctl daemon start`"):format(p.dir))
    return
  end
  if p.dir_uid ~= p.uid then
    err(("%s belongs to uid %d, not to you (uid %d): not talking to it"):format(p.dir, p.dir_uid, p.uid))
  elseif p.dir_mode % 64 ~= 0 then
    local problem = rpc.socket_problem(path)
    if problem then
      err(problem .. ": not talking to it")
    else
      warn(("%s has mode %o (aod makes it 0700)"):format(p.dir, p.dir_mode))
    end
  else
    ok(("%s is yours, mode %o"):format(p.dir, p.dir_mode))
  end
  if p.sock_mode == nil then
    err(path .. " does not exist: aod is not running. Start it with `aoctl daemon start`")
    return
  end
  if p.sock_uid ~= p.uid then
    err(("%s belongs to uid %d, not to you: not talking to it"):format(path, p.sock_uid))
    return
  end
  ok(("%s is yours (%s, mode %o)"):format(path, p.sock_type, p.sock_mode))
  if rpc.socket_problem(path) then
    return
  end
  start("ao: aod")
  local was_connected = rpc.state.connected
  local e, status = rpc.request_sync("daemon.status", nil, 5000)
  if not was_connected and not require("ao").state.started then
    -- A connection of the check's own: aod would close it as idle later, and nothing should
    -- reconnect for it.
    rpc.close()
  end
  if e then
    err("aod does not answer: " .. tostring(e.message) .. ". Start it with `aoctl daemon start`, then :checkhealth ao again")
    return
  end
  ok(("aod %s answers (pid %s, protocol %s, %s sessions)"):format(status.version, tostring(status.pid), tostring(status.protocol), tostring(status.sessions)))
  if require("ao").state.started and rpc.state.connected then
    ok("the session list is connected and subscribed to events")
  end
end

return M
