-- Test app for sio_acks.test.mjs: acks client -> server (ack(...)) and
-- server -> client (callback and emit_with_ack forms, with timeouts, late
-- acks, and broadcasts collecting one answer per client).
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

local null = sio.json.null

local function or_null(v)
  if v == nil then return null end
  return v
end

sio.server:on("connection", function(socket)
  -- Client -> server: acknowledged with the same arguments.
  socket:on("ack-me", function(...)
    local args, ack = split_ack(...)
    ack(table.unpack(args, 1, args.n))
  end)

  socket:on("ack-nothing", function(ack)
    ack()
  end)

  -- Only the first call of an ack may reach the client.
  socket:on("ack-twice", function(ack)
    ack("first")
    ack("second")
  end)

  -- An ack kept and called later, from a timer.
  socket:on("ack-later", function(ms, ack)
    sio.set_timeout(ms, function() ack("later", ms) end)
  end)

  socket:on("join", function(room, ack)
    socket:join(room)
    ack()
  end)

  -- Server -> client, callback form: the client's answer is reported in an
  -- "answer" event.
  socket:on("ask-callback", function(question)
    socket:emit("question", question, function(...)
      socket:emit("answer", ...)
    end)
  end)

  -- Server -> client, coroutine form: the client's answer (its first
  -- argument, as Node's emitWithAck resolves) is passed on in this
  -- event's ack.
  socket:on("ask-wait", function(question, ack)
    ack(socket:emit_with_ack("question", question))
  end)

  -- With a timeout, coroutine form: ack(err, first answer, elapsed ms).
  socket:on("ask-timeout", function(event, ms, ack)
    local t0 = sio.monotonic()
    local answer, err = socket:timeout(ms):emit_with_ack(event, ms)
    ack(or_null(err), or_null(answer), sio.monotonic() - t0)
  end)

  -- With a timeout, callback form: ack(err, first answer, elapsed ms).
  socket:on("ask-timeout-cb", function(event, ms, ack)
    local t0 = sio.monotonic()
    socket:timeout(ms):emit(event, ms, function(err, answer)
      ack(or_null(err), or_null(answer), sio.monotonic() - t0)
    end)
  end)

  -- A question answered after the timeout: the callback must run exactly
  -- once, with the timeout error; "late-report" tells what happened.
  socket:on("ask-late", function(ms, ack)
    socket.data.late = { calls = 0 }
    socket:timeout(ms):emit("slow-question", ms, function(err, answer)
      local late = socket.data.late
      late.calls = late.calls + 1
      late.err = err
      late.answer = answer
    end)
    ack()
  end)

  socket:on("ask-late-wait", function(ms, ack)
    socket.data.late_wait = { resumed = 0 }
    ack()
    local answer, err = socket:timeout(ms):emit_with_ack("slow-question", ms)
    local late = socket.data.late_wait
    late.resumed = late.resumed + 1
    late.err = err
    late.answer = answer
  end)

  socket:on("late-report", function(ack)
    local late = socket.data.late or {}
    local late_wait = socket.data.late_wait or {}
    ack({
      calls = late.calls or 0,
      err = or_null(late.err),
      answer = or_null(late.answer),
      resumed = late_wait.resumed or 0,
      wait_err = or_null(late_wait.err),
      wait_answer = or_null(late_wait.answer),
    })
  end)

  -- Broadcast with acks to a room: ack(err, responses, elapsed ms).
  socket:on("poll-room", function(room, ms, ack)
    local t0 = sio.monotonic()
    local responses, err, partial = sio.server:to(room):timeout(ms):emit_with_ack("poll", room)
    ack(or_null(err), sio.json.array(responses or partial), sio.monotonic() - t0)
  end)

  -- The same with the callback form of a broadcast.
  socket:on("poll-room-cb", function(room, ms, ack)
    local t0 = sio.monotonic()
    sio.server:to(room):timeout(ms):emit("poll", room, function(err, responses)
      ack(or_null(err), sio.json.array(responses or {}), sio.monotonic() - t0)
    end)
  end)
end)
