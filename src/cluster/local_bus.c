/* L5a cluster/local_bus: an in-memory subset of Redis for one machine's workers. See
 * local_bus.h.
 *
 *   bus ── clients (list) ── each: its channels and patterns (arrays)
 *    └──── keys (base/hashtab: key -> value, expiry)
 *
 * PUBLISH walks every client: the bus serves a handful of workers (two
 * links each), each subscribed to a few channels per namespace, so a walk
 * is cheaper than keeping a channel index in step. */
#include "cluster/local_bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <hiredis/hiredis.h>

#include "base/buf.h"
#include "base/hashtab.h"
#include "cluster/redis_reader.h"

typedef struct bus_str {
    char *p;
    size_t len;
} bus_str_t;

typedef struct bus_key {
    sl_hnode_t hnode; /* in bus->keys, keyed by name */
    char *name;
    size_t nlen;
    char *value;
    size_t vlen;
    uint64_t expires_at; /* 0: never */
} bus_key_t;

struct sl_bus_client {
    sl_bus_client_t *prev, *next;
    sl_bus_t *bus;
    sl_bus_write_cb write;
    void *ud;
    sl_redis_reader_t *reader;
    bus_str_t *channels;
    size_t nchannels, capchannels;
    bus_str_t *patterns;
    size_t npatterns, cappatterns;
    sl_buf_t out; /* the answer being built */
};

struct sl_bus {
    sl_bus_client_t *clients;
    sl_hashtab_t keys; /* bus_key_t by name */
    uint64_t now;
};

/* ---- glob ------------------------------------------------------------------ */

/* [...] at p (just after '['); sets *end past the ']' and returns whether c
 * is in the class. An unclosed class takes the rest of the pattern. */
static int class_match(const char *p, const char *pe, char c, const char **end)
{
    int negate = 0, hit = 0;
    if (p < pe && *p == '^') {
        negate = 1;
        p++;
    }
    while (p < pe && *p != ']') {
        if (*p == '\\' && p + 1 < pe) {
            p++;
            hit |= *p == c;
            p++;
        } else if (p + 2 < pe && p[1] == '-' && p[2] != ']') {
            unsigned char lo = (unsigned char)p[0], hi = (unsigned char)p[2];
            if (lo > hi) {
                unsigned char t = lo;
                lo = hi;
                hi = t;
            }
            hit |= (unsigned char)c >= lo && (unsigned char)c <= hi;
            p += 3;
        } else {
            hit |= *p == c;
            p++;
        }
    }
    *end = p < pe ? p + 1 : p;
    return negate ? !hit : hit;
}

/* Iterative with one backtrack point (the last '*'), so a pattern can't make
 * it exponential. */
int sl_bus_glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    const char *p = pat, *pe = pat + plen, *se = s + slen;
    const char *star_p = NULL, *star_s = NULL;
    while (s < se) {
        if (p < pe && *p == '*') {
            while (p < pe && *p == '*')
                p++;
            if (p == pe)
                return 1;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < pe) {
            const char *next = p + 1;
            int ok;
            if (*p == '?') {
                ok = 1;
            } else if (*p == '[') {
                ok = class_match(p + 1, pe, *s, &next);
            } else if (*p == '\\' && p + 1 < pe) {
                ok = p[1] == *s;
                next = p + 2;
            } else {
                ok = *p == *s;
            }
            if (ok) {
                p = next;
                s++;
                continue;
            }
        }
        if (!star_p)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    while (p < pe && *p == '*')
        p++;
    return p == pe;
}

/* ---- RESP out ------------------------------------------------------------------ */

static void out_bulk(sl_buf_t *b, const char *p, size_t n)
{
    sl_buf_appendf(b, "$%zu\r\n", n);
    sl_buf_append(b, p, n);
    sl_buf_append(b, "\r\n", 2);
}

static void out_cstr(sl_buf_t *b, const char *s) { out_bulk(b, s, strlen(s)); }

static void out_nil(sl_buf_t *b) { sl_buf_append_str(b, "$-1\r\n"); }

static void out_int(sl_buf_t *b, long long v) { sl_buf_appendf(b, ":%lld\r\n", v); }

static void out_error(sl_buf_t *b, const char *msg) { sl_buf_appendf(b, "-%s\r\n", msg); }

/* "-ERR Protocol error: <why>", the reason made one printable line: it
 * may quote the peer's bad byte, and an error reply ends at its CR LF. */
