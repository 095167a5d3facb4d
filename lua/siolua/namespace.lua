-- L6 (Lua side): namespaces (Node's Namespace): listeners, connection
-- middlewares, the operators they start, dynamic namespace families (a
-- pattern or a function deciding which names exist), and the namespace's
-- side of the cluster (another server's server_side_emit). Also the
-- server object, sio.server, which is the namespace "/". Part of
-- lua/siolua/api.lua's library.

return function(lib)
  local sio, core = lib.sio, lib.core
  local E, R, O = lib.events, lib.recovery, lib.operator
  local unpack, type = table.unpack, type
  local new_operator = O.new
  local fire = E.fire

  local Namespace = {}
  local namespaces = {}        -- name -> namespace
  local families = {}          -- dynamic namespace matchers, in order

  -- nsp.sockets, Node's namespace.sockets (id -> socket): read from the
  -- C side's table of the namespace's sockets by id, not kept in a Lua
  -- table of its own, whose slot (and the id string as its key) was 90
  -- bytes of every connection. pairs() walks the sockets listed when it
  -- starts, those still listed when their turn comes (a loop may
  -- disconnect them).
  local SOCKETS_RO = function() error("namespace.sockets is read-only", 2) end
  local function sockets_view(h)
    return setmetatable({}, {
      __index = function(_, id)
        if type(id) == "string" then return h:socket(id) end
        return nil
      end,
      __newindex = SOCKETS_RO,
      __pairs = function()
        local list, i = h:sockets(), 0
        return function()
          while true do
            i = i + 1
            local sock = list[i]
            if sock == nil then return nil end
            if sock.connected then return sock.id, sock end
          end
        end, nil, nil
      end,
    })
  end

  -- family: a dynamic family's object, whose handle has no namespace.
  -- _parent is false, not nil, when there is none: it is read on every
  -- CONNECT, and a missing field goes through Namespace.__index.
  local function new_namespace(name, h, parent, family)
    local nsp = setmetatable({
      name = name, _h = h, _listeners = {}, _mw = {}, sockets = family and {} or sockets_view(h), _ids = 0,
      _parent = parent or false, server = sio.server, _family = family,
      _log = R.new_log(), _sessions = {},
    }, Namespace)
    if not family then h:bind(nsp) end
    namespaces[name] = nsp
    return nsp
  end

  Namespace.on = E.on
  Namespace.off = E.off
  Namespace.once = E.once

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
  function Namespace:server_side_emit_with_ack(event, ...)
    return nsp_operator(self):server_side_emit_with_ack(event, ...)
  end
  function Namespace:send(...) return nsp_operator(self):send(...) end
  Namespace.write = Namespace.send
  function Namespace:all_rooms() return nsp_operator(self):all_rooms() end
  O.aliases(Namespace)

  -- Dynamic namespace families keep their object across reloads (by
  -- pattern, or by order for functions), so the namespaces they created
  -- keep pointing at the family whose listeners the new code sets.
  local family_objects = {}
  local function family(key, label, match)
    local f = family_objects[key]
    if not f then
      f = new_namespace("[dynamic " .. label .. "]", core.nsp_detached(), nil, true)
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
    if k == "volatile" then return O.volatile(new_operator(self)) end
    if k == "local_" or k == "local" then return O.local_(new_operator(self)) end
    if k == "adapter" then
      -- clustered: other servers share this one's namespaces (an adapter
      -- is installed: --redis, --workers), so nsp.local_ is its part only.
      return { rooms = self._h:rooms(), clustered = core.adapter:installed() }
    end
    return namespace_index[k]
  end

  -- A CONNECT for a name no namespace has: ask the dynamic families.
  function lib.dispatch.resolve(name, auth)
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

  -- Another server's server_side_emit: the namespace's listeners of that
  -- event get the arguments (and an ack function when it waits). Not the
  -- library's own events ("reload" too: a Node server may send one).
  function lib.dispatch.server_side_emit(nsp, args, request_id)
    local event = args[1]
    if type(event) ~= "string" or E.RESERVED[event] or event == "connection" or event == "connect"
       or event == "reload" then
      return
    end
    local n = #args
    if request_id then
      local used = false
      args[n + 1] = function(value)
        if used then return end
        used = true
        core.adapter:server_side_ack(nsp._h, request_id, value)
      end
      n = n + 1
    end
    fire(nsp, event, unpack(args, 2, n))
  end

  -- ---- for reload.lua ----------------------------------------------------

  local N = {}

  -- Every namespace (families included), by name.
  function N.each()
    return pairs(namespaces)
  end

  -- Sets every registration aside (listeners, middlewares, families) and
  -- returns what put_back needs to restore them.
  function N.set_aside()
    local saved = { nsp = {}, names = {}, families = families }
    for name, nsp in pairs(namespaces) do
      saved.names[name] = true
      saved.nsp[nsp] = { nsp._listeners, nsp._mw }
      nsp._listeners, nsp._mw = {}, {}
    end
    families = {}
    return saved
  end

  -- Undoes set_aside; namespaces made since then go away again.
  function N.put_back(saved)
    for nsp, st in pairs(saved.nsp) do nsp._listeners, nsp._mw = st[1], st[2] end
    families = saved.families
    for name, nsp in pairs(namespaces) do
      if not saved.names[name] then
        namespaces[name] = nil
        if not nsp._family then nsp._h:remove() end
      end
    end
    for key, f in pairs(family_objects) do
      if not saved.nsp[f] then family_objects[key] = nil end
    end
  end

  -- ---- the server: the namespace "/" --------------------------------------

  sio.server = new_namespace("/", core.of("/"))
  sio.server.of = Namespace.of

  -- io.close(): every client is disconnected ("server shutting down"), the
  -- server stops listening and leaves its cluster; returns true once all
  -- that is done. The process goes on (timers, outbound calls) until it is
  -- stopped as usual.
  local closing, closed, close_waiters = false, false, {}
  function sio.server:close()
    if closed then return true end
    local w = core.waker()
    close_waiters[#close_waiters + 1] = w
    if not closing then
      closing = true
      if not core.close() then
        closed = true
        return true
      end
    end
    return w:wait()
  end

  function lib.dispatch.closed()
    closed = true
    local list = close_waiters
    close_waiters = {}
    for i = 1, #list do list[i]:wake(true) end
  end
  sio.server.engine = setmetatable({}, {
    __index = function(_, k) if k == "clientsCount" then return core.clients_count() end end,
  })

  return N
end
