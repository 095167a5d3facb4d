/* L3 eio/eio: the Engine.IO v4 server (v3 too when allowEIO3): sessions with
 * unguessable sids, handshake, long-polling and WebSocket transports,
 * upgrade, heartbeat, per-session output queue, and the reference server's
 * error table. The layer above sees sessions that open, carry messages
 * (text or binary) and close with a reason.
 * Knows nothing of Socket.IO packets, namespaces, JSON or Lua. */
#ifndef SL_EIO_H
#define SL_EIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "base/budget.h"
#include "base/buf.h"
#include "net/http.h"
#include "net/ws.h"

typedef struct eio_server eio_server_t;
typedef struct eio_session eio_session_t;

typedef struct eio_options {
    char path[128];              /* "/engine.io/" or "/socket.io/" */
    char alt_path[128];          /* a second path for the same endpoint, "" none
                                    (`path = "/socket.io/,/notice"`) */
    uint32_t ping_interval_ms;   /* 25000 */
    uint32_t ping_timeout_ms;    /* 20000 */
    uint32_t upgrade_timeout_ms; /* 10000 */
    size_t max_http_buffer_size; /* 1e6: polling body and WS message cap */
    unsigned allow_polling : 1;
    unsigned allow_websocket : 1;
    unsigned allow_upgrades : 1;
    unsigned allow_eio3 : 1;
    unsigned cors_credentials : 1;
    char cors_origin[512];       /* "" off, "*" any, or "a,b,c" */
    char cors_methods[64];       /* default "GET,HEAD,PUT,PATCH,POST,DELETE" */
    char cookie_name[64];        /* "" = no cookie */
    char sid_prefix[8];          /* first characters of every sid (the
                                    cluster node id), "" for none */
    size_t session_queue_cap;    /* bytes waiting for a slow reader */
    size_t max_sessions;         /* open sessions of this endpoint (so of the
                                    process: it has one Socket.IO endpoint);
                                    a handshake over it gets 503 */
    sl_ws_deflate_opts_t per_message_deflate; /* perMessageDeflate: off */
    sl_http_compress_t http_compression;      /* httpCompression: on, 1024 */
} eio_options_t;

/* The defaults (Node's engine.io 6), path "/engine.io/". The fields are
 * set by name and checked by the typed options table (cmd/options.c). */
void eio_options_init(eio_options_t *o);
/* path: "/a", or "/a,/b" for two paths of one endpoint; each gets a
 * trailing slash, as Node adds it. 0, or -1 (not starting with '/', too
 * long, more than two) with o unchanged. */
int eio_options_set_path(eio_options_t *o, const char *paths);

typedef struct eio_handler {
    /* Optional: decide on a handshake. Return NULL to accept, or a message
     * to refuse with 403 {"code":4,"message":...}. */
    const char *(*allow_request)(const sl_http_req_t *req, void *ud);
    /* A session opened; req is the handshake request (valid during the
     * call only: copy what must be kept). */
    void (*on_open)(eio_session_t *s, const sl_http_req_t *req, void *ud);
    /* A message; data is valid during the call only. */
    void (*on_message)(eio_session_t *s, int binary, const char *data, size_t n, void *ud);
    /* The session is closed (reason as Node's engine.io names it: "transport
     * close", "transport error", "ping timeout", "parse error", "forced
     * close", "server shutting down"). Last event for s. */
    void (*on_close)(eio_session_t *s, const char *reason, void *ud);
    /* Optional: the session was upgraded to WebSocket. */
    void (*on_upgrade)(eio_session_t *s, void *ud);
    /* Optional: bytes the layer above keeps in the session's own
     * allocation, for the handshake req (its object for the session, made
     * with it: one allocation per connection instead of two, each with
     * malloc's header and rounding): eio_session_extra points there,
     * zeroed (eio_session_data is still the layer above's to set). */
    size_t (*data_size)(const sl_http_req_t *req, void *ud);
    /* Optional, with data_size: the session is done (after on_close: at
     * once, or once a closed polling session has handed over its close
     * packet) and its memory goes later in this loop turn (callers up the
     * stack may still read it). Release what the extra bytes hold, no
     * later than that. */
    void (*on_free)(eio_session_t *s, void *ud);
} eio_handler_t;

