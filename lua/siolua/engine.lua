-- L6 (Lua side): raw Engine.IO endpoints, sio.engine(path): connections
-- with "message" and "close" listeners, conn:send and conn:close. The C
-- side reports each connection's open, messages and close through
-- eio_dispatch. Part of lua/siolua/api.lua's library.

return function(lib)
  local sio, core = lib.sio, lib.core
  local E = lib.events
  local fire = E.fire

  local Engine = { on = E.on, off = E.off, once = E.once }
  Engine.__index = Engine
  local Conn = { on = E.on, off = E.off, once = E.once }
  Conn.__index = Conn
  function Conn:send(data) return self._h:send(data) end
  function Conn:close() self._h:close() end

  local eio_dispatch = lib.eio_dispatch
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

  -- ---- for reload.lua: the endpoints stay, their listeners are reset ----

  local M = {}
  function M.set_aside()
    local saved = {}
    for _, e in pairs(engines) do
      saved[e] = e._listeners
      e._listeners = {}
    end
    return saved
  end
  function M.put_back(saved)
    for e, l in pairs(saved) do e._listeners = l end
  end
  return M
end
