/* L0 base/buf: growable and refcounted byte buffers; base64 helpers. */
#include "base/buf.h"
#include "base/asan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_buf_reserve(sl_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 < cap ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sl_buf_append_str(sl_buf_t *b, const char *s) { return sl_buf_append(b, s, strlen(s)); }

int sl_buf_appendf(sl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof small)
        return sl_buf_append(b, small, (size_t)n);
    if (sl_buf_reserve(b, (size_t)n + 1))
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Counts the digits first (compares, no division) and writes them in
 * place, two a step from a table, last first: no copy and few divisions
 * (an id per ack, a length per frame go through here). */
char *sl_u64_put(char *dst, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    size_t n = 1;
    for (uint64_t p = 10; n < 20 && v >= p; p *= 10)
        n++;
    char *end = dst + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        end -= 2;
        memcpy(end, pairs + 2 * r, 2);
    }
    if (v >= 10)
        memcpy(end - 2, pairs + 2 * v, 2);
    else
        end[-1] = (char)('0' + v);
    return dst + n;
}

int sl_buf_append_u64(sl_buf_t *b, uint64_t v)
{
    if (sl_buf_reserve(b, 20))
        return -ENOMEM;
    b->len = (size_t)(sl_u64_put(b->data + b->len, v) - b->data);
    return 0;
}

void sl_buf_consume(sl_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void sl_buf_reset(sl_buf_t *b) { b->len = 0; }

void sl_buf_free(sl_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* A small refcounted buffer is made and dropped for nearly every message
 * sent (an ack, an emit, a broadcast's one), and drops come in a burst at
 * the end of the loop turn when the output is flushed: past glibc's few
 * cached chunks per size, each free and malloc takes its slow way (~130
 * instructions a message, measured on the echo). So a freed one of up to
 * RC_SMALL bytes waits on a free list of its size class for the next
 * buffer of that class, RC_KEEP at most per class (what a turn's burst
 * needs; the rest goes back to malloc). Loop-thread only, as every rcbuf;
 * each process of a fork has its own. A sanitizer build mallocs every
 * one, so that ASan keeps watching each. */
#define RC_CACHE (!SL_ASAN)
#define RC_STEP 64
#define RC_SMALL 512
#define RC_KEEP 64
static struct {
    sl_rcbuf_t *head; /* linked through the blocks' first word */
    unsigned count;
} rc_free[RC_SMALL / RC_STEP];

/* The class of a buffer of n bytes (with its header and NUL), or -1 when
 * it is not a small one. */
static int rc_class(size_t n)
{
    size_t total = sizeof(sl_rcbuf_t) + n + 1;
    return RC_CACHE && total <= RC_SMALL ? (int)((total - 1) / RC_STEP) : -1;
}

sl_rcbuf_t *sl_rcbuf_alloc(size_t n)
{
    int c = rc_class(n);
    sl_rcbuf_t *r;
    if (c >= 0 && rc_free[c].head) {
        r = rc_free[c].head;
        rc_free[c].head = *(sl_rcbuf_t **)(void *)r;
        rc_free[c].count--;
    } else {
        /* A small one is made the size of its class: any of them serves
         * any buffer of the class later. */
        r = malloc(c >= 0 ? (size_t)(c + 1) * RC_STEP : sizeof *r + n + 1);
        if (!r)
            return NULL;
    }
    r->refs = 1;
    r->queued = 0;
    r->len = n;
    r->data[n] = '\0'; /* convenient for text, not counted in len */
    return r;
}

void sl_rcbuf_release_(sl_rcbuf_t *r)
{
    int c = rc_class(r->len);
    if (c < 0 || rc_free[c].count >= RC_KEEP) {
        free(r);
        return;
    }
    *(sl_rcbuf_t **)(void *)r = rc_free[c].head;
    rc_free[c].head = r;
    rc_free[c].count++;
}

sl_rcbuf_t *sl_rcbuf_new(const void *p, size_t n)
{
    sl_rcbuf_t *r = sl_rcbuf_alloc(n);
    if (r && n)
        memcpy(r->data, p, n);
    return r;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sl_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

int sl_base64_encode_append(sl_buf_t *out, const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (sl_buf_reserve(out, sl_base64_encoded_len(n)))
        return -ENOMEM;
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = b64chars[(v >> 6) & 63];
        *o++ = b64chars[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

long sl_base64_decode(const char *in, size_t n, unsigned char *out)
{
    /* Padding is optional: strip it, then the remainder decides the tail. */
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return (long)o;
}
