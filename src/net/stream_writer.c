/* L1 net/stream_writer: capped, gathered, corkable output of a libuv stream. See stream_writer.h. */
#include "net/stream_writer.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The smallest copy block: a page with its header. Small writes that wait
 * (frame headers, short frames) share one block instead of one allocation
 * each; a larger remainder gets a block of its own size. */
#define BLOCK_MIN (4096 - sizeof(sl_rcbuf_t) - 1)
#define RING_MIN 8

_Static_assert(SL_STREAM_WRITER_IOV <= UINT8_MAX, "inflight counts chunks in 8 bits");

void sl_stream_writer_init(sl_stream_writer_t *w, uv_stream_t *stream, size_t cap,
                           const sl_stream_writer_handler_t *h)
{
    memset(w, 0, sizeof *w);
    w->stream = stream;
    sl_stream_writer_set_cap(w, cap);
    w->h = h;
}

void sl_stream_writer_set_cap(sl_stream_writer_t *w, size_t cap)
{
    w->cap = cap < UINT32_MAX ? (uint32_t)cap : UINT32_MAX;
}

static sl_stream_chunk_t *chunk_at(const sl_stream_writer_t *w, uint32_t i);

/* ---- the output budget ------------------------------------------------------ */

/* The queue's entry in the output budget while it is counted, else NULL. */
static sl_budget_entry_t *counted(const sl_stream_writer_t *w)
{
    return w->budget & 1 ? (sl_budget_entry_t *)(w->budget - 1) : NULL;
}

static sl_budget_t *budget_of(const sl_stream_writer_t *w)
{
    sl_budget_entry_t *e = counted(w);
    return e ? e->budget : (sl_budget_t *)w->budget;
}

/* Dropped by the budget (from its timer): what the queue holds is no
 * longer counted, the writer leaves the budget and refuses writes, and the
 * owner closes the stream. */
static void writer_evicted(sl_budget_entry_t *e)
{
    sl_stream_writer_t *w = e->owner;
    for (uint32_t i = 0; i < w->count; i++) {
        sl_stream_chunk_t *c = chunk_at(w, i);
        sl_budget_release(e, c->rc, c->len);
    }
    sl_budget_leave(e);
    w->budget = 0;
    w->failed = 1;
    if (w->h && w->h->on_error)
        w->h->on_error(w, UV_ENOBUFS);
}

void sl_stream_writer_set_budget(sl_stream_writer_t *w, sl_budget_t *b) { w->budget = (uintptr_t)b; }

/* The queue starts being counted: every chunk it holds (output that waits
 * for the kernel, not for the turn's end) joins the budget, and so will
 * every chunk pushed until it is empty. Not listed in the flusher. 0 or
 * -ENOMEM (no entry: the writer has failed). */
static int queue_count(sl_stream_writer_t *w)
{
    if (!w->budget || (w->budget & 1) || w->count == 0)
        return 0;
    sl_budget_entry_t *e = sl_budget_enter((sl_budget_t *)w->budget, writer_evicted, w,
                                           w->h && w->h->name ? w->h->name(w) : NULL);
    if (!e) {
        w->failed = 1;
        return -ENOMEM;
    }
    w->budget = (uintptr_t)e | 1;
    for (uint32_t i = 0; i < w->count; i++) {
        sl_stream_chunk_t *c = chunk_at(w, i);
        sl_budget_hold(e, c->rc, c->len);
    }
    return 0;
}

/* The queue is empty: it is counted no more. */
static void queue_uncount(sl_stream_writer_t *w)
{
    sl_budget_entry_t *e = counted(w);
    if (e) {
        w->budget = (uintptr_t)e->budget;
        sl_budget_leave(e);
    }
}

/* ---- the chunk ring ----------------------------------------------------- */

static sl_stream_chunk_t *chunk_at(const sl_stream_writer_t *w, uint32_t i)
{
    return &w->q[(w->head + i) & (w->qcap - 1)];
}

/* Rings of RING_MIN chunks: a flushed writer takes one every turn it has
 * output and gives it back at the turn's end, so its flusher keeps up to
 * SPARE_MAX of them for the next turn instead of a malloc and a free per
 * connection per turn. */
