/* L5a cluster/redis_conn: one Redis connection. See redis_conn.h.
 *
 *   sl_redis_conn --sock--> sock_t (one per attempt: the stream, its writer,
 *        ^                   the TLS engine and the RESP reader; freed in
 *        |                   the stream's close callback)
 *        +---- sock->c (NULLed when the connection lets go of it)
 *   q[]: the commands sent, oldest first (a ring): Redis answers in order.
 *
 * An attempt's objects live in the sock, not in the connection, so that a
 * reply callback that ends the attempt (a refused AUTH) never frees the
 * reader its caller is still reading from: the sock outlives the callback
 * and is freed by libuv's close callback, later. */
#include "cluster/redis_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/read.h>

#include "base/buf.h"
#include "base/log.h"
#include "cluster/redis_reader.h"
#include "net/stream_writer.h"
#include "net/tcp_connect.h"

#define CONNECT_TIMEOUT_MS 3000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define BACKOFF_JITTER_PCT 25
/* What may wait for the socket before Redis is taken to be stuck: a
 * server that reads nothing must not grow our memory without bound. */
#define OUT_MAX ((size_t)64 << 20)
#define WHY_MAX 192

enum { S_IDLE, S_DIAL, S_HANDSHAKE, S_UP, S_BACKOFF, S_CLOSED };

/* The verbs a subscriber's confirmations are matched against. */
enum { V_OTHER, V_SUBSCRIBE, V_PSUBSCRIBE, V_SSUBSCRIBE, V_UNSUBSCRIBE, V_PUNSUBSCRIBE, V_SUNSUBSCRIBE, V_PING };
static const char *const verb_names[] = {"",           "subscribe",    "psubscribe",   "ssubscribe",
                                         "unsubscribe", "punsubscribe", "sunsubscribe", "ping"};
#define NVERBS (int)(sizeof verb_names / sizeof verb_names[0])

typedef struct pend {
    sl_redis_reply_cb cb;
    void *priv;
    uint64_t deadline; /* loop ms; 0: none */
    char *chan;        /* subscriber: the channel the command names (malloc'd) */
    size_t clen;
    int verb;
} pend_t;

typedef struct sock {
    uv_stream_t *st;       /* a malloc'd uv_tcp_t or uv_pipe_t */
    uv_connect_t creq;     /* unix sockets */
    sl_stream_writer_t out;
    int reading;
    sl_tls_t *tls;
    sl_redis_reader_t *reader;
    sl_redis_conn_t *c;    /* NULL once let go of */
} sock_t;

struct sl_redis_conn {
    uv_loop_t *loop;
    sl_redis_url_t url;
    char host[256];        /* "" for the URL's unix socket */
    int port;
    sl_tls_ctx_t *tls_ctx;
    sl_redis_conn_opts_t o;
    sl_redis_conn_cbs_t cbs;
    void *ud;
    int state;
    int draining;
    int attempt_failed;    /* since the last time it was up */
    sock_t *sock;
    sl_tcp_connect_t *dial;
    sl_buf_t out;          /* RESP of this loop turn, not yet written */
    pend_t *q;
    size_t qhead, qlen, qcap;
    int handshake_left;
    sl_backoff_t backoff;
    uint64_t last_read;
    uv_timer_t timer;      /* connect timeout, then the backoff */
    uv_timer_t wd;         /* the watchdog, and a subscriber's ping */
    uv_idle_t flush;       /* active while out holds bytes */
    int handles;
    char why[WHY_MAX];
    char write_failed[WHY_MAX]; /* a write failed: the connection goes in the idle phase */
};

static void attempt(sl_redis_conn_t *c);
static void conn_lost(sl_redis_conn_t *c, const char *why, const char *fail_msg);

/* ---- the log, once per outage ---------------------------------------------------- */

void sl_redis_health_init(sl_redis_health_t *h) { memset(h, 0, sizeof *h); }

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

int sl_redis_health_up(sl_redis_health_t *h, const char *label, const char *name, const char *where)
{
    int logged = 0;
    if (!h->ever_up) {
        SL_INFO(label, "%s: connected to %s", name, where);
        logged = 1;
    } else if (h->announced_down) {
        SL_INFO(label, "%s: connected to %s again after %.1f s", name, where,
                (double)(now_ms() - h->down_since) / 1000.0);
        logged = 1;
    }
    h->announced_down = 0;
    h->ever_up = 1;
    return logged;
}

