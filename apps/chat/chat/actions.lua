-- What a tab of the /chat namespace can do: log in, talk, change room or
-- name, whisper, ask who is around. Each action takes the socket it acts
-- for; events (chat/namespace.lua) and typed commands (chat/commands.lua)
-- both end up here.
--
-- A socket's state is socket.data.user, .room and .key, and its rooms:
--   user:<name>   every tab of that user (private messages go here)
--   room:<room>   the chat room the tab is in (one at a time)
--   structured    tabs whose page renders `chat message` itself
local sio = require "siolua"
local names = require "chat.names"
local directory = require "chat.directory"

local actions = {}

-- Clients that render the structured `chat message` (our page does: it
-- connects with auth.structured = true) join this room and are spared the
-- plain-text "... said: ..." copies they would only have to hide.
actions.STRUCTURED = "structured"

-- The chapter's protocol is one event of text for people...
local function tell(socket, text)
  socket:emit("serverMessage", text)
end
actions.tell = tell

-- ...and a refusal also comes as an event a program can act on:
-- `chat error` {code, message}.
local function refuse(socket, code, text)
  tell(socket, text)
  socket:emit("chat error", { code = code, message = text })
end
actions.refuse = refuse

-- Tells the tab who and where it is, so a page can show it; `key` lets
-- the browser's other tabs log in under the same name.
local function send_state(socket)
  local d = socket.data
  socket:emit("chat state", { user = d.user, room = d.room, key = d.key })
end


-- Moves the tab into `room`, leaving the one it was in, and tells the
-- members of both (a login has just told everyone: `quietly` skips that).
local function enter(socket, room, quietly)
  local d = socket.data
  local old = d.room
  if old then
    socket:leave(names.chat_room(old))
    socket.nsp:to(names.chat_room(old)):emit("serverMessage", "User " .. d.user .. " left this room")
  end
  socket:join(names.chat_room(room))
  d.room = room
  tell(socket, "You joined room " .. room)
  if not quietly then
    socket:to(names.chat_room(room)):emit("serverMessage", "User " .. d.user .. " joined this room")
  end
end

-- `login` (name[, key]): the first name of this tab. The key is the one a
-- previous login returned in `chat state`; with it, a second tab may share
-- a name its browser already uses. A refused login asks again (`login`),
-- as the server did on connect.
function actions.login(socket, name, key)
  if socket.data.user then return actions.rename(socket, name) end
  local user, why = names.user(name)
  if not user then
    refuse(socket, "invalid_name", "Can't log in: " .. why)
    return socket:emit("login")
  end
  if type(key) ~= "string" or key == "" then key = nil end
  -- A new browser's key is the id of its first socket: random, and never
  -- shown to anyone else.
  key = key or socket.id
  if not directory.claim(socket, user, key) then
    refuse(socket, "name_taken", "Can't log in: the name " .. user .. " is taken")
    return socket:emit("login")
  end
  socket.data.user, socket.data.key = user, key
  tell(socket, "Currently logged in as " .. user)
  socket.broadcast:emit("serverMessage", "User " .. user .. " logged in")
  enter(socket, names.DEFAULT_ROOM, true)
  send_state(socket)
end

-- `join` (room) or `/j ROOM`.
function actions.join(socket, name)
  local room, why = names.room(name)
  if not room then return refuse(socket, "invalid_room", "Can't join: " .. why) end
  if room == socket.data.room then return tell(socket, "You are already in room " .. room) end
  enter(socket, room)
  send_state(socket)
end

-- `/nick NAME`: renames this tab (the user's other tabs keep their name).
function actions.rename(socket, name)
  local d = socket.data
  local user, why = names.user(name)
  if not user then return refuse(socket, "invalid_name", "Can't rename: " .. why) end
  if user == d.user then return tell(socket, "You are already " .. user) end
  local old = d.user
  -- Renaming to another spelling of one's own name ("ada" -> "Ada") keeps
  -- the user room: it must not be left after the claim joined it.
  local same_room = names.user_room(old) == names.user_room(user)
  if not same_room and not directory.claim(socket, user, d.key) then
    return refuse(socket, "name_taken", "Can't rename: the name " .. user .. " is taken")
  end
  if not same_room then socket:leave(names.user_room(old)) end
  d.user = user
  tell(socket, "You are now known as " .. user)
  socket:to(names.chat_room(d.room)):emit("serverMessage", "User " .. old .. " is now known as " .. user)
  send_state(socket)
end

-- `clientMessage` (text) that is not a command: as the chapter's app,
-- "You said: ..." to the sender and "NAME said: ..." to the rest of the
-- room, plus `chat message` {user, room, text, time} to the whole room.
function actions.say(socket, text)
  local d = socket.data
  local room = names.chat_room(d.room)
  if not socket.rooms[actions.STRUCTURED] then tell(socket, "You said: " .. text) end
  socket:to(room):except(actions.STRUCTURED):emit("serverMessage", d.user .. " said: " .. text)
  socket.nsp:to(room):emit("chat message", { user = d.user, room = d.room, text = text, time = sio.now() })
end

-- `/msg NAME TEXT`: to every tab of NAME, wherever they are; the sender's
-- tabs get the structured copy too, so each shows the conversation.
function actions.whisper(socket, name, text)
  local d = socket.data
  local tabs = directory.tabs(socket.nsp, name)
  if #tabs == 0 then
    return refuse(socket, "no_such_user", "No user named " .. name .. " is online")
  end
  local to = tabs[1].data.user -- as its owner spells it
  local target = names.user_room(to)
  socket.nsp:to(target):except(actions.STRUCTURED):emit("serverMessage", d.user .. " whispers: " .. text)
  if not socket.rooms[actions.STRUCTURED] then tell(socket, "You whisper to " .. to .. ": " .. text) end
  socket.nsp:to(target):to(names.user_room(d.user)):emit("chat message",
    { user = d.user, to = to, text = text, time = sio.now(), private = true })
end

-- `/who`
function actions.who(socket)
  local users = directory.users_in(socket.nsp, socket.data.room)
  tell(socket, ("Users in room %s (%d): %s"):format(socket.data.room, #users, table.concat(users, ", ")))
end

-- `/rooms`
function actions.rooms(socket)
  local parts = {}
  for _, r in ipairs(directory.rooms(socket.nsp)) do
    parts[#parts + 1] = ("%s (%d)"):format(r.name, r.users)
  end
  tell(socket, "Rooms: " .. table.concat(parts, ", "))
end

-- The tab is gone: its room hears about it. Its Socket.IO rooms are left
-- by the server, so nothing else needs cleaning up.
function actions.left(socket)
  local d = socket.data
  if d.user then
    socket.nsp:to(names.chat_room(d.room)):emit("serverMessage", "User " .. d.user .. " disconnected")
  end
end

return actions
