-- The server app the official Engine.IO v4 and Socket.IO v5 test suites
-- expect (see README.md here and /work/shared/CONFORMANCE.md, sections 4-6).
-- Run: build/siolua run tests/conformance --port 3000 --host 127.0.0.1
local sio = require "siolua"

-- The suites check these values literally in the handshake.
local engine_options = {
  pingInterval = 300,
  pingTimeout = 200,
  maxHttpBufferSize = 1000000,
  cors = { origin = "*" },
}

sio.configure {
  pingInterval = engine_options.pingInterval,
  pingTimeout = engine_options.pingTimeout,
  maxHttpBufferSize = engine_options.maxHttpBufferSize,
  connectTimeout = 1000,
  cors = engine_options.cors,
}

-- Engine.IO suite: a bare Engine.IO endpoint that sends every message back
-- to the session it came from, text as text and binary as binary.
sio.engine("/engine.io/", engine_options):on("connection", function(conn)
  conn:on("message", function(data)
    conn:send(data)
  end)
end)

-- Socket.IO suite: "/" and "/custom" exist, every other namespace is
-- refused with "Invalid namespace" (nothing else is declared).
local function send_auth(socket)
  -- The CONNECT payload as received; no payload arrives as {} and the JSON
  -- mapping sends an empty object back as {}.
  socket:emit("auth", socket.handshake.auth)
end

sio.server:on("connection", function(socket)
  send_auth(socket)

  -- Every argument goes back, binary values and nulls included.
  socket:on("message", function(...)
    socket:emit("message-back", ...)
  end)

  socket:on("message-with-ack", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) ~= "function" then return end -- no ack was asked for
    ack(table.unpack(args, 1, args.n - 1))
  end)
end)

sio.server:of("/custom"):on("connection", send_auth)
