-- Socket.IO v2 clients (Engine.IO v3) against siolua with allowEIO3: echo
-- with acks and binary, a namespace, and a refusing middleware.
local sio = require "siolua"

sio.configure { allowEIO3 = true }

local function echo(socket)
  socket:on("echo", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) == "function" then
      ack(table.unpack(args, 1, args.n - 1))
    else
      socket:emit("echo", table.unpack(args, 1, args.n))
    end
  end)
  socket:on("ask", function(q, ack)
    ack(socket:emit_with_ack("question", q))
  end)
  socket:emit("welcome", socket.nsp.name, socket.handshake.query.who or sio.json.null)
end

sio.server:on("connection", echo)
sio.server:of("/v2"):on("connection", echo)
sio.server:of("/closed"):use(function(socket, next) next("not for you") end)
