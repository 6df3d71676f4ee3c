-- aod's socket: discovery, the ownership checks a Lua client can make, NDJSON JSON-RPC 2.0
-- (request ids, responses, notifications), events.subscribe, and reconnecting when the
-- connection is lost. Neovim 0.7+: `vim.uv` where present, else `vim.loop`.
--
-- Every libuv callback only queues work with vim.schedule: vim.fn and buffers are touched on
-- the main loop only (E5560 otherwise).
local uv = vim.uv or vim.loop

local M = {}

M.state = {
  path = nil, -- the socket in use
  pipe = nil,
  connected = false,
  connecting = false,
  buffer = "",
  next_id = 1,
  pending = {}, -- id -> callback(err, result)
  listeners = {}, -- callback(method, params) for notifications
  on_connect = {}, -- callbacks after each (re)connection
  wanted = false, -- keep a connection: reconnect when it is lost
  retry_timer = nil,
  retry_delay = 500,
  lost_told = false,
  last_error = nil,
}

local S_IWGRP, S_IWOTH = 16, 2 -- 0020, 0002

local function is_abs(p)
  return type(p) == "string" and p:sub(1, 1) == "/"
end

local function getuid()
  if uv.getuid then
    return uv.getuid()
  end
  return nil
end

--- The socket aoctl would use: $AOD_SOCKET, else $XDG_RUNTIME_DIR/ao/aod.sock, else
--- <temp dir>/ao-<uid>/aod.sock (the temp dir as Python's tempfile picks it: $TMPDIR, $TEMP,
--- $TMP, then /tmp).
function M.default_path(env)
  env = env or function(name) return os.getenv(name) end
  local explicit = env("AOD_SOCKET")
  if explicit and explicit ~= "" then
    if explicit:sub(1, 2) == "~/" then
      explicit = (os.getenv("HOME") or "") .. explicit:sub(2)
    end
    return explicit
  end
  local runtime = env("XDG_RUNTIME_DIR")
  if runtime and is_abs(runtime) then
    return runtime .. "/ao/aod.sock"
  end
  local tmp = "/tmp"
  for _, name in ipairs({ "TMPDIR", "TEMP", "TMP" }) do
    local dir = env(name)
    if dir and dir ~= "" then
      local st = uv.fs_stat(dir)
      if st and st.type == "directory" then
        tmp = dir:gsub("/+$", "")
        if tmp == "" then tmp = "/" end
        break
      end
    end
  end
  return tmp .. "/ao-" .. tostring(getuid() or "") .. "/aod.sock"
end

local function dirname(p)
  local d = p:match("^(.*)/[^/]*$")
  if d == nil or d == "" then
    return "/"
  end
  return d
end

