/* L6 lua/lua_client: WebSocket client handles and the Socket.IO codec for Lua.
 * See lua_client.h.
 *
 *   Lua userdata {c} ---> lc_t (C) ---> sl_wsc_t (ws_client)
 *         ^                 |   ^            |
 *         +-- ud_ref -------+   +-- callbacks+
 *            (while connecting)
 *
 * The lc_t outlives its userdata by one loop turn (its timer closes
 * asynchronously); the userdata's finalizer drops the connection and starts
 * that close. Messages that arrive while no handler waits are queued in C,
 * so a handler that receives late still gets them in order. Every wake goes
 * through sl_lua_wait_resume_later: ws_client calls us from inside wslay's
 * read loop, where running Lua (which may close the connection) is unsafe. */
#include "lua/lua_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>

#include "base/buf.h"
#include "lua/lua_json.h"
#include "sio/sio_packet.h"
#include "sio/sio_packet_msgpack.h"
#include "net/ws_client.h"

#define WSC_MT "siolua.wsclient"
#define BOX_MT "siolua.wsclient.encbuf"

typedef struct msg {
    struct msg *next;
    int binary;
    size_t len;
    char data[];
} msg_t;

enum { WAIT_CONNECT = 1, WAIT_RECEIVE };
enum { LC_CONNECTING, LC_OPEN, LC_CLOSING, LC_CLOSED };

typedef struct lc {
    sl_wsc_t *ws;            /* NULL once closed (reported) or dropped */
    int state;
    int ud_ref;              /* anchors the userdata while connecting */
    sl_lua_wait_t *w;        /* the handler parked in connect or receive */
    int wait_kind;
    uv_timer_t timer;        /* receive timeout */
    msg_t *head, *tail;
    char reason[256];        /* why it closed */
    int code;
} lc_t;

typedef struct wsc_ud {
    lc_t *c;
} wsc_ud_t;

/* ---- the C side of a handle ----------------------------------------------- */

static void lc_closed_cb(uv_handle_t *h)
{
    lc_t *c = h->data;
    for (msg_t *m = c->head, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    free(c);
}

static void lc_wait_cancel(void *ud)
{
    lc_t *c = ud;
    c->w = NULL;
    uv_timer_stop(&c->timer);
}

/* Takes the waiting handler off c (it is resumed with what push gives). */
static sl_lua_wait_t *take_wait(lc_t *c, int kind)
{
    if (!c->w || c->wait_kind != kind)
        return NULL;
    sl_lua_wait_t *w = c->w;
    c->w = NULL;
    uv_timer_stop(&c->timer);
    return w;
}

static int push_opened(lua_State *L, void *ud)
{
    lc_t *c = ud;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ud_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, c->ud_ref);
    c->ud_ref = LUA_NOREF;
    return 1;
}

static int push_failed(lua_State *L, void *ud)
{
    lc_t *c = ud;
    luaL_unref(L, LUA_REGISTRYINDEX, c->ud_ref);
    c->ud_ref = LUA_NOREF;
    lua_pushnil(L);
    lua_pushstring(L, c->reason);
    return 2;
}

static int push_closed(lua_State *L, void *ud)
{
    lc_t *c = ud;
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    lua_pushstring(L, c->reason);
    return 3;
}

static int push_timeout(lua_State *L, void *ud)
{
    (void)ud;
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
}

struct delivery {
    int binary;
    const char *p;
    size_t n;
};

static int push_message(lua_State *L, void *ud)
{
    struct delivery *d = ud;
    lua_pushlstring(L, d->p, d->n);
    lua_pushboolean(L, d->binary);
    return 2;
}

static void on_open(sl_wsc_t *ws, void *ud)
{
    (void)ws;
    lc_t *c = ud;
    c->state = LC_OPEN;
    sl_lua_wait_t *w = take_wait(c, WAIT_CONNECT);
    if (w)
        sl_lua_wait_resume_later(w, push_opened, c);
}

