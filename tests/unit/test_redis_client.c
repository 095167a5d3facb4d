/* Unit tests for the Redis client of the cluster column: redis_slots (key
 * slots against the cluster spec's vectors, the slot map from CLUSTER SHARDS
 * and CLUSTER SLOTS replies, redirections, which argument is the key),
 * redis_conn against a fake Redis served by the test on its own loop
 * (replies split at every byte, a subscriber's pushes among its
 * confirmations, the watchdog on a server that goes silent, a connect
 * timeout, a refused AUTH, close with commands pending), and redis_sub's
 * channel set. Every test that takes a loop ends with no handle left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <uv.h>

#include "base/buf.h"
#include "cluster/redis_conn.h"
#include "cluster/redis_link.h"
#include "cluster/redis_slots.h"
#include "cluster/redis_sub.h"
#include "testlib.h"

/* ---- slots ------------------------------------------------------------------------ */

static void keyslot_matches_the_cluster_spec(void)
{
    /* The spec's CRC16 check value, and slots redis-cli cluster keyslot gave. */
    CHECK_EQ_INT(sl_redis_crc16("123456789", 9), 0x31C3);
    static const struct { const char *key; int slot; } v[] = {
        {"foo", 12182},
        {"bar", 5061},
        {"hello", 866},
        {"", 0},
        {"{user1000}.following", 3443},
        {"{user1000}.followers", 3443},
        {"foo{}{bar}", 8363},     /* an empty tag: the whole key */
        {"foo{{bar}}zap", 4015},  /* the tag is "{bar" */
        {"foo{bar}{zap}", 5061},  /* the first tag: "bar" */
        {"{", 4092},
        {"}", 12090},
        {"{}", 15257},
        {"a{b", 13340},
        {"socket.io#/#", 13868},
        {"socket.io#/chat#", 2409},
        {"socket.io#/#room1#", 9640},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int got = sl_redis_keyslot(v[i].key, strlen(v[i].key));
        if (got != v[i].slot)
            fprintf(stderr, "  keyslot(\"%s\") = %d, expected %d\n", v[i].key, got, v[i].slot);
        CHECK_EQ_INT(got, v[i].slot);
    }
}

/* A reply object read from RESP text, as the connection would get it. */
static redisReply *reply_of(const char *resp)
{
    redisReader *r = redisReaderCreate();
    void *out = NULL;
    redisReaderFeed(r, resp, strlen(resp));
    if (redisReaderGetReply(r, &out) != REDIS_OK)
        out = NULL;
    redisReaderFree(r);
    return out;
}


static void map_from_cluster_slots(void)
{
    /* Two ranges on one master with a replica; a range whose master is
     * announced with an empty host (the node that answered). */
    redisReply *r = reply_of("*3\r\n"
                             "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n"
                             "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nid\r\n"
                             "*3\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7002\r\n"
                             "*3\r\n:100\r\n:100\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n");
    CHECK(r != NULL);
    sl_redis_map_t *m = malloc(sizeof *m);
    char err[128];
    CHECK_EQ_INT(sl_redis_map_parse(m, r, "10.0.0.9", 0, err, sizeof err), 0);
    CHECK_EQ_INT(m->nnodes, 3);
    CHECK_EQ_INT(m->nmasters, 2);
    int a = sl_redis_map_find(m, "127.0.0.1", 7001), b = sl_redis_map_find(m, "10.0.0.9", 7002),
        rep = sl_redis_map_find(m, "127.0.0.1", 7004);
    CHECK(a >= 0 && b >= 0 && rep >= 0);
    CHECK_EQ_INT(m->slot[0], a);
    CHECK_EQ_INT(m->slot[5460], a);
    CHECK_EQ_INT(m->slot[5461], b);
    CHECK_EQ_INT(m->slot[100], a);
    CHECK_EQ_INT(m->slot[16383], b);
    CHECK_EQ_INT(m->nodes[rep].master, a);
    CHECK_EQ_INT(sl_redis_map_covered(m), 16384);
    freeReplyObject(r);
    /* An error reply, and something else, are refused with the reason. */
    r = reply_of("-ERR This instance has cluster support disabled\r\n");
    CHECK_EQ_INT(sl_redis_map_parse(m, r, "h", 0, err, sizeof err), -1);
    CHECK(strstr(err, "cluster support disabled") != NULL);
    freeReplyObject(r);
    r = reply_of("*1\r\n*2\r\n:0\r\n:99999\r\n");
    CHECK_EQ_INT(sl_redis_map_parse(m, r, "h", 0, err, sizeof err), -1);
    freeReplyObject(r);
    free(m);
}

