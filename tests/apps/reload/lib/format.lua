-- A module in a subfolder of the reload test app (the tests edit the copy).
local M = {}
function M.shout(text) return text:upper() .. "!" end
return M
