-- /chat: logging in, refused names, one name shared by the tabs of one
-- browser (its key), and what the server keeps for a logged-in tab.
local sio = require "siolua"
local t = require "siolua.test"
local h = require "tests.lib.tab"

t.test("login: chat state {user, room = lobby, key}, the two lines, and the others hear it", function()
  local other = h.logged_in(h.name("watcher"))
  local ada = h.tab()
  t.eq(ada.prompts, 1, "asked to log in once on connect")
  local name = h.name("Ada")
  local state = assert(ada:login(name))
  t.eq(state.user, name)
  t.eq(state.room, "lobby")
  t.eq(type(state.key), "string")
  t.eq(state.key, ada.c.id, "a new browser's key is its first socket's id")
  t.ok(h.wait_for(function() return #ada.lines >= 2 end))
  t.deep_eq(ada.lines, { "Currently logged in as " .. name, "You joined room lobby" })
  t.ok(other:line("User " .. name .. " logged in"), "the other tab heard the login")
  -- The server keeps it in socket.data and in rooms (user rooms are lower case).
  local s = ada:server_socket()
  t.eq(s.data.user, name)
  t.eq(s.data.room, "lobby")
  t.ok(s.rooms["user:" .. name:lower()], "in its user room")
  t.ok(s.rooms["room:lobby"], "in the lobby")
  t.eq(s.data.claim_key, nil, "no claim left behind")
  t.ok(not s.rooms["claim:" .. name:lower()], "not in the claim room")
  t.deep_eq(ada.errors, {})
end)

t.test("bad names are refused as invalid_name and asked again; nobody hears of them", function()
  local other = h.logged_in(h.name("watcher"))
  local c = h.tab()
  local bad = { "", "   ", "two words", string.rep("x", 25), "/slash", "#hash", 42, sio.json.null, { name = "x" } }
  for i, name in ipairs(bad) do
    local state, err = c:login(name)
    t.eq(state, nil, "accepted: " .. t.show(name))
    t.eq(err.code, "invalid_name", t.show(name))
    t.ok(err.message:find("^Can't log in: "), err.message)
    t.ok(h.wait_for(function() return c.prompts == i + 1 end), "asked again after " .. t.show(name))
  end
  t.eq(c.lines[1], "Can't log in: a name can't be empty")
  t.eq(c.lines[3], "Can't log in: a name can't contain spaces")
  t.eq(c.lines[4], "Can't log in: a name can be at most 24 characters")
  t.eq(c.lines[5], "Can't log in: a name can't start with \"/\" or \"#\"")
  t.eq(#c.states, 0)
  -- 24 characters (not bytes) is fine.
  local long = string.rep("é", 24)
  t.eq(assert(c:login(long)).user, long)
  other:settle()
  for _, l in ipairs(other.lines) do
    t.ok(l == "Currently logged in as " .. other:state().user or l == "You joined room lobby"
      or l == "User " .. long .. " logged in", "other heard: " .. l)
  end
end)

t.test("a taken name is refused as name_taken in any letter case and with a wrong key; the key shares it", function()
  local name = h.name("Bob")
  local bob = h.logged_in(name)
  local other = h.tab()
  for _, try in ipairs({ { name }, { name:lower() }, { name:upper() }, { name, "not-the-key" }, { name, "" } }) do
    local state, err = other:login(try[1], try[2])
    t.eq(state, nil, "accepted " .. try[1] .. " with key " .. t.show(try[2]))
    t.eq(err.code, "name_taken")
    t.eq(err.message, "Can't log in: the name " .. try[1] .. " is taken")
  end
  t.ok(h.wait_for(function() return other.prompts == 6 end), "asked again after each refusal")
  local second = h.tab()
  local state = assert(second:login(name:lower(), bob:state().key))
  t.deep_eq(state, { user = name:lower(), room = "lobby", key = bob:state().key })
  -- Both tabs of bob are in the one user room.
  local tabs = sio.server:of("/chat"):in_("user:" .. name:lower()):fetch_sockets()
  t.eq(#tabs, 2)
  -- Once every tab is gone, the name is free again.
  bob.c:disconnect()
  second.c:disconnect()
  t.ok(h.wait_for(function() return #sio.server:of("/chat"):in_("user:" .. name:lower()):fetch_sockets() == 0 end))
  t.eq(assert(other:login(name)).user, name)
end)

t.test("two tabs asking for one name at the same moment: at most one gets it, and the name is never left half-taken", function()
  for round = 1, 5 do
    local name = h.name("twin")
    local x, y = h.tab(), h.tab()
    x.c:emit("login", name)
    y.c:emit("login", name)
    t.ok(h.wait_for(function()
      return (#x.states + #x.errors) >= 1 and (#y.states + #y.errors) >= 1
    end), "both answered")
    t.ok(#x.states + #y.states <= 1, "round " .. round .. ": both got " .. name)
    t.eq(#sio.server:of("/chat"):in_("claim:" .. name:lower()):fetch_sockets(), 0, "claims dropped")
    x.c:disconnect()
    y.c:disconnect()
  end
end)

t.test("clientMessage and join before a login are refused with not_logged_in", function()
  local c = h.tab()
  c:say("hello?")
  c.c:emit("join", "dev")
  t.ok(h.wait_for(function() return #c.errors == 2 end))
  for _, e in ipairs(c.errors) do
    t.deep_eq(e, { code = "not_logged_in", message = "Log in first: send login with your name" })
  end
  t.ok(not c:server_socket().rooms["room:dev"])
end)