static void map_from_cluster_shards(void)
{
    /* One shard with two ranges, a master and a replica still loading (it
     * counts: its subscribers are somebody's), TLS ports; one shard with
     * no slot (a new master: no use yet). */
    const char *resp =
        "*2\r\n"
        "*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:99\r\n:200\r\n:299\r\n$5\r\nnodes\r\n*2\r\n"
        "*14\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:0\r\n$8\r\ntls-port\r\n:7101\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
        "$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
        "*14\r\n$2\r\nid\r\n$1\r\nb\r\n$4\r\nport\r\n:0\r\n$8\r\ntls-port\r\n:7104\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
        "$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$6\r\nhealth\r\n$7\r\nloading\r\n"
        "*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n"
        "*8\r\n$4\r\nport\r\n:7109\r\n$2\r\nip\r\n$8\r\n10.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";
    redisReply *r = reply_of(resp);
    CHECK(r != NULL);
    sl_redis_map_t *m = malloc(sizeof *m);
    char err[128];
    CHECK_EQ_INT(sl_redis_map_parse(m, r, "h", 1, err, sizeof err), 0);
    int a = sl_redis_map_find(m, "127.0.0.1", 7101), b = sl_redis_map_find(m, "127.0.0.1", 7104);
    CHECK(a >= 0 && b >= 0);
    CHECK_EQ_INT(m->slot[0], a);
    CHECK_EQ_INT(m->slot[99], a);
    CHECK_EQ_INT(m->slot[100], -1);
    CHECK_EQ_INT(m->slot[250], a);
    CHECK_EQ_INT(m->nodes[b].master, a); /* the endpoint "?" fell back to the ip */
    CHECK_EQ_INT(sl_redis_map_covered(m), 200);
    /* Without TLS the plain port is taken (here 0: not a usable address). */
    CHECK_EQ_INT(sl_redis_map_parse(m, r, "h", 0, err, sizeof err), -1);
    freeReplyObject(r);
    free(m);
}

