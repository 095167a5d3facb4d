-- L6 (Lua side): the Node-like Socket.IO API (server, namespaces,
-- broadcast operators, sockets, acks, middlewares) built on the small C core
-- in src/lua/lua_sio.c. The C side owns the protocol, rooms and the encoding;
-- this file owns listeners, middleware chains and ack bookkeeping.
-- It must not know packets or transports: it only calls `core`.

return function(sio, core)
  local json = core.json
  local spawn = core.spawn
  local null = json.null
  local pack, unpack, select, type = table.pack, table.unpack, select, type

  local TIMEOUT = "operation has timed out"

  -- Events that a client may not emit and that an app may not emit either,
  -- as Node's socket.io reserves them.
  local RESERVED = {
    connect = true, connect_error = true, disconnect = true, disconnecting = true,
    newListener = true, removeListener = true,
  }

  -- Packs emit arguments into a JSON array, event name first. nil becomes
  -- json.null so an argument list keeps its length.
  local function args_array(event, n, ...)
    local a = json.array()
    a[1] = event
    for i = 1, n do
      local v = select(i, ...)
      if v == nil then v = null end
      a[i + 1] = v
    end
    return a
  end

  local function values_array(n, ...)
    local a = json.array()
    for i = 1, n do
      local v = select(i, ...)
      if v == nil then v = null end
      a[i] = v
    end
    return a
  end

  -- ---- listeners -------------------------------------------------------

  local function on(self, event, fn)
    assert(type(fn) == "function", "listener must be a function")
    local l = self._listeners[event]
    if not l then
      l = {}
      self._listeners[event] = l
    end
    l[#l + 1] = fn
    return self
  end

  local function off(self, event, fn)
    if event == nil then
      self._listeners = {}
      return self
    end
    local l = self._listeners[event]
    if not l then return self end
    if fn == nil then
      self._listeners[event] = nil
      return self
    end
    for i = #l, 1, -1 do
      if l[i] == fn or (type(l[i]) == "table" and l[i].fn == fn) then
        table.remove(l, i)
        break
      end
    end
    return self
  end

  local function once(self, event, fn)
    local wrapper
    wrapper = function(...)
      off(self, event, wrapper)
      return fn(...)
    end
    return on(self, event, wrapper)
  end

  -- Runs every listener of event, each in its own coroutine.
  local function fire(self, event, ...)
    local l = self._listeners[event]
    if not l or #l == 0 then return false end
    local copy = { unpack(l) }
    for i = 1, #copy do
      spawn(copy[i], ...)
    end
    return true
  end

  -- ---- acks ------------------------------------------------------------

  -- A waiter for one ack, with an optional timeout. resolve/reject are
  -- idempotent; the first one wins.
  local function new_waiter(ms)
    local w = { done = false }
    w.waker = core.waker()
    if ms then
      w.timer = sio.set_timeout(ms, function()
        if not w.done then
          w.done = true
          core.ack_timed_out()
          w.waker:wake(TIMEOUT)
        end
      end)
    end
    return w
  end

  local function settle(w, ...)
    if w.done then return end
    w.done = true
    if w.timer then w.timer:cancel() end
    w.waker:wake(...)
  end

  -- ---- connection state recovery ---------------------------------------
  -- As Node's in-memory adapter does it: with the option on, every event
  -- sent without an ack and not volatile gets an offset as its last
  -- argument and is kept in its namespace's log for maxDisconnectionDuration;
  -- a socket that leaves for a recoverable reason leaves a session (id,
  -- rooms, data) under its private id; a CONNECT carrying that pid and the
  -- last offset it saw gets them back, with every logged packet it missed.

  local RECOVERABLE = {
    ["transport error"] = true, ["transport close"] = true, ["forced close"] = true,
    ["ping timeout"] = true, ["server shutting down"] = true, ["forced server close"] = true,
  }
  -- Offsets are unique across the servers of a cluster (a random part per
  -- process), since a client may come back through another one.
  local offset_prefix = string.format("%x", os.time()) .. core.random_id():sub(1, 6):gsub("[^%w]", "x")
  local offset_seq = 0

  local function append_log(nsp, id, rooms, except, args, max)
    local log = nsp._log
    local now = sio.now()
    while log.first <= log.last and log[log.first].at < now - max do
      log.index[log[log.first].id] = nil
      log[log.first] = nil
      log.first = log.first + 1
    end
    log.last = log.last + 1
    log[log.last] = { id = id, at = now, rooms = rooms, except = except, args = args }
    log.index[id] = log.last
  end

  local function log_packet(nsp, rooms, except, args)
    local on, max = core.recovery()
    if not on then return end
    offset_seq = offset_seq + 1
    local id = offset_prefix .. "-" .. offset_seq
    args[#args + 1] = id
    append_log(nsp, id, rooms, except, args, max)
  end

  -- Another server's broadcast (already delivered here): logged under the
  -- offset it carries, so a client of that server can recover here.
  local function remote_broadcast(nsp, args, rooms, except)
    local on, max = core.recovery()
    local id = args[#args]
    if not on or type(id) ~= "string" or not id:match("^%x+%w*%-%d+$") then return end
    append_log(nsp, id, rooms, except, args, max)
  end

  local function contains_any(list, set)
    for i = 1, #list do if set[list[i]] then return true end end
    return false
  end

  local function persist_session(nsp, sock, max)
    local rooms = core.rooms(sock._h)
    local now = sio.now()
    nsp._sessions[sock._pid] = { sid = sock.id, rooms = rooms, data = sock.data, at = now }
    if core.clustered() then
      -- The client may come back through another server.
      core.session_put(sock._pid, { sid = sock.id, rooms = json.array(rooms), data = sock.data }, max)
    end
    nsp._persisted = (nsp._persisted or 0) + 1
    if nsp._persisted % 64 == 0 then
      for pid, s in pairs(nsp._sessions) do
        if s.at + max < now then nsp._sessions[pid] = nil end
      end
    end
  end

  -- The packets a session missed since offset, or nil when the offset is
  -- no longer in the log.
  local function missed_since(nsp, session, offset)
    local log = nsp._log
    local at = log.index[offset]
    if not at then return nil end
    local mine = {}
    for i = 1, #session.rooms do mine[session.rooms[i]] = true end
    local missed = {}
    for i = at + 1, log.last do
      local p = log[i]
      if (#p.rooms == 0 or contains_any(p.rooms, mine)) and not contains_any(p.except, mine) then
        missed[#missed + 1] = p.args
      end
    end
    return missed
  end

  -- The session and the packets it missed, or nil when it can't be
  -- recovered here (unknown or expired pid, offset no longer in the log).
  local function restore_session(nsp, pid, offset, max)
    local session = nsp._sessions[pid]
    if not session then return nil end
    nsp._sessions[pid] = nil
    if session.at + max < sio.now() then return nil end
    local missed = missed_since(nsp, session, offset)
    if not missed then return nil end
    return session, missed
  end

  -- ---- broadcast operators ---------------------------------------------

  local Operator = {}
  Operator.__index = Operator

  local function new_operator(nsp, rooms, except, flags)
    return setmetatable({ nsp = nsp, _rooms = rooms or {}, _except = except or {},
                          _flags = flags or {} }, Operator)
  end

  local function copy_list(l, add)
    local c = {}
    for i = 1, #l do c[i] = l[i] end
    if type(add) == "table" then
      for i = 1, #add do c[#c + 1] = tostring(add[i]) end
    elseif add ~= nil then
      c[#c + 1] = tostring(add)
    end
    return c
  end

  local function copy_flags(f, k, v)
    local c = {}
    for key, val in pairs(f) do c[key] = val end
    if k then c[k] = v end
    return c
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
      local op = new_operator(self.nsp, self._rooms, self._except, copy_flags(self._flags, name, true))
      return op
    end
  end
  Operator.__call = function(self) return self end
  local make_volatile, make_local = flag_operator("volatile"), flag_operator("local")

  -- The flags the C side takes: 1 volatile, 2 local (this server only).
  local function flags_of(op)
    return (op._flags.volatile and 1 or 0) + (op._flags["local"] and 2 or 0)
  end

  local function broadcast(op, event, n, ...)
    if RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 3) end
    local last = n > 0 and select(n, ...) or nil
    if type(last) == "function" then
      if not op._flags.timeout then
        error("a broadcast with an ack needs a timeout: op:timeout(ms):emit(...)", 3)
      end
      -- Callback form: collect in a handler of its own, as emit_with_ack.
      local packed = pack(...)
      spawn(function()
        last(op:emit_with_ack(event, unpack(packed, 1, packed.n - 1)))
      end)
      return true
    end
    local args = args_array(event, n, ...)
    if not op._flags.volatile then log_packet(op.nsp, op._rooms, op._except, args) end
    return core.broadcast(op.nsp._h, op._rooms, op._except, flags_of(op), args)
  end

  function Operator:emit(event, ...)
    broadcast(self, event, select("#", ...), ...)
    return true
  end

  -- Broadcast with acks: waits for every recipient until the timeout;
  -- returns err, responses (a list, one entry per client that answered: a
  -- single value, or a list when the client answered with several).
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
    if core.clustered() and not self._flags["local"] then
      remote = core.waker()
      local rooms, except = self._rooms, self._except
      spawn(function()
        remote:wake(core.remote_broadcast_ack(nsp._h, rooms, except, args, id, ms))
      end)
    end
    local recipients = core.broadcast(nsp._h, self._rooms, self._except, flags_of(self), args, id)
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
    return err, responses
  end

  local function selected(op)
    return core.select(op.nsp._h, op._rooms, op._except)
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
    return setmetatable({ id = s.id, handshake = s.handshake, rooms = rooms, data = s.data,
                          nsp = nsp, remote = true }, RemoteSocket)
  end

  local function clustered(op)
    return core.clustered() and not op._flags["local"]
  end

  -- Local sockets, then (in a cluster) the other servers' (this waits).
  -- When some server did not answer within the requests timeout, the list
  -- has what came and a second value says so (Node fails the call then).
  function Operator:fetch_sockets()
    local list = selected(self)
    if clustered(self) then
      local remote, complete = core.remote_fetch(self.nsp._h, self._rooms, self._except)
      for i = 1, #remote do list[#list + 1] = remote_socket(self.nsp, remote[i]) end
      if not complete then
        return list, "timeout reached while waiting for fetchSockets response"
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
    if clustered(self) then core.remote_rooms(self.nsp._h, self._rooms, self._except, true, rooms) end
  end

  function Operator:sockets_leave(rooms)
    rooms = room_list(rooms)
    for _, s in ipairs(selected(self)) do
      for i = 1, #rooms do s:leave(rooms[i]) end
    end
    if clustered(self) then core.remote_rooms(self.nsp._h, self._rooms, self._except, false, rooms) end
  end

  function Operator:disconnect_sockets(close)
    for _, s in ipairs(selected(self)) do s:disconnect(close) end
    if clustered(self) then core.remote_disconnect(self.nsp._h, self._rooms, self._except, close and true or false) end
  end

  -- To the other servers of the cluster (never this one), as Node. A
  -- trailing function gets (err, responses) once they all answered or
  -- the requests timeout passed.
  function Operator:server_side_emit(event, ...)
    if RESERVED[event] or event == "connection" or event == "new_namespace" then
      error('"' .. tostring(event) .. '" is a reserved event name', 2)
    end
    local n = select("#", ...)
    local last = n > 0 and select(n, ...) or nil
    if type(last) == "function" then
      local args = args_array(event, n - 1, ...)
      local nsp = self.nsp
      spawn(function()
        local responses, complete = core.remote_emit(nsp._h, args, true)
        last(not complete and TIMEOUT or nil, responses)
      end)
      return true
    end
    core.remote_emit(self.nsp._h, args_array(event, n, ...))
    return true
  end

  -- Every room of the namespace, across the cluster (a set).
  function Operator:all_rooms()
    local set = {}
    for _, r in ipairs(core.nsp_rooms(self.nsp._h)) do set[r] = true end
    if clustered(self) then
      for _, r in ipairs(core.remote_all_rooms(self.nsp._h)) do set[r] = true end
    end
    return set
  end

  local function aliases(t)
    t.emitWithAck = t.emit_with_ack
    t.fetchSockets = t.fetch_sockets
    t.socketsJoin = t.sockets_join
    t.socketsLeave = t.sockets_leave
    t.disconnectSockets = t.disconnect_sockets
    t.serverSideEmit = t.server_side_emit
    t.allRooms = t.all_rooms
  end
  aliases(Operator)

  local operator_index = Operator
  Operator.__index = function(self, k)
    if k == "volatile" then return make_volatile(self) end
    if k == "local_" or k == "local" then return make_local(self) end
    return operator_index[k]
  end

  -- ---- namespaces ------------------------------------------------------

  local Namespace = {}
  local namespaces = {}        -- name -> namespace
  local families = {}          -- dynamic namespace matchers, in order

  local function new_namespace(name, h, parent)
    local nsp = setmetatable({
      name = name, _h = h, _listeners = {}, _mw = {}, sockets = {}, _ids = 0,
      _parent = parent, server = sio.server,
      _log = { first = 1, last = 0, index = {} }, _sessions = {},
    }, Namespace)
    core.nsp_bind(h, nsp)
    namespaces[name] = nsp
    return nsp
  end

  Namespace.on = on
  Namespace.off = off
  Namespace.once = once

  function Namespace:use(fn)
    assert(type(fn) == "function", "middleware must be a function")
    self._mw[#self._mw + 1] = fn
    return self
  end

  local function nsp_operator(self) return new_operator(self) end
  function Namespace:to(room) return nsp_operator(self):to(room) end
  Namespace.in_ = Namespace.to
  Namespace["in"] = Namespace.to
  function Namespace:except(room) return nsp_operator(self):except(room) end
  function Namespace:timeout(ms) return nsp_operator(self):timeout(ms) end
  function Namespace:compress(b) return nsp_operator(self):compress(b) end
  function Namespace:emit(event, ...) return nsp_operator(self):emit(event, ...) end
  function Namespace:emit_with_ack(event, ...) return nsp_operator(self):emit_with_ack(event, ...) end
  function Namespace:fetch_sockets() return nsp_operator(self):fetch_sockets() end
  function Namespace:sockets_join(r) return nsp_operator(self):sockets_join(r) end
  function Namespace:sockets_leave(r) return nsp_operator(self):sockets_leave(r) end
  function Namespace:disconnect_sockets(c) return nsp_operator(self):disconnect_sockets(c) end
  function Namespace:server_side_emit(event, ...) return nsp_operator(self):server_side_emit(event, ...) end
  function Namespace:all_rooms() return nsp_operator(self):all_rooms() end
  aliases(Namespace)

  -- Dynamic namespace families keep their object across reloads (by
  -- pattern, or by order for functions), so the namespaces they created
  -- keep pointing at the family whose listeners the new code sets.
  local family_objects = {}
  local function family(key, label, match)
    local f = family_objects[key]
    if not f then
      f = new_namespace("[dynamic " .. label .. "]", core.nsp_detached(), nil)
      family_objects[key] = f
    end
    families[#families + 1] = { match = match, parent = f }
    return f
  end

  function Namespace:of(name)
    if type(name) == "function" then
      local n = #families + 1
      return family("function " .. n, tostring(n), name)
    end
    assert(type(name) == "string", "namespace name must be a string or a function")
    if name:sub(1, 1) == "^" then
      return family("pattern " .. name, name, function(n) return n:match(name) ~= nil end)
    end
    if name:sub(1, 1) ~= "/" then name = "/" .. name end
    local nsp = namespaces[name]
    if nsp then return nsp end
    return new_namespace(name, core.of(name))
  end

  local namespace_index = Namespace
  Namespace.__index = function(self, k)
    if k == "volatile" then return make_volatile(new_operator(self)) end
    if k == "local_" or k == "local" then return make_local(new_operator(self)) end
    if k == "adapter" then return { rooms = core.nsp_rooms(self._h) } end
    return namespace_index[k]
  end

  -- ---- sockets ---------------------------------------------------------

  local Socket = {}
  local socket_index = Socket

  Socket.on = on
  Socket.off = off
  Socket.once = once
  Socket.removeListener = off
  Socket.removeAllListeners = function(self, ev) return off(self, ev) end
  Socket.listeners = function(self, ev) return { unpack(self._listeners[ev] or {}) } end

  -- Socket fields made on first use (see dispatch.connecting); readers on
  -- the hot path use rawget(sock, k) or EMPTY so they don't make them.
  local LAZY_TABLES = { _mw = true, _any = true, _anyout = true, _acks = true }
  local EMPTY = setmetatable({}, { __newindex = function() error("internal: EMPTY is read-only", 2) end })

  local function notify_outgoing(self, args)
    local l = self._anyout
    if #l == 0 then return end
    for i = 1, #l do spawn(l[i], unpack(args, 1, #args)) end
  end

  function Socket:emit(event, ...)
    if RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 2) end
    local n = select("#", ...)
    local last = n > 0 and select(n, ...) or nil
    local id
    if type(last) == "function" then
      n = n - 1
      local nsp = self.nsp
      id = nsp._ids
      nsp._ids = id + 1
      local ms = self._flags and self._flags.timeout
      if ms then
        local w = new_waiter(ms)
        self._acks[id] = function(...) settle(w, nil, ...) end
        spawn(function()
          local r = pack(w.waker:wait())
          self._acks[id] = nil
          last(unpack(r, 1, r.n))
        end)
      else
        self._acks[id] = function(...) spawn(last, ...) end
      end
    end
    local args = args_array(event, n, ...)
    notify_outgoing(self, args)
    if not id then log_packet(self.nsp, { self.id }, {}, args) end
    core.emit(self._h, args, id)
    return true
  end

  -- Waits for the client's ack and returns its arguments; with a timeout
  -- (socket:timeout(ms)) returns err, ... where err is nil or the timeout.
  function Socket:emit_with_ack(event, ...)
    if RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 2) end
    local nsp = self.nsp
    local id = nsp._ids
    nsp._ids = id + 1
    local ms = self._flags and self._flags.timeout
    local w = new_waiter(ms)
    if ms then
      self._acks[id] = function(...) settle(w, nil, ...) end
    else
      self._acks[id] = function(...) settle(w, ...) end
    end
    local args = args_array(event, select("#", ...), ...)
    notify_outgoing(self, args)
    core.emit(self._h, args, id)
    local r = pack(w.waker:wait())
    self._acks[id] = nil
    return unpack(r, 1, r.n)
  end

  -- A socket seen through an operator (timeout/volatile on one socket).
  local function socket_view(self, flags)
    local base = rawget(self, "_base") or self
    return setmetatable({ _base = base, _flags = flags }, {
      __index = function(_, k)
        return base[k]
      end,
    })
  end

  function Socket:timeout(ms)
    local base = rawget(self, "_base") or self
    local view = socket_view(base, copy_flags(rawget(self, "_flags") or {}, "timeout", ms))
    -- emit / emit_with_ack must see the view's flags but the socket's state.
    view.emit = function(v, ...) return Socket.emit(setmetatable({ _flags = v._flags }, { __index = base, __newindex = base }), ...) end
    view.emit_with_ack = function(v, ...) return Socket.emit_with_ack(setmetatable({ _flags = v._flags }, { __index = base, __newindex = base }), ...) end
    view.emitWithAck = view.emit_with_ack
    return view
  end

  function Socket:join(rooms)
    if type(rooms) == "table" then
      for i = 1, #rooms do core.join(self._h, tostring(rooms[i])) end
    else
      core.join(self._h, tostring(rooms))
    end
    return self
  end

  function Socket:leave(room)
    core.leave(self._h, tostring(room))
    return self
  end

  function Socket:to(room)
    return new_operator(self.nsp, copy_list({}, room), { self.id })
  end
  Socket.in_ = Socket.to
  Socket["in"] = Socket.to
  function Socket:except(room)
    return new_operator(self.nsp, {}, copy_list({ self.id }, room))
  end

  function Socket:disconnect(close)
    core.disconnect(self._h, close and true or false)
    return self
  end

  function Socket:use(fn)
    assert(type(fn) == "function", "middleware must be a function")
    self._mw[#self._mw + 1] = fn
    return self
  end

  function Socket:on_any(fn) self._any[#self._any + 1] = fn return self end
  function Socket:prepend_any(fn) table.insert(self._any, 1, fn) return self end
  function Socket:off_any(fn)
    if fn == nil then self._any = {} return self end
    for i = #self._any, 1, -1 do if self._any[i] == fn then table.remove(self._any, i) end end
    return self
  end
  function Socket:on_any_outgoing(fn) self._anyout[#self._anyout + 1] = fn return self end
  function Socket:prepend_any_outgoing(fn) table.insert(self._anyout, 1, fn) return self end
  function Socket:off_any_outgoing(fn)
    if fn == nil then self._anyout = {} return self end
    for i = #self._anyout, 1, -1 do if self._anyout[i] == fn then table.remove(self._anyout, i) end end
    return self
  end
  Socket.onAny = Socket.on_any
  Socket.prependAny = Socket.prepend_any
  Socket.offAny = Socket.off_any
  Socket.onAnyOutgoing = Socket.on_any_outgoing
  Socket.prependAnyOutgoing = Socket.prepend_any_outgoing
  Socket.offAnyOutgoing = Socket.off_any_outgoing
  Socket.emitWithAck = Socket.emit_with_ack

  Socket.__index = function(self, k)
    local m = socket_index[k]
    if m ~= nil then return m end
    if LAZY_TABLES[k] then
      local t = {}
      rawset(self, k, t)
      return t
    elseif k == "handshake" then
      local hs = core.handshake(self._h) or { headers = {}, query = {} }
      hs.auth = self._auth
      rawset(self, "handshake", hs)
      return hs
    elseif k == "rooms" then
      local set = {}
      if rawget(self, "connected") then
        for _, r in ipairs(core.rooms(self._h)) do set[r] = true end
      end
      return set
    elseif k == "disconnected" then
      return not rawget(self, "connected")
    elseif k == "broadcast" then
      return new_operator(self.nsp, {}, { self.id })
    elseif k == "volatile" then
      local view = socket_view(self, { volatile = true })
      view.emit = function(_, event, ...)
        if not core.writable(self._h) then return false end
        return Socket.emit(self, event, ...)
      end
      return setmetatable({}, { __index = view, __call = function() return view end })
    elseif k == "conn" then
      return { transport = { name = core.transport(self._h) }, id = self._eio_id }
    elseif k == "client" then
      return { conn = self.conn }
    end
    return nil
  end
  Socket.__tostring = function(self) return "socket " .. self.id end

  -- ---- hooks called by the C core --------------------------------------

  local dispatch = {}
  dispatch.remote_broadcast = remote_broadcast

  -- A CONNECT for nsp: build the socket, run the middlewares (they may
  -- wait), then accept or refuse. Returns the socket table to the C side.
  function dispatch.connecting(h, nsp, auth)
    -- handshake and the tables of middlewares, onAny listeners and pending
    -- acks are made when first used (Socket.__index): an idle socket
    -- carries none of them.
    local sock = setmetatable({
      id = core.id(h), _h = h, nsp = nsp, data = {}, connected = false, recovered = false,
      _auth = auth, _listeners = {},
    }, Socket)
    local on, max = core.recovery()
    local wants = on and type(auth.pid) == "string" and type(auth.offset) == "string"

    local function recover(session, missed, pid)
      -- Recovered: same id, rooms and data; middlewares are skipped, as
      -- with Node's default skipMiddlewares.
      core.set_identity(h, session.sid, pid)
      sock.id, sock.data, sock.recovered, sock._pid = session.sid, session.data, true, pid
      spawn(function()
        if not core.accept(h) then return end
        for i = 1, #session.rooms do core.join(h, session.rooms[i]) end
        sock.connected = true
        nsp.sockets[sock.id] = sock
        for i = 1, #missed do core.emit(h, missed[i]) end
        fire(nsp, "connection", sock)
        if nsp._parent then fire(nsp._parent, "connection", sock) end
      end)
    end

    if wants then
      local session, missed = restore_session(nsp, auth.pid, auth.offset, max)
      if session then
        recover(session, missed, auth.pid)
        return sock
      end
      if core.clustered() then
        -- It may have left another server: ask Redis, then decide.
        spawn(function()
          local stored = core.session_take(auth.pid)
          if rawget(sock, "_gone") then return end
          if type(stored) == "table" and type(stored.sid) == "string" then
            local rooms = {}
            for i = 1, #(stored.rooms or {}) do rooms[i] = stored.rooms[i] end
            local st = { sid = stored.sid, rooms = rooms, data = stored.data or {} }
            local m = missed_since(nsp, st, auth.offset)
            if m then
              recover(st, m, auth.pid)
              return
            end
          end
          sock._pid = core.random_id()
          core.set_identity(h, nil, sock._pid)
          dispatch.run_middlewares(sock, h, nsp)
        end)
        return sock
      end
    end
    if on then
      sock._pid = core.random_id()
      core.set_identity(h, nil, sock._pid)
    end
    dispatch.run_middlewares(sock, h, nsp)
    return sock
  end

  -- The connection middlewares (the namespace family's, then the
  -- namespace's), then accept or refuse.
  function dispatch.run_middlewares(sock, h, nsp)
    local chain = {}
    local parent = nsp._parent
    if parent then for i = 1, #parent._mw do chain[#chain + 1] = parent._mw[i] end end
    for i = 1, #nsp._mw do chain[#chain + 1] = nsp._mw[i] end
    spawn(function()
      -- If this handler dies before deciding (the instruction budget, out
      -- of memory: errors pcall can't keep), the client still gets an
      -- answer: the <close> guard runs when the coroutine is torn down.
      local decided = false
      local guard <close> = setmetatable({}, { __close = function()
        if not decided and not rawget(sock, "_gone") then core.refuse(h, "server error") end
      end })
      for i = 1, #chain do
        local verdict, called = nil, false
        local ok, err = pcall(chain[i], sock, function(e)
          called = true
          verdict = e
        end)
        if not ok then
          decided = true
          sio.log.error("middleware error: %s", tostring(err))
          core.refuse(h, "server error")
          return
        end
        if verdict ~= nil then
          decided = true
          local msg, data = verdict, nil
          if type(verdict) == "table" then msg, data = verdict.message, verdict.data end
          core.refuse(h, tostring(msg or "error"), data)
          return
        end
        if rawget(sock, "_gone") then decided = true return end
      end
      decided = true
      if not core.accept(h) then return end
      sock.connected = true
      nsp.sockets[sock.id] = sock
      local family = nsp._parent
      fire(nsp, "connection", sock)
      fire(nsp, "connect", sock)
      if family then
        fire(family, "connection", sock)
        fire(family, "connect", sock)
      end
    end)
    return sock
  end

  -- Per-socket middlewares, then the listeners and onAny.
  local function run_event(sock, args)
    local n = #args
    local mw = rawget(sock, "_mw") or EMPTY
    for i = 1, #mw do
      local verdict
      mw[i](args, function(e) verdict = e end)
      if verdict ~= nil then
        fire(sock, "error", verdict)
        return
      end
    end
    local any = rawget(sock, "_any") or EMPTY
    for i = 1, #any do spawn(any[i], unpack(args, 1, n)) end
    local l = sock._listeners[args[1]]
    if l then
      local copy = { unpack(l) }
      for i = 1, #copy do spawn(copy[i], unpack(args, 2, n)) end
    end
  end

  function dispatch.event(sock, args, id)
    if not rawget(sock, "connected") then return end
    if id then
      local used = false
      args[#args + 1] = function(...)
        if used then return end
        used = true
        if rawget(sock, "connected") then
          core.ack(sock._h, values_array(select("#", ...), ...), id)
        end
      end
    end
    local mw = rawget(sock, "_mw")
    if mw and #mw > 0 then
      spawn(run_event, sock, args)
    else
      run_event(sock, args)
    end
  end

  function dispatch.ack(sock, args, id)
    local acks = rawget(sock, "_acks")
    local cb = acks and acks[id]
    if not cb then return end -- late or unknown: ignored
    acks[id] = nil
    cb(unpack(args, 1, #args))
  end

  -- Still in its rooms: "disconnecting" handlers see them, and the session
  -- kept for recovery records them.
  function dispatch.disconnecting(sock, reason)
    fire(sock, "disconnecting", reason)
    local on, max = core.recovery()
    if on and sock._pid and RECOVERABLE[reason] then persist_session(sock.nsp, sock, max) end
  end

  -- Out of its rooms and namespace: broadcasts from "disconnect" handlers
  -- no longer reach it, and fetch_sockets no longer lists it.
  function dispatch.disconnect(sock, reason)
    -- The handshake is read from the C side, which forgets it after this:
    -- made now if the app never asked, so a socket kept around still has it.
    local _ = sock.handshake
    sock.connected = false
    sock.nsp.sockets[sock.id] = nil
    fire(sock, "disconnect", reason)
  end

  function dispatch.free(sock)
    sock._gone = true
    sock.connected = false
    sock.nsp.sockets[sock.id] = nil
    sock._acks = {}
  end

  -- Another server's server_side_emit: the namespace's listeners of that
  -- event get the arguments (and an ack function when it waits).
  function dispatch.server_side_emit(nsp, args, request_id)
    local event = args[1]
    if type(event) ~= "string" or RESERVED[event] or event == "connection" or event == "connect" then
      return
    end
    local n = #args
    if request_id then
      local used = false
      args[n + 1] = function(value)
        if used then return end
        used = true
        core.server_side_ack(nsp._h, request_id, value)
      end
      n = n + 1
    end
    fire(nsp, event, unpack(args, 2, n))
  end

  -- Another server's broadcast with acks: send it to the local sockets
  -- with an ack id, tell it how many, relay each first ack argument until
  -- its timeout.
  function dispatch.broadcast_with_ack(nsp, args, rooms, except, request_id, timeout_ms)
    local id = nsp._ids
    nsp._ids = id + 1
    local recipients = core.broadcast(nsp._h, rooms, except, 2, args, id)
    core.broadcast_count(nsp._h, request_id, #recipients)
    for i = 1, #recipients do
      recipients[i]._acks[id] = function(first)
        if first == nil then first = null end
        core.broadcast_ack(nsp._h, request_id, first)
      end
    end
    if #recipients > 0 then
      sio.set_timeout(timeout_ms, function()
        for i = 1, #recipients do recipients[i]._acks[id] = nil end
      end)
    end
  end

  -- A CONNECT for a name no namespace has: ask the dynamic families.
  function dispatch.resolve(name, auth)
    for i = 1, #families do
      local f = families[i]
      local ok, yes = pcall(f.match, name, auth)
      if ok and yes then
        local nsp = new_namespace(name, core.of(name), f.parent)
        return nsp
      elseif not ok then
        sio.log.error("namespace matcher error: %s", tostring(yes))
      end
    end
    return nil
  end

  -- ---- raw Engine.IO ---------------------------------------------------

  local Engine = { on = on, off = off, once = once }
  Engine.__index = Engine
  local Conn = { on = on, off = off, once = once }
  Conn.__index = Conn
  function Conn:send(data) return core.eio_send(self._h, data) end
  function Conn:close() core.eio_close(self._h) end

  local eio_dispatch = {}
  function eio_dispatch.open(engine, h, id, transport)
    local conn = setmetatable({ _h = h, id = id, transport = transport, _listeners = {} }, Conn)
    fire(engine, "connection", conn)
    return conn
  end
  function eio_dispatch.message(conn, data) fire(conn, "message", data) end
  function eio_dispatch.close(conn, reason) fire(conn, "close", reason) end

  local engines = {}  -- path -> engine; mounted once, kept across reloads
  function sio.engine(path, opts)
    local engine = engines[path]
    if engine then return engine end
    engine = setmetatable({ _listeners = {}, path = path }, Engine)
    core.eio_mount(path, opts or {}, engine)
    engines[path] = engine
    return engine
  end

  -- ---- HTTP routes -----------------------------------------------------
  -- sio.http.get("/api/users/:id", function(req, res) ... end): small JSON
  -- APIs on the server's port. Precedence: the Socket.IO path (and its
  -- client bundle), then these routes, then the app's public/ files.

  local routes = {}

  -- "/api/users/:id" -> Lua pattern "^/api/users/([^/]+)$" and {"id"}.
  local function compile_path(path)
    assert(type(path) == "string" and path:sub(1, 1) == "/", "a route path starts with /")
    local names = {}
    local pattern = "^" .. path:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("/:([%w_]+)", function(name)
      names[#names + 1] = name
      return "/([^/]+)"
    end) .. "$"
    return pattern, names
  end

  local function add_route(method, path, fn)
    assert(type(fn) == "function", "a route handler must be a function")
    local pattern, names = compile_path(path)
    routes[#routes + 1] = { method = method, pattern = pattern, names = names, fn = fn, path = path }
  end

  local http = {}
  for _, m in ipairs({ "get", "post", "put", "delete", "patch", "head", "options" }) do
    http[m] = function(path, fn) add_route(m:upper(), path, fn) end
  end
  function http.route(method, path, fn) add_route(method:upper(), path, fn) end
  sio.http = http

  function dispatch.http_match(method, path)
    for i = 1, #routes do
      local r = routes[i]
      if r.method == method or (r.method == "GET" and method == "HEAD") then
        local caps = { path:match(r.pattern) }
        if caps[1] ~= nil then
          local params = {}
          for j = 1, #r.names do
            params[r.names[j]] = caps[j]:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
          end
          return r.fn, params
        end
      end
    end
    return nil
  end

  -- Raised by req:json() on a bad body: answered 400 by http_run.
  local BAD_JSON = {}

  local Request = {}
  Request.__index = Request
  function Request:json()
    if self._json ~= nil then return self._json end
    local v, err = json.decode(self.body)
    if v == nil then error({ [BAD_JSON] = true, message = "invalid JSON body: " .. tostring(err) }, 0) end
    self._json = v
    return v
  end

  local Response = {}
  Response.__index = Response
  function Response:status(code) self.status_code = code return self end
  function Response:header(name, value) self.headers[name] = tostring(value) return self end
  function Response:send(body, status)
    if self.sent then return false end
    self.sent = true
    return core.http_respond(self._h, status or self.status_code, self.headers, body and tostring(body) or "")
  end
  function Response:json(value, status)
    if not self.headers["content-type"] then self.headers["content-type"] = "application/json" end
    return self:send(json.encode(value), status)
  end

  function dispatch.http_run(fn, params, h, req)
    req.params = params
    setmetatable(req, Request)
    local res = setmetatable({ _h = h, status_code = 200, headers = {}, sent = false }, Response)
    spawn(function()
      -- Answers 500 if the handler dies where pcall can't help (the
      -- instruction budget, out of memory).
      local guard <close> = setmetatable({}, { __close = function()
        if not res.sent then res:json({ error = "internal server error" }, 500) end
      end })
      local ok, err = pcall(fn, req, res)
      if not ok then
        if type(err) == "table" and err[BAD_JSON] then
          res:json({ error = err.message }, 400)
          return
        end
        sio.log.error("http %s %s: %s", req.method, req.path, tostring(err))
        res:json({ error = "internal server error" }, 500)
        return
      end
      -- A handler that returns without answering: an empty 204, or what it set.
      if not res.sent then res:send("", res.status_code == 200 and 204 or res.status_code) end
    end)
  end

  -- ---- emitter -----------------------------------------------------------
  -- sio.emitter{redis = url, key = "socket.io"}: publishes events to a
  -- cluster (this one or another) the way @socket.io/redis-emitter does.

  local Emitter = {}
  Emitter.__index = Emitter

  local function emitter_copy(e, nsp, rooms, except)
    return setmetatable({ _h = e._h, _nsp = nsp or e._nsp, _rooms = rooms or e._rooms,
                          _except = except or e._except }, Emitter)
  end

  function sio.emitter(opts)
    opts = opts or {}
    local url = opts.redis or os.getenv("SIOLUA_REDIS_URL") or "redis://127.0.0.1:6379"
    return setmetatable({ _h = core.emitter_new(url, opts.key), _nsp = "/", _rooms = {}, _except = {} },
                        Emitter)
  end
  function Emitter:of(nsp)
    if nsp:sub(1, 1) ~= "/" then nsp = "/" .. nsp end
    return emitter_copy(self, nsp, {}, {})
  end
  function Emitter:to(room) return emitter_copy(self, nil, copy_list(self._rooms, room)) end
  Emitter.in_ = Emitter.to
  Emitter["in"] = Emitter.to
  function Emitter:except(room) return emitter_copy(self, nil, nil, copy_list(self._except, room)) end
  -- -> true, or false and "redis unavailable"
  function Emitter:emit(event, ...)
    if RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 2) end
    return core.emitter_publish(self._h, self._nsp, self._rooms, self._except,
                                args_array(event, select("#", ...), ...))
  end

  -- ---- module ----------------------------------------------------------

  sio.server = new_namespace("/", core.of("/"))
  sio.server.of = Namespace.of
  sio.server.engine = setmetatable({}, {
    __index = function(_, k) if k == "clientsCount" then return core.clients_count() end end,
  })
  sio.json = json
  sio.crypto = core.crypto
  sio.binary = json.binary
  sio.is_binary = json.is_binary
  sio.null = null
  sio.TIMEOUT = TIMEOUT
  function sio.error(message, data) return { message = message, data = data } end
  -- Options are read once, at start: a reload runs main.lua again, and its
  -- configure call is then ignored (changing options needs a restart).
  local reloading = false
  function sio.configure(opts)
    if reloading then return end
    return core.configure(opts)
  end

  -- Module-level state that survives reloads (main.lua's locals don't).
  sio.state = {}

  -- ---- hot reload -------------------------------------------------------
  -- All or nothing, as Redis reloads functions: the new main.lua runs with
  -- every registration (listeners, middlewares, namespaces families, HTTP
  -- routes, engine listeners) reset and the app's modules unloaded; if it
  -- fails, the old registrations and modules are put back and nothing
  -- changed. If it succeeds, each connected socket gets its connection
  -- handlers run again with socket.reloaded == true, so its listeners are
  -- the new code's; its id, rooms, data and pending acks stay.
  -- Three steps driven from C, each its own protected call with its own
  -- instruction budget, so a new main.lua that fails in any way (even one
  -- that loops until the budget stops it) can always be rolled back.
  local saved

  function dispatch.reload_begin(app_dir)
    local app_path = app_dir .. "/?.lua;" .. app_dir .. "/?/init.lua"
    saved = { nsp = {}, engines = {}, loaded = {}, families = families, routes = routes,
              app_path = app_path, names = {} }
    for name, nsp in pairs(namespaces) do
      saved.names[name] = true
      saved.nsp[nsp] = { nsp._listeners, nsp._mw }
      nsp._listeners, nsp._mw = {}, {}
    end
    for _, e in pairs(engines) do
      saved.engines[e] = e._listeners
      e._listeners = {}
    end
    families, routes = {}, {}
    for name, mod in pairs(package.loaded) do
      if type(name) == "string" and package.searchpath(name, app_path) then
        saved.loaded[name] = mod
        package.loaded[name] = nil
      end
    end
    reloading = true
  end

  function dispatch.reload_rollback()
    reloading = false
    for nsp, st in pairs(saved.nsp) do nsp._listeners, nsp._mw = st[1], st[2] end
    for e, l in pairs(saved.engines) do e._listeners = l end
    families, routes = saved.families, saved.routes
    -- Namespaces the failed code created go away again.
    for name, nsp in pairs(namespaces) do
      if not saved.names[name] then
        namespaces[name] = nil
        if nsp._h then core.nsp_remove(nsp._h) end
      end
    end
    for key, f in pairs(family_objects) do
      if not saved.nsp[f] then family_objects[key] = nil end
    end
    for name in pairs(package.loaded) do
      if type(name) == "string" and package.searchpath(name, saved.app_path) then package.loaded[name] = nil end
    end
    for name, mod in pairs(saved.loaded) do package.loaded[name] = mod end
    saved = nil
  end

  function dispatch.reload_commit()
    reloading = false
    saved = nil
    local rebound = 0
    for _, nsp in pairs(namespaces) do
      for _, sock in pairs(nsp.sockets) do
        sock._listeners, sock._any, sock._anyout, sock._mw = {}, nil, nil, nil
        sock.reloaded = true
        fire(nsp, "connection", sock)
        if nsp._parent then fire(nsp._parent, "connection", sock) end
        sock.reloaded = nil
        rebound = rebound + 1
      end
    end
    return rebound
  end

  require("siolua.client")(sio, core)
  require("siolua.fetch")(sio, core)
  return dispatch, eio_dispatch
end
