/* L0 base/backoff: the one delay schedule of everything that tries again (a
 * Redis connection, the sio.redis pool, a crashed worker): the first delay
 * is `min`, each next one twice the last up to `max`, each spread by
 * +-jitter % so that many clients of one server do not come back in the
 * same millisecond; a success starts over at `min`.
 * Pure: no clock, no loop, no randomness of its own (the caller hands in a
 * random word), so the schedule is testable to the millisecond. Knows
 * nothing of what is retried. */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stdint.h>

typedef struct sl_backoff {
    uint32_t min_ms, max_ms;
    uint32_t step_ms;     /* the next delay before jitter; 0: min_ms */
    uint32_t jitter_pct;  /* 0..100 */
} sl_backoff_t;

#define SL_BACKOFF_INIT(min_ms, max_ms, jitter_pct) {(min_ms), (max_ms), 0, (jitter_pct)}

void sl_backoff_init(sl_backoff_t *b, uint32_t min_ms, uint32_t max_ms, uint32_t jitter_pct);

/* The delay before the next attempt, and the step doubles for the one
 * after (up to max_ms). random: any 32-bit value (uv_hrtime() will do);
 * the delay is step * (100 - jitter + random % (2 * jitter + 1)) / 100,
 * so with jitter 25 it is 75..125 % of the step. */
uint32_t sl_backoff_next(sl_backoff_t *b, uint32_t random);

/* Success: the next delay is min_ms again. */
void sl_backoff_reset(sl_backoff_t *b);

#endif