static void redirections_are_read(void)
{
    int slot, port;
    char host[64];
    const char *moved = "MOVED 3999 127.0.0.1:6381";
    CHECK_EQ_INT(sl_redis_redirect(moved, strlen(moved), &slot, host, sizeof host, &port), SL_REDIS_MOVED);
    CHECK_EQ_INT(slot, 3999);
    CHECK(!strcmp(host, "127.0.0.1"));
    CHECK_EQ_INT(port, 6381);
    const char *ask = "ASK 12182 [::1]:7000";
    CHECK_EQ_INT(sl_redis_redirect(ask, strlen(ask), &slot, host, sizeof host, &port), SL_REDIS_ASK);
    CHECK(!strcmp(host, "::1"));
    CHECK_EQ_INT(port, 7000);
    const char *bad[] = {"ERR nope", "MOVED x 1.2.3.4:5", "MOVED 20000 h:1", "MOVED 1 h", "MOVED 1 h:0", "ASK"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(sl_redis_redirect(bad[i], strlen(bad[i]), &slot, host, sizeof host, &port), 0);
}

static int key_of(const char *line, char *out)
{
    const char *argv[16];
    size_t lens[16];
    char buf[256];
    snprintf(buf, sizeof buf, "%s", line);
    int argc = 0;
    for (char *t = strtok(buf, " "); t && argc < 16; t = strtok(NULL, " ")) {
        argv[argc] = t;
        lens[argc++] = strlen(t);
    }
    const char *k;
    size_t kl;
    if (!sl_redis_command_key(argc, argv, lens, &k, &kl))
        return 0;
    memcpy(out, k, kl);
    out[kl] = '\0';
    return 1;
}

static void command_keys_route_right(void)
{
    char k[64];
    static const struct { const char *cmd, *key; } v[] = {
        {"GET user:1", "user:1"},
        {"set k v PX 10", "k"},
        {"SPUBLISH socket.io#/# m", "socket.io#/#"},
        {"EVAL script 2 a b x", "a"},
        {"EVALSHA sha 1 z", "z"},
        {"ZUNION 2 z1 z2", "z1"},
        {"BLMPOP 0 1 l LEFT", "l"},
        {"XREAD COUNT 2 STREAMS s1 s2 0 0", "s1"},
        {"OBJECT ENCODING obj", "obj"},
        {"XGROUP CREATE st g $", "st"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK_EQ_INT(key_of(v[i].cmd, k), 1);
        if (strcmp(k, v[i].key))
            fprintf(stderr, "  key of \"%s\" = \"%s\", expected \"%s\"\n", v[i].cmd, k, v[i].key);
        CHECK(!strcmp(k, v[i].key));
    }
    /* No key: any node (PUBLISH reaches every node of a cluster). */
    const char *none[] = {"PING", "PUBLISH ch m", "CLIENT LIST", "EVAL s 0", "KEYS *", "INFO", "XREAD COUNT 1"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK_EQ_INT(key_of(none[i], k), 0);
}

/* ---- a fake Redis --------------------------------------------------------------------- */

enum { FAKE_ANSWERS, FAKE_SILENT, FAKE_HANDSHAKE_ONLY, FAKE_WRONGPASS, FAKE_CLUSTER };

/* FAKE_CLUSTER: two masters, the first of these ports serving slots 0-8191. */
static int cluster_ports[2];

typedef struct fake {
    uv_loop_t *loop;
    uv_tcp_t server;
    int port;
    int mode;
    int commands;        /* complete commands read, all connections */
    int accepted;
    uv_tcp_t *peers[16];
    int npeers;
    sl_buf_t in;         /* the current connection's unread bytes */
    uv_tcp_t *subscriber; /* FAKE_CLUSTER: the connection that sent PSUBSCRIBE */
} fake_t;

static void peer_closed(uv_handle_t *h) { free(h); }

static void fake_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(n);
    b->len = n;
}

typedef struct wreq {
    uv_write_t req;
    char data[];
} wreq_t;

static void fake_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void fake_send(uv_tcp_t *peer, const char *p, size_t n)
{
    wreq_t *w = malloc(sizeof *w + n);
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    uv_write(&w->req, (uv_stream_t *)peer, &b, 1, fake_written);
}

/* One byte per write: the client gets every reply split everywhere. */
static void fake_send_bytewise_n(uv_tcp_t *peer, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fake_send(peer, s + i, 1);
}

static void fake_send_bytewise(uv_tcp_t *peer, const char *s) { fake_send_bytewise_n(peer, s, strlen(s)); }

/* The complete commands at the start of f->in: each one's name (upper
 * case) and first argument, handed to fn; consumed. */
static void fake_commands(fake_t *f, uv_tcp_t *peer, void (*fn)(fake_t *, uv_tcp_t *, const char *, const char *))
{
    for (;;) {
        redisReader *r = redisReaderCreate();
        /* Commands are arrays of bulk strings: the reply reader reads them too. */
        redisReaderFeed(r, f->in.data, f->in.len);
        void *out = NULL;
        if (redisReaderGetReply(r, &out) != REDIS_OK || !out) {
            redisReaderFree(r);
            return;
        }
        size_t used = f->in.len - (r->len - r->pos);
        redisReaderFree(r);
        redisReply *c = out;
        char name[32] = "", arg[128] = "";
        if (c->type == REDIS_REPLY_ARRAY && c->elements) {
            snprintf(name, sizeof name, "%s", c->element[0]->str);
            for (char *x = name; *x; x++)
                *x = (char)(*x >= 'a' && *x <= 'z' ? *x - 32 : *x);
            if (c->elements > 1)
                snprintf(arg, sizeof arg, "%s", c->element[1]->str);
        }
        freeReplyObject(c);
        sl_buf_consume(&f->in, used);
        f->commands++;
        fn(f, peer, name, arg);
    }
}

static void fake_answer(fake_t *f, uv_tcp_t *peer, const char *name, const char *arg)
{
    char buf[512];
    if (f->mode == FAKE_SILENT || (f->mode == FAKE_HANDSHAKE_ONLY && f->commands > 1))
        return;
    if (f->mode == FAKE_CLUSTER && !strcmp(name, "CLUSTER")) {
        if (!strcmp(arg, "SHARDS")) {
            fake_send(peer, "-ERR unknown subcommand 'SHARDS'\r\n", 34);
            return;
        }
        int n = snprintf(buf, sizeof buf,
                         "*2\r\n*3\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
                         "*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
                         cluster_ports[0], cluster_ports[1]);
        fake_send(peer, buf, (size_t)n);
    } else if (f->mode == FAKE_CLUSTER && !strcmp(name, "PSUBSCRIBE")) {
        int n = snprintf(buf, sizeof buf, "*3\r\n$10\r\npsubscribe\r\n$%zu\r\n%s\r\n:1\r\n", strlen(arg), arg);
        fake_send(peer, buf, (size_t)n);
        f->subscriber = peer;
    } else if (!strcmp(name, "AUTH")) {
        if (f->mode == FAKE_WRONGPASS)
            fake_send(peer, "-WRONGPASS invalid username-password pair\r\n", 43);
        else
            fake_send(peer, "+OK\r\n", 5);
    } else if (!strcmp(name, "PING")) {
        fake_send(peer, "+PONG\r\n", 7);
    } else if (!strcmp(arg, "huge")) {
        /* What a hostile server on the Redis address may send: hiredis
         * alone would allocate a 7 GB element table for it at once. */
        fake_send(peer, "*888888881\r\n", 12);
    } else if (!strcmp(name, "LRANGE") && !strcmp(arg, "long")) {
        /* More elements than a subscriber takes (1024). */
        sl_buf_t b = SL_BUF_INIT;
        sl_buf_append(&b, "*2000\r\n", 7);
        for (int i = 0; i < 2000; i++)
            sl_buf_append(&b, ":1\r\n", 4);
        fake_send(peer, b.data, b.len);
        sl_buf_free(&b);
    } else if (!strcmp(name, "SSUBSCRIBE") || !strcmp(name, "SUBSCRIBE")) {
        /* The confirmation, then, split at every byte: a message, a
         * message on another channel, and an unsubscribe Redis decided on. */
        int n = snprintf(buf, sizeof buf, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n:1\r\n", strlen(name),
                         !strcmp(name, "SSUBSCRIBE") ? "ssubscribe" : "subscribe", strlen(arg), arg);
        fake_send(peer, buf, (size_t)n);
        fake_send_bytewise(peer, "*3\r\n$8\r\nsmessage\r\n$4\r\nch#1\r\n$5\r\nh\r\nlo\r\n"
                                 "*3\r\n$7\r\nmessage\r\n$2\r\nc2\r\n$0\r\n\r\n"
                                 "*3\r\n$12\r\nsunsubscribe\r\n$4\r\nch#1\r\n:0\r\n");
    } else if (!strcmp(name, "SUNSUBSCRIBE")) {
        int n = snprintf(buf, sizeof buf, "*3\r\n$12\r\nsunsubscribe\r\n$%zu\r\n%s\r\n:0\r\n", strlen(arg), arg);
        fake_send(peer, buf, (size_t)n);
    } else if (!strcmp(name, "GET")) {
        static const char bin[] = "$12\r\nh\r\nllo\0world\r\n"; /* binary-safe: CR LF and NUL inside */
        fake_send_bytewise_n(peer, bin, sizeof bin - 1);
    } else if (!strcmp(name, "LRANGE")) {
        fake_send_bytewise(peer, "*3\r\n$1\r\na\r\n$-1\r\n*1\r\n:42\r\n");
    } else {
        fake_send(peer, "+OK\r\n", 5);
    }
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    fake_t *f = s->data;
    if (n > 0) {
        sl_buf_append(&f->in, b->base, (size_t)n);
        fake_commands(f, (uv_tcp_t *)s, fake_answer);
    } else if (n < 0 && !uv_is_closing((uv_handle_t *)s)) {
        uv_close((uv_handle_t *)s, peer_closed);
        for (int i = 0; i < f->npeers; i++)
            if (f->peers[i] == (uv_tcp_t *)s)
                f->peers[i] = NULL;
    }
    free(b->base);
}

static void fake_accept(uv_stream_t *server, int status)
{
    fake_t *f = server->data;
    if (status < 0)
        return;
    uv_tcp_t *peer = malloc(sizeof *peer);
    uv_tcp_init(f->loop, peer);
    peer->data = f;
    uv_accept(server, (uv_stream_t *)peer);
    sl_buf_reset(&f->in);
    f->accepted++;
    if (f->npeers < 16)
        f->peers[f->npeers++] = peer;
    uv_read_start((uv_stream_t *)peer, fake_alloc, fake_read);
}

static void fake_start(fake_t *f, uv_loop_t *loop, int mode)
{
    memset(f, 0, sizeof *f);
    f->loop = loop;
    f->mode = mode;
    uv_tcp_init(loop, &f->server);
    f->server.data = f;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_bind(&f->server, (const struct sockaddr *)&sa, 0);
    uv_listen((uv_stream_t *)&f->server, 16, fake_accept);
    int len = sizeof sa;
    uv_tcp_getsockname(&f->server, (struct sockaddr *)&sa, &len);
    f->port = ntohs(sa.sin_port);
}

static void fake_stop(fake_t *f)
{
    for (int i = 0; i < f->npeers; i++)
        if (f->peers[i] && !uv_is_closing((uv_handle_t *)f->peers[i]))
            uv_close((uv_handle_t *)f->peers[i], peer_closed);
    uv_close((uv_handle_t *)&f->server, NULL);
    sl_buf_free(&f->in);
}

/* ---- a connection to it ------------------------------------------------------------- */

typedef struct seen {
    int ups, downs, pushes, replies, failures;
    char why[160], last_fail[160], push_kinds[256];
    char reply_text[128];
} seen_t;

static void on_state(sl_redis_conn_t *c, int up, const char *why, void *ud)
{
    (void)c;
    seen_t *s = ud;
    if (up)
        s->ups++;
    else
        s->downs++;
    snprintf(s->why, sizeof s->why, "%s", why);
}

static void on_push(sl_redis_conn_t *c, redisReply *r, void *ud)
{
    (void)c;
    seen_t *s = ud;
    s->pushes++;
    size_t o = strlen(s->push_kinds);
    snprintf(s->push_kinds + o, sizeof s->push_kinds - o, "%s%s:%s", o ? "," : "", r->element[0]->str,
             r->element[1]->str);
}

static void on_reply(void *priv, redisReply *r, const char *why)
{
    seen_t *s = priv;
    if (!r) {
        s->failures++;
        snprintf(s->last_fail, sizeof s->last_fail, "%s", why);
        return;
    }
    s->replies++;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        int n = snprintf(s->reply_text, sizeof s->reply_text, "%zu:", r->len);
        memcpy(s->reply_text + n, r->str, r->len < 100 ? r->len : 100); /* binary: NUL included */
    }
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_ARRAY)
        snprintf(s->reply_text, sizeof s->reply_text, "array %zu, %d, %lld", r->elements, r->element[1]->type,
                 r->element[2]->element[0]->integer);
}

