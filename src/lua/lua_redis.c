/* L6 lua/lua_redis: sio.redis (contract in lua_redis.h and docs/lua-api.md):
 * a pool of hiredis async connections on the server's loop, and the Lua
 * functions that park a handler until its reply comes. Knows nothing of
 * Socket.IO, Engine.IO or HTTP.
 *
 *   box (Lua userdata: registry + upvalue of every function) --p--> pool
 *   pool --conns[]--> conn          current generation: what calls pick
 *        --all-----> conn <-> conn   current and retired, until freed
 *   conn --ac--> redisAsyncContext --data--> conn
 *   conn --head--> req <-> req       in flight, in the order sent
 *   req --w--> sl_lua_wait_t         NULL once the handler no longer waits
 *
 * Life cycles. A req lives until hiredis has called its callback once per
 * command it sent (with a reply, or NULL when the context dies), so hiredis
 * never holds a freed pointer; the handler may be gone long before (its
 * wait's cancel callback just clears req->w). A conn lives until its
 * context is gone (redis_uv.c's hook tells us, whatever the path) and its
 * timer handle has closed. The pool lives until the Lua state is closed
 * and every conn is freed (a reference count).
 *
 * Handlers are never resumed from inside hiredis: replies are handed over
 * with sl_lua_wait_resume_later (values built now, the handler runs from the
 * runtime's idle phase) and failures with sl_lua_wait_cancel. So app code
 * never runs in the middle of hiredis's callback loop, where a call to
 * sio.redis.configure would free the context under it, and a context torn
 * down with many replies pending wakes its handlers in one batch. */
#include "lua/lua_redis.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/backoff.h"
#include "base/log.h"
#include "lua/lua_json.h"
#include "cluster/redis_link.h"
#include "cluster/redis_url.h"

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define POOL_DEFAULT 4
#define POOL_MAX 64
#define CONNECT_TIMEOUT_DEFAULT 2000u /* ms; hiredis 0.14 has no connect timeout */
#define TIMEOUT_DEFAULT 5000u         /* ms without a reply before a connection is dropped */
#define BACKOFF_MIN 100u
#define BACKOFF_MAX 5000u
#define BACKOFF_JITTER_PCT 25 /* the pool's connections don't retry in step */
#define MSG_MAX 96   /* a failure message (lua_rt keeps 95 bytes of a cancel reason) */
#define WHY_MAX 128
#define NUM_MAX 48
#define BOX_MT "siolua.redis.pool"

typedef struct pool pool_t;
typedef struct conn conn_t;
typedef struct req req_t;

/* ---- configuration ----------------------------------------------------------- */

typedef struct cfg {
    sl_redis_url_t url;
    int pool;
    unsigned connect_timeout, timeout;
    char shown[640]; /* for log lines: never the password */
} cfg_t;

/* ---- pool, connections, requests ----------------------------------------------- */

typedef enum { C_IDLE, C_RESOLVING, C_CONNECTING, C_READY, C_BACKOFF, C_DEAD } cstate_t;

typedef struct resolve {
    uv_getaddrinfo_t req;
    conn_t *c; /* NULL once the conn stopped waiting for it */
} resolve_t;

struct conn {
    pool_t *p;
    int idx; /* 1-based, for log lines */
    cstate_t state;
    int retired; /* left the pool's array (configure, close): ends when its context does */
    redisAsyncContext *ac;
    resolve_t *res;
    uv_timer_t timer; /* connect timeout, reconnect backoff or reply timeout, by state */
    sl_backoff_t backoff;
    int handshake_left; /* AUTH / SELECT replies still due */
    unsigned connect_timeout, timeout;
    req_t *head, *tail;
    int inflight; /* replies due for the requests in the list */
    char why[WHY_MAX];  /* why we dropped the context ourselves */
    char fail[MSG_MAX]; /* what its requests then get */
    conn_t *prev, *next; /* pool->all */
};

/* Commands encoded for the wire (RESP), packed in a Lua userdata while the
 * call is set up, or in a malloc'd copy while a connection resolves its
 * host: offs[i]..offs[i+1] is command i in the bytes after offs[n]. */
typedef struct blob {
    int n;
    size_t offs[];
} blob_t;

static char *blob_bytes(const blob_t *b) { return (char *)&b->offs[b->n + 1]; }
static size_t blob_size(int n, size_t bytes) { return sizeof(blob_t) + (size_t)(n + 1) * sizeof(size_t) + bytes; }

struct req {
    conn_t *c;
    sl_lua_wait_t *w;
    req_t *prev, *next;
    uint64_t deadline; /* loop time its replies are due by */
    int ncmds, ngot;
    int pipeline;
    int failed;          /* the handler got nil, err already */
    blob_t *unsent;      /* not yet handed to hiredis (conn resolving) */
    redisReply *replies[]; /* pipeline: copies, until the last one */
};

struct pool {
    sl_lua_t *rt;
    uv_loop_t *loop;
    cfg_t cfg;
    int cfg_ok;
    char cfg_err[WHY_MAX];
    conn_t **conns;
    int nconns;
    unsigned rr;
    int nready;
    conn_t *all;
    int closing;
    int refs; /* the Lua box + every conn not yet freed */
    int ever_up, down;
    uint64_t down_since;
    char down_reason[WHY_MAX];
    char msg[MSG_MAX]; /* scratch for the failure message being handed over */
};

typedef struct box {
    pool_t *p;
} box_t;

static char registry_key; /* registry[&registry_key] = the box */
static const int HS_AUTH = 1, HS_SELECT = 2;

static void conn_connect(conn_t *c);
static void conn_failed(conn_t *c, cstate_t was, const char *reason);
static void conn_free(conn_t *c);
static void reply_cb(redisAsyncContext *ac, void *r, void *privdata);

/* ---- replies -> Lua --------------------------------------------------------------- */

