/* Unit tests for net/stream_writer on a real libuv loop (the test's, from
 * tl_loop()): the writer sits on one end of a unix socketpair (a
 * uv_pipe_t) or, for the tests named tcp_*, of a loopback TCP connection
 * (a uv_tcp_t); the test reads the other end itself, as fast or as slowly
 * as a test wants, with small socket buffers so that big writes are partial.
 * Each test ends by closing the writer and the pipe and checking that the
 * loop closes with no handle left; the sanitizer build's leak check covers
 * the memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "base/buf.h"
#include "net/stream_writer.h"
#include "testlib.h"

/* ---- fixture ------------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t *loop;
    union {
        uv_pipe_t pipe; /* closed as a handle through this name either way */
        uv_tcp_t tcp;   /* with fx_over_tcp */
    };
    int peer;             /* the other end, read by the test (-1 once closed) */
    sl_stream_writer_t w;
    sl_buf_t got;         /* what the peer read */
    int eof;              /* the peer read end of file */
    int drains, errors, shutdowns, flushes;
    int error_status, shutdown_status;
    sl_stream_flusher_t fl; /* with fx_init_flushed */
    int flushed;
} fx_t;

static void on_drain(sl_stream_writer_t *w)
{
    fx_t *f = SL_CONTAINER_OF(w, fx_t, w);
    f->drains++;
}

static void on_error(sl_stream_writer_t *w, int status)
{
    fx_t *f = SL_CONTAINER_OF(w, fx_t, w);
    f->errors++;
    f->error_status = status;
}

static void on_shutdown(sl_stream_writer_t *w, int status)
{
    fx_t *f = SL_CONTAINER_OF(w, fx_t, w);
    f->shutdowns++;
    f->shutdown_status = status;
}

static void on_flushed(sl_stream_writer_t *w)
{
    fx_t *f = SL_CONTAINER_OF(w, fx_t, w);
    f->flushes++;
}

static const sl_stream_writer_handler_t handler = {
    .on_drain = on_drain,
    .on_error = on_error,
    .on_shutdown = on_shutdown,
    .on_flushed = on_flushed,
};

/* Whether fx_init makes a loopback TCP connection instead of a socketpair. */
static int fx_over_tcp;

/* A connected loopback TCP pair, both ends non-blocking, with the same
 * small buffers as the socketpair (set before connecting, where TCP takes
 * them). */
static void tcp_pair(int sv[2])
{
    int small = 8192;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ_INT(listen(lfd, 1), 0);
    CHECK_EQ_INT(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(sv[0] >= 0);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    CHECK_EQ_INT(connect(sv[0], (struct sockaddr *)&a, sizeof a), 0);
    sv[1] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(sv[1] >= 0);
    close(lfd);
}

static void fx_init(fx_t *f, size_t cap)
{
    memset(f, 0, sizeof *f);
    int sv[2];
    f->loop = tl_loop();
    if (fx_over_tcp) {
        tcp_pair(sv);
        CHECK_EQ_INT(uv_tcp_init(f->loop, &f->tcp), 0);
        CHECK_EQ_INT(uv_tcp_open(&f->tcp, sv[0]), 0); /* libuv makes it non-blocking */
    } else {
        CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        /* Small buffers: a write of a few hundred KiB is partial. */
        int small = 8192;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        CHECK_EQ_INT(uv_pipe_init(f->loop, &f->pipe, 0), 0);
        CHECK_EQ_INT(uv_pipe_open(&f->pipe, sv[0]), 0);
    }
    f->pipe.data = f;
    f->peer = sv[1];
    sl_stream_writer_init(&f->w, (uv_stream_t *)&f->pipe, cap, &handler);
}

/* Reads at most max bytes the peer has now (max 0: all it has). */
static size_t peer_read(fx_t *f, size_t max)
{
    size_t total = 0;
    char buf[4096];
    while (f->peer >= 0 && !f->eof && (max == 0 || total < max)) {
        size_t want = sizeof buf;
        if (max && max - total < want)
            want = max - total;
        ssize_t n = read(f->peer, buf, want);
        if (n > 0) {
            sl_buf_append(&f->got, buf, (size_t)n);
            total += (size_t)n;
        } else if (n == 0) {
            f->eof = 1;
        } else {
            break; /* EAGAIN */
        }
    }
    return total;
}

/* Turns the loop, the peer reading `per_turn` bytes a turn (0: all), until
 * done() holds or 20000 turns have passed. */
static int pump(fx_t *f, size_t per_turn, int (*done)(fx_t *f))
{
    for (int i = 0; i < 20000; i++) {
        if (done(f))
            return 1;
        peer_read(f, per_turn);
        uv_run(f->loop, UV_RUN_NOWAIT);
    }
    return done(f);
}

static int idle(fx_t *f) { return sl_stream_writer_queued(&f->w) == 0; }
static int got_eof(fx_t *f) { return f->eof; }
static int got_error(fx_t *f) { return f->errors > 0; }

static void closed_cb(uv_handle_t *h) { (void)h; }

/* A fixture whose writer holds each loop turn's output for its flusher. */
static void fx_init_flushed(fx_t *f, size_t cap)
{
    fx_init(f, cap);
    CHECK_EQ_INT(sl_stream_flusher_init(f->loop, &f->fl), 0);
    f->flushed = 1;
    sl_stream_writer_set_flusher(&f->w, &f->fl);
}

/* Closes the writer and the pipe, and checks that nothing is left. */
static void fx_done(fx_t *f)
{
    sl_stream_writer_close(&f->w);
    if (f->flushed) {
        CHECK(f->w.fslot == 0);
        sl_stream_flusher_close(&f->fl, NULL);
    }
    uv_close((uv_handle_t *)&f->pipe, closed_cb);
    uv_run(f->loop, UV_RUN_DEFAULT);
    CHECK(f->w.q == NULL);
    CHECK(f->w.block == NULL);
    CHECK(f->w.wreq == NULL);
    CHECK(f->w.sreq == NULL);
    CHECK_EQ_INT(sl_stream_writer_queued(&f->w), 0);
    CHECK_EQ_INT(tl_loop_close(), 0);
    if (f->peer >= 0)
        close(f->peer);
    sl_buf_free(&f->got);
}

/* Bytes that tell their position: a wrong order or a lost byte shows. */
static char *pattern(size_t n, unsigned seed)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + seed) % 26);
    return p;
}

