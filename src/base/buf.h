/* L0 base/buf: the one growable byte buffer of the runtime, and an immutable
 * refcounted byte block for data shared by several owners (a broadcast is
 * encoded once into an sl_rcbuf_t and every recipient's queue holds a ref).
 * Knows nothing of the network or of any protocol. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

typedef struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
} sl_buf_t;

#define SL_BUF_INIT {NULL, 0, 0}

/* All return 0 or -ENOMEM; on failure the buffer is unchanged. */
int sl_buf_reserve(sl_buf_t *b, size_t extra);
/* sl_buf_append and sl_buf_append_byte are inline: when the buffer has
 * room, which is nearly always, they cost no call (an HTTP head goes in
 * some twenty pieces, every packet in several). */
static inline int sl_buf_append(sl_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->cap - b->len < n) {
        int rc = sl_buf_reserve(b, n);
        if (rc)
            return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}
int sl_buf_append_str(sl_buf_t *b, const char *s);
static inline int sl_buf_append_byte(sl_buf_t *b, char c)
{
    if (b->cap == b->len) {
        int rc = sl_buf_reserve(b, 1);
        if (rc)
            return rc;
    }
    b->data[b->len++] = c;
    return 0;
}
int sl_buf_appendf(sl_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The decimal digits of v (what "%" PRIu64 writes, without printf's cost on
 * a per-packet path). */
int sl_buf_append_u64(sl_buf_t *b, uint64_t v);
/* The same written at dst (room for 20); the end of what was written. */
char *sl_u64_put(char *dst, uint64_t v);
/* Drops the first n bytes (consumed input). */
void sl_buf_consume(sl_buf_t *b, size_t n);
void sl_buf_reset(sl_buf_t *b); /* len = 0, memory kept */
void sl_buf_free(sl_buf_t *b);  /* memory released, buffer reusable */

/* Immutable once built; freed when the last ref goes. */
typedef struct sl_rcbuf {
    unsigned refs;
    unsigned queued; /* counted chunks of budgeted queues referring to it
                        (base/budget counts it while this is not 0) */
    size_t len;
    char data[];
} sl_rcbuf_t;

sl_rcbuf_t *sl_rcbuf_new(const void *p, size_t n); /* refs = 1, NULL on OOM */
sl_rcbuf_t *sl_rcbuf_alloc(size_t n);               /* uninitialised bytes */
static inline sl_rcbuf_t *sl_rcbuf_ref(sl_rcbuf_t *r) { r->refs++; return r; }
void sl_rcbuf_release_(sl_rcbuf_t *r); /* the last reference went: frees r */
/* NULL is fine. Inline: a writer drops one per frame it wrote. */
static inline void sl_rcbuf_unref(sl_rcbuf_t *r)
{
    if (r && --r->refs == 0)
        sl_rcbuf_release_(r);
}

/* Standard base64 with padding (Engine.IO polling binary). */
size_t sl_base64_encoded_len(size_t n);
int sl_base64_encode_append(sl_buf_t *out, const unsigned char *p, size_t n);
/* Returns decoded length or -1 on malformed input. out needs n*3/4 bytes. */
long sl_base64_decode(const char *in, size_t n, unsigned char *out);

#endif
