local sio = require "siolua"
local t = require "siolua.test"

t.test("a server broadcast reaches two clients", function()
  local a = assert(sio.client(sio.test_url))
  local b = assert(sio.client(sio.test_url))
  t.neq(a.id, b.id)
  a:emit("shout", "hello all")
  t.eq(a:receive("broadcast", 2000), "hello all")
  t.eq(b:receive("broadcast", 2000), "hello all")
end)
