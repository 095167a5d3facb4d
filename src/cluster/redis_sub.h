/* L5a cluster/redis_sub: the subscriptions of the adapter, held whatever happens to
 * the connections under them. It keeps the set of channels (SUBSCRIBE),
 * patterns (PSUBSCRIBE) and shard channels (SSUBSCRIBE, Redis 7) it was
 * asked to hold, and the connections (redis_conn, in subscriber mode) to
 * hold them on, which it picks from the link's map:
 *
 *   one Redis      one connection for everything
 *   Redis Cluster  channels and patterns: one connection to any node (a
 *                  PUBLISH reaches every node); another node when it is lost
 *                  shard channels: one connection per master, each channel
 *                  on the master of its slot; moved when the map says so, when
 *                  SSUBSCRIBE answers -MOVED, or when Redis unsubscribes it
 *                  (it sends "sunsubscribe" when a slot leaves a node: a
 *                  resharding, a failover)
 *
 * Every new connection asks for its channels again. Messages published
 * while a channel is being moved may be lost (pub/sub is at most once);
 * a channel is held on one connection at a time, so none comes twice.
 * Knows nothing of Socket.IO or Lua. */
#ifndef SL_REDIS_SUB_H
#define SL_REDIS_SUB_H

#include <stddef.h>
#include <uv.h>

#include "cluster/redis_link.h"

typedef struct sl_redis_sub sl_redis_sub_t;

enum { SL_REDIS_SUB_CHANNEL = 0, SL_REDIS_SUB_PATTERN, SL_REDIS_SUB_SHARD };

/* A message on something held: kind says which set (a pattern's message
 * names the channel it was published on). Both slices are valid during
 * the call only. */
typedef void (*sl_redis_sub_msg_cb)(int kind, const char *channel, size_t clen, const char *msg, size_t mlen,
                                    void *ud);

/* Subscribes through its own connections to the nodes of link's map (the
 * link is not owned; it must outlive the sub). ping_ms: a connection that
 * hears nothing for that long sends a PING, and is dropped if that goes
 * unanswered as long. NULL when out of memory. */
sl_redis_sub_t *sl_redis_sub_new(uv_loop_t *loop, sl_redis_link_t *link, const char *name, unsigned ping_ms,
                                 sl_redis_sub_msg_cb on_msg, void *ud);
/* Holds (or lets go of) a channel, a pattern or a shard channel: asked for
 * now when its connection is up, and on every reconnect. Adding a held one,
 * or removing one not held, does nothing. 0, or -ENOMEM. */
int sl_redis_sub_add(sl_redis_sub_t *s, int kind, const char *ch, size_t len);
void sl_redis_sub_remove(sl_redis_sub_t *s, int kind, const char *ch, size_t len);
int sl_redis_sub_holds(const sl_redis_sub_t *s, int kind, const char *ch, size_t len);
size_t sl_redis_sub_count(const sl_redis_sub_t *s);
/* 1 while every channel it holds is on a connection that is up (for
 * metrics and health), 0 while one waits for its node or the map. */
int sl_redis_sub_up(const sl_redis_sub_t *s);
/* Connections it has open (one per node it subscribes on). */
int sl_redis_sub_nodes(const sl_redis_sub_t *s);
/* Disconnects for good; memory goes with the handles' close callbacks. */
void sl_redis_sub_close(sl_redis_sub_t *s);

#endif