static void out_protocol_error(sl_buf_t *b, const char *why)
{
    const char *prefix = "Protocol error";
    sl_buf_appendf(b, "-ERR Protocol error");
    if (why && *why) {
        if (!strncmp(why, prefix, strlen(prefix))) /* hiredis's own says it already */
            why += strlen(prefix);
        while (*why == ',' || *why == ':' || *why == ' ')
            why++;
        if (*why) {
            sl_buf_append(b, ": ", 2);
            for (size_t i = 0; why[i] && i < 200; i++) {
                unsigned char ch = (unsigned char)why[i];
                sl_buf_append_byte(b, ch >= 0x20 && ch < 0x7f ? (char)ch : '?');
            }
        }
    }
    sl_buf_append(b, "\r\n", 2);
}

static void out_array(sl_buf_t *b, size_t n) { sl_buf_appendf(b, "*%zu\r\n", n); }

/* Errors a client reads have no CR/LF; names it sent are cut to stay short. */
static void out_error_name(sl_buf_t *b, const char *fmt, const char *name, size_t len)
{
    char clean[64];
    size_t n = len < sizeof clean - 1 ? len : sizeof clean - 1;
    for (size_t i = 0; i < n; i++)
        clean[i] = name[i] == '\r' || name[i] == '\n' ? ' ' : name[i];
    clean[n] = '\0';
    sl_buf_append_byte(b, '-');
    sl_buf_appendf(b, fmt, clean);
    sl_buf_append(b, "\r\n", 2);
}

/* ---- keys ------------------------------------------------------------------------ */

static const void *key_name(const sl_hnode_t *n, size_t *len)
{
    const bus_key_t *k = SL_CONTAINER_OF(n, bus_key_t, hnode);
    *len = k->nlen;
    return k->name;
}

static void key_free(bus_key_t *k)
{
    free(k->name);
    free(k->value);
    free(k);
}

static void key_unlink(sl_bus_t *b, bus_key_t *k)
{
    sl_hashtab_remove(&b->keys, &k->hnode);
    key_free(k);
}

static int key_expired(const sl_bus_t *b, const bus_key_t *k)
{
    return k->expires_at && k->expires_at <= b->now;
}

/* The key, live or expired, or NULL. */
static bus_key_t *key_lookup(sl_bus_t *b, const char *name, size_t n)
{
    sl_hnode_t *h = sl_hashtab_find(&b->keys, name, n);
    return h ? SL_CONTAINER_OF(h, bus_key_t, hnode) : NULL;
}

/* The live key, or NULL; an expired one is dropped on the way. */
static bus_key_t *key_find(sl_bus_t *b, const char *name, size_t n)
{
    bus_key_t *k = key_lookup(b, name, n);
    if (k && key_expired(b, k)) {
        key_unlink(b, k);
        return NULL;
    }
    return k;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/* Sets name = value; ttl_ms 0 keeps none. 0, or -1 out of memory. */
static int key_set(sl_bus_t *b, const char *name, size_t nlen, const char *value, size_t vlen,
                   uint64_t ttl_ms)
{
    char *v = dup_bytes(value, vlen);
    if (!v)
        return -1;
    bus_key_t *k = key_lookup(b, name, nlen);
    if (!k) {
        k = calloc(1, sizeof *k);
        char *nm = dup_bytes(name, nlen);
        if (!k || !nm) {
            free(k);
            free(nm);
            free(v);
            return -1;
        }
        k->name = nm;
        k->nlen = nlen;
        if (sl_hashtab_insert(&b->keys, &k->hnode)) {
            key_free(k);
            free(v);
            return -1;
        }
    }
    free(k->value);
    k->value = v;
    k->vlen = vlen;
    k->expires_at = ttl_ms ? b->now + ttl_ms : 0;
    return 0;
}

size_t sl_bus_sweep(sl_bus_t *b)
{
    size_t gone = 0;
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &b->keys);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        bus_key_t *k = SL_CONTAINER_OF(h, bus_key_t, hnode);
        if (key_expired(b, k)) {
            key_unlink(b, k);
            gone++;
        }
    }
    return gone;
}

size_t sl_bus_key_count(const sl_bus_t *b) { return sl_hashtab_count(&b->keys); }

void sl_bus_set_now(sl_bus_t *b, uint64_t now_ms) { b->now = now_ms; }

/* ---- subscriptions ------------------------------------------------------------- */

static int str_list_has(const bus_str_t *v, size_t n, const char *p, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len == len && !memcmp(v[i].p, p, len))
            return 1;
    return 0;
}

