-- L6 (Lua side): a Socket.IO v5 client over Engine.IO v4 on a WebSocket
-- (transport=websocket from the start, no polling), for app tests and for
-- apps that talk to another Socket.IO server: sio.client(url, opts).
-- Built on sio._wsclient (src/lua/lua_client.c: the WebSocket and the packet
-- codec) and the library's events module (listeners, argument arrays).
-- Knows nothing of the server side of this process.
--
-- One Engine.IO connection per client (like the Node client's forceNew).
-- A reader handler per client takes every message off the WebSocket:
-- answers pings, reassembles binary packets, runs acks, and hands events to
-- listeners (c:on) or to c:receive, which keeps what nobody took yet.

return function(sio, core, events)
  local wsc = sio._wsclient
  local json = core.json
  local spawn, waker = core.spawn, core.waker
  local pack, unpack, select, type = table.pack, table.unpack, select, type
  local values_array, args_array = events.values_array, events.args_array

  local CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR = 0, 1, 2, 3, 4
  local BINARY_EVENT, BINARY_ACK = 5, 6
  local TIMEOUT = "operation has timed out"
  local DISCONNECTED = "disconnected"
  local BUFFER_CAP = 1000 -- events kept per name for c:receive

  -- Clients that may still be open, for sio._client_close_all (the test
  -- runner closes what a test left open).
  local open_clients = setmetatable({}, { __mode = "k" })

  -- ---- URLs --------------------------------------------------------------

  local function urlencode(s)
    return (tostring(s):gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
  end

  -- "http://host:port/nsp?x=1" -> authority, namespace, query (no "?").
  local function parse_url(url)
    if type(url) ~= "string" then return nil, "url must be a string" end
    local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
    if not scheme then return nil, "bad url '" .. url .. "' (want http://host:port/namespace)" end
    scheme = scheme:lower()
    if scheme == "https" or scheme == "wss" then
      return nil, scheme .. ":// needs TLS, which siolua does not have (use http:// or ws://)"
    end
    if scheme ~= "http" and scheme ~= "ws" then return nil, "unsupported scheme '" .. scheme .. "'" end
    local authority, path, query = rest:match("^([^/?#]*)([^?#]*)%??([^#]*)")
    if not authority or authority == "" then return nil, "bad url '" .. url .. "': no host" end
    if path == "" then path = "/" end
    return authority, path, query
  end

  local function query_string(url_query, q)
    local parts = { "EIO=4", "transport=websocket" }
    if url_query ~= "" then parts[#parts + 1] = url_query end
    if q then
      local keys = {}
      for k in pairs(q) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for _, k in ipairs(keys) do parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(q[k]) end
    end
    return table.concat(parts, "&")
  end

  -- ---- waiters -----------------------------------------------------------

  -- A one-shot rendezvous with an optional timeout: the first settle wins.
  local function new_waiter(ms, ...)
    local w = { done = false, waker = waker() }
    if ms then
      local on_timeout = pack(...)
      w.timer = sio.set_timeout(ms, function()
        if not w.done then
          w.done = true
          w.waker:wake(unpack(on_timeout, 1, on_timeout.n))
        end
      end)
    end
    return w
  end

  local function settle(w, ...)
    if w.done then return false end
    w.done = true
    if w.timer then w.timer:cancel() end
    w.waker:wake(...)
    return true
  end

  -- ---- the client --------------------------------------------------------

  local Client = {}
  local client_index = Client

  local function send_packet(c, ptype, id, value)
    if c._msgpack then -- one binary message, binary values inline
      local ok, err = c._ws:send(wsc.sio_encode(ptype, c.nsp, id, value, true), true)
      if not ok then return nil, err end
      return true
    end
    local text, atts = wsc.sio_encode(ptype, c.nsp, id, value)
    local ok, err = c._ws:send("4" .. text)
    if not ok then return nil, err end
    if atts then
      for i = 1, #atts do
        ok, err = c._ws:send(atts[i], true)
        if not ok then return nil, err end
      end
    end
    return true
  end

  local function next_id(c)
    local id = c._ids
    c._ids = id + 1
    return id
  end

  -- An event goes to the first handler waiting in c:receive for it (every
  -- waiting handler when `all`) and to every listener; if nobody took it,
  -- it is kept for a later c:receive.
  local function deliver(c, event, args, all)
    local taken = false
    local rs = c._receivers[event]
    while rs and #rs > 0 and (all or not taken) do
      if settle(table.remove(rs, 1), unpack(args, 1, args.n)) then taken = true end
    end
    if events.count(c._listeners[event]) > 0 then
      local copy = events.list(c._listeners[event])
      for i = 1, #copy do spawn(copy[i], unpack(args, 1, args.n)) end
      taken = true
    end
    if not taken then
      local q = c._buffer[event]
      if not q then
        q = { first = 1, last = 0 }
        c._buffer[event] = q
      end
      if q.last - q.first + 1 >= BUFFER_CAP then
        sio.log.warn("client %s: more than %d unreceived '%s' events, dropping the oldest",
                     tostring(c.id), BUFFER_CAP, tostring(event))
        q[q.first] = nil
        q.first = q.first + 1
      end
      q.last = q.last + 1
      q[q.last] = args
    end
  end

  -- The client is disconnected (once): pending acks end, handlers waiting
  -- in c:receive get nil, "disconnected" (those waiting for "disconnect"
  -- get the reason), then the "disconnect" listeners run.
  local function lost(c, reason)
    if c._ended then return end
    c._ended = true
    c.connected = false
    open_clients[c] = nil
    local acks = c._acks
    c._acks = {}
    for _, a in pairs(acks) do a.fail() end
    for event, rs in pairs(c._receivers) do
      if event ~= "disconnect" then
        c._receivers[event] = nil
        for i = 1, #rs do settle(rs[i], nil, DISCONNECTED) end
      end
    end
    deliver(c, "disconnect", pack(reason), true)
  end

  local function handle_packet(c, ptype, id, payload, atts)
    if ptype == EVENT or ptype == BINARY_EVENT then
      local args, err = wsc.json_decode(payload, atts)
      if not args then
        sio.log.warn("client %s: undecodable event (%s)", tostring(c.id), tostring(err))
        return
      end
      local n = #args
      local event = args[1]
      local packed = { n = n - 1 }
      for i = 2, n do packed[i - 1] = args[i] end
      if id then
        local used = false
        packed.n = packed.n + 1
        packed[packed.n] = function(...)
          if used then return false end
          used = true
          if not c.connected then return false end
          return send_packet(c, ACK, id, values_array(select("#", ...), ...)) or false
        end
      end
      deliver(c, tostring(event), packed)
    elseif ptype == ACK or ptype == BINARY_ACK then
      local a = id and c._acks[id]
      if not a then return end -- late or unknown: ignored
      c._acks[id] = nil
      local args = wsc.json_decode(payload, atts)
      if not args then return end
      a.ok(unpack(args, 1, #args))
    elseif ptype == DISCONNECT then
      c._ws:close()
      lost(c, "io server disconnect")
    end
  end

  -- A packet the client can't read ends the connection.
  local function bad_packet(c, err)
    sio.log.warn("client %s: bad packet from the server (%s), closing", tostring(c.id), err)
    c._ws:close()
    lost(c, "parse error")
  end

  -- The reader: one handler per client, until the connection ends.
  local function reader(c)
    local ws = c._ws
    local pending -- a binary packet waiting for its attachments
    while true do
      local data, kind = ws:receive(c._ping_window)
      if data == nil then
        if kind == "timeout" then
          ws:close()
          lost(c, "ping timeout")
        else
          lost(c, "transport close")
        end
        return
      end
      if kind == true and c._msgpack then -- a whole packet
        local ptype, nsp, id, payload, atts = wsc.sio_decode_msgpack(data)
        if not ptype then return bad_packet(c, nsp) end
        if nsp == c.nsp then handle_packet(c, ptype, id, payload, atts) end
      elseif kind == true then -- a binary message: the next attachment
        if pending then
          local atts = pending.atts
          atts[#atts + 1] = data
          if #atts == pending.count then
            local p = pending
            pending = nil
            handle_packet(c, p.type, p.id, p.payload, atts)
          end
        end
      else
        local t = data:sub(1, 1)
        if t == "2" then
          ws:send("3")
        elseif t == "4" then
          local ptype, nsp, id, payload, count = wsc.sio_decode(data:sub(2))
          if not ptype then return bad_packet(c, nsp) end
          if nsp == c.nsp then
            if count > 0 then
              pending = { type = ptype, id = id, payload = payload, count = count, atts = {} }
            else
              handle_packet(c, ptype, id, payload)
            end
          end
        elseif t == "1" then
          ws:close()
          lost(c, "transport close")
          return
        end
      end
      if c._ended then return end
    end
  end

  -- ---- public API --------------------------------------------------------

  Client.on = events.on

  -- once-wrappers -> the function they wrap, so off(event, fn) finds them
  local wrapped = setmetatable({}, { __mode = "k" })

  local function wraps(l, fn) return wrapped[l] == fn end

  function Client:off(event, fn)
    if event == nil or fn == nil then return events.off(self, event) end
    events.remove(self, event, fn, wraps)
    return self
  end

  function Client:once(event, fn)
    assert(type(fn) == "function", "listener must be a function")
    local wrapper
    wrapper = function(...)
      self:off(event, wrapper)
      return fn(...)
    end
    wrapped[wrapper] = fn
    return self:on(event, wrapper)
  end

  -- emit(event, ...[, ack_fn]): ack_fn(...) runs with the server's answer
  -- (with a timeout view: ack_fn(err, ...)). Returns true, or nil, err.
  function Client:emit(event, ...)
    assert(type(event) == "string", "event name must be a string")
    local n = select("#", ...)
    local last = n > 0 and select(n, ...) or nil
    local ms = self._flags and self._flags.timeout
    if not self.connected then
      if type(last) == "function" and ms then spawn(last, DISCONNECTED) end
      return nil, DISCONNECTED
    end
    local id
    if type(last) == "function" then
      n = n - 1
      id = next_id(self)
      if ms then
        local w = new_waiter(ms, TIMEOUT)
        self._acks[id] = {
          ok = function(...) settle(w, nil, ...) end,
          fail = function() settle(w, DISCONNECTED) end,
        }
        spawn(function()
          local r = pack(w.waker:wait())
          self._acks[id] = nil
          last(unpack(r, 1, r.n))
        end)
      else
        self._acks[id] = { ok = function(...) spawn(last, ...) end, fail = function() end }
      end
    end
    local ok, err = send_packet(self, EVENT, id, args_array(event, n, ...))
    if not ok and id then
      local a = self._acks[id]
      self._acks[id] = nil
      if a then a.fail() end
    end
    return ok, err
  end

  -- Waits for the server's ack and returns its first argument, as the
  -- official client's emitWithAck resolves; nil, err when there is none:
  -- "operation has timed out" (c:timeout(ms)) or "disconnected" (the
  -- client goes first). The callback form of emit gives every argument.
  function Client:emit_with_ack(event, ...)
    assert(type(event) == "string", "event name must be a string")
    if not self.connected then return nil, DISCONNECTED end
    local id = next_id(self)
    local w = new_waiter(self._flags and self._flags.timeout, TIMEOUT)
    self._acks[id] = { ok = function(...) settle(w, nil, (...)) end, fail = function() settle(w, DISCONNECTED) end }
    local ok, err = send_packet(self, EVENT, id, args_array(event, select("#", ...), ...))
    if not ok then
      self._acks[id] = nil
      return nil, err
    end
    local werr, value = w.waker:wait()
    self._acks[id] = nil
    if werr then return nil, werr end
    return value
  end

  -- The next `event` from the server: its arguments (with an ack function
  -- last when the server asked for one), taken from what arrived earlier
  -- if any, else waited for; nil, "timeout" after timeout_ms (default: no
  -- limit); nil, "disconnected" when the client is (or gets) disconnected.
  -- "disconnect" can be received too: its argument is the reason.
  function Client:receive(event, timeout_ms)
    assert(type(event) == "string", "event name must be a string")
    local q = self._buffer[event]
    if q and q.first <= q.last then
      local args = q[q.first]
      q[q.first] = nil
      q.first = q.first + 1
      return unpack(args, 1, args.n)
    end
    if self._ended then return nil, DISCONNECTED end
    local w = new_waiter(timeout_ms, nil, "timeout")
    local rs = self._receivers[event]
    if not rs then
      rs = {}
      self._receivers[event] = rs
    end
    rs[#rs + 1] = w
    local r = pack(w.waker:wait())
    rs = self._receivers[event]
    if rs then
      for i = #rs, 1, -1 do if rs[i] == w then table.remove(rs, i) end end
    end
    return unpack(r, 1, r.n)
  end

  -- A view whose emit / emit_with_ack wait at most ms for the ack.
  function Client:timeout(ms)
    local base = rawget(self, "_base") or self
    return setmetatable({ _base = base, _flags = { timeout = ms } }, { __index = base, __newindex = base })
  end

  -- Leaves the namespace and closes the connection; "disconnect" listeners
  -- get "io client disconnect".
  function Client:disconnect()
    local c = rawget(self, "_base") or self
    if c._ended then return c end
    if c.connected then
      send_packet(c, DISCONNECT)
      c._ws:send("1")
    end
    c._ws:close()
    lost(c, "io client disconnect")
    return c
  end
  Client.close = Client.disconnect
  Client.emitWithAck = Client.emit_with_ack

  -- The official client's send(...): emit("message", ...).
  function Client:send(...) return self:emit("message", ...) end

  local Meta = {
    __index = client_index,
    __close = function(self) self:disconnect() end,
    __tostring = function(self)
      return "siolua.client " .. self.nsp .. " " .. (self.connected and self.id or "(disconnected)")
    end,
  }

  -- ---- connecting --------------------------------------------------------

  -- sio.client(url, opts) -> client | nil, err[, data]
  --   opts.path ("/socket.io/"), opts.auth (table), opts.query (table),
  --   opts.headers (table), opts.timeout (ms for the whole connection, 5000),
  --   opts.parser ("default" or "msgpack"; under siolua test: the app's)
  function sio.client(url, opts)
    opts = opts or {}
    assert(type(opts) == "table", "options must be a table")
    local authority, nsp, url_query = parse_url(url)
    if not authority then return nil, nsp end
    local path = opts.path or "/socket.io/"
    -- Under siolua test, a client of the app under test speaks its parser.
    local parser = opts.parser
    if parser == nil then
      local own = sio.test_url and url:sub(1, #sio.test_url) == sio.test_url
      parser = own and core.parser() or "default"
    end
    if parser ~= "default" and parser ~= "msgpack" then
      error("sio.client: parser must be \"default\" or \"msgpack\"", 2)
    end
    local msgpack = parser == "msgpack"
    if path:sub(1, 1) ~= "/" then path = "/" .. path end
    local timeout = opts.timeout or 5000
    local deadline = sio.monotonic() + timeout
    local function left()
      local ms = deadline - sio.monotonic()
      return ms > 0 and ms or nil
    end
    local ws, err = wsc.connect("ws://" .. authority .. path .. "?" .. query_string(url_query, opts.query),
                                { timeout = timeout, headers = opts.headers })
    if not ws then
      if err and err:find("^timed out") then err = "timeout" end
      return nil, err
    end
    local function fail(e, data)
      ws:close()
      return nil, e, data
    end
    local ms = left()
    if not ms then return fail("timeout") end
    local data, kind, detail = ws:receive(ms)
    if not data then return fail(kind == "timeout" and "timeout" or ("connection closed: " .. tostring(detail))) end
    if kind == true or data:sub(1, 1) ~= "0" then return fail("bad Engine.IO handshake: " .. data:sub(1, 80)) end
    local hs = json.decode(data:sub(2))
    if type(hs) ~= "table" or type(hs.sid) ~= "string" then return fail("bad Engine.IO handshake: " .. data:sub(1, 80)) end

    local c = setmetatable({
      id = nil, connected = false, nsp = nsp, _ws = ws, _sid = hs.sid, _ids = 0, _msgpack = msgpack,
      _listeners = {}, _receivers = {}, _buffer = {}, _acks = {},
      _ping_window = (tonumber(hs.pingInterval) or 25000) + (tonumber(hs.pingTimeout) or 20000),
    }, Meta)
    local auth = opts.auth
    if auth ~= nil and type(auth) ~= "table" then return fail("auth must be a table") end
    local ok, serr = send_packet(c, CONNECT, nil, auth)
    if not ok then return fail(serr) end
    while true do
      ms = left()
      if not ms then return fail("timeout") end
      data, kind, detail = ws:receive(ms)
      if not data then return fail(kind == "timeout" and "timeout" or ("connection closed: " .. tostring(detail))) end
      local ptype, pnsp, _, payload
      if kind == true and c._msgpack then
        ptype, pnsp, _, payload = wsc.sio_decode_msgpack(data)
      elseif kind ~= true and data:sub(1, 1) == "4" and not c._msgpack then
        ptype, pnsp, _, payload = wsc.sio_decode(data:sub(2))
      end
      if ptype and pnsp == nsp then
        if ptype == CONNECT then
          local v = payload and json.decode(payload)
          c.id = type(v) == "table" and v.sid or nil
          break
        elseif ptype == CONNECT_ERROR then
          local v = payload and json.decode(payload)
          if type(v) == "table" then return fail(tostring(v.message), v.data) end
          return fail(tostring(v))
        end
      elseif kind ~= true then
        local t = data:sub(1, 1)
        if t == "2" then
          ws:send("3")
        elseif t == "1" then
          return fail("connection closed by the server")
        end
      end
    end
    c.connected = true
    open_clients[c] = true
    spawn(reader, c)
    return c
  end

  -- Disconnects every client still connected (the test runner's clean-up
  -- between tests). Private.
  function sio._client_close_all()
    local list = {}
    for c in pairs(open_clients) do list[#list + 1] = c end
    for i = 1, #list do list[i]:disconnect() end
    return #list
  end
end
