/* L3 eio/server: the listening socket and the request router. A request goes to
 * the first mounted Engine.IO endpoint whose path matches, then to route
 * handlers (client bundle, Lua HTTP routes), then to the app's static
 * files, else 404. Owns shutdown: stop accepting, close every session with
 * a close packet, let the writes drain, close every handle. */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <uv.h>
#include "eio/eio.h"
#include "net/http.h"
#include "net/trust.h"

typedef struct sl_server sl_server_t;

typedef struct sl_server_config {
    char host[64];
    int port;
    char static_root[4096];   /* realpath of APP_DIR/public, "" for none */
    sl_http_limits_t limits;
    /* SO_REUSEPORT on the public socket: several processes (the workers of
     * `siolua run --workers N`) listen on one port and the kernel spreads
     * the connections over them. */
    int reuse_port;
    /* trustProxy: proxies whose X-Forwarded-For names the client
     * (limits.trust_proxy points here once the server has its copy). */
    sl_trust_t trust_proxy;
} sl_server_config_t;

void sl_server_config_init(sl_server_config_t *c);
/* HTTP-level options by name (httpHeaderTimeout, keepAliveTimeout,
 * maxHttpBufferSize, maxHeaderSize, trustProxy). 0, or -1 when unknown/bad. */
int sl_server_config_set(sl_server_config_t *c, const char *name, const char *value);

/* Returns 1 when it answered the request. */
typedef int (*sl_route_cb)(sl_http_req_t *req, void *ud);

sl_server_t *sl_server_new(uv_loop_t *loop, const sl_server_config_t *cfg);
int sl_server_mount_eio(sl_server_t *srv, eio_server_t *eio);
/* Same, and the server frees it. */
int sl_server_mount_eio_owned(sl_server_t *srv, eio_server_t *eio);
/* Limits apply to connections accepted from then on. */
sl_server_config_t *sl_server_config_mut(sl_server_t *srv);
/* Serve the official client bundle under each Socket.IO path
 * (<path>socket.io.js, .min.js, .esm.min.js, .msgpack.min.js, .map). */
void sl_server_set_serve_client(sl_server_t *srv, int on);
void sl_server_set_client_dir(sl_server_t *srv, const char *dir);
/* A raw Engine.IO endpoint that sends every message back (conformance). */
int sl_server_mount_eio_echo(sl_server_t *srv, const eio_options_t *opts);
int sl_server_add_route(sl_server_t *srv, sl_route_cb cb, void *ud);
/* Binds and listens; writes "host:port" actually bound into out. */
int sl_server_listen(sl_server_t *srv, char *out, size_t outlen);
/* A second listener on host, on a port of its own (ephemeral), serving the
 * same routes: where the other processes of a cluster reach this one in
 * particular when the public port is shared (--workers). Writes the
 * "host:port" bound into out. */
int sl_server_listen_private(sl_server_t *srv, const char *host, char *out, size_t outlen);
/* Holds host:port (port 0: a free one, chosen now) for the processes that
 * will listen on it with reuse_port: a bound SO_REUSEPORT socket that does
 * not listen, so it takes no connections. Writes its fd to *fd (the caller
 * closes it) and the "host:port" into out. 0 or a negative libuv error. */
int sl_server_reserve_port(const char *host, int port, int *fd, char *out, size_t outlen);
/* Graceful stop; done is called once every handle is closed. */
void sl_server_shutdown(sl_server_t *srv, void (*done)(sl_server_t *srv));
void sl_server_free(sl_server_t *srv);

#endif
