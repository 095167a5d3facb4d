/* L6 lua/lua_sio: Socket.IO bound to Lua: the app (its life, options,
 * adapter, reload), sockets and namespaces. See lua_sio.h; lua_bind.h says
 * how the binding files share the work and how every event from C into
 * the Lua library runs (one guarded call).
 *
 *   sio_socket --data--> handle userdata {s, table ref} --ref--> Lua socket table
 *        ^                    |                                  { _h = handle, ... }
 *        +-- s (NULLed when the socket is freed)
 *
 * Lua holds sockets only through their handle userdata, whose pointer
 * turns NULL when the C socket goes, so a socket kept in a Lua table after
 * its disconnect is a closed handle, never a dangling pointer. The handle
 * is also the binding (Lua never moves a userdata): no allocation of its
 * own per socket. A handle collected while its socket lives (its table
 * dropped half-way through a CONNECT, or an app that replaced _h) unhooks
 * itself (__gc). */
#include "lua/lua_sio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "base/watch.h"
#include "cluster/redis_url.h"
#include "cluster/sio_redis.h"
#include "lua/lua_bind.h"
#include "lua/lua_client.h"
#include "lua/lua_crypto.h"
#include "lua/lua_json.h"
#include "lua/lua_redis.h"
#include "lua/lua_fetch.h"
#include "lua/lua_rt.h"

#define SOCK_MT "siolua.socket_handle"

struct sl_app {
    sl_lua_bind_t b;             /* first: the handlers' ud is the app */
    sl_app_option_cb set_option; /* sio.configure's: the options table */
    void *option_ud;
    char app_dir[4096];
    int shutting_down;
    sl_watch_t *watch;
    sio_redis_t *redis;
    sl_app_stats_t stats;
    int event_fn_ref;            /* event_cf as a closure over what it reads (see event_fn) */
};

static sl_app_t *app_of(lua_State *L)
{
    return (sl_app_t *)sl_lua_bind_upvalue(L);
}

/* ---- socket handles ------------------------------------------------------- */

/* A socket's handle, and its binding: the socket's data points here.
 * Two words: a userdata of 48 bytes in Lua's slab, one of every idle
 * connection (the CONNECT under way is found in connecting_now). */
typedef struct sock_ud {
    sio_socket_t *s;  /* NULL once the socket is gone: the handle is closed */
    int ref;          /* the Lua socket table, LUA_NOREF until it has one */
} sock_ud_t;

/* Its address keys the handles' metatable in the registry (besides its
 * name, SOCK_MT): found by a pointer, where luaL_checkudata looks the name
 * up as a string (about 360 instructions, twice per connection: h:accept,
 * h:join). */
static const char sock_mt_key = 0;

/* Pushes the handles' metatable. */
static void push_sock_mt(lua_State *L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &sock_mt_key); }

/* The socket of the handle at idx, or NULL when it is closed. Raises, as
 * luaL_checkudata, when the value there is not a handle. */
static sio_socket_t *opt_socket(lua_State *L, int idx)
{
    sock_ud_t *u = lua_touserdata(L, idx);
    if (u && lua_getmetatable(L, idx)) {
        push_sock_mt(L);
        int ok = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (ok)
            return u->s;
    }
    luaL_typeerror(L, idx, SOCK_MT);
    return NULL;
}

/* The socket of the handle at idx; raises when it is closed. */
static sio_socket_t *check_socket(lua_State *L, int idx)
{
    sio_socket_t *s = opt_socket(L, idx);
    if (!s)
        luaL_error(L, "socket handle is closed (the socket has gone)");
    return s;
}