/* One reply as a Lua value. Nested error replies become {false, "ERR ..."}
 * (as lua-resty-redis does) so an EXEC result keeps its length. Arrays are
 * marked as JSON arrays, so an empty one is sent to a client as []. */
static void push_value(lua_State *L, const redisReply *r)
{
    luaL_checkstack(L, 3, "redis reply nested too deeply");
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        lua_pushlstring(L, r->str ? r->str : "", r->len);
        break;
    case REDIS_REPLY_INTEGER:
        lua_pushinteger(L, (lua_Integer)r->integer);
        break;
    case REDIS_REPLY_ERROR:
        lua_createtable(L, 2, 0);
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, r->str ? r->str : "", r->len);
        lua_rawseti(L, -2, 2);
        break;
    case REDIS_REPLY_ARRAY: {
        size_t n = r->elements;
        sl_lua_json_new_array(L, n > INT_MAX ? INT_MAX : (int)n);
        for (size_t i = 0; i < n; i++) {
            push_value(L, r->element[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    default: /* REDIS_REPLY_NIL */
        sl_lua_json_push_null(L);
        break;
    }
}

/* The results of a call: the value, or nil, "ERR ..." for an error reply. */
static int push_reply(lua_State *L, void *ud)
{
    const redisReply *r = ud;
    if (r->type == REDIS_REPLY_ERROR) {
        lua_pushnil(L);
        lua_pushlstring(L, r->str ? r->str : "", r->len);
        return 2;
    }
    push_value(L, r);
    return 1;
}

static int push_pipeline(lua_State *L, void *ud)
{
    req_t *q = ud;
    sl_lua_json_new_array(L, q->ncmds);
    for (int i = 0; i < q->ncmds; i++) {
        push_value(L, q->replies[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* hiredis frees a reply when its callback returns; a pipeline keeps copies
 * until its last reply is in. */
static void reply_free(redisReply *r)
{
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->element) {
        for (size_t i = 0; i < r->elements; i++)
            reply_free(r->element[i]);
        free(r->element);
    }
    free(r->str);
    free(r);
}

static redisReply *reply_dup(const redisReply *r)
{
    redisReply *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->type = r->type;
    d->integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY) {
        if (r->elements) {
            d->element = calloc(r->elements, sizeof *d->element);
            if (!d->element) {
                free(d);
                return NULL;
            }
            d->elements = r->elements;
            for (size_t i = 0; i < r->elements; i++) {
                if (!(d->element[i] = reply_dup(r->element[i]))) {
                    reply_free(d);
                    return NULL;
                }
            }
        }
    } else if (r->str) {
        d->str = malloc(r->len + 1);
        if (!d->str) {
            free(d);
            return NULL;
        }
        memcpy(d->str, r->str, r->len);
        d->str[r->len] = '\0';
        d->len = r->len;
    }
    return d;
}

/* ---- requests ---------------------------------------------------------------------- */

static void req_cancel_cb(void *ud)
{
    req_t *q = ud;
    if (q)
        q->w = NULL;
}

/* The handler gets nil, msg (later); nothing more reaches it. */
static void req_fail(req_t *q, const char *msg)
{
    q->failed = 1;
    if (q->w) {
        sl_lua_wait_t *w = q->w;
        q->w = NULL;
        sl_lua_wait_cancel(w, msg);
    }
}

static void req_free(req_t *q)
{
    if (q->pipeline)
        for (int i = 0; i < q->ncmds; i++)
            reply_free(q->replies[i]);
    free(q->unsent);
    free(q);
}

/* Arms the timer for the oldest request of a ready connection: replies come
 * in order, so the head is the one overdue first. */
static void arm_reply_timer(conn_t *c);

static void req_link(conn_t *c, req_t *q)
{
    q->c = c;
    q->prev = c->tail;
    q->next = NULL;
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    c->inflight += q->ncmds;
    if (c->head == q)
        arm_reply_timer(c);
}

static void req_unlink(conn_t *c, req_t *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        c->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        c->tail = q->prev;
    q->prev = q->next = NULL;
}

/* Hands the commands of b to hiredis; returns how many it took (all of
 * them, unless the context is already being closed). */
static int req_send(conn_t *c, req_t *q, const blob_t *b)
{
    const char *bytes = blob_bytes(b);
    int i;
    for (i = 0; i < b->n; i++)
        if (redisAsyncFormattedCommand(c->ac, reply_cb, q, bytes + b->offs[i],
                                       b->offs[i + 1] - b->offs[i]) != REDIS_OK)
            break;
    return i;
}

/* Settles a request of which hiredis took only k of its commands. */
static void req_short(conn_t *c, req_t *q, int k)
{
    c->inflight -= q->ncmds - k;
    q->ncmds = k;
    req_fail(q, "redis unavailable: the connection is closing");
    if (k == 0) {
        req_unlink(c, q);
        req_free(q);
    }
}

/* Requests still waiting for a connection that never got a context. */
static void fail_unsent(conn_t *c, const char *msg)
{
    req_t *q = c->head, *next;
    for (; q; q = next) {
        next = q->next;
        if (!q->unsent)
            continue;
        c->inflight -= q->ncmds;
        req_unlink(c, q);
        req_fail(q, msg);
        req_free(q);
    }
}

static void flush_unsent(conn_t *c)
{
    req_t *q = c->head, *next;
    for (; q; q = next) {
        next = q->next;
        if (!q->unsent)
            continue;
        blob_t *b = q->unsent;
        q->unsent = NULL;
        int k = req_send(c, q, b);
        free(b);
        if (k < q->ncmds)
            req_short(c, q, k);
    }
}

/* What the requests of a dying context get. */
static const char *dead_msg(conn_t *c, const redisAsyncContext *ac)
{
    pool_t *p = c->p;
    if (c->fail[0])
        return c->fail;
    if (p->closing)
        return "redis closed";
    snprintf(p->msg, sizeof p->msg, "%s: %.70s",
             c->state == C_READY ? "redis connection lost" : "redis unavailable",
             ac->c.err ? ac->c.errstr : "connection closed");
    return p->msg;
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    req_t *q = privdata;
    conn_t *c = q->c;
    redisReply *reply = r;
    q->ngot++;
    c->inflight--;
    if (!reply) {
        if (!q->failed)
            req_fail(q, dead_msg(c, ac));
    } else if (!q->failed) {
        if (!q->pipeline) {
            if (q->w) {
                sl_lua_wait_t *w = q->w;
                q->w = NULL;
                sl_lua_wait_resume_later(w, push_reply, reply);
            }
        } else if (!(q->replies[q->ngot - 1] = reply_dup(reply))) {
            req_fail(q, "not enough memory");
        }
    }
    if (q->ngot < q->ncmds)
        return;
    if (q->pipeline && !q->failed && q->w) {
        sl_lua_wait_t *w = q->w;
        q->w = NULL;
        sl_lua_wait_resume_later(w, push_pipeline, q);
    }
    req_unlink(c, q);
    req_free(q);
    if (reply)
        arm_reply_timer(c);
}

/* ---- connections -------------------------------------------------------------------- */

static void pool_unref(pool_t *p)
{
    if (--p->refs == 0)
        free(p);
}

static void conn_closed_cb(uv_handle_t *h)
{
    conn_t *c = h->data;
    pool_t *p = c->p;
    free(c);
    pool_unref(p);
}

static void reply_timeout_cb(uv_timer_t *h)
{
    conn_t *c = h->data;
    if (c->state != C_READY || !c->ac)
        return;
    snprintf(c->why, sizeof c->why, "no reply within %u ms", c->timeout);
    snprintf(c->fail, sizeof c->fail, "redis timeout: %.80s", c->why);
    redisAsyncFree(c->ac); /* its requests fail, then on_gone */
}

static void arm_reply_timer(conn_t *c)
{
    if (c->state != C_READY)
        return;
    if (!c->head || !c->timeout) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = uv_now(c->p->loop);
    uint64_t due = c->head->deadline > now ? c->head->deadline - now : 0;
    uv_timer_start(&c->timer, reply_timeout_cb, due, 0);
}

static conn_t *conn_new(pool_t *p, int idx)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->p = p;
    c->idx = idx;
    c->state = C_IDLE;
    c->connect_timeout = p->cfg.connect_timeout;
    c->timeout = p->cfg.timeout;
    sl_backoff_init(&c->backoff, BACKOFF_MIN, BACKOFF_MAX, BACKOFF_JITTER_PCT);
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->next = p->all;
    if (p->all)
        p->all->prev = c;
    p->all = c;
    p->refs++;
    return c;
}

static void abandon_resolve(conn_t *c)
{
    if (!c->res)
        return;
    c->res->c = NULL;
    uv_cancel((uv_req_t *)&c->res->req);
    c->res = NULL;
}

/* Ends a conn that has no context: its timer closes, then it is freed. */
static void conn_free(conn_t *c)
{
    pool_t *p = c->p;
    if (c->state == C_DEAD)
        return;
    abandon_resolve(c);
    fail_unsent(c, p->closing ? "redis closed" : "redis unavailable: connection closed");
    c->state = C_DEAD;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
}

static void conn_ready(conn_t *c)
{
    pool_t *p = c->p;
    c->state = C_READY;
    sl_backoff_reset(&c->backoff);
    c->why[0] = c->fail[0] = '\0';
    uv_timer_stop(&c->timer);
    /* Requests queued while connecting: their time starts now. */
    uint64_t now = uv_now(p->loop);
    for (req_t *q = c->head; q; q = q->next)
        q->deadline = now + c->timeout;
    arm_reply_timer(c);
    if (c->retired)
        return;
    if (++p->nready > 1) {
        SL_DEBUG("redis", "connection %d/%d to %s is up", c->idx, p->nconns, p->cfg.shown);
        return;
    }
    if (!p->ever_up)
        SL_INFO("redis", "connected to %s (pool of %d)", p->cfg.shown, p->nconns);
    else if (p->down)
        SL_INFO("redis", "reconnected to %s after %.1f s", p->cfg.shown,
                (double)(now - p->down_since) / 1000.0);
    p->ever_up = 1;
    p->down = 0;
}

/* hiredis destroys ac (see redis_uv.c): its requests have had their NULL
 * replies already. */
static void on_gone(redisAsyncContext *ac)
{
    conn_t *c = ac->data;
    if (!c)
        return;
    ac->data = NULL;
    c->ac = NULL;
    char reason[WHY_MAX];
    snprintf(reason, sizeof reason, "%s",
             c->why[0] ? c->why : ac->c.err ? ac->c.errstr : "connection closed");
    cstate_t was = c->state;
    if (was == C_READY && !c->retired)
        c->p->nready--;
    if (c->retired || c->p->closing) {
        conn_free(c);
        return;
    }
    conn_failed(c, was, reason);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    conn_t *c = ac->data;
    if (!c || status != REDIS_OK)
        return; /* a failure: on_gone follows */
    if (c->handshake_left == 0 && c->state == C_CONNECTING)
        conn_ready(c);
}

static void handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    conn_t *c = ac->data;
    redisReply *reply = r;
    if (!c || !reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!c->why[0]) {
            snprintf(c->why, sizeof c->why, "%s failed: %.100s", privdata == &HS_AUTH ? "AUTH" : "SELECT",
                     reply->str ? reply->str : "");
            snprintf(c->fail, sizeof c->fail, "redis unavailable: %.76s", c->why);
        }
        redisAsyncFree(ac); /* deferred by hiredis until this callback returns */
        return;
    }
    if (--c->handshake_left == 0 && c->state == C_CONNECTING)
        conn_ready(c);
}

/* Takes over a context just created for c (NULL: out of memory). */
static void conn_attach(conn_t *c, redisAsyncContext *ac)
{
    pool_t *p = c->p;
    if (!ac) {
        conn_failed(c, C_CONNECTING, "not enough memory");
        return;
    }
    if (ac->err) { /* refused at once, typically a unix socket nobody listens on */
        char why[WHY_MAX];
        snprintf(why, sizeof why, "%s", ac->c.errstr[0] ? ac->c.errstr : "cannot connect");
        redisAsyncFree(ac);
        conn_failed(c, C_CONNECTING, why);
        return;
    }
    ac->data = c;
    if (sl_redis_uv_attach(ac, p->loop, on_gone) != 0) {
        ac->data = NULL;
        redisAsyncFree(ac);
        conn_failed(c, C_CONNECTING, "cannot watch the socket");
        return;
    }
    c->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    /* Sent first on the wire, so they precede any queued command. */
    c->handshake_left += sl_redis_send_handshake(ac, &p->cfg.url, handshake_cb, (void *)&HS_AUTH, handshake_cb,
                                                 (void *)&HS_SELECT);
    flush_unsent(c);
}

static void backoff_cb(uv_timer_t *h)
{
    conn_t *c = h->data;
    if (c->state == C_BACKOFF && !c->retired && !c->p->closing)
        conn_connect(c);
}

/* A connect attempt failed or a connection was lost (c has no context):
 * retry after the backoff, and log what the pool as a whole went through. */
static void conn_failed(conn_t *c, cstate_t was, const char *reason)
{
    pool_t *p = c->p;
    char msg[MSG_MAX];
    snprintf(msg, sizeof msg, "redis unavailable: %.76s", reason);
    fail_unsent(c, msg);
    c->state = C_BACKOFF;
    unsigned retry_ms = sl_backoff_next(&c->backoff, (uint32_t)uv_hrtime());
    uv_timer_start(&c->timer, backoff_cb, retry_ms, 0);
    if (p->nready == 0 && !p->down) {
        p->down = 1;
        p->down_since = uv_now(p->loop);
        snprintf(p->down_reason, sizeof p->down_reason, "%s", reason);
        if (was == C_READY)
            SL_WARN("redis", "lost connection to %s: %s; reconnecting", p->cfg.shown, reason);
        else
            SL_WARN("redis", "cannot connect to %s: %s; retrying", p->cfg.shown, reason);
        return;
    }
    if (p->nready == 0)
        snprintf(p->down_reason, sizeof p->down_reason, "%s", reason);
    SL_DEBUG("redis", "connection %d/%d to %s: %s; retry in %u ms", c->idx, p->nconns, p->cfg.shown, reason,
             retry_ms);
}

static void connect_timeout_cb(uv_timer_t *h)
{
    conn_t *c = h->data;
    snprintf(c->why, sizeof c->why, "connect timeout (%u ms)", c->connect_timeout);
    snprintf(c->fail, sizeof c->fail, "redis unavailable: %.76s", c->why);
    if (c->state == C_RESOLVING) {
        abandon_resolve(c);
        conn_failed(c, C_CONNECTING, c->why);
    } else if (c->state == C_CONNECTING && c->ac) {
        redisAsyncFree(c->ac); /* its requests fail, then on_gone */
    }
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    resolve_t *r = req->data;
    conn_t *c = r->c;
    free(r);
    if (!c) {
        uv_freeaddrinfo(ai);
        return;
    }
    c->res = NULL;
    pool_t *p = c->p;
    char why[WHY_MAX];
    if (status < 0 || !ai) {
        snprintf(why, sizeof why, "cannot resolve %.60s: %s", p->cfg.url.host,
                 status < 0 ? uv_strerror(status) : "no address");
        uv_freeaddrinfo(ai);
        conn_failed(c, C_CONNECTING, why);
        return;
    }
    struct addrinfo *use = ai;
    for (struct addrinfo *a = ai; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            use = a;
            break;
        }
    char addr[INET6_ADDRSTRLEN] = "";
    if (use->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)use->ai_addr)->sin_addr, addr, sizeof addr);
    else if (use->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)use->ai_addr)->sin6_addr, addr, sizeof addr);
    uv_freeaddrinfo(ai);
    if (!addr[0]) {
        snprintf(why, sizeof why, "cannot resolve %.60s: no usable address", p->cfg.url.host);
        conn_failed(c, C_CONNECTING, why);
        return;
    }
    c->state = C_CONNECTING;
    conn_attach(c, redisAsyncConnect(addr, p->cfg.url.port));
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* One connect attempt. hiredis resolves names with a blocking getaddrinfo,
 * so names go through uv_getaddrinfo first and hiredis gets an address. */
