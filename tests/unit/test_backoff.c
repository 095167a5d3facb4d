/* Unit tests for base/backoff: the schedule doubles from min to max, the
 * jitter stays within its bounds (and reaches both), a reset starts over,
 * and no jitter gives the exact steps. */
#include <stdint.h>

#include "base/backoff.h"
#include "testlib.h"

static void backoff_doubles_from_min_up_to_max_without_jitter(void)
{
    sl_backoff_t b;
    sl_backoff_init(&b, 100, 10000, 0);
    static const uint32_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ_INT(sl_backoff_next(&b, 12345u * i), want[i]);
}

static void backoff_cap_that_is_not_a_power_of_two_times_min(void)
{
    sl_backoff_t b = SL_BACKOFF_INIT(100, 5000, 0);
    static const uint32_t want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ_INT(sl_backoff_next(&b, 0), want[i]);
}

static void backoff_reset_starts_over_at_min(void)
{
    sl_backoff_t b;
    sl_backoff_init(&b, 100, 5000, 0);
    sl_backoff_next(&b, 0);
    sl_backoff_next(&b, 0);
    CHECK_EQ_INT(sl_backoff_next(&b, 0), 400);
    sl_backoff_reset(&b);
    CHECK_EQ_INT(sl_backoff_next(&b, 0), 100);
    CHECK_EQ_INT(sl_backoff_next(&b, 0), 200);
}

/* With 25 %: 75..125 % of the step, both ends reached, every step. */
static void backoff_jitter_stays_within_a_quarter_of_the_step(void)
{
    static const uint32_t steps[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (unsigned s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        uint32_t lo = UINT32_MAX, hi = 0;
        for (uint32_t r = 0; r < 1000; r++) {
            sl_backoff_t b;
            sl_backoff_init(&b, 100, 5000, 25);
            for (unsigned k = 0; k < s; k++)
                sl_backoff_next(&b, r * 2654435761u);
            uint32_t d = sl_backoff_next(&b, r * 2654435761u);
            CHECK(d >= steps[s] * 75 / 100 && d <= steps[s] * 125 / 100);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        CHECK_EQ_INT(lo, steps[s] * 75 / 100);
        CHECK_EQ_INT(hi, steps[s] * 125 / 100);
    }
}

/* The jitter spreads the delay, never the schedule: the steps stay exact. */
static void backoff_jitter_leaves_the_steps_alone(void)
{
    sl_backoff_t a, b;
    sl_backoff_init(&a, 100, 5000, 25);
    sl_backoff_init(&b, 100, 5000, 0);
    for (int i = 0; i < 10; i++) {
        sl_backoff_next(&a, (uint32_t)i * 7919u);
        sl_backoff_next(&b, 0);
        CHECK_EQ_INT(a.step_ms, b.step_ms);
    }
}

static void backoff_extreme_values_do_not_overflow(void)
{
    sl_backoff_t b;
    sl_backoff_init(&b, UINT32_MAX / 2, UINT32_MAX, 100);
    CHECK_EQ_INT(sl_backoff_next(&b, 200), (uint64_t)(UINT32_MAX / 2) * 2); /* +100 % */
    CHECK_EQ_INT(b.step_ms, (uint64_t)(UINT32_MAX / 2) * 2);
    CHECK_EQ_INT(sl_backoff_next(&b, 200), UINT32_MAX); /* twice the step: capped */
    CHECK_EQ_INT(b.step_ms, UINT32_MAX);
    CHECK_EQ_INT(sl_backoff_next(&b, 0), 0); /* -100 %: no wait */
    CHECK_EQ_INT(b.step_ms, UINT32_MAX);
    /* A max below min is min; a jitter over 100 % is 100 %. */
    sl_backoff_init(&b, 500, 100, 400);
    CHECK_EQ_INT(b.max_ms, 500);
    CHECK_EQ_INT(b.jitter_pct, 100);
    CHECK_EQ_INT(sl_backoff_next(&b, 0), 0);
    CHECK_EQ_INT(sl_backoff_next(&b, 100), 500);
}

TL_SUITE(backoff, NULL, NULL,
         TL_TEST(backoff_doubles_from_min_up_to_max_without_jitter),
         TL_TEST(backoff_cap_that_is_not_a_power_of_two_times_min),
         TL_TEST(backoff_reset_starts_over_at_min),
         TL_TEST(backoff_jitter_stays_within_a_quarter_of_the_step),
         TL_TEST(backoff_jitter_leaves_the_steps_alone),
         TL_TEST(backoff_extreme_values_do_not_overflow));
