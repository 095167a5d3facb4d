/* Unit tests of buf: the growable sl_buf, the refcounted sl_rcbuf and the
 * base64 helpers. Base64 inputs are copied into exactly-sized heap blocks
 * so ASan catches any read past the end (the decoder must never rely on a
 * NUL), and decode outputs get exactly the documented n*3/4 bytes. */
#include "base/buf.h"
#include "testlib.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static char *exact_copy(const char *s, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    memcpy(c, s, n);
    return c;
}

/* Decodes s (copied to an exact-size block) into an exact-size output of
 * n*3/4 bytes; returns the decoder's result, the bytes land in *out (caller
 * frees). */
static long b64dec(const char *s, size_t n, unsigned char **out)
{
    char *in = exact_copy(s, n);
    size_t cap = n * 3 / 4;
    unsigned char *o = malloc(cap ? cap : 1);
    if (!o)
        abort();
    long r = sl_base64_decode(in, n, o);
    free(in);
    *out = o;
    return r;
}

static long b64dec_str(const char *s, unsigned char **out) { return b64dec(s, strlen(s), out); }

static long b64dec_rc_n(const char *s, size_t n)
{
    unsigned char *o;
    long r = b64dec(s, n, &o);
    free(o);
    return r;
}

static long b64dec_rc(const char *s) { return b64dec_rc_n(s, strlen(s)); }

/* A small deterministic PRNG (xorshift32) for the round-trip test. */
static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* ---- sl_buf ------------------------------------------------------------- */

static void buf_init_is_empty(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.cap, 0);
    sl_buf_free(&b); /* freeing a never-used buffer is fine */
    CHECK(b.data == NULL);
}

static void buf_append_concatenates_in_order(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_append(&b, "abc", 3), 0);
    CHECK_EQ_INT(sl_buf_append_str(&b, "def"), 0);
    CHECK_EQ_INT(sl_buf_append_byte(&b, 'g'), 0);
    CHECK_EQ_INT(sl_buf_append_byte(&b, '\0'), 0);
    CHECK_EQ_INT(sl_buf_append(&b, "\xff\x01", 2), 0);
    CHECK_MEM(b.data, b.len, "abcdefg\0\xff\x01", 10);
    CHECK(b.cap >= b.len);
    sl_buf_free(&b);
}

static void buf_append_zero_bytes_is_a_noop(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_append(&b, NULL, 0), 0);
    CHECK_EQ_INT(sl_buf_append_str(&b, ""), 0);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(sl_buf_append(&b, "x", 1), 0);
    CHECK_EQ_INT(sl_buf_append(&b, "y", 0), 0);
    CHECK_STR(b.data, b.len, "x");
    sl_buf_free(&b);
}

static void buf_append_large_blocks_grows_and_keeps_content(void)
{
    sl_buf_t b = SL_BUF_INIT;
    char block[1000];
    size_t total = 0;
    for (int round = 0; round < 50; round++) {
        size_t n = (size_t)(round * 37 % 1000) + 1;
        memset(block, 'a' + round % 26, n);
        CHECK_EQ_INT(sl_buf_append(&b, block, n), 0);
        total += n;
        CHECK_EQ_INT(b.len, total);
        CHECK(b.cap >= b.len);
    }
    /* Walk again and check every byte. */
    size_t off = 0;
    int ok = 1;
    for (int round = 0; round < 50; round++) {
        size_t n = (size_t)(round * 37 % 1000) + 1;
        for (size_t i = 0; i < n; i++)
            if (b.data[off + i] != 'a' + round % 26)
                ok = 0;
        off += n;
    }
    CHECK(ok);
    CHECK_EQ_INT(off, b.len);
    sl_buf_free(&b);
}