void sl_lua_bind_push_socket(lua_State *L, sio_socket_t *s)
{
    sock_ud_t *u = sio_socket_data(s);
    if (u && u->ref != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
    else
        lua_pushnil(L);
}

static int64_t opt_ack_id(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return -1;
    lua_Integer id = luaL_checkinteger(L, idx);
    luaL_argcheck(L, id >= 0, idx, "ack id must be >= 0");
    return (int64_t)id;
}

/* Encodes the Lua array at idx (n < 0), or the n values from idx, into a
 * packet in nsp's parser. Raises on unencodable values (misuse), like
 * sio.json.encode. */
/* The JSON of the packet being built: its memory (not its bytes) is kept
 * from one packet to the next, so an emit or an ack allocates nothing for
 * it. A packet built while another is (Lua code run by the encoder that
 * emits) gets a buffer of its own; a large one is not kept. */
static sl_buf_t json_scratch = SL_BUF_INIT;
static int json_scratch_busy;

static void build_out(lua_State *L, int idx, int n, sio_packet_type_t type, sio_nsp_t *nsp,
                      int64_t ack_id, sio_out_t *out)
{
    sl_lua_bind_args_t a = SL_LUA_BIND_ARGS_INIT;
    int scratch = !json_scratch_busy;
    if (scratch) {
        json_scratch_busy = 1;
        a.json = json_scratch;
        a.json.len = 0;
    }
    char err[256];
    int bad = n < 0 ? sl_lua_bind_encode(L, idx, &a, err, sizeof err)
                    : sl_lua_bind_encode_values(L, idx, n, &a, err, sizeof err);
    int rc = bad ? -EINVAL
                 : sio_out_build(out, sio_nsp_server(nsp), type, sio_nsp_name(nsp), ack_id,
                                 a.json.data, a.json.len, a.atts, a.natts);
    if (scratch) {
        json_scratch_busy = 0;
        if (a.json.cap <= 65536) {
            json_scratch = a.json;
            a.json = (sl_buf_t)SL_BUF_INIT;
        } else {
            json_scratch = (sl_buf_t)SL_BUF_INIT;
        }
    }
    if (a.atts || a.json.data) /* nothing left to free in the common case */
        sl_lua_bind_args_free(&a);
    if (rc < 0)
        luaL_error(L, "cannot send: %s", rc == -EINVAL ? err : "encoding failed");
}

static int sock_id(lua_State *L)
{
    lua_pushstring(L, sio_socket_id(check_socket(L, 1)));
    return 1;
}

/* h:session_id(): its Engine.IO session's id (socket.conn.id). */
static int sock_session_id(lua_State *L)
{
    lua_pushstring(L, sio_socket_session_id(check_socket(L, 1)));
    return 1;
}

/* h:set_identity(id): before accept, the id a recovered session had. */
static int sock_set_identity(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_pushboolean(L, sio_socket_set_identity(s, luaL_checkstring(L, 2)) == 0);
    return 1;
}

/* h:accept([pid]): the CONNECT reply, with the private session id of
 * connection state recovery when given. */
static int sock_accept(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    const char *pid = luaL_optstring(L, 2, NULL);
    lua_pushboolean(L, s && sio_socket_accept(s, pid) == 0);
    return 1;
}

/* h:refuse(message[, data]): CONNECT_ERROR; the socket is gone after it. */
static int sock_refuse(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    if (!s) {
        lua_pushboolean(L, 0);
        return 1;
    }
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
    lua_pushboolean(L, 1);
    return 1;
}

/* Writes the packet built from the Lua values (see build_out) to s;
 * plain: never compressed (compress(false)). */
static int send_built(lua_State *L, sio_socket_t *s, int idx, int n, sio_packet_type_t type,
                      int64_t id, int plain)
{
    sio_out_t out;
    build_out(L, idx, n, type, sio_socket_nsp(s), id, &out);
    out.plain = plain != 0;
    int rc = sio_socket_send(s, &out);
    sio_out_release(&out);
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* h:emit(args[, ack_id[, plain]]): false when the socket is gone. An
 * emit before accept goes before the CONNECT reply, as Node's socket.emit
 * in a middleware. plain: never compressed (compress(false)). */
static int sock_emit(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t id = opt_ack_id(L, 3);
    int plain = lua_toboolean(L, 4);
    if (!s) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return send_built(L, s, 2, -1, SIO_PACKET_EVENT, id, plain);
}

/* h:ack(id, ...): the ACK with the values after the id (nil is null),
 * encoded from the call's arguments; false as h:emit. */
static int sock_ack(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    int64_t id = opt_ack_id(L, 2);
    luaL_argcheck(L, id >= 0, 2, "ack id expected");
    if (!s || !sio_socket_connected(s)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return send_built(L, s, 3, lua_gettop(L) - 2, SIO_PACKET_ACK, id, 0);
}

/* The function an event handler gets as its last argument when the client
 * asked for an ack: ack(...) sends the ACK once (later calls, and calls
 * once the socket is gone, do nothing). A C closure whose upvalues are the
 * handle and the id, which turns nil once it is called: one allocation
 * per acked event, where a Lua closure over the same costs four. Made by
 * event_cf as it hands the event to the library. */
static int ack_call(lua_State *L)
{
    int isnum;
    lua_Integer id = lua_tointegerx(L, lua_upvalueindex(2), &isnum);
    if (!isnum)
        return 0;
    int n = lua_gettop(L); /* the values to send: those below the nil */
    lua_pushnil(L);
    lua_copy(L, -1, lua_upvalueindex(2));
    /* A socket handle: checked when the closure was made. */
    sio_socket_t *s = ((sock_ud_t *)lua_touserdata(L, lua_upvalueindex(1)))->s;
    if (s && sio_socket_connected(s))
        send_built(L, s, 1, n, SIO_PACKET_ACK, (int64_t)id, 0);
    return 0;
}

static int sock_join(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    size_t len;
    const char *room = luaL_checklstring(L, 2, &len);
    if (sio_socket_join(s, room, len) == -ENOMEM)
        return luaL_error(L, "out of memory");
    return 0;
}

static int sock_leave(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    size_t len;
    const char *room = luaL_checklstring(L, 2, &len);
    sio_socket_leave(s, room, len);
    return 0;
}

static void push_room(const char *room, size_t len, void *ud)
{
    lua_State *L = ud;
    lua_pushlstring(L, room, len);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

static int sock_rooms(lua_State *L)
{
    sio_socket_t *s = check_socket(L, 1);
    lua_newtable(L);
    sio_socket_each_room(s, push_room, L);
    return 1;
}

static int sock_disconnect(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    if (s)
        sio_socket_disconnect(s, lua_toboolean(L, 2));
    lua_pushboolean(L, s != NULL);
    return 1;
}

static int sock_writable(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    lua_pushboolean(L, s && sio_socket_writable(s));
    return 1;
}

static void push_handshake(lua_State *L, const sio_handshake_t *hs);

/* h:handshake(): the socket's handshake table, built when the app first
 * reads socket.handshake (most sockets never do, and an eager table of
 * headers was a third of an idle connection's memory). */
static int sock_handshake(lua_State *L)
{
    sio_handshake_t hs;
    sio_socket_handshake(check_socket(L, 1), &hs);
    push_handshake(L, &hs);
    return 1;
}

static int sock_transport(lua_State *L)
{
    lua_pushstring(L, sio_socket_transport(check_socket(L, 1)));
    return 1;
}

static int sock_tostring(lua_State *L)
{
    sio_socket_t *s = opt_socket(L, 1);
    lua_pushfstring(L, "socket handle %s", s ? sio_socket_id(s) : "(closed)");
    return 1;
}

/* Collected before its socket went (a binding that failed half-way, or
 * an app that replaced sock._h): the socket forgets it, and its table
 * leaves the registry. */
static int sock_gc(lua_State *L)
{
    sock_ud_t *u = luaL_checkudata(L, 1, SOCK_MT);
    if (u->s && sio_socket_data(u->s) == u)
        sio_socket_set_data(u->s, NULL);
    if (u->ref != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, u->ref);
    u->s = NULL;
    u->ref = LUA_NOREF;
    return 0;
}

static const luaL_Reg sock_methods[] = {
    {"id", sock_id},
    {"session_id", sock_session_id},
    {"set_identity", sock_set_identity},
    {"accept", sock_accept},
    {"refuse", sock_refuse},
    {"emit", sock_emit},
    {"ack", sock_ack},
    {"join", sock_join},
    {"leave", sock_leave},
    {"rooms", sock_rooms},
    {"disconnect", sock_disconnect},
    {"writable", sock_writable},
    {"handshake", sock_handshake},
    {"transport", sock_transport},
    {NULL, NULL},
};

/* ---- namespace handles ---------------------------------------------------- */

static void push_nsp_handle(lua_State *L, sio_nsp_t *n)
{
    sio_nsp_t **u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = n;
    luaL_setmetatable(L, SL_LUA_NSP_MT);
}

/* h:bind(table): the library's table of the namespace (what the C side
 * hands to its events). */
static int nsp_bind(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushvalue(L, 2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    intptr_t old = (intptr_t)sio_nsp_data(n);
    if (old)
        luaL_unref(L, LUA_REGISTRYINDEX, (int)old);
    sio_nsp_set_data(n, (void *)(intptr_t)ref);
    return 0;
}

typedef struct select_ctx {
    lua_State *L;
    sio_out_t *out;
    int table_idx;   /* 0: no list wanted */
} select_ctx_t;

static void select_cb(sio_socket_t *s, void *ud)
{
    select_ctx_t *c = ud;
    if (c->out)
        sio_socket_send(s, c->out);
    if (c->table_idx) {
        sl_lua_bind_push_socket(c->L, s);
        lua_rawseti(c->L, c->table_idx, (lua_Integer)lua_rawlen(c->L, c->table_idx) + 1);
    }
}

/* h:broadcast(rooms, except, flags, args[, ack_id]): encodes once, writes
 * to every selected socket here and, unless flags has LOCAL, hands the
 * event to the adapter; returns the local recipient count, or with an ack
 * id the list of recipient sockets (they expect the ack; the other
 * servers' clients answer through the adapter's broadcast_with_ack).
 * flags: SIO_FLAG_* (1 volatile, 2 local, 4 plain: compress(false)). */
static int nsp_broadcast(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    unsigned flags = (unsigned)luaL_optinteger(L, 4, 0);
    luaL_checktype(L, 5, LUA_TTABLE);
    int64_t id = opt_ack_id(L, 6); /* before the rooms push anything */
    lua_settop(L, 6);
    size_t nr, ne;
    sio_slice_t *rooms = sl_lua_bind_rooms(L, 2, &nr);
    sio_slice_t *except = sl_lua_bind_rooms(L, 3, &ne);
    sio_target_t t = {rooms, nr, except, ne, (flags & SIO_FLAG_VOLATILE) ? 1u : 0u,
                      (flags & SIO_FLAG_PLAIN) ? 1u : 0u};
    if (id < 0) {
        sl_lua_bind_args_t a = SL_LUA_BIND_ARGS_INIT;
        char err[256];
        long count = sl_lua_bind_encode(L, 5, &a, err, sizeof err) == 0
                         ? sio_nsp_emit(n, &t, flags, a.json.data, a.json.len, a.atts, a.natts)
                         : -EINVAL;
        sl_lua_bind_args_free(&a);
        if (count < 0)
            return luaL_error(L, "cannot send: %s", count == -EINVAL ? err : "encoding failed");
        lua_pushinteger(L, (lua_Integer)count);
        return 1;
    }
    sio_out_t out;
    build_out(L, 5, -1, SIO_PACKET_EVENT, n, id, &out);
    select_ctx_t ctx = {L, &out, 0};
    lua_newtable(L);
    ctx.table_idx = lua_gettop(L);
    sio_nsp_select(n, &t, select_cb, &ctx);
    sio_out_release(&out);
    return 1;
}

/* h:select(rooms, except): the library's tables of the selected sockets. */
static int nsp_select(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    lua_settop(L, 3);
    size_t nr, ne;
    sio_slice_t *rooms = sl_lua_bind_rooms(L, 2, &nr);
    sio_slice_t *except = sl_lua_bind_rooms(L, 3, &ne);
    sio_target_t t = {rooms, nr, except, ne, 0, 0};
    lua_newtable(L);
    select_ctx_t ctx = {L, NULL, lua_gettop(L)};
    sio_nsp_select(n, &t, select_cb, &ctx);
    return 1;
}

/* h:socket(id): the library's table of the namespace's socket with that
 * id, as nsp.sockets[id] reads it (lua/siolua/namespace.lua), or nil. */
static int nsp_socket(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    size_t len;
    const char *id = luaL_checklstring(L, 2, &len);
    sio_socket_t *s = sio_nsp_listed_socket(n, id, len);
    if (s)
        sl_lua_bind_push_socket(L, s);
    else
        lua_pushnil(L);
    return 1;
}

static void list_socket_cb(sio_socket_t *s, void *ud)
{
    lua_State *L = ud;
    sl_lua_bind_push_socket(L, s);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* h:sockets(): an array of the tables of those sockets, for pairs(). */
static int nsp_sockets(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    lua_createtable(L, (int)sio_nsp_socket_count(n), 0);
    sio_nsp_each_socket(n, list_socket_cb, L);
    return 1;
}

/* h:remove(): a namespace made by a reload that failed goes away (it has
 * no socket yet: the reload ran in one go); the handle is closed then. */
static int nsp_remove(lua_State *L)
{
    sio_nsp_t **u = luaL_checkudata(L, 1, SL_LUA_NSP_MT);
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    intptr_t ref = (intptr_t)sio_nsp_data(n);
    if (sio_server_remove_nsp(sio_nsp_server(n), n) == 0) {
        if (ref)
            luaL_unref(L, LUA_REGISTRYINDEX, (int)ref);
        *u = NULL;
    }
    return 0;
}

static int nsp_rooms(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 1);
    sl_lua_json_new_array(L, 0);
    sio_nsp_each_room(n, push_room, L);
    return 1;
}

static int nsp_tostring(lua_State *L)
{
    sio_nsp_t **u = luaL_checkudata(L, 1, SL_LUA_NSP_MT);
    lua_pushfstring(L, "namespace handle %s", *u ? sio_nsp_name(*u) : "(closed)");
    return 1;
}

static const luaL_Reg nsp_methods[] = {
    {"bind", nsp_bind},
    {"broadcast", nsp_broadcast},
    {"select", nsp_select},
    {"socket", nsp_socket},
    {"sockets", nsp_sockets},
    {"rooms", nsp_rooms},
    {"remove", nsp_remove},
    {NULL, NULL},
};

/* ---- core: the server ------------------------------------------------------ */

/* core.of(name) -> the namespace's handle (the namespace made if new). */
static int core_of(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    sio_nsp_t *n = sio_server_of(app_of(L)->b.sio, name);
    if (!n)
        return luaL_error(L, "bad namespace name '%s'", name);
    push_nsp_handle(L, n);
    return 1;
}

/* core.nsp_detached() -> a closed namespace handle (a dynamic family's:
 * it has listeners but no namespace of its own). */
static int core_nsp_detached(lua_State *L)
{
    push_nsp_handle(L, NULL);
    return 1;
}

/* core.on(self, event, fn): events.lua's E.on (socket:on, nsp:on, ...):
 * fn added to self._listeners[event], which holds the function itself
 * while it is the only one and a list from the second on. In C because
 * every "connection" handler calls it for each of its socket's listeners:
 * in Lua it was three calls (the function, type, assert) each time. Reads
 * and writes as the Lua did (self._listeners through a view's __index). */
static int core_on(lua_State *L)
{
    if (lua_type(L, 3) != LUA_TFUNCTION)
        return luaL_error(L, "listener must be a function");
    lua_settop(L, 3);
    lua_getfield(L, 1, "_listeners"); /* 4 */
    lua_pushvalue(L, 2);
    int t = lua_gettable(L, 4); /* 5: what event has now */
    if (t == LUA_TNIL || t == LUA_TFUNCTION) {
        lua_pushvalue(L, 2);
        if (t == LUA_TNIL) {
            lua_pushvalue(L, 3);
        } else {
            lua_createtable(L, 2, 0);
            lua_pushvalue(L, 5);
            lua_rawseti(L, -2, 1);
            lua_pushvalue(L, 3);
            lua_rawseti(L, -2, 2);
        }
        lua_settable(L, 4);
    } else {
        lua_Integer n = luaL_len(L, 5);
        lua_pushvalue(L, 3);
        lua_seti(L, 5, n + 1);
    }
    lua_settop(L, 1);
    return 1;
}

/* Joins the socket of the handle at h to the room at idx, made a string
 * as tostring() would (a string as it is). The handle is checked after
 * that: a __tostring may have ended the socket. */
static void join_value(lua_State *L, int h, int idx)
{
    size_t len;
    const char *room = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len)
                                                       : luaL_tolstring(L, idx, &len);
    if (sio_socket_join(check_socket(L, h), room, len) == -ENOMEM)
        luaL_error(L, "out of memory");
}

/* core.socket_join(socket, rooms): socket.lua's Socket:join, a room or a
 * list of rooms (each made a string as tostring() does). A socket that
 * has gone (rawget(socket, "_gone")) keeps no rooms: then a no-op.
 * Returns the socket. In C because most "connection" handlers join a
 * room: in Lua it was four calls besides the join (the function, rawget,
 * type, tostring). */
static int core_socket_join(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_pushliteral(L, "_gone");
    lua_rawget(L, 1); /* 3 */
    if (lua_toboolean(L, 3)) {
        lua_settop(L, 1);
        return 1;
    }
    lua_getfield(L, 1, "_h"); /* 4 */
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, 2);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_settop(L, 4);
            lua_geti(L, 2, i);
            join_value(L, 4, 5);
        }
    } else {
        join_value(L, 4, 2);
    }
    lua_settop(L, 1);
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

/* core.ack_timed_out(): an ack wait ran out of time (the Lua side owns
 * ack waits); counted for metrics. */
static int core_ack_timed_out(lua_State *L)
{
    app_of(L)->stats.ack_timeouts++;
    return 0;
}

static int core_recovery(lua_State *L)
{
    int on;
    uint32_t max_ms;
    sio_server_recovery(app_of(L)->b.sio, &on, &max_ms);
    lua_pushboolean(L, on);
    lua_pushinteger(L, max_ms);
    return 2;
}

/* The server is closed (every client gone, nothing listening): the
 * adapter goes too, as Node's close() closes each namespace's adapter,
 * then the library wakes whoever waits in sio.server:close(). */
typedef struct closed_ev {
    sl_lua_bind_t *b;
} closed_ev_t;

static int closed_cf(lua_State *L)
{
    closed_ev_t *ev = lua_touserdata(L, 1);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "closed", 0, 0);
    return 0;
}

static void app_closed(void *ud)
{
    sl_app_t *app = ud;
    sio_redis_close(app->redis);
    app->redis = NULL;
    closed_ev_t ev = {&app->b};
    sl_lua_bind_call(&app->b, closed_cf, &ev, "the server's close");
}

/* core.close() -> true when dispatch.closed will follow, false when the
 * server is closed already. Disconnects every socket ("server shutting
 * down") now; the router closes its listeners, sessions and connections. */
static int core_close(lua_State *L)
{
    sl_app_t *app = app_of(L);
    sio_server_close_all(app->b.sio);
    int rc = sl_server_close(app->b.http, app_closed, app);
    if (rc < 0)
        return luaL_error(L, "cannot close the server: %s", strerror(-rc));
    lua_pushboolean(L, rc == 0);
    return 1;
}

static int core_parser(lua_State *L)
{
    int msgpack = sio_server_options_mut(app_of(L)->b.sio)->parser == SIO_PARSER_MSGPACK;
    lua_pushstring(L, msgpack ? "msgpack" : "default");
    return 1;
}

static int core_clients_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sio_server_client_count(app_of(L)->b.sio));
    return 1;
}

