/* L5a cluster/redis_sub: a sharded pub/sub subscriber connection. See redis_sub.h.
 *
 *   sl_redis_sub --conn--> conn_t (uv stream, one per connection attempt,
 *        ^                  freed in its close callback)
 *        +------ conn_t.s (NULLed when the sub lets go of it)
 *
 * A connection lives in its own allocation so that a reconnect never
 * reuses a handle that libuv is still closing. */
#include "cluster/redis_sub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "base/buf.h"
#include "base/hashtab.h"
#include "base/log.h"
#include "cluster/redis_link.h"
#include "net/stream_writer.h"

#define CONNECT_TIMEOUT_MS 3000

typedef struct chan {
    sl_hnode_t hnode;      /* in s->chans, keyed by name */
    size_t len;
    char name[];
} chan_t;

typedef struct conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_handle_t h;
        uv_stream_t st;
    } u;
    uv_connect_t creq;
    sl_stream_writer_t out;
    sl_redis_sub_t *s;     /* NULL once let go of */
} conn_t;

typedef struct resolve {
    uv_getaddrinfo_t req;
    sl_redis_sub_t *s;     /* NULL once let go of */
} resolve_t;

struct sl_redis_sub {
    uv_loop_t *loop;
    sl_redis_url_t url;
    char name[32];
    sl_redis_sub_msg_cb on_msg;
    sl_redis_sub_state_cb on_state;
    void *ud;
    conn_t *c;             /* the current connection, connected or not */
    resolve_t *resolving;
    redisReader *reader;
    int refused_elements;  /* the count of an array reply refused (see sub_reader_new) */
    int up, closing;
    sl_redis_health_t health;
    int subscribed;        /* the held channels were asked for on s->c */
    int handshake_left;    /* AUTH/SELECT replies due before "up" */
    int error_logged;      /* an error reply was logged on this connection */
    uv_timer_t timer;      /* reconnect and connect timeout */
    sl_hashtab_t chans;    /* chan_t by name: the channels held */
};

/* ---- the channel set ------------------------------------------------------ */

static const void *chan_key(const sl_hnode_t *n, size_t *len)
{
    const chan_t *c = SL_CONTAINER_OF(n, chan_t, hnode);
    *len = c->len;
    return c->name;
}

static chan_t *chan_find(const sl_redis_sub_t *s, const char *p, size_t n)
{
    sl_hnode_t *h = sl_hashtab_find(&s->chans, p, n);
    return h ? SL_CONTAINER_OF(h, chan_t, hnode) : NULL;
}

/* ---- writing -------------------------------------------------------------- */

static void resp_arg(sl_buf_t *b, const char *p, size_t n)
{
    sl_buf_appendf(b, "$%zu\r\n", n);
    sl_buf_append(b, p, n);
    sl_buf_append(b, "\r\n", 2);
}

/* Sends one command of argc arguments; nothing when not connected. Write
 * errors are not reported here: a failed write shows up as a read error
 * too, and the connection is made again from there. */
