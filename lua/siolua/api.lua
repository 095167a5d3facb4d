-- L6 (Lua side): the Node-like Socket.IO API (server, namespaces, broadcast
-- operators, sockets, acks, middlewares, HTTP routes, raw Engine.IO, hot
-- reload) built on the C side in src/lua/ (lua_sio.c and the files next to
-- it). The C side owns the protocol, rooms and the encoding; this library
-- owns listeners, middleware chains and ack bookkeeping. It must not know
-- packets or transports: it only calls `core`.
--
-- One module per object, each a function of the shared library table
-- `lib` (called once per Lua state, in this order, each seeing the ones
-- before it):
--
--   events     listeners, reserved names, argument arrays, ack waiters
--   recovery   connection state recovery (offsets, logs, sessions)
--   operator   to/in/except/volatile/local/timeout broadcast operators
--   namespace  namespaces, dynamic families, sio.server
--   socket     sockets and their life (connect, events, acks, leave)
--   http       sio.http routes
--   engine     sio.engine raw Engine.IO endpoints
--   emitter    sio.emitter
--   reload     hot reload (set aside, roll back, commit)
--   admin      the Admin UI's server side (sio.admin.instrument)
--
-- The C side calls into the library through two tables of functions this
-- returns: dispatch (Socket.IO, HTTP, reload) and eio_dispatch (raw
-- Engine.IO); it also gets the watcher table, whose event_in tells it
-- whether an event may go straight to its listener (lua_sio.c, event_cf).

return function(sio, core)
  -- watcher: hooks a dashboard sets (admin.lua); empty, they cost one
  -- field read where socket.lua would call them.
  local lib = { sio = sio, core = core, dispatch = {}, eio_dispatch = {}, watcher = {} }
  for _, name in ipairs({ "events", "recovery", "operator", "namespace", "socket", "http",
                          "engine", "emitter", "reload", "admin" }) do
    lib[name] = require("siolua." .. name)(lib)
  end

  local json = core.json
  sio.json = json
  sio.crypto = core.crypto
  sio.binary = json.binary
  sio.is_binary = json.is_binary
  sio.null = json.null
  sio.TIMEOUT = lib.events.TIMEOUT
  function sio.error(message, data) return { message = message, data = data } end

  -- Options are read once, at start: a reload runs main.lua again, and its
  -- configure call is then ignored (changing options needs a restart).
  local reloading = lib.reload.reloading
  function sio.configure(opts)
    if reloading() then return end
    return core.configure(opts)
  end

  -- Module-level state that survives reloads (main.lua's locals don't).
  sio.state = {}

  require("siolua.client")(sio, core, lib.events)
  require("siolua.fetch")(sio, core)
  return lib.dispatch, lib.eio_dispatch, lib.watcher
end
