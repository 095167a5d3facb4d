/* tests/fuzz/fuzz_jwt.c: the JWT verifier (lua/siolua/jwt.lua on sio.crypto
 * and sio.json), in a runtime set up as the server sets it up (lua_rt with
 * the source tree's lua/ directory, sio.json and sio.crypto on the siolua
 * module). The checks are in fuzz_jwt.lua; input: a mode byte, then the
 * token, the claims, or a header and a payload split at the first NUL.
 *
 * jwt.verify must never raise on a string (a raise is a failed guarded
 * call here, and an invariant failure), and its answers are checked in
 * fuzz_jwt.lua.
 *
 * libFuzzer sees only C coverage; the Lua lines run are counted too, in
 * libFuzzer's extra counters (a line hook), so inputs that take a new path
 * through jwt.lua are kept. */
#include "fuzz.h"

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "base/log.h"
#include "lua/lua_crypto.h"
#include "lua/lua_json.h"
#include "lua/lua_rt.h"

#ifndef FUZZ_DIR
#error FUZZ_DIR must name tests/fuzz
#endif

static uv_loop_t loop;
static sl_lua_t *rt;
static lua_State *L;
static int check_ref;

/* One counter per (chunk, line) hash: libFuzzer reads this section as
 * extra coverage. */
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_lines[4096];

static void line_hook(lua_State *l, lua_Debug *ar)
{
    if (!lua_getinfo(l, "S", ar))
        return;
    uintptr_t h = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline * 2654435761u;
    lua_lines[(h >> 4) % sizeof lua_lines]++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (uv_loop_init(&loop))
        abort();
    rt = sl_lua_new(&loop, NULL, FUZZ_DIR "/../../lua"); /* the source tree's library */
    if (!rt)
        abort();
    L = sl_lua_state(rt);
    /* The fields api.lua puts on the module for apps. */
    sl_lua_push_module(rt, L);
    luaL_requiref(L, "siolua.json", luaopen_siolua_json, 0);
    lua_setfield(L, -2, "json");
    sl_lua_crypto_push(L);
    lua_setfield(L, -2, "crypto");
    lua_pop(L, 1);
    if (luaL_loadfile(L, FUZZ_DIR "/fuzz_jwt.lua") != LUA_OK ||
        sl_lua_pcall(rt, L, 0, 1, "fuzz_jwt.lua") != 0 || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz_jwt.lua: %s\n", lua_tostring(L, -1));
        abort();
    }
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* The guards would replace the line hook: a runaway is libFuzzer's
     * -timeout here. */
    sl_lua_set_budget(rt, 0);
    sl_lua_set_time_limit(rt, 0);
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    int mode = (int)(fuzz_byte(&in) % 3);
    const char *p = (const char *)in.p;
    const char *nul = memchr(p, '\0', in.n);
    size_t alen = mode == 2 && nul ? (size_t)(nul - p) : in.n;
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushinteger(L, mode);
    lua_pushlstring(L, p, alen);
    lua_pushlstring(L, p + alen + (alen < in.n), in.n - alen - (alen < in.n));
    int rc = sl_lua_pcall(rt, L, 3, 1, "jwt check");
    FUZZ_CHECK(rc == 0); /* jwt raised: logged above */
    if (!lua_isnil(L, -1)) {
        fprintf(stderr, "jwt: %s\n", lua_tostring(L, -1));
        FUZZ_CHECK(!"a promise of siolua.jwt was broken");
    }
    lua_settop(L, 0);
    /* The garbage of this input is collected now, so the input frees
     * what it allocated (libFuzzer runs LeakSanitizer, slowly, after every
     * input that does not). */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
