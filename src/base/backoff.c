/* L0 base/backoff: doubling delays with jitter. See backoff.h. */
#include "base/backoff.h"

void sl_backoff_init(sl_backoff_t *b, uint32_t min_ms, uint32_t max_ms, uint32_t jitter_pct)
{
    b->min_ms = min_ms;
    b->max_ms = max_ms < min_ms ? min_ms : max_ms;
    b->step_ms = 0;
    b->jitter_pct = jitter_pct > 100 ? 100 : jitter_pct;
}

uint32_t sl_backoff_next(sl_backoff_t *b, uint32_t random)
{
    uint32_t step = b->step_ms ? b->step_ms : b->min_ms;
    b->step_ms = step > b->max_ms / 2 ? b->max_ms : step * 2;
    uint32_t pct = 100 - b->jitter_pct + random % (2 * b->jitter_pct + 1);
    uint64_t ms = (uint64_t)step * pct / 100;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void sl_backoff_reset(sl_backoff_t *b) { b->step_ms = 0; }
