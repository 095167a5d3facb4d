/* L1 net/deflate: the one zlib wrapper of the runtime, under WebSocket
 * permessage-deflate (ws_deflate) and HTTP compression (http). Knows nothing
 * of frames, headers or what the bytes mean.
 *
 * Three things it does that a bare z_stream would not:
 *  - every zlib allocation goes through a counter, so what compression
 *    costs is a number (sl_zmem()), per connection and in tests;
 *  - a compressor that keeps no history between messages (WebSocket
 *    without server context takeover, HTTP bodies) is not one per
 *    connection: one stream per configuration (window, level, memLevel) is
 *    pooled here and reset after each message, so thousands of connections
 *    share a handful of streams (uWebSockets calls it the shared
 *    compressor);
 *  - the gzip and zlib wrappers of HTTP bodies are written around a pooled
 *    raw stream (a header, then crc32 or adler32), so HTTP needs no stream
 *    of its own.
 *
 * Everything runs on the loop's thread, one whole message per call: a
 * pooled stream is only ever in use inside one call. */
#ifndef SL_DEFLATE_H
#define SL_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"

/* A compressor's configuration: window 9..15 (raw deflate has no 8),
 * level 0..9, memLevel 1..9. */
typedef struct sl_zcfg {
    uint8_t wbits;
    uint8_t level;
    uint8_t mem_level;
} sl_zcfg_t;

typedef struct sl_zdeflate sl_zdeflate_t;
typedef struct sl_zinflate sl_zinflate_t;

/* A compressor of one's own (history kept between messages), or NULL when
 * out of memory. */
sl_zdeflate_t *sl_zdeflate_new(const sl_zcfg_t *cfg);
void sl_zdeflate_free(sl_zdeflate_t *z); /* NULL is fine */
/* The pooled compressor of cfg (created on first use), or NULL. It keeps no
 * history: call it with reset set. */
sl_zdeflate_t *sl_zdeflate_pooled(const sl_zcfg_t *cfg);

/* Compresses the concatenation of parts as one sync-flushed unit (a
 * permessage-deflate message: RFC 7692 7.2.1), appends it to out without
 * the final 00 00 ff ff. reset: forget the history afterwards. 0 or
 * -ENOMEM (out may then hold part of it: the caller drops it). */
int sl_zdeflate_message(sl_zdeflate_t *z, const uv_buf_t *parts, unsigned n, sl_buf_t *out,
                        int reset);

/* Forgets the history, so the next message refers to nothing before it:
 * for a message compressed but never sent (its peer never saw it). */
void sl_zdeflate_reset(sl_zdeflate_t *z);

/* An inflater for a window of wbits (8..15), or NULL. */
sl_zinflate_t *sl_zinflate_new(unsigned wbits);
void sl_zinflate_free(sl_zinflate_t *z);
/* The pooled inflater (window 15), for peers that keep no history between
 * their messages; call it with reset set. */
sl_zinflate_t *sl_zinflate_pooled(void);

enum {
    SL_ZINFLATE_TOO_BIG = -1, /* more than cap bytes would come out */
    SL_ZINFLATE_BAD = -2,     /* not a deflate stream */
};
/* Inflates one message (RFC 7692 7.2.2: the 00 00 ff ff the sender dropped
 * is added here) and appends it to out, which may hold at most cap bytes
 * in all: output stops at once past it, so no zip bomb is ever inflated
 * further than cap. reset: forget the history afterwards (also done after
 * an error, and when the sender ended its stream). 0, SL_ZINFLATE_*, or
 * -ENOMEM. */
int sl_zinflate_message(sl_zinflate_t *z, const void *in, size_t n, sl_buf_t *out, size_t cap,
                        int reset);

/* HTTP content codings. */
typedef enum sl_zcoding {
    SL_ZCODING_IDENTITY = 0,
    SL_ZCODING_GZIP = 1,    /* RFC 1952 */
    SL_ZCODING_DEFLATE = 2, /* "deflate" is the zlib format, RFC 1950 */
} sl_zcoding_t;
const char *sl_zcoding_name(sl_zcoding_t c);

/* Encodes a whole body with the pooled raw compressor of window 15,
 * memLevel 8 and the given level, wrapped as coding; appends to out.
 * 0 or -ENOMEM. */
int sl_zencode(sl_zcoding_t coding, unsigned level, const void *p, size_t n, sl_buf_t *out);

/* Bytes zlib holds right now, pooled streams included. */
size_t sl_zmem(void);
/* Frees the pooled streams (a process's last step, and tests'). */
void sl_zpool_free(void);

#endif
