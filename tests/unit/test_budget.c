/* Unit tests for base/budget: shared buffers counted once, the queues that
 * have waited longest dropped first, on the next loop turn, never inside
 * the call that went over; no cap, no drop. On the test's loop (tl_loop()),
 * which must close with no handle left. */
#include "base/budget.h"
#include "testlib.h"

#include <stdlib.h>

/* A queue of at most 4 buffers, as an owner would keep it: its entry made
 * by the first buffer it holds, gone once it holds none. */
typedef struct q {
    sl_budget_t *b;       /* the budget it is in (NULL: none) */
    const char *label;
    sl_budget_entry_t *be; /* while it holds buffers */
    sl_rcbuf_t *held[4];
    size_t len[4];
    int n;
    int evicted;
} q_t;

static void q_evict(sl_budget_entry_t *e)
{
    q_t *q = e->owner;
    for (int i = 0; i < q->n; i++)
        sl_budget_release(e, q->held[i], q->len[i]);
    sl_budget_leave(e);
    q->be = NULL;
    q->b = NULL; /* dropped: out of the budget */
    q->evicted++;
}

static void q_join(q_t *q, sl_budget_t *b, const char *label)
{
    q->b = b;
    q->label = label;
}

static void q_push(q_t *q, sl_rcbuf_t *rc, size_t len)
{
    q->held[q->n] = rc;
    q->len[q->n++] = len;
    if (q->b && !q->be)
        CHECK((q->be = sl_budget_enter(q->b, q_evict, q, q->label)) != NULL);
    if (q->be)
        sl_budget_hold(q->be, rc, len);
}

static void q_pop_all(q_t *q)
{
    for (int i = 0; i < q->n && q->be; i++)
        sl_budget_release(q->be, q->held[i], q->len[i]);
    if (q->be)
        sl_budget_leave(q->be);
    q->be = NULL;
    q->n = 0;
}

static size_t q_bytes(const q_t *q) { return q->be ? q->be->bytes : 0; }

static void finish(sl_budget_t *b)
{
    sl_budget_close(b);
    uv_run(b->loop, UV_RUN_DEFAULT);
}

static void a_buffer_shared_by_queues_is_counted_once(void)
{
    sl_budget_t b;
    sl_budget_init(&b, tl_loop(), 0, "cap");
    sl_rcbuf_t *rc = sl_rcbuf_alloc(1000);
    q_t q1 = {0}, q2 = {0};
    q_join(&q1, &b, "q1");
    q_join(&q2, &b, "q2");
    q_push(&q1, rc, 1000);
    q_push(&q2, rc, 600); /* a slice of it: still the same memory */
    CHECK_EQ_INT(b.used, 1000);
    CHECK_EQ_INT(q_bytes(&q1), 1000);
    CHECK_EQ_INT(q_bytes(&q2), 600);
    q_pop_all(&q1);
    CHECK_EQ_INT(b.used, 1000);
    q_pop_all(&q2);
    CHECK_EQ_INT(b.used, 0);
    CHECK(b.waiting.head == NULL);
    sl_rcbuf_unref(rc);
    finish(&b);
}