#define SPARE_MAX 1024

static sl_stream_chunk_t *ring_alloc(sl_stream_writer_t *w, uint32_t cap)
{
    sl_stream_flusher_t *f = w->flusher;
    if (cap == RING_MIN && f && f->spare) {
        sl_stream_chunk_t *q = f->spare;
        f->spare = *(void **)q;
        f->nspare--;
        return q;
    }
    return malloc(cap * sizeof(sl_stream_chunk_t));
}

static void ring_free(sl_stream_writer_t *w, sl_stream_chunk_t *q, uint32_t cap)
{
    sl_stream_flusher_t *f = w->flusher;
    if (q && cap == RING_MIN && f && !f->closing && f->nspare < SPARE_MAX) {
        *(void **)q = f->spare;
        f->spare = q;
        f->nspare++;
        return;
    }
    free(q);
}

/* The queue is empty: its memory goes, so an idle writer holds nothing. */
static void queue_release(sl_stream_writer_t *w)
{
    queue_uncount(w);
    ring_free(w, w->q, w->qcap);
    w->q = NULL;
    w->head = w->qcap = 0;
    sl_rcbuf_unref(w->block);
    w->block = NULL;
    w->block_used = 0;
}

/* Room for `more` chunks; 0 or -ENOMEM with the ring unchanged. */
static int ring_reserve(sl_stream_writer_t *w, uint32_t more)
{
    uint32_t cap = w->qcap ? w->qcap : RING_MIN;
    while (cap - w->count < more) {
        if (cap > UINT32_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    if (cap == w->qcap)
        return 0;
    sl_stream_chunk_t *q = ring_alloc(w, cap);
    if (!q)
        return -ENOMEM;
    for (uint32_t i = 0; i < w->count; i++)
        q[i] = *chunk_at(w, i);
    ring_free(w, w->q, w->qcap);
    w->q = q;
    w->head = 0;
    w->qcap = cap;
    return 0;
}

/* Room for n more copied bytes in the current block; 0 or -ENOMEM. The
 * old block lives on in the chunks that point into it. */
static int block_reserve(sl_stream_writer_t *w, size_t n)
{
    if (n == 0 || (w->block && w->block->len - w->block_used >= n))
        return 0;
    if (n > UINT32_MAX)
        return -ENOMEM; /* block_used counts in 32 bits */
    sl_rcbuf_t *b = sl_rcbuf_alloc(n > BLOCK_MIN ? n : BLOCK_MIN);
    if (!b)
        return -ENOMEM;
    sl_rcbuf_unref(w->block);
    w->block = b;
    w->block_used = 0;
    return 0;
}

/* Appends a chunk that takes its own reference to rc (room reserved). */
static void push_ref(sl_stream_writer_t *w, sl_rcbuf_t *rc, char *base, size_t len)
{
    sl_stream_writer_push_ref_(w, rc, base, len);
    sl_budget_entry_t *e = counted(w);
    if (e)
        sl_budget_hold(e, rc, len);
}

/* Copies into the current block (room reserved). Back-to-back copies that
 * are not in flight grow the last chunk instead of adding one. */
static void push_copy(sl_stream_writer_t *w, const char *p, size_t len)
{
    char *dst = w->block->data + w->block_used;
    memcpy(dst, p, len);
    w->block_used += (uint32_t)len;
    if (w->count > w->inflight) {
        sl_stream_chunk_t *last = chunk_at(w, w->count - 1);
        if (last->rc == w->block && last->base + last->len == dst) {
            last->len += len;
            w->queued += len;
            if (counted(w))
                sl_budget_bytes(counted(w), (long long)len);
            return;
        }
    }
    push_ref(w, w->block, dst, len);
}

/* Drops n written bytes from the head: whole chunks go, a partly written
 * one moves its start. */
static void queue_advance(sl_stream_writer_t *w, size_t n)
{
    sl_budget_entry_t *e = counted(w);
    if (n == w->queued) {
        /* All of it (a flush that the kernel took whole, the common case,
         * where nothing was counted): every chunk goes, with no arithmetic
         * on each. The ring read through locals: an unref's store could
         * alias w, and the compiler would read w's fields again for each. */
        sl_stream_chunk_t *q = w->q;
        uint32_t head = w->head, mask = w->qcap - 1, count = w->count;
        if (e)
            for (uint32_t i = 0; i < count; i++)
                sl_budget_release(e, q[(head + i) & mask].rc, q[(head + i) & mask].len);
        for (uint32_t i = 0; i < count; i++)
            sl_rcbuf_unref(q[(head + i) & mask].rc);
        w->count = 0;
        w->queued = 0;
        queue_release(w);
        return;
    }
    while (n > 0 && w->count > 0) {
        sl_stream_chunk_t *c = chunk_at(w, 0);
        if (n < c->len) {
            c->base += n;
            c->len -= n;
            w->queued -= n;
            if (e)
                sl_budget_bytes(e, -(long long)n);
            return;
        }
        n -= c->len;
        w->queued -= c->len;
        if (e)
            sl_budget_release(e, c->rc, c->len);
        sl_rcbuf_unref(c->rc);
        w->head = (w->head + 1) & (w->qcap - 1);
        w->count--;
    }
    if (w->count == 0)
        queue_release(w);
}

/* The first chunks as iovecs, at most SL_STREAM_WRITER_IOV. */
static unsigned queue_gather(const sl_stream_writer_t *w, uv_buf_t *iov, size_t *bytes)
{
    unsigned nb = w->count < SL_STREAM_WRITER_IOV ? w->count : SL_STREAM_WRITER_IOV;
    const sl_stream_chunk_t *q = w->q;
    uint32_t head = w->head, mask = w->qcap - 1;
    size_t sum = 0;
    for (unsigned i = 0; i < nb; i++) {
        const sl_stream_chunk_t *c = &q[(head + i) & mask];
        iov[i].base = c->base;
        iov[i].len = c->len;
        sum += c->len;
    }
    *bytes = sum;
    return nb;
}

/* ---- offering bytes to the kernel ------------------------------------------ */

/* Frames gathered into one buffer before a send: at most this many bytes,
 * and only while they average at most GATHER_AVG bytes a chunk. */
#define GATHER_MAX 16384
#define GATHER_AVG 512
/* Buffers one sendmsg takes on Linux (UIO_MAXIOV, libuv's limit too). */
#define SEND_IOV_MAX 1024

/* What uv_try_write does, cheaper for TCP: send() goes straight to the
 * socket where write() and writev() first pass the file layer (vfs_writev,
 * fdget_pos, import_iovec: 7 % of the server's CPU in a fan-out, measured
 * with perf), and small frames are copied into one buffer first because
 * the kernel copies one contiguous buffer for less than a buffer per
 * frame (_copy_from_iter: 4.3 % with eight iovecs, 2.0 % with one).
 * The same holds for unix sockets (libuv's pipes). Bytes taken, UV_EAGAIN,
 * or a negative libuv error. A pipe that is no socket, a tty, and anything
 * libuv is still writing or connecting, or that libuv no longer takes
 * writes for (shut down), go through uv_try_write. total:
 * the bytes of the n buffers, which every caller has counted already. */
static int stream_try(uv_stream_t *s, const uv_buf_t *iov, unsigned n, size_t total)
{
    uv_os_fd_t fd;
    if ((s->type != UV_TCP && s->type != UV_NAMED_PIPE) || s->write_queue_size != 0 ||
        s->connect_req != NULL || !uv_is_writable(s) || uv_fileno((const uv_handle_t *)s, &fd) != 0)
        return uv_try_write(s, iov, n);
    static _Thread_local char gather[GATHER_MAX];
    ssize_t r;
    if (n == 1 || (total <= GATHER_MAX && total <= (size_t)GATHER_AVG * n)) {
        const char *p = iov[0].base;
        if (n > 1) {
            size_t at = 0;
            for (unsigned i = 0; i < n; i++) {
                memcpy(gather + at, iov[i].base, iov[i].len);
                at += iov[i].len;
            }
            p = gather;
        }
        size_t len = total < (size_t)INT_MAX ? total : (size_t)INT_MAX; /* the result is an int */
        do
            r = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
    } else {
        /* uv_buf_t is laid out as struct iovec on Unix (libuv promises it,
         * and casts one to the other itself). */
        struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov,
                           .msg_iovlen = n < SEND_IOV_MAX ? n : SEND_IOV_MAX}; /* the rest: partial */
        do
            r = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
    }
    if (r >= 0)
        return (int)r;
    if (errno == ENOTSOCK)
        return uv_try_write(s, iov, n);
    /* ENOBUFS (a unix socket short of kernel memory) is "try later" for
     * libuv too, never the writer's own cap refusal (-ENOBUFS). */
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? UV_EAGAIN : -errno;
}

/* ---- the flusher's list ---------------------------------------------------- */

/* Whether writes wait for the end of the turn. */
static int held(const sl_stream_writer_t *w) { return w->flusher && !w->flusher->closing; }

static void flusher_check_cb(uv_check_t *h) { sl_stream_flusher_flush(h->data); }
static void flusher_prepare_cb(uv_prepare_t *h) { sl_stream_flusher_flush(h->data); }

/* Appended, so writers are flushed in the order their turn's first write
 * came. Starts the flusher's handles with the first. 0, or -ENOMEM when
 * the list can't grow (the caller writes now instead). */
static int dirty_link(sl_stream_writer_t *w)
{
    sl_stream_flusher_t *f = w->flusher;
    if (w->fslot)
        return 0;
    if (f->ndirty == f->dirty_cap) {
        uint32_t cap = f->dirty_cap ? 2 * f->dirty_cap : 64;
        sl_stream_writer_t **d = cap > f->dirty_cap ? realloc(f->dirty, cap * sizeof *d) : NULL;
        if (!d)
            return -ENOMEM;
        f->dirty = d;
        f->dirty_cap = cap;
    }
    f->dirty[f->ndirty++] = w;
    w->fslot = f->ndirty;
    if (!f->started) {
        uv_check_start(&f->check, flusher_check_cb);
        uv_prepare_start(&f->prepare, flusher_prepare_cb);
        f->started = 1;
    }
    return 0;
}

/* Its place is left empty (the last place is given back), so no other
 * writer moves while the flusher walks the list. */
static void dirty_unlink(sl_stream_writer_t *w)
{
    if (!w->fslot)
        return;
    sl_stream_flusher_t *f = w->flusher;
    f->dirty[w->fslot - 1] = NULL;
    if (w->fslot == f->ndirty)
        f->ndirty--;
    w->fslot = 0;
}

/* ---- writing -------------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status);
static void shutdown_cb(uv_shutdown_t *req, int status);

/* Starts writing the queue unless a write is in flight or it is corked.
 * try_first: offer it to the kernel with uv_try_write before handing the
 * rest to uv_write (worth it when the kernel likely has room: uncorking);
 * uv_write itself tries once anyway when libuv has nothing queued.
 * 0, or a negative libuv error (the writer has failed). */
static int queue_write(sl_stream_writer_t *w, int try_first)
{
    dirty_unlink(w); /* whatever it held goes now, or with the write in flight */
    if (w->wreq || w->count == 0 || w->corked || w->closed || w->failed)
        return 0;
    uv_buf_t iov[SL_STREAM_WRITER_IOV];
    size_t bytes;
    unsigned nb = queue_gather(w, iov, &bytes);
    while (try_first) {
        int r = stream_try(w->stream, iov, nb, bytes);
        if (r < 0 && r != UV_EAGAIN) {
            w->failed = 1;
            return r;
        }
        if (r <= 0)
            break;
        w->written += (size_t)r;
        queue_advance(w, (size_t)r);
        if (w->count == 0)
            return 0;
        size_t was = bytes;
        nb = queue_gather(w, iov, &bytes);
        if ((size_t)r < was)
            break; /* the kernel is full: the rest waits for uv_write */
    }
    uv_write_t *req = malloc(sizeof *req);
    if (!req) {
        w->failed = 1;
        return UV_ENOMEM;
    }
    req->data = w;
    int r = uv_write(req, w->stream, iov, nb, write_cb);
    if (r) {
        free(req);
        w->failed = 1;
        return r;
    }
    w->wreq = req;
    w->inflight = (uint8_t)nb; /* at most SL_STREAM_WRITER_IOV */
    return 0;
}

/* queue_write, and what it leaves waits for the kernel: counted in the
 * output budget from now on. */
static int queue_flush(sl_stream_writer_t *w, int try_first)
{
    int r = queue_write(w, try_first);
    if (r == 0 && w->count > 0 && !w->closed && !w->failed)
        r = queue_count(w) ? UV_ENOMEM : 0;
    return r;
}

static int shutdown_start(sl_stream_writer_t *w)
{
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req)
        return UV_ENOMEM;
    req->data = w;
    int r = uv_shutdown(req, w->stream, shutdown_cb);
    if (r) {
        free(req);
        return r;
    }
    w->sreq = req;
    return 0;
}

