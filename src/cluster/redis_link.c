/* L5a cluster/redis_link: a reconnecting hiredis async connection. See redis_link.h. */
#include "cluster/redis_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "base/log.h"
#include "cluster/redis_uv.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define BACKOFF_JITTER_PCT 25
#define CONNECT_TIMEOUT_MS 3000

struct sl_redis_link {
    uv_loop_t *loop;
    sl_redis_url_t url;
    char name[32];
    sl_redis_link_state_cb cb;
    void *ud;
    redisAsyncContext *ac;   /* the current context, connected or not */
    int up;
    int closing;
    sl_redis_health_t health;
    int handshake_left;      /* AUTH/SELECT replies due before the link is up */
    char refused[160];       /* why Redis refused the handshake, for link_down */
    uv_timer_t timer;        /* reconnect and connect timeout */
};

int sl_redis_send_handshake(redisAsyncContext *ac, const sl_redis_url_t *u, redisCallbackFn *auth_cb,
                            void *auth_priv, redisCallbackFn *select_cb, void *select_priv)
{
    int sent = 0;
    if (u->has_password) {
        /* AUTH [user] password: a user name means a Redis 6 ACL user. */
        const char *argv[3] = {"AUTH", u->user, u->password};
        size_t lens[3] = {4, strlen(u->user), strlen(u->password)};
        int skip = u->user[0] ? 0 : 1;
        argv[skip] = "AUTH";
        lens[skip] = 4;
        redisAsyncCommandArgv(ac, auth_cb, auth_priv, 3 - skip, argv + skip, lens + skip);
        sent++;
    }
    if (u->db) {
        redisAsyncCommand(ac, select_cb, select_priv, "SELECT %d", u->db);
        sent++;
    }
    return sent;
}

void sl_redis_health_init(sl_redis_health_t *h)
{
    sl_backoff_init(&h->backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS, BACKOFF_JITTER_PCT);
    h->announced_down = 0;
    h->ever_up = 0;
}

void sl_redis_health_up(sl_redis_health_t *h, const sl_redis_url_t *u, const char *name)
{
    sl_backoff_reset(&h->backoff);
    if (h->announced_down || !h->ever_up) {
        char where[300];
        SL_INFO(u->label, "%s: connected to %s", name, sl_redis_url_text(u, where, sizeof where));
    }
    h->announced_down = 0;
    h->ever_up = 1;
}

unsigned sl_redis_health_down(sl_redis_health_t *h, const sl_redis_url_t *u, const char *name,
                              const char *why)
{
    if (!h->announced_down) {
        char where[300];
        sl_redis_url_text(u, where, sizeof where);
        if (h->ever_up)
            SL_WARN(u->label, "%s: lost %s (%s), reconnecting", name, where, why);
        else
            SL_WARN(u->label, "%s: cannot reach %s (%s), retrying", name, where, why);
        h->announced_down = 1;
    }
    /* The clock's low bits are random enough to spread a cluster. */
    return sl_backoff_next(&h->backoff, (uint32_t)uv_hrtime());
}

static void link_connect(sl_redis_link_t *l);

static void reconnect_cb(uv_timer_t *t) { link_connect(t->data); }

static void link_down(sl_redis_link_t *l, const char *why)
{
    int was_up = l->up;
    l->up = 0;
    l->ac = NULL;
    if (l->closing)
        return;
    unsigned ms = sl_redis_health_down(&l->health, &l->url, l->name, why);
    if (was_up && l->cb)
        l->cb(l, 0, l->ud);
    uv_timer_stop(&l->timer);
    uv_timer_start(&l->timer, reconnect_cb, ms, 0);
}

/* Connected and authenticated: commands may flow. */
static void link_ready(sl_redis_link_t *l)
{
    uv_timer_stop(&l->timer);
    l->up = 1;
    sl_redis_health_up(&l->health, &l->url, l->name);
    if (l->cb)
        l->cb(l, 1, l->ud);
}

