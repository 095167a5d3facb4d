/* Unit tests for the harness itself: the loop every loop test gets from
 * tl_loop() and the check that it closes with no handle left. */
#include <uv.h>

#include "testlib.h"

static void tl_loop_is_fresh_and_the_same_within_a_test(void)
{
    uv_loop_t *a = tl_loop();
    CHECK(a != NULL);
    CHECK(tl_loop() == a);
    CHECK_EQ_INT(uv_loop_alive(a), 0);
    CHECK_EQ_INT(tl_loop_close(), 0);
    CHECK_EQ_INT(tl_loop_close(), 0); /* closed already: nothing to do */
}

static void closed_timer_passes_the_loop_check(void)
{
    static uv_timer_t t; /* outlives the test, whatever happens */
    uv_loop_t *loop = tl_loop();
    CHECK_EQ_INT(uv_timer_init(loop, &t), 0);
    uv_close((uv_handle_t *)&t, NULL); /* the close callback runs in tl_loop_close */
    CHECK_EQ_INT(tl_loop_close(), 0);
}

static int closes_seen;
static void count_close(uv_handle_t *h)
{
    (void)h;
    closes_seen++;
}

static void never_fires(uv_timer_t *t) { (void)t; }

/* What the runner does after a test that forgot a handle: the handle is
 * named on stderr and closed, and the check fails. */
static void handle_left_open_fails_the_loop_check(void)
{
    static uv_timer_t t, stopped;
    uv_loop_t *loop = tl_loop();
    CHECK_EQ_INT(uv_timer_init(loop, &t), 0);
    uv_timer_start(&t, never_fires, 100000, 0);
    uv_unref((uv_handle_t *)&t); /* unref'd does not mean closed */
    CHECK_EQ_INT(uv_timer_init(loop, &stopped), 0); /* never started */
    fprintf(stderr, "  (two handles left open on purpose:)\n");
    CHECK_EQ_INT(tl_loop_close(), -1);
    CHECK(!uv_is_active((uv_handle_t *)&t));
    /* A closed loop gives way to a new one. */
    loop = tl_loop();
    CHECK_EQ_INT(uv_timer_init(loop, &t), 0);
    closes_seen = 0;
    uv_close((uv_handle_t *)&t, count_close);
    CHECK_EQ_INT(tl_loop_close(), 0);
    CHECK_EQ_INT(closes_seen, 1);
}

TL_SUITE(testlib, NULL, NULL,
         TL_TEST(tl_loop_is_fresh_and_the_same_within_a_test),
         TL_TEST(closed_timer_passes_the_loop_check),
         TL_TEST(handle_left_open_fails_the_loop_check));
