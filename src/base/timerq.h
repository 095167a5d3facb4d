/* L0 base/timerq: many timeouts of one duration on one libuv timer. An
 * entry is three words inside its owner's struct instead of a uv_timer_t
 * (152 bytes) per owner. Knows nothing of what the entries are.
 *
 * Timeouts that all last the same time end in the order they were started,
 * so a queue kept in start order is also in deadline order: starting,
 * stopping and firing are O(1), and the one timer is armed for the head
 * (or earlier: for a head since stopped, when it wakes up early and is
 * armed for the head then).
 * (An entry started with another duration is still put in its place, by
 * walking back from the tail: O(1) when the durations are equal, as they
 * are in each queue here.)
 *
 *   sl_timerq_t           list (sentinel)
 *     timer  --due of--> next: e1 (due 1000) <-> e2 (1000) <-> e3 (1040) -> back to list
 *
 * Times are the loop's (uv_now, ms), and an entry fires when the timer
 * runs at or after its due time, exactly as a uv_timer_t started at the
 * same moment would: due = uv_now(loop) + ms. The callback runs with the
 * entry already out of the queue; it may start it again (in this queue or
 * another), and start or stop any other entry.
 *
 * The timer is unreferenced: a queue never keeps its loop alive by itself.
 * What its entries belong to does (a connection, a listening socket); a
 * loop with nothing else left ends without waiting for them. */
#ifndef SL_TIMERQ_H
#define SL_TIMERQ_H

#include <stdint.h>
#include <uv.h>

typedef struct sl_timerq_entry {
    struct sl_timerq_entry *prev, *next; /* NULL while not queued */
    uint64_t due;                        /* loop time (ms) it fires at */
} sl_timerq_entry_t;

typedef struct sl_timerq sl_timerq_t;

/* e is out of the queue when this runs. */
typedef void (*sl_timerq_cb)(sl_timerq_t *q, sl_timerq_entry_t *e);

struct sl_timerq {
    sl_timerq_entry_t list; /* sentinel: list.next is due first */
    uv_loop_t *loop;
    uv_timer_t *timer;      /* made on the first start, on the heap: its
                               close may end after the queue's owner is
                               freed */
    uint64_t armed;         /* due time the timer is set for; UINT64_MAX when
                               stopped */
    unsigned firing : 1;    /* in the timer's callback: arm once, at the end */
    unsigned closed : 1;
    uint32_t grain;         /* ms the timer may run late (0: exactly); see
                               sl_timerq_set_grain */
    sl_timerq_cb cb;
    void *data;             /* the owner's */
};

/* An empty queue whose entries call cb. Allocates nothing: a queue never
 * started owns no handle. */
void sl_timerq_init(sl_timerq_t *q, uv_loop_t *loop, sl_timerq_cb cb, void *data);
/* Drops the entries left (no callback runs for them; they read as not
 * queued) and closes the timer; later starts are refused. The queue may be
 * freed at once, but not from one of its own callbacks. Idempotent. */
void sl_timerq_close(sl_timerq_t *q);

/* Starts e to fire ms from now (loop time); an entry already queued (here
 * or in another queue) is moved. 0, -ENOMEM (no timer could be made: e is
 * not queued) or -EPIPE once the queue is closed. */
int sl_timerq_start(sl_timerq_t *q, sl_timerq_entry_t *e, uint64_t ms);
/* Lets entries fire up to ms late, so that entries due close together fire
 * in one run of the timer: the timer is set for the head's due time rounded
 * up to a multiple of ms (loop time), so every entry due in that slice of
 * time goes in the same loop turn. Many entries of one duration started at
 * scattered times (one heartbeat per connection) then cost one wake-up per
 * slice instead of one each, and what they write leaves together. 0 (the
 * default): on time, as a uv_timer_t. Takes effect from the next arming. */
static inline void sl_timerq_set_grain(sl_timerq_t *q, uint32_t ms) { q->grain = ms; }
/* Takes e out of whatever queue holds it; nothing when it is in none. */
void sl_timerq_stop(sl_timerq_entry_t *e);
static inline int sl_timerq_queued(const sl_timerq_entry_t *e) { return e->next != 0; }

#endif
