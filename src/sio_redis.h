/* L5 sio_redis: the Redis adapter, wire-compatible with Node's
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
#include "buf.h"
#include "sio.h"

typedef struct sio_redis sio_redis_t;

typedef struct sio_redis_opts {
    char key[64];                  /* channel prefix, "socket.io" */
    unsigned requests_timeout_ms;  /* 5000 */
} sio_redis_opts_t;

void sio_redis_opts_init(sio_redis_opts_t *o);

/* Hooks to the layer above (Lua): a fetchSockets answer needs each
 * socket's handshake and data as JSON. */
typedef struct sio_redis_hooks {
    /* Appends {"id":..,"handshake":{..},"rooms":[..],"data":..} for s. */
    void (*socket_json)(sio_socket_t *s, sl_buf_t *out, void *ud);
    void *ud;
} sio_redis_hooks_t;

/* Connects (in the background; reconnecting forever) and installs itself
 * as srv's adapter. NULL when the URL can't be read. */
sio_redis_t *sio_redis_new(uv_loop_t *loop, sio_server_t *srv, const char *url,
                           const sio_redis_opts_t *opts, const sio_redis_hooks_t *hooks);
const char *sio_redis_uid(const sio_redis_t *r);
/* Uninstalls and disconnects; memory goes with the handles' close. */
void sio_redis_close(sio_redis_t *r);

#endif
