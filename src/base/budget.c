/* L0 base/budget: one cap on what output queues hold together. See budget.h. */
#include "base/budget.h"

#include <stdio.h>
#include <stdlib.h>
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

static void budget_tick(uv_timer_t *t)
{
    sl_budget_t *b = t->data;
    while (b->cap && b->used > b->cap && b->waiting.head) {
        sl_budget_entry_t *e = SL_CONTAINER_OF(b->waiting.head, sl_budget_entry_t, link);
        b->dropped++;
        SL_LOG_EVERY(&b->over, SL_LOG_WARN, "output",
                     "output queues hold %zu bytes, over %s (%zu): dropping %s, whose output has "
                     "waited %llu ms (%zu bytes queued; the longest waiting go first)",
                     b->used, b->option, b->cap, e->label,
                     (unsigned long long)(uv_now(b->loop) - e->since), e->bytes);
        e->evict(e); /* releases what e holds and leaves: e is gone */
    }
}

sl_budget_entry_t *sl_budget_enter(sl_budget_t *b, sl_budget_evict_cb evict, void *owner,
                                   const char *label)
{
    sl_budget_entry_t *e = malloc(sizeof *e);
    if (!e)
        return NULL;
    e->budget = b;
    e->since = uv_now(b->loop);
    e->bytes = 0;
    e->evict = evict;
    e->owner = owner;
    /* Copied as snprintf's "%s" would (cut to fit, always terminated),
     * without the formatting: a queue starts on every connection. */
    const char *l = label ? label : "a connection";
    size_t n = strnlen(l, sizeof e->label - 1);
    memcpy(e->label, l, n);
    e->label[n] = '\0';
    sl_list_push_back(&b->waiting, &e->link);
    return e;
}

void sl_budget_hold(sl_budget_entry_t *e, sl_rcbuf_t *rc, size_t len)
{
    sl_budget_t *b = e->budget;
    if (rc->queued++ == 0)
        b->used += rc->len;
    e->bytes += len;
    if (b->cap && b->used > b->cap && !uv_is_active((uv_handle_t *)&b->timer) &&
        !uv_is_closing((uv_handle_t *)&b->timer))
        /* 1 ms, not 0: a timer due now would run in this turn's timers
         * phase when a timer's callback wrote this, before the stream
         * writers' flusher writes the turn's output at its end; one due
         * later runs in a later turn, after that. */
        uv_timer_start(&b->timer, budget_tick, 1, 0);
}

void sl_budget_leave(sl_budget_entry_t *e)
{
    sl_list_remove(&e->budget->waiting, &e->link);
    free(e);
}
