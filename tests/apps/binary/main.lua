-- Test app for sio_binary.test.mjs: binary values both ways, nested, many
-- attachments, and binary in acks in both directions.
local sio = require "siolua"

local function split_ack(...)
  local args = table.pack(...)
  local ack
  if args.n > 0 and type(args[args.n]) == "function" then
    ack = args[args.n]
    args[args.n] = nil
    args.n = args.n - 1
  end
  return args, ack
end

local function hex(bytes)
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- A JSON-friendly picture of a value as Lua holds it: each binary value
-- becomes {bin = hex bytes, len = #v}, so the test sees exactly what
-- arrived, and where.
local function describe(v)
  if sio.is_binary(v) then
    return { bin = hex(tostring(v)), len = #v }
  elseif type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = describe(x) end
    return out
  end
  return v
end

local function describe_all(args)
  local out = {}
  for i = 1, args.n do out[i] = describe(args[i]) end
  return sio.json.array(out)
end

sio.server:on("connection", function(socket)
  -- Sent back as they came: by ack when asked for, else as an "echo" event.
  socket:on("echo", function(...)
    local args, ack = split_ack(...)
    if ack then
      ack(table.unpack(args, 1, args.n))
    else
      socket:emit("echo", table.unpack(args, 1, args.n))
    end
  end)

  socket:on("describe", function(...)
    local args, ack = split_ack(...)
    ack(describe_all(args))
  end)

  -- Binary values made in Lua, top level and nested, in one packet.
  socket:on("make", function()
    socket:emit("made",
      sio.binary("\0\1\2\255"),
      "text in between",
      { a = { b = { sio.binary("nested"), 7 } } },
      sio.binary(string.rep("\170", 1000)))
  end)

  socket:on("make-empty", function()
    socket:emit("made-empty", sio.binary(""), 1)
  end)

  -- An ack from Lua carrying binary.
  socket:on("make-ack", function(ack)
    ack(sio.binary("\222\173\190\239"), { inner = sio.binary("\1") })
  end)

  -- Server -> client with an ack: the client answers with binary and Lua
  -- reports what it got (coroutine form: the first argument).
  socket:on("ask", function()
    local reply = socket:emit_with_ack("give", sio.binary("\9\8\7"))
    socket:emit("asked", describe_all(table.pack(reply)))
  end)

  -- The same with the callback form.
  socket:on("ask-cb", function()
    socket:emit("give", sio.binary("\6\5"), function(...)
      socket:emit("asked", describe_all(table.pack(...)))
    end)
  end)
end)