static void buf_reserve_grows_capacity_without_changing_len(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_reserve(&b, 0), 0);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(sl_buf_reserve(&b, 10), 0);
    CHECK(b.data != NULL);
    CHECK(b.cap >= 10);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(sl_buf_append(&b, "hello", 5), 0);
    size_t cap = b.cap;
    char *data = b.data;
    /* Enough room already: nothing moves. */
    CHECK_EQ_INT(sl_buf_reserve(&b, cap - 5), 0);
    CHECK_EQ_INT(b.cap, cap);
    CHECK(b.data == data);
    /* One more than the room left: grows, content kept. */
    CHECK_EQ_INT(sl_buf_reserve(&b, cap - 5 + 1), 0);
    CHECK(b.cap >= cap + 1);
    CHECK_EQ_INT(b.len, 5);
    CHECK_STR(b.data, b.len, "hello");
    /* A large reservation; the whole reserved area is writable (ASan). */
    CHECK_EQ_INT(sl_buf_reserve(&b, 100000), 0);
    CHECK(b.cap - b.len >= 100000);
    memset(b.data + b.len, 'z', 100000);
    CHECK_STR(b.data, b.len, "hello");
    sl_buf_free(&b);
}

static void buf_reserve_refuses_size_overflow_and_keeps_buffer(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_append(&b, "abc", 3), 0);
    size_t cap = b.cap;
    char *data = b.data;
    CHECK_EQ_INT(sl_buf_reserve(&b, SIZE_MAX), -ENOMEM);
    CHECK_EQ_INT(sl_buf_reserve(&b, SIZE_MAX - 1), -ENOMEM);
    CHECK(b.data == data);
    CHECK_EQ_INT(b.cap, cap);
    CHECK_STR(b.data, b.len, "abc");
    sl_buf_free(&b);
}

static void buf_appendf_small_formats(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_appendf(&b, "%d:%s", 42, "x"), 0);
    CHECK_EQ_INT(sl_buf_appendf(&b, "%s", ""), 0);
    CHECK_EQ_INT(sl_buf_appendf(&b, "|%zu|%c|%05.1f", (size_t)7, 'q', 2.5), 0);
    CHECK_STR(b.data, b.len, "42:x|7|q|002.5");
    sl_buf_free(&b);
}

/* Output of exactly len bytes through appendf, appended after a prefix. */
static void check_appendf_len(size_t len)
{
    sl_buf_t b = SL_BUF_INIT;
    char *s = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('A' + i % 26);
    s[len] = '\0';
    CHECK_EQ_INT(sl_buf_append(&b, "pre", 3), 0);
    CHECK_EQ_INT(sl_buf_appendf(&b, "%s", s), 0);
    CHECK_EQ_INT(b.len, 3 + len);
    CHECK_MEM(b.data, 3, "pre", 3);
    CHECK_MEM(b.data + 3, b.len - 3, s, len);
    /* And again on top of that, to cross the path a second time. */
    CHECK_EQ_INT(sl_buf_appendf(&b, "%s!", s), 0);
    CHECK_EQ_INT(b.len, 3 + 2 * len + 1);
    CHECK_MEM(b.data + 3 + len, len, s, len);
    CHECK_EQ_INT(b.data[b.len - 1], '!');
    free(s);
    sl_buf_free(&b);
}

static void buf_appendf_at_and_around_the_256_byte_boundary(void)
{
    check_appendf_len(255);
    check_appendf_len(256);
    check_appendf_len(257);
}

static void buf_appendf_longer_than_256_bytes(void)
{
    check_appendf_len(300);
    check_appendf_len(5000);
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_appendf(&b, "%0*d", 400, 7), 0);
    CHECK_EQ_INT(b.len, 400);
    CHECK_EQ_INT(b.data[0], '0');
    CHECK_EQ_INT(b.data[398], '0');
    CHECK_EQ_INT(b.data[399], '7');
    sl_buf_free(&b);
}

static void buf_consume_drops_prefix(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_str(&b, "0123456789");
    sl_buf_consume(&b, 0);
    CHECK_STR(b.data, b.len, "0123456789");
    sl_buf_consume(&b, 3);
    CHECK_STR(b.data, b.len, "3456789");
    sl_buf_consume(&b, 1);
    CHECK_STR(b.data, b.len, "456789");
    sl_buf_append_str(&b, "ab");
    CHECK_STR(b.data, b.len, "456789ab");
    sl_buf_consume(&b, 7);
    CHECK_STR(b.data, b.len, "b");
    sl_buf_free(&b);
}

