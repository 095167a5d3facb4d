/* L3 eio/server: listener, router and shutdown. See server.h. */
#include "eio/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "base/datadir.h"
#include "base/log.h"
#include "net/listener.h"
#include "net/proxy.h"
#include "net/static_files.h"

#define MAX_MOUNTS 8
#define MAX_ROUTES 8

/* The official client bundle, read once from the socket.io-client npm
 * package on first request and kept in memory. */
typedef struct client_file {
    const char *name;
    const char *type;
    char *data;
    size_t len;
    int tried;
} client_file_t;

struct sl_server {
    uv_loop_t *loop;
    sl_server_config_t cfg;
    sl_listener_t listener;
    sl_listener_t relay;     /* sl_server_listen_private's */
    size_t conns;            /* open: what maxConnections caps */
    size_t refusing;         /* conns over it, being answered 503 */
    uint64_t refused;        /* conns answered 503 over maxConnections */
    sl_tls_ctx_t *tls;       /* the public listener's, NULL: plaintext */
    eio_server_t *eio[MAX_MOUNTS];
    int owned_eio[MAX_MOUNTS];
    int neio;
    struct { sl_route_cb cb; void *ud; } routes[MAX_ROUTES];
    int nroutes;
    int serve_client;
    int client_missing;      /* said at start (client_check): not again per file */
    char client_dir[1024];
    char client_etag[64];
    client_file_t client_files[8];
    sl_http_shared_t http;         /* what every HTTP conn here shares */
    sl_budget_t out;               /* the cap on all output queues together */
    sl_log_every_t bad_upgrade;    /* upgrades outside the Engine.IO paths */
    sl_log_every_t busy;           /* conns refused over maxConnections */
    const sl_locator_t *locator;   /* where other nodes' sessions are */
    void *locator_ud;
    /* Every accepted connection's output of a loop turn leaves in one
     * write at the turn's end (net/stream_writer.h). */
    sl_stream_flusher_t flusher;
    uv_timer_t shutdown_timer;
    uint64_t shutdown_started;
    int shutdown_finished;
    void (*shutdown_done)(sl_server_t *);
    struct { void (*cb)(void *ud); void *ud; } closers[4]; /* sl_server_close's */
    int nclosers;
};

void sl_server_config_init(sl_server_config_t *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->host, "::");
    c->port = 3000;
    c->defer_accept = 1;
    c->limits.max_header_bytes = 16384;      /* Node's default */
    c->limits.max_body_bytes = 1000000;      /* maxHttpBufferSize */
    c->limits.max_headers = 2000;            /* Node's maxHeadersCount */
    c->limits.header_timeout_ms = 60000;     /* Node's headersTimeout */
    c->limits.request_timeout_ms = 60000;    /* Node's requestTimeout is 300 s */
    c->limits.max_buffered_bytes = 64u << 20;
    c->limits.keepalive_timeout_ms = 5000;   /* Node's keepAliveTimeout */
    c->limits.write_queue_cap = 16u << 20;
    c->limits.max_output_total = 256u << 20;
    sl_http_compress_init(&c->compress);
}

/* ---- client bundle ------------------------------------------------------ */

static const char *const client_names[8] = {
    "socket.io.js", "socket.io.js.map", "socket.io.min.js", "socket.io.min.js.map",
    "socket.io.esm.min.js", "socket.io.esm.min.js.map", "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sl_buf_t b = SL_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sl_buf_append(&b, chunk, n)) {
            sl_buf_free(&b);
            fclose(f);
            return NULL;
        }
    fclose(f);
    *len = b.len;
    if (!b.data)
        b.data = calloc(1, 1);
    return b.data;
}

/* The ETag is the client's version, as Node's socket.io sends it. */
static void client_load_etag(sl_server_t *srv)
{
    char path[1200];
    size_t len;
    snprintf(path, sizeof path, "%s/../package.json", srv->client_dir);
    char *pkg = read_file(path, &len);
    const char *v = pkg ? strstr(pkg, "\"version\"") : NULL;
    const char *q1 = v ? strchr(v + 9, '"') : NULL;
    const char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
    if (q2 && q2 - q1 < 40)
        snprintf(srv->client_etag, sizeof srv->client_etag, "\"%.*s\"", (int)(q2 - q1 - 1), q1 + 1);
    else
        snprintf(srv->client_etag, sizeof srv->client_etag, "\"%s\"", SIOLUA_VERSION);
    free(pkg);
}

