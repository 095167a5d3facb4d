-- Test app for lua_fetch.test.mjs: Socket.IO events whose handlers call
-- sio.fetch with what the test sends and ack what they got back, so the
-- Node side drives every case against its own HTTP and HTTPS servers.
local sio = require "siolua"

-- FETCH_CA_FILE: the option every fetch trusts (the test of fetchCaFile).
local ca = os.getenv("FETCH_CA_FILE")
if ca and ca ~= "" then sio.configure { fetchCaFile = ca } end

-- A response as plain JSON-able values (the body as binary when asked).
local function describe(res, binary)
  local headers = {}
  for k, v in pairs(res.headers) do headers[k] = v end
  return {
    status = res.status, status_text = res.status_text, ok = res.ok, url = res.url,
    redirected = res.redirected, headers = headers,
    body = binary and sio.binary(res.body) or res.body,
  }
end

-- Options as sent by the test: a binary body becomes bytes; "_binary" asks
-- for the body back as binary.
local function options(opts)
  if opts == nil or opts == sio.null then return nil, false end
  local copy, binary = {}, false
  for k, v in pairs(opts) do
    if k == "_binary" then binary = v
    elseif sio.is_binary(v) then copy[k] = tostring(v)
    else copy[k] = v end
  end
  return copy, binary
end

-- Lines the shutdown test looks for in the log.
local function log_outcome(tag, res, err)
  if res then sio.log.warn("%s: status %d", tag, res.status)
  else sio.log.warn("%s: %s", tag, err) end
end

sio.server:on("connection", function(socket)
  -- fetch(url, opts) -> ack(response) | ack(null, err)
  socket:on("fetch", function(url, opts, ack)
    local o, binary = options(opts)
    local res, err = sio.fetch(url, o)
    if not res then return ack(sio.null, err) end
    ack(describe(res, binary))
  end)

  -- fetch_json(url, opts) -> ack(decoded) | ack(null, err)
  socket:on("fetch_json", function(url, opts, ack)
    local res, err = sio.fetch(url, (options(opts)))
    if not res then return ack(sio.null, err) end
    local v, jerr = res:json()
    if jerr then return ack(sio.null, jerr) end
    ack(v)
  end)

  -- misuse(url, opts) -> ack(false, message) when sio.fetch raised
  socket:on("misuse", function(url, opts, ack)
    local ok, err = pcall(function()
      local res = sio.fetch(url, opts) -- not a tail call: the error names this line
      return res
    end)
    ack(ok, tostring(err))
  end)

  -- many(url, n) -> ack({statuses}, {errors}): n handlers fetch at once.
  socket:on("many", function(url, n, ack)
    local statuses, errors, done = sio.json.array(), sio.json.array(), 0
    for i = 1, n do
      sio.set_timeout(0, function()
        local res, err = sio.fetch(url .. "?i=" .. i)
        if res then statuses[#statuses + 1] = res.status else errors[#errors + 1] = err end
        done = done + 1
        if done == n then ack(statuses, errors) end
      end)
    end
  end)

  -- pending(url, tag): starts a fetch and acks at once; the outcome goes to
  -- the log (the shutdown test reads it there) and to the socket if it is
  -- still connected ("outcome", tag, status | null, err).
  socket:on("pending", function(url, tag, ack)
    ack(true)
    local res, err = sio.fetch(url)
    log_outcome(tag, res, err)
    if socket.connected then socket:emit("outcome", tag, res and res.status or sio.null, err) end
  end)

  -- Outside a handler's coroutine (a coroutine the app made): a clear error.
  socket:on("in_coroutine", function(url, ack)
    local co = coroutine.create(function() return sio.fetch(url) end)
    local ok, err = coroutine.resume(co)
    ack(ok, tostring(err))
  end)

  socket:on("version", function(ack) ack(sio.state.version or 1) end)
end)

-- The reload test changes nothing but this marker (SIGHUP runs main.lua again).
sio.state.version = (sio.state.version or 0) + 1
