/* Unit tests for net/conn's opening of an accepted socket on a real libuv
 * loop: the peer's address text a conn gives (what the handshake's address
 * and the logs show) is inet_ntop's, for IPv4, IPv4 mapped into IPv6 (a
 * dual-stack listener) and IPv6, whether it comes with the accept or is
 * asked of the socket; and an accepted conn has TCP_NODELAY on, inherited
 * from the listening socket or set on its own; a listener that defers
 * accepting hands a connection over with its first bytes waiting, and the
 * conn reads them within the accept. Each test listens on
 * loopback with net/listener (as the server does), connects from a chosen
 * source address, opens a conn on the descriptor accepted and closes
 * everything. */
#include <netinet/tcp.h>
#include <sys/socket.h>
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
    int ask;          /* open the conn as if the accept told nothing */
    int told_peer;    /* the listener gave the peer's address */
    int nodelay;      /* the conn's socket has TCP_NODELAY on */
    int defer;        /* the listener defers accepting (TCP_DEFER_ACCEPT) */
    const char *say;  /* the client sends this once connected */
    int data_waiting; /* the accept said the first bytes are there */
    char got[32];     /* what the conn read within the accept callback */
} fx_t;

static void conn_closed(sl_conn_t *c) { (void)c; }
static void conn_data(sl_conn_t *c, const char *p, size_t n)
{
    fx_t *f = c->owner;
    size_t have = strlen(f->got);
    if (have + n < sizeof f->got)
        memcpy(f->got + have, p, n);
}
static const sl_conn_handler_t handler = {.on_data = conn_data, .on_close = conn_closed};

static void on_connection(sl_listener_t *l, const sl_accepted_t *a, void *ud)
{
    fx_t *f = ud;
    sl_conn_t *c;
    sl_accepted_t asked = {.fd = a->fd};
    f->told_peer = a->peer != NULL;
    if (f->ask) {
        /* As a socket that never had it: the conn must set it. */
        int off = 0;
        setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof off);
    }
    if (sl_conn_open(tl_loop(), f->ask ? &asked : a, &handler, f, 0, NULL, NULL, NULL, &c) == 0) {
        char peer[SL_CONN_PEER_MAX];
        snprintf(f->peer, sizeof f->peer, "%s", sl_conn_peer(c, peer));
        f->accepted = 1;
        f->data_waiting = a->data_waiting;
        if (a->data_waiting)
            sl_conn_read_pending(c);
        uv_os_fd_t fd;
        int v = 0;
        socklen_t len = sizeof v;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
            getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0)
            f->nodelay = v != 0;
        sl_conn_close(c);
    }
    sl_listener_close(l);
    uv_close((uv_handle_t *)&f->client, NULL);
}

static void on_connect(uv_connect_t *req, int status)
{
    fx_t *f = req->data;
    if (status == 0 && f->say) {
        uv_buf_t b = uv_buf_init((char *)f->say, (unsigned)strlen(f->say));
        uv_try_write((uv_stream_t *)&f->client, &b, 1);
    }
}

/* Connects from `from` to a listener on `on` and returns what the conn
 * says its peer is ("" when it could not). */
static const char *peer_of(fx_t *f, const char *on, const char *from)
{
    struct sockaddr_storage la, ca;
    fx_t keep = *f;
    memset(f, 0, sizeof *f);
    f->ask = keep.ask;
    f->defer = keep.defer;
    f->say = keep.say;
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
    if (sl_listener_open(&f->listener, tl_loop(), (struct sockaddr *)&la, 0, f->defer, 8, on_connection, f) ||
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
    f->creq.data = f;
    uv_tcp_connect(&f->creq, &f->client, (struct sockaddr *)&la, on_connect);
    uv_run(tl_loop(), UV_RUN_DEFAULT);
    return f->accepted ? f->peer : "";
}

static void conn_peer_ipv4_as_dotted_decimal(void)
{
    fx_t f = {0};
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.0.0.1"), "127.0.0.1"));
    CHECK(f.told_peer);
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.10.200.3"), "127.10.200.3"));
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.255.0.99"), "127.255.0.99"));
}

/* A conn opened on a socket the accept told nothing of (a descriptor from
 * elsewhere) asks the socket for its peer and sets TCP_NODELAY itself. */
static void conn_peer_asked_of_the_socket(void)
{
    fx_t f = {.ask = 1};
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.10.200.3"), "127.10.200.3"));
    CHECK(f.nodelay);
}

/* The listener sets TCP_NODELAY once, on its socket: every accepted one
 * has it without a setsockopt of its own (and if a kernel didn't pass it
 * on, the listener would see that and each conn would set it). */
static void conn_accepted_with_nodelay(void)
{
    fx_t f = {0};
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.0.0.1"), "127.0.0.1"));
    CHECK(f.nodelay);
    CHECK(f.listener.nodelay); /* Linux: inherited, so no conn sets it */
}

/* With deferAccept the kernel hands the connection over once the client's
 * first bytes are in (Linux): the accept says so and the conn reads them
 * there and then, not on a later loop turn. Without it, nothing is read
 * within the accept. */
static void conn_deferred_accept_reads_at_once(void)
{
    fx_t f = {.defer = 1, .say = "GET / HTTP/1.1\r\n"};
    CHECK(!strcmp(peer_of(&f, "127.0.0.1", "127.0.0.1"), "127.0.0.1"));
    CHECK(f.listener.deferred);
    CHECK(f.data_waiting);
    CHECK(!strcmp(f.got, "GET / HTTP/1.1\r\n"));

    fx_t g = {.defer = 0, .say = "GET / HTTP/1.1\r\n"};
    CHECK(!strcmp(peer_of(&g, "127.0.0.1", "127.0.0.1"), "127.0.0.1"));
    CHECK(!g.listener.deferred);
    CHECK(!g.data_waiting);
    CHECK(!strcmp(g.got, ""));
}

/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d, as Node does. */
static void conn_peer_ipv4_mapped_on_a_dual_stack_listener(void)
{
    fx_t f = {0};
    const char *p = peer_of(&f, "::", "127.1.2.250");
    if (!*p)
        return; /* no IPv6 on this machine */
    CHECK(!strcmp(p, "::ffff:127.1.2.250"));
}

static void conn_peer_ipv6(void)
{
    fx_t f = {0};
    const char *p = peer_of(&f, "::1", "::1");
    if (!*p)
        return; /* no IPv6 loopback */
    CHECK(!strcmp(p, "::1"));
}

TL_SUITE(conn, NULL, NULL,
         TL_TEST(conn_peer_ipv4_as_dotted_decimal),
         TL_TEST(conn_peer_asked_of_the_socket),
         TL_TEST(conn_accepted_with_nodelay),
         TL_TEST(conn_deferred_accept_reads_at_once),
         TL_TEST(conn_peer_ipv4_mapped_on_a_dual_stack_listener),
         TL_TEST(conn_peer_ipv6));
