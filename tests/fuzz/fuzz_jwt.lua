-- tests/fuzz/fuzz_jwt.lua: the Lua half of fuzz_jwt.c. Returns the function
-- the C side calls once per input: check(mode, a, b) -> nil, or a message
-- saying which promise of siolua.jwt was broken.
--   mode 0: a is a token from the wire: verify answers claims or a reason.
--   mode 1: a is JSON claims: our own token verifies to the same claims (or
--           expired / not yet valid, exactly when exp / nbf say so), and a
--           wrong secret or a changed signature is refused.
--   mode 2: a is a header and b a payload, any bytes, signed with the right
--           secret: verify decides on them without raising.
local jwt = require "siolua.jwt"
local sio = require "siolua"
local json, crypto = sio.json, sio.crypto

local SECRET, NOW = "fuzz-secret", 1700000000
local REASONS = {
  malformed = true, ["bad algorithm"] = true, ["bad signature"] = true,
  expired = true, ["not yet valid"] = true,
}

local function verdict(token)
  local claims, why = jwt.verify(token, SECRET, { now = NOW })
  if claims == nil then
    if not REASONS[why] then return nil, "unknown reason " .. tostring(why) end
    return nil, nil, why
  end
  if type(claims) ~= "table" or why ~= nil then return nil, "claims not a table" end
  return claims
end

local function own_token(input)
  local claims = json.decode(input)
  if type(claims) ~= "table" then return nil end
  local token = jwt.sign(claims, SECRET)
  -- The claims as the token carries them: JSON has no Infinity (1e400
  -- decodes to math.huge, which is written null, as JSON.stringify does).
  claims = json.decode(json.encode(claims))
  local got, bad, why = verdict(token)
  if bad then return bad end
  local want
  if type(claims.exp) == "number" and NOW > claims.exp then
    want = "expired"
  elseif type(claims.nbf) == "number" and NOW < claims.nbf then
    want = "not yet valid"
  end
  if want then
    if got or why ~= want then return "wanted " .. want .. ", got " .. tostring(why) end
  else
    if not got then return "own token refused: " .. tostring(why) end
    if json.encode(got) ~= json.encode(claims) then return "claims changed on the way" end
  end
  if jwt.verify(token, SECRET .. "x", { now = NOW }) ~= nil then return "wrong secret accepted" end
  local h, p, s = token:match("^([^.]+)%.([^.]+)%.([^.]+)$")
  if not h then return "own token is not three parts" end
  local s2 = (s:sub(1, 1) == "A" and "B" or "A") .. s:sub(2)
  local _, _, why2 = verdict(h .. "." .. p .. "." .. s2)
  if why2 ~= "bad signature" then return "changed signature: " .. tostring(why2) end
end

return function(mode, a, b)
  if mode == 0 then
    local _, bad = verdict(a)
    return bad
  elseif mode == 1 then
    return own_token(a)
  end
  local input = crypto.base64url_encode(a) .. "." .. crypto.base64url_encode(b)
  local _, bad = verdict(input .. "." .. crypto.base64url_encode(crypto.hmac_sha256(SECRET, input)))
  return bad
end
