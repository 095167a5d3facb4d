-- L6 (Lua side): hot reload, all or nothing, as Redis reloads functions
-- (docs/hot-reload.md): the new main.lua runs with every registration
-- (listeners, middlewares, namespace families, HTTP routes, engine
-- listeners) set aside and the app's modules unloaded; if it fails, the
-- old registrations and modules are put back and nothing changed. If it
-- succeeds, each connected socket gets its connection handlers run again
-- with socket.reloaded == true, so its listeners are the new code's; its
-- id, rooms, data and pending acks stay.
-- Three steps driven from C (sl_app_reload), each its own guarded call
-- with its own instruction budget, so a new main.lua that fails in any way
-- (even one that loops until the budget stops it) can always be rolled
-- back. Part of lua/siolua/api.lua's library.

return function(lib)
  local dispatch = lib.dispatch
  local E, N, H, M = lib.events, lib.namespace, lib.http, lib.engine
  local fire = E.fire

  local saved
  local reloading = false

  function dispatch.reload_begin(app_dir)
    local app_path = app_dir .. "/?.lua;" .. app_dir .. "/?/init.lua"
    saved = { nsp = N.set_aside(), routes = H.set_aside(), engines = M.set_aside(),
              loaded = {}, app_path = app_path }
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
    N.put_back(saved.nsp)
    H.put_back(saved.routes)
    M.put_back(saved.engines)
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
    for _, nsp in N.each() do
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

  -- Whether main.lua is being run again (sio.configure is then ignored).
  return { reloading = function() return reloading end }
end