static const sl_redis_conn_cbs_t cbs = {.on_state = on_state, .on_push = on_push};

/* Runs the loop until cond holds or ms pass; 1 if it holds. */
#define RUN_UNTIL(loop, cond, ms)                                                    \
    ({                                                                               \
        uint64_t tl_end = uv_now(loop) + (ms);                                       \
        while (!(cond) && uv_now(loop) < tl_end)                                     \
            uv_run((loop), UV_RUN_ONCE);                                             \
        (cond);                                                                      \
    })

static sl_redis_conn_t *conn_to(fake_t *f, const char *url_extra, const sl_redis_conn_opts_t *o, seen_t *s)
{
    char url[128], err[128];
    sl_redis_url_t u;
    snprintf(url, sizeof url, "redis://%s127.0.0.1:%d", url_extra, f->port);
    CHECK_EQ_INT(sl_redis_url_parse(url, &u, err, sizeof err), 0);
    return sl_redis_conn_new(f->loop, &u, "127.0.0.1", f->port, NULL, o, &cbs, s);
}

/* A timer that keeps the loop turning while a test waits on it. */
static uv_timer_t tick;
static void tick_cb(uv_timer_t *t) { (void)t; }

static void ticking(uv_loop_t *loop, int on)
{
    if (on) {
        uv_timer_init(loop, &tick);
        uv_timer_start(&tick, tick_cb, 10, 10);
    } else {
        uv_close((uv_handle_t *)&tick, NULL);
    }
}

