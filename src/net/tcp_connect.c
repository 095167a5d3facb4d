/* L1 net/tcp_connect: dialing out (contract in tcp_connect.h). Knows nothing of
 * the protocol spoken afterwards.
 *
 * The attempt lives until it has reported (or was cancelled) and libuv has
 * called back for everything that points at it (`refs`: the lookup, the
 * connect request, the handle of a failed or abandoned attempt until it
 * has closed). A failed connect leaves its handle unusable, so each
 * address gets a fresh one. */
#include "net/tcp_connect.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_tcp_connect {
    uv_loop_t *loop;
    sl_tcp_connect_cb cb; /* NULL once reported or cancelled */
    void *ud;
    int refs;
    uv_getaddrinfo_t gai;
    unsigned resolving : 1;
    struct addrinfo *ai, *next;
    struct sockaddr_storage lit; /* the host is an address literal */
    int lit_state;               /* 0: not one, 1: to try, 2: tried */
    uv_tcp_t *tcp;               /* the current attempt */
    uv_connect_t creq;
    char host[256];
    char authority[270];         /* host:port for messages, [v6]:port */
};

static void maybe_free(sl_tcp_connect_t *op)
{
    if (op->cb || op->refs > 0)
        return;
    if (op->ai)
        uv_freeaddrinfo(op->ai);
    free(op);
}

static void tcp_closed_cb(uv_handle_t *h)
{
    sl_tcp_connect_t *op = h->data;
    free(h);
    op->refs--;
    maybe_free(op);
}

static void drop_tcp(sl_tcp_connect_t *op)
{
    uv_tcp_t *t = op->tcp;
    op->tcp = NULL;
    if (t)
        uv_close((uv_handle_t *)t, tcp_closed_cb);
}

/* The one report: the attempt is freed first (nothing of it is needed by
 * the callback), the callback last. */
static void report(sl_tcp_connect_t *op, uv_tcp_t *tcp, int code, const char *err)
{
    sl_tcp_connect_cb cb = op->cb;
    void *ud = op->ud;
    op->cb = NULL;
    maybe_free(op);
    cb(tcp, code, err, ud);
}

static void connect_cb(uv_connect_t *req, int status);

/* Starts a connect to the next address: 0, or the last error when none is
 * left (nothing reported here). */
static int try_next(sl_tcp_connect_t *op, int last_err)
{
    for (;;) {
        const struct sockaddr *sa = NULL;
        if (op->lit_state == 1) {
            op->lit_state = 2;
            sa = (const struct sockaddr *)&op->lit;
        }
        while (!sa && op->next) {
            struct addrinfo *a = op->next;
            op->next = a->ai_next;
            if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
                sa = a->ai_addr;
        }
        if (!sa)
            return last_err;
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t)
            return UV_ENOMEM;
        uv_tcp_init(op->loop, t);
        t->data = op;
        op->tcp = t;
        op->refs++; /* the handle, until it is handed over or closed */
        op->creq.data = op;
        int rc = uv_tcp_connect(&op->creq, t, sa, connect_cb);
        if (rc == 0) {
            op->refs++;
            return 0;
        }
        drop_tcp(op);
        last_err = rc;
    }
}

static void fail_connect(sl_tcp_connect_t *op, int err)
{
    char msg[400];
    snprintf(msg, sizeof msg, "cannot connect to %s: %s", op->authority, uv_strerror(err));
    report(op, NULL, SL_TCP_CONNECT_EREFUSED, msg);
}

static void connect_cb(uv_connect_t *req, int status)
{
    sl_tcp_connect_t *op = req->data;
    op->refs--;
    if (!op->cb) { /* cancelled: its handle is closing already */
        maybe_free(op);
        return;
    }
    if (status < 0) {
        drop_tcp(op);
        int rc = try_next(op, status);
        if (rc)
            fail_connect(op, rc);
        return;
    }
    uv_tcp_t *t = op->tcp;
    op->tcp = NULL;
    op->refs--; /* the handle is the caller's now */
    t->data = NULL;
    report(op, t, 0, NULL);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    sl_tcp_connect_t *op = req->data;
    op->refs--;
    op->resolving = 0;
    if (!op->cb) {
        if (res)
            uv_freeaddrinfo(res);
        maybe_free(op);
        return;
    }
    if (status < 0 || !res) {
        char msg[400];
        snprintf(msg, sizeof msg, "DNS lookup for %s failed: %s", op->host,
                 status < 0 ? uv_strerror(status) : "no address");
        if (res)
            uv_freeaddrinfo(res);
        report(op, NULL, SL_TCP_CONNECT_EDNS, msg);
        return;
    }
    op->ai = op->next = res;
    int rc = try_next(op, UV_EADDRNOTAVAIL);
    if (rc)
        fail_connect(op, rc);
}

int sl_tcp_connect_start(uv_loop_t *loop, const char *host, const char *port, sl_tcp_connect_cb cb, void *ud,
                         sl_tcp_connect_t **out, char *err, size_t errlen)
{
    sl_tcp_connect_t *op = calloc(1, sizeof *op);
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return SL_TCP_CONNECT_EREFUSED;
    }
    op->loop = loop;
    op->cb = cb;
    op->ud = ud;
    snprintf(op->host, sizeof op->host, "%s", host);
    snprintf(op->authority, sizeof op->authority, strchr(host, ':') ? "[%s]:%s" : "%s:%s", op->host, port);
    int portn = atoi(port);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&op->lit;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&op->lit;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)portn);
        op->lit_state = 1;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)portn);
        op->lit_state = 1;
    }
    int rc;
    if (op->lit_state) {
        rc = try_next(op, UV_EADDRNOTAVAIL);
    } else {
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        op->gai.data = op;
        rc = uv_getaddrinfo(loop, &op->gai, gai_cb, op->host, port, &hints);
        if (rc == 0) {
            op->refs++;
            op->resolving = 1;
        }
    }
    if (rc) {
        if (op->lit_state)
            snprintf(err, errlen, "cannot connect to %s: %s", op->authority, uv_strerror(rc));
        else
            snprintf(err, errlen, "DNS lookup for %s failed: %s", op->host, uv_strerror(rc));
        int code = op->lit_state ? SL_TCP_CONNECT_EREFUSED : SL_TCP_CONNECT_EDNS;
        op->cb = NULL; /* nothing to report: the caller gets the code */
        maybe_free(op);
        return code;
    }
    if (out)
        *out = op;
    return 0;
}

void sl_tcp_connect_cancel(sl_tcp_connect_t *op)
{
    if (!op || !op->cb)
        return;
    op->cb = NULL;
    if (op->resolving)
        uv_cancel((uv_req_t *)&op->gai); /* its callback still comes */
    drop_tcp(op);                        /* the connect request ends with it */
    maybe_free(op);
}

void sl_tcp_read_slab(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof slab;
}
