-- Test app for http_routes.test.mjs: sio.http routes (params, query,
-- headers, bodies, req:json, res:status/header/send/json), sleeping
-- handlers, errors, 204, precedence against the Socket.IO path and
-- public/, and a route that emits to a Socket.IO room.
local sio = require "siolua"

-- Everything the handler saw, as JSON.
local function describe(req)
  local names = {}
  for k in pairs(req.headers) do names[#names + 1] = k end
  table.sort(names)
  return {
    method = req.method,
    path = req.path,
    url = req.url,
    query = req.query,
    params = req.params,
    body = req.body,
    address = req.address,
    header_names = sio.json.array(names),
    custom = req.headers["x-custom-thing"] or sio.json.null,
    content_type = req.headers["content-type"] or sio.json.null,
  }
end

sio.http.get("/api/users/:id", function(req, res) res:json(describe(req)) end)
sio.http.get("/api/shops/:shop/items/:item", function(req, res) res:json(describe(req)) end)
sio.http.post("/api/echo", function(req, res) res:json(describe(req)) end)
sio.http.put("/api/echo", function(req, res) res:json(describe(req)) end)
sio.http.delete("/api/echo", function(req, res) res:json(describe(req)) end)
sio.http.patch("/api/echo", function(req, res) res:json(describe(req)) end)
sio.http.options("/api/echo", function(req, res) res:json(describe(req)) end)
sio.http.post("/api/raw", function(req, res)
  res:header("X-Length", #req.body)
  res:send(req.body)
end)
sio.http.route("report", "/api/any", function(req, res) res:json(describe(req)) end)

-- req:json(): the decoded body; a bad body stops the handler with a 400.
sio.http.post("/api/json", function(req, res)
  local v = req:json()
  sio.log.info("json handler went on for tag %s", tostring(req.query.tag))
  res:json({ got = v, again_same = req:json() == v })
end)

-- res:status / res:header / res:send / res:json.
sio.http.get("/api/custom", function(req, res)
  res:status(201):header("X-Thing", "yes"):header("Content-Type", "text/plain; charset=utf-8")
  res:send("custom body")
end)
sio.http.get("/api/send-status", function(req, res) res:send("accepted", 202) end)
sio.http.get("/api/json-status", function(req, res) res:json({ ok = false }, 418) end)
sio.http.get("/api/json-exact", function(req, res)
  res:json({ list = sio.json.array(), obj = {}, n = 1, f = 0.5, big = math.maxinteger, null = sio.json.null })
end)
sio.http.get("/api/twice", function(req, res)
  local first = res:send("first")
  local second = res:send("second")
  local third = res:json({ third = true })
  sio.log.info("twice: %s %s %s", tostring(first), tostring(second), tostring(third))
end)

-- Handlers that wait.
sio.http.get("/api/sleep/:ms", function(req, res)
  local t0 = sio.monotonic()
  sio.sleep(tonumber(req.params.ms))
  res:json({ slept = sio.monotonic() - t0 })
end)
sio.state.released = {}
sio.http.get("/api/hold/:key", function(req, res)
  local key = req.params.key
  while not sio.state.released[key] do sio.sleep(5) end
  local ok = res:send("released " .. key)
  sio.log.info("hold %s answered: %s", key, tostring(ok))
end)
sio.http.post("/api/release/:key", function(req, res)
  sio.state.released[req.params.key] = true
  res:send("ok")
end)

-- Errors and no answer.
sio.http.get("/api/crash", function(req, res)
  error("deliberate route failure")
end)
sio.http.get("/api/crash-after-sleep", function(req, res)
  sio.sleep(10)
  error("deliberate route failure after a sleep")
end)
sio.http.get("/api/silent", function(req, res) end)
sio.http.post("/api/silent", function(req, res) sio.log.info("silent post got %d bytes", #req.body) end)

-- HEAD on a GET route.
sio.http.get("/api/head-check", function(req, res)
  res:header("X-Route", "get " .. req.method)
  res:send("the body of the GET")
end)

-- Precedence.
sio.http.get("/socket.io/:x", function(req, res) res:send("route socket.io " .. req.params.x) end)
sio.http.get("/shadowed.txt", function(req, res) res:send("from the route") end)

-- The notify use case: a backend posts, a connected user gets an event.
sio.http.post("/api/notify/:user", function(req, res)
  local body = req:json()
  sio.server:to("user:" .. req.params.user):emit("notice", body.text)
  res:json({ delivered = true })
end)

sio.server:on("connection", function(socket)
  socket:on("login", function(user, ack)
    socket:join("user:" .. user)
    ack()
  end)
end)
