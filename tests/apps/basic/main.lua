-- Test app for sio_basic.test.mjs: echo, handshake, socket.data, and the
-- disconnect reasons Lua sees (reported to the sockets that asked to
-- observe them).
local sio = require "siolua"

-- Splits handler arguments into a packed list and the ack function, if the
-- client asked for one (it is always the last argument).
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

local function null_if_nil(v)
  if v == nil then return sio.json.null end
  return v
end

sio.server:on("connection", function(socket)
  socket:emit("welcome", socket.id)

  -- Sent back as they came: by ack when asked for, else as an "echo" event.
  socket:on("echo", function(...)
    local args, ack = split_ack(...)
    if ack then
      ack(table.unpack(args, 1, args.n))
    else
      socket:emit("echo", table.unpack(args, 1, args.n))
    end
  end)

  -- How Lua holds each argument, written back as JSON text by sio.json.
  socket:on("encode", function(...)
    local args, ack = split_ack(...)
    local out = {}
    for i = 1, args.n do out[i] = sio.json.encode(args[i]) end
    ack(sio.json.array(out))
  end)

  socket:on("handshake", function(ack)
    local h = socket.handshake
    ack({
      id = socket.id,
      query_x = null_if_nil(h.query.x),
      user_agent = null_if_nil(h.headers["user-agent"]),
      custom_header = null_if_nil(h.headers["x-siolua-test"]),
      auth = h.auth,
      address = null_if_nil(h.address),
      url = null_if_nil(h.url),
      time = null_if_nil(h.time),
      issued = null_if_nil(h.issued),
      secure = null_if_nil(h.secure),
      transport = socket.conn.transport.name,
      connected = socket.connected,
      disconnected = socket.disconnected,
      nsp = socket.nsp.name,
      headers = h.headers,
    })
  end)

  -- The socket is kept after it leaves; a later "remembered" asks what its
  -- handshake said (built lazily: it must still be there once the socket is gone).
  socket:on("remember-me", function(ack) remembered = socket ack(true) end)
  socket:on("remembered", function(ack)
    local h = remembered and remembered.handshake
    ack(h and {
      query_x = null_if_nil(h.query.x),
      user_agent = null_if_nil(h.headers["user-agent"]),
      auth = h.auth,
      gone = remembered.disconnected,
    } or sio.json.null)
  end)

  socket:on("data-set", function(key, value, ack)
    socket.data[key] = value
    ack()
  end)

  socket:on("data-get", function(key, ack)
    ack(null_if_nil(socket.data[key]))
  end)

  -- A counter kept in socket.data across events.
  socket:on("count", function(ack)
    socket.data.count = (socket.data.count or 0) + 1
    ack(socket.data.count)
  end)

  socket:on("observe", function(ack)
    socket:join("observers")
    ack()
  end)

  -- The Lua client (sio.client) with the msgpack parser, against this
  -- server: what an "echo" event brings back.
  socket:on("lua-client-echo", function(url, ack)
    local c = assert(sio.client(url, { parser = "msgpack" }))
    c:emit("echo", 1, 1.5, sio.json.array(), {}, "x", sio.binary("\1\2"))
    local a, b, c3, d, e, bin = c:receive("echo", 3000)
    c:disconnect()
    ack({ args = sio.json.array({ a, b, c3, d, e }),
          bin = (tostring(bin):gsub(".", function(ch) return string.format("%02x", ch:byte()) end)) })
  end)

  socket:on("kick-me", function(close)
    socket:disconnect(close == true)
  end)

  socket:on("disconnect", function(reason)
    sio.server:to("observers"):emit("gone", socket.id, reason, socket.connected, socket.disconnected)
  end)
end)