static void on_auth_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    sl_redis_link_t *l = ac->data;
    redisReply *reply = r;
    if (!l || l->ac != ac || !reply) /* no reply: the context is going away */
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Not up yet, so the backoff keeps growing and the reason is told
         * once per outage by link_down, not once per attempt. */
        snprintf(l->refused, sizeof l->refused, "AUTH/SELECT failed: %s", reply->str ? reply->str : "error");
        redisAsyncDisconnect(ac);
        return;
    }
    if (--l->handshake_left == 0)
        link_ready(l);
}

static void on_connect_timeout(uv_timer_t *t);

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    sl_redis_link_t *l = ac->data;
    if (!l)
        return;
    uv_timer_stop(&l->timer);
    if (status != REDIS_OK) {
        /* hiredis frees ac after this returns. */
        link_down(l, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    if (l->closing) {
        redisAsyncDisconnect(ac);
        return;
    }
    l->refused[0] = '\0';
    l->handshake_left = sl_redis_send_handshake(ac, &l->url, on_auth_reply, NULL, on_auth_reply, NULL);
    if (l->handshake_left == 0)
        link_ready(l);
    else /* a server that accepts but never answers AUTH must not hang us */
        uv_timer_start(&l->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    sl_redis_link_t *l = ac->data;
    if (!l || l->ac != ac)
        return;
    if (l->closing) {
        l->ac = NULL;
        l->up = 0;
        return;
    }
    link_down(l, l->refused[0] ? l->refused
                               : status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
}

/* Connect timeout: hiredis 0.14 has none, and a black-holed address would
 * otherwise hang for the kernel's TCP timeout. */
static void on_connect_timeout(uv_timer_t *t)
{
    sl_redis_link_t *l = t->data;
    if (l->ac && !l->up) {
        redisAsyncContext *ac = l->ac;
        ac->data = NULL; /* its callbacks must not touch l any more */
        l->ac = NULL;
        redisAsyncFree(ac);
        link_down(l, "connect timeout");
    }
}

static void link_connect(sl_redis_link_t *l)
{
    if (l->closing || l->ac)
        return;
    redisAsyncContext *ac = l->url.is_unix ? redisAsyncConnectUnix(l->url.path)
                                           : redisAsyncConnect(l->url.host, l->url.port);
    if (!ac) {
        link_down(l, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        link_down(l, why);
        return;
    }
    ac->data = l;
    if (sl_redis_uv_attach(ac, l->loop, NULL) != 0) {
        redisAsyncFree(ac);
        link_down(l, "cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    uv_timer_stop(&l->timer);
    uv_timer_start(&l->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

sl_redis_link_t *sl_redis_link_new(uv_loop_t *loop, const sl_redis_url_t *url, const char *name,
                                   sl_redis_link_state_cb cb, void *ud)
{
    sl_redis_link_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->loop = loop;
    l->url = *url;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->cb = cb;
    l->ud = ud;
    sl_redis_health_init(&l->health);
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    link_connect(l);
    return l;
}

int sl_redis_link_up(const sl_redis_link_t *l) { return l->up; }

int sl_redis_link_command(sl_redis_link_t *l, redisCallbackFn *fn, void *priv, const char *fmt, ...)
{
    if (!l->up || !l->ac)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(l->ac, fn, priv, fmt, ap);
    va_end(ap);
    return rc == REDIS_OK ? 0 : -1;
}

int sl_redis_link_command_argv(sl_redis_link_t *l, redisCallbackFn *fn, void *priv, int argc,
                               const char **argv, const size_t *argvlen)
{
    if (!l->up || !l->ac)
        return -1;
    return redisAsyncCommandArgv(l->ac, fn, priv, argc, argv, argvlen) == REDIS_OK ? 0 : -1;
}

static void link_timer_closed(uv_handle_t *h) { free(h->data); }

void sl_redis_link_close(sl_redis_link_t *l)
{
    if (!l || l->closing)
        return;
    l->closing = 1;
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        if (l->up) {
            ac->data = NULL;
            redisAsyncDisconnect(ac);
        } else {
            ac->data = NULL;
            redisAsyncFree(ac);
        }
    }
    l->up = 0;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, link_timer_closed);
}
