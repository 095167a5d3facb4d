local sio = require "siolua"
local t = require "siolua.test"
local ack = require "tests.lib.ack"

t.test("emit_with_ack returns the server's answer: its first argument, as emitWithAck", function()
  local c = assert(sio.client(sio.test_url))
  t.eq(c:emit_with_ack("sum", 2, 3), 5)
  t.deep_eq({ c:emit_with_ack("echo", "x", { 1 }) }, { "x" })
  t.deep_eq({ ack.all(c, "echo", "x", { 1 }) }, { "x", { 1 } })
end)

t.test("emit with a callback gets the ack", function()
  local c = assert(sio.client(sio.test_url))
  local got
  c:emit("sum", 40, 2, function(r) got = r end)
  local deadline = sio.monotonic() + 2000
  while got == nil and sio.monotonic() < deadline do sio.sleep(5) end
  t.eq(got, 42)
end)

t.test("timeout variant: the answer in time, nil and the timeout message when late", function()
  local c = assert(sio.client(sio.test_url))
  local v, err = c:timeout(2000):emit_with_ack("sum", 1, 1)
  t.eq(v, 2)
  t.eq(err, nil)
  v, err = c:timeout(50):emit_with_ack("slow", 500)
  t.eq(v, nil)
  t.eq(err, "operation has timed out")
end)

t.test("the server's emit_with_ack gets the client's ack", function()
  local c = assert(sio.client(sio.test_url))
  c:on("question", function(q, ack) ack(q .. "? because") end)
  c:emit("ask me", "why")
  local err, answer = c:receive("answer was", 2000)
  t.eq(err, sio.null)
  t.eq(answer, "why? because")
end)

t.test("receive hands over the ack function of an event", function()
  local c = assert(sio.client(sio.test_url))
  c:emit("ask me", "when")
  local q, ack = c:receive("question", 2000)
  t.eq(q, "when")
  t.eq(type(ack), "function")
  ack("now")
  local _, answer = c:receive("answer was", 2000)
  t.eq(answer, "now")
end)