/* A write failed (from a callback): the shutdown asked for ends with the
 * error, otherwise the owner hears of it. */
static void writer_fail(sl_stream_writer_t *w, int status)
{
    w->failed = 1;
    if (w->shutdown) {
        if (w->h && w->h->on_shutdown)
            w->h->on_shutdown(w, status);
    } else if (w->h && w->h->on_error) {
        w->h->on_error(w, status);
    }
}

static void write_cb(uv_write_t *req, int status)
{
    sl_stream_writer_t *w = req->data;
    free(req);
    w->wreq = NULL;
    uint32_t k = w->inflight;
    w->inflight = 0;
    size_t bytes = 0;
    for (uint32_t i = 0; i < k; i++)
        bytes += chunk_at(w, i)->len;
    if (status == 0)
        w->written += bytes;
    queue_advance(w, bytes);
    if (w->closed)
        return; /* the owner is closing the stream: no more callbacks */
    if (status < 0) {
        writer_fail(w, status);
        return;
    }
    int r = queue_flush(w, 0);
    if (r < 0) {
        writer_fail(w, r);
        return;
    }
    if (w->count > 0)
        return;
    if (w->shutdown) {
        r = shutdown_start(w);
        if (r < 0)
            writer_fail(w, r);
    } else if (w->h && w->h->on_drain) {
        w->h->on_drain(w);
    }
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    sl_stream_writer_t *w = req->data;
    free(req);
    w->sreq = NULL;
    if (!w->closed && w->h && w->h->on_shutdown)
        w->h->on_shutdown(w, status);
}

