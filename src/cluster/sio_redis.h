/* L5a cluster/sio_redis: the Redis adapter, wire-compatible with Node's
 * @socket.io/redis-adapter 8 in its default (classic pub/sub) mode, so
 * siolua and Node servers (and @socket.io/redis-emitter) share one cluster:
 *
 *   broadcast   PUBLISH <key>#<nsp># (or <key>#<nsp>#<room># for exactly one
 *               room) msgpack [uid, {type, data, nsp}, {rooms, except, flags}],
 *               received with PSUBSCRIBE <key>#*; a node drops its own uid.
 *   requests    <key>-request#<nsp>#, answered on <key>-response#<nsp>#;
 *               JSON, or msgpack for broadcasts with acks.
 *
 * --set redisAdapter=sharded speaks createShardedAdapter's protocol instead
 * (socket.io-adapter's ClusterAdapter messages over SPUBLISH/SSUBSCRIBE).
 *
 * Local delivery never waits for Redis: a broadcast goes to local sockets
 * first, then is published; while Redis is away, publishing is skipped
 * (logged once per outage) and resumes when the link is back.
 * Knows nothing of Lua: it talks to the Socket.IO layer only, through
 * sio_adapter_t (requests, broadcasts) and the sio_adapter_deliver_*
 * functions (what the other servers send). */
#ifndef SL_SIO_REDIS_H
#define SL_SIO_REDIS_H

#include <uv.h>
#include "base/buf.h"
#include "sio/sio.h"

typedef struct sio_redis sio_redis_t;

/* Sharded mode's subscription modes, as createShardedAdapter's. */
enum {
    SIO_REDIS_SUB_DYNAMIC = 0,     /* + a channel per public room (default) */
    SIO_REDIS_SUB_STATIC,          /* 2 channels per namespace */
    SIO_REDIS_SUB_DYNAMIC_PRIVATE, /* + a channel per room, own-id rooms too */
};

typedef struct sio_redis_opts {
    char key[64];                  /* channel prefix, "socket.io" */
    unsigned requests_timeout_ms;  /* 5000 */
    char label[16];                /* for logs: "redis", or "local bus" */
    /* 0: classic pub/sub (createAdapter); 1: sharded pub/sub, Redis 7
     * SPUBLISH/SSUBSCRIBE (createShardedAdapter): ClusterAdapter messages
     * on <key>#<nsp># and <key>#<nsp>#<uid>#, plus <key>#<nsp>#<room>#
     * per room in the dynamic modes, so a server only hears about rooms it
     * has members in. */
    int sharded;
    int subscription_mode;
    /* A Redis Cluster: SL_REDIS_CLUSTER_AUTO (several hosts in the URL, or
     * cluster=true), _ON, _OFF (redisCluster). */
    int cluster;
    /* How long a command may wait for its reply before its connection is
     * dropped as hung (redisCommandTimeout); 0: no limit. */
    unsigned command_timeout_ms;
} sio_redis_opts_t;

/* The defaults (Node's @socket.io/redis-adapter 8). The fields are set by
 * name (redisAdapter, redisSubscriptionMode, requestsTimeout, redisKey,
 * redisCluster, redisCommandTimeout) and checked by the typed options table
 * (cmd/options.c). */
void sio_redis_opts_init(sio_redis_opts_t *o);

/* Connects (in the background; reconnecting forever) to one Redis or a
 * Redis Cluster (then: slot-routed commands, shard channels on their
 * slots' masters, counts summed over the nodes) and installs itself
 * as srv's adapter (sio_adapter_t), requests included: the layer above
 * reaches it only through the sio_adapter_* functions of sio.h, and hears
 * the other servers through its sio_handler_t. The wire protocol (classic
 * or sharded) is chosen here, once. NULL when the URL can't be read, or
 * can't be used (a TLS file, redisCluster=false with several hosts: logged). */
sio_redis_t *sio_redis_new(uv_loop_t *loop, sio_server_t *srv, const char *url,
                           const sio_redis_opts_t *opts);
const char *sio_redis_uid(const sio_redis_t *r);
/* 1 while it can publish (one Redis up; a cluster: the map known and a
 * master answering) and every channel it subscribes to is on a connection
 * that is up, for metrics and health; 0 during an outage. */
int sio_redis_up(const sio_redis_t *r);

/* An emitter's message (uid "emitter", as @socket.io/redis-emitter sends
 * it) for the event whose arguments array is json, and the channel to
 * PUBLISH it on. 0, or a negative error (bad JSON). */
int sio_redis_emitter_message(sl_buf_t *msg, sl_buf_t *channel, const char *key, const char *nsp,
                              const sio_target_t *t, const char *json, size_t len,
                              const sio_packet_bin_t *atts, unsigned natts);

/* Where the other nodes relay requests for this node's sessions
 * ("host:port"); kept in Redis while the node lives. */
void sio_redis_set_address(sio_redis_t *r, const char *host_port);
/* The other nodes' addresses: the locator for the router (node_registry.h,
 * sl_node_registry_locator). Valid until sio_redis_close. */
typedef struct sl_node_registry sl_node_registry_t;
sl_node_registry_t *sio_redis_nodes(sio_redis_t *r);

/* Uninstalls and disconnects; memory goes with the handles' close. */
void sio_redis_close(sio_redis_t *r);

#endif