static void conn_connect(conn_t *c)
{
    pool_t *p = c->p;
    c->why[0] = c->fail[0] = '\0';
    c->handshake_left = 0;
    uv_update_time(p->loop);
    uv_timer_start(&c->timer, connect_timeout_cb, c->connect_timeout, 0);
    if (p->cfg.url.is_unix) {
        c->state = C_CONNECTING;
        conn_attach(c, redisAsyncConnectUnix(p->cfg.url.path));
        return;
    }
    if (is_ip_literal(p->cfg.url.host)) {
        c->state = C_CONNECTING;
        conn_attach(c, redisAsyncConnect(p->cfg.url.host, p->cfg.url.port));
        return;
    }
    c->state = C_RESOLVING;
    resolve_t *r = calloc(1, sizeof *r);
    if (!r) {
        conn_failed(c, C_CONNECTING, "not enough memory");
        return;
    }
    r->c = c;
    r->req.data = r;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(p->loop, &r->req, resolved_cb, p->cfg.url.host, NULL, &hints);
    if (rc < 0) {
        free(r);
        char why[WHY_MAX];
        snprintf(why, sizeof why, "cannot resolve %.60s: %s", p->cfg.url.host, uv_strerror(rc));
        conn_failed(c, C_CONNECTING, why);
        return;
    }
    c->res = r;
}