static void send_cmd(sl_redis_sub_t *s, int argc, const char **argv, const size_t *lens)
{
    if (!s->c)
        return;
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_appendf(&b, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        resp_arg(&b, argv[i], lens[i]);
    sl_stream_writer_write(&s->c->out, b.data, b.len, SL_STREAM_WRITE_UNCAPPED);
    sl_buf_free(&b);
}

static void send_chan(sl_redis_sub_t *s, const char *verb, const char *ch, size_t len)
{
    const char *argv[2] = {verb, ch};
    size_t lens[2] = {strlen(verb), len};
    send_cmd(s, 2, argv, lens);
}

static redisReader *sub_reader_new(sl_redis_sub_t *s);

/* ---- connection lifecycle ------------------------------------------------- */

static void sub_connect(sl_redis_sub_t *s);

static void reconnect_cb(uv_timer_t *t) { sub_connect(t->data); }

static void conn_closed(uv_handle_t *h) { free(h->data); }

/* Lets go of the current connection (closing its handle). */
static void conn_drop(sl_redis_sub_t *s)
{
    conn_t *c = s->c;
    s->c = NULL;
    s->subscribed = 0;
    s->handshake_left = 0;
    if (!c)
        return;
    c->s = NULL;
    sl_stream_writer_close(&c->out);
    if (!uv_is_closing(&c->u.h))
        uv_close(&c->u.h, conn_closed);
}

static void sub_down(sl_redis_sub_t *s, const char *why)
{
    int was_up = s->up;
    s->up = 0;
    conn_drop(s);
    if (s->closing)
        return;
    unsigned ms = sl_redis_health_down(&s->health, &s->url, s->name, why);
    if (was_up && s->on_state)
        s->on_state(0, s->ud);
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, reconnect_cb, ms, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[64 * 1024]; /* fed to the reader at once, which copies */
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    sl_redis_sub_t *s = c->s;
    if (!s || nread == 0)
        return;
    if (nread < 0) {
        sub_down(s, nread == UV_EOF ? "closed" : uv_strerror((int)nread));
        return;
    }
    if (sl_redis_sub_feed(s, buf->base, (size_t)nread) != 0 && s->c == c)
        sub_down(s, "protocol error");
}

/* Every handshake reply came: the connection counts as up. */
static void sub_ready(sl_redis_sub_t *s)
{
    uv_timer_stop(&s->timer);
    s->up = 1;
    s->error_logged = 0;
    sl_redis_health_up(&s->health, &s->url, s->name);
    if (s->on_state)
        s->on_state(1, s->ud);
}

/* Connected: credentials, then every held channel (pipelined: Redis
 * answers in order, and refuses the SSUBSCRIBEs too when AUTH fails),
 * then "up" once AUTH/SELECT said OK. */
static void on_connected(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    sl_redis_sub_t *s = c->s;
    if (!s)
        return;
    if (status < 0) {
        sub_down(s, uv_strerror(status));
        return;
    }
    if (!s->url.is_unix)
        uv_tcp_nodelay(&c->u.tcp, 1);
    if (uv_read_start(&c->u.st, alloc_cb, on_read) != 0) {
        sub_down(s, "cannot read");
        return;
    }
    if (s->reader)
        redisReaderFree(s->reader);
    s->reader = sub_reader_new(s);
    if (!s->reader) {
        sub_down(s, "out of memory");
        return;
    }
    s->handshake_left = 0;
    if (s->url.has_password) {
        /* AUTH [user] password: a user name means a Redis 6 ACL user. */
        const char *argv[3] = {"AUTH", s->url.user, s->url.password};
        size_t lens[3] = {4, strlen(s->url.user), strlen(s->url.password)};
        int skip = s->url.user[0] ? 0 : 1;
        argv[skip] = "AUTH";
        lens[skip] = 4;
        send_cmd(s, 3 - skip, argv + skip, lens + skip);
        s->handshake_left++;
    }
    if (s->url.db) {
        char db[16];
        int n = snprintf(db, sizeof db, "%d", s->url.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        send_cmd(s, 2, argv, lens);
        s->handshake_left++;
    }
    /* One channel per command: in a Redis Cluster, channels of one
     * SSUBSCRIBE must share a slot. */
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &s->chans);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        const chan_t *ch = SL_CONTAINER_OF(h, chan_t, hnode);
        send_chan(s, "SSUBSCRIBE", ch->name, ch->len);
    }
    s->subscribed = 1;
    if (s->handshake_left == 0)
        sub_ready(s);
    /* else the connect timer still runs: a server that accepts but never
     * answers AUTH must not hang us */
}

static void on_connect_timeout(uv_timer_t *t)
{
    sl_redis_sub_t *s = t->data;
    if (!s->up)
        sub_down(s, "connect timeout");
}