/* ---- core: options ------------------------------------------------------ */

void sl_app_set_lua_budget(sl_app_t *app, uint64_t instructions)
{
    sl_lua_set_budget(app->b.rt, instructions);
}

void sl_app_set_lua_time_limit(sl_app_t *app, uint64_t ms) { sl_lua_set_time_limit(app->b.rt, ms); }

void sl_app_set_lua_memory(sl_app_t *app, size_t bytes) { sl_lua_set_memory_limit(app->b.rt, bytes); }

void sl_app_set_fetch_ca_file(sl_app_t *app, const char *path)
{
    char err[300];
    if (sl_lua_fetch_set_ca_file(app->b.rt, path, err, sizeof err))
        SL_ERROR("fetch", "fetchCaFile: %s", err);
}

/* Raises msg at the position of sio.configure's caller (main.lua:12:),
 * through the library's wrapper if it was called through it. */
static int configure_error(lua_State *L, sl_app_t *app, const char *msg)
{
    int level = 1;
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
        sl_lua_push_module(app->b.rt, L);
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

/* sio.configure's state while it walks its table. */
typedef struct configure_walk {
    lua_State *L;
    sl_app_t *app;
} configure_walk_t;

/* One option through the composition root's table (text form, as on the
 * command line; NULL for a Lua value with no text form). Raises a refusal
 * at the caller's line. */
static int configure_set(void *ud, const char *name, const char *value)
{
    configure_walk_t *w = ud;
    char err[256];
    if (!w->app->set_option)
        configure_error(w->L, w->app, "options are not settable here");
    if (w->app->set_option(w->app->option_ud, name, value, err, sizeof err) != 0)
        configure_error(w->L, w->app, err);
    return 0;
}

static int core_configure(lua_State *L)
{
    sl_app_t *app = app_of(L);
    if (app->b.started)
        return configure_error(L, app, "options are set before the server starts (in main.lua)");
    if (!lua_istable(L, 1))
        return configure_error(L, app, "expects a table of options");
    configure_walk_t w = {L, app};
    if (sl_lua_options_walk(L, 1, "", configure_set, &w) == SL_LUA_OPTIONS_EKEY)
        return configure_error(L, app, "option names are strings");
    return 0;
}

/* ---- events from the Socket.IO layer --------------------------------------
 * One shape for each: the sio_handler_t callback fills a struct of its
 * event's fields, sl_lua_bind_call runs its *_cf under the guard, and the
 * callback settles from the struct afterwards (a refusal when Lua failed). */

static void push_handshake(lua_State *L, const sio_handshake_t *hs)
{
    lua_createtable(L, 0, 9);
    lua_createtable(L, 0, hs->nheaders);
    int xdomain = 0;
    const char *at = hs->headers, *name, *value;
    for (int i = 0; i < hs->nheaders; i++) {
        sio_handshake_header(&at, &name, &value);
        lua_pushstring(L, value);
        lua_setfield(L, -2, name);
        xdomain |= !strcmp(name, "origin");
    }
    lua_setfield(L, -2, "headers");
    sl_lua_bind_push_query(L, hs->query);
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

/* Pushes the decoded auth object of a CONNECT ({} when it is not one). */
static void push_auth(lua_State *L, const char *auth, size_t len)
{
    char err[128];
    if (sl_lua_json_decode(L, auth, len, NULL, err, sizeof err) != 0)
        sl_lua_json_new_object(L, 0);
}

/* A CONNECT names a namespace that does not exist: the dynamic families
 * (app functions, run under the guard like any app code) may make it. */
typedef struct resolve_ev {
    sl_lua_bind_t *b;
    const char *name, *auth;
    size_t auth_len;
    int found;
} resolve_ev_t;

static int resolve_cf(lua_State *L)
{
    resolve_ev_t *ev = lua_touserdata(L, 1);
    lua_pushstring(L, ev->name);
    push_auth(L, ev->auth, ev->auth_len);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "resolve", 2, 1);
    ev->found = lua_istable(L, -1);
    return 0;
}

static sio_nsp_t *lua_resolve_nsp(sio_server_t *srv, const char *name, const char *auth,
                                  size_t auth_len, void *ud)
{
    resolve_ev_t ev = {ud, name, auth, auth_len, 0};
    sl_lua_bind_call(ud, resolve_cf, &ev, "a dynamic namespace matcher");
    return ev.found ? sio_server_find_nsp(srv, name) : NULL;
}

/* A CONNECT: the socket gets its handle, then the library builds its
 * table and starts the middlewares, which may refuse (freeing the socket)
 * before the call returns. */
typedef struct connecting_ev {
    sl_lua_bind_t *b;
    sio_socket_t *s;
    const char *auth;
    size_t auth_len;
    int alive;        /* cleared by lua_on_free if the socket goes meanwhile */
    char gone_id[21]; /* its id then (ids are at most 20 characters) */
    struct connecting_ev *outer; /* a CONNECT whose call this one is in */
} connecting_ev_t;

/* The CONNECTs being handled, innermost first (one, but a handler may
 * make another happen: each is told if its socket goes meanwhile). */
static connecting_ev_t *connecting_now;

static int connecting_cf(lua_State *L)
{
    connecting_ev_t *ev = lua_touserdata(L, 1);
    sock_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = ev->s;
    u->ref = LUA_NOREF;
    push_sock_mt(L);
    lua_setmetatable(L, -2);
    sio_socket_set_data(ev->s, u);
    sl_lua_bind_push_nsp(L, sio_socket_nsp(ev->s));
    /* No auth (the C side says "{}" then) or an empty one, as most
     * clients send: nil, not a table decoded per connection that the
     * socket would not keep anyway. */
    if (ev->auth_len == 2 && !memcmp(ev->auth, "{}", 2))
        lua_pushnil(L);
    else
        push_auth(L, ev->auth, ev->auth_len);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "connecting", 3, 1);
    /* Refused during the call: the socket is gone, the table dropped by
     * the C side (the app may still hold it: its id stays readable, as
     * free_cf keeps it for a socket that goes later). */
    if (ev->alive && lua_istable(L, -1)) {
        u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else if (lua_istable(L, -1)) {
        lua_pushstring(L, ev->gone_id);
        lua_setfield(L, -2, "id");
    }
    return 0;
}

static void lua_on_connecting(sio_socket_t *s, const char *auth, size_t auth_len, void *ud)
{
    connecting_ev_t ev = {ud, s, auth, auth_len, 1, "", connecting_now};
    connecting_now = &ev;
    sl_lua_bind_call(ud, connecting_cf, &ev, "a CONNECT");
    connecting_now = ev.outer;
    if (!ev.alive)
        return;
    sock_ud_t *u = sio_socket_data(s);
    if (!u || u->ref == LUA_NOREF) /* Lua failed: no table, no answer */
        sio_socket_refuse(s, "server error", NULL, 0);
}

/* An EVENT or ACK of a connected socket: arguments decoded (attachments
 * in place), a numeric event name made a string (Node allows them). */
typedef struct packet_ev {
    sl_lua_bind_t *b;
    sio_socket_t *s;
    const sio_packet_t *pkt;
    const sio_packet_bin_t *atts;
    unsigned natts;
    char err[160];    /* set when the arguments did not decode */
} packet_ev_t;

static int event_done(lua_State *L, int status, lua_KContext ctx)
{
    (void)L, (void)status, (void)ctx;
    return 0;
}

/* What event_cf reads, as its upvalues: the field names it reads tables
 * by (a C string pushed costs a strlen, a hash and a strcmp every time,
 * in Lua's string cache; an upvalue, a copy), the dashboard's hooks
 * (watcher) and dispatch.event. event_cf runs as one closure made once
 * (event_fn): its upvalues are read without a table or registry lookup. */
enum { K_EVENT_IN = 1, K_CONNECTED, K_MW, K_ANY, K_LISTENERS, K_H, K_WATCHER, K_EVENT_FN, K_COUNT };
static const char *const event_key_names[] = {NULL, "event_in", "connected", "_mw", "_any",
                                              "_listeners", "_h"};

static int event_cf(lua_State *L);

/* Makes event_cf's closure, with the watcher table and dispatch.event
 * (their registry refs) among its upvalues, in the registry. */
static void event_fn(lua_State *L, sl_app_t *app)
{
    for (int k = K_EVENT_IN; k < K_WATCHER; k++)
        lua_pushstring(L, event_key_names[k]);
    lua_rawgeti(L, LUA_REGISTRYINDEX, app->b.watcher_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, app->b.event_ref);
    lua_pushcclosure(L, event_cf, K_COUNT - 1);
    app->event_fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Pushes rawget(t, upvalue k) for the table at t (absolute) and returns
 * its type. */
static int raw_field(lua_State *L, int t, int k)
{
    lua_pushvalue(L, lua_upvalueindex(k));
    return lua_rawget(L, t);
}

/* The one listener an event may be handed to from here, without
 * dispatch.event: copied to the stack slot name, and 1 returned, when the
 * socket s (its table at sock) is connected, no dashboard watches events,
 * the socket has no middlewares nor onAny listeners of its own, and the
 * event named at name has exactly one listener; else 0. Either way it
 * leaves values above the top it found, for the caller to drop. These
 * are dispatch.event's own tests (lua/siolua/socket.lua), read raw
 * (rawget, and plain tables), so both send an event to the same place;
 * every other case is that function's. */
static int find_lone_listener(lua_State *L, const sio_socket_t *s, int sock, int name)
{
    if (raw_field(L, lua_upvalueindex(K_WATCHER), K_EVENT_IN) != LUA_TNIL)
        return 0;
    /* A socket table holds "connected" only once it is false (it has
     * disconnected); until then its metatable says it, as the C side
     * does. */
    if ((raw_field(L, sock, K_CONNECTED) != LUA_TNIL && !lua_toboolean(L, -1)) ||
        !sio_socket_connected(s) || raw_field(L, sock, K_MW) != LUA_TNIL ||
        raw_field(L, sock, K_ANY) != LUA_TNIL || raw_field(L, sock, K_LISTENERS) != LUA_TTABLE)
        return 0;
    lua_pushvalue(L, name);
    int t = lua_rawget(L, -2);
    if (t == LUA_TTABLE && lua_rawlen(L, -1) == 1)
        t = lua_rawgeti(L, -1, 1);
    if (t != LUA_TFUNCTION)
        return 0;
    lua_copy(L, -1, name);
    return 1;
}

/* An EVENT, run as a new handler: its arguments decoded straight onto the
 * handler coroutine's stack and its ack function made here, then either
 * handed to its one listener as they are, listener(args..., [ack]), or to
 * dispatch.event(sock, has_ack, name, args..., [ack]), which serves the
 * other cases. So the common case makes no table for the arguments, calls
 * back into C for nothing, runs no library code in Lua, and the whole
 * event is one protected run (the coroutine's). ev is the caller's: read
 * only before the call, which may wait. */
static int event_cf(lua_State *L)
{
    packet_ev_t *ev = lua_touserdata(L, 1);
    const sio_packet_t *pkt = ev->pkt;
    sock_ud_t *u = sio_socket_data(ev->s);
    if (!u || u->ref == LUA_NOREF)
        return 0;
    /* 1: ev, as it came. 2: the function to call, once known. */
    lua_pushnil(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref); /* 3: the socket table */
    lua_pushboolean(L, pkt->has_ack); /* 4 */
    sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)ev->atts, ev->natts};
    const sl_lua_json_decode_opts_t *opts = ev->natts ? &o : NULL;
    int n;
    if (sl_lua_handler_quiet(L, 1)) {
        /* A failure ends this handler without a word, leaving ev->err
         * (what Lua says when memory runs out, unless the decoder wrote
         * its own) for lua_on_packet: no protected call of the decode's
         * own is needed for that. */
        snprintf(ev->err, sizeof ev->err, "not enough memory");
        n = sl_lua_json_decode_args_raising(L, pkt->payload, pkt->payload_len, opts, ev->err,
                                            sizeof ev->err);
        sl_lua_handler_quiet(L, 0);
        if (n >= 0)
            ev->err[0] = '\0';
    } else {
        n = sl_lua_json_decode_args(L, pkt->payload, pkt->payload_len, opts, ev->err,
                                    sizeof ev->err);
    }
    if (n < 0) {
        if (!ev->err[0])
            snprintf(ev->err, sizeof ev->err, "not JSON");
        return 0;
    }
    if (n == 0)
        lua_pushnil(L); /* never from the parser: it refuses an event without a name */
    if (lua_type(L, 5) != LUA_TSTRING) { /* 5: the name */
        lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, 5));
        lua_replace(L, 5);
    }
    int top = lua_gettop(L); /* ev, fn (nil), sock, has_ack, name, args... */
    luaL_checkstack(L, 10, NULL);
    if (pkt->has_ack) {
        /* ack, the last argument, over the socket's handle: its _h, which
         * is this socket's handle when it is the userdata the socket's
         * data points to (a handle is its binding). */
        if (raw_field(L, 3, K_H) != LUA_TUSERDATA || lua_touserdata(L, -1) != u)
            return luaL_error(L, "socket table without its handle (_h)");
        lua_pushinteger(L, (lua_Integer)pkt->ack_id);
        lua_pushcclosure(L, ack_call, 2);
        top++;
    }
    if (find_lone_listener(L, ev->s, 3, 5)) {
        lua_settop(L, top); /* listener(args..., [ack]) */
        lua_callk(L, top - 5, 0, 0, event_done);
        return 0;
    }
    lua_settop(L, top);
    lua_copy(L, lua_upvalueindex(K_EVENT_FN), 2); /* dispatch.event(sock, has_ack, name, args..., [ack]) */
    lua_callk(L, top - 2, 0, 0, event_done);
    return 0;
}

