/* L0 base/budget: one cap on the memory that many output queues hold
 * together (every connection's stream writer, every long-polling session's
 * queue), so that slow readers can't grow the process without bound: each
 * queue has a cap of its own, but ten thousand queues at their caps are
 * more than a machine has. Knows nothing of what the queues carry.
 *
 * What is counted is the buffers the queues refer to (sl_rcbuf_t), each
 * once however many queues hold it: a broadcast encoded once and queued to
 * a thousand slow readers is the memory of one copy, as it is in fact.
 * Over the cap, queues are dropped from the one that has waited longest
 * (not empty for the longest time): a fast reader, whose queue empties at
 * once, is never a candidate, a reader stuck for seconds goes first. The
 * drop happens on the next loop turn, never inside the write that went
 * over (which may be deep in a broadcast loop), and after the turn's
 * output held for its end by the stream writers' flusher has been written
 * (a turn's output is no slow reader).
 *
 * An entry exists only while its queue holds counted bytes: made by the
 * first buffer the queue keeps and freed by sl_budget_leave once the queue
 * holds none, so an owner whose queue is empty (every idle connection)
 * keeps no more than a pointer. What a queue is counted for is the
 * owner's choice: the stream writers count what the kernel did not take
 * when the loop turn's output was written (a fast reader's turn is never
 * counted: it is gone by the turn's end), the long-polling sessions what
 * waits for a GET.
 *
 *   sl_budget_t   used (bytes of the buffers held), cap
 *     waiting:  e1 <-> e2 <-> e3     entries of queues holding bytes, by
 *               ^ waited longest      the time they stopped being empty
 *
 *   rcbuf->queued: how many counted chunks refer to it (0 -> 1 counts its
 *   length in, 1 -> 0 counts it out)
 */
#ifndef SL_BUDGET_H
#define SL_BUDGET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/list.h"
#include "base/log.h"

typedef struct sl_budget sl_budget_t;
typedef struct sl_budget_entry sl_budget_entry_t;

/* Called by the budget's timer when the entry's queue is dropped. Before
 * it returns the owner calls sl_budget_release for each buffer its queue
 * still holds and then sl_budget_leave (which frees e), and forgets e; it
 * may then close itself. */
typedef void (*sl_budget_evict_cb)(sl_budget_entry_t *e);

/* One queue holding counted bytes (made by sl_budget_enter). */
struct sl_budget_entry {
    sl_link_t link;               /* in budget->waiting */
    sl_budget_t *budget;
    uint64_t since;               /* loop ms when its queue stopped being empty */
    size_t bytes;                 /* bytes its queue holds (slices of the buffers) */
    sl_budget_evict_cb evict;
    void *owner;                  /* the evict callback's */
    char label[48];               /* for the log line: a peer address, a sid */
};

struct sl_budget {
    uv_loop_t *loop;
    uv_timer_t timer;             /* drops queues on the next loop turn */
    size_t used;                  /* bytes of the buffers held, each once */
    size_t cap;                   /* 0: no cap */
    sl_list_t waiting;            /* entries with bytes, longest waiting first */
    uint64_t dropped;             /* queues dropped since the start */
    sl_log_every_t over;
    const char *option;           /* the option's name, for the log */
};

/* cap 0: nothing is dropped (the count goes on). option names the cap in
 * the log ("maxOutputBufferTotal"). The timer is embedded: close it with
 * sl_budget_close before the loop ends. */
void sl_budget_init(sl_budget_t *b, uv_loop_t *loop, size_t cap, const char *option);
/* A lower cap takes effect at the next write. */
void sl_budget_set_cap(sl_budget_t *b, size_t cap);
/* Closes the timer (once; the owner's walk over the loop may have done it).
 * Entries may still leave the budget afterwards (their owners closing),
 * so its memory must stay until they have. */
void sl_budget_close(sl_budget_t *b);

/* Whether a queue holding queued bytes may not take a write of len bytes,
 * fresh of them new to the budget (shared buffers some queue holds already
 * cost nothing): the queues would hold more than twice the cap, and this
 * queue more than a sixty-fourth of it. Between the cap and twice it the
 * longest waiting are dropped on the next loop turn; past twice it, a
 * queue that grew that far is refused at once (its owner closes it as a
 * slow reader's), so that what one loop turn makes (a burst to a reader
 * that stopped reading) can't grow the process past that either. A queue
 * that holds little (a new client's first packets, a fast reader's corked
 * turn) is not refused: it isn't what fills the process. 0 when b is NULL
 * (in no budget) or has no cap. */
static inline int sl_budget_refuses(const sl_budget_t *b, size_t queued, size_t fresh, size_t len)
{
    return b && b->cap && b->used + fresh > 2 * b->cap && queued + len > b->cap / 64;
}

/* The entry of a queue of owner's that starts holding bytes in b, waiting
 * from now (the last of the waiting); label (may be NULL) is copied. NULL
 * when out of memory. */
sl_budget_entry_t *sl_budget_enter(sl_budget_t *b, sl_budget_evict_cb evict, void *owner,
                                   const char *label);
/* A chunk of len bytes referring to rc joined e's queue. */
void sl_budget_hold(sl_budget_entry_t *e, sl_rcbuf_t *rc, size_t len);
/* A chunk referring to rc left it, len bytes of it still counted in e. */
static inline void sl_budget_release(sl_budget_entry_t *e, sl_rcbuf_t *rc, size_t len)
{
    if (--rc->queued == 0)
        e->budget->used -= rc->len;
    e->bytes -= len;
}
/* The queue's bytes changed without a chunk coming or going (a chunk that
 * grew, one partly written). */
static inline void sl_budget_bytes(sl_budget_entry_t *e, long long delta)
{
    e->bytes = (size_t)((long long)e->bytes + delta);
}
/* e's queue holds nothing counted any more (its buffers were released):
 * e leaves its budget and is freed. */
void sl_budget_leave(sl_budget_entry_t *e);

#endif
