-- L6 (Lua side): what every object of the library shares: listeners
-- (on/off/once, each listener run in its own handler), the names an app may
-- not emit, event arguments packed as JSON arrays, and the waiter an ack
-- parks on. Part of lua/siolua/api.lua's library; knows nothing of sockets
-- or namespaces.

return function(lib)
  local sio, core = lib.sio, lib.core
  local spawn = core.spawn
  local null = core.json.null
  local array = core.json.array
  local unpack, select, type = table.unpack, select, type

  local E = {}

  E.TIMEOUT = "operation has timed out"
  E.DISCONNECTED = "disconnected"

  -- Events that a client may not emit and that an app may not emit either,
  -- as Node's socket.io reserves them.
  E.RESERVED = {
    connect = true, connect_error = true, disconnect = true, disconnecting = true,
    newListener = true, removeListener = true,
  }

  -- Packs emit arguments into a JSON array, event name first. nil becomes
  -- json.null so an argument list keeps its length.
  function E.args_array(event, n, ...)
    local a = array()
    a[1] = event
    for i = 1, n do
      local v = select(i, ...)
      if v == nil then v = null end
      a[i + 1] = v
    end
    return a
  end

  function E.values_array(n, ...)
    local a = array()
    for i = 1, n do
      local v = select(i, ...)
      if v == nil then v = null end
      a[i] = v
    end
    return a
  end

  -- A copy of a list of room names, with `add` (a name or a list) appended.
  function E.copy_list(l, add)
    local c = {}
    for i = 1, #l do c[i] = l[i] end
    if type(add) == "table" then
      for i = 1, #add do c[#c + 1] = tostring(add[i]) end
    elseif add ~= nil then
      c[#c + 1] = tostring(add)
    end
    return c
  end

  -- A copy of a flags table, with k set to v.
  function E.copy_flags(f, k, v)
    local c = {}
    for key, val in pairs(f) do c[key] = val end
    if k then c[k] = v end
    return c
  end

  -- ---- listeners -------------------------------------------------------

  -- The listeners of an event are the function itself while there is one
  -- (most events of most sockets have one, and a list for each was a fifth
  -- of an idle socket's memory), a list from the second on. Everything
  -- that reads or changes them goes through these.

  -- How many listeners l holds (nil: none).
  function E.count(l)
    if l == nil then return 0 end
    if type(l) == "function" then return 1 end
    return #l
  end

  -- A new list of the listeners in l, which listeners may then change.
  function E.list(l)
    if l == nil then return {} end
    if type(l) == "function" then return { l } end
    return { unpack(l) }
  end

  -- Adds fn to self's listeners of event and returns self: in C
  -- (core.on, src/lua/lua_sio.c), as it is on every connection's path.
  E.on = core.on

  -- Takes out of self's listeners of event the last one that is fn, or
  -- one that wraps(listener, fn) says stands for fn (a once wrapper).
  function E.remove(self, event, fn, wraps)
    local ls = self._listeners
    local l = ls[event]
    if type(l) == "function" then
      if l == fn or (wraps and wraps(l, fn)) then ls[event] = nil end
      return
    end
    for i = #(l or {}), 1, -1 do
      if l[i] == fn or (wraps and wraps(l[i], fn)) then
        table.remove(l, i)
        break
      end
    end
  end

  function E.off(self, event, fn)
    if event == nil then
      self._listeners = {}
    elseif fn == nil then
      self._listeners[event] = nil
    else
      E.remove(self, event, fn)
    end
    return self
  end

  function E.once(self, event, fn)
    local wrapper
    wrapper = function(...)
      E.off(self, event, wrapper)
      return fn(...)
    end
    return E.on(self, event, wrapper)
  end

  -- Runs every listener of event, each in its own coroutine.
  function E.fire(self, event, ...)
    local l = self._listeners[event]
    -- None first: no call to type() for an event nobody listens to (a
    -- socket's "connect", fired on every connection).
    if l == nil then return false end
    if type(l) == "function" then
      spawn(l, ...)
      return true
    end
    if #l == 0 then return false end
    local copy = { unpack(l) }
    for i = 1, #copy do
      spawn(copy[i], ...)
    end
    return true
  end

  -- ---- acks ------------------------------------------------------------

  -- A waiter for one ack, with an optional timeout. settle is idempotent:
  -- the first answer (or the timeout) wins.
  function E.new_waiter(ms)
    local w = { done = false }
    w.waker = core.waker()
    if ms then
      w.timer = sio.set_timeout(ms, function()
        if not w.done then
          w.done = true
          core.ack_timed_out()
          w.waker:wake(E.TIMEOUT)
        end
      end)
    end
    return w
  end

  function E.settle(w, ...)
    if w.done then return end
    w.done = true
    if w.timer then w.timer:cancel() end
    w.waker:wake(...)
  end

  return E
end
