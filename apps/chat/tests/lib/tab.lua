-- Test helper for apps/chat's `siolua test` files: a tab of the /chat
-- namespace driven with the Lua client (sio.client), recording everything
-- it hears, in order, the way the node helper tests/integration/lib/chat.mjs
-- does:
--   tab.lines     serverMessage texts
--   tab.messages  `chat message` payloads
--   tab.errors    `chat error` payloads
--   tab.states    `chat state` payloads
--   tab.prompts   how many `login` events came
-- Not a test file itself (siolua test loads tests/*.lua only).
local sio = require "siolua"

local M = {}

-- Polls cond() until it is true-ish or ms pass; returns its last value.
function M.wait_for(cond, ms)
  local deadline = sio.monotonic() + (ms or 2000)
  local v = cond()
  while not v and sio.monotonic() < deadline do
    sio.sleep(5)
    v = cond()
  end
  return v
end
local wait_for = M.wait_for

-- A name no other test uses: tests share one server, and a tab of an
-- earlier test may not be gone yet when the next test starts.
local seq = 0
function M.name(prefix)
  seq = seq + 1
  return ("%s%d"):format(prefix or "u", seq)
end

local Tab = {}
Tab.__index = Tab

-- Connects a tab to /chat (opts as sio.client's) and waits for the server's
-- `login` prompt.
function M.tab(opts)
  local c, err = sio.client(sio.test_url .. "/chat", opts)
  if not c then error("cannot connect to /chat: " .. tostring(err), 2) end
  -- The prompt may have come with the CONNECT answer, before a listener
  -- could see it: take it from the client's queue.
  local got = table.pack(c:receive("login", 2000))
  if got.n ~= 0 then error("no login prompt after connecting: " .. tostring(got[2]), 2) end
  local me = setmetatable({ c = c, lines = {}, messages = {}, errors = {}, states = {}, prompts = 1 }, Tab)
  c:on("serverMessage", function(text) me.lines[#me.lines + 1] = text end)
  c:on("chat message", function(m) me.messages[#me.messages + 1] = m end)
  c:on("chat error", function(e) me.errors[#me.errors + 1] = e end)
  c:on("chat state", function(s) me.states[#me.states + 1] = s end)
  c:on("login", function() me.prompts = me.prompts + 1 end)
  return me
end

function Tab:state() return self.states[#self.states] end

-- The socket of this tab, on the server (the tests share the app's state).
function Tab:server_socket() return sio.server:of("/chat").sockets[self.c.id] end

-- Sends `login` and waits for its answer: returns the `chat state`, or
-- nil and the `chat error` when refused.
function Tab:login(name, key)
  local ns, ne = #self.states, #self.errors
  if key == nil then self.c:emit("login", name) else self.c:emit("login", name, key) end
  if not wait_for(function() return #self.states > ns or #self.errors > ne end) then
    error("no answer to login " .. tostring(name), 2)
  end
  if #self.errors > ne then return nil, self.errors[#self.errors] end
  return self.states[#self.states]
end

-- Sends a line as typed.
function Tab:say(text) self.c:emit("clientMessage", text) end

-- Waits for a serverMessage equal to `text` (or matching the Lua pattern
-- `text` when `pattern` is true) at an index > `after`; returns it and its
-- index, or nil.
function Tab:line(text, after, pattern)
  after = after or 0
  local found, at
  wait_for(function()
    for i = after + 1, #self.lines do
      local l = self.lines[i]
      if (pattern and l:find(text)) or l == text then found, at = l, i return true end
    end
  end)
  return found, at
end

-- Counts the lines equal to text.
function Tab:count(text)
  local n = 0
  for _, l in ipairs(self.lines) do if l == text then n = n + 1 end end
  return n
end

-- The last `chat error` code after waiting for a new one past index `after`.
function Tab:error_after(after)
  wait_for(function() return #self.errors > after end)
  local e = self.errors[#self.errors]
  return e and #self.errors > after and e or nil
end

-- A barrier: everything the server sent this tab before now has arrived
-- once the answer to a /who typed now has (one connection keeps order).
-- The /who line is removed.
function Tab:settle()
  local from = #self.lines
  self:say("/who")
  local l, i = self:line("^Users in room ", from, true)
  if not l then error("no answer to /who", 2) end
  table.remove(self.lines, i)
end

-- A client of the main namespace "/" (the tutorial's and the demo's chats).
function M.root()
  return assert(sio.client(sio.test_url .. "/"))
end

-- A tab logged in as name (optionally with key, options for sio.client).
function M.logged_in(name, key, opts)
  local me = M.tab(opts)
  local state, err = me:login(name, key)
  if not state then error(("login %s refused: %s"):format(name, err.message), 2) end
  return me
end

return M
