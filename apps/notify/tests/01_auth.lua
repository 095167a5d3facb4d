-- apps/notify: who may connect. Tokens are minted here with siolua.jwt and
-- the secret from the environment (NOTIFY_SECRET; the app's development
-- secret when it is unset), so these tests run in both modes:
--   NOTIFY_SECRET=... NOTIFY_API_KEY=... siolua test apps/notify
--   siolua test apps/notify            (development mode)
local sio = require "siolua"
local t = require "siolua.test"
local jwt = require "siolua.jwt"

local DEV_SECRET = "dev-secret-change-me"
local env_secret = os.getenv("NOTIFY_SECRET")
local DEV = env_secret == nil or env_secret == ""
local SECRET = DEV and DEV_SECRET or env_secret

local function token(claims, secret) return jwt.sign(claims, secret or SECRET) end
local function valid(sub) return token({ sub = sub, exp = os.time() + 600 }) end

local function connect(opts, nsp)
  return sio.client(sio.test_url .. (nsp or "/notice"), opts)
end

-- A refused connection: nil, "Authentication error", {reason = ...}.
local function refused(opts, nsp)
  local c, err, data = connect(opts, nsp)
  t.eq(c, nil, "connected: " .. t.show(opts))
  t.eq(err, "Authentication error")
  return data and data.reason
end

t.test("the mode follows the environment: the app's secret is NOTIFY_SECRET, else the development one", function()
  local auth = require "notify.auth" -- the app's own module: the tests share its Lua state
  t.eq(auth.dev, DEV)
  t.eq(auth.secret, SECRET)
end)

t.test("a valid token in auth.token connects to /notice; ready {user}; the socket is in user:<sub>", function()
  local c = assert(connect({ auth = { token = valid("42") } }))
  t.deep_eq(c:receive("ready", 2000), { user = "42" })
  local s = sio.server:of("/notice").sockets[c.id]
  t.eq(s.data.user, "42")
  t.ok(s.rooms["user:42"], t.show(s.rooms))
end)

t.test("an integer sub is the same user as its string", function()
  local c = assert(connect({ auth = { token = token({ sub = 42, exp = os.time() + 60 }) } }))
  t.deep_eq(c:receive("ready", 2000), { user = "42" })
  t.ok(sio.server:of("/notice").sockets[c.id].rooms["user:42"])
end)

t.test("?token= works for clients without an auth payload", function()
  local c = assert(connect({ query = { token = valid("q-user") } }))
  t.deep_eq(c:receive("ready", 2000), { user = "q-user" })
end)

t.test("the path /notice without a namespace is the same service", function()
  local c = assert(connect({ path = "/notice/", auth = { token = valid("7") } }, "/"))
  t.deep_eq(c:receive("ready", 2000), { user = "7" })
  t.ok(sio.server.sockets[c.id].rooms["user:7"])
end)

t.test("refusals: Authentication error with the reason, on /notice and on /", function()
  for _, nsp in ipairs({ "/notice", "/" }) do
    t.eq(refused({}, nsp), "missing token", nsp)
    t.eq(refused({ auth = { token = "" } }, nsp), "missing token")
    t.eq(refused({ auth = { token = 42 } }, nsp), "missing token")
    t.eq(refused({ auth = { token = "not.a.jwt" } }, nsp), "malformed")
    t.eq(refused({ auth = { token = token({ sub = "42", exp = os.time() + 60 }, "another-secret") } }, nsp), "bad signature")
    t.eq(refused({ auth = { token = token({ sub = "42", exp = os.time() - 120 }) } }, nsp), "expired")
    t.eq(refused({ auth = { token = token({ sub = "42" }) } }, nsp), "token without exp")
    t.eq(refused({ auth = { token = token({ exp = os.time() + 60 }) } }, nsp), "token without sub")
    t.eq(refused({ auth = { token = token({ sub = "", exp = os.time() + 60 }) } }, nsp), "token without sub")
    t.eq(refused({ auth = { token = token({ sub = { "x" }, exp = os.time() + 60 }) } }, nsp), "token without sub")
  end
end)

t.test("only HS256 is accepted: alg none (signed or not) and HS512 are refused", function()
  local b64, json = sio.crypto.base64url_encode, sio.json
  local body = b64(json.encode({ sub = "42", exp = os.time() + 60 }))
  local function with_header(header, signed)
    local input = b64(json.encode(header)) .. "." .. body
    if not signed then return input .. "." end
    return input .. "." .. b64(sio.crypto.hmac_sha256(SECRET, input))
  end
  t.eq(refused({ auth = { token = with_header({ alg = "none", typ = "JWT" }, true) } }), "bad algorithm")
  t.eq(refused({ auth = { token = with_header({ alg = "HS512", typ = "JWT" }, true) } }), "bad algorithm")
  -- An unsecured token (empty signature) does not even have three parts.
  t.eq(refused({ auth = { token = with_header({ alg = "none", typ = "JWT" }, false) } }), "malformed")
  -- The same, with HS256 and the right signature, is let in: the helper is right.
  local c = assert(connect({ auth = { token = with_header({ alg = "HS256", typ = "JWT" }, true) } }))
  t.deep_eq(c:receive("ready", 2000), { user = "42" })
end)

t.test("the secret of the other mode is refused", function()
  if DEV then
    t.eq(refused({ auth = { token = token({ sub = "42", exp = os.time() + 60 }, "some-production-secret") } }), "bad signature")
  else
    t.eq(refused({ auth = { token = token({ sub = "42", exp = os.time() + 60 }, DEV_SECRET) } }), "bad signature")
  end
end)

t.test("a refused socket is in no room and hears nothing", function()
  local before = #sio.server:of("/notice"):in_("user:42"):fetch_sockets()
  t.eq(refused({ auth = { token = token({ sub = "42", exp = os.time() + 60 }, "wrong") } }), "bad signature")
  t.eq(#sio.server:of("/notice"):in_("user:42"):fetch_sockets(), before)
end)
