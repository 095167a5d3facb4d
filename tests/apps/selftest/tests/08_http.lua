-- HTTP in `siolua test`: t.http against the app's own routes (and
-- sio.fetch against sio.test_url), a route a test adds for itself, and
-- t.stub_fetch standing in for an outside service (restored after the test).
local sio = require "siolua"
local t = require "siolua.test"
local ack = require "tests.lib.ack"

t.test("t.http.get and t.http.post call the app's routes", function()
  local res = assert(t.http.get("/api/items/7?q=x"))
  t.eq(res.status, 200)
  t.eq(res.headers["content-type"], "application/json")
  t.deep_eq(res:json(), { id = "7", q = "x" })
  local created = assert(t.http.post("/api/items", { name = "pen" }))
  t.eq(created.status, 201)
  t.deep_eq(created:json(), { created = "pen" })
  local bad = assert(t.http.post("/api/items", "{not json", { headers = { ["content-type"] = "application/json" } }))
  t.eq(bad.status, 400)
  local missing = assert(t.http.get("/api/nothing-here"))
  t.eq(missing.status, 404)
end)

t.test("sio.fetch reaches the instance under test at sio.test_url", function()
  local res = assert(sio.fetch(sio.test_url .. "/api/items/9"))
  t.eq(res:json().id, "9")
  t.eq(res.url, sio.test_url .. "/api/items/9")
end)

t.test("a test can serve a fake outside service from a route of its own", function()
  local hits = {}
  sio.http.post("/_test/hook", function(req, res)
    hits[#hits + 1] = req:json()
    res:json({ ok = true })
  end)
  local res = assert(sio.fetch(sio.test_url .. "/_test/hook", { method = "POST", body = { n = 1 } }))
  t.eq(res.status, 200)
  t.deep_eq(hits, { { n = 1 } })
end)

local stub
t.test("t.stub_fetch answers for the outside service and records the calls", function()
  local calls = t.stub_fetch(function(url)
    if url:match("/users/42$") then return { body = { name = "Ada" } } end
    if url:match("/users/down$") then return nil, "connection refused" end
    return { status = 404, body = "no such user" }
  end)
  stub = sio.fetch
  local c = assert(sio.client(sio.test_url))
  t.eq(c:emit_with_ack("lookup", "42"), "Ada")
  local name, err = ack.all(c, "lookup", "7")
  t.eq(name, sio.null)
  t.eq(err, "status 404")
  name, err = ack.all(c, "lookup", "down")
  t.eq(err, "connection refused")
  t.eq(#calls, 3)
  t.eq(calls[1].url, "https://users.example.invalid/users/42")
end)

t.test("the stub is gone once its test ended", function()
  t.ok(stub ~= nil)
  t.neq(sio.fetch, stub)
  local c = assert(sio.client(sio.test_url))
  local name, err = ack.all(c, "lookup", "42")
  t.eq(name, sio.null)
  t.ok(err:find("DNS lookup for users.example.invalid failed", 1, true), err)
end)
