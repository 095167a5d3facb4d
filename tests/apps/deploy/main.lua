-- A cluster member for deploy_proxies.test.mjs (siolua behind nginx and
-- HAProxy): says which instance answered and which client address it saw,
-- and relays broadcasts to rooms across the cluster.
local sio = require "siolua"
local NAME = os.getenv("SIOLUA_NODE_NAME") or "?"

sio.server:on("connection", function(socket)
  socket:on("whoami", function(ack)
    ack({ node = NAME, address = socket.handshake.address, transport = socket.conn.transport.name })
  end)
  socket:on("join", function(room, ack) socket:join(room) ack(NAME) end)
  socket:on("to", function(room, event, ...) sio.server:to(room):emit(event, ...) end)
end)
