-- /chat: private messages (/msg) to every tab of a person, structured tabs,
-- and the disconnect notice.
local sio = require "siolua"
local t = require "siolua.test"
local h = require "tests.lib.tab"

t.test("/msg NAME TEXT reaches every tab of NAME, in any room; the sender's tabs get the private `chat message`; nobody else hears it", function()
  local bob = h.logged_in(h.name("bob"))
  local bob2 = h.logged_in(bob:state().user, bob:state().key)
  local n = #bob2.states
  bob2:say("/j elsewhere")
  t.ok(h.wait_for(function() return #bob2.states > n end))
  local carol = h.logged_in(h.name("carol"))
  local carol2 = h.logged_in(carol:state().user, carol:state().key, { auth = { structured = true } })
  local eve = h.logged_in(h.name("eve"))
  local to = bob:state().user

  carol:say("/msg " .. to:upper() .. " psst")
  t.ok(carol:line("You whisper to " .. to .. ": psst"), "as its owner spells it")
  for _, c in ipairs({ bob, bob2 }) do
    t.ok(c:line(carol:state().user .. " whispers: psst"))
    t.ok(h.wait_for(function() return #c.messages == 1 end))
    local m = c.messages[1]
    t.eq(m.private, true)
    t.eq(m.user, carol:state().user)
    t.eq(m.to, to)
    t.eq(m.text, "psst")
  end
  -- Both of carol's tabs get the structured copy; the structured one no plain line.
  t.ok(h.wait_for(function() return #carol.messages == 1 and #carol2.messages == 1 end))
  carol2:settle()
  for _, l in ipairs(carol2.lines) do t.ok(not l:find("whisper"), l) end
  eve:settle()
  for _, l in ipairs(eve.lines) do t.ok(not l:find("psst"), l) end
  t.deep_eq(eve.messages, {})
  bob:settle()
  t.eq(bob:count(carol:state().user .. " whispers: psst"), 1, "once per tab")
end)

t.test("/msg to nobody is no_such_user; /msg without text is usage", function()
  local a = h.logged_in(h.name("lonely"))
  local ne = #a.errors
  a:say("/msg " .. h.name("ghost") .. " hello?")
  local e = a:error_after(ne)
  t.eq(e.code, "no_such_user")
  t.ok(e.message:find("^No user named ghost%d+ is online$"), e.message)
  ne = #a.errors
  a:say("/msg someone")
  t.deep_eq(a:error_after(ne), { code = "usage", message = "Usage: /msg NAME TEXT" })
end)

t.test("a structured tab gets `chat message` but not the plain 'said' copy", function()
  local room = h.name("st")
  local page = h.logged_in(h.name("page"), nil, { auth = { structured = true } })
  local plain = h.logged_in(h.name("plain"))
  for _, c in ipairs({ page, plain }) do
    local n = #c.states
    c:say("/j " .. room)
    t.ok(h.wait_for(function() return #c.states > n end))
  end
  t.ok(page:server_socket().rooms.structured)
  plain:say("hi page")
  t.ok(h.wait_for(function() return #page.messages == 1 end))
  t.eq(page.messages[1].text, "hi page")
  page:say("hi plain")
  t.ok(plain:line(page:state().user .. " said: hi plain"))
  page:settle()
  for _, l in ipairs(page.lines) do t.ok(not l:find("said:"), l) end
end)

t.test("a tab that disconnects: its room hears 'User NAME disconnected', another room does not", function()
  local room = h.name("bye")
  local stay = h.logged_in(h.name("stay"))
  local away = h.logged_in(h.name("away"))
  local n = #away.states
  away:say("/j " .. room)
  t.ok(h.wait_for(function() return #away.states > n end))
  local gone = h.logged_in(h.name("gone"))
  local name = gone:state().user
  gone.c:disconnect()
  t.ok(stay:line("User " .. name .. " disconnected"))
  away:settle()
  for _, l in ipairs(away.lines) do t.ok(not l:find("disconnected"), l) end
end)
