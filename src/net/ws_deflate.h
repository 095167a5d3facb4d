/* L1 net/ws_deflate: permessage-deflate (RFC 7692) for the server side of
 * net/ws. Reads a client's Sec-WebSocket-Extensions offers and answers them
 * as Node's ws 8 does (Node's socket.io sits on it): the same offer is
 * accepted, the same parameters confirmed in the same order, the same
 * headers refused. Then compresses a connection's messages into whole
 * frames and inflates what it receives. Knows nothing of Engine.IO, of
 * what the messages mean, or of HTTP beyond reading one header.
 *
 * Memory (zlib through net/deflate, allocated only when first needed):
 *   nothing negotiated                 nothing
 *   negotiated                         sl_ws_deflate_t (a few bytes)
 *   + server context takeover          its own compressor, made with the
 *                                      first message it compresses:
 *                                      2^(window+2) + 2^(memLevel+9) bytes
 *                                      + ~6 KiB (262 KiB at 15 and 8)
 *   + no server context takeover       nothing: the pooled compressor of
 *                                      its window serves every such
 *                                      connection, and a broadcast is
 *                                      compressed once for all of them
 *                                      (sl_ws_zcache_t)
 *   + client context takeover          its own inflater, made with the first
 *                                      compressed message it receives:
 *                                      2^window + ~7 KiB (39 KiB at 15)
 *   + no client context takeover       nothing: the pooled inflater */
#ifndef SL_WS_DEFLATE_H
#define SL_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "net/http.h"

/* The server's options, Node's perMessageDeflate object. Three-valued ones
 * follow ws, where unset and false differ: false refuses offers asking for
 * the thing, unset accepts them. */
enum { SL_WSZ_UNSET = -1, SL_WSZ_FALSE = 0, SL_WSZ_TRUE = 1 };
typedef struct sl_ws_deflate_opts {
    unsigned enabled : 1;
    size_t threshold;                  /* 1024; see sl_ws_deflate_wants */
    int8_t server_no_context_takeover; /* SL_WSZ_* */
    int8_t client_no_context_takeover; /* SL_WSZ_FALSE or SL_WSZ_TRUE */
    int8_t server_max_window_bits;     /* SL_WSZ_UNSET, SL_WSZ_FALSE or 8..15 */
    int8_t client_max_window_bits;     /* SL_WSZ_UNSET, SL_WSZ_FALSE or 8..15 */
    uint8_t level;                     /* 0..9; 6, zlib's default */
    uint8_t mem_level;                 /* 1..9; 8, zlib's default */
} sl_ws_deflate_opts_t;

/* Node's defaults: off; once on, threshold 1024, zlib's level and memLevel,
 * every parameter left to the client. */
void sl_ws_deflate_opts_init(sl_ws_deflate_opts_t *o);

/* What a connection agreed to. A window of 0: not given (15). */
typedef struct sl_ws_deflate_params {
    uint8_t server_no_context_takeover;
    uint8_t client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
} sl_ws_deflate_params_t;

/* Negotiates for req's Sec-WebSocket-Extensions. Returns
 *   1  permessage-deflate accepted: *out set, and the value of the answer's
 *      Sec-WebSocket-Extensions written to value ("permessage-deflate;
 *      client_max_window_bits=10"; SL_WS_DEFLATE_VALUE_MAX bytes hold any);
 *   0  nothing to accept (off, no header, no permessage-deflate offer);
 *  -1  the header is malformed or no offer can be accepted: Node's ws
 *      answers 400 "Invalid or unacceptable Sec-WebSocket-Extensions
 *      header" (SL_WS_DEFLATE_REFUSAL). */
int sl_ws_deflate_negotiate(const sl_http_req_t *req, const sl_ws_deflate_opts_t *opts,
                            sl_ws_deflate_params_t *out, char *value, size_t cap);
#define SL_WS_DEFLATE_VALUE_MAX 160
#define SL_WS_DEFLATE_REFUSAL "Invalid or unacceptable Sec-WebSocket-Extensions header"

/* A message sent to many connections (a broadcast), compressed once: the
 * whole frame, header with RSV1 and payload, shared by every recipient
 * that compresses without context takeover with the same window. The
 * holder of the message zeroes it, passes it with each send of that
 * message (the same bytes and flags every time), and releases it once the
 * message went to everyone. A recipient with another window compresses
 * on its own. */
typedef struct sl_ws_zcache {
    sl_rcbuf_t *frame; /* NULL until made */
    uint8_t wbits;     /* the window it was made with */
} sl_ws_zcache_t;
void sl_ws_zcache_release(sl_ws_zcache_t *c);

/* One connection's side of the extension. */
typedef struct sl_ws_deflate sl_ws_deflate_t;
sl_ws_deflate_t *sl_ws_deflate_new(const sl_ws_deflate_params_t *p, const sl_ws_deflate_opts_t *o);
void sl_ws_deflate_free(sl_ws_deflate_t *z); /* NULL is fine */

/* Whether a message of len bytes goes compressed, as ws decides: always
 * with server context takeover, from threshold bytes up without; never
 * with a negotiated window of 8, which zlib cannot compress to. */
int sl_ws_deflate_wants(const sl_ws_deflate_t *z, size_t len);

/* The whole frame (opcode 1 or 2, FIN and RSV1 set) of the message made of
 * parts, compressed, as a new reference the caller drops once written.
 * With cache (see above) it is made once and shared. NULL when out of
 * memory (the caller sends the message plain). */
sl_rcbuf_t *sl_ws_deflate_frame(sl_ws_deflate_t *z, unsigned opcode, const uv_buf_t *parts,
                                unsigned n, sl_ws_zcache_t *cache);

/* Inflates a message received compressed, appending to out (at most cap
 * bytes). 0, or the close code: 1009 when it would inflate past cap (no
 * more than cap + 1 bytes are ever inflated), 1007 when it is not deflate
 * data, 1011 when out of memory. */
int sl_ws_deflate_inflate(sl_ws_deflate_t *z, const char *p, size_t n, size_t cap, sl_buf_t *out);

#endif