#define BIG ((size_t)1 << 20)

/* A fixture whose writer has BIG bytes of a pattern written, part of them
 * still queued (the kernel took what fits). Returns the pattern. */
static char *fx_backlog(fx_t *f, size_t cap, unsigned seed)
{
    fx_init(f, cap);
    char *p = pattern(BIG, seed);
    CHECK_EQ_INT(sl_stream_writer_write(&f->w, p, BIG, 0), 0);
    CHECK(sl_stream_writer_queued(&f->w) > 0);
    return p;
}

/* ---- tests --------------------------------------------------------------------- */

static void writer_small_write_goes_out_at_once(void)
{
    fx_t f;
    fx_init(&f, BIG);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "hello", 5, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 0);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 5);
    CHECK(f.w.q == NULL && f.w.wreq == NULL); /* nothing allocated */
    peer_read(&f, 0);
    CHECK_STR(f.got.data, f.got.len, "hello");
    fx_done(&f);
    CHECK_EQ_INT(f.drains, 0); /* nothing waited, so nothing drained */
}

static void writer_partial_write_queues_the_rest_and_drains(void)
{
    fx_t f;
    char *p = fx_backlog(&f, 4 * BIG, 1);
    size_t queued = sl_stream_writer_queued(&f.w);
    CHECK(queued < BIG);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w) + queued, BIG);
    /* A slow reader: 3000 bytes a turn. */
    CHECK(pump(&f, 3000, idle));
    peer_read(&f, 0);
    CHECK_MEM(f.got.data, f.got.len, p, BIG);
    CHECK_EQ_INT(f.drains, 1);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), BIG);
    CHECK(f.w.q == NULL && f.w.block == NULL && f.w.wreq == NULL); /* idle: no memory */
    fx_done(&f);
    free(p);
}

static void writer_order_kept_across_copies_and_rc_references(void)
{
    fx_t f;
    fx_init(&f, 64 * BIG);
    sl_buf_t want = SL_BUF_INIT;
    /* Fill the kernel so that what follows waits in the queue. */
    char *fill = pattern(BIG, 2);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, fill, BIG, 0), 0);
    sl_buf_append(&want, fill, BIG);
    CHECK(sl_stream_writer_queued(&f.w) > 0);
    for (unsigned i = 0; i < 200; i++) {
        /* A frame: a header copied from the stack, a body shared by
         * reference (as a broadcast), a trailer copied. */
        char hdr[16], trl[8];
        int hl = snprintf(hdr, sizeof hdr, "<%u:", i);
        int tl = snprintf(trl, sizeof trl, ">");
        sl_rcbuf_t *body = sl_rcbuf_new(fill + i, 100 + i);
        uv_buf_t bufs[3] = {
            {.base = hdr, .len = (size_t)hl},
            {.base = body->data + 10, .len = body->len - 10}, /* a slice of it */
            {.base = trl, .len = (size_t)tl},
        };
        sl_rcbuf_t *rcs[3] = {NULL, body, NULL};
        CHECK_EQ_INT(sl_stream_writer_writev(&f.w, bufs, rcs, 3, 0), 0);
        for (int k = 0; k < 3; k++)
            sl_buf_append(&want, bufs[k].base, bufs[k].len);
        /* The caller's own copies go at once: the queue holds its refs and
         * copies. */
        sl_rcbuf_unref(body);
        memset(hdr, '#', sizeof hdr);
        memset(trl, '#', sizeof trl);
    }
    /* Copies and refs alternate: more chunks than one writev carries. */
    CHECK(f.w.count > SL_STREAM_WRITER_IOV);
    CHECK(pump(&f, 0, idle));
    peer_read(&f, 0);
    CHECK_MEM(f.got.data, f.got.len, want.data, want.len);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), want.len);
    fx_done(&f);
    sl_buf_free(&want);
    free(fill);
}

static void writer_cap_refuses_with_nothing_written_and_keeps_the_stream_whole(void)
{
    fx_t f;
    fx_init(&f, 64 * 1024);
    char *p = pattern(BIG, 3);
    /* Partly written, the rest over the cap: queued anyway, -ENOBUFS. */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, p, BIG, 0), -ENOBUFS);
    size_t queued = sl_stream_writer_queued(&f.w);
    CHECK(queued > 64 * 1024);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w) + queued, BIG);
    /* Now over the cap with nothing written: refused, nothing queued. */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "late", 4, 0), -ENOBUFS);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), queued);
    /* Uncapped writes still go (a response the request bounds). */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "tail", 4, SL_STREAM_WRITE_UNCAPPED), 0);
    CHECK(pump(&f, 0, idle));
    peer_read(&f, 0);
    CHECK_EQ_INT(f.got.len, BIG + 4);
    CHECK_MEM(f.got.data, BIG, p, BIG);
    CHECK_MEM(f.got.data + BIG, 4, "tail", 4);
    /* Empty again: a write under the cap goes. */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "more", 4, 0), 0);
    fx_done(&f);
    free(p);
}

static void writer_cap_counts_what_is_queued(void)
{
    fx_t f;
    fx_init(&f, 2 * BIG);
    char *p = pattern(2 * BIG, 4);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, p, BIG, 0), 0);
    size_t queued = sl_stream_writer_queued(&f.w);
    CHECK(queued > 0);
    /* Fits beside what waits: queued, not refused. */
    size_t room = 2 * BIG - queued;
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, p, room, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 2 * BIG);
    /* One byte more does not fit. */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -ENOBUFS);
    CHECK(pump(&f, 0, idle));
    peer_read(&f, 0);
    CHECK_EQ_INT(f.got.len, BIG + room);
    fx_done(&f);
    free(p);
}

static void writer_shutdown_after_write_delivers_everything_then_eof(void)
{
    fx_t f;
    char *p = fx_backlog(&f, 4 * BIG, 5);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), 0);
    CHECK_EQ_INT(f.shutdowns, 0); /* never inside the call */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), -EPIPE);
    CHECK(pump(&f, 5000, got_eof));
    CHECK_MEM(f.got.data, f.got.len, p, BIG);
    CHECK_EQ_INT(f.shutdowns, 1);
    CHECK_EQ_INT(f.shutdown_status, 0);
    CHECK_EQ_INT(f.drains, 0); /* the shutdown follows, not a drain */
    fx_done(&f);
    free(p);
}

