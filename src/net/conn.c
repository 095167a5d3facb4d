/* L1 net/conn: TCP connection whose output goes through the stream writer. See conn.h. */
#include "net/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One static read buffer for the whole loop: every on_data consumer
     * copies what it keeps, so no per-connection read buffer is needed. */
    static char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof slab;
}

#define LINGER_MS 2000

static void linger_closed_cb(uv_handle_t *h) { free(h); }

static void conn_closed_cb(uv_handle_t *h)
{
    sl_conn_t *c = h->data;
    if (c->handler && c->handler->on_close)
        c->handler->on_close(c);
    free(c);
}

void sl_conn_close(sl_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->linger) {
        uv_close((uv_handle_t *)c->linger, linger_closed_cb);
        c->linger = NULL;
    }
    sl_stream_writer_close(&c->out); /* pending output is dropped */
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void linger_timeout_cb(uv_timer_t *t) { sl_conn_close(t->data); }

/* The write side is shut down: what the peer still sends is dropped until
 * it closes or the linger time is over. */
static void conn_shutdown_cb(sl_stream_writer_t *w, int status)
{
    sl_conn_t *c = w->data;
    if (c->closing)
        return;
    if (status < 0) {
        sl_conn_close(c);
        return;
    }
    c->linger = malloc(sizeof *c->linger);
    if (!c->linger) {
        sl_conn_close(c);
        return;
    }
    uv_timer_init(c->tcp.loop, c->linger);
    c->linger->data = c;
    uv_timer_start(c->linger, linger_timeout_cb, LINGER_MS, 0);
}

/* Every queued byte is written: shut down our side, keep reading (and
 * dropping) until the peer closes or the linger time is over. */
static void conn_linger(sl_conn_t *c)
{
    c->lingering = 1;
    sl_conn_resume(c);
    if (sl_stream_writer_shutdown(&c->out) != 0)
        sl_conn_close(c);
}

static void conn_drain_cb(sl_stream_writer_t *w)
{
    sl_conn_t *c = w->data;
    if (c->closing)
        return;
    if (c->close_after_write)
        conn_linger(c);
    else if (c->handler->on_drain)
        c->handler->on_drain(c);
}

static void conn_write_error_cb(sl_stream_writer_t *w, int status)
{
    (void)status;
    sl_conn_close(w->data);
}

static const sl_stream_writer_handler_t conn_writer_handler = {
    .on_drain = conn_drain_cb,
    .on_error = conn_write_error_cb,
    .on_shutdown = conn_shutdown_cb,
};

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl_conn_t *c = s->data;
    if (nread > 0) {
        if (!c->closing && !c->lingering && !c->close_after_write)
            c->handler->on_data(c, buf->base, (size_t)nread);
    } else if (nread < 0) {
        sl_conn_close(c);
    }
}

int sl_conn_accept(uv_stream_t *server, const sl_conn_handler_t *h, void *owner,
                   size_t queue_cap, sl_conn_t **out)
{
    sl_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    int rc = uv_tcp_init(server->loop, &c->tcp);
    if (rc) {
        free(c);
        return rc;
    }
    c->tcp.data = c;
    c->handler = h;
    c->owner = owner;
    sl_stream_writer_init(&c->out, (uv_stream_t *)&c->tcp, queue_cap, &conn_writer_handler, c);
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc) {
        c->handler = NULL; /* the upper layer never saw it */
        sl_conn_close(c);
        return rc;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
        else
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    }
    *out = c;
    sl_conn_resume(c);
    return 0;
}

void sl_conn_set_handler(sl_conn_t *c, const sl_conn_handler_t *h, void *owner)
{
    c->handler = h;
    c->owner = owner;
}

void sl_conn_set_queue_cap(sl_conn_t *c, size_t cap) { sl_stream_writer_set_cap(&c->out, cap); }

void sl_conn_pause(sl_conn_t *c)
{
    if (c->reading && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

void sl_conn_resume(sl_conn_t *c)
{
    if (!c->reading && !c->closing) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) == 0)
            c->reading = 1;
    }
}

size_t sl_conn_queued(const sl_conn_t *c) { return sl_stream_writer_queued(&c->out); }

/* Out of line: the write that succeeds pays for none of it. */
__attribute__((noinline)) static int conn_write_failed(sl_conn_t *c, int rc)
{
    if (rc == -ENOBUFS || rc == -ENOMEM)
        return rc;
    sl_conn_close(c); /* the stream failed */
    return -EPIPE;
}

static int conn_writev(sl_conn_t *c, const uv_buf_t *bufs, sl_rcbuf_t *const *rcs, unsigned n,
                       unsigned flags)
{
    if (c->closing || c->close_after_write)
        return -EPIPE;
    int rc = sl_stream_writer_writev(&c->out, bufs, rcs, n, flags);
    return rc == 0 ? 0 : conn_write_failed(c, rc);
}

int sl_conn_writev(sl_conn_t *c, const uv_buf_t *bufs, unsigned n)
{
    return conn_writev(c, bufs, NULL, n, 0);
}

int sl_conn_writev_rcs(sl_conn_t *c, const uv_buf_t *bufs, sl_rcbuf_t *const *rcs, unsigned n)
{
    return conn_writev(c, bufs, rcs, n, 0);
}

int sl_conn_writev_uncapped(sl_conn_t *c, const uv_buf_t *bufs, unsigned n)
{
    return conn_writev(c, bufs, NULL, n, SL_STREAM_WRITE_UNCAPPED);
}

int sl_conn_write(sl_conn_t *c, const void *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return sl_conn_writev(c, &b, 1);
}

void sl_conn_close_after_write(sl_conn_t *c)
{
    if (c->closing)
        return;
    c->close_after_write = 1;
    if (sl_stream_writer_queued(&c->out) == 0)
        conn_linger(c);
}
