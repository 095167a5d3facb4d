-- Token introspection (RFC 7662, the parts a resource server uses): with
-- NOTIFY_INTROSPECT_URL set, the connection middleware asks that URL
-- about each token instead of checking an HS256 signature here:
--
--   POST NOTIFY_INTROSPECT_URL
--   Content-Type: application/x-www-form-urlencoded
--   Authorization: $NOTIFY_INTROSPECT_AUTH        (when set, e.g. "Basic ...")
--   token=<the token>&token_type_hint=access_token
--   -> 200 {"active": true, "sub": "42", "exp": 1767225600, ...}
--
-- "active": true with a "sub" lets the socket in as that user; anything
-- else is refused ("inactive token", "token without sub", "expired"). When
-- the URL can't be reached or answers something else, the socket is
-- refused with "token check failed" (the outage is logged once when it
-- starts and once when it ends). Answers are kept NOTIFY_INTROSPECT_CACHE_MS
-- (10000, 0: never), at most until the token's exp, so the tabs of one user
-- cost one call; NOTIFY_INTROSPECT_TIMEOUT_MS (5000) bounds each call.
local sio = require "siolua"
local settings = require "notify.settings"

local introspect = {}

local CACHE_MAX = 1000
local st = {}

-- introspect.configure{url =, auth =, timeout_ms =, cache_ms =}: fields
-- left out keep their value; url = false turns introspection off (tokens
-- are checked locally again). The cache is emptied.
function introspect.configure(opts)
  if opts.url ~= nil then st.url = settings.check_url(opts.url, "introspect.configure") end
  if opts.auth ~= nil then st.auth = opts.auth ~= "" and opts.auth or nil end
  st.timeout_ms = opts.timeout_ms or st.timeout_ms
  st.cache_ms = opts.cache_ms or st.cache_ms
  st.cache, st.cached = {}, 0
end

introspect.configure {
  url = settings.url("NOTIFY_INTROSPECT_URL"),
  auth = os.getenv("NOTIFY_INTROSPECT_AUTH") or "",
  timeout_ms = settings.int("NOTIFY_INTROSPECT_TIMEOUT_MS", 5000, 1, 600000),
  cache_ms = settings.int("NOTIFY_INTROSPECT_CACHE_MS", 10000, 0, 86400000),
}

function introspect.enabled() return st.url ~= nil end

local function form_escape(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

local function down(why)
  if not st.down then
    st.down = true
    sio.log.warn("token introspection at %s failed (%s): sockets are refused until it answers", st.url, why)
  end
  return nil, "token check failed"
end

local function remember(key, claims)
  if st.cache_ms == 0 then return end
  local now = sio.now()
  if st.cached >= CACHE_MAX then -- forget what expired; if that is not enough, everything
    for k, e in pairs(st.cache) do
      if e.until_ms <= now then st.cache[k] = nil; st.cached = st.cached - 1 end
    end
    if st.cached >= CACHE_MAX then st.cache, st.cached = {}, 0 end
  end
  local until_ms = now + st.cache_ms
  if claims.exp then until_ms = math.min(until_ms, claims.exp * 1000) end
  st.cache[key] = { claims = claims, until_ms = until_ms }
  st.cached = st.cached + 1
end

-- The claims of an active token ({sub = "42", exp = ..., scope = ...}), or
-- nil and the reason a socket is refused with.
function introspect.check(token)
  local key = sio.crypto.sha256(token) -- the cache keeps no token
  local hit = st.cache[key]
  if hit and hit.until_ms > sio.now() then return hit.claims end
  local headers = { ["content-type"] = "application/x-www-form-urlencoded", accept = "application/json" }
  if st.auth then headers.authorization = st.auth end
  local res, err = sio.fetch(st.url, {
    method = "POST", headers = headers, timeout = st.timeout_ms,
    body = "token=" .. form_escape(token) .. "&token_type_hint=access_token",
  })
  if not res then return down(err) end
  if res.status ~= 200 then return down(string.format("HTTP %d %s", res.status, res.status_text)) end
  local body = res:json()
  if type(body) ~= "table" then return down("the answer is not a JSON object") end
  if st.down then
    st.down = false
    sio.log.info("token introspection at %s answers again", st.url)
  end
  if body.active ~= true then return nil, "inactive token" end
  local sub = body.sub
  if (type(sub) ~= "string" and math.type(sub) ~= "integer") or sub == "" then return nil, "token without sub" end
  local exp = math.tointeger(body.exp)
  if exp and exp <= os.time() then return nil, "expired" end
  local claims = { sub = tostring(sub), exp = exp, scope = type(body.scope) == "string" and body.scope or nil }
  remember(key, claims)
  return claims
end

return introspect