int sl_redis_health_down(sl_redis_health_t *h, const char *label, const char *name, const char *where,
                         const char *why)
{
    if (h->announced_down)
        return 0;
    if (h->ever_up)
        SL_WARN(label, "%s: lost %s (%s), reconnecting", name, where, why);
    else
        SL_WARN(label, "%s: cannot reach %s (%s), retrying", name, where, why);
    h->announced_down = 1;
    h->down_since = now_ms();
    return 1;
}

/* ---- TLS --------------------------------------------------------------------------- */

int sl_redis_tls_ctx(const sl_redis_url_t *u, sl_tls_ctx_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!u->tls)
        return 0;
    sl_tls_client_opts_t o = {
        .ca_file = u->ca_file[0] ? u->ca_file : NULL,
        .cert_file = u->cert_file[0] ? u->cert_file : NULL,
        .key_file = u->key_file[0] ? u->key_file : NULL,
    };
    return sl_tls_ctx_new_client(&o, out, err, errlen) ? -1 : 0;
}

int sl_redis_url_parse_checked(const char *url, sl_redis_url_t *out, char *err, size_t errlen)
{
    sl_tls_ctx_t *tls;
    if (sl_redis_url_parse(url, out, err, errlen) || sl_redis_tls_ctx(out, &tls, err, errlen))
        return -1;
    sl_tls_ctx_unref(tls);
    return 0;
}

/* ---- the queue of commands sent ----------------------------------------------------- */