static void buf_consume_all_or_more_empties(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_consume(&b, 0); /* on a never-used buffer */
    sl_buf_consume(&b, 5);
    CHECK_EQ_INT(b.len, 0);
    sl_buf_append_str(&b, "abc");
    sl_buf_consume(&b, 3);
    CHECK_EQ_INT(b.len, 0);
    sl_buf_append_str(&b, "abc");
    sl_buf_consume(&b, 1000);
    CHECK_EQ_INT(b.len, 0);
    CHECK(b.cap > 0); /* memory kept */
    sl_buf_append_str(&b, "x");
    CHECK_STR(b.data, b.len, "x");
    sl_buf_free(&b);
}

static void buf_reset_keeps_memory(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_str(&b, "some content");
    char *data = b.data;
    size_t cap = b.cap;
    sl_buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK(b.data == data);
    CHECK_EQ_INT(b.cap, cap);
    sl_buf_append_str(&b, "new");
    CHECK_STR(b.data, b.len, "new");
    CHECK(b.data == data);
    sl_buf_free(&b);
}

static void buf_free_releases_and_buffer_is_reusable(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_str(&b, "first");
    sl_buf_free(&b);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.cap, 0);
    sl_buf_append_str(&b, "second");
    CHECK_STR(b.data, b.len, "second");
    sl_buf_free(&b);
    sl_buf_free(&b); /* twice is fine */
}

/* ---- sl_rcbuf ----------------------------------------------------------- */

static void rcbuf_new_copies_bytes_with_one_ref(void)
{
    char src[] = "abc\0def";
    sl_rcbuf_t *r = sl_rcbuf_new(src, 7);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_EQ_INT(r->refs, 1);
    CHECK_EQ_INT(r->len, 7);
    src[0] = 'X'; /* a copy, not a view */
    CHECK_MEM(r->data, r->len, "abc\0def", 7);
    CHECK_EQ_INT(r->data[7], '\0'); /* terminated, not counted */
    sl_rcbuf_unref(r);
}

/* Buffers given back are reused (small ones wait for the next of their
 * size): whatever the order of sizes, each live buffer holds its own
 * bytes, len and terminating NUL, with one ref and nothing queued. */
static void rcbuf_reuse_keeps_live_buffers_apart(void)
{
    enum { LIVE = 150 };
    sl_rcbuf_t *live[LIVE] = {0};
    size_t sizes[LIVE];
    unsigned seed = 7;
    int ok = 1;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < LIVE; i++) {
            if (live[i] && (seed = seed * 1103515245u + 12345u) % 3 == 0) {
                sl_rcbuf_unref(live[i]);
                live[i] = NULL;
            }
            if (!live[i]) {
                seed = seed * 1103515245u + 12345u;
                sizes[i] = (seed >> 8) % 700; /* small ones and large */
                live[i] = sl_rcbuf_alloc(sizes[i]);
                if (!live[i] || live[i]->refs != 1 || live[i]->queued != 0 || live[i]->len != sizes[i] ||
                    live[i]->data[sizes[i]] != '\0')
                    ok = 0;
                if (live[i])
                    memset(live[i]->data, 'A' + i % 26, sizes[i]);
            }
        }
        for (int i = 0; i < LIVE; i++)
            for (size_t k = 0; live[i] && k < sizes[i]; k++)
                if (live[i]->data[k] != (char)('A' + i % 26))
                    ok = 0;
    }
    CHECK(ok);
    for (int i = 0; i < LIVE; i++)
        sl_rcbuf_unref(live[i]);
}

