/* L6 lua/lua_cluster: the cluster seen from Lua. The library talks to "the
 * adapter" (core.adapter), whatever is installed (none, Redis classic or
 * sharded, the workers' local bus): its requests are the sio_adapter_*
 * functions of sio.h, and what the other servers send comes up through
 * sio_handler_t into the library (dispatch.server_side_emit, ...). Knows
 * no adapter and no wire format.
 *
 *   adapter:fetch_sockets(nsp_h, ...)  --> sio_adapter_fetch_sockets(cb)
 *     parks the handler (a wait)            ... the other servers answer
 *     resumes with (list, complete)     <-- cb(items, complete) */
#include "lua/lua_bind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "lua/lua_json.h"

#define ADAPTER_MT "siolua.adapter"

static sio_server_t *adapter_sio(lua_State *L)
{
    sl_lua_bind_t **u = luaL_checkudata(L, 1, ADAPTER_MT);
    return (*u)->sio;
}

/* ---- answers a handler waits for -------------------------------------------- */

/* One answer the running handler is parked on (a wait of lua_rt): what
 * came, and how it becomes the handler's results. */
typedef struct answer {
    sl_lua_wait_t *w;      /* NULL once delivered, or cancelled by the runtime */
    sl_lua_push_cb push;
    const char *data;      /* gathered items, or a session's JSON; NULL: none */
    size_t len;
    int complete;
} answer_t;

static void answer_cancelled(void *ud) { ((answer_t *)ud)->w = NULL; }

/* Ties a new answer to the wait w (NULL when out of memory). */
static answer_t *answer_new(sl_lua_wait_t *w, sl_lua_push_cb push)
{
    answer_t *a = calloc(1, sizeof *a);
    if (a) {
        a->w = w;
        a->push = push;
        sl_lua_wait_set_cancel(w, answer_cancelled, a);
    }
    return a;
}

/* The answer is in: the handler resumes with it (unless it went); a goes. */
static void answer_deliver(answer_t *a, const char *data, size_t len, int complete)
{
    if (a->w) {
        a->data = data;
        a->len = len;
        a->complete = complete;
        sl_lua_wait_t *w = a->w;
        a->w = NULL;
        sl_lua_wait_resume(w, a->push, a);
    }
    free(a);
}

/* No answer will come (the request could not start): the handler resumes
 * with "nothing" at once; a (may be NULL) goes. */
static void answer_none(sl_lua_wait_t *w, answer_t *a, sl_lua_push_cb push)
{
    answer_t none = {NULL, push, NULL, 0, 0};
    sl_lua_wait_set_cancel(w, NULL, NULL);
    sl_lua_wait_resume(w, push, &none);
    free(a);
}

/* ---- requests that wait for the other servers ------------------------------ */

/* Resumes with (list, complete): the gathered items decoded as one array. */
static int push_reply(lua_State *L, void *ud)
{
    answer_t *a = ud;
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_byte(&b, '[');
    if (a->data)
        sl_buf_append(&b, a->data, a->len);
    sl_buf_append_byte(&b, ']');
    char err[128];
    if (sl_lua_json_decode(L, b.data, b.len, NULL, err, sizeof err) != 0)
        sl_lua_json_new_array(L, 0);
    sl_buf_free(&b);
    lua_pushboolean(L, a->complete);
    return 2;
}

static void on_reply(const char *items, size_t len, int complete, void *ud)
{
    answer_deliver(ud, items, len, complete);
}

/* One request that gathers answers, with what it sends. */
enum { REQ_FETCH, REQ_ALL_ROOMS, REQ_SERVER_SIDE_EMIT, REQ_BROADCAST_WITH_ACK };

typedef struct request {
    int kind;
    sio_nsp_t *nsp;
    sio_target_t t;
    int args_idx;             /* REQ_SERVER_SIDE_EMIT, REQ_BROADCAST_WITH_ACK: */
    sl_lua_bind_args_t args;  /* the Lua arguments array, then its encoding */
    long ack_id;
    unsigned timeout_ms;
} request_t;

static int request_start(request_t *q, answer_t *a)
{
    switch (q->kind) {
    case REQ_FETCH:
        return sio_adapter_fetch_sockets(q->nsp, &q->t, on_reply, a);
    case REQ_ALL_ROOMS:
        return sio_adapter_all_rooms(q->nsp, on_reply, a);
    case REQ_SERVER_SIDE_EMIT:
        return sio_adapter_server_side_emit(q->nsp, q->args.json.data, q->args.json.len, on_reply, a);
    default:
        return sio_adapter_broadcast_with_ack(q->nsp, &q->t, q->args.json.data, q->args.json.len,
                                              q->args.atts, q->args.natts, q->ack_id, q->timeout_ms,
                                              on_reply, a);
    }
}

