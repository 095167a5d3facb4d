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

-- A socket keeps a lone listener as the function itself and a list from
-- the second on: every step between the two forms must keep the others.
t.test("a socket's listeners: one, two, once and off run as registered", function()
  local c = assert(sio.client(sio.test_url))
  local function heard(n)
    local got = {}
    for i = 1, n do
      local tag, x = c:receive("heard", 2000)
      got[i] = tostring(tag) .. ":" .. tostring(x)
    end
    table.sort(got)
    t.eq(c:receive("heard", 100), nil) -- and nothing more
    return table.concat(got, " ")
  end
  t.eq(c:emit_with_ack("listen", "x", "a", false), 1)
  c:emit("x", 1)
  t.eq(heard(1), "a:1")
  t.eq(c:emit_with_ack("listen", "x", "b", false), 2)
  c:emit("x", 2)
  t.eq(heard(2), "a:2 b:2")
  t.eq(c:emit_with_ack("unlisten", "x", "a"), 1)
  c:emit("x", 3)
  t.eq(heard(1), "b:3")
  t.eq(c:emit_with_ack("unlisten", "x", "b"), 0)
  c:emit("x", 4)
  t.eq(heard(0), "")
  t.eq(c:emit_with_ack("listen", "x", "c", true), 1)
  t.eq(c:emit_with_ack("listen", "x", "d", false), 2)
  c:emit("x", 5)
  c:emit("x", 6)
  t.eq(heard(3), "c:5 d:5 d:6")
  t.eq(c:emit_with_ack("listen", "x", "e", false), 2)
  t.eq(c:emit_with_ack("unlisten", "x", sio.null), 0)
  c:emit("x", 7)
  t.eq(heard(0), "")
end)

t.test("the client's listeners: off takes out one of two, and a once by the function it wraps", function()
  local c = assert(sio.client(sio.test_url))
  local got = {}
  local function a(x) got[#got + 1] = "a" .. x end
  local function b(x) got[#got + 1] = "b" .. x end
  local function wait(n)
    local deadline = sio.now() + 2000
    while #got < n and sio.now() < deadline do sio.sleep(5) end
    sio.sleep(20)
    table.sort(got)
    local s = table.concat(got, " ")
    got = {}
    return s
  end
  c:on("echo", a)
  c:on("echo", b)
  c:emit("echo", 1)
  t.eq(wait(2), "a1 b1")
  c:off("echo", a)
  c:emit("echo", 2)
  t.eq(wait(1), "b2")
  c:off("echo", b)
  c:once("echo", a)
  c:off("echo", a)
  c:emit("echo", 3)
  t.eq(c:receive("echo", 2000), 3) -- kept for receive: nobody listened
  t.eq(wait(0), "")
end)
