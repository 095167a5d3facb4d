/* Loadgen L1: client side of RFC 6455 (see lg_ws.h). */
#include "lg_ws.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

static const char lg_ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Masks and keys come from a xorshift generator seeded once from the
 * kernel. RFC 6455 asks for unpredictable masks to protect intermediaries
 * from cache poisoning by hostile scripts; a load generator talking to its
 * own server over loopback has no such adversary, and a syscall per frame
 * would cost more than the frame. */
static uint64_t lg_ws_rng_state;

static uint64_t lg_ws_rng_next(void)
{
    if (lg_ws_rng_state == 0) {
        if (getrandom(&lg_ws_rng_state, sizeof lg_ws_rng_state, 0) != sizeof lg_ws_rng_state)
            lg_ws_rng_state = 0x9E3779B97F4A7C15ull;
        lg_ws_rng_state |= 1;
    }
    uint64_t x = lg_ws_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lg_ws_rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t lg_ws_mask_next(void)
{
    return (uint32_t)(lg_ws_rng_next() >> 32);
}

void lg_ws_accept_compute(const char *key, char accept[LG_WS_ACCEPT_LEN + 1])
{
    unsigned char in[LG_WS_KEY_LEN + sizeof lg_ws_guid];
    unsigned char digest[SHA_DIGEST_LENGTH];
    size_t klen = strnlen(key, LG_WS_KEY_LEN);
    memcpy(in, key, klen);
    memcpy(in + klen, lg_ws_guid, sizeof lg_ws_guid - 1);
    SHA1(in, klen + sizeof lg_ws_guid - 1, digest);
    EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
}

void lg_ws_key_make(char key[LG_WS_KEY_LEN + 1], char accept[LG_WS_ACCEPT_LEN + 1])
{
    uint64_t raw[2] = { lg_ws_rng_next(), lg_ws_rng_next() };
    EVP_EncodeBlock((unsigned char *)key, (const unsigned char *)raw, 16);
    lg_ws_accept_compute(key, accept);
}

size_t lg_ws_frame_encode(uint8_t *out, int opcode, const void *payload, size_t len, uint32_t mask)
{
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t m[4] = { (uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8), (uint8_t)mask };
    memcpy(out + h, m, 4);
    h += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[h + i] = p[i] ^ m[i & 3];
    return h + len;
}

int lg_ws_frame_parse(const uint8_t *p, size_t len, uint64_t max_payload, lg_ws_frame_t *f)
{
    if (len < 2)
        return 0;
    if (p[0] & 0x70)          /* no extension was negotiated */
        return -EPROTO;
    if (p[1] & 0x80)          /* a server never masks */
        return -EPROTO;
    f->fin = (p[0] & 0x80) != 0;
    f->opcode = p[0] & 0x0f;
    switch (f->opcode) {
    case LG_WS_CONTINUATION: case LG_WS_TEXT: case LG_WS_BINARY:
    case LG_WS_CLOSE: case LG_WS_PING: case LG_WS_PONG:
        break;
    default:
        return -EPROTO;
    }
    uint64_t n = p[1] & 0x7f;
    size_t h = 2;
    if (n == 126) {
        if (len < 4)
            return 0;
        n = ((uint64_t)p[2] << 8) | p[3];
        h = 4;
    } else if (n == 127) {
        if (len < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = (n << 8) | p[2 + i];
        h = 10;
    }
    if (f->opcode >= LG_WS_CLOSE && (!f->fin || n > 125))
        return -EPROTO;
    if (n > max_payload)
        return -EMSGSIZE;
    f->header_len = h;
    f->payload_len = n;
    return len - h >= n ? 1 : 0;
}
