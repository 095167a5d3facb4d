/* L6 lua/lua_fetch: sio._fetch (contract in lua_fetch.h): Lua options in, one
 * net/http_client request, the handler parked on a wait until the response
 * (or the failure) resumes it. Knows nothing of Socket.IO.
 *
 *   box (Lua userdata: registry + upvalue of _fetch) --http--> sl_httpc_t
 *   wait <--ud-- request --cancel ud--> request
 *
 * A request's done callback hands the response over with
 * sl_lua_wait_resume_later (values built now, in protected mode, so the
 * memory cap applies to the body; the handler runs from the runtime's idle
 * phase, never inside the HTTP client's read callback). When the runtime
 * ends a wait itself (it is freed, or the handler failed before yielding),
 * the wait's cancel callback cancels the request, so no callback comes for
 * a wait that is gone. */
#include "lua/lua_fetch.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "net/http_client.h"

#define BOX_MT "siolua.fetch.client"
#define MS_MAX 86400000
#define MAX_BODY_MAX ((lua_Integer)1 << 40)
#define REDIRECTS_MAX 20
#define HEADERS_MAX 256

typedef struct box {
    sl_httpc_t *http; /* NULL once closed */
    char closed[128]; /* what later calls get */
} box_t;

static char registry_key; /* registry[&registry_key] = the box */

static const char *const option_names[] = {"method", "headers", "body", "timeout", "connect_timeout",
                                           "headers_timeout", "max_body", "redirect", "max_redirects",
                                           "ca_file", NULL};

/* Raises msg at the place of sio.fetch's caller: _fetch is called by
 * sio.fetch in fetch.lua, whose caller is the app's code. */
static int misuse(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    luaL_where(L, 2);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* ---- results ------------------------------------------------------------------ */

static int push_error(lua_State *L, void *ud)
{
    luaL_pushfail(L);
    lua_pushstring(L, ud);
    return 2;
}

/* Adds one header to the table on top: repeated names are joined with
 * ", " (RFC 9110 5.3), set-cookie is always a list (its values hold commas). */
static void add_header(lua_State *L, const char *name, const char *value)
{
    int t = lua_gettop(L);
    int kind = lua_getfield(L, t, name);
    if (!strcmp(name, "set-cookie")) {
        if (kind == LUA_TNIL) {
            lua_pop(L, 1);
            lua_createtable(L, 1, 0);
            lua_pushvalue(L, -1);
            lua_setfield(L, t, name);
        }
        lua_pushstring(L, value);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    } else if (kind == LUA_TNIL) {
        lua_pushstring(L, value);
        lua_setfield(L, t, name);
    } else {
        lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), value);
        lua_setfield(L, t, name);
    }
    lua_settop(L, t);
}

static int push_response(lua_State *L, void *ud)
{
    const sl_httpc_response_t *res = ud;
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, res->reason);
    lua_setfield(L, -2, "status_text");
    lua_pushboolean(L, res->status >= 200 && res->status < 300);
    lua_setfield(L, -2, "ok");
    lua_pushstring(L, res->url);
    lua_setfield(L, -2, "url");
    lua_pushboolean(L, res->redirects > 0);
    lua_setfield(L, -2, "redirected");
    lua_pushlstring(L, res->body, res->body_len);
    lua_setfield(L, -2, "body");
    lua_createtable(L, 0, (int)(res->nheaders < 64 ? res->nheaders : 64));
    for (size_t i = 0; i < res->nheaders; i++)
        add_header(L, res->headers[i].name, res->headers[i].value);
    lua_setfield(L, -2, "headers");
    return 1;
}

static void done_cb(sl_httpc_req_t *r, int code, const sl_httpc_response_t *res, const char *err, void *ud)
{
    (void)r;
    sl_lua_wait_t *w = ud;
    if (code == 0)
        sl_lua_wait_resume_later(w, push_response, (void *)res);
    else
        sl_lua_wait_resume_later(w, push_error, (void *)err);
}

static void cancel_cb(void *ud) { sl_httpc_cancel(ud); }

/* ---- options ------------------------------------------------------------------ */

