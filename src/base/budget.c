/* L0 base/budget: one cap on what output queues hold together. See budget.h. */
#include "base/budget.h"

#include <string.h>

void sl_budget_init(sl_budget_t *b, uv_loop_t *loop, size_t cap, const char *option)
{
    memset(b, 0, sizeof *b);
    b->loop = loop;
    b->cap = cap;
    b->option = option;
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
}

void sl_budget_set_cap(sl_budget_t *b, size_t cap) { b->cap = cap; }

void sl_budget_close(sl_budget_t *b)
{
    if (!uv_is_closing((uv_handle_t *)&b->timer))
        uv_close((uv_handle_t *)&b->timer, NULL);
}

/* The queue stopped being empty now: it goes last, behind every queue
 * that has waited longer. */
static void enlist(sl_budget_entry_t *e)
{
    e->since = uv_now(e->budget->loop);
    sl_list_push_back(&e->budget->waiting, &e->link);
}

static void unlist(sl_budget_entry_t *e) { sl_list_remove(&e->budget->waiting, &e->link); }

static void budget_tick(uv_timer_t *t)
{
    sl_budget_t *b = t->data;
    while (b->cap && b->used > b->cap && b->waiting.head) {
        sl_budget_entry_t *e = SL_CONTAINER_OF(b->waiting.head, sl_budget_entry_t, link);
        unlist(e);
        b->dropped++;
        SL_LOG_EVERY(&b->over, SL_LOG_WARN, "output",
                     "output queues hold %zu bytes, over %s (%zu): dropping %s, whose output has "
                     "waited %llu ms (%zu bytes queued; the longest waiting go first)",
                     b->used, b->option, b->cap, e->label ? e->label : "a connection",
                     (unsigned long long)(uv_now(b->loop) - e->since), e->bytes);
        e->evict(e); /* releases what e holds and leaves: e is not ours now */
    }
}

void sl_budget_join(sl_budget_entry_t *e, sl_budget_t *b, sl_budget_evict_cb evict, const char *label)
{
    memset(e, 0, sizeof *e);
    e->budget = b;
    e->evict = evict;
    e->label = label;
}

void sl_budget_bytes(sl_budget_entry_t *e, long long delta)
{
    if (!e->budget)
        return;
    size_t was = e->bytes;
    e->bytes = (size_t)((long long)e->bytes + delta);
    if (was == 0 && e->bytes > 0)
        enlist(e);
    else if (was > 0 && e->bytes == 0)
        unlist(e);
}

void sl_budget_hold(sl_budget_entry_t *e, sl_rcbuf_t *rc, size_t len)
{
    sl_budget_t *b = e->budget;
    if (!b)
        return;
    if (rc->queued++ == 0)
        b->used += rc->len;
    sl_budget_bytes(e, (long long)len);
    if (b->cap && b->used > b->cap && !uv_is_active((uv_handle_t *)&b->timer) &&
        !uv_is_closing((uv_handle_t *)&b->timer))
        /* 1 ms, not 0: a timer due now would run in this turn's timers
         * phase when a timer's callback wrote this, before the stream
         * writers' flusher writes the turn's output at its end; one due
         * later runs in a later turn, after that. */
        uv_timer_start(&b->timer, budget_tick, 1, 0);
}

void sl_budget_release(sl_budget_entry_t *e, sl_rcbuf_t *rc, size_t len)
{
    sl_budget_t *b = e->budget;
    if (!b)
        return;
    if (--rc->queued == 0)
        b->used -= rc->len;
    sl_budget_bytes(e, -(long long)len);
}

void sl_budget_leave(sl_budget_entry_t *e)
{
    if (!e->budget)
        return;
    unlist(e);
    e->budget = NULL;
    e->bytes = 0;
}