--- Why the socket at `path` cannot be trusted, or nil. The checks aoctl makes before it
--- sends anything, as far as Lua can make them: the directory is owned by you and writable by
--- no one else, and the socket itself is yours. (aoctl also asks the kernel who listens,
--- SO_PEERCRED; libuv offers no way to, so the socket's owner stands in for it.)
function M.socket_problem(path)
  local uid = getuid()
  if uid == nil then
    return "this Neovim cannot tell your uid (no uv.getuid)"
  end
  local dir = dirname(path)
  local dst = uv.fs_stat(dir)
  if not dst then
    return nil -- nothing of ours there; connecting says aod is not running
  end
  if dst.uid ~= uid then
    return ("%s belongs to uid %d, not to you (uid %d)"):format(dir, dst.uid, uid)
  end
  local mode = dst.mode % 512
  if math.floor(mode / S_IWGRP) % 2 == 1 or math.floor(mode / S_IWOTH) % 2 == 1 then
    return ("%s is writable by others (mode %o)"):format(dir, mode)
  end
  local st = uv.fs_stat(path)
  if st and st.uid ~= uid then
    return ("%s belongs to uid %d, not to you (uid %d)"):format(path, st.uid, uid)
  end
  return nil
end

--- Mode and owner facts for :checkhealth.
function M.permissions(path)
  local dir = dirname(path)
  local dst, sst = uv.fs_stat(dir), uv.fs_stat(path)
  return {
    dir = dir,
    dir_mode = dst and (dst.mode % 512) or nil,
    dir_uid = dst and dst.uid or nil,
    sock_mode = sst and (sst.mode % 512) or nil,
    sock_uid = sst and sst.uid or nil,
    sock_type = sst and sst.type or nil,
    uid = getuid(),
  }
end

local function fail_pending(why)
  local pending = M.state.pending
  M.state.pending = {}
  for _, cb in pairs(pending) do
    vim.schedule(function()
      cb({ code = -1, message = why })
    end)
  end
end

local function dispatch(line)
  if line == "" or line == "\r" then
    return
  end
  local ok, msg = pcall(vim.json.decode, line)
  if not ok or type(msg) ~= "table" then
    return
  end
  if msg.method ~= nil then
    for _, listener in ipairs(M.state.listeners) do
      local lok, lerr = pcall(listener, msg.method, msg.params)
      if not lok then
        vim.notify("ao: " .. tostring(lerr), vim.log.levels.ERROR)
      end
    end
    return
  end
  local cb = M.state.pending[msg.id]
  if cb == nil then
    return
  end
  M.state.pending[msg.id] = nil
  if msg.error ~= nil and msg.error ~= vim.NIL then
    cb(msg.error, nil)
  else
    cb(nil, msg.result)
  end
end

local function on_lines()
  local st = M.state
  while true do
    local i = st.buffer:find("\n", 1, true)
    if not i then
      break
    end
    local line = st.buffer:sub(1, i - 1)
    st.buffer = st.buffer:sub(i + 1)
    dispatch(line)
  end
end

local schedule_retry

local function lost(why)
  local st = M.state
  if st.pipe then
    local pipe = st.pipe
    st.pipe = nil
    if not pipe:is_closing() then
      pipe:close()
    end
  end
  local was = st.connected
  st.connected = false
  st.connecting = false
  st.buffer = ""
  st.last_error = why
  fail_pending(why)
  if was and not st.lost_told then
    st.lost_told = true
    vim.notify(("ao: lost the connection to aod at %s (%s); reconnecting"):format(st.path, why), vim.log.levels.WARN)
  end
  for _, listener in ipairs(st.listeners) do
    pcall(listener, "ao.disconnected", { reason = why })
  end
  if st.wanted then
    schedule_retry()
  end
end

schedule_retry = function()
  local st = M.state
  if st.retry_timer then
    return
  end
  st.retry_timer = uv.new_timer()
  st.retry_timer:start(st.retry_delay, 0, function()
    vim.schedule(function()
      if st.retry_timer then
        st.retry_timer:close()
        st.retry_timer = nil
      end
      st.retry_delay = math.min(st.retry_delay * 2, 5000)
      if st.wanted and not st.connected and not st.connecting then
        M.connect()
      end
    end)
  end)
end

--- Connect (once; later calls while connected do nothing). `cb(err)` after the attempt.
function M.connect(cb)
  local st = M.state
  cb = cb or function() end
  if st.connected then
    return cb(nil)
  end
  st.wanted = true
  if st.connecting then
    table.insert(st.on_connect, { once = cb })
    return
  end
  st.path = st.path or M.default_path()
  local problem = M.socket_problem(st.path)
  if problem then
    st.last_error = "refusing to talk to " .. st.path .. ": " .. problem
    st.wanted = false
    vim.notify("ao: " .. st.last_error .. ". It may not be your aod; point AOD_SOCKET (or require('ao').setup{socket=...}) at a socket in a directory only you can write.", vim.log.levels.ERROR)
    return cb({ code = -1, message = st.last_error })
  end
  st.connecting = true
  local pipe = uv.new_pipe(false)
  st.pipe = pipe
  pipe:connect(st.path, function(err)
    vim.schedule(function()
      if st.pipe ~= pipe then
        return
      end
      if err then
        st.connecting = false
        st.pipe = nil
        if not pipe:is_closing() then pipe:close() end
        st.last_error = ("aod is not running at %s (%s)"):format(st.path, err)
        if st.wanted then schedule_retry() end
        local waiting = {}
        for i = #st.on_connect, 1, -1 do
          if st.on_connect[i].once then
            table.insert(waiting, table.remove(st.on_connect, i).once)
          end
        end
        for _, w in ipairs(waiting) do w({ code = -1, message = st.last_error }) end
        return cb({ code = -1, message = st.last_error })
      end
      -- Re-check after connecting: the socket must still be ours.
      local again = M.socket_problem(st.path)
      if again then
        st.wanted = false
        local why = "refusing to talk to " .. st.path .. ": " .. again
        vim.notify("ao: " .. why, vim.log.levels.ERROR)
        lost(why)
        return cb({ code = -1, message = why })
      end
      st.connecting = false
      st.connected = true
      st.retry_delay = 500
      local told = st.lost_told
      st.lost_told = false
      st.last_error = nil
      pipe:read_start(function(rerr, chunk)
        vim.schedule(function()
          if st.pipe ~= pipe then return end
          if rerr then
            return lost(tostring(rerr))
          end
          if not chunk then
            return lost("aod closed the connection")
          end
          st.buffer = st.buffer .. chunk
          on_lines()
        end)
      end)
      if told then
        vim.notify("ao: reconnected to aod at " .. st.path, vim.log.levels.INFO)
      end
      local hooks = {}
      for i = #st.on_connect, 1, -1 do
        local h = st.on_connect[i]
        if h.once then
          table.remove(st.on_connect, i)
          table.insert(hooks, h.once)
        end
      end
      for _, h in ipairs(st.on_connect) do
        if h.always then pcall(h.always) end
      end
      for _, h in ipairs(hooks) do pcall(h, nil) end
      cb(nil)
    end)
  end)
end

--- Run `fn` after every (re)connection: subscribe again, re-read state.
function M.on_connect(fn)
  table.insert(M.state.on_connect, { always = fn })
end

function M.on_notification(fn)
  table.insert(M.state.listeners, fn)
end

local function send(method, params, cb)
  local st = M.state
  local id = st.next_id
  st.next_id = id + 1
  local msg = { jsonrpc = "2.0", id = id, method = method }
  if params ~= nil then
    msg.params = params
  end
  local ok, text = pcall(vim.json.encode, msg)
  if not ok then
    return cb({ code = -1, message = "cannot encode the request: " .. tostring(text) })
  end
  st.pending[id] = cb
  st.pipe:write(text .. "\n", function(err)
    if err then
      vim.schedule(function()
        if st.pending[id] then
          st.pending[id] = nil
          cb({ code = -1, message = "cannot send to aod: " .. tostring(err) })
        end
      end)
    end
  end)
end

--- Call `method`; `cb(err, result)` on the main loop. `err` is the JSON-RPC error object
--- ({code, message, data}) or {code=-1, message=...} for a connection problem.
function M.request(method, params, cb)
  cb = cb or function() end
  if M.state.connected then
    return send(method, params, cb)
  end
  M.connect(function(err)
    if err then
      return cb(err)
    end
    send(method, params, cb)
  end)
end

--- The same, waiting for the answer (up to `timeout_ms`): returns err, result.
function M.request_sync(method, params, timeout_ms)
  local done, rerr, rres = false, nil, nil
  M.request(method, params, function(err, result)
    done, rerr, rres = true, err, result
  end)
  local ok = vim.wait(timeout_ms or 10000, function() return done end, 10)
  if not ok then
    return { code = -1, message = "aod did not answer " .. method .. " in time" }, nil
  end
  return rerr, rres
end

--- Stop: close the connection and do not reconnect.
function M.close()
  local st = M.state
  st.wanted = false
  if st.retry_timer then
    st.retry_timer:close()
    st.retry_timer = nil
  end
  if st.pipe then
    local pipe = st.pipe
    st.pipe = nil
    if not pipe:is_closing() then pipe:close() end
  end
  st.connected = false
  st.connecting = false
  fail_pending("closed")
end

function M.set_path(path)
  if path ~= M.state.path then
    M.close()
    M.state.path = path
  end
end

return M
