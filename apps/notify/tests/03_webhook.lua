-- apps/notify: the webhook told of each delivery (notify/webhook.lua). The
-- webhook here is a route these tests add to the app under test, so a real
-- HTTP exchange happens; "down" is a port nobody listens on, or the route
-- answering 503. Deliveries go through POST /api/notify (t.http), as a
-- backend sends them.
local sio = require "siolua"
local t = require "siolua.test"
local jwt = require "siolua.jwt"
local webhook = require "notify.webhook"

local env_secret, env_key = os.getenv("NOTIFY_SECRET"), os.getenv("NOTIFY_API_KEY")
local DEV = env_secret == nil or env_secret == ""
local SECRET = DEV and "dev-secret-change-me" or env_secret
local KEY = DEV and "dev-key-change-me" or env_key

-- The fake webhook: records what it gets; `answer` decides the status.
local hook = { got = {}, answer = function() return 200 end }
sio.http.post("/_test/webhook", function(req, res)
  local body = req:json()
  hook.got[#hook.got + 1] = { body = body, signature = req.headers["x-notify-signature"], raw = req.body }
  local status = hook.answer(body)
  res:json({ ok = status == 200 }, status)
end)

local function wait_for(cond, ms)
  local deadline = sio.monotonic() + (ms or 3000)
  while not cond() and sio.monotonic() < deadline do sio.sleep(10) end
  return cond()
end

-- Until the sender is done with what the test before queued.
local function settled()
  return wait_for(function() local s = webhook.stats() return not s.sending and s.queued == 0 end)
end

local function reset(opts)
  assert(settled(), "the webhook sender is still busy")
  hook.got, hook.answer = {}, function() return 200 end
  local o = { url = sio.test_url .. "/_test/webhook", secret = "", queue = 1000, attempts = 5, retry_ms = 20 }
  for k, v in pairs(opts or {}) do o[k] = v end
  webhook.configure(o)
end

local function tab(user)
  local c = assert(sio.client(sio.test_url .. "/notice",
    { auth = { token = jwt.sign({ sub = user, exp = os.time() + 600 }, SECRET) } }))
  assert(c:receive("ready", 2000))
  return c
end

local function notify(user, event)
  local res = assert(t.http.post("/api/notify", { user = user, event = event },
    { headers = { authorization = "Bearer " .. KEY } }))
  t.eq(res.status, 200, res.body)
  return res:json()
end

t.test("each delivery is told to the webhook: user, event and socket count, signed when a secret is set", function()
  reset({ secret = "hook-secret" })
  local a, b = tab("wh-alice"), tab("wh-alice")
  t.eq(notify("wh-alice", "notice").sockets, 2)
  t.eq(a:receive("notice", 2000), nil) -- delivered without data: the event carries no argument
  t.ok(b:receive("notice", 2000) == nil)
  t.ok(wait_for(function() return #hook.got == 1 end), "the webhook was not called")
  local got = hook.got[1]
  t.eq(got.body.user, "wh-alice")
  t.eq(got.body.event, "notice")
  t.eq(got.body.sockets, 2)
  t.eq(math.type(got.body.time), "integer")
  t.eq(got.signature, "sha256=" .. sio.crypto.hex(sio.crypto.hmac_sha256("hook-secret", got.raw)))
  -- A user with no socket: still told (sockets = 0).
  t.eq(notify("wh-nobody", "notice").sockets, 0)
  t.ok(wait_for(function() return #hook.got == 2 end))
  t.eq(hook.got[2].body.sockets, 0)
  t.ok(settled())
  webhook.configure({ url = false })
end)

t.test("a failing webhook is tried again until it answers; sockets never wait for it", function()
  reset()
  local calls = 0
  hook.answer = function() calls = calls + 1 return calls <= 2 and 503 or 200 end
  local sent = webhook.stats().sent
  local a = tab("wh-bob")
  t.eq(notify("wh-bob", "ping").sockets, 1)
  a:receive("ping", 2000) -- the socket has it while the webhook still fails
  t.ok(wait_for(function() return webhook.stats().sent == sent + 1 end), "not delivered after retries")
  t.eq(calls, 3)
  t.eq(#hook.got, 3)
  t.eq(webhook.stats().failing, false)
  t.ok(settled())
  webhook.configure({ url = false })
end)

t.test("a webhook that is down: each delivery is given up after its attempts, then it works again", function()
  reset({ url = "http://127.0.0.1:1/hook", attempts = 2, retry_ms = 10 })
  local before = webhook.stats()
  notify("wh-carol", "a")
  notify("wh-carol", "b")
  t.ok(wait_for(function() return webhook.stats().failed == before.failed + 2 end), t.show(webhook.stats()))
  t.eq(webhook.stats().queued, 0)
  t.eq(webhook.stats().sent, before.sent)
  reset()
  notify("wh-carol", "c")
  t.ok(wait_for(function() return #hook.got == 1 end))
  t.eq(hook.got[1].body.event, "c")
  t.ok(wait_for(function() return not webhook.stats().failing end), "still failing")
  t.ok(settled())
  webhook.configure({ url = false })
end)

t.test("the queue is bounded: a full queue drops its oldest deliveries", function()
  reset({ queue = 3 })
  local release = false
  hook.answer = function()
    while not release do sio.sleep(10) end -- a slow webhook: the queue fills up
    return 200
  end
  local before = webhook.stats()
  for i = 1, 8 do notify("wh-dave", "e" .. i) end
  t.eq(webhook.stats().queued, 3)
  t.eq(webhook.stats().dropped, before.dropped + 5)
  release = true
  t.ok(wait_for(function() return webhook.stats().queued == 0 and not webhook.stats().sending end))
  local events = {}
  for _, g in ipairs(hook.got) do events[#events + 1] = g.body.event end
  -- e1 was being sent when the queue overflowed; then the newest three.
  t.deep_eq(events, { "e1", "e6", "e7", "e8" })
  t.ok(settled())
  webhook.configure({ url = false })
end)

t.test("without a webhook URL nothing is queued", function()
  webhook.configure({ url = false })
  t.eq(webhook.delivered("x", "y", 1), false)
  t.eq(webhook.stats().queued, 0)
  t.raises(function() webhook.configure({ url = "ftp://x" }) end, "'url' must be an http:// or https:// URL")
  t.raises(function() webhook.configure({ queue = 0 }) end, "'queue' must be an integer from 1 to 1000000")
end)
