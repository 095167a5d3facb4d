/* L6 lua/lua_sio: Socket.IO and raw Engine.IO bound to Lua. See lua_sio.h.
 *
 *   sio_socket --data--> sock_binding {table ref, ud} --> Lua socket table
 *        ^                                   |             { _h = ud, ... }
 *        +------------- ud->s (NULLed when the socket is freed) <--+
 *
 * Lua holds sockets only through their userdata, whose pointer turns NULL
 * when the C socket goes, so a socket kept in a Lua table after its
 * disconnect is a "closed" object, never a dangling pointer. */
#include "lua/lua_sio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "lua/lua_client.h"
#include "lua/lua_crypto.h"
#include "lua/lua_json.h"
#include "cluster/redis_link.h"
#include "cluster/sio_redis.h"
#include "lua/lua_redis.h"
#include "lua/lua_fetch.h"
#include "lua/lua_rt.h"
#include "base/watch.h"

#define SOCK_MT "siolua.socket_handle"
#define NSP_MT "siolua.nsp_handle"
#define CONN_MT "siolua.eio_handle"
#define HTTP_MT "siolua.http_handle"
#define EMITTER_MT "siolua.emitter"

struct sl_app {
    uv_loop_t *loop;
    sl_app_option_cb set_option; /* sio.configure's: the options table */
    void *option_ud;
    sl_lua_t *rt;
    lua_State *L;
    sl_server_t *http;
    sio_server_t *sio;
    char app_dir[4096];
    int dispatch_ref;       /* table returned by api.lua */
    int eio_dispatch_ref;
    int started;
    int shutting_down;
    sl_watch_t *watch;
    sio_redis_t *redis;
};

typedef struct sock_ud {
    sio_socket_t *s;
} sock_ud_t;

typedef struct sock_binding {
    int ref;          /* the Lua socket table */
    sock_ud_t *ud;
    int *alive;       /* set during on_connecting: cleared if freed meanwhile */
} sock_binding_t;

typedef struct nsp_ud {
    sio_nsp_t *n;
} nsp_ud_t;

typedef struct conn_ud {
    eio_session_t *e;
} conn_ud_t;

typedef struct engine_binding {
    sl_app_t *app;
    int engine_ref;       /* the Lua engine table */
} engine_binding_t;

typedef struct conn_binding {
    int ref;              /* the Lua conn table */
    conn_ud_t *ud;
    unsigned opening : 1;      /* its "connection" handler is running */
    unsigned closed_early : 1; /* the session closed meanwhile */
} conn_binding_t;

static sl_app_t *app_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* ---- handles ------------------------------------------------------------ */

static sio_socket_t *check_socket(lua_State *L, int idx)
{
    sock_ud_t *u = luaL_checkudata(L, idx, SOCK_MT);
    return u->s; /* NULL once gone: callers treat it as "closed" */
}

static sio_nsp_t *check_nsp(lua_State *L, int idx)
{
    nsp_ud_t *u = luaL_checkudata(L, idx, NSP_MT);
    if (!u->n)
        luaL_error(L, "namespace handle is detached");
    return u->n;
}

static void push_nsp_handle(lua_State *L, sio_nsp_t *n)
{
    nsp_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->n = n;
    luaL_setmetatable(L, NSP_MT);
}

/* Pushes the Lua table of a socket, or nil when it has none (yet). */
static void push_socket_table(lua_State *L, sio_socket_t *s)
{
    sock_binding_t *b = sio_socket_data(s);
    if (b && b->ref != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref);
    else
        lua_pushnil(L);
}

/* Calls dispatch[name] with the nargs values on the stack (pops them) and
 * leaves nres results; errors are logged (one line) and give nils. */
static int call_dispatch(sl_app_t *app, int ref, const char *name, int nargs, int nres)
{
    lua_State *L = app->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_insert(L, -(nargs + 1));
    if (lua_pcall(L, nargs, nres, 0) != LUA_OK) {
        SL_ERROR("lua", "in %s: %s", name, lua_tostring(L, -1));
        lua_pop(L, 1);
        for (int i = 0; i < nres; i++)
            lua_pushnil(L);
        return -1;
    }
    return 0;
}

/* Every entry from C into Lua runs under one protected call: pushing
 * values allocates, and under the Lua memory cap an allocation can raise;
 * outside a pcall that would abort the process. */
typedef struct tramp {
    void (*run)(void *args);
    void *args;
} tramp_t;

static int tramp_cf(lua_State *L)
{
    tramp_t *t = lua_touserdata(L, 1);
    t->run(t->args);
    return 0;
}

static int protect(sl_app_t *app, void (*run)(void *), void *args)
{
    lua_State *L = app->L;
    int top = lua_gettop(L);
    tramp_t t = {run, args};
    lua_pushcfunction(L, tramp_cf);
    lua_pushlightuserdata(L, &t);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK)
        SL_ERROR("lua", "event dropped: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    lua_settop(L, top);
    return rc == LUA_OK ? 0 : -1;
}

/* ---- JSON helpers ------------------------------------------------------- */

typedef struct att_list {
    sio_packet_bin_t *v;
    unsigned n, cap;
} att_list_t;

