-- JSON Web Tokens signed with HMAC-SHA256 (HS256), for connection
-- middlewares: `local jwt = require "siolua.jwt"`. Only HS256 is accepted,
-- whatever the token's header says (no "none", no algorithm confusion).
local sio = require "siolua"
local crypto, json = sio.crypto, sio.json

local jwt = {}

local function b64(s) return crypto.base64url_encode(s) end

-- claims: a table (sub, exp in seconds since the epoch, ...). -> token
function jwt.sign(claims, secret)
  assert(type(secret) == "string" and #secret > 0, "jwt.sign needs a secret")
  local head = b64('{"alg":"HS256","typ":"JWT"}')
  local body = b64(json.encode(claims))
  local input = head .. "." .. body
  return input .. "." .. b64(crypto.hmac_sha256(secret, input))
end

-- -> claims, or nil and the reason: "malformed", "bad algorithm",
-- "bad signature", "expired", "not yet valid". now: seconds (default
-- os.time()); leeway: seconds of clock skew allowed (default 0).
function jwt.verify(token, secret, opts)
  opts = opts or {}
  if type(token) ~= "string" then return nil, "malformed" end
  local h, p, s = token:match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
  if not h then return nil, "malformed" end
  local header = json.decode(crypto.base64url_decode(h) or "")
  if type(header) ~= "table" then return nil, "malformed" end
  if header.alg ~= "HS256" then return nil, "bad algorithm" end
  local sig = crypto.base64url_decode(s)
  if not sig or not crypto.equal(sig, crypto.hmac_sha256(secret, h .. "." .. p)) then
    return nil, "bad signature"
  end
  local claims = json.decode(crypto.base64url_decode(p) or "")
  if type(claims) ~= "table" then return nil, "malformed" end
  local now, leeway = opts.now or os.time(), opts.leeway or 0
  if type(claims.exp) == "number" and now > claims.exp + leeway then return nil, "expired" end
  if type(claims.nbf) == "number" and now + leeway < claims.nbf then return nil, "not yet valid" end
  return claims
end

return jwt
