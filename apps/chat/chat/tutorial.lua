-- The chat of the socket.io tutorial (2024), on the main namespace: every
-- `chat message` goes to everyone, the sender included, so the tutorial's
-- page works against siolua as it is. Messages follow the rules of the
-- /chat namespace (chat/names.lua); one that doesn't goes to no one.
local names = require "chat.names"

return function(server)
  -- On connection, and again on a hot reload (to the new code).
  local function bind(socket)
    -- The tutorial's later steps send extra arguments (a client offset)
    -- and ask for an ack: pass the text on, and answer the ack.
    socket:on("chat message", function(msg, ...)
      local n = select("#", ...)
      local ack = n > 0 and select(n, ...) or nil
      if type(msg) == "function" then msg, ack = nil, msg end
      local text = names.text(msg)
      if text then server:emit("chat message", text) end
      if type(ack) == "function" then ack() end
    end)
  end
  server:on("connection", bind)
  server:on("reload", bind)
end