/* The slow path of sl_stream_writer_writev: queues what the kernel did not
 * take (done bytes of total went). Kept out of line so that the write that
 * goes at once, by far the most common, pays for none of it. */
__attribute__((noinline)) static int writer_queue(sl_stream_writer_t *w, const uv_buf_t *bufs,
                                                  sl_rcbuf_t *const *rcs, unsigned n, size_t total,
                                                  size_t done, unsigned flags)
{
    /* What waiting would add to the process's memory: the copies, and the
     * shared buffers no queue holds yet (the budget counts each once). */
    size_t copy = 0, fresh = 0, skip = done;
    for (unsigned i = 0; i < n; i++) {
        size_t len = bufs[i].len, from = skip < len ? skip : len;
        skip -= from;
        if (!(rcs && rcs[i]))
            copy += len - from;
        else if (from < len && rcs[i]->queued == 0)
            fresh += rcs[i]->len;
    }
    int over = !(flags & SL_STREAM_WRITE_UNCAPPED) &&
               (w->queued + (total - done) > w->cap ||
                sl_budget_refuses(budget_of(w), w->queued, copy + fresh, total - done));
    if (over && done == 0)
        return -ENOBUFS; /* nothing written: the caller decides */
    /* Over the cap after a partial write: the rest is queued anyway, so the
     * peer gets whole frames and then a clean close, never half a frame.
     * Memory first, so that the queue is never left with half a write. */
    if (ring_reserve(w, n) || block_reserve(w, copy)) {
        if (w->count == 0)
            queue_release(w);
        return -ENOMEM;
    }
    skip = done;
    for (unsigned i = 0; i < n; i++) {
        size_t len = bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        if (rcs && rcs[i])
            push_ref(w, rcs[i], bufs[i].base + skip, len - skip);
        else
            push_copy(w, bufs[i].base + skip, len - skip);
        skip = 0;
    }
    /* Held until the turn's end unless this turn's output is already big
     * enough for a write of its own. What a write in flight leaves behind
     * goes with its callback, and a corked writer with its uncork. */
    if (done == 0 && held(w) && w->queued < SL_STREAM_FLUSH_BYTES && w->count < SL_STREAM_WRITER_IOV) {
        if (w->wreq || w->corked)
            return queue_count(w) ? -ENOMEM : over ? -ENOBUFS : 0;
        if (dirty_link(w) == 0)
            return over ? -ENOBUFS : 0; /* nothing counted: the turn's output */
        /* No room in the flusher's list: written now. */
    }
    int r = queue_flush(w, done == 0 && held(w));
    if (r < 0)
        return r;
    return over ? -ENOBUFS : 0;
}

