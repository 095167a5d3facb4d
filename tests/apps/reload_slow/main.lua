-- Test app for app_reload.test.mjs: a main.lua that takes a while to load
-- (a busy loop of ~60M instructions, well under the default time limit), so a test
-- can change a file while a reload is running. The tests edit word.lua in
-- a temp copy.
local sio = require "siolua"
local word = require "word"

sio.log.info("loading started, word is %s", word)
local n = 0
for _ = 1, 30000000 do n = n + 1 end -- the slow part
sio.log.info("loading done, word is %s", word)

sio.http.get("/word", function(req, res) res:send(word) end)
-- On connection, and on each reload (so a connected socket asks the new code).
local function bind(socket)
  socket:on("word", function(ack) ack(word) end)
end
sio.server:on("connection", bind)
sio.server:on("reload", bind)