static int collect_binary(void *ud, const char *data, size_t len)
{
    att_list_t *a = ud;
    if (a->n == a->cap) {
        unsigned cap = a->cap ? a->cap * 2 : 4;
        sio_packet_bin_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    a->v[a->n].data = copy;
    a->v[a->n].len = len;
    return (int)a->n++;
}

static void att_list_free(att_list_t *a)
{
    for (unsigned i = 0; i < a->n; i++)
        free((void *)a->v[i].data);
    free(a->v);
}

/* Encodes the Lua array at idx into a packet. Raises on unencodable values
 * (misuse), like sio.json.encode. */
static void build_out(lua_State *L, int idx, sio_packet_type_t type, const char *nsp,
                      int64_t ack_id, sio_out_t *out)
{
    sl_buf_t json = SL_BUF_INIT;
    att_list_t atts = {0};
    sl_lua_json_encode_opts_t eo = {collect_binary, &atts};
    char err[256];
    int rc = sl_lua_json_encode(L, idx, &json, &eo, err, sizeof err);
    if (rc >= 0)
        rc = sio_out_build(out, type, nsp, ack_id, json.data, json.len, atts.v, atts.n);
    else
        snprintf(err + strlen(err), sizeof err - strlen(err), "%s", "");
    sl_buf_free(&json);
    att_list_free(&atts);
    if (rc < 0)
        luaL_error(L, "cannot send: %s", rc == -EINVAL || rc == -ENOMEM ? err : "encoding failed");
}

static int64_t opt_ack_id(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return -1;
    lua_Integer id = luaL_checkinteger(L, idx);
    luaL_argcheck(L, id >= 0, idx, "ack id must be >= 0");
    return (int64_t)id;
}

/* ---- core: sockets ------------------------------------------------------ */

static int core_id(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_pushstring(L, s ? sio_socket_id(s) : "");
    return 1;
}

static int core_set_identity(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    const char *id = luaL_optstring(L, 2, NULL);
    const char *pid = luaL_optstring(L, 3, NULL);
    lua_pushboolean(L, s && sio_socket_set_identity(s, id, pid) == 0);
    return 1;
}

static int core_random_id(lua_State *L)
{
    char id[21];
    if (eio_random_id(id))
        return luaL_error(L, "no randomness from the OS");
    lua_pushstring(L, id);
    return 1;
}

static int core_recovery(lua_State *L)
{
    int on;
    uint32_t max_ms;
    sio_server_recovery(app_of(L)->sio, &on, &max_ms);
    lua_pushboolean(L, on);
    lua_pushinteger(L, max_ms);
    return 2;
}

static int core_accept(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_pushboolean(L, s && sio_socket_accept(s) == 0);
    return 1;
}

static int core_refuse(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    if (!s)
        return 0;
    sl_buf_t data = SL_BUF_INIT;
    if (!lua_isnoneornil(L, 3)) {
        char err[256];
        if (sl_lua_json_encode(L, 3, &data, NULL, err, sizeof err) < 0) {
            SL_WARN("lua", "connect error data not encodable: %s", err);
            sl_buf_reset(&data);
        }
    }
    sio_socket_refuse(s, msg, data.data, data.len);
    sl_buf_free(&data);
    return 0;
}

static void send_to_socket(lua_State *L, sio_packet_type_t type)
{
    sio_socket_t *s = check_socket(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t id = opt_ack_id(L, 3);
    if (!s || !sio_socket_connected(s)) {
        lua_pushboolean(L, 0);
        return;
    }
    sio_out_t out;
    build_out(L, 2, type, sio_nsp_name(sio_socket_nsp(s)), id, &out);
    int rc = sio_socket_send(s, &out);
    sio_out_release(&out);
    lua_pushboolean(L, rc == 0);
}

static int core_emit(lua_State *L)
{
    send_to_socket(L, SIO_PACKET_EVENT);
    return 1;
}

static int core_ack(lua_State *L)
{
    send_to_socket(L, SIO_PACKET_ACK);
    return 1;
}

static int core_join(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    size_t len;
    const char *room = luaL_checklstring(L, 2, &len);
    if (s && sio_socket_join(s, room, len) == -ENOMEM)
        return luaL_error(L, "out of memory");
    return 0;
}

static int core_leave(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    size_t len;
    const char *room = luaL_checklstring(L, 2, &len);
    if (s)
        sio_socket_leave(s, room, len);
    return 0;
}

static void push_room(const char *room, size_t len, void *ud)
{
    lua_State *L = ud;
    lua_pushlstring(L, room, len);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

static int core_rooms(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_newtable(L);
    if (s)
        sio_socket_each_room(s, push_room, L);
    return 1;
}

static int core_disconnect(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    if (s)
        sio_socket_disconnect(s, lua_toboolean(L, 2));
    return 0;
}

static int core_writable(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_pushboolean(L, s && sio_socket_writable(s));
    return 1;
}

static void push_handshake(lua_State *L, const sio_handshake_t *hs);

/* core.handshake(h): the socket's handshake table, built when the app
 * first reads socket.handshake (most sockets never do, and an eager table
 * of headers was a third of an idle connection's memory); nil once gone. */
static int core_handshake(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    if (!s)
        return 0;
    sio_handshake_t hs;
    sio_socket_handshake(s, &hs);
    push_handshake(L, &hs);
    return 1;
}

static int core_transport(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_pushstring(L, s ? sio_socket_transport(s) : "closed");
    return 1;
}

/* ---- core: namespaces and broadcasts ------------------------------------ */

static int core_of(lua_State *L)
{
    sl_app_t *app = app_of(L);
    const char *name = luaL_checkstring(L, 1);
    sio_nsp_t *n = sio_server_of(app->sio, name);
    if (!n)
        return luaL_error(L, "bad namespace name '%s'", name);
    push_nsp_handle(L, n);
    return 1;
}

static int core_nsp_detached(lua_State *L)
{
    push_nsp_handle(L, NULL);
    return 1;
}

static int core_nsp_bind(lua_State *L)
{
    nsp_ud_t *u = luaL_checkudata(L, 1, NSP_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!u->n)
        return 0;
    intptr_t old = (intptr_t)sio_nsp_data(u->n);
    if (old)
        luaL_unref(L, LUA_REGISTRYINDEX, (int)old);
    lua_pushvalue(L, 2);
    sio_nsp_set_data(u->n, (void *)(intptr_t)luaL_ref(L, LUA_REGISTRYINDEX));
    return 0;
}

/* Reads a Lua list of room names into slices (pointing into the Lua
 * strings, which the list keeps alive for the call). */
static sio_slice_t *read_rooms(lua_State *L, int idx, size_t *n)
{
    *n = 0;
    if (lua_isnoneornil(L, idx))
        return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    size_t len = lua_rawlen(L, idx);
    if (len == 0)
        return NULL;
    sio_slice_t *v = lua_newuserdatauv(L, len * sizeof *v, 0); /* GC-owned */
    for (size_t i = 0; i < len; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        v[i].p = lua_tolstring(L, -1, &v[i].len);
        if (!v[i].p)
            luaL_error(L, "room names must be strings");
        lua_pop(L, 1); /* the string stays alive in the list */
    }
    *n = len;
    return v;
}

typedef struct select_ctx {
    lua_State *L;
    const sio_out_t *out;
    int table_idx;   /* 0: no list wanted */
} select_ctx_t;

static void select_cb(sio_socket_t *s, void *ud)
{
    select_ctx_t *c = ud;
    if (c->out)
        sio_socket_send(s, c->out);
    if (c->table_idx) {
        push_socket_table(c->L, s);
        lua_rawseti(c->L, c->table_idx, (lua_Integer)lua_rawlen(c->L, c->table_idx) + 1);
    }
}

/* core.broadcast(nsp, rooms, except, flags, args[, ack_id]): encodes once,
 * writes to every selected socket here and, unless flags has LOCAL, hands
 * the event to the cluster adapter; returns the local recipient count, or
 * with an ack id the list of recipient sockets (they expect the ack; acks
 * stay local for now). flags: 1 volatile, 2 local. */
static int core_broadcast(lua_State *L)
{
    sio_nsp_t *n = check_nsp(L, 1);
    unsigned flags = (unsigned)luaL_optinteger(L, 4, 0);
    luaL_checktype(L, 5, LUA_TTABLE);
    int64_t id = opt_ack_id(L, 6); /* before read_rooms pushes anything */
    lua_settop(L, 6);
    size_t nr, ne;
    sio_slice_t *rooms = read_rooms(L, 2, &nr);
    sio_slice_t *except = read_rooms(L, 3, &ne);
    sio_target_t t = {rooms, nr, except, ne, (flags & SIO_FLAG_VOLATILE) ? 1u : 0u};
    if (id < 0) {
        sl_buf_t json = SL_BUF_INIT;
        att_list_t atts = {0};
        sl_lua_json_encode_opts_t eo = {collect_binary, &atts};
        char err[256];
        int rc = sl_lua_json_encode(L, 5, &json, &eo, err, sizeof err);
        long count = rc >= 0 ? sio_nsp_emit(n, &t, flags, json.data, json.len, atts.v, atts.n) : rc;
        sl_buf_free(&json);
        att_list_free(&atts);
        if (count < 0)
            return luaL_error(L, "cannot send: %s", rc < 0 ? err : "encoding failed");
        lua_pushinteger(L, (lua_Integer)count);
        return 1;
    }
    sio_out_t out;
    build_out(L, 5, SIO_PACKET_EVENT, sio_nsp_name(n), id, &out);
    select_ctx_t ctx = {L, &out, 0};
    lua_newtable(L);
    ctx.table_idx = lua_gettop(L);
    sio_nsp_select(n, &t, select_cb, &ctx);
    sio_out_release(&out);
    return 1;
}

static int core_select(lua_State *L)
{
    sio_nsp_t *n = check_nsp(L, 1);
    lua_settop(L, 3);
    size_t nr, ne;
    sio_slice_t *rooms = read_rooms(L, 2, &nr);
    sio_slice_t *except = read_rooms(L, 3, &ne);
    sio_target_t t = {rooms, nr, except, ne, 0};
    lua_newtable(L);
    select_ctx_t ctx = {L, NULL, lua_gettop(L)};
    sio_nsp_select(n, &t, select_cb, &ctx);
    return 1;
}

/* core.nsp_remove(h): a namespace made by a reload that failed goes away
 * (it has no socket yet: the reload ran in one go). */
static int core_nsp_remove(lua_State *L)
{
    nsp_ud_t *u = luaL_checkudata(L, 1, NSP_MT);
    if (!u->n)
        return 0;
    intptr_t ref = (intptr_t)sio_nsp_data(u->n);
    if (sio_server_remove_nsp(app_of(L)->sio, u->n) == 0) {
        if (ref)
            luaL_unref(L, LUA_REGISTRYINDEX, (int)ref);
        u->n = NULL;
    }
    return 0;
}

static int core_nsp_rooms(lua_State *L)
{
    sio_nsp_t *n = check_nsp(L, 1);
    sl_lua_json_new_array(L, 0);
    sio_nsp_each_room(n, push_room, L);
    return 1;
}

static int core_clients_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sio_server_client_count(app_of(L)->sio));
    return 1;
}

/* ---- core: options ------------------------------------------------------ */

void sl_app_set_lua_budget(sl_app_t *app, uint64_t instructions)
{
    sl_lua_set_budget(app->rt, instructions);
}

void sl_app_set_lua_memory(sl_app_t *app, size_t bytes) { sl_lua_set_memory_limit(app->rt, bytes); }

void sl_app_set_fetch_ca_file(sl_app_t *app, const char *path)
{
    char err[300];
    if (sl_lua_fetch_set_ca_file(app->rt, path, err, sizeof err))
        SL_ERROR("fetch", "fetchCaFile: %s", err);
}

/* Turns one Lua option value into the text form the option setters take;
 * tables become comma lists (transports, cors.origin). */
static const char *option_text(lua_State *L, int idx, char *buf, size_t cap)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, cap, "%lld", (long long)lua_tointeger(L, idx));
        else
            snprintf(buf, cap, "%.0f", lua_tonumber(L, idx));
        return buf;
    case LUA_TSTRING:
        return lua_tostring(L, idx);
    case LUA_TTABLE: {
        size_t o = 0;
        buf[0] = '\0';
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, idx); i++) {
            lua_rawgeti(L, idx, i);
            const char *s = lua_tostring(L, -1);
            if (s)
                o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "%s%s", o ? "," : "", s);
            lua_pop(L, 1);
        }
        return o < cap ? buf : NULL;
    }
    default:
        return NULL;
    }
}

/* Raises msg at the position of sio.configure's caller (main.lua:12:),
 * through the library's wrapper if it was called through it. */
static int configure_error(lua_State *L, sl_app_t *app, const char *msg)
{
    int level = 1;
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
        sl_lua_push_module(app->rt, L);
        lua_getfield(L, -1, "configure");
        if (lua_rawequal(L, -1, -3))
            level = 2;
        lua_pop(L, 3);
    }
    luaL_where(L, level);
    lua_pushfstring(L, "sio.configure: %s", msg);
    lua_concat(L, 2);
    return lua_error(L);
}

/* One option through the composition root's table (text form, as on the
 * command line); a Lua value with no text form goes as NULL. */
static void configure_set(lua_State *L, sl_app_t *app, const char *name, const char *value)
{
    char err[256];
    if (!app->set_option)
        configure_error(L, app, "options are not settable here");
    if (app->set_option(app->option_ud, name, value, err, sizeof err) != 0)
        configure_error(L, app, err);
}

static void configure_one(lua_State *L, sl_app_t *app, const char *name, int vidx)
{
    char buf[1024];
    /* Nested tables of named fields (cors, connectionStateRecovery): flatten
     * into "cors.origin" etc.; a list is a value. */
    if (lua_type(L, vidx) == LUA_TTABLE && lua_rawlen(L, vidx) == 0) {
        if (!strcmp(name, "connectionStateRecovery"))
            configure_set(L, app, name, "true");
        lua_pushnil(L);
        while (lua_next(L, vidx)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                char full[256];
                snprintf(full, sizeof full, "%s.%s", name, lua_tostring(L, -2));
                configure_one(L, app, full, lua_gettop(L));
            }
            lua_pop(L, 1);
        }
        return;
    }
    if (!strcmp(name, "cors.origin") && lua_isboolean(L, vidx)) {
        configure_set(L, app, name, lua_toboolean(L, vidx) ? "*" : "");
        return;
    }
    configure_set(L, app, name, option_text(L, vidx, buf, sizeof buf));
}

