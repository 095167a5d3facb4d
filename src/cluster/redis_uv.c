/* L5a cluster/redis_uv: hiredis's libuv adapter, compiled alone because its header
 * defines static functions with common names (on_close), with two fixes:
 * socket errors reach hiredis, and lua_redis.c hears when hiredis destroys
 * a context. Knows nothing of Lua. */
#include <string.h>

#include <hiredis/adapters/libuv.h>

#include "cluster/redis_uv.h"

static sl_redis_uv_gone_cb gone_cb;

/* The 0.14 adapter returns at once when libuv reports an error, but libuv
 * (1.44, unix/poll.c) reports POLLERR as UV_EBADF and stops the handle: a
 * refused TCP connect, or a reset connection, would then sit unnoticed
 * until a timer gave up on it. Hand the events hiredis asked for to it
 * instead, so it reads the socket error itself (what hiredis 1.x does). */
static void poll_cb(uv_poll_t *handle, int status, int events)
{
    redisLibuvEvents *p = handle->data;
    int ev = status ? p->events : events;
    if (p->context != NULL && (ev & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context != NULL && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
}

static void set_events(redisLibuvEvents *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, poll_cb);
    else
        uv_poll_stop(&p->handle);
}

static void add_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    set_events(p, p->events | UV_READABLE);
}

static void del_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    set_events(p, p->events & ~UV_READABLE);
}

static void add_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    set_events(p, p->events | UV_WRITABLE);
}

static void del_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    set_events(p, p->events & ~UV_WRITABLE);
}

/* hiredis calls the adapter's cleanup exactly once per attached context,
 * from its free path, whatever started it: the one place that sees every
 * end of a context, including a failed asynchronous connect (after which
 * hiredis calls no disconnect callback). */
static void cleanup(void *privdata)
{
    redisLibuvEvents *p = privdata;
    redisAsyncContext *ac = p ? p->context : NULL;
    redisLibuvCleanup(privdata);
    if (ac && gone_cb)
        gone_cb(ac);
}

int sl_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop, sl_redis_uv_gone_cb gone)
{
    if (ac->ev.data != NULL)
        return -1;
    if (redisLibuvAttach(ac, loop) != REDIS_OK) {
        /* The adapter sets its hooks before it can fail (uv_poll_init), and
         * its cleanup would then run on NULL: take them all back. */
        ac->ev.addRead = ac->ev.delRead = ac->ev.addWrite = ac->ev.delWrite = NULL;
        ac->ev.cleanup = NULL;
        ac->ev.data = NULL;
        return -1;
    }
    /* The one gone function serves the contexts that asked for it; the
     * others keep the adapter's plain cleanup. */
    if (gone)
        gone_cb = gone;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = gone ? cleanup : redisLibuvCleanup;
    return 0;
}
