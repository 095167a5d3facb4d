-- L6 (Lua side): the server side of the Socket.IO Admin UI
-- (@socket.io/admin-ui 0.5), as Node's instrument(io, opts) does it:
-- sio.admin.instrument{...} opens the admin namespace (basic auth with a
-- bcrypt hash, sessions), answers the dashboard's actions (emit, join,
-- leave, _disconnect) unless read-only, sends "server_stats" every 2 s
-- and, in development mode, every socket's life (connected, updated,
-- disconnected), rooms joined and left, and events received and sent.
-- Everything goes to the admin namespace through the adapter, so in a
-- cluster (Node servers included) every dashboard sees every server.
--
-- Nothing here runs until the app instruments: the library's hooks
-- (lib.watcher, read in socket.lua) stay empty and the C side's watching
-- (rooms, transports, traffic: lua_watch.c) stays off.
--
--   socket.lua --watcher.connected/disconnected/event_in/event_out--+
--   operator.lua, recovery.lua --watcher.broadcast_out--------------+
--   C: rooms, upgrades --dispatch.room/transport--------------------+
--                                                                   v
--         push(event, ...) --> queue --(next loop turn, or now at a
--         connection)--> admin namespace:emit(...) --> dashboards
--
-- Events from C are queued rather than emitted where they happen: a C
-- iteration over a namespace may be under way (another server's
-- socketsJoin), and a broadcast from inside it would disturb it. Room
-- leaves go after the rest, as Node sends them on the next tick.
-- Part of lua/siolua/api.lua's library.

