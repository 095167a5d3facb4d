/* L1 net/conn: TCP connection whose output goes through the stream writer,
 * with TLS in between when asked. See conn.h. */
#include "net/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

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

/* Writes the four bytes at b as dotted decimal; returns the end. */
static char *ip4_text(char *out, const unsigned char *b)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
    return out - 1;
}

/* The peer's address as text, as inet_ntop writes it. IPv4 and IPv4
 * mapped into IPv6 (every IPv4 client of a dual-stack listener) are
 * written here: libuv's inet_ntop makes one snprintf per group, a tenth
 * of what accepting a connection cost in user space. */
const char *sl_conn_peer(const sl_conn_t *c, char out[SL_CONN_PEER_MAX])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const unsigned char *b = c->peer_addr;
    out[0] = '\0';
    if (c->peer_family == AF_INET) {
        ip4_text(out, b);
    } else if (c->peer_family == AF_INET6) {
        if (memcmp(b, mapped, sizeof mapped) == 0) {
            ip4_text(stpcpy(out, "::ffff:"), b + 12);
        } else {
            struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
            memcpy(&sa.sin6_addr, b, 16);
            uv_ip6_name(&sa, out, SL_CONN_PEER_MAX);
        }
    }
    return out;
}

static void peer_keep(sl_conn_t *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        memcpy(c->peer_addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        c->peer_family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(c->peer_addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        c->peer_family = AF_INET6;
    }
}

#define LINGER_MS 2000

static sl_conn_stats_t stats;

const sl_conn_stats_t *sl_conn_stats(void) { return &stats; }

/* The writer counts what the kernel took; the process's total catches up
 * with it after each write, at each drain and at the close, so output that
 * waited is counted once it is gone. */
static void count_sent(sl_conn_t *c) { stats.bytes_sent += sl_stream_writer_take_written(&c->out); }

static sl_conn_t *conn_of(sl_stream_writer_t *w) { return SL_CONTAINER_OF(w, sl_conn_t, out); }

static void linger_closed_cb(uv_handle_t *h) { free(h); }

static void conn_closed_cb(uv_handle_t *h)
{
    sl_conn_t *c = h->data;
    if (c->live)
        (*c->live)--;
    if (c->handler && c->handler->on_close)
        c->handler->on_close(c);
    sl_tls_free(c->tls);
    free(c);
}

void sl_conn_close(sl_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    count_sent(c);
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
    sl_conn_t *c = conn_of(w);
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

/* Our side is shut down once every queued byte is written; meanwhile and
 * after, what the peer sends is read and dropped until it closes or the
 * linger time is over. */
static void conn_linger(sl_conn_t *c)
{
    c->lingering = 1;
    sl_conn_resume(c);
    if (sl_stream_writer_shutdown(&c->out) != 0)
        sl_conn_close(c);
}

static void conn_drain_cb(sl_stream_writer_t *w)
{
    sl_conn_t *c = conn_of(w);
    if (c->closing)
        return;
    count_sent(c);
    if (c->handler->on_drain)
        c->handler->on_drain(c);
}

/* What the flusher wrote at the turn's end is counted then, not at the
 * connection's close. */
static void conn_flushed_cb(sl_stream_writer_t *w)
{
    sl_conn_t *c = conn_of(w);
    if (!c->closing)
        count_sent(c);
}

static void conn_write_error_cb(sl_stream_writer_t *w, int status)
{
    (void)status;
    sl_conn_close(conn_of(w));
}

/* The peer's text for the budget's warning, made when it is written (the
 * conn keeps the address as bytes); the line takes it at once. */
static const char *conn_name_cb(sl_stream_writer_t *w)
{
    static char peer[SL_CONN_PEER_MAX];
    return sl_conn_peer(conn_of(w), peer);
}

static const sl_stream_writer_handler_t conn_writer_handler = {
    .on_drain = conn_drain_cb,
    .on_error = conn_write_error_cb,
    .on_shutdown = conn_shutdown_cb,
    .on_flushed = conn_flushed_cb,
    .name = conn_name_cb,
};

/* ---- TLS ------------------------------------------------------------------- */

/* Reused by every connection of the loop, one call at a time: the
 * ciphertext taken from an engine on its way to the writer, and the
 * plaintext of a few small buffers gathered into one record. */
static sl_buf_t tls_out, tls_gather;

/* Scratch that grew for one big write does not stay that big. */
static void scratch_done(sl_buf_t *b)
{
    if (b->cap > 256 * 1024)
        sl_buf_free(b);
    else
        sl_buf_reset(b);
}

/* What the engine has for the peer (handshake, records, alerts) goes to
 * the writer, uncapped: once encrypted, bytes can't be taken back (the
 * caller's cap was checked on the plaintext). */
static int tls_flush(sl_conn_t *c)
{
    if (sl_tls_take(c->tls, &tls_out) < 0) {
        scratch_done(&tls_out);
        return -ENOMEM;
    }
    int rc = 0;
    if (tls_out.len)
        rc = sl_stream_writer_write(&c->out, tls_out.data, tls_out.len, SL_STREAM_WRITE_UNCAPPED);
    scratch_done(&tls_out);
    return rc;
}

/* Text where a ClientHello should be (its first byte is 0x16): someone
 * typed http:// for an https:// server. */
static void plaintext_refused(sl_conn_t *c)
{
#define REFUSAL "This port speaks TLS: use https:// (or wss://) instead.\n"
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Connection: close\r\n"
                               "Content-Length: ";
    char head[sizeof resp + 96];
    int n = snprintf(head, sizeof head, "%s%zu\r\n\r\n%s", resp, sizeof REFUSAL - 1, REFUSAL);
#undef REFUSAL
    char peer[SL_CONN_PEER_MAX];
    SL_INFO("tls", "%s: plaintext HTTP on the TLS port, answered 400", sl_conn_peer(c, peer));
    sl_stream_writer_write(&c->out, head, (size_t)n, SL_STREAM_WRITE_UNCAPPED);
    count_sent(c);
    sl_conn_close_after_write(c);
}

static void tls_input(sl_conn_t *c, const char *p, size_t n)
{
    /* Plaintext for the layer above, one static slab as for reads: every
     * on_data consumer copies what it keeps. */
    static char plain[65536];
    if (!c->tls_started) {
        c->tls_started = 1;
        if (p[0] >= 'A' && p[0] <= 'Z') {
            plaintext_refused(c);
            return;
        }
    }
    if (sl_tls_feed(c->tls, p, n)) {
        sl_conn_close(c);
        return;
    }
    ssize_t r;
    while ((r = sl_tls_read(c->tls, plain, sizeof plain)) > 0) {
        c->handler->on_data(c, plain, (size_t)r);
        if (c->closing || c->lingering || c->close_after_write)
            return; /* the rest would be dropped, as after a plaintext close */
    }
    /* The handshake's answers, or the alert that explains a failure. */
    int rc = tls_flush(c);
    count_sent(c);
    if (r == SL_TLS_CLOSED) {
        sl_conn_close(c); /* the peer's close_notify: its end of the stream */
    } else if (r < 0) {
        char peer[SL_CONN_PEER_MAX];
        SL_INFO("tls", "%s: %s", sl_conn_peer(c, peer), sl_tls_reason(c->tls));
        sl_conn_close_after_write(c);
    } else if (rc && rc != -ENOBUFS) {
        sl_conn_close(c);
    }
}

/* The plaintext of one write into records: small pieces gathered into
 * one (a WebSocket frame's header and payload, an HTTP head and body), a
 * big piece as it is (it makes records of its own). */
static int tls_write(sl_conn_t *c, const uv_buf_t *bufs, unsigned n, size_t total)
{
    int rc = 0;
    if (n > 1 && total <= 16384) {
        for (unsigned i = 0; i < n && !rc; i++)
            rc = sl_buf_append(&tls_gather, bufs[i].base, bufs[i].len) ? SL_TLS_ENOMEM : 0;
        if (!rc)
            rc = sl_tls_write(c->tls, tls_gather.data, tls_gather.len);
        scratch_done(&tls_gather);
    } else {
        for (unsigned i = 0; i < n && !rc; i++)
            rc = sl_tls_write(c->tls, bufs[i].base, bufs[i].len);
    }
    if (rc == SL_TLS_ENOMEM)
        return -ENOMEM;
    if (rc)
        return -EPIPE; /* the engine failed: the stream can't go on */
    return tls_flush(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl_conn_t *c = s->data;
    if (nread > 0) {
        stats.bytes_received += (uint64_t)nread;
        if (c->closing || c->lingering || c->close_after_write)
            return;
        if (c->tls)
            tls_input(c, buf->base, (size_t)nread);
        else
            c->handler->on_data(c, buf->base, (size_t)nread);
    } else if (nread < 0) {
        sl_conn_close(c);
    }
}

int sl_conn_open(uv_loop_t *loop, const sl_accepted_t *a, const sl_conn_handler_t *h, void *owner,
                 size_t queue_cap, size_t *live, sl_tls_ctx_t *tls, sl_stream_flusher_t *flusher,
                 sl_conn_t **out)
{
    int fd = a->fd;
    sl_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc) {
        free(c);
        close(fd);
        return rc;
    }
    c->tcp.data = c;
    sl_stream_writer_init(&c->out, (uv_stream_t *)&c->tcp, queue_cap, &conn_writer_handler);
    sl_stream_writer_set_flusher(&c->out, flusher);
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc) {
        close(fd); /* not the handle's: it was never opened */
        sl_conn_close(c); /* the upper layer never saw it: no handler */
        return rc;
    }
    if (tls) {
        char err[SL_TLS_REASON_MAX];
        rc = sl_tls_new(tls, NULL, &c->tls, err, sizeof err) ? -ENOMEM : 0;
    }
    if (rc) {
        sl_conn_close(c); /* the upper layer never saw it: no handler */
        return rc;
    }
    c->handler = h;
    c->owner = owner;
    c->live = live;
    if (live)
        (*live)++;
    if (!a->nodelay)
        uv_tcp_nodelay(&c->tcp, 1);
    if (a->peer) {
        peer_keep(c, a->peer);
    } else {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
            peer_keep(c, (const struct sockaddr *)&ss);
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

void sl_conn_set_budget(sl_conn_t *c, sl_budget_t *b)
{
    sl_stream_writer_set_budget(&c->out, b);
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

void sl_conn_read_pending(sl_conn_t *c)
{
    if (!c->reading || c->closing)
        return;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd))
        return;
    uv_buf_t buf;
    conn_alloc_cb((uv_handle_t *)&c->tcp, 0, &buf);
    ssize_t n;
    do
        n = read(fd, buf.base, buf.len);
    while (n < 0 && errno == EINTR);
    /* Nothing yet (EAGAIN) or an error: the loop reports either when it
     * polls the socket. */
    if (n > 0)
        conn_read_cb((uv_stream_t *)&c->tcp, n, &buf);
    else if (n == 0)
        conn_read_cb((uv_stream_t *)&c->tcp, UV_EOF, &buf);
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
    int rc;
    if (c->tls) {
        /* The cap is checked on the plaintext, before it is encrypted:
         * refused, nothing was written (records can't be taken back). A
         * shared buffer (rcs) is of no use here: each connection's copy is
         * encrypted on its own. */
        size_t total = 0;
        for (unsigned i = 0; i < n; i++)
            total += bufs[i].len;
        size_t cap = sl_stream_writer_cap(&c->out);
        if (!(flags & SL_STREAM_WRITE_UNCAPPED) && cap && sl_stream_writer_queued(&c->out) + total > cap)
            return -ENOBUFS;
        rc = tls_write(c, bufs, n, total);
    } else {
        rc = sl_stream_writer_writev(&c->out, bufs, rcs, n, flags);
    }
    count_sent(c);
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

/* sl_conn_write_rc's way for the turn's first frame, or any that can't be
 * held as it is. */
int sl_conn_write_rc_first(sl_conn_t *c, sl_rcbuf_t *rc, const char *p, size_t n)
{
    if (!c->tls && !c->closing && !c->close_after_write && sl_stream_writer_hold_rc_first(&c->out, rc, p, n))
        return 0;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return sl_conn_writev_rcs(c, &b, &rc, 1);
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

/* The writer shuts the write side down once what is queued (held for the
 * turn's end or waiting for the kernel) is written. */
void sl_conn_close_after_write(sl_conn_t *c)
{
    if (c->closing || c->close_after_write)
        return;
    /* A TLS session ends with our close_notify (none before the handshake
     * is done: there is no session to end). */
    if (c->tls && !c->close_after_write && sl_tls_shutdown(c->tls) == 0) {
        tls_flush(c);
        count_sent(c);
    }
    c->close_after_write = 1;
    conn_linger(c);
}
