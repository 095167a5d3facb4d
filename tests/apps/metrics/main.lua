-- The app of tests/integration/metrics.test.mjs: events whose effects the
-- metrics count (an acked echo, a broadcast, a failing handler, an ack that
-- never comes).
local sio = require "siolua"

sio.server:on("connection", function(socket)
  socket:join("all")
  socket:on("echo", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) == "function" then ack(table.unpack(args, 1, args.n - 1)) end
  end)
  socket:on("shout", function(text)
    sio.server:to("all"):emit("shout", text)
  end)
  socket:on("boom", function()
    error("boom on purpose")
  end)
  -- Asks the client something it never answers: the wait times out.
  socket:on("ask", function(ms, done)
    local err = socket:timeout(ms):emit_with_ack("question")
    done(err and "timed out" or "answered")
  end)
end)

-- Any namespace under /any: names come from clients, label values must
-- survive them (quotes, backslashes, bytes that are not UTF-8).
sio.server:of(function(name) return name:sub(1, 4) == "/any" end)
