-- A module next to main.lua, found by require from the app directory.
local M = {}

function M.greet(name)
  return "hello " .. name .. " from helper"
end

return M