eio_server_t *eio_server_new(uv_loop_t *loop, const eio_options_t *opts,
                             const eio_handler_t *h, void *ud);
/* Counts the long-polling queues of the sessions opened from now on in b,
 * the process's cap on all output queues (base/budget.h): over it, the
 * sessions whose queues have waited longest are closed ("transport
 * error"). NULL: not counted. */
void eio_server_set_budget(eio_server_t *srv, sl_budget_t *b);
const eio_options_t *eio_server_options(const eio_server_t *srv);
/* Options may change until the server listens (the app configures it). */
eio_options_t *eio_server_options_mut(eio_server_t *srv);
/* Whether an HTTP path belongs to this endpoint. */
int eio_server_match(const eio_server_t *srv, const char *path);
/* Answers (now or later) a request whose path matched. */
void eio_server_handle(eio_server_t *srv, sl_http_req_t *req);
/* Whether eio_server_handle would answer req "Session ID unknown" because
 * it names a sid (?sid=) no session here holds, with nothing to answer
 * first (an aborted body, a CORS preflight, an unknown transport): then
 * the sid is copied into out (cap 32 holds any valid one) and 1 returned,
 * else 0. The router asks, to relay requests for other nodes' sessions. */
int eio_server_lacks_sid(eio_server_t *srv, const sl_http_req_t *req, char *out, size_t cap);
/* Closes every session with a close packet ("server shutting down"). */
void eio_server_close_all(eio_server_t *srv);
size_t eio_server_session_count(const eio_server_t *srv);
/* Open sessions (what max_sessions caps; closed ones still handing their
 * close packet to a last GET are not counted), and the handshakes refused
 * at the cap since the start: for metrics. */
size_t eio_server_live_count(const eio_server_t *srv);
uint64_t eio_server_refused_count(const eio_server_t *srv);
/* Ends the sessions still waiting for a GET to collect their close packet
 * and closes the heartbeat timers (last step of a shutdown: no session
 * opens after it). */
void eio_server_stop(eio_server_t *srv);
/* Frees the server; every session must be closed already. */
void eio_server_free(eio_server_t *srv);

/* Send flags. */
enum {
    EIO_SEND_BINARY = 1, /* a binary message (else text) */
    /* Never compressed, on either transport (Node's `compress: false`): a
     * polling body is compressed when any message in it allows it. */
    EIO_SEND_PLAIN = 2,
};

/* What a message written to many sessions (a broadcast) carries besides its
 * bytes: the WebSocket frame compressed from it once, for every recipient
 * that can take the same frame (sl_ws_zcache_t). The holder of the message
 * zeroes it, passes it with each send of that message and releases it once
 * the message went to everyone. */
typedef sl_ws_zcache_t eio_cache_t;
static inline void eio_cache_release(eio_cache_t *c) { sl_ws_zcache_release(c); }

/* Queues a message. Copies data. flags: EIO_SEND_*. Returns 0, or -EPIPE
 * once closed; when the session's output cap is exceeded the session is
 * closed and -ENOBUFS is returned. */
int eio_session_send(eio_session_t *s, unsigned flags, const char *data, size_t n);

/* A message laid out once for every session and transport it goes to (a
 * broadcast, or any packet the layer above encodes once): one shared
 * buffer holding the whole plain WebSocket frame (header, Engine.IO type
 * byte, data), so that every WebSocket recipient's queue holds a reference
 * to the same bytes, and whose data part polling queues reference too; and
 * the cache of its compressed frame, made once for the recipients that
 * compress it.
 *
 *   rc->data: [ room | WS header | '4' | data ............ ]
 *                      ^frame             ^data, len
 */
