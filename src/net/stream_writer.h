/* L1 net/stream_writer: the one output queue of every libuv stream (TCP or
 * pipe): try-write first, a capped user-space queue for what the kernel
 * does not take, gathered writes, shutdown once written, byte counters.
 * Knows nothing of HTTP, WebSocket, Redis or any other protocol.
 *
 * The queue is a sequence of chunks, each a slice of an sl_rcbuf_t: either
 * a buffer the caller shares (a broadcast encoded once; the queue holds a
 * reference, no copy) or a copy block the writer owns (the caller's bytes
 * that had to wait, copied back to back). Chunks leave from the head, up to
 * SL_STREAM_WRITER_IOV of them in one uv_write, so a backlog of many frames
 * costs one writev.
 *
 *   sl_stream_writer_t
 *     q[head .. head+inflight)        handed to the uv_write in flight
 *     q[head+inflight .. head+count)  waiting
 *        chunk = { rc, base, len }    base..base+len lies inside rc->data
 *                     |
 *                     +-> caller's sl_rcbuf_t (a ref) or a copy block
 *
 * Corking: between sl_stream_writer_cork and _uncork, writes only queue;
 * uncork writes the whole queue at once (try-write, then one uv_write for
 * the rest).
 *
 * Flushing once per loop turn: a writer given a flusher (one per loop, or
 * per owner of many streams: the server's connections share one) holds
 * what is written during a loop turn and writes it at the end of the
 * turn, with one writev for everything the turn produced (broadcasts,
 * direct emits, acks, pings, close frames: in the order written). The
 * first write of a turn links the writer into the flusher's list; the
 * flusher's check handle (right after the poll phase, so an answer to
 * what was read leaves in the same loop iteration) and prepare handle
 * (before the loop blocks: what timers, idle handles and close callbacks
 * wrote) write every listed writer. A writer flushes early once a turn's
 * output passes SL_STREAM_FLUSH_BYTES or SL_STREAM_WRITER_IOV chunks, and
 * a write that big on its own goes at once. This is what uWebSockets does
 * (one write per socket per loop iteration) and why its broadcasts are
 * cheap: N broadcasts in a turn cost each recipient one system call, not N.
 *
 *   sl_stream_flusher_t  dirty: [ w1 | w2 | NULL | w4 ]   ndirty 4
 *        check, prepare        w->fslot: 1 + its index there (0: not listed);
 *                              NULL: a writer that wrote early or closed
 *
 * Life cycle: _init on a stream that the owner keeps open; _close before
 * the owner closes the stream (queued chunks are released; the ones in
 * flight are released by their write callback, which libuv runs before the
 * stream's close callback; what a flushed writer held back this turn is
 * offered to the kernel once first, as it would have been at write time
 * without a flusher). No callback comes after _close, and none ever runs
 * inside a call to this API. Every allocation (the chunk ring, copy
 * blocks, the write and shutdown requests) exists only while output is
 * queued or a shutdown is under way: an idle writer is this struct alone.
 */
#ifndef SL_STREAM_WRITER_H
#define SL_STREAM_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/budget.h"
#include "base/buf.h"

/* Most chunks one uv_write carries (iovecs of one writev). */
#define SL_STREAM_WRITER_IOV 64
/* Bytes a flushed writer holds back in a turn before it writes early. */
#define SL_STREAM_FLUSH_BYTES (64 * 1024)

typedef struct sl_stream_writer sl_stream_writer_t;
typedef struct sl_stream_flusher sl_stream_flusher_t;

/* The callbacks get the writer; an owner gets itself back with
 * SL_CONTAINER_OF (the writer is embedded in it), so the writer keeps no
 * pointer to it. */
typedef struct sl_stream_writer_handler {
    /* Optional: the queue became empty after output had to wait (never
     * when a write went out at once, never once a shutdown is asked). */
    void (*on_drain)(sl_stream_writer_t *w);
    /* Optional: a queued write failed (status < 0). The writer refuses
     * further writes; the owner closes the stream. */
    void (*on_error)(sl_stream_writer_t *w, int status);
    /* After sl_stream_writer_shutdown: the write side was shut down
     * (status 0), or a write or the shutdown failed (status < 0). Exactly
     * once per shutdown asked, unless the writer is closed first. */
    void (*on_shutdown)(sl_stream_writer_t *w, int status);
    /* Optional: the flusher offered what the writer held for the turn to
     * the kernel (sl_stream_writer_written may have grown), for an owner
     * that counts its output as it leaves. */
    void (*on_flushed)(sl_stream_writer_t *w);
    /* Optional: names the peer in the output budget's log line (a writer
     * in a budget, when its queue starts being counted). */
    const char *(*name)(sl_stream_writer_t *w);
} sl_stream_writer_handler_t;

typedef struct sl_stream_chunk {
    sl_rcbuf_t *rc;   /* holds the bytes; the chunk owns one reference */
    char *base;       /* first byte not yet written, inside rc->data */
    size_t len;
} sl_stream_chunk_t;

/* Embedded in its owner; the fields are the writer's own, read them through
 * the functions below. */