/* Sends q and parks the running handler until the answers are in; it then
 * returns (list, complete). With no adapter installed: (empty list, true)
 * at once, there is nobody else to ask. Arguments are checked before. */
static int request_wait(lua_State *L, request_t *q)
{
    if (!sio_adapter_installed(sio_nsp_server(q->nsp))) {
        sl_lua_json_new_array(L, 0);
        lua_pushboolean(L, 1);
        return 2;
    }
    sl_lua_wait_t *w = sl_lua_wait_new(L, NULL, NULL); /* may raise: nothing owned yet */
    char err[256];
    if (q->args_idx && sl_lua_bind_encode(L, q->args_idx, &q->args, err, sizeof err) != 0) {
        sl_lua_bind_args_free(&q->args);
        return luaL_error(L, "cannot send: %s", err); /* the runtime drops the wait */
    }
    answer_t *a = answer_new(w, push_reply);
    /* The request copies what it sends: the encoding goes now. */
    int rc = a ? request_start(q, a) : -ENOMEM;
    sl_lua_bind_args_free(&q->args);
    if (rc != 0)
        answer_none(w, a, push_reply); /* the cluster is out of reach */
    return sl_lua_yield(L);
}

/* a:fetch_sockets(nsp_h, rooms, except) -> list of {id, handshake, rooms,
 * data} from the other servers, complete. Waits. */
static int adapter_fetch_sockets(lua_State *L)
{
    request_t q = {REQ_FETCH, sl_lua_bind_check_nsp(L, 2), {0}, 0, SL_LUA_BIND_ARGS_INIT, 0, 0};
    lua_settop(L, 4);
    q.t.rooms = sl_lua_bind_rooms(L, 3, &q.t.nrooms);
    q.t.except = sl_lua_bind_rooms(L, 4, &q.t.nexcept);
    return request_wait(L, &q);
}

/* a:all_rooms(nsp_h) -> the other servers' rooms, complete. Waits. */
static int adapter_all_rooms(lua_State *L)
{
    request_t q = {REQ_ALL_ROOMS, sl_lua_bind_check_nsp(L, 2), {0}, 0, SL_LUA_BIND_ARGS_INIT, 0, 0};
    return request_wait(L, &q);
}

/* a:server_side_emit(nsp_h, args[, want_acks]) -> (acks, complete) when
 * want_acks (waits), else nothing (fire and forget). */
static int adapter_server_side_emit(lua_State *L)
{
    request_t q = {REQ_SERVER_SIDE_EMIT, sl_lua_bind_check_nsp(L, 2), {0}, 3, SL_LUA_BIND_ARGS_INIT, 0, 0};
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_toboolean(L, 4))
        return request_wait(L, &q);
    char err[256];
    sl_buf_t json = SL_BUF_INIT;
    if (sl_lua_json_encode(L, 3, &json, NULL, err, sizeof err) < 0) {
        sl_buf_free(&json);
        return luaL_error(L, "server_side_emit: %s", err);
    }
    sio_adapter_server_side_emit(q.nsp, json.data, json.len, NULL, NULL);
    sl_buf_free(&json);
    return 0;
}

/* a:broadcast_with_ack(nsp_h, rooms, except, args, ack_id, timeout_ms) ->
 * the acks of the other servers' clients (each one's first argument),
 * complete. Waits. */
static int adapter_broadcast_with_ack(lua_State *L)
{
    request_t q = {REQ_BROADCAST_WITH_ACK, sl_lua_bind_check_nsp(L, 2), {0}, 5, SL_LUA_BIND_ARGS_INIT, 0, 0};
    luaL_checktype(L, 5, LUA_TTABLE);
    q.ack_id = (long)luaL_checkinteger(L, 6);
    q.timeout_ms = (unsigned)luaL_checkinteger(L, 7);
    lua_settop(L, 7);
    q.t.rooms = sl_lua_bind_rooms(L, 3, &q.t.nrooms);
    q.t.except = sl_lua_bind_rooms(L, 4, &q.t.nexcept);
    return request_wait(L, &q);
}

/* ---- fire and forget --------------------------------------------------------- */

/* a:sockets_join(nsp_h, rooms, except, targets) / a:sockets_leave(...):
 * the selected sockets of the other servers join or leave targets. */
static int remote_rooms(lua_State *L, int join)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 2);
    lua_settop(L, 5);
    size_t nr, ne, nt;
    sio_slice_t *rooms = sl_lua_bind_rooms(L, 3, &nr);
    sio_slice_t *except = sl_lua_bind_rooms(L, 4, &ne);
    sio_slice_t *targets = sl_lua_bind_rooms(L, 5, &nt);
    sio_target_t t = {rooms, nr, except, ne, 0, 0};
    if (join)
        sio_adapter_sockets_join(n, &t, targets, nt);
    else
        sio_adapter_sockets_leave(n, &t, targets, nt);
    return 0;
}

