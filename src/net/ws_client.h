/* L1 net/ws_client: the client side of a WebSocket (RFC 6455) on libuv: name
 * lookup, TCP connect, the HTTP/1.1 upgrade (llhttp reads the answer), then
 * wslay in client mode for framing (masked frames, ping/pong, the close
 * handshake). ws:// only: there is no TLS in siolua.
 * Knows nothing of Engine.IO, Socket.IO or Lua, and nothing of the server's
 * conn layer (the server owns its TCP handles; this file owns its own).
 *
 * Life cycle
 *   sl_wsc_connect -> [on_open] -> on_message* -> on_close (exactly once)
 *   on_close is the last event, whatever ended the connection: a failed
 *   lookup/connect/upgrade (before on_open), the peer's close frame, the TCP
 *   connection ending, a protocol error, or the end of sl_wsc_close. After
 *   on_close returns, the sl_wsc_t pointer must not be used again (its
 *   memory goes once its handles have closed). sl_wsc_abort ends the
 *   connection with no event at all (for owners that are going away).
 *   Callbacks never run inside sl_wsc_connect / _send / _close / _abort. */
#ifndef SL_WS_CLIENT_H
#define SL_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct sl_wsc sl_wsc_t;

typedef struct sl_wsc_handler {
    /* The 101 answer arrived and was checked: messages may be sent. */
    void (*on_open)(sl_wsc_t *c, void *ud);
    /* One whole message (fragments joined). p is valid during the call. */
    void (*on_message)(sl_wsc_t *c, int binary, const char *p, size_t n, void *ud);
    /* The end (see above). err is NULL for an orderly end (close frames
     * exchanged, or the close we asked for finished) and a one-line reason
     * otherwise ("connection refused", "HTTP 404 Not Found: ...", "timed out
     * opening the connection", ...). code is the peer's close code, or 1005
     * when it sent none and 1006 when the connection just ended. */
    void (*on_close)(sl_wsc_t *c, const char *err, int code, void *ud);
} sl_wsc_handler_t;

typedef struct sl_wsc_opts {
    uint64_t open_timeout_ms; /* lookup + connect + upgrade; 0: no limit */
    size_t max_message;       /* larger incoming message: close 1009 (0: 64 MiB) */
    size_t queue_cap;         /* output not yet taken by the kernel (0: 64 MiB) */
    const char *headers;      /* extra request header lines, each ending in
                                 "\r\n", or NULL; copied */
} sl_wsc_opts_t;

/* Starts connecting to url ("ws://host[:port][/path][?query]"; the host may
 * be a name, an IPv4 address or [IPv6]). Returns 0 and sets *out, or a
 * negative code with nothing started and err set when the URL is unusable
 * (-EINVAL: not ws://, wss:// which needs TLS, bad port, header lines with
 * a bare CR or LF...), memory is short (-ENOMEM), or the connection could
 * not even start (-ECONNREFUSED: a lookup libuv refused at once). */
int sl_wsc_connect(uv_loop_t *loop, const char *url, const sl_wsc_opts_t *opts,
                   const sl_wsc_handler_t *h, void *ud, sl_wsc_t **out, char *err,
                   size_t errlen);

/* Queues one message. Returns 0, -EPIPE when not open (not yet, or closing),
 * -ENOBUFS when the output cap would be passed, -ENOMEM. */
int sl_wsc_send(sl_wsc_t *c, int binary, const void *p, size_t n);

/* Starts the close handshake with code (1000 normal); on_close follows once
 * the peer answered or after 2 s. Before on_open it ends the attempt (on_close
 * with err "closed before the connection was open"). Idempotent. */
void sl_wsc_close(sl_wsc_t *c, uint16_t code);

/* Drops the connection at once: no close frame and no further callback.
 * c must not be used afterwards. */
void sl_wsc_abort(sl_wsc_t *c);

#endif