struct sl_stream_writer {
    uv_stream_t *stream;
    const sl_stream_writer_handler_t *h;
    sl_stream_chunk_t *q;     /* ring of qcap chunks; NULL while empty */
    uint32_t head, count, qcap;
    uint32_t cap;             /* refusal threshold for capped writes (4 GiB
                                 and more: UINT32_MAX, no user-space queue
                                 grows that far) */
    size_t queued;            /* bytes in q (in flight ones included) */
    sl_rcbuf_t *block;        /* the copy block being filled (a reference) */
    union {                   /* never both: a shutdown starts once nothing is
                                 queued or in flight, and refuses writes */
        uv_write_t *wreq;     /* allocated while a uv_write is in flight */
        uv_shutdown_t *sreq;  /* allocated while a shutdown is under way */
    };
    uintptr_t budget;         /* the process's output budget (sl_budget_t *,
                                 0: none) while nothing queued is counted in
                                 it, its entry for this queue | 1 while the
                                 queue is: output the kernel did not take at
                                 once, never a turn's output held for its end
                                 (see sl_stream_writer_set_budget) */
    sl_stream_flusher_t *flusher; /* NULL: writes go at once */
    uint32_t fslot;           /* 1 + its index in the flusher's list while
                                 listed (holding this turn's output); 0: not */
    uint32_t block_used;      /* a block is at most 4 GiB (block_reserve) */
    uint32_t written;         /* bytes the kernel took, not yet taken by
                                 sl_stream_writer_take_written: 32 bits, so
                                 that a conn is 8 bytes smaller; an owner that
                                 counts takes them after every write and
                                 flush, far more often than once per 4 GiB */
    uint8_t inflight;         /* chunks from head in the uv_write in flight
                                 (at most SL_STREAM_WRITER_IOV) */
    uint8_t corked : 5;       /* nested cork count (at most 31) */
    uint8_t closed : 1;       /* _close called: everything refused */
    uint8_t failed : 1;       /* a write failed: everything refused */
    uint8_t shutdown : 1;     /* shutdown asked: writes refused */
};

/* Write flags. */
enum {
    /* No cap: for the answer to a request, whose size the request bounds
     * (the caller stops reading until it drains). */
    SL_STREAM_WRITE_UNCAPPED = 1,
};

/* cap: bytes the queue may hold before capped writes are refused (0: no
 * limit). Allocates nothing. */
void sl_stream_writer_init(sl_stream_writer_t *w, uv_stream_t *stream, size_t cap,
                           const sl_stream_writer_handler_t *h);
void sl_stream_writer_set_cap(sl_stream_writer_t *w, size_t cap);
/* Counts this writer's queue in b (base/budget.h), the cap on what all
 * output queues of the process hold together; the handler's name names it
 * in the log. While the queue is empty. What is counted is what waits for
 * the kernel: a flushed writer's output held for the turn's end is not
 * (it is bounded by SL_STREAM_FLUSH_BYTES and gone by the turn's end),
 * what the kernel did not take when it was written is, until it is gone.
 * Past b's cap, the writers that have waited longest are dropped: such a
 * writer refuses every write from then on, and its owner hears on_error
 * with UV_ENOBUFS (from the budget's timer), when it closes the stream.
 * Past twice b's cap, a capped write that would wait behind output the
 * kernel did not take, in a queue holding more than a 64th of the cap, is
 * refused with -ENOBUFS, as one past the writer's own cap is
 * (sl_budget_refuses). */
void sl_stream_writer_set_budget(sl_stream_writer_t *w, sl_budget_t *b);

/* Writes the n buffers in order: what the kernel takes now goes at once
 * (when nothing waits before it and the writer is neither corked nor held
 * back until the turn's end by its flusher), the rest is queued. rcs may be NULL; otherwise rcs[i], when not NULL, is a buffer
 * whose data holds bufs[i]: the queue keeps a reference to it instead of a
 * copy, so the caller may drop its own at once. The caller's other bytes
 * are copied when they must wait.
 * Returns
 *   0         all written or queued;
 *   -ENOBUFS  a capped write would pass the cap: nothing was written (the
 *             caller decides), or, after a partial write, the rest was
 *             queued anyway so the stream stays whole (the caller closes);
 *   -EPIPE    the writer is closed, failed or shutting down;
 *   -ENOMEM   no memory to queue the rest (after a partial write the
 *             stream is cut: the caller closes);
 *   another negative libuv error: the stream failed (the writer refuses
 *             further writes; the caller closes). */
int sl_stream_writer_writev(sl_stream_writer_t *w, const uv_buf_t *bufs, sl_rcbuf_t *const *rcs,
                            unsigned n, unsigned flags);
int sl_stream_writer_write(sl_stream_writer_t *w, const void *p, size_t n, unsigned flags);
/* The short path of a flushed writer's one shared buffer (a broadcast's
 * frame): held for the turn's end as a reference to rc when that is all
 * it takes (under the cap and the flush thresholds, not corked, nothing in
 * flight); returns 1 then. 0: nothing was done, write it with
 * sl_stream_writer_writev. Never writes to the kernel. Inline for a writer
 * already holding output this turn (once per recipient of a broadcast);
 * the turn's first write takes sl_stream_writer_hold_rc_first. */