/* 1 added, 0 already there, -1 out of memory. */
static int str_list_add(bus_str_t **v, size_t *n, size_t *cap, const char *p, size_t len)
{
    if (str_list_has(*v, *n, p, len))
        return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        bus_str_t *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    char *d = dup_bytes(p, len);
    if (!d)
        return -1;
    (*v)[(*n)++] = (bus_str_t){d, len};
    return 1;
}

static int str_list_remove(bus_str_t *v, size_t *n, const char *p, size_t len)
{
    for (size_t i = 0; i < *n; i++) {
        if (v[i].len == len && !memcmp(v[i].p, p, len)) {
            free(v[i].p);
            v[i] = v[--*n];
            return 1;
        }
    }
    return 0;
}

static size_t sub_count(const sl_bus_client_t *c) { return c->nchannels + c->npatterns; }

/* ---- commands ---------------------------------------------------------------------- */

typedef struct cmd {
    sl_bus_client_t *c;
    redisReply **argv; /* argv[0] is the command name */
    size_t argc;
    sl_buf_t *out;
} cmd_t;

static int arg_is(const cmd_t *m, size_t i, const char *word)
{
    return m->argv[i]->len == strlen(word) && !strncasecmp(m->argv[i]->str, word, m->argv[i]->len);
}

static int wrong_args(cmd_t *m)
{
    out_error_name(m->out, "ERR wrong number of arguments for '%s' command", m->argv[0]->str,
                   m->argv[0]->len);
    return 0;
}

/* A decimal integer argument, all of it. */
static int arg_ll(const cmd_t *m, size_t i, long long *v)
{
    char tmp[32];
    const redisReply *a = m->argv[i];
    if (a->len == 0 || a->len >= sizeof tmp)
        return -1;
    memcpy(tmp, a->str, a->len);
    tmp[a->len] = '\0';
    char *end;
    errno = 0;
    *v = strtoll(tmp, &end, 10);
    return errno || *end ? -1 : 0;
}

static int cmd_ping(cmd_t *m)
{
    if (m->argc > 2)
        return wrong_args(m);
    if (sub_count(m->c)) { /* RESP2 in subscribed mode answers an array */
        out_array(m->out, 2);
        out_cstr(m->out, "pong");
        if (m->argc == 2)
            out_bulk(m->out, m->argv[1]->str, m->argv[1]->len);
        else
            out_bulk(m->out, "", 0);
    } else if (m->argc == 2) {
        out_bulk(m->out, m->argv[1]->str, m->argv[1]->len);
    } else {
        sl_buf_append_str(m->out, "+PONG\r\n");
    }
    return 0;
}

static int cmd_select(cmd_t *m)
{
    long long db;
    if (m->argc != 2)
        return wrong_args(m);
    if (arg_ll(m, 1, &db) || db != 0)
        out_error(m->out, "ERR the local bus has only DB 0");
    else
        sl_buf_append_str(m->out, "+OK\r\n");
    return 0;
}

static int cmd_quit(cmd_t *m)
{
    sl_buf_append_str(m->out, "+OK\r\n");
    return 1;
}

/* SET key value [EX s | PX ms] [NX | XX] */
static int cmd_set(cmd_t *m)
{
    if (m->argc < 3)
        return wrong_args(m);
    long long ttl = 0;
    int nx = 0, xx = 0;
    for (size_t i = 3; i < m->argc; i++) {
        if ((arg_is(m, i, "EX") || arg_is(m, i, "PX")) && i + 1 < m->argc && !ttl) {
            long long v;
            if (arg_ll(m, i + 1, &v) || v <= 0 || v > (1ll << 40)) {
                out_error(m->out, "ERR invalid expire time in 'set' command");
                return 0;
            }
            ttl = arg_is(m, i, "EX") ? v * 1000 : v;
            i++;
        } else if (arg_is(m, i, "NX") && !xx) {
            nx = 1;
        } else if (arg_is(m, i, "XX") && !nx) {
            xx = 1;
        } else {
            out_error(m->out, "ERR syntax error");
            return 0;
        }
    }
    sl_bus_t *b = m->c->bus;
    redisReply *k = m->argv[1], *v = m->argv[2];
    int exists = key_find(b, k->str, k->len) != NULL;
    if ((nx && exists) || (xx && !exists)) {
        out_nil(m->out);
        return 0;
    }
    if (key_set(b, k->str, k->len, v->str, v->len, (uint64_t)ttl))
        out_error(m->out, "ERR out of memory");
    else
        sl_buf_append_str(m->out, "+OK\r\n");
    return 0;
}

