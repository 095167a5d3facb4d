-- "/": the 2024 tutorial's `chat message` broadcast and the official
-- socket.io chat demo's protocol.
local sio = require "siolua"
local t = require "siolua.test"
local h = require "tests.lib.tab"

local root = h.root

t.test("tutorial: `chat message` goes to every socket of /, the sender too; extra arguments dropped, the ack answered", function()
  local a, b = root(), root()
  local tab = h.logged_in(h.name("chatter"))
  a:emit("chat message", "hello tutorial")
  t.eq(a:receive("chat message", 2000), "hello tutorial")
  t.eq(b:receive("chat message", 2000), "hello tutorial")
  local v, err = a:emit_with_ack("chat message", "with ack", "offset-1")
  t.eq(v, nil, "an empty ack")
  t.eq(err, nil, "an empty ack is no error")
  t.deep_eq({ b:receive("chat message", 2000) }, { "with ack" })
  tab:settle()
  t.deep_eq(tab.messages, {}, "/chat does not get it")
end)

t.test("demo: add user, new message, typing, stop typing, user left; numUsers is the room of users", function()
  local base = #sio.server:in_("demo:users"):fetch_sockets()
  local a, b, lurker = root(), root(), root()
  a:emit("new message", "before logging in")
  a:emit("add user", "ann")
  t.deep_eq(a:receive("login", 2000), { numUsers = base + 1 })
  b:emit("add user", "ben")
  t.deep_eq(b:receive("login", 2000), { numUsers = base + 2 })
  t.deep_eq(a:receive("user joined", 2000), { username = "ben", numUsers = base + 2 })
  b:emit("add user", "ben again") -- ignored
  b:emit("new message", "hi ann")
  t.deep_eq(a:receive("new message", 2000), { username = "ben", message = "hi ann" })
  a:emit("typing")
  t.deep_eq(b:receive("typing", 2000), { username = "ann" })
  a:emit("stop typing")
  t.deep_eq(b:receive("stop typing", 2000), { username = "ann" })
  -- A barrier (the tutorial broadcast), then nothing stray was queued.
  a:emit("chat message", "barrier")
  for _, c in ipairs({ a, b, lurker }) do t.eq(c:receive("chat message", 2000), "barrier") end
  t.eq(select(2, a:receive("user joined", 0)), "timeout", "a second add user is ignored")
  t.eq(select(2, b:receive("new message", 0)), "timeout", "no echo, no message from before add user")
  for _, e in ipairs({ "login", "user joined", "new message", "typing" }) do
    t.eq(select(2, lurker:receive(e, 0)), "timeout", "the lurker got " .. e)
  end
  b:disconnect()
  t.deep_eq(a:receive("user left", 2000), { username = "ben", numUsers = base + 1 })
end)
