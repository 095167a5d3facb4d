/* L5a cluster/redis_link: a single Redis, or a Redis Cluster. See redis_link.h.
 *
 *   link --nodes[]--> lnode (one per server: seeds, then the map's nodes)
 *                       --conns[pool]--> lconn {conn, up} --conn--> redis_conn
 *        --slots[16384]--> index into nodes[] (cluster)
 *        --waits--> lreq -> lreq ...   commands waiting for a connection
 *   lreq: a command of a cluster (or a waiting one): its RESP bytes, kept
 *   until the reply so that a -MOVED / -ASK can send it again elsewhere.
 *
 * Life cycles. An lnode goes when the map drops its server: its
 * connections are drained (they answer what they have, then close, and
 * call nothing back but those replies). The link itself lives until its
 * owner closed it and every lreq is done (refs), so a reply coming to a
 * draining connection finds it. */
#include "cluster/redis_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "cluster/redis_slots.h"

#define REFRESH_MS 5000          /* the map is read again this often */
#define REFRESH_FAST_MIN_MS 250  /* ... and this often while a slot has no master that answers */
#define REFRESH_FAST_MAX_MS 1000
#define MOVED_REFRESH_MS 100     /* after a -MOVED: soon, once for a burst of them */
#define MAX_REDIRECTS 5
#define WAITS_MAX 10000
#define NO_NODE 0xffff
#define NODES_MAX (SL_REDIS_MAP_NODES_MAX + SL_REDIS_SEEDS_MAX)
#define WHY_MAX 200

enum { L_CONNECTING, L_UP, L_DOWN };

typedef struct lnode lnode_t;

typedef struct lconn {
    lnode_t *n;
    sl_redis_conn_t *c;
    int up;
} lconn_t;

struct lnode {
    sl_redis_link_t *l;
    int idx;              /* in l->nodes */
    char host[256];       /* "": the URL's unix socket */
    int port;
    int master, replica;  /* its role in the current map (a single server: master) */
    int of;               /* a replica: the index of its master */
    int mark;             /* apply_map: seen in the new map */
    lconn_t *conns;       /* NULL until connected */
    int nconns, nup;
    unsigned rr;
    int down;             /* every connection failed since one was last up */
    sl_redis_health_t health;
    char why[WHY_MAX];
    char shown[640];      /* for logs: the URL (single) or host:port */
};

typedef struct lreq {
    sl_redis_link_t *l;
    sl_redis_reply_cb fn;
    void *priv;
    int slot;             /* -1: no key */
    lnode_t *node;        /* sent to this node (a count, an ASK), else by slot */
    int n, got;           /* commands, replies so far */
    int redirects;
    int ask;              /* ASKING first */
    int follow;           /* one command: follows -MOVED and -ASK */
    uint64_t deadline;    /* while waiting */
    struct lreq *next;    /* in l->waits */
    size_t len;
    char bytes[];
} lreq_t;

struct sl_redis_link {
    uv_loop_t *loop;
    sl_redis_url_t url;
    sl_tls_ctx_t *tls;
    sl_redis_link_opts_t o;
    char name[32];
    char shown[640];
    sl_redis_link_state_cb cb;
    void *ud;
    int cluster;
    lnode_t *nodes[NODES_MAX];
    int nnodes;           /* high water mark: nodes[] may have holes */
    uint16_t *slots;      /* cluster */
    int map_known;
    int state;
    int closing;          /* closed or draining: no new command */
    int refs;             /* the owner, each lreq, the two timers */
    char why[WHY_MAX];    /* why a command was refused: "redis unavailable: ..." */
    char cause[WHY_MAX];  /* the last failure, as the connection told it */
    lreq_t *waits, *waits_tail;
    int nwaits;
    uv_timer_t wait_timer;
    uv_timer_t refresh_timer;
    int refreshing;       /* a CLUSTER SLOTS in flight */
    int refresh_again;    /* asked for while one was in flight */
    int refresh_failed;
    int map_error_logged;
    int use_slots;        /* CLUSTER SHARDS is unknown (Redis 6): CLUSTER SLOTS */
    unsigned fast_ms;     /* the next refresh delay while degraded */
    int degraded, outage_logged;
    uint64_t degraded_since;
    unsigned rr;          /* the next node asked for the map */
    unsigned keyless;     /* where commands with no key go */
    void (*watch)(void *);
    void *watch_ud;
};

static void refresh_now(sl_redis_link_t *l);
static void refresh_timer_cb(uv_timer_t *t) { refresh_now(t->data); }
static void state_update(sl_redis_link_t *l);
static void waits_dispatch(sl_redis_link_t *l);
static int send_req(sl_redis_link_t *l, lreq_t *q, unsigned flags);

static const char *label(const sl_redis_link_t *l) { return l->url.label[0] ? l->url.label : "redis"; }

/* ---- the link's memory -------------------------------------------------------- */

static void link_unref(sl_redis_link_t *l)
{
    if (--l->refs > 0)
        return;
    sl_tls_ctx_unref(l->tls);
    free(l->slots);
    free(l);
}

static void timer_closed(uv_handle_t *h) { link_unref(h->data); }

