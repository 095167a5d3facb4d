-- Test app for lua_redis.test.mjs: Socket.IO events that run Redis commands
-- through sio.redis (the URL comes from $SIOLUA_REDIS_URL) and ack what the
-- handler got back: (value, err).
local sio = require "siolua"
local R = sio.redis

sio.server:on("connection", function(socket)
  -- cmd: {"GET", "key"}; acks (reply) or (nil, err).
  socket:on("redis", function(cmd, ack)
    local v, err = R.call(table.unpack(cmd))
    ack(v, err)
  end)

  -- cmds: {{"SET", "k", 1}, {"INCR", "k"}}; acks ({reply, ...}) or (nil, err).
  socket:on("pipeline", function(cmds, ack)
    local v, err = R.pipeline(cmds)
    ack(v, err)
  end)

  -- A typical use: count in Redis, tell everyone.
  socket:on("visit", function(ack)
    local n, err = R.call("INCR", "visits")
    if not n then return ack(nil, err) end
    sio.server:emit("visits", n)
    ack(n)
  end)

  socket:on("echo", function(v, ack) ack(v) end)
end)