int sl_stream_writer_hold_rc_first(sl_stream_writer_t *w, sl_rcbuf_t *rc, const char *p, size_t n)
{
    /* The turn's first output: a ring (the flusher's spare) and a place
     * in the flusher's list. (A listed writer is the inline path's.) */
    size_t q = w->queued + n;
    if (w->fslot || w->corked || q >= SL_STREAM_FLUSH_BYTES || q > w->cap || n == 0 || w->count ||
        w->wreq || !held(w) || w->closed || w->failed || w->shutdown ||
        sl_budget_refuses(budget_of(w), 0, rc->queued ? 0 : rc->len, n) || dirty_link(w))
        return 0;
    if (!w->q) { /* an empty queue has no ring: the flusher's spare one */
        w->q = ring_alloc(w, RING_MIN);
        if (!w->q) {
            dirty_unlink(w);
            return 0;
        }
        w->head = 0;
        w->qcap = RING_MIN;
    }
    sl_stream_writer_push_ref_(w, rc, (char *)p, n); /* nothing counted: listed */
    return 1;
}

int sl_stream_writer_writev(sl_stream_writer_t *w, const uv_buf_t *bufs, sl_rcbuf_t *const *rcs,
                            unsigned n, unsigned flags)
{
    if (w->closed || w->failed || w->shutdown)
        return -EPIPE;
    if (n == 1 && rcs && rcs[0] && sl_stream_writer_hold_rc(w, rcs[0], bufs[0].base, bufs[0].len))
        return 0;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (total == 0)
        return 0;
    size_t done = 0;
    /* Nothing waits before these bytes: offer them to the kernel now,
     * unless the flusher holds the turn's output (a write big enough on
     * its own goes now anyway). */
    if (w->count == 0 && !w->corked && (total >= SL_STREAM_FLUSH_BYTES || !held(w))) {
        int r = stream_try(w->stream, bufs, n, total);
        if (r > 0)
            done = (size_t)r;
        else if (r < 0 && r != UV_EAGAIN) {
            w->failed = 1;
            return r;
        }
        w->written += done;
        if (done == total)
            return 0;
    }
    return writer_queue(w, bufs, rcs, n, total, done, flags);
}

