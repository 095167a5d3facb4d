-- Test app for sio_node_api.test.mjs: the Node API names siolua gained
-- last (send/write and "message", listeners_any, socket.request,
-- server_side_emit_with_ack, sio.now/monotonic, the nil, err convention of
-- emit_with_ack, sio.server:close()).
local sio = require "siolua"
local null = sio.json.null

local function or_null(v) if v == nil then return null end return v end

sio.server:on("connection", function(socket)
  -- The client's socket.send(...) is the event "message"; socket:send
  -- answers with a "message" too.
  socket:on("message", function(...) socket:send("got", ...) end)
  socket:on("write", function(text) socket:write(text) end)
  socket:on("join", function(room, ack) socket:join(room) ack() end)
  socket:on("nsp-send", function(text) sio.server:send(text) end)
  socket:on("local-emit", function(text) socket.local_:emit("local", text) end)
  socket:on("room-send", function(room, text) sio.server:to(room):write(text) end)

  socket:on("listeners-any", function(ack)
    local a, b = function() end, function() end
    socket:on_any(a)
    socket:prepend_any(b)
    socket:on_any_outgoing(a)
    local any, out = socket:listeners_any(), socket:listenersAnyOutgoing()
    local copy_is_new = any ~= socket:listenersAny()
    socket:off_any()
    socket:off_any_outgoing(a)
    ack({ any = #any, first_prepended = any[1] == b, second = any[2] == a, outgoing = #out,
          copy = copy_is_new, after_off = #socket:listeners_any() + #socket:listeners_any_outgoing() })
  end)

  socket:on("request", function(ack)
    local r = socket.request
    ack({ method = r.method, url = r.url, ua = or_null(r.headers["user-agent"]),
          custom = or_null(r.headers["x-api-test"]), address = r.address })
  end)

  socket:on("clock", function(ack)
    local now, mono = sio.now(), sio.monotonic()
    ack(now, math.type(now), math.type(mono))
  end)

  -- No cluster: nobody to ask, an empty answer at once.
  socket:on("sse-alone", function(ack)
    local responses, err = sio.server:server_side_emit_with_ack("anyone")
    ack(responses and sio.json.array(responses) or null, or_null(err))
  end)

  -- emit_with_ack's value or nil, err: the answer, a timeout, and a socket
  -- that goes while a handler waits (reported in "outcome" to observers).
  socket:on("ask", function(ms, ack)
    local v, err = socket:timeout(ms):emit_with_ack("question")
    ack(or_null(v), or_null(err))
  end)
  socket:on("ask-forever", function(ack)
    ack()
    local v, err = socket:emit_with_ack("question")
    sio.server:to("observers"):emit("outcome", or_null(v), or_null(err))
  end)

  -- io.close(): answers first, then closes; what follows shows in the log.
  socket:on("close-server", function(ack)
    ack(true)
    local t0 = sio.monotonic()
    local ok = sio.server:close()
    sio.log.info("close returned %s after %d ms", tostring(ok), math.floor(sio.monotonic() - t0))
    sio.log.info("a second close returns %s", tostring(sio.server:close()))
    sio.set_timeout(100, function() sio.log.info("the app still runs") end)
  end)

  socket:on("disconnect", function(reason) sio.log.info("socket left: %s", reason) end)
end)
