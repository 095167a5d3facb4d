-- apps/notify: token introspection (notify/introspect.lua) instead of the
-- local HS256 check. The token server here is a route these tests add to
-- the app under test (a real HTTP exchange); "down" is a port nobody
-- listens on. Local checking is restored at the end of each test.
local sio = require "siolua"
local t = require "siolua.test"
local jwt = require "siolua.jwt"
local introspect = require "notify.introspect"

local env_secret = os.getenv("NOTIFY_SECRET")
local SECRET = (env_secret == nil or env_secret == "") and "dev-secret-change-me" or env_secret

-- The fake token server: token -> answer; records each call.
local server = { calls = {}, tokens = {
  ["tok-alice"] = { active = true, sub = "alice", scope = "notify" },
  ["tok-42"] = { active = true, sub = 42 },
  ["tok-revoked"] = { active = false },
  ["tok-nosub"] = { active = true },
  ["tok-old"] = { active = true, sub = "old", exp = os.time() - 10 },
} }
sio.http.post("/_test/introspect", function(req, res)
  local token = req.body:match("^token=([^&]*)")
  token = token and token:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  server.calls[#server.calls + 1] = { token = token, auth = req.headers.authorization,
                                      type = req.headers["content-type"] }
  res:json(server.tokens[token] or { active = false })
end)

local function use(opts)
  server.calls = {}
  local o = { url = sio.test_url .. "/_test/introspect", auth = "Basic bm90aWZ5OnMzY3JldA==", cache_ms = 10000 }
  for k, v in pairs(opts or {}) do o[k] = v end
  introspect.configure(o)
end

local function connect(token)
  return sio.client(sio.test_url .. "/notice", { auth = { token = token } })
end

local function refused(token)
  local c, err, data = connect(token)
  t.eq(c, nil)
  t.eq(err, "Authentication error")
  return data and data.reason
end

t.test("an active token lets the socket in as its sub; the call is RFC 7662's", function()
  use()
  local c = assert(connect("tok-alice"))
  t.deep_eq(c:receive("ready", 2000), { user = "alice" })
  t.ok(sio.server:of("/notice").sockets[c.id].rooms["user:alice"])
  t.eq(#server.calls, 1)
  t.eq(server.calls[1].token, "tok-alice")
  t.eq(server.calls[1].auth, "Basic bm90aWZ5OnMzY3JldA==")
  t.eq(server.calls[1].type, "application/x-www-form-urlencoded")
  local n = assert(connect("tok-42"))
  t.deep_eq(n:receive("ready", 2000), { user = "42" })
  introspect.configure({ url = false })
end)

t.test("inactive, without sub, expired and locally signed tokens are refused", function()
  use()
  t.eq(refused("tok-revoked"), "inactive token")
  t.eq(refused("tok-nosub"), "token without sub")
  t.eq(refused("tok-old"), "expired")
  -- A token only the local secret knows means nothing to the token server.
  t.eq(refused(jwt.sign({ sub = "mallory", exp = os.time() + 60 }, SECRET)), "inactive token")
  t.eq(refused(""), "missing token")
  introspect.configure({ url = false })
end)

t.test("the tabs of one user cost one call (the cache); cache_ms = 0 asks every time", function()
  use()
  for _ = 1, 3 do
    local c = assert(connect("tok-alice"))
    c:receive("ready", 2000)
  end
  t.eq(#server.calls, 1)
  use({ cache_ms = 0 })
  for _ = 1, 2 do assert(connect("tok-alice")):receive("ready", 2000) end
  t.eq(#server.calls, 2)
  introspect.configure({ url = false })
end)

t.test("a token server that is down refuses sockets with 'token check failed', then recovers", function()
  use({ url = "http://127.0.0.1:1/introspect", timeout_ms = 2000 })
  t.eq(refused("tok-alice"), "token check failed")
  t.eq(refused("tok-alice"), "token check failed")
  use()
  local c = assert(connect("tok-alice"))
  t.deep_eq(c:receive("ready", 2000), { user = "alice" })
  introspect.configure({ url = false })
end)

t.test("with introspection off, tokens are checked locally again", function()
  introspect.configure({ url = false })
  t.eq(introspect.enabled(), false)
  local c = assert(connect(jwt.sign({ sub = "local", exp = os.time() + 60 }, SECRET)))
  t.deep_eq(c:receive("ready", 2000), { user = "local" })
  t.raises(function() introspect.configure({ url = "nope" }) end, "'url' must be an http:// or https:// URL")
end)
