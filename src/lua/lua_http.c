/* L6 lua/lua_http: the app's HTTP routes (sio.http) and raw Engine.IO
 * endpoints (sio.engine) bound to Lua; lua/siolua/http.lua and engine.lua
 * are their Lua side. Every call into the library goes through the guarded
 * call of lua_bind.h.
 *
 *   sl_http_req --on_abort--> http_ud {req} <-- Lua response {_h = ud}
 *       (anchored in the registry while the request waits for its answer)
 *   eio_session --data--> conn_binding {table ref, ud} --> Lua conn table
 *        ^                                     |           { _h = ud, ... }
 *        +------------- ud->e (NULLed when the session closes) <--+ */
#include "lua/lua_bind.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "lua/lua_json.h"
#include "net/static_files.h"

#define CONN_MT "siolua.eio_handle"
#define HTTP_MT "siolua.http_handle"

/* ---- HTTP routes ------------------------------------------------------------ */

/* The request held for a Lua route until its handler answers; NULL once
 * answered or once the client has gone. */
typedef struct http_ud {
    sl_http_req_t *req;
    sl_lua_bind_t *b;
    lua_State *L;
    int ref;          /* anchors this userdata while req is pending */
    int held;         /* sl_lua_http_route still reads it: keep the anchor */
} http_ud_t;

/* The request is answered or gone: the handle may be collected now. */
static void http_ud_release(http_ud_t *u)
{
    u->req = NULL;
    if (u->ref != LUA_NOREF && !u->held) {
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

/* h:respond(status, headers, body) -> true, or false when the request was
 * already answered or its client is gone. */
static int http_respond(lua_State *L)
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

/* h:serve_static(root, path) -> true when a file of folder root answered
 * the request (200 or 304: ETag, index.html for a folder, compression as
 * httpCompression says), false when there is none (nothing is sent) or it
 * was answered already. path starts with '/' and never leaves root. */
static int http_serve_static(lua_State *L)
{
    http_ud_t *u = luaL_checkudata(L, 1, HTTP_MT);
    const char *root = luaL_checkstring(L, 2);
    const char *path = luaL_checkstring(L, 3);
    char real[PATH_MAX];
    if (!u->req || !realpath(root, real)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    /* As http_respond: no abort hook while answering; put back when no
     * file answered (the request is still the handler's). */
    sl_http_req_t *req = u->req;
    req->on_abort = NULL;
    if (!sl_static_serve_at(req, real, path, &sl_server_config_mut(u->b->http)->compress)) {
        req->on_abort = http_req_aborted;
        lua_pushboolean(L, 0);
        return 1;
    }
    http_ud_release(u);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg http_methods[] = {
    {"respond", http_respond},
    {"serve_static", http_serve_static},
    {NULL, NULL},
};

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

/* A request: does a route match (http_match)? Then it is handed to the
 * route's handler (http_run, a new handler coroutine) and answered later. */
typedef struct route_ev {
    sl_lua_bind_t *b;
    sl_http_req_t *req;
    int matched;        /* a route takes it */
    int too_large;      /* ... but its body is over maxHttpBufferSize */
    http_ud_t *handle;  /* its response handle, once made (held) */
} route_ev_t;

static int route_cf(lua_State *L)
{
    route_ev_t *ev = lua_touserdata(L, 1);
    sl_http_req_t *req = ev->req;
    lua_pushstring(L, req->method);
    lua_pushstring(L, req->path);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "http_match", 2, 2);
    if (lua_isnil(L, -2))
        return 0;
    ev->matched = 1;
    if (req->body_too_large) {
        ev->too_large = 1; /* answered 413 by the caller */
        return 0;
    }
    /* stack: handler, params */
    http_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->req = NULL;
    u->b = ev->b;
    u->L = L;
    u->ref = LUA_NOREF;
    u->held = 1;
    luaL_setmetatable(L, HTTP_MT);
    /* Anchored while the request is pending: the C side points at it (and
     * the caller may have to answer through it if Lua fails later on). */
    lua_pushvalue(L, -1);
    u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    u->req = req;
    ev->handle = u;
    req->on_abort = http_req_aborted;
    req->abort_ud = u;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, req->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, req->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, req->url);
    lua_setfield(L, -2, "url");
    sl_lua_bind_push_query(L, req->query);
    lua_setfield(L, -2, "query");
    push_headers(L, req);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, req->body.data ? req->body.data : "", req->body.len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, req->address);
    lua_setfield(L, -2, "address");
    lua_pushboolean(L, req->secure);
    lua_setfield(L, -2, "secure");
    /* stack: handler, params, h, reqtable -> http_run(handler, params, h, req) */
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "http_run", 4, 0);
    return 0;
}

