-- A cluster member for the Redis adapter tests: relays what a client asks
-- to broadcast, so the test sees what crosses to the other servers.
local sio = require "siolua"

local function relay(nsp)
  nsp:on("connection", function(socket)
    socket:on("join", function(room, ack) socket:join(room) ack(true) end)
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
