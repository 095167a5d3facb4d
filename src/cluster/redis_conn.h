/* L5a cluster/redis_conn: one connection to one Redis server, the one client path
 * under every Redis user of siolua (the adapter's links and subscribers,
 * sio.redis's pool, sio.emitter, `siolua emit`):
 *
 *   commands --RESP--> out buffer --(once per loop turn)--> [net/tls] --> stream writer --> socket
 *   socket --> [net/tls] --> cluster/redis_reader (hiredis, capped) --> replies, in order, to their callbacks
 *                                                                    \-> pushes (subscriber messages) to on_push
 *
 * It connects (TCP through net/tcp_connect, or a unix socket), runs TLS when
 * the URL is rediss://, says AUTH / SELECT (or PING when there is nothing to
 * say, so "up" always means Redis answered), and from then on every command
 * has a deadline: a reply that does not come in time (the watchdog) drops
 * the connection like a reset would, failing what was pending, so a hung
 * Redis is handled like a dead one. A subscriber connection also PINGs when
 * it hears nothing for a while, so a silent hang is seen there too. After
 * any loss it connects again with backoff (100 ms doubling to 5 s, +-25 %),
 * forever, until closed. Knows nothing of slots, Socket.IO or Lua, and logs
 * nothing itself: its owner hears every transition (sl_redis_health_t logs
 * them once per outage). */
#ifndef SL_REDIS_CONN_H
#define SL_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <hiredis/hiredis.h>

#include "base/backoff.h"
#include "cluster/redis_url.h"
#include "net/tls.h"

typedef struct sl_redis_conn sl_redis_conn_t;

/* A command's outcome, exactly once: its reply (valid during the call only;
 * an error reply is a reply), or r NULL and why:
 *   "redis connection lost: <reason>"        (it may or may not have run)
 *   "redis timeout: no reply within N ms"    (the watchdog dropped the connection)
 *   "redis closed"                           (the owner closed the connection) */
typedef void (*sl_redis_reply_cb)(void *priv, redisReply *r, const char *why);

typedef struct sl_redis_conn_cbs {
    /* up = 1: commands may be sent. up = 0: an attempt failed, or the
     * connection was lost (its pending commands failed just before); why
     * says why ("connection refused", "certificate verify failed: ...",
     * "AUTH failed: WRONGPASS ...", "no reply within 5000 ms"). Not called
     * once the connection is closed. */
    void (*on_state)(sl_redis_conn_t *c, int up, const char *why, void *ud);
    /* Subscriber connections: a message ("message", "pmessage",
     * "smessage") or an (s|p)unsubscribe no command asked for (Redis sends
     * "sunsubscribe" when a slot leaves the node). */
    void (*on_push)(sl_redis_conn_t *c, redisReply *r, void *ud);
} sl_redis_conn_cbs_t;

typedef struct sl_redis_conn_opts {
    unsigned connect_timeout_ms; /* connect + TLS + AUTH/SELECT; 0: 3000 */
    unsigned command_timeout_ms; /* the watchdog; 0: none */
    unsigned ping_ms;            /* PING after this long without a byte; 0: never */
    int subscriber;              /* replies to (UN)SUBSCRIBE come one per channel, pushes between */
} sl_redis_conn_opts_t;

/* The TLS context a rediss:// URL asks for (its ca=, cert=, key=); *out
 * NULL for plain redis://. 0, or -1 with the reason ("cannot read CA file
 * /x: No such file or directory"). */
int sl_redis_tls_ctx(const sl_redis_url_t *u, sl_tls_ctx_t **out, char *err, size_t errlen);

/* sl_redis_url_parse, and for rediss:// the TLS files read too, so a CA
 * file that is not there is a bad URL where the URL is given (a command
 * line, sio.redis.configure), not a failure of every connection. */
int sl_redis_url_parse_checked(const char *url, sl_redis_url_t *out, char *err, size_t errlen);

/* Connects to host:port (or u's unix socket when host is NULL) with u's
 * credentials and db, over TLS when tls is set (a reference is taken;
 * host is then the name checked against the certificate). Starts on the
 * next loop iteration. NULL when out of memory. */
sl_redis_conn_t *sl_redis_conn_new(uv_loop_t *loop, const sl_redis_url_t *u, const char *host, int port,
                                   sl_tls_ctx_t *tls, const sl_redis_conn_opts_t *o,
                                   const sl_redis_conn_cbs_t *cbs, void *ud);
int sl_redis_conn_up(const sl_redis_conn_t *c);
/* 1 while an attempt is under way that has not failed yet (a first
 * connect, or one after a loss): commands are worth waiting for. */
int sl_redis_conn_connecting(const sl_redis_conn_t *c);
/* Why the last attempt failed or the connection was lost ("" if never). */
const char *sl_redis_conn_why(const sl_redis_conn_t *c);
/* Commands sent and not answered yet. */
size_t sl_redis_conn_pending(const sl_redis_conn_t *c);
const char *sl_redis_conn_host(const sl_redis_conn_t *c);
int sl_redis_conn_port(const sl_redis_conn_t *c);

/* Sends one command (fn may be NULL: the reply is dropped). 0, or -1 when
 * the connection is not up (fn is not called). The bytes leave at the end
 * of the loop turn, with every other command of the turn. */
int sl_redis_conn_send(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv, int argc, const char *const *argv,
                       const size_t *lens);
/* n commands already in RESP (a caller that encodes its own): fn is called
 * once per command, with the same priv. */
int sl_redis_conn_send_resp(sl_redis_conn_t *c, sl_redis_reply_cb fn, void *priv, const char *resp, size_t len,
                            int n);
/* RESP for one command, appended to b. */
void sl_redis_resp_append(sl_buf_t *b, int argc, const char *const *argv, const size_t *lens);
/* The size of a RESP header ("*<n>\r\n" or "$<n>\r\n"), and of a whole
 * command: what sl_redis_resp_write writes. */
size_t sl_redis_resp_header_len(size_t n);
size_t sl_redis_resp_len(int argc, const size_t *lens);
/* RESP for one command at dst (sl_redis_resp_len bytes there); returns
 * how many it wrote. */
size_t sl_redis_resp_write(char *dst, int argc, const char *const *argv, const size_t *lens);

/* Ends it: pending commands fail with "redis closed" (inside this call),
 * no callback follows, memory goes with the handles. NULL is fine. */
void sl_redis_conn_close(sl_redis_conn_t *c);
/* Ends it once its pending commands are answered (or failed): no new
 * command is taken, no state callback follows. */
void sl_redis_conn_drain(sl_redis_conn_t *c);

/* ---- telling the log, once per outage ------------------------------------------
 * What a reconnecting Redis user tells the log: "connected to <where>" the
 * first time and after an outage, "cannot reach <where> (why), retrying"
 * or "lost <where> (why), reconnecting" once per outage, never the
 * password. */
typedef struct sl_redis_health {
    int announced_down;  /* the loss was logged for this outage */
    int ever_up;
    uint64_t down_since; /* loop time of the loss (ms) */
} sl_redis_health_t;

void sl_redis_health_init(sl_redis_health_t *h);
/* label: "redis" or "local bus"; name: who ("adapter pub"); where: the
 * URL or address as shown. Return 1 when they logged. */
int sl_redis_health_up(sl_redis_health_t *h, const char *label, const char *name, const char *where);
int sl_redis_health_down(sl_redis_health_t *h, const char *label, const char *name, const char *where,
                         const char *why);

#endif
