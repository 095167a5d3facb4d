-- siolua's sample chat: the chat room of the socket.io book chapter in the
-- namespace /chat (its page is public/index.html), and on the main
-- namespace the two chats people already have clients for: the socket.io
-- tutorial's and the official socket.io chat demo's.
--
--   siolua run apps/chat --port 3000     then open http://localhost:3000/
local sio = require "siolua"

require("chat.namespace")(sio.server:of("/chat"))
require("chat.tutorial")(sio.server)
require("chat.demo")(sio.server)

sio.log.info("chat ready: the page at /, namespaces /chat and /")