int sl_lua_http_route(sl_http_req_t *req, void *ud)
{
    route_ev_t ev = {ud, req, 0, 0, NULL};
    int rc = sl_lua_bind_call(ud, route_cf, &ev, "an HTTP request");
    http_ud_t *u = ev.handle; /* anchored during the call, even if answered */
    if (u)
        u->held = 0;
    if (u && !u->req) {
        http_ud_release(u); /* answered during the call: let the handle go */
        return 1;
    }
    if (rc != 0) {
        /* Lua failed (out of memory) before a handler took the request:
         * answer here. */
        if (u)
            http_ud_release(u);
        req->on_abort = NULL;
        sl_http_respond_text(req, 500, "{\"error\":\"internal server error\"}");
        return 1;
    }
    if (!ev.matched)
        return 0; /* no route: static files, or 404 */
    if (ev.too_large)
        sl_http_respond_text(req, 413, "{\"error\":\"payload too large\"}");
    return 1; /* else its handler runs */
}

/* ---- raw Engine.IO endpoints ------------------------------------------------ */

typedef struct conn_ud {
    eio_session_t *e;     /* NULL once the session closed */
} conn_ud_t;

typedef struct engine_binding {
    sl_lua_bind_t *b;
    int engine_ref;       /* the Lua engine table */
} engine_binding_t;

/* The session's side; owned by the session (its data) until its close. */
typedef struct conn_binding {
    int ref;                   /* the Lua conn table */
    conn_ud_t *ud;             /* its handle, NULL once collected */
    unsigned opening : 1;      /* its "connection" handler is running */
    unsigned closed_early : 1; /* the session closed meanwhile */
} conn_binding_t;

/* h:send(data) -> true, or false when the connection is closed. */
static int conn_send(lua_State *L)
{
    conn_ud_t *u = luaL_checkudata(L, 1, CONN_MT);
    size_t n;
    const char *data;
    int binary = sl_lua_json_is_binary(L, 2);
    if (binary)
        data = sl_lua_json_binary_data(L, 2, &n);
    else
        data = luaL_checklstring(L, 2, &n);
    lua_pushboolean(L, u->e && eio_session_send(u->e, binary, data, n) == 0);
    return 1;
}

static int conn_close(lua_State *L)
{
    conn_ud_t *u = luaL_checkudata(L, 1, CONN_MT);
    if (u->e)
        eio_session_close(u->e);
    return 0;
}

/* Collected before its session closed (a binding that failed half-way):
 * the binding must not write into it later. */
static int conn_gc(lua_State *L)
{
    conn_ud_t *u = luaL_checkudata(L, 1, CONN_MT);
    conn_binding_t *cb = u->e ? eio_session_data(u->e) : NULL;
    if (cb && cb->ud == u)
        cb->ud = NULL;
    u->e = NULL;
    return 0;
}

static const luaL_Reg conn_methods[] = {
    {"send", conn_send},
    {"close", conn_close},
    {NULL, NULL},
};

typedef struct eio_open_ev {
    engine_binding_t *eb;
    conn_binding_t *cb;
    eio_session_t *e;
} eio_open_ev_t;

static int eio_open_cf(lua_State *L)
{
    eio_open_ev_t *ev = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ev->eb->engine_ref);
    conn_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->e = ev->e;
    luaL_setmetatable(L, CONN_MT);
    ev->cb->ud = u;
    lua_pushstring(L, eio_session_id(ev->e));
    lua_pushstring(L, eio_session_transport(ev->e));
    sl_lua_bind_dispatch(L, ev->eb->b->eio_dispatch_ref, "open", 4, 1);
    if (lua_istable(L, -1))
        ev->cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* "message" and "close" of a connection the library has a table for. */
typedef struct eio_conn_ev {
    engine_binding_t *eb;
    int ref;
    const char *name;
    int binary;
    const char *data;
    size_t n;
} eio_conn_ev_t;