/* ---- the pool ------------------------------------------------------------------------ */

/* Opens the connections of the current configuration (first use after
 * start or configure). */
static int pool_start(pool_t *p)
{
    p->conns = calloc((size_t)p->cfg.pool, sizeof *p->conns);
    if (!p->conns)
        return -1;
    for (int i = 0; i < p->cfg.pool; i++) {
        if (!(p->conns[i] = conn_new(p, i + 1)))
            break;
        p->nconns++;
    }
    if (p->nconns == 0) {
        free(p->conns);
        p->conns = NULL;
        return -1;
    }
    for (int i = 0; i < p->nconns; i++)
        if (p->conns[i]->state == C_IDLE && !p->closing)
            conn_connect(p->conns[i]);
    return 0;
}

/* The connection for the next request: a ready one with the fewest replies
 * due (round robin among equals); while the first connections are being
 * made, one of those (the request waits for it, up to the connect
 * timeout). NULL, with the message in p->msg, when there is none: the call
 * fails at once. */
static conn_t *pick(pool_t *p)
{
    if (p->closing) {
        snprintf(p->msg, sizeof p->msg, "redis closed");
        return NULL;
    }
    if (!p->cfg_ok) {
        snprintf(p->msg, sizeof p->msg, "redis unavailable: %.76s", p->cfg_err);
        return NULL;
    }
    if (!p->conns && pool_start(p) < 0) {
        snprintf(p->msg, sizeof p->msg, "redis unavailable: not enough memory");
        return NULL;
    }
    conn_t *best = NULL;
    int besti = 0;
    for (int k = 0; k < p->nconns; k++) {
        int i = (int)((p->rr + (unsigned)k) % (unsigned)p->nconns);
        conn_t *c = p->conns[i];
        if (c->state == C_READY && (!best || c->inflight < best->inflight)) {
            best = c;
            besti = i;
        }
    }
    if (best) {
        p->rr = (unsigned)besti + 1;
        return best;
    }
    if (p->down) {
        snprintf(p->msg, sizeof p->msg, "redis unavailable: %.76s", p->down_reason);
        return NULL;
    }
    for (int i = 0; i < p->nconns; i++) {
        conn_t *c = p->conns[i];
        if ((c->state == C_CONNECTING || c->state == C_RESOLVING) && (!best || c->inflight < best->inflight))
            best = c;
    }
    if (!best)
        snprintf(p->msg, sizeof p->msg, "redis unavailable: not connected");
    return best;
}

