/* L3 eio/server: the listening socket and the request router. A request goes to
 * the first mounted Engine.IO endpoint whose path matches, then to route
 * handlers (client bundle, Lua HTTP routes), then to the app's static
 * files, else 404. In a cluster without sticky sessions, a request for a
 * session another node owns is relayed to that node before the endpoint
 * sees it (the locator below tells where). Owns shutdown: stop accepting,
 * close every session with a close packet, let the writes drain, close
 * every handle.
 *
 *   request --path--> Socket.IO endpoint: sid held here? --yes--> eio_server_handle
 *                                            | no: sid of node X (its prefix)
 *                                            v
 *                     locator->locate(X) ----> host:port --> sl_proxy_request
 *                                        \--> unknown  --> "Session ID unknown"
 */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <uv.h>
#include "eio/eio.h"
#include "net/http.h"
#include "net/tls.h"
#include "net/trust.h"

typedef struct sl_server sl_server_t;

typedef struct sl_server_config {
    char host[64];
    int port;
    char static_root[4096];   /* realpath of APP_DIR/public, "" for none */
    sl_http_limits_t limits;
    sl_http_compress_t compress; /* files and the client bundle (httpCompression) */
    /* SO_REUSEPORT on the public socket: several processes (the workers of
     * `siolua run --workers N`) listen on one port and the kernel spreads
     * the connections over them. */
    int reuse_port;
    /* deferAccept: the public listener hands a connection over once its
     * first bytes arrive (net/listener.h). Read when it starts listening. */
    int defer_accept;
    /* trustProxy: proxies whose X-Forwarded-For names the client
     * (limits.trust_proxy points here once the server has its copy). */
    sl_trust_t trust_proxy;
} sl_server_config_t;

/* The defaults: "::" port 3000, Node's HTTP limits. The limits are set by
 * name and checked by the typed options table (cmd/options.c). */
void sl_server_config_init(sl_server_config_t *c);

/* Returns 1 when it answered the request. */
typedef int (*sl_route_cb)(sl_http_req_t *req, void *ud);

sl_server_t *sl_server_new(uv_loop_t *loop, const sl_server_config_t *cfg);
int sl_server_mount_eio(sl_server_t *srv, eio_server_t *eio);
/* Same, and the server frees it. */
int sl_server_mount_eio_owned(sl_server_t *srv, eio_server_t *eio);
/* Limits apply to connections accepted from then on. */
sl_server_config_t *sl_server_config_mut(sl_server_t *srv);
/* New HTTP limits and trusted proxies, for connections accepted from then
 * on (the limits point at the server's own copy of the trust list). */
void sl_server_set_http(sl_server_t *srv, const sl_http_limits_t *limits, const sl_trust_t *trust);
/* Serve the official client bundle under each Socket.IO path
 * (<path>socket.io.js, .min.js, .esm.min.js, .msgpack.min.js, .map). */
void sl_server_set_serve_client(sl_server_t *srv, int on);
void sl_server_set_client_dir(sl_server_t *srv, const char *dir);
/* A raw Engine.IO endpoint that sends every message back (conformance). */
int sl_server_mount_eio_echo(sl_server_t *srv, const eio_options_t *opts);
int sl_server_add_route(sl_server_t *srv, sl_route_cb cb, void *ud);
/* Binds and listens; writes "host:port" actually bound into out. */
int sl_server_listen(sl_server_t *srv, char *out, size_t outlen);
/* A second listener on host:port (port 0: a free one), serving the same
 * routes in plaintext whatever the public listener speaks: where the other
 * processes of a cluster reach this one in particular when the public port
 * is shared (--workers) or speaks TLS. Writes the "host:port" bound into
 * out. */
int sl_server_listen_private(sl_server_t *srv, const char *host, int port, char *out, size_t outlen);
/* Connections the public listener accepts from now on speak TLS with ctx
 * (a server context; NULL: plaintext). The server holds a reference: a
 * certificate reloaded on SIGHUP comes as a new context, while open
 * connections keep the one they started with. */
