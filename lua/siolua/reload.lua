-- L6 (Lua side): hot reload, all or nothing, as Redis reloads functions
-- (docs/hot-reload.md): the new main.lua runs with every registration
-- (listeners, middlewares, namespace families, HTTP routes, engine
-- listeners) set aside and the app's modules unloaded; if it fails, the
-- old registrations and modules are put back and nothing changed. If it
-- succeeds, the connected sockets of every namespace with "reload"
-- listeners get those (and lose their own listeners), so they are bound to
-- the new code; "connection" stays for new connections. A socket's id,
-- rooms, data and pending acks stay.
-- Three steps driven from C (sl_app_reload), each its own guarded call
-- with its own time limit, so a new main.lua that fails in any way
-- (even one that loops until the time limit stops it) can always be rolled
-- back. Part of lua/siolua/api.lua's library.

return function(lib)
  local dispatch = lib.dispatch
  local E, N, H, M = lib.events, lib.namespace, lib.http, lib.engine
  local fire = E.fire
  -- admin.lua loads after this file: reached through lib when a reload runs.

  local saved
  local reloading = false

  function dispatch.reload_begin(app_dir)
    local app_path = app_dir .. "/?.lua;" .. app_dir .. "/?/init.lua"
    saved = { nsp = N.set_aside(), routes = H.set_aside(), engines = M.set_aside(),
              admin = lib.admin.set_aside(), loaded = {}, app_path = app_path }
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
    lib.admin.put_back(saved.admin)
    for name in pairs(package.loaded) do
      if type(name) == "string" and package.searchpath(name, saved.app_path) then package.loaded[name] = nil end
    end
    for name, mod in pairs(saved.loaded) do package.loaded[name] = mod end
    saved = nil
  end

  -- Whether a namespace's sockets follow the new code: it (or its
  -- dynamic family) has "reload" listeners.
  local function rebinds(nsp)
    local family = nsp._parent and nsp._parent._listeners.reload or nil
    return E.count(nsp._listeners.reload) > 0 or E.count(family) > 0
  end

  -- The new code is in: each connected socket of a namespace with "reload"
  -- listeners loses its own listeners (socket:on, on_any,
  -- on_any_outgoing, socket:use) and gets those, so it is bound to the new
  -- code; elsewhere sockets keep the handlers they have (the old code)
  -- until they reconnect. "connection" never fires for a socket that is
  -- already connected. Returns how many were rebound, and kept.
  function dispatch.reload_commit()
    reloading = false
    saved = nil
    lib.admin.commit()
    local rebound, kept = 0, 0
    for _, nsp in N.each() do
      if rebinds(nsp) then
        for _, sock in pairs(nsp.sockets) do
          sock._listeners, sock._any, sock._anyout, sock._mw = {}, nil, nil, nil
          fire(nsp, "reload", sock)
          if nsp._parent then fire(nsp._parent, "reload", sock) end
          rebound = rebound + 1
        end
      else
        for _ in pairs(nsp.sockets) do kept = kept + 1 end
      end
    end
    return rebound, kept
  end

  -- Whether main.lua is being run again (sio.configure is then ignored).
  return { reloading = function() return reloading end }
end
