-- Names that look like someone else's, or hide what they are, in every
-- protocol the app speaks; and the sizes the demo and the tutorial take.
local sio = require "siolua"
local t = require "siolua.test"
local h = require "tests.lib.tab"

local root = h.root

t.test("names with invisible, control, combining, full-width characters or mixed scripts are refused as invalid_name", function()
  local c = h.tab()
  local bad = {
    { "B\u{43E}b", "can't mix Latin and Cyrillic letters" },  -- Cyrillic о
    { "\u{3A9}mega", "can't mix Greek and Latin letters" },
    { "Bob\u{A0}", "invisible" },                             -- no-break space
    { "Bo\u{200B}b", "invisible" },                           -- zero-width space
    { "Bo\u{301}b", "combining" },                            -- a combining accent
    { "\u{202E}boB", "invisible" },                           -- right-to-left override
    { "Bob\u{2066}", "invisible" },                           -- a bidi isolate
    { "\u{FF22}ob", "full-width" },
    { "B\u{7F}ob", "can't contain spaces" },
  }
  for i, case in ipairs(bad) do
    local state, err = c:login(case[1])
    t.eq(state, nil, "accepted " .. t.show(case[1]))
    t.eq(err.code, "invalid_name", t.show(case[1]))
    t.ok(err.message:find(case[2], 1, true), err.message)
    t.ok(h.wait_for(function() return c.prompts == i + 1 end), "asked again")
  end
  -- Scripts on their own, accents written as one character: fine.
  for _, good in ipairs({ "Zoë", "Łukasz", "Иван", "Ωμέγα", "田中", "नमस्ते" }) do
    local other = h.tab()
    t.eq(assert(other:login(good .. h.name(""))).user:sub(1, #good), good)
    other.c:disconnect()
  end
end)

t.test("while Bob is online, BOB, bob and an all-Cyrillic or all-Greek look-alike are taken", function()
  local name = h.name("Bob")
  local bob = h.logged_in(name)
  local other = h.tab()
  local digits = name:sub(4)
  local copies = {
    name:upper(), name:lower(),
    "\u{412}\u{41E}\u{412}" .. digits,   -- ВОВ
    "\u{392}\u{39F}\u{392}" .. digits,   -- ΒΟΒ
    "\u{432}\u{43E}\u{432}" .. digits,   -- вов
  }
  for _, try in ipairs(copies) do
    local state, err = other:login(try)
    t.eq(state, nil, "accepted " .. try)
    t.eq(err.code, "name_taken", try)
  end
  -- A private message to a look-alike reaches the real Bob: one name.
  local from = #bob.messages
  local sender = h.logged_in(h.name("sender"))
  sender:say("/msg \u{412}\u{41E}\u{412}" .. digits .. " psst")
  t.ok(h.wait_for(function() return #bob.messages > from end), "Bob got it")
  t.eq(bob.messages[#bob.messages].text, "psst")
end)

t.test("the demo's add user takes the same names: a 900 KB name is refused, so no typing event carries it", function()
  local a, b = root(), root()
  a:emit("add user", string.rep("x", 900000)) -- under maxHttpBufferSize
  a:emit("add user", "Ann\u{200B}")
  b:emit("add user", "ben" .. h.name(""))
  t.ok(b:receive("login", 2000), "ben logged in")
  a:emit("typing")
  a:emit("new message", "from nobody")
  -- A barrier: the tutorial's broadcast reaches both, after the above.
  a:emit("chat message", "barrier")
  t.eq(b:receive("chat message", 2000), "barrier")
  t.eq(select(2, a:receive("login", 0)), "timeout", "no login for a refused name")
  t.eq(select(2, b:receive("typing", 0)), "timeout", "no typing from a refused name")
  t.eq(select(2, b:receive("new message", 0)), "timeout")
  a:emit("add user", "ann" .. h.name(""))
  t.ok(a:receive("login", 2000), "a good name after refused ones")
  a:disconnect()
  b:disconnect()
end)

t.test("demo and tutorial messages are at most 2000 characters, as in /chat", function()
  local a, b = root(), root()
  a:emit("add user", "amy" .. h.name(""))
  b:emit("add user", "bo" .. h.name(""))
  t.ok(a:receive("login", 2000))
  t.ok(b:receive("login", 2000))
  a:emit("new message", string.rep("y", 2001))
  a:emit("new message", string.rep("é", 2000))
  t.deep_eq(b:receive("new message", 2000).message, string.rep("é", 2000))
  a:emit("chat message", string.rep("z", 2001))
  a:emit("chat message", "short")
  t.eq(b:receive("chat message", 2000), "short")
  a:disconnect()
  b:disconnect()
end)