static void rcbuf_new_empty(void)
{
    sl_rcbuf_t *r = sl_rcbuf_new(NULL, 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_EQ_INT(r->len, 0);
    CHECK_EQ_INT(r->refs, 1);
    CHECK_EQ_INT(r->data[0], '\0');
    sl_rcbuf_unref(r);
}

static void rcbuf_alloc_is_writable_and_terminated(void)
{
    sl_rcbuf_t *r = sl_rcbuf_alloc(100);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_EQ_INT(r->len, 100);
    CHECK_EQ_INT(r->refs, 1);
    memset(r->data, 'k', 100); /* all 100 bytes writable (ASan) */
    CHECK_EQ_INT(r->data[100], '\0');
    sl_rcbuf_unref(r);
}

static void rcbuf_ref_and_unref_free_on_last_release(void)
{
    sl_rcbuf_t *r = sl_rcbuf_new("shared", 6);
    CHECK(r != NULL);
    if (!r)
        return;
    sl_rcbuf_t *r2 = sl_rcbuf_ref(r);
    CHECK(r2 == r);
    sl_rcbuf_ref(r);
    CHECK_EQ_INT(r->refs, 3);
    sl_rcbuf_unref(r);
    CHECK_EQ_INT(r->refs, 2);
    CHECK_STR(r->data, r->len, "shared"); /* still alive (ASan) */
    sl_rcbuf_unref(r2);
    CHECK_EQ_INT(r->refs, 1);
    CHECK_STR(r->data, r->len, "shared");
    sl_rcbuf_unref(r); /* last: freed; LeakSanitizer checks no leak */
}

static void rcbuf_unref_null_is_fine(void) { sl_rcbuf_unref(NULL); }

/* ---- base64 ------------------------------------------------------------- */

static void base64_encoded_len_rounds_up_to_quads(void)
{
    CHECK_EQ_INT(sl_base64_encoded_len(0), 0);
    CHECK_EQ_INT(sl_base64_encoded_len(1), 4);
    CHECK_EQ_INT(sl_base64_encoded_len(2), 4);
    CHECK_EQ_INT(sl_base64_encoded_len(3), 4);
    CHECK_EQ_INT(sl_base64_encoded_len(4), 8);
    CHECK_EQ_INT(sl_base64_encoded_len(5), 8);
    CHECK_EQ_INT(sl_base64_encoded_len(6), 8);
    CHECK_EQ_INT(sl_base64_encoded_len(7), 12);
}

static const struct {
    const char *plain, *enc;
} rfc4648[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
    {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};
#define NRFC (sizeof rfc4648 / sizeof *rfc4648)

static void base64_encode_rfc4648_vectors(void)
{
    for (size_t i = 0; i < NRFC; i++) {
        sl_buf_t b = SL_BUF_INIT;
        sl_buf_append_str(&b, "x"); /* appends, keeps what is there */
        size_t n = strlen(rfc4648[i].plain);
        char *p = exact_copy(rfc4648[i].plain, n);
        CHECK_EQ_INT(sl_base64_encode_append(&b, (const unsigned char *)p, n), 0);
        CHECK_EQ_INT(b.len, 1 + sl_base64_encoded_len(n));
        CHECK_EQ_INT(b.data[0], 'x');
        CHECK_STR(b.data + 1, b.len - 1, rfc4648[i].enc);
        free(p);
        sl_buf_free(&b);
    }
}

static void base64_encode_empty_input_into_empty_buffer(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_base64_encode_append(&b, (const unsigned char *)"", 0), 0);
    CHECK_EQ_INT(b.len, 0);
    sl_buf_free(&b);
}

static void base64_encode_lengths_0_to_5_all_byte_values(void)
{
    /* 0x00/0xff/0xfb/0xfc patterns exercise the '+' and '/' characters and
     * the high bits. */
    static const unsigned char in[5] = {0xfb, 0xff, 0xbf, 0x00, 0xfc};
    static const char *expect[6] = {"", "+w==", "+/8=", "+/+/", "+/+/AA==", "+/+/APw="};
    for (size_t n = 0; n <= 5; n++) {
        sl_buf_t b = SL_BUF_INIT;
        sl_buf_append_str(&b, "."); /* keep data non-NULL */
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, in, n);
        CHECK_EQ_INT(sl_base64_encode_append(&b, p, n), 0);
        CHECK_STR(b.data + 1, b.len - 1, expect[n]);
        CHECK_EQ_INT(b.len - 1, sl_base64_encoded_len(n));
        free(p);
        sl_buf_free(&b);
    }
}

static void base64_decode_rfc4648_vectors_with_padding(void)
{
    for (size_t i = 0; i < NRFC; i++) {
        unsigned char *o;
        long r = b64dec_str(rfc4648[i].enc, &o);
        CHECK_MEM(o, r < 0 ? 0 : (size_t)r, rfc4648[i].plain, strlen(rfc4648[i].plain));
        CHECK_EQ_INT(r, (long)strlen(rfc4648[i].plain));
        free(o);
    }
}

