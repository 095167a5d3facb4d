-- The app `siolua test` tests itself against (tests/apps/selftest/tests/):
-- events, acks both ways, binary, a namespace with an auth middleware,
-- broadcasts, disconnects. Run: siolua test tests/apps/selftest
local sio = require "siolua"

-- Short heartbeats, so a test sees the client answer pings.
sio.configure { pingInterval = 200, pingTimeout = 400 }

sio.server:on("connection", function(socket)
  socket:emit("welcome", { id = socket.id })

  -- Sends the arguments back: as the ack when asked for one, else as an
  -- "echo" event.
  socket:on("echo", function(...)
    local args = table.pack(...)
    local last = args[args.n]
    if type(last) == "function" then
      last(table.unpack(args, 1, args.n - 1))
    else
      socket:emit("echo", table.unpack(args, 1, args.n))
    end
  end)

  socket:on("sum", function(a, b, ack) ack(a + b) end)

  -- The socket's own listener lists, driven by the client: "listen" adds
  -- a listener for event that emits "heard" with tag and the arguments
  -- (once: gone after its first run), "unlisten" takes out the one of tag
  -- (all of event without one); both ack how many are left.
  local added = {}
  socket:on("listen", function(event, tag, once, ack)
    local fn = function(...) socket:emit("heard", tag, ...) end
    added[tag] = fn
    if once then socket:once(event, fn) else socket:on(event, fn) end
    ack(#socket:listeners(event))
  end)
  socket:on("unlisten", function(event, tag, ack)
    if tag == sio.null then socket:removeAllListeners(event) else socket:off(event, added[tag]) end
    ack(#socket:listeners(event))
  end)

  socket:on("slow", function(ms, ack)
    sio.sleep(ms)
    ack("late")
  end)

  -- Binary echo: the bytes reversed, and their count.
  socket:on("binary", function(data, ack)
    ack(sio.binary(tostring(data):reverse()), #data)
  end)

  socket:on("send binary", function(n)
    socket:emit("bytes", sio.binary(string.rep("\0\1\2", n)), { nested = sio.binary("\255") })
  end)

  -- The server asks the client a question (emit with an ack) and reports
  -- the answer it got.
  socket:on("ask me", function(question)
    local answer, err = socket:timeout(2000):emit_with_ack("question", question)
    socket:emit("answer was", err or sio.null, answer)
  end)

  socket:on("shout", function(text) sio.server:emit("broadcast", text) end)

  socket:on("kick me", function() socket:disconnect() end)

  -- Asks an outside service (tests stub sio.fetch): acks the user's name.
  socket:on("lookup", function(id, ack)
    local res, err = sio.fetch("https://users.example.invalid/users/" .. id)
    if not res then return ack(sio.null, err) end
    if res.status ~= 200 then return ack(sio.null, "status " .. res.status) end
    ack(res:json().name)
  end)
end)

-- HTTP routes, for t.http.
sio.http.get("/api/items/:id", function(req, res)
  res:json({ id = req.params.id, q = req.query.q or sio.null })
end)
sio.http.post("/api/items", function(req, res)
  local body = req:json()
  res:json({ created = body.name }, 201)
end)

local admin = sio.server:of("/admin")
admin:use(function(socket, next)
  if socket.handshake.auth.token ~= "secret" then
    return next(sio.error("unauthorized", { reason = "bad token" }))
  end
  next()
end)
admin:on("connection", function(socket)
  socket:on("whoami", function(ack) ack("admin", socket.handshake.query.user) end)
end)