static void over_the_cap_the_longest_waiting_queue_goes_first_on_the_next_turn(void)
{
    sl_budget_t b;
    sl_budget_init(&b, tl_loop(), 1500, "cap");
    sl_rcbuf_t *r1 = sl_rcbuf_alloc(1000), *r2 = sl_rcbuf_alloc(1000);
    q_t q1 = {0}, q2 = {0};
    q_join(&q1, &b, "q1");
    q_join(&q2, &b, "q2");
    q_push(&q1, r1, 1000);
    q_push(&q2, r2, 1000);
    CHECK_EQ_INT(b.used, 2000);
    CHECK_EQ_INT(q1.evicted + q2.evicted, 0); /* never inside the write */
    uv_sleep(2); /* the budget's timer is due in 1 ms */
    uv_run(b.loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(q1.evicted, 1);
    CHECK_EQ_INT(q2.evicted, 0);
    CHECK_EQ_INT(b.used, 1000);
    CHECK_EQ_INT(b.dropped, 1);
    q1.n = 0;
    q_pop_all(&q2);
    sl_rcbuf_unref(r1);
    sl_rcbuf_unref(r2);
    finish(&b);
}

static void a_queue_that_emptied_waits_behind_the_others_again(void)
{
    sl_budget_t b;
    sl_budget_init(&b, tl_loop(), 2500, "cap");
    sl_rcbuf_t *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = sl_rcbuf_alloc(1000);
    q_t q1 = {0}, q2 = {0};
    q_join(&q1, &b, "q1");
    q_join(&q2, &b, "q2");
    q_push(&q1, r[0], 1000);
    q_push(&q2, r[1], 1000);
    q_pop_all(&q1); /* q1 caught up */
    q_push(&q1, r[2], 1000);
    q_push(&q1, r[3], 1000);
    CHECK_EQ_INT(b.used, 3000);
    uv_sleep(2); /* the budget's timer is due in 1 ms */
    uv_run(b.loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(q2.evicted, 1); /* waiting since before q1's new backlog */
    CHECK_EQ_INT(q1.evicted, 0);
    q2.n = 0;
    q_pop_all(&q1);
    for (int i = 0; i < 4; i++)
        sl_rcbuf_unref(r[i]);
    finish(&b);
}

static void no_cap_drops_nothing_and_a_partial_write_only_moves_bytes(void)
{
    sl_budget_t b;
    sl_budget_init(&b, tl_loop(), 0, "cap");
    sl_rcbuf_t *rc = sl_rcbuf_alloc(1 << 20);
    q_t q = {0};
    q_join(&q, &b, "q");
    q_push(&q, rc, 1 << 20);
    uv_sleep(2); /* the budget's timer is due in 1 ms */
    uv_run(b.loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(q.evicted, 0);
    sl_budget_bytes(q.be, -1000); /* partly written */
    CHECK_EQ_INT(q_bytes(&q), (1 << 20) - 1000);
    CHECK_EQ_INT(b.used, 1 << 20); /* the buffer is still all there */
    q.len[0] -= 1000;
    q_pop_all(&q);
    CHECK_EQ_INT(b.used, 0);
    CHECK(q.be == NULL && b.waiting.head == NULL); /* empty: no entry */
    q_join(&q, NULL, NULL);
    q_push(&q, rc, 10); /* out of the budget: not counted */
    CHECK_EQ_INT(b.used, 0);
    q.n = 0;
    sl_rcbuf_unref(rc);
    finish(&b);
}

/* Past twice the cap, a queue that holds more than a 64th of the cap
 * takes nothing more; a queue that holds little (a new client's first
 * packet) still does, and a buffer some queue holds already costs none. */
static void past_twice_the_cap_a_queue_that_holds_much_is_refused(void)
{
    sl_budget_t b;
    sl_budget_init(&b, tl_loop(), 6400, "cap"); /* a 64th: 100 */
    sl_rcbuf_t *rc = sl_rcbuf_alloc(12000);
    q_t q = {0}, little = {0};
    q_join(&q, &b, "q");
    q_join(&little, &b, "little");
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 12800, 12800), 0); /* up to twice the cap */
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 12801, 12801), 1);
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 12801, 100), 0); /* the queue would hold little */
    q_push(&q, rc, 12000);
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 800, 800), 0);
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 801, 801), 1);
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 0, 12000), 0); /* held already: no new memory */
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&little), 801, 100), 0);
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&little), 801, 101), 1);
    CHECK_EQ_INT(sl_budget_refuses(NULL, 0, 1 << 30, 1 << 30), 0); /* in no budget */
    sl_budget_set_cap(&b, 0);
    CHECK_EQ_INT(sl_budget_refuses(&b, q_bytes(&q), 1 << 30, 1 << 30), 0); /* no cap */
    q_pop_all(&q);
    sl_rcbuf_unref(rc);
    finish(&b);
}

TL_SUITE(budget, NULL, NULL,
         TL_TEST(a_buffer_shared_by_queues_is_counted_once),
         TL_TEST(over_the_cap_the_longest_waiting_queue_goes_first_on_the_next_turn),
         TL_TEST(a_queue_that_emptied_waits_behind_the_others_again),
         TL_TEST(no_cap_drops_nothing_and_a_partial_write_only_moves_bytes),
         TL_TEST(past_twice_the_cap_a_queue_that_holds_much_is_refused));