/* An ACK: the arguments as one array for the callback that waits. */
static int ack_cf(lua_State *L)
{
    packet_ev_t *ev = lua_touserdata(L, 1);
    const sio_packet_t *pkt = ev->pkt;
    sl_lua_bind_push_socket(L, ev->s);
    if (lua_isnil(L, -1))
        return 0;
    sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)ev->atts, ev->natts};
    if (sl_lua_json_decode(L, pkt->payload, pkt->payload_len, ev->natts ? &o : NULL, ev->err,
                           sizeof ev->err) != 0) {
        if (!ev->err[0])
            snprintf(ev->err, sizeof ev->err, "not JSON");
        return 0;
    }
    if (pkt->has_ack)
        lua_pushinteger(L, (lua_Integer)pkt->ack_id);
    else
        lua_pushnil(L);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "ack", 3, 0);
    return 0;
}

static void lua_on_packet(sio_socket_t *s, const sio_packet_t *pkt, const sio_packet_bin_t *atts,
                          unsigned natts, void *ud)
{
    packet_ev_t ev = {ud, s, pkt, atts, natts, ""};
    if (pkt->type == SIO_PACKET_ACK || pkt->type == SIO_PACKET_BINARY_ACK)
        sl_lua_bind_call(ud, ack_cf, &ev, "an ack");
    else
        sl_lua_bind_handler(ud, ((sl_app_t *)ud)->event_fn_ref, &ev); /* the app is the bind context */
    if (ev.err[0]) {
        SL_INFOF("sio", SL_LOG_FIELDS("socket", sio_socket_id(s), "nsp", sio_nsp_name(sio_socket_nsp(s))),
                 "socket %s: undecodable arguments (%s), closing", sio_socket_id(s), ev.err);
        sio_socket_disconnect(s, 1);
    }
}