int sl_stream_writer_write(sl_stream_writer_t *w, const void *p, size_t n, unsigned flags)
{
    uv_buf_t b = {.base = (char *)p, .len = n};
    return sl_stream_writer_writev(w, &b, NULL, 1, flags);
}

void sl_stream_writer_cork(sl_stream_writer_t *w)
{
    if (w->corked < 31)
        w->corked++;
}

int sl_stream_writer_uncork(sl_stream_writer_t *w)
{
    if (w->corked == 0 || --w->corked > 0)
        return 0;
    return queue_flush(w, 1);
}

int sl_stream_writer_shutdown(sl_stream_writer_t *w)
{
    if (w->closed || w->failed || w->shutdown)
        return -EPIPE;
    w->shutdown = 1;
    /* What is queued must go first, corked or not. */
    w->corked = 0;
    int r = queue_flush(w, 1);
    if (r < 0)
        return r;
    if (w->count > 0)
        return 0; /* the last write's callback starts it */
    return shutdown_start(w);
}

void sl_stream_writer_close(sl_stream_writer_t *w)
{
    if (w->closed)
        return;
    if (w->fslot) {
        /* Held back for the turn's end: offered to the kernel once, as a
         * writer without a flusher would have at write time (a response
         * or a close frame written just before the stream is closed). */
        uv_buf_t iov[SL_STREAM_WRITER_IOV];
        size_t bytes;
        dirty_unlink(w);
        if (!w->wreq && !w->failed && w->count > 0) {
            unsigned nb = queue_gather(w, iov, &bytes);
            int r = stream_try(w->stream, iov, nb, bytes);
            if (r > 0) {
                w->written += (size_t)r;
                queue_advance(w, (size_t)r);
            }
        }
    }
    w->closed = 1;
    /* The chunks in flight belong to libuv until their callback, which
     * comes with UV_ECANCELED once the stream is closed. */
    sl_budget_entry_t *e = counted(w);
    while (w->count > w->inflight) {
        sl_stream_chunk_t *c = chunk_at(w, w->count - 1);
        w->queued -= c->len;
        if (e)
            sl_budget_release(e, c->rc, c->len);
        sl_rcbuf_unref(c->rc);
        w->count--;
    }
    sl_rcbuf_unref(w->block);
    w->block = NULL;
    w->block_used = 0;
    if (w->count == 0)
        queue_release(w);
}

