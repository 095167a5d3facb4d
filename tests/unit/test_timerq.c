/* Unit tests for base/timerq: entries fire in deadline order and never
 * before their due time, a stopped entry never fires, a callback may start
 * its entry again or stop others, an entry moves between queues, and a
 * closed queue drops its entries, refuses new ones and leaves no handle
 * open (a queue never started has none). Only orders
 * and loop times are checked, never how long anything took. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/timerq.h"
#include "testlib.h"

typedef struct item {
    sl_timerq_entry_t e;
    char name;
    int restarts;                /* times to start again, 0 ms, from its callback */
    struct item *stop;           /* an entry its callback stops */
    sl_timerq_t *move_to;        /* a queue its callback starts it in */
} item_t;

static char fired[32];
static sl_timerq_t *fired_in[32];
static int nfired;
static int early; /* callbacks that ran before their due time */

static void record_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    item_t *it = (item_t *)(void *)((char *)e - offsetof(item_t, e));
    if (uv_now(q->loop) < e->due)
        early++;
    CHECK(!sl_timerq_queued(e));
    if (nfired < (int)sizeof fired - 1) {
        fired_in[nfired] = q;
        fired[nfired++] = it->name;
    }
    if (it->stop)
        sl_timerq_stop(&it->stop->e);
    if (it->move_to) {
        sl_timerq_t *to = it->move_to;
        it->move_to = NULL;
        sl_timerq_start(to, e, 1);
    } else if (it->restarts > 0) {
        it->restarts--;
        sl_timerq_start(q, e, 0);
    }
}

/* A queue's timer keeps no loop alive (timerq.h): a timer of the test's
 * own runs the loop until n callbacks have run. */
static int want;

static void keeper_cb(uv_timer_t *t)
{
    if (nfired >= want)
        uv_close((uv_handle_t *)t, NULL);
}

static void run_until(int n)
{
    static uv_timer_t keeper;
    want = n;
    uv_timer_init(tl_loop(), &keeper);
    uv_timer_start(&keeper, keeper_cb, 1, 1);
    uv_run(tl_loop(), UV_RUN_DEFAULT);
}

static void reset(void)
{
    nfired = 0;
    early = 0;
    for (size_t i = 0; i < sizeof fired; i++)
        fired[i] = '\0';
}

static void timerq_fires_in_deadline_order(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a'}, b = {.name = 'b'}, c = {.name = 'c'}, d = {.name = 'd'};
    sl_timerq_start(&q, &a.e, 20);
    sl_timerq_start(&q, &b.e, 20);
    sl_timerq_start(&q, &c.e, 5);  /* shorter: goes before both */
    sl_timerq_start(&q, &d.e, 30);
    CHECK(sl_timerq_queued(&a.e));
    run_until(4);
    CHECK_STR(fired, nfired, "cabd");
    CHECK_EQ_INT(early, 0);
    sl_timerq_close(&q);
}

static void timerq_stopped_entry_never_fires(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a'}, b = {.name = 'b'}, c = {.name = 'c'};
    sl_timerq_start(&q, &a.e, 1);
    sl_timerq_start(&q, &b.e, 2);
    sl_timerq_start(&q, &c.e, 3);
    sl_timerq_stop(&a.e); /* the head: the timer stays set for it */
    sl_timerq_stop(&a.e); /* twice is nothing */
    CHECK(!sl_timerq_queued(&a.e));
    run_until(2);
    CHECK_STR(fired, nfired, "bc");
    sl_timerq_close(&q);
}

static void timerq_restart_moves_the_entry_back(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a'}, b = {.name = 'b'};
    sl_timerq_start(&q, &a.e, 1);
    sl_timerq_start(&q, &b.e, 5);
    sl_timerq_start(&q, &a.e, 10); /* started again: now after b */
    run_until(2);
    CHECK_STR(fired, nfired, "ba");
    sl_timerq_close(&q);
}

/* A queue emptied by stops keeps its timer set for the old head: an entry
 * due later leaves it so (no new setting of the loop's timer per entry, as
 * a connect timeout started and stopped for every connection would need)
 * and still fires on time, after the early wake-up finds nothing due. */
static void timerq_later_head_keeps_the_earlier_setting(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a'}, b = {.name = 'b'};
    sl_timerq_start(&q, &a.e, 5);
    uint64_t set_for = q.armed;
    CHECK(set_for != UINT64_MAX);
    sl_timerq_stop(&a.e);
    sl_timerq_start(&q, &b.e, 20);
    CHECK(q.armed == set_for);
    run_until(1);
    CHECK_STR(fired, nfired, "b");
    CHECK_EQ_INT(early, 0);
    sl_timerq_close(&q);
}

static int count(char name)
{
    int n = 0;
    for (int i = 0; i < nfired; i++)
        n += fired[i] == name;
    return n;
}

/* A callback that starts its own entry with 0 ms runs again on a later
 * turn, not in the same one for ever; one that stops an entry due at the
 * same moment keeps it from firing. (Counts only: when c fires among the
 * a's depends on how late the loop runs.) */
