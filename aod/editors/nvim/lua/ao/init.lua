-- ao: aod's fleet in Neovim. The session list (:Ao), actions on a session, a statusline
-- component, notifications when a session needs you, :checkhealth ao.
local rpc = require("ao.rpc")
local uv = vim.uv or vim.loop

local M = {}

M.config = {
  socket = nil, -- default: aoctl's discovery (AOD_SOCKET, XDG_RUNTIME_DIR, temp dir)
  notify = true,
}

M.state = {
  sessions = {}, -- in session.list's order
  by_id = {},
  loaded = false, -- a session.list has answered since the last (re)connection
  seen = {}, -- id -> "state|lane" already notified about
  started = false,
  refresh_timer = nil,
  error = nil,
}

local function nn(v)
  if v == vim.NIL then
    return nil
  end
  return v
end
M.nn = nn

function M.setup(opts)
  M.config = vim.tbl_extend("force", M.config, opts or {})
  if M.config.socket then
    rpc.set_path(M.config.socket)
  end
  return M
end

local function notify(msg, level)
  if M.config.notify then
    vim.notify(msg, level or vim.log.levels.INFO, { title = "ao" })
  end
end

-- What deserves a notification: a session that newly needs you because it asks, because CI
-- kept failing after the agent's retries (the ci-failed reaction escalated: lane needs_you), or
-- because its merge failed.
local function needs_you_message(s)
  local reason = nn(s.reason) or ""
  if reason ~= "" then
    reason = ": " .. reason
  end
  if s.lane ~= "needs_you" then
    return nil
  end
  if s.state == "needs_input" then
    return ("ao: %s needs input%s"):format(s.id, reason)
  elseif s.state == "ci_failed" then
    return ("ao: %s: CI still failing after the agent's retries%s"):format(s.id, reason)
  elseif s.state == "merge_failed" then
    return ("ao: %s: merge failed%s"):format(s.id, reason)
  end
  return nil
end

local function apply(sessions)
  local first = not M.state.loaded
  local by_id = {}
  for _, s in ipairs(sessions) do
    by_id[s.id] = s
    local key = tostring(s.state) .. "|" .. tostring(s.lane)
    if M.state.seen[s.id] ~= key then
      M.state.seen[s.id] = key
      local msg = needs_you_message(s)
      if msg and not first then
        notify(msg, vim.log.levels.WARN)
      end
    end
  end
  M.state.sessions = sessions
  M.state.by_id = by_id
  M.state.loaded = true
  M.state.error = nil
  require("ao.list").render_all()
  pcall(vim.cmd, "redrawstatus!")
end

M._apply = apply -- for tests

--- Re-read the sessions now; `cb(err)` after.
function M.refresh(cb)
  rpc.request("session.list", nil, function(err, result)
    if err then
      M.state.error = err.message
      require("ao.list").render_all()
      if cb then cb(err) end
      return
    end
    apply(result.sessions or {})
    if cb then cb(nil) end
  end)
end

local function refresh_soon()
  if M.state.refresh_timer then
    return
  end
  local t = uv.new_timer()
  M.state.refresh_timer = t
  t:start(50, 0, function()
    vim.schedule(function()
      t:close()
      M.state.refresh_timer = nil
      M.refresh()
    end)
  end)
end

local function on_notification(method, params)
  if method == "ao.disconnected" then
    M.state.loaded = false
    require("ao.list").render_all()
    pcall(vim.cmd, "redrawstatus!")
    return
  end
  if method == "events.dropped" then
    -- Fell behind: subscribe again and re-read state.
    rpc.request("events.subscribe", vim.empty_dict(), function() M.refresh() end)
    return
  end
  if method ~= "event" or type(params) ~= "table" then
    return
  end
  local kind = tostring(params.kind or "")
  if nn(params.session) ~= nil or kind:match("^session%.") or kind:match("^pr%.") or kind:match("^project%.")
    or kind == "human.asked" or kind == "group.picked" then
    refresh_soon()
  end
end

--- Connect (if not yet), subscribe to events and load the sessions. Idempotent.
function M.start(cb)
  if not M.state.started then
    M.state.started = true
    if M.config.socket then
      rpc.set_path(M.config.socket)
    end
    rpc.on_notification(on_notification)
    rpc.on_connect(function()
      rpc.request("events.subscribe", vim.empty_dict(), function(err)
        if err then
          M.state.error = "events.subscribe: " .. err.message
        end
        M.refresh()
      end)
    end)
  end
  rpc.connect(function(err)
    if err then
      M.state.error = err.message
      require("ao.list").render_all()
    end
    if cb then cb(err) end
  end)
end

--- Sessions that need a person (lane needs_you).
function M.needs_you()
  local n = 0
  for _, s in ipairs(M.state.sessions) do
    if s.lane == "needs_you" then
      n = n + 1
    end
  end
  return n