/* ---- the flusher ----------------------------------------------------------- */

int sl_stream_flusher_init(uv_loop_t *loop, sl_stream_flusher_t *f)
{
    memset(f, 0, sizeof *f);
    /* Neither can fail (libuv's own code ignores their result too). */
    uv_check_init(loop, &f->check);
    uv_prepare_init(loop, &f->prepare);
    f->check.data = f;
    f->prepare.data = f;
    f->handles = 2;
    return 0;
}

/* Writes every listed writer, first listed first. A failed write's callback
 * (the owner closes its stream) may list or unlist others: those listed
 * now are appended and written in this walk, those unlisted leave a NULL,
 * so that no place moves under the walk. */
void sl_stream_flusher_flush(sl_stream_flusher_t *f)
{
    for (uint32_t i = 0; i < f->ndirty; i++) {
        sl_stream_writer_t *w = f->dirty[i];
        if (!w)
            continue;
        int r = queue_flush(w, 1); /* unlists it */
        if (r < 0)
            writer_fail(w, r);
        else if (w->h && w->h->on_flushed)
            w->h->on_flushed(w);
    }
    f->ndirty = 0; /* every place is NULL now */
    if (f->started) {
        uv_check_stop(&f->check);
        uv_prepare_stop(&f->prepare);
        f->started = 0;
    }
}

static void flusher_handle_closed(uv_handle_t *h)
{
    sl_stream_flusher_t *f = h->data;
    if (--f->handles == 0 && f->close_cb)
        f->close_cb(f);
}

void sl_stream_flusher_close(sl_stream_flusher_t *f, void (*cb)(sl_stream_flusher_t *f))
{
    if (f->closing)
        return;
    sl_stream_flusher_flush(f);
    f->closing = 1;
    while (f->spare) {
        void *q = f->spare;
        f->spare = *(void **)q;
        free(q);
    }
    f->nspare = 0;
    free(f->dirty);
    f->dirty = NULL;
    f->ndirty = f->dirty_cap = 0;
    f->close_cb = cb;
    uv_close((uv_handle_t *)&f->check, flusher_handle_closed);
    uv_close((uv_handle_t *)&f->prepare, flusher_handle_closed);
}

void sl_stream_writer_set_flusher(sl_stream_writer_t *w, sl_stream_flusher_t *f)
{
    if (w->fslot && queue_flush(w, 1) < 0)
        w->failed = 1; /* reported by the next write */
    w->flusher = f;
}
