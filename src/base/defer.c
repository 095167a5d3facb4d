/* L0 base/defer: see defer.h. */
#include "base/defer.h"

#include <errno.h>
#include <stdlib.h>

typedef struct deferred {
    uv_idle_t h; /* never started: closing it is what schedules fn */
    void (*fn)(void *data);
    void *data;
} deferred_t;

static void deferred_closed(uv_handle_t *h)
{
    deferred_t *d = (deferred_t *)h;
    void (*fn)(void *) = d->fn;
    void *data = d->data;
    free(d);
    fn(data);
}

int sl_defer(uv_loop_t *loop, void (*fn)(void *data), void *data)
{
    deferred_t *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    d->fn = fn;
    d->data = data;
    uv_idle_init(loop, &d->h);
    uv_close((uv_handle_t *)&d->h, deferred_closed);
    return 0;
}