static int core_configure(lua_State *L)
{
    sl_app_t *app = app_of(L);
    if (app->started)
        return configure_error(L, app, "options are set before the server starts (in main.lua)");
    if (!lua_istable(L, 1))
        return configure_error(L, app, "expects a table of options");
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return configure_error(L, app, "option names are strings");
        configure_one(L, app, lua_tostring(L, -2), lua_gettop(L));
        lua_pop(L, 1);
    }
    return 0;
}

/* ---- core: coroutines --------------------------------------------------- */

/* ---- raw Engine.IO endpoints -------------------------------------------- */

static void eio_lua_open_unprotected(eio_session_t *e, const sl_http_req_t *req, void *ud)
{
    (void)req;
    engine_binding_t *eb = ud;
    sl_app_t *app = eb->app;
    lua_State *L = app->L;
    conn_binding_t *cb = calloc(1, sizeof *cb);
    if (!cb)
        return;
    cb->ref = LUA_NOREF;
    /* Known to the session before any Lua runs: a conn:close() inside the
     * "connection" handler then finds it (and is finished below). */
    eio_session_set_data(e, cb);
    cb->opening = 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, eb->engine_ref);
    cb->ud = lua_newuserdatauv(L, sizeof *cb->ud, 0);
    cb->ud->e = e;
    luaL_setmetatable(L, CONN_MT);
    lua_pushstring(L, eio_session_id(e));
    lua_pushstring(L, eio_session_transport(e));
    call_dispatch(app, app->eio_dispatch_ref, "open", 4, 1);
    cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    cb->opening = 0;
    if (cb->closed_early) {
        /* Closed during its own "connection" handler: tell Lua now. */
        lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
        lua_pushstring(L, "forced close");
        call_dispatch(app, app->eio_dispatch_ref, "close", 2, 0);
        luaL_unref(L, LUA_REGISTRYINDEX, cb->ref);
        free(cb);
    }
}

static void eio_lua_message_unprotected(eio_session_t *e, int binary, const char *data, size_t n, void *ud)
{
    engine_binding_t *eb = ud;
    conn_binding_t *cb = eio_session_data(e);
    if (!cb)
        return;
    lua_State *L = eb->app->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    if (binary)
        sl_lua_json_binary_new(L, data, n);
    else
        lua_pushlstring(L, data, n);
    call_dispatch(eb->app, eb->app->eio_dispatch_ref, "message", 2, 0);
}

static void eio_lua_close_unprotected(eio_session_t *e, const char *reason, void *ud)
{
    engine_binding_t *eb = ud;
    conn_binding_t *cb = eio_session_data(e);
    if (!cb)
        return;
    eio_session_set_data(e, NULL);
    if (cb->ud)
        cb->ud->e = NULL;
    if (cb->opening) {
        cb->closed_early = 1; /* the open path finishes it */
        return;
    }
    lua_State *L = eb->app->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    lua_pushstring(L, reason);
    call_dispatch(eb->app, eb->app->eio_dispatch_ref, "close", 2, 0);
    luaL_unref(L, LUA_REGISTRYINDEX, cb->ref);
    free(cb);
}

typedef struct eio_args {
    eio_session_t *e;
    const sl_http_req_t *req;
    int binary;
    const char *data;
    size_t n;
    void *ud;
} eio_args_t;

static void run_eio_open(void *a)
{
    eio_args_t *x = a;
    eio_lua_open_unprotected(x->e, x->req, x->ud);
}

static void run_eio_message(void *a)
{
    eio_args_t *x = a;
    eio_lua_message_unprotected(x->e, x->binary, x->data, x->n, x->ud);
}

static void run_eio_close(void *a)
{
    eio_args_t *x = a;
    eio_lua_close_unprotected(x->e, x->data, x->ud);
}

static void eio_lua_open(eio_session_t *e, const sl_http_req_t *req, void *ud)
{
    eio_args_t a = {e, req, 0, NULL, 0, ud};
    if (protect(((engine_binding_t *)ud)->app, run_eio_open, &a) != 0) {
        /* Lua could not take the connection (out of memory): drop it. */
        conn_binding_t *cb = eio_session_data(e);
        if (cb && cb->ref == LUA_NOREF) {
            eio_session_set_data(e, NULL);
            if (cb->ud)
                cb->ud->e = NULL;
            free(cb);
            if (eio_session_is_open(e))
                eio_session_close(e);
        }
    }
}

static void eio_lua_message(eio_session_t *e, int binary, const char *data, size_t n, void *ud)
{
    eio_args_t a = {e, NULL, binary, data, n, ud};
    protect(((engine_binding_t *)ud)->app, run_eio_message, &a);
}

static void eio_lua_close(eio_session_t *e, const char *reason, void *ud)
{
    eio_args_t a = {e, NULL, 0, reason, 0, ud};
    if (protect(((engine_binding_t *)ud)->app, run_eio_close, &a) != 0) {
        /* The binding must go even when Lua could not be told. */
        conn_binding_t *cb = eio_session_data(e);
        if (cb && !cb->opening) {
            eio_session_set_data(e, NULL);
            if (cb->ud)
                cb->ud->e = NULL;
            free(cb);
        }
    }
}

static const eio_handler_t eio_lua_handler = {
    .on_open = eio_lua_open,
    .on_message = eio_lua_message,
    .on_close = eio_lua_close,
};

static int core_eio_mount(lua_State *L)
{
    sl_app_t *app = app_of(L);
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (app->started)
        return luaL_error(L, "sio.engine: endpoints are mounted from main.lua, before the server starts");
    /* Same options as the Socket.IO endpoint (set so far), other path. */
    eio_options_t o = *eio_server_options(sio_server_eio(app->sio));
    if (eio_options_set_path(&o, path))
        return luaL_error(L, "sio.engine: bad path '%s'", path);
    engine_binding_t *eb = lua_newuserdatauv(L, sizeof *eb, 0); /* anchored below */
    eb->app = app;
    lua_pushvalue(L, 3);
    eb->engine_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_ref(L, LUA_REGISTRYINDEX); /* the binding lives as long as the state */
    eio_server_t *e = eio_server_new(app->loop, &o, &eio_lua_handler, eb);
    if (!e || sl_server_mount_eio_owned(app->http, e))
        return luaL_error(L, "sio.engine: cannot mount '%s'", path);
    return 0;
}

static int core_eio_send(lua_State *L)
{
    conn_ud_t *u = luaL_checkudata(L, 1, CONN_MT);
    if (!u->e) {
        lua_pushboolean(L, 0);
        return 1;
    }
    size_t n;
    const char *data;
    int binary = sl_lua_json_is_binary(L, 2);
    if (binary)
        data = sl_lua_json_binary_data(L, 2, &n);
    else
        data = luaL_checklstring(L, 2, &n);
    lua_pushboolean(L, eio_session_send(u->e, binary, data, n) == 0);
    return 1;
}

static int core_eio_close(lua_State *L)
{
    conn_ud_t *u = luaL_checkudata(L, 1, CONN_MT);
    if (u->e)
        eio_session_close(u->e);
    return 0;
}

/* ---- HTTP routes in Lua -------------------------------------------------- */

static void push_query_table(lua_State *L, const char *q);

/* The request held for a Lua route until its handler answers; NULL once
 * answered or once the client has gone. */
typedef struct http_ud {
    sl_http_req_t *req;
    lua_State *L;
    int ref;          /* anchors this userdata while req is pending */
} http_ud_t;

/* The request is answered or gone: the handle may be collected now. */
static void http_ud_release(http_ud_t *u)
{
    u->req = NULL;
    if (u->ref != LUA_NOREF) {
        int ref = u->ref;
        u->ref = LUA_NOREF;
        luaL_unref(u->L, LUA_REGISTRYINDEX, ref);
    }
}

static void http_req_aborted(sl_http_req_t *req, void *ud)
{
    (void)req;
    http_ud_release(ud); /* the HTTP layer frees req */
}

/* core.http_respond(h, status, headers, body) -> true, or false when the
 * request was already answered or its client is gone. */
static int core_http_respond(lua_State *L)
{
    http_ud_t *u = luaL_checkudata(L, 1, HTTP_MT);
    int status = (int)luaL_checkinteger(L, 2);
    luaL_argcheck(L, status >= 100 && status <= 999, 2, "bad HTTP status");
    size_t len = 0;
    const char *body = luaL_optlstring(L, 4, "", &len);
    if (!u->req) {
        lua_pushboolean(L, 0);
        return 1;
    }
    sl_http_req_t *req = u->req;
    const char *ctype = NULL;
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
            if (k && v) {
                if (!strcasecmp(k, "content-type"))
                    ctype = v; /* stays alive: the table holds it */
                else if (strcasecmp(k, "content-length") && strcasecmp(k, "connection") &&
                         sl_http_resp_header(req, k, v) == -EINVAL)
                    SL_WARN("http", "header %s dropped: names and values may not hold CR or LF", k);
            }
            lua_pop(L, 1);
        }
    }
    http_ud_release(u);
    req->on_abort = NULL;
    sl_http_respond(req, status, ctype, body, len);
    lua_pushboolean(L, 1);
    return 1;
}

