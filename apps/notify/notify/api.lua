-- The HTTP side: POST /api/notify for backends, and in development a token
-- minting route for the demo page.
local sio = require "siolua"
local auth = require "notify.auth"
local webhook = require "notify.webhook"

local api = {}

local RESERVED = { connect = true, connect_error = true, disconnect = true,
                   disconnecting = true, newListener = true, removeListener = true }

-- The development key works only in development mode (no NOTIFY_SECRET):
-- a server with a real secret and no NOTIFY_API_KEY refuses every POST
-- rather than accept a key everybody knows.
local DEV_KEY = "dev-key-change-me"
local api_key = os.getenv("NOTIFY_API_KEY")
if api_key == nil or api_key == "" then
  if auth.dev then
    api_key = DEV_KEY
    sio.log.warn("NOTIFY_API_KEY is not set: POST /api/notify takes the development key")
  else
    api_key = nil
    sio.log.warn("NOTIFY_API_KEY is not set: POST /api/notify refuses every request")
  end
end

local function authorized(req)
  if not api_key then return false end
  local header = req.headers.authorization or ""
  local given = header:match("^Bearer%s+(.+)$") or ""
  return sio.crypto.equal(given, api_key)
end

-- Checks {"user": ID, "event": NAME, "data": ...}; returns user, event or
-- nil and the message for a 400.
local function validate(body)
  if type(body) ~= "table" then return nil, "the body must be a JSON object" end
  local user = body.user
  if math.type(user) == "integer" then user = tostring(user) end
  if type(user) ~= "string" or user == "" then return nil, "\"user\" is required (a string or an integer)" end
  local event = body.event
  if type(event) ~= "string" or event == "" then return nil, "\"event\" is required (a string)" end
  if RESERVED[event] then return nil, "\"event\" is a reserved name: " .. event end
  return user, event
end

-- How many sockets of the user's room got it. This instance's count costs
-- nothing and is the whole answer when it serves alone (200). In a cluster
-- the other instances' sockets are only known by asking them all, which a
-- backend sending many notifications should not pay for each one: without
-- ?wait=1 the answer is 202 (sent to every instance, not counted), with it
-- every instance is asked (200; complete = false when one did not answer
-- in time, with what the others said).
local function count(targets, wait)
  local clustered = sio.server.adapter.clustered
  local n, complete = 0, nil
  for _, target in ipairs(targets) do
    if clustered and (wait == "1" or wait == "true") then
      local list, _, partial = target:fetch_sockets()
      if not list then list, complete = partial, false end
      n = n + #list
    elseif clustered then
      return nil, 202
    else
      n = n + #target:fetch_sockets()
    end
  end
  return n, 200, complete
end

function api.routes(namespaces)
  sio.http.post("/api/notify", function(req, res)
    if not authorized(req) then
      return res:json({ error = "unauthorized: send Authorization: Bearer <NOTIFY_API_KEY>" }, 401)
    end
    local body = req:json()
    local user, event = validate(body)
    if not user then return res:json({ error = event }, 400) end
    local room = "user:" .. user
    local targets = {}
    for i, name in ipairs(namespaces) do
      local target = sio.server:of(name):to(room)
      targets[i] = target
      if body.data == nil then target:emit(event) else target:emit(event, body.data) end
    end
    local sockets, status, complete = count(targets, req.query.wait)
    local answer = { delivered = sockets == nil and sio.json.null or sockets > 0, user = user,
                     event = event, sockets = sockets or sio.json.null }
    if complete == false then answer.complete = false end
    res:json(answer, status)
    webhook.delivered(user, event, sockets or sio.json.null)
  end)

  if auth.dev then
    -- Development only (no NOTIFY_SECRET): lets the demo page log in.
    sio.http.get("/api/dev-token", function(req, res)
      local user = req.query.user
      if type(user) ~= "string" or not user:match("^[%w_%-%.@]+$") then
        return res:json({ error = "?user=ID is required (letters, digits, _-.@)" }, 400)
      end
      -- The key goes to the page only when it is the public development one.
      res:json({ user = user, token = auth.mint(user, 3600),
                 api_key = api_key == DEV_KEY and DEV_KEY or sio.json.null })
    end)
  end
end

return api
