-- The soak app (bench/soak/soak.mjs): what a chat does, for half an hour.
-- Every client joins one of ROOMS small rooms; "echo" (the generator's
-- chat message) is acknowledged with its arguments and broadcast to the
-- sender's room as "shout", so each message is delivered to about a
-- dozen others. A hot reload (SIGHUP) runs this file again: the sockets
-- already connected are bound to the new handlers (the "reload" event).
local sio = require "siolua"

local ROOMS = 800
sio.state.next_room = sio.state.next_room or 0

local function bind(socket)
  socket:on("echo", function(...)
    local args = table.pack(...)
    local ack = args[args.n]
    if type(ack) == "function" then
      ack(table.unpack(args, 1, args.n - 1))
      socket:to(socket.data.room):emit("shout", args[1])
    end
  end)
end

sio.server:on("connection", function(socket)
  sio.state.next_room = (sio.state.next_room + 1) % ROOMS
  socket.data.room = "room:" .. sio.state.next_room
  socket:join(socket.data.room)
  bind(socket)
end)
sio.server:on("reload", bind)