static void push_headers(lua_State *L, const sl_http_req_t *req)
{
    lua_createtable(L, 0, req->nheaders);
    for (int i = 0; i < req->nheaders; i++) {
        char name[128];
        size_t n = 0;
        for (const char *p = req->headers[i].name; *p && n + 1 < sizeof name; p++)
            name[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        name[n] = '\0';
        lua_pushstring(L, req->headers[i].value);
        lua_setfield(L, -2, name);
    }
}

/* A route handler of the server: asks Lua for a route matching the
 * request; when there is one, hands the request to it (a new handler
 * coroutine) and answers later. */
static int lua_http_route_unprotected(sl_http_req_t *req, void *ud, http_ud_t **handle)
{
    sl_app_t *app = ud;
    lua_State *L = app->L;
    lua_pushstring(L, req->method);
    lua_pushstring(L, req->path);
    call_dispatch(app, app->dispatch_ref, "http_match", 2, 2);
    if (lua_isnil(L, -2)) {
        lua_pop(L, 2);
        return 0;
    }
    /* stack: handler, params */
    if (req->body_too_large) {
        lua_pop(L, 2);
        sl_http_respond_text(req, 413, "{\"error\":\"payload too large\"}");
        return 1;
    }
    http_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->req = NULL;
    u->L = L;
    u->ref = LUA_NOREF;
    luaL_setmetatable(L, HTTP_MT);
    /* Anchored while the request is pending: the C side points at it (and
     * the caller may have to answer through it if Lua fails later on). */
    lua_pushvalue(L, -1);
    u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    u->req = req;
    *handle = u;
    req->on_abort = http_req_aborted;
    req->abort_ud = u;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, req->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, req->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, req->url);
    lua_setfield(L, -2, "url");
    push_query_table(L, req->query);
    lua_setfield(L, -2, "query");
    push_headers(L, req);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, req->body.data ? req->body.data : "", req->body.len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, req->address);
    lua_setfield(L, -2, "address");
    /* stack: handler, params, h, reqtable -> http_run(handler, params, h, req) */
    if (call_dispatch(app, app->dispatch_ref, "http_run", 4, 0) != 0 && u->req) {
        /* No handler could start (e.g. out of Lua memory): answer here. */
        sl_http_req_t *r = u->req;
        http_ud_release(u);
        r->on_abort = NULL;
        sl_http_respond_text(r, 500, "{\"error\":\"internal server error\"}");
    }
    return 1;
}

typedef struct route_args {
    sl_http_req_t *req;
    void *ud;
    int handled;
    http_ud_t *handle;
} route_args_t;

static void run_http_route(void *a)
{
    route_args_t *x = a;
    x->handled = lua_http_route_unprotected(x->req, x->ud, &x->handle);
}

static int lua_http_route(sl_http_req_t *req, void *ud)
{
    route_args_t a = {req, ud, 0, NULL};
    if (protect(ud, run_http_route, &a) != 0) {
        /* Lua failed (out of memory) before a handler took the request:
         * answer here. The handle, when set, is anchored until released. */
        if (a.handle && !a.handle->req)
            return 1; /* answered meanwhile */
        if (a.handle)
            http_ud_release(a.handle);
        req->on_abort = NULL;
        sl_http_respond_text(req, 500, "{\"error\":\"internal server error\"}");
        return 1;
    }
    return a.handled;
}

/* ---- events from the Socket.IO layer ------------------------------------ */

static void push_query_table(lua_State *L, const char *q)
{
    lua_newtable(L);
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', seg);
        size_t kl = eq ? (size_t)(eq - q) : seg;
        luaL_Buffer b;
        /* key and value %-decoded (+ is a space), as Node's querystring. */
        for (int part = 0; part < 2; part++) {
            const char *p = part ? (eq ? eq + 1 : q + seg) : q;
            const char *end = part ? q + seg : q + kl;
            luaL_buffinit(L, &b);
            for (; p < end; p++) {
                int c = (unsigned char)*p;
                if (c == '+')
                    c = ' ';
                else if (c == '%' && end - p > 2) {
                    char hex[3] = {p[1], p[2], 0};
                    char *e;
                    long v = strtol(hex, &e, 16);
                    if (!*e) {
                        c = (int)v;
                        p += 2;
                    }
                }
                luaL_addchar(&b, (char)c);
            }
            luaL_pushresult(&b);
        }
        if (kl)
            lua_rawset(L, -3);
        else
            lua_pop(L, 2);
        q += seg;
        if (*q == '&')
            q++;
    }
}

static void push_handshake(lua_State *L, const sio_handshake_t *hs)
{
    lua_createtable(L, 0, 9);
    lua_createtable(L, 0, hs->nheaders);
    int xdomain = 0;
    const char *name = hs->headers;
    for (int i = 0; i < hs->nheaders; i++, name = sio_handshake_next(name)) {
        lua_pushstring(L, sio_handshake_value(name));
        lua_setfield(L, -2, name);
        xdomain |= !strcmp(name, "origin");
    }
    lua_setfield(L, -2, "headers");
    push_query_table(L, hs->query);
    lua_setfield(L, -2, "query");
    lua_pushstring(L, hs->address);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, hs->url);
    lua_setfield(L, -2, "url");
    lua_pushboolean(L, hs->secure);
    lua_setfield(L, -2, "secure");
    lua_pushinteger(L, (lua_Integer)hs->time_ms);
    lua_setfield(L, -2, "issued");
    char when[64];
    time_t t = (time_t)(hs->time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
    lua_pushstring(L, when);
    lua_setfield(L, -2, "time");
    lua_pushboolean(L, xdomain);
    lua_setfield(L, -2, "xdomain");
}

static void lua_on_connecting_unprotected(sio_socket_t *s, const char *auth, size_t auth_len, void *ud, int *alive)
{
    sl_app_t *app = ud;
    lua_State *L = app->L;
    sock_binding_t *b = calloc(1, sizeof *b);
    if (!b) {
        sio_socket_refuse(s, "server error", NULL, 0);
        return;
    }
    b->ref = LUA_NOREF;
    sio_socket_set_data(s, b);
    b->ud = lua_newuserdatauv(L, sizeof *b->ud, 0);
    b->ud->s = s;
    luaL_setmetatable(L, SOCK_MT);
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)(intptr_t)sio_nsp_data(sio_socket_nsp(s)));
    char err[128];
    if (sl_lua_json_decode(L, auth, auth_len, NULL, err, sizeof err) != 0)
        sl_lua_json_new_object(L, 0);
    /* The middlewares may refuse, which frees s and b, before this returns:
     * on_free clears *alive (it lives in the caller's frame, which outlives
     * a longjmp out of here) so nothing touches them then. */
    b->alive = alive;
    int failed = call_dispatch(app, app->dispatch_ref, "connecting", 3, 1) || !lua_istable(L, -1);
    if (!*alive) {
        lua_pop(L, 1);
        return;
    }
    b->alive = NULL;
    if (failed) {
        lua_pop(L, 1);
        sio_socket_refuse(s, "server error", NULL, 0);
        return;
    }
    b->ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void lua_on_packet_unprotected(sio_socket_t *s, const sio_packet_t *pkt, const sio_packet_bin_t *atts,
                          unsigned natts, void *ud)
{
    sl_app_t *app = ud;
    lua_State *L = app->L;
    int is_ack = pkt->type == SIO_PACKET_ACK || pkt->type == SIO_PACKET_BINARY_ACK;
    push_socket_table(L, s);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    char err[160];
    sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)atts, natts};
    if (sl_lua_json_decode(L, pkt->payload, pkt->payload_len, natts ? &o : NULL, err, sizeof err)) {
        lua_pop(L, 1);
        SL_INFOF("sio", SL_LOG_FIELDS("socket", sio_socket_id(s), "nsp", sio_nsp_name(sio_socket_nsp(s))),
                 "socket %s: undecodable arguments (%s), closing", sio_socket_id(s), err);
        sio_socket_disconnect(s, 1);
        return;
    }
    if (!is_ack && (lua_rawgeti(L, -1, 1), lua_type(L, -1)) != LUA_TSTRING) {
        /* Node allows numeric event names; they are keys as strings. */
        lua_Integer n = lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_pushfstring(L, "%I", n);
        lua_rawseti(L, -2, 1);
    } else if (!is_ack) {
        lua_pop(L, 1);
    }
    if (pkt->has_ack)
        lua_pushinteger(L, (lua_Integer)pkt->ack_id);
    else
        lua_pushnil(L);
    call_dispatch(app, app->dispatch_ref, is_ack ? "ack" : "event", 3, 0);
}

static void dispatch_leaving(sl_app_t *app, sio_socket_t *s, const char *what, const char *reason)
{
    push_socket_table(app->L, s);
    if (lua_isnil(app->L, -1)) {
        lua_pop(app->L, 1);
        return;
    }
    lua_pushstring(app->L, reason);
    call_dispatch(app, app->dispatch_ref, what, 2, 0);
}

static void lua_on_disconnecting_unprotected(sio_socket_t *s, const char *reason, void *ud)
{
    dispatch_leaving(ud, s, "disconnecting", reason);
}

static void lua_on_disconnect_unprotected(sio_socket_t *s, const char *reason, void *ud)
{
    dispatch_leaving(ud, s, "disconnect", reason);
}

static void lua_on_free(sio_socket_t *s, void *ud)
{
    sl_app_t *app = ud;
    sock_binding_t *b = sio_socket_data(s);
    if (!b)
        return;
    sio_socket_set_data(s, NULL);
    if (b->alive)
        *b->alive = 0;
    if (b->ud)
        b->ud->s = NULL;
    if (b->ref != LUA_NOREF) {
        lua_rawgeti(app->L, LUA_REGISTRYINDEX, b->ref);
        call_dispatch(app, app->dispatch_ref, "free", 1, 0);
        luaL_unref(app->L, LUA_REGISTRYINDEX, b->ref);
    }
    free(b);
}