/* "disconnecting" (still in its rooms) and "disconnect" (out of them). */
typedef struct leaving_ev {
    sl_lua_bind_t *b;
    sio_socket_t *s;
    const char *name, *reason;
} leaving_ev_t;

static int leaving_cf(lua_State *L)
{
    leaving_ev_t *ev = lua_touserdata(L, 1);
    sl_lua_bind_push_socket(L, ev->s);
    if (lua_isnil(L, -1))
        return 0;
    lua_pushstring(L, ev->reason);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, ev->name, 2, 0);
    return 0;
}

static void lua_on_disconnecting(sio_socket_t *s, const char *reason, void *ud)
{
    leaving_ev_t ev = {ud, s, "disconnecting", reason};
    sl_lua_bind_call(ud, leaving_cf, &ev, "a disconnect");
}

static void lua_on_disconnect(sio_socket_t *s, const char *reason, void *ud)
{
    leaving_ev_t ev = {ud, s, "disconnect", reason};
    sl_lua_bind_call(ud, leaving_cf, &ev, "a disconnect");
}

/* The socket's last event: its handle closes, its binding goes. */
typedef struct free_ev {
    sl_lua_bind_t *b;
    int ref;
    const char *id;
} free_ev_t;

/* The socket table reads its id from the handle while the socket lives
 * (lua/siolua/socket.lua, socket_metatable): the handle closes now, so
 * the table keeps the id from here on. */
