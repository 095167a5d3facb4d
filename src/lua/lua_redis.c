/* L6 lua/lua_redis: sio.redis (contract in lua_redis.h and docs/lua-api.md):
 * a pool of connections on the server's loop (a redis_link: one Redis or a
 * Redis Cluster, `pool` connections per node), and the Lua functions that
 * park a handler until its reply comes. Knows nothing of Socket.IO,
 * Engine.IO or HTTP.
 *
 *   box (Lua userdata: registry + upvalue of every function) --p--> pool
 *   pool --link--> sl_redis_link (the current configuration; the ones
 *                  replaced drain on their own and close)
 *   req (one call: its commands, the handler's wait) <-- priv of each
 *                  command's reply callback
 *   req --w--> sl_lua_wait_t   NULL once the handler no longer waits
 *
 * Life cycles. A req lives until the link has called back once per command
 * it took (with a reply, or a failure), so the link never holds a freed
 * pointer; the handler may be gone long before (its wait's cancel callback
 * just clears req->w). The pool lives until the Lua state is closed and
 * every req is done (a reference count).
 *
 * Handlers are never resumed from inside the link's callbacks: replies are
 * handed over with sl_lua_wait_resume_later (values built now, the handler
 * runs from the runtime's idle phase) and failures with sl_lua_wait_cancel.
 * So app code never runs in the middle of a connection's read loop, where a
 * call to sio.redis.configure would close the link under it, and a
 * connection torn down with many replies pending wakes its handlers in one
 * batch. */
#include "lua/lua_redis.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>
#include <lauxlib.h>
#include <lua.h>

#include "base/log.h"
#include "lua/lua_json.h"
#include "cluster/redis_link.h"
#include "cluster/redis_url.h"

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define POOL_DEFAULT 4
#define POOL_MAX 64
#define CONNECT_TIMEOUT_DEFAULT 2000u /* ms for connect (+ TLS) + AUTH + SELECT */
#define TIMEOUT_DEFAULT 5000u         /* ms without a reply before a connection is dropped */
#define MSG_MAX 96   /* a failure message (lua_rt keeps 95 bytes of a cancel reason) */
#define WHY_MAX 128
#define NUM_MAX 48
#define BOX_MT "siolua.redis.pool"

typedef struct pool pool_t;
typedef struct req req_t;

/* ---- configuration ----------------------------------------------------------- */

typedef struct cfg {
    sl_redis_url_t url;
    int pool;
    unsigned connect_timeout, timeout;
    char shown[640]; /* for log lines: never the password */
} cfg_t;

/* ---- the pool and its requests -------------------------------------------------- */

/* Commands encoded for the wire (RESP), packed in a Lua userdata while the
 * call is set up: offs[i]..offs[i+1] is command i in the bytes after
 * offs[n]. */
typedef struct blob {
    int n;
    size_t offs[];
} blob_t;

static char *blob_bytes(const blob_t *b) { return (char *)&b->offs[b->n + 1]; }
static size_t blob_size(int n, size_t bytes) { return sizeof(blob_t) + (size_t)(n + 1) * sizeof(size_t) + bytes; }

struct req {
    pool_t *p;
    sl_lua_wait_t *w;
    int ncmds, ngot;
    int pipeline;
    int failed;            /* the handler got nil, err already */
    redisReply *replies[]; /* pipeline: copies, until the last one */
};

struct pool {
    sl_lua_t *rt;
    uv_loop_t *loop;
    cfg_t cfg;
    int cfg_ok;
    char cfg_err[WHY_MAX];
    sl_redis_link_t *link; /* the current configuration's, from the first call on */
    int closing;
    int refs; /* the Lua box + every req not yet done */
    int ever_up, down;
    uint64_t down_since;
    char msg[MSG_MAX]; /* scratch for the failure message being handed over */
};

typedef struct box {
    pool_t *p;
} box_t;

static char registry_key; /* registry[&registry_key] = the box */

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

static void pool_unref(pool_t *p)
{
    if (--p->refs == 0)
        free(p);
}

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
    pool_t *p = q->p;
    if (q->pipeline)
        for (int i = 0; i < q->ncmds; i++)
            reply_free(q->replies[i]);
    free(q);
    pool_unref(p);
}

/* Once per command of q: its reply, or why it failed ("redis connection
 * lost: ...", "redis timeout: ...", "redis closed", "redis unavailable:
 * ..." for one that waited for a connection in vain). */