static void finish(uv_loop_t *loop, fake_t *f, sl_redis_conn_t *c)
{
    sl_redis_conn_close(c);
    fake_stop(f);
    ticking(loop, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
}

static void conn_reads_replies_split_at_every_byte(void)
{
    uv_loop_t *loop = tl_loop();
    ticking(loop, 1);
    fake_t f;
    fake_start(&f, loop, FAKE_ANSWERS);
    seen_t s = {0};
    sl_redis_conn_opts_t o = {.command_timeout_ms = 2000};
    sl_redis_conn_t *c = conn_to(&f, "", &o, &s);
    CHECK(RUN_UNTIL(loop, s.ups == 1, 3000));
    const char *get[] = {"GET", "k"};
    size_t get_len[] = {3, 1};
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 2, get, get_len), 0);
    CHECK(RUN_UNTIL(loop, s.replies == 1, 3000));
    CHECK_MEM(s.reply_text, 15, "12:h\r\nllo\0world", 15);
    if (s.downs)
        fprintf(stderr, "  down: %s\n", s.why);
    const char *lr[] = {"LRANGE", "l", "0", "-1"};
    size_t lr_len[] = {6, 1, 1, 2};
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 4, lr, lr_len), 0);
    CHECK(RUN_UNTIL(loop, s.replies == 2, 3000));
    CHECK(!strcmp(s.reply_text, "array 3, 4, 42"));
    CHECK_EQ_INT(s.downs, 0);
    CHECK_EQ_INT(sl_redis_conn_pending(c), 0);
    finish(loop, &f, c);
}

