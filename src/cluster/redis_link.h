/* L5a cluster/redis_link: one logical Redis connection over hiredis's async API on the
 * libuv loop: connects (with a timeout hiredis 0.14 lacks), authenticates,
 * selects the db, and after any loss reconnects with backoff (100 ms
 * doubling to 5 s), telling its owner of each transition once. Commands
 * sent while it is down fail at once instead of queueing without bound.
 * Knows nothing of Socket.IO or Lua. */
#ifndef SL_REDIS_LINK_H
#define SL_REDIS_LINK_H

#include <uv.h>
#include <hiredis/async.h>

#include "base/backoff.h"
#include "cluster/redis_url.h"

/* Queues AUTH [user] password and SELECT db as the URL asks, first on a
 * fresh context so they precede any command. Returns how many were sent. */
int sl_redis_send_handshake(redisAsyncContext *ac, const sl_redis_url_t *u, redisCallbackFn *auth_cb,
                            void *auth_priv, redisCallbackFn *select_cb, void *select_priv);

/* What a reconnecting Redis connection tells the log, and when it tries
 * again: shared by sl_redis_link and redis_sub so both log each transition
 * once and back off alike (the backoff tracker: 100 ms doubling to 5 s, each
 * delay spread by +-25 % so a cluster doesn't reconnect in lockstep). */
typedef struct sl_redis_health {
    sl_backoff_t backoff;
    int announced_down;  /* the loss was logged for this outage */
    int ever_up;
} sl_redis_health_t;

void sl_redis_health_init(sl_redis_health_t *h);
/* Up (and authenticated): logs "connected" the first time and after an
 * outage; the next outage starts with the shortest delay. */
void sl_redis_health_up(sl_redis_health_t *h, const sl_redis_url_t *u, const char *name);
/* Gone, or could not connect: logs why once per outage; returns the delay
 * in ms before the next attempt (the step, give or take 25 %). */
unsigned sl_redis_health_down(sl_redis_health_t *h, const sl_redis_url_t *u, const char *name,
                              const char *why);

typedef struct sl_redis_link sl_redis_link_t;

/* up = 1: connected (and authenticated); the owner (re)subscribes now.
 * up = 0: the connection is gone; replies pending on it came back NULL. */
typedef void (*sl_redis_link_state_cb)(sl_redis_link_t *l, int up, void *ud);

sl_redis_link_t *sl_redis_link_new(uv_loop_t *loop, const sl_redis_url_t *url, const char *name,
                                   sl_redis_link_state_cb cb, void *ud);
int sl_redis_link_up(const sl_redis_link_t *l);
/* Like redisAsyncCommand; -1 when the link is down (fn is not called). */
int sl_redis_link_command(sl_redis_link_t *l, redisCallbackFn *fn, void *priv, const char *fmt, ...);
int sl_redis_link_command_argv(sl_redis_link_t *l, redisCallbackFn *fn, void *priv, int argc,
                               const char **argv, const size_t *argvlen);
/* Disconnects for good; handles are released asynchronously. */
void sl_redis_link_close(sl_redis_link_t *l);

#endif
