-- L6 (Lua side): broadcast operators, the `to/in/except/volatile/local/
-- timeout/compress` chain of Node's BroadcastOperator: each call returns a
-- new operator that selects sockets of one namespace (members of any of
-- its rooms, all when none, minus members of its except rooms) and has
-- emit, emit_with_ack, fetch_sockets, sockets_join/leave,
-- disconnect_sockets, server_side_emit and all_rooms. This server's part
-- goes through the namespace handle; the other servers' through the
-- adapter (unless `local`). Also the answers to another server's broadcast
-- with acks. Part of lua/siolua/api.lua's library.

return function(lib)
  local sio, core = lib.sio, lib.core
  local adapter = core.adapter
  local E, R = lib.events, lib.recovery
  local spawn = core.spawn
  local null = core.json.null
  local pack, unpack, select, type = table.pack, table.unpack, select, type
  local TIMEOUT, RESERVED = E.TIMEOUT, E.RESERVED
  local args_array, values_array = E.args_array, E.values_array
  local copy_list, copy_flags = E.copy_list, E.copy_flags
  local new_waiter, settle = E.new_waiter, E.settle
  local log_packet = R.log_packet
  -- A dashboard's hook (admin.lua), nil unless it watches.
  local watcher = lib.watcher

  local Operator = {}

  local function new_operator(nsp, rooms, except, flags)
    return setmetatable({ nsp = nsp, _rooms = rooms or {}, _except = except or {},
                          _flags = flags or {} }, Operator)
  end

  function Operator:to(room)
    return new_operator(self.nsp, copy_list(self._rooms, room), self._except, self._flags)
  end
  Operator.in_ = Operator.to
  Operator["in"] = Operator.to

  function Operator:except(room)
    return new_operator(self.nsp, self._rooms, copy_list(self._except, room), self._flags)
  end

  function Operator:timeout(ms)
    return new_operator(self.nsp, self._rooms, self._except, copy_flags(self._flags, "timeout", ms))
  end

  function Operator:compress(b)
    return new_operator(self.nsp, self._rooms, self._except, copy_flags(self._flags, "compress", b))
  end

  local function flag_operator(name)
    -- Usable both as a property (`op.volatile:emit()`) and as a method
    -- (`op:volatile():emit()`): the returned operator is callable.
    return function(self)
      return new_operator(self.nsp, self._rooms, self._except, copy_flags(self._flags, name, true))
    end
  end
  Operator.__call = function(self) return self end
  local make_volatile, make_local = flag_operator("volatile"), flag_operator("local")

  -- The flags the C side takes: 1 volatile, 2 local (this server only),
  -- 4 plain (compress(false): never compressed, on any transport).
  local function flags_of(op)
    local f = op._flags
    return (f.volatile and 1 or 0) + (f["local"] and 2 or 0) + (f.compress == false and 4 or 0)
  end

  local function broadcast(op, event, n, ...)
    if RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 3) end
    local last = n > 0 and select(n, ...) or nil
    if type(last) == "function" then
      if not op._flags.timeout then
        error("a broadcast with an ack needs a timeout: op:timeout(ms):emit(...)", 3)
      end
      -- Callback form: collect in a handler of its own, as emit_with_ack,
      -- and answer as Node does, err first and the responses that came.
      local packed = pack(...)
      spawn(function()
        local responses, err, partial = op:emit_with_ack(event, unpack(packed, 1, packed.n - 1))
        last(err, responses or partial)
      end)
      return true
    end
    local args = args_array(event, n, ...)
    if not op._flags.volatile then log_packet(op.nsp, op._rooms, op._except, args) end
    local hook = watcher.broadcast_out
    if hook then hook(op.nsp, op._rooms, op._except, args) end
    return op.nsp._h:broadcast(op._rooms, op._except, flags_of(op), args)
  end

  function Operator:emit(event, ...)
    broadcast(self, event, select("#", ...), ...)
    return true
  end

  -- Node's send(...) / write(...): emit("message", ...).
  function Operator:send(...) return self:emit("message", ...) end
  Operator.write = Operator.send

  -- Whether the other servers take part (a cluster, and not `local`).
  local function clustered(op)
    return adapter:installed() and not op._flags["local"]
  end

  -- Broadcast with acks: waits for every recipient until the timeout;
  -- returns the responses (a list, one entry per client that answered: a
  -- single value, or a list when the client answered with several), or
  -- nil, "operation has timed out", the responses that came (Node's
  -- promise rejects then).
  function Operator:emit_with_ack(event, ...)
    local ms = self._flags.timeout
    if not ms then error("emit_with_ack on a broadcast needs :timeout(ms)", 2) end
    local nsp = self.nsp
    local id = nsp._ids
    nsp._ids = id + 1
    local args = args_array(event, select("#", ...), ...)
    -- In a cluster the other servers' clients answer through the adapter,
    -- gathered by a handler of its own while this one waits for the local
    -- ones (each remote client gives its first ack argument, as in Node).
    local remote
    if clustered(self) then
      remote = core.waker()
      local rooms, except = self._rooms, self._except
      spawn(function()
        remote:wake(adapter:broadcast_with_ack(nsp._h, rooms, except, args, id, ms))
      end)
    end
    local recipients = nsp._h:broadcast(self._rooms, self._except, flags_of(self), args, id)
    local responses, expected = {}, #recipients
    local w = new_waiter(ms)
    if expected == 0 then settle(w, nil) end
    for i = 1, expected do
      local sock = recipients[i]
      sock._acks[id] = function(...)
        local cnt = select("#", ...)
        responses[#responses + 1] = cnt == 1 and (...) or values_array(cnt, ...)
        if #responses == expected then settle(w, nil) end
      end
    end
    local err = w.waker:wait()
    for i = 1, expected do recipients[i]._acks[id] = nil end
    if remote then
      local acks, complete = remote:wait()
      for i = 1, #acks do responses[#responses + 1] = acks[i] end
      if not complete then err = TIMEOUT end
    end
    if err then return nil, err, responses end
    return responses
  end

  local function selected(op)
    return op.nsp._h:select(op._rooms, op._except)
  end

  -- A socket on another server of the cluster, as fetch_sockets returns
  -- it (Node's RemoteSocket): plain fields, and methods that go through
  -- the adapter.
  local RemoteSocket = {}
  RemoteSocket.__index = RemoteSocket
  function RemoteSocket:emit(event, ...) return self.nsp:to(self.id):emit(event, ...) end
  function RemoteSocket:join(rooms) return self.nsp:in_(self.id):sockets_join(rooms) end
  function RemoteSocket:leave(rooms) return self.nsp:in_(self.id):sockets_leave(rooms) end
  function RemoteSocket:disconnect(close) return self.nsp:in_(self.id):disconnect_sockets(close) end

  local function remote_socket(nsp, s)
    local rooms = {}
    for _, r in ipairs(s.rooms or {}) do rooms[r] = true end
    -- _room_list: the rooms in the order that server listed them (its
    -- own-id room first), as a dashboard shows them.
    return setmetatable({ id = s.id, handshake = s.handshake, rooms = rooms, data = s.data,
                          nsp = nsp, remote = true, _room_list = s.rooms or {} }, RemoteSocket)
  end

  -- Local sockets, then (in a cluster) the other servers' (this waits).
  -- When some server did not answer within the requests timeout: nil, the
  -- error and the sockets that came (Node's promise rejects then).
  function Operator:fetch_sockets()
    local list = selected(self)
    if clustered(self) then
      local remote, complete = adapter:fetch_sockets(self.nsp._h, self._rooms, self._except)
      for i = 1, #remote do list[#list + 1] = remote_socket(self.nsp, remote[i]) end
      if not complete then
        return nil, "timeout reached while waiting for fetchSockets response", list
      end
    end
    return list
  end

  local function room_list(rooms)
    if type(rooms) ~= "table" then return { tostring(rooms) } end
    local l = {}
    for i = 1, #rooms do l[i] = tostring(rooms[i]) end
    return l
  end

  function Operator:sockets_join(rooms)
    rooms = room_list(rooms)
    for _, s in ipairs(selected(self)) do s:join(rooms) end
    if clustered(self) then adapter:sockets_join(self.nsp._h, self._rooms, self._except, rooms) end
  end

  function Operator:sockets_leave(rooms)
    rooms = room_list(rooms)
    for _, s in ipairs(selected(self)) do
      for i = 1, #rooms do s:leave(rooms[i]) end
    end
    if clustered(self) then adapter:sockets_leave(self.nsp._h, self._rooms, self._except, rooms) end
  end

  function Operator:disconnect_sockets(close)
    for _, s in ipairs(selected(self)) do s:disconnect(close) end
    if clustered(self) then adapter:disconnect_sockets(self.nsp._h, self._rooms, self._except, close and true or false) end
  end

  -- "reload" is the library's own event on a namespace
  -- (docs/hot-reload.md), so it is reserved here too.
  local function check_server_side(event)
    if RESERVED[event] or event == "connection" or event == "new_namespace" or event == "reload" then
      error('"' .. tostring(event) .. '" is a reserved event name', 3)
    end
  end

  -- Asks the other servers and waits: their answers, or nil, "operation
  -- has timed out" and the answers that came within the requests timeout.
  local function server_side_ask(nsp, args)
    local responses, complete = adapter:server_side_emit(nsp._h, args, true)
    if not complete then return nil, TIMEOUT, responses end
    return responses
  end

  -- To the other servers of the cluster (never this one), as Node. A
  -- trailing function gets (err, responses) once they all answered or
  -- the requests timeout passed.
  function Operator:server_side_emit(event, ...)
    check_server_side(event)
    local n = select("#", ...)
    local last = n > 0 and select(n, ...) or nil
    if type(last) == "function" then
      local args = args_array(event, n - 1, ...)
      local nsp = self.nsp
      spawn(function()
        local responses, err, partial = server_side_ask(nsp, args)
        last(err, responses or partial)
      end)
      return true
    end
    adapter:server_side_emit(self.nsp._h, args_array(event, n, ...))
    return true
  end

  -- Node's serverSideEmitWithAck: the same, waiting (see server_side_ask).
  function Operator:server_side_emit_with_ack(event, ...)
    check_server_side(event)
    return server_side_ask(self.nsp, args_array(event, select("#", ...), ...))
  end

  -- Every room of the namespace, across the cluster (a set).
  function Operator:all_rooms()
    local set = {}
    for _, r in ipairs(self.nsp._h:rooms()) do set[r] = true end
    if clustered(self) then
      for _, r in ipairs(adapter:all_rooms(self.nsp._h)) do set[r] = true end
    end
    return set
  end

  -- Node's camelCase names of the methods above.
  local function aliases(t)
    t.emitWithAck = t.emit_with_ack
    t.fetchSockets = t.fetch_sockets
    t.socketsJoin = t.sockets_join
    t.socketsLeave = t.sockets_leave
    t.disconnectSockets = t.disconnect_sockets
    t.serverSideEmit = t.server_side_emit
    t.serverSideEmitWithAck = t.server_side_emit_with_ack
    t.allRooms = t.all_rooms
  end
  aliases(Operator)

  local operator_index = Operator
  Operator.__index = function(self, k)
    if k == "volatile" then return make_volatile(self) end
    if k == "local_" or k == "local" then return make_local(self) end
    return operator_index[k]
  end

  -- Another server's broadcast with acks: send it to the local sockets
  -- with an ack id, tell it how many, relay each first ack argument until
  -- its timeout.
  function lib.dispatch.broadcast_with_ack(nsp, args, rooms, except, request_id, timeout_ms)
    local id = nsp._ids
    nsp._ids = id + 1
    local recipients = nsp._h:broadcast(rooms, except, 2, args, id)
    adapter:broadcast_count(nsp._h, request_id, #recipients)
    for i = 1, #recipients do
      recipients[i]._acks[id] = function(first)
        if first == nil then first = null end
        adapter:broadcast_ack(nsp._h, request_id, first)
      end
    end
    if #recipients > 0 then
      sio.set_timeout(timeout_ms, function()
        for i = 1, #recipients do recipients[i]._acks[id] = nil end
      end)
    end
  end

  return {
    new = new_operator,
    volatile = make_volatile,
    local_ = make_local,
    aliases = aliases,
  }
end
