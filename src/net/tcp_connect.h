/* L1 net/tcp_connect: an outbound TCP connection on libuv, the one way the
 * runtime dials out (the WebSocket client, the HTTP client): the name
 * looked up with uv_getaddrinfo (an address literal skips the lookup), then
 * every address tried in turn until one accepts. Knows nothing of what is
 * spoken over the connection.
 *
 *   sl_tcp_connect_start -> (lookup) -> connect addr 1 -> addr 2 ... -> cb
 *
 * The callback runs exactly once, never inside sl_tcp_connect_start, unless
 * the attempt is cancelled first. On success it hands over a connected,
 * malloc'd uv_tcp_t: the caller owns it from then on (its `data` is the
 * caller's; close it with uv_close and free it in the close callback). No
 * timeout here: the caller bounds the attempt with its own timer and
 * cancels. */
#ifndef SL_TCP_CONNECT_H
#define SL_TCP_CONNECT_H

#include <uv.h>

typedef struct sl_tcp_connect sl_tcp_connect_t;

enum {
    SL_TCP_CONNECT_EDNS = -1,    /* the name did not resolve */
    SL_TCP_CONNECT_EREFUSED = -2 /* no address accepted (refused, unreachable...) */
};

/* tcp: the connection (code 0, err NULL), or NULL with a negative code and
 * err, one line naming the peer: "DNS lookup for nope.invalid failed:
 * unknown node or service", "cannot connect to 127.0.0.1:1: connection
 * refused" (err lives during the call). The attempt is over (op freed) once
 * the callback returns. */
typedef void (*sl_tcp_connect_cb)(uv_tcp_t *tcp, int code, const char *err, void *ud);

/* host without brackets ("::1"), port as digits. 0 and *out (for cancel;
 * may be NULL), or the callback's code with err set (the same words) when
 * it failed at once (a lookup libuv refuses, no address that could be
 * tried, out of memory), with no callback to come. */
int sl_tcp_connect_start(uv_loop_t *loop, const char *host, const char *port, sl_tcp_connect_cb cb, void *ud,
                         sl_tcp_connect_t **out, char *err, size_t errlen);

/* A uv_alloc_cb for readers that consume all their input before the read
 * callback returns (parse it or copy it): one 64 KiB buffer for every such
 * connection of the loop's thread, so idle connections hold none. */
void sl_tcp_read_slab(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Ends the attempt with no callback; what it holds is freed once libuv has
 * called back. Must not be called once the callback has run. */
void sl_tcp_connect_cancel(sl_tcp_connect_t *op);

#endif