static void on_message(sl_wsc_t *ws, int binary, const char *p, size_t n, void *ud)
{
    lc_t *c = ud;
    sl_lua_wait_t *w = take_wait(c, WAIT_RECEIVE);
    if (w) {
        struct delivery d = {binary, p, n};
        sl_lua_wait_resume_later(w, push_message, &d); /* copies now */
        return;
    }
    msg_t *m = malloc(sizeof *m + n);
    if (!m) {
        sl_wsc_close(ws, 1011);
        return;
    }
    m->next = NULL;
    m->binary = binary;
    m->len = n;
    memcpy(m->data, p, n);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
}

static void on_close(sl_wsc_t *ws, const char *err, int code, void *ud)
{
    (void)ws;
    lc_t *c = ud;
    int was_connecting = c->state == LC_CONNECTING;
    c->ws = NULL;
    c->state = LC_CLOSED;
    c->code = code;
    if (err)
        snprintf(c->reason, sizeof c->reason, "%s", err);
    else
        snprintf(c->reason, sizeof c->reason, "close code %d", code);
    sl_lua_wait_t *w = take_wait(c, was_connecting ? WAIT_CONNECT : WAIT_RECEIVE);
    if (w)
        sl_lua_wait_resume_later(w, was_connecting ? push_failed : push_closed, c);
}

static const sl_wsc_handler_t lc_handler = {on_open, on_message, on_close};

/* ---- Lua functions --------------------------------------------------------- */

static lc_t *check_lc(lua_State *L, int idx)
{
    wsc_ud_t *u = luaL_checkudata(L, idx, WSC_MT);
    if (!u->c)
        luaL_error(L, "websocket handle is not usable");
    return u->c;
}

/* Extra request headers from a {name = value} table, as "Name: value\r\n"
 * lines; names and values with CR or LF are misuse. */
static void push_headers(lua_State *L, int idx)
{
    lua_pushliteral(L, "");
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* acc, key, value */
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *v = lua_tostring(L, -1);
        if (!k || !v || !*k || strpbrk(k, "\r\n: ") || strpbrk(v, "\r\n"))
            luaL_error(L, "bad header %s", k ? k : "(name is not a string)");
        lua_pushvalue(L, -3);
        lua_pushfstring(L, "%s: %s\r\n", k, v);
        lua_concat(L, 2);
        lua_replace(L, -4);
        lua_pop(L, 1);
    }
}

static uint64_t check_ms(lua_State *L, int idx)
{
    lua_Number ms = luaL_checknumber(L, idx);
    luaL_argcheck(L, ms >= 0 && ms < 1e15, idx, "milliseconds must be a number >= 0");
    return (uint64_t)ms + (ms > (lua_Number)(uint64_t)ms);
}

/* connect(url[, {timeout = ms, headers = {...}}]) -> handle | nil, err */
static int l_connect(lua_State *L)
{
    sl_lua_t *rt = sl_lua_from_state(L);
    const char *url = luaL_checkstring(L, 1);
    uint64_t timeout = 0;
    const char *headers = NULL;
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "timeout") != LUA_TNIL)
            timeout = check_ms(L, lua_gettop(L));
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "headers") == LUA_TTABLE) {
            push_headers(L, lua_gettop(L));
            headers = lua_tostring(L, -1); /* stays on the stack */
        } else {
            lua_pop(L, 1);
        }
    }
    /* Everything that may raise comes before the wait and the malloc. */
    wsc_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->c = NULL;
    luaL_setmetatable(L, WSC_MT);
    lua_pushvalue(L, -1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sl_lua_wait_t *w = sl_lua_wait_new(L, NULL, NULL);
    lc_t *c = calloc(1, sizeof *c);
    if (!c) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        sl_lua_wait_cancel(w, "not enough memory");
        return sl_lua_yield(L);
    }
    c->ud_ref = ref;
    c->state = LC_CONNECTING;
    uv_timer_init(sl_lua_loop(rt), &c->timer);
    c->timer.data = c;
    u->c = c;
    sl_wsc_opts_t o = {timeout, 0, 0, headers};
    char err[256];
    if (sl_wsc_connect(sl_lua_loop(rt), url, &o, &lc_handler, c, &c->ws, err, sizeof err) != 0) {
        c->ws = NULL;
        c->state = LC_CLOSED;
        snprintf(c->reason, sizeof c->reason, "%s", err);
        c->ud_ref = LUA_NOREF;
        luaL_unref(L, LUA_REGISTRYINDEX, ref); /* the finalizer frees c */
        sl_lua_wait_cancel(w, err);
        return sl_lua_yield(L);
    }
    c->w = w;
    c->wait_kind = WAIT_CONNECT;
    sl_lua_wait_set_cancel(w, lc_wait_cancel, c);
    return sl_lua_yield(L);
}

