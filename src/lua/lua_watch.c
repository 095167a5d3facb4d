/* L6 lua/lua_watch: what a dashboard sees of this server, for
 * lua/siolua/admin.lua (the Admin UI's instrument): sio_server_watch
 * turned on and off, the room and transport events it brings up (into
 * dispatch.room and dispatch.transport), the traffic counted per second,
 * and the server's facts (host name, pid, uptime). Nothing
 * here runs, and nothing crosses into Lua, until the app instruments.
 *
 *   sio_socket_join/leave --on_room--> dispatch.room(nsp, id, room, joined)
 *   eio upgrade --on_transport------> dispatch.transport(nsp, id, name)
 *   core.watch.traffic()  <-- sio_server_traffic_take (seconds, counts) */
#include "lua/lua_bind.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/datadir.h"
#include "lua/lua_json.h"

static uint64_t started_ns; /* uv_hrtime when the library was opened */

static sl_lua_bind_t *bind_of(lua_State *L) { return sl_lua_bind_upvalue(L); }

/* ---- events from C ------------------------------------------------------------ */

typedef struct room_ev {
    sl_lua_bind_t *b;
    sio_socket_t *s;
    const char *room;
    size_t len;
    int joined;
} room_ev_t;

static int room_cf(lua_State *L)
{
    room_ev_t *ev = lua_touserdata(L, 1);
    /* By name and id: at accept the socket's table is not bound yet. */
    lua_pushstring(L, sio_nsp_name(sio_socket_nsp(ev->s)));
    lua_pushstring(L, sio_socket_id(ev->s));
    lua_pushlstring(L, ev->room, ev->len);
    lua_pushboolean(L, ev->joined);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "room", 4, 0);
    return 0;
}

static void lua_on_room(sio_socket_t *s, const char *room, size_t len, int joined, void *ud)
{
    room_ev_t ev = {ud, s, room, len, joined};
    sl_lua_bind_call(ud, room_cf, &ev, "a room change");
}

typedef struct transport_ev {
    sl_lua_bind_t *b;
    sio_socket_t *s;
    const char *name;
} transport_ev_t;

static int transport_cf(lua_State *L)
{
    transport_ev_t *ev = lua_touserdata(L, 1);
    lua_pushstring(L, sio_nsp_name(sio_socket_nsp(ev->s)));
    lua_pushstring(L, sio_socket_id(ev->s));
    lua_pushstring(L, ev->name);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "transport", 3, 0);
    return 0;
}

static void lua_on_transport(sio_socket_t *s, const char *name, void *ud)
{
    transport_ev_t ev = {ud, s, name};
    sl_lua_bind_call(ud, transport_cf, &ev, "a transport upgrade");
}

void sl_lua_watch_handler(sio_handler_t *h)
{
    h->on_room = lua_on_room;
    h->on_transport = lua_on_transport;
}

/* ---- core.watch ------------------------------------------------------------- */

/* on(traffic, events): turns the traffic counts and the room and
 * transport events on or off. */
static int watch_on(lua_State *L)
{
    unsigned what = (lua_toboolean(L, 1) ? SIO_WATCH_TRAFFIC : 0) | (lua_toboolean(L, 2) ? SIO_WATCH_EVENTS : 0);
    sio_server_watch(bind_of(L)->sio, what);
    return 0;
}

/* Appends {timestamp = ms, type = type[, subType = sub], count = n} to the
 * array on top, as Node's admin-ui EventBuffer lists a second's events. */
static void push_event(lua_State *L, int64_t ms, const char *type, const char *sub, uint64_t n)
{
    sl_lua_json_new_object(L, 4);
    lua_pushinteger(L, (lua_Integer)ms);
    lua_setfield(L, -2, "timestamp");
    lua_pushstring(L, type);
    lua_setfield(L, -2, "type");
    if (sub) {
        lua_pushstring(L, sub);
        lua_setfield(L, -2, "subType");
    }
    lua_pushinteger(L, (lua_Integer)n);
    lua_setfield(L, -2, "count");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

static void push_second(const sio_traffic_t *t, void *ud)
{
    lua_State *L = ud;
    static const char *const names[SIO_TRAFFIC_KINDS] = {
        [SIO_TRAFFIC_OPENED] = "rawConnection",    [SIO_TRAFFIC_PACKETS_IN] = "packetsIn",
        [SIO_TRAFFIC_BYTES_IN] = "bytesIn",        [SIO_TRAFFIC_PACKETS_OUT] = "packetsOut",
        [SIO_TRAFFIC_BYTES_OUT] = "bytesOut",
    };
    int64_t ms = t->sec * 1000;
    luaL_checkstack(L, 4, NULL);
    for (int k = 0; k < SIO_TRAFFIC_KINDS; k++) {
        if (t->count[k])
            push_event(L, ms, names[k], NULL, t->count[k]);
        if (k == SIO_TRAFFIC_OPENED)
            for (int i = 0; i < SIO_TRAFFIC_REASONS && t->closed[i].reason; i++)
                push_event(L, ms, "rawDisconnection", t->closed[i].reason, t->closed[i].n);
    }
}

/* traffic() -> the seconds counted since the last call, as an array of
 * events (JSON array, empty when none), and the polling sessions now. */
static int watch_traffic(lua_State *L)
{
    sl_lua_bind_t *b = bind_of(L);
    sl_lua_json_new_array(L, 0);
    sio_server_traffic_take(b->sio, push_second, L);
    lua_pushinteger(L, (lua_Integer)sio_server_polling_count(b->sio));
    return 2;
}

static void push_nsp_count(sio_nsp_t *n, void *ud)
{
    lua_State *L = ud;
    luaL_checkstack(L, 3, NULL);
    sl_lua_json_new_object(L, 2);
    lua_pushstring(L, sio_nsp_name(n));
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)sio_nsp_socket_count(n));
    lua_setfield(L, -2, "socketsCount");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* namespaces() -> [{name, socketsCount}] in order of creation ("/" first),
 * the connected sockets of each on this server. */
static int watch_namespaces(lua_State *L)
{
    sl_lua_json_new_array(L, 4);
    sio_server_each_nsp(bind_of(L)->sio, push_nsp_count, L);
    return 1;
}

/* server() -> host name, pid, seconds since the server started (a float,
 * as Node's process.uptime()). */
static int watch_server(lua_State *L)
{
    char host[256];
    size_t n = sizeof host;
    if (uv_os_gethostname(host, &n) != 0)
        strcpy(host, "localhost");
    lua_pushstring(L, host);
    lua_pushinteger(L, (lua_Integer)uv_os_getpid());
    lua_pushnumber(L, (double)(uv_hrtime() - started_ns) / 1e9);
    return 3;
}

/* ui_dir() -> where the Admin UI's files are (base/datadir.h). */
static int watch_ui_dir(lua_State *L)
{
    lua_pushstring(L, sl_datadir_admin_ui());
    lua_pushboolean(L, getenv("SIOLUA_ADMIN_UI_DIR") != NULL);
    return 2;
}

static const luaL_Reg watch_funcs[] = {
    {"on", watch_on},
    {"traffic", watch_traffic},
    {"namespaces", watch_namespaces},
    {"server", watch_server},
    {"ui_dir", watch_ui_dir},
    {NULL, NULL},
};

void sl_lua_watch_open(sl_lua_bind_t *b, int core)
{
    lua_State *L = b->L;
    if (!started_ns)
        started_ns = uv_hrtime();
    lua_createtable(L, 0, 5);
    lua_pushlightuserdata(L, b);
    luaL_setfuncs(L, watch_funcs, 1);
    lua_setfield(L, core, "watch");
}