static void writer_shutdown_with_nothing_queued_starts_at_once(void)
{
    fx_t f;
    fx_init(&f, BIG);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "bye", 3, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), 0);
    CHECK(f.w.sreq != NULL);
    CHECK(pump(&f, 0, got_eof));
    CHECK_STR(f.got.data, f.got.len, "bye");
    CHECK_EQ_INT(f.shutdowns, 1);
    fx_done(&f);
}

static void writer_close_while_queued_frees_everything(void)
{
    fx_t f;
    char *p = fx_backlog(&f, 64 * BIG, 6);
    sl_rcbuf_t *rc = sl_rcbuf_new(p, 1000);
    uv_buf_t b = {.base = rc->data, .len = rc->len};
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &b, &rc, 1, 0), 0);
    CHECK_EQ_INT(rc->refs, 101); /* each queued chunk holds one */
    CHECK(f.w.wreq != NULL);     /* a write in flight */
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), 0);
    sl_stream_writer_close(&f.w);
    /* The waiting chunks went at once; the one in flight goes with its
     * callback. */
    CHECK_EQ_INT(rc->refs, 1);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    sl_rcbuf_unref(rc);
    fx_done(&f); /* runs the canceled write's callback: no callback to us */
    CHECK_EQ_INT(f.drains + f.errors + f.shutdowns, 0);
    free(p);
}

static void writer_failed_write_reports_once_and_refuses_after(void)
{
    fx_t f;
    char *p = fx_backlog(&f, 64 * BIG, 7);
    close(f.peer); /* the peer goes away without reading */
    f.peer = -1;
    CHECK(pump(&f, 0, got_error));
    CHECK_EQ_INT(f.errors, 1);
    CHECK(f.error_status < 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), -EPIPE);
    fx_done(&f);
    CHECK_EQ_INT(f.errors, 1);
    free(p);
}

static void writer_failed_write_during_shutdown_ends_the_shutdown(void)
{
    fx_t f;
    char *p = fx_backlog(&f, 64 * BIG, 8);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), 0);
    close(f.peer);
    f.peer = -1;
    for (int i = 0; i < 1000 && !f.shutdowns; i++)
        uv_run(f.loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(f.shutdowns, 1);
    CHECK(f.shutdown_status < 0);
    CHECK_EQ_INT(f.errors, 0);
    fx_done(&f);
    free(p);
}

static void writer_write_to_a_gone_peer_fails_at_once(void)
{
    fx_t f;
    fx_init(&f, BIG);
    close(f.peer);
    f.peer = -1;
    int rc = sl_stream_writer_write(&f.w, "x", 1, 0);
    CHECK(rc < 0 && rc != -ENOBUFS);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    fx_done(&f);
    CHECK_EQ_INT(f.errors, 0); /* returned, not called back */
}

static void writer_cork_holds_writes_until_uncork(void)
{
    fx_t f;
    fx_init(&f, BIG);
    sl_stream_writer_cork(&f.w);
    sl_stream_writer_cork(&f.w); /* nested */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "one ", 4, 0), 0);
    sl_rcbuf_t *rc = sl_rcbuf_new("two ", 4);
    uv_buf_t b = {.base = rc->data, .len = rc->len};
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &b, &rc, 1, 0), 0);
    sl_rcbuf_unref(rc);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "three", 5, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 13);
    uv_run(f.loop, UV_RUN_NOWAIT);
    peer_read(&f, 0);
    CHECK_EQ_INT(f.got.len, 0);
    CHECK_EQ_INT(sl_stream_writer_uncork(&f.w), 0); /* still corked once */
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 13);
    CHECK_EQ_INT(sl_stream_writer_uncork(&f.w), 0); /* one writev, at once */
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 0);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 13);
    CHECK(f.w.q == NULL && f.w.wreq == NULL);
    peer_read(&f, 0);
    CHECK_STR(f.got.data, f.got.len, "one two three");
    CHECK_EQ_INT(sl_stream_writer_uncork(&f.w), 0); /* not corked: nothing */
    fx_done(&f);
}

static void writer_corked_writes_count_against_the_cap(void)
{
    fx_t f;
    fx_init(&f, 10);
    sl_stream_writer_cork(&f.w);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "0123456789", 10, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -ENOBUFS);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 10);
    CHECK_EQ_INT(sl_stream_writer_uncork(&f.w), 0);
    peer_read(&f, 0);
    CHECK_STR(f.got.data, f.got.len, "0123456789");
    fx_done(&f);
}

static void writer_empty_writes_do_nothing(void)
{
    fx_t f;
    fx_init(&f, 0);
    uv_buf_t none[2] = {{.base = NULL, .len = 0}, {.base = NULL, .len = 0}};
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, none, NULL, 2, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, none, NULL, 0, 0), 0);
    CHECK(f.w.q == NULL);
    fx_done(&f);
}


/* ---- flushing once per loop turn ---------------------------------------------- */

static int flushed_idle(fx_t *f) { return f->w.fslot == 0 && sl_stream_writer_queued(&f->w) == 0; }

/* Turns the loop (the peer reading per_turn bytes a turn, 0: all) until
 * the flushed writer is idle; the peer must have got exactly want. */
static void flushed_expect(fx_t *f, size_t per_turn, const char *want, size_t n)
{
    CHECK(pump(f, per_turn, flushed_idle));
    peer_read(f, 0);
    CHECK_MEM(f->got.data, f->got.len, want, n);
}

/* A turn's output, in the order a connection gets it (a broadcast shared
 * by reference, a direct emit copied, an ack, a ping), stays in user space
 * until the turn ends and then leaves at once, in order. */