static int serve_client_file(sl_server_t *srv, sl_http_req_t *req, const char *file)
{
    for (int i = 0; i < 8; i++) {
        if (strcmp(file, client_names[i]) != 0)
            continue;
        client_file_t *cf = &srv->client_files[i];
        if (!cf->tried) {
            char path[1200];
            cf->tried = 1;
            snprintf(path, sizeof path, "%s/%s", srv->client_dir, file);
            cf->data = read_file(path, &cf->len);
            if (!cf->data && !srv->client_missing)
                SL_WARN("server", "client bundle %s not found (npm ci in client/?)", path);
            if (!srv->client_etag[0])
                client_load_etag(srv);
        }
        if (!cf->data)
            return 0;
        const char *type = strstr(file, ".map") ? "application/json; charset=utf-8"
                                                : "application/javascript; charset=utf-8";
        sl_http_resp_header(req, "Cache-Control", "public, max-age=0");
        sl_static_serve_bytes(req, type, srv->client_etag, cf->data, cf->len, &srv->cfg.compress);
        return 1;
    }
    return 0;
}

void sl_server_set_serve_client(sl_server_t *srv, int on) { srv->serve_client = on; }

void sl_server_set_client_dir(sl_server_t *srv, const char *dir)
{
    snprintf(srv->client_dir, sizeof srv->client_dir, "%s", dir);
}

/* Said once, when the server starts listening, rather than at a browser's
 * first 404: an install built without client/node_modules has no bundle. */
static void client_check(sl_server_t *srv)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/socket.io.js", srv->client_dir);
    if (!srv->serve_client || access(path, R_OK) == 0)
        return;
    const char *mount = "/socket.io/";
    for (int i = 0; i < srv->neio; i++)
        if (!srv->owned_eio[i]) {
            mount = eio_server_options(srv->eio[i])->path;
            break;
        }
    srv->client_missing = 1;
    SL_WARN("server", "%ssocket.io.js is not served: no client bundle in %s (%s)", mount, srv->client_dir,
            getenv("SIOLUA_CLIENT_DIR") ? "SIOLUA_CLIENT_DIR points there"
                                        : "built without client/node_modules: run scripts/deps.sh before "
                                          "building, or set SIOLUA_CLIENT_DIR");
}