static pend_t *q_push(sl_redis_conn_t *c)
{
    if (c->qlen == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        pend_t *nq = malloc(cap * sizeof *nq);
        if (!nq)
            return NULL;
        for (size_t i = 0; i < c->qlen; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = cap;
        c->qhead = 0;
    }
    pend_t *p = &c->q[(c->qhead + c->qlen++) % c->qcap];
    memset(p, 0, sizeof *p);
    return p;
}

static pend_t *q_head(sl_redis_conn_t *c) { return c->qlen ? &c->q[c->qhead] : NULL; }

/* Takes the oldest entry off the queue (into *out). */
static void q_pop(sl_redis_conn_t *c, pend_t *out)
{
    *out = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    if (--c->qlen == 0)
        c->qhead = 0;
}

/* Every command still waiting gets msg, oldest first. A callback may close
 * c: what is left then fails with "redis closed" from there. */
static void fail_pending(sl_redis_conn_t *c, const char *msg)
{
    while (c->qlen) {
        pend_t p;
        q_pop(c, &p);
        free(p.chan);
        if (p.cb)
            p.cb(p.priv, NULL, msg);
    }
}

/* ---- writing --------------------------------------------------------------------- */

size_t sl_redis_resp_header_len(size_t n)
{
    size_t digits = 1;
    while (n >= 10) {
        n /= 10;
        digits++;
    }
    return 1 + digits + 2;
}

size_t sl_redis_resp_len(int argc, const size_t *lens)
{
    size_t n = sl_redis_resp_header_len((size_t)argc);
    for (int i = 0; i < argc; i++)
        n += sl_redis_resp_header_len(lens[i]) + lens[i] + 2;
    return n;
}

size_t sl_redis_resp_write(char *dst, int argc, const char *const *argv, const size_t *lens)
{
    char *p = dst;
    p += sprintf(p, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        p += sprintf(p, "$%zu\r\n", lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    return (size_t)(p - dst);
}

void sl_redis_resp_append(sl_buf_t *b, int argc, const char *const *argv, const size_t *lens)
{
    size_t n = sl_redis_resp_len(argc, lens);
    /* +1: sprintf's terminating NUL after the last header */
    if (sl_buf_reserve(b, n + 1) == 0)
        b->len += sl_redis_resp_write(b->data + b->len, argc, argv, lens);
}

static void flush_cb(uv_idle_t *h);

/* Hands the turn's RESP to the socket (through TLS when there is one). A
 * failure is told from the idle callback, never inside a caller's send:
 * the connection is dropped there. */
static void flush_now(sl_redis_conn_t *c)
{
    sock_t *k = c->sock;
    if (!c->out.len || !k || c->write_failed[0])
        return;
    int rc;
    if (k->tls) {
        sl_buf_t enc = SL_BUF_INIT;
        rc = sl_tls_write(k->tls, c->out.data, c->out.len) < 0 || sl_tls_take(k->tls, &enc) < 0 ? UV_EPROTO : 0;
        if (rc == 0 && enc.len)
            rc = sl_stream_writer_write(&k->out, enc.data, enc.len, SL_STREAM_WRITE_UNCAPPED);
        sl_buf_free(&enc);
    } else {
        rc = sl_stream_writer_write(&k->out, c->out.data, c->out.len, SL_STREAM_WRITE_UNCAPPED);
    }
    sl_buf_reset(&c->out);
    if (rc < 0)
        snprintf(c->write_failed, sizeof c->write_failed, "cannot write: %s",
                 rc == UV_EPROTO ? sl_tls_reason(k->tls) : uv_strerror(rc));
    else if (sl_stream_writer_queued(&k->out) > OUT_MAX)
        snprintf(c->write_failed, sizeof c->write_failed, "more than %zu MiB unsent: Redis reads nothing",
                 OUT_MAX >> 20);
    if (c->write_failed[0] && !uv_is_active((uv_handle_t *)&c->flush))
        uv_idle_start(&c->flush, flush_cb);
}

static void flush_cb(uv_idle_t *h)
{
    sl_redis_conn_t *c = h->data;
    uv_idle_stop(&c->flush);
    flush_now(c);
    if (c->write_failed[0]) {
        char why[WHY_MAX];
        snprintf(why, sizeof why, "%s", c->write_failed);
        conn_lost(c, why, NULL);
    }
}

/* While bytes wait, the idle handle keeps the loop from blocking in poll
 * before they are written: they leave with the turn's other commands. */
static void want_flush(sl_redis_conn_t *c)
{
    if (!uv_is_active((uv_handle_t *)&c->flush))
        uv_idle_start(&c->flush, flush_cb);
}

/* The TLS engine's own output (handshake messages, alerts). */
static void flush_tls(sl_redis_conn_t *c, sock_t *k)
{
    sl_buf_t enc = SL_BUF_INIT;
    if (sl_tls_take(k->tls, &enc) > 0)
        sl_stream_writer_write(&k->out, enc.data, enc.len, SL_STREAM_WRITE_UNCAPPED);
    sl_buf_free(&enc);
    (void)c;
}

/* ---- the watchdog ------------------------------------------------------------------ */

static void wd_cb(uv_timer_t *t);

/* The timer runs while something is due: the oldest command's deadline
 * (replies come in order, so it is the first overdue), or, for an idle
 * subscriber, the next ping. A timer already running is left alone: it
 * re-arms itself when it fires early. */
static void wd_arm(sl_redis_conn_t *c)
{
    if (c->state != S_UP || uv_is_active((uv_handle_t *)&c->wd))
        return;
    uint64_t now = uv_now(c->loop);
    pend_t *h = q_head(c);
    if (h && h->deadline)
        uv_timer_start(&c->wd, wd_cb, h->deadline > now ? h->deadline - now : 0, 0);
    else if (!h && c->o.ping_ms)
        uv_timer_start(&c->wd, wd_cb, c->o.ping_ms, 0);
}

static int send_one(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv, int argc, const char *const *argv,
                    const size_t *lens);

static void wd_cb(uv_timer_t *t)
{
    sl_redis_conn_t *c = t->data;
    if (c->state != S_UP)
        return;
    uint64_t now = uv_now(c->loop);
    pend_t *h = q_head(c);
    if (h && h->deadline && now >= h->deadline) {
        char why[64], msg[96];
        snprintf(why, sizeof why, "no reply within %u ms", c->o.command_timeout_ms ? c->o.command_timeout_ms
                                                                                    : c->o.ping_ms);
        snprintf(msg, sizeof msg, "redis timeout: %s", why);
        conn_lost(c, why, msg);
        return;
    }
    if (!h && c->o.ping_ms && now - c->last_read >= c->o.ping_ms) {
        static const char *const ping[] = {"PING"};
        static const size_t len[] = {4};
        send_one(c, NULL, NULL, 1, ping, len);
        return; /* armed by the send */
    }
    wd_arm(c);
}

/* ---- sending ---------------------------------------------------------------------- */

static int verb_of(const char *name, size_t len)
{
    for (int v = 1; v < NVERBS; v++)
        if (strlen(verb_names[v]) == len && !strncasecmp(name, verb_names[v], len))
            return v;
    return V_OTHER;
}

/* A queue entry for one command just written. */
static pend_t *track(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv)
{
    pend_t *p = q_push(c);
    if (!p)
        return NULL;
    p->cb = fn;
    p->priv = priv;
    unsigned ms = c->o.command_timeout_ms ? c->o.command_timeout_ms : c->o.subscriber ? c->o.ping_ms : 0;
    if (ms && c->state == S_UP)
        p->deadline = uv_now(c->loop) + ms;
    if (c->qlen == 1)
        uv_timer_stop(&c->wd); /* an idle subscriber's ping may be due later than this reply */
    return p;
}

static int send_one(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv, int argc, const char *const *argv,
                    const size_t *lens)
{
    pend_t *p = track(c, fn, priv);
    if (!p)
        return -1;
    if (c->o.subscriber) {
        p->verb = verb_of(argv[0], lens[0]);
        if (argc > 1 && p->verb != V_OTHER && p->verb != V_PING) {
            if (!(p->chan = malloc(lens[1] + 1))) {
                c->qlen--;
                return -1;
            }
            memcpy(p->chan, argv[1], lens[1]);
            p->clen = lens[1];
        }
    }
    sl_redis_resp_append(&c->out, argc, argv, lens);
    /* A subscription goes out now, before anything the caller writes after
     * it (a join's ack to its client): whoever hears that ack and
     * publishes to the room then finds it subscribed. Commands wait for the
     * end of the turn, to leave together. */
    if (c->o.subscriber && c->state == S_UP)
        flush_now(c);
    else
        want_flush(c);
    wd_arm(c);
    return 0;
}

int sl_redis_conn_send(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv, int argc, const char *const *argv,
                       const size_t *lens)
{
    if (c->state != S_UP || c->draining)
        return -1;
    return send_one(c, fn, priv, argc, argv, lens);
}

int sl_redis_conn_send_resp(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv, const char *resp, size_t len,
                            int n)
{
    if (c->state != S_UP || c->draining || c->o.subscriber)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!track(c, fn, priv)) {
            c->qlen -= (size_t)i;
            return -1;
        }
    }
    sl_buf_append(&c->out, resp, len);
    want_flush(c);
    wd_arm(c);
    return 0;
}

/* ---- replies ---------------------------------------------------------------------- */

static int str_is(const redisReply *e, const char *s, size_t n)
{
    return e->type == REDIS_REPLY_STRING && e->len == n && !memcmp(e->str, s, n);
}

/* A subscriber's reply that no command is waiting for: a message, or an
 * unsubscribe Redis decided on (the confirmation of our own SUNSUBSCRIBE X
 * names the verb and the channel of the oldest command). */
static int is_push(sl_redis_conn_t *c, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const redisReply *k = r->element[0];
    if (str_is(k, "message", 7) || str_is(k, "pmessage", 8) || str_is(k, "smessage", 8))
        return 1;
    int v = verb_of(k->str, k->len);
    if (v == V_OTHER || v == V_PING)
        return 0;
    pend_t *h = q_head(c);
    const redisReply *ch = r->element[1];
    return !h || h->verb != v ||
           (h->chan && (ch->type != REDIS_REPLY_STRING || ch->len != h->clen || memcmp(ch->str, h->chan, h->clen)));
}

static void go_up(sl_redis_conn_t *c)
{
    c->state = S_UP;
    c->attempt_failed = 0;
    c->why[0] = '\0';
    sl_backoff_reset(&c->backoff);
    uv_timer_stop(&c->timer);
    c->last_read = uv_now(c->loop);
    wd_arm(c);
    if (c->cbs.on_state && !c->draining)
        c->cbs.on_state(c, 1, "", c->ud);
}

/* One reply: a push, or the answer to the oldest command. */
static void dispatch(sl_redis_conn_t *c, redisReply *r)
{
    if (c->o.subscriber && c->state == S_UP && is_push(c, r)) {
        if (c->cbs.on_push)
            c->cbs.on_push(c, r, c->ud);
        return;
    }
    if (!c->qlen) {
        conn_lost(c, "a reply nobody asked for", NULL);
        return;
    }
    pend_t p;
    q_pop(c, &p);
    free(p.chan);
    if (p.cb)
        p.cb(p.priv, r, NULL);
    if (c->state == S_UP) {
        if (c->draining && !c->qlen)
            sl_redis_conn_close(c);
        else
            wd_arm(c);
    }
}

/* RESP from Redis: every complete reply, until the attempt ends. */
static void feed(sl_redis_conn_t *c, sock_t *k, const char *p, size_t n)
{
    if (sl_redis_reader_feed(k->reader, p, n)) {
        conn_lost(c, "out of memory", NULL);
        return;
    }
    while (k->c == c) {
        redisReply *reply;
        int got = sl_redis_reader_next(k->reader, &reply);
        if (got < 0) {
            char why[WHY_MAX];
            snprintf(why, sizeof why, "unreadable reply: %s", sl_redis_reader_error(k->reader));
            conn_lost(c, why, NULL);
            return;
        }
        if (!got)
            return;
        dispatch(c, reply);
        freeReplyObject(reply);
    }
}

static void tls_input(sl_redis_conn_t *c, sock_t *k, const char *p, size_t n)
{
    static char plain[16384 + 512];
    if (sl_tls_feed(k->tls, p, n)) {
        conn_lost(c, "out of memory", NULL);
        return;
    }
    while (k->c == c) {
        ssize_t got = sl_tls_read(k->tls, plain, sizeof plain);
        if (got > 0) {
            feed(c, k, plain, (size_t)got);
            continue;
        }
        if (got == 0) {
            flush_tls(c, k); /* handshake messages */
            return;
        }
        flush_tls(c, k); /* the alert that says why */
        conn_lost(c, got == SL_TLS_CLOSED ? "the server ended TLS" : sl_tls_reason(k->tls), NULL);
        return;
    }
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    sock_t *k = st->data;
    sl_redis_conn_t *c = k->c;
    if (!c || nread == 0)
        return;
    if (nread < 0) {
        const char *why = nread == UV_EOF ? "connection closed by the server" : uv_strerror((int)nread);
        if (c->state == S_HANDSHAKE && k->tls && !sl_tls_handshake_done(k->tls) && nread == UV_EOF)
            why = "TLS handshake failed: the server closed the connection";
        conn_lost(c, why, NULL);
        return;
    }
    c->last_read = uv_now(c->loop);
    if (k->tls)
        tls_input(c, k, buf->base, (size_t)nread);
    else
        feed(c, k, buf->base, (size_t)nread);
}

/* ---- connecting -------------------------------------------------------------------- */

static void hs_reply(sl_redis_conn_t *c, redisReply *r, const char *what)
{
    if (!r || c->state != S_HANDSHAKE)
        return; /* the attempt is over: its loss was told already */
    if (r->type == REDIS_REPLY_ERROR) {
        char why[WHY_MAX];
        snprintf(why, sizeof why, "%s failed: %.150s", what, r->str ? r->str : "error");
        conn_lost(c, why, NULL);
        return;
    }
    if (--c->handshake_left == 0)
        go_up(c);
}

static void hs_auth(void *priv, redisReply *r, const char *why)
{
    (void)why;
    hs_reply(priv, r, "AUTH");
}

static void hs_select(void *priv, redisReply *r, const char *why)
{
    (void)why;
    hs_reply(priv, r, "SELECT");
}

static void hs_ping(void *priv, redisReply *r, const char *why)
{
    (void)why;
    hs_reply(priv, r, "PING");
}

/* AUTH [user] password and SELECT db as the URL asks, or a PING: the
 * connection is up once Redis has answered them all. */
static void send_handshake(sl_redis_conn_t *c)
{
    const sl_redis_url_t *u = &c->url;
    c->handshake_left = 0;
    if (u->has_password) {
        const char *argv[3] = {"AUTH", u->user, u->password};
        size_t lens[3] = {4, strlen(u->user), strlen(u->password)};
        int skip = u->user[0] ? 0 : 1; /* a user name means a Redis 6 ACL user */
        argv[skip] = "AUTH";
        lens[skip] = 4;
        send_one(c, hs_auth, c, 3 - skip, argv + skip, lens + skip);
        c->handshake_left++;
    }
    if (u->db) {
        char db[16];
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)snprintf(db, sizeof db, "%d", u->db)};
        send_one(c, hs_select, c, 2, argv, lens);
        c->handshake_left++;
    }
    if (!c->handshake_left) {
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        send_one(c, hs_ping, c, 1, argv, lens);
        c->handshake_left++;
    }
    flush_now(c);
}