static lua_Integer opt_int(lua_State *L, int t, const char *name, lua_Integer lo, lua_Integer hi, const char *what)
{
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    int ok = 0;
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok || v < lo || v > hi)
        misuse(L, "sio.fetch: '%s' must be %s from %I to %I", name, what, lo, hi);
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    const char *s = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            misuse(L, "sio.fetch: '%s' must be a string, got %s", name, luaL_typename(L, -1));
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays anchored in the options table */
    return s;
}

/* A header value as a string anchored in `anchor` (numbers and booleans
 * are converted). */
static const char *header_value(lua_State *L, int anchor, const char *name)
{
    int t = lua_type(L, -1);
    if (t == LUA_TBOOLEAN)
        lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
    else if (t == LUA_TSTRING || t == LUA_TNUMBER)
        lua_pushstring(L, lua_tostring(L, -1));
    else
        misuse(L, "sio.fetch: header '%s' must be a string, a number or a list of them, got %s", name,
               luaL_typename(L, -1));
    const char *s = lua_tostring(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    return s;
}

/* opts.headers -> hs[] (a userdata at the top of the stack); strings stay
 * anchored in a table below it. Returns the count. */
static size_t read_headers(lua_State *L, int t, sl_httpc_header_t **out)
{
    *out = NULL;
    lua_getfield(L, t, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1))
        misuse(L, "sio.fetch: 'headers' must be a table {name = value}, got %s", luaL_typename(L, -1));
    int ht = lua_gettop(L);
    lua_newtable(L);
    int anchor = ht + 1;
    sl_httpc_header_t *hs = lua_newuserdatauv(L, HEADERS_MAX * sizeof *hs, 0);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, ht)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            misuse(L, "sio.fetch: header names must be strings, got %s", luaL_typename(L, -2));
        const char *name = lua_tostring(L, -2);
        int list = lua_istable(L, -1);
        lua_Integer len = list ? (lua_Integer)lua_rawlen(L, -1) : 1;
        for (lua_Integer i = 1; i <= len; i++) {
            if (n == HEADERS_MAX)
                misuse(L, "sio.fetch: more than %d headers", HEADERS_MAX);
            if (list)
                lua_rawgeti(L, -1, i);
            hs[n].name = name;
            hs[n].value = header_value(L, anchor, name);
            n++;
            if (list)
                lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    *out = hs;
    return n;
}

