-- Test app for sio_browser.test.mjs: public/index.html loads the client
-- bundle the server serves at /socket.io/socket.io.js, connects, sends
-- "greet" and shows the answers.
local sio = require "siolua"

sio.server:on("connection", function(socket)
  socket:emit("welcome", "welcome, " .. socket.id)

  -- Bytes back, reversed (public/msgpack.html, under --set parser=msgpack).
  socket:on("reverse", function(data, ack) ack(sio.binary(tostring(data):reverse())) end)

  socket:on("greet", function(name, ack)
    ack("hello " .. name .. ", from Lua")
    socket:emit("news", { headline = "greeted " .. name, transport = socket.conn.transport.name })
  end)
end)
