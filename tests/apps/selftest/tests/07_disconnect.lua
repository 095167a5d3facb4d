local sio = require "siolua"
local t = require "siolua.test"

local wait_for = require("tests.lib.wait").until_

t.test("client disconnect: the server sees it, emits fail after", function()
  local c = assert(sio.client(sio.test_url))
  local id = c.id
  c:disconnect()
  t.eq(c.connected, false)
  t.eq(c:receive("disconnect", 100), "io client disconnect")
  t.ok(wait_for(function() return sio.server.sockets[id] == nil end), "server still has the socket")
  local ok, err = c:emit("echo", 1)
  t.eq(ok, nil)
  t.eq(err, "disconnected")
end)

t.test("server disconnect: receive('disconnect') gives the reason", function()
  local c = assert(sio.client(sio.test_url))
  c:emit("kick me")
  t.eq(c:receive("disconnect", 2000), "io server disconnect")
  t.eq(c.connected, false)
  local v, err = c:receive("echo", 10)
  t.eq(v, nil)
  t.eq(err, "disconnected")
end)

t.test("a pending emit_with_ack ends when the client disconnects", function()
  local c = assert(sio.client(sio.test_url))
  sio.set_timeout(20, function() c:disconnect() end)
  local v, err = c:timeout(5000):emit_with_ack("slow", 1000)
  t.eq(v, nil)
  t.eq(err, "disconnected")
  t.deep_eq({ c:emit_with_ack("sum", 1, 2) }, { nil, "disconnected" })
end)

t.test("the client answers the server's pings and stays connected", function()
  local c = assert(sio.client(sio.test_url))
  sio.sleep(1000) -- five ping intervals; without pongs the server drops it at 600 ms
  t.ok(c.connected)
  t.eq(c:emit_with_ack("sum", 1, 2), 3)
end)
