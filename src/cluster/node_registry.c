/* L5a cluster/node_registry: the nodes' relay addresses in Redis, and the
 * locator the router asks. See node_registry.h.
 *
 *   g->waits: lookups sent to Redis, newest first
 *     lookup {g, done (NULL once answered), uid, deadline} <-> lookup ...
 *   the link holds each lookup until it calls back (with no reply when the
 *   connection goes), which may be after it was answered (deadline) or
 *   after g closed (then lookup->g is NULL). In a Redis Cluster the keys
 *   are on their slots' masters, like any key. */
#include "cluster/node_registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define ANNOUNCE_EVERY_TICKS 10 /* the address is refreshed every 10 s */
#define ANNOUNCE_TTL_S 30
/* A Redis that stays connected but never answers must not park requests
 * for good: past this, the lookup is answered unknown and the client
 * reconnects. */
#define LOOKUP_WAIT_MS 5000
/* Owners' addresses read from Redis are kept this long: long enough to
 * spare a GET per relayed request, short enough that a dead node's address
 * (its key expires in Redis) stops being tried soon. */
#define NODE_CACHE_MS 10000
#define NODE_CACHE_CAP 64

typedef struct lookup {
    sl_node_registry_t *g;  /* NULL once g closed */
    sl_locate_cb done;      /* NULL once answered */
    void *done_ud;
    char uid[8];
    uint64_t deadline;
    struct lookup *prev, *next; /* g->waits, while g is set */
} lookup_t;

struct sl_node_registry {
    uv_loop_t *loop;
    sl_redis_link_t *link;
    char key[64];
    char uid[8];
    char address[128];      /* where this node takes relayed requests */
    unsigned ticks;
    lookup_t *waits;
    struct { char uid[8]; char host[64]; int port; uint64_t until; } nodes[NODE_CACHE_CAP];
    int nnodes;
};

sl_node_registry_t *sl_node_registry_new(uv_loop_t *loop, sl_redis_link_t *link, const char *key,
                                         const char *uid)
{
    sl_node_registry_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->loop = loop;
    g->link = link;
    snprintf(g->key, sizeof g->key, "%s", key);
    snprintf(g->uid, sizeof g->uid, "%s", uid);
    return g;
}

/* ---- this node's address ---------------------------------------------------- */

static void node_key(const sl_node_registry_t *g, const char *uid, char *key, size_t cap)
{
    snprintf(key, cap, "%s-node#%s", g->key, uid);
}

void sl_node_registry_announce(sl_node_registry_t *g)
{
    if (!g || !g->address[0] || !sl_redis_link_up(g->link))
        return;
    char key[96], ttl[16];
    node_key(g, g->uid, key, sizeof key);
    snprintf(ttl, sizeof ttl, "%d", ANNOUNCE_TTL_S);
    const char *argv[5] = {"SET", key, g->address, "EX", ttl};
    size_t lens[5] = {3, strlen(key), strlen(g->address), 2, strlen(ttl)};
    sl_redis_link_command(g->link, NULL, NULL, 5, argv, lens, SL_REDIS_WAIT);
}

void sl_node_registry_set_address(sl_node_registry_t *g, const char *host_port)
{
    snprintf(g->address, sizeof g->address, "%s", host_port);
    sl_node_registry_announce(g);
}

/* ---- the other nodes' addresses ------------------------------------------- */

static int split_address(const char *a, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || (size_t)(colon - a) >= cap)
        return -1;
    const char *h = a;
    size_t hl = (size_t)(colon - a);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1]:3000 */
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = atoi(colon + 1);
    return *port > 0 && *port < 65536 ? 0 : -1;
}

/* The cached address of node uid, or -1 (expired entries are dropped). */
static int node_cache_find(sl_node_registry_t *g, const char *uid)
{
    uint64_t now = uv_now(g->loop);
    for (int i = 0; i < g->nnodes; i++) {
        if (strcmp(g->nodes[i].uid, uid))
            continue;
        if (g->nodes[i].until > now)
            return i;
        g->nodes[i] = g->nodes[--g->nnodes];
        return -1;
    }
    return -1;
}

