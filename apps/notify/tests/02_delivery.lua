-- apps/notify: delivery to the room user:<id>, every tab of a user, and
-- only theirs. The Lua side has no HTTP client, so these tests deliver the
-- way POST /api/notify does (a broadcast to user:<id> on both namespaces,
-- counting with fetch_sockets); the node tests drive the HTTP route itself.
local sio = require "siolua"
local t = require "siolua.test"
local jwt = require "siolua.jwt"

local env_secret = os.getenv("NOTIFY_SECRET")
local SECRET = (env_secret == nil or env_secret == "") and "dev-secret-change-me" or env_secret

local function tab(user, opts)
  opts = opts or {}
  opts.auth = { token = jwt.sign({ sub = user, exp = os.time() + 600 }, SECRET) }
  local c, err = sio.client(sio.test_url .. (opts.nsp or "/notice"), opts)
  if not c then error("cannot connect as " .. user .. ": " .. tostring(err), 2) end
  local ready = c:receive("ready", 2000)
  if not ready or ready.user ~= user then error("no ready for " .. user, 2) end
  return c
end

-- What POST /api/notify does for {user, event, data}: returns the count.
local function deliver(user, event, data)
  local n = 0
  for _, name in ipairs({ "/notice", "/" }) do
    local target = sio.server:of(name):to("user:" .. user)
    n = n + #target:fetch_sockets()
    if data == nil then target:emit(event) else target:emit(event, data) end
  end
  return n
end

local function wait_for(cond, ms)
  local deadline = sio.monotonic() + (ms or 2000)
  while not cond() and sio.monotonic() < deadline do sio.sleep(5) end
  return cond()
end

t.test("a notification to a user reaches each of its tabs once (both namespaces), and no other user", function()
  local a1 = tab("alice")
  local a2 = tab("alice")
  local a3 = tab("alice", { nsp = "/", path = "/notice/" })
  local bob = tab("bob")
  t.eq(deliver("alice", "notice", { text = "hello", n = { 1, 2.5, true } }), 3)
  for _, c in ipairs({ a1, a2, a3 }) do
    t.deep_eq(c:receive("notice", 2000), { text = "hello", n = { 1, 2.5, true } })
  end
  -- A barrier for bob, then: bob got nothing, and nobody got a second copy.
  t.eq(deliver("bob", "barrier", 1), 1)
  t.eq(bob:receive("barrier", 2000), 1)
  t.eq(select(2, bob:receive("notice", 0)), "timeout", "bob heard alice's notice")
  t.eq(deliver("alice", "barrier", 2), 3)
  for _, c in ipairs({ a1, a2, a3 }) do
    t.eq(c:receive("barrier", 2000), 2)
    t.eq(select(2, c:receive("notice", 0)), "timeout", "a second copy")
  end
end)

t.test("a closed tab removes only itself from the user's room", function()
  local x1 = tab("closer")
  local x2 = tab("closer")
  t.eq(#sio.server:of("/notice"):in_("user:closer"):fetch_sockets(), 2)
  x1:disconnect()
  t.ok(wait_for(function() return #sio.server:of("/notice"):in_("user:closer"):fetch_sockets() == 1 end))
  t.eq(deliver("closer", "still", "here"), 1)
  t.eq(x2:receive("still", 2000), "here")
end)

t.test("a user with no tab: the count is 0", function()
  t.eq(deliver("nobody-here", "void"), 0)
end)

t.test("a notification without data arrives with no argument; ready was the only event before it", function()
  local c = tab("quiet")
  t.eq(deliver("quiet", "bare"), 1)
  t.eq(select("#", c:receive("bare", 2000)), 0, "an event with no argument")
  t.eq(select(2, c:receive("ready", 0)), "timeout", "a second ready")
end)

-- The route itself (t.http: a real HTTP exchange with the app under test).
local env_key = os.getenv("NOTIFY_API_KEY")
local API_KEY = (env_key == nil or env_key == "") and "dev-key-change-me" or env_key

local function post(body, query)
  return assert(t.http.post("/api/notify" .. (query or ""), body,
                            { headers = { authorization = "Bearer " .. API_KEY } }))
end

t.test("POST /api/notify counts the user's tabs on this instance and says delivered", function()
  local a1, a2 = tab("poster"), tab("poster", { nsp = "/", path = "/notice/" })
  local res = post({ user = "poster", event = "notice", data = { n = 1 } })
  t.eq(res.status, 200)
  t.deep_eq(res:json(), { delivered = true, user = "poster", event = "notice", sockets = 2 })
  t.deep_eq(a1:receive("notice", 2000), { n = 1 })
  t.deep_eq(a2:receive("notice", 2000), { n = 1 })
end)

t.test("POST /api/notify for a user with no socket says so: delivered false, sockets 0 (with ?wait=1 too)", function()
  for _, query in ipairs({ "", "?wait=1" }) do
    local res = post({ user = "nobody-at-all", event = "notice" }, query)
    t.eq(res.status, 200, query)
    t.deep_eq(res:json(), { delivered = false, user = "nobody-at-all", event = "notice", sockets = 0 }, query)
  end
  t.eq(sio.server.adapter.clustered, false, "siolua test runs without an adapter")
end)