static void receive_timeout_cb(uv_timer_t *t)
{
    lc_t *c = t->data;
    sl_lua_wait_t *w = take_wait(c, WAIT_RECEIVE);
    if (w)
        sl_lua_wait_resume_later(w, push_timeout, NULL);
}

/* h:receive([timeout_ms]) */
static int l_receive(lua_State *L)
{
    lc_t *c = check_lc(L, 1);
    int has_timeout = !lua_isnoneornil(L, 2);
    uint64_t ms = has_timeout ? check_ms(L, 2) : 0;
    if (c->head) {
        msg_t *m = c->head;
        lua_pushlstring(L, m->data, m->len); /* may raise: m is still queued */
        lua_pushboolean(L, m->binary);
        c->head = m->next;
        if (!c->head)
            c->tail = NULL;
        free(m);
        return 2;
    }
    if (c->state == LC_CLOSED) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        lua_pushstring(L, c->reason);
        return 3;
    }
    if (c->state == LC_CONNECTING)
        return luaL_error(L, "websocket is still connecting");
    if (c->w)
        return luaL_error(L, "another handler is already receiving on this websocket");
    sl_lua_wait_t *w = sl_lua_wait_new(L, lc_wait_cancel, c);
    c->w = w;
    c->wait_kind = WAIT_RECEIVE;
    if (has_timeout) {
        /* The loop's cached time is stale after a long handler. */
        uv_update_time(c->timer.loop);
        uv_timer_start(&c->timer, receive_timeout_cb, ms, 0);
    }
    return sl_lua_yield(L);
}

/* h:send(data[, binary]) */
static int l_send(lua_State *L)
{
    lc_t *c = check_lc(L, 1);
    size_t len;
    const char *p;
    int binary = lua_toboolean(L, 3);
    if (sl_lua_json_is_binary(L, 2)) {
        p = sl_lua_json_binary_data(L, 2, &len);
        binary = 1;
    } else {
        p = luaL_checklstring(L, 2, &len);
    }
    if (c->state != LC_OPEN || !c->ws) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    int rc = sl_wsc_send(c->ws, binary, p, len);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, rc == -ENOBUFS ? "output buffer full" : rc == -ENOMEM ? "not enough memory"
                                                                              : "closed");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* h:close([code]) */
static int l_close(lua_State *L)
{
    wsc_ud_t *u = luaL_checkudata(L, 1, WSC_MT);
    lua_Integer code = luaL_optinteger(L, 2, 1000);
    luaL_argcheck(L, code >= 1000 && code <= 4999, 2, "bad close code");
    lc_t *c = u->c;
    if (c && c->ws && (c->state == LC_OPEN || c->state == LC_CONNECTING)) {
        if (c->state == LC_OPEN)
            c->state = LC_CLOSING;
        sl_wsc_close(c->ws, (uint16_t)code);
    }
    return 0;
}

static int l_gc(lua_State *L)
{
    wsc_ud_t *u = luaL_checkudata(L, 1, WSC_MT);
    lc_t *c = u->c;
    if (!c)
        return 0;
    u->c = NULL;
    if (c->ws)
        sl_wsc_abort(c->ws);
    c->ws = NULL;
    /* A parked handler holds the handle on its stack, so none can be left
     * here (the runtime ends every wait before lua_close); be safe anyway. */
    if (c->w)
        sl_lua_wait_cancel(c->w, "closed");
    c->w = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, lc_closed_cb);
    return 0;
}

