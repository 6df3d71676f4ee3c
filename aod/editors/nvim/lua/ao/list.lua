-- The session list buffer (:Ao) and the actions on the session under the cursor.
local M = {}

local api = vim.api
local HEADER_LINES = 2 -- the status line and the column names

M.bufs = {} -- bufnr -> { rows = {lnum -> session id} }

local function ao() return require("ao") end
local function rpc() return require("ao.rpc") end
local function nn(v) if v == vim.NIL then return nil end return v end

local function utc_offset()
  local now = os.time()
  return os.difftime(now, os.time(os.date("!*t", now)))
end

--- "2026-12-08T00:06:07.123Z" -> seconds since the epoch (nil if it does not parse).
function M.parse_time(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s = text:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  local t = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) })
  return t + utc_offset()
end

function M.age(text, now)
  local t = M.parse_time(text)
  if not t then return "?" end
  local secs = math.max(0, (now or os.time()) - t)
  if secs < 60 then return ("%ds"):format(secs) end
  if secs < 3600 then return ("%dm"):format(math.floor(secs / 60)) end
  if secs < 86400 then return ("%dh"):format(math.floor(secs / 3600)) end
  return ("%dd"):format(math.floor(secs / 86400))
end

local function pr_text(s)
  local number = nn(s.pr_number)
  if not number then return "-" end
  local parts = { "#" .. number }
  local st = nn(s.pr_state)
  if st and st ~= "open" then table.insert(parts, st) end
  local checks = nn(s.pr_checks)
  if checks and checks ~= "none" then table.insert(parts, "ci:" .. checks) end
  local review = nn(s.pr_review)
  if review and review ~= "none" then table.insert(parts, review) end
  return table.concat(parts, " ")
end

local function width(text)
  return vim.fn.strdisplaywidth(text)
end

local function pad(text, w)
  return text .. string.rep(" ", math.max(0, w - width(text)))
end

