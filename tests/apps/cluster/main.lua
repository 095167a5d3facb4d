-- A cluster member for the Redis adapter tests: relays what a client asks
-- to broadcast, so the test sees what crosses to the other servers.
local sio = require "siolua"

local function relay(nsp)
  nsp:on("connection", function(socket)
    socket:on("join", function(room, ack) socket:join(room) ack(true) end)
    socket:on("leave", function(room, ack) socket:leave(room) ack(true) end)
    socket:on("to", function(spec, event, ...)
      local op = nsp
      if spec.rooms then op = op:to(spec.rooms) end
      if spec.except then op = op:except(spec.except) end
      if spec.volatile then op = op.volatile end
      op:emit(event, ...)
    end)
    socket:on("set-data", function(key, value, ack) socket.data[key] = value ack(true) end)
  end)
end

relay(sio.server)
relay(sio.server:of("/chat"))

-- Cluster-wide requests started here.
sio.server:on("connection", function(socket)
  socket:on("fetch", function(rooms, ack)
    local out = {}
    for _, s in ipairs(sio.server:in_(rooms):fetch_sockets()) do
      local names = {}
      for r in pairs(s.rooms) do names[#names + 1] = r end
      table.sort(names)
      out[#out + 1] = { id = s.id, rooms = sio.json.array(names), data = s.data, remote = s.remote or false }
    end
    table.sort(out, function(a, b) return a.id < b.id end)
    ack(sio.json.array(out))
  end)
  socket:on("all-rooms", function(ack)
    local names = {}
    for r in pairs(sio.server:all_rooms()) do names[#names + 1] = r end
    table.sort(names)
    ack(sio.json.array(names))
  end)
  socket:on("sse", function(text, ack)
    sio.server:server_side_emit("ping-servers", text, function(err, responses)
      ack(err or sio.json.null, sio.json.array(responses))
    end)
  end)
  socket:on("sse-no-ack", function(text) sio.server:server_side_emit("heads-up", text) end)
  socket:on("remote-join", function(target, room, ack)
    sio.server:in_(target):sockets_join(room)
    ack(true)
  end)
  socket:on("remote-leave", function(target, room, ack)
    sio.server:in_(target):sockets_leave(room)
    ack(true)
  end)
  socket:on("remote-disconnect", function(target, ack)
    sio.server:in_(target):disconnect_sockets(true)
    ack(true)
  end)
end)

-- Another server's server_side_emit.
sio.server:on("ping-servers", function(text, ack) ack("siolua heard " .. text) end)
sio.server:on("heads-up", function(text) sio.server:to("listeners"):emit("heads-up", text) end)

-- A broadcast with acks from here, answered by clients on every server.
sio.server:on("connection", function(socket)
  socket:on("poll-all", function(question, ack)
    local responses, err, partial = sio.server:timeout(3000):emit_with_ack("poll", question)
    responses = responses or partial
    table.sort(responses, function(a, b) return tostring(a) < tostring(b) end)
    ack(err or sio.json.null, sio.json.array(responses))
  end)
end)

-- sio.emitter: publishes like @socket.io/redis-emitter (here to this same
-- cluster, whose Redis URL the test passes in SIOLUA_REDIS_URL).
local emitter
sio.server:on("connection", function(socket)
  socket:on("via-emitter", function(room, text, ack)
    emitter = emitter or sio.emitter()
    local op = emitter
    if room ~= sio.json.null then op = op:to(room) end
    ack(op:emit("emitted", text, { n = 1 }))
  end)
end)

-- sio.redis on the same Redis (SIOLUA_REDIS_URL): one command, or a
-- pipeline; acks (reply) or (nil, err).
sio.server:on("connection", function(socket)
  socket:on("redis", function(cmd, ack) ack(sio.redis.call(table.unpack(cmd))) end)
  socket:on("pipeline", function(cmds, ack) ack(sio.redis.pipeline(cmds)) end)
end)
