-- L6 (Lua side): connection state recovery, as Node's in-memory adapter does
-- it: with the option on, every event sent without an ack and not volatile
-- gets an offset as its last argument and is kept in its namespace's log for
-- maxDisconnectionDuration; a socket that leaves for a recoverable reason
-- leaves a session (id, rooms, data) under its private id; a CONNECT
-- carrying that pid and the last offset it saw gets them back, with every
-- logged packet it missed. In a cluster the session is also kept through the
-- adapter, so the client may come back through another server.
-- Part of lua/siolua/api.lua's library.

return function(lib)
  local sio, core = lib.sio, lib.core
  local adapter = core.adapter
  local json = core.json
  local type = type

  local R = {}

  R.RECOVERABLE = {
    ["transport error"] = true, ["transport close"] = true, ["forced close"] = true,
    ["ping timeout"] = true, ["server shutting down"] = true, ["forced server close"] = true,
  }

  -- Offsets are unique across the servers of a cluster (a random part per
  -- process), since a client may come back through another one.
  local offset_prefix = string.format("%x", os.time()) .. core.random_id():sub(1, 6):gsub("[^%w]", "x")
  local offset_seq = 0

  -- A namespace's empty log.
  function R.new_log()
    return { first = 1, last = 0, index = {} }
  end

  local function append_log(nsp, id, rooms, except, args, max)
    local log = nsp._log
    local now = sio.monotonic()
    while log.first <= log.last and log[log.first].at < now - max do
      log.index[log[log.first].id] = nil
      log[log.first] = nil
      log.first = log.first + 1
    end
    log.last = log.last + 1
    log[log.last] = { id = id, at = now, rooms = rooms, except = except, args = args }
    log.index[id] = log.last
  end

  -- An event about to be sent: gets its offset (the last argument) and is
  -- logged, when recovery is on.
  function R.log_packet(nsp, rooms, except, args)
    local on, max = core.recovery()
    if not on then return end
    offset_seq = offset_seq + 1
    local id = offset_prefix .. "-" .. offset_seq
    args[#args + 1] = id
    append_log(nsp, id, rooms, except, args, max)
  end

  -- Another server's broadcast (already delivered here): told to a
  -- watching dashboard (admin.lua), and logged under the offset it
  -- carries, so a client of that server can recover here.
  function lib.dispatch.remote_broadcast(nsp, args, rooms, except, volatile)
    local hook = lib.watcher.broadcast_out
    if hook then hook(nsp, rooms, except, args) end
    if volatile then return end
    local on, max = core.recovery()
    local id = args[#args]
    if not on or type(id) ~= "string" or not id:match("^%x+%w*%-%d+$") then return end
    append_log(nsp, id, rooms, except, args, max)
  end

  local function contains_any(list, set)
    for i = 1, #list do if set[list[i]] then return true end end
    return false
  end

  -- A socket leaving for a recoverable reason (still in its rooms) leaves
  -- its session behind.
  function R.persist_session(nsp, sock, max)
    local rooms = sock._h:rooms()
    local now = sio.monotonic()
    nsp._sessions[sock._pid] = { sid = sock.id, rooms = rooms, data = sock.data, at = now }
    if adapter:installed() then
      -- The client may come back through another server.
      adapter:session_put(sock._pid, { sid = sock.id, rooms = json.array(rooms), data = sock.data }, max)
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
  function R.missed_since(nsp, session, offset)
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
  function R.restore_session(nsp, pid, offset, max)
    local session = nsp._sessions[pid]
    if not session then return nil end
    nsp._sessions[pid] = nil
    if session.at + max < sio.monotonic() then return nil end
    local missed = R.missed_since(nsp, session, offset)
    if not missed then return nil end
    return session, missed
  end

  return R
end