static int adapter_sockets_join(lua_State *L) { return remote_rooms(L, 1); }
static int adapter_sockets_leave(lua_State *L) { return remote_rooms(L, 0); }

/* a:disconnect_sockets(nsp_h, rooms, except, close) */
static int adapter_disconnect_sockets(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 2);
    int close = lua_toboolean(L, 5);
    lua_settop(L, 4);
    size_t nr, ne;
    sio_slice_t *rooms = sl_lua_bind_rooms(L, 3, &nr);
    sio_slice_t *except = sl_lua_bind_rooms(L, 4, &ne);
    sio_target_t t = {rooms, nr, except, ne, 0, 0};
    sio_adapter_disconnect_sockets(n, &t, close);
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

/* a:server_side_ack(nsp_h, request_id, value) / a:broadcast_ack(nsp_h,
 * request_id, value): one answer to another server's request. */
static int answer(lua_State *L, void (*send)(sio_nsp_t *, const char *, const char *, size_t))
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 2);
    const char *rid = luaL_checkstring(L, 3);
    sl_buf_t json = SL_BUF_INIT;
    encode_answer(L, 4, &json);
    send(n, rid, json.data, json.len);
    sl_buf_free(&json);
    return 0;
}

static int adapter_server_side_ack(lua_State *L) { return answer(L, sio_adapter_server_side_ack); }
static int adapter_broadcast_ack(lua_State *L) { return answer(L, sio_adapter_broadcast_ack); }

/* a:broadcast_count(nsp_h, request_id, n): how many clients got another
 * server's broadcast with acks here. */
static int adapter_broadcast_count(lua_State *L)
{
    sio_nsp_t *n = sl_lua_bind_check_nsp(L, 2);
    const char *rid = luaL_checkstring(L, 3);
    lua_Integer count = luaL_checkinteger(L, 4);
    sio_adapter_broadcast_count(n, rid, (long)count);
    return 0;
}

static int adapter_installed(lua_State *L)
{
    lua_pushboolean(L, sio_adapter_installed(adapter_sio(L)));
    return 1;
}

/* ---- recovery sessions --------------------------------------------------------- */

/* a:session_put(pid, value, ttl_ms): keeps a recovery session where every
 * server of the cluster can take it back. */
static int adapter_session_put(lua_State *L)
{
    sio_server_t *srv = adapter_sio(L);
    const char *pid = luaL_checkstring(L, 2);
    lua_Integer ttl = luaL_checkinteger(L, 4);
    if (!sio_adapter_installed(srv))
        return 0;
    sl_buf_t json = SL_BUF_INIT;
    char err[256];
    if (sl_lua_json_encode(L, 3, &json, NULL, err, sizeof err) >= 0)
        sio_adapter_session_put(srv, pid, json.data, json.len, (unsigned)ttl);
    else
        SL_WARN("lua", "recovery session not kept in the cluster: %s", err);
    sl_buf_free(&json);
    return 0;
}

static int push_taken(lua_State *L, void *ud)
{
    answer_t *a = ud;
    char err[128];
    if (!a->data || sl_lua_json_decode(L, a->data, a->len, NULL, err, sizeof err) != 0)
        lua_pushnil(L);
    return 1;
}

static void session_taken(const char *json, size_t len, void *ud)
{
    answer_deliver(ud, json, len, 1);
}

/* a:session_take(pid) -> the session table or nil; waits for the cluster
 * (nil at once with no adapter). */
static int adapter_session_take(lua_State *L)
{
    sio_server_t *srv = adapter_sio(L);
    const char *pid = luaL_checkstring(L, 2);
    if (!sio_adapter_installed(srv)) {
        lua_pushnil(L);
        return 1;
    }
    sl_lua_wait_t *w = sl_lua_wait_new(L, NULL, NULL);
    answer_t *a = answer_new(w, push_taken);
    if (!a || sio_adapter_session_take(srv, pid, session_taken, a) != 0)
        answer_none(w, a, push_taken);
    return sl_lua_yield(L);
}

static const luaL_Reg adapter_methods[] = {
    {"installed", adapter_installed},
    {"fetch_sockets", adapter_fetch_sockets},
    {"all_rooms", adapter_all_rooms},
    {"sockets_join", adapter_sockets_join},
    {"sockets_leave", adapter_sockets_leave},
    {"disconnect_sockets", adapter_disconnect_sockets},
    {"server_side_emit", adapter_server_side_emit},
    {"server_side_ack", adapter_server_side_ack},
    {"broadcast_with_ack", adapter_broadcast_with_ack},
    {"broadcast_count", adapter_broadcast_count},
    {"broadcast_ack", adapter_broadcast_ack},
    {"session_put", adapter_session_put},
    {"session_take", adapter_session_take},
    {NULL, NULL},
};

