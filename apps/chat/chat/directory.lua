-- Who is online and where, asked of the adapter with fetch_sockets instead
-- of kept in Lua tables. Each socket carries its own facts in socket.data
-- (user, room, key), and rooms carry membership, so the answers stay right
-- when several instances share rooms through Redis: there is no second
-- copy to go stale, and a closed tab removes nothing but itself.
local names = require "chat.names"

local directory = {}

-- Sorts names the way people expect to read them: case-insensitively.
local function by_name(a, b)
  local la, lb = a:lower(), b:lower()
  if la == lb then return a < b end
  return la < lb
end

-- The sockets (tabs) of a user, on any instance.
function directory.tabs(nsp, user)
  return nsp:in_(names.user_room(user)):fetch_sockets()
end

-- Whether a login may use `user`: yes when nobody has the name, or when
-- the tabs that have it were given the same key (another tab of the same
-- browser). `except` is the socket asking, which doesn't count.
--
-- The key is not authentication: it is how one person's tabs share a name.
-- A real app checks who people are in a connection middleware.
function directory.may_use(nsp, user, key, except)
  for _, tab in ipairs(directory.tabs(nsp, user)) do
    if tab.id ~= except and (key == nil or tab.data.key ~= key) then
      return false
    end
  end
  return true
end

-- The distinct user names of the sockets `op` selects, sorted.
local function users_of(op)
  local seen, list = {}, {}
  for _, s in ipairs(op:fetch_sockets()) do
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
  for _, s in ipairs(nsp:fetch_sockets()) do
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
