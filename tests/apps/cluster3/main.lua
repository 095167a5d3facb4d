-- A cluster member for the three-instance tests (cluster_three,
-- cluster_redis_outage, cluster_kill): every cluster call is an event a
-- client can ask for, on "/" and "/chat", and the instance's name
-- (SIOLUA_NODE_NAME, given by the test) tags its answers and its sockets
-- (socket.data.node, which fetch_sockets copies across the cluster).
local sio = require "siolua"

local NAME = os.getenv("SIOLUA_NODE_NAME") or "?"
local null = sio.json.null

local function sorted(list, key)
  table.sort(list, function(a, b)
    if key then return key(a) < key(b) end
    return tostring(a) < tostring(b)
  end)
  return sio.json.array(list)
end

local function set_list(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k end
  return sorted(l)
end

-- spec: {rooms = {...}, except = {...}, ["local"] = true} or null.
local function op_of(nsp, spec)
  local op = nsp
  if type(spec) == "table" then
    if spec.rooms and #spec.rooms > 0 then op = op:to(spec.rooms) end
    if spec.except and #spec.except > 0 then op = op:except(spec.except) end
    if spec["local"] then op = op.local_ end
  end
  return op
end

local function summary(s)
  return { id = s.id, node = s.data.node or null, rooms = set_list(s.rooms), remote = s.remote or false }
end

local function serve(nsp)
  nsp:on("connection", function(socket)
    socket.data.node = NAME

    socket:on("whoami", function(ack) ack(NAME, socket.id) end)
    socket:on("join", function(rooms, ack) socket:join(rooms) ack(true) end)
    socket:on("leave", function(room, ack) socket:leave(room) ack(true) end)
    socket:on("my-rooms", function(ack) ack(set_list(socket.rooms)) end)

    -- A broadcast through the adapter: to(rooms), except(rooms), local.
    socket:on("to", function(spec, event, ...) op_of(nsp, spec):emit(event, ...) end)

    socket:on("fetch", function(spec, ack)
      local list, err, partial = op_of(nsp, spec):fetch_sockets()
      list = list or partial
      local out = {}
      for i, s in ipairs(list) do out[i] = summary(s) end
      ack(sorted(out, function(x) return x.id end), err or null)
    end)
    socket:on("all-rooms", function(ack) ack(set_list(nsp:all_rooms())) end)
    socket:on("sockets-join", function(spec, rooms, ack) op_of(nsp, spec):sockets_join(rooms) ack(true) end)
    socket:on("sockets-leave", function(spec, rooms, ack) op_of(nsp, spec):sockets_leave(rooms) ack(true) end)
    socket:on("disconnect-sockets", function(spec, close, ack)
      op_of(nsp, spec):disconnect_sockets(close == true)
      ack(true)
    end)
    -- Remote sockets' methods (they go through the adapter).
    socket:on("remote-emit", function(id, event, arg, ack)
      for _, s in ipairs(nsp:in_(id):fetch_sockets()) do
        if s.id == id then s:emit(event, arg) return ack(true) end
      end
      ack(false)
    end)

    socket:on("sse", function(text, ack)
      nsp:server_side_emit("ping-servers", text, function(err, responses)
        ack(err or null, sorted(responses))
      end)
    end)
    socket:on("sse-no-ack", function(text, ack) nsp:server_side_emit("heads-up", text) ack(true) end)

    -- A broadcast with acks, answered by clients on every instance.
    socket:on("poll", function(spec, question, ms, ack)
      local responses, err, partial = op_of(nsp, spec):timeout(ms):emit_with_ack("poll", question)
      ack(err or null, sorted(responses or partial))
    end)
  end)

  -- Another instance's server_side_emit: the local clients hear that it
  -- came (so a test knows the request went out), then the answer.
  nsp:on("ping-servers", function(text, ack)
    nsp.local_:emit("sse-seen", NAME, text)
    ack(NAME .. " heard " .. text)
  end)
  nsp:on("heads-up", function(text) nsp.local_:emit("heads-up", NAME, text) end)
end

serve(sio.server)
serve(sio.server:of("/chat"))
