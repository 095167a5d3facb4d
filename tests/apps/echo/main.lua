-- The smallest useful app: echoes events (with acks and binary) and
-- broadcasts to a room. Used by the valgrind leak check.
local sio = require "siolua"

sio.server:on("connection", function(socket)
  socket:join("everyone")
  socket:on("echo", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) == "function" then ack(table.unpack(args, 1, args.n - 1)) end
  end)
  socket:on("shout", function(text)
    sio.server:to("everyone"):emit("shout", text)
  end)
end)
