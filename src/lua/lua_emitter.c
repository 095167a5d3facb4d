/* L6 lua/lua_emitter: sio.emitter's C side (lua/siolua/emitter.lua is its
 * Lua side): publishes events to a cluster through its Redis, as
 * @socket.io/redis-emitter does, without being a member of it. A Redis
 * publisher by nature, so it uses the cluster's Redis link and message
 * format directly (it is no adapter: the server's own cluster may not
 * even be Redis). */
#include "lua/lua_bind.h"

#include <stdint.h>
#include <string.h>
#include <lauxlib.h>
#include <lua.h>

#include "cluster/redis_link.h"
#include "cluster/redis_url.h"
#include "cluster/sio_redis.h"

#define EMITTER_MT "siolua.emitter"

/* Messages published before the link first comes up wait here (a few:
 * an emitter is usually made and used at once). */
#define EMITTER_QUEUE_MAX 1000

typedef struct emitter {
    sl_redis_link_t *link;    /* NULL once collected */
    char key[64];
    sl_buf_t queued;      /* [u32 channel len][channel][u32 msg len][msg]... */
    unsigned nqueued;
} emitter_t;

static int emitter_publish_now(emitter_t *em, const char *ch, size_t chlen, const char *msg,
                               size_t len)
{
    const char *argv[3] = {"PUBLISH", ch, msg};
    size_t lens[3] = {7, chlen, len};
    return sl_redis_link_command(em->link, NULL, NULL, 3, argv, lens, 0);
}

static void emitter_state(sl_redis_link_t *l, int up, const char *why, void *ud)
{
    (void)l;
    (void)why;
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

/* core.emitter_new(url, key) -> an emitter handle, connecting (in the
 * background, reconnecting forever) until it is collected. */
static int core_emitter_new(lua_State *L)
{
    sl_lua_bind_t *b = sl_lua_bind_upvalue(L);
    const char *url = luaL_checkstring(L, 1);
    const char *key = luaL_optstring(L, 2, "socket.io");
    sl_redis_url_t u;
    char why[256];
    if (sl_redis_url_parse_checked(url, &u, why, sizeof why) != 0)
        return luaL_error(L, "sio.emitter: bad redis URL: %s", why);
    if (strlen(key) >= sizeof ((emitter_t *)0)->key)
        return luaL_error(L, "sio.emitter: key too long");
    emitter_t *em = lua_newuserdatauv(L, sizeof *em, 0);
    memset(em, 0, sizeof *em);
    strcpy(em->key, key);
    luaL_setmetatable(L, EMITTER_MT);
    sl_redis_link_opts_t lo = {.name = "emitter", .command_timeout_ms = 5000};
    em->link = sl_redis_link_new(b->loop, &u, &lo, emitter_state, em, why, sizeof why);
    if (!em->link)
        return luaL_error(L, "sio.emitter: %s", why);
    return 1;
}

/* h:publish(nsp, rooms, except, args) -> true, or false, "redis unavailable" */
static int emitter_publish(lua_State *L)
{
    emitter_t *em = luaL_checkudata(L, 1, EMITTER_MT);
    const char *nsp = luaL_checkstring(L, 2);
    luaL_checktype(L, 5, LUA_TTABLE);
    lua_settop(L, 5);
    size_t nr, ne;
    sio_slice_t *rooms = sl_lua_bind_rooms(L, 3, &nr);
    sio_slice_t *except = sl_lua_bind_rooms(L, 4, &ne);
    sio_target_t t = {rooms, nr, except, ne, 0, 0};
    sl_buf_t msg = SL_BUF_INIT, ch = SL_BUF_INIT;
    sl_lua_bind_args_t a = SL_LUA_BIND_ARGS_INIT;
    char err[256];
    int rc = sl_lua_bind_encode(L, 5, &a, err, sizeof err);
    if (rc == 0)
        rc = sio_redis_emitter_message(&msg, &ch, em->key, nsp, &t, a.json.data, a.json.len, a.atts,
                                       a.natts);
    sl_lua_bind_args_free(&a);
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

static const luaL_Reg emitter_methods[] = {
    {"publish", emitter_publish},
    {NULL, NULL},
};

void sl_lua_emitter_open(sl_lua_bind_t *b, int core)
{
    lua_State *L = b->L;
    sl_lua_bind_metatable(L, EMITTER_MT, emitter_methods, NULL, emitter_gc);
    lua_pop(L, 1);
    lua_pushlightuserdata(L, b);
    lua_pushcclosure(L, core_emitter_new, 1);
    lua_setfield(L, core, "emitter_new");
}
