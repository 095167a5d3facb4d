/* L1 net/ws_frame: the server side of RFC 6455 framing as a pure parser. Bytes
 * go in, whole messages (fragments reassembled), pings, pongs, the close
 * frame and protocol errors come out. No sockets, no event loop, no
 * writing: what to answer is the caller's business (ws.c).
 *
 * Per-connection cost is this struct; a message buffer exists only while a
 * message (or a control frame) is split across feeds or fragmented, and is
 * freed when it completes. A whole unfragmented frame inside the bytes fed
 * is unmasked in place and handed out without a copy, so the bytes fed
 * must be writable and may be changed. */
#ifndef SL_WS_FRAME_H
#define SL_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* Each callback returns 0 to go on, nonzero to stop the feed at once (the
 * caller is closing). Payload pointers are valid only during the call. */
typedef struct sl_ws_frame_handler {
    int (*on_message)(void *ud, int binary, char *p, size_t n);
    int (*on_ping)(void *ud, const char *p, size_t n);
    int (*on_pong)(void *ud, const char *p, size_t n);   /* optional */
    /* code 0 when the frame had no payload. The parser takes no more input
     * after a close frame (feed returns 0 and ignores it). */
    int (*on_close)(void *ud, uint16_t code, const char *reason, size_t n);
} sl_ws_frame_handler_t;

typedef struct sl_ws_parser {
    sl_buf_t *msg;         /* reassembly; NULL unless a message is split
                              across feeds or fragmented */
    uint64_t left;         /* payload bytes of the current frame to come */
    uint32_t max_message;  /* message total above this -> 1009 (at most
                              4 GiB: 8 bytes less in every connection) */
    uint8_t hdr[10];       /* header bytes before the mask, as received */
    uint8_t mask[4];
    uint8_t hdr_len;       /* header bytes (mask included) seen so far */
    uint8_t mask_off;      /* payload bytes of this frame unmasked, mod 4 */
    uint8_t opcode;        /* of the current frame */
    uint8_t msg_opcode;    /* 1 text / 2 binary while a fragmented message is open */
    uint8_t utf8;          /* validator state across a text message */
    uint8_t ctrl_len;      /* bytes of a split control frame, kept after msg.len */
    uint8_t state;
    uint8_t rsv1_ok;       /* permessage-deflate was negotiated */
    uint8_t msg_rsv1;      /* the message being read (or handed out) was
                              sent compressed: RSV1 on its first frame */
    uint16_t error;        /* close code once dead */
} sl_ws_parser_t;

void sl_ws_parser_init(sl_ws_parser_t *ps, size_t max_message);
/* Accepts RSV1 on the first frame of a message (RFC 7692: the message is
 * compressed; ps->msg_rsv1 tells so during on_message, and its text is not
 * checked as UTF-8 here: the inflated text is the caller's to check). Still
 * refused on control frames and continuation frames (1002). */
static inline void sl_ws_parser_allow_rsv1(sl_ws_parser_t *ps) { ps->rsv1_ok = 1; }
/* Releases the message buffer, if any. */
void sl_ws_parser_free(sl_ws_parser_t *ps);

/* Parses n bytes (modified in place). Returns 0 when every byte was taken
 * or a callback stopped the feed; otherwise the close code to send for a
 * protocol error: 1002 (framing), 1007 (text not UTF-8), 1009 (message
 * over max_message), 1011 (out of memory). After an error the parser is
 * dead: later feeds return the same code and parse nothing. */
int sl_ws_parser_feed(sl_ws_parser_t *ps, char *p, size_t n, const sl_ws_frame_handler_t *h,
                      void *ud);

/* Whether p..p+n is well-formed UTF-8, as the parser checks text. */
int sl_ws_utf8_valid(const char *p, size_t n);

/* Close codes a peer may send (RFC 6455 7.4, as Node's ws accepts them). */
int sl_ws_close_code_valid(unsigned code);

/* Writes a server frame header (FIN set, no mask) for opcode and len into
 * out (10 bytes enough); returns its length. opcode may carry RSV1 (0x40)
 * for a compressed message. */
unsigned sl_ws_frame_header(unsigned char out[10], unsigned opcode, uint64_t len);

/* The handshake's one computation, for the server (ws.c) and the client
 * (ws_client.c): Sec-WebSocket-Accept for a Sec-WebSocket-Key of len
 * bytes, base64(SHA-1(key GUID)), 28 characters and a NUL into out.
 * 0, or -1 when the digest failed (out is then ""). */
#define SL_WS_ACCEPT_LEN 28
int sl_ws_accept_key(const char *key, size_t len, char out[SL_WS_ACCEPT_LEN + 1]);

#endif
