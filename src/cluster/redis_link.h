/* L5a cluster/redis_link: one logical Redis for its user, whatever is behind the
 * URL: a single server, or a Redis Cluster (several seeds, or cluster=true).
 * Every connection is a redis_conn (RESP, TLS, the watchdog, backoff); a
 * node may have several (a pool: sio.redis).
 *
 *   single   commands --> the least busy connection of the one node
 *   cluster  commands --key slot--> the slot's master --MOVED--> the new owner
 *                                                     --ASK----> ASKING + the importing node
 *            slot map: CLUSTER SLOTS from any node that answers, read at start,
 *            again at once when a master is lost or a reply says MOVED, then
 *            every 250 ms (up to 1 s) until every slot has a reachable master
 *            again, and every 5 s otherwise (a failover or a resharding is seen
 *            without waiting for a MOVED)
 *
 * A command fails at once (-1, with the reason in sl_redis_link_why) when
 * the node it needs is down, so a broadcast is never queued for a dead
 * Redis; with SL_REDIS_WAIT it waits for a node still being connected to
 * (up to the connect timeout) instead. The transitions are logged once per
 * outage, with the link's name ("adapter pub: lost redis://... (...)"), or
 * told to the owner only (quiet). Knows nothing of Socket.IO or Lua. */
#ifndef SL_REDIS_LINK_H
#define SL_REDIS_LINK_H

#include <uv.h>

#include "cluster/redis_conn.h"
#include "cluster/redis_url.h"

typedef struct sl_redis_link sl_redis_link_t;

typedef struct sl_redis_link_opts {
    const char *name;            /* who, in log lines ("adapter pub"); "redis" if NULL */
    int pool;                    /* connections per node; 0: 1 */
    unsigned connect_timeout_ms; /* 0: 3000 */
    unsigned command_timeout_ms; /* the watchdog (0: none) */
    int all_nodes;               /* cluster: connect to replicas too (PUBSUB counts) */
    int quiet;                   /* the owner logs the transitions (state callback) */
} sl_redis_link_opts_t;

/* up = 1: commands may go (cluster: the map is known and a master
 * answers). up = 0: nothing answers; why says why. Called on changes only. */
typedef void (*sl_redis_link_state_cb)(sl_redis_link_t *l, int up, const char *why, void *ud);

/* Starts connecting at once. NULL with the reason in err: a TLS file that
 * can't be read, out of memory. */
sl_redis_link_t *sl_redis_link_new(uv_loop_t *loop, const sl_redis_url_t *u, const sl_redis_link_opts_t *o,
                                   sl_redis_link_state_cb cb, void *ud, char *err, size_t errlen);
int sl_redis_link_up(const sl_redis_link_t *l);
/* Still making its first connections: nothing has failed yet. */
int sl_redis_link_connecting(const sl_redis_link_t *l);
/* Why the last command was refused, or the link is down. */
const char *sl_redis_link_why(const sl_redis_link_t *l);

enum {
    SL_REDIS_WAIT = 1, /* wait for a connection being made instead of failing at once */
};

/* One command, routed by its key (sl_redis_command_key). 0: fn will be
 * called once (see sl_redis_reply_cb); -1: refused at once, fn is not
 * called, sl_redis_link_why says why. */
int sl_redis_link_command(sl_redis_link_t *l, sl_redis_reply_cb fn, void *priv, int argc, const char *const *argv,
                          const size_t *lens, unsigned flags);
/* n commands already in RESP, all to the node of the first key among them
 * (fn called once per command). One command follows redirections like
 * sl_redis_link_command; the replies of several are given as they come
 * (a -MOVED among them updates the map for the next call). */
int sl_redis_link_command_resp(sl_redis_link_t *l, sl_redis_reply_cb fn, void *priv, const char *resp,
                               size_t len, int n, unsigned flags);

/* How many subscribe to channel, summed over the nodes that have them:
 * PUBSUB NUMSUB on every node of a cluster (a classic subscriber may be
 * on any), PUBSUB SHARDNUMSUB on the nodes of the channel's slot. fn gets
 * the sum over the nodes that answered, or -1 when none did. 0, or -1 (fn
 * not called). */
typedef void (*sl_redis_count_cb)(void *priv, long n);
int sl_redis_link_numsub(sl_redis_link_t *l, int sharded, const char *ch, size_t len, sl_redis_count_cb fn,
                         void *priv);

/* What the sharded subscriber (redis_sub.c) needs of the map. */
int sl_redis_link_cluster(const sl_redis_link_t *l);
const sl_redis_url_t *sl_redis_link_url(const sl_redis_link_t *l);
sl_tls_ctx_t *sl_redis_link_tls(const sl_redis_link_t *l);
/* The master of slot: 0 with its address, or -1 (unknown yet). */
int sl_redis_link_slot_master(const sl_redis_link_t *l, int slot, const char **host, int *port);
/* The nth node of the map, for what may live on any node (classic
 * subscriptions): masters that answer first, then (unless up_only) any
 * master, then replicas the same way. 0 with its address, or -1 (none, or the
 * map is not known yet: the watch tells when it is). A single server: its
 * address (host "" for a unix socket). */
int sl_redis_link_some_node(const sl_redis_link_t *l, unsigned nth, int up_only, const char **host, int *port);
/* A -MOVED someone else got: the map learns it now and is read again. */
void sl_redis_link_moved(sl_redis_link_t *l, int slot, const char *host, int port);
/* Reads the map again soon (a connection to a master was lost). */
void sl_redis_link_refresh(sl_redis_link_t *l);
/* fn(ud) runs after the map changed (a slot has a new master). One
 * watcher; NULL to stop. */
void sl_redis_link_watch(sl_redis_link_t *l, void (*fn)(void *ud), void *ud);

/* Closes every connection: what is pending fails with "redis closed"
 * (inside this call); no callback follows but those. NULL is fine. */
void sl_redis_link_close(sl_redis_link_t *l);
/* Takes no new command; closes each connection once its replies are in. */
void sl_redis_link_drain(sl_redis_link_t *l);

#endif
