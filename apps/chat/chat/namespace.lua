-- The /chat namespace: the events of the chat room from the socket.io
-- book chapter, wired to chat/actions.lua.
--   client -> server: login (name[, key]), clientMessage (text), join (room)
--   server -> client: login, serverMessage (text), chat message
--                     {user, room, text, time}, chat state {user, room, key},
--                     chat error {code, message}
local commands = require "chat.commands"
local actions = require "chat.actions"
local names = require "chat.names"

-- Ignores the ack function a client may have asked for as the last
-- argument (ours never need one).
local function arg(v)
  if type(v) == "function" then return nil end
  return v
end

return function(nsp)
  -- The socket's listeners. A hot reload binds the connected sockets to the
  -- new code by running this again (the "reload" event), without greeting
  -- them again.
  local function bind(socket)
    socket:on("login", function(name, key)
      actions.login(socket, arg(name), arg(key))
    end)

    socket:on("clientMessage", function(content)
      if not socket.data.user then
        return actions.refuse(socket, "not_logged_in", "Log in first: send login with your name")
      end
      local text, code, why = names.text(arg(content))
      if code then return actions.refuse(socket, code, why) end
      if not text then return end
      if text:sub(1, 1) == "/" then return commands.run(socket, text) end
      actions.say(socket, text)
    end)

    socket:on("join", function(room)
      if not socket.data.user then
        return actions.refuse(socket, "not_logged_in", "Log in first: send login with your name")
      end
      actions.join(socket, arg(room))
    end)

    socket:on("disconnect", function()
      actions.left(socket)
    end)
  end

  local function greet(socket)
    if socket.handshake.auth.structured == true then socket:join(actions.STRUCTURED) end
    socket:emit("login")
  end

  nsp:on("connection", function(socket)
    bind(socket)
    greet(socket)
  end)
  nsp:on("reload", bind)
end
