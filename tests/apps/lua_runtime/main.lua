-- Test app for sio_lua_runtime.test.mjs: errors in handlers, timers,
-- sleeping handlers, the JSON mapping (null sentinel, integers and floats),
-- and require of modules from the app directory.
local sio = require "siolua"
local helper = require "helper"
local util = require "lib.util"

local null = sio.json.null

-- The Lua type of a value as the test expects to name it.
local function kind(v)
  if v == null then return "null" end
  if sio.is_binary(v) then return "binary" end
  return math.type(v) or type(v)
end

sio.server:on("connection", function(socket)
  socket:on("echo", function(value, ack)
    ack(value)
  end)

  -- Errors: logged with file:line, and the socket stays usable.
  socket:on("crash", function()
    error("deliberate failure in a handler")
  end)
  socket:on("crash-after-sleep", function()
    sio.sleep(20)
    error("deliberate failure after a sleep")
  end)
  socket:on("crash-in-timer", function(ack)
    sio.set_timeout(10, function()
      error("deliberate failure in a timer")
    end)
    ack()
  end)
  socket:on("crash-with-table", function()
    error({ code = 42 })
  end)

  -- Timers.
  socket:on("timeout", function(ms, ack)
    local t0 = sio.monotonic()
    sio.set_timeout(ms, function(tag, n)
      socket:emit("timer-fired", tag, n, sio.monotonic() - t0)
    end, "tag-1", 7)
    ack()
  end)

  socket:on("cancelled-timeout", function(ack)
    local t = sio.set_timeout(50, function() socket:emit("should-not-fire") end)
    t:cancel()
    sio.set_timeout(150, function() socket:emit("control-fired") end)
    ack()
  end)

  socket:on("interval", function(ms, count, ack)
    local ticks = 0
    local t0 = sio.monotonic()
    local timer
    timer = sio.set_interval(ms, function()
      ticks = ticks + 1
      socket:emit("tick", ticks, sio.monotonic() - t0)
      if ticks == count then
        timer:cancel()
        socket:emit("interval-done", ticks)
      end
    end)
    ack()
  end)

  socket:on("sleep", function(ms, ack)
    local t0 = sio.monotonic()
    sio.sleep(ms)
    ack(sio.monotonic() - t0)
  end)

  -- Two listeners of one event (served by dispatch.event, where a lone
  -- listener gets its arguments straight from the C side): both run, in
  -- order, each with the arguments and the ack; the last waits, then acks.
  local pair_seen = {}
  socket:on("pair", function(tag, ack)
    pair_seen[#pair_seen + 1] = "first:" .. tag .. ":" .. type(ack)
  end)
  socket:on("pair", function(tag, ack)
    pair_seen[#pair_seen + 1] = "second:" .. tag .. ":" .. type(ack)
    sio.sleep(20)
    ack(sio.json.array(pair_seen))
  end)

  -- Values made in Lua: the exact JSON text is checked by the test.
  socket:on("make-values", function()
    socket:emit("values",
      1, -1, 0, 1.5, -0.25, math.maxinteger, math.mininteger,
      true, false, null, "s",
      {}, sio.json.array(), sio.json.array({}), { 1, 2, 3 },
      { a = 1 }, { 1, null, 3 }, { list = { "x" } })
  end)

  socket:on("make-object-order", function(ack)
    ack(sio.json.decode('{"z":1,"a":2,"m":[3,{"y":4,"b":5}]}'))
  end)

  -- How the arguments arrived in Lua: count (select('#')) and the kind of
  -- each; nulls are sio.json.null, never nil.
  socket:on("kinds", function(...)
    local n = select("#", ...)
    local ack = select(n, ...)
    local out = {}
    for i = 1, n - 1 do out[i] = kind((select(i, ...))) end
    ack(n - 1, sio.json.array(out))
  end)

  -- An array with holes: t[2] is the null sentinel, #t counts it.
  socket:on("array-holes", function(t, ack)
    ack(#t, t[2] == null, kind(t[1]), kind(t[3]))
  end)

  -- Integer arithmetic stays exact: v + 1 and v * 2 for each integer.
  socket:on("arith", function(a, b, ack)
    ack(a + 1, b * 2, math.type(a + 1), math.type(b * 2))
  end)

  socket:on("json-roundtrip", function(text, ack)
    local value, err = sio.json.decode(text)
    if value == nil then return ack(null, err) end
    ack(sio.json.encode(value))
  end)

  socket:on("json-bad", function(text, ack)
    local value, err = sio.json.decode(text)
    ack(value == nil, type(err))
  end)

  -- Modules from the app directory.
  socket:on("greet", function(name, ack)
    ack(helper.greet(name), util.sum({ 1, 2, 3, 4 }))
  end)

  -- A socket kept after it has gone: what it does then. Its public
  -- methods stay harmless (Node drops emits to a gone socket); its C
  -- handle is closed and says so, never touching freed memory.
  socket:on("keep-me", function(ack)
    sio.state.kept = socket
    ack()
  end)
  socket:on("probe-kept", function(ack)
    local s = sio.state.kept
    local out = { connected = s.connected, disconnected = s.disconnected }
    out.emit = s:emit("late", 1)
    out.join = s:join("late-room") == s
    out.leave = s:leave("late-room") == s
    out.rooms = next(s.rooms) == nil
    out.transport = s.conn.transport.name
    out.handle = tostring(s._h)
    out.handle_emit = s._h:emit(sio.json.array({ "late" }))
    out.handle_join = select(2, pcall(s._h.join, s._h, "late-room"))
    out.handle_rooms = select(2, pcall(s._h.rooms, s._h))
    out.family_emit = select(2, pcall(function() return sio.server:of("^/family$"):emit("x") end))
    ack(out)
  end)
end)