/* The current connections leave the pool (a new configuration): those with
 * a context finish what they have in flight, then close. */
static void pool_retire(pool_t *p)
{
    conn_t **conns = p->conns;
    int n = p->nconns;
    p->conns = NULL;
    p->nconns = 0;
    p->nready = 0;
    p->rr = 0;
    p->down = 0;
    p->ever_up = 0;
    for (int i = 0; i < n; i++) {
        conn_t *c = conns[i];
        c->retired = 1;
        if (c->ac)
            redisAsyncDisconnect(c->ac); /* may end it right here (on_gone) */
        else
            conn_free(c);
    }
    free(conns);
}

static void pool_close(pool_t *p)
{
    if (p->closing)
        return;
    p->closing = 1;
    conn_t *c = p->all, *next;
    for (; c; c = next) {
        next = c->next;
        c->retired = 1;
        snprintf(c->fail, sizeof c->fail, "redis closed");
        if (c->ac)
            redisAsyncFree(c->ac); /* its requests fail, then on_gone frees c */
        else
            conn_free(c);
    }
    free(p->conns);
    p->conns = NULL;
    p->nconns = 0;
    p->nready = 0;
}

/* The defaults: $SIOLUA_REDIS_URL or redis://127.0.0.1:6379. */
static int cfg_default(cfg_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->pool = POOL_DEFAULT;
    c->connect_timeout = CONNECT_TIMEOUT_DEFAULT;
    c->timeout = TIMEOUT_DEFAULT;
    const char *env = getenv("SIOLUA_REDIS_URL");
    int rc;
    if (env && *env) {
        char e[WHY_MAX - 24]; /* room for the prefix below */
        rc = sl_redis_url_parse(env, &c->url, e, sizeof e);
        if (rc < 0)
            snprintf(err, errlen, "bad SIOLUA_REDIS_URL: %s", e);
    } else {
        rc = sl_redis_url_parse(DEFAULT_URL, &c->url, err, errlen);
    }
    sl_redis_url_text(&c->url, c->shown, sizeof c->shown);
    return rc;
}

static int cfg_equal(const cfg_t *a, const cfg_t *b)
{
    return sl_redis_url_equal(&a->url, &b->url) && a->pool == b->pool &&
           a->connect_timeout == b->connect_timeout && a->timeout == b->timeout;
}

/* ---- commands from Lua -> RESP -------------------------------------------------------------- */

static pool_t *check_pool(lua_State *L)
{
    box_t *b = lua_touserdata(L, lua_upvalueindex(1));
    if (!b || !b->p)
        luaL_error(L, "sio.redis is closed");
    return b->p;
}

/* Pushes argument k (1-based) of a command: the stack slot base + k - 1
 * when t is 0, else t[k] (raw). */
static void push_arg(lua_State *L, int t, int base, int k)
{
    if (t)
        lua_rawgeti(L, t, k);
    else
        lua_pushvalue(L, base + k - 1);
}