static int free_cf(lua_State *L)
{
    free_ev_t *ev = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref);
    lua_pushstring(L, ev->id);
    lua_setfield(L, -2, "id");
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "free", 1, 0);
    return 0;
}

static void lua_on_free(sio_socket_t *s, void *ud)
{
    sl_lua_bind_t *b = ud;
    sock_ud_t *u = sio_socket_data(s);
    if (!u)
        return;
    sio_socket_set_data(s, NULL);
    for (connecting_ev_t *ev = connecting_now; ev; ev = ev->outer) {
        if (ev->s == s) {
            ev->alive = 0;
            snprintf(ev->gone_id, sizeof ev->gone_id, "%s", sio_socket_id(s));
        }
    }
    u->s = NULL;
    int ref = u->ref;
    u->ref = LUA_NOREF;
    /* The handle may be collected during the free event: u is not read
     * after it. */
    if (ref != LUA_NOREF) {
        free_ev_t ev = {b, ref, sio_socket_id(s)};
        sl_lua_bind_call(b, free_cf, &ev, "a socket's end");
        luaL_unref(b->L, LUA_REGISTRYINDEX, ref);
    }
}

/* A fetchSockets answer for another server: {id, handshake, rooms, data},
 * the handshake and data as the app sees them. */
typedef struct describe_ev {
    sl_lua_bind_t *b;
    sio_socket_t *s;
    sl_buf_t *out;
    int ok;
} describe_ev_t;

