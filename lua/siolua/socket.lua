-- L6 (Lua side): sockets (Node's Socket) and their life, as the C side
-- reports it: a CONNECT (recovery, connection middlewares, then accept or
-- refuse), events and acks from the client, "disconnecting", "disconnect"
-- and the end. A socket's listeners, per-socket middlewares, onAny lists
-- and pending acks live here; its id, rooms and packets are the C side's,
-- reached through its handle (sock._h). Part of lua/siolua/api.lua's
-- library.

return function(lib)
  local sio, core, dispatch = lib.sio, lib.core, lib.dispatch
  local adapter = core.adapter
  local E, R, O = lib.events, lib.recovery, lib.operator
  local spawn = core.spawn
  local pack, unpack, select, type, rawget = table.pack, table.unpack, select, type, rawget
  local RESERVED, DISCONNECTED = E.RESERVED, E.DISCONNECTED
  local args_array = E.args_array
  local array = core.json.array
  local copy_list, copy_flags = E.copy_list, E.copy_flags
  local new_waiter, settle = E.new_waiter, E.settle
  local fire = E.fire
  local log_packet = R.log_packet
  local new_operator = O.new
  -- A dashboard's hooks (admin.lua), each nil unless it watches.
  local watcher = lib.watcher

  local Socket = {}
  local socket_index = Socket

  Socket.on = E.on
  Socket.off = E.off
  Socket.once = E.once
  Socket.removeListener = E.off
  Socket.removeAllListeners = function(self, ev) return E.off(self, ev) end
  Socket.listeners = function(self, ev) return E.list(self._listeners[ev]) end

  -- Socket fields made on first use (see dispatch.connecting); readers on
  -- the hot path use rawget(sock, k) or EMPTY so they don't make them.
  local LAZY_TABLES = { _mw = true, _any = true, _anyout = true, _acks = true, _waiting = true,
                        data = true }
  local EMPTY = setmetatable({}, { __newindex = function() error("internal: EMPTY is read-only", 2) end })

  local function notify_outgoing(self, args)
    local l = self._anyout
    if #l == 0 then return end
    for i = 1, #l do spawn(l[i], unpack(args, 1, #args)) end
  end

  -- compress(false) on this view of the socket: its packets go plain.
  local function plain(self)
    local f = self._flags
    return f ~= nil and f.compress == false
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
    local w = watcher.event_out
    if w then w(self, args) end
    if not id then log_packet(self.nsp, { self.id }, {}, args) end
    self._h:emit(args, id, plain(self))
    return true
  end

  -- Waits for the client's ack and returns its first argument, as Node's
  -- emitWithAck resolves; nil, err when there is none: "operation has
  -- timed out" (socket:timeout(ms)), or "disconnected" when the socket
  -- goes first (Node's promise would never settle: a handler would wait
  -- forever). The callback form gives every argument.
  function Socket:emit_with_ack(event, ...)
    if RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 2) end
    local nsp = self.nsp
    local id = nsp._ids
    nsp._ids = id + 1
    local w = new_waiter(self._flags and self._flags.timeout)
    self._acks[id] = function(...) settle(w, nil, (...)) end
    local args = args_array(event, select("#", ...), ...)
    notify_outgoing(self, args)
    local hook = watcher.event_out
    if hook then hook(self, args) end
    if not self._h:emit(args, id, plain(self)) then
      self._acks[id] = nil
      settle(w, DISCONNECTED)
    else
      self._waiting[w] = true
    end
    local err, value = w.waker:wait()
    self._acks[id] = nil
    self._waiting[w] = nil
    if err then return nil, err end
    return value
  end

  -- Node's socket.send(...) / write(...): emit("message", ...).
  function Socket:send(...) return self:emit("message", ...) end
  Socket.write = Socket.send

  -- A socket seen through an operator (timeout/volatile on one socket).
  local function socket_view(self, flags)
    local base = rawget(self, "_base") or self
    return setmetatable({ _base = base, _flags = flags }, {
      __index = function(_, k)
        return base[k]
      end,
    })
  end

  -- The socket with one more flag for its emits (timeout, compress), as
  -- Node's socket.timeout(ms) and socket.compress(false) return it.
  local function flagged(self, name, value)
    local base = rawget(self, "_base") or self
    local view = socket_view(base, copy_flags(rawget(self, "_flags") or {}, name, value))
    -- emit / emit_with_ack must see the view's flags but the socket's state.
    view.emit = function(v, ...) return Socket.emit(setmetatable({ _flags = v._flags }, { __index = base, __newindex = base }), ...) end
    view.emit_with_ack = function(v, ...) return Socket.emit_with_ack(setmetatable({ _flags = v._flags }, { __index = base, __newindex = base }), ...) end
    view.emitWithAck = view.emit_with_ack
    return view
  end

  function Socket:timeout(ms) return flagged(self, "timeout", ms) end
  -- compress(false): this view's packets are never compressed, on either
  -- transport (permessage-deflate, httpCompression); compress(true) is the
  -- default.
  function Socket:compress(b) return flagged(self, "compress", b and true or false) end

  -- A socket that has gone keeps no rooms: joining or leaving is then a
  -- no-op (its handle is closed). join is core.socket_join, in C
  -- (src/lua/lua_sio.c): most "connection" handlers call it.
  Socket.join = core.socket_join

  function Socket:leave(room)
    if not rawget(self, "_gone") then self._h:leave(tostring(room)) end
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
    self._h:disconnect(close and true or false)
    return self
  end

  function Socket:use(fn)
    assert(type(fn) == "function", "middleware must be a function")
    self._mw[#self._mw + 1] = fn
    return self
  end

  -- Removes fn (every time it is there) from the list in field k, or
  -- every function when fn is nil.
  local function off_list(self, k, fn)
    if fn == nil then self[k] = {} return self end
    local l = self[k]
    for i = #l, 1, -1 do if l[i] == fn then table.remove(l, i) end end
    return self
  end

  function Socket:on_any(fn) self._any[#self._any + 1] = fn return self end
  function Socket:prepend_any(fn) table.insert(self._any, 1, fn) return self end
  function Socket:off_any(fn) return off_list(self, "_any", fn) end
  function Socket:on_any_outgoing(fn) self._anyout[#self._anyout + 1] = fn return self end
  function Socket:prepend_any_outgoing(fn) table.insert(self._anyout, 1, fn) return self end
  function Socket:off_any_outgoing(fn) return off_list(self, "_anyout", fn) end
  function Socket:listeners_any() return { unpack(self._any) } end
  function Socket:listeners_any_outgoing() return { unpack(self._anyout) } end
  Socket.onAny = Socket.on_any
  Socket.prependAny = Socket.prepend_any
  Socket.offAny = Socket.off_any
  Socket.onAnyOutgoing = Socket.on_any_outgoing
  Socket.prependAnyOutgoing = Socket.prepend_any_outgoing
  Socket.offAnyOutgoing = Socket.off_any_outgoing
  Socket.listenersAny = Socket.listeners_any
  Socket.listenersAnyOutgoing = Socket.listeners_any_outgoing
  Socket.emitWithAck = Socket.emit_with_ack

  -- What a socket table doesn't hold itself: the methods, and fields made
  -- on first use or read from the C side.
  local function socket_field(self, k)
    if LAZY_TABLES[k] then
      local t = {}
      rawset(self, k, t)
      return t
    elseif k == "recovered" then
      return false -- held only once true
    elseif k == "handshake" then
      local hs = rawget(self, "_gone") and { headers = {}, query = {} } or self._h:handshake()
      hs.auth = rawget(self, "_auth") or {}
      rawset(self, "handshake", hs)
      return hs
    elseif k == "rooms" then
      local set = {}
      if self.connected then
        for _, r in ipairs(self._h:rooms()) do set[r] = true end
      end
      return set
    elseif k == "disconnected" then
      return not self.connected
    elseif k == "broadcast" then
      return new_operator(self.nsp, {}, { self.id })
    elseif k == "local_" or k == "local" then
      -- Node's socket.local: everyone on this server but this socket.
      return O.local_(new_operator(self.nsp, {}, { self.id }))
    elseif k == "volatile" then
      local view = socket_view(self, { volatile = true })
      view.emit = function(_, event, ...)
        if not self._h:writable() then return false end
        return Socket.emit(self, event, ...)
      end
      return setmetatable({}, { __index = view, __call = function() return view end })
    elseif k == "conn" then
      local gone = rawget(self, "_gone")
      return { transport = { name = gone and "closed" or self._h:transport() },
               id = not gone and self._h:session_id() or nil }
    elseif k == "client" then
      return { conn = self.conn }
    elseif k == "request" then
      -- Node's socket.request is the handshake's IncomingMessage; ours has
      -- what an app reads of it. An Engine.IO handshake is always a GET.
      local hs = self.handshake
      local req = { method = "GET", url = hs.url, headers = hs.headers, address = hs.address }
      rawset(self, "request", req)
      return req
    end
    return nil
  end

  local function socket_tostring(self) return "socket " .. self.id end

  -- Two metatables per namespace, which hold the socket's nsp and whether
  -- it is connected: an idle socket table is then its handle and its
  -- listeners, two fields (the hash part of a Lua table is a power of two:
  -- a third doubles it, 48 bytes per connection). Its id is read from the
  -- handle while the socket lives (no string per idle connection: a read
  -- makes one, which the collector takes back) and kept in the table once
  -- it has gone (the C side writes it at the socket's end); "connected" is
  -- the metatable's until the socket disconnects, when a field set to
  -- false overrides it.
  local metatables = setmetatable({}, { __mode = "k" })
  local function socket_metatable(nsp, connected)
    local mts = metatables[nsp]
    if not mts then
      mts = {}
      -- The id while the socket lives is its handle's (read, not kept).
      local function fallback(self, k)
        if k == "id" then return rawget(self, "_h"):id() end
        return socket_field(self, k)
      end
      for i, c in ipairs({ false, true }) do
        -- A method, then nsp or connected, then the id or a field made on
        -- first use; in C (core.indexer): every method call on a socket
        -- looks here.
        mts[i] = {
          __index = core.indexer(socket_index, { nsp = nsp, connected = c }, fallback),
          __tostring = socket_tostring,
        }
      end
      metatables[nsp] = mts
    end
    return mts[connected and 2 or 1]
  end

  -- ---- hooks called by the C side ------------------------------------------

  -- The socket table, not yet connected unless mt says so. Four slots in
  -- its hash part, the constructor's four fields (auth and pid stored only
  -- when there: an empty auth is not kept): sized once, and half empty in
  -- an idle socket, where the fields read absent on every event (event_cf
  -- in src/lua/lua_sio.c: connected, _mw, _any) are found absent at once;
  -- in a full two-slot table each walks a collision chain (measured: ~50
  -- instructions more per echo). Its listeners' table is made with room
  -- for two events (the nil fields size the constructor and are not
  -- stored): an app's "connection" handler most often gives a socket a
  -- listener or two, and a table grown from none to one to two slots is
  -- two more allocations (~500 instructions per connection for
  -- bench/apps/echo's two; the same 48 bytes once both are there).
  local function new_socket(h, auth, pid, mt)
    if auth ~= nil and (type(auth) ~= "table" or next(auth) == nil) then auth = nil end
    return setmetatable({ _h = h, _listeners = { _1 = nil, _2 = nil }, _auth = auth, _pid = pid }, mt)
  end

  -- The socket is accepted (its CONNECT answered, in its namespace and
  -- connected as its metatable says): its "connection" listeners run.
  local function announce(sock, nsp)
    local family = nsp._parent
    local w = watcher.connected
    if w then w(sock) end
    fire(nsp, "connection", sock)
    -- "connect", Node's other name for it, has listeners in few apps: no
    -- call (a vararg one) for it on every connection then.
    if nsp._listeners.connect ~= nil then fire(nsp, "connect", sock) end
    if family then
      fire(family, "connection", sock)
      fire(family, "connect", sock)
    end
    w = watcher.after_connection
    if w then w(sock) end
  end

  -- Accepted after its middlewares: the CONNECT reply goes, then as
  -- announce.
  local function accepted(sock, h, nsp)
    if not h:accept(rawget(sock, "_pid")) then return end
    setmetatable(sock, socket_metatable(nsp, true))
    announce(sock, nsp)
  end

  -- Whether a CONNECT to nsp has connection middlewares to pass (its
  -- family's or its own).
  local function has_middlewares(nsp)
    local parent = nsp._parent
    return #nsp._mw > 0 or (parent and #parent._mw > 0) or false
  end

  -- The connection middlewares (the namespace family's, then the
  -- namespace's), then accept or refuse. Without any, the socket is
  -- accepted at once: no handler of its own to wait in.
  local function run_middlewares(sock, h, nsp)
    if not has_middlewares(nsp) then
      accepted(sock, h, nsp)
      return sock
    end
    local parent = nsp._parent
    local chain = {}
    if parent then for i = 1, #parent._mw do chain[#chain + 1] = parent._mw[i] end end
    for i = 1, #nsp._mw do chain[#chain + 1] = nsp._mw[i] end
    spawn(function()
      -- If this handler dies before deciding (the time limit, out
      -- of memory: errors pcall can't keep), the client still gets an
      -- answer: the <close> guard runs when the coroutine is torn down.
      local decided = false
      local guard <close> = setmetatable({}, { __close = function()
        if not decided then h:refuse("server error") end
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
          h:refuse("server error")
          return
        end
        if verdict ~= nil then
          decided = true
          local msg, data = verdict, nil
          if type(verdict) == "table" then msg, data = verdict.message, verdict.data end
          h:refuse(tostring(msg or "error"), data)
          return
        end
        if rawget(sock, "_gone") then decided = true return end
      end
      decided = true
      accepted(sock, h, nsp)
    end)
    return sock
  end

  -- Recovered: same id, rooms and data; middlewares are skipped, as with
  -- Node's default skipMiddlewares. (Not a closure made in every
  -- CONNECT: 200 bytes of garbage per connection, most never recovered.)
  local function recover(sock, h, nsp, session, missed, pid)
    h:set_identity(session.sid)
    sock.id, sock.data, sock.recovered, sock._pid = session.sid, session.data, true, pid
    spawn(function()
      if not h:accept(pid) then return end
      for i = 1, #session.rooms do h:join(session.rooms[i]) end
      setmetatable(sock, socket_metatable(nsp, true))
      for i = 1, #missed do h:emit(missed[i]) end
      local w = watcher.connected
      if w then w(sock) end
      fire(nsp, "connection", sock)
      if nsp._parent then fire(nsp._parent, "connection", sock) end
      w = watcher.after_connection
      if w then w(sock) end
    end)
  end

  -- A CONNECT for nsp: build the socket, run the middlewares (they may
  -- wait), then accept or refuse. Returns the socket table to the C side.
  -- auth is nil when the client sent none or an empty one; id is h:id().
  function dispatch.connecting(h, nsp, auth)
    -- handshake, data and the tables of middlewares, onAny listeners and
    -- pending acks are made when first used (socket_field), id, nsp and
    -- connected are its metatable's (see socket_metatable), recovered is
    -- held once true, and an empty auth is not kept: an idle socket
    -- carries none of them.
    local on, max = core.recovery()
    local wants = on and auth ~= nil and type(auth) == "table" and type(auth.pid) == "string"
                  and type(auth.offset) == "string"

    if wants then
      local sock = new_socket(h, auth, nil, socket_metatable(nsp, false))
      local session, missed = R.restore_session(nsp, auth.pid, auth.offset, max)
      if session then
        recover(sock, h, nsp, session, missed, auth.pid)
        return sock
      end
      if adapter:installed() then
        -- It may have left another server: ask the adapter, then decide.
        spawn(function()
          local stored = adapter:session_take(auth.pid)
          if rawget(sock, "_gone") then return end
          if type(stored) == "table" and type(stored.sid) == "string" then
            local rooms = {}
            for i = 1, #(stored.rooms or {}) do rooms[i] = stored.rooms[i] end
            local st = { sid = stored.sid, rooms = rooms, data = stored.data or {} }
            local m = R.missed_since(nsp, st, auth.offset)
            if m then
              recover(sock, h, nsp, st, m, auth.pid)
              return
            end
          end
          sock._pid = core.random_id()
          run_middlewares(sock, h, nsp)
        end)
        return sock
      end
      sock._pid = core.random_id()
      run_middlewares(sock, h, nsp)
      return sock
    end
    local pid = on and core.random_id() or nil
    if not has_middlewares(nsp) then
      -- No middleware (most apps): accepted at once, and the table made
      -- with its connected metatable, not given it in a second
      -- setmetatable. Nothing sees the socket before accept does.
      if not h:accept(pid) then return new_socket(h, auth, pid, socket_metatable(nsp, false)) end
      local sock = new_socket(h, auth, pid, socket_metatable(nsp, true))
      announce(sock, nsp)
      return sock
    end
    local sock = new_socket(h, auth, pid, socket_metatable(nsp, false))
    run_middlewares(sock, h, nsp)
    return sock
  end

  -- Per-socket middlewares (they may wait), then onAny, then the
  -- listeners, each in its own handler; the last one runs in the caller's.
  local function run_event(sock, args, n)
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
    if not l then return end
    if type(l) == "function" then return l(unpack(args, 2, n)) end
    local copy = { unpack(l) } -- listeners may add or remove listeners
    for i = 1, #copy - 1 do spawn(copy[i], unpack(args, 2, n)) end
    if #copy > 0 then return copy[#copy](unpack(args, 2, n)) end
  end

  -- An event from the client: its name, its arguments and, when the client
  -- asked for an ack, the ack function last (has_ack says whether it is
  -- there). The C side runs every event as a new handler, and hands one
  -- with a lone listener, on a socket with no middlewares or onAny
  -- listeners of its own while no dashboard watches, straight to that
  -- listener (lua_sio.c, event_cf); this serves all the others, with the
  -- arguments as one array, event name first and the ack function last,
  -- as run_event takes them. The last listener is tail-called, which
  -- keeps error reports naming it; the others, and onAny listeners, get
  -- their own handlers. Each listener starts in order, before the C side
  -- goes on (as Node's EventEmitter calls them).
  function dispatch.event(sock, has_ack, ...)
    if not sock.connected then return end
    local args = array({ ... })
    local n = #args
    local ack
    if has_ack then
      ack = args[n]
      args[n] = nil
      n = n - 1
    end
    local w = watcher.event_in
    if w then w(sock, args, n) end
    if has_ack then
      n = n + 1
      args[n] = ack
    end
    if w then
      -- A dashboard watches: no tail call, so it hears what the listener
      -- changed (socket.data) once it returns.
      run_event(sock, args, n)
      local after = watcher.after_event
      if after then after(sock) end
      return
    end
    return run_event(sock, args, n)
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
    if on and sock._pid and R.RECOVERABLE[reason] then R.persist_session(sock.nsp, sock, max) end
  end

  -- Out of its rooms and namespace: broadcasts from "disconnect" handlers
  -- no longer reach it, and fetch_sockets no longer lists it.
  function dispatch.disconnect(sock, reason)
    -- The handshake is read from the C side, which forgets it after this:
    -- made now if the app never asked, so a socket kept around still has it.
    local _ = sock.handshake
    sock.connected = false
    local hook = watcher.disconnected
    if hook then hook(sock, reason) end
    -- No ack can come any more: every emit_with_ack still waiting ends.
    local waiting = rawget(sock, "_waiting")
    if waiting then
      for w in pairs(waiting) do settle(w, DISCONNECTED) end
    end
    fire(sock, "disconnect", reason)
  end

  function dispatch.free(sock)
    sock._gone = true
    sock.connected = false
    sock._acks = {}
  end

  return {}
end
