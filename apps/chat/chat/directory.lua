-- Who is online and where, asked of the adapter with fetch_sockets instead
-- of kept in Lua tables. Each socket carries its own facts in socket.data
-- (user, room, key), and rooms carry membership, so the answers stay right
-- when several instances share rooms through Redis: there is no second
-- copy to go stale, and a closed tab removes nothing but itself.
local sio = require "siolua"
local names = require "chat.names"

local directory = {}

-- The sockets op selects. When an instance of the cluster does not answer
-- in time, fetch_sockets fails (nil, err, what came): the sockets that did
-- come are the best answer there is, and the miss is logged.
local function sockets(op)
  local list, err, partial = op:fetch_sockets()
  if list then return list end
  sio.log.warn("chat: %s; answering with the sockets that came", err)
  return partial
end
directory.sockets = sockets

-- Sorts names the way people expect to read them: case-insensitively.
local function by_name(a, b)
  local la, lb = a:lower(), b:lower()
  if la == lb then return a < b end
  return la < lb
end

-- The sockets (tabs) of a user, on any instance.
function directory.tabs(nsp, user)
  return sockets(nsp:in_(names.user_room(user)))
end

-- Takes `user` for `socket` if nobody else has it: yes when nobody holds
-- or is taking the name, or when the tabs that do were given the same key
-- (another tab of the same browser). Returns true when the name is the
-- socket's; the caller then joins its user room.
--
-- fetch_sockets waits for the other instances of a cluster (and, with a
-- cluster adapter, even on one instance), so "look, then join" would let
-- two tabs that ask at the same moment both see a free name. Instead a tab
-- first stakes its claim in the room claim:<name>, then looks at the tabs
-- that hold or claim the name: of two simultaneous claims at least the
-- later one sees the other, so two people never get one name (at worst both
-- are refused and asked again). The claim is dropped either way.
--
-- The key is not authentication: it is how one person's tabs share a name.
-- A real app checks who people are in a connection middleware.
function directory.claim(socket, user, key)
  local claim = names.claim_room(user)
  socket.data.claim_key = key
  socket:join(claim)
  local free = true
  for _, tab in ipairs(sockets(socket.nsp:in_({ names.user_room(user), claim }))) do
    local theirs = tab.data.key or tab.data.claim_key
    if tab.id ~= socket.id and theirs ~= key then
      free = false
      break
    end
  end
  if free then socket:join(names.user_room(user)) end
  socket:leave(claim)
  socket.data.claim_key = nil
  return free
end

-- The distinct user names of the sockets `op` selects, sorted.
local function users_of(op)
  local seen, list = {}, {}
  for _, s in ipairs(sockets(op)) do
    local user = s.data.user
    if user and not seen[user] then
      seen[user] = true
      list[#list + 1] = user
    end
  end
  table.sort(list, by_name)
  return list
end

-- The users in a chat room.
function directory.users_in(nsp, room)
  return users_of(nsp:in_(names.chat_room(room)))
end

-- Every chat room that has someone in it: a sorted list of
-- {name = room, users = count of distinct users}.
function directory.rooms(nsp)
  local users = {}  -- room -> set of user names
  for _, s in ipairs(sockets(nsp)) do
    local room, user = s.data.room, s.data.user
    if room and user then
      users[room] = users[room] or {}
      users[room][user] = true
    end
  end
  local list = {}
  for room, set in pairs(users) do
    local n = 0
    for _ in pairs(set) do n = n + 1 end
    list[#list + 1] = { name = room, users = n }
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

return directory