static int describe_cf(lua_State *L)
{
    describe_ev_t *ev = lua_touserdata(L, 1);
    sl_lua_json_new_object(L, 4);
    lua_pushstring(L, sio_socket_id(ev->s));
    lua_setfield(L, -2, "id");
    sl_lua_bind_push_socket(L, ev->s);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "handshake"); /* made now when never read (Socket.__index) */
        lua_setfield(L, -3, "handshake");
        lua_getfield(L, -1, "data");
        lua_setfield(L, -3, "data");
    }
    lua_pop(L, 1);
    sl_lua_json_new_array(L, 4);
    sio_socket_each_room(ev->s, push_room, L);
    lua_setfield(L, -2, "rooms");
    char err[128];
    ev->ok = sl_lua_json_encode(L, -1, ev->out, NULL, err, sizeof err) >= 0;
    return 0;
}

static void lua_describe_socket(sio_socket_t *s, sl_buf_t *out, void *ud)
{
    describe_ev_t ev = {ud, s, out, 0};
    size_t before = out->len;
    sl_lua_bind_call(ud, describe_cf, &ev, "a fetchSockets answer");
    if (!ev.ok) {
        out->len = before;
        sl_buf_appendf(out, "{\"id\":\"%s\",\"handshake\":{},\"rooms\":[],\"data\":{}}",
                       sio_socket_id(s));
    }
}

static const sio_handler_t lua_sio_handler = {
    .resolve_nsp = lua_resolve_nsp,
    .on_connecting = lua_on_connecting,
    .on_packet = lua_on_packet,
    .on_disconnecting = lua_on_disconnecting,
    .on_disconnect = lua_on_disconnect,
    .on_free = lua_on_free,
    .describe_socket = lua_describe_socket,
};

/* ---- the app ------------------------------------------------------------------- */

/* __index(self, k) of core.indexer: methods[k] when there is one, else
 * values[k] when there is one, else fallback(self, k). */
static int indexer_cf(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
        return 1;
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* core.indexer(methods, values, fallback): an __index function that finds
 * methods[k], then values[k] (a socket's nsp and connected, the same for
 * every socket of a namespace while connected), then asks fallback(self,
 * k). In C, because every method call on an object whose __index must
 * also make fields (a socket's) goes through it: as a Lua function it was
 * a call into the VM per method looked up (a socket:join, socket:on...),
 * about a thousand instructions each (more with the instruction budget's
 * hook on). A false value is found (rawget), not passed on to the fallback. */
static int core_indexer(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    lua_pushcclosure(L, indexer_cf, 3);
    return 1;
}

static const luaL_Reg core_funcs[] = {
    {"of", core_of},
    {"nsp_detached", core_nsp_detached},
    {"random_id", core_random_id},
    {"on", core_on},
    {"socket_join", core_socket_join},
    {"recovery", core_recovery},
    {"ack_timed_out", core_ack_timed_out},
    {"clients_count", core_clients_count},
    {"parser", core_parser},
    {"close", core_close},
    {"configure", core_configure},
    {"spawn", sl_lua_l_spawn},
    {"waker", sl_lua_l_waker},
    {"indexer", core_indexer},
    {NULL, NULL},
};

/* Builds `core` (the C side the library sees: server functions, the
 * handle types, the adapter) and runs require("siolua.api")(sio, core),
 * which returns dispatch and eio_dispatch. Everything runs under the
 * guard, as any call into Lua. */
static int open_api_cf(lua_State *L)
{
    sl_app_t *app = lua_touserdata(L, 1);
    sl_lua_bind_metatable(L, SOCK_MT, sock_methods, sock_tostring, sock_gc);
    luaL_getmetatable(L, SOCK_MT);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sock_mt_key);
    sl_lua_bind_metatable(L, SL_LUA_NSP_MT, nsp_methods, nsp_tostring, NULL);
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushstring(L, "siolua.api");
    lua_call(L, 1, 1);
    sl_lua_push_module(app->b.rt, L);
    lua_newtable(L); /* core */
    int core = lua_gettop(L);
    lua_pushlightuserdata(L, app);
    luaL_setfuncs(L, core_funcs, 1);
    sl_lua_http_open(&app->b, core);
    sl_lua_cluster_open(&app->b, core);
    sl_lua_emitter_open(&app->b, core);
    sl_lua_watch_open(&app->b, core);
    luaL_requiref(L, "siolua.json", luaopen_siolua_json, 0);
    lua_setfield(L, core, "json");
    sl_lua_crypto_push(L);
    lua_setfield(L, core, "crypto");
    lua_call(L, 2, 3);
    app->b.watcher_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    app->b.eio_dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "event");
    app->b.event_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    app->b.dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    event_fn(L, app);
    return 0;
}