static void sock_closed(uv_handle_t *h)
{
    sock_t *k = h->data;
    sl_redis_reader_free(k->reader);
    sl_tls_free(k->tls);
    free(k->st);
    free(k);
}

static void sock_drop(sl_redis_conn_t *c)
{
    sock_t *k = c->sock;
    c->sock = NULL;
    if (!k)
        return;
    k->c = NULL;
    sl_stream_writer_close(&k->out);
    if (!uv_is_closing((uv_handle_t *)k->st))
        uv_close((uv_handle_t *)k->st, sock_closed);
}

static void write_error(sl_stream_writer_t *w, int status)
{
    sock_t *k = SL_CONTAINER_OF(w, sock_t, out);
    if (!k->c)
        return;
    char why[WHY_MAX];
    snprintf(why, sizeof why, "cannot write: %s", uv_strerror(status));
    conn_lost(k->c, why, NULL);
}

static const sl_stream_writer_handler_t writer_handler = {.on_error = write_error};

/* The stream is connected: reader, TLS, handshake. */
static void sock_start(sl_redis_conn_t *c, sock_t *k)
{
    c->sock = k;
    k->st->data = k;
    sl_stream_writer_init(&k->out, k->st, 0, &writer_handler);
    char why[WHY_MAX];
    int rc = uv_read_start(k->st, sl_tcp_read_slab, read_cb);
    if (rc) {
        snprintf(why, sizeof why, "cannot read: %s", uv_strerror(rc));
        conn_lost(c, why, NULL);
        return;
    }
    if (!(k->reader = sl_redis_reader_new(c->o.subscriber ? SL_REDIS_SUB_MAX_ELEMENTS : SL_REDIS_MAX_ELEMENTS))) {
        conn_lost(c, "out of memory", NULL);
        return;
    }
    if (c->tls_ctx && sl_tls_new(c->tls_ctx, c->host, &k->tls, why, sizeof why)) {
        conn_lost(c, why, NULL);
        return;
    }
    c->state = S_HANDSHAKE;
    send_handshake(c); /* TLS keeps it until its handshake is done */
    if (c->sock == k && k->tls)
        flush_tls(c, k); /* the ClientHello, if the write above sent nothing */
}