void sl_server_set_tls(sl_server_t *srv, sl_tls_ctx_t *ctx);
/* 1 when the public listener speaks TLS. */
int sl_server_secure(const sl_server_t *srv);
/* Holds host:port (port 0: a free one, chosen now) for the processes that
 * will listen on it with reuse_port: a bound SO_REUSEPORT socket that does
 * not listen, so it takes no connections. Writes its fd to *fd (the caller
 * closes it) and the "host:port" into out. 0 or a negative libuv error. */
int sl_server_reserve_port(const char *host, int port, int *fd, char *out, size_t outlen);

/* ---- sessions of other nodes -------------------------------------------- */

/* Every sid starts with the id of the node that made it (the endpoint's
 * eio_options_t.sid_prefix, set by the cluster). A request to the Socket.IO
 * endpoint that names a sid no session here holds, with another node's
 * prefix and no SL_PROXY_HEADER (a relayed request is never relayed on),
 * is relayed to that node; the locator, which the cluster implements,
 * tells where. Raw Engine.IO endpoints (sl_server_mount_eio_owned) are not
 * part of a cluster: their requests are never relayed. */

/* host: an IPv4/IPv6 literal and port where node takes relayed requests,
 * or NULL when the node is unknown (gone, or not found in time). */
typedef void (*sl_locate_cb)(void *ud, const char *host, int port);

typedef struct sl_locator {
    /* Where node (a sid prefix, NUL-terminated) is. Returns 0 when done
     * will be called exactly once, now (a cached address) or later, even
     * if the locator closes first (then with NULL); or a negative error
     * when it cannot look now (done is not called; the endpoint answers
     * "Session ID unknown"). */
    int (*locate)(void *ud, const char *node, sl_locate_cb done, void *done_ud);
} sl_locator_t;

/* Installs the locator (ops NULL: none; requests for unknown sids are
 * answered by the endpoint). ops and ud must stay valid until replaced:
 * uninstall it before closing what implements it. */
void sl_server_set_locator(sl_server_t *srv, const sl_locator_t *ops, void *ud);

/* ---- counters (for metrics) ---------------------------------------------- */

typedef struct sl_server_stats {
    size_t connections;      /* open now (HTTP, long-polls, WebSockets) */
    uint64_t accepted;       /* since the start */
    uint64_t refused_busy;   /* answered 503 over maxConnections */
    uint64_t fd_exhausted;   /* times accepting found no file descriptor */
    uint64_t dropped_no_fd;  /* connections closed unserved for that */
    size_t body_bytes;       /* request bodies held now */
    uint64_t refused_bodies; /* answered 503 over maxBufferedRequestBytes */
    uint64_t timed_out;      /* requests answered 408 */
    uint64_t bad_requests;   /* requests refused with 400, 431 or 505 */
    size_t output_bytes;     /* held by output queues now (shared buffers once) */
    uint64_t output_dropped; /* slow readers dropped over maxOutputBufferTotal */
} sl_server_stats_t;

void sl_server_stats(const sl_server_t *srv, sl_server_stats_t *st);

/* ---- stopping ------------------------------------------------------------ */

/* Graceful stop: every session gets its close packet, and the server
 * drains (up to 2 s for polling clients to collect it) while still
 * listening, refusing new Engine.IO sessions with 503; then the listeners
 * and every connection close, and done is called once every handle is:
 * later, or at once when sl_server_close had closed it all already. */
void sl_server_shutdown(sl_server_t *srv, void (*done)(sl_server_t *srv));
/* The same stop from inside the app (io.close() in Node), while the
 * process goes on: done(ud) once it is over (before a shutdown's done),
 * and a later sl_server_shutdown finishes at once. Returns 0 (done will be
 * called), 1 when it is over already (done is not called), or -ENOSPC when
 * four closers wait already. */
int sl_server_close(sl_server_t *srv, void (*done)(void *ud), void *ud);
/* 1 from sl_server_shutdown or sl_server_close on (health checks answer 503). */
int sl_server_draining(const sl_server_t *srv);
void sl_server_free(sl_server_t *srv);

#endif