int sl_stream_writer_hold_rc_first(sl_stream_writer_t *w, sl_rcbuf_t *rc, const char *p, size_t n);
static inline void sl_stream_writer_push_ref_(sl_stream_writer_t *w, sl_rcbuf_t *rc, char *base,
                                              size_t len)
{
    w->q[(w->head + w->count++) & (w->qcap - 1)] = (sl_stream_chunk_t){sl_rcbuf_ref(rc), base, len};
    w->queued += len;
}
/* The inline path alone: 0 when the writer is not holding output this
 * turn or the chunk would pass a threshold (then hold_rc_first or writev).
 * For a caller that ends in a tail call either way. */
static inline int sl_stream_writer_hold_rc_more(sl_stream_writer_t *w, sl_rcbuf_t *rc,
                                                const char *p, size_t n)
{
    size_t q = w->queued + n;
    /* Listed (so neither closed, failed, shutting down nor writing, and
     * nothing it holds is counted in the output budget: the turn's output
     * of a writer with no backlog). */
    if (w->fslot && !w->corked && w->count < w->qcap && w->count < SL_STREAM_WRITER_IOV - 1 &&
        q < SL_STREAM_FLUSH_BYTES && q <= w->cap) {
        sl_stream_writer_push_ref_(w, rc, (char *)p, n);
        return 1;
    }
    return 0;
}
static inline int sl_stream_writer_hold_rc(sl_stream_writer_t *w, sl_rcbuf_t *rc, const char *p,
                                           size_t n)
{
    return sl_stream_writer_hold_rc_more(w, rc, p, n) || sl_stream_writer_hold_rc_first(w, rc, p, n);
}

/* Corking (see above). uncork returns 0, or a negative libuv error (the
 * stream failed). What the kernel takes at once is gone when it returns:
 * when that empties the queue, no on_drain follows. */
void sl_stream_writer_cork(sl_stream_writer_t *w);
int sl_stream_writer_uncork(sl_stream_writer_t *w);

/* ---- flushing once per loop turn (see above) ------------------------------ */

struct sl_stream_flusher {
    uv_check_t check;         /* after the poll phase */
    uv_prepare_t prepare;     /* before the loop blocks */
    /* Writers holding output back this turn, in the order their turn's
     * first write came (NULL: one that left early); an array, so that a
     * writer keeps 4 bytes for its place instead of two pointers. */
    sl_stream_writer_t **dirty;
    uint32_t ndirty, dirty_cap;
    void *spare;              /* empty chunk rings kept for the next turn */
    unsigned nspare;
    unsigned started : 1;     /* the handles run (only while dirty is not empty) */
    unsigned closing : 1;
    void (*close_cb)(sl_stream_flusher_t *f);
    int handles;              /* still to be closed */
    void *data;               /* the owner's */
};

/* Embedded in its owner; allocates nothing. 0 or a libuv error. */
int sl_stream_flusher_init(uv_loop_t *loop, sl_stream_flusher_t *f);
/* Writes what every listed writer holds and closes the handles; cb (may
 * be NULL) follows once they are closed, then f may be freed. Writers
 * still attached write at once from then on; every one must be closed
 * before f is freed. */
void sl_stream_flusher_close(sl_stream_flusher_t *f, void (*cb)(sl_stream_flusher_t *f));
/* Attaches w (idle: nothing queued) to f, or detaches it (f NULL). */
void sl_stream_writer_set_flusher(sl_stream_writer_t *w, sl_stream_flusher_t *f);
/* Writes what every listed writer holds now (the flusher's handles call
 * it; a test or an owner that can't wait for the turn's end may too). */
void sl_stream_flusher_flush(sl_stream_flusher_t *f);

/* Shuts the write side down once every queued byte is written; writes are
 * refused from now on. on_shutdown follows (never inside this call).
 * 0, -EPIPE when closed or already shutting down, or a libuv error from
 * uv_shutdown when it could start at once (no callback then). */
int sl_stream_writer_shutdown(sl_stream_writer_t *w);

/* Releases what is queued and refuses everything; no callback follows.
 * Call it before uv_close on the stream. Idempotent. */
void sl_stream_writer_close(sl_stream_writer_t *w);

/* Bytes waiting in user space (in flight included): what the cap limits. */
static inline size_t sl_stream_writer_queued(const sl_stream_writer_t *w) { return w->queued; }
/* Bytes the queue may hold before capped writes are refused (0: no limit). */
static inline size_t sl_stream_writer_cap(const sl_stream_writer_t *w) { return w->cap; }
/* Bytes the kernel took since _init or the last take (for metrics). */
static inline uint64_t sl_stream_writer_written(const sl_stream_writer_t *w) { return w->written; }
/* The same, and counting starts again from 0: an owner that adds its
 * output to a total as it leaves keeps no count of its own. */
static inline uint64_t sl_stream_writer_take_written(sl_stream_writer_t *w)
{
    uint64_t n = w->written;
    w->written = 0;
    return n;
}

#endif