static sio_nsp_t *lua_resolve_nsp_unprotected(sio_server_t *srv, const char *name, const char *auth,
                                  size_t auth_len, void *ud)
{
    (void)srv;
    sl_app_t *app = ud;
    char err[128];
    lua_pushstring(app->L, name);
    if (sl_lua_json_decode(app->L, auth, auth_len, NULL, err, sizeof err) != 0)
        sl_lua_json_new_object(app->L, 0);
    call_dispatch(app, app->dispatch_ref, "resolve", 2, 1);
    int found = lua_istable(app->L, -1);
    lua_pop(app->L, 1);
    return found ? sio_server_find_nsp(app->sio, name) : NULL;
}

typedef struct sio_args {
    sio_socket_t *s;
    const char *text;
    size_t len;
    const sio_packet_t *pkt;
    const sio_packet_bin_t *atts;
    unsigned natts;
    void *ud;
    int *alive;
    sio_server_t *srv;
    sio_nsp_t *result;
} sio_args_t;

static void run_connecting(void *a)
{
    sio_args_t *x = a;
    lua_on_connecting_unprotected(x->s, x->text, x->len, x->ud, x->alive);
}

static void lua_on_connecting(sio_socket_t *s, const char *auth, size_t auth_len, void *ud)
{
    int alive = 1;
    sio_args_t a = {s, auth, auth_len, NULL, NULL, 0, ud, &alive, NULL, NULL};
    if (protect(ud, run_connecting, &a) != 0 && alive) {
        sock_binding_t *b = sio_socket_data(s);
        if (b)
            b->alive = NULL;
        if (!b || b->ref == LUA_NOREF)
            sio_socket_refuse(s, "server error", NULL, 0);
    }
}

static void run_packet(void *a)
{
    sio_args_t *x = a;
    lua_on_packet_unprotected(x->s, x->pkt, x->atts, x->natts, x->ud);
}

static void lua_on_packet(sio_socket_t *s, const sio_packet_t *pkt, const sio_packet_bin_t *atts,
                          unsigned natts, void *ud)
{
    sio_args_t a = {s, NULL, 0, pkt, atts, natts, ud, NULL, NULL, NULL};
    protect(ud, run_packet, &a);
}

static void run_disconnecting(void *a)
{
    sio_args_t *x = a;
    lua_on_disconnecting_unprotected(x->s, x->text, x->ud);
}

static void run_disconnect(void *a)
{
    sio_args_t *x = a;
    lua_on_disconnect_unprotected(x->s, x->text, x->ud);
}

static void lua_on_disconnecting(sio_socket_t *s, const char *reason, void *ud)
{
    sio_args_t a = {s, reason, 0, NULL, NULL, 0, ud, NULL, NULL, NULL};
    protect(ud, run_disconnecting, &a);
}

static void lua_on_disconnect(sio_socket_t *s, const char *reason, void *ud)
{
    sio_args_t a = {s, reason, 0, NULL, NULL, 0, ud, NULL, NULL, NULL};
    protect(ud, run_disconnect, &a);
}

static void run_resolve(void *a)
{
    sio_args_t *x = a;
    x->result = lua_resolve_nsp_unprotected(x->srv, x->text, (const char *)x->atts, x->len, x->ud);
}

static sio_nsp_t *lua_resolve_nsp(sio_server_t *srv, const char *name, const char *auth,
                                  size_t auth_len, void *ud)
{
    sio_args_t a = {NULL, name, auth_len, NULL, (const sio_packet_bin_t *)auth, 0, ud, NULL, srv, NULL};
    protect(ud, run_resolve, &a);
    return a.result;
}

static const sio_handler_t lua_sio_handler = {
    .resolve_nsp = lua_resolve_nsp,
    .on_connecting = lua_on_connecting,
    .on_packet = lua_on_packet,
    .on_disconnecting = lua_on_disconnecting,
    .on_disconnect = lua_on_disconnect,
    .on_free = lua_on_free,
};

/* ---- setup -------------------------------------------------------------- */

static int core_remote_fetch(lua_State *L);
static int core_remote_all_rooms(lua_State *L);
static int core_remote_emit(lua_State *L);
static int core_remote_rooms(lua_State *L);
static int core_remote_disconnect(lua_State *L);
static int core_server_side_ack(lua_State *L);
static int core_clustered(lua_State *L);
static int core_remote_broadcast_ack(lua_State *L);
static int core_broadcast_count(lua_State *L);
static int core_broadcast_ack(lua_State *L);
static int core_session_put(lua_State *L);
static int core_session_take(lua_State *L);
static int core_emitter_new(lua_State *L);
static int core_emitter_publish(lua_State *L);
static int emitter_gc(lua_State *L);

static const luaL_Reg core_funcs[] = {
    {"id", core_id},
    {"accept", core_accept},
    {"set_identity", core_set_identity},
    {"random_id", core_random_id},
    {"recovery", core_recovery},
    {"refuse", core_refuse},
    {"emit", core_emit},
    {"ack", core_ack},
    {"join", core_join},
    {"leave", core_leave},
    {"rooms", core_rooms},
    {"disconnect", core_disconnect},
    {"writable", core_writable},
    {"transport", core_transport},
    {"handshake", core_handshake},
    {"of", core_of},
    {"nsp_detached", core_nsp_detached},
    {"nsp_bind", core_nsp_bind},
    {"nsp_rooms", core_nsp_rooms},
    {"nsp_remove", core_nsp_remove},
    {"broadcast", core_broadcast},
    {"select", core_select},
    {"clients_count", core_clients_count},
    {"configure", core_configure},
    {"spawn", sl_lua_l_spawn},
    {"waker", sl_lua_l_waker},
    {"eio_mount", core_eio_mount},
    {"eio_send", core_eio_send},
    {"eio_close", core_eio_close},
    {"http_respond", core_http_respond},
    {"remote_fetch", core_remote_fetch},
    {"remote_all_rooms", core_remote_all_rooms},
    {"remote_emit", core_remote_emit},
    {"remote_rooms", core_remote_rooms},
    {"remote_disconnect", core_remote_disconnect},
    {"server_side_ack", core_server_side_ack},
    {"clustered", core_clustered},
    {"remote_broadcast_ack", core_remote_broadcast_ack},
    {"broadcast_count", core_broadcast_count},
    {"broadcast_ack", core_broadcast_ack},
    {"session_put", core_session_put},
    {"session_take", core_session_take},
    {"emitter_new", core_emitter_new},
    {"emitter_publish", core_emitter_publish},
    {NULL, NULL},
};

static int sock_tostring(lua_State *L)
{
    sock_ud_t *u = luaL_checkudata(L, 1, SOCK_MT);
    lua_pushfstring(L, "socket handle %s", u->s ? sio_socket_id(u->s) : "(closed)");
    return 1;
}

