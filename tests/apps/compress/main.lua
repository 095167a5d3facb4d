-- The compression tests' app (tests/integration/compress_*.test.mjs):
-- echoes with acks (binary included), broadcasts to everyone, and sends
-- what it is asked for, compressed or, with compress(false), not: to
-- itself, or to everyone (across the cluster too). A client connecting with ?big=1 is welcomed with
-- 3000 bytes at once (so its next poll is over httpCompression's
-- threshold), as tests/integration/lib/node-compress-server.cjs does.
local sio = require "siolua"

sio.server:on("connection", function(socket)
  socket:join("everyone")
  if socket.handshake.query.big then socket:emit("welcome", string.rep("x", 3000)) end
  socket:on("echo", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) == "function" then ack(table.unpack(args, 1, args.n - 1)) end
  end)
  socket:on("shout", function(...)
    sio.server:to("everyone"):emit("shout", ...)
  end)
  -- Asks the client a question plain, waiting at most 2 s for its answer:
  -- ack(err, answer).
  socket:on("ask_plain", function(text, ack)
    local answer, err = socket:compress(false):timeout(2000):emit_with_ack("question", text)
    ack(err or sio.json.null, answer)
  end)
  socket:on("plain", function(text, to_all)
    if to_all then
      sio.server:compress(false):emit("plain", text)
    else
      socket:compress(false):emit("plain", text)
    end
  end)
end)
