/* L6 lua/lua_bind: what the files binding the Socket.IO server to Lua share
 * (lua_sio.c: the app, sockets and namespaces; lua_http.c: HTTP routes and
 * raw Engine.IO; lua_cluster.c: the adapter's requests; lua_emitter.c:
 * sio.emitter; lua_watch.c: what a dashboard sees): the context they hang
 * off, the one guarded call every event from C into the Lua library goes
 * through, value helpers and the reading of options tables.
 * Knows nothing of wire formats; not for use outside those files.
 *
 *   sio / http / eio callback (C)
 *     --> ev = {typed fields of that event}          (the caller's stack)
 *     --> sl_lua_bind_call(b, ev_cf, &ev, "what")    sl_lua_pcall: traceback,
 *           ev_cf(L): push values from ev              time limit, budget,
 *             --> sl_lua_bind_dispatch(L, "name")      memory cap
 *                   --> api.lua dispatch.name(...)
 *           ev_cf writes results back into ev
 *     or  sl_lua_bind_handler(b, ev_fn_ref, &ev)     the same guards, per
 *           ev_cf(L) in a new handler's coroutine:   handler (lua_rt)
 *           (a closure made once, in the registry)
 *             --> lua_callk the listener, or dispatch.event(...)
 *     <-- 0, or -1 (logged once): the caller settles from what ev says
 *
 * Lua run on the main thread is pure overhead for an event whose work is
 * a handler's anyway; such an event whose work is a handler's anyway (a client's event)
 * runs whole in the handler's coroutine, so the main thread runs no Lua
 * code for it and the listener runs in that same coroutine (called from
 * lua_sio.c's event_cf, or tail-called by dispatch.event).
 *
 * Every object the library reaches is a handle userdata with methods (one
 * metatable per type, built from luaL_Reg tables, as luv does). A handle
 * outlives its C object; once that object is gone the handle is closed:
 * methods that talk to the peer (emit, ack, send, respond, accept, refuse,
 * disconnect, writable) then return false, since a peer may go at any
 * moment and that is no error (Node drops such emits too); every other
 * method raises "<type> handle is closed", since calling it is a bug of
 * the caller, who knows the object's state. */
#ifndef SL_LUA_BIND_H
#define SL_LUA_BIND_H

#include <stddef.h>
#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "base/buf.h"
#include "eio/server.h"
#include "lua/lua_rt.h"
#include "sio/sio.h"

typedef struct sl_lua_bind {
    uv_loop_t *loop;
    sl_lua_t *rt;
    lua_State *L;          /* the runtime's main thread */
    sio_server_t *sio;
    sl_server_t *http;
    int dispatch_ref;      /* lua/siolua/api.lua's dispatch table */
    int eio_dispatch_ref;  /* and its eio_dispatch table */
    int event_ref;         /* dispatch.event: every client event runs it */
    int watcher_ref;       /* the library's watcher table (a dashboard's hooks) */
    int started;           /* options are final, endpoints mounted */
} sl_lua_bind_t;

/* ---- the guarded call ------------------------------------------------------ */

/* Runs fn with ev (a light userdata: the event's typed struct, on the
 * caller's stack) as its one argument, on the main thread, through
 * sl_lua_pcall: so with a traceback message handler, a fresh instruction
 * budget and under the memory cap. fn pushes what the event carries and
 * calls into the library with sl_lua_bind_dispatch; anything in it may
 * raise. Returns 0, or -1 when it failed (logged once as "lua error in
 * <what>: ..."), in which case fn may have done part of its work: the
 * caller settles from what fn wrote into ev. The main stack is left as it
 * was. Never raises. */
int sl_lua_bind_call(sl_lua_bind_t *b, lua_CFunction fn, void *ev, const char *what);

/* Inside such an fn: calls the library's function `name` of the table in
 * registry slot table_ref with the nargs values on top of the stack (pops
 * them) and leaves nres results. Errors propagate to the guard. */
void sl_lua_bind_dispatch(lua_State *L, int table_ref, const char *name, int nargs, int nres);

/* Runs the function in the registry at fn_ref (a C closure made once,
 * whose upvalues hold what it reads on every event) with ev (a light
 * userdata) as its one argument as a new handler: in the handler's own
 * coroutine, under its guards, its errors logged as a handler's. It
 * pushes the event's values and calls the library with lua_callk (so
 * that what it calls may wait), and reads ev only before that call: ev
 * lives on the caller's stack, and a wait outlives it. One protected run
 * for the whole event, where a guarded call that then spawns the handler
 * makes two. Returns as sl_lua_spawn. */
int sl_lua_bind_handler(sl_lua_bind_t *b, int fn_ref, void *ev);

