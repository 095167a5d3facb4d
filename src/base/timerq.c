/* L0 base/timerq: timeouts of one duration on one libuv timer. See timerq.h. */
#include "base/timerq.h"

#include <errno.h>
#include <stdlib.h>

static void timer_closed_cb(uv_handle_t *h) { free(h); }

static void timerq_fire_cb(uv_timer_t *t);

/* Sets the timer for the head, unless it is set for that time already or
 * earlier. A timer set for a head that has since been stopped just fires
 * early, finds nothing due and is set again for the head then: stopping
 * never touches the timer, and an entry that becomes the head of a queue
 * emptied by stops (a connection's connect timeout, after the last one
 * connected) costs no new setting of the loop's timer. */
static void timerq_arm(sl_timerq_t *q)
{
    sl_timerq_entry_t *head = q->list.next;
    if (q->firing || !q->timer)
        return;
    if (head == &q->list) {
        if (q->armed != UINT64_MAX) {
            uv_timer_stop(q->timer);
            q->armed = UINT64_MAX;
        }
        return;
    }
    uint64_t due = head->due;
    if (q->grain > 1)
        due += (q->grain - due % q->grain) % q->grain;
    if (q->armed <= due) /* UINT64_MAX: not set */
        return;
    uint64_t now = uv_now(q->loop);
    uv_timer_start(q->timer, timerq_fire_cb, due > now ? due - now : 0, 0);
    q->armed = due;
}

static void timerq_fire_cb(uv_timer_t *t)
{
    sl_timerq_t *q = t->data;
    uint64_t now = uv_now(q->loop);
    q->armed = UINT64_MAX; /* a one-shot timer that just ran */
    /* The entries due now move to a list of their own first, so that one
     * started again from a callback (even with 0 ms) waits for the next
     * run instead of running in this one for ever. A callback may stop
     * any of them: they are in a list like any other. */
    sl_timerq_entry_t due = {&due, &due, 0};
    sl_timerq_entry_t *last = &q->list;
    while (last->next != &q->list && last->next->due <= now)
        last = last->next;
    if (last != &q->list) {
        due.next = q->list.next;
        due.prev = last;
        q->list.next = last->next;
        last->next->prev = &q->list;
        due.next->prev = &due;
        last->next = &due;
    }
    q->firing = 1;
    while (due.next != &due) {
        sl_timerq_entry_t *e = due.next;
        sl_timerq_stop(e);
        q->cb(q, e);
    }
    q->firing = 0;
    timerq_arm(q);
}

void sl_timerq_init(sl_timerq_t *q, uv_loop_t *loop, sl_timerq_cb cb, void *data)
{
    q->list.next = q->list.prev = &q->list;
    q->list.due = 0;
    q->loop = loop;
    q->timer = NULL;
    q->armed = UINT64_MAX;
    q->firing = 0;
    q->closed = 0;
    q->grain = 0;
    q->cb = cb;
    q->data = data;
}

void sl_timerq_close(sl_timerq_t *q)
{
    if (q->closed)
        return;
    q->closed = 1;
    while (q->list.next != &q->list)
        sl_timerq_stop(q->list.next);
    if (q->timer) {
        uv_close((uv_handle_t *)q->timer, timer_closed_cb);
        q->timer = NULL;
    }
}

void sl_timerq_stop(sl_timerq_entry_t *e)
{
    if (!e->next)
        return;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

int sl_timerq_start(sl_timerq_t *q, sl_timerq_entry_t *e, uint64_t ms)
{
    sl_timerq_stop(e);
    if (q->closed)
        return -EPIPE;
    if (!q->timer) {
        if (!(q->timer = malloc(sizeof *q->timer)))
            return -ENOMEM;
        uv_timer_init(q->loop, q->timer);
        /* Stopping an entry leaves the timer set (see timerq_arm): a timer
         * set for entries long gone must not keep a loop that is winding
         * down alive. */
        uv_unref((uv_handle_t *)q->timer);
        q->timer->data = q;
    }
    e->due = uv_now(q->loop) + ms;
    /* After the last entry due no later than e: the tail itself when every
     * entry has this duration. */
    sl_timerq_entry_t *at = q->list.prev;
    while (at != &q->list && at->due > e->due)
        at = at->prev;
    e->prev = at;
    e->next = at->next;
    at->next->prev = e;
    at->next = e;
    if (e->prev == &q->list)
        timerq_arm(q);
    return 0;
}