static void connect_to(sl_redis_sub_t *s, const struct sockaddr *addr)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        sub_down(s, "out of memory");
        return;
    }
    c->s = s;
    c->creq.data = c;
    sl_stream_writer_init(&c->out, &c->u.st, 0, NULL, c);
    int rc;
    if (s->url.is_unix) {
        uv_pipe_init(s->loop, &c->u.pipe, 0);
        c->u.h.data = c;
        s->c = c;
        uv_pipe_connect(&c->creq, &c->u.pipe, s->url.path, on_connected);
        rc = 0;
    } else {
        uv_tcp_init(s->loop, &c->u.tcp);
        c->u.h.data = c;
        s->c = c;
        rc = uv_tcp_connect(&c->creq, &c->u.tcp, addr, on_connected);
    }
    if (rc != 0) {
        sub_down(s, uv_strerror(rc));
        return;
    }
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve_t *r = req->data;
    sl_redis_sub_t *s = r->s;
    free(r);
    if (!s) {
        uv_freeaddrinfo(res);
        return;
    }
    s->resolving = NULL;
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        sub_down(s, status < 0 ? uv_strerror(status) : "no address");
        return;
    }
    connect_to(s, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void sub_connect(sl_redis_sub_t *s)
{
    if (s->closing || s->c || s->resolving)
        return;
    if (s->url.is_unix) {
        connect_to(s, NULL);
        return;
    }
    resolve_t *r = calloc(1, sizeof *r);
    if (!r) {
        sub_down(s, "out of memory");
        return;
    }
    r->s = s;
    r->req.data = r;
    char port[16];
    snprintf(port, sizeof port, "%d", s->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(s->loop, &r->req, on_resolved, s->url.host, port, &hints);
    if (rc != 0) {
        free(r);
        sub_down(s, uv_strerror(rc));
        return;
    }
    s->resolving = r;
}

/* ---- replies ---------------------------------------------------------------- */

/* hiredis 0.14 allocates an array reply's element table as soon as it has
 * read the count, and has no limit of its own: "*888888881\r\n" from
 * whatever answers on the Redis address asks for 7 GB (found by
 * tests/fuzz/fuzz_resp). Nothing Redis sends a subscriber holds more than
 * a few elements, so a larger count is refused as a protocol error: the
 * connection is dropped and made again. */
#define SUB_MAX_ELEMENTS 1024

static void *(*hiredis_create_array)(const redisReadTask *, int);

static void *sub_create_array(const redisReadTask *t, int elements)
{
    if (elements > SUB_MAX_ELEMENTS) {
        ((sl_redis_sub_t *)t->privdata)->refused_elements = elements;
        return NULL; /* the reader fails the reply */
    }
    return hiredis_create_array(t, elements);
}

/* hiredis's reader with its own reply objects, but sub_create_array for
 * arrays. NULL on OOM. */
static redisReader *sub_reader_new(sl_redis_sub_t *s)
{
    static redisReplyObjectFunctions fns;
    redisReader *r = redisReaderCreate();
    if (!r)
        return NULL;
    if (!hiredis_create_array) {
        fns = *r->fn;
        hiredis_create_array = fns.createArray;
        fns.createArray = sub_create_array;
    }
    r->fn = &fns;
    r->privdata = s;
    s->refused_elements = 0;
    return r;
}

static int reply_is(const redisReply *e, const char *want)
{
    return e->type == REDIS_REPLY_STRING && e->len == strlen(want) &&
           !strncasecmp(e->str, want, e->len);
}

/* 0, or -1 when the connection was given up (a refused handshake). */
static int on_reply(sl_redis_sub_t *s, redisReply *m)
{
    if (s->handshake_left > 0) {
        if (m->type == REDIS_REPLY_ERROR) {
            char why[300];
            snprintf(why, sizeof why, "AUTH/SELECT failed: %s", m->str);
            sub_down(s, why); /* logged once per outage, retried with backoff */
            return -1;
        }
        if (--s->handshake_left == 0)
            sub_ready(s);
        return 0;
    }
    if (m->type == REDIS_REPLY_ERROR) {
        /* Once per connection: a Redis before 7.0 refuses every
         * SSUBSCRIBE, one error each. */
        if (!s->error_logged)
            SL_ERROR(s->url.label, "%s: %s%s", s->name, m->str,
                     strstr(m->str, "unknown command") ? " (sharded pub/sub needs Redis 7)" : "");
        s->error_logged = 1;
        return 0;
    }
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 3)
        return 0;
    if (reply_is(m->element[0], "smessage") && m->element[1]->type == REDIS_REPLY_STRING &&
        m->element[2]->type == REDIS_REPLY_STRING) {
        if (s->on_msg)
            s->on_msg(m->element[1]->str, m->element[1]->len, m->element[2]->str,
                      m->element[2]->len, s->ud);
    }
    /* ssubscribe / sunsubscribe confirmations carry nothing we need: the
     * set is ours. */
    return 0;
}

int sl_redis_sub_feed(sl_redis_sub_t *s, const char *p, size_t n)
{
    if (!s->reader && !(s->reader = sub_reader_new(s)))
        return -1;
    if (redisReaderFeed(s->reader, p, n) != REDIS_OK)
        return -1;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
            if (s->refused_elements)
                SL_ERROR(s->url.label, "%s: unreadable reply: an array of %d elements (at most %d)",
                         s->name, s->refused_elements, SUB_MAX_ELEMENTS);
            else
                SL_ERROR(s->url.label, "%s: unreadable reply: %s", s->name, s->reader->errstr);
            return -1;
        }
        if (!reply)
            return 0;
        int rc = on_reply(s, reply);
        freeReplyObject(reply);
        if (rc != 0)
            return -1;
        if (s->closing)
            return 0;
    }
}

