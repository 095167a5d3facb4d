-- Every argument of the server's ack, through the callback form of emit
-- (emit_with_ack returns the first one, as the official client's
-- emitWithAck resolves with it): ack.all(c, event, ...) -> the arguments,
-- or nil, err.
local sio = require "siolua"

local M = {}

function M.all(c, event, ...)
  local args = table.pack(...)
  local got
  args[args.n + 1] = function(...) got = table.pack(...) end
  c:timeout(2000):emit(event, table.unpack(args, 1, args.n + 1))
  local deadline = sio.monotonic() + 3000
  while not got and sio.monotonic() < deadline do sio.sleep(5) end
  if not got then return nil, "no callback" end
  if got[1] ~= nil then return nil, got[1] end
  return table.unpack(got, 2, got.n)
end

return M