end

--- For a statusline: "ao: N need you" when some do, "" when none does, "ao: offline" when
--- the connection is down (an unknown count is never shown as 0). "" until :Ao (or
--- require("ao").start()) connected.
function M.statusline()
  if not M.state.started then
    return ""
  end
  if not rpc.state.connected or not M.state.loaded then
    return "ao: offline"
  end
  local n = M.needs_you()
  if n == 0 then
    return ""
  end
  return ("ao: %d need%s you"):format(n, n == 1 and "s" or "")
end

--- The attach argv, if it has one of the shapes aod's runtimes make (as aoctl checks:
--- `tmux -L NAME attach-session -t =NAME`, `tail -n N -f /ABS/LOG`, or ssh -t ... -- one of
--- those); else nil and why.
local NAME = "^[A-Za-z0-9._-]+$"
local function name_ok(s)
  return type(s) == "string" and #s >= 1 and #s <= 64 and s:match(NAME) ~= nil
end
local function basename(p)
  return (p:match("([^/]+)$")) or p
end
local function program_ok(path, program)
  if path == program then
    return true
  end
  if path:sub(1, 1) ~= "/" then
    return false, ("%q: %s must be named bare or by an absolute path"):format(path, program)
  end
  local uid = uv.getuid and uv.getuid()
  for _, where in ipairs({ path, path:match("^(.*)/[^/]*$") }) do
    if where == "" then where = "/" end
    local st = uv.fs_stat(where)
    if not st then
      return false, "cannot inspect " .. where
    end
    local mode = st.mode % 512
    if (st.uid ~= 0 and st.uid ~= uid) or math.floor(mode / 16) % 2 == 1 or math.floor(mode / 2) % 2 == 1 then
      return false, where .. " can be changed by another user"
    end
  end
  return true
end
local function shape_problem(argv, local_program)
  local program = basename(argv[1])
  local ok
  if program == "tmux" then
    ok = #argv == 6 and argv[2] == "-L" and name_ok(argv[3]) and argv[4] == "attach-session"
      and argv[5] == "-t" and argv[6]:sub(1, 1) == "=" and name_ok(argv[6]:sub(2))
  elseif program == "tail" then
    ok = #argv == 5 and argv[2] == "-n" and argv[3]:match("^%d+$") ~= nil and argv[4] == "-f"
      and argv[5]:sub(1, 1) == "/"
  else
    return ("%q is neither tmux nor tail"):format(argv[1])
  end
  if not ok then
    return "not the shape of " .. program .. "'s attach command"
  end
  if local_program then
    local pok, why = program_ok(argv[1], program)
    if not pok then return why end
  end
  return nil
end
local SAFE = "^[A-Za-z0-9._/=:@%%+,-]+$"
local SSH_OPTIONS = { ["BatchMode=yes"] = true, ["ServerAliveInterval=5"] = true, ["ServerAliveCountMax=3"] = true }
function M.attach_problem(argv)
  if type(argv) ~= "table" or #argv == 0 then
    return "an empty command"
  end
  for _, a in ipairs(argv) do
    if type(a) ~= "string" or a:find("\0", 1, true) then
      return "a command with a NUL byte or a non-string word"
    end
  end
  if basename(argv[1]) ~= "ssh" then
    return shape_problem(argv, true)
  end
  local pok, why = program_ok(argv[1], "ssh")
  if not pok then return why end
  local split
  for i, a in ipairs(argv) do
    if a == "--" then split = i; break end
  end
  if not split then return "an ssh attach command without `--`" end
  if argv[2] ~= "-t" then return "an ssh attach command must start with `ssh -t`" end
  local i = 3
  while i + 1 < split and (argv[i] == "-o" or argv[i] == "-p" or argv[i] == "-F") do
    local flag, value = argv[i], argv[i + 1]
    if flag == "-F" and not (value:sub(1, 1) == "/" and value:match(SAFE)) then return "bad ssh config path" end
    if flag == "-o" and not SSH_OPTIONS[value] then return "ssh option " .. value .. " is not one aod passes" end
    if flag == "-p" and not value:match("^%d+$") then return "bad ssh port" end
    i = i + 2
  end
  if i ~= split - 1 or argv[i]:sub(1, 1) == "-" or not argv[i]:match("^[A-Za-z0-9._@%%:+-]+$") then
    return "the ssh command does not end with one target"
  end
  local remote = {}
  for j = split + 1, #argv do
    if not argv[j]:match(SAFE) then return "the remote command has words a shell would change" end
    table.insert(remote, argv[j])
  end
  if #remote == 0 then return "an empty remote command" end
  return shape_problem(remote, false)
end

function M.open()
  require("ao.list").open()
end

return M