static void node_cache_put(sl_node_registry_t *g, const char *uid, const char *host, int port)
{
    int i = g->nnodes;
    if (i == NODE_CACHE_CAP) { /* full: the entry closest to expiry goes */
        i = 0;
        for (int j = 1; j < g->nnodes; j++)
            if (g->nodes[j].until < g->nodes[i].until)
                i = j;
    } else {
        g->nnodes++;
    }
    snprintf(g->nodes[i].uid, sizeof g->nodes[i].uid, "%s", uid);
    snprintf(g->nodes[i].host, sizeof g->nodes[i].host, "%s", host);
    g->nodes[i].port = port;
    g->nodes[i].until = uv_now(g->loop) + NODE_CACHE_MS;
}

static void lookup_unlink(lookup_t *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else if (l->g)
        l->g->waits = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
    l->g = NULL;
}

/* Calls back once: host NULL for unknown. */
static void lookup_answer(lookup_t *l, const char *host, int port)
{
    sl_locate_cb done = l->done;
    if (!done)
        return;
    l->done = NULL;
    done(l->done_ud, host, port);
}

static void on_node_address(void *priv, redisReply *m, const char *why)
{
    (void)why;
    lookup_t *l = priv;
    sl_node_registry_t *g = l->g;
    lookup_unlink(l);
    char host[64];
    int port = 0;
    int found = g && m && m->type == REDIS_REPLY_STRING &&
                split_address(m->str, host, sizeof host, &port) == 0;
    if (found)
        node_cache_put(g, l->uid, host, port);
    lookup_answer(l, found ? host : NULL, port); /* no-op if answered already */
    free(l);
}

static int registry_locate(void *ud, const char *node, sl_locate_cb done, void *done_ud)
{
    sl_node_registry_t *g = ud;
    if (strlen(node) >= sizeof g->uid)
        return -1;
    int i = node_cache_find(g, node);
    if (i >= 0) {
        done(done_ud, g->nodes[i].host, g->nodes[i].port);
        return 0;
    }
    lookup_t *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->g = g;
    l->done = done;
    l->done_ud = done_ud;
    snprintf(l->uid, sizeof l->uid, "%s", node);
    l->deadline = uv_now(g->loop) + LOOKUP_WAIT_MS;
    char key[96];
    node_key(g, node, key, sizeof key);
    const char *argv[2] = {"GET", key};
    size_t lens[2] = {3, strlen(key)};
    if (sl_redis_link_command(g->link, on_node_address, l, 2, argv, lens, SL_REDIS_WAIT) != 0) {
        free(l);
        return -1; /* the link is down */
    }
    l->next = g->waits;
    if (g->waits)
        g->waits->prev = l;
    g->waits = l;
    return 0;
}

const sl_locator_t sl_node_registry_locator = {.locate = registry_locate};

void sl_node_registry_tick(sl_node_registry_t *g)
{
    uint64_t now = uv_now(g->loop);
    for (lookup_t *l = g->waits; l; l = l->next) {
        if (l->done && now >= l->deadline) {
            SL_WARN("adapter", "redis gave no session owner's address in %d ms: request answered as unknown",
                    LOOKUP_WAIT_MS);
            lookup_answer(l, NULL, 0);
        }
    }
    if (++g->ticks % ANNOUNCE_EVERY_TICKS == 0)
        sl_node_registry_announce(g);
}

void sl_node_registry_close(sl_node_registry_t *g)
{
    if (!g)
        return;
    while (g->waits) { /* the link calls them back later, without g */
        lookup_t *l = g->waits;
        lookup_unlink(l);
        lookup_answer(l, NULL, 0);
    }
    free(g);
}
