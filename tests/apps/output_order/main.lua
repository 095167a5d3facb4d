-- Test app for sio_output_order.test.mjs: handlers that write a lot to one
-- connection within a single loop turn (broadcasts, direct emits, binary
-- attachments, an ack, a server -> client question, a disconnect), from a
-- packet, from a timer and from a disconnect handler. The server holds a
-- turn's output and writes it at the end of the turn; the client must get
-- every packet, whole and in the order the app wrote them.
local sio = require "siolua"

-- Writes n rounds to socket; every packet carries ("seq", kind, i, ...).
local function burst(socket, room, n, size)
  local pad = string.rep("x", size)
  for i = 1, n do
    sio.server:to(room):emit("seq", "bc", i, pad)
    socket:emit("seq", "direct", i)
    if i % 4 == 0 then
      socket:emit("seq", "bin", i, sio.binary(string.rep(string.char(i % 256), 3)))
    end
  end
end

sio.server:on("connection", function(socket)
  -- n rounds of a broadcast to room (the sender is in it) and a direct
  -- emit, then the ack: it comes after all of them.
  socket:on("burst", function(room, n, size, ack)
    socket:join(room)
    burst(socket, room, n, size)
    ack("done", n)
  end)

  -- The same from a timer: nothing from the client wakes the server after
  -- the ack, so the output must leave without further input.
  socket:on("burst-later", function(room, n, size, ack)
    socket:join(room)
    ack("scheduled")
    sio.set_timeout(0, function()
      burst(socket, room, n, size)
      socket:emit("seq", "end", n)
    end)
  end)

  -- A burst, then a question to the client in the same turn.
  socket:on("burst-ask", function(room, n, ack)
    socket:join(room)
    burst(socket, room, n, 0)
    socket:emit("question", n, function(answer) socket:emit("seq", "answered", answer) end)
    ack("asked")
  end)

  -- A burst, then the server disconnects the socket (close: the whole
  -- connection too) in the same turn: every packet arrives before the
  -- disconnect.
  socket:on("burst-disconnect", function(room, n, close)
    socket:join(room)
    burst(socket, room, n, 0)
    socket:disconnect(close)
  end)

  -- When this socket goes, its disconnect handler broadcasts to the room
  -- (output written from a close callback).
  socket:on("farewell-on-leave", function(room, ack)
    socket:join(room)
    socket:on("disconnect", function()
      sio.server:to(room):emit("seq", "farewell", socket.id)
    end)
    ack(socket.id)
  end)
end)