static lreq_t *lreq_new(sl_redis_link_t *l, sl_redis_reply_cb fn, void *priv, size_t len, int n)
{
    lreq_t *q = calloc(1, sizeof *q + len);
    if (!q)
        return NULL;
    q->l = l;
    q->fn = fn;
    q->priv = priv;
    q->n = n;
    q->slot = -1;
    q->len = len;
    l->refs++;
    return q;
}

static void lreq_free(lreq_t *q)
{
    sl_redis_link_t *l = q->l;
    free(q);
    link_unref(l);
}

/* Fails q (fn once per command not answered yet) and frees it. */
static void lreq_fail(lreq_t *q, const char *why)
{
    while (q->got < q->n) {
        q->got++;
        if (q->fn)
            q->fn(q->priv, NULL, why);
    }
    lreq_free(q);
}

/* ---- nodes ------------------------------------------------------------------------ */

static lnode_t *node_find(const sl_redis_link_t *l, const char *host, int port)
{
    for (int i = 0; i < l->nnodes; i++) {
        lnode_t *n = l->nodes[i];
        if (n && n->port == port && !strcmp(n->host, host))
            return n;
    }
    return NULL;
}

static lnode_t *node_add(sl_redis_link_t *l, const char *host, int port)
{
    int i = 0;
    while (i < l->nnodes && l->nodes[i])
        i++;
    if (i == NODES_MAX)
        return NULL;
    lnode_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->l = l;
    n->idx = i;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    sl_redis_health_init(&n->health);
    if (l->cluster)
        sl_redis_addr_text(host, port, n->shown, sizeof n->shown);
    else
        snprintf(n->shown, sizeof n->shown, "%s", l->shown);
    l->nodes[i] = n;
    if (i == l->nnodes)
        l->nnodes++;
    return n;
}

static lnode_t *node_get(sl_redis_link_t *l, const char *host, int port)
{
    lnode_t *n = node_find(l, host, port);
    return n ? n : node_add(l, host, port);
}

static void on_conn_state(sl_redis_conn_t *c, int up, const char *why, void *ud);

/* Opens the node's connections, if it has none. */
static void node_connect(lnode_t *n)
{
    sl_redis_link_t *l = n->l;
    if (n->conns || l->closing)
        return;
    int pool = l->o.pool > 0 ? l->o.pool : 1;
    if (!(n->conns = calloc((size_t)pool, sizeof *n->conns)))
        return;
    sl_redis_conn_opts_t co = {
        .connect_timeout_ms = l->o.connect_timeout_ms,
        .command_timeout_ms = l->o.command_timeout_ms,
    };
    static const sl_redis_conn_cbs_t cbs = {.on_state = on_conn_state};
    for (int i = 0; i < pool; i++) {
        lconn_t *lc = &n->conns[n->nconns];
        lc->n = n;
        lc->c = sl_redis_conn_new(l->loop, &l->url, n->host[0] ? n->host : NULL, n->port, l->tls, &co, &cbs, lc);
        if (lc->c)
            n->nconns++;
    }
}

/* An up connection of n, the one with the fewest replies due (round robin
 * among equals), or NULL. */
static lconn_t *node_pick(lnode_t *n)
{
    lconn_t *best = NULL;
    for (int k = 0; k < n->nconns; k++) {
        lconn_t *lc = &n->conns[(n->rr + (unsigned)k) % (unsigned)n->nconns];
        if (lc->up && (!best || sl_redis_conn_pending(lc->c) < sl_redis_conn_pending(best->c)))
            best = lc;
    }
    if (best)
        n->rr = (unsigned)(best - n->conns) + 1;
    return best;
}

/* Worth waiting for: its connections are being made and none failed. */
static int node_connecting(const lnode_t *n)
{
    if (n->nup || n->down)
        return 0;
    if (!n->conns)
        return 1; /* opened on demand: about to be made */
    for (int i = 0; i < n->nconns; i++)
        if (sl_redis_conn_connecting(n->conns[i].c))
            return 1;
    return 0;
}

static void waits_fail_node(sl_redis_link_t *l, lnode_t *n, const char *why);

/* The map no longer has n: its connections answer what they were asked,
 * then close; commands waiting for it fail. */
static void node_remove(lnode_t *n, int drain)
{
    sl_redis_link_t *l = n->l;
    l->nodes[n->idx] = NULL;
    waits_fail_node(l, n, "redis unavailable: the node left the cluster");
    for (int i = 0; i < n->nconns; i++) {
        if (drain)
            sl_redis_conn_drain(n->conns[i].c);
        else
            sl_redis_conn_close(n->conns[i].c);
    }
    free(n->conns);
    free(n);
}

/* ---- state --------------------------------------------------------------------------- */

static int cluster_up(const sl_redis_link_t *l)
{
    if (!l->map_known)
        return 0;
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i] && l->nodes[i]->master && l->nodes[i]->nup)
            return 1;
    return 0;
}

static int any_down(const sl_redis_link_t *l)
{
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i] && l->nodes[i]->down)
            return 1;
    return l->refresh_failed;
}

static void waits_fail_all(sl_redis_link_t *l, const char *why);

