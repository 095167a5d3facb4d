/* L5a cluster/redis_sub: subscriptions on one Redis or across a cluster. See redis_sub.h.
 *
 *   sub --chans (hash: kind + name)--> chan {slot, on, sent}
 *       --nodes--> snode {address, conn, up, nchans} -> snode ...
 *   chan.on: the node it is asked of; sent: the (S|P)SUBSCRIBE went out on
 *   that node's current connection (a new connection sends it again).
 *
 * Where a channel goes is decided in one place (home) from the link's map;
 * rehome() moves what is not where it should be (unsubscribing on the old
 * connection first, so a message never reaches us twice), and is run
 * after every map change. An snode lives while it holds channels or while
 * it is the node for channels and patterns; one left empty by a map change
 * is closed. Its conn is closed before it is freed, so a reply callback
 * (priv = snode) never finds it freed.
 *
 * A move may replay. The cluster bus relays a PUBLISH to each node on its
 * own link, and one node may deliver it tens of ms after another (seen:
 * ~40 ms under load, the last messages of a master killed right after).
 * A channel moved from a node that delivered a message to one that has not
 * yet gets it again there. So every message leaves a digest (kind,
 * channel, pattern, payload) in a ring, and for a while after a move a
 * message from another node than the one that left that digest is taken
 * for a replay and dropped, once per digest. The cost: an identical
 * message published again within that time, across a move, is lost; pub/sub
 * across a failover is at most once anyway, never twice. */
#include "cluster/redis_sub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashtab.h"
#include "base/log.h"
#include "cluster/redis_slots.h"

#define RETRY_MS 100 /* a channel Redis turned away is asked for again this soon */
#define SEEN_MAX 4096 /* digests of the last messages, to drop replays after a move ... */
#define SEEN_MS 1000  /* ... for this long after it, of messages this recent */

typedef struct snode snode_t;

typedef struct seen {
    uint64_t digest;
    uint64_t at;          /* loop ms */
    unsigned node;        /* the serial of the node that delivered it */
    int replayed;         /* its replay was dropped already */
} seen_t;

typedef struct chan {
    sl_hnode_t hnode;     /* in s->chans, keyed by kind + name */
    int kind;
    int slot;             /* shard channels */
    snode_t *on;
    int sent;
    int placed;           /* has been on a node */
    size_t klen;
    char key[];           /* the kind as a byte, then the name */
} chan_t;

struct snode {
    sl_redis_sub_t *s;
    char host[256];       /* "": the URL's unix socket */
    int port;
    sl_redis_conn_t *c;
    int up;
    int nchans;
    int error_logged;     /* an error reply was logged on this connection */
    unsigned serial;      /* tells the nodes apart in s->seen (a freed one's address may be reused) */
    sl_redis_health_t health;
    char shown[300];
    snode_t *next;
};

struct sl_redis_sub {
    uv_loop_t *loop;
    sl_redis_link_t *link;
    char name[32];
    unsigned ping_ms;
    sl_redis_sub_msg_cb on_msg;
    void *ud;
    sl_hashtab_t chans;
    snode_t *nodes;
    snode_t *classic;     /* where channels and patterns are held */
    unsigned nth;         /* picks the next classic node in turn */
    uv_timer_t retry;
    int closing;
    unsigned serials;
    seen_t *seen;         /* a ring of SEEN_MAX, made with the first message */
    size_t nseen, seen_next;
    uint64_t moved_at;    /* the last time a channel went to another node */
    int moved;
};

static const char *const sub_verbs[] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
static const char *const unsub_verbs[] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

static const char *label(const sl_redis_sub_t *s) { return sl_redis_link_url(s->link)->label; }

/* ---- the channel set ---------------------------------------------------------- */

static const void *chan_key(const sl_hnode_t *n, size_t *len)
{
    const chan_t *c = SL_CONTAINER_OF(n, chan_t, hnode);
    *len = c->klen;
    return c->key;
}

static chan_t *chan_find(const sl_redis_sub_t *s, int kind, const char *p, size_t n)
{
    char stack[256];
    char *k = n + 1 <= sizeof stack ? stack : malloc(n + 1);
    if (!k)
        return NULL;
    k[0] = (char)kind;
    memcpy(k + 1, p, n);
    sl_hnode_t *h = sl_hashtab_find(&s->chans, k, n + 1);
    if (k != stack)
        free(k);
    return h ? SL_CONTAINER_OF(h, chan_t, hnode) : NULL;
}

static const char *chan_name(const chan_t *c) { return c->key + 1; }
static size_t chan_len(const chan_t *c) { return c->klen - 1; }

/* ---- nodes ---------------------------------------------------------------------- */

