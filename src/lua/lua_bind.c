/* L6 lua/lua_bind: the guarded event call and the helpers the binding files
 * share. See lua_bind.h. */
#include "lua/lua_bind.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_json.h"

int sl_lua_bind_call(sl_lua_bind_t *b, lua_CFunction fn, void *ev, const char *what)
{
    lua_State *L = b->L;
    int top = lua_gettop(L);
    /* Neither push allocates (a light C function, a light userdata), so
     * nothing can raise before the guard is up; sl_lua_pcall checks the
     * stack space. */
    if (!lua_checkstack(L, 2))
        return -1;
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ev);
    int rc = sl_lua_pcall(b->rt, L, 1, 0, what);
    lua_settop(L, top);
    return rc;
}

void sl_lua_bind_dispatch(lua_State *L, int table_ref, const char *name, int nargs, int nres)
{
    luaL_checkstack(L, 2, NULL);
    lua_rawgeti(L, LUA_REGISTRYINDEX, table_ref);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_insert(L, -(nargs + 1));
    lua_call(L, nargs, nres);
}

int sl_lua_bind_handler(sl_lua_bind_t *b, int fn_ref, void *ev)
{
    return sl_lua_spawn_ref(b->rt, fn_ref, ev);
}

sl_lua_bind_t *sl_lua_bind_upvalue(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

void sl_lua_bind_metatable(lua_State *L, const char *name, const luaL_Reg *methods,
                           lua_CFunction tostring, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
}

/* ---- namespaces ----------------------------------------------------------- */

sio_nsp_t *sl_lua_bind_check_nsp(lua_State *L, int idx)
{
    sio_nsp_t **u = luaL_checkudata(L, idx, SL_LUA_NSP_MT);
    if (!*u)
        luaL_error(L, "namespace handle is closed (a dynamic family's, or its namespace is gone)");
    return *u;
}

void sl_lua_bind_push_nsp(lua_State *L, sio_nsp_t *n)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)(intptr_t)sio_nsp_data(n));
}

/* ---- values ------------------------------------------------------------------ */

sio_slice_t *sl_lua_bind_rooms(lua_State *L, int idx, size_t *n)
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

void sl_lua_bind_push_rooms(lua_State *L, const sio_slice_t *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushlstring(L, v[i].p, v[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The encoder's binary callback: copies the bytes as the next attachment. */
static int collect_binary(void *ud, const char *data, size_t len)
{
    sl_lua_bind_args_t *a = ud;
    if (a->natts == a->cap) {
        unsigned cap = a->cap ? a->cap * 2 : 4;
        sio_packet_bin_t *v = realloc(a->atts, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        a->atts = v;
        a->cap = cap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    a->atts[a->natts].data = copy;
    a->atts[a->natts].len = len;
    return (int)a->natts++;
}

int sl_lua_bind_encode(lua_State *L, int idx, sl_lua_bind_args_t *a, char *err, size_t errlen)
{
    sl_lua_json_encode_opts_t eo = {collect_binary, a};
    return sl_lua_json_encode(L, idx, &a->json, &eo, err, errlen) < 0 ? -1 : 0;
}

int sl_lua_bind_encode_values(lua_State *L, int first, int n, sl_lua_bind_args_t *a, char *err,
                              size_t errlen)
{
    sl_lua_json_encode_opts_t eo = {collect_binary, a};
    return sl_lua_json_encode_values(L, first, n, &a->json, &eo, err, errlen) < 0 ? -1 : 0;
}

void sl_lua_bind_args_free(sl_lua_bind_args_t *a)
{
    for (unsigned i = 0; i < a->natts; i++)
        free((void *)a->atts[i].data);
    free(a->atts);
    sl_buf_free(&a->json);
    a->atts = NULL;
    a->natts = a->cap = 0;
}

void sl_lua_bind_push_query(lua_State *L, const char *q)
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