/* Tells the owner of a change: up, or down (also the first failure). */
static void state_update(sl_redis_link_t *l)
{
    if (l->closing)
        return;
    int up = l->cluster ? cluster_up(l) : l->nodes[0] && l->nodes[0]->nup > 0;
    int st = up ? L_UP : any_down(l) || l->state == L_UP ? L_DOWN : l->state;
    if (st == l->state)
        return;
    l->state = st;
    if (st == L_DOWN) {
        if (!l->why[0])
            snprintf(l->why, sizeof l->why, "redis unavailable: not connected");
        waits_fail_all(l, l->why);
    }
    if (l->cb)
        l->cb(l, up, l->cause[0] ? l->cause : "not connected", l->ud);
}

/* A slot has no master, or its master is down: the map is read often until
 * that ends (a failover), and the end is logged once if the start was. */
static void check_degraded(sl_redis_link_t *l)
{
    if (!l->cluster || l->closing)
        return;
    int deg = !l->map_known;
    for (int s = 0; s < SL_REDIS_SLOTS && !deg; s++) {
        lnode_t *n = l->slots[s] == NO_NODE ? NULL : l->nodes[l->slots[s]];
        deg = !n || n->down;
    }
    uint64_t now = uv_now(l->loop);
    if (deg && !l->degraded) {
        l->degraded = 1;
        l->degraded_since = now;
        l->fast_ms = REFRESH_FAST_MIN_MS;
    } else if (!deg && l->degraded) {
        l->degraded = 0;
        if (l->outage_logged && !l->o.quiet)
            SL_INFO(label(l), "%s: every slot has a master that answers again, after %.1f s", l->name,
                    (double)(now - l->degraded_since) / 1000.0);
        l->outage_logged = 0;
    }
}

/* The next reading of the map: soon while degraded, else in 5 s. */
static void schedule_refresh(sl_redis_link_t *l)
{
    if (!l->cluster || l->closing)
        return;
    unsigned ms = REFRESH_MS;
    if (l->degraded) {
        ms = l->fast_ms;
        l->fast_ms = l->fast_ms * 2 > REFRESH_FAST_MAX_MS ? REFRESH_FAST_MAX_MS : l->fast_ms * 2;
    }
    uv_timer_start(&l->refresh_timer, refresh_timer_cb, ms, 0);
}

static void on_conn_state(sl_redis_conn_t *c, int up, const char *why, void *ud)
{
    (void)c;
    lconn_t *lc = ud;
    lnode_t *n = lc->n;
    sl_redis_link_t *l = n->l;
    if (up) {
        if (!lc->up) {
            lc->up = 1;
            n->nup++;
        }
        n->down = 0;
        /* A cluster's nodes are named in one line, with the map; each is
         * named again only when it comes back from an outage. */
        if (l->cluster && !n->health.ever_up)
            n->health.ever_up = 1;
        else if (!l->o.quiet)
            sl_redis_health_up(&n->health, label(l), l->name, n->shown);
        if (l->cluster && (!l->map_known || l->refresh_failed))
            refresh_now(l);
        check_degraded(l);
        waits_dispatch(l);
        state_update(l);
        return;
    }
    if (lc->up) {
        lc->up = 0;
        n->nup--;
    }
    snprintf(n->why, sizeof n->why, "%s", why);
    snprintf(l->why, sizeof l->why, "redis unavailable: %.170s", why);
    snprintf(l->cause, sizeof l->cause, "%s", why);
    if (n->nup == 0 && !n->down) {
        n->down = 1;
        int was_master = l->cluster && n->master;
        if (!l->o.quiet && sl_redis_health_down(&n->health, label(l), l->name, n->shown, why) && was_master)
            l->outage_logged = 1;
        if (was_master)
            check_degraded(l);
        char msg[WHY_MAX + 24];
        snprintf(msg, sizeof msg, "redis unavailable: %s", why);
        waits_fail_node(l, n, msg); /* n may be gone after this (a callback closed l) */
        if (l->closing)
            return;
        if (was_master)
            refresh_now(l); /* a replica may be promoted: find out as soon as the cluster says */
    }
    state_update(l);
}

/* ---- waiting for a connection ----------------------------------------------------- */

static void wait_timer_cb(uv_timer_t *t);

static int park(sl_redis_link_t *l, lreq_t *q)
{
    if (l->nwaits >= WAITS_MAX) {
        snprintf(l->why, sizeof l->why, "redis unavailable: %d commands wait already", WAITS_MAX);
        return -1;
    }
    /* A backstop: the connection's own connect timeout comes first and
     * fails the waits with its reason. */
    unsigned ms = 2 * (l->o.connect_timeout_ms ? l->o.connect_timeout_ms : 3000) + 100;
    q->deadline = uv_now(l->loop) + ms;
    q->next = NULL;
    if (l->waits_tail)
        l->waits_tail->next = q;
    else
        l->waits = q;
    l->waits_tail = q;
    l->nwaits++;
    if (!uv_is_active((uv_handle_t *)&l->wait_timer))
        uv_timer_start(&l->wait_timer, wait_timer_cb, ms, 0);
    return 0;
}

