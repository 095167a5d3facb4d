/* L1 net/ws_frame: incremental RFC 6455 frame parser (server side). See
 * ws_frame.h. Knows nothing of sockets, Engine.IO or what the messages
 * mean. */
#include "net/ws_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { ST_HEADER, ST_PAYLOAD, ST_CLOSED, ST_DEAD };

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

#define CODE_PROTOCOL 1002
#define CODE_BAD_DATA 1007
#define CODE_TOO_BIG 1009
#define CODE_INTERNAL 1011

/* ---- UTF-8 --------------------------------------------------------------
 * A byte-at-a-time validator small enough to keep its state in one byte
 * across feeds and fragments. States: 0 accept, 1..3 continuation bytes
 * still owed, 4..7 the first continuation byte has a narrower range
 * (E0: no overlong, ED: no surrogates, F0: no overlong, F4: <= U+10FFFF),
 * U8_REJECT absorbs. */
#define U8_REJECT 8

static uint8_t utf8_step(uint8_t st, unsigned char c)
{
    switch (st) {
    case 0:
        if (c < 0x80) return 0;
        if (c < 0xC2) return U8_REJECT;
        if (c < 0xE0) return 1;
        if (c == 0xE0) return 4;
        if (c == 0xED) return 5;
        if (c < 0xF0) return 2;
        if (c == 0xF0) return 6;
        if (c < 0xF4) return 3;
        if (c == 0xF4) return 7;
        return U8_REJECT;
    case 1: case 2: case 3:
        return (c & 0xC0) == 0x80 ? (uint8_t)(st - 1) : U8_REJECT;
    case 4: return c >= 0xA0 && c <= 0xBF ? 1 : U8_REJECT;
    case 5: return c >= 0x80 && c <= 0x9F ? 1 : U8_REJECT;
    case 6: return c >= 0x90 && c <= 0xBF ? 2 : U8_REJECT;
    case 7: return c >= 0x80 && c <= 0x8F ? 2 : U8_REJECT;
    default: return U8_REJECT;
    }
}

/* Unmasks n payload bytes in place, continuing the mask at *off, and when
 * utf8 is not NULL validates the unmasked bytes in the same pass: the
 * payload is read once. Sixteen bytes a step where the CPU has SSE2 (every
 * x86-64), else eight; a block of plain ASCII costs the validator one
 * test, and only a block with a byte from 0x80 up (or in the middle of a
 * sequence) is walked byte by byte. */
static void unmask(unsigned char *p, size_t n, const uint8_t mask[4], uint8_t *off,
                   uint8_t *utf8)
{
    unsigned o = *off;
    uint8_t st = utf8 ? *utf8 : 0;
    size_t i = 0;
    if (n >= 8) {
        /* The mask from where this frame's count left it, twice: eight
         * bytes that line up with p (whatever the byte order). */
        const uint8_t r[4] = {mask[o & 3], mask[(o + 1) & 3], mask[(o + 2) & 3], mask[(o + 3) & 3]};
        uint32_t m32;
        memcpy(&m32, r, 4);
        uint64_t m = (uint64_t)m32 * 0x100000001ull;
#if defined(__SSE2__)
        const __m128i m16 = _mm_set1_epi64x((long long)m);
        for (; n - i >= 16; i += 16) {
            __m128i w = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), m16);
            _mm_storeu_si128((__m128i *)(void *)(p + i), w);
            if (utf8 && (st != 0 || _mm_movemask_epi8(w)))
                for (unsigned k = 0; k < 16; k++)
                    st = utf8_step(st, p[i + k]);
        }
        if (i < n && n >= 16) {
            /* The last t bytes: the sixteen that end at p + n, xored with
             * zeros where they overlap the bytes done above and with the
             * mask (in phase: i is a multiple of 16) from i on. */
            size_t t = n - i;
            unsigned char z[32];
            _mm_storeu_si128((__m128i *)(void *)z, _mm_setzero_si128());
            _mm_storeu_si128((__m128i *)(void *)(z + 16), m16);
            __m128i w = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + n - 16)),
                                      _mm_loadu_si128((const __m128i *)(const void *)(z + t)));
            _mm_storeu_si128((__m128i *)(void *)(p + n - 16), w);
            if (utf8 && (st != 0 || ((unsigned)_mm_movemask_epi8(w) >> (16 - t))))
                for (; i < n; i++)
                    st = utf8_step(st, p[i]);
            i = n;
        }
