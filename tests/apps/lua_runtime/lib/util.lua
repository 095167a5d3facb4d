-- A module in a subfolder of the app: require "lib.util".
local M = {}

function M.sum(list)
  local total = 0
  for _, v in ipairs(list) do total = total + v end
  return total
end

return M