static void on_state(sl_redis_conn_t *c, int up, const char *why, void *ud);
static void on_push(sl_redis_conn_t *c, redisReply *r, void *ud);

static snode_t *snode_get(sl_redis_sub_t *s, const char *host, int port)
{
    for (snode_t *n = s->nodes; n; n = n->next)
        if (n->port == port && !strcmp(n->host, host))
            return n;
    snode_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->s = s;
    n->serial = ++s->serials;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    sl_redis_health_init(&n->health);
    const sl_redis_url_t *u = sl_redis_link_url(s->link);
    if (sl_redis_link_cluster(s->link))
        sl_redis_addr_text(host, port, n->shown, sizeof n->shown);
    else
        sl_redis_url_text(u, n->shown, sizeof n->shown);
    sl_redis_conn_opts_t o = {.command_timeout_ms = s->ping_ms, .ping_ms = s->ping_ms, .subscriber = 1};
    static const sl_redis_conn_cbs_t cbs = {.on_state = on_state, .on_push = on_push};
    n->c = sl_redis_conn_new(s->loop, u, host[0] ? host : NULL, port, sl_redis_link_tls(s->link), &o, &cbs, n);
    if (!n->c) {
        free(n);
        return NULL;
    }
    n->next = s->nodes;
    s->nodes = n;
    return n;
}

static void snode_free(sl_redis_sub_t *s, snode_t *n)
{
    for (snode_t **pp = &s->nodes; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    }
    if (s->classic == n)
        s->classic = NULL;
    sl_redis_conn_close(n->c); /* replies still due come back now, with n alive */
    free(n);
}

/* ---- asking Redis ---------------------------------------------------------------- */

static void on_reply(void *priv, redisReply *r, const char *why);

static void ask(snode_t *n, chan_t *c, int subscribe)
{
    const char *verb = (subscribe ? sub_verbs : unsub_verbs)[c->kind];
    const char *argv[2] = {verb, chan_name(c)};
    size_t lens[2] = {strlen(verb), chan_len(c)};
    sl_redis_conn_send(n->c, on_reply, n, 2, argv, lens);
}

/* Where c belongs now, or NULL (the map does not know yet). */
static snode_t *home(sl_redis_sub_t *s, const chan_t *c)
{
    const char *host;
    int port;
    if (c->kind == SL_REDIS_SUB_SHARD && sl_redis_link_cluster(s->link)) {
        if (sl_redis_link_slot_master(s->link, c->slot, &host, &port))
            return NULL;
        return snode_get(s, host, port);
    }
    if (!s->classic && sl_redis_link_some_node(s->link, s->nth++, 0, &host, &port) == 0)
        s->classic = snode_get(s, host, port);
    return s->classic;
}

static void note_move(sl_redis_sub_t *s)
{
    s->moved = 1;
    s->moved_at = uv_now(s->loop);
}

/* Puts c on node to (NULL: nowhere yet), asking Redis as needed. */
static void place(chan_t *c, snode_t *to)
{
    if (c->on == to) {
        if (to && to->up && !c->sent) {
            ask(to, c, 1);
            c->sent = 1;
        }
        return;
    }
    if (c->on) {
        if (c->on->up && c->sent)
            ask(c->on, c, 0);
        c->on->nchans--;
    }
    c->on = to;
    c->sent = 0;
    if (to) {
        if (c->placed)
            note_move(to->s); /* had a node before: a move */
        c->placed = 1;
        to->nchans++;
        if (to->up) {
            ask(to, c, 1);
            c->sent = 1;
        }
    }
}

/* Every channel where the map says now; nodes left with nothing are
 * closed. */
static void rehome(sl_redis_sub_t *s)
{
    if (s->closing)
        return;
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &s->chans);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        chan_t *c = SL_CONTAINER_OF(h, chan_t, hnode);
        place(c, home(s, c));
    }
    snode_t *n = s->nodes, *next;
    for (; n; n = next) {
        next = n->next;
        if (!n->nchans && n != s->classic)
            snode_free(s, n);
    }
}

static void retry_cb(uv_timer_t *t) { rehome(t->data); }

static void retry_soon(sl_redis_sub_t *s)
{
    if (!s->closing && !uv_is_active((uv_handle_t *)&s->retry))
        uv_timer_start(&s->retry, retry_cb, RETRY_MS, 0);
}

static void map_changed(void *ud) { rehome(ud); }

/* ---- what the connections say ---------------------------------------------------- */

