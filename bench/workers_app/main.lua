-- The app of bench/workers.mjs: an echo with an ack (work that stays on one
-- worker) and a broadcast to everyone (work that crosses the workers).
local sio = require "siolua"

sio.server:on("connection", function(socket)
  socket:on("echo", function(v, ack) ack(v) end)
  -- An app that does real work per event (here 20k steps of arithmetic):
  -- the server, not the client, is then what limits the rate.
  socket:on("work", function(n, ack)
    local x = 0
    for i = 1, n do x = (x * 31 + i) % 1000003 end
    ack(x)
  end)
  socket:on("shout", function(v, ack) sio.server:emit("heard", v) ack(true) end)
end)
