/* L1 net/ws: a WebSocket connection (RFC 6455) on an L1 conn taken over from
 * HTTP. ws_frame parses incoming frames (fragments, control frames, close
 * handshake); pongs and close frames are answered here; data frames going
 * out are framed here and written without a copy so one encoded broadcast
 * serves every recipient. permessage-deflate (RFC 7692) is negotiated in
 * the 101 and applied here through ws_deflate: compressed messages are
 * inflated before the handler sees them, and messages going out are
 * compressed when the negotiation says so (a broadcast once for all
 * recipients that can share the frame); control frames never are.
 * Knows nothing of Engine.IO, sessions or packets. */
#ifndef SL_WS_H
#define SL_WS_H

#include <stdint.h>
#include "net/conn.h"
#include "net/http.h"
#include "net/ws_deflate.h"

typedef struct sl_ws sl_ws_t;

typedef struct sl_ws_handler {
    void (*on_message)(sl_ws_t *ws, int binary, const char *p, size_t n);
    /* The connection is gone (close handshake done, peer vanished, protocol
     * error or sl_ws_close). Last event; the ws is freed after it returns. */
    void (*on_close)(sl_ws_t *ws);
    void (*on_drain)(sl_ws_t *ws); /* optional */
} sl_ws_handler_t;

struct sl_ws_opts {
    size_t max_message;   /* larger incoming message (inflated or not) -> close 1009 */
    size_t queue_cap;     /* user-space output cap */
    const sl_ws_deflate_opts_t *deflate; /* permessage-deflate; NULL: off */
};

/* 0 when req is a well-formed WebSocket upgrade (GET, Upgrade: websocket,
 * Sec-WebSocket-Version: 13, a key); -1 otherwise. */
int sl_ws_check_request(const sl_http_req_t *req);
/* NULL when the extensions req offers can be answered under opts; else
 * the reason to answer 400 with, as Node's ws does
 * (SL_WS_DEFLATE_REFUSAL). */
const char *sl_ws_check_extensions(const sl_http_req_t *req, const struct sl_ws_opts *opts);

/* Answers 101 (with any extra headers already added to req->resp_headers),
 * takes the conn and returns the ws; req is freed. NULL on failure (the
 * conn is closed). */
sl_ws_t *sl_ws_accept(sl_http_req_t *req, const struct sl_ws_opts *opts,
                      const sl_ws_handler_t *h, void *ud);

/* Feeds the bytes that came with the upgrade request (a client may send
 * frames right behind it). Call once the caller's bookkeeping is done,
 * before going back to the loop (or close the ws): sl_ws_accept never
 * calls the handler itself, and reading stays on in between (bytes that
 * come anyway wait for this call, reading stopped). */
void sl_ws_start(sl_ws_t *ws);

void *sl_ws_data(const sl_ws_t *ws);
void sl_ws_set_handler(sl_ws_t *ws, const sl_ws_handler_t *h, void *ud);

/* Send flags. */
enum {
    SL_WS_BINARY = 1, /* a binary message (else text) */
    SL_WS_PLAIN = 2,  /* never compressed (socket.compress(false)) */
};
/* One message whose payload is the concatenation of parts (at most 7). It
 * goes compressed when permessage-deflate was negotiated, flags allow it
 * and sl_ws_deflate_wants says so. rcs may be NULL; otherwise rcs[i], when
 * not NULL, is a shared buffer holding parts[i], which the output queue
 * references instead of copying. cache (may be NULL): the same message
 * goes to many connections, whose frame is made once for those that can
 * share it (see sl_ws_zcache_t). Returns 0, -ENOBUFS when the output cap
 * is hit, -EPIPE when closing. */
int sl_ws_sendv(sl_ws_t *ws, unsigned flags, const uv_buf_t *parts, sl_rcbuf_t *const *rcs,
                unsigned n, sl_ws_zcache_t *cache);

/* Frames built once for many connections. A server's frames are not
 * masked, so the plain frame of a payload is the same bytes for every
 * recipient: a broadcast lays its payload out with SL_WS_HEADER_MAX bytes
 * of room in front, writes the header there once, and every connection's
 * queue holds a reference to the one frame (no copy, no allocation per
 * recipient). */
#define SL_WS_HEADER_MAX 10
/* Writes the header of a data frame whose len payload bytes start at
 * payload, right before them (the caller left SL_WS_HEADER_MAX bytes of
 * room); returns where the frame starts. */
char *sl_ws_frame_prepend(char *payload, int binary, size_t len);
/* Writes a whole frame made by sl_ws_frame_prepend, frame..frame+n inside
 * rc; a connection that compresses this message gets its payload
 * compressed instead (through cache, as sl_ws_sendv). 0, -ENOBUFS or
 * -EPIPE as sl_ws_sendv. */
int sl_ws_send_frame(sl_ws_t *ws, unsigned flags, sl_rcbuf_t *rc, const char *frame, size_t n,
                     sl_ws_zcache_t *cache);
size_t sl_ws_queued(const sl_ws_t *ws);

/* Starts the close handshake (code 1000 normal); the conn is closed once
 * the close frame is written. */
void sl_ws_close(sl_ws_t *ws, uint16_t code);
/* Drops the connection at once, no close frame. */
void sl_ws_abort(sl_ws_t *ws);

#endif
