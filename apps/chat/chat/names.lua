-- User names and room names: what a person may type, and the Socket.IO
-- rooms they map to. Pure functions, no sockets: easy to reason about and
-- to test on their own.
local names = {}

names.MAX_USER = 24 -- characters, not bytes
names.MAX_ROOM = 32
names.DEFAULT_ROOM = "lobby"

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The checks user and room names share. Returns the trimmed name, or nil
-- and a reason written for the person who typed it.
local function check(what, s, max)
  if type(s) ~= "string" then return nil, what .. " must be text" end
  s = trim(s)
  if s == "" then return nil, what .. " can't be empty" end
  local len = utf8.len(s)
  if not len then return nil, what .. " must be valid UTF-8" end
  if len > max then return nil, ("%s can be at most %d characters"):format(what, max) end
  -- Commands split on spaces ("/msg NAME TEXT"), so a name has none.
  if s:find("[%s%c]") then return nil, what .. " can't contain spaces" end
  return s
end

-- A user name as it will be shown: "Ada", "josé_42". Names are unique
-- without regard to ASCII case, so "ada" and "Ada" can't both be online.
function names.user(s)
  local name, why = check("a name", s, names.MAX_USER)
  if not name then return nil, why end
  if name:find("^[/#]") then return nil, 'a name can\'t start with "/" or "#"' end
  return name
end

-- A room name as stored and shown: lower case, without the "#" people
-- type out of IRC habit ("/j #Dev" joins "dev").
function names.room(s)
  if type(s) == "string" then s = trim(s):gsub("^#", "", 1) end
  local room, why = check("a room name", s, names.MAX_ROOM)
  if not room then return nil, why end
  if room:find("^/") then return nil, 'a room name can\'t start with "/"' end
  return room:lower()
end

-- The Socket.IO room holding every tab of a user: a private message is a
-- broadcast to it, so it reaches all of them, on every instance.
function names.user_room(user) return "user:" .. user:lower() end

-- The Socket.IO room of the tabs that are taking the name `user` (see
-- chat/directory.lua): nothing is ever sent to it.
function names.claim_room(user) return "claim:" .. user:lower() end

-- The Socket.IO room of a chat room. Prefixes keep chat rooms, user rooms
-- and socket ids (every socket is in a room named after its id) apart.
function names.chat_room(room) return "room:" .. room end

return names
