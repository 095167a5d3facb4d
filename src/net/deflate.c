/* L1 net/deflate: zlib streams, counted and pooled. See deflate.h. */
#include "net/deflate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct sl_zdeflate {
    z_stream s;
    sl_zcfg_t cfg;
};

struct sl_zinflate {
    z_stream s;
};

/* ---- counted allocation ----------------------------------------------------- */

/* Each block starts with its size, in a header as aligned as malloc's. */
typedef union zhdr {
    size_t n;
    max_align_t align;
} zhdr_t;

static size_t zmem;

static voidpf zalloc_counted(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    size_t n = (size_t)items * size;
    zhdr_t *h = malloc(sizeof *h + n);
    if (!h)
        return Z_NULL;
    h->n = n;
    zmem += n;
    return h + 1;
}

static void zfree_counted(voidpf opaque, voidpf p)
{
    (void)opaque;
    if (!p)
        return;
    zhdr_t *h = (zhdr_t *)p - 1;
    zmem -= h->n;
    free(h);
}

size_t sl_zmem(void) { return zmem; }

static void zinit(z_stream *s)
{
    memset(s, 0, sizeof *s);
    s->zalloc = zalloc_counted;
    s->zfree = zfree_counted;
}

/* ---- compressors -------------------------------------------------------------- */