/* Takes the whole list (so that callbacks may park new ones). */
static lreq_t *waits_take(sl_redis_link_t *l)
{
    lreq_t *all = l->waits;
    l->waits = l->waits_tail = NULL;
    l->nwaits = 0;
    uv_timer_stop(&l->wait_timer);
    return all;
}

static lnode_t *target(sl_redis_link_t *l, const lreq_t *q);

/* Sends what can go now, keeps what still has reason to wait, fails the
 * rest. */
static void waits_dispatch(sl_redis_link_t *l)
{
    lreq_t *q = waits_take(l), *next;
    for (; q; q = next) {
        next = q->next;
        if (send_req(l, q, SL_REDIS_WAIT) != 0)
            lreq_fail(q, l->why);
    }
}

static void waits_fail_node(sl_redis_link_t *l, lnode_t *n, const char *why)
{
    lreq_t *q = waits_take(l), *next;
    for (; q; q = next) {
        next = q->next;
        if (target(l, q) == n)
            lreq_fail(q, why);
        else if (park(l, q))
            lreq_fail(q, l->why);
    }
}

static void waits_fail_all(sl_redis_link_t *l, const char *why)
{
    lreq_t *q = waits_take(l), *next;
    for (; q; q = next) {
        next = q->next;
        lreq_fail(q, why);
    }
}

static void wait_timer_cb(uv_timer_t *t)
{
    sl_redis_link_t *l = t->data;
    uint64_t now = uv_now(l->loop);
    lreq_t *q = waits_take(l), *next;
    for (; q; q = next) {
        next = q->next;
        if (now >= q->deadline) {
            lreq_fail(q, l->why[0] ? l->why : "redis unavailable: not connected in time");
        } else {
            uint64_t d = q->deadline;
            park(l, q);
            q->deadline = d;
        }
    }
    if (l->waits)
        uv_timer_start(&l->wait_timer, wait_timer_cb, l->waits->deadline > now ? l->waits->deadline - now : 0, 0);
}

/* ---- routing --------------------------------------------------------------------------- */

static lnode_t *slot_node(const sl_redis_link_t *l, int slot)
{
    return l->slots[slot] == NO_NODE ? NULL : l->nodes[l->slots[slot]];
}

/* Where a command with no key goes (PUBLISH above all): the same master as
 * long as it answers, so that what one server publishes stays in order
 * (the cluster bus carries a node's messages in order); the next one that
 * answers when it does not; else one being connected to. Each link starts
 * at a random master, so a cluster's servers spread over them. */
static lnode_t *any_master(sl_redis_link_t *l)
{
    lnode_t *waiting = NULL;
    for (int k = 0; k < l->nnodes; k++) {
        lnode_t *n = l->nodes[(l->keyless + (unsigned)k) % (unsigned)l->nnodes];
        if (!n || !n->master)
            continue;
        if (n->nup) {
            l->keyless = (unsigned)n->idx;
            return n;
        }
        if (!waiting && node_connecting(n))
            waiting = n;
    }
    return waiting;
}

static lnode_t *target(sl_redis_link_t *l, const lreq_t *q)
{
    if (q->node)
        return q->node;
    if (!l->cluster)
        return l->nodes[0];
    if (!l->map_known)
        return NULL;
    return q->slot >= 0 ? slot_node(l, q->slot) : any_master(l);
}

static void lreq_reply(void *priv, redisReply *r, const char *why);

/* Sends q to where it goes now, or parks it (SL_REDIS_WAIT) while that is
 * being connected to. 0, or -1 with l->why set (q untouched). */
static int send_req(sl_redis_link_t *l, lreq_t *q, unsigned flags)
{
    if (l->closing) {
        snprintf(l->why, sizeof l->why, "redis closed");
        return -1;
    }
    lnode_t *n = target(l, q);
    if (n) {
        node_connect(n);
        lconn_t *lc = node_pick(n);
        if (lc) {
            static const char *const asking[] = {"ASKING"};
            static const size_t asking_len[] = {6};
            if (q->ask && sl_redis_conn_send(lc->c, NULL, NULL, 1, asking, asking_len))
                goto refused;
            q->ask = 0;
            if (sl_redis_conn_send_resp(lc->c, lreq_reply, q, q->bytes, q->len, q->n - q->got) == 0)
                return 0;
        }
    }
    if ((flags & SL_REDIS_WAIT) && (n ? node_connecting(n) : l->state == L_CONNECTING))
        return park(l, q);
refused:
    if (n && n->why[0])
        snprintf(l->why, sizeof l->why, "redis unavailable: %.170s", n->why);
    else if (l->cluster && l->map_known && q->slot >= 0 && !n)
        snprintf(l->why, sizeof l->why, "redis unavailable: no master serves slot %d", q->slot);
    else if (!l->why[0])
        snprintf(l->why, sizeof l->why, "redis unavailable: not connected");
    return -1;
}

static void learn_moved(sl_redis_link_t *l, int slot, lnode_t *n);

/* A reply to a command of a cluster (or one that waited): a redirection is
 * followed, anything else goes to the caller. */