#endif
        for (; n - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            w ^= m;
            memcpy(p + i, &w, 8);
            if (utf8 && (st != 0 || (w & 0x8080808080808080ull)))
                for (unsigned k = 0; k < 8; k++)
                    st = utf8_step(st, p[i + k]);
        }
    }
    for (; i < n; i++) {
        p[i] ^= mask[(o + i) & 3];
        if (utf8 && (st != 0 || p[i] >= 0x80)) /* ASCII keeps state 0 */
            st = utf8_step(st, p[i]);
    }
    *off = (uint8_t)((o + n) & 3);
    if (utf8)
        *utf8 = st;
}

int sl_ws_utf8_valid(const char *p, size_t n)
{
    uint8_t st = 0;
    for (size_t i = 0; i < n; i++)
        st = utf8_step(st, (unsigned char)p[i]);
    return st == 0;
}

/* ---- frames ------------------------------------------------------------- */

int sl_ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
           (code >= 3000 && code <= 4999);
}

int sl_ws_accept_key(const char *key, size_t len, char out[SL_WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    /* One digest and two contexts for the process, made at the first key:
     * EVP_Digest makes and frees a context (and the provider's) per call,
     * and EVP_sha1() looks the algorithm up again each time (OpenSSL 3);
     * reused, a key costs a third as many instructions. A key's context
     * starts as a copy of one initialised once (EVP_DigestInit_ex2 frees
     * and makes the provider's context again each time). A forked worker
     * has its own copies, and keys are made on the loop's thread only. */
    static EVP_MD *sha1;
    static EVP_MD_CTX *fresh, *ctx;
    if (!ctx && (sha1 || (sha1 = EVP_MD_fetch(NULL, "SHA1", NULL)) != NULL)) {
        fresh = EVP_MD_CTX_new();
        ctx = fresh && EVP_DigestInit_ex2(fresh, sha1, NULL) ? EVP_MD_CTX_new() : NULL;
        if (!ctx) {
            EVP_MD_CTX_free(fresh);
            fresh = NULL;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int ok = ctx && EVP_MD_CTX_copy_ex(ctx, fresh) && EVP_DigestUpdate(ctx, key, len) &&
             EVP_DigestUpdate(ctx, guid, sizeof guid - 1) && EVP_DigestFinal_ex(ctx, md, &mdlen);
    out[0] = '\0';
    if (!ok || mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen); /* 28 characters and a NUL */
    return 0;
}

unsigned sl_ws_frame_header(unsigned char out[10], unsigned opcode, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

void sl_ws_parser_init(sl_ws_parser_t *ps, size_t max_message)
{
    memset(ps, 0, sizeof *ps);
    ps->max_message = max_message > UINT32_MAX ? UINT32_MAX : (uint32_t)max_message;
}

static void msg_free(sl_ws_parser_t *ps)
{
    if (ps->msg) {
        sl_buf_free(ps->msg);
        free(ps->msg);
        ps->msg = NULL;
    }
}

/* Room for n more bytes of the message being gathered (its buffer made
 * on first need). 0 or -ENOMEM. */
static int msg_reserve(sl_ws_parser_t *ps, size_t n)
{
    if (!ps->msg && !(ps->msg = calloc(1, sizeof *ps->msg)))
        return -ENOMEM;
    return sl_buf_reserve(ps->msg, n);
}

void sl_ws_parser_free(sl_ws_parser_t *ps) { msg_free(ps); }

static int is_control(unsigned op) { return op >= 8; }

/* Header length, mask included, once the first two bytes are known. */
static unsigned header_size(const uint8_t *hdr)
{
    unsigned l7 = hdr[1] & 0x7f;
    return (l7 < 126 ? 2 : l7 == 126 ? 4 : 10) + 4;
}

/* What the first two bytes alone can refuse. */
static int check_start(const sl_ws_parser_t *ps)
{
    unsigned b0 = ps->hdr[0], b1 = ps->hdr[1];
    unsigned op = b0 & 0x0f, fin = b0 & 0x80;
    if (b0 & 0x30)
        return CODE_PROTOCOL; /* RSV2, RSV3: no extension uses them */
    /* RSV1 marks a compressed message (permessage-deflate), on its first
     * frame only: never on a control frame or a continuation. */
    if ((b0 & 0x40) && (!ps->rsv1_ok || (op != OP_TEXT && op != OP_BINARY)))
        return CODE_PROTOCOL;
    if (!(b1 & 0x80))
        return CODE_PROTOCOL; /* a client must mask */
    switch (op) {
    case OP_CONT:
        return ps->msg_opcode ? 0 : CODE_PROTOCOL;
    case OP_TEXT:
    case OP_BINARY:
        return ps->msg_opcode ? CODE_PROTOCOL : 0;
    case OP_CLOSE:
    case OP_PING:
    case OP_PONG:
        return fin && (b1 & 0x7f) <= 125 ? 0 : CODE_PROTOCOL;
    default:
        return CODE_PROTOCOL;
    }
}

/* The whole header is in: length and mask. */
static int check_header(sl_ws_parser_t *ps)
{
    unsigned l7 = ps->hdr[1] & 0x7f;
    uint64_t len = l7;
    if (l7 == 126) {
        len = (uint64_t)ps->hdr[2] << 8 | ps->hdr[3];
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | ps->hdr[2 + i];
        if (len >> 63)
            return CODE_PROTOCOL;
    }
    ps->opcode = ps->hdr[0] & 0x0f;
    ps->left = len;
    ps->mask_off = 0;
    if (!is_control(ps->opcode) && len > ps->max_message - (ps->msg ? ps->msg->len : 0))
        return CODE_TOO_BIG; /* msg->len never exceeds max_message */
    if (ps->opcode == OP_TEXT || ps->opcode == OP_BINARY) {
        ps->utf8 = 0; /* a new message */
        ps->msg_rsv1 = (ps->hdr[0] & 0x40) != 0;
    }
    return 0;
}

/* A control frame's payload is complete (unmasked) at p. */
static int control_frame(sl_ws_parser_t *ps, const char *p, size_t n,
                         const sl_ws_frame_handler_t *h, void *ud, int *stop)
{
    if (ps->opcode == OP_PING) {
        *stop = h->on_ping(ud, p, n);
        return 0;
    }
    if (ps->opcode == OP_PONG) {
        *stop = h->on_pong ? h->on_pong(ud, p, n) : 0;
        return 0;
    }
    uint16_t code = 0;
    if (n == 1)
        return CODE_PROTOCOL;
    if (n >= 2) {
        code = (uint16_t)((unsigned char)p[0] << 8 | (unsigned char)p[1]);
        if (!sl_ws_close_code_valid(code))
            return CODE_PROTOCOL;
        if (!sl_ws_utf8_valid(p + 2, n - 2))
            return CODE_BAD_DATA;
    }
    ps->state = ST_CLOSED;
    h->on_close(ud, code, n >= 2 ? p + 2 : p, n >= 2 ? n - 2 : 0);
    msg_free(ps); /* after the call: p may point into it */
    *stop = 1;
    return 0;
}

/* The last fragment of a buffered message is in. */
static int message_done(sl_ws_parser_t *ps, const sl_ws_frame_handler_t *h, void *ud, int *stop)
{
    int binary = ps->msg_opcode == OP_BINARY;
    if (!binary && ps->utf8 != 0)
        return CODE_BAD_DATA;
    ps->msg_opcode = 0;
    /* Handed out, then freed: an idle connection holds no buffer. */
    sl_buf_t *m = ps->msg;
    ps->msg = NULL;
    *stop = h->on_message(ud, binary, m && m->data ? m->data : (char *)"", m ? m->len : 0);
    if (m) {
        sl_buf_free(m);
        free(m);
    }
    return 0;
}

static int die(sl_ws_parser_t *ps, int code)
{
    ps->state = ST_DEAD;
    ps->error = (uint16_t)code;
    msg_free(ps);
    return code;
}

int sl_ws_parser_feed(sl_ws_parser_t *ps, char *p, size_t n, const sl_ws_frame_handler_t *h,
                      void *ud)
{
    if (ps->state == ST_DEAD)
        return ps->error;
    int stop = 0, rc = 0;
    while (n > 0 && !stop && ps->state != ST_CLOSED) {
        if (ps->state == ST_HEADER) {
            /* Header bytes are gathered in ps->hdr/mask (at most 14), so a
             * header split across feeds costs nothing extra. */
            if (ps->hdr_len == 0 && n >= 2 && n >= header_size((const uint8_t *)p)) {
                /* The whole header is here (the common case): taken at
                 * once, without the byte-by-byte walk below. */
                unsigned need = header_size((const uint8_t *)p);
                memcpy(ps->hdr, p, need - 4);
                memcpy(ps->mask, p + need - 4, 4);
                p += need;
                n -= need;
                if ((rc = check_start(ps)))
                    return die(ps, rc);
            } else {
                unsigned need = ps->hdr_len < 2 ? 2 : header_size(ps->hdr);
                while (ps->hdr_len < need && n > 0) {
                    unsigned i = ps->hdr_len++;
                    unsigned char c = (unsigned char)*p++;
                    n--;
                    if (i < need - 4 || need == 2)
                        ps->hdr[i] = c;
                    else
                        ps->mask[i - (need - 4)] = c;
                    if (ps->hdr_len == 2) {
                        if ((rc = check_start(ps)))
                            return die(ps, rc);
                        need = header_size(ps->hdr);
                    }
                }
                if (ps->hdr_len < need)
                    break;
            }
            if ((rc = check_header(ps)))
                return die(ps, rc);
            ps->hdr_len = 0;
            int fin = ps->hdr[0] & 0x80;
            size_t len = (size_t)ps->left; /* <= max_message or <= 125 here */
            if (len <= n && (is_control(ps->opcode) || (fin && ps->opcode != OP_CONT))) {
                /* The whole frame is here and is a whole message or a
                 * control frame: unmask in place, no copy. */
                uint8_t *u8 = ps->opcode == OP_TEXT && !ps->msg_rsv1 ? &ps->utf8 : NULL;
                unmask((unsigned char *)p, len, ps->mask, &ps->mask_off, u8);
                char *payload = p;
                p += len;
                n -= len;
                ps->left = 0;
                if (is_control(ps->opcode)) {
                    if ((rc = control_frame(ps, payload, len, h, ud, &stop)))
                        return die(ps, rc);
                } else {
                    if (u8 && ps->utf8 != 0)
                        return die(ps, CODE_BAD_DATA);
                    stop = h->on_message(ud, ps->opcode == OP_BINARY, payload, len);
                }
                continue;
            }
            /* Split across feeds or fragmented: gather into ps->msg. A data
             * frame's room is taken once, at its known length; a control
             * frame waits behind the message in progress. */
            size_t room = is_control(ps->opcode) ? 125 : len;
            if (room && msg_reserve(ps, room))
                return die(ps, CODE_INTERNAL);
            if (ps->opcode != OP_CONT && !is_control(ps->opcode))
                ps->msg_opcode = ps->opcode;
            ps->ctrl_len = 0;
            ps->state = ST_PAYLOAD;
        }
        /* ST_PAYLOAD: bytes of a frame being gathered. */
        size_t take = ps->left < n ? (size_t)ps->left : n;
        if (take == 0) {
            /* an empty fragment: nothing to copy (msg may be NULL) */
        } else if (is_control(ps->opcode)) {
            memcpy(ps->msg->data + ps->msg->len + ps->ctrl_len, p, take);
            ps->ctrl_len = (uint8_t)(ps->ctrl_len + take);
        } else {
            unsigned char *dst = (unsigned char *)ps->msg->data + ps->msg->len;
            memcpy(dst, p, take);
            unmask(dst, take, ps->mask, &ps->mask_off,
                   ps->msg_opcode == OP_TEXT && !ps->msg_rsv1 ? &ps->utf8 : NULL);
            ps->msg->len += take;
            if (ps->utf8 == U8_REJECT && ps->msg_opcode == OP_TEXT)
                return die(ps, CODE_BAD_DATA);
        }
        p += take;
        n -= take;
        ps->left -= take;
        if (ps->left > 0)
            break;
        ps->state = ST_HEADER;
        if (is_control(ps->opcode)) {
            char *c = ps->msg->data + ps->msg->len;
            unmask((unsigned char *)c, ps->ctrl_len, ps->mask, &ps->mask_off, NULL);
            rc = control_frame(ps, c, ps->ctrl_len, h, ud, &stop);
            if (rc)
                return die(ps, rc);
            if (ps->state != ST_CLOSED && ps->msg_opcode == 0)
                msg_free(ps); /* no message was waiting behind it */
        } else if (ps->hdr[0] & 0x80) {
            if ((rc = message_done(ps, h, ud, &stop)))
                return die(ps, rc);
        }
    }
    return 0;
}
