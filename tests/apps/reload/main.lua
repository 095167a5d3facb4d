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

-- The socket's listeners: bound on connection, and again by each reload
-- (the "reload" event), so a connected socket runs the new code.
local function bind(socket)
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
      reloaded_field = socket.reloaded ~= nil,
    })
  end)

  -- "reload" is the library's own event: not one to send other servers.
  socket:on("sse-reload", function(ack)
    local ok, err = pcall(sio.server.server_side_emit, sio.server, "reload", "x")
    ack(ok, tostring(err))
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
    local answer, err = socket:timeout(20000):emit_with_ack("question", VERSION)
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
end

-- A new connection: one-time work (counted, greeted), then the listeners.
sio.server:on("connection", function(socket)
  socket.data.connects = (socket.data.connects or 0) + 1
  socket:emit("welcome", VERSION)
  bind(socket)
end)

-- A reload, for each connected socket: the rebinding is recorded, the
-- one-time work is not done again.
sio.server:on("reload", function(socket)
  socket.data.rebinds = (socket.data.rebinds or 0) + 1
  socket:emit("rebound", VERSION, socket.data.rebinds)
  bind(socket)
end)

-- A second namespace: its sockets are rebound too.
local function bind_admin(socket)
  socket:on("version", function(ack) ack("admin " .. VERSION) end)
end
sio.server:of("/admin"):on("connection", bind_admin)
sio.server:of("/admin"):on("reload", function(socket)
  socket:emit("rebound", VERSION)
  bind_admin(socket)
end)

-- A namespace with no "reload" listener: its connected sockets keep the
-- handlers they have (this version's) until they reconnect.
sio.server:of("/legacy"):on("connection", function(socket)
  socket:on("version", function(ack) ack("legacy " .. VERSION) end)
end)

sio.http.get("/version", function(req, res) res:json({ version = VERSION }) end)
sio.http.get("/old-route", function(req, res) res:send("old route " .. VERSION) end) -- ROUTE
