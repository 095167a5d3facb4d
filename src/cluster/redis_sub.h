/* L5a cluster/redis_sub: one Redis connection that only subscribes to shard channels
 * (SSUBSCRIBE, Redis 7) and hands each `smessage` to its owner. hiredis
 * 0.14's async API can't carry sharded pub/sub (it doesn't know SSUBSCRIBE
 * and asserts on an unsolicited push), so this is a libuv stream of its own
 * with hiredis's RESP reader only. Like redis_link it authenticates,
 * selects the db and reconnects with backoff (100 ms doubling to 5 s,
 * each transition logged once); it also keeps the set of channels it was
 * asked to hold and subscribes them again on every new connection.
 * Knows nothing of Socket.IO or Lua. */
#ifndef SL_REDIS_SUB_H
#define SL_REDIS_SUB_H

#include <stddef.h>
#include <uv.h>
#include "cluster/redis_url.h"

typedef struct sl_redis_sub sl_redis_sub_t;

/* A message on one of the channels held. Both slices are valid during the
 * call only. */
typedef void (*sl_redis_sub_msg_cb)(const char *channel, size_t clen, const char *msg,
                                    size_t mlen, void *ud);
/* up = 1 once connected, authenticated (AUTH/SELECT answered OK) and every
 * held channel asked for again; up = 0 when the connection is gone
 * (messages published meanwhile are lost, as with any Redis pub/sub). */
typedef void (*sl_redis_sub_state_cb)(int up, void *ud);

/* Starts connecting from the next loop iteration. NULL on OOM. */
sl_redis_sub_t *sl_redis_sub_new(uv_loop_t *loop, const sl_redis_url_t *url, const char *name,
                                 sl_redis_sub_msg_cb on_msg, sl_redis_sub_state_cb on_state,
                                 void *ud);
int sl_redis_sub_up(const sl_redis_sub_t *s);
/* Holds (or lets go of) a shard channel: SSUBSCRIBE / SUNSUBSCRIBE now when
 * connected, and on every reconnect. Adding a held channel, or removing one
 * not held, does nothing. 0, or -ENOMEM. */
int sl_redis_sub_add(sl_redis_sub_t *s, const char *ch, size_t len);
void sl_redis_sub_remove(sl_redis_sub_t *s, const char *ch, size_t len);
int sl_redis_sub_holds(const sl_redis_sub_t *s, const char *ch, size_t len);
size_t sl_redis_sub_count(const sl_redis_sub_t *s);
/* What the read path does with bytes from Redis: parses every complete
 * reply and delivers the `smessage`s. Exposed for the unit tests, which
 * feed it partial RESP. 0, or -1 on a protocol error (the connection is
 * then dropped and made again). */
int sl_redis_sub_feed(sl_redis_sub_t *s, const char *p, size_t n);
/* Disconnects for good; memory goes with the handles' close callbacks. */
void sl_redis_sub_close(sl_redis_sub_t *s);

#endif
