/* L0 base/defer: runs a function later in this loop turn (in its close
 * phase), for memory that callers up the stack still read when its owner
 * is done with it. What a uv_close of a handle the owner kept for the
 * purpose did, without a handle in every owner: one small one is made when
 * it is needed. */
#ifndef SL_DEFER_H
#define SL_DEFER_H

#include <uv.h>

/* fn(data) runs once, from the loop, before its next turn's timers (in no
 * promised order among several: libuv runs close callbacks last asked
 * first). 0, or -ENOMEM (nothing will run: the caller decides what to do
 * at once). */
int sl_defer(uv_loop_t *loop, void (*fn)(void *data), void *data);

#endif
