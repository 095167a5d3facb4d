-- Test app for lua_guards.test.mjs: handlers that run away (endless loops)
-- or allocate without end, against the time limit (luaTimeLimit, the
-- default guard), the instruction budget (luaInstructionBudget, opt-in) and
-- the memory cap (luaMemoryLimit). The guard options come from the command
-- line (--set) in most tests; the GUARDS_TEST_BUDGET and
-- GUARDS_TEST_TIME_LIMIT environment variables make main.lua set them
-- through sio.configure instead.
local sio = require "siolua"

local budget = os.getenv("GUARDS_TEST_BUDGET")
if budget then sio.configure { luaInstructionBudget = math.tointeger(tonumber(budget)) } end
local time_limit = os.getenv("GUARDS_TEST_TIME_LIMIT")
if time_limit then sio.configure { luaTimeLimit = math.tointeger(tonumber(time_limit)) } end

-- Counts to n (about n VM instructions) and returns n.
local function count(n)
  local i = 0
  for _ = 1, n do i = i + 1 end
  return i
end

sio.server:on("connection", function(socket)
  socket:on("echo", function(value, ack) ack(value) end)

  socket:on("spin", function()
    while true do end -- the runaway loop
  end)

  -- pcall cannot swallow the guard: nothing after it runs.
  socket:on("spin-in-pcall", function()
    pcall(function() while true do end end) -- the loop in pcall
    socket:emit("swallowed")
  end)

  -- A loop in a coroutine the handler made is stopped like one in the
  -- handler (the time limit arms the coroutine's thread).
  socket:on("spin-in-coroutine", function()
    local co = coroutine.wrap(function() while true do end end) -- the loop in a coroutine
    co()
    socket:emit("swallowed")
  end)

  socket:on("count", function(n, ack) ack(count(n)) end)

  -- Burns ms of CPU (os.clock: the process's CPU time, so a slow build or
  -- a busy machine does not change how much of the limit it uses).
  local function busy(ms)
    local c0 = os.clock()
    while os.clock() - c0 < ms / 1000 do end -- the busy loop
  end
  socket:on("busy", function(ms, ack) busy(ms) ack(ms) end)

  -- The guards are per resume: a handler that waits starts afresh after
  -- it. Work is "count" (n instructions) or "busy" (n ms of CPU).
  local work = { count = count, busy = busy }
  socket:on("in-steps", function(what, steps, n, ack)
    for _ = 1, steps do
      work[what](n)
      sio.sleep(0)
    end
    ack(steps)
  end)

  -- A runaway loop in a timer callback.
  socket:on("spin-in-timer", function(ack)
    sio.set_timeout(1, function() while true do end end) -- the loop in a timer
    ack()
  end)

  -- Allocates without end: a growing list of distinct strings.
  socket:on("hog", function()
    local t = {}
    local i = 0
    while true do
      i = i + 1
      t[i] = string.rep("x", 4096) .. i -- the allocation
    end
  end)

  -- Allocates a bounded amount and frees it.
  socket:on("alloc", function(kb, ack)
    local t = {}
    for i = 1, kb do t[i] = string.rep("y", 1023) .. (i % 10) end
    ack(#t)
  end)

  socket:on("memory", function(ack) ack(collectgarbage("count")) end)

  -- Fills the state up to the cap and keeps it full (a leak that hit the
  -- cap): the allocation failure is caught; "drain" lets it go.
  socket:on("fill", function(ack)
    sio.state.kept = {}
    local kept = sio.state.kept
    -- Big pieces first, then ever smaller ones, to the brim.
    for _, size in ipairs({ 65536, 4096, 256, 16 }) do
      pcall(function()
        while true do kept[#kept + 1] = string.rep("f", size) .. #kept end
      end)
    end
    pcall(function() while true do kept[#kept + 1] = {} end end)
    ack(#kept > 0)
  end)

  -- Fills the state to the brim and stays there (sleeping) for ms.
  socket:on("fill-and-hold", function(ms)
    local kept = {}
    for _, size in ipairs({ 65536, 4096, 256, 16 }) do
      pcall(function()
        while true do kept[#kept + 1] = string.rep("h", size) .. #kept end
      end)
    end
    pcall(function() while true do kept[#kept + 1] = {} end end)
    pcall(sio.log.info, "holder is full")
    local t0 = sio.monotonic()
    while sio.monotonic() - t0 < ms do pcall(sio.sleep, 5) end
    kept = nil
    collectgarbage()
    sio.log.info("holder let go")
  end)
  socket:on("drain", function(ack)
    sio.state.kept = nil
    collectgarbage()
    ack()
  end)
end)

-- The same guards for HTTP route handlers.
sio.http.get("/spin", function(req, res)
  while true do end -- the loop in a route
end)
sio.http.get("/hog", function(req, res)
  local t = {}
  for i = 1, math.huge do t[i] = string.rep("z", 4096) .. i end -- the allocation in a route
  res:send("unreachable")
end)
sio.http.get("/ok", function(req, res) res:send("ok") end)

-- A middleware that runs away refuses the connection.
sio.server:of("/guarded"):use(function(socket, next)
  while true do end -- the loop in a middleware
end)
sio.server:of("/guarded"):on("connection", function(socket)
  socket:on("echo", function(value, ack) ack(value) end)
end)

-- A dynamic namespace matcher (app code run when a CONNECT names an
-- unknown namespace) that runs away for one name and declines the others,
-- then a family after it that serves /dyn-ok.
sio.server:of(function(name)
  if name == "/spin-matcher" then
    while true do end -- the loop in a namespace matcher
  end
  return false
end)
sio.server:of("^/dyn%-ok$"):on("connection", function(socket)
  socket:on("echo", function(value, ack) ack(value) end)
end)