static void on_state(sl_redis_conn_t *c, int up, const char *why, void *ud)
{
    (void)c;
    snode_t *n = ud;
    sl_redis_sub_t *s = n->s;
    n->up = up;
    if (up) {
        n->error_logged = 0;
        sl_redis_health_up(&n->health, label(s), s->name, n->shown);
        sl_hashtab_iter_t it;
        sl_hashtab_iter_init(&it, &s->chans);
        for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
            chan_t *ch = SL_CONTAINER_OF(h, chan_t, hnode);
            if (ch->on == n && !ch->sent) {
                ask(n, ch, 1);
                ch->sent = 1;
            }
        }
        return;
    }
    sl_redis_health_down(&n->health, label(s), s->name, n->shown, why);
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &s->chans);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        chan_t *ch = SL_CONTAINER_OF(h, chan_t, hnode);
        if (ch->on == n)
            ch->sent = 0;
    }
    if (!sl_redis_link_cluster(s->link))
        return; /* the one server: its connection tries again */
    sl_redis_link_refresh(s->link);
    /* Channels and patterns may live on any node: move them to one that
     * answers, if there is one (else this one keeps trying). */
    const char *host;
    int port;
    if (n == s->classic && sl_redis_link_some_node(s->link, s->nth++, 1, &host, &port) == 0 &&
        (port != n->port || strcmp(host, n->host))) {
        s->classic = NULL;
        rehome(s);
    }
}

/* Whether a message from n is one another node delivered already, shortly
 * before a channel moved (see the top); notes it either way. */
static int replayed(sl_redis_sub_t *s, const snode_t *n, int kind, const redisReply *const *parts, int nparts)
{
    if (!sl_redis_link_cluster(s->link))
        return 0; /* one server: channels never move */
    uint64_t d = (uint64_t)kind;
    for (int i = 0; i < nparts; i++)
        d = d * 0x9e3779b97f4a7c15ull ^ sl_hash_bytes(parts[i]->str, parts[i]->len);
    uint64_t now = uv_now(s->loop);
    if (s->moved && now - s->moved_at < SEEN_MS) {
        for (size_t i = 0; i < s->nseen; i++) {
            seen_t *e = &s->seen[i];
            if (e->digest == d && e->node != n->serial && !e->replayed && now - e->at < SEEN_MS) {
                e->replayed = 1;
                SL_DEBUG(label(s), "%s: %s delivered a message again after a move: dropped", s->name, n->shown);
                return 1;
            }
        }
    }
    if (!s->seen && !(s->seen = calloc(SEEN_MAX, sizeof *s->seen)))
        return 0;
    s->seen[s->seen_next] = (seen_t){.digest = d, .at = now, .node = n->serial};
    s->seen_next = (s->seen_next + 1) % SEEN_MAX;
    if (s->nseen < SEEN_MAX)
        s->nseen++;
    return 0;
}

static void on_push(sl_redis_conn_t *c, redisReply *r, void *ud)
{
    (void)c;
    snode_t *n = ud;
    sl_redis_sub_t *s = n->s;
    const redisReply *k = r->element[0];
    if (k->len == 8 && !memcmp(k->str, "pmessage", 8) && r->elements >= 4) {
        if (s->on_msg && r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING &&
            r->element[3]->type == REDIS_REPLY_STRING &&
            !replayed(s, n, SL_REDIS_SUB_PATTERN, (const redisReply *const *)r->element + 1, 3))
            s->on_msg(SL_REDIS_SUB_PATTERN, r->element[2]->str, r->element[2]->len, r->element[3]->str,
                      r->element[3]->len, s->ud);
        return;
    }
    int kind = k->len == 7 && !memcmp(k->str, "message", 7)    ? SL_REDIS_SUB_CHANNEL
               : k->len == 8 && !memcmp(k->str, "smessage", 8) ? SL_REDIS_SUB_SHARD
                                                                : -1;
    const redisReply *ch = r->element[1];
    if (ch->type != REDIS_REPLY_STRING)
        return;
    if (kind >= 0) {
        if (s->on_msg && r->elements >= 3 && r->element[2]->type == REDIS_REPLY_STRING &&
            !replayed(s, n, kind, (const redisReply *const *)r->element + 1, 2))
            s->on_msg(kind, ch->str, ch->len, r->element[2]->str, r->element[2]->len, s->ud);
        return;
    }
    /* An unsubscribe nobody asked for: Redis let go of the channel (its
     * slot left the node). Ask again where the map says, once it knows. */
    kind = k->len == 12 && !memcmp(k->str, "sunsubscribe", 12) ? SL_REDIS_SUB_SHARD
           : k->len == 12 && !memcmp(k->str, "punsubscribe", 12) ? SL_REDIS_SUB_PATTERN
                                                                   : SL_REDIS_SUB_CHANNEL;
    chan_t *held = chan_find(s, kind, ch->str, ch->len);
    if (held && held->on == n) {
        SL_DEBUG(label(s), "%s: %s let go of %.*s", s->name, n->shown, (int)ch->len, ch->str);
        held->sent = 0;
        sl_redis_link_refresh(s->link);
        retry_soon(s);
    }
}

