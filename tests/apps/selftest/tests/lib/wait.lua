-- wait.until_(cond[, ms]): polls cond every 5 ms until it holds or ms
-- (2000) have passed; returns its last value.
local sio = require "siolua"

local M = {}

function M.until_(cond, ms)
  local deadline = sio.monotonic() + (ms or 2000)
  while not cond() and sio.monotonic() < deadline do sio.sleep(5) end
  return cond()
end

return M