static int cmd_get(cmd_t *m, int del)
{
    if (m->argc != 2)
        return wrong_args(m);
    sl_bus_t *b = m->c->bus;
    bus_key_t *k = key_find(b, m->argv[1]->str, m->argv[1]->len);
    if (!k) {
        out_nil(m->out);
        return 0;
    }
    out_bulk(m->out, k->value, k->vlen);
    if (del)
        key_unlink(b, k);
    return 0;
}

static int cmd_del(cmd_t *m, int just_count)
{
    if (m->argc < 2)
        return wrong_args(m);
    sl_bus_t *b = m->c->bus;
    long long n = 0;
    for (size_t i = 1; i < m->argc; i++) {
        bus_key_t *k = key_find(b, m->argv[i]->str, m->argv[i]->len);
        if (k) {
            n++;
            if (!just_count)
                key_unlink(b, k);
        }
    }
    out_int(m->out, n);
    return 0;
}

/* PEXPIRE / EXPIRE key t */
static int cmd_expire(cmd_t *m, int ms)
{
    long long t;
    if (m->argc != 3)
        return wrong_args(m);
    /* Bounded both ways before EXPIRE's * 1000 can overflow. */
    if (arg_ll(m, 2, &t) || t > (1ll << 40) || t < -(1ll << 40)) {
        out_error(m->out, "ERR value is not an integer or out of range");
        return 0;
    }
    sl_bus_t *b = m->c->bus;
    bus_key_t *k = key_find(b, m->argv[1]->str, m->argv[1]->len);
    if (!k) {
        out_int(m->out, 0);
        return 0;
    }
    if (!ms)
        t *= 1000;
    if (t <= 0)
        key_unlink(b, k);
    else
        k->expires_at = b->now + (uint64_t)t;
    out_int(m->out, 1);
    return 0;
}

/* PTTL / TTL key: -2 none, -1 no expiry. */
static int cmd_ttl(cmd_t *m, int ms)
{
    if (m->argc != 2)
        return wrong_args(m);
    sl_bus_t *b = m->c->bus;
    bus_key_t *k = key_find(b, m->argv[1]->str, m->argv[1]->len);
    if (!k)
        out_int(m->out, -2);
    else if (!k->expires_at)
        out_int(m->out, -1);
    else
        out_int(m->out, (long long)(ms ? k->expires_at - b->now : (k->expires_at - b->now + 999) / 1000));
    return 0;
}

/* One confirmation per name, as Redis sends them: [kind, name, count]. */
static void out_sub_reply(sl_buf_t *b, const char *kind, const char *p, size_t n, size_t count)
{
    out_array(b, 3);
    out_cstr(b, kind);
    if (p)
        out_bulk(b, p, n);
    else
        out_nil(b);
    out_int(b, (long long)count);
}

static int cmd_subscribe(cmd_t *m, int pattern)
{
    if (m->argc < 2)
        return wrong_args(m);
    sl_bus_client_t *c = m->c;
    for (size_t i = 1; i < m->argc; i++) {
        redisReply *a = m->argv[i];
        int rc = pattern ? str_list_add(&c->patterns, &c->npatterns, &c->cappatterns, a->str, a->len)
                         : str_list_add(&c->channels, &c->nchannels, &c->capchannels, a->str, a->len);
        if (rc < 0) {
            out_error(m->out, "ERR out of memory");
            return 0;
        }
        out_sub_reply(m->out, pattern ? "psubscribe" : "subscribe", a->str, a->len, sub_count(c));
    }
    return 0;
}

static int cmd_unsubscribe(cmd_t *m, int pattern)
{
    sl_bus_client_t *c = m->c;
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    bus_str_t **list = pattern ? &c->patterns : &c->channels;
    size_t *n = pattern ? &c->npatterns : &c->nchannels;
    if (m->argc == 1) { /* all of them */
        if (*n == 0)
            out_sub_reply(m->out, kind, NULL, 0, sub_count(c));
        while (*n) {
            bus_str_t s = (*list)[*n - 1];
            (*n)--;
            out_sub_reply(m->out, kind, s.p, s.len, sub_count(c));
            free(s.p);
        }
        return 0;
    }
    for (size_t i = 1; i < m->argc; i++) {
        str_list_remove(*list, n, m->argv[i]->str, m->argv[i]->len);
        out_sub_reply(m->out, kind, m->argv[i]->str, m->argv[i]->len, sub_count(c));
    }
    return 0;
}