static void flusher_holds_a_turns_output_and_writes_it_in_order_at_the_turns_end(void)
{
    fx_t f;
    fx_init_flushed(&f, BIG);
    sl_buf_t want = SL_BUF_INIT;
    sl_rcbuf_t *bcast = sl_rcbuf_new("<broadcast>", 11);
    for (int i = 0; i < 10; i++) {
        char direct[32];
        int n = snprintf(direct, sizeof direct, "<direct %d>", i);
        uv_buf_t b = {.base = bcast->data, .len = bcast->len};
        CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &b, &bcast, 1, 0), 0);
        CHECK_EQ_INT(sl_stream_writer_write(&f.w, direct, (size_t)n, 0), 0);
        CHECK_EQ_INT(sl_stream_writer_write(&f.w, "<ack>", 5, SL_STREAM_WRITE_UNCAPPED), 0);
        sl_buf_append(&want, bcast->data, bcast->len);
        sl_buf_append(&want, direct, (size_t)n);
        sl_buf_append(&want, "<ack>", 5);
    }
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "<ping>", 6, 0), 0);
    sl_buf_append(&want, "<ping>", 6);
    /* Nothing has gone yet: all of it waits for the turn's end, the
     * broadcast by reference (one per write, no copy). */
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 0);
    CHECK_EQ_INT(f.flushes, 0);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), want.len);
    CHECK_EQ_INT(bcast->refs, 11);
    CHECK(f.fl.ndirty == 1 && f.fl.dirty[0] == &f.w && f.w.fslot == 1);
    peer_read(&f, 0);
    CHECK_EQ_INT(f.got.len, 0);
    /* The turn's end: one pass of the flusher writes everything, the ring
     * goes back to the flusher for the next turn. */
    uv_run(f.loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), want.len);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 0);
    CHECK(f.w.q == NULL && f.w.block == NULL && f.w.wreq == NULL);
    CHECK(f.w.fslot == 0 && f.fl.ndirty == 0 && !f.fl.started);
    CHECK_EQ_INT(f.fl.nspare, 1);
    CHECK_EQ_INT(bcast->refs, 1);
    peer_read(&f, 0);
    CHECK_MEM(f.got.data, f.got.len, want.data, want.len);
    CHECK_EQ_INT(f.drains, 0); /* it went at once: nothing drained */
    CHECK_EQ_INT(f.flushes, 1); /* but its owner heard it went (counting) */
    /* The next turn takes the ring back. */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "again", 5, 0), 0);
    CHECK_EQ_INT(f.fl.nspare, 0);
    CHECK(pump(&f, 0, flushed_idle));
    sl_rcbuf_unref(bcast);
    fx_done(&f);
    sl_buf_free(&want);
}

/* What a timer writes (heartbeats, app timers) goes before the loop
 * blocks in its poll: the flusher's prepare handle writes it in the same
 * iteration, not after the next event. */
static void timer_write_cb(uv_timer_t *t)
{
    fx_t *f = t->data;
    sl_stream_writer_write(&f->w, "ping", 4, 0);
}

static void flusher_writes_what_a_timer_wrote_before_the_loop_blocks(void)
{
    fx_t f;
    fx_init_flushed(&f, BIG);
    uv_timer_t t;
    uv_timer_init(f.loop, &t);
    t.data = &f;
    uv_timer_start(&t, timer_write_cb, 0, 0);
    uv_run(f.loop, UV_RUN_ONCE);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 4);
    peer_read(&f, 0);
    CHECK_STR(f.got.data, f.got.len, "ping");
    uv_close((uv_handle_t *)&t, NULL);
    fx_done(&f);
}

/* A turn's output past SL_STREAM_FLUSH_BYTES is written at once instead of
 * piling up, and a write that big on its own is not held at all. */
static void flusher_writes_early_past_the_threshold_and_big_writes_at_once(void)
{
    fx_t f;
    fx_init_flushed(&f, 64 * BIG);
    char *p = pattern(4 * SL_STREAM_FLUSH_BYTES, 9);
    size_t piece = SL_STREAM_FLUSH_BYTES / 4, sent = 0;
    while (sl_stream_writer_written(&f.w) == 0 && sent < SL_STREAM_FLUSH_BYTES) {
        CHECK_EQ_INT(sl_stream_writer_write(&f.w, p + sent, piece, 0), 0);
        sent += piece;
    }
    CHECK(sl_stream_writer_written(&f.w) > 0); /* went before the turn's end */
    CHECK_EQ_INT(sent, SL_STREAM_FLUSH_BYTES);
    CHECK(pump(&f, 0, flushed_idle));
    size_t before = sl_stream_writer_written(&f.w);
    CHECK_EQ_INT(before, sent);
    /* Empty again: a big write goes straight to the kernel. */
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, p + sent, 2 * SL_STREAM_FLUSH_BYTES, 0), 0);
    CHECK(sl_stream_writer_written(&f.w) > before);
    sent += 2 * SL_STREAM_FLUSH_BYTES;
    /* So do more chunks than one writev carries. */
    size_t tiny = 16;
    for (unsigned i = 0; i < SL_STREAM_WRITER_IOV; i++) {
        sl_rcbuf_t *rc = sl_rcbuf_new(p + sent, tiny);
        uv_buf_t b = {.base = rc->data, .len = tiny};
        CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &b, &rc, 1, 0), 0);
        sl_rcbuf_unref(rc);
        sent += tiny;
    }
    CHECK(f.w.count < SL_STREAM_WRITER_IOV || f.w.wreq != NULL);
    flushed_expect(&f, 3000, p, sent);
    fx_done(&f);
    free(p);
}

/* Held output larger than the kernel takes: the turn's write is partial,
 * the rest follows in order (whole, as written) and drains. */
static void flusher_partial_write_keeps_the_rest_in_order_and_drains(void)
{
    fx_t f;
    fx_init_flushed(&f, 64 * BIG);
    sl_buf_t want = SL_BUF_INIT;
    char *p = pattern(BIG, 10);
    /* Frames under the threshold, held, each a reference. */
    size_t frame = 1000;
    for (size_t off = 0; off + frame <= BIG; off += frame) {
        sl_rcbuf_t *rc = sl_rcbuf_new(p + off, frame);
        uv_buf_t b = {.base = rc->data, .len = frame};
        CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &b, &rc, 1, 0), 0);
        sl_rcbuf_unref(rc);
        sl_buf_append(&want, p + off, frame);
    }
    CHECK(sl_stream_writer_queued(&f.w) > 0);
    flushed_expect(&f, 5000, want.data, want.len);
    CHECK_EQ_INT(f.drains, 1);
    fx_done(&f);
    sl_buf_free(&want);
    free(p);
}

/* The slow-reader cap counts what is held for the turn's end as well as
 * what waits for the kernel: a write past it is refused with nothing of it
 * written or queued. */
