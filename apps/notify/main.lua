-- apps/notify: token-authenticated one-to-one notifications.
--
-- A user's sockets (every tab, every device, on every instance) are the
-- members of the room "user:<id>": there is no socket map to keep in sync,
-- and a closed tab removes nothing but itself. A backend delivers with
-- POST /api/notify; the adapter carries it to the other instances.
local sio = require "siolua"
local auth = require "notify.auth"
local api = require "notify.api"

-- Socket.IO on its usual path and on /notice, where the clients of the
-- original post connect (io(url, { path: "/notice" })).
sio.configure { path = "/socket.io/,/notice" }

-- A socket has no listeners of its own here (its room is what matters), so
-- a hot reload has nothing to rebind: no "reload" listener.
local function on_connection(socket)
  socket:join("user:" .. socket.data.user)
  socket:emit("ready", { user = socket.data.user })
end

-- "/notice" is the app's namespace; "/" serves the same for clients that
-- connect to the path /notice without a namespace.
for _, name in ipairs({ "/notice", "/" }) do
  local nsp = sio.server:of(name)
  nsp:use(auth.middleware)
  nsp:on("connection", on_connection)
end

api.routes({ "/notice", "/" })