static void free_handle(uv_handle_t *h) { free(h); }

static void dialed_cb(uv_tcp_t *tcp, int code, const char *err, void *ud)
{
    (void)code;
    sl_redis_conn_t *c = ud;
    c->dial = NULL;
    if (!tcp) {
        conn_lost(c, err, NULL);
        return;
    }
    sock_t *k = calloc(1, sizeof *k);
    if (!k) {
        uv_close((uv_handle_t *)tcp, free_handle);
        conn_lost(c, "out of memory", NULL);
        return;
    }
    k->c = c;
    k->st = (uv_stream_t *)tcp;
    uv_tcp_nodelay(tcp, 1);
    sock_start(c, k);
}

static void pipe_connected(uv_connect_t *req, int status)
{
    sock_t *k = req->data;
    sl_redis_conn_t *c = k->c;
    if (!c)
        return; /* let go of while connecting: already closing */
    if (status < 0) {
        char why[WHY_MAX];
        snprintf(why, sizeof why, "cannot connect to unix:%s: %s", c->url.path, uv_strerror(status));
        conn_lost(c, why, NULL);
        return;
    }
    sock_start(c, k);
}

static void connect_timeout_cb(uv_timer_t *t)
{
    sl_redis_conn_t *c = t->data;
    char why[64];
    snprintf(why, sizeof why, "connect timeout (%u ms)", c->o.connect_timeout_ms);
    conn_lost(c, why, NULL);
}