static int l_tostring(lua_State *L)
{
    wsc_ud_t *u = luaL_checkudata(L, 1, WSC_MT);
    static const char *names[] = {"connecting", "open", "closing", "closed"};
    lua_pushfstring(L, "siolua.wsclient (%s)", u->c ? names[u->c->state] : "closed");
    return 1;
}

/* ---- Socket.IO codec --------------------------------------------------------- */

/* Encoder buffers live in a userdata so that a Lua error (out of memory
 * while pushing the result) cannot leak them: its finalizer frees them. */
typedef struct enc_box {
    sl_buf_t json, out;
    sl_buf_t atts;         /* sio_packet_bin_t[] */
    sio_packet_mp_t mp;    /* the msgpack decoder's */
} enc_box_t;

static int box_gc(lua_State *L)
{
    enc_box_t *b = luaL_checkudata(L, 1, BOX_MT);
    sl_buf_free(&b->json);
    sl_buf_free(&b->out);
    sl_buf_free(&b->atts);
    sio_packet_mp_free(&b->mp);
    return 0;
}

static enc_box_t *new_box(lua_State *L)
{
    enc_box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOX_MT);
    return b;
}

/* The bytes stay in the binary values of the argument table, which lives
 * for the whole call: keep pointers, push strings at the end. */
static int note_binary(void *ud, const char *data, size_t len)
{
    sl_buf_t *atts = ud;
    sio_packet_bin_t a = {data, len};
    size_t n = atts->len / sizeof a;
    if (n >= 0x7fffffff || sl_buf_append(atts, &a, sizeof a))
        return -ENOMEM;
    return (int)n;
}

/* Pushes the attachments as a list of strings. */
static void push_atts(lua_State *L, const sio_packet_bin_t *v, unsigned n)
{
    lua_createtable(L, (int)n, 0);
    for (unsigned i = 0; i < n; i++) {
        lua_pushlstring(L, v[i].data, v[i].len);
        lua_rawseti(L, -2, i + 1);
    }
}

/* sio_encode(type, nsp, ack_id|nil, value|nil[, msgpack]) -> text, atts|nil;
 * with msgpack: the socket.io-msgpack-parser packet (binary values inline)
 * and nil. */
static int l_sio_encode(lua_State *L)
{
    lua_Integer type = luaL_checkinteger(L, 1);
    size_t nsp_len;
    const char *nsp = luaL_checklstring(L, 2, &nsp_len);
    int has_ack = !lua_isnoneornil(L, 3);
    lua_Integer id = has_ack ? luaL_checkinteger(L, 3) : 0;
    luaL_argcheck(L, type >= 0 && type <= 6, 1, "bad packet type");
    luaL_argcheck(L, id >= 0, 3, "ack id must be >= 0");
    int has_value = !lua_isnoneornil(L, 4);
    int msgpack = lua_toboolean(L, 5);
    lua_settop(L, 5);
    enc_box_t *b = new_box(L);
    if (has_value) {
        sl_lua_json_encode_opts_t eo = {note_binary, &b->atts};
        char err[256];
        if (sl_lua_json_encode(L, 4, &b->json, &eo, err, sizeof err) < 0)
            return luaL_error(L, "cannot send: %s", err);
    }
    const sio_packet_bin_t *atts = (const sio_packet_bin_t *)(void *)b->atts.data;
    unsigned natts = (unsigned)(b->atts.len / sizeof *atts);
    if (natts > SIO_PACKET_MAX_ATTACHMENTS && !msgpack)
        return luaL_error(L, "cannot send: more than %d binary values in one packet",
                          SIO_PACKET_MAX_ATTACHMENTS);
    if (natts && type == SIO_PACKET_EVENT)
        type = SIO_PACKET_BINARY_EVENT;
    else if (natts && type == SIO_PACKET_ACK)
        type = SIO_PACKET_BINARY_ACK;
    sio_packet_t pkt = {
        .type = (sio_packet_type_t)type,
        .attachments = natts,
        .nsp = nsp,
        .nsp_len = nsp_len,
        .has_ack = has_ack,
        .ack_id = (uint64_t)id,
        .payload = has_value ? b->json.data : NULL,
        .payload_len = has_value ? b->json.len : 0,
    };
    int rc = msgpack ? sio_packet_msgpack_encode(&b->out, &pkt, atts, natts)
                     : sio_packet_encode(&b->out, &pkt);
    if (rc)
        return luaL_error(L, "cannot send: %s", sio_packet_strerror(rc));
    lua_pushlstring(L, b->out.data ? b->out.data : "", b->out.len);
    if (natts && !msgpack)
        push_atts(L, atts, natts);
    else
        lua_pushnil(L);
    sl_buf_free(&b->json);
    sl_buf_free(&b->out);
    sl_buf_free(&b->atts);
    return 2;
}