/* A subscriber connection to a fake Redis answering, up. */
static sl_redis_conn_t *subscriber_up(uv_loop_t *loop, fake_t *f, seen_t *s)
{
    ticking(loop, 1);
    fake_start(f, loop, FAKE_ANSWERS);
    sl_redis_conn_opts_t o = {.command_timeout_ms = 2000, .ping_ms = 2000, .subscriber = 1};
    sl_redis_conn_t *c = conn_to(f, "", &o, s);
    CHECK(RUN_UNTIL(loop, s->ups == 1, 3000));
    return c;
}

static void subscriber_tells_pushes_from_confirmations(void)
{
    uv_loop_t *loop = tl_loop();
    fake_t f;
    seen_t s = {0};
    sl_redis_conn_t *c = subscriber_up(loop, &f, &s);
    const char *sub[] = {"SSUBSCRIBE", "ch#1"};
    size_t sub_len[] = {10, 4};
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 2, sub, sub_len), 0);
    CHECK(RUN_UNTIL(loop, s.pushes == 3, 3000));
    CHECK_EQ_INT(s.replies, 1); /* the confirmation */
    CHECK(!strcmp(s.push_kinds, "smessage:ch#1,message:c2,sunsubscribe:ch#1"));
    /* Our own SUNSUBSCRIBE's confirmation is a reply, not a push. */
    const char *unsub[] = {"SUNSUBSCRIBE", "ch#1"};
    size_t unsub_len[] = {12, 4};
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 2, unsub, unsub_len), 0);
    CHECK(RUN_UNTIL(loop, s.replies == 2, 3000));
    CHECK_EQ_INT(s.pushes, 3);
    finish(loop, &f, c);
}

/* An array count past the reader's cap (cluster/redis_reader) drops the
 * connection like any unreadable reply, saying why, and it connects
 * again; a command connection takes arrays a subscriber refuses. */
static void huge_array_count_drops_the_connection(void)
{
    uv_loop_t *loop = tl_loop();
    fake_t f;
    seen_t s = {0};
    sl_redis_conn_t *c = subscriber_up(loop, &f, &s);
    const char *sub[] = {"SSUBSCRIBE", "huge"};
    size_t sub_len[] = {10, 4};
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 2, sub, sub_len), 0);
    CHECK(RUN_UNTIL(loop, s.downs == 1, 3000));
    CHECK(!strcmp(s.why, "unreadable reply: an array of 888888881 elements (at most 1024)"));
    CHECK_EQ_INT(s.failures, 1);
    CHECK(!strcmp(s.last_fail, "redis connection lost: unreadable reply: an array of 888888881 elements (at most 1024)"));
    CHECK(RUN_UNTIL(loop, s.ups == 2, 3000)); /* after the backoff */
    finish(loop, &f, c);

    loop = tl_loop();
    ticking(loop, 1);
    fake_start(&f, loop, FAKE_ANSWERS);
    memset(&s, 0, sizeof s);
    sl_redis_conn_opts_t cmd = {.command_timeout_ms = 2000};
    c = conn_to(&f, "", &cmd, &s);
    CHECK(RUN_UNTIL(loop, s.ups == 1, 3000));
    const char *lr[] = {"LRANGE", "long", "0", "-1"};
    size_t lr_len[] = {6, 4, 1, 2};
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 4, lr, lr_len), 0);
    CHECK(RUN_UNTIL(loop, s.replies == 1, 3000));
    CHECK_EQ_INT(s.downs, 0);
    finish(loop, &f, c);
}

static void watchdog_drops_a_server_gone_silent_and_reconnects(void)
{
    uv_loop_t *loop = tl_loop();
    ticking(loop, 1);
    fake_t f;
    fake_start(&f, loop, FAKE_HANDSHAKE_ONLY);
    seen_t s = {0};
    sl_redis_conn_opts_t o = {.command_timeout_ms = 100, .connect_timeout_ms = 200};
    sl_redis_conn_t *c = conn_to(&f, "", &o, &s);
    CHECK(RUN_UNTIL(loop, s.ups == 1, 3000));
    const char *set[] = {"SET", "k", "v"};
    size_t set_len[] = {3, 1, 1};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 3, set, set_len), 0);
    CHECK(RUN_UNTIL(loop, s.downs == 1, 3000));
    CHECK_EQ_INT(s.failures, 3);
    CHECK(!strcmp(s.last_fail, "redis timeout: no reply within 100 ms"));
    CHECK(!strcmp(s.why, "no reply within 100 ms"));
    CHECK(!sl_redis_conn_up(c));
    CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 3, set, set_len), -1); /* down: refused at once */
    /* It comes back (the fake answers a new connection's PING again). */
    f.commands = 0;
    CHECK(RUN_UNTIL(loop, s.ups == 2, 3000));
    CHECK(f.accepted >= 2);
    finish(loop, &f, c);
}