/* ---- the public side -------------------------------------------------------- */

sl_redis_sub_t *sl_redis_sub_new(uv_loop_t *loop, const sl_redis_url_t *url, const char *name,
                                 sl_redis_sub_msg_cb on_msg, sl_redis_sub_state_cb on_state,
                                 void *ud)
{
    sl_redis_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->url = *url;
    sl_hashtab_init(&s->chans, chan_key);
    if (!s->url.label[0])
        snprintf(s->url.label, sizeof s->url.label, "redis");
    snprintf(s->name, sizeof s->name, "%s", name);
    s->on_msg = on_msg;
    s->on_state = on_state;
    s->ud = ud;
    sl_redis_health_init(&s->health);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, reconnect_cb, 0, 0);
    return s;
}

int sl_redis_sub_up(const sl_redis_sub_t *s) { return s->up; }

int sl_redis_sub_add(sl_redis_sub_t *s, const char *ch, size_t len)
{
    if (chan_find(s, ch, len))
        return 0;
    chan_t *c = malloc(sizeof *c + len + 1);
    if (!c)
        return -ENOMEM;
    memcpy(c->name, ch, len);
    c->name[len] = '\0';
    c->len = len;
    if (sl_hashtab_insert(&s->chans, &c->hnode)) {
        free(c);
        return -ENOMEM;
    }
    if (s->subscribed)
        send_chan(s, "SSUBSCRIBE", ch, len);
    return 0;
}

void sl_redis_sub_remove(sl_redis_sub_t *s, const char *ch, size_t len)
{
    chan_t *c = chan_find(s, ch, len);
    if (!c)
        return;
    sl_hashtab_remove(&s->chans, &c->hnode);
    free(c);
    if (s->subscribed)
        send_chan(s, "SUNSUBSCRIBE", ch, len);
}

int sl_redis_sub_holds(const sl_redis_sub_t *s, const char *ch, size_t len)
{
    return chan_find(s, ch, len) != NULL;
}

size_t sl_redis_sub_count(const sl_redis_sub_t *s) { return sl_hashtab_count(&s->chans); }

static void sub_timer_closed(uv_handle_t *h)
{
    sl_redis_sub_t *s = h->data;
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &s->chans);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));)
        free(SL_CONTAINER_OF(h, chan_t, hnode));
    sl_hashtab_free(&s->chans);
    if (s->reader)
        redisReaderFree(s->reader);
    free(s);
}

void sl_redis_sub_close(sl_redis_sub_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    s->up = 0;
    conn_drop(s);
    if (s->resolving) {
        s->resolving->s = NULL; /* its callback frees it */
        s->resolving = NULL;
    }
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, sub_timer_closed);
}