void sl_lua_cluster_open(sl_lua_bind_t *b, int core)
{
    lua_State *L = b->L;
    sl_lua_bind_metatable(L, ADAPTER_MT, adapter_methods, NULL, NULL);
    lua_pop(L, 1);
    sl_lua_bind_t **u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = b;
    luaL_setmetatable(L, ADAPTER_MT);
    lua_setfield(L, core, "adapter");
}

/* ---- what the other servers send ---------------------------------------------- */

/* What another server sent: its namespace, the event's arguments (JSON
 * with attachments), and for broadcasts its target. */
typedef struct remote_ev {
    sl_lua_bind_t *b;
    sio_nsp_t *nsp;
    const sio_target_t *t;
    const char *args;
    size_t len;
    const sio_packet_bin_t *atts;
    unsigned natts;
    const char *request_id;  /* NULL: no answer wanted */
    unsigned timeout_ms;
} remote_ev_t;

/* Pushes the namespace table, the decoded arguments, and with a target its
 * rooms and except; returns how many, or 0 (nothing pushed to hand on)
 * when the arguments don't decode. */
static int push_remote(lua_State *L, const remote_ev_t *ev)
{
    sl_lua_bind_push_nsp(L, ev->nsp);
    char err[128];
    sl_lua_json_decode_opts_t o = {(const sl_lua_json_blob_t *)ev->atts, ev->natts};
    if (sl_lua_json_decode(L, ev->args, ev->len, ev->natts ? &o : NULL, err, sizeof err) != 0)
        return 0;
    if (!ev->t)
        return 2;
    sl_lua_bind_push_rooms(L, ev->t->rooms, ev->t->nrooms);
    sl_lua_bind_push_rooms(L, ev->t->except, ev->t->nexcept);
    return 4;
}

/* dispatch.server_side_emit(nsp, args, request_id or nil) */
static int server_side_emit_cf(lua_State *L)
{
    remote_ev_t *ev = lua_touserdata(L, 1);
    if (!push_remote(L, ev))
        return 0;
    if (ev->request_id)
        lua_pushstring(L, ev->request_id);
    else
        lua_pushnil(L);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "server_side_emit", 3, 0);
    return 0;
}

static void lua_on_server_side_emit(sio_nsp_t *nsp, const char *args, size_t len,
                                    const char *request_id, void *ud)
{
    remote_ev_t ev = {ud, nsp, NULL, args, len, NULL, 0, request_id, 0};
    sl_lua_bind_call(ud, server_side_emit_cf, &ev, "a serverSideEmit from another server");
}

/* dispatch.broadcast_with_ack(nsp, args, rooms, except, request_id, timeout_ms) */
static int broadcast_with_ack_cf(lua_State *L)
{
    remote_ev_t *ev = lua_touserdata(L, 1);
    if (!push_remote(L, ev))
        return 0;
    lua_pushstring(L, ev->request_id);
    lua_pushinteger(L, ev->timeout_ms);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "broadcast_with_ack", 6, 0);
    return 0;
}

static void lua_on_broadcast_with_ack(sio_nsp_t *nsp, const sio_target_t *t, const char *args,
                                      size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                      const char *request_id, unsigned timeout_ms, void *ud)
{
    remote_ev_t ev = {ud, nsp, t, args, len, atts, natts, request_id, timeout_ms};
    sl_lua_bind_call(ud, broadcast_with_ack_cf, &ev, "a broadcast with acks from another server");
}

/* dispatch.remote_broadcast(nsp, args, rooms, except, volatile):
 * delivered here already, logged for connection state recovery (unless
 * volatile) and told to a watching dashboard. */
static int remote_broadcast_cf(lua_State *L)
{
    remote_ev_t *ev = lua_touserdata(L, 1);
    if (!push_remote(L, ev))
        return 0;
    lua_pushboolean(L, ev->t->volatile_);
    sl_lua_bind_dispatch(L, ev->b->dispatch_ref, "remote_broadcast", 5, 0);
    return 0;
}

static void lua_on_remote_broadcast(sio_nsp_t *nsp, const sio_target_t *t, const char *args,
                                    size_t len, const sio_packet_bin_t *atts, unsigned natts,
                                    void *ud)
{
    remote_ev_t ev = {ud, nsp, t, args, len, atts, natts, NULL, 0};
    sl_lua_bind_call(ud, remote_broadcast_cf, &ev, "a broadcast from another server");
}

void sl_lua_cluster_handler(sio_handler_t *h)
{
    h->on_server_side_emit = lua_on_server_side_emit;
    h->on_broadcast_with_ack = lua_on_broadcast_with_ack;
    h->on_remote_broadcast = lua_on_remote_broadcast;
}
