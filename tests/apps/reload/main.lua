-- Test app for app_reload.test.mjs. The tests copy this folder into a temp
-- dir and edit the copy while the server runs: the VERSION line, the
-- ROUTE line, and lines inserted after the MARK line (error(), syntax
-- errors). Keep those lines' texts unique.
local sio = require "siolua"
local greeting = require "greeting"
local format = require "lib.format"

-- Options are read once: on a reload this call is ignored (not an error).
sio.configure { pingInterval = 25000 }

-- MARK: tests insert lines after this one
local VERSION = "v1"

-- A local of main.lua (rebuilt by a reload) next to a counter kept in
-- sio.state (which survives reloads).
local hits = 0
sio.state.hits = sio.state.hits or 0
sio.state.loads = (sio.state.loads or 0) + 1

sio.server:on("connection", function(socket)
  if socket.reloaded then
    -- One-time work is skipped; the rebinding is recorded.
    socket.data.rebinds = (socket.data.rebinds or 0) + 1
    socket:emit("rebound", VERSION, socket.data.rebinds)
  else
    socket.data.connects = (socket.data.connects or 0) + 1
    socket:emit("welcome", VERSION)
  end

  socket:on("version", function(ack) ack(VERSION) end)
  socket:on("greet", function(name, ack) ack(greeting.greet(name)) end)
  socket:on("shout", function(text, ack) ack(format.shout(text)) end)

  socket:on("info", function(ack)
    local rooms = {}
    for room in pairs(socket.rooms) do rooms[#rooms + 1] = room end
    table.sort(rooms)
    ack({
      id = socket.id,
      rooms = sio.json.array(rooms),
      connects = socket.data.connects or 0,
      rebinds = socket.data.rebinds or 0,
      loads = sio.state.loads,
    })
  end)

  socket:on("set-data", function(key, value, ack) socket.data[key] = value ack() end)
  socket:on("get-data", function(key, ack) ack(socket.data[key]) end)

  socket:on("join", function(room, ack) socket:join(room) ack() end)
  socket:on("to-room", function(room, ack)
    sio.server:to(room):emit("room-message", VERSION, room)
    ack()
  end)

  socket:on("hit", function(ack)
    hits = hits + 1
    sio.state.hits = sio.state.hits + 1
    ack(hits, sio.state.hits)
  end)

  -- A server -> client emit_with_ack that waits for the client's answer;
  -- the outcome is reported with the VERSION of the code that started it.
  socket:on("ask-client", function(ack)
    ack()
    local err, answer = socket:timeout(20000):emit_with_ack("question", VERSION)
    socket:emit("answer-was", VERSION, err or sio.json.null, answer or sio.json.null)
  end)

  -- A handler that waits (sleeping) until "release" is sent, then acks.
  socket:on("hold", function(key, ack)
    sio.state.held = sio.state.held or {}
    while not sio.state.held[key] do sio.sleep(10) end
    ack(VERSION, key)
  end)
  socket:on("release", function(key, ack)
    sio.state.held = sio.state.held or {}
    sio.state.held[key] = true
    ack()
  end)
end)

-- A second namespace: its sockets are rebound too.
sio.server:of("/admin"):on("connection", function(socket)
  if socket.reloaded then socket:emit("rebound", VERSION) end
  socket:on("version", function(ack) ack("admin " .. VERSION) end)
end)

sio.http.get("/version", function(req, res) res:json({ version = VERSION }) end)
sio.http.get("/old-route", function(req, res) res:send("old route " .. VERSION) end) -- ROUTE
