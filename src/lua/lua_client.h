/* L6 lua/lua_client: the WebSocket client (L1 ws_client) and the Socket.IO
 * packet codec (L4 sio_packet) as private primitives for the Lua client in
 * lua/siolua/client.lua, which builds `sio.client` (Engine.IO v4 and
 * Socket.IO v5) on them. Knows nothing of the server side. */
#ifndef SL_LUA_CLIENT_H
#define SL_LUA_CLIENT_H

#include <lua.h>
#include "lua/lua_rt.h"

/* Adds `_wsclient` to the `siolua` module table of rt (L is its main
 * state), before lua/siolua/api.lua runs:
 *   _wsclient.connect(url, {timeout = ms, headers = {name = value}})
 *       waits until the WebSocket is open -> handle | nil, err
 *   h:receive([timeout_ms]) waits for the next message
 *       -> data (string), is_binary | nil, "timeout" | nil, "closed", detail
 *   h:send(data[, binary]) -> true | nil, err   (a siolua.binary is binary)
 *   h:close([code])   starts the close handshake; a pending receive then
 *       returns nil, "closed", ... (also __close; __gc drops the connection)
 *   _wsclient.sio_encode(type, nsp, ack_id|nil, value|nil) -> text, atts|nil
 *       (a Socket.IO packet; binary values become placeholders, the type
 *       BINARY_*, and atts the list of attachment strings)
 *   _wsclient.sio_decode(text) -> type, nsp, ack_id|nil, nattachments,
 *       payload|nil  | nil, err
 *   _wsclient.json_decode(text[, atts]) -> value | nil, err  (exact JSON,
 *       placeholders replaced by siolua.binary values of atts)
 * Every open connection is dropped when the runtime is freed (the handles'
 * finalizers run in lua_close), so the loop ends with none left. Raises
 * only on out-of-memory, like the other setup functions. */
void sl_lua_client_open(sl_lua_t *rt, lua_State *L);

#endif
