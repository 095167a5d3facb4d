-- Who a socket is: the `sub` of an HS256 JWT signed with NOTIFY_SECRET,
-- given in auth.token (or ?token= for clients without auth payloads).
local sio = require "siolua"
local jwt = require "siolua.jwt"
local introspect = require "notify.introspect"

local auth = {}

local DEV_SECRET = "dev-secret-change-me"
auth.secret = os.getenv("NOTIFY_SECRET")
auth.dev = auth.secret == nil or auth.secret == ""
if auth.dev then
  auth.secret = DEV_SECRET
  sio.log.warn("NOTIFY_SECRET is not set: using a development secret and serving /api/dev-token")
end

-- The message is the one the clients of the original post match on
-- (`err.message === "Authentication error"`); the reason is in err.data.
local function refuse(next, reason)
  return next(sio.error("Authentication error", { reason = reason }))
end

function auth.middleware(socket, next)
  local hs = socket.handshake
  local token = hs.auth.token
  if token == nil then token = hs.query.token end
  if type(token) ~= "string" or token == "" then return refuse(next, "missing token") end
  if introspect.enabled() then -- NOTIFY_INTROSPECT_URL: the token server decides
    local claims, why = introspect.check(token)
    if not claims then return refuse(next, why) end
    socket.data.user = claims.sub
    return next()
  end
  local claims, why = jwt.verify(token, auth.secret)
  if not claims then return refuse(next, why) end
  if type(claims.exp) ~= "number" then return refuse(next, "token without exp") end
  local sub = claims.sub
  if (type(sub) ~= "string" and math.type(sub) ~= "integer") or sub == "" then
    return refuse(next, "token without sub")
  end
  socket.data.user = tostring(sub)
  next()
end

-- A token for user, valid ttl seconds (for trying things out).
function auth.mint(user, ttl)
  return jwt.sign({ sub = tostring(user), exp = os.time() + (ttl or 3600) }, auth.secret)
end

return auth
