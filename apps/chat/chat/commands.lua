-- IRC-style commands typed in the message box: a clientMessage that
-- starts with "/" is parsed here, on the server, so every client gets them
-- (the page sends lines as typed). Each command is one entry of a table:
-- its usage line and a function of (socket, argument string).
local names = require "chat.names"
local actions = require "chat.actions"

local commands = {}

local list = {
  { name = "j", usage = "/j ROOM", help = "join ROOM, leaving the current one",
    run = function(socket, arg)
      if arg == "" then return false end
      actions.join(socket, arg)
    end },
  { name = "nick", usage = "/nick NAME", help = "change your name",
    run = function(socket, arg)
      if arg == "" then return false end
      actions.rename(socket, arg)
    end },
  { name = "who", usage = "/who", help = "who is in this room",
    run = function(socket) actions.who(socket) end },
  { name = "rooms", usage = "/rooms", help = "the rooms with people in them",
    run = function(socket) actions.rooms(socket) end },
  { name = "msg", usage = "/msg NAME TEXT", help = "a private message to every tab of NAME",
    run = function(socket, arg)
      local to, text = arg:match("^(%S+)%s+(.+)$")
      if not to then return false end
      if not names.user(to) then
        return actions.refuse(socket, "no_such_user", "No user named " .. to .. " is online")
      end
      actions.whisper(socket, to, text)
    end },
  { name = "help", usage = "/help", help = "this list",
    run = function(socket) commands.help(socket) end },
}

local by_name = { join = list[1] } -- "/join" as a long form of "/j"
for _, c in ipairs(list) do by_name[c.name] = c end

-- The help line, e.g. "Commands: /j ROOM, /nick NAME, ...".
local function summary()
  local usages = {}
  for _, c in ipairs(list) do usages[#usages + 1] = c.usage end
  return "Commands: " .. table.concat(usages, ", ")
end

function commands.help(socket)
  actions.tell(socket, summary())
  for _, c in ipairs(list) do
    actions.tell(socket, c.usage .. " — " .. c.help)
  end
end

-- Runs the command in `line` ("/j dev"). A command called without the
-- argument it needs (its run returns false) gets its usage line.
function commands.run(socket, line)
  local name, arg = line:match("^/(%S*)%s*(.-)%s*$")
  local c = by_name[name:lower()]
  if not c then
    return actions.refuse(socket, "unknown_command", "Unknown command /" .. name .. ". " .. summary())
  end
  if c.run(socket, arg) == false then
    actions.refuse(socket, "usage", "Usage: " .. c.usage)
  end
end

return commands
