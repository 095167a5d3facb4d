-- Test app for sio_namespaces.test.mjs: static and dynamic namespaces,
-- connection middlewares (refusing, yielding, failing), per-socket
-- middleware, onAny / onAnyOutgoing.
local sio = require "siolua"

-- Every namespace answers "whoami" and "echo", and can "shout" to all of
-- its sockets.
local function basics(socket)
  socket:on("whoami", function(ack)
    ack(socket.nsp.name, socket.id)
  end)
  socket:on("echo", function(value, ack)
    ack(value)
  end)
  socket:on("shout", function(value)
    socket.nsp:emit("shout", socket.nsp.name, value)
  end)
end

-- The message of an error value: a string, or sio.error's .message.
local function error_message(err)
  if type(err) == "string" then return err end
  local ok, message = pcall(function() return err.message end)
  if ok and message ~= nil then return message end
  return tostring(err)
end

-- An event and its arguments as a JSON array, minus the ack function an
-- event may carry last.
local function json_args(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) ~= "function" then out[#out + 1] = v end
  end
  return sio.json.array(out)
end

sio.server:on("connection", function(socket)
  basics(socket)

  -- Per-socket middleware: "forbidden" events are dropped; the socket's
  -- "error" handlers hear why.
  socket:use(function(packet, next)
    if packet[1] == "forbidden" then
      return next(sio.error("forbidden event", { event = packet[1] }))
    end
    next()
  end)
  socket:on("error", function(err)
    socket:emit("mw-error", error_message(err))
  end)
  socket:on("forbidden", function()
    socket:emit("forbidden-ran")
  end)

  -- onAny / offAny: every incoming event is logged until "stop-any".
  local log = {}
  local function recorder(...)
    log[#log + 1] = json_args(...)
  end
  socket:on_any(recorder)
  socket:on("stop-any", function(ack)
    socket:off_any(recorder)
    ack()
  end)
  socket:on("any-log", function(ack)
    ack(sio.json.array(log))
  end)

  -- onAnyOutgoing: every event emitted to this socket is logged.
  local out_log = {}
  socket:on_any_outgoing(function(...)
    out_log[#out_log + 1] = json_args(...)
  end)
  socket:on("emit-some", function(ack)
    socket:emit("out-1", 1)
    socket:emit("out-2", "two", { three = 3 })
    ack()
  end)
  socket:on("outgoing-log", function(ack)
    ack(sio.json.array(out_log))
  end)
end)

sio.server:of("/chat"):on("connection", basics)
sio.server:of("/a"):on("connection", basics)
sio.server:of("/b"):on("connection", basics)

-- Dynamic namespaces: by Lua pattern, and by function.
sio.server:of("^/dyn%-%d+$"):on("connection", basics)
sio.server:of(function(name, auth)
  return name:sub(1, 4) == "/fn-" and (auth or {}).key == "open"
end):on("connection", basics)

-- Middlewares that refuse: with sio.error(message, data), and with a string.
local guarded = sio.server:of("/guarded")
guarded:use(function(socket, next)
  if socket.handshake.auth.token ~= "secret" then
    return next(sio.error("unauthorized", { reason = "bad token", code = 401 }))
  end
  next()
end)
guarded:on("connection", basics)

local plain_refusal = sio.server:of("/refused")
plain_refusal:use(function(socket, next)
  next("go away")
end)
plain_refusal:on("connection", basics)

-- Middlewares run in order; one waits (yields) before accepting.
local slow = sio.server:of("/slow")
slow:use(function(socket, next)
  socket.data.order = { "first" }
  next()
end)
slow:use(function(socket, next)
  local t0 = sio.monotonic()
  sio.sleep(150)
  socket.data.waited = sio.monotonic() - t0
  table.insert(socket.data.order, "second")
  next()
end)
slow:on("connection", function(socket)
  basics(socket)
  socket:emit("ready", socket.data.waited, sio.json.array(socket.data.order))
end)

-- A middleware that fails with a Lua error refuses with "server error".
local broken = sio.server:of("/broken")
broken:use(function()
  error("middleware exploded")
end)
broken:on("connection", basics)

-- A middleware that returns without calling next() accepts.
local lenient = sio.server:of("/lenient")
lenient:use(function() end)
lenient:on("connection", basics)
