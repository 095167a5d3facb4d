/* L6 lua/lua_fetch: `sio.fetch`, outbound HTTP from Lua handlers over
 * net/http_client on the server's loop. A call parks the handler and the
 * response resumes it (the cosocket model of lua_rt.h); the loop never
 * blocks. lua/siolua/fetch.lua builds `sio.fetch` on the raw function this
 * file registers (`sio._fetch`): table bodies as JSON, `res:json()`.
 * Knows nothing of Socket.IO, Engine.IO or the server's connections.
 *
 * Lua side (see docs/lua-api.md, "Outbound HTTP")
 *   sio._fetch(url, opts) -> {status, status_text, ok, url, redirected,
 *                             headers, body} | nil, err
 *     opts: method, headers, body (a string), timeout, connect_timeout,
 *     headers_timeout, max_body, redirect ("follow" | "manual"),
 *     max_redirects, ca_file. Misuse (a bad option, a header with a line
 *     break, not inside a handler) raises; failures of the exchange return
 *     nil, err.
 */
#ifndef SL_LUA_FETCH_H
#define SL_LUA_FETCH_H

#include <stddef.h>

#include "lua/lua_rt.h"

/* Adds `_fetch` to the siolua module table of rt, with its HTTP client.
 * Call once per runtime, from C outside Lua. 0, or -1 (logged). */
int sl_lua_fetch_open(sl_lua_t *rt);

/* The CA file every fetch trusts besides the system store (the option
 * fetchCaFile; NULL or "" for none). Read now: -1 with err set when it
 * can't be, and the previous setting stays. */
int sl_lua_fetch_set_ca_file(sl_lua_t *rt, const char *path, char *err, size_t errlen);

/* Ends every pending fetch now with nil, "fetch cancelled: <reason>"
 * (their handlers resume later), and refuses later ones the same way.
 * Idempotent; a runtime without sio.fetch is fine. Must not be called from
 * inside Lua. */
void sl_lua_fetch_close(sl_lua_t *rt, const char *reason);

#endif