/* Numbers are sent exactly: integers in decimal, floats with the fewest
 * digits that read back to the same double (3.0 -> "3", 0.1 -> "0.1"). */
static size_t fmt_number(lua_State *L, int idx, char *out)
{
    if (lua_isinteger(L, idx))
        return (size_t)snprintf(out, NUM_MAX, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    double d = (double)lua_tonumber(L, idx);
    if (isinf(d))
        return (size_t)snprintf(out, NUM_MAX, "%s", d > 0 ? "inf" : "-inf");
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(out, NUM_MAX, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    return (size_t)n;
}

/* The bytes of the value on top as a Redis argument: 0, -1 (not a string,
 * number or siolua.binary) or -2 (NaN). */
static int arg_bytes(lua_State *L, char *num, const char **p, size_t *len)
{
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        *p = lua_tolstring(L, -1, len);
        return 0;
    case LUA_TNUMBER:
        if (!lua_isinteger(L, -1) && isnan((double)lua_tonumber(L, -1)))
            return -2;
        *len = fmt_number(L, -1, num);
        *p = num;
        return 0;
    default:
        *p = sl_lua_json_binary_data(L, -1, len);
        return *p ? 0 : -1;
    }
}

static size_t ndigits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

typedef struct denied {
    const char *name;
    const char *why;
    int pipeline_ok;
} denied_t;

/* Commands that would break a shared, pooled connection. */
static const denied_t denied[] = {
    {"SUBSCRIBE", "pub/sub needs a connection of its own", 0},
    {"PSUBSCRIBE", "pub/sub needs a connection of its own", 0},
    {"SSUBSCRIBE", "pub/sub needs a connection of its own", 0},
    {"UNSUBSCRIBE", "pub/sub needs a connection of its own", 0},
    {"PUNSUBSCRIBE", "pub/sub needs a connection of its own", 0},
    {"SUNSUBSCRIBE", "pub/sub needs a connection of its own", 0},
    {"MONITOR", "it takes the connection over", 0},
    {"SELECT", "set the database with sio.redis.configure{db = N}", 0},
    {"AUTH", "set the password with sio.redis.configure{password = ...}", 0},
    {"HELLO", "the client speaks RESP2 only", 0},
    {"RESET", "the pool manages its connections", 0},
    {"QUIT", "the pool manages its connections", 0},
    {"WATCH", "it needs a connection of its own", 0},
    {"UNWATCH", "it needs a connection of its own", 0},
    {"MULTI", "send the transaction with sio.redis.pipeline{{\"MULTI\"}, ..., {\"EXEC\"}}", 1},
    {"EXEC", "send the transaction with sio.redis.pipeline{{\"MULTI\"}, ..., {\"EXEC\"}}", 1},
    {"DISCARD", "send the transaction with sio.redis.pipeline{{\"MULTI\"}, ..., {\"EXEC\"}}", 1},
};

/* Raises for a command sio.redis cannot run; tracks MULTI in a pipeline. */
static void check_command(lua_State *L, int t, int base, int n, const char *name, size_t len, int cmdno,
                          int *multi)
{
    const char *fn = cmdno ? "pipeline" : "call";
    char up[16];
    if (len >= sizeof up)
        return;
    for (size_t i = 0; i < len; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[len] = '\0';
    if (cmdno && !strcmp(up, "MULTI"))
        *multi = 1;
    else if (cmdno && (!strcmp(up, "EXEC") || !strcmp(up, "DISCARD")))
        *multi = 0;
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        if (!strcmp(up, denied[i].name) && !(cmdno && denied[i].pipeline_ok))
            luaL_error(L, "sio.redis.%s: %s is not supported (%s)", fn, up, denied[i].why);
    if (!strcmp(up, "CLIENT") && n >= 2) {
        push_arg(L, t, base, 2);
        if (lua_type(L, -1) == LUA_TSTRING && !strcasecmp(lua_tostring(L, -1), "REPLY"))
            luaL_error(L, "sio.redis.%s: CLIENT REPLY is not supported (replies would no longer match)", fn);
        lua_pop(L, 1);
    }
}

static void bad_arg(lua_State *L, int base, int k, int cmdno, int why)
{
    if (!cmdno) {
        if (why == -2)
            luaL_argerror(L, base + k - 1, "NaN cannot be sent to Redis");
        luaL_typeerror(L, base + k - 1, k == 1 ? "string" : "string or number");
    }
    if (why == -2)
        luaL_error(L, "sio.redis.pipeline: command %d, argument %d: NaN cannot be sent to Redis", cmdno, k);
    luaL_error(L, "sio.redis.pipeline: command %d, argument %d: %s expected, got %s", cmdno, k,
               k == 1 ? "string" : "string or number", luaL_typename(L, -1));
}

/* Checks one command (raising on misuse) and returns its RESP size. */
static size_t measure_command(lua_State *L, int t, int base, int n, int cmdno, int *multi)
{
    if (n < 1)
        luaL_error(L, "sio.redis.pipeline: command %d is empty", cmdno);
    luaL_checkstack(L, 3, NULL);
    push_arg(L, t, base, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
        bad_arg(L, base, 1, cmdno, -1);
    size_t nlen;
    const char *name = lua_tolstring(L, -1, &nlen);
    check_command(L, t, base, n, name, nlen, cmdno, multi);
    lua_pop(L, 1);
    size_t total = 1 + ndigits((size_t)n) + 2;
    for (int k = 1; k <= n; k++) {
        char num[NUM_MAX];
        const char *p;
        size_t len;
        push_arg(L, t, base, k);
        int rc = arg_bytes(L, num, &p, &len);
        if (rc < 0)
            bad_arg(L, base, k, cmdno, rc);
        lua_pop(L, 1);
        total += 1 + ndigits(len) + 2 + len + 2;
    }
    return total;
}

static int put(char *dst, size_t cap, size_t *off, const char *s, size_t n)
{
    if (n > cap - *off)
        return -1;
    memcpy(dst + *off, s, n);
    *off += n;
    return 0;
}

/* Writes one command measured before; -1 when it no longer fits (a
 * finalizer changed the table in between). Never raises. */
static long write_command(lua_State *L, int t, int base, int n, char *dst, size_t cap)
{
    char head[32];
    size_t off = 0;
    int hl = snprintf(head, sizeof head, "*%d\r\n", n);
    if (put(dst, cap, &off, head, (size_t)hl) < 0)
        return -1;
    for (int k = 1; k <= n; k++) {
        char num[NUM_MAX];
        const char *p;
        size_t len;
        push_arg(L, t, base, k);
        int bad = arg_bytes(L, num, &p, &len) < 0;
        hl = snprintf(head, sizeof head, "$%zu\r\n", len);
        bad = bad || put(dst, cap, &off, head, (size_t)hl) < 0 || put(dst, cap, &off, p, len) < 0 ||
              put(dst, cap, &off, "\r\n", 2) < 0;
        lua_pop(L, 1);
        if (bad)
            return -1;
    }
    return (long)off;
}

static blob_t *blob_new(lua_State *L, int n, size_t bytes)
{
    blob_t *b = lua_newuserdatauv(L, blob_size(n, bytes), 0);
    b->n = n;
    b->offs[0] = 0;
    return b;
}

/* ---- Lua functions ------------------------------------------------------------------------ */

/* Common tail of call and pipeline: every step that may raise is done; the
 * commands are in b. Parks the handler until the replies (or a failure). */
static int start(lua_State *L, pool_t *p, blob_t *b, int pipeline)
{
    sl_lua_wait_t *w = sl_lua_wait_new(L, req_cancel_cb, NULL); /* raises outside a handler */
    conn_t *c = pick(p);
    if (!c) {
        sl_lua_wait_cancel(w, p->msg);
        return sl_lua_yield(L);
    }
    req_t *q = calloc(1, sizeof *q + (pipeline ? (size_t)b->n * sizeof(redisReply *) : 0));
    if (!q) {
        sl_lua_wait_cancel(w, "not enough memory");
        return sl_lua_yield(L);
    }
    q->w = w;
    q->ncmds = b->n;
    q->pipeline = pipeline;
    uv_update_time(p->loop); /* a long handler may have left the loop time stale */
    q->deadline = uv_now(p->loop) + c->timeout;
    if (c->state == C_RESOLVING) {
        size_t size = blob_size(b->n, b->offs[b->n]);
        if (!(q->unsent = malloc(size))) {
            free(q);
            sl_lua_wait_cancel(w, "not enough memory");
            return sl_lua_yield(L);
        }
        memcpy(q->unsent, b, size);
        req_link(c, q);
    } else {
        int k = req_send(c, q, b);
        if (k == 0) {
            free(q);
            sl_lua_wait_cancel(w, "redis unavailable: the connection is closing");
            return sl_lua_yield(L);
        }
        req_link(c, q);
        if (k < q->ncmds)
            req_short(c, q, k); /* fails the handler's wait (q->w = NULL), keeps q */
    }
    if (q->w)
        sl_lua_wait_set_cancel(w, req_cancel_cb, q);
    return sl_lua_yield(L);
}

/* sio.redis.call(cmd, ...) -> reply | nil, err */
static int l_call(lua_State *L)
{
    pool_t *p = check_pool(L);
    int n = lua_gettop(L);
    if (n < 1)
        luaL_typeerror(L, 1, "string");
    int multi = 0;
    size_t bytes = measure_command(L, 0, 1, n, 0, &multi);
    blob_t *b = blob_new(L, 1, bytes);
    long w = write_command(L, 0, 1, n, blob_bytes(b), bytes);
    if (w < 0 || (size_t)w != bytes)
        return luaL_error(L, "sio.redis.call: the arguments changed while being sent");
    b->offs[1] = bytes;
    return start(L, p, b, 0);
}

/* sio.redis.pipeline{{cmd, ...}, ...} -> {reply, ...} | nil, err */
static int l_pipeline(lua_State *L)
{
    pool_t *p = check_pool(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_Unsigned len = lua_rawlen(L, 1);
    if (len == 0) {
        sl_lua_json_new_array(L, 0);
        return 1;
    }
    if (len > INT_MAX / 2)
        return luaL_error(L, "sio.redis.pipeline: too many commands");
    int n = (int)len, multi = 0;
    size_t total = 0;
    luaL_checkstack(L, 4, NULL);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        if (!lua_istable(L, -1))
            return luaL_error(L, "sio.redis.pipeline: command %d must be a table {cmd, args...}, got %s", i,
                              luaL_typename(L, -1));
        lua_Unsigned m = lua_rawlen(L, -1);
        if (m > INT_MAX / 2)
            return luaL_error(L, "sio.redis.pipeline: command %d has too many arguments", i);
        total += measure_command(L, lua_gettop(L), 0, (int)m, i, &multi);
        lua_pop(L, 1);
    }
    if (multi)
        return luaL_error(L, "sio.redis.pipeline: MULTI without EXEC or DISCARD");
    blob_t *b = blob_new(L, n, total);
    char *bytes = blob_bytes(b);
    size_t off = 0;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        long w = lua_istable(L, -1) ? write_command(L, lua_gettop(L), 0, (int)lua_rawlen(L, -1), bytes + off,
                                                    total - off)
                                    : -1;
        lua_pop(L, 1);
        if (w < 0)
            return luaL_error(L, "sio.redis.pipeline: the commands changed while being sent");
        off += (size_t)w;
        b->offs[i] = off;
    }
    if (off != total)
        return luaL_error(L, "sio.redis.pipeline: the commands changed while being sent");
    return start(L, p, b, 1);
}

static const char *const option_names[] = {"url", "pool", "connect_timeout", "timeout", "password",
                                           "user", "db", NULL};

static lua_Integer opt_int(lua_State *L, int t, const char *name, lua_Integer lo, lua_Integer hi,
                           lua_Integer def)
{
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return def;
    }
    int ok = 0;
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok || v < lo || v > hi)
        luaL_error(L, "sio.redis.configure: '%s' must be an integer from %I to %I", name, lo, hi);
    lua_pop(L, 1);
    return v;
}

