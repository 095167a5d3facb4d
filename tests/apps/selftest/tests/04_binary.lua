local sio = require "siolua"
local t = require "siolua.test"
local ack = require "tests.lib.ack"

t.test("binary goes up and comes back in an ack", function()
  local c = assert(sio.client(sio.test_url))
  local data, n = ack.all(c, "binary", sio.binary("\0\1\2\255"))
  t.ok(sio.is_binary(data))
  t.eq(tostring(data), "\255\2\1\0")
  t.eq(n, 4)
end)

t.test("binary from the server, nested too", function()
  local c = assert(sio.client(sio.test_url))
  c:emit("send binary", 2)
  local bytes, obj = c:receive("bytes", 2000)
  t.ok(sio.is_binary(bytes))
  t.eq(tostring(bytes), "\0\1\2\0\1\2")
  t.deep_eq(obj, { nested = sio.binary("\255") })
end)

t.test("a large binary payload round-trips", function()
  local c = assert(sio.client(sio.test_url))
  local chunk = {}
  for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
  local big = string.rep(table.concat(chunk), 1200) -- 307200 bytes
  local data, n = ack.all(c, "binary", sio.binary(big))
  t.eq(n, #big)
  t.ok(tostring(data) == big:reverse(), "bytes differ")
end)