/* The results of both decoders: type, nsp, ack_id|nil, payload|nil, and
 * last the attachments: their count (text: they follow in later frames) or
 * their list (msgpack: inline, nil when none); nil, err on a decode error. */
static int push_decoded(lua_State *L, int rc, const sio_packet_t *pkt, const sio_packet_bin_t *bins)
{
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, sio_packet_strerror(rc));
        return 2;
    }
    lua_pushinteger(L, pkt->type);
    lua_pushlstring(L, pkt->nsp, pkt->nsp_len);
    if (pkt->has_ack)
        lua_pushinteger(L, (lua_Integer)pkt->ack_id);
    else
        lua_pushnil(L);
    if (pkt->payload)
        lua_pushlstring(L, pkt->payload, pkt->payload_len);
    else
        lua_pushnil(L);
    if (!bins)
        lua_pushinteger(L, pkt->attachments);
    else if (pkt->attachments)
        push_atts(L, bins, pkt->attachments);
    else
        lua_pushnil(L);
    return 5;
}

/* sio_decode_msgpack(bytes): a socket.io-msgpack-parser packet, binary
 * values as attachments, as json_decode takes them (see push_decoded). */
static int l_sio_decode_msgpack(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    enc_box_t *b = new_box(L);
    sio_packet_t pkt;
    const sio_packet_bin_t *bins = NULL;
    int rc = sio_packet_msgpack_decode(&b->mp, p, n, &pkt, &bins);
    static const sio_packet_bin_t none;
    return push_decoded(L, rc, &pkt, bins ? bins : &none);
}

/* sio_decode(text): a socket.io-parser packet (see push_decoded). */
static int l_sio_decode(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    sio_packet_t pkt;
    return push_decoded(L, sio_packet_decode(p, n, &pkt), &pkt, NULL);
}

/* json_decode(text[, atts]) -> value | nil, err */
static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    sl_lua_json_decode_opts_t o = {NULL, 0};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        size_t count = lua_rawlen(L, 2);
        luaL_argcheck(L, count < 0x10000000, 2, "too many attachments");
        /* GC-owned, so a Lua error below leaks nothing. */
        sl_lua_json_blob_t *blobs = lua_newuserdatauv(L, (count ? count : 1) * sizeof *blobs, 0);
        o.attachments = blobs;
        for (size_t i = 0; i < count; i++) {
            lua_rawgeti(L, 2, (lua_Integer)i + 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "attachments must be strings");
            blobs[i].data = lua_tolstring(L, -1, &blobs[i].len); /* the table keeps it */
            lua_pop(L, 1);
        }
        o.nattachments = count;
    }
    char err[160];
    if (sl_lua_json_decode(L, p, n, o.nattachments ? &o : NULL, err, sizeof err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* ---- registration ------------------------------------------------------------ */

static const luaL_Reg handle_methods[] = {
    {"receive", l_receive},
    {"send", l_send},
    {"close", l_close},
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"connect", l_connect},
    {"sio_encode", l_sio_encode},
    {"sio_decode", l_sio_decode},
    {"sio_decode_msgpack", l_sio_decode_msgpack},
    {"json_decode", l_json_decode},
    {NULL, NULL},
};

void sl_lua_client_open(sl_lua_t *rt, lua_State *L)
{
    luaL_newmetatable(L, WSC_MT);
    luaL_newlib(L, handle_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    sl_lua_push_module(rt, L);
    luaL_newlib(L, module_funcs);
    lua_setfield(L, -2, "_wsclient");
    lua_pop(L, 1);
}
