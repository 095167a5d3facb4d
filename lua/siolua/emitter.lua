-- L6 (Lua side): sio.emitter{redis = url, key = "socket.io"}: publishes
-- events to a cluster (this one or another) the way
-- @socket.io/redis-emitter does, without being a member of it. The C side
-- (src/lua/lua_emitter.c) owns the Redis link and the message format.
-- Part of lua/siolua/api.lua's library.

return function(lib)
  local sio, core = lib.sio, lib.core
  local E = lib.events
  local copy_list = E.copy_list

  local Emitter = {}
  Emitter.__index = Emitter

  local function emitter_copy(e, nsp, rooms, except)
    return setmetatable({ _h = e._h, _nsp = nsp or e._nsp, _rooms = rooms or e._rooms,
                          _except = except or e._except }, Emitter)
  end

  function sio.emitter(opts)
    opts = opts or {}
    local url = opts.redis or os.getenv("SIOLUA_REDIS_URL") or "redis://127.0.0.1:6379"
    return setmetatable({ _h = core.emitter_new(url, opts.key), _nsp = "/", _rooms = {}, _except = {} },
                        Emitter)
  end
  function Emitter:of(nsp)
    if nsp:sub(1, 1) ~= "/" then nsp = "/" .. nsp end
    return emitter_copy(self, nsp, {}, {})
  end
  function Emitter:to(room) return emitter_copy(self, nil, copy_list(self._rooms, room)) end
  Emitter.in_ = Emitter.to
  Emitter["in"] = Emitter.to
  function Emitter:except(room) return emitter_copy(self, nil, nil, copy_list(self._except, room)) end
  -- -> true, or nil, "redis unavailable"
  function Emitter:emit(event, ...)
    if E.RESERVED[event] then error('"' .. tostring(event) .. '" is a reserved event name', 2) end
    local ok, err = self._h:publish(self._nsp, self._rooms, self._except,
                                    E.args_array(event, select("#", ...), ...))
    if not ok then return nil, err end
    return true
  end

  return {}
end