static void create_metatables(lua_State *L)
{
    luaL_newmetatable(L, SOCK_MT);
    lua_pushcfunction(L, sock_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_newmetatable(L, NSP_MT);
    lua_pop(L, 1);
    luaL_newmetatable(L, CONN_MT);
    lua_pop(L, 1);
    luaL_newmetatable(L, HTTP_MT);
    lua_pop(L, 1);
    luaL_newmetatable(L, EMITTER_MT);
    lua_pushcfunction(L, emitter_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

/* require("siolua.api")(sio, core) -> dispatch, eio_dispatch */
static int open_api(sl_app_t *app)
{
    lua_State *L = app->L;
    lua_getglobal(L, "require");
    lua_pushstring(L, "siolua.api");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        SL_ERROR("lua", "cannot load the siolua library: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    sl_lua_push_module(app->rt, L);
    lua_newtable(L); /* core */
    lua_pushlightuserdata(L, app);
    luaL_setfuncs(L, core_funcs, 1);
    luaL_requiref(L, "siolua.json", luaopen_siolua_json, 0);
    lua_setfield(L, -2, "json");
    sl_lua_crypto_push(L);
    lua_setfield(L, -2, "crypto");
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        SL_ERROR("lua", "cannot start the siolua library: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    app->eio_dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    app->dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

sl_app_t *sl_app_new(uv_loop_t *loop, sl_server_t *http, const char *app_dir,
                     const char *lib_dir, const eio_options_t *eopts,
                     const sio_options_t *sopts, sl_app_option_cb set_option, void *option_ud)
{
    sl_app_t *app = calloc(1, sizeof *app);
    if (!app)
        return NULL;
    app->loop = loop;
    app->set_option = set_option;
    app->option_ud = option_ud;
    app->http = http;
    snprintf(app->app_dir, sizeof app->app_dir, "%s", app_dir);
    app->sio = sio_server_new(loop, eopts, sopts, &lua_sio_handler, app);
    app->rt = app->sio ? sl_lua_new(loop, app_dir, lib_dir) : NULL;
    if (!app->rt) {
        sio_server_free(app->sio);
        free(app);
        return NULL;
    }
    app->L = sl_lua_state(app->rt);
    create_metatables(app->L);
    sl_lua_client_open(app->rt, app->L);
    sl_lua_redis_open(app->rt);
    sl_lua_fetch_open(app->rt);
    if (open_api(app)) {
        sl_app_free(app);
        return NULL;
    }
    sl_server_mount_eio(http, sio_server_eio(app->sio));
    sl_server_add_route(http, lua_http_route, app);
    return app;
}

int sl_app_load(sl_app_t *app)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/main.lua", app->app_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        SL_WARN("main", "%s not found: serving static files only", path);
        return 0;
    }
    fclose(f);
    return sl_lua_run_file(app->rt, path);
}

void sl_app_start(sl_app_t *app) { app->started = 1; }

/* Pushes dispatch[name]. */
static void push_dispatch(sl_app_t *app, const char *name)
{
    lua_rawgeti(app->L, LUA_REGISTRYINDEX, app->dispatch_ref);
    lua_getfield(app->L, -1, name);
    lua_remove(app->L, -2);
}

/* All or nothing (docs/hot-reload.md). Compile first: a syntax error
 * changes nothing. Then three protected calls, each with a fresh
 * instruction budget: set the old registrations aside, run the new
 * main.lua, then commit (rebind the sockets) or roll back. */
int sl_app_reload(sl_app_t *app)
{
    lua_State *L = app->L;
    char path[4200];
    snprintf(path, sizeof path, "%s/main.lua", app->app_dir);
    if (luaL_loadfile(L, path) != LUA_OK) {
        SL_ERROR("reload", "reload failed, the previous version keeps serving: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    push_dispatch(app, "reload_begin");
    lua_pushstring(L, app->app_dir);
    if (sl_lua_pcall(app->rt, L, 1, 0, "reload") != 0) {
        lua_pop(L, 1); /* the chunk */
        push_dispatch(app, "reload_rollback");
        sl_lua_pcall(app->rt, L, 0, 0, "reload rollback");
        return -1;
    }
    /* Run the chunk (below) through pcall in Lua so an ordinary error comes
     * back as a value for one log line of ours; what pcall can't catch (the
     * instruction budget) is logged by sl_lua_pcall, in one line too. */
    static const char runner[] =
        "local chunk = ... local ok, err = pcall(chunk) if not ok then return tostring(err) end";
    if (luaL_loadstring(L, runner) != LUA_OK) {
        lua_pop(L, 2);
        return -1;
    }
    lua_insert(L, -2);
    int failed = sl_lua_pcall(app->rt, L, 1, 1, "reload") != 0;
    if (failed) {
        /* Already logged with its place by sl_lua_pcall. */
        SL_ERROR("reload", "reload failed, the previous version keeps serving (%s: see the error above)",
                 path);
    } else {
        if (!lua_isnil(L, -1)) {
            SL_ERROR("reload", "reload failed, the previous version keeps serving: %s",
                     lua_tostring(L, -1));
            failed = 1;
        }
        lua_pop(L, 1);
    }
    if (failed) {
        push_dispatch(app, "reload_rollback");
        sl_lua_pcall(app->rt, L, 0, 0, "reload rollback");
        return -1;
    }
    push_dispatch(app, "reload_commit");
    if (sl_lua_pcall(app->rt, L, 0, 1, "reload commit") != 0)
        return -1;
    SL_INFO("reload", "%s reloaded; %lld connected sockets now run the new handlers", path,
            (long long)lua_tointeger(L, -1));
    lua_pop(L, 1);
    return 0;
}

static void app_files_changed(void *ud)
{
    sl_app_t *app = ud;
    sl_app_reload(app);
    sl_watch_rescan(app->watch);
}

/* fetchSockets answers for other nodes: {id, handshake, rooms, data}. */
static void lua_socket_json_unprotected(sio_socket_t *s, sl_buf_t *out, void *ud)
{
    sl_app_t *app = ud;
    lua_State *L = app->L;
    int top = lua_gettop(L);
    sl_lua_json_new_object(L, 4);
    lua_pushstring(L, sio_socket_id(s));
    lua_setfield(L, -2, "id");
    push_socket_table(L, s);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "handshake");
        lua_setfield(L, -3, "handshake");
        lua_getfield(L, -1, "data");
        lua_setfield(L, -3, "data");
    }
    lua_pop(L, 1);
    sl_lua_json_new_array(L, 4);
    sio_socket_each_room(s, push_room, L);
    lua_setfield(L, -2, "rooms");
    char err[128];
    size_t before = out->len;
    if (sl_lua_json_encode(L, -1, out, NULL, err, sizeof err) < 0) {
        out->len = before;
        sl_buf_appendf(out, "{\"id\":\"%s\",\"handshake\":{},\"rooms\":[],\"data\":{}}",
                       sio_socket_id(s));
    }
    lua_settop(L, top);
}

/* serverSideEmit from another server: dispatch.server_side_emit(nsp, args,
 * request_id or nil). */
static void lua_server_side_emit_unprotected(sio_nsp_t *nsp, const char *args, size_t len,
                                 const char *request_id, void *ud)
{
    sl_app_t *app = ud;
    lua_State *L = app->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)(intptr_t)sio_nsp_data(nsp));
    char err[128];
    if (sl_lua_json_decode(L, args, len, NULL, err, sizeof err) != 0) {
        lua_pop(L, 1);
        return;
    }
    if (request_id)
        lua_pushstring(L, request_id);
    else
        lua_pushnil(L);
    call_dispatch(app, app->dispatch_ref, "server_side_emit", 3, 0);
}

typedef struct adapter_args {
    sio_socket_t *s;
    sl_buf_t *out;
    sio_nsp_t *nsp;
    const char *args;
    size_t len;
    const char *request_id;
    void *ud;
} adapter_args_t;

static void run_socket_json(void *a)
{
    adapter_args_t *x = a;
    lua_socket_json_unprotected(x->s, x->out, x->ud);
}

static void lua_socket_json(sio_socket_t *s, sl_buf_t *out, void *ud)
{
    adapter_args_t a = {s, out, NULL, NULL, 0, NULL, ud};
    size_t before = out->len;
    if (protect(ud, run_socket_json, &a) != 0) {
        out->len = before;
        sl_buf_appendf(out, "{\"id\":\"%s\",\"handshake\":{},\"rooms\":[],\"data\":{}}",
                       sio_socket_id(s));
    }
}

static void run_server_side_emit(void *a)
{
    adapter_args_t *x = a;
    lua_server_side_emit_unprotected(x->nsp, x->args, x->len, x->request_id, x->ud);
}

static void lua_server_side_emit(sio_nsp_t *nsp, const char *args, size_t len,
                                 const char *request_id, void *ud)
{
    adapter_args_t a = {NULL, NULL, nsp, args, len, request_id, ud};
    protect(ud, run_server_side_emit, &a);
}

/* Another server's broadcast with acks: dispatch.broadcast_with_ack(nsp,
 * args, rooms, except, request_id, timeout_ms). */
typedef struct bwa_args {
    sio_nsp_t *nsp;
    const sio_target_t *t;
    const char *args;
    size_t len;
    const sio_packet_bin_t *atts;
    unsigned natts;
    const char *request_id;
    unsigned timeout_ms;
    sl_app_t *app;
} bwa_args_t;

static void push_slices(lua_State *L, const sio_slice_t *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushlstring(L, v[i].p, v[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Pushes what both kinds of broadcast from another server give Lua: the
 * namespace table, the decoded arguments, rooms, except. 0, or -1 (nothing
 * pushed) when the arguments don't decode. */
static int push_remote_broadcast(bwa_args_t *x)
{
    lua_State *L = x->app->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)(intptr_t)sio_nsp_data(x->nsp));
    char err[128];
    sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)x->atts, x->natts};
    if (sl_lua_json_decode(L, x->args, x->len, x->natts ? &o : NULL, err, sizeof err) != 0) {
        lua_pop(L, 1);
        return -1;
    }
    push_slices(L, x->t->rooms, x->t->nrooms);
    push_slices(L, x->t->except, x->t->nexcept);
    return 0;
}

static void run_broadcast_with_ack(void *a)
{
    bwa_args_t *x = a;
    lua_State *L = x->app->L;
    if (push_remote_broadcast(x) != 0)
        return;
    lua_pushstring(L, x->request_id);
    lua_pushinteger(L, x->timeout_ms);
    call_dispatch(x->app, x->app->dispatch_ref, "broadcast_with_ack", 6, 0);
}

static void lua_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t, const char *args,
                                   size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                   const char *request_id, unsigned timeout_ms, void *ud)
{
    bwa_args_t a = {nsp, t, args, len, atts, natts, request_id, timeout_ms, ud};
    protect(ud, run_broadcast_with_ack, &a);
}

/* A broadcast from another server, already delivered here: logged for
 * connection state recovery (dispatch.remote_broadcast). */
static void run_remote_broadcast(void *a)
{
    bwa_args_t *x = a;
    if (push_remote_broadcast(x) != 0)
        return;
    call_dispatch(x->app, x->app->dispatch_ref, "remote_broadcast", 4, 0);
}

static void lua_remote_broadcast(sio_nsp_t *nsp, const sio_target_t *t, const char *args,
                                 size_t len, const sio_packet_bin_t *atts, unsigned natts, void *ud)
{
    bwa_args_t a = {nsp, t, args, len, atts, natts, NULL, 0, ud};
    protect(ud, run_remote_broadcast, &a);
}

/* core.session_put(pid, value, ttl_ms): keeps a recovery session in Redis. */
static int core_session_put(lua_State *L)
{
    sl_app_t *app = app_of(L);
    const char *pid = luaL_checkstring(L, 1);
    lua_Integer ttl = luaL_checkinteger(L, 3);
    if (!app->redis)
        return 0;
    sl_buf_t json = SL_BUF_INIT;
    char err[256];
    if (sl_lua_json_encode(L, 2, &json, NULL, err, sizeof err) >= 0)
        sio_redis_session_put(app->redis, pid, json.data, json.len, (unsigned)ttl);
    else
        SL_WARN("lua", "recovery session not kept in redis: %s", err);
    sl_buf_free(&json);
    return 0;
}

typedef struct take_ctx {
    sl_lua_wait_t *w;
    const char *json;
    size_t len;
} take_ctx_t;

static void take_cancelled(void *ud) { ((take_ctx_t *)ud)->w = NULL; }

static int push_taken(lua_State *L, void *ud)
{
    take_ctx_t *t = ud;
    char err[128];
    if (!t->json || sl_lua_json_decode(L, t->json, t->len, NULL, err, sizeof err) != 0)
        lua_pushnil(L);
    return 1;
}

static void session_taken(const char *json, size_t len, void *ud)
{
    take_ctx_t *t = ud;
    if (t->w) {
        t->json = json;
        t->len = len;
        sl_lua_wait_t *w = t->w;
        t->w = NULL;
        sl_lua_wait_resume(w, push_taken, t);
    }
    free(t);
}

