-- User names and room names: what a person may type, and the Socket.IO
-- rooms they map to. Pure functions, no sockets: easy to reason about and
-- to test on their own.
--
-- A name is shown to other people, so it must look like what it is: no
-- characters that don't show (controls, zero-width and bidi controls,
-- spaces other than the ASCII one, combining marks stacked on letters)
-- and no mix of the scripts whose letters look alike (Latin, Greek,
-- Cyrillic: "Bоb" with a Cyrillic "о" is not "Bob"). Names are compared
-- by their key: case folded, and a Greek or Cyrillic letter that looks
-- like a Latin one read as that Latin letter, so neither "BOB" nor an
-- all-Cyrillic "ВОВ" can log in while "Bob" is online.
local names = {}

names.MAX_USER = 24 -- characters, not bytes
names.MAX_ROOM = 32
names.DEFAULT_ROOM = "lobby"

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- Code points that never belong in a name, as sorted {first, last} ranges:
-- controls (Cc), format characters (Cf: zero-width, bidi embeddings,
-- overrides and isolates, the BOM, tags), every space and separator but
-- U+0020 (Zs, Zl, Zp), the invisible fillers (Hangul, braille blank), the
-- combining marks that stack on any script (the Combining Diacritical
-- Marks blocks, the grapheme joiner, variation selectors; a script's own
-- vowel signs stay, they are how it is written) and the fullwidth copies
-- of ASCII. Unicode 15 categories.
local REFUSED = {
  { 0x0000, 0x001F }, { 0x007F, 0x00A0 }, { 0x00AD, 0x00AD }, { 0x0300, 0x036F },
  { 0x0600, 0x0605 }, { 0x061C, 0x061C }, { 0x06DD, 0x06DD }, { 0x070F, 0x070F },
  { 0x0890, 0x0891 }, { 0x08E2, 0x08E2 }, { 0x115F, 0x1160 }, { 0x1680, 0x1680 },
  { 0x17B4, 0x17B5 }, { 0x180B, 0x180F }, { 0x1AB0, 0x1AFF }, { 0x1DC0, 0x1DFF },
  { 0x2000, 0x200F }, { 0x2028, 0x202F }, { 0x205F, 0x206F }, { 0x20D0, 0x20FF },
  { 0x2800, 0x2800 }, { 0x3000, 0x3000 }, { 0x3164, 0x3164 }, { 0xFE00, 0xFE0F },
  { 0xFE20, 0xFE2F }, { 0xFEFF, 0xFEFF }, { 0xFF01, 0xFF5E }, { 0xFFA0, 0xFFA0 },
  { 0xFFF9, 0xFFFB }, { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD }, { 0x13430, 0x1343F },
  { 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A }, { 0xE0000, 0xE0FFF },
}

local function refused(cp)
  for _, r in ipairs(REFUSED) do
    if cp < r[1] then return false end
    if cp <= r[2] then return true end
  end
  return false
end

-- The scripts whose letters look alike, by code point.
local function script_of(cp)
  if (cp >= 0x41 and cp <= 0x5A) or (cp >= 0x61 and cp <= 0x7A) or (cp >= 0xC0 and cp <= 0x24F and cp ~= 0xD7 and cp ~= 0xF7)
      or (cp >= 0x1E00 and cp <= 0x1EFF) or (cp >= 0x2C60 and cp <= 0x2C7F) or (cp >= 0xA720 and cp <= 0xA7FF)
      or (cp >= 0xAB30 and cp <= 0xAB6F) then
    return "Latin"
  end
  if (cp >= 0x370 and cp <= 0x3FF) or (cp >= 0x1F00 and cp <= 0x1FFF) then return "Greek" end
  if (cp >= 0x400 and cp <= 0x52F) or (cp >= 0x1C80 and cp <= 0x1C8F) or (cp >= 0x2DE0 and cp <= 0x2DFF)
      or (cp >= 0xA640 and cp <= 0xA69F) then
    return "Cyrillic"
  end
  return nil
end

