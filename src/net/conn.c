/* L1 net/conn: TCP connection with a bounded write queue. See conn.h. */
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

static sl_conn_stats_t stats;

const sl_conn_stats_t *sl_conn_stats(void) { return &stats; }

static void linger_closed_cb(uv_handle_t *h) { free(h); }

static void conn_closed_cb(uv_handle_t *h)
{
    sl_conn_t *c = h->data;
    if (c->handler && c->handler->on_close)
        c->handler->on_close(c);
    sl_buf_free(&c->inflight);
    sl_buf_free(&c->queue);
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
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void linger_timeout_cb(uv_timer_t *t) { sl_conn_close(t->data); }

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    sl_conn_t *c = req->data;
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

/* Shut down our side, keep reading (and dropping) until the peer closes or
 * the linger time is over. */
static void conn_linger(sl_conn_t *c)
{
    c->lingering = 1;
    c->sreq.data = c;
    sl_conn_resume(c);
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0)
        sl_conn_close(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl_conn_t *c = s->data;
    if (nread > 0) {
        stats.bytes_received += (uint64_t)nread;
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
    c->queue_cap = queue_cap;
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

size_t sl_conn_queued(const sl_conn_t *c) { return c->inflight.len + c->queue.len; }

static void conn_flush(sl_conn_t *c);

static void conn_write_cb(uv_write_t *req, int status)
{
    sl_conn_t *c = req->data;
    c->writing = 0;
    if (status == 0)
        stats.bytes_sent += c->inflight.len;
    sl_buf_reset(&c->inflight);
    if (c->closing)
        return;
    if (status < 0) {
        sl_conn_close(c);
        return;
    }
    conn_flush(c);
    if (!c->writing) {
        if (c->close_after_write)
            conn_linger(c);
        else if (c->handler->on_drain)
            c->handler->on_drain(c);
    }
}

/* Moves the queue into flight. Swapping the two buffers keeps their memory
 * for reuse instead of allocating per write. */
static void conn_flush(sl_conn_t *c)
{
    if (c->writing || c->queue.len == 0 || c->closing)
        return;
    sl_buf_t t = c->inflight;
    c->inflight = c->queue;
    c->queue = t;
    sl_buf_reset(&c->queue);
    uv_buf_t b = uv_buf_init(c->inflight.data, (unsigned)c->inflight.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb) == 0)
        c->writing = 1;
    else
        sl_conn_close(c);
}

static int conn_writev(sl_conn_t *c, const uv_buf_t *bufs, unsigned n, int capped);

int sl_conn_writev(sl_conn_t *c, const uv_buf_t *bufs, unsigned n)
{
    return conn_writev(c, bufs, n, 1);
}

int sl_conn_writev_uncapped(sl_conn_t *c, const uv_buf_t *bufs, unsigned n)
{
    return conn_writev(c, bufs, n, 0);
}

static int conn_writev(sl_conn_t *c, const uv_buf_t *bufs, unsigned n, int capped)
{
    if (c->closing || c->close_after_write)
        return -EPIPE;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (total == 0)
        return 0;
    size_t done = 0;
    if (!c->writing && c->queue.len == 0) {
        int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (w > 0) {
            done = (size_t)w;
            stats.bytes_sent += done;
        }
        else if (w < 0 && w != UV_EAGAIN) {
            sl_conn_close(c);
            return -EPIPE;
        }
        if (done == total)
            return 0;
    }
    int over = capped && sl_conn_queued(c) + (total - done) > c->queue_cap;
    if (over && done == 0)
        return -ENOBUFS; /* nothing written: the caller decides */
    /* Over the cap after a partial write: the rest is queued anyway, so the
     * peer gets whole frames and then a clean close, never half a frame. */
    if (sl_buf_reserve(&c->queue, total - done))
        return -ENOMEM;
    size_t skip = done;
    for (unsigned i = 0; i < n; i++) {
        size_t len = bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        sl_buf_append(&c->queue, bufs[i].base + skip, len - skip);
        skip = 0;
    }
    conn_flush(c);
    return over ? -ENOBUFS : 0;
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
    if (!c->writing && c->queue.len == 0)
        conn_linger(c);
}
