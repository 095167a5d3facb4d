-- A module of the reload test app (the tests edit the copy's GREETING line).
local M = {}
local GREETING = "hello"
function M.greet(name) return GREETING .. " " .. name end
return M