/* A confirmation, or an error: -MOVED says where the slot went (the link's
 * map learns it; the channels of that slot are asked for there). */
static void on_reply(void *priv, redisReply *r, const char *why)
{
    (void)why;
    snode_t *n = priv;
    sl_redis_sub_t *s = n->s;
    if (!r || r->type != REDIS_REPLY_ERROR || s->closing)
        return;
    int slot, port;
    char host[256];
    if (sl_redis_redirect(r->str, r->len, &slot, host, sizeof host, &port) == SL_REDIS_MOVED) {
        sl_hashtab_iter_t it;
        sl_hashtab_iter_init(&it, &s->chans);
        for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
            chan_t *ch = SL_CONTAINER_OF(h, chan_t, hnode);
            if (ch->on == n && ch->kind == SL_REDIS_SUB_SHARD && ch->slot == slot)
                ch->sent = 0;
        }
        sl_redis_link_moved(s->link, slot, host, port);
        retry_soon(s);
        return;
    }
    /* Once per connection: a Redis before 7.0 refuses every SSUBSCRIBE. */
    if (!n->error_logged)
        SL_ERROR(label(s), "%s: %s%s", s->name, r->str,
                 strstr(r->str, "unknown command") ? " (sharded pub/sub needs Redis 7)" : "");
    n->error_logged = 1;
}

/* ---- the public side -------------------------------------------------------------- */

sl_redis_sub_t *sl_redis_sub_new(uv_loop_t *loop, sl_redis_link_t *link, const char *name, unsigned ping_ms,
                                 sl_redis_sub_msg_cb on_msg, void *ud)
{
    sl_redis_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->link = link;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ping_ms = ping_ms;
    s->nth = (unsigned)(uv_hrtime() / 1000); /* a cluster's servers spread over its nodes */
    s->on_msg = on_msg;
    s->ud = ud;
    sl_hashtab_init(&s->chans, chan_key);
    uv_timer_init(loop, &s->retry);
    s->retry.data = s;
    sl_redis_link_watch(link, map_changed, s);
    return s;
}

int sl_redis_sub_add(sl_redis_sub_t *s, int kind, const char *ch, size_t len)
{
    if (s->closing || chan_find(s, kind, ch, len))
        return 0;
    chan_t *c = calloc(1, sizeof *c + len + 2);
    if (!c)
        return -ENOMEM;
    c->kind = kind;
    c->klen = len + 1;
    c->key[0] = (char)kind;
    memcpy(c->key + 1, ch, len);
    c->slot = sl_redis_keyslot(ch, len);
    if (sl_hashtab_insert(&s->chans, &c->hnode)) {
        free(c);
        return -ENOMEM;
    }
    place(c, home(s, c));
    if (!c->on)
        retry_soon(s); /* the map is not known yet: the watch will place it, or this */
    return 0;
}

void sl_redis_sub_remove(sl_redis_sub_t *s, int kind, const char *ch, size_t len)
{
    chan_t *c = chan_find(s, kind, ch, len);
    if (!c)
        return;
    place(c, NULL);
    sl_hashtab_remove(&s->chans, &c->hnode);
    free(c);
}

int sl_redis_sub_holds(const sl_redis_sub_t *s, int kind, const char *ch, size_t len)
{
    return chan_find(s, kind, ch, len) != NULL;
}

size_t sl_redis_sub_count(const sl_redis_sub_t *s) { return sl_hashtab_count(&s->chans); }

int sl_redis_sub_up(const sl_redis_sub_t *s)
{
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &s->chans);
    for (sl_hnode_t *h; (h = sl_hashtab_iter_next(&it));) {
        const chan_t *c = SL_CONTAINER_OF(h, chan_t, hnode);
        if (!c->on || !c->on->up)
            return 0;
    }
    return 1;
}

int sl_redis_sub_nodes(const sl_redis_sub_t *s)
{
    int n = 0;
    for (const snode_t *x = s->nodes; x; x = x->next)
        n++;
    return n;
}

static void sub_closed(uv_handle_t *h)
{
    sl_redis_sub_t *s = h->data;
    sl_hashtab_iter_t it;
    sl_hashtab_iter_init(&it, &s->chans);
    for (sl_hnode_t *n; (n = sl_hashtab_iter_next(&it));)
        free(SL_CONTAINER_OF(n, chan_t, hnode));
    sl_hashtab_free(&s->chans);
    free(s->seen);
    free(s);
}

void sl_redis_sub_close(sl_redis_sub_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    sl_redis_link_watch(s->link, NULL, NULL);
    while (s->nodes)
        snode_free(s, s->nodes);
    uv_close((uv_handle_t *)&s->retry, sub_closed);
}