static void connect_timeout_and_refused_auth_say_why(void)
{
    uv_loop_t *loop = tl_loop();
    ticking(loop, 1);
    fake_t f;
    fake_start(&f, loop, FAKE_SILENT);
    seen_t s = {0};
    sl_redis_conn_opts_t o = {.connect_timeout_ms = 100};
    sl_redis_conn_t *c = conn_to(&f, "", &o, &s);
    CHECK(sl_redis_conn_connecting(c));
    CHECK(RUN_UNTIL(loop, s.downs == 1, 3000));
    CHECK(!strcmp(s.why, "connect timeout (100 ms)"));
    CHECK(!sl_redis_conn_connecting(c)); /* failed once: not worth waiting for */
    CHECK_EQ_INT(s.ups, 0);
    sl_redis_conn_close(c);
    f.mode = FAKE_WRONGPASS;
    memset(&s, 0, sizeof s);
    c = conn_to(&f, ":pw@", &o, &s);
    CHECK(RUN_UNTIL(loop, s.downs == 1, 3000));
    CHECK(!strcmp(s.why, "AUTH failed: WRONGPASS invalid username-password pair"));
    CHECK_EQ_INT(s.ups, 0);
    finish(loop, &f, c);
}

static void close_fails_what_is_pending(void)
{
    uv_loop_t *loop = tl_loop();
    ticking(loop, 1);
    fake_t f;
    fake_start(&f, loop, FAKE_HANDSHAKE_ONLY);
    seen_t s = {0};
    sl_redis_conn_t *c = conn_to(&f, "", NULL, &s);
    CHECK(RUN_UNTIL(loop, s.ups == 1, 3000));
    const char *ping[] = {"PING"};
    size_t ping_len[] = {4};
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(sl_redis_conn_send(c, on_reply, &s, 1, ping, ping_len), 0);
    CHECK_EQ_INT(sl_redis_conn_pending(c), 5);
    sl_redis_conn_close(c); /* inside this call */
    CHECK_EQ_INT(s.failures, 5);
    CHECK(!strcmp(s.last_fail, "redis closed"));
    CHECK_EQ_INT(s.downs, 0); /* no state callback after close */
    finish(loop, &f, NULL);
}

/* ---- the subscriber's channel set -------------------------------------------------------- */

static void sub_keeps_a_channel_set(void)
{
    uv_loop_t *loop = tl_loop();
    sl_redis_url_t u;
    char err[128];
    sl_redis_url_parse("redis://127.0.0.1:1", &u, err, sizeof err);
    sl_redis_link_opts_t lo = {.name = "test", .quiet = 1};
    sl_redis_link_t *l = sl_redis_link_new(loop, &u, &lo, NULL, NULL, err, sizeof err);
    CHECK(l != NULL);
    sl_redis_sub_t *s = sl_redis_sub_new(loop, l, "test", 1000, NULL, NULL);
    char name[32];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof name, "socket.io#/#room%d#", i);
        CHECK_EQ_INT(sl_redis_sub_add(s, SL_REDIS_SUB_SHARD, name, (size_t)n), 0);
    }
    CHECK_EQ_INT(sl_redis_sub_add(s, SL_REDIS_SUB_SHARD, "socket.io#/#room7#", 18), 0); /* held already */
    CHECK_EQ_INT(sl_redis_sub_add(s, SL_REDIS_SUB_PATTERN, "socket.io#/#room7#", 18), 0); /* another kind */
    CHECK_EQ_INT(sl_redis_sub_count(s), 101);
    CHECK(sl_redis_sub_holds(s, SL_REDIS_SUB_SHARD, "socket.io#/#room42#", 19));
    CHECK(!sl_redis_sub_holds(s, SL_REDIS_SUB_CHANNEL, "socket.io#/#room42#", 19));
    sl_redis_sub_remove(s, SL_REDIS_SUB_SHARD, "socket.io#/#room42#", 19);
    sl_redis_sub_remove(s, SL_REDIS_SUB_SHARD, "socket.io#/#nope#", 17);
    CHECK(!sl_redis_sub_holds(s, SL_REDIS_SUB_SHARD, "socket.io#/#room42#", 19));
    CHECK_EQ_INT(sl_redis_sub_count(s), 100);
    CHECK_EQ_INT(sl_redis_sub_nodes(s), 1); /* one server: one connection */
    sl_redis_sub_close(s);
    sl_redis_link_close(l);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
}

