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

#include <uv.h>
#include "eio/eio.h"
#include "lua/lua_rt.h"
#include "eio/server.h"
#include "sio/sio.h"

typedef struct sl_app sl_app_t;

/* Creates the Socket.IO server (mounted on http), the Lua runtime and the
 * `siolua` module. eopts/sopts are the defaults plus command-line options;
 * the app may change them from main.lua until sl_app_start. */
sl_app_t *sl_app_new(uv_loop_t *loop, sl_server_t *http, const char *app_dir,
                     const char *lib_dir, const eio_options_t *eopts,
                     const sio_options_t *sopts);
/* Runs APP_DIR/main.lua. Returns 0, or -1 when it failed to load or run
 * (logged). A missing main.lua is not an error (a static-only app). */
int sl_app_load(sl_app_t *app);
/* Applies an option by name after main.lua (command line wins). */
int sl_app_set_option(sl_app_t *app, const char *name, const char *value);
/* Ends configuration: options are final from now on. */
void sl_app_start(sl_app_t *app);
/* Runs main.lua again, all or nothing (see docs/hot-reload.md); one log
 * line either way. Returns 0 when the new version is in. */
int sl_app_reload(sl_app_t *app);
/* Switches the adapter to Redis (redis://..., unix:/path): broadcasts and
 * requests reach every server sharing it, with the adapter options set so
 * far (redisAdapter, requestsTimeout, ... from sio.configure or --set).
 * -1 when the URL can't be read. */
int sl_app_use_redis(sl_app_t *app, const char *url);
/* The same adapter on the local bus of `siolua run --workers N` (a unix
 * socket speaking the Redis subset the adapter uses), logged as such;
 * always in classic mode (redisAdapter=sharded is ignored with a warning). */
int sl_app_use_local_bus(sl_app_t *app, const char *url);
/* `sio.worker` = index (1..N) in a worker of `siolua run --workers N`. */
void sl_app_set_worker(sl_app_t *app, int index);
/* Where the other servers of the cluster relay requests for this server's
 * sessions (no sticky sessions needed). */
void sl_app_set_cluster_address(sl_app_t *app, const char *host_port);
/* Reloads by itself when a .lua file of the app changes. */
int sl_app_watch(sl_app_t *app);
sio_server_t *sl_app_sio(sl_app_t *app);
sl_lua_t *sl_app_lua(sl_app_t *app);
/* Disconnects every socket (server shutting down). */
void sl_app_shutdown(sl_app_t *app);
void sl_app_free(sl_app_t *app);

#endif