return function(lib)
  local sio, core, dispatch = lib.sio, lib.core, lib.dispatch
  local E = lib.events
  local json, watch, crypto = core.json, core.watch, core.crypto
  local spawn = core.spawn
  local watcher = lib.watcher
  local pack, unpack, type, pairs = table.pack, table.unpack, type, pairs

  local A = {}
  local state        -- the instrumentation, nil when not instrumented
  local sessions = {} -- the memory store's session ids (kept across reloads)
  local stats_timer

  local FEATURES_ACTIONS = { "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT" }

  -- JavaScript's truthiness, for values Node tests with || or if.
  local function truthy(v)
    return v ~= nil and v ~= false and v ~= "" and v ~= 0 and v ~= json.null
  end

  -- new Date() as JSON writes it: 2024-01-31T12:34:56.789Z.
  local function now_iso()
    local ms = sio.now()
    return os.date("!%Y-%m-%dT%H:%M:%S", ms // 1000) .. string.format(".%03dZ", ms % 1000)
  end

  -- ---- stores of dashboard sessions -------------------------------------------

  -- Node's InMemoryStore: this server only, for as long as it runs.
  function A.memory_store()
    return {
      does_session_exist = function(_, id) return sessions[id] == true end,
      save_session = function(_, id) sessions[id] = true end,
    }
  end

  -- Node's RedisStore: "<prefix>#<id>" with an expiry, through sio.redis,
  -- so a session opened on one server of a cluster (Node's too, with the
  -- same prefix) logs in on the others.
  function A.redis_store(opts)
    opts = opts or {}
    local prefix = opts.prefix or "socket.io-admin"
    local duration = opts.session_duration or opts.sessionDuration or 86400
    assert(type(prefix) == "string", "redis_store: prefix must be a string")
    assert(math.type(duration) == "integer" and duration > 0, "redis_store: session_duration must be a positive integer (seconds)")
    return {
      does_session_exist = function(_, id)
        local n, err = sio.redis.call("EXISTS", prefix .. "#" .. id)
        if not n then sio.log.warn("admin: session lookup failed: %s", tostring(err)) end
        return n == 1
      end,
      save_session = function(_, id)
        local ok, err = sio.redis.call("SET", prefix .. "#" .. id, "1", "EX", duration)
        if not ok then sio.log.warn("admin: session not saved: %s", tostring(err)) end
      end,
    }
  end

  -- ---- what the dashboard gets --------------------------------------------------

  -- socket.data without _admin, the admin-ui's own bookkeeping.
  local function serialize_data(data)
    if type(data) ~= "table" then return data end
    local copy = {}
    for k, v in pairs(data) do
      if k ~= "_admin" then copy[k] = v end
    end
    return copy
  end

  -- A socket as the dashboard lists it: local (a socket of this server) or
  -- remote (fetch_sockets from another one). The handshake without its
  -- auth, which holds the credentials.
  local function serialize(s, nsp_name)
    local data = s.data
    local adm = type(data) == "table" and type(data._admin) == "table" and data._admin or {}
    local hs = s.handshake or {}
    local headers = hs.headers or {}
    local address = headers["cf-connecting-ip"]
    if not truthy(address) then address = headers["x-forwarded-for"] end
    if not truthy(address) then address = hs.address end
    local rooms
    if s.remote then
      rooms = s._room_list or {}
    elseif rawget(s, "connected") then
      rooms = s._h:rooms()
    else
      rooms = {}
    end
    return {
      id = s.id, clientId = adm.clientId, transport = adm.transport, nsp = nsp_name,
      data = serialize_data(data),
      handshake = {
        address = address, headers = headers, query = hs.query, issued = hs.issued,
        secure = hs.secure, time = hs.time, url = hs.url, xdomain = hs.xdomain,
      },
      rooms = json.array(rooms),
    }
  end

  local warned_unencodable = false

  -- To every dashboard, on every server. App data that JSON can't carry
  -- (a function in socket.data) costs the event its data, not the event.
  local function emit_now(st, ev)
    local ok, err = pcall(st.nsp.emit, st.nsp, unpack(ev, 1, ev.n))
    if ok then return end
    if not warned_unencodable then
      warned_unencodable = true
      sio.log.warn("admin: '%s' not sent as is (%s): socket data the dashboard can't show is left out",
                   tostring(ev[1]), tostring(err))
    end
    for i = 2, ev.n do
      if type(ev[i]) == "table" and ev[i].data ~= nil then ev[i].data = {} end
    end
    pcall(st.nsp.emit, st.nsp, unpack(ev, 1, ev.n))
  end

  local queue, later = {}, {}  -- events to send; room leaves after them
  local flush_pending = false

  local function flush()
    local st = state
    while #queue > 0 or #later > 0 do
      local q, l = queue, later
      queue, later = {}, {}
      if st then
        for i = 1, #q do emit_now(st, q[i]) end
        for i = 1, #l do emit_now(st, l[i]) end
      end
    end
  end

  local function schedule()
    if flush_pending then return end
    flush_pending = true
    spawn(function()
      sio.sleep(0)
      flush_pending = false
      flush()
    end)
  end

  local function push(...)
    queue[#queue + 1] = pack(...)
    schedule()
  end

  local function push_later(...)
    later[#later + 1] = pack(...)
    schedule()
  end

  -- ---- server_stats -----------------------------------------------------------------

  local function emit_stats()
    local st = state
    if not st then return end
    local host, pid, uptime = watch.server()
    local events, polling = watch.traffic()
    local server_id = st.server_id
    if not server_id then
      -- Node: the host name, with the pid in a worker of a cluster.
      server_id = sio.worker and (host .. "#" .. pid) or host
    end
    st.nsp:emit("server_stats", {
      serverId = server_id, hostname = host, pid = pid, uptime = uptime,
      clientsCount = core.clients_count(), pollingClientsCount = polling,
      aggregatedEvents = events, namespaces = watch.namespaces(),
    })
    if st.development then A.data_changes() end
  end

  -- Development mode: socket.data changed since the dashboards last saw
  -- it. Node hears of each change through a Proxy around socket.data; a
  -- Lua table has no such hook that keeps it an ordinary table (pairs,
  -- next, the JSON encoder), so the data is compared after the
  -- "connection" listeners ran and then every 2 s.
  local seen = setmetatable({}, { __mode = "k" })  -- socket -> its data as last sent

  local function data_text(sock)
    local ok, text = pcall(json.encode, serialize_data(sock.data))
    return ok and text or nil
  end

  local function check_data(sock)
    local text = data_text(sock)
    if text and seen[sock] ~= text then
      local before = seen[sock]
      seen[sock] = text
      if before then push("socket_updated", { id = sock.id, nsp = sock.nsp.name, data = serialize_data(sock.data) }) end
    end
  end

  function A.data_changes()
    for _, nsp in lib.namespace.each() do
      if not nsp._family then
        for _, sock in pairs(nsp.sockets) do check_data(sock) end
      end
    end
  end

  -- ---- development mode's hooks (lib.watcher) ------------------------------------

  -- _admin as Node's instrument keeps it in socket.data: the client (its
  -- Engine.IO session) and transport, which a Node server's fetchSockets
  -- reads to show this server's sockets.
  local function mark_socket(sock)
    local data = sock.data
    if type(data) ~= "table" then
      data = {}
      sock.data = data
    end
    data._admin = { clientId = sock._h:session_id():sub(1, 12), transport = sock._h:transport() }
  end

  local function on_connected(sock)
    local st = state
    if not st then return end
    mark_socket(sock)
    -- Node copies what socket.data already holds (set by a middleware)
    -- into its Proxy key by key, each copy one "socket_updated" with the
    -- keys so far, before "socket_connected": the same, keys in order.
    local keys, data = {}, sock.data
    for k in pairs(data) do
      if k ~= "_admin" then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local partial = {}
    for i = 1, #keys do
      partial[keys[i]] = data[keys[i]]
      push("socket_updated", { id = sock.id, nsp = sock.nsp.name, data = serialize_data(partial) })
    end
    seen[sock] = data_text(sock)
    push("socket_connected", serialize(sock, sock.nsp.name), now_iso())
    -- Here it is safe to send (no C iteration under way), and Node sends
    -- it before the "connection" listeners run.
    flush()
  end

  -- After the "connection" listeners, and after each event's: what they
  -- changed in socket.data goes to the dashboards now (the rest, changed
  -- later by code that waited, with the next stats).
  local function after_app(sock)
    if state then check_data(sock) end
  end

  local function on_disconnected(sock, reason)
    if not state then return end
    seen[sock] = nil
    push("socket_disconnected", sock.nsp.name, sock.id, reason, now_iso())
  end

  local function on_event(name)
    return function(sock, args, n)
      local st = state
      if not st or sock.nsp == st.nsp then return end
      local copy = json.array()
      for i = 1, n or #args do copy[i] = args[i] end
      push(name, sock.nsp.name, sock.id, copy, now_iso())
    end
  end
  local on_event_in, on_event_out = on_event("event_received"), on_event("event_sent")

  -- A broadcast (this server's or another's, delivered here): one
  -- "event_sent" per recipient here, as Node's adapter tells each
  -- recipient's outgoing listeners.
  local function on_broadcast(nsp, rooms, except, args)
    local st = state
    if not st or nsp == st.nsp then return end
    local recipients = nsp._h:select(rooms, except)
    for i = 1, #recipients do on_event_out(recipients[i], args) end
  end

  function dispatch.room(nsp_name, id, room, joined)
    if not state then return end
    if joined then
      push("room_joined", nsp_name, room, id, now_iso())
    else
      push_later("room_left", nsp_name, room, id, now_iso())
    end
  end

  function dispatch.transport(nsp_name, id, name)
    if not state then return end
    local sock = sio.server:of(nsp_name).sockets[id]
    local data = sock and sock.data
    if type(data) == "table" and type(data._admin) == "table" then data._admin.transport = name end
    push("socket_updated", { id = id, nsp = nsp_name, transport = name })
  end

  -- ---- the dashboard's connection ----------------------------------------------------

  -- The dashboard's list: every socket of every namespace of this server,
  -- across the cluster (fetch_sockets), the namespaces asked at once.
  local function fetch_all_sockets()
    local parts = {}
    for i, ns in ipairs(watch.namespaces()) do
      local w = core.waker()
      parts[i] = w
      spawn(function()
        local out = {}
        local ok, err = pcall(function()
          for _, s in ipairs((sio.server:of(ns.name):fetch_sockets())) do
            out[#out + 1] = serialize(s, ns.name)
          end
        end)
        if not ok then sio.log.warn("admin: sockets of %s not listed: %s", ns.name, tostring(err)) end
        w:wake(out)
      end)
    end
    local all = json.array()
    for i = 1, #parts do
      for _, s in ipairs(parts[i]:wait()) do all[#all + 1] = s end
    end
    return all
  end

  -- The dashboard's requests come as any client's events: a trailing ack
  -- function (a client asking for one) is no argument.
  local function args_of(n, ...)
    local a = pack(...)
    if a.n > 0 and type(a[a.n]) == "function" then a.n = a.n - 1 end
    if n then a.n = math.min(a.n, n) end
    return a
  end

  local function namespace(name)
    if type(name) ~= "string" then return nil end
    return sio.server:of(name)
  end

  local function room_name(v)
    return type(v) == "string" or type(v) == "number" or (type(v) == "table" and #v > 0)
  end

  local function selection(nsp, filter)
    if truthy(filter) and room_name(filter) then return nsp:in_(filter) end
    return nsp
  end

  -- Each action is allowed by the instrumentation in force when it comes,
  -- not the one the dashboard connected under: a reload may have made it
  -- read-only, or stopped instrumenting (then nothing is done).
  local function allowed(feature)
    return state ~= nil and state.feature_set[feature] == true
  end

  local function register_actions(sock)
    sock:on("emit", function(...)
      if not allowed("EMIT") then return end
      local a = args_of(nil, ...)
      local nsp, filter, ev = namespace(a[1]), a[2], a[3]
      if not nsp or type(ev) ~= "string" or E.RESERVED[ev] then return end
      selection(nsp, filter):emit(ev, unpack(a, 4, a.n))
    end)
    local function rooms_action(event, feature, method)
      sock:on(event, function(...)
        if not allowed(feature) then return end
        local a = args_of(3, ...)
        local nsp, room = namespace(a[1]), a[2]
        if not nsp or not room_name(room) then return end
        local op = selection(nsp, a[3])
        op[method](op, room)
      end)
    end
    rooms_action("join", "JOIN", "sockets_join")
    rooms_action("leave", "LEAVE", "sockets_leave")
    sock:on("_disconnect", function(...)
      if not allowed("DISCONNECT") then return end
      local a = args_of(3, ...)
      local nsp = namespace(a[1])
      if not nsp then return end
      selection(nsp, a[3]):disconnect_sockets(truthy(a[2]))
    end)
  end

  local function on_admin_connection(sock)
    local st = state
    if not st or sock.nsp ~= st.nsp then return end
    register_actions(sock)
    sock:emit("config", { supportedFeatures = json.array(st.features) })
    if st.development then sock:emit("all_sockets", fetch_all_sockets()) end
  end

  -- Basic auth, as Node's: a session id the store knows, or the user name
  -- and a password matching the bcrypt hash (which opens a session, sent
  -- to the dashboard as "session" before the CONNECT reply).
  local function authenticate(sock, next)
    local st = state
    if not st or not st.auth then return next() end
    local auth = sock.handshake.auth
    if type(auth) ~= "table" then auth = {} end
    local id = auth.sessionId
    if type(id) == "string" and id ~= "" and st.store:does_session_exist(id) then return next() end
    local pw = auth.password
    if auth.username == st.auth.username and type(pw) == "string" and not pw:find("\0", 1, true)
       and crypto.bcrypt_verify(pw, st.auth.password) then
      id = crypto.hex(crypto.random(8))
      st.store:save_session(id)
      sock:emit("session", id)
      return next()
    end
    next("invalid credentials")
  end

  -- ---- instrument -------------------------------------------------------------------

  local OPTIONS = {
    auth = true, namespace_name = true, namespaceName = true, readonly = true, mode = true,
    server_id = true, serverId = true, store = true,
  }

  local function is_bcrypt_hash(h)
    return type(h) == "string" and #h == 60 and h:match("^%$2[aby]%$%d%d%$[%./%w]+$") ~= nil
  end

  local function check_auth(auth)
    if auth == nil then
      error("the `auth` option must be specified or explicitly set to `false`", 3)
    elseif auth == false then
      return false
    elseif type(auth) == "table" and auth.type == "basic" then
      if type(auth.username) ~= "string" then error("the `username` field must be a string", 3) end
      if not is_bcrypt_hash(auth.password) then error("the `password` field must be a valid bcrypt hash", 3) end
      return { username = auth.username, password = auth.password }
    end
    error("invalid `auth` option, please check the documentation", 3)
  end

  -- Puts the hooks in or takes them out, and turns the C side's watching
  -- to match: traffic always, rooms and transports in development mode.
  local function hook(st)
    local dev = st and st.development
    watcher.connected = dev and on_connected or nil
    watcher.after_connection = dev and after_app or nil
    watcher.after_event = dev and after_app or nil
    watcher.disconnected = dev and on_disconnected or nil
    watcher.event_in = dev and on_event_in or nil
    watcher.event_out = dev and on_event_out or nil
    watcher.broadcast_out = dev and on_broadcast or nil
    watch.on(st ~= nil, dev and true or false)
  end

  local warned_no_auth = false

  -- sio.admin.instrument{auth = false | {type = "basic", username, password
  -- = "$2b$..."}, namespace_name = "/admin", readonly = false, mode =
  -- "development" | "production", server_id = host name, store}. Called
  -- again (a reload), the new options replace the old ones; connected
  -- dashboards stay.
  function A.instrument(opts)
    if type(opts) ~= "table" then error("sio.admin.instrument: options table expected", 2) end
    for k in pairs(opts) do
      if not OPTIONS[k] then error("sio.admin.instrument: unknown option '" .. tostring(k) .. "'", 2) end
    end
    local auth = check_auth(opts.auth)
    local name = opts.namespace_name or opts.namespaceName or "/admin"
    if type(name) ~= "string" then error("sio.admin.instrument: namespace_name must be a string", 2) end
    local mode = opts.mode or os.getenv("NODE_ENV") or "development"
    if type(mode) ~= "string" then error("sio.admin.instrument: mode must be a string", 2) end
    local server_id = opts.server_id or opts.serverId
    if server_id ~= nil and type(server_id) ~= "string" then error("sio.admin.instrument: server_id must be a string", 2) end
    local store = opts.store or A.memory_store()
    if type(store) ~= "table" or type(store.does_session_exist) ~= "function" or type(store.save_session) ~= "function" then
      error("sio.admin.instrument: a store has does_session_exist(id) and save_session(id)", 2)
    end

    local features = {}
    if not opts.readonly then
      for i = 1, #FEATURES_ACTIONS do features[i] = FEATURES_ACTIONS[i] end
    end
    features[#features + 1] = "AGGREGATED_EVENTS"
    local development = mode == "development"
    if development then features[#features + 1] = "ALL_EVENTS" end
    local feature_set = {}
    for _, f in ipairs(features) do feature_set[f] = true end

    if not auth and not warned_no_auth then
      warned_no_auth = true
      sio.log.warn("admin: authentication is disabled on %s, please use with caution", name)
    end

    local nsp = sio.server:of(name)
    local st = { nsp = nsp, auth = auth, store = store, server_id = server_id, development = development,
                 features = features, feature_set = feature_set, generation = A.generation }
    state = st
    nsp:use(authenticate)
    nsp:on("connection", on_admin_connection)
    hook(st)
    if development then
      -- Sockets already connected (instrument called by a reload) get
      -- their _admin too.
      for _, n in lib.namespace.each() do
        if not n._family then
          for _, sock in pairs(n.sockets) do
            if type(sock.data) ~= "table" or sock.data._admin == nil then mark_socket(sock) end
            seen[sock] = seen[sock] or data_text(sock)
          end
        end
      end
    end
    if not stats_timer then
      stats_timer = sio.set_interval(2000, emit_stats)
      sio.set_timeout(0, emit_stats)  -- at once, as Node: other servers' dashboards see it
    end
    return nsp
  end

  -- Stops instrumenting (a reload whose new main.lua no longer calls
  -- instrument, or a failed one put back): the hooks go, the timer stops.
  local function stop()
    state = nil
    hook(nil)
    if stats_timer then stats_timer:cancel() stats_timer = nil end
  end

  local warned_no_ui = false

  -- The dashboard itself (@socket.io/admin-ui's ui/dist) at path, "/admin"
  -- unless given: http://host:port/admin/. Without its files (an install
  -- built without them) one line says so, and nothing is served.
  function A.serve_ui(path)
    path = path or "/admin"
    if type(path) ~= "string" or path:sub(1, 1) ~= "/" then error("sio.admin.serve_ui: a path starting with /", 2) end
    local dir, from_env = watch.ui_dir()
    local f = io.open(dir .. "/index.html", "rb")
    if not f then
      if not warned_no_ui then
        warned_no_ui = true
        sio.log.warn("admin: the Admin UI is not served at %s: no index.html in %s (%s)", path, dir,
                     from_env and "SIOLUA_ADMIN_UI_DIR points there"
                     or "built without admin-ui/node_modules: run scripts/deps.sh before building, "
                        .. "or set SIOLUA_ADMIN_UI_DIR to the ui/dist folder of @socket.io/admin-ui")
      end
      return nil, "no Admin UI in " .. dir
    end
    f:close()
    sio.http.static(path, dir)
    return true
  end

  sio.admin = { instrument = A.instrument, serve_ui = A.serve_ui, memory_store = A.memory_store,
                redis_store = A.redis_store }

  -- ---- for reload.lua -----------------------------------------------------------------
  -- The new main.lua instruments again, or not: decided at commit.
  -- Instrumentation removed by a reload is what Node's server is when
  -- restarted without instrument(), for new dashboards: the admin
  -- namespace refuses them ("Invalid namespace", Node's answer for a
  -- namespace it doesn't serve), unless the app itself now uses it. The
  -- dashboards already connected keep their sessions, as a hot reload
  -- drops no one: they hear nothing and their actions do nothing until a
  -- reload instruments again; then they get the stats again and, in
  -- development, the list of sockets anew (what they missed meanwhile).

  local retired = {}  -- namespaces of a removed instrumentation -> true
  local aside         -- what the reload under way set aside

  local function refuse(_, next) next("Invalid namespace") end

  local function dashboards(nsp)
    local n = 0
    for _ in pairs(nsp.sockets) do n = n + 1 end
    return n
  end

  function A.set_aside()
    A.generation = (A.generation or 0) + 1
    local r = {}
    for nsp in pairs(retired) do r[nsp] = true end
    aside = { state = state, retired = r }
    return aside
  end

  function A.put_back(saved)
    aside = nil
    retired = saved.retired
    if saved.state then
      state = saved.state
      hook(state)
    else
      stop()
    end
  end

  function A.commit()
    local before = aside and aside.state
    aside = nil
    if state and state.generation ~= A.generation then stop() end
    if before and (not state or state.nsp ~= before.nsp) then
      retired[before.nsp] = true
      sio.log.info("admin: %s no longer instrumented (main.lua does not call sio.admin.instrument): "
                   .. "%d connected dashboard(s) stay and hear nothing, new ones are refused",
                   before.nsp.name, dashboards(before.nsp))
    end
    if state and retired[state.nsp] then
      retired[state.nsp] = nil
      local st = state
      sio.log.info("admin: %s instrumented again: %d connected dashboard(s) resume", st.nsp.name, dashboards(st.nsp))
      if st.development then
        spawn(function()
          local all = fetch_all_sockets()
          if state == st then st.nsp.local_:emit("all_sockets", all) end
        end)
      end
    end
    for nsp in pairs(retired) do
      -- The app's own use of the name (listeners, middlewares) serves it.
      if #nsp._mw == 0 and next(nsp._listeners) == nil then nsp:use(refuse) end
    end
  end

  return A
end
