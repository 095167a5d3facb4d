/* Loadgen L1: RFC 6455 seen from the client: the opening handshake's key and
 * the accept value to expect, masked frames out, unmasked frames in. Pure
 * functions over bytes: knows no sockets and no Engine.IO. */
#ifndef LG_WS_H
#define LG_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
    LG_WS_CONTINUATION = 0x0,
    LG_WS_TEXT = 0x1,
    LG_WS_BINARY = 0x2,
    LG_WS_CLOSE = 0x8,
    LG_WS_PING = 0x9,
    LG_WS_PONG = 0xA,
};

#define LG_WS_KEY_LEN 24      /* base64 of 16 random bytes */
#define LG_WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */
#define LG_WS_HEADER_MAX 14   /* 2 + 8 (length) + 4 (mask) */

typedef struct lg_ws_frame_s {
    int fin;
    int opcode;
    size_t header_len;
    uint64_t payload_len;
} lg_ws_frame_t;

/* A fresh Sec-WebSocket-Key and the Sec-WebSocket-Accept the server must
 * answer with (both NUL-terminated). */
void lg_ws_key_make(char key[LG_WS_KEY_LEN + 1], char accept[LG_WS_ACCEPT_LEN + 1]);
void lg_ws_accept_compute(const char *key, char accept[LG_WS_ACCEPT_LEN + 1]);

/* A masking key for the next frame. */
uint32_t lg_ws_mask_next(void);

/* Encodes one final frame with the given mask into out, which must hold
 * LG_WS_HEADER_MAX + len bytes; returns the frame's size. */
size_t lg_ws_frame_encode(uint8_t *out, int opcode, const void *payload, size_t len, uint32_t mask);

/* Reads a frame header from a server. Returns 1 when the whole frame
 * (header and payload) is in [p, p+len), 0 when more bytes are needed (f
 * is filled as soon as the header is complete), or -EPROTO for a frame a
 * server must not send (masked, reserved bits, unknown opcode, fragmented
 * or long control frame) and -EMSGSIZE above max_payload. */
int lg_ws_frame_parse(const uint8_t *p, size_t len, uint64_t max_payload, lg_ws_frame_t *f);

#endif