static void timerq_callbacks_may_restart_and_stop(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a', .restarts = 3}, b = {.name = 'b'}, c = {.name = 'c'};
    a.stop = &b;
    sl_timerq_start(&q, &a.e, 2);
    sl_timerq_start(&q, &b.e, 2);
    sl_timerq_start(&q, &c.e, 40);
    run_until(5);
    CHECK_EQ_INT(count('a'), 4);
    CHECK_EQ_INT(count('b'), 0);
    CHECK_EQ_INT(count('c'), 1);
    sl_timerq_close(&q);
}

/* Which queue each firing came from, not the order across queues (that
 * depends on how late the loop runs). */
static void timerq_entry_moves_between_queues(void)
{
    reset();
    sl_timerq_t q1, q2;
    sl_timerq_init(&q1, tl_loop(), record_cb, NULL);
    sl_timerq_init(&q2, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a', .move_to = &q2}, b = {.name = 'b'}, c = {.name = 'c'};
    sl_timerq_start(&q1, &a.e, 1);
    sl_timerq_start(&q2, &b.e, 30);
    sl_timerq_start(&q2, &c.e, 1);
    sl_timerq_start(&q1, &c.e, 15); /* moved from q2 to q1 */
    run_until(4);
    CHECK_EQ_INT(nfired, 4);
    for (int i = 0, as = 0; i < nfired; i++) {
        if (fired[i] == 'a')
            CHECK(fired_in[i] == (as++ == 0 ? &q1 : &q2));
        if (fired[i] == 'b')
            CHECK(fired_in[i] == &q2);
        if (fired[i] == 'c')
            CHECK(fired_in[i] == &q1);
    }
    CHECK_EQ_INT(count('a'), 2);
    sl_timerq_close(&q1);
    sl_timerq_close(&q2);
}

static uint64_t fired_at[32];

static void stamp_cb(sl_timerq_t *q, sl_timerq_entry_t *e)
{
    item_t *it = (item_t *)(void *)((char *)e - offsetof(item_t, e));
    if (uv_now(q->loop) < e->due)
        early++;
    fired_at[nfired] = uv_now(q->loop);
    fired[nfired++] = it->name;
}

/* With a grain, entries due in one slice of loop time fire together, at
 * the slice's end, never early: two entries due 5 ms apart in one 50 ms
 * slice come out in the same loop time, at or after the slice's end. */
static void timerq_grain_fires_a_slice_together(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), stamp_cb, NULL);
    sl_timerq_set_grain(&q, 50);
    uv_update_time(tl_loop());
    uint64_t now = uv_now(tl_loop());
    uint64_t first = 50 - now % 50 + 1; /* due 1 ms into the next slice */
    item_t a = {.name = 'a'}, b = {.name = 'b'};
    sl_timerq_start(&q, &a.e, first);
    sl_timerq_start(&q, &b.e, first + 5);
    uint64_t slice_end = now + first - 1 + 50;
    run_until(2);
    CHECK_STR(fired, nfired, "ab");
    CHECK_EQ_INT(early, 0);
    CHECK(fired_at[0] == fired_at[1]);
    CHECK(fired_at[0] >= slice_end);
    sl_timerq_close(&q);
}

static void timerq_close_drops_entries_and_its_timer(void)
{
    reset();
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    item_t a = {.name = 'a'}, b = {.name = 'b'};
    sl_timerq_start(&q, &a.e, 1);
    sl_timerq_start(&q, &b.e, 1);
    sl_timerq_close(&q);
    sl_timerq_close(&q); /* twice is nothing */
    CHECK(!sl_timerq_queued(&a.e));
    CHECK(!sl_timerq_queued(&b.e));
    CHECK_EQ_INT(sl_timerq_start(&q, &a.e, 1), -EPIPE);
    CHECK(!sl_timerq_queued(&a.e));
    uv_run(tl_loop(), UV_RUN_DEFAULT);
    CHECK_EQ_INT(nfired, 0);
}

static void timerq_never_started_owns_no_handle(void)
{
    sl_timerq_t q;
    sl_timerq_init(&q, tl_loop(), record_cb, NULL);
    CHECK(q.timer == NULL);
    sl_timerq_close(&q);
}

TL_SUITE(timerq, NULL, NULL,
         TL_TEST(timerq_fires_in_deadline_order),
         TL_TEST(timerq_stopped_entry_never_fires),
         TL_TEST(timerq_restart_moves_the_entry_back),
         TL_TEST(timerq_later_head_keeps_the_earlier_setting),
         TL_TEST(timerq_callbacks_may_restart_and_stop),
         TL_TEST(timerq_entry_moves_between_queues),
         TL_TEST(timerq_grain_fires_a_slice_together),
         TL_TEST(timerq_close_drops_entries_and_its_timer),
         TL_TEST(timerq_never_started_owns_no_handle));