static void backoff_cb(uv_timer_t *t) { attempt(t->data); }

static void attempt(sl_redis_conn_t *c)
{
    if (c->state == S_CLOSED)
        return;
    c->state = S_DIAL;
    uv_timer_start(&c->timer, connect_timeout_cb, c->o.connect_timeout_ms, 0);
    char why[WHY_MAX];
    if (!c->host[0]) {
        sock_t *k = calloc(1, sizeof *k);
        uv_pipe_t *p = k ? malloc(sizeof *p) : NULL;
        if (!p) {
            free(k);
            conn_lost(c, "out of memory", NULL);
            return;
        }
        uv_pipe_init(c->loop, p, 0);
        k->c = c;
        k->st = (uv_stream_t *)p;
        p->data = k;
        k->creq.data = k;
        c->sock = k; /* not started: sock_drop closes it */
        uv_pipe_connect(&k->creq, p, c->url.path, pipe_connected);
        return;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    if (sl_tcp_connect_start(c->loop, c->host, port, dialed_cb, c, &c->dial, why, sizeof why))
        conn_lost(c, why, NULL);
}

/* The attempt failed or the connection was lost: everything pending fails
 * (with fail_msg, or "redis connection lost: <why>"), the owner hears of
 * it, and the next attempt comes after the backoff. */
static void conn_lost(sl_redis_conn_t *c, const char *why, const char *fail_msg)
{
    if (c->state == S_CLOSED || c->state == S_BACKOFF)
        return;
    char w[WHY_MAX], msg[WHY_MAX + 32];
    snprintf(w, sizeof w, "%s", why); /* why may live in what is dropped below */
    snprintf(c->why, sizeof c->why, "%s", w);
    sl_tcp_connect_cancel(c->dial);
    c->dial = NULL;
    sock_drop(c);
    sl_buf_free(&c->out);
    c->write_failed[0] = '\0';
    uv_idle_stop(&c->flush);
    uv_timer_stop(&c->wd);
    uv_timer_stop(&c->timer);
    c->state = S_BACKOFF;
    c->attempt_failed = 1;
    snprintf(msg, sizeof msg, "redis connection lost: %s", w);
    fail_pending(c, fail_msg ? fail_msg : msg);
    if (c->state == S_CLOSED)
        return; /* a callback closed it */
    if (c->draining) {
        sl_redis_conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, backoff_cb, sl_backoff_next(&c->backoff, (uint32_t)uv_hrtime()), 0);
    if (c->cbs.on_state)
        c->cbs.on_state(c, 0, w, c->ud);
}

/* ---- the public side -------------------------------------------------------------- */

sl_redis_conn_t *sl_redis_conn_new(uv_loop_t *loop, const sl_redis_url_t *u, const char *host, int port,
                                   sl_tls_ctx_t *tls, const sl_redis_conn_opts_t *o,
                                   const sl_redis_conn_cbs_t *cbs, void *ud)
{
    sl_redis_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->url = *u;
    if (host)
        snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    c->tls_ctx = tls ? sl_tls_ctx_ref(tls) : NULL;
    if (o)
        c->o = *o;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    if (cbs)
        c->cbs = *cbs;
    c->ud = ud;
    sl_backoff_init(&c->backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS, BACKOFF_JITTER_PCT);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->wd);
    uv_idle_init(loop, &c->flush);
    c->timer.data = c->wd.data = c->flush.data = c;
    c->handles = 3;
    c->state = S_IDLE;
    uv_timer_start(&c->timer, backoff_cb, 0, 0);
    return c;
}

