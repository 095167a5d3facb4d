-- Test app for tls.test.mjs: tells a client whether its connection is
-- secure and on which transport, echoes (binary too), and an HTTP route
-- answers req.secure. public/index.html does the same from a browser.
local sio = require "siolua"

sio.server:on("connection", function(socket)
  socket:on("whoami", function(done)
    done({ secure = socket.handshake.secure, transport = socket.conn.transport.name })
  end)
  socket:on("echo", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) == "function" then ack(table.unpack(args, 1, args.n - 1)) end
  end)
  socket:on("shout", function(text)
    sio.server:emit("shout", text)
  end)
end)

sio.http.get("/secure", function(req, res)
  res:json({ secure = req.secure })
end)
