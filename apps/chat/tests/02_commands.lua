-- /chat: talking in a room and the IRC-style commands.
local sio = require "siolua"
local t = require "siolua.test"
local h = require "tests.lib.tab"

t.test("a line goes to the room: 'You said', 'NAME said' for the others, and `chat message` to all", function()
  local room = h.name("r")
  local a = h.logged_in(h.name("amy"))
  local b = h.logged_in(h.name("ben"))
  local outsider = h.logged_in(h.name("out"))
  local from_a, from_b = #a.lines, #b.lines
  a:say("/j " .. room)
  b:say("/j " .. room)
  t.ok(b:line("You joined room " .. room, from_b))
  local from = #b.lines
  a:say("hello room")
  t.ok(a:line("You said: hello room", from_a))
  t.ok(b:line(a:state().user .. " said: hello room", from))
  t.ok(h.wait_for(function() return #b.messages == 1 and #a.messages == 1 end))
  local m = b.messages[1]
  t.eq(m.user, a:state().user)
  t.eq(m.room, room)
  t.eq(m.text, "hello room")
  t.eq(math.type(m.time), "integer")
  t.ok(math.abs(m.time - sio.now()) <= 5000, "time is milliseconds since 1970")
  outsider:settle()
  t.deep_eq(outsider.messages, {})
  for _, l in ipairs(outsider.lines) do t.ok(not l:find("hello room", 1, true), l) end
end)

t.test("/j ROOM: the old room hears 'left', the new one 'joined'; /j #Dev is dev; /join; usage", function()
  local a = h.logged_in(h.name("jay"))
  local stay = h.logged_in(h.name("stay"))
  local room = h.name("Dev")
  local from = #stay.lines
  a:say("/j #" .. room)
  t.ok(h.wait_for(function() return a:state().room == room:lower() end), "room is lower case, # dropped")
  t.ok(stay:line("User " .. a:state().user .. " left this room", from))
  t.ok(a.c.id and a:server_socket().rooms["room:" .. room:lower()])
  t.ok(not a:server_socket().rooms["room:lobby"])
  local there = h.tab()
  assert(there:login(h.name("there")))
  local from2 = #there.lines
  there:say("/join " .. room:lower())
  t.ok(a:line("User " .. there:state().user .. " joined this room"))
  t.ok(there:line("You joined room " .. room:lower(), from2))
  local ne = #a.errors
  a:say("/j")
  t.deep_eq(a:error_after(ne), { code = "usage", message = "Usage: /j ROOM" })
  ne = #a.errors
  a:say("/j " .. string.rep("r", 33))
  t.eq(a:error_after(ne).code, "invalid_room")
  local nl = #a.lines
  a:say("/j " .. room:lower())
  t.ok(a:line("You are already in room " .. room:lower(), nl))
end)

t.test("/who lists the distinct users of my room, sorted without case; /rooms counts users per room", function()
  local room = h.name("who")
  local z = h.logged_in(h.name("Zoe"))
  local a = h.logged_in(h.name("al"))
  local a2 = h.logged_in(a:state().user, a:state().key) -- a second tab: listed once
  for _, c in ipairs({ z, a, a2 }) do
    local n = #c.states
    c:say("/j " .. room)
    t.ok(h.wait_for(function() return #c.states > n end))
  end
  local from = #z.lines
  z:say("/who")
  local users = { z:state().user, a:state().user }
  table.sort(users, function(x, y) return x:lower() < y:lower() end)
  t.ok(z:line(("Users in room %s (2): %s"):format(room, table.concat(users, ", ")), from), t.show(z.lines))
  from = #z.lines
  z:say("/rooms")
  local l = z:line("^Rooms: ", from, true)
  t.ok(l, t.show(z.lines))
  t.ok(l:find(room .. " (2)", 1, true), l)
end)

t.test("/nick NAME renames: 'You are now known as', the room hears it, the user room follows; a taken name is refused", function()
  local old = h.name("nick")
  local a = h.logged_in(old)
  local b = h.logged_in(h.name("held"))
  local new = h.name("renamed")
  local from = #b.lines
  a:say("/nick " .. new)
  t.ok(a:line("You are now known as " .. new))
  t.ok(b:line("User " .. old .. " is now known as " .. new, from))
  t.eq(a:state().user, new)
  local s = a:server_socket()
  t.ok(s.rooms["user:" .. new:lower()] and not s.rooms["user:" .. old:lower()], t.show(s.rooms))
  local ne = #a.errors
  a:say("/nick " .. b:state().user:upper())
  t.deep_eq(a:error_after(ne), { code = "name_taken", message = "Can't rename: the name " .. b:state().user:upper() .. " is taken" })
  -- Another spelling of one's own name is fine and keeps the user room.
  a:say("/nick " .. new:upper())
  t.ok(h.wait_for(function() return a:state().user == new:upper() end))
  t.ok(a:server_socket().rooms["user:" .. new:lower()])
  -- A login from a logged-in tab is a rename.
  local n = #a.states
  a.c:emit("login", old)
  t.ok(h.wait_for(function() return #a.states > n end))
  t.eq(a:state().user, old)
end)

t.test("/help lists every command; an unknown command gets the summary as unknown_command; commands are not said", function()
  local a = h.logged_in(h.name("helpme"))
  local b = h.logged_in(h.name("listener"))
  local from = #a.lines
  a:say("/help")
  t.ok(a:line("Commands: /j ROOM, /nick NAME, /who, /rooms, /msg NAME TEXT, /help", from))
  t.ok(a:line("/msg NAME TEXT — a private message to every tab of NAME", from))
  local ne = #a.errors
  a:say("/dance now")
  local e = a:error_after(ne)
  t.eq(e.code, "unknown_command")
  t.eq(e.message, "Unknown command /dance. Commands: /j ROOM, /nick NAME, /who, /rooms, /msg NAME TEXT, /help")
  b:settle()
  for _, l in ipairs(b.lines) do t.ok(not l:find("dance") and not l:find("Commands"), l) end
end)

-- (Bad UTF-8, invalid_text, can't be sent with the Lua client, which
-- refuses to encode it: the node tests send it.)
t.test("messages over 2000 characters are refused as too_long; 2000 in multibyte characters go through", function()
  local a = h.logged_in(h.name("long"))
  local ne = #a.errors
  a:say(string.rep("x", 2001))
  t.deep_eq(a:error_after(ne), { code = "too_long", message = "Messages are at most 2000 characters" })
  local from = #a.lines
  a:say(string.rep("ü", 2000))
  t.ok(a:line("You said: " .. string.rep("ü", 2000), from))
  from = #a.lines
  a:say(string.rep("y", 2000))
  t.ok(a:line("You said: " .. string.rep("y", 2000), from))
end)