sl_app_t *sl_app_new(uv_loop_t *loop, sl_server_t *http, const char *app_dir,
                     const char *lib_dir, const eio_options_t *eopts,
                     const sio_options_t *sopts, sl_app_option_cb set_option, void *option_ud)
{
    sl_app_t *app = calloc(1, sizeof *app);
    if (!app)
        return NULL;
    app->b.loop = loop;
    app->b.dispatch_ref = app->b.eio_dispatch_ref = app->b.event_ref = app->b.watcher_ref = LUA_NOREF;
    app->event_fn_ref = LUA_NOREF;
    app->set_option = set_option;
    app->option_ud = option_ud;
    app->b.http = http;
    snprintf(app->app_dir, sizeof app->app_dir, "%s", app_dir);
    sio_handler_t h = lua_sio_handler;
    sl_lua_cluster_handler(&h);
    sl_lua_watch_handler(&h);
    app->b.sio = sio_server_new(loop, eopts, sopts, &h, &app->b);
    app->b.rt = app->b.sio ? sl_lua_new(loop, app_dir, lib_dir) : NULL;
    if (!app->b.rt) {
        sio_server_free(app->b.sio);
        free(app);
        return NULL;
    }
    app->b.L = sl_lua_state(app->b.rt);
    sl_lua_client_open(app->b.rt, app->b.L);
    sl_lua_redis_open(app->b.rt);
    sl_lua_fetch_open(app->b.rt);
    lua_State *L = app->b.L;
    lua_pushcfunction(L, open_api_cf);
    lua_pushlightuserdata(L, app);
    if (sl_lua_pcall(app->b.rt, L, 1, 0, "the siolua library") != 0) {
        sl_app_free(app);
        return NULL;
    }
    sl_server_mount_eio(http, sio_server_eio(app->b.sio));
    sl_server_add_route(http, sl_lua_http_route, &app->b);
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
    return sl_lua_run_file(app->b.rt, path);
}

void sl_app_start(sl_app_t *app) { app->b.started = 1; }

/* Pushes dispatch[name]. */
static void push_dispatch(sl_app_t *app, const char *name)
{
    lua_rawgeti(app->b.L, LUA_REGISTRYINDEX, app->b.dispatch_ref);
    lua_getfield(app->b.L, -1, name);
    lua_remove(app->b.L, -2);
}

/* All or nothing (docs/hot-reload.md). Compile first: a syntax error
 * changes nothing. Then three guarded calls, each with a fresh
 * time limit: set the old registrations aside, run the new
 * main.lua, then commit (rebind the sockets) or roll back. */
static int app_reload(sl_app_t *app)
{
    lua_State *L = app->b.L;
    char path[4200];
    snprintf(path, sizeof path, "%s/main.lua", app->app_dir);
    if (luaL_loadfile(L, path) != LUA_OK) {
        SL_ERROR("reload", "reload failed, the previous version keeps serving: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    push_dispatch(app, "reload_begin");
    lua_pushstring(L, app->app_dir);
    if (sl_lua_pcall(app->b.rt, L, 1, 0, "reload") != 0) {
        lua_pop(L, 1); /* the chunk */
        push_dispatch(app, "reload_rollback");
        sl_lua_pcall(app->b.rt, L, 0, 0, "reload rollback");
        return -1;
    }
    /* Run the chunk (below) through pcall in Lua so an ordinary error comes
     * back as a value for one log line of ours; what pcall can't catch (the
     * time limit) is logged by sl_lua_pcall, in one line too. */
    static const char runner[] =
        "local chunk = ... local ok, err = pcall(chunk) if not ok then return tostring(err) end";
    if (luaL_loadstring(L, runner) != LUA_OK) {
        lua_pop(L, 2);
        return -1;
    }
    lua_insert(L, -2);
    int failed = sl_lua_pcall(app->b.rt, L, 1, 1, "reload") != 0;
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
        sl_lua_pcall(app->b.rt, L, 0, 0, "reload rollback");
        return -1;
    }
    push_dispatch(app, "reload_commit");
    if (sl_lua_pcall(app->b.rt, L, 0, 2, "reload commit") != 0)
        return -1;
    long long rebound = lua_tointeger(L, -2), kept = lua_tointeger(L, -1);
    lua_pop(L, 2);
    SL_INFO("reload", "%s reloaded; %lld connected sockets: %lld rebound by 'reload' listeners, "
            "%lld kept their handlers (no 'reload' listener in their namespace)",
            path, rebound + kept, rebound, kept);
    return 0;
}

int sl_app_reload(sl_app_t *app)
{
    int rc = app_reload(app);
    if (rc == 0)
        app->stats.reloads_ok++;
    else
        app->stats.reloads_failed++;
    return rc;
}

const sl_app_stats_t *sl_app_stats(const sl_app_t *app) { return &app->stats; }
const sl_lua_stats_t *sl_app_lua_stats(const sl_app_t *app) { return sl_lua_stats(app->b.rt); }
size_t sl_app_lua_memory(const sl_app_t *app) { return sl_lua_memory(app->b.rt); }
void sl_app_set_lua_timing(sl_app_t *app, int on) { sl_lua_set_timing(app->b.rt, on); }

static void app_files_changed(void *ud)
{
    sl_app_t *app = ud;
    sl_app_reload(app);
    sl_watch_rescan(app->watch);
}

/* ---- the adapter ------------------------------------------------------------ */

static sio_redis_t *use_adapter(sl_app_t *app, const char *url, const sio_redis_opts_t *o,
                               const char *label, int classic_only)
{
    sio_redis_opts_t opts = *o;
    if (classic_only && opts.sharded) {
        SL_WARN("adapter", "the %s has no sharded pub/sub: redisAdapter=sharded ignored", label);
        opts.sharded = 0;
    }
    snprintf(opts.label, sizeof opts.label, "%s", label);
    app->redis = sio_redis_new(app->b.loop, app->b.sio, url, &opts);
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
    lua_State *L = app->b.L;
    sl_lua_push_module(app->b.rt, L);
    lua_pushinteger(L, index);
    lua_setfield(L, -2, "worker");
    lua_pop(L, 1);
}


int sl_app_watch(sl_app_t *app)
{
    if (app->watch)
        return 0;
    app->watch = sl_watch_new(app->b.loop, app->app_dir, ".lua", 100, app_files_changed, app);
    return app->watch ? 0 : -1;
}
sio_server_t *sl_app_sio(sl_app_t *app) { return app->b.sio; }
sl_lua_t *sl_app_lua(sl_app_t *app) { return app->b.rt; }

void sl_app_shutdown(sl_app_t *app)
{
    if (app->shutting_down)
        return;
    app->shutting_down = 1;
    sl_watch_close(app->watch);
    app->watch = NULL;
    sio_server_close_all(app->b.sio);
    sio_redis_close(app->redis);
    app->redis = NULL;
    sl_lua_fetch_close(app->b.rt, "the server is shutting down");
}

void sl_app_free(sl_app_t *app)
{
    if (!app)
        return;
    sl_watch_close(app->watch);
    app->watch = NULL;
    sl_lua_redis_close(app->b.rt);
    sl_lua_fetch_close(app->b.rt, "the server is shutting down");
    if (app->b.rt)
        sl_lua_free(app->b.rt);
    sio_server_free(app->b.sio);
    free(app);
}
