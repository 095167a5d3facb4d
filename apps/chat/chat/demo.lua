-- The protocol of the official socket.io chat demo (examples/chat in
-- socketio/socket.io), on the main namespace, so that demo's page works
-- unchanged against siolua:
--   add user (name)   -> login {numUsers} to the sender,
--                        user joined {username, numUsers} to the others
--   new message (text) -> new message {username, message} to the others
--   typing / stop typing -> the same, with {username}, to the others
--   (disconnect)      -> user left {username, numUsers}
--
-- numUsers is the size of the room USERS as the adapter sees it, not a
-- counter in a Lua variable: with a cluster adapter it counts the users of
-- every instance, where the Node demo's counter counts only its own.
--
-- Names and messages follow the rules of the /chat namespace
-- (chat/names.lua): the name is sent again with every `typing`, so a
-- stored megabyte would be a megabyte to every user per keystroke. The
-- demo's page has no way to show a refusal: a refused `add user` gets no
-- `login`, and a refused message goes to no one.
local names = require "chat.names"
local directory = require "chat.directory"

local USERS = "demo:users"

return function(server)
  local function count()
    return #directory.sockets(server:in_(USERS))
  end

  -- On connection, and again on a hot reload (to the new code).
  local function bind(socket)
    -- Only logged-in users talk, and only they hear it.
    local function to_others(event, payload)
      if socket.data.username then socket:to(USERS):emit(event, payload) end
    end

    socket:on("add user", function(name)
      local username = names.user(name)
      if socket.data.username or not username then return end
      socket.data.username = username
      socket:join(USERS)
      local n = count()
      socket:emit("login", { numUsers = n })
      to_others("user joined", { username = username, numUsers = n })
    end)

    socket:on("new message", function(message)
      local text = names.text(message)
      if text then to_others("new message", { username = socket.data.username, message = text }) end
    end)

    socket:on("typing", function()
      to_others("typing", { username = socket.data.username })
    end)

    socket:on("stop typing", function()
      to_others("stop typing", { username = socket.data.username })
    end)

    -- By now the socket has left USERS, so count() no longer includes it.
    socket:on("disconnect", function()
      local name = socket.data.username
      if name then
        server:to(USERS):emit("user left", { username = name, numUsers = count() })
      end
    end)
  end
  server:on("connection", bind)
  server:on("reload", bind)
end