sl_zdeflate_t *sl_zdeflate_new(const sl_zcfg_t *cfg)
{
    sl_zdeflate_t *z = malloc(sizeof *z);
    if (!z)
        return NULL;
    zinit(&z->s);
    z->cfg = *cfg;
    /* Negative window: a raw stream, no zlib header or trailer. */
    if (deflateInit2(&z->s, cfg->level, Z_DEFLATED, -(int)cfg->wbits, cfg->mem_level,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void sl_zdeflate_free(sl_zdeflate_t *z)
{
    if (!z)
        return;
    deflateEnd(&z->s);
    free(z);
}

/* The pool: one compressor per configuration in use. A process sees few:
 * one per WebSocket window clients ask for, and HTTP's. */
#define POOL_MAX 16
static sl_zdeflate_t *pool[POOL_MAX];
static sl_zinflate_t *inflate_pool;

sl_zdeflate_t *sl_zdeflate_pooled(const sl_zcfg_t *cfg)
{
    int i = 0;
    for (; i < POOL_MAX && pool[i]; i++)
        if (!memcmp(&pool[i]->cfg, cfg, sizeof *cfg))
            return pool[i];
    if (i == POOL_MAX)
        return NULL;
    return pool[i] = sl_zdeflate_new(cfg);
}

void sl_zpool_free(void)
{
    for (int i = 0; i < POOL_MAX; i++) {
        sl_zdeflate_free(pool[i]);
        pool[i] = NULL;
    }
    sl_zinflate_free(inflate_pool);
    inflate_pool = NULL;
}

/* zlib counts in uInt: feed at most this much at once. */
#define ZCHUNK (1u << 30)

/* Runs deflate over p..p+n with flush, growing out as needed. p is never
 * NULL, even with n 0: it is advanced, and NULL + 0 is undefined in C
 * (clang's UBSan stops there; found by tests/fuzz/fuzz_ws_deflate). */
static int deflate_run(z_stream *s, const char *p, size_t n, int flush, sl_buf_t *out)
{
    for (;;) {
        size_t take = n < ZCHUNK ? n : ZCHUNK;
        s->next_in = (Bytef *)p;
        s->avail_in = (uInt)take;
        p += take;
        n -= take;
        int f = n ? Z_NO_FLUSH : flush;
        do {
            /* Room for what this input may become, plus the flush marker. */
            size_t room = s->avail_in + s->avail_in / 8 + 64;
            if (sl_buf_reserve(out, room))
                return -ENOMEM;
            size_t avail = out->cap - out->len;
            if (avail > ZCHUNK)
                avail = ZCHUNK;
            s->next_out = (Bytef *)out->data + out->len;
            s->avail_out = (uInt)avail;
            int rc = deflate(s, f);
            out->len += avail - s->avail_out;
            if (rc == Z_STREAM_ERROR)
                return -EINVAL;
        } while (s->avail_in > 0 || (f != Z_NO_FLUSH && s->avail_out == 0));
        if (!n)
            return 0;
    }
}

int sl_zdeflate_message(sl_zdeflate_t *z, const uv_buf_t *parts, unsigned n, sl_buf_t *out,
                        int reset)
{
    size_t start = out->len;
    int rc = 0, empty = 1;
    for (unsigned i = 0; i < n && !rc; i++)
        if (parts[i].len) {
            rc = deflate_run(&z->s, parts[i].base, parts[i].len, Z_NO_FLUSH, out);
            empty = 0;
        }
    /* zlib refuses a sync flush that follows another with no input between
     * (Z_BUF_ERROR, nothing written), so an empty message after another on
     * a stream that keeps its history came out as no bytes at all, and the
     * receiver, adding 00 00 ff ff back, read them as the header of a
     * 65280-byte stored block and lost step with the sender (found by
     * tests/fuzz/fuzz_ws_deflate). A call with neither input nor flush, as
     * Node's zlib makes for an empty write, lets the flush through: the
     * message is then 00, an empty stored block, as Node's ws sends it. */
    if (!rc && empty)
        rc = deflate_run(&z->s, "", 0, Z_NO_FLUSH, out);
    if (!rc)
        rc = deflate_run(&z->s, "", 0, Z_SYNC_FLUSH, out);
    /* A sync flush ends with an empty stored block, 00 00 ff ff: the
     * receiver adds it back (RFC 7692 7.2.1). */
    static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
    if (!rc && out->len - start >= 4 && !memcmp(out->data + out->len - 4, tail, 4))
        out->len -= 4;
    if (reset || rc)
        deflateReset(&z->s);
    return rc;
}

void sl_zdeflate_reset(sl_zdeflate_t *z) { deflateReset(&z->s); }

/* ---- inflaters ------------------------------------------------------------------ */

sl_zinflate_t *sl_zinflate_new(unsigned wbits)
{
    /* zlib's compressor turns a window of 8 into 9 (it has no raw 8), so a
     * zlib-based peer asked for 8 sends 9: inflate with at least that. */
    if (wbits < 9)
        wbits = 9;
    sl_zinflate_t *z = malloc(sizeof *z);
    if (!z)
        return NULL;
    zinit(&z->s);
    if (inflateInit2(&z->s, -(int)wbits) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void sl_zinflate_free(sl_zinflate_t *z)
{
    if (!z)
        return;
    inflateEnd(&z->s);
    free(z);
}

sl_zinflate_t *sl_zinflate_pooled(void)
{
    if (!inflate_pool)
        inflate_pool = sl_zinflate_new(15);
    return inflate_pool;
}

/* Inflates p..p+n into out (at most cap bytes in all). 1 when the sender
 * ended its stream, 0 when all input was taken, or an error. */
static int inflate_run(z_stream *s, const void *p, size_t n, sl_buf_t *out, size_t cap)
{
    s->next_in = (Bytef *)p;
    s->avail_in = (uInt)n;
    do {
        /* One byte past cap is allowed out, so "more than cap" is seen
         * without inflating any further. */
        size_t limit = cap - out->len + 1;
        size_t room = (size_t)s->avail_in * 4 + 4096;
        if (room > limit)
            room = limit;
        if (room > ZCHUNK)
            room = ZCHUNK;
        if (sl_buf_reserve(out, room))
            return -ENOMEM;
        s->next_out = (Bytef *)out->data + out->len;
        s->avail_out = (uInt)room;
        int rc = inflate(s, Z_SYNC_FLUSH);
        out->len += room - s->avail_out;
        if (out->len > cap)
            return SL_ZINFLATE_TOO_BIG;
        if (rc == Z_STREAM_END)
            return 1;
        if (rc == Z_MEM_ERROR)
            return -ENOMEM;
        if (rc == Z_BUF_ERROR && s->avail_out > 0)
            return 0; /* everything taken, nothing more to give */
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return SL_ZINFLATE_BAD;
    } while (s->avail_in > 0 || s->avail_out == 0);
    return 0;
}

int sl_zinflate_message(sl_zinflate_t *z, const void *in, size_t n, sl_buf_t *out, size_t cap,
                        int reset)
{
    static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
    if (out->len > cap)
        return SL_ZINFLATE_TOO_BIG;
    int rc = 0;
    const char *p = in;
    while (n > 0 && rc == 0) {
        size_t take = n < ZCHUNK ? n : ZCHUNK;
        rc = inflate_run(&z->s, p, take, out, cap);
        p += take;
        n -= take;
    }
    if (rc == 0)
        rc = inflate_run(&z->s, tail, 4, out, cap);
    /* A sender that ended its stream (a final block) starts a new one with
     * its next message, as Node's ws reads it. */
    if (rc == 1) {
        rc = 0;
        reset = 1;
    }
    if (reset || rc)
        inflateReset(&z->s);
    return rc;
}

/* ---- HTTP bodies ------------------------------------------------------------------ */

const char *sl_zcoding_name(sl_zcoding_t c)
{
    return c == SL_ZCODING_GZIP ? "gzip" : c == SL_ZCODING_DEFLATE ? "deflate" : "identity";
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The same header and trailer zlib's own gzip and zlib streams write
 * (RFC 1952 with mtime 0 and OS "Unix", RFC 1950 with the level's FLEVEL),
 * so the bytes are what deflateInit2 with window 31 or 15 would give. */
int sl_zencode(sl_zcoding_t coding, unsigned level, const void *p, size_t n, sl_buf_t *out)
{
    sl_zcfg_t cfg = {15, (uint8_t)level, 8};
    sl_zdeflate_t *z = sl_zdeflate_pooled(&cfg);
    if (!z)
        return -ENOMEM;
    size_t start = out->len;
    unsigned char head[10];
    size_t hl;
    if (coding == SL_ZCODING_GZIP) {
        static const unsigned char g[8] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
        memcpy(head, g, 8);
        head[8] = level == 9 ? 2 : level < 2 ? 4 : 0;
        head[9] = 3;
        hl = 10;
    } else {
        unsigned flevel = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
        unsigned h = 0x78u << 8 | flevel << 6;
        h += 31 - h % 31;
        head[0] = (unsigned char)(h >> 8);
        head[1] = (unsigned char)h;
        hl = 2;
    }
    int rc = sl_buf_append(out, head, hl) ? -ENOMEM : deflate_run(&z->s, p, n, Z_FINISH, out);
    deflateReset(&z->s);
    unsigned char tail[8];
    if (!rc && coding == SL_ZCODING_GZIP) {
        uLong crc = crc32(0L, Z_NULL, 0);
        for (size_t off = 0; off < n; off += ZCHUNK)
            crc = crc32(crc, (const Bytef *)p + off, (uInt)(n - off < ZCHUNK ? n - off : ZCHUNK));
        put_le32(tail, (uint32_t)crc);
        put_le32(tail + 4, (uint32_t)n);
        rc = sl_buf_append(out, tail, 8) ? -ENOMEM : 0;
    } else if (!rc) {
        uLong a = adler32(0L, Z_NULL, 0);
        for (size_t off = 0; off < n; off += ZCHUNK)
            a = adler32(a, (const Bytef *)p + off, (uInt)(n - off < ZCHUNK ? n - off : ZCHUNK));
        for (int i = 0; i < 4; i++)
            tail[i] = (unsigned char)(a >> (24 - 8 * i));
        rc = sl_buf_append(out, tail, 4) ? -ENOMEM : 0;
    }
    if (rc)
        out->len = start;
    return rc;
}
