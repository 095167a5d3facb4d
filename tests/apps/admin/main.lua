-- The Admin UI tests' app (tests/integration/admin_*.test.mjs), and the
-- same app as Node's in tests/integration/lib/node-admin-server.cjs: the
-- dashboard instrumented as the environment says, and a few events that
-- make sockets join and leave rooms, receive and send.
--   ADMIN_AUTH=basic  user "admin", password "changeit" (else no auth)
--   ADMIN_MODE        development | production
--   ADMIN_READONLY=1, ADMIN_SERVER_ID=..., ADMIN_STORE=redis (Node's
--   RedisStore keys, on SIOLUA_REDIS_URL), ADMIN_CORS=origin (with
--   credentials, as the admin-ui docs tell Node users to set it)
local sio = require "siolua"

local cors = os.getenv("ADMIN_CORS")
if cors then sio.configure{ cors = { origin = { cors }, credentials = true } } end

local auth = false
if os.getenv("ADMIN_AUTH") == "basic" then
  auth = { type = "basic", username = "admin",
           password = "$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS" }
end
local store
if os.getenv("ADMIN_STORE") == "redis" then store = sio.admin.redis_store() end
sio.admin.instrument{
  auth = auth, mode = os.getenv("ADMIN_MODE") or "development",
  readonly = os.getenv("ADMIN_READONLY") == "1", server_id = os.getenv("ADMIN_SERVER_ID"),
  store = store,
}
sio.admin.serve_ui("/admin")

local function app(nsp)
  nsp:use(function(socket, next)
    socket.data.role = "guest"
    next()
  end)
  nsp:on("connection", function(socket)
    local name = socket.handshake.auth.name
    if name then socket.data.name = name end
    socket:on("join", function(room, ack) socket:join(room) ack("joined " .. room) end)
    socket:on("leave", function(room, ack) socket:leave(room) ack("left " .. room) end)
    socket:on("echo", function(value, ack)
      socket:emit("echoed", value)
      if ack then ack(value) end
    end)
    socket:on("rename", function(name) socket.data.name = name end)
    socket:on("bye", function() socket:disconnect() end)
  end)
end
app(sio.server)
app(sio.server:of("/chat"))

-- For the bcrypt test: a hash made here, and a hash made elsewhere
-- checked here (both waiting on the thread pool).
sio.http.post("/test/bcrypt", function(req, res)
  local body = req:json()
  local hash = sio.crypto.bcrypt_hash(body.password, body.cost)
  res:json({ hash = hash, ok = sio.crypto.bcrypt_verify(body.password, body.hash or hash),
             wrong = sio.crypto.bcrypt_verify(body.password .. "x", body.hash or hash) })
end)