static void lreq_reply(void *priv, redisReply *r, const char *why)
{
    lreq_t *q = priv;
    sl_redis_link_t *l = q->l;
    int slot, port;
    char host[256];
    int kind = r && r->type == REDIS_REPLY_ERROR && l->cluster && !l->closing
                   ? sl_redis_redirect(r->str, r->len, &slot, host, sizeof host, &port)
                   : SL_REDIS_NOT_REDIRECT;
    lnode_t *to = kind ? node_get(l, host, port) : NULL;
    if (kind == SL_REDIS_MOVED && to)
        learn_moved(l, slot, to);
    if (to && q->follow && q->redirects < MAX_REDIRECTS) {
        q->redirects++;
        q->node = kind == SL_REDIS_ASK ? to : NULL;
        q->ask = kind == SL_REDIS_ASK;
        if (send_req(l, q, SL_REDIS_WAIT) != 0)
            lreq_fail(q, l->why);
        return;
    }
    q->got++;
    if (q->fn)
        q->fn(q->priv, r, why);
    if (q->got == q->n)
        lreq_free(q);
}

/* ---- the slot map --------------------------------------------------------------------- */

static void notify_watch(sl_redis_link_t *l)
{
    if (l->watch)
        l->watch(l->watch_ud);
}

static void learn_moved(sl_redis_link_t *l, int slot, lnode_t *n)
{
    if (l->slots[slot] == n->idx)
        return;
    SL_DEBUG(label(l), "%s: slot %d moved to %s", l->name, slot, n->shown);
    l->slots[slot] = (uint16_t)n->idx;
    if (!n->master) {
        n->master = 1;
        n->replica = 0;
    }
    node_connect(n);
    /* One reading of the map for a burst of redirections. */
    if (!l->refreshing && (!uv_is_active((uv_handle_t *)&l->refresh_timer) ||
                           uv_timer_get_due_in(&l->refresh_timer) > MOVED_REFRESH_MS))
        uv_timer_start(&l->refresh_timer, refresh_timer_cb, MOVED_REFRESH_MS, 0);
    notify_watch(l);
}

/* The ranges whose master changed, one line each (the first few). */
static void log_changes(sl_redis_link_t *l, const uint16_t *old, const uint16_t *now_slots,
                        const sl_redis_map_t *m, const int *idx)
{
    (void)idx;
    int lines = 0;
    for (int s = 0; s < SL_REDIS_SLOTS;) {
        if (old[s] == now_slots[s]) {
            s++;
            continue;
        }
        int e = s;
        while (e + 1 < SL_REDIS_SLOTS && old[e + 1] == old[s] && now_slots[e + 1] == now_slots[s])
            e++;
        if (lines++ < 8) {
            const lnode_t *a = old[s] == NO_NODE ? NULL : l->nodes[old[s]];
            const lnode_t *b = now_slots[s] == NO_NODE ? NULL : l->nodes[now_slots[s]];
            SL_INFO(label(l), "%s: slots %d-%d: %s -> %s", l->name, s, e, a ? a->shown : "(none)",
                    b ? b->shown : "(none)");
        }
        s = e + 1;
    }
    if (lines > 8)
        SL_INFO(label(l), "%s: and %d more slot ranges changed", l->name, lines - 8);
    (void)m;
}

static void apply_map(sl_redis_link_t *l, const sl_redis_map_t *m)
{
    int idx[SL_REDIS_MAP_NODES_MAX];
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i])
            l->nodes[i]->mark = 0;
    for (int i = 0; i < m->nnodes; i++) {
        lnode_t *n = node_get(l, m->nodes[i].host, m->nodes[i].port);
        idx[i] = n ? n->idx : NO_NODE;
        if (!n)
            continue;
        n->mark = 1;
        n->master = m->nodes[i].master < 0;
        n->replica = !n->master;
    }
    for (int i = 0; i < m->nnodes; i++)
        if (idx[i] != NO_NODE && m->nodes[i].master >= 0)
            l->nodes[idx[i]]->of = idx[m->nodes[i].master];
    uint16_t *fresh = malloc(SL_REDIS_SLOTS * sizeof *fresh);
    if (!fresh)
        return;
    for (int s = 0; s < SL_REDIS_SLOTS; s++)
        fresh[s] = m->slot[s] >= 0 ? (uint16_t)idx[m->slot[s]] : NO_NODE;
    /* Servers the map no longer has (seeds named otherwise included). */
    for (int i = 0; i < l->nnodes; i++) {
        lnode_t *n = l->nodes[i];
        if (n && !n->mark) {
            for (int s = 0; s < SL_REDIS_SLOTS; s++)
                if (l->slots[s] == i)
                    l->slots[s] = NO_NODE;
            node_remove(n, 1);
        }
    }
    int changed = memcmp(fresh, l->slots, SL_REDIS_SLOTS * sizeof *fresh) != 0;
    if (!l->map_known) {
        char list[512] = "";
        size_t o = 0;
        for (int i = 0; i < l->nnodes && o < sizeof list; i++)
            if (l->nodes[i] && l->nodes[i]->master)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", l->nodes[i]->shown);
        if (!l->o.quiet)
            SL_INFO(label(l), "%s: Redis Cluster of %d masters (%s) and %d replicas, %d of 16384 slots served",
                    l->name, m->nmasters, list, m->nnodes - m->nmasters, sl_redis_map_covered(m));
    } else if (changed && !l->o.quiet) {
        log_changes(l, l->slots, fresh, m, idx);
    }
    memcpy(l->slots, fresh, SL_REDIS_SLOTS * sizeof *fresh);
    free(fresh);
    l->map_known = 1;
    l->refresh_failed = 0;
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i] && (l->nodes[i]->master || l->o.all_nodes))
            node_connect(l->nodes[i]);
    check_degraded(l);
    if (changed)
        notify_watch(l);
    waits_dispatch(l);
    state_update(l);
}