static void base64_decode_without_padding(void)
{
    static const struct {
        const char *enc, *plain;
    } v[] = {
        {"Zg", "f"}, {"Zm8", "fo"}, {"Zm9vYg", "foob"}, {"Zm9vYmE", "fooba"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        unsigned char *o;
        long r = b64dec_str(v[i].enc, &o);
        CHECK_EQ_INT(r, (long)strlen(v[i].plain));
        CHECK_MEM(o, r < 0 ? 0 : (size_t)r, v[i].plain, strlen(v[i].plain));
        free(o);
    }
    /* Partial padding is fine too. */
    unsigned char *o;
    long r = b64dec_str("Zg=", &o);
    CHECK_EQ_INT(r, 1);
    CHECK_MEM(o, r < 0 ? 0 : (size_t)r, "f", 1);
    free(o);
}

static void base64_decode_empty_input(void)
{
    unsigned char *o;
    CHECK_EQ_INT(b64dec("", 0, &o), 0);
    free(o);
    CHECK_EQ_INT(b64dec_rc("=="), 0);
}

static void base64_decode_accepts_url_safe_alphabet(void)
{
    unsigned char *o;
    /* 0xfb 0xff 0xbf is "+/+/" standard, "-_-_" url-safe. */
    long r = b64dec_str("-_-_", &o);
    CHECK_EQ_INT(r, 3);
    CHECK_MEM(o, r < 0 ? 0 : (size_t)r, "\xfb\xff\xbf", 3);
    free(o);
    r = b64dec_str("+/+/", &o);
    CHECK_EQ_INT(r, 3);
    CHECK_MEM(o, r < 0 ? 0 : (size_t)r, "\xfb\xff\xbf", 3);
    free(o);
    /* Mixed alphabets in one string, no padding. */
    r = b64dec_str("+_-/APw", &o);
    CHECK_EQ_INT(r, 5);
    CHECK_MEM(o, r < 0 ? 0 : (size_t)r, "\xfb\xff\xbf\x00\xfc", 5);
    free(o);
}

static void base64_decode_rejects_invalid_characters(void)
{
    CHECK_EQ_INT(b64dec_rc("Zm9v!A=="), -1);
    CHECK_EQ_INT(b64dec_rc("Zm 9"), -1);
    CHECK_EQ_INT(b64dec_rc("Zm\n9"), -1);
    CHECK_EQ_INT(b64dec_rc("Zm9v.A"), -1);
    CHECK_EQ_INT(b64dec_rc("Zm9*"), -1);
    CHECK_EQ_INT(b64dec_rc("Zm9v\x1e"), -1);
    CHECK_EQ_INT(b64dec_rc("Z=g="), -1);  /* padding inside */
    CHECK_EQ_INT(b64dec_rc("=Zm9"), -1);
    CHECK_EQ_INT(b64dec_rc("Zm\x80v"), -1);
    CHECK_EQ_INT(b64dec_rc_n("Zm\0v", 4), -1);
}

static void base64_decode_rejects_impossible_lengths(void)
{
    /* A lone character carries only 6 bits: n % 4 == 1 cannot be. */
    CHECK_EQ_INT(b64dec_rc("Z"), -1);
    CHECK_EQ_INT(b64dec_rc("Z==="), -1);
    CHECK_EQ_INT(b64dec_rc("Zm9vY"), -1);
    CHECK_EQ_INT(b64dec_rc("Zm9vY="), -1);
    CHECK_EQ_INT(b64dec_rc("Zm9vYmFyZ"), -1);
}

static void base64_round_trips_random_bytes_of_many_lengths(void)
{
    for (size_t n = 0; n <= 300; n++) {
        unsigned char *src = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            src[i] = (unsigned char)(rng() >> 24);
        sl_buf_t b = SL_BUF_INIT;
        sl_buf_append_byte(&b, '#');
        CHECK_EQ_INT(sl_base64_encode_append(&b, src, n), 0);
        CHECK_EQ_INT(b.len - 1, sl_base64_encoded_len(n));
        unsigned char *o;
        long r = b64dec(b.data + 1, b.len - 1, &o);
        CHECK_EQ_INT(r, (long)n);
        CHECK_MEM(o, r < 0 ? 0 : (size_t)r, src, n);
        /* And without the padding. */
        size_t m = b.len - 1;
        while (m > 0 && b.data[1 + m - 1] == '=')
            m--;
        free(o);
        r = b64dec(b.data + 1, m, &o);
        CHECK_EQ_INT(r, (long)n);
        CHECK_MEM(o, r < 0 ? 0 : (size_t)r, src, n);
        free(o);
        free(src);
        sl_buf_free(&b);
    }
}

static void base64_decode_in_place_over_its_own_bytes(void)
{
    /* The Engine.IO payload decoder decodes a record over itself. */
    char *s = exact_copy("Zm9vYmFy", 8);
    long r = sl_base64_decode(s, 8, (unsigned char *)s);
    CHECK_EQ_INT(r, 6);
    CHECK_MEM(s, r < 0 ? 0 : (size_t)r, "foobar", 6);
    free(s);
}


static void buf_append_u64_writes_decimal_digits(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sl_buf_append_u64(&b, 0), 0);
    CHECK_EQ_INT(sl_buf_append_byte(&b, ' '), 0);
    CHECK_EQ_INT(sl_buf_append_u64(&b, 9), 0);
    CHECK_EQ_INT(sl_buf_append_byte(&b, ' '), 0);
    CHECK_EQ_INT(sl_buf_append_u64(&b, 10), 0);
    CHECK_EQ_INT(sl_buf_append_byte(&b, ' '), 0);
    CHECK_EQ_INT(sl_buf_append_u64(&b, UINT64_MAX), 0);
    CHECK_STR(b.data, b.len, "0 9 10 18446744073709551615");
    sl_buf_free(&b);
    /* Every digit count, at each power of ten and either side of it, as
     * printf writes them, and not a byte past them. */
    for (uint64_t p = 1, k = 0; k < 20; k++, p *= 10) {
        uint64_t vs[] = {p - 1, p, p + 1, p * 9 + (p - 1)};
        for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
            char want[32], got[32];
            memset(got, 'x', sizeof got);
            int n = snprintf(want, sizeof want, "%llu", (unsigned long long)vs[i]);
            char *end = sl_u64_put(got, vs[i]);
            CHECK_EQ_INT(end - got, n);
            CHECK_STR(got, (size_t)(end - got), want);
            CHECK(*end == 'x');
        }
    }
}