/* core.session_take(pid) -> the session table or nil (waits for Redis). */
static int core_session_take(lua_State *L)
{
    sl_app_t *app = app_of(L);
    const char *pid = luaL_checkstring(L, 1);
    take_ctx_t *t = app->redis ? calloc(1, sizeof *t) : NULL;
    if (!t) {
        lua_pushnil(L);
        return 1;
    }
    t->w = sl_lua_wait_new(L, take_cancelled, t);
    if (sio_redis_session_take(app->redis, pid, session_taken, t) != 0) {
        sl_lua_wait_t *w = t->w;
        t->w = NULL;
        t->json = NULL;
        sl_lua_wait_resume(w, push_taken, t);
        free(t);
    }
    return sl_lua_yield(L);
}

/* ---- sio.emitter: publishing to a cluster from anywhere ------------------- */

/* Messages published before the link first comes up wait here (a few:
 * an emitter is usually made and used at once). */
#define EMITTER_QUEUE_MAX 1000

typedef struct emitter {
    sl_redis_link_t *link;
    char key[64];
    sl_buf_t queued;      /* [u32 channel len][channel][u32 msg len][msg]... */
    unsigned nqueued;
} emitter_t;

static int emitter_publish_now(emitter_t *em, const char *ch, size_t chlen, const char *msg,
                               size_t len)
{
    const char *argv[3] = {"PUBLISH", ch, msg};
    size_t lens[3] = {7, chlen, len};
    return sl_redis_link_command_argv(em->link, NULL, NULL, 3, argv, lens);
}

static void emitter_state(sl_redis_link_t *l, int up, void *ud)
{
    (void)l;
    emitter_t *em = ud;
    if (!up || !em->nqueued)
        return;
    const char *p = em->queued.data, *end = p + em->queued.len;
    while (p < end) {
        uint32_t cl, ml;
        memcpy(&cl, p, 4);
        const char *ch = p + 4;
        memcpy(&ml, ch + cl, 4);
        emitter_publish_now(em, ch, cl, ch + cl + 4, ml);
        p = ch + cl + 4 + ml;
    }
    sl_buf_free(&em->queued);
    em->nqueued = 0;
}

static int emitter_gc(lua_State *L)
{
    emitter_t *em = luaL_checkudata(L, 1, EMITTER_MT);
    if (em->link) {
        sl_redis_link_close(em->link);
        em->link = NULL;
    }
    sl_buf_free(&em->queued);
    return 0;
}

/* core.emitter_new(url, key) */
static int core_emitter_new(lua_State *L)
{
    sl_app_t *app = app_of(L);
    const char *url = luaL_checkstring(L, 1);
    const char *key = luaL_optstring(L, 2, "socket.io");
    sl_redis_url_t u;
    char why[256];
    if (sl_redis_url_parse(url, &u, why, sizeof why) != 0)
        return luaL_error(L, "sio.emitter: bad redis URL: %s", why);
    if (strlen(key) >= sizeof ((emitter_t *)0)->key)
        return luaL_error(L, "sio.emitter: key too long");
    emitter_t *em = lua_newuserdatauv(L, sizeof *em, 0);
    memset(em, 0, sizeof *em);
    strcpy(em->key, key);
    luaL_setmetatable(L, EMITTER_MT);
    em->link = sl_redis_link_new(app->loop, &u, "emitter", emitter_state, em);
    if (!em->link)
        return luaL_error(L, "sio.emitter: out of memory");
    return 1;
}

/* core.emitter_publish(h, nsp, rooms, except, args) -> true, or false, err */
static int core_emitter_publish(lua_State *L)
{
    emitter_t *em = luaL_checkudata(L, 1, EMITTER_MT);
    const char *nsp = luaL_checkstring(L, 2);
    luaL_checktype(L, 5, LUA_TTABLE);
    lua_settop(L, 5);
    size_t nr, ne;
    sio_slice_t *rooms = read_rooms(L, 3, &nr);
    sio_slice_t *except = read_rooms(L, 4, &ne);
    sio_target_t t = {rooms, nr, except, ne, 0};
    sl_buf_t json = SL_BUF_INIT, msg = SL_BUF_INIT, ch = SL_BUF_INIT;
    att_list_t atts = {0};
    sl_lua_json_encode_opts_t eo = {collect_binary, &atts};
    char err[256];
    int rc = sl_lua_json_encode(L, 5, &json, &eo, err, sizeof err);
    if (rc >= 0)
        rc = sio_redis_emitter_message(&msg, &ch, em->key, nsp, &t, json.data, json.len, atts.v,
                                       atts.n);
    sl_buf_free(&json);
    att_list_free(&atts);
    if (rc < 0) {
        sl_buf_free(&msg);
        sl_buf_free(&ch);
        return luaL_error(L, "sio.emitter: cannot encode the event");
    }
    int ok = 1;
    if (em->link && sl_redis_link_up(em->link)) {
        ok = emitter_publish_now(em, ch.data, ch.len, msg.data, msg.len) == 0;
    } else if (em->link && em->nqueued < EMITTER_QUEUE_MAX) {
        uint32_t cl = (uint32_t)ch.len, ml = (uint32_t)msg.len;
        sl_buf_append(&em->queued, &cl, 4);
        sl_buf_append(&em->queued, ch.data, ch.len);
        sl_buf_append(&em->queued, &ml, 4);
        sl_buf_append(&em->queued, msg.data, msg.len);
        em->nqueued++;
    } else {
        ok = 0;
    }
    sl_buf_free(&msg);
    sl_buf_free(&ch);
    lua_pushboolean(L, ok);
    if (!ok) {
        lua_pushliteral(L, "redis unavailable");
        return 2;
    }
    return 1;
}

/* ---- cluster requests from Lua (they wait for the other servers) ---------- */

typedef struct remote_wait {
    sl_lua_wait_t *w;      /* NULL once the runtime cancelled it */
    const char *items;
    size_t len;
    int complete;
} remote_wait_t;

static void remote_wait_cancelled(void *ud)
{
    remote_wait_t *rw = ud;
    rw->w = NULL;
}

/* Resumes with (list, complete): the gathered items decoded as one array. */
static int push_remote(lua_State *L, void *ud)
{
    remote_wait_t *rw = ud;
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_byte(&b, '[');
    sl_buf_append(&b, rw->items, rw->len);
    sl_buf_append_byte(&b, ']');
    char err[128];
    if (sl_lua_json_decode(L, b.data, b.len, NULL, err, sizeof err) != 0)
        sl_lua_json_new_array(L, 0);
    sl_buf_free(&b);
    lua_pushboolean(L, rw->complete);
    return 2;
}

static void remote_reply(const char *items, size_t len, int complete, void *ud)
{
    remote_wait_t *rw = ud;
    if (rw->w) {
        rw->items = items;
        rw->len = len;
        rw->complete = complete;
        sl_lua_wait_t *w = rw->w;
        rw->w = NULL;
        sl_lua_wait_resume(w, push_remote, rw);
    }
    free(rw);
}

typedef struct remote_target {
    sio_nsp_t *nsp;
    sio_target_t t;
    const char *json;
    size_t len;
    char *owned;      /* freed by the start function */
} remote_target_t;

/* Starts a wait for a cluster request; returns 0 and yields through the
 * caller, or pushes (empty list, true) when there is no cluster. */
static int remote_call(lua_State *L, sl_app_t *app, int (*start)(sl_app_t *, remote_wait_t *, void *),
                       void *arg)
{
    remote_wait_t *rw = app->redis ? calloc(1, sizeof *rw) : NULL;
    if (!rw) {
        free(((remote_target_t *)arg)->owned);
        sl_lua_json_new_array(L, 0);
        lua_pushboolean(L, app->redis == NULL);
        return 2;
    }
    rw->w = sl_lua_wait_new(L, remote_wait_cancelled, rw);
    if (start(app, rw, arg) != 0) {
        /* Redis is down: no answer will come; say so at once. */
        sl_lua_wait_t *w = rw->w;
        rw->w = NULL;
        rw->items = "";
        rw->len = 0;
        rw->complete = 0;
        sl_lua_wait_resume(w, push_remote, rw);
        free(rw);
    }
    return sl_lua_yield(L);
}


static int start_fetch(sl_app_t *app, remote_wait_t *rw, void *arg)
{
    remote_target_t *rt = arg;
    return sio_redis_fetch_sockets(app->redis, rt->nsp, &rt->t, remote_reply, rw);
}

static int start_all_rooms(sl_app_t *app, remote_wait_t *rw, void *arg)
{
    remote_target_t *rt = arg;
    return sio_redis_all_rooms(app->redis, rt->nsp, remote_reply, rw);
}

static int start_sse(sl_app_t *app, remote_wait_t *rw, void *arg)
{
    remote_target_t *rt = arg;
    int rc = sio_redis_server_side_emit(app->redis, rt->nsp, rt->json, rt->len, remote_reply, rw);
    free(rt->owned);
    rt->owned = NULL;
    return rc;
}

/* core.remote_fetch(nsp, rooms, except) -> list of {id, handshake, rooms,
 * data} from the other servers, complete */
static int core_remote_fetch(lua_State *L)
{
    sl_app_t *app = app_of(L);
    remote_target_t rt = {check_nsp(L, 1), {0}, NULL, 0, NULL};
    lua_settop(L, 3);
    rt.t.rooms = read_rooms(L, 2, &rt.t.nrooms);
    rt.t.except = read_rooms(L, 3, &rt.t.nexcept);
    return remote_call(L, app, start_fetch, &rt);
}

static int core_remote_all_rooms(lua_State *L)
{
    sl_app_t *app = app_of(L);
    remote_target_t rt = {check_nsp(L, 1), {0}, NULL, 0, NULL};
    return remote_call(L, app, start_all_rooms, &rt);
}