typedef struct slots_req {
    sl_redis_link_t *l;
    char host[256];
} slots_req_t;

static void on_slots(void *priv, redisReply *r, const char *why)
{
    slots_req_t *rq = priv;
    sl_redis_link_t *l = rq->l;
    l->refreshing = 0;
    if (!l->closing) {
        sl_redis_map_t *m = malloc(sizeof *m);
        char err[160];
        if (!m) {
            snprintf(err, sizeof err, "out of memory");
        } else if (!r) {
            snprintf(err, sizeof err, "%s", why);
        } else if (r->type == REDIS_REPLY_ERROR && !l->use_slots && strstr(r->str, "subcommand")) {
            l->use_slots = 1; /* before Redis 7: CLUSTER SLOTS */
            l->refresh_again = 1;
            err[0] = '\0';
        } else if (sl_redis_map_parse(m, r, rq->host, l->url.tls, err, sizeof err) == 0) {
            apply_map(l, m);
            err[0] = '\0';
        }
        free(m);
        if (err[0]) {
            SL_DEBUG(label(l), "%s: reading the slot map from %s failed: %s", l->name, rq->host, err);
            if (!l->map_known) {
                l->refresh_failed = 1;
                snprintf(l->why, sizeof l->why, "redis unavailable: %s", err);
                snprintf(l->cause, sizeof l->cause, "%s", err);
                if (r && r->type == REDIS_REPLY_ERROR && !l->o.quiet && !l->map_error_logged)
                    SL_ERROR(label(l), "%s: %s (is this server a Redis Cluster node?)", l->name, err);
                l->map_error_logged = 1;
                state_update(l);
            }
        }
        if (l->refresh_again) {
            l->refresh_again = 0;
            refresh_now(l);
        } else if (!l->closing && !l->refreshing) {
            schedule_refresh(l);
        }
    }
    free(rq);
    link_unref(l);
}

/* Asks a node that answers for CLUSTER SLOTS (in turn, so a node that
 * gives stale answers is not the only one asked); with none up, connects
 * to every node known, and asks the first one that comes up. */
static void refresh_now(sl_redis_link_t *l)
{
    if (!l->cluster || l->closing)
        return;
    if (l->refreshing) {
        l->refresh_again = 1;
        return;
    }
    uv_timer_stop(&l->refresh_timer);
    lnode_t *n = NULL;
    for (int k = 0; k < l->nnodes && !n; k++) {
        lnode_t *c = l->nodes[(l->rr + (unsigned)k) % (unsigned)l->nnodes];
        if (c && c->nup)
            n = c;
    }
    if (!n) {
        for (int i = 0; i < l->nnodes; i++)
            if (l->nodes[i])
                node_connect(l->nodes[i]);
        l->refresh_failed = l->refresh_failed || !l->map_known;
        schedule_refresh(l);
        return;
    }
    l->rr = (unsigned)n->idx + 1;
    slots_req_t *rq = calloc(1, sizeof *rq);
    lconn_t *lc = node_pick(n);
    const char *cmd[] = {"CLUSTER", l->use_slots ? "SLOTS" : "SHARDS"};
    const size_t len[] = {7, strlen(cmd[1])};
    if (!rq || !lc || sl_redis_conn_send(lc->c, on_slots, rq, 2, cmd, len)) {
        free(rq);
        schedule_refresh(l);
        return;
    }
    snprintf(rq->host, sizeof rq->host, "%s", n->host);
    rq->l = l;
    l->refs++;
    l->refreshing = 1;
}

/* ---- commands ----------------------------------------------------------------------- */

static int slot_of(int argc, const char *const *argv, const size_t *lens)
{
    const char *key;
    size_t klen;
    return sl_redis_command_key(argc, argv, lens, &key, &klen) ? sl_redis_keyslot(key, klen) : -1;
}

/* What every command starts with: -1 when the link is closing (why says
 * so); else 0, with *direct the connection to use at once (one server
 * with a connection up), or NULL (the routed, maybe waiting, way). */
static int command_start(sl_redis_link_t *l, lconn_t **direct)
{
    *direct = NULL;
    if (l->closing) {
        snprintf(l->why, sizeof l->why, "redis closed");
        return -1;
    }
    if (!l->cluster && l->nodes[0])
        *direct = node_pick(l->nodes[0]);
    return 0;
}

