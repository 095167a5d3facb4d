/* Unit tests for base/defer: the function runs later in the loop turn, not
 * in the call, once, with its data (in no promised order: libuv runs close
 * callbacks last asked first); from a callback
 * (as eio and sio free a session or client from inside their transports'
 * callbacks) it runs before the loop's next turn; and nothing is left
 * open (the runner checks the loop closes clean). */
#include <uv.h>

#include "base/defer.h"
#include "testlib.h"

static char ran[8];
static int nran;

static void record(void *data)
{
    if (nran < (int)sizeof ran - 1)
        ran[nran++] = *(const char *)data;
}

static void defer_runs_later_once(void)
{
    nran = 0;
    static const char a = 'a', b = 'b';
    CHECK_EQ_INT(sl_defer(tl_loop(), record, (void *)&a), 0);
    CHECK_EQ_INT(sl_defer(tl_loop(), record, (void *)&b), 0);
    CHECK_EQ_INT(nran, 0); /* not in the call */
    uv_run(tl_loop(), UV_RUN_DEFAULT);
    CHECK_EQ_INT(nran, 2);
    CHECK((ran[0] == 'a' && ran[1] == 'b') || (ran[0] == 'b' && ran[1] == 'a'));
    uv_run(tl_loop(), UV_RUN_DEFAULT);
    CHECK_EQ_INT(nran, 2); /* once */
}

/* Deferred from a timer's callback: the caller may still use its object
 * when the call returns; the function has run by the time a timer due at
 * the next turn fires. */
static int seen_in_callback = -1;

static void first_cb(uv_timer_t *t)
{
    static const char c = 'c';
    sl_defer(t->loop, record, (void *)&c);
    seen_in_callback = nran;
    uv_close((uv_handle_t *)t, NULL);
}

static void next_turn_cb(uv_timer_t *t)
{
    CHECK_STR(ran, (size_t)nran, "c");
    uv_close((uv_handle_t *)t, NULL);
}

static void defer_from_a_callback_runs_before_the_next_turn(void)
{
    nran = 0;
    uv_timer_t first, next;
    uv_timer_init(tl_loop(), &first);
    uv_timer_init(tl_loop(), &next);
    uv_timer_start(&first, first_cb, 0, 0);
    uv_timer_start(&next, next_turn_cb, 5, 0);
    uv_run(tl_loop(), UV_RUN_DEFAULT);
    CHECK_EQ_INT(seen_in_callback, 0);
    CHECK_EQ_INT(nran, 1);
}

TL_SUITE(defer, NULL, NULL,
         TL_TEST(defer_runs_later_once),
         TL_TEST(defer_from_a_callback_runs_before_the_next_turn));