/* ---- a move after a node's loss ------------------------------------------------------- */

static int replay_msgs;
static char replay_got[64];

static void replay_on_msg(int kind, const char *ch, size_t clen, const char *msg, size_t mlen, void *ud)
{
    (void)kind, (void)ch, (void)clen, (void)ud;
    replay_msgs++;
    size_t o = strlen(replay_got);
    snprintf(replay_got + o, sizeof replay_got - o, "%s%.*s", o ? "," : "", (int)mlen, msg);
}

static void pmessage(fake_t *f, const char *msg)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npc\r\n$%zu\r\n%s\r\n", strlen(msg),
                     msg);
    fake_send(f->subscriber, buf, (size_t)n);
}

/* The cluster bus may bring a message to one node later than to another:
 * a pattern moved off a lost node to one that delivers again what the lost
 * one delivered is heard once, and what only the new one delivers is heard. */
static void sub_drops_what_a_new_node_replays_after_a_move(void)
{
    uv_loop_t *loop = tl_loop();
    ticking(loop, 1);
    fake_t f[2];
    fake_start(&f[0], loop, FAKE_CLUSTER);
    fake_start(&f[1], loop, FAKE_CLUSTER);
    cluster_ports[0] = f[0].port;
    cluster_ports[1] = f[1].port;
    char url[128], err[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d,127.0.0.1:%d", f[0].port, f[1].port);
    sl_redis_url_t u;
    CHECK_EQ_INT(sl_redis_url_parse(url, &u, err, sizeof err), 0);
    sl_redis_link_opts_t lo = {.name = "test", .quiet = 1};
    sl_redis_link_t *l = sl_redis_link_new(loop, &u, &lo, NULL, NULL, err, sizeof err);
    CHECK(l != NULL);
    replay_msgs = 0;
    replay_got[0] = '\0';
    sl_redis_sub_t *s = sl_redis_sub_new(loop, l, "test", 1000, replay_on_msg, NULL);
    CHECK_EQ_INT(sl_redis_sub_add(s, SL_REDIS_SUB_PATTERN, "p*", 2), 0);
    CHECK(RUN_UNTIL(loop, f[0].subscriber || f[1].subscriber, 3000));
    fake_t *lost = f[0].subscriber ? &f[0] : &f[1], *next = lost == &f[0] ? &f[1] : &f[0];
    pmessage(lost, "m1");
    CHECK(RUN_UNTIL(loop, replay_msgs == 1, 3000));
    fake_stop(lost); /* the node dies: the pattern goes to the other one */
    CHECK(RUN_UNTIL(loop, next->subscriber != NULL, 3000));
    pmessage(next, "m1"); /* late off the bus: heard already */
    pmessage(next, "m2");
    CHECK(RUN_UNTIL(loop, replay_msgs == 2 && !strcmp(replay_got, "m1,m2"), 3000));
    RUN_UNTIL(loop, 0, 50); /* and nothing after */
    CHECK_EQ_INT(replay_msgs, 2);
    if (strcmp(replay_got, "m1,m2"))
        fprintf(stderr, "  heard %s\n", replay_got);
    sl_redis_sub_close(s);
    sl_redis_link_close(l);
    fake_stop(next);
    ticking(loop, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
}

TL_SUITE(redis_client, NULL, NULL,
         TL_TEST(keyslot_matches_the_cluster_spec),
         TL_TEST(map_from_cluster_slots),
         TL_TEST(map_from_cluster_shards),
         TL_TEST(redirections_are_read),
         TL_TEST(command_keys_route_right),
         TL_TEST(conn_reads_replies_split_at_every_byte),
         TL_TEST(subscriber_tells_pushes_from_confirmations),
         TL_TEST(huge_array_count_drops_the_connection),
         TL_TEST(watchdog_drops_a_server_gone_silent_and_reconnects),
         TL_TEST(connect_timeout_and_refused_auth_say_why),
         TL_TEST(close_fails_what_is_pending),
         TL_TEST(sub_keeps_a_channel_set),
         TL_TEST(sub_drops_what_a_new_node_replays_after_a_move));
