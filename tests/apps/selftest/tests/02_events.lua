local sio = require "siolua"
local t = require "siolua.test"

t.test("emit and receive keep JSON exact", function()
  local c = assert(sio.client(sio.test_url))
  c:emit("echo", 1, "two", { 3, { four = 4.5 } }, sio.null, {})
  local a, b, list, null, empty = c:receive("echo", 2000)
  t.eq(a, 1)
  t.eq(math.type(a), "integer")
  t.eq(b, "two")
  t.deep_eq(list, { 3, { four = 4.5 } })
  t.eq(null, sio.null)
  t.deep_eq(empty, {})
end)

t.test("events that arrive before receive are kept in order", function()
  local c = assert(sio.client(sio.test_url))
  for i = 1, 3 do c:emit("echo", i) end
  sio.sleep(100) -- all three are in before anyone receives
  t.eq(c:receive("echo", 2000), 1)
  t.eq(c:receive("echo", 2000), 2)
  t.eq(c:receive("echo", 2000), 3)
end)

t.test("receive times out with nil, 'timeout'", function()
  local c = assert(sio.client(sio.test_url))
  local v, err = c:receive("never sent", 50)
  t.eq(v, nil)
  t.eq(err, "timeout")
end)

t.test("listeners run in their own handler", function()
  local c = assert(sio.client(sio.test_url))
  local got = {}
  c:on("echo", function(x)
    sio.sleep(1) -- a listener may wait
    got[#got + 1] = x
  end)
  c:emit("echo", "a")
  c:emit("echo", "b")
  local deadline = sio.monotonic() + 2000
  while #got < 2 and sio.monotonic() < deadline do sio.sleep(5) end
  t.deep_eq(got, { "a", "b" })
end)