/* "<path>socket.io.js" for the Socket.IO endpoint's path ("/socket.io/"). */
static int route_client(sl_server_t *srv, sl_http_req_t *req)
{
    if (!srv->serve_client || (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")))
        return 0;
    for (int i = 0; i < srv->neio; i++) {
        if (srv->owned_eio[i])
            continue; /* raw Engine.IO endpoints don't serve the client */
        const eio_options_t *o = eio_server_options(srv->eio[i]);
        const char *paths[2] = {o->path, o->alt_path};
        for (int k = 0; k < 2; k++) {
            size_t l = strlen(paths[k]);
            if (l && !strncmp(req->path, paths[k], l) && serve_client_file(srv, req, req->path + l))
                return 1;
        }
    }
    return 0;
}

/* ---- sessions of other nodes ---------------------------------------------- */

void sl_server_set_locator(sl_server_t *srv, const sl_locator_t *ops, void *ud)
{
    srv->locator = ops;
    srv->locator_ud = ud;
}

/* A request waiting for the locator's answer. It lives until the locator
 * calls back (exactly once); req turns NULL if the client leaves first. */
typedef struct locate_wait {
    uv_loop_t *loop;
    sl_http_req_t *req;
} locate_wait_t;

static void locate_aborted(sl_http_req_t *req, void *ud)
{
    (void)req;
    ((locate_wait_t *)ud)->req = NULL;
}

static void relay(uv_loop_t *loop, sl_http_req_t *req, const char *host, int port)
{
    SL_DEBUG("server", "relaying %s %s to %s:%d", req->method, req->url, host, port);
    sl_proxy_request(loop, req, host, port);
}

static void located(void *ud, const char *host, int port)
{
    locate_wait_t *w = ud;
    sl_http_req_t *req = w->req;
    uv_loop_t *loop = w->loop;
    free(w);
    if (!req)
        return; /* the client left meanwhile */
    req->on_abort = NULL;
    if (host)
        relay(loop, req, host, port);
    else /* no such node (any more), or no answer in time */
        sl_http_respond_text(req, 400, "{\"code\":1,\"message\":\"Session ID unknown\"}");
}

/* Takes req when it names a session another node owns, to relay it there;
 * 0 leaves it to the endpoint (which holds the session, or answers). */
static int route_to_owner(sl_server_t *srv, eio_server_t *eio, sl_http_req_t *req)
{
    char sid[32], node[sizeof sid];
    if (!srv->locator || sl_http_header_get(req, SL_PROXY_HEADER) ||
        !eio_server_lacks_sid(eio, req, sid, sizeof sid))
        return 0;
    const char *own = eio_server_options(eio)->sid_prefix;
    size_t n = strlen(own);
    if (n == 0 || strlen(sid) < n || !memcmp(sid, own, n))
        return 0; /* ours: it really is unknown */
    memcpy(node, sid, n);
    node[n] = '\0';
    locate_wait_t *w = malloc(sizeof *w);
    if (!w)
        return 0;
    w->loop = srv->loop;
    w->req = req;
    /* Before asking: an address from a cache comes back at once. */
    req->on_abort = locate_aborted;
    req->abort_ud = w;
    if (srv->locator->locate(srv->locator_ud, node, located, w) != 0) {
        req->on_abort = NULL;
        free(w);
        return 0;
    }
    return 1;
}

/* ---- routing ------------------------------------------------------------ */

/* While draining, an Engine.IO request that names no session would open
 * one that the shutdown closes at once: the client is better told to try
 * another server (or this one again later). */
static int refused_while_draining(sl_server_t *srv, sl_http_req_t *req)
{
    char sid[32];
    if (!srv->shutdown_started || sl_http_query_get(req, "sid", sid, sizeof sid) >= 0)
        return 0;
    sl_http_resp_header(req, "Retry-After", "1");
    sl_http_respond_text(req, 503, "Service Unavailable: the server is shutting down");
    return 1;
}

static void on_request(sl_http_req_t *req, void *ud)
{
    sl_server_t *srv = ud;
    for (int i = 0; i < srv->neio; i++) {
        if (eio_server_match(srv->eio[i], req->path)) {
            if (refused_while_draining(srv, req))
                return;
            if (srv->owned_eio[i] || !route_to_owner(srv, srv->eio[i], req))
                eio_server_handle(srv->eio[i], req);
            return;
        }
    }
    if (req->aborted) {
        sl_http_respond(req, 400, NULL, NULL, 0); /* discarded: frees it */
        return;
    }
    if (req->upgrade) {
        /* Nothing here speaks WebSocket outside the Engine.IO paths. */
        SL_LOG_EVERY(&srv->bad_upgrade, SL_LOG_INFO, "server", "%s: upgrade request for %.200s refused",
                     req->address, req->path);
        sl_http_respond_text(req, 400, "Bad Request");
        return;
    }
    if (route_client(srv, req))
        return;
    for (int i = 0; i < srv->nroutes; i++)
        if (srv->routes[i].cb(req, srv->routes[i].ud))
            return;
    if (srv->cfg.static_root[0] && sl_static_serve(req, srv->cfg.static_root, &srv->cfg.compress))
        return;
    sl_http_respond_text(req, 404, "Not Found");
}

/* Over maxConnections: a conn of its own answers 503 before the request
 * is read (a WebSocket client sees its upgrade refused) and closes once
 * the client has taken it. Those being answered are not counted as open,
 * but at most REFUSING_MAX of them linger; past that the socket just
 * closes. */
#define REFUSING_MAX 256

static void refused_data(sl_conn_t *c, const char *p, size_t n)
{
    (void)c; (void)p; (void)n;
}

static const sl_conn_handler_t refused_handler = {.on_data = refused_data};

static void refuse_connection(sl_server_t *srv, const sl_accepted_t *a, int tls)
{
    srv->refused++;
    SL_LOG_EVERY(&srv->busy, SL_LOG_WARN, "server",
                 "%zu connections open, the most maxConnections allows: answering 503 to new ones",
                 srv->conns);
    /* A TLS client can't read a plaintext answer, and a handshake is the
     * work this refusal saves: closed at once. */
    if (tls || srv->refusing >= REFUSING_MAX) {
        close(a->fd);
        return;
    }
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 19\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                               "Service Unavailable";
    sl_conn_t *c;
    if (sl_conn_open(srv->loop, a, &refused_handler, srv, 1024, &srv->refusing, NULL, NULL, &c) == 0) {
        sl_conn_write(c, busy, sizeof busy - 1);
        sl_conn_close_after_write(c);
    }
}

static void on_accept(sl_listener_t *l, const sl_accepted_t *a, void *ud)
{
    sl_server_t *srv = ud;
    if (srv->cfg.limits.max_connections && srv->conns >= srv->cfg.limits.max_connections) {
        refuse_connection(srv, a, l == &srv->listener && srv->tls);
        return;
    }
    sl_conn_t *c;
    /* The conn starts with no handler; http takes it over at once. */
    static const sl_conn_handler_t none = {0};
    /* The public listener speaks TLS when the server has a context;
     * relays stay plaintext. */
    sl_tls_ctx_t *tls = l == &srv->listener ? srv->tls : NULL;
    int rc = sl_conn_open(srv->loop, a, &none, NULL, srv->cfg.limits.write_queue_cap, &srv->conns, tls,
                          &srv->flusher, &c);
    if (rc) {
        SL_LOG_EVERY(&srv->busy, SL_LOG_WARN, "server", "accept: %s", uv_strerror(rc));
        return;
    }
    sl_conn_set_budget(c, &srv->out);
    sl_http_conn_new(c, &srv->cfg.limits, &srv->http, on_request, srv);
    if (a->data_waiting)
        sl_conn_read_pending(c);
}

sl_server_t *sl_server_new(uv_loop_t *loop, const sl_server_config_t *cfg)
{
    sl_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->cfg.limits.trust_proxy = &srv->cfg.trust_proxy;
    srv->serve_client = 1;
    snprintf(srv->client_dir, sizeof srv->client_dir, "%s", sl_datadir_client());
    sl_budget_init(&srv->out, loop, srv->cfg.limits.max_output_total, "maxOutputBufferTotal");
    sl_listener_init(&srv->listener);
    sl_listener_init(&srv->relay);
    srv->listener.open_conns = srv->relay.open_conns = &srv->conns;
    uv_timer_init(loop, &srv->shutdown_timer);
    srv->shutdown_timer.data = srv;
    sl_stream_flusher_init(loop, &srv->flusher);
    return srv;
}

int sl_server_mount_eio(sl_server_t *srv, eio_server_t *eio)
{
    if (srv->neio == MAX_MOUNTS)
        return -ENOSPC;
    eio_server_set_budget(eio, &srv->out);
    srv->eio[srv->neio++] = eio;
    return 0;
}

/* ---- raw Engine.IO echo endpoint ---------------------------------------- */

static void echo_message(eio_session_t *s, int binary, const char *data, size_t n, void *ud)
{
    (void)ud;
    eio_session_send(s, binary ? EIO_SEND_BINARY : 0, data, n);
}

static const eio_handler_t echo_handler = {
    .on_message = echo_message,
};

int sl_server_mount_eio_echo(sl_server_t *srv, const eio_options_t *opts)
{
    eio_server_t *e = eio_server_new(srv->loop, opts, &echo_handler, NULL);
    if (!e)
        return -ENOMEM;
    int rc = sl_server_mount_eio_owned(srv, e);
    if (rc)
        eio_server_free(e);
    return rc;
}

int sl_server_mount_eio_owned(sl_server_t *srv, eio_server_t *eio)
{
    int rc = sl_server_mount_eio(srv, eio);
    if (rc == 0)
        srv->owned_eio[srv->neio - 1] = 1;
    return rc;
}

sl_server_config_t *sl_server_config_mut(sl_server_t *srv) { return &srv->cfg; }

void sl_server_set_http(sl_server_t *srv, const sl_http_limits_t *limits, const sl_trust_t *trust)
{
    srv->cfg.limits = *limits;
    sl_budget_set_cap(&srv->out, limits->max_output_total);
    srv->cfg.trust_proxy = *trust;
    srv->cfg.limits.trust_proxy = &srv->cfg.trust_proxy;
}

int sl_server_add_route(sl_server_t *srv, sl_route_cb cb, void *ud)
{
    if (srv->nroutes == MAX_ROUTES)
        return -ENOSPC;
    srv->routes[srv->nroutes].cb = cb;
    srv->routes[srv->nroutes].ud = ud;
    srv->nroutes++;
    return 0;
}

/* ---- listen ------------------------------------------------------------- */

/* host:port as a socket address; "localhost" means 127.0.0.1. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss)
{
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    memset(ss, 0, sizeof *ss);
    int rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
    if (rc)
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
    return rc;
}

static void address_text(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[64] = "";
    if (ss->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)ss, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
    } else {
        uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof ip);
        snprintf(out, outlen, "%s:%d", ip, ntohs(((const struct sockaddr_in *)ss)->sin_port));
    }
}

/* Connections waiting to be accepted, as many as net.core.somaxconn allows
 * (the kernel caps any larger number at it, silently): the sysctl decides,
 * so raising it for a burst of reconnects after a restart takes effect. */
#define LISTEN_BACKLOG 65535

int sl_server_listen(sl_server_t *srv, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    const char *host = srv->cfg.host;
    int rc = resolve(host, srv->cfg.port, &ss);
    if (rc)
        return rc;
    rc = sl_listener_open(&srv->listener, srv->loop, (struct sockaddr *)&ss, srv->cfg.reuse_port,
                          srv->cfg.defer_accept, LISTEN_BACKLOG, on_accept, srv);
    if (rc == UV_EAFNOSUPPORT && !strcmp(host, "::")) {
        /* No IPv6 on this machine: all IPv4 addresses then. */
        resolve("0.0.0.0", srv->cfg.port, &ss);
        rc = sl_listener_open(&srv->listener, srv->loop, (struct sockaddr *)&ss, srv->cfg.reuse_port,
                              srv->cfg.defer_accept, LISTEN_BACKLOG, on_accept, srv);
    }
    if (rc)
        return rc;
    client_check(srv);
    sl_listener_address(&srv->listener, &ss);
    address_text(&ss, out, outlen);
    return 0;
}

int sl_server_listen_private(sl_server_t *srv, const char *host, int port, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    int rc = resolve(host, port, &ss);
    if (rc == 0)
        rc = sl_listener_open(&srv->relay, srv->loop, (struct sockaddr *)&ss, 0, 0, LISTEN_BACKLOG, on_accept, srv);
    if (rc)
        return rc;
    sl_listener_address(&srv->relay, &ss);
    address_text(&ss, out, outlen);
    return 0;
}

/* A plain bind (SO_REUSEADDR, as libuv's listeners have, but no
 * SO_REUSEPORT) of host:port: EADDRINUSE when anything listens there or
 * holds it. Returns the port it got (port 0: a free one). */
static int probe_port(const struct sockaddr_storage *ss, int *port)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1, off = 0, rc = 0;
    socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) ||
        (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off)) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0)
        rc = -errno;
    struct sockaddr_storage got;
    len = sizeof got;
    if (rc == 0 && getsockname(fd, (struct sockaddr *)&got, &len) != 0)
        rc = -errno;
    if (rc == 0)
        *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
    close(fd);
    return rc;
}