static void flusher_held_output_counts_against_the_cap(void)
{
    fx_t f;
    fx_init_flushed(&f, 100);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "0123456789", 10, 0), 0);
    char big[95];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, big, sizeof big, 0), -ENOBUFS);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 10);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, big, 90, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "y", 1, 0), -ENOBUFS);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 100);
    CHECK(pump(&f, 0, flushed_idle));
    peer_read(&f, 0);
    CHECK_EQ_INT(f.got.len, 100);
    CHECK_MEM(f.got.data, 10, "0123456789", 10);
    fx_done(&f);
}

/* A slow reader with a backlog: the cap still cuts it off, and what the
 * turn held goes behind the backlog, in order. */
static void flusher_slow_reader_is_cut_off_at_the_cap(void)
{
    fx_t f;
    fx_init_flushed(&f, 2 * BIG);
    char *p = pattern(4 * BIG, 11);
    size_t sent = 0;
    int rc = 0;
    /* The reader reads nothing; the writer keeps writing turn after turn. */
    for (int turn = 0; turn < 1000 && rc == 0; turn++) {
        for (int i = 0; i < 8 && rc == 0; i++) {
            rc = sl_stream_writer_write(&f.w, p + sent, 1000, 0);
            if (rc == 0)
                sent += 1000;
        }
        uv_run(f.loop, UV_RUN_NOWAIT);
    }
    CHECK_EQ_INT(rc, -ENOBUFS);
    CHECK(sl_stream_writer_queued(&f.w) <= 2 * BIG);
    CHECK(sl_stream_writer_queued(&f.w) > 2 * BIG - 1000);
    flushed_expect(&f, 0, p, sent);
    fx_done(&f);
    free(p);
}

/* A shutdown (a close after write) writes what the turn held, then ends
 * the stream. */
static void flusher_shutdown_writes_what_was_held_then_eof(void)
{
    fx_t f;
    fx_init_flushed(&f, BIG);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "last words", 10, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "+close frame", 12, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 0);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f.w), 0);
    CHECK(f.w.fslot == 0); /* not held any more */
    CHECK(pump(&f, 0, got_eof));
    CHECK_STR(f.got.data, f.got.len, "last words+close frame");
    CHECK_EQ_INT(f.shutdowns, 1);
    CHECK_EQ_INT(f.shutdown_status, 0);
    fx_done(&f);
}

/* A writer closed with held output (a response, then the conn closed in
 * the same turn): the bytes are offered to the kernel once, as a write
 * would have been without a flusher, and nothing is left behind. */
static void flusher_writer_closed_with_held_output_offers_it_once_and_leaves_nothing(void)
{
    fx_t f;
    fx_init_flushed(&f, BIG);
    sl_rcbuf_t *rc = sl_rcbuf_new("shared", 6);
    uv_buf_t b = {.base = rc->data, .len = rc->len};
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "bye ", 4, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &b, &rc, 1, 0), 0);
    CHECK_EQ_INT(rc->refs, 2);
    sl_stream_writer_close(&f.w);
    CHECK(f.w.fslot == 0);
    CHECK_EQ_INT(rc->refs, 1);
    CHECK(f.w.q == NULL && f.w.block == NULL);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    peer_read(&f, 0);
    CHECK_STR(f.got.data, f.got.len, "bye shared");
    sl_rcbuf_unref(rc);
    fx_done(&f);
    CHECK_EQ_INT(f.drains + f.errors + f.shutdowns, 0);
}

/* A write that fails at the turn's end (the peer went) is reported once,
 * from the flusher, and the writer refuses after. */
static void flusher_failed_write_at_the_turns_end_reports_once(void)
{
    fx_t f;
    fx_init_flushed(&f, BIG);
    close(f.peer);
    f.peer = -1;
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), 0); /* held: no error yet */
    CHECK(pump(&f, 0, got_error));
    CHECK_EQ_INT(f.errors, 1);
    CHECK(f.error_status < 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    fx_done(&f);
    CHECK_EQ_INT(f.errors, 1);
}

/* Closing the flusher writes what it holds; its writers write at once
 * from then on. */
static void flusher_close_writes_what_it_holds_and_writers_go_direct(void)
{
    fx_t f;
    fx_init_flushed(&f, BIG);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "held", 4, 0), 0);
    sl_stream_flusher_close(&f.fl, NULL);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 4);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, " now", 4, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_written(&f.w), 8);
    peer_read(&f, 0);
    CHECK_STR(f.got.data, f.got.len, "held now");
    f.flushed = 0; /* closed already */
    fx_done(&f);
}

/* Three writers of one flusher: one that leaves the list early (closed
 * with held output, or written early) leaves its place empty, the last
 * place is given back, and the turn's end writes the others, each once,
 * with nothing listed after. */
static void flusher_writers_that_leave_early_keep_the_others_places(void)
{
    fx_t f[3];
    fx_init_flushed(&f[0], BIG);
    for (int i = 1; i < 3; i++) {
        fx_init(&f[i], BIG);
        sl_stream_writer_set_flusher(&f[i].w, &f[0].fl);
    }
    sl_stream_flusher_t *fl = &f[0].fl;
    CHECK_EQ_INT(sl_stream_writer_write(&f[0].w, "zero", 4, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f[1].w, "one", 3, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f[2].w, "two", 3, 0), 0);
    CHECK(fl->ndirty == 3 && f[1].w.fslot == 2);
    sl_stream_writer_close(&f[1].w); /* its held output is offered once */
    CHECK(fl->ndirty == 3 && fl->dirty[1] == NULL && f[1].w.fslot == 0);
    CHECK_EQ_INT(sl_stream_writer_shutdown(&f[2].w), 0); /* written now: the last place back */
    CHECK(fl->ndirty == 2 && f[2].w.fslot == 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f[1].w, "x", 1, 0), -EPIPE);
    sl_stream_flusher_flush(fl);
    CHECK(fl->ndirty == 0 && f[0].w.fslot == 0);
    CHECK_EQ_INT(f[0].flushes, 1);
    CHECK_EQ_INT(f[2].flushes, 0);
    for (int i = 0; i < 3; i++)
        peer_read(&f[i], 0);
    CHECK_STR(f[0].got.data, f[0].got.len, "zero");
    CHECK_STR(f[1].got.data, f[1].got.len, "one");
    CHECK_STR(f[2].got.data, f[2].got.len, "two");
    for (int i = 1; i < 3; i++) {
        sl_stream_writer_close(&f[i].w);
        uv_close((uv_handle_t *)&f[i].pipe, closed_cb);
        close(f[i].peer);
        sl_buf_free(&f[i].got);
    }
    fx_done(&f[0]);
}