int sl_redis_conn_up(const sl_redis_conn_t *c) { return c->state == S_UP && !c->draining; }

int sl_redis_conn_connecting(const sl_redis_conn_t *c)
{
    return !c->attempt_failed && (c->state == S_IDLE || c->state == S_DIAL || c->state == S_HANDSHAKE);
}

const char *sl_redis_conn_why(const sl_redis_conn_t *c) { return c->why; }
size_t sl_redis_conn_pending(const sl_redis_conn_t *c) { return c->qlen; }
const char *sl_redis_conn_host(const sl_redis_conn_t *c) { return c->host; }
int sl_redis_conn_port(const sl_redis_conn_t *c) { return c->port; }

static void handle_closed(uv_handle_t *h)
{
    sl_redis_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    sl_tls_ctx_unref(c->tls_ctx);
    free(c->q);
    free(c);
}

void sl_redis_conn_close(sl_redis_conn_t *c)
{
    if (!c || c->state == S_CLOSED)
        return;
    c->state = S_CLOSED;
    sl_tcp_connect_cancel(c->dial);
    c->dial = NULL;
    sock_drop(c);
    sl_buf_free(&c->out);
    fail_pending(c, "redis closed");
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    uv_close((uv_handle_t *)&c->wd, handle_closed);
    uv_close((uv_handle_t *)&c->flush, handle_closed);
}

void sl_redis_conn_drain(sl_redis_conn_t *c)
{
    if (!c || c->state == S_CLOSED)
        return;
    c->draining = 1;
    if (c->state != S_UP || !c->qlen)
        sl_redis_conn_close(c);
}
