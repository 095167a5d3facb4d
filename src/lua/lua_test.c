/* L6 lua/lua_test: starts lua/siolua/test.lua's runner. See lua_test.h.
 *
 *   _run{files, timeout, spawn, waker, finish, stopped}
 *                               |        |
 *                 C closures over one userdata: a copy of the callbacks
 *                 (anchored by the closures, so the GC keeps it while the
 *                 runner holds them) */
#include "lua/lua_test.h"

#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "lua/lua_rt.h"

typedef struct tests_cb {
    void (*finish)(void *ud, long passed, long failed);
    int (*stopped)(void *ud);
    void *ud;
} tests_cb_t;

/* finish(passed, failed): called once by siolua.test when the last test
 * is over. */
static int l_finish(lua_State *L)
{
    tests_cb_t *cb = lua_touserdata(L, lua_upvalueindex(1));
    long passed = (long)luaL_checkinteger(L, 1);
    long failed = (long)luaL_checkinteger(L, 2);
    cb->finish(cb->ud, passed, failed);
    return 0;
}

/* stopped(): true once the run is being interrupted. */
static int l_stopped(lua_State *L)
{
    tests_cb_t *cb = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushboolean(L, cb->stopped(cb->ud));
    return 1;
}

int sl_app_run_tests(sl_app_t *app, const sl_app_tests_t *t)
{
    sl_lua_t *rt = sl_app_lua(app);
    lua_State *L = sl_lua_state(rt);
    sl_lua_push_module(rt, L);
    lua_pushstring(L, t->base_url);
    lua_setfield(L, -2, "test_url");
    lua_pop(L, 1);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "siolua.test");
    if (sl_lua_pcall(rt, L, 1, 1, "require 'siolua.test'"))
        return -1;
    lua_getfield(L, -1, "_run");
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        SL_ERROR("test", "siolua.test has no _run");
        return -1;
    }
    lua_createtable(L, 0, 6);
    lua_createtable(L, t->nnames, 0);
    for (int i = 0; i < t->nnames; i++) {
        lua_pushfstring(L, "%s/%s", t->dir, t->names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "files");
    lua_pushinteger(L, t->timeout_ms);
    lua_setfield(L, -2, "timeout");
    lua_pushcfunction(L, sl_lua_l_spawn);
    lua_setfield(L, -2, "spawn");
    lua_pushcfunction(L, sl_lua_l_waker);
    lua_setfield(L, -2, "waker");
    tests_cb_t *cb = lua_newuserdatauv(L, sizeof *cb, 0);
    cb->finish = t->finish;
    cb->stopped = t->stopped;
    cb->ud = t->ud;
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_finish, 1);
    lua_setfield(L, -3, "finish");
    lua_pushcclosure(L, l_stopped, 1);
    lua_setfield(L, -2, "stopped");
    sl_lua_spawn(rt, L, 1, "siolua test runner");
    return 0;
}
