local sio = require "siolua"
local t = require "siolua.test"

t.test("connects to the main namespace and gets its id", function()
  local c = assert(sio.client(sio.test_url))
  t.ok(c.connected)
  t.eq(type(c.id), "string")
  local welcome = c:receive("welcome", 2000)
  t.eq(welcome.id, c.id)
  -- Same Lua state as the app: the server side is visible too.
  t.ok(sio.server.sockets[c.id], "the server knows the socket")
end)

t.test("a refused TCP connection returns nil, err", function()
  local c, err = sio.client("http://127.0.0.1:1", { timeout = 2000 })
  t.eq(c, nil)
  t.ok(err:find("cannot connect", 1, true), err)
end)

t.test("https:// is refused with a clear error", function()
  local c, err = sio.client("https://127.0.0.1:1")
  t.eq(c, nil)
  t.ok(err:find("TLS", 1, true), err)
end)

t.test("a wrong path gives the HTTP status", function()
  local c, err = sio.client(sio.test_url, { path = "/nope/" })
  t.eq(c, nil)
  t.ok(err:find("HTTP 400", 1, true), err)
end)
