-- The benchmark app (bench/compare, bench/loadgen): every client joins the
-- room "everyone"; "echo" is answered through its ack with the same
-- arguments; "shout" is broadcast to "everyone", the sender included. The
-- anchors in bench/anchors/ do exactly the same, so the servers are
-- compared on the same work.
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