/* The context of a C function registered with it as upvalue 1. */
sl_lua_bind_t *sl_lua_bind_upvalue(lua_State *L);

/* Creates the metatable `name` with methods as __index (plus __tostring
 * and __gc when not NULL) and leaves it on the stack. */
void sl_lua_bind_metatable(lua_State *L, const char *name, const luaL_Reg *methods,
                           lua_CFunction tostring, lua_CFunction gc);

/* ---- handles shared by several files --------------------------------------- */

#define SL_LUA_NSP_MT "siolua.nsp_handle"

/* The namespace of the namespace handle at idx; raises when the handle is
 * closed (a dynamic family's, or a namespace a failed reload removed). */
sio_nsp_t *sl_lua_bind_check_nsp(lua_State *L, int idx);

/* Pushes the library's table of socket s (nil when it has none yet).
 * In lua_sio.c, which owns the sockets' bindings. */
void sl_lua_bind_push_socket(lua_State *L, sio_socket_t *s);
/* Pushes the library's table of namespace n. */
void sl_lua_bind_push_nsp(lua_State *L, sio_nsp_t *n);

/* ---- values ------------------------------------------------------------------ */

/* A Lua list of room names at idx as slices pointing into the list's
 * strings (alive while the list is; the array is GC-owned). nil or an
 * empty list: NULL and 0. Raises when a name is not a string. */
sio_slice_t *sl_lua_bind_rooms(lua_State *L, int idx, size_t *n);
/* Pushes slices as a Lua list of strings. */
void sl_lua_bind_push_rooms(lua_State *L, const sio_slice_t *v, size_t n);

/* An event's arguments as JSON text and binary attachments (malloc'd). */
typedef struct sl_lua_bind_args {
    sl_buf_t json;
    sio_packet_bin_t *atts;
    unsigned natts, cap;
} sl_lua_bind_args_t;

#define SL_LUA_BIND_ARGS_INIT {SL_BUF_INIT, NULL, 0, 0}

/* Encodes the Lua value at idx (binary values become attachments). 0, or
 * -1 with the reason in err. Never raises: call it after everything that
 * may raise, and free a with sl_lua_bind_args_free before raising. */
int sl_lua_bind_encode(lua_State *L, int idx, sl_lua_bind_args_t *a, char *err, size_t errlen);
/* Same for the n values from stack index first, as one array (nil: null):
 * an ack's arguments, with no table made for them. */
int sl_lua_bind_encode_values(lua_State *L, int first, int n, sl_lua_bind_args_t *a, char *err,
                              size_t errlen);
void sl_lua_bind_args_free(sl_lua_bind_args_t *a);

/* Pushes a table of a query string, keys and values %-decoded (+ is a
 * space), as Node's querystring does. */
void sl_lua_bind_push_query(lua_State *L, const char *q);

/* ---- options tables (lua_config.c) ------------------------------------------ */

/* One option of a table being read: see sl_config_cb. */
typedef int (*sl_lua_option_cb)(void *ud, const char *name, const char *value);
/* A key of an options table that is not a string. */
#define SL_LUA_OPTIONS_EKEY (-2)
/* Hands every option of the table at idx to cb, named prefix + key, the way
 * sio.configure and configuration files read them (lua_config.h): a nested
 * table of named fields as "{}" (a section turns on) then flattened
 * ("cors.origin"), lists joined by commas, cors.origin = true as '*'.
 * Returns 0, cb's nonzero, or
 * SL_LUA_OPTIONS_EKEY. cb may raise (it then leaves the walk). */
int sl_lua_options_walk(lua_State *L, int idx, const char *prefix, sl_lua_option_cb cb, void *ud);

/* ---- the other binding files ----------------------------------------------- */

/* Each adds its metatables and its constructors to the `core` table at
 * index core (functions get b as upvalue 1). Raise only on out-of-memory,
 * like the other setup functions. */
void sl_lua_http_open(sl_lua_bind_t *b, int core);     /* eio_mount */
void sl_lua_cluster_open(sl_lua_bind_t *b, int core);  /* core.adapter */
void sl_lua_emitter_open(sl_lua_bind_t *b, int core);  /* emitter_new */
void sl_lua_watch_open(sl_lua_bind_t *b, int core);    /* core.watch (lua_watch.c) */

/* The route handler of the app's HTTP routes (ud: the bind context), for
 * sl_server_add_route once the library is up. */
int sl_lua_http_route(sl_http_req_t *req, void *ud);

/* The sio_handler_t members lua_cluster.c answers (ud: the bind context):
 * what the other servers of a cluster send. */
void sl_lua_cluster_handler(sio_handler_t *h);
/* The members lua_watch.c answers: room and transport events for a
 * dashboard, while the app has turned watching on. */
void sl_lua_watch_handler(sio_handler_t *h);

#endif
