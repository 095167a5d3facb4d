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
 * Local delivery never waits for Redis: a broadcast goes to local sockets
 * first, then is published; while Redis is away, publishing is skipped
 * (logged once per outage) and resumes when the link is back.
 * Knows nothing of Lua; the layer above fills socket details through a hook. */
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
} sio_redis_opts_t;

/* The defaults (Node's @socket.io/redis-adapter 8). The fields are set by
 * name (redisAdapter, redisSubscriptionMode, requestsTimeout, redisKey) and
 * checked by the typed options table (cmd/options.c). */
void sio_redis_opts_init(sio_redis_opts_t *o);

/* Hooks to the layer above (Lua): a fetchSockets answer needs each
 * socket's handshake and data as JSON. */
typedef struct sio_redis_hooks {
    /* Appends {"id":..,"handshake":{..},"rooms":[..],"data":..} for s. */
    void (*socket_json)(sio_socket_t *s, sl_buf_t *out, void *ud);
    /* Another server's serverSideEmit: args is the JSON arguments array
     * (event first). request_id is non-NULL when the emitter waits for an
     * answer: the layer above then calls sio_redis_server_side_ack once
     * with a copy of it. */
    void (*server_side_emit)(sio_nsp_t *nsp, const char *args, size_t len,
                             const char *request_id, void *ud);
    /* Another server's broadcast with acks: emit args (JSON array with
     * attachments) with an ack id to the target's local sockets, then call
     * sio_redis_broadcast_count once and sio_redis_broadcast_ack per ack,
     * until timeout_ms. */
    void (*broadcast_with_ack)(sio_nsp_t *nsp, const sio_target_t *t, const char *args, size_t len,
                               const sio_packet_bin_t *atts, unsigned natts,
                               const char *request_id, unsigned timeout_ms, void *ud);
    /* Optional, with connection state recovery: a broadcast from another
     * server, after it was delivered here (to log it for recovery). */
    void (*remote_broadcast)(sio_nsp_t *nsp, const sio_target_t *t, const char *args, size_t len,
                             const sio_packet_bin_t *atts, unsigned natts, void *ud);
    void *ud;
} sio_redis_hooks_t;

/* Connects (in the background; reconnecting forever) and installs itself
 * as srv's adapter. NULL when the URL can't be read. */
sio_redis_t *sio_redis_new(uv_loop_t *loop, sio_server_t *srv, const char *url,
                           const sio_redis_opts_t *opts, const sio_redis_hooks_t *hooks);
const char *sio_redis_uid(const sio_redis_t *r);
/* 1 while both its connections (publishing and subscribed) are up and
 * authenticated, for metrics and health; 0 during an outage. */
int sio_redis_up(const sio_redis_t *r);
/* ---- requests to the other servers ------------------------------------ */

/* What a request gathered: the items of every answer's list ("sockets",
 * "rooms", or the serverSideEmit acks) joined as the inside of one JSON
 * array (no brackets), and whether every server answered in time. */
typedef void (*sio_redis_reply_cb)(const char *items, size_t len, int complete, void *ud);

/* fetchSockets / allRooms / serverSideEmit-with-ack across the cluster:
 * asks the other servers (their count comes from PUBSUB NUMSUB) and calls
 * cb once, with everything gathered, when all have answered or after the
 * requests timeout. Returns 0, or -1 when Redis is down (cb is not called). */
int sio_redis_fetch_sockets(sio_redis_t *r, sio_nsp_t *nsp, const sio_target_t *t,
                            sio_redis_reply_cb cb, void *ud);
int sio_redis_all_rooms(sio_redis_t *r, sio_nsp_t *nsp, sio_redis_reply_cb cb, void *ud);
/* socketsJoin / socketsLeave / disconnectSockets on the other servers
 * (fire and forget, as Node). */
int sio_redis_remote_rooms(sio_redis_t *r, sio_nsp_t *nsp, const sio_target_t *t, int join,
                           const sio_slice_t *rooms, size_t nrooms);
int sio_redis_remote_disconnect(sio_redis_t *r, sio_nsp_t *nsp, const sio_target_t *t, int close);
/* serverSideEmit: json is the arguments array, event name first. Without
 * cb, fire and forget; with cb, the other servers' acks are gathered. */
int sio_redis_server_side_emit(sio_redis_t *r, sio_nsp_t *nsp, const char *json, size_t len,
                               sio_redis_reply_cb cb, void *ud);

/* A broadcast with acks to the other servers' clients (already sent to
 * this server's by the caller): cb gets their acks (each client's first
 * ack argument) once every server told its client count and that many
 * acks came, or at timeout_ms. */
int sio_redis_broadcast_with_ack(sio_redis_t *r, sio_nsp_t *nsp, const sio_target_t *t,
                                 const char *json, size_t len, const sio_packet_bin_t *atts,
                                 unsigned natts, long ack_id, unsigned timeout_ms,
                                 sio_redis_reply_cb cb, void *ud);
/* Answers to another server's broadcast with acks. */
void sio_redis_broadcast_count(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id, long count);
void sio_redis_broadcast_ack(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                             const char *json, size_t len);

/* Connection state recovery across servers: a session (JSON) kept in
 * Redis for ttl_ms under its private id, and taken back (once) by
 * whichever server the client reconnects to. take's cb gets NULL when
 * there is none (or Redis is away). */
int sio_redis_session_put(sio_redis_t *r, const char *pid, const char *json, size_t len,
                          unsigned ttl_ms);
int sio_redis_session_take(sio_redis_t *r, const char *pid,
                           void (*cb)(const char *json, size_t len, void *ud), void *ud);

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
/* The answer (a JSON value) to a serverSideEmit from another server. */
void sio_redis_server_side_ack(sio_redis_t *r, sio_nsp_t *nsp, const char *request_id,
                               const char *json, size_t len);

#endif