/* ---- the same over TCP (the writer's send path for sockets) -------------------- */

static void over_tcp(void (*test)(void))
{
    fx_over_tcp = 1;
    test();
    fx_over_tcp = 0;
}

/* Frames of a few bytes each (gathered into one buffer per send), a
 * backlog of more chunks than one send carries, and a partial send. */
static void tcp_writer_order_kept_across_copies_and_rc_references(void)
{
    over_tcp(writer_order_kept_across_copies_and_rc_references);
}

static void tcp_flusher_holds_a_turns_output_and_writes_it_in_order(void)
{
    over_tcp(flusher_holds_a_turns_output_and_writes_it_in_order_at_the_turns_end);
}

static void tcp_flusher_partial_write_keeps_the_rest_in_order_and_drains(void)
{
    over_tcp(flusher_partial_write_keeps_the_rest_in_order_and_drains);
}

static void tcp_flusher_writes_early_past_the_threshold_and_big_writes_at_once(void)
{
    over_tcp(flusher_writes_early_past_the_threshold_and_big_writes_at_once);
}

static void tcp_writer_shutdown_after_write_delivers_everything_then_eof(void)
{
    over_tcp(writer_shutdown_after_write_delivers_everything_then_eof);
}

/* A peer that has gone: the writes fail with an error (the peer's reset
 * comes back after the first one) and never raise SIGPIPE, which is left
 * at its default here, so a send without MSG_NOSIGNAL would end the
 * runner. */
static void tcp_writer_to_a_gone_peer_fails_without_sigpipe(void)
{
    fx_t f;
    fx_over_tcp = 1;
    fx_init(&f, BIG);
    fx_over_tcp = 0;
    close(f.peer);
    f.peer = -1;
    void (*was)(int) = signal(SIGPIPE, SIG_DFL);
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        rc = sl_stream_writer_write(&f.w, "x", 1, 0);
        uv_run(f.loop, UV_RUN_NOWAIT);
    }
    signal(SIGPIPE, was);
    CHECK(rc == -EPIPE || rc == UV_ECONNRESET);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "x", 1, 0), -EPIPE);
    fx_done(&f);
}

/* More buffers in one call than the kernel takes in one sendmsg
 * (IOV_MAX): what it leaves waits and follows, in order. */
static void tcp_writer_takes_more_buffers_than_one_sendmsg_carries(void)
{
    fx_t f;
    fx_over_tcp = 1;
    fx_init(&f, 64 * BIG);
    fx_over_tcp = 0;
    enum { NB = 1100, LEN = 100 };
    char *p = pattern(NB * LEN, 5);
    uv_buf_t *bufs = malloc(NB * sizeof *bufs);
    for (unsigned i = 0; i < NB; i++)
        bufs[i] = (uv_buf_t){.base = p + i * LEN, .len = LEN};
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, bufs, NULL, NB, 0), 0);
    CHECK(pump(&f, 0, idle));
    peer_read(&f, 0);
    CHECK_MEM(f.got.data, f.got.len, p, (size_t)NB * LEN);
    CHECK_EQ_INT(f.errors, 0);
    fx_done(&f);
    free(bufs);
    free(p);
}

/* A pipe that is no socket (pipe(2)): send() refuses it (ENOTSOCK) and
 * the writer writes it as libuv would; order and a backlog included. */
static void writer_on_a_pipe_that_is_no_socket_writes_through_libuv(void)
{
    fx_t f;
    memset(&f, 0, sizeof f);
    int pv[2];
    CHECK_EQ_INT(pipe2(pv, O_NONBLOCK | O_CLOEXEC), 0);
    f.loop = tl_loop();
    CHECK_EQ_INT(uv_pipe_init(f.loop, &f.pipe, 0), 0);
    CHECK_EQ_INT(uv_pipe_open(&f.pipe, pv[1]), 0);
    f.pipe.data = &f;
    f.peer = pv[0];
    sl_stream_writer_init(&f.w, (uv_stream_t *)&f.pipe, 64 * BIG, &handler);
    char *p = pattern(BIG, 6);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "head:", 5, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, p, BIG, 0), 0); /* more than the pipe holds */
    CHECK(sl_stream_writer_queued(&f.w) > 0);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, ":tail", 5, 0), 0);
    CHECK(pump(&f, 0, idle));
    peer_read(&f, 0);
    CHECK_EQ_INT(f.got.len, BIG + 10);
    CHECK(memcmp(f.got.data, "head:", 5) == 0);
    CHECK(memcmp(f.got.data + 5, p, BIG) == 0);
    CHECK(memcmp(f.got.data + 5 + BIG, ":tail", 5) == 0);
    CHECK_EQ_INT(f.errors, 0);
    fx_done(&f);
    free(p);
}

static const char *suite_setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* a write to a gone peer must fail, not kill */
    return NULL;
}

/* A writer in a budget (the process's cap on all output queues): its
 * shared buffer is counted once however many chunks refer to it; once the
 * budget is over its cap, the writer that has waited longest is dropped
 * on the next turn (on_error with UV_ENOBUFS, writes refused), and a
 * writer that keeps up stays. */