/* sio._fetch(url, opts) -> response table | nil, err */
static int l_fetch(lua_State *L)
{
    box_t *b = lua_touserdata(L, lua_upvalueindex(1));
    if (lua_type(L, 1) != LUA_TSTRING)
        return misuse(L, "sio.fetch: the URL must be a string, got %s", luaL_typename(L, 1));
    if (!lua_isnoneornil(L, 2) && !lua_istable(L, 2))
        return misuse(L, "sio.fetch: the options must be a table, got %s", luaL_typename(L, 2));
    lua_settop(L, 2);
    if (lua_isnil(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        int known = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; option_names[i]; i++)
                known |= !strcmp(lua_tostring(L, -2), option_names[i]);
        if (!known)
            return misuse(L,
                          "sio.fetch: unknown option '%s' (method, headers, body, timeout, connect_timeout, "
                          "headers_timeout, max_body, redirect, max_redirects, ca_file)",
                          lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    sl_httpc_request_t rq;
    memset(&rq, 0, sizeof rq);
    rq.url = lua_tostring(L, 1);
    char method[40];
    const char *m = opt_str(L, 2, "method");
    if (m) {
        size_t i = 0;
        for (; m[i] && i < sizeof method - 1; i++)
            method[i] = (char)toupper((unsigned char)m[i]);
        method[i] = '\0';
        rq.method = method;
    }
    lua_getfield(L, 2, "body");
    if (lua_type(L, -1) == LUA_TSTRING) {
        rq.body = lua_tolstring(L, -1, &rq.body_len);
    } else if (!lua_isnil(L, -1)) {
        return misuse(L, "sio.fetch: 'body' must be a string or a table (sent as JSON), got %s",
                      luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    rq.timeout_ms = (unsigned)opt_int(L, 2, "timeout", 1, MS_MAX, "a number of milliseconds");
    rq.connect_timeout_ms = (unsigned)opt_int(L, 2, "connect_timeout", 1, MS_MAX, "a number of milliseconds");
    rq.headers_timeout_ms = (unsigned)opt_int(L, 2, "headers_timeout", 1, MS_MAX, "a number of milliseconds");
    rq.max_body = (size_t)opt_int(L, 2, "max_body", 1, MAX_BODY_MAX, "a number of bytes");
    rq.max_redirects = -1;
    lua_getfield(L, 2, "max_redirects");
    int has_max = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (has_max)
        rq.max_redirects = (int)opt_int(L, 2, "max_redirects", 0, REDIRECTS_MAX, "an integer");
    const char *redirect = opt_str(L, 2, "redirect");
    if (redirect && strcmp(redirect, "follow") && strcmp(redirect, "manual"))
        return misuse(L, "sio.fetch: 'redirect' must be \"follow\" or \"manual\", got \"%s\"", redirect);
    rq.manual_redirect = redirect && !strcmp(redirect, "manual");
    rq.ca_file = opt_str(L, 2, "ca_file");
    sl_httpc_header_t *hs;
    rq.nheaders = read_headers(L, 2, &hs);
    rq.headers = hs;
    char err[700];
    if (sl_httpc_check(&rq, err, sizeof err))
        return misuse(L, "sio.fetch: %s", err);

    sl_lua_wait_t *w = sl_lua_wait_new(L, NULL, NULL); /* raises outside a handler */
    sl_httpc_req_t *r;
    if (!b->http) {
        sl_lua_wait_resume_later(w, push_error, b->closed);
        return sl_lua_yield(L);
    }
    if (sl_httpc_request(b->http, &rq, done_cb, w, &r, err, sizeof err)) {
        sl_lua_wait_resume_later(w, push_error, err);
        return sl_lua_yield(L);
    }
    sl_lua_wait_set_cancel(w, cancel_cb, r);
    return sl_lua_yield(L);
}

/* ---- set-up ---------------------------------------------------------------------- */

static box_t *box_get(sl_lua_t *rt)
{
    lua_State *L = sl_lua_state(rt);
    if (!L || !lua_checkstack(L, 1))
        return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &registry_key);
    box_t *b = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return b;
}

static void box_close(box_t *b, const char *reason)
{
    if (!b || !b->http)
        return;
    snprintf(b->closed, sizeof b->closed, "fetch cancelled: %s", reason);
    sl_httpc_t *http = b->http;
    b->http = NULL;
    sl_httpc_close(http, b->closed);
}

static int box_gc(lua_State *L)
{
    box_close(lua_touserdata(L, 1), "the Lua state is closing");
    return 0;
}

/* Runs protected (sl_lua_pcall): the box gets its client last, so a raise
 * before leaves nothing to free twice. */
static int open_cf(lua_State *L)
{
    sl_lua_t *rt = lua_touserdata(L, 1);
    sl_httpc_t *http = lua_touserdata(L, 2);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOX_MT);
    int box = lua_gettop(L);
    sl_lua_push_module(rt, L);
    lua_pushvalue(L, box);
    lua_pushcclosure(L, l_fetch, 1);
    lua_setfield(L, -2, "_fetch");
    lua_pop(L, 1);
    lua_pushvalue(L, box);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &registry_key);
    b->http = http;
    return 0;
}

int sl_lua_fetch_open(sl_lua_t *rt)
{
    sl_httpc_opts_t o = {.user_agent = "siolua/" SIOLUA_VERSION};
    sl_httpc_t *http = sl_httpc_new(sl_lua_loop(rt), &o);
    if (!http) {
        SL_ERROR("fetch", "cannot set up sio.fetch: out of memory");
        return -1;
    }
    lua_State *L = sl_lua_state(rt);
    lua_pushcfunction(L, open_cf);
    lua_pushlightuserdata(L, rt);
    lua_pushlightuserdata(L, http);
    if (sl_lua_pcall(rt, L, 2, 0, "sio.fetch set-up") != 0) {
        sl_httpc_close(http, NULL);
        return -1;
    }
    return 0;
}

int sl_lua_fetch_set_ca_file(sl_lua_t *rt, const char *path, char *err, size_t errlen)
{
    box_t *b = box_get(rt);
    if (!b || !b->http) {
        snprintf(err, errlen, "sio.fetch is closed");
        return -1;
    }
    return sl_httpc_set_ca_file(b->http, path && *path ? path : NULL, err, errlen);
}

void sl_lua_fetch_close(sl_lua_t *rt, const char *reason)
{
    if (rt)
        box_close(box_get(rt), reason ? reason : "closed");
}
