-- The smallest useful app: echoes events (with acks and binary) and
-- broadcasts to a room. Used by the valgrind leak check, the benchmarks,
-- and the metrics and TLS tests, which also use the events below it.
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
  -- For the metrics: a failing handler, and a question the client never
  -- answers (the wait times out).
  socket:on("boom", function()
    error("boom on purpose")
  end)
  socket:on("ask", function(ms, done)
    local _, err = socket:timeout(ms):emit_with_ack("question")
    done(err and "timed out" or "answered")
  end)
  -- For TLS: is this connection secure, on which transport.
  socket:on("whoami", function(done)
    done({ secure = socket.handshake.secure, transport = socket.conn.transport.name })
  end)
end)

sio.http.get("/secure", function(req, res)
  res:json({ secure = req.secure })
end)

-- Any namespace under /any: names come from clients (the metrics' label
-- values must survive quotes, backslashes and bytes that are not UTF-8).
sio.server:of(function(name) return name:sub(1, 4) == "/any" end)
