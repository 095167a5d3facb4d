-- Test app for sio_recovery.test.mjs (run with
-- --set connectionStateRecovery=true): a socket joins a room and fills
-- socket.data; a feed is emitted to the room while the client's transport
-- is down; on reconnection the app reports what it restored.
local sio = require "siolua"

local function sorted_rooms(socket)
  local out = {}
  for name in pairs(socket.rooms) do out[#out + 1] = name end
  table.sort(out)
  return sio.json.array(out)
end

sio.server:on("connection", function(socket)
  -- What this connection looks like from Lua, sent on every (re)connection.
  socket:emit("state", {
    recovered = socket.recovered == true,
    id = socket.id,
    rooms = sorted_rooms(socket),
    data = socket.data,
  })

  socket:on("setup", function(room, name, ack)
    socket:join(room)
    socket.data.name = name
    socket.data.joined = room
    ack(sorted_rooms(socket))
  end)

  -- Emits "feed" 0..count-1 to the room, one every `every` ms, then
  -- "feed-end". A server timer, so it goes on while this socket is away.
  socket:on("start-feed", function(room, count, every, ack)
    local i = 0
    local timer
    timer = sio.set_interval(every, function()
      if i < count then
        sio.server:to(room):emit("feed", i)
        i = i + 1
      else
        timer:cancel()
        sio.server:to(room):emit("feed-end", count)
      end
    end)
    ack()
  end)

  socket:on("state?", function(ack)
    ack({
      recovered = socket.recovered == true,
      id = socket.id,
      rooms = sorted_rooms(socket),
      data = socket.data,
    })
  end)
end)