--- The lines of the list and which session each shows.
function M.lines()
  local state = ao().state
  local conn = rpc().state
  local sessions = state.sessions
  local has_host = false
  for _, s in ipairs(sessions) do
    if (nn(s.host) or "") ~= "" then has_host = true end
  end
  local head
  if not conn.connected then
    head = ("aod: not connected (%s); reconnecting"):format(state.error or conn.last_error or (conn.path or "?"))
  elseif state.error and not state.loaded then
    head = "aod: " .. state.error
  else
    local n = ao().needs_you()
    head = ("aod: %d session%s, %d need%s you · <CR> open  s send  a attach  k kill  r PR  h history  R refresh  q close"):format(
      #sessions, #sessions == 1 and "" or "s", n, n == 1 and "s" or "")
  end
  local cols = { "ID" }
  if has_host then table.insert(cols, "HOST") end
  for _, c in ipairs({ "STATE", "ACTIVITY", "PR", "AGE", "TITLE" }) do table.insert(cols, c) end
  local rows = {}
  local now = os.time()
  for _, s in ipairs(sessions) do
    local row = { s.id }
    if has_host then table.insert(row, (nn(s.host) or "") ~= "" and s.host or "-") end
    local title = nn(s.title) or nn(s.task) or nn(s.issue) or ""
    title = tostring(title):gsub("[\r\n].*$", "")
    if #title > 60 then title = title:sub(1, 57) .. "..." end
    for _, v in ipairs({ tostring(s.state), tostring(s.activity), pr_text(s), M.age(s.created_at, now), title }) do
      table.insert(row, v)
    end
    table.insert(rows, { cells = row, id = s.id })
  end
  local widths = {}
  for i, c in ipairs(cols) do widths[i] = width(c) end
  for _, r in ipairs(rows) do
    for i, v in ipairs(r.cells) do widths[i] = math.max(widths[i], width(v)) end
  end
  local function fmt(cells)
    local out = {}
    for i, v in ipairs(cells) do
      out[i] = (i < #cells) and pad(v, widths[i]) or v
    end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  local lines, ids = { head, fmt(cols) }, {}
  for _, r in ipairs(rows) do
    table.insert(lines, fmt(r.cells))
    ids[#lines] = r.id
  end
  if #rows == 0 and conn.connected then
    table.insert(lines, "(no sessions: aoctl spawn starts one)")
  end
  return lines, ids
end

function M.render(buf)
  if not api.nvim_buf_is_valid(buf) then
    M.bufs[buf] = nil
    return
  end
  local lines, ids = M.lines()
  api.nvim_buf_set_option(buf, "modifiable", true)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  api.nvim_buf_set_option(buf, "modifiable", false)
  api.nvim_buf_set_option(buf, "modified", false)
  M.bufs[buf].rows = ids
end

function M.render_all()
  for buf, _ in pairs(M.bufs) do
    M.render(buf)
  end
end

--- The session id on the cursor's line (nil with a message when there is none).
function M.current()
  local buf = api.nvim_get_current_buf()
  local info = M.bufs[buf]
  local lnum = api.nvim_win_get_cursor(0)[1]
  local id = info and info.rows and info.rows[lnum]
  if not id then
    vim.notify("ao: no session on this line", vim.log.levels.WARN)
    return nil
  end
  return ao().state.by_id[id] or { id = id }
end

local function failed(what, err)
  vim.notify(("ao: %s failed: %s"):format(what, err.message or vim.inspect(err)), vim.log.levels.ERROR)
end

-- <CR>: the worktree in a new tab.
function M.open_worktree()
  local s = M.current()
  if not s then return end
  local ws = nn(s.workspace) or ""
  if ws == "" or (nn(s.host) or "") ~= "" then
    return vim.notify(("ao: %s has no worktree on this machine"):format(s.id), vim.log.levels.WARN)
  end
  if vim.fn.isdirectory(ws) == 0 then
    return vim.notify(("ao: %s's worktree %s is gone (cleaned up?)"):format(s.id, ws), vim.log.levels.WARN)
  end
  vim.cmd("tabnew")
  vim.cmd("tcd " .. vim.fn.fnameescape(ws))
end

-- s: a buffer for a multi-line message; :w or <C-s> sends it with session.send.
function M.send_prompt(id)
  if not id then
    local s = M.current()
    if not s then return end
    id = s.id
  end
  vim.cmd("botright new")
  local buf = api.nvim_get_current_buf()
  api.nvim_buf_set_name(buf, ("ao://send/%s/%d"):format(id, buf))
  api.nvim_buf_set_option(buf, "buftype", "acwrite")
  api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  api.nvim_buf_set_option(buf, "swapfile", false)
  api.nvim_buf_set_option(buf, "filetype", "markdown")
  vim.b[buf].ao_send_to = id
  local function submit()
    local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
    local text = table.concat(lines, "\n")
    if text:match("^%s*$") then
      return vim.notify("ao: nothing to send (the buffer is empty)", vim.log.levels.WARN)
    end
    api.nvim_buf_set_option(buf, "modified", false)
    rpc().request("session.send", { id = id, message = text }, function(err, result)
      if err then
        api.nvim_buf_set_option(buf, "modified", true)
        return failed("session.send to " .. id, err)
      end
      vim.notify(("ao: sent to %s (#%s, %s queued)"):format(id, tostring(result.seq), tostring(result.queued)), vim.log.levels.INFO)
      if api.nvim_buf_is_valid(buf) then
        api.nvim_buf_delete(buf, { force = true })
      end
    end)
  end
  api.nvim_create_autocmd("BufWriteCmd", { buffer = buf, callback = submit })
  vim.keymap.set({ "n", "i" }, "<C-s>", function()
    vim.cmd("stopinsert")
    submit()
  end, { buffer = buf, desc = "ao: send this message" })
  vim.keymap.set("n", "q", "<cmd>bwipeout!<cr>", { buffer = buf, desc = "ao: discard" })
  vim.notify(("ao: message to %s: write it, then :w or <C-s> sends it (q discards)"):format(id))
end

-- a: attach in a terminal split, with the argv session.attach answers (never a shell string).
function M.attach()
  local s = M.current()
  if not s then return end
  rpc().request("session.attach", { id = s.id }, function(err, result)
    if err then return failed("session.attach", err) end
    local argv = result.argv
    local problem = ao().attach_problem(argv)
    if problem then
      return vim.notify("ao: not running the attach command aod sent: " .. problem, vim.log.levels.ERROR)
    end
    vim.cmd("botright split")
    vim.cmd("enew")
    vim.fn.termopen(argv)
    vim.cmd("startinsert")
  end)
end

-- k: kill, after confirmation.
function M.kill()
  local s = M.current()
  if not s then return end
  local answer = vim.fn.input(("Kill %s (%s)? The worktree stays. [y/N] "):format(s.id, tostring(s.state)))
  if answer:lower() ~= "y" and answer:lower() ~= "yes" then
    return vim.notify("ao: not killed", vim.log.levels.INFO)
  end
  rpc().request("session.kill", { id = s.id }, function(err, result)
    if err then return failed("session.kill", err) end
    vim.notify(("ao: killed %s (%s)"):format(s.id, tostring(result.state)), vim.log.levels.INFO)
    ao().refresh()
  end)
end

local function float(title, lines)
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  api.nvim_buf_set_option(buf, "modifiable", false)
  api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  local w = 20
  for _, l in ipairs(lines) do w = math.max(w, vim.fn.strdisplaywidth(l)) end
  w = math.min(w + 2, math.max(20, vim.o.columns - 4))
  local h = math.min(#lines, math.max(3, vim.o.lines - 6))
  local win = api.nvim_open_win(buf, true, {
    relative = "editor", style = "minimal", border = "rounded",
    width = w, height = h,
    row = math.max(0, math.floor((vim.o.lines - h) / 2) - 1), col = math.max(0, math.floor((vim.o.columns - w) / 2)),
  })
  api.nvim_buf_set_name(buf, ("ao://%s/%d"):format(title, buf))
  vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = buf })
  vim.keymap.set("n", "<Esc>", "<cmd>close<cr>", { buffer = buf })
  return buf, win
end
M.float = float

local function split_lines(text)
  local out = {}
  for line in (tostring(text) .. "\n"):gmatch("(.-)\r?\n") do table.insert(out, line) end
  return out
end

--- The readiness view of pr.show's result, as lines.
function M.readiness_lines(result)
  local pr = nn(result.pr)
  if not pr then
    return { ("%s has no PR yet"):format(result.session) }
  end
  local lines = {
    ("PR #%s of %s [%s%s] %s"):format(pr.number, result.session, pr.state, pr.draft and ", draft" or "", pr.url or ""),
    ("checks %s   review %s   mergeable %s"):format(pr.checks, pr.review, pr.mergeable),
  }
  for _, c in ipairs(nn(pr.failing) or {}) do
    table.insert(lines, "")
    table.insert(lines, ("failing: %s (%s)%s"):format(c.name, c.conclusion, (nn(c.url) or "") ~= "" and (" " .. c.url) or ""))
    local excerpt = split_lines(nn(c.log_excerpt) or nn(c.summary) or "")
    local first = math.max(1, #excerpt - 19)
    for i = first, #excerpt do
      table.insert(lines, "    " .. excerpt[i])
    end
  end
  local comments = nn(pr.review_comments) or {}
  if #comments > 0 then
    table.insert(lines, "")
    table.insert(lines, ("unresolved review comments (%d):"):format(#comments))
    for _, c in ipairs(comments) do
      local where = ""
      if nn(c.path) then where = (" on %s%s"):format(c.path, nn(c.line) and (":" .. c.line) or "") end
      table.insert(lines, ("  %s%s"):format(c.author, where))
      for _, l in ipairs(split_lines(c.body)) do table.insert(lines, "    " .. l) end
    end
  end
  table.insert(lines, "")
  local blockers = nn(pr.blockers) or {}
  if #blockers == 0 then
    table.insert(lines, "ready to merge")
  else
    table.insert(lines, "not ready to merge: " .. table.concat(blockers, "; "))
  end
  return lines
end

-- r: the PR's readiness in a float.
function M.readiness()
  local s = M.current()
  if not s then return end
  rpc().request("pr.show", { id = s.id }, function(err, result)
    if err then return failed("pr.show", err) end
    float("pr/" .. s.id, M.readiness_lines(result))
  end)
end

local function entry_line(e)
  local rest = {}
  local keys = {}
  for k, _ in pairs(e) do
    if k ~= "time" and k ~= "kind" then table.insert(keys, k) end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = e[k]
    if v ~= vim.NIL then
      if type(v) == "table" then v = vim.json.encode(v) end
      v = tostring(v):gsub("\n", "\\n")
      if #v > 120 then v = v:sub(1, 117) .. "..." end
      table.insert(rest, k .. "=" .. v)
    end
  end
  return ("%s  %s  %s"):format(tostring(e.time or ""), tostring(e.kind or ""), table.concat(rest, " "))
end

-- h: the session's history (its journal) in a float.
function M.history()
  local s = M.current()
  if not s then return end
  rpc().request("session.history", { id = s.id, lines = 200 }, function(err, result)
    if err then return failed("session.history", err) end
    local lines = { ("history of %s%s"):format(s.id, result.archived and " (archived)" or "") }
    for _, e in ipairs(result.entries or {}) do table.insert(lines, entry_line(e)) end
    if #lines == 1 then table.insert(lines, "(no entries)") end
    float("history/" .. s.id, lines)
  end)
end

function M.open()
  local existing
  for buf, _ in pairs(M.bufs) do
    if api.nvim_buf_is_valid(buf) then existing = buf end
  end
  if existing then
    api.nvim_set_current_buf(existing)
  else
    local buf = api.nvim_create_buf(true, true)
    api.nvim_buf_set_name(buf, "ao://sessions")
    api.nvim_buf_set_option(buf, "buftype", "nofile")
    api.nvim_buf_set_option(buf, "swapfile", false)
    api.nvim_buf_set_option(buf, "filetype", "ao")
    M.bufs[buf] = { rows = {} }
    api.nvim_set_current_buf(buf)
    local map = function(lhs, fn, desc)
      vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, desc = "ao: " .. desc })
    end
    map("<CR>", M.open_worktree, "open the worktree in a new tab")
    map("s", function() M.send_prompt() end, "send a message")
    map("a", M.attach, "attach in a terminal split")
    map("k", M.kill, "kill (asks first)")
    map("r", M.readiness, "PR readiness")
    map("h", M.history, "history")
    map("R", function() ao().refresh() end, "refresh")
    map("q", "<cmd>bwipeout<cr>", "close")
    api.nvim_create_autocmd("BufWipeout", { buffer = buf, callback = function() M.bufs[buf] = nil end })
    M.render(buf)
  end
  ao().start(function(err)
    if err and not tostring(err.message):match("^refusing") then -- a refusal was told already
      return vim.notify("ao: " .. err.message .. ". Start it with `aoctl daemon start`; the list connects when it answers.", vim.log.levels.WARN)
    end
    if not err then ao().refresh() end
  end)
  M.tick()
end

-- The AGE column ages without events: redraw the lists now and then while there is one.
local ticker
function M.tick()
  if ticker then return end
  local uv = vim.uv or vim.loop
  ticker = uv.new_timer()
  ticker:start(15000, 15000, function()
    vim.schedule(function()
      if next(M.bufs) == nil then
        if ticker then ticker:close(); ticker = nil end
        return
      end
      M.render_all()
    end)
  end)
end

return M