static void writer_in_a_budget_over_its_cap_is_dropped_longest_waiting_first(void)
{
    fx_t slow, fast;
    char *p = pattern(BIG, 3);
    fx_init(&slow, 64 * BIG);
    fx_init(&fast, 64 * BIG); /* the same loop: tl_loop() */
    sl_budget_t b;
    sl_budget_init(&b, slow.loop, BIG / 2, "cap");
    sl_stream_writer_set_budget(&slow.w, &b);
    sl_stream_writer_set_budget(&fast.w, &b);
    sl_rcbuf_t *rc = sl_rcbuf_new(p, BIG);
    uv_buf_t whole = uv_buf_init(rc->data, (unsigned)BIG), half = uv_buf_init(rc->data, (unsigned)(BIG / 2));
    CHECK_EQ_INT(sl_stream_writer_writev(&slow.w, &whole, &rc, 1, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_writev(&slow.w, &half, &rc, 1, 0), 0);
    CHECK(b.used == BIG); /* two chunks of one buffer: counted once */
    CHECK_EQ_INT(slow.errors, 0); /* not inside the write */
    /* The fast writer's write goes out at once: never queued, never listed. */
    CHECK_EQ_INT(sl_stream_writer_write(&fast.w, "hi", 2, 0), 0);
    /* The budget's timer is due in 1 ms (UV_RUN_ONCE could block on the
     * slow writer's write once the timer has run). */
    for (int i = 0; i < 2000 && slow.errors == 0; i++) {
        uv_sleep(1);
        uv_run(slow.loop, UV_RUN_NOWAIT);
    }
    CHECK_EQ_INT(slow.errors, 1);
    CHECK_EQ_INT(slow.error_status, UV_ENOBUFS);
    CHECK_EQ_INT(sl_stream_writer_write(&slow.w, "x", 1, 0), -EPIPE);
    CHECK_EQ_INT(b.used, 0);
    CHECK_EQ_INT(b.dropped, 1);
    CHECK_EQ_INT(fast.errors, 0);
    CHECK_EQ_INT(sl_stream_writer_write(&fast.w, "!", 1, 0), 0);
    sl_rcbuf_unref(rc);
    sl_budget_close(&b);
    sl_stream_writer_close(&fast.w);
    uv_close((uv_handle_t *)&fast.pipe, closed_cb);
    close(fast.peer);
    sl_buf_free(&fast.got);
    fx_done(&slow);
    free(p);
}

/* Past twice the budget's cap a write that would wait, in a queue that
 * holds more than a 64th of the cap, is refused at once (-ENOBUFS,
 * nothing queued), as one past the writer's own cap is: a burst within
 * one loop turn, before the budget's timer drops anyone, can't grow the
 * queues past that. A queue that holds little still takes a write (a new
 * client's first packet), a buffer some queue holds already costs
 * nothing more, and an uncapped write (a close frame) still goes. Both
 * writers are corked, so every write waits. */
static void writer_in_a_budget_past_twice_its_cap_refuses_what_would_wait(void)
{
    fx_t f, g;
    fx_init(&f, 1 << 20);
    fx_init(&g, 1 << 20);
    sl_budget_t b;
    sl_budget_init(&b, f.loop, 6400, "cap"); /* a 64th: 100 */
    sl_stream_writer_set_budget(&f.w, &b);
    sl_stream_writer_set_budget(&g.w, &b);
    sl_stream_writer_cork(&f.w);
    sl_stream_writer_cork(&g.w);
    char *p = pattern(12400, 5);
    sl_rcbuf_t *big = sl_rcbuf_new(p, 12000), *more = sl_rcbuf_new(p + 12000, 400),
               *first = sl_rcbuf_new(p, 100);
    uv_buf_t bb = uv_buf_init(big->data, 12000), mb = uv_buf_init(more->data, 400),
             fb = uv_buf_init(first->data, 100);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &bb, &big, 1, 0), 0); /* over the cap, under twice */
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &mb, &more, 1, 0), 0); /* 12400 */
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &mb, &more, 1, 0), 0); /* held already: free */
    CHECK_EQ_INT(b.used, 12400);
    sl_rcbuf_t *over = sl_rcbuf_new(p, 401);
    uv_buf_t ob = uv_buf_init(over->data, 401);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &ob, &over, 1, 0), -ENOBUFS); /* 12801 > 12800 */
    CHECK_EQ_INT(b.used, 12400);
    CHECK_EQ_INT(sl_stream_writer_queued(&f.w), 12800);
    /* The other writer holds nothing: its first 100 bytes go in. */
    CHECK_EQ_INT(sl_stream_writer_writev(&g.w, &fb, &first, 1, 0), 0);
    CHECK_EQ_INT(b.used, 12500);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &ob, &over, 1, SL_STREAM_WRITE_UNCAPPED), 0);
    CHECK_EQ_INT(b.used, 12901);
    sl_rcbuf_unref(big);
    sl_rcbuf_unref(more);
    sl_rcbuf_unref(first);
    sl_rcbuf_unref(over);
    sl_stream_writer_close(&f.w); /* before the budget's timer drops them */
    sl_stream_writer_close(&g.w);
    CHECK_EQ_INT(b.used, 0);
    sl_budget_close(&b);
    uv_close((uv_handle_t *)&g.pipe, closed_cb);
    close(g.peer);
    sl_buf_free(&g.got);
    fx_done(&f);
    free(p);
}

/* What a flusher holds for the turn's end is not counted in the budget
 * (it is gone by the turn's end: the per-chunk count would cost every
 * delivery of a broadcast) and a turn's output is no slow reader: written
 * from a timer's callback (the budget's own timer runs in that phase too),
 * held over the cap, with a peer that reads, it is flushed at the turn's
 * end and the writer is not dropped. */
typedef struct turn_write {
    fx_t *f;
    sl_budget_t *b;
    sl_rcbuf_t *rc;
    int result;
    size_t used; /* the budget's count right after the write */
} turn_write_t;

static void write_from_a_timer(uv_timer_t *t)
{
    turn_write_t *tw = t->data;
    uv_buf_t whole = uv_buf_init(tw->rc->data, (unsigned)tw->rc->len);
    tw->result = sl_stream_writer_writev(&tw->f->w, &whole, &tw->rc, 1, 0);
    tw->used = tw->b->used;
}

static void flusher_held_output_is_not_counted_in_the_budget_and_is_no_slow_reader(void)
{
    fx_t f;
    fx_init_flushed(&f, 64 * BIG);
    sl_budget_t b;
    sl_budget_init(&b, f.loop, 1000, "cap");
    sl_stream_writer_set_budget(&f.w, &b);
    char *p = pattern(1500, 9);
    turn_write_t tw = {&f, &b, sl_rcbuf_new(p, 1500), -1, 1};
    uv_timer_t t;
    uv_timer_init(f.loop, &t);
    t.data = &tw;
    uv_timer_start(&t, write_from_a_timer, 0, 0);
    uv_run(f.loop, UV_RUN_NOWAIT); /* the write, then the turn's end */
    CHECK(pump(&f, 0, flushed_idle));
    CHECK_EQ_INT(tw.result, 0);
    CHECK_EQ_INT(tw.used, 0); /* held for the turn's end: not counted */
    for (int i = 0; i < 5; i++) { /* the budget's timer, if it was started: 1 ms */
        uv_sleep(1);
        uv_run(f.loop, UV_RUN_NOWAIT);
    }
    CHECK_EQ_INT(f.errors, 0);
    CHECK_EQ_INT(b.dropped, 0);
    CHECK_EQ_INT(b.used, 0);
    CHECK(b.waiting.head == NULL);
    peer_read(&f, 0);
    CHECK_MEM(f.got.data, f.got.len, p, 1500);
    sl_rcbuf_unref(tw.rc);
    uv_close((uv_handle_t *)&t, closed_cb);
    sl_stream_writer_close(&f.w);
    sl_budget_close(&b);
    fx_done(&f);
    free(p);
}

