-- A cluster member for deploy_proxies.test.mjs (siolua behind nginx and
-- HAProxy): says which instance answered, which client address it saw and
-- the scheme the proxy says the client used (X-Forwarded-Proto), and relays
-- broadcasts to rooms across the cluster.
local sio = require "siolua"
local NAME = os.getenv("SIOLUA_NODE_NAME") or "?"

sio.server:on("connection", function(socket)
  socket:on("whoami", function(ack)
    ack({ node = NAME, address = socket.handshake.address, transport = socket.conn.transport.name,
          proto = socket.handshake.headers["x-forwarded-proto"] })
  end)
  socket:on("join", function(room, ack) socket:join(room) ack(NAME) end)
  socket:on("to", function(room, event, ...) sio.server:to(room):emit(event, ...) end)
end)
