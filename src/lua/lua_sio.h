/* L6 lua/lua_sio: binds the Socket.IO layer (L5) and raw Engine.IO endpoints to
 * Lua: the app (its life, options, cluster adapter, hot reload). The C side
 * is small on purpose: it moves events up into the Lua library
 * (lua/siolua/api.lua and its modules, which own listeners, middlewares and
 * acks) and gives it handles with methods (a socket's `h:emit(...)`, a
 * namespace's `h:broadcast(...)`, the adapter's requests, ...). The work
 * is split by object: lua_sio.c (the app, sockets, namespaces), lua_http.c
 * (HTTP routes, raw Engine.IO), lua_cluster.c (the adapter's requests and
 * what other servers send), lua_emitter.c (sio.emitter); lua_bind.h is
 * what they share. JSON <-> Lua goes through lua_json.
 * The only layer that knows both Lua and sio. */
#ifndef SL_LUA_SIO_H
#define SL_LUA_SIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "eio/eio.h"
#include "eio/server.h"
#include "sio/sio.h"
#include "cluster/sio_redis.h"
#include "lua/lua_stats.h"

typedef struct sl_app sl_app_t;
typedef struct sl_lua sl_lua_t; /* lua/lua_rt.h, for the Lua layer's own files */

/* How sio.configure{...} sets one option: the composition root's typed
 * options table, which this layer cannot see. name and value are in the
 * command line's text form ("cors.origin", "*"; a nested table is given
 * as "{}", then flattened: "connectionStateRecovery.maxDisconnectionDuration");
 * value is NULL for a Lua value with no text form. Returns 0, or -1 with one
 * line in err ("unknown option 'x'", "bad value 'y' for x: expected ...");
 * sio.configure raises it at its caller's line. */
typedef int (*sl_app_option_cb)(void *ud, const char *name, const char *value, char *err,
                                 size_t errcap);

/* Creates the Socket.IO server (mounted on http), the Lua runtime and the
 * `siolua` module. eopts/sopts are the options so far; main.lua changes
 * them through set_option (with option_ud) until sl_app_start. */
sl_app_t *sl_app_new(uv_loop_t *loop, sl_server_t *http, const char *app_dir,
                     const char *lib_dir, const eio_options_t *eopts,
                     const sio_options_t *sopts, sl_app_option_cb set_option, void *option_ud);
/* Runs APP_DIR/main.lua. Returns 0, or -1 when it failed to load or run
 * (logged). A missing main.lua is not an error (a static-only app). */
int sl_app_load(sl_app_t *app);
/* The Lua guards: instructions and CPU milliseconds per resume of a
 * handler (0: off), and the bytes the state may hold (0: unlimited). See
 * lua_rt.h. */
void sl_app_set_lua_budget(sl_app_t *app, uint64_t instructions);
void sl_app_set_lua_time_limit(sl_app_t *app, uint64_t ms);
void sl_app_set_lua_memory(sl_app_t *app, size_t bytes);
/* The CAs every sio.fetch trusts besides the system store ("" for none);
 * a file that can't be read is logged and changes nothing. */
void sl_app_set_fetch_ca_file(sl_app_t *app, const char *path);
/* Ends configuration: options are final from now on. */
void sl_app_start(sl_app_t *app);
/* Runs main.lua again, all or nothing (see docs/hot-reload.md); one log
 * line either way. Returns 0 when the new version is in. */
int sl_app_reload(sl_app_t *app);
/* Switches the adapter to Redis (redis://..., unix:/path): broadcasts and
 * requests reach every server sharing it, with the adapter options opts
 * (redisAdapter, requestsTimeout, ...). Returns the adapter, which the app
 * owns until sl_app_shutdown (its address and node registry are the
 * caller's to wire), or NULL when the URL can't be read. */
sio_redis_t *sl_app_use_redis(sl_app_t *app, const char *url, const sio_redis_opts_t *opts);
/* The same adapter on the local bus of `siolua run --workers N` (a unix
 * socket speaking the Redis subset the adapter uses), logged as such;
 * always in classic mode (redisAdapter=sharded is ignored with a warning). */
sio_redis_t *sl_app_use_local_bus(sl_app_t *app, const char *url, const sio_redis_opts_t *opts);
/* `sio.worker` = index (1..N) in a worker of `siolua run --workers N`. */
void sl_app_set_worker(sl_app_t *app, int index);
/* Reloads by itself when a .lua file of the app changes. */
int sl_app_watch(sl_app_t *app);
sio_server_t *sl_app_sio(sl_app_t *app);

/* Counters, for metrics (lua_stats.h): the app's, and its runtime's. */
const sl_app_stats_t *sl_app_stats(const sl_app_t *app);
const sl_lua_stats_t *sl_app_lua_stats(const sl_app_t *app);
/* Bytes the Lua state holds. */
size_t sl_app_lua_memory(const sl_app_t *app);
/* Times every run of Lua code for the handler histogram (two clock reads
 * a run): off unless metrics are on. */
void sl_app_set_lua_timing(sl_app_t *app, int on);
sl_lua_t *sl_app_lua(sl_app_t *app);
/* Disconnects every socket (server shutting down). */
void sl_app_shutdown(sl_app_t *app);
void sl_app_free(sl_app_t *app);

#endif