int sl_server_reserve_port(const char *host, int port, int *fd_out, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    int rc = resolve(host, port, &ss);
    if (rc)
        return rc;
    /* SO_REUSEPORT would let any process of this user join a port already
     * in use, a second `siolua run --workers` included, and the two would
     * silently split the traffic: a plain bind first finds the port taken
     * as a single process would. */
    rc = probe_port(&ss, &port);
    if (rc == UV_EAFNOSUPPORT && !strcmp(host, "::")) {
        resolve("0.0.0.0", port, &ss);
        rc = probe_port(&ss, &port);
    }
    if (rc)
        return rc;
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    /* The holder has SO_REUSEPORT only: without SO_REUSEADDR on both sides,
     * another probe conflicts with it even before the workers listen. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1, off = 0;
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) ||
        (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off)) ||
        bind(fd, (struct sockaddr *)&ss, len) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    address_text(&ss, out, outlen);
    *fd_out = fd;
    return 0;
}

/* ---- shutdown ----------------------------------------------------------- */

/* Closing an sl_conn cascades to the layers above, which close their own
 * timers. Not every TCP handle of the loop is one: the Lua WebSocket client
 * (ws_client.c) owns its own, closed when the Lua state goes. An sl_conn's
 * handle is its first member and points back at it, which tells them apart. */
_Static_assert(offsetof(sl_conn_t, tcp) == 0, "close_conn relies on tcp being first");
static void close_conn(uv_handle_t *h, void *ud)
{
    (void)ud;
    if (h->type == UV_TCP && !uv_is_closing(h) && h->data == (void *)h)
        sl_conn_close(h->data);
}

static size_t sessions_left(sl_server_t *srv)
{
    size_t n = 0;
    for (int i = 0; i < srv->neio; i++)
        n += eio_server_session_count(srv->eio[i]);
    return n;
}

/* Waits (briefly) for polling clients to collect their close packets and
 * for output to drain, then closes every handle so the loop ends. */
static void shutdown_tick(uv_timer_t *t)
{
    sl_server_t *srv = t->data;
    uint64_t waited = uv_now(srv->loop) - srv->shutdown_started;
    size_t left = sessions_left(srv);
    if (left && waited < 2000)
        return;
    if (left)
        SL_INFO("server", "%zu session%s did not collect the close packet within 2 s: dropped", left,
                left == 1 ? "" : "s");
    uv_close((uv_handle_t *)t, NULL);
    sl_listener_close(&srv->listener);
    sl_listener_close(&srv->relay);
    for (int i = 0; i < srv->neio; i++)
        eio_server_stop(srv->eio[i]);
    uv_walk(srv->loop, close_conn, NULL);
    sl_stream_flusher_close(&srv->flusher, NULL); /* its writers are closed */
    sl_budget_close(&srv->out);
    srv->shutdown_finished = 1;
    for (int i = 0; i < srv->nclosers; i++)
        srv->closers[i].cb(srv->closers[i].ud);
    srv->nclosers = 0;
    if (srv->shutdown_done)
        srv->shutdown_done(srv);
}

static void shutdown_start(sl_server_t *srv)
{
    srv->shutdown_started = uv_now(srv->loop) | 1;
    /* The listeners stay open while the sessions drain (closed, with both
     * handles, listening or not, at the end of it, before done or the
     * closers are called): a polling client may need a new connection to
     * collect its close packet, and a health check gets its 503
     * (sl_server_draining) instead of a refusal. New Engine.IO sessions are
     * refused meanwhile. The wait below can take seconds: say what it waits for. */
    size_t n = sessions_left(srv);
    if (n)
        SL_INFO("server", "closing %zu session%s (up to 2 s for polling clients to collect the close)", n,
                n == 1 ? "" : "s");
    for (int i = 0; i < srv->neio; i++)
        eio_server_close_all(srv->eio[i]);
    uv_timer_start(&srv->shutdown_timer, shutdown_tick, 20, 20);
}

void sl_server_shutdown(sl_server_t *srv, void (*done)(sl_server_t *srv))
{
    if (srv->shutdown_finished) { /* closed already (sl_server_close) */
        if (done)
            done(srv);
        return;
    }
    if (srv->shutdown_done)
        return;
    srv->shutdown_done = done;
    if (!srv->shutdown_started)
        shutdown_start(srv);
}

int sl_server_close(sl_server_t *srv, void (*done)(void *ud), void *ud)
{
    if (srv->shutdown_finished)
        return 1;
    if (srv->nclosers == (int)(sizeof srv->closers / sizeof *srv->closers))
        return -ENOSPC;
    srv->closers[srv->nclosers].cb = done;
    srv->closers[srv->nclosers].ud = ud;
    srv->nclosers++;
    if (!srv->shutdown_started)
        shutdown_start(srv);
    return 0;
}

void sl_server_stats(const sl_server_t *srv, sl_server_stats_t *st)
{
    st->connections = srv->conns;
    st->refused_busy = srv->refused;
    st->accepted = srv->listener.stats.accepted + srv->relay.stats.accepted;
    st->fd_exhausted = srv->listener.stats.fd_exhausted + srv->relay.stats.fd_exhausted;
    st->dropped_no_fd = srv->listener.stats.dropped + srv->relay.stats.dropped;
    st->body_bytes = srv->http.body_bytes;
    st->refused_bodies = srv->http.busy.total;
    st->timed_out = srv->http.timeout.total;
    st->bad_requests = srv->http.bad.total;
    st->output_bytes = srv->out.used;
    st->output_dropped = srv->out.dropped;
}

int sl_server_draining(const sl_server_t *srv) { return srv->shutdown_started != 0; }

void sl_server_set_tls(sl_server_t *srv, sl_tls_ctx_t *ctx)
{
    if (ctx)
        sl_tls_ctx_ref(ctx);
    sl_tls_ctx_unref(srv->tls);
    srv->tls = ctx;
}

int sl_server_secure(const sl_server_t *srv) { return srv->tls != NULL; }

void sl_server_free(sl_server_t *srv)
{
    if (!srv)
        return;
    /* Closed already by a shutdown; if not, the loop has closed the
     * handles (the caller's walk), and the sockets close here. */
    sl_listener_close(&srv->listener);
    sl_listener_close(&srv->relay);
    for (int i = 0; i < 8; i++)
        free(srv->client_files[i].data);
    sl_tls_ctx_unref(srv->tls);
    for (int i = 0; i < srv->neio; i++)
        if (srv->owned_eio[i])
            eio_server_free(srv->eio[i]);
    free(srv);
}
