local sio = require "siolua"
local t = require "siolua.test"

-- A server socket's table holds its handle and listeners only: its id and
-- connected flag come from the handle and the metatable, nsp.sockets from
-- the C side's namespace. What an app reads of them must not change.

local wait_for = require("tests.lib.wait").until_

t.test("a server socket's id, connected flag and nsp.sockets through its life", function()
  local c = assert(sio.client(sio.test_url))
  local s = sio.server.sockets[c.id]
  t.ok(s, "listed by id")
  t.eq(s.id, c.id)
  t.eq(s.connected, true)
  t.eq(s.disconnected, false)
  t.eq(tostring(s), "socket " .. c.id)
  local seen = 0
  for id, sock in pairs(sio.server.sockets) do
    t.eq(type(id), "string")
    t.eq(sock.id, id)
    if id == c.id then
      t.eq(sock, s)
      seen = seen + 1
    end
  end
  t.eq(seen, 1)
  t.eq(sio.server.sockets[42], nil)
  t.eq(sio.server.sockets["no such id"], nil)
  -- Out of its own-id room it is still the namespace's socket.
  s:leave(c.id)
  t.eq(s.rooms[c.id], nil)
  t.eq(sio.server.sockets[c.id], s)
  s:join(c.id)
  t.eq(sio.server.sockets[c.id], s)
  local ok = pcall(function() sio.server.sockets[c.id] = nil end)
  t.eq(ok, false, "nsp.sockets is read-only")
  c:disconnect()
  t.ok(wait_for(function() return sio.server.sockets[c.id] == nil end), "still listed")
  -- Gone: its id stays readable, and it says it is disconnected.
  t.eq(s.id, c.id)
  t.eq(s.connected, false)
  t.eq(s.disconnected, true)
  t.eq(tostring(s), "socket " .. c.id)
  for _, sock in pairs(sio.server.sockets) do t.ok(sock ~= s, "a gone socket listed") end
end)

t.test("pairs over nsp.sockets skips the sockets disconnected during the walk", function()
  local a = assert(sio.client(sio.test_url))
  local b = assert(sio.client(sio.test_url))
  local n = 0
  for id, sock in pairs(sio.server.sockets) do
    if id == a.id or id == b.id then
      n = n + 1
      -- The first of the two met disconnects the other at once.
      local other = sio.server.sockets[id == a.id and b.id or a.id]
      if n == 1 then other:disconnect() end
    end
  end
  t.eq(n, 1)
  a:disconnect()
  b:disconnect()
end)