int sl_redis_link_command(sl_redis_link_t *l, sl_redis_reply_cb fn, void *priv, int argc, const char *const *argv,
                          const size_t *lens, unsigned flags)
{
    lconn_t *lc;
    if (command_start(l, &lc))
        return -1;
    if (lc)
        return sl_redis_conn_send(lc->c, fn, priv, argc, argv, lens);
    size_t len = sl_redis_resp_len(argc, lens);
    lreq_t *q = lreq_new(l, fn, priv, len + 1, 1);
    if (!q) {
        snprintf(l->why, sizeof l->why, "redis unavailable: out of memory");
        return -1;
    }
    sl_redis_resp_write(q->bytes, argc, argv, lens);
    q->len = len;
    q->follow = 1;
    if (l->cluster)
        q->slot = slot_of(argc, argv, lens);
    if (send_req(l, q, flags) != 0) {
        lreq_free(q);
        return -1;
    }
    return 0;
}

/* The arguments of the RESP command at *p (one that this process wrote:
 * well formed), up to max of them; moves *p past it. */
static int resp_args(const char **p, const char *end, const char **argv, size_t *lens, int max)
{
    const char *s = *p;
    if (s >= end || *s != '*')
        return -1;
    int argc = atoi(s + 1);
    s = memchr(s, '\n', (size_t)(end - s));
    if (!s)
        return -1;
    s++;
    int kept = 0;
    for (int i = 0; i < argc; i++) {
        if (s >= end || *s != '$')
            return -1;
        size_t n = (size_t)strtoul(s + 1, NULL, 10);
        s = memchr(s, '\n', (size_t)(end - s));
        if (!s || (size_t)(end - s - 1) < n + 2)
            return -1;
        s++;
        if (kept < max) {
            argv[kept] = s;
            lens[kept++] = n;
        }
        s += n + 2;
    }
    *p = s;
    return kept;
}

int sl_redis_link_command_resp(sl_redis_link_t *l, sl_redis_reply_cb fn, void *priv, const char *resp,
                               size_t len, int n, unsigned flags)
{
    lconn_t *lc;
    if (command_start(l, &lc))
        return -1;
    if (lc)
        return sl_redis_conn_send_resp(lc->c, fn, priv, resp, len, n);
    lreq_t *q = lreq_new(l, fn, priv, len, n);
    if (!q) {
        snprintf(l->why, sizeof l->why, "redis unavailable: out of memory");
        return -1;
    }
    memcpy(q->bytes, resp, len);
    q->follow = n == 1;
    if (l->cluster) {
        const char *p = resp, *end = resp + len;
        const char *argv[64];
        size_t lens[64];
        for (int i = 0; i < n && q->slot < 0; i++) {
            int argc = resp_args(&p, end, argv, lens, 64);
            if (argc <= 0)
                break;
            q->slot = slot_of(argc, argv, lens);
        }
    }
    if (send_req(l, q, flags) != 0) {
        lreq_free(q);
        return -1;
    }
    return 0;
}

/* ---- counting subscribers ------------------------------------------------------------- */

typedef struct count {
    sl_redis_count_cb fn;
    void *priv;
    long total;
    int left, answered;
} count_t;

static void count_part(void *priv, redisReply *r, const char *why)
{
    (void)why;
    count_t *k = priv;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER) {
        k->total += (long)r->element[1]->integer;
        k->answered++;
    }
    if (--k->left > 0)
        return;
    k->fn(k->priv, k->answered ? k->total : -1);
    free(k);
}

int sl_redis_link_numsub(sl_redis_link_t *l, int sharded, const char *ch, size_t len, sl_redis_count_cb fn,
                         void *priv)
{
    if (l->closing || (l->cluster && !l->map_known)) {
        snprintf(l->why, sizeof l->why, l->closing ? "redis closed" : "redis unavailable: not connected");
        return -1;
    }
    const char *argv[3] = {"PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", ch};
    size_t lens[3] = {6, strlen(argv[1]), len};
    size_t rlen = sl_redis_resp_len(3, lens);
    count_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(l->why, sizeof l->why, "redis unavailable: out of memory");
        return -1;
    }
    k->fn = fn;
    k->priv = priv;
    k->left = 1; /* held until every part is sent */
    int master = sharded && l->cluster ? l->slots[sl_redis_keyslot(ch, len)] : NO_NODE;
    for (int i = 0; i < l->nnodes; i++) {
        lnode_t *n = l->nodes[i];
        if (!n || (l->cluster && !(sharded ? n->idx == master || (n->replica && n->of == master)
                                           : n->master || n->replica)))
            continue;
        lreq_t *q = lreq_new(l, count_part, k, rlen + 1, 1);
        if (!q)
            continue;
        sl_redis_resp_write(q->bytes, 3, argv, lens);
        q->len = rlen;
        q->node = n;
        k->left++;
        if (send_req(l, q, SL_REDIS_WAIT) != 0) {
            lreq_free(q);
            k->left--;
        }
    }
    if (--k->left > 0)
        return 0; /* the replies come later, never inside this call */
    free(k);
    return -1;
}

/* ---- what redis_sub needs ------------------------------------------------------------ */

