/* L5a cluster/local_bus_server: puts the local bus (local_bus.h) on a unix socket on
 * the libuv loop, so the workers' ordinary Redis links (redis_link.c) reach
 * it as "unix:/path". A client whose output passes a cap (a subscriber that
 * stopped reading) is cut off, as Redis cuts a slow pub/sub client. Knows
 * nothing of Socket.IO or workers. */
#ifndef SL_LOCAL_BUS_SERVER_H
#define SL_LOCAL_BUS_SERVER_H

#include <uv.h>

typedef struct sl_bus_server sl_bus_server_t;

/* Listens on path (which must not exist). 0 and *out, or a negative libuv
 * error. */
int sl_bus_server_new(uv_loop_t *loop, const char *path, sl_bus_server_t **out);
/* Disconnects every client, stops listening and removes the socket file;
 * memory goes with the last handle's close. */
void sl_bus_server_close(sl_bus_server_t *s);

#endif
