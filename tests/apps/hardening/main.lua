-- App patterns that once broke the server (found in review); each is kept
-- here with the test that drives it (tests/integration/hardening.test.mjs).
local sio = require "siolua"

sio.server:on("connection", function(socket)
  -- Disconnecting the socket again from its own "disconnecting" handler.
  socket:on("disconnecting", function() socket:disconnect(true) end)
  -- A chat-style "left" broadcast from "disconnect", while slow readers
  -- are being dropped in the middle of another broadcast.
  socket:on("disconnect", function() sio.server:emit("left", string.rep("x", 60000)) end)
  socket:on("shout", function(text) sio.server:emit("shout", text) end)
  socket:on("ping-me", function(ack) ack("pong") end)
end)

-- A Content-Type taken from the request.
sio.http.get("/ctype", function(req, res)
  res:header("Content-Type", req.query.type or "text/plain")
  res:header("X-Echo", req.query.echo or "none")
  res:send("body")
end)

-- A raw Engine.IO connection closed inside its own "connection" handler,
-- then used later by a timer.
local kept = {}
local raw = sio.engine("/raw/")
raw:on("connection", function(conn)
  kept[#kept + 1] = conn
  conn:close()
  sio.set_timeout(50, function() sio.state.late_send = conn:send("too late") end)
end)
sio.http.get("/late-send", function(_, res) res:json({ result = sio.state.late_send == nil and "pending" or sio.state.late_send }) end)