/* core.remote_emit(nsp, args[, want_acks]) -> (acks, complete) when
 * want_acks, else nothing (fire and forget). */
static int core_remote_emit(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_nsp_t *n = check_nsp(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int want = lua_toboolean(L, 3);
    sl_buf_t json = SL_BUF_INIT;
    char err[256];
    if (sl_lua_json_encode(L, 2, &json, NULL, err, sizeof err) < 0) {
        sl_buf_free(&json);
        return luaL_error(L, "server_side_emit: %s", err);
    }
    if (!want) {
        if (app->redis)
            sio_redis_server_side_emit(app->redis, n, json.data, json.len, NULL, NULL);
        sl_buf_free(&json);
        return 0;
    }
    /* A wait ends this C function by a longjmp (lua_yield), so json is
     * given to start_sse, which frees it once copied into the request. */
    remote_target_t rt = {n, {0}, json.data, json.len, json.data};
    return remote_call(L, app, start_sse, &rt);
}

static int core_remote_rooms(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_nsp_t *n = check_nsp(L, 1);
    int join = lua_toboolean(L, 4);
    lua_settop(L, 5);
    size_t nr, ne, nt;
    sio_slice_t *rooms = read_rooms(L, 2, &nr);
    sio_slice_t *except = read_rooms(L, 3, &ne);
    sio_slice_t *targets = read_rooms(L, 5, &nt);
    sio_target_t t = {rooms, nr, except, ne, 0};
    if (app->redis)
        sio_redis_remote_rooms(app->redis, n, &t, join, targets, nt);
    return 0;
}

static int core_remote_disconnect(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_nsp_t *n = check_nsp(L, 1);
    int close = lua_toboolean(L, 4);
    lua_settop(L, 4);
    size_t nr, ne;
    sio_slice_t *rooms = read_rooms(L, 2, &nr);
    sio_slice_t *except = read_rooms(L, 3, &ne);
    sio_target_t t = {rooms, nr, except, ne, 0};
    if (app->redis)
        sio_redis_remote_disconnect(app->redis, n, &t, close);
    return 0;
}

/* An answer value for another server, as JSON; empty (null there) when
 * absent or not encodable. */
static void encode_answer(lua_State *L, int idx, sl_buf_t *json)
{
    char err[256];
    if (lua_isnoneornil(L, idx) || sl_lua_json_encode(L, idx, json, NULL, err, sizeof err) < 0)
        sl_buf_reset(json);
}

static int core_server_side_ack(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_nsp_t *n = check_nsp(L, 1);
    const char *rid = luaL_checkstring(L, 2);
    sl_buf_t json = SL_BUF_INIT;
    encode_answer(L, 3, &json);
    if (app->redis)
        sio_redis_server_side_ack(app->redis, n, rid, json.data, json.len);
    sl_buf_free(&json);
    return 0;
}

typedef struct bwa_start {
    sio_nsp_t *nsp;
    sio_target_t t;
    char *json;
    size_t len;
    att_list_t atts;
    long ack_id;
    unsigned timeout_ms;
} bwa_start_t;

static int start_broadcast_ack(sl_app_t *app, remote_wait_t *rw, void *arg)
{
    bwa_start_t *b = arg;
    int rc = sio_redis_broadcast_with_ack(app->redis, b->nsp, &b->t, b->json, b->len, b->atts.v,
                                          b->atts.n, b->ack_id, b->timeout_ms, remote_reply, rw);
    return rc;
}

/* core.remote_broadcast_ack(nsp, rooms, except, args, ack_id, timeout_ms)
 * -> acks of the other servers' clients, complete. Waits. */
static int core_remote_broadcast_ack(lua_State *L)
{
    sl_app_t *app = app_of(L);
    bwa_start_t b;
    memset(&b, 0, sizeof b);
    b.nsp = check_nsp(L, 1);
    luaL_checktype(L, 4, LUA_TTABLE);
    b.ack_id = (long)luaL_checkinteger(L, 5);
    b.timeout_ms = (unsigned)luaL_checkinteger(L, 6);
    lua_settop(L, 6);
    b.t.rooms = read_rooms(L, 2, &b.t.nrooms);
    b.t.except = read_rooms(L, 3, &b.t.nexcept);
    sl_buf_t json = SL_BUF_INIT;
    sl_lua_json_encode_opts_t eo = {collect_binary, &b.atts};
    char err[256];
    if (sl_lua_json_encode(L, 4, &json, &eo, err, sizeof err) < 0) {
        sl_buf_free(&json);
        att_list_free(&b.atts);
        return luaL_error(L, "cannot send: %s", err);
    }
    b.json = json.data;
    b.len = json.len;
    /* The request copies everything before the wait ends this function
     * (a longjmp): free the encodings in start's place. */
    remote_wait_t *rw = app->redis ? calloc(1, sizeof *rw) : NULL;
    if (!rw) {
        free(b.json);
        att_list_free(&b.atts);
        sl_lua_json_new_array(L, 0);
        lua_pushboolean(L, 1);
        return 2;
    }
    rw->w = sl_lua_wait_new(L, remote_wait_cancelled, rw);
    int rc = start_broadcast_ack(app, rw, &b);
    free(b.json);
    att_list_free(&b.atts);
    if (rc != 0) {
        sl_lua_wait_t *w = rw->w;
        rw->w = NULL;
        rw->items = "";
        rw->len = 0;
        rw->complete = 0;
        sl_lua_wait_resume(w, push_remote, rw);
        free(rw);
    }
    return sl_lua_yield(L);
}

static int core_broadcast_count(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_nsp_t *n = check_nsp(L, 1);
    const char *rid = luaL_checkstring(L, 2);
    lua_Integer count = luaL_checkinteger(L, 3);
    if (app->redis)
        sio_redis_broadcast_count(app->redis, n, rid, (long)count);
    return 0;
}

static int core_broadcast_ack(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_nsp_t *n = check_nsp(L, 1);
    const char *rid = luaL_checkstring(L, 2);
    sl_buf_t json = SL_BUF_INIT;
    encode_answer(L, 3, &json);
    if (app->redis)
        sio_redis_broadcast_ack(app->redis, n, rid, json.data, json.len);
    sl_buf_free(&json);
    return 0;
}

static int core_clustered(lua_State *L)
{
    lua_pushboolean(L, app_of(L)->redis != NULL);
    return 1;
}

static sio_redis_t *use_adapter(sl_app_t *app, const char *url, const sio_redis_opts_t *o,
                               const char *label, int classic_only)
{
    sio_redis_hooks_t hooks = {lua_socket_json, lua_server_side_emit, lua_broadcast_with_ack,
                               lua_remote_broadcast, app};
    sio_redis_opts_t opts = *o;
    if (classic_only && opts.sharded) {
        SL_WARN("adapter", "the %s has no sharded pub/sub: redisAdapter=sharded ignored", label);
        opts.sharded = 0;
    }
    snprintf(opts.label, sizeof opts.label, "%s", label);
    app->redis = sio_redis_new(app->loop, app->sio, url, &opts, &hooks);
    if (!app->redis)
        return NULL;
    /* The URL as logged never carries the password. */
    sl_redis_url_t u;
    char shown[400], why[256];
    if (sl_redis_url_parse(url, &u, why, sizeof why) == 0)
        sl_redis_url_text(&u, shown, sizeof shown);
    else
        snprintf(shown, sizeof shown, "?");
    static const char *const modes[] = {"dynamic", "static", "dynamic-private"};
    if (opts.sharded)
        SL_INFO("adapter", "sharded %s adapter (%s subscriptions) on %s (uid %s)", label,
                modes[opts.subscription_mode], shown, sio_redis_uid(app->redis));
    else
        SL_INFO("adapter", "%s adapter on %s (uid %s)", label, shown, sio_redis_uid(app->redis));
    return app->redis;
}

sio_redis_t *sl_app_use_redis(sl_app_t *app, const char *url, const sio_redis_opts_t *opts)
{
    return use_adapter(app, url, opts, "redis", 0);
}

/* The local bus speaks the classic adapter's subset of Redis only. */
sio_redis_t *sl_app_use_local_bus(sl_app_t *app, const char *url, const sio_redis_opts_t *opts)
{
    return use_adapter(app, url, opts, "local bus", 1);
}

void sl_app_set_worker(sl_app_t *app, int index)
{
    lua_State *L = app->L;
    sl_lua_push_module(app->rt, L);
    lua_pushinteger(L, index);
    lua_setfield(L, -2, "worker");
    lua_pop(L, 1);
}


int sl_app_watch(sl_app_t *app)
{
    if (app->watch)
        return 0;
    app->watch = sl_watch_new(app->loop, app->app_dir, ".lua", 100, app_files_changed, app);
    return app->watch ? 0 : -1;
}
sio_server_t *sl_app_sio(sl_app_t *app) { return app->sio; }
sl_lua_t *sl_app_lua(sl_app_t *app) { return app->rt; }

void sl_app_shutdown(sl_app_t *app)
{
    if (app->shutting_down)
        return;
    app->shutting_down = 1;
    sl_watch_close(app->watch);
    app->watch = NULL;
    sio_server_close_all(app->sio);
    sio_redis_close(app->redis);
    app->redis = NULL;
    sl_lua_fetch_close(app->rt, "the server is shutting down");
}

void sl_app_free(sl_app_t *app)
{
    if (!app)
        return;
    sl_watch_close(app->watch);
    app->watch = NULL;
    sl_lua_redis_close(app->rt);
    sl_lua_fetch_close(app->rt, "the server is shutting down");
    if (app->rt)
        sl_lua_free(app->rt);
    sio_server_free(app->sio);
    free(app);
}