static void reply_cb(void *privdata, redisReply *reply, const char *why)
{
    req_t *q = privdata;
    q->ngot++;
    if (!reply) {
        if (!q->failed)
            req_fail(q, why);
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
    req_free(q);
}

/* ---- the pool ------------------------------------------------------------------------ */

/* What the pool as a whole went through, one line each: the link tells
 * only changes (the first connection up, the last one lost). */
static void on_link_state(sl_redis_link_t *l, int up, const char *why, void *ud)
{
    pool_t *p = ud;
    if (l != p->link)
        return;
    uint64_t now = uv_now(p->loop);
    if (up) {
        if (!p->ever_up)
            SL_INFO("redis", "connected to %s (pool of %d)", p->cfg.shown, p->cfg.pool);
        else if (p->down)
            SL_INFO("redis", "reconnected to %s after %.1f s", p->cfg.shown,
                    (double)(now - p->down_since) / 1000.0);
        p->ever_up = 1;
        p->down = 0;
        return;
    }
    if (p->down)
        return;
    p->down = 1;
    p->down_since = now;
    if (p->ever_up)
        SL_WARN("redis", "lost connection to %s: %s; reconnecting", p->cfg.shown, why);
    else
        SL_WARN("redis", "cannot connect to %s: %s; retrying", p->cfg.shown, why);
}

/* The current configuration's link, opened on the first call. NULL, with
 * the message in p->msg, when there is none: the call fails at once. */
static sl_redis_link_t *pool_link(pool_t *p)
{
    if (p->closing) {
        snprintf(p->msg, sizeof p->msg, "redis closed");
        return NULL;
    }
    if (!p->cfg_ok) {
        snprintf(p->msg, sizeof p->msg, "redis unavailable: %.76s", p->cfg_err);
        return NULL;
    }
    if (!p->link) {
        sl_redis_link_opts_t o = {
            .name = "sio.redis",
            .pool = p->cfg.pool,
            .connect_timeout_ms = p->cfg.connect_timeout,
            .command_timeout_ms = p->cfg.timeout,
            .quiet = 1,
        };
        char err[WHY_MAX];
        p->link = sl_redis_link_new(p->loop, &p->cfg.url, &o, on_link_state, p, err, sizeof err);
        if (!p->link) {
            snprintf(p->msg, sizeof p->msg, "redis unavailable: %.76s", err);
            return NULL;
        }
    }
    return p->link;
}

/* The current connections leave the pool (a new configuration): they
 * finish what they have in flight, then close. */
static void pool_retire(pool_t *p)
{
    sl_redis_link_drain(p->link);
    p->link = NULL;
    p->down = 0;
    p->ever_up = 0;
}

static void pool_close(pool_t *p)
{
    if (p->closing)
        return;
    p->closing = 1;
    sl_redis_link_t *l = p->link;
    p->link = NULL;
    sl_redis_link_close(l); /* its requests fail with "redis closed" */
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
    size_t total = sl_redis_resp_header_len((size_t)n);
    for (int k = 1; k <= n; k++) {
        char num[NUM_MAX];
        const char *p;
        size_t len;
        push_arg(L, t, base, k);
        int rc = arg_bytes(L, num, &p, &len);
        if (rc < 0)
            bad_arg(L, base, k, cmdno, rc);
        lua_pop(L, 1);
        total += sl_redis_resp_header_len(len) + len + 2;
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
    sl_redis_link_t *link = pool_link(p);
    if (!link) {
        sl_lua_wait_cancel(w, p->msg);
        return sl_lua_yield(L);
    }
    req_t *q = calloc(1, sizeof *q + (pipeline ? (size_t)b->n * sizeof(redisReply *) : 0));
    if (!q) {
        sl_lua_wait_cancel(w, "not enough memory");
        return sl_lua_yield(L);
    }
    q->p = p;
    p->refs++;
    q->w = w;
    q->ncmds = b->n;
    q->pipeline = pipeline;
    uv_update_time(p->loop); /* a long handler may have left the loop time stale */
    /* While the first connections are being made, the call waits for them
     * (up to connect_timeout); once they failed, it fails at once. */
    if (sl_redis_link_command_resp(link, reply_cb, q, blob_bytes(b), b->offs[b->n], b->n, SL_REDIS_WAIT)) {
        snprintf(p->msg, sizeof p->msg, "%s", sl_redis_link_why(link));
        q->w = NULL;
        req_free(q);
        sl_lua_wait_cancel(w, p->msg);
        return sl_lua_yield(L);
    }
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
        if (sl_redis_url_parse_checked(lua_tostring(L, -1), &c.url, err, sizeof err) < 0)
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
