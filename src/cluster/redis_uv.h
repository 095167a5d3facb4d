/* L5a cluster/redis_uv: hiredis's async contexts on the libuv loop (its 0.14 libuv
 * adapter, with the socket-error fix described in redis_uv.c). Used by the
 * Lua Redis client and by the cluster adapter's link. Knows nothing else. */
#ifndef SL_REDIS_UV_H
#define SL_REDIS_UV_H

#include <uv.h>

/* hiredis's libuv adapter header defines static functions (one named
 * on_close), so it is compiled alone in redis_uv.c, which also makes socket
 * errors reach hiredis (the 0.14 adapter drops them). gone(ac) runs once when
 * hiredis destroys ac, whatever the path (an error, a disconnect, a free):
 * after the pending reply callbacks ran with NULL replies, before the
 * disconnect callback; ac and ac->data are still valid then. Every context
 * attached shares the one gone function. Returns 0, or -1 (ac untouched:
 * free it with redisAsyncFree). */
struct redisAsyncContext;
typedef void (*sl_redis_uv_gone_cb)(struct redisAsyncContext *ac);
int sl_redis_uv_attach(struct redisAsyncContext *ac, uv_loop_t *loop, sl_redis_uv_gone_cb gone);
/* gone may be NULL: then nothing is told of the context's end. */

#endif