int sl_redis_link_cluster(const sl_redis_link_t *l) { return l->cluster; }
const sl_redis_url_t *sl_redis_link_url(const sl_redis_link_t *l) { return &l->url; }
sl_tls_ctx_t *sl_redis_link_tls(const sl_redis_link_t *l) { return l->tls; }

int sl_redis_link_slot_master(const sl_redis_link_t *l, int slot, const char **host, int *port)
{
    const lnode_t *n = l->cluster && l->map_known && slot >= 0 && slot < SL_REDIS_SLOTS ? slot_node(l, slot) : NULL;
    if (!n)
        return -1;
    *host = n->host;
    *port = n->port;
    return 0;
}

int sl_redis_link_some_node(const sl_redis_link_t *l, unsigned nth, int up_only, const char **host, int *port)
{
    const lnode_t *pick[NODES_MAX];
    int np = 0;
    /* Not before the map says which nodes are masters: a message published
     * on a master reaches a replica's subscribers ten times later (the
     * cluster bus relays it there) than another master's. */
    if (l->cluster && !l->map_known)
        return -1;
    /* Masters that answer, masters, then any node that answers, any node. */
    for (int pass = 0; pass < 4 && !np; pass++) {
        if (up_only && (pass == 1 || pass == 3))
            continue;
        for (int i = 0; i < l->nnodes; i++) {
            const lnode_t *n = l->nodes[i];
            if (n && (n->master || !l->cluster || pass >= 2) && (n->nup || pass % 2))
                pick[np++] = n;
        }
    }
    if (!np)
        return -1;
    *host = pick[nth % (unsigned)np]->host;
    *port = pick[nth % (unsigned)np]->port;
    return 0;
}

void sl_redis_link_moved(sl_redis_link_t *l, int slot, const char *host, int port)
{
    if (!l->cluster || l->closing || slot < 0 || slot >= SL_REDIS_SLOTS)
        return;
    lnode_t *n = node_get(l, host, port);
    if (n)
        learn_moved(l, slot, n);
}

void sl_redis_link_refresh(sl_redis_link_t *l) { refresh_now(l); }

void sl_redis_link_watch(sl_redis_link_t *l, void (*fn)(void *ud), void *ud)
{
    l->watch = fn;
    l->watch_ud = ud;
}

/* ---- life cycle ------------------------------------------------------------------------ */

sl_redis_link_t *sl_redis_link_new(uv_loop_t *loop, const sl_redis_url_t *u, const sl_redis_link_opts_t *o,
                                   sl_redis_link_state_cb cb, void *ud, char *err, size_t errlen)
{
    sl_redis_link_t *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->url = *u;
    if (o)
        l->o = *o;
    snprintf(l->name, sizeof l->name, "%s", l->o.name ? l->o.name : "redis");
    l->o.name = NULL;
    l->cb = cb;
    l->ud = ud;
    l->cluster = u->cluster;
    l->keyless = (unsigned)(uv_hrtime() / 1000);
    sl_redis_url_text(u, l->shown, sizeof l->shown);
    if (sl_redis_tls_ctx(u, &l->tls, err, errlen)) {
        free(l);
        return NULL;
    }
    if (l->cluster && !(l->slots = malloc(SL_REDIS_SLOTS * sizeof *l->slots))) {
        sl_tls_ctx_unref(l->tls);
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (l->cluster)
        memset(l->slots, 0xff, SL_REDIS_SLOTS * sizeof *l->slots);
    l->refs = 3; /* the owner, the two timers */
    uv_timer_init(loop, &l->wait_timer);
    uv_timer_init(loop, &l->refresh_timer);
    l->wait_timer.data = l->refresh_timer.data = l;
    if (u->is_unix) {
        node_add(l, "", 0);
    } else {
        for (int i = 0; i < (l->cluster ? u->nseeds : 1); i++)
            node_add(l, u->seeds[i].host, u->seeds[i].port);
    }
    for (int i = 0; i < l->nnodes; i++) {
        if (l->nodes[i]) {
            l->nodes[i]->master = !l->cluster;
            node_connect(l->nodes[i]);
        }
    }
    return l;
}

int sl_redis_link_up(const sl_redis_link_t *l) { return l->state == L_UP && !l->closing; }
int sl_redis_link_connecting(const sl_redis_link_t *l) { return l->state == L_CONNECTING && !l->closing; }
const char *sl_redis_link_why(const sl_redis_link_t *l) { return l->why; }

static void link_end(sl_redis_link_t *l, int drain)
{
    if (!l || l->closing)
        return;
    l->closing = 1;
    snprintf(l->why, sizeof l->why, "redis closed");
    l->refs++; /* failing the commands below must not free l under us */
    waits_fail_all(l, "redis closed");
    for (int i = 0; i < l->nnodes; i++)
        if (l->nodes[i])
            node_remove(l->nodes[i], drain);
    uv_close((uv_handle_t *)&l->wait_timer, timer_closed);
    uv_close((uv_handle_t *)&l->refresh_timer, timer_closed);
    l->refs--; /* the owner's: the timers still hold l */
    link_unref(l);
}

void sl_redis_link_close(sl_redis_link_t *l) { link_end(l, 0); }
void sl_redis_link_drain(sl_redis_link_t *l) { link_end(l, 1); }
