/* L6 lua/lua_config: configuration tables into settings. See lua_config.h.
 *
 * One reading of an options table serves sio.configure (lua_sio.c, through
 * sl_lua_options_walk) and configuration files, so a table means the same
 * in both places. */
#include "lua/lua_config.h"

#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lua/lua_bind.h"

#define NAME_MAX_LEN 256
#define FILE_BUDGET 10000000

/* The text form of a value (see sl_config_cb); tables are lists. */
static const char *option_text(lua_State *L, int idx, char *buf, size_t cap)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER: {
        /* A whole float (10 * 1000.0) is that integer; 1.5 is no count of
         * milliseconds or bytes: no text form, so a bad value. */
        int whole;
        lua_Integer n = lua_tointegerx(L, idx, &whole);
        if (!whole)
            return NULL;
        snprintf(buf, cap, "%lld", (long long)n);
        return buf;
    }
    case LUA_TSTRING:
        return lua_tostring(L, idx);
    case LUA_TTABLE: {
        size_t o = 0;
        buf[0] = '\0';
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, idx); i++) {
            lua_rawgeti(L, idx, i);
            const char *s = lua_type(L, -1) == LUA_TTABLE ? NULL : lua_tostring(L, -1);
            lua_pop(L, 1);
            if (!s)
                return NULL;
            o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "%s%s", o ? "," : "", s);
        }
        return o < cap ? buf : NULL;
    }
    default:
        return NULL;
    }
}

/* The value at vidx under the name in name (its last rel bytes are the
 * option's own name, what the special case looks at). A nested table of
 * named fields (cors, perMessageDeflate) is given first as itself, "{}"
 * (a section such as perMessageDeflate turns on, as Node's option objects
 * do), then field by field flattened into "cors.origin"; a list is a
 * value. */
static int walk_value(lua_State *L, const char *name, size_t rel, int vidx, sl_lua_option_cb cb, void *ud)
{
    char buf[1024];
    const char *own = name + strlen(name) - rel;
    if (lua_type(L, vidx) == LUA_TTABLE && lua_rawlen(L, vidx) == 0) {
        int rc = cb(ud, name, "{}");
        if (rc)
            return rc;
        lua_pushnil(L);
        while (lua_next(L, vidx)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                char full[NAME_MAX_LEN];
                int n = snprintf(full, sizeof full, "%s.%s", name, lua_tostring(L, -2));
                size_t sub = rel + (size_t)n - strlen(name); /* the option's own name grew too */
                rc = n < (int)sizeof full ? walk_value(L, full, sub, lua_gettop(L), cb, ud) : cb(ud, name, NULL);
                if (rc) {
                    lua_pop(L, 2);
                    return rc;
                }
            }
            lua_pop(L, 1);
        }
        return 0;
    }
    if (!strcmp(own, "cors.origin") && lua_isboolean(L, vidx))
        return cb(ud, name, lua_toboolean(L, vidx) ? "*" : "");
    return cb(ud, name, option_text(L, vidx, buf, sizeof buf));
}

int sl_lua_options_walk(lua_State *L, int idx, const char *prefix, sl_lua_option_cb cb, void *ud)
{
    idx = lua_absindex(L, idx);
    size_t plen = strlen(prefix);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return SL_LUA_OPTIONS_EKEY;
        }
        char full[NAME_MAX_LEN];
        int n = snprintf(full, sizeof full, "%s%s", prefix, lua_tostring(L, -2));
        int rc = n < (int)sizeof full ? walk_value(L, full, (size_t)n - plen, lua_gettop(L), cb, ud)
                                      : cb(ud, full, NULL);
        if (rc) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* ---- configuration files ------------------------------------------------------ */

typedef struct file_read {
    const char *path;
    sl_config_cb cb;
    void *ud;
    int rc;        /* the callback's, when it stopped the walk */
} file_read_t;

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "took more than %d instructions", FILE_BUDGET);
}

static int file_cb(void *ud, const char *name, const char *value)
{
    file_read_t *f = ud;
    return f->cb(f->ud, name, value);
}

/* In protected mode: libraries, the chunk, its table, the walk. */
static int read_cf(lua_State *L)
{
    file_read_t *f = lua_touserdata(L, 1);
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},  {NULL, NULL},
    };
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    /* os.getenv alone: a file may read a secret from the environment. */
    luaopen_os(L);
    lua_getfield(L, -1, "getenv");
    lua_newtable(L);
    lua_insert(L, -2);
    lua_setfield(L, -2, "getenv");
    lua_setglobal(L, "os");
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");

    if (luaL_loadfilex(L, f->path, "t") != LUA_OK)
        return lua_error(L);
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, FILE_BUDGET);
    lua_call(L, 0, 1);
    lua_sethook(L, NULL, 0, 0);
    if (!lua_istable(L, -1))
        return luaL_error(L, "%s: must return a table (it returned %s)", f->path, luaL_typename(L, -1));
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "%s: keys must be names (found a %s key)", f->path, luaL_typename(L, -2));
        const char *key = lua_tostring(L, -2);
        int rc = !strcmp(key, "options") && lua_istable(L, -1)
                     ? sl_lua_options_walk(L, -1, "options.", file_cb, f)
                     : walk_value(L, key, strlen(key), lua_gettop(L), file_cb, f);
        if (rc == SL_LUA_OPTIONS_EKEY)
            return luaL_error(L, "%s: %s: option names must be strings", f->path, key);
        if (rc) {
            f->rc = rc;
            return 0;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int sl_config_read(const char *path, sl_config_cb cb, void *ud, char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "%s: not enough memory", path);
        return -1;
    }
    file_read_t f = {path, cb, ud, 0};
    lua_pushcfunction(L, read_cf);
    lua_pushlightuserdata(L, &f);
    int rc = 0;
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        if (!m)
            m = "error object is not a string";
        /* Lua's messages name the file already ("FILE:3: ...", "cannot
         * open FILE"), except those raised outside its code (the budget). */
        if (strstr(m, path))
            snprintf(err, errlen, "%s", m);
        else
            snprintf(err, errlen, "%s: %s", path, m);
        rc = -1;
    } else {
        rc = f.rc;
    }
    lua_close(L);
    return rc;
}
