/* L6 lua/lua_redis: `sio.redis`, Redis commands from Lua handlers over the
 * cluster column's Redis client (cluster/redis_link.h: one Redis or a Redis
 * Cluster, TLS, a watchdog per command) on the server's own libuv loop. A
 * call parks the handler and the reply resumes it (the cosocket model of
 * lua_rt.h); the loop never blocks. Knows nothing of Socket.IO, Engine.IO
 * or HTTP; the cluster adapter (L5a) has its own connections.
 *
 * Lua side (fields of the `siolua` module table, see docs/lua-api.md)
 *   sio.redis.call(cmd, ...)      -> reply | nil, err
 *   sio.redis.pipeline(cmds)      -> {reply, ...} | nil, err
 *   sio.redis.configure(opts)     -> true (misuse raises)
 *   sio.redis.null                   the nil-reply sentinel (= sio.json.null)
 *
 * Connections: a small pool (default 4, per node of a Redis Cluster) opened
 * on first use, from
 * sio.redis.configure{url=...}, else $SIOLUA_REDIS_URL, else
 * redis://127.0.0.1:6379. A dropped connection reconnects with backoff
 * (100 ms doubling to 5 s, +-25 %); while none is up, calls fail at once with
 * nil, "redis unavailable: <reason>". Transitions of the pool (connected,
 * lost, reconnected) are logged once each, in one line.
 */
#ifndef SL_LUA_REDIS_H
#define SL_LUA_REDIS_H

#include <uv.h>

#include "lua/lua_rt.h"

/* Adds `redis` to the siolua module table of rt and reads
 * $SIOLUA_REDIS_URL (a bad value is logged; calls then fail with the reason
 * until sio.redis.configure fixes it). Connects nothing yet. Call once per
 * runtime, from C outside Lua. Returns 0, or -1 (logged). */
int sl_lua_redis_open(sl_lua_t *rt);

/* Closes every connection of rt's pool now: calls in flight end with
 * nil, "redis closed" (their handlers resume later, unless the runtime is
 * freed first), later calls fail the same way. Handles finish closing on
 * the next loop run. Idempotent; a runtime without sio.redis is fine. Call
 * it before sl_lua_free (which would otherwise do the same while closing
 * the Lua state). Must not be called from inside Lua. */
void sl_lua_redis_close(sl_lua_t *rt);

#endif