TL_SUITE(buf, NULL, NULL,
         TL_TEST(buf_append_u64_writes_decimal_digits),
         TL_TEST(buf_init_is_empty),
         TL_TEST(buf_append_concatenates_in_order),
         TL_TEST(buf_append_zero_bytes_is_a_noop),
         TL_TEST(buf_append_large_blocks_grows_and_keeps_content),
         TL_TEST(buf_reserve_grows_capacity_without_changing_len),
         TL_TEST(buf_reserve_refuses_size_overflow_and_keeps_buffer),
         TL_TEST(buf_appendf_small_formats),
         TL_TEST(buf_appendf_at_and_around_the_256_byte_boundary),
         TL_TEST(buf_appendf_longer_than_256_bytes),
         TL_TEST(buf_consume_drops_prefix),
         TL_TEST(buf_consume_all_or_more_empties),
         TL_TEST(buf_reset_keeps_memory),
         TL_TEST(buf_free_releases_and_buffer_is_reusable),
         TL_TEST(rcbuf_new_copies_bytes_with_one_ref),
         TL_TEST(rcbuf_new_empty),
         TL_TEST(rcbuf_reuse_keeps_live_buffers_apart),
         TL_TEST(rcbuf_alloc_is_writable_and_terminated),
         TL_TEST(rcbuf_ref_and_unref_free_on_last_release),
         TL_TEST(rcbuf_unref_null_is_fine),
         TL_TEST(base64_encoded_len_rounds_up_to_quads),
         TL_TEST(base64_encode_rfc4648_vectors),
         TL_TEST(base64_encode_empty_input_into_empty_buffer),
         TL_TEST(base64_encode_lengths_0_to_5_all_byte_values),
         TL_TEST(base64_decode_rfc4648_vectors_with_padding),
         TL_TEST(base64_decode_without_padding),
         TL_TEST(base64_decode_empty_input),
         TL_TEST(base64_decode_accepts_url_safe_alphabet),
         TL_TEST(base64_decode_rejects_invalid_characters),
         TL_TEST(base64_decode_rejects_impossible_lengths),
         TL_TEST(base64_round_trips_random_bytes_of_many_lengths),
         TL_TEST(base64_decode_in_place_over_its_own_bytes));