/* Subscribers of exactly this channel. */
static long long channel_subscribers(sl_bus_t *b, const char *p, size_t n)
{
    long long count = 0;
    for (sl_bus_client_t *c = b->clients; c; c = c->next)
        count += str_list_has(c->channels, c->nchannels, p, n);
    return count;
}

static int cmd_publish(cmd_t *m)
{
    if (m->argc != 3)
        return wrong_args(m);
    redisReply *ch = m->argv[1], *msg = m->argv[2];
    long long receivers = 0;
    sl_buf_t b = SL_BUF_INIT;
    for (sl_bus_client_t *c = m->c->bus->clients; c; c = c->next) {
        sl_buf_reset(&b);
        if (str_list_has(c->channels, c->nchannels, ch->str, ch->len)) {
            out_array(&b, 3);
            out_cstr(&b, "message");
            out_bulk(&b, ch->str, ch->len);
            out_bulk(&b, msg->str, msg->len);
            receivers++;
        }
        for (size_t i = 0; i < c->npatterns; i++) {
            bus_str_t *pt = &c->patterns[i];
            if (!sl_bus_glob_match(pt->p, pt->len, ch->str, ch->len))
                continue;
            out_array(&b, 4);
            out_cstr(&b, "pmessage");
            out_bulk(&b, pt->p, pt->len);
            out_bulk(&b, ch->str, ch->len);
            out_bulk(&b, msg->str, msg->len);
            receivers++;
        }
        /* A publisher subscribed to its own channel gets the message in
         * order with the answers before it; a client that can't take more
         * is closed by its owner. */
        if (b.len && c == m->c)
            sl_buf_append(m->out, b.data, b.len);
        else if (b.len)
            c->write(c->ud, b.data, b.len);
    }
    sl_buf_free(&b);
    out_int(m->out, receivers);
    return 0;
}

/* PUBSUB NUMSUB ch... | NUMPAT | CHANNELS [pattern] */
static int cmd_pubsub(cmd_t *m)
{
    sl_bus_t *b = m->c->bus;
    if (m->argc >= 2 && arg_is(m, 1, "NUMSUB")) {
        out_array(m->out, (m->argc - 2) * 2);
        for (size_t i = 2; i < m->argc; i++) {
            out_bulk(m->out, m->argv[i]->str, m->argv[i]->len);
            out_int(m->out, channel_subscribers(b, m->argv[i]->str, m->argv[i]->len));
        }
    } else if (m->argc == 2 && arg_is(m, 1, "NUMPAT")) {
        long long n = 0;
        for (sl_bus_client_t *c = b->clients; c; c = c->next)
            n += (long long)c->npatterns;
        out_int(m->out, n);
    } else if ((m->argc == 2 || m->argc == 3) && arg_is(m, 1, "CHANNELS")) {
        /* Distinct channels with a subscriber, matching the pattern. */
        bus_str_t *seen = NULL;
        size_t nseen = 0, capseen = 0;
        for (sl_bus_client_t *c = b->clients; c; c = c->next)
            for (size_t i = 0; i < c->nchannels; i++)
                if (m->argc == 2 || sl_bus_glob_match(m->argv[2]->str, m->argv[2]->len,
                                                      c->channels[i].p, c->channels[i].len))
                    str_list_add(&seen, &nseen, &capseen, c->channels[i].p, c->channels[i].len);
        out_array(m->out, nseen);
        for (size_t i = 0; i < nseen; i++) {
            out_bulk(m->out, seen[i].p, seen[i].len);
            free(seen[i].p);
        }
        free(seen);
    } else {
        out_error(m->out, "ERR unknown or unsupported PUBSUB subcommand");
    }
    return 0;
}

typedef struct cmd_entry {
    const char *name;
    int (*fn)(cmd_t *m, int flag);
    int flag;
} cmd_entry_t;

static int do_ping(cmd_t *m, int f) { (void)f; return cmd_ping(m); }
static int do_select(cmd_t *m, int f) { (void)f; return cmd_select(m); }
static int do_quit(cmd_t *m, int f) { (void)f; return cmd_quit(m); }
static int do_set(cmd_t *m, int f) { (void)f; return cmd_set(m); }
static int do_publish(cmd_t *m, int f) { (void)f; return cmd_publish(m); }
static int do_pubsub(cmd_t *m, int f) { (void)f; return cmd_pubsub(m); }