-- Lower case of the letters of the scripts above (plain Lua's lower()
-- only knows ASCII): ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic.
local function fold(cp)
  if (cp >= 0x41 and cp <= 0x5A) or (cp >= 0xC0 and cp <= 0xDE and cp ~= 0xD7)
      or (cp >= 0x391 and cp <= 0x3AB and cp ~= 0x3A2) or (cp >= 0x410 and cp <= 0x42F) then
    return cp + 32
  end
  if cp >= 0x400 and cp <= 0x40F then return cp + 80 end
  if cp == 0x130 then return 0x69 end -- İ
  if cp == 0x178 then return 0xFF end -- Ÿ
  if cp == 0x4C0 then return 0x4CF end -- Ӏ
  -- Latin Extended-A and the Cyrillic supplements: upper case at the even
  -- code point, lower case next to it, except two runs that go odd/even.
  if (cp >= 0x139 and cp <= 0x148) or (cp >= 0x179 and cp <= 0x17E) or (cp >= 0x4C1 and cp <= 0x4CE) then
    return cp % 2 == 1 and cp + 1 or cp
  end
  if (cp >= 0x100 and cp <= 0x137) or (cp >= 0x14A and cp <= 0x177) or (cp >= 0x460 and cp <= 0x481)
      or (cp >= 0x48A and cp <= 0x4BF) or (cp >= 0x4D0 and cp <= 0x52F) then
    return cp % 2 == 0 and cp + 1 or cp
  end
  return cp
end

-- Greek and Cyrillic letters (folded to lower case first) that look like
-- a Latin one, and the Latin letter they look like; where the capital and
-- the small letter look like different Latin ones (Η is H, η is n), the
-- capital's, since it is what a copy of a capitalised name uses.
local LOOKALIKE = {
  [0x3B1] = "a", [0x3B2] = "b", [0x3B5] = "e", [0x3B6] = "z", [0x3B7] = "h", [0x3B9] = "i",
  [0x3BA] = "k", [0x3BC] = "m", [0x3BD] = "n", [0x3BF] = "o", [0x3C1] = "p", [0x3C4] = "t",
  [0x3C5] = "y", [0x3C7] = "x", [0x3F2] = "c", [0x3F3] = "j",
  [0x430] = "a", [0x432] = "b", [0x435] = "e", [0x43A] = "k", [0x43C] = "m", [0x43D] = "h",
  [0x43E] = "o", [0x440] = "p", [0x441] = "c", [0x442] = "t", [0x443] = "y", [0x445] = "x",
  [0x452] = "h", [0x455] = "s", [0x456] = "i", [0x457] = "i", [0x458] = "j", [0x45B] = "h",
  [0x4AF] = "y", [0x4BB] = "h", [0x4CF] = "l", [0x501] = "d", [0x51B] = "q", [0x51D] = "w",
}

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
  local seen
  for _, cp in utf8.codes(s) do
    if refused(cp) then
      return nil, what .. " can't contain invisible, control, combining or full-width characters"
    end
    local script = script_of(cp)
    if script and seen and script ~= seen then
      return nil, ("%s can't mix %s and %s letters"):format(what, seen, script)
    end
    seen = seen or script
  end
  return s
end

-- The key two names are compared by (see the top of this file).
function names.key(s)
  local out = {}
  for _, cp in utf8.codes(s) do
    cp = fold(cp)
    out[#out + 1] = LOOKALIKE[cp] or utf8.char(cp)
  end
  return table.concat(out)
end

-- The name folded to lower case, letters kept as they are (room names).
local function lower(s)
  local out = {}
  for _, cp in utf8.codes(s) do out[#out + 1] = utf8.char(fold(cp)) end
  return table.concat(out)
end

-- A user name as it will be shown: "Ada", "josé_42". Names are unique by
-- their key, so "ada" and "Ada" can't both be online.
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
  return lower(room)
end

-- The Socket.IO room holding every tab of a user: a private message is a
-- broadcast to it, so it reaches all of them, on every instance.
function names.user_room(user) return "user:" .. names.key(user) end

-- The Socket.IO room of the tabs that are taking the name `user` (see
-- chat/directory.lua): nothing is ever sent to it.
function names.claim_room(user) return "claim:" .. names.key(user) end

-- The Socket.IO room of a chat room. Prefixes keep chat rooms, user rooms
-- and socket ids (every socket is in a room named after its id) apart.
function names.chat_room(room) return "room:" .. room end

-- Message text, in every protocol the app speaks: a string (or a number,
-- written as text) of valid UTF-8, at most MAX_TEXT characters. Returns
-- the text; nil for nothing to say (not text, or blank); or nil, a code
-- and a reason for the person who typed it.
names.MAX_TEXT = 2000

function names.text(v)
  if type(v) == "number" then v = tostring(v) end
  if type(v) ~= "string" or v:find("^%s*$") then return nil end
  local len = utf8.len(v)
  if not len then return nil, "invalid_text", "Messages must be valid UTF-8" end
  if len > names.MAX_TEXT then
    return nil, "too_long", ("Messages are at most %d characters"):format(names.MAX_TEXT)
  end
  return v
end

return names