/* What the kernel leaves of a turn's output, with a peer that reads
 * nothing, is counted from the turn's end (a shared buffer once, however
 * many of its chunks wait), and over the budget's cap that writer is
 * dropped on a later turn: the cap holds for flushed writers too. Writes
 * of it after the turn are counted as they come; an idle writer's entry
 * is gone. */
static void flusher_output_the_kernel_left_is_counted_and_dropped_over_the_cap(void)
{
    fx_t f;
    fx_init_flushed(&f, 64 * BIG);
    sl_budget_t b;
    sl_budget_init(&b, f.loop, 24000, "cap"); /* twice it: 48000 */
    sl_stream_writer_set_budget(&f.w, &b);
    char *p = pattern(40000, 13);
    sl_rcbuf_t *rc = sl_rcbuf_new(p, 40000);
    uv_buf_t whole = uv_buf_init(rc->data, 40000), half = uv_buf_init(rc->data, 20000);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &whole, &rc, 1, 0), 0);
    CHECK_EQ_INT(sl_stream_writer_writev(&f.w, &half, &rc, 1, 0), 0);
    CHECK_EQ_INT(b.used, 0); /* held for the turn's end */
    CHECK(f.w.fslot == 1); /* listed */
    sl_stream_flusher_flush(&f.fl); /* the turn's end: the kernel takes some */
    CHECK(sl_stream_writer_queued(&f.w) > 0);
    CHECK_EQ_INT(b.used, 40000); /* the buffer once */
    CHECK(b.waiting.head != NULL);
    CHECK_EQ_INT(f.errors, 0); /* never inside the turn that went over */
    /* Past twice the cap, a capped write behind the backlog is refused;
     * an uncapped one is counted at once. */
    static char tail[9000];
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, tail, sizeof tail, 0), -ENOBUFS);
    CHECK_EQ_INT(b.used, 40000);
    CHECK_EQ_INT(sl_stream_writer_write(&f.w, "tail", 4, SL_STREAM_WRITE_UNCAPPED), 0);
    CHECK(b.used > 40000);
    for (int i = 0; i < 2000 && f.errors == 0; i++) {
        uv_sleep(1);
        uv_run(f.loop, UV_RUN_NOWAIT);
    }
    CHECK_EQ_INT(f.errors, 1);
    CHECK_EQ_INT(f.error_status, UV_ENOBUFS);
    CHECK_EQ_INT(b.dropped, 1);
    CHECK_EQ_INT(b.used, 0);
    CHECK(b.waiting.head == NULL);
    sl_rcbuf_unref(rc);
    sl_stream_writer_close(&f.w);
    sl_budget_close(&b);
    fx_done(&f);
    free(p);
}

TL_SUITE(stream_writer, suite_setup, NULL,
         TL_TEST(writer_small_write_goes_out_at_once),
         TL_TEST(writer_partial_write_queues_the_rest_and_drains),
         TL_TEST(writer_order_kept_across_copies_and_rc_references),
         TL_TEST(writer_cap_refuses_with_nothing_written_and_keeps_the_stream_whole),
         TL_TEST(writer_cap_counts_what_is_queued),
         TL_TEST(writer_shutdown_after_write_delivers_everything_then_eof),
         TL_TEST(writer_shutdown_with_nothing_queued_starts_at_once),
         TL_TEST(writer_close_while_queued_frees_everything),
         TL_TEST(writer_failed_write_reports_once_and_refuses_after),
         TL_TEST(writer_failed_write_during_shutdown_ends_the_shutdown),
         TL_TEST(writer_write_to_a_gone_peer_fails_at_once),
         TL_TEST(writer_cork_holds_writes_until_uncork),
         TL_TEST(writer_corked_writes_count_against_the_cap),
         TL_TEST(writer_empty_writes_do_nothing),
         TL_TEST(writer_in_a_budget_over_its_cap_is_dropped_longest_waiting_first),
         TL_TEST(writer_in_a_budget_past_twice_its_cap_refuses_what_would_wait),
         TL_TEST(flusher_holds_a_turns_output_and_writes_it_in_order_at_the_turns_end),
         TL_TEST(flusher_writes_what_a_timer_wrote_before_the_loop_blocks),
         TL_TEST(flusher_writes_early_past_the_threshold_and_big_writes_at_once),
         TL_TEST(flusher_partial_write_keeps_the_rest_in_order_and_drains),
         TL_TEST(flusher_held_output_counts_against_the_cap),
         TL_TEST(flusher_slow_reader_is_cut_off_at_the_cap),
         TL_TEST(flusher_shutdown_writes_what_was_held_then_eof),
         TL_TEST(flusher_writer_closed_with_held_output_offers_it_once_and_leaves_nothing),
         TL_TEST(flusher_failed_write_at_the_turns_end_reports_once),
         TL_TEST(flusher_close_writes_what_it_holds_and_writers_go_direct),
         TL_TEST(flusher_held_output_is_not_counted_in_the_budget_and_is_no_slow_reader),
         TL_TEST(flusher_writers_that_leave_early_keep_the_others_places),
         TL_TEST(flusher_output_the_kernel_left_is_counted_and_dropped_over_the_cap),
         TL_TEST(tcp_writer_order_kept_across_copies_and_rc_references),
         TL_TEST(tcp_flusher_holds_a_turns_output_and_writes_it_in_order),
         TL_TEST(tcp_flusher_partial_write_keeps_the_rest_in_order_and_drains),
         TL_TEST(tcp_flusher_writes_early_past_the_threshold_and_big_writes_at_once),
         TL_TEST(tcp_writer_shutdown_after_write_delivers_everything_then_eof),
         TL_TEST(tcp_writer_to_a_gone_peer_fails_without_sigpipe),
         TL_TEST(tcp_writer_takes_more_buffers_than_one_sendmsg_carries),
         TL_TEST(writer_on_a_pipe_that_is_no_socket_writes_through_libuv));