static const cmd_entry_t commands[] = {
    {"PING", do_ping, 0},           {"SELECT", do_select, 0},
    {"QUIT", do_quit, 0},           {"SET", do_set, 0},
    {"GET", cmd_get, 0},            {"GETDEL", cmd_get, 1},
    {"DEL", cmd_del, 0},            {"EXISTS", cmd_del, 1},
    {"EXPIRE", cmd_expire, 0},      {"PEXPIRE", cmd_expire, 1},
    {"TTL", cmd_ttl, 0},            {"PTTL", cmd_ttl, 1},
    {"SUBSCRIBE", cmd_subscribe, 0}, {"PSUBSCRIBE", cmd_subscribe, 1},
    {"UNSUBSCRIBE", cmd_unsubscribe, 0}, {"PUNSUBSCRIBE", cmd_unsubscribe, 1},
    {"PUBLISH", do_publish, 0},     {"PUBSUB", do_pubsub, 0},
};

/* Runs one request (an array of strings). 1 asks to close (QUIT). */
static int run_command(sl_bus_client_t *c, redisReply *req)
{
    sl_buf_t *out = &c->out;
    if (req->elements == 0)
        return 0; /* an empty array: nothing to answer, as Redis */
    for (size_t i = 0; i < req->elements; i++) {
        if (req->element[i]->type != REDIS_REPLY_STRING) {
            out_error(out, "ERR Protocol error: expected a bulk string");
            return 0;
        }
    }
    cmd_t m = {c, req->element, req->elements, out};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (arg_is(&m, 0, commands[i].name))
            return commands[i].fn(&m, commands[i].flag);
    out_error_name(out, "ERR unknown command '%s'", req->element[0]->str, req->element[0]->len);
    return 0;
}

/* ---- clients ------------------------------------------------------------------------ */

sl_bus_t *sl_bus_new(void)
{
    sl_bus_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    sl_hashtab_init(&b->keys, key_name);
    return b;
}

void sl_bus_free(sl_bus_t *b)
{
    if (!b)
        return;
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &b->keys);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));)
        key_free(SL_CONTAINER_OF(h, bus_key_t, hnode));
    sl_hashtab_free(&b->keys);
    free(b);
}

sl_bus_client_t *sl_bus_client_new(sl_bus_t *b, sl_bus_write_cb write, void *ud)
{
    sl_bus_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->reader = sl_redis_reader_new(SL_REDIS_MAX_ELEMENTS);
    if (!c->reader) {
        free(c);
        return NULL;
    }
    c->bus = b;
    c->write = write;
    c->ud = ud;
    c->next = b->clients;
    if (b->clients)
        b->clients->prev = c;
    b->clients = c;
    return c;
}

int sl_bus_client_feed(sl_bus_client_t *c, const char *data, size_t len)
{
    if (sl_redis_reader_feed(c->reader, data, len))
        return -1;
    int rc = 0;
    while (rc == 0) {
        redisReply *reply;
        int got = sl_redis_reader_next(c->reader, &reply);
        if (got < 0) {
            /* Not RESP, or over the array cap: tell it why (as Redis
             * says "invalid multibulk length"), then the owner closes it. */
            out_protocol_error(&c->out, sl_redis_reader_error(c->reader));
            rc = -1;
            break;
        }
        if (!got)
            break;
        redisReply *req = reply;
        if (req->type != REDIS_REPLY_ARRAY) {
            /* Inline commands (telnet style) are not spoken here. */
            out_error(&c->out, "ERR Protocol error: expected an array of bulk strings");
            rc = -1;
        } else {
            rc = run_command(c, req);
        }
        freeReplyObject(req);
    }
    if (c->out.len)
        c->write(c->ud, c->out.data, c->out.len);
    sl_buf_reset(&c->out);
    if (c->out.cap > 65536)
        sl_buf_free(&c->out);
    return rc;
}

void sl_bus_client_free(sl_bus_client_t *c)
{
    if (!c)
        return;
    sl_bus_t *b = c->bus;
    if (c->prev)
        c->prev->next = c->next;
    else
        b->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    for (size_t i = 0; i < c->nchannels; i++)
        free(c->channels[i].p);
    for (size_t i = 0; i < c->npatterns; i++)
        free(c->patterns[i].p);
    free(c->channels);
    free(c->patterns);
    sl_redis_reader_free(c->reader);
    sl_buf_free(&c->out);
    free(c);
}