static void opt_str(lua_State *L, int t, const char *name, char *out, size_t outsz, int *set)
{
    lua_getfield(L, t, name);
    if (!lua_isnil(L, -1)) {
        size_t n;
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "sio.redis.configure: '%s' must be a string", name);
        const char *s = lua_tolstring(L, -1, &n);
        if (n >= outsz || strlen(s) != n)
            luaL_error(L, "sio.redis.configure: '%s' is too long or holds a NUL byte", name);
        memcpy(out, s, n + 1);
        if (set)
            *set = 1;
    }
    lua_pop(L, 1);
}

/* sio.redis.configure{url=, pool=, connect_timeout=, timeout=, password=,
 * user=, db=} -> true. All or nothing: the new settings are checked first;
 * unchanged settings (a reload running main.lua again) keep the pool. */
static int l_configure(lua_State *L)
{
    pool_t *p = check_pool(L);
    cfg_t c;
    char err[WHY_MAX];
    int t = 1;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, t, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int known = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; option_names[i]; i++)
                known |= !strcmp(lua_tostring(L, -2), option_names[i]);
        if (!known)
            return luaL_error(L, "sio.redis.configure: unknown option '%s' (url, pool, connect_timeout, "
                                 "timeout, password, user, db)",
                              lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    lua_getfield(L, t, "url");
    if (lua_isnil(L, -1)) {
        if (cfg_default(&c, err, sizeof err) < 0)
            return luaL_error(L, "sio.redis.configure: %s", err);
    } else {
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "sio.redis.configure: 'url' must be a string");
        cfg_default(&c, err, sizeof err); /* the other defaults; the URL part is replaced */
        if (sl_redis_url_parse(lua_tostring(L, -1), &c.url, err, sizeof err) < 0)
            return luaL_error(L, "sio.redis.configure: bad url: %s", err);
    }
    lua_pop(L, 1);
    c.pool = (int)opt_int(L, t, "pool", 1, POOL_MAX, POOL_DEFAULT);
    c.connect_timeout = (unsigned)opt_int(L, t, "connect_timeout", 1, 600000, CONNECT_TIMEOUT_DEFAULT);
    c.timeout = (unsigned)opt_int(L, t, "timeout", 0, 86400000, TIMEOUT_DEFAULT);
    c.url.db = (int)opt_int(L, t, "db", 0, SL_REDIS_DB_MAX, c.url.db);
    opt_str(L, t, "user", c.url.user, sizeof c.url.user, NULL);
    opt_str(L, t, "password", c.url.password, sizeof c.url.password, &c.url.has_password);
    sl_redis_url_text(&c.url, c.shown, sizeof c.shown);
    if (p->closing) {
        luaL_pushfail(L);
        lua_pushliteral(L, "redis closed");
        return 2;
    }
    if (!(p->cfg_ok && cfg_equal(&c, &p->cfg))) {
        pool_retire(p);
        p->cfg = c;
        p->cfg_ok = 1;
        SL_DEBUG("redis", "configured %s (pool of %d)", c.shown, c.pool);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int box_gc(lua_State *L)
{
    box_t *b = lua_touserdata(L, 1);
    if (b && b->p) {
        pool_t *p = b->p;
        b->p = NULL;
        pool_close(p);
        pool_unref(p);
    }
    return 0;
}

static const luaL_Reg redis_funcs[] = {
    {"call", l_call},
    {"pipeline", l_pipeline},
    {"configure", l_configure},
    {NULL, NULL},
};

/* Runs protected (sl_lua_pcall): the box gets its pool last, so a raise
 * before leaves nothing that would free it twice. */
static int open_cf(lua_State *L)
{
    pool_t *p = lua_touserdata(L, 1);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    luaL_setmetatable(L, BOX_MT);
    int box = lua_gettop(L);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, box);
    luaL_setfuncs(L, redis_funcs, 1);
    sl_lua_json_push_null(L);
    lua_setfield(L, -2, "null");
    sl_lua_push_module(p->rt, L);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "redis");
    lua_pop(L, 2);
    lua_pushvalue(L, box);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &registry_key);
    b->p = p;
    return 0;
}

int sl_lua_redis_open(sl_lua_t *rt)
{
    pool_t *p = calloc(1, sizeof *p);
    if (!p) {
        SL_ERROR("redis", "cannot set up sio.redis: out of memory");
        return -1;
    }
    p->rt = rt;
    p->loop = sl_lua_loop(rt);
    p->refs = 1;
    p->cfg_ok = cfg_default(&p->cfg, p->cfg_err, sizeof p->cfg_err) == 0;
    if (!p->cfg_ok)
        SL_ERROR("redis", "%s; sio.redis calls fail until sio.redis.configure sets a URL", p->cfg_err);
    lua_State *L = sl_lua_state(rt);
    lua_pushcfunction(L, open_cf);
    lua_pushlightuserdata(L, p);
    if (sl_lua_pcall(rt, L, 1, 0, "sio.redis set-up") != 0) {
        free(p);
        return -1;
    }
    return 0;
}

void sl_lua_redis_close(sl_lua_t *rt)
{
    if (!rt)
        return;
    lua_State *L = sl_lua_state(rt);
    if (!L || !lua_checkstack(L, 1))
        return;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &registry_key);
    box_t *b = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (b && b->p)
        pool_close(b->p);
}
