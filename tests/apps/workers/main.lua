-- The app of workers.test.mjs (`siolua run --workers N`): every answer says
-- which worker gave it (sio.worker), so the test sees connections spread
-- over the workers and events cross between them.
local sio = require "siolua"

local VERSION = "v1" -- the SIGHUP test rewrites this line in a copy

-- The socket's listeners: on connection, and again on a reload (SIGHUP),
-- which binds connected sockets to the new code.
local function bind(socket)
  socket:on("whoami", function(ack)
    ack({ worker = sio.worker, version = VERSION, id = socket.id })
  end)
  socket:on("shout", function(text) sio.server:emit("heard", text, sio.worker or 0) end)
  socket:on("join", function(room, ack) socket:join(room) ack(true) end)
  socket:on("to-room", function(room, text) sio.server:to(room):emit("room-msg", text, sio.worker) end)
  socket:on("fetch", function(room, ack)
    local out = {}
    for _, s in ipairs(sio.server:in_(room):fetch_sockets()) do
      out[#out + 1] = { id = s.id, worker = s.data.worker }
    end
    table.sort(out, function(a, b) return a.id < b.id end)
    ack(sio.json.array(out))
  end)
  socket:on("sse", function(text, ack)
    sio.server:server_side_emit("ping-workers", text, function(err, responses)
      table.sort(responses)
      ack(err or sio.json.null, sio.json.array(responses))
    end)
  end)
  -- The same, waiting (Node's serverSideEmitWithAck).
  socket:on("sse-wait", function(text, ack)
    local responses, err, partial = sio.server:server_side_emit_with_ack("ping-workers", text)
    ack(err or sio.json.null, sio.json.array(responses or partial))
  end)
end

sio.server:on("connection", function(socket)
  socket.data.worker = sio.worker
  bind(socket)
end)
sio.server:on("reload", bind)

-- Another worker's server_side_emit.
sio.server:on("ping-workers", function(text, ack)
  ack("worker " .. sio.worker .. " heard " .. text)
end)
