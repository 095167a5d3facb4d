local sio = require "siolua"
local t = require "siolua.test"
local ack = require "tests.lib.ack"

t.test("an auth middleware refusal returns nil, message, data", function()
  local c, err, data = sio.client(sio.test_url .. "/admin", { auth = { token = "nope" } })
  t.eq(c, nil)
  t.eq(err, "unauthorized")
  t.deep_eq(data, { reason = "bad token" })
end)

t.test("the namespace accepts good auth and sees the query", function()
  local c = assert(sio.client(sio.test_url .. "/admin", { auth = { token = "secret" }, query = { user = "ann" } }))
  t.eq(c.nsp, "/admin")
  t.deep_eq({ ack.all(c, "whoami") }, { "admin", "ann" })
end)

t.test("an unknown namespace is refused", function()
  local c, err = sio.client(sio.test_url .. "/nowhere")
  t.eq(c, nil)
  t.eq(err, "Invalid namespace")
end)
