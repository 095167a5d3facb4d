/* L5a cluster/local_bus: the part of Redis that the cluster adapter (sio_redis.c)
 * and the relay registry use, kept in one process's memory, so the workers
 * of `siolua run APP --workers N` form a cluster with no Redis installed:
 * SUBSCRIBE / PSUBSCRIBE (Redis glob patterns) / UNSUBSCRIBE / PUNSUBSCRIBE,
 * PUBLISH (answering the receiver count), PUBSUB NUMSUB|NUMPAT|CHANNELS,
 * SET (EX, PX, NX, XX), GET, GETDEL, DEL, EXISTS, PEXPIRE, PTTL, PING,
 * SELECT 0, QUIT. Anything else is answered "-ERR unknown command", so a
 * client never waits for an answer that won't come.
 *
 * Pure: a client's bytes go in (RESP, read with cluster/redis_reader: hiredis's reader, capped),
 * replies and pub/sub messages come out through each client's write
 * callback; the caller sets the clock. No event loop, no sockets here
 * (local_bus_server.c puts it on a unix socket). Knows nothing of
 * Socket.IO. */
#ifndef SL_LOCAL_BUS_H
#define SL_LOCAL_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_bus sl_bus_t;
typedef struct sl_bus_client sl_bus_client_t;

/* Queues bytes for the client. Returns 0, or -1 when the client can't take
 * more (its output is over its cap): the bus goes on, the owner closes the
 * client later (never from inside this callback). */
typedef int (*sl_bus_write_cb)(void *ud, const char *data, size_t len);

sl_bus_t *sl_bus_new(void);
/* Every client must be freed first. */
void sl_bus_free(sl_bus_t *b);
/* The clock for key expiry, in milliseconds (any monotonic origin). */
void sl_bus_set_now(sl_bus_t *b, uint64_t now_ms);
/* Drops the keys whose time is up; returns how many went. Keys also expire
 * lazily when read, so this only bounds the memory of keys nobody reads. */
size_t sl_bus_sweep(sl_bus_t *b);
size_t sl_bus_key_count(const sl_bus_t *b);

sl_bus_client_t *sl_bus_client_new(sl_bus_t *b, sl_bus_write_cb write, void *ud);
/* Reads the bytes a client sent and runs every complete command in them.
 * 0; 1 when the client asked to QUIT (close it once its output is
 * written); -1 on a protocol error (an error reply was written: close it). */
int sl_bus_client_feed(sl_bus_client_t *c, const char *data, size_t len);
/* Unsubscribes it from everything. */
void sl_bus_client_free(sl_bus_client_t *c);

/* Redis's glob rules (*, ?, [a-z], [^x], \x) over binary-safe strings. */
int sl_bus_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

#endif
