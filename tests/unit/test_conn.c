/* Unit tests for net/conn's opening of an accepted socket on a real libuv
 * loop: the peer's address text a conn gives (what the handshake's address
 * and the logs show) is inet_ntop's, for IPv4, IPv4 mapped into IPv6 (a
 * dual-stack listener) and IPv6. Each test listens on loopback with
 * net/listener (as the server does), connects from a chosen source
 * address, opens a conn on the descriptor accepted and closes everything. */
#include <string.h>
#include <uv.h>

#include "net/conn.h"
#include "net/listener.h"
#include "testlib.h"

typedef struct fx {
    sl_listener_t listener;
    uv_tcp_t client;
    uv_connect_t creq;
    char peer[64];
    int accepted;
} fx_t;

static void conn_closed(sl_conn_t *c) { (void)c; }
static void conn_data(sl_conn_t *c, const char *p, size_t n) { (void)c, (void)p, (void)n; }
static const sl_conn_handler_t handler = {.on_data = conn_data, .on_close = conn_closed};

static void on_connection(sl_listener_t *l, int fd, void *ud)
{
    fx_t *f = ud;
    sl_conn_t *c;
    if (sl_conn_open(tl_loop(), fd, &handler, f, 0, NULL, NULL, NULL, &c) == 0) {
        char peer[SL_CONN_PEER_MAX];
        snprintf(f->peer, sizeof f->peer, "%s", sl_conn_peer(c, peer));
        f->accepted = 1;
        sl_conn_close(c);
    }
    sl_listener_close(l);
    uv_close((uv_handle_t *)&f->client, NULL);
}

static void on_connect(uv_connect_t *req, int status) { (void)req, (void)status; }

/* Connects from `from` to a listener on `on` and returns what the conn
 * says its peer is ("" when it could not). */
static const char *peer_of(fx_t *f, const char *on, const char *from)
{
    struct sockaddr_storage la, ca;
    memset(f, 0, sizeof *f);
    int v6 = strchr(on, ':') != NULL;
    if (v6)
        uv_ip6_addr(on, 0, (struct sockaddr_in6 *)&la);
    else
        uv_ip4_addr(on, 0, (struct sockaddr_in *)&la);
    if (strchr(from, ':'))
        uv_ip6_addr(from, 0, (struct sockaddr_in6 *)&ca);
    else
        uv_ip4_addr(from, 0, (struct sockaddr_in *)&ca);
    sl_listener_init(&f->listener);
    uv_tcp_init(tl_loop(), &f->client);
    if (sl_listener_open(&f->listener, tl_loop(), (struct sockaddr *)&la, 0, 8, on_connection, f) ||
        sl_listener_address(&f->listener, &la) ||
        uv_tcp_bind(&f->client, (struct sockaddr *)&ca, 0)) {
        sl_listener_close(&f->listener);
        uv_close((uv_handle_t *)&f->client, NULL);
        uv_run(tl_loop(), UV_RUN_DEFAULT);
        return "";
    }
    /* To the listener's port, on the client's family. */
    if (ca.ss_family == AF_INET) {
        int port = ntohs(la.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&la)->sin6_port
                                                  : ((struct sockaddr_in *)&la)->sin_port);
        uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&la);
    }
    uv_tcp_connect(&f->creq, &f->client, (struct sockaddr *)&la, on_connect);
    uv_run(tl_loop(), UV_RUN_DEFAULT);
    return f->accepted ? f->peer : "";
}

static void conn_peer_ipv4_as_dotted_decimal(void)
{
    fx_t f;
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.0.0.1"), "127.0.0.1"));
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.10.200.3"), "127.10.200.3"));
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.255.0.99"), "127.255.0.99"));
}

/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d, as Node does. */
static void conn_peer_ipv4_mapped_on_a_dual_stack_listener(void)
{
    fx_t f;
    const char *p = peer_of(&f, "::", "127.1.2.250");
    if (!*p)
        return; /* no IPv6 on this machine */
    CHECK(!strcmp(p, "::ffff:127.1.2.250"));
}

static void conn_peer_ipv6(void)
{
    fx_t f;
    const char *p = peer_of(&f, "::1", "::1");
    if (!*p)
        return; /* no IPv6 loopback */
    CHECK(!strcmp(p, "::1"));
}

TL_SUITE(conn, NULL, NULL,
         TL_TEST(conn_peer_ipv4_as_dotted_decimal),
         TL_TEST(conn_peer_ipv4_mapped_on_a_dual_stack_listener),
         TL_TEST(conn_peer_ipv6));