static int eio_conn_cf(lua_State *L)
{
    eio_conn_ev_t *ev = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref);
    if (ev->binary)
        sl_lua_json_binary_new(L, ev->data, ev->n);
    else
        lua_pushlstring(L, ev->data, ev->n);
    sl_lua_bind_dispatch(L, ev->eb->b->eio_dispatch_ref, ev->name, 2, 0);
    return 0;
}

/* Tells the library the connection closed and lets its table go. */
static void conn_closed(engine_binding_t *eb, conn_binding_t *cb, const char *reason)
{
    if (cb->ref != LUA_NOREF) {
        eio_conn_ev_t ev = {eb, cb->ref, "close", 0, reason, strlen(reason)};
        sl_lua_bind_call(eb->b, eio_conn_cf, &ev, "a raw Engine.IO close");
        luaL_unref(eb->b->L, LUA_REGISTRYINDEX, cb->ref);
    }
    free(cb);
}

static void eio_lua_open(eio_session_t *e, const sl_http_req_t *req, void *ud)
{
    (void)req;
    engine_binding_t *eb = ud;
    conn_binding_t *cb = calloc(1, sizeof *cb);
    if (!cb)
        return;
    cb->ref = LUA_NOREF;
    /* Known to the session before any Lua runs: a conn:close() inside the
     * "connection" handler then finds it (and is finished below). */
    eio_session_set_data(e, cb);
    cb->opening = 1;
    eio_open_ev_t ev = {eb, cb, e};
    sl_lua_bind_call(eb->b, eio_open_cf, &ev, "a raw Engine.IO connection");
    cb->opening = 0;
    if (cb->closed_early) {
        /* Closed during its own "connection" handler: tell Lua now. */
        conn_closed(eb, cb, "forced close");
        return;
    }
    if (cb->ref == LUA_NOREF) {
        /* Lua could not take the connection (out of memory): drop it. */
        eio_session_set_data(e, NULL);
        if (cb->ud)
            cb->ud->e = NULL;
        free(cb);
        if (eio_session_is_open(e))
            eio_session_close(e);
    }
}

static void eio_lua_message(eio_session_t *e, int binary, const char *data, size_t n, void *ud)
{
    engine_binding_t *eb = ud;
    conn_binding_t *cb = eio_session_data(e);
    if (!cb || cb->ref == LUA_NOREF)
        return;
    eio_conn_ev_t ev = {eb, cb->ref, "message", binary, data, n};
    sl_lua_bind_call(eb->b, eio_conn_cf, &ev, "a raw Engine.IO message");
}

static void eio_lua_close(eio_session_t *e, const char *reason, void *ud)
{
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
    conn_closed(ud, cb, reason);
}

static const eio_handler_t eio_lua_handler = {
    .on_open = eio_lua_open,
    .on_message = eio_lua_message,
    .on_close = eio_lua_close,
};

/* core.eio_mount(path, opts, engine): a raw Engine.IO endpoint at path,
 * with the options of the Socket.IO endpoint set so far; engine is the
 * library's table its connections are reported to. */
static int core_eio_mount(lua_State *L)
{
    sl_lua_bind_t *b = sl_lua_bind_upvalue(L);
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (b->started)
        return luaL_error(L, "sio.engine: endpoints are mounted from main.lua, before the server starts");
    eio_options_t o = *eio_server_options(sio_server_eio(b->sio));
    if (eio_options_set_path(&o, path))
        return luaL_error(L, "sio.engine: bad path '%s'", path);
    engine_binding_t *eb = lua_newuserdatauv(L, sizeof *eb, 0); /* anchored below */
    eb->b = b;
    lua_pushvalue(L, 3);
    eb->engine_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_ref(L, LUA_REGISTRYINDEX); /* the binding lives as long as the state */
    eio_server_t *e = eio_server_new(b->loop, &o, &eio_lua_handler, eb);
    if (!e || sl_server_mount_eio_owned(b->http, e))
        return luaL_error(L, "sio.engine: cannot mount '%s'", path);
    return 0;
}

void sl_lua_http_open(sl_lua_bind_t *b, int core)
{
    lua_State *L = b->L;
    sl_lua_bind_metatable(L, HTTP_MT, http_methods, NULL, NULL);
    sl_lua_bind_metatable(L, CONN_MT, conn_methods, NULL, conn_gc);
    lua_pop(L, 2);
    lua_pushlightuserdata(L, b);
    lua_pushcclosure(L, core_eio_mount, 1);
    lua_setfield(L, core, "eio_mount");
}