typedef struct eio_msg {
    sl_rcbuf_t *rc;
    const char *data;     /* the message, inside rc */
    size_t len;
    const char *frame;    /* the plain WebSocket frame (Engine.IO v4; v3 text) */
    size_t frame_len;
    int binary;
    eio_cache_t cache;
} eio_msg_t;

/* Copies n bytes into a new message. 0 or -ENOMEM. */
int eio_msg_init(eio_msg_t *m, int binary, const void *data, size_t n);
/* The same in two steps, for a caller that writes the data in place (no
 * copy): room for cap bytes at *data, then eio_msg_seal with the n <= cap
 * written. 0 or -ENOMEM; release it as any message. */
int eio_msg_alloc(eio_msg_t *m, int binary, size_t cap, char **data);
void eio_msg_seal(eio_msg_t *m, size_t n);
void eio_msg_release(eio_msg_t *m);
/* Queues or writes m as eio_session_send does, sharing its buffer and
 * filling its cache. flags: EIO_SEND_PLAIN or 0 (the message knows whether
 * it is binary). */
int eio_session_send_msg(eio_session_t *s, eio_msg_t *m, unsigned flags);
/* Server-side close: a close packet, then the transport goes. */
void eio_session_close(eio_session_t *s);

const char *eio_session_id(const eio_session_t *s);
const char *eio_session_transport(const eio_session_t *s); /* "polling" | "websocket" */
int eio_session_protocol(const eio_session_t *s);           /* 3 or 4 */
int eio_session_is_open(const eio_session_t *s);
void eio_session_set_data(eio_session_t *s, void *data);
void *eio_session_data(const eio_session_t *s);
/* The bytes data_size asked for (see eio_handler_t); NULL without them. */
void *eio_session_extra(const eio_session_t *s);
/* The session whose extra bytes start at extra (no pointer back needed). */
eio_session_t *eio_session_of_extra(void *extra);
/* The ud its server was made with (eio_server_new). */
void *eio_session_server_ud(const eio_session_t *s);
size_t eio_session_queued(const eio_session_t *s);

/* ---- counters, for metrics ---------------------------------------------- */

/* Why sessions closed, in Node's engine.io words (EIO_REASON_OTHER for a
 * reason not in this list). */
enum {
    EIO_REASON_TRANSPORT_CLOSE,
    EIO_REASON_TRANSPORT_ERROR,
    EIO_REASON_PING_TIMEOUT,
    EIO_REASON_PARSE_ERROR,
    EIO_REASON_FORCED_CLOSE,
    EIO_REASON_SHUTTING_DOWN,
    EIO_REASON_OTHER,
    EIO_REASON_COUNT
};
/* "transport close", ..., "server shutting down", "other". */
extern const char *const eio_close_reasons[EIO_REASON_COUNT];

/* Plain counters kept by the server as it goes (an addition each, never on
 * a message's path) and read at scrape time. */
typedef struct eio_stats {
    uint64_t handshakes;                 /* sessions opened */
    uint64_t upgrades;                   /* polling sessions moved to WebSocket */
    uint64_t closes[EIO_REASON_COUNT];   /* sessions closed, by reason */
} eio_stats_t;
const eio_stats_t *eio_server_stats(const eio_server_t *srv);
/* Open sessions by the transport they are on now: out[0] polling, out[1]
 * websocket. Walks every session: for a scrape, not for a hot path. */
void eio_server_count_transports(const eio_server_t *srv, size_t out[2]);
/* Each session still in the server's table (open ones, and closed ones
 * handing over their close packet), in no order. cb must not open or close
 * any session. */
void eio_server_each_session(eio_server_t *srv, void (*cb)(eio_session_t *s, void *ud), void *ud);

/* 20 characters of base64url from the OS's random source (read 4 KiB at
 * a time; a forked child reads its own). 0 or -EIO. */
int eio_random_id(char out[21]);

#endif
