-- Test app for sio_rooms.test.mjs: rooms and broadcast operators, driven by
-- the client. A "send" names the operator in a small spec table:
--   {from = "server" | "socket" | "broadcast", to = room or {rooms},
--    in_ = ..., except = ..., volatile = true}
-- and is followed by a "flush" to everyone, so a client that got its
-- flush has got everything meant for it.
local sio = require "siolua"

-- A room name, or a plain Lua list copied from a JSON array.
local function rooms_arg(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for i = 1, #v do out[i] = v[i] end
  return out
end

local function sorted_rooms(s)
  local out = {}
  for name in pairs(s.rooms) do out[#out + 1] = name end
  table.sort(out)
  return sio.json.array(out)
end

-- Builds the broadcast operator a spec names.
local function operator(socket, spec)
  local op
  if spec.from == "socket" then
    op = socket:to(rooms_arg(spec.to))      -- skips the sender
  elseif spec.from == "broadcast" then
    op = socket.broadcast                   -- everyone but the sender
  else
    op = sio.server
  end
  if spec.to ~= nil and spec.from ~= "socket" then op = op:to(rooms_arg(spec.to)) end
  if spec.in_ ~= nil then op = op:in_(rooms_arg(spec.in_)) end
  if spec.except ~= nil then op = op:except(rooms_arg(spec.except)) end
  if spec.volatile then op = op.volatile end
  return op
end

sio.server:on("connection", function(socket)
  socket:on("join", function(rooms, ack)
    socket:join(rooms_arg(rooms))
    ack(sorted_rooms(socket))
  end)

  socket:on("leave", function(room, ack)
    socket:leave(room)
    ack(sorted_rooms(socket))
  end)

  socket:on("rooms", function(ack)
    ack(sorted_rooms(socket))
  end)

  socket:on("set-data", function(values, ack)
    for k, v in pairs(values) do socket.data[k] = v end
    ack()
  end)

  socket:on("send", function(spec, payload, token, ack)
    operator(socket, spec):emit("msg", payload)
    sio.server:emit("flush", token)
    ack()
  end)

  socket:on("fetch", function(spec, ack)
    local out = {}
    for _, s in ipairs(operator(socket, spec):fetch_sockets()) do
      out[#out + 1] = { id = s.id, rooms = sorted_rooms(s), data = s.data }
    end
    table.sort(out, function(a, b) return a.id < b.id end)
    ack(sio.json.array(out))
  end)

  socket:on("sockets-join", function(spec, rooms, ack)
    operator(socket, spec):sockets_join(rooms_arg(rooms))
    ack()
  end)

  socket:on("sockets-leave", function(spec, rooms, ack)
    operator(socket, spec):sockets_leave(rooms_arg(rooms))
    ack()
  end)

  socket:on("disconnect-sockets", function(spec, close, ack)
    ack()
    operator(socket, spec):disconnect_sockets(close == true)
  end)

  -- Sockets in "observers" hear about every socket about to leave, with
  -- the rooms it is still in at that moment.
  socket:on("disconnecting", function(reason)
    sio.server:to("observers"):emit("leaving", socket.id, sorted_rooms(socket), reason)
  end)
end)

-- A second namespace, to see whether a disconnect closes the whole
-- connection (close = true) or only "/".
sio.server:of("/side"):on("connection", function(socket)
  socket:on("ping-side", function(ack) ack("pong") end)
end)
