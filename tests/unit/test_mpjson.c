/* Unit tests of mpjson: JSON <-> MessagePack, byte for byte as notepack.io.
 *
 * Every expected value below was produced by notepack.io 3.0.1 itself under
 * Node 20 when these tests were written (notepack is not a dependency of the
 * repo). To regenerate: `npm pack notepack.io@3` in a scratch directory, then
 * a Node script that, for each corpus entry:
 *   - JSON->MessagePack: mp = encode(reconstruct(JSON.parse(json))), where
 *     reconstruct swaps every object whose _placeholder === true for the
 *     Buffer ATT[num] (only for entries with atts = 1);
 *   - MessagePack->JSON: back = JSON.stringify(deconstruct(decode(mp))),
 *     where deconstruct is socket.io-parser's deconstructPacket (Buffers and
 *     ArrayBuffers become {"_placeholder":true,"num":n} in document order,
 *     Dates are left to toJSON), and the attachments it pulls out are listed
 *     as "len:fnv1a64,..."; a top-level undefined counts as "null";
 *   - numbers: String(x), and encode(JSON.parse(String(x))), for x among
 *     hand-picked values, every 13th power of two, every power of two whose
 *     closest 16-digit decimal doesn't read back (the upper-neighbour case
 *     of Number::toString), and pseudo-random bit patterns;
 * and prints them as the C tables at the end of this file. Outputs longer
 * than 600 bytes are kept as length + FNV-1a 64 only. The big inputs
 * (gen != 0) are built by gen_json() below exactly as the script built them;
 * the attachment set ATT[k] has ATT_LEN[k] bytes, byte i = (i*7 + k) & 0xff.
 *
 * Inputs always live in exactly-sized heap blocks, so ASan sees any read
 * past the end; truncation tests try every cut point. */
#include "sio/mpjson.h"
#include "testlib.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct vec {
    const char *name;
    const char *json; /* NULL: built by gen_json(gen) */
    int gen, atts;    /* atts: pass the attachment set */
    size_t mp_len;
    uint64_t mp_fnv;
    const char *mp_hex; /* NULL when long */
    size_t back_len;
    uint64_t back_fnv;
    const char *back;      /* NULL when long */
    const char *back_atts; /* attachments to_json reports, "len:fnv,..." */
} vec_t;

typedef struct mpvec {
    const char *name, *hex;
    size_t used; /* bytes of the first value */
    const char *json, *atts;
} mpvec_t;

typedef struct numvec {
    const char *bits; /* IEEE double, big-endian hex */
    const char *text; /* String(x) */
    const char *mp;   /* encode(JSON.parse(String(x))) */
} numvec_t;

/* The tables are at the end of the file. */
extern const vec_t vecs[];
extern const size_t nvecs;
extern const mpvec_t mpvecs[];
extern const size_t nmpvecs;
extern const numvec_t numvecs[];
extern const size_t nnumvecs;

/* ---- helpers ------------------------------------------------------------ */

static uint64_t fnv64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static char *exact_copy(const void *s, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, s, n);
    return c;
}

static const size_t ATT_LEN[] = {5, 300, 70000, 255, 256, 0};
#define NATT (sizeof ATT_LEN / sizeof ATT_LEN[0])
static sio_packet_bin_t ATT[NATT];
static char *att_mem[NATT];

static void atts_init(void)
{
    for (size_t k = 0; k < NATT; k++) {
        att_mem[k] = malloc(ATT_LEN[k] ? ATT_LEN[k] : 1);
        for (size_t i = 0; i < ATT_LEN[k]; i++)
            att_mem[k][i] = (char)((i * 7 + k) & 0xff);
        ATT[k].data = att_mem[k];
        ATT[k].len = ATT_LEN[k];
    }
}

static void atts_free(void)
{
    for (size_t k = 0; k < NATT; k++)
        free(att_mem[k]);
}

/* The big inputs, as the generator built them. */
static char *gen_json(int id, size_t *n)
{
    sl_buf_t b = SL_BUF_INIT;
    switch (id) {
    case 1:
    case 2:
        sl_buf_append_byte(&b, '"');
        for (int i = 0; i < (id == 1 ? 65535 : 65536); i++)
            sl_buf_append_byte(&b, 'a');
        sl_buf_append_byte(&b, '"');
        break;
    case 3:
    case 4:
        sl_buf_append_byte(&b, '[');
        for (long i = 0; i < (id == 3 ? 65535 : 65536); i++)
            sl_buf_appendf(&b, "%s%ld", i ? "," : "", (i * 37) % 70000);
        sl_buf_append_byte(&b, ']');
        break;
    case 5:
    case 6:
        sl_buf_append_byte(&b, '{');
        for (long i = 0; i < (id == 5 ? 65535 : 65536); i++)
            sl_buf_appendf(&b, "%s\"k%ld\":%ld", i ? "," : "", i, i);
        sl_buf_append_byte(&b, '}');
        break;
    case 7:
        sl_buf_append_byte(&b, '"');
        for (int i = 0; i < 20000; i++)
            sl_buf_append_str(&b, "\\u00e9");
        sl_buf_append_byte(&b, '"');
        break;
    case 8:
        sl_buf_append_byte(&b, '"');
        for (int i = 0; i < 40000; i++)
            sl_buf_append_str(&b, "\xc3\xa9");
        sl_buf_append_byte(&b, '"');
        break;
    case 9:
        sl_buf_append_byte(&b, '"');
        for (int i = 0; i < 40; i++)
            sl_buf_append_byte(&b, 'x');
        sl_buf_append_str(&b, "\\ud800");
        for (int i = 0; i < 40; i++)
            sl_buf_append_byte(&b, 'y');
        sl_buf_append_str(&b, "\\udc00\"");
        break;
    }
    char *c = exact_copy(b.data, b.len);
    *n = b.len;
    sl_buf_free(&b);
    return c;
}

static char *vec_json(const vec_t *v, size_t *n)
{
    if (v->gen)
        return gen_json(v->gen, n);
    *n = strlen(v->json);
    return exact_copy(v->json, *n);
}

/* What to_json reported through the callback: each attachment's length
 * and hash, taken at once (the input is freed before the checks). */
typedef struct rec {
    struct {
        size_t len;
        uint64_t fnv;
    } v[64];
    int n;
    int fail_at; /* return -5 on this call (0-based); -1: never */
} rec_t;

static int rec_cb(void *ud, const char *data, size_t len)
{
    rec_t *r = ud;
    if (r->n == r->fail_at || r->n == 64)
        return -5;
    r->v[r->n].len = len;
    r->v[r->n].fnv = fnv64(data, len);
    return r->n++;
}

static void rec_sig(const rec_t *r, char *o, size_t cap)
{
    size_t k = 0;
    o[0] = '\0';
    for (int i = 0; i < r->n && k < cap; i++)
        k += (size_t)snprintf(o + k, cap - k, "%s%zu:%016llx", i ? "," : "", r->v[i].len,
                              (unsigned long long)r->v[i].fnv);
}

/* from_json on an exact-size copy; returns rc, output in *out. */
static int enc_json(sl_buf_t *out, const char *json, size_t n, int atts)
{
    char *in = exact_copy(json, n);
    int rc = sl_mpjson_from_json(out, in, n, atts ? ATT : NULL, atts ? NATT : 0);
    free(in);
    return rc;
}

static int enc_str(sl_buf_t *out, const char *json) { return enc_json(out, json, strlen(json), 0); }

/* to_json of one value in an exact-size copy; checks *p moved by used. */
static int dec_mp(sl_buf_t *out, const char *mp, size_t n, rec_t *r)
{
    char *in = exact_copy(mp, n);
    const char *p = in;
    int rc = sl_mpjson_to_json(out, &p, in + n, r ? rec_cb : NULL, r);
    if (rc == 0)
        CHECK(p > in && p <= in + n);
    else
        CHECK(p == in);
    free(in);
    return rc;
}

static int dec_hex(sl_buf_t *out, const char *hex, rec_t *r)
{
    size_t n;
    char *mp = tl_unhex(hex, &n);
    int rc = dec_mp(out, mp, n, r);
    free(mp);
    return rc;
}

#define CHECK_HEX(buf, hex)                                                    \
    do {                                                                       \
        char tl_h[2 * 4096 + 1];                                               \
        size_t tl_n = (buf).len > 4096 ? 4096 : (buf).len;                     \
        tl_hex((buf).data, tl_n, tl_h);                                         \
        CHECK_STR(tl_h, strlen(tl_h), hex);                                    \
    } while (0)

/* ---- JSON -> MessagePack ------------------------------------------------ */

static void from_json_matches_notepack_byte_for_byte(void)
{
    for (size_t i = 0; i < nvecs; i++) {
        const vec_t *v = &vecs[i];
        size_t n;
        char *json = vec_json(v, &n);
        sl_buf_t out = SL_BUF_INIT;
        int rc = enc_json(&out, json, n, v->atts);
        int before = tl_failed_checks;
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(out.len, v->mp_len);
        CHECK(fnv64(out.data, out.len) == v->mp_fnv);
        if (v->mp_hex)
            CHECK_HEX(out, v->mp_hex);
        if (tl_failed_checks != before)
            fprintf(stderr, "  ^ vector \"%s\"\n", v->name);
        sl_buf_free(&out);
        free(json);
    }
}

static void from_json_appends_after_existing_bytes(void)
{
    sl_buf_t out = SL_BUF_INIT;
    sl_buf_append(&out, "\x93", 1);
    CHECK_EQ_INT(enc_str(&out, "1"), 0);
    CHECK_EQ_INT(enc_str(&out, "\"a\""), 0);
    CHECK_EQ_INT(enc_str(&out, "{}"), 0);
    CHECK_HEX(out, "9301a16180");
    sl_buf_free(&out);
}

static void from_json_rejects_malformed_json(void)
{
    static const char *bad[] = {
        "", " ", "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
        "{a:1}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "[1]]", "[1] x", "1 2", "01", "-",
        "-a", "1.", ".5", "1.e5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "-Infinity",
        "tru", "true1", "nul", "nulll", "falsey", "'a'", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\u12g4\"", "\"\\", "\"a\tb\"", "\"a\nb\"", "[\"\\u\"]", "{\"a\":1}}", "[1,[2,]]",
        "/**/1", "[1]//", "\"\\U0041\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_buf_t out = SL_BUF_INIT;
        sl_buf_append(&out, "xy", 2);
        int rc = enc_str(&out, bad[i]);
        if (rc != SL_MPJSON_E_JSON)
            fprintf(stderr, "  input %s gave %d\n", bad[i], rc);
        CHECK_EQ_INT(rc, SL_MPJSON_E_JSON);
        CHECK_EQ_INT(out.len, 2);
        sl_buf_free(&out);
    }
    /* A NUL inside the span is a byte like any other, so it is an error,
     * and bytes after len are never looked at. */
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(enc_json(&out, "[1,\0 2]", 7, 0), SL_MPJSON_E_JSON);
    CHECK_EQ_INT(enc_json(&out, "[1]]]]", 3, 0), 0);
    CHECK_HEX(out, "9101");
    sl_buf_free(&out);
}

static int first_non_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return *s;
}

static void from_json_fails_at_every_truncation(void)
{
    size_t tried = 0;
    for (size_t i = 0; i < nvecs; i++) {
        const vec_t *v = &vecs[i];
        if (v->gen || !strchr("[{\"", first_non_ws(v->json)))
            continue;
        size_t n = strlen(v->json);
        while (n && strchr(" \t\n\r", v->json[n - 1]))
            n--; /* cutting trailing whitespace leaves a valid text */
        for (size_t cut = 0; cut < n; cut++) {
            sl_buf_t out = SL_BUF_INIT;
            int rc = enc_json(&out, v->json, cut, v->atts);
            if (rc >= 0)
                fprintf(stderr, "  \"%s\" cut at %zu accepted\n", v->name, cut);
            CHECK(rc < 0);
            CHECK_EQ_INT(out.len, 0);
            sl_buf_free(&out);
            tried++;
        }
    }
    CHECK(tried > 2000);
}

static void from_json_refuses_invalid_utf8(void)
{
    static const char *bad[] = {
        "\"\xff\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"",
        "\"\xe2\x82\"", "\"a\xe2\x82", "\"\xf0\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\x80\"", "{\"\xfe\":1}", "[\"ok\",\"\xc3\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_buf_t out = SL_BUF_INIT;
        CHECK_EQ_INT(enc_str(&out, bad[i]), SL_MPJSON_E_UTF8);
        CHECK_EQ_INT(out.len, 0);
        sl_buf_free(&out);
    }
    /* The extremes of each sequence length are fine. */
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(enc_str(&out, "\"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""), 0);
    CHECK_HEX(out, "b37fc280dfbfe0a080efbfbff0908080f48fbfbf");
    sl_buf_free(&out);
}

/* notepack writes strings of up to 32 UTF-16 units with its own encoder,
 * which garbles a lone surrogate into a 4-byte sequence and swallows the
 * next unit ("\ud800" -> a4 f0908080, "a\ud800b" -> a5 61 f09081a2);
 * longer strings go through Node's encoder, which writes U+FFFD (the "str
 * lone surrogates long" and "gen 9" vectors). We write U+FFFD always. */
static void from_json_lone_surrogate_becomes_replacement_char(void)
{
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(enc_str(&out, "[\"\\ud800\",\"a\\ud800b\",\"\\udc00\\ud800\",\"\\ud800\\u0041\"]"), 0);
    CHECK_HEX(out, "94a3efbfbda561efbfbd62a6efbfbdefbfbda4efbfbd41");
    sl_buf_free(&out);
}

static void from_json_nesting_limit_is_128(void)
{
    sl_buf_t b = SL_BUF_INIT, out = SL_BUF_INIT;
    for (int i = 0; i < 128; i++)
        sl_buf_append_byte(&b, '[');
    for (int i = 0; i < 128; i++)
        sl_buf_append_byte(&b, ']');
    CHECK_EQ_INT(enc_json(&out, b.data, b.len, 0), 0);
    CHECK_EQ_INT(out.len, 128);
    CHECK((unsigned char)out.data[126] == 0x91 && (unsigned char)out.data[127] == 0x90);
    sl_buf_reset(&b);
    sl_buf_reset(&out);
    for (int i = 0; i < 129; i++)
        sl_buf_append_byte(&b, '[');
    for (int i = 0; i < 129; i++)
        sl_buf_append_byte(&b, ']');
    CHECK_EQ_INT(enc_json(&out, b.data, b.len, 0), SL_MPJSON_E_DEPTH);
    CHECK_EQ_INT(out.len, 0);
    /* Objects count the same, and a bomb fails fast without recursing. */
    sl_buf_reset(&b);
    for (int i = 0; i < 128; i++)
        sl_buf_append_str(&b, "{\"a\":");
    sl_buf_append_str(&b, "1");
    for (int i = 0; i < 128; i++)
        sl_buf_append_byte(&b, '}');
    CHECK_EQ_INT(enc_json(&out, b.data, b.len, 0), 0);
    CHECK_EQ_INT(out.len, 128 * 3 + 1);
    sl_buf_reset(&b);
    sl_buf_reset(&out);
    for (int i = 0; i < 1000000; i++)
        sl_buf_append_byte(&b, '[');
    CHECK_EQ_INT(enc_json(&out, b.data, b.len, 0), SL_MPJSON_E_DEPTH);
    sl_buf_reset(&b);
    for (int i = 0; i < 100000; i++)
        sl_buf_append_str(&b, "{\"\":");
    CHECK_EQ_INT(enc_json(&out, b.data, b.len, 0), SL_MPJSON_E_DEPTH);
    sl_buf_free(&b);
    sl_buf_free(&out);
}

static void from_json_refuses_placeholder_without_valid_num(void)
{
    static const char *bad[] = {
        "[{\"_placeholder\":true}]",
        "[{\"_placeholder\":true,\"num\":6}]", /* natts is 6 */
        "[{\"_placeholder\":true,\"num\":-1}]",
        "[{\"_placeholder\":true,\"num\":1.0}]",
        "[{\"_placeholder\":true,\"num\":1e0}]",
        "[{\"_placeholder\":true,\"num\":\"0\"}]",
        "[{\"_placeholder\":true,\"num\":null}]",
        "[{\"_placeholder\":true,\"num\":99999999999999999999}]",
        "{\"a\":[1,{\"b\":{\"_placeholder\":true,\"num\":0,\"num\":7}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_buf_t out = SL_BUF_INIT;
        CHECK_EQ_INT(enc_json(&out, bad[i], strlen(bad[i]), 1), SL_MPJSON_E_PLACEHOLDER);
        CHECK_EQ_INT(out.len, 0);
        sl_buf_free(&out);
    }
    /* A non-NULL empty set: every placeholder is out of range. */
    sl_buf_t out = SL_BUF_INIT;
    const char *one = "[{\"_placeholder\":true,\"num\":0}]";
    CHECK_EQ_INT(sl_mpjson_from_json(&out, one, strlen(one), ATT, 0), SL_MPJSON_E_PLACEHOLDER);
    sl_buf_free(&out);
}

/* ---- MessagePack -> JSON ------------------------------------------------ */

static void to_json_round_trip_matches_json_stringify(void)
{
    for (size_t i = 0; i < nvecs; i++) {
        const vec_t *v = &vecs[i];
        size_t n;
        char *json = vec_json(v, &n);
        sl_buf_t mp = SL_BUF_INIT, out = SL_BUF_INIT;
        int before = tl_failed_checks;
        CHECK_EQ_INT(enc_json(&mp, json, n, v->atts), 0);
        rec_t r = {.n = 0, .fail_at = -1};
        CHECK_EQ_INT(dec_mp(&out, mp.data, mp.len, &r), 0);
        CHECK_EQ_INT(out.len, v->back_len);
        CHECK(fnv64(out.data, out.len) == v->back_fnv);
        if (v->back)
            CHECK_STR(out.data, out.len, v->back);
        char sig[2048];
        rec_sig(&r, sig, sizeof sig);
        CHECK_STR(sig, strlen(sig), v->back_atts);
        if (tl_failed_checks != before)
            fprintf(stderr, "  ^ vector \"%s\"\n", v->name);
        sl_buf_free(&mp);
        sl_buf_free(&out);
        free(json);
    }
}

static void to_json_matches_node_for_handmade_msgpack(void)
{
    for (size_t i = 0; i < nmpvecs; i++) {
        const mpvec_t *v = &mpvecs[i];
        size_t n;
        char *mp = tl_unhex(v->hex, &n);
        char *in = exact_copy(mp, n);
        const char *p = in;
        sl_buf_t out = SL_BUF_INIT;
        rec_t r = {.n = 0, .fail_at = -1};
        int before = tl_failed_checks;
        CHECK_EQ_INT(sl_mpjson_to_json(&out, &p, in + n, rec_cb, &r), 0);
        CHECK_EQ_INT(p - in, v->used);
        CHECK_STR(out.data, out.len, v->json);
        char sig[2048];
        rec_sig(&r, sig, sizeof sig);
        CHECK_STR(sig, strlen(sig), v->atts);
        if (tl_failed_checks != before)
            fprintf(stderr, "  ^ vector \"%s\"\n", v->name);
        sl_buf_free(&out);
        free(in);
        free(mp);
    }
}

static void to_json_fails_at_every_truncation(void)
{
    size_t tried = 0;
    for (size_t i = 0; i < nvecs + nmpvecs; i++) {
        char *mp;
        size_t n;
        if (i < nvecs) {
            if (!vecs[i].mp_hex)
                continue; /* every cut of a 64 KiB value is O(n^2): skip */
            mp = tl_unhex(vecs[i].mp_hex, &n);
        } else {
            mp = tl_unhex(mpvecs[i - nvecs].hex, &n);
            n = mpvecs[i - nvecs].used;
        }
        for (size_t cut = 0; cut < n; cut++) {
            sl_buf_t out = SL_BUF_INIT;
            sl_buf_append(&out, "ab", 2);
            rec_t r = {.n = 0, .fail_at = -1};
            int rc = dec_mp(&out, mp, cut, &r);
            CHECK_EQ_INT(rc, SL_MPJSON_E_MSGPACK);
            CHECK_EQ_INT(out.len, 2);
            CHECK_EQ_INT(r.n, 0); /* validated before any callback */
            sl_buf_free(&out);
            tried++;
        }
        free(mp);
    }
    CHECK(tried > 2000);
}

/* msgpuck's mp_check keeps its count of pending values in an int and
 * accepts all of these (0xc1 too); sl_mpjson_skip must not. */
static void to_json_refuses_forged_lengths(void)
{
    static const char *bad[] = {
        "ddffffffff", "dd7fffffff01", "df80000000", "dfffffffff", "dcffff", "deffff0101",
        "dbffffffff", "c6ffffffff", "c9ffffffff01", "c8ffff01", "d9ff61", "c4ff", "c1",
        "91c1", "81c1c0", "9fdd0000000f", "93ddffffffffddffffffff01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_buf_t out = SL_BUF_INIT;
        rec_t r = {.n = 0, .fail_at = -1};
        CHECK_EQ_INT(dec_hex(&out, bad[i], &r), SL_MPJSON_E_MSGPACK);
        CHECK_EQ_INT(out.len, 0);
        size_t n;
        char *mp = tl_unhex(bad[i], &n);
        const char *p = mp;
        CHECK_EQ_INT(sl_mpjson_skip(&p, mp + n), SL_MPJSON_E_MSGPACK);
        CHECK(p == mp);
        free(mp);
        sl_buf_free(&out);
    }
}

static void to_json_nesting_limit_is_128(void)
{
    sl_buf_t mp = SL_BUF_INIT, out = SL_BUF_INIT;
    for (int i = 0; i < 128; i++)
        sl_buf_append_byte(&mp, (char)0x91);
    sl_buf_append_byte(&mp, (char)0xc0);
    CHECK_EQ_INT(dec_mp(&out, mp.data, mp.len, NULL), 0);
    CHECK_EQ_INT(out.len, 128 * 2 + 4);
    /* One more array level, or a placeholder object at the bottom, is one
     * too many on the JSON side; [type, placeholder] takes two. */
    static const char *tails[] = {"91c0", "c40101", "c7010001", "d40501"};
    static const int extra[] = {1, 1, 1, 2};
    for (size_t t = 0; t < 4; t++) {
        for (int fits = 0; fits < 2; fits++) {
            int levels = 128 - extra[t] + (fits ? 0 : 1);
            sl_buf_reset(&mp);
            sl_buf_reset(&out);
            for (int i = 0; i < levels; i++)
                sl_buf_append_byte(&mp, (char)0x91);
            size_t tn;
            char *tail = tl_unhex(tails[t], &tn);
            sl_buf_append(&mp, tail, tn);
            free(tail);
            rec_t r = {.n = 0, .fail_at = -1};
            CHECK_EQ_INT(dec_mp(&out, mp.data, mp.len, &r), fits ? 0 : SL_MPJSON_E_DEPTH);
        }
    }
    /* Maps count too; a million-deep bomb is refused without recursing. */
    sl_buf_reset(&mp);
    for (int i = 0; i < 129; i++)
        sl_buf_append(&mp, "\x81\xa1\x61", 3);
    sl_buf_append_byte(&mp, 0x01);
    CHECK_EQ_INT(dec_mp(&out, mp.data, mp.len, NULL), SL_MPJSON_E_DEPTH);
    sl_buf_reset(&mp);
    for (int i = 0; i < 1000000; i++)
        sl_buf_append_byte(&mp, (char)0x91);
    sl_buf_append_byte(&mp, (char)0xc0);
    CHECK_EQ_INT(dec_mp(&out, mp.data, mp.len, NULL), SL_MPJSON_E_DEPTH);
    sl_buf_free(&mp);
    sl_buf_free(&out);
}

static void to_json_refuses_invalid_utf8_in_strings_and_keys(void)
{
    static const char *bad[] = {
        "a1ff", "a2c0af", "a3eda080", "a3f09080", "a4f4908080", "91a180", "81a1fe01",
        "d90180", "82a16101a1c302", "da0001c3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_buf_t out = SL_BUF_INIT;
        CHECK_EQ_INT(dec_hex(&out, bad[i], NULL), SL_MPJSON_E_UTF8);
        CHECK_EQ_INT(out.len, 0);
        sl_buf_free(&out);
    }
}

static void to_json_refuses_container_and_binary_keys(void)
{
    static const char *bad[] = {"8190c0", "8180c0", "81c40101c0", "81d4050101", "81d6ff00000001c0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_buf_t out = SL_BUF_INIT;
        rec_t r = {.n = 0, .fail_at = -1};
        CHECK_EQ_INT(dec_hex(&out, bad[i], &r), SL_MPJSON_E_KEY);
        CHECK_EQ_INT(r.n, 0);
        sl_buf_free(&out);
    }
}

static void to_json_timestamp_96_with_wrong_length_is_malformed(void)
{
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(dec_hex(&out, "c70bff0000000000000000000001", NULL), SL_MPJSON_E_MSGPACK);
    CHECK_EQ_INT(dec_hex(&out, "c70dff00000000000000000000000100", NULL), SL_MPJSON_E_MSGPACK);
    CHECK_EQ_INT(out.len, 0);
    sl_buf_free(&out);
}

static void to_json_callback_abort_restores_output(void)
{
    sl_buf_t out = SL_BUF_INIT;
    sl_buf_append(&out, "keep", 4);
    rec_t r = {.n = 0, .fail_at = 1};
    CHECK_EQ_INT(dec_hex(&out, "93c40101a178c40102", &r), -5);
    CHECK_STR(out.data, out.len, "keep");
    CHECK_EQ_INT(r.n, 1);
    /* No callback: binary is refused, plain data is fine. */
    CHECK_EQ_INT(dec_hex(&out, "91c40101", NULL), SL_MPJSON_E_TYPE);
    CHECK_EQ_INT(dec_hex(&out, "91d40501", NULL), SL_MPJSON_E_TYPE);
    CHECK_EQ_INT(dec_hex(&out, "92d400007b", NULL), 0);
    CHECK_STR(out.data, out.len, "keep[null,123]");
    sl_buf_free(&out);
}

/* ---- numbers -------------------------------------------------------------- */

static double bits_to_double(const char *hex)
{
    uint64_t u = strtoull(hex, NULL, 16);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void number_text_matches_js_tostring(void)
{
    for (size_t i = 0; i < nnumvecs; i++) {
        char t[SL_JSON_NUMBER_MAX];
        size_t n = sl_json_format_number(bits_to_double(numvecs[i].bits), t);
        CHECK(n < SL_JSON_NUMBER_MAX);
        CHECK_STR(t, n, numvecs[i].text);
    }
    char t[SL_JSON_NUMBER_MAX];
    CHECK_STR(t, sl_json_format_number(NAN, t), "NaN");
    CHECK_STR(t, sl_json_format_number(INFINITY, t), "Infinity");
    CHECK_STR(t, sl_json_format_number(-INFINITY, t), "-Infinity");
    CHECK_STR(t, sl_json_format_number(-0.0, t), "0");
    CHECK_STR(t, sl_json_format_number(-1.2345678901234567e-200, t), "-1.2345678901234567e-200");
}

static void number_json_encodes_like_notepack(void)
{
    for (size_t i = 0; i < nnumvecs; i++) {
        sl_buf_t out = SL_BUF_INIT;
        CHECK_EQ_INT(enc_str(&out, numvecs[i].text), 0);
        CHECK_HEX(out, numvecs[i].mp);
        sl_buf_free(&out);
    }
}

static void number_float64_decodes_to_js_text(void)
{
    for (size_t i = 0; i < nnumvecs; i++) {
        char hex[32];
        snprintf(hex, sizeof hex, "cb%s", numvecs[i].bits);
        sl_buf_t out = SL_BUF_INIT;
        CHECK_EQ_INT(dec_hex(&out, hex, NULL), 0);
        CHECK_STR(out.data, out.len, numvecs[i].text);
        sl_buf_free(&out);
    }
}

/* ---- envelope pieces ---------------------------------------------------- */

static void writers_build_the_envelope_node_builds(void)
{
    const char *data = "[\"event\",1,\"two\",{\"a\":[true,null]}]";
    sl_buf_t m = SL_BUF_INIT;
    CHECK_EQ_INT(sl_mpjson_put_array(&m, 3), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "uid123", 6), 0);
    CHECK_EQ_INT(sl_mpjson_put_map(&m, 3), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "type", 4), 0);
    CHECK_EQ_INT(sl_mpjson_put_number(&m, 2), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "data", 4), 0);
    CHECK_EQ_INT(sl_mpjson_from_json(&m, data, strlen(data), NULL, 0), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "nsp", 3), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "/", 1), 0);
    CHECK_EQ_INT(sl_mpjson_put_map(&m, 3), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "rooms", 5), 0);
    CHECK_EQ_INT(sl_mpjson_put_array(&m, 1), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "r1", 2), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "except", 6), 0);
    CHECK_EQ_INT(sl_mpjson_put_array(&m, 0), 0);
    CHECK_EQ_INT(sl_mpjson_put_str(&m, "flags", 5), 0);
    CHECK_EQ_INT(sl_mpjson_put_map(&m, 0), 0);
    CHECK_HEX(m, vecs[0].mp_hex);
    sl_buf_reset(&m);
    /* The rest of the writers, against notepack's bytes. */
    sl_mpjson_put_nil(&m);
    sl_mpjson_put_bool(&m, 1);
    sl_mpjson_put_bool(&m, 0);
    sl_mpjson_put_number(&m, NAN);
    sl_mpjson_put_number(&m, -0.0);
    sl_mpjson_put_bin(&m, "", 0);
    sl_mpjson_put_bin(&m, "\x01\x02", 2);
    sl_mpjson_put_str(&m, "", 0);
    CHECK_HEX(m, "c0c3c2cb7ff800000000000000c400c4020102a0");
    sl_buf_free(&m);
}

static void readers_walk_the_envelope(void)
{
    size_t n;
    char *msg = tl_unhex(vecs[0].mp_hex, &n);
    const char *p = msg, *end = msg + n, *s;
    uint32_t k, len;
    double num;
    CHECK_EQ_INT(sl_mpjson_read_array(&p, end, &k), 0);
    CHECK_EQ_INT(k, 3);
    CHECK_EQ_INT(sl_mpjson_read_str(&p, end, &s, &len), 0);
    CHECK_STR(s, len, "uid123");
    CHECK_EQ_INT(sl_mpjson_read_map(&p, end, &k), 0);
    CHECK_EQ_INT(k, 3);
    CHECK_EQ_INT(sl_mpjson_read_str(&p, end, &s, &len), 0);
    CHECK_STR(s, len, "type");
    CHECK_EQ_INT(sl_mpjson_read_number(&p, end, &num), 0);
    CHECK(num == 2);
    CHECK_EQ_INT(sl_mpjson_read_str(&p, end, &s, &len), 0);
    CHECK_STR(s, len, "data");
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(sl_mpjson_to_json(&out, &p, end, NULL, NULL), 0);
    CHECK_STR(out.data, out.len, "[\"event\",1,\"two\",{\"a\":[true,null]}]");
    CHECK_EQ_INT(sl_mpjson_read_str(&p, end, &s, &len), 0);
    CHECK_EQ_INT(sl_mpjson_read_str(&p, end, &s, &len), 0);
    CHECK_STR(s, len, "/");
    CHECK_EQ_INT(sl_mpjson_skip(&p, end), 0);
    CHECK(p == end);
    CHECK_EQ_INT(sl_mpjson_skip(&p, end), SL_MPJSON_E_MSGPACK); /* nothing left */
    sl_buf_free(&out);
    free(msg);
}

static void readers_refuse_wrong_types_and_short_input(void)
{
    static const struct {
        const char *hex;
        int which; /* 0 array, 1 map, 2 str, 3 number */
        int rc;
    } cases[] = {
        {"a161", 0, SL_MPJSON_E_TYPE},   {"90", 1, SL_MPJSON_E_TYPE},      {"c0", 2, SL_MPJSON_E_TYPE},
        {"a131", 3, SL_MPJSON_E_TYPE},   {"c40100", 2, SL_MPJSON_E_TYPE},  {"dc00", 0, SL_MPJSON_E_MSGPACK},
        {"dc0002c0", 0, SL_MPJSON_E_MSGPACK}, {"9201", 0, SL_MPJSON_E_MSGPACK}, {"8201c0", 1, SL_MPJSON_E_MSGPACK},
        {"de0001c0", 1, SL_MPJSON_E_MSGPACK}, {"a2", 2, SL_MPJSON_E_MSGPACK},   {"db000000", 2, SL_MPJSON_E_MSGPACK},
        {"cf00", 3, SL_MPJSON_E_MSGPACK},     {"ca000000", 3, SL_MPJSON_E_MSGPACK}, {"", 0, SL_MPJSON_E_MSGPACK},
        {"", 3, SL_MPJSON_E_MSGPACK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        char *b = tl_unhex(cases[i].hex, &n);
        const char *p = b, *s;
        uint32_t k, len;
        double d;
        int rc = cases[i].which == 0   ? sl_mpjson_read_array(&p, b + n, &k)
                 : cases[i].which == 1 ? sl_mpjson_read_map(&p, b + n, &k)
                 : cases[i].which == 2 ? sl_mpjson_read_str(&p, b + n, &s, &len)
                                       : sl_mpjson_read_number(&p, b + n, &d);
        CHECK_EQ_INT(rc, cases[i].rc);
        CHECK(p == b);
        free(b);
    }
    /* Numbers as JS sees them. */
    static const struct {
        const char *hex;
        double v;
    } nums[] = {{"7f", 127}, {"e0", -32}, {"cd0100", 256}, {"d1ff00", -256}, {"cfffffffffffffffff", 18446744073709551616.0},
                {"d38000000000000000", -9223372036854775808.0}, {"ca3fc00000", 1.5}, {"cb3ff8000000000000", 1.5}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        size_t n;
        char *b = tl_unhex(nums[i].hex, &n);
        const char *p = b;
        double d = 0;
        CHECK_EQ_INT(sl_mpjson_read_number(&p, b + n, &d), 0);
        CHECK(d == nums[i].v);
        CHECK(p == b + n);
        free(b);
    }
}

static void skip_steps_over_exactly_one_value(void)
{
    static const struct {
        const char *hex;
        size_t len;
    } cases[] = {
        {"0102", 1}, {"c0c0", 1}, {"92a161c401ff00", 6}, {"82a16191c3a162d4000000", 10},
        {"c70cff000000000000000000000001c0", 15}, {"d8010102030405060708090a0b0c0d0e0f10ff", 18},
        {"dd0000000201020304", 7}, {"df00000001c0c0ff", 7}, {"cb0000000000000000cc", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        char *b = tl_unhex(cases[i].hex, &n);
        const char *p = b;
        CHECK_EQ_INT(sl_mpjson_skip(&p, b + n), 0);
        CHECK_EQ_INT(p - b, cases[i].len);
        free(b);
    }
}

static void strerror_names_every_code(void)
{
    static const int codes[] = {SL_MPJSON_E_JSON,    SL_MPJSON_E_DEPTH, SL_MPJSON_E_PLACEHOLDER,
                                SL_MPJSON_E_TOO_BIG, SL_MPJSON_E_MSGPACK, SL_MPJSON_E_UTF8,
                                SL_MPJSON_E_KEY,     SL_MPJSON_E_TYPE,  -ENOMEM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        CHECK(strcmp(sl_mpjson_strerror(codes[i]), "error") != 0);
}

static const char *suite_setup(void)
{
    atts_init();
    return NULL;
}

TL_SUITE(mpjson, suite_setup, atts_free,
         TL_TEST(from_json_matches_notepack_byte_for_byte),
         TL_TEST(from_json_appends_after_existing_bytes),
         TL_TEST(from_json_rejects_malformed_json),
         TL_TEST(from_json_fails_at_every_truncation),
         TL_TEST(from_json_refuses_invalid_utf8),
         TL_TEST(from_json_lone_surrogate_becomes_replacement_char),
         TL_TEST(from_json_nesting_limit_is_128),
         TL_TEST(from_json_refuses_placeholder_without_valid_num),
         TL_TEST(to_json_round_trip_matches_json_stringify),
         TL_TEST(to_json_matches_node_for_handmade_msgpack),
         TL_TEST(to_json_fails_at_every_truncation),
         TL_TEST(to_json_refuses_forged_lengths),
         TL_TEST(to_json_nesting_limit_is_128),
         TL_TEST(to_json_refuses_invalid_utf8_in_strings_and_keys),
         TL_TEST(to_json_refuses_container_and_binary_keys),
         TL_TEST(to_json_timestamp_96_with_wrong_length_is_malformed),
         TL_TEST(to_json_callback_abort_restores_output),
         TL_TEST(number_text_matches_js_tostring),
         TL_TEST(number_json_encodes_like_notepack),
         TL_TEST(number_float64_decodes_to_js_text),
         TL_TEST(writers_build_the_envelope_node_builds),
         TL_TEST(readers_walk_the_envelope),
         TL_TEST(readers_refuse_wrong_types_and_short_input),
         TL_TEST(skip_steps_over_exactly_one_value),
         TL_TEST(strerror_names_every_code));

/* ---- vectors generated from notepack.io 3.0.1 (see the top of the file) -- */

const vec_t vecs[] = {
    {"envelope", "[\"uid123\",{\"type\":2,\"data\":[\"event\",1,\"two\",{\"a\":[true,null]}],\"nsp\":\"/\"},{"
        "\"rooms\":[\"r1\"],\"except\":[],\"flags\":{}}]", 0, 0,
        70, 0xe177f46a042a39f9ULL, "93a675696431323383a47479706502a46461746194a56576656e7401a374776f81a16192c3c0a36e7370a12f83a5726f"
        "6f6d7391a27231a665786365707490a5666c61677380",
        114, 0x496a46e56a6a4cafULL, "[\"uid123\",{\"type\":2,\"data\":[\"event\",1,\"two\",{\"a\":[true,null]}],\"nsp\":\"/\"},{"
        "\"rooms\":[\"r1\"],\"except\":[],\"flags\":{}}]", ""},
    {"num 0", "0", 0, 0,
        1, 0xaf63bd4c8601b7dfULL, "00",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 1", "1", 0, 0,
        1, 0xaf63bc4c8601b62cULL, "01",
        1, 0xaf63ac4c86019afcULL, "1", ""},
    {"num 127", "127", 0, 0,
        1, 0xaf63f24c860211eeULL, "7f",
        3, 0x456fc6181822cba7ULL, "127", ""},
    {"num 128", "128", 0, 0,
        2, 0x0acc2007b72081d1ULL, "cc80",
        3, 0x456fbb181822b8f6ULL, "128", ""},
    {"num 255", "255", 0, 0,
        2, 0x0acbc907b71fedfcULL, "ccff",
        3, 0x602daf18277ef26fULL, "255", ""},
    {"num 256", "256", 0, 0,
        3, 0x7269291c28c90f21ULL, "cd0100",
        3, 0x602db018277ef422ULL, "256", ""},
    {"num 65535", "65535", 0, 0,
        3, 0x744c721c2a64436eULL, "cdffff",
        5, 0x24effe8487805c0fULL, "65535", ""},
    {"num 65536", "65536", 0, 0,
        5, 0xab5687b60bb03336ULL, "ce00010000",
        5, 0x24efff8487805dc2ULL, "65536", ""},
    {"num 4294967295", "4294967295", 0, 0,
        5, 0xf23a6fbbc174c73dULL, "ceffffffff",
        10, 0x2d48362b84de7a22ULL, "4294967295", ""},
    {"num 4294967296", "4294967296", 0, 0,
        9, 0x63871667fd1ef0c1ULL, "cf0000000100000000",
        10, 0x2d48352b84de786fULL, "4294967296", ""},
    {"num 9007199254740991", "9007199254740991", 0, 0,
        9, 0xf3dc77ed1ce62b99ULL, "cf001fffffffffffff",
        16, 0xb28c3ee58db1a18bULL, "9007199254740991", ""},
    {"num 9007199254740992", "9007199254740992", 0, 0,
        9, 0xac88c1f345552afeULL, "cf0020000000000000",
        16, 0xb28c3fe58db1a33eULL, "9007199254740992", ""},
    {"num 9007199254740993", "9007199254740993", 0, 0,
        9, 0xac88c1f345552afeULL, "cf0020000000000000",
        16, 0xb28c3fe58db1a33eULL, "9007199254740992", ""},
    {"num 18446744073709551615", "18446744073709551615", 0, 0,
        9, 0x56d8333d7fcf865eULL, "cf0000000000000000",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 18446744073709551616", "18446744073709551616", 0, 0,
        9, 0x56d8333d7fcf865eULL, "cf0000000000000000",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 9223372036854775807", "9223372036854775807", 0, 0,
        9, 0xd974aeb8082a75deULL, "cf8000000000000000",
        19, 0xfe32bcd129146b21ULL, "9223372036854776000", ""},
    {"num 12345678901234567890", "12345678901234567890", 0, 0,
        9, 0x5bcadcca27f9ac66ULL, "cfab54a98ceb1f0800",
        20, 0x57439264d03598d4ULL, "12345678901234567000", ""},
    {"num 1e20", "1e20", 0, 0,
        9, 0xac0c57043467541eULL, "cf6bc75e2d63100000",
        19, 0xb420d0a3e2fcc81aULL, "7766279631452242000", ""},
    {"num 1e300", "1e300", 0, 0,
        9, 0x56d8333d7fcf865eULL, "cf0000000000000000",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 1.7976931348623157e308", "1.7976931348623157e308", 0, 0,
        9, 0x56d8333d7fcf865eULL, "cf0000000000000000",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num -1", "-1", 0, 0,
        1, 0xaf64724c8602eb6eULL, "ff",
        2, 0x07d00b07b497d12bULL, "-1", ""},
    {"num -31", "-31", 0, 0,
        1, 0xaf645c4c8602c60cULL, "e1",
        3, 0xde5ac417ddfe4be0ULL, "-31", ""},
    {"num -32", "-32", 0, 0,
        1, 0xaf645d4c8602c7bfULL, "e0",
        3, 0xde5ac717ddfe50f9ULL, "-32", ""},
    {"num -33", "-33", 0, 0,
        2, 0x0af5a907b7446fb0ULL, "d0df",
        3, 0xde5ac617ddfe4f46ULL, "-33", ""},
    {"num -127", "-127", 0, 0,
        2, 0x0af5e707b744d90aULL, "d081",
        4, 0xc0c3c98e2ceb5824ULL, "-127", ""},
    {"num -128", "-128", 0, 0,
        2, 0x0af5e807b744dabdULL, "d080",
        4, 0xc0c3c08e2ceb48d9ULL, "-128", ""},
    {"num -129", "-129", 0, 0,
        3, 0xd995de1c63019df2ULL, "d1ff7f",
        4, 0xc0c3bf8e2ceb4726ULL, "-129", ""},
    {"num -32767", "-32767", 0, 0,
        3, 0xd8a4881c6234892fULL, "d18001",
        6, 0x97a8a9f1bf7e6859ULL, "-32767", ""},
    {"num -32768", "-32768", 0, 0,
        3, 0xd8a4871c6234877cULL, "d18000",
        6, 0x97a8b2f1bf7e77a4ULL, "-32768", ""},
    {"num -32769", "-32769", 0, 0,
        5, 0x324ddf35816afc61ULL, "d2ffff7fff",
        6, 0x97a8b3f1bf7e7957ULL, "-32769", ""},
    {"num -2147483647", "-2147483647", 0, 0,
        5, 0x4edca388d572e452ULL, "d280000001",
        11, 0x50b2b24185723cccULL, "-2147483647", ""},
    {"num -2147483648", "-2147483648", 0, 0,
        5, 0x4edca488d572e605ULL, "d280000000",
        11, 0x50b2b941857248b1ULL, "-2147483648", ""},
    {"num -2147483649", "-2147483649", 0, 0,
        9, 0x940580357778cc3aULL, "d3ffffffff7fffffff",
        11, 0x50b2b841857246feULL, "-2147483649", ""},
    {"num -4294967296", "-4294967296", 0, 0,
        9, 0x2b2d564986fbb25eULL, "d3ffffffff00000000",
        11, 0x05b339f5b6ce5ac2ULL, "-4294967296", ""},
    {"num -9007199254740991", "-9007199254740991", 0, 0,
        9, 0xf7893f7696583c4aULL, "d3ffe0000000000001",
        17, 0xca1fc2ffda8a5d0eULL, "-9007199254740991", ""},
    {"num -9223372036854775808", "-9223372036854775808", 0, 0,
        9, 0xbd37b825eeb81fc2ULL, "d38000000000000000",
        20, 0x565e8443d5de5fbaULL, "-9223372036854776000", ""},
    {"num -9223372036854775809", "-9223372036854775809", 0, 0,
        9, 0xbd37b825eeb81fc2ULL, "d38000000000000000",
        20, 0x565e8443d5de5fbaULL, "-9223372036854776000", ""},
    {"num -1e20", "-1e20", 0, 0,
        9, 0x6f0783cb86f6b1c1ULL, "d39438a1d29cf00000",
        20, 0x4e44bafa18026051ULL, "-7766279631452242000", ""},
    {"num -1e300", "-1e300", 0, 0,
        9, 0x3fd433a077130f42ULL, "d30000000000000000",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num -0", "-0", 0, 0,
        1, 0xaf63bd4c8601b7dfULL, "00",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num -0.0", "-0.0", 0, 0,
        1, 0xaf63bd4c8601b7dfULL, "00",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 0.0", "0.0", 0, 0,
        1, 0xaf63bd4c8601b7dfULL, "00",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 1.0", "1.0", 0, 0,
        1, 0xaf63bc4c8601b62cULL, "01",
        1, 0xaf63ac4c86019afcULL, "1", ""},
    {"num 1e2", "1e2", 0, 0,
        1, 0xaf63d94c8601e773ULL, "64",
        3, 0x4568b718181c937cULL, "100", ""},
    {"num 1E2", "1E2", 0, 0,
        1, 0xaf63d94c8601e773ULL, "64",
        3, 0x4568b718181c937cULL, "100", ""},
    {"num 1e+2", "1e+2", 0, 0,
        1, 0xaf63d94c8601e773ULL, "64",
        3, 0x4568b718181c937cULL, "100", ""},
    {"num 100e-2", "100e-2", 0, 0,
        1, 0xaf63bc4c8601b62cULL, "01",
        1, 0xaf63ac4c86019afcULL, "1", ""},
    {"num -1e-400", "-1e-400", 0, 0,
        1, 0xaf63bd4c8601b7dfULL, "00",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 1e-400", "1e-400", 0, 0,
        1, 0xaf63bd4c8601b7dfULL, "00",
        1, 0xaf63ad4c86019cafULL, "0", ""},
    {"num 0.5", "0.5", 0, 0,
        9, 0xc43ea6402714a555ULL, "cb3fe0000000000000",
        3, 0x4e18e1181d0a2732ULL, "0.5", ""},
    {"num -1.5", "-1.5", 0, 0,
        9, 0x19ba7cc6598571adULL, "cbbff8000000000000",
        4, 0xc07fcb8e2cb18ebeULL, "-1.5", ""},
    {"num 0.1", "0.1", 0, 0,
        9, 0xf04d44a80ca5c43dULL, "cb3fb999999999999a",
        3, 0x4e18dd181d0a2066ULL, "0.1", ""},
    {"num 0.30000000000000004", "0.30000000000000004", 0, 0,
        9, 0xaa3d099146de6977ULL, "cb3fd3333333333334",
        19, 0x6d3cb2ceaf9352ccULL, "0.30000000000000004", ""},
    {"num 5e-324", "5e-324", 0, 0,
        9, 0xa48189b3d23b605dULL, "cb0000000000000001",
        6, 0xe24731794634d1e9ULL, "5e-324", ""},
    {"num 2.2250738585072014e-308", "2.2250738585072014e-308", 0, 0,
        9, 0x4f59d00eb4fe30faULL, "cb0010000000000000",
        23, 0xacfc6c41832b4317ULL, "2.2250738585072014e-308", ""},
    {"num 1e400", "1e400", 0, 0,
        9, 0xb176d7799e95dd45ULL, "cb7ff0000000000000",
        4, 0x5b9bc4ba528108e4ULL, "null", ""},
    {"num -1e400", "-1e400", 0, 0,
        9, 0x8155e650ea0dc8c5ULL, "cbfff0000000000000",
        4, 0x5b9bc4ba528108e4ULL, "null", ""},
    {"num 123456.789", "123456.789", 0, 0,
        9, 0xdc839ab9c88cc28cULL, "cb40fe240c9fbe76c9",
        10, 0x761a9f47339959e6ULL, "123456.789", ""},
    {"num 1e21", "1e21", 0, 0,
        9, 0xe5e17bd1e0e936d0ULL, "cf35c9adc5dea00000",
        19, 0xd49de665ef770496ULL, "3875820019684212700", ""},
    {"num 1e-7", "1e-7", 0, 0,
        9, 0x1b5a33eecdb04bf6ULL, "cb3e7ad7f29abcaf48",
        4, 0x5377adeffe1a272fULL, "1e-7", ""},
    {"num 3.14159", "3.14159", 0, 0,
        9, 0xb54b0d22217de5f6ULL, "cb400921f9f01b866e",
        7, 0x2120fa7510989db2ULL, "3.14159", ""},
    {"num 4294967295.5", "4294967295.5", 0, 0,
        9, 0x3a4cb0bc1e71e25fULL, "cb41effffffff00000",
        12, 0xc7b5028681f20fa3ULL, "4294967295.5", ""},
    {"num -2147483648.5", "-2147483648.5", 0, 0,
        9, 0x627650b5ad02c05bULL, "cbc1e0000000100000",
        13, 0x3c3414b746f07ac8ULL, "-2147483648.5", ""},
    {"str empty", "\"\"", 0, 0,
        1, 0xaf641d4c86025affULL, "a0",
        2, 0x07cc7607b4949e25ULL, "\"\"", ""},
    {"str ascii", "\"hello\"", 0, 0,
        6, 0xe991f68e06fc5458ULL, "a568656c6c6f",
        7, 0xdcdd4ba1ec7623ebULL, "\"hello\"", ""},
    {"str escapes", "\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\tz\\u0000c\\u001fd\\u007f\"", 0, 0,
        23, 0x7822af27034d8fd5ULL, "b67122625c732f6208660c6e0a720d74097a00631f647f",
        41, 0xd209ee1e243cb525ULL, "\"q\\\"b\\\\s/b\\bf\\fn\\nr\\rt\\tz\\u0000c\\u001fd\177\"", ""},
    {"str unicode raw", "\"\303\251\342\202\254\360\237\230\200\"", 0, 0,
        10, 0x72544a4cf6005259ULL, "a9c3a9e282acf09f9880",
        11, 0x5f83f9a685e03d6cULL, "\"\303\251\342\202\254\360\237\230\200\"", ""},
    {"str unicode escaped", "\"\\u00e9\\u20AC\\ud83d\\ude00\"", 0, 0,
        10, 0x72544a4cf6005259ULL, "a9c3a9e282acf09f9880",
        11, 0x5f83f9a685e03d6cULL, "\"\303\251\342\202\254\360\237\230\200\"", ""},
    {"str lone surrogates long", "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\ud800\\udc00\\udc00\\ud800x\\ud83d\"", 0, 0,
        49, 0xb44ab71e072868d0ULL, "d92f787878787878787878787878787878787878787878787878787878787878787878f0908080efbfbdefbfbd78efbf"
        "bd",
        49, 0x0a8e51cbe8c90972ULL, "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\360\220\200\200\357\277\275\357\277\275x\357\277\275\"", ""},
    {"str 31", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0, 0,
        32, 0x25b66a4b72569d5bULL, "bf61616161616161616161616161616161616161616161616161616161616161",
        33, 0xc3e1e3fc213852ecULL, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", ""},
    {"str 32", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0, 0,
        34, 0x508a75b75e3fe3dcULL, "d9206161616161616161616161616161616161616161616161616161616161616161",
        34, 0x105a256c72050005ULL, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", ""},
    {"str 255", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0, 0,
        257, 0xe18c1322e8d02caaULL, "d9ff61616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "6161616161616161616161616161616161",
        257, 0x00f04f305cbca18cULL, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", ""},
    {"str 256", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0, 0,
        259, 0xc61bf160fdd4392cULL, "da0100616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
        "61616161616161616161616161616161616161",
        258, 0x5428af2d93d62d25ULL, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", ""},
    {"str 31 bytes multibyte", "\"\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
        "\254\342\202\254\342\202\254a\"", 0, 0,
        32, 0x77ade340fc237575ULL, "bfe282ace282ace282ace282ace282ace282ace282ace282ace282ace282ac61",
        33, 0x4d888d439782830aULL, "\"\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202\254\342\202"
        "\254\342\202\254\342\202\254a\"", ""},
    {"str 32 bytes multibyte", "\"\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303"
        "\251\303\251\303\251\303\251\303\251\"", 0, 0,
        34, 0xc63a8d70f790b5fcULL, "d920c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9",
        34, 0xf524661c7da8d365ULL, "\"\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303"
        "\251\303\251\303\251\303\251\303\251\"", ""},
    {"str controls", "\"\\u0001\\u0008\\u000b\\u000e\\u001b\"", 0, 0,
        6, 0x9ba49882198bb5b1ULL, "a501080b0e1b",
        28, 0xd4d96a3ac436cb08ULL, "\"\\u0001\\b\\u000b\\u000e\\u001b\"", ""},
    {"arr empty", "[]", 0, 0,
        1, 0xaf644d4c8602ac8fULL, "90",
        2, 0x09612b07b5ecb5a5ULL, "[]", ""},
    {"arr nested empty", "[[],{}]", 0, 0,
        3, 0xc80b581b36bdccadULL, "929080",
        7, 0x8a63f14df5182bedULL, "[[],{}]", ""},
    {"arr 15", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14]", 0, 0,
        16, 0x3c56e67169ff9c55ULL, "9f000102030405060708090a0b0c0d0e",
        36, 0x58a0429ef1c551edULL, "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14]", ""},
    {"arr 16", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]", 0, 0,
        19, 0x4c3ed149cc862043ULL, "dc0010000102030405060708090a0b0c0d0e0f",
        39, 0xf91625c91ceb9153ULL, "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]", ""},
    {"obj empty", "{}", 0, 0,
        1, 0xaf643d4c8602915fULL, "80",
        2, 0x08f44b07b5901a25ULL, "{}", ""},
    {"obj nested", "{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}", 0, 0,
        15, 0x91a711d9357a7886ULL, "81a16181a16281a163920181a164c0",
        32, 0x29c457d87955540bULL, "{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}", ""},
    {"obj 15", "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
        "\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14}", 0, 0,
        66, 0xeba1bf2fac38ab7fULL, "8fa26b3000a26b3101a26b3202a26b3303a26b3404a26b3505a26b3606a26b3707a26b3808a26b3909a36b31300aa36b"
        "31310ba36b31320ca36b31330da36b31340e",
        116, 0xa212642f661ba454ULL, "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
        "\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14}", ""},
    {"obj 16", "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
        "\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15}", 0, 0,
        73, 0x182e94a5ba11eb57ULL, "de0010a26b3000a26b3101a26b3202a26b3303a26b3404a26b3505a26b3606a26b3707a26b3808a26b3909a36b31300a"
        "a36b31310ba36b31320ca36b31330da36b31340ea36b31350f",
        125, 0x58cbf4b6864fd9dbULL, "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
        "\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15}", ""},
    {"obj key order", "{\"b\":1,\"2\":2,\"a\":3,\"1\":4,\"4294967294\":5,\"4294967295\":6,\"01\":7,\"-1\":8,\"0\":"
        "9,\"1.5\":10}", 0, 0,
        53, 0x0bed9608a82189caULL, "8aa13009a13104a13202aa3432393439363732393405a16201a16103aa3432393439363732393506a2303107a22d3108"
        "a3312e350a",
        84, 0x16a9bd34ceb918a1ULL, "{\"0\":9,\"1\":4,\"2\":2,\"4294967294\":5,\"b\":1,\"a\":3,\"4294967295\":6,\"01\":7,\"-1\":"
        "8,\"1.5\":10}", ""},
    {"obj duplicate keys", "{\"a\":1,\"b\":2,\"a\":3,\"\\u0062\":4,\"c\":{\"x\":1},\"c\":[]}", 0, 0,
        10, 0xdade5a3af90d6306ULL, "83a16103a16204a16390",
        20, 0x21e6f4b820da221eULL, "{\"a\":3,\"b\":4,\"c\":[]}", ""},
    {"obj proto key", "{\"__proto__\":{\"x\":1},\"y\":2}", 0, 0,
        18, 0x8f5a7ee25f8afc49ULL, "82a95f5f70726f746f5f5f81a17801a17902",
        7, 0x74ec7e46987a9072ULL, "{\"y\":2}", ""},
    {"obj escaped keys", "{\"\\n\":1,\"\\u00e9\":2,\"\303\251\":3,\"\":4}", 0, 0,
        10, 0x05cd2fcd2e7fee6fULL, "83a10a01a2c3a903a004",
        20, 0x23535515879b5f8dULL, "{\"\\n\":1,\"\303\251\":3,\"\":4}", ""},
    {"whitespace", " \011\012\015[ 1 ,\0122 , { \"a\" : true } ]\015\012 ", 0, 0,
        7, 0x2c054a14af8b526fULL, "93010281a161c3",
        16, 0xae8e1305ef09a565ULL, "[1,2,{\"a\":true}]", ""},
    {"literals", "[true,false,null]", 0, 0,
        4, 0x0e5ba039a979b9d9ULL, "93c3c2c0",
        17, 0x9efe7d083157c369ULL, "[true,false,null]", ""},
    {"placeholder bin8", "[\"x\",{\"_placeholder\":true,\"num\":0}]", 0, 1,
        10, 0x22b696b4ab06b4b1ULL, "92a178c40500070e151c",
        35, 0x36cdb0480acbcd05ULL, "[\"x\",{\"_placeholder\":true,\"num\":0}]", "5:7369579ebfc4233b"},
    {"placeholder bin16", "[{\"_placeholder\":true,\"num\":1}]", 0, 1,
        304, 0x8235d38a0e208f82ULL, "91c5012c01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e"
        "353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e"
        "858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ce"
        "d5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e"
        "252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e"
        "757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7be"
        "c5ccd3dae1e8eff6fd040b121920272e",
        31, 0xba4888cf9f0b2c31ULL, "[{\"_placeholder\":true,\"num\":0}]", "300:d75954340435284d"},
    {"placeholder bin32", "[{\"_placeholder\":true,\"num\":2}]", 0, 1,
        70006, 0xb1397e3777d6bd30ULL, NULL,
        31, 0xba4888cf9f0b2c31ULL, "[{\"_placeholder\":true,\"num\":0}]", "70000:4a74a52020713b75"},
    {"placeholder bin8 max", "{\"a\":{\"_placeholder\":true,\"num\":3}}", 0, 1,
        260, 0xe3d7acff7ec77ef1ULL, "81a161c4ff030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b2229"
        "30373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b7279"
        "80878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9"
        "d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b1219"
        "20272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b6269"
        "70777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5",
        35, 0x041543ce9b8fdea4ULL, "{\"a\":{\"_placeholder\":true,\"num\":0}}", "255:e84d08b3f6a8d13b"},
    {"placeholder bin16 min", "[{\"_placeholder\":true,\"num\":4}]", 0, 1,
        260, 0x6f59d562f5dbdd8aULL, "91c50100040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31"
        "383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81"
        "888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1"
        "d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21"
        "282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71"
        "787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd",
        31, 0xba4888cf9f0b2c31ULL, "[{\"_placeholder\":true,\"num\":0}]", "256:707c1360a2081625"},
    {"placeholder empty", "[{\"_placeholder\":true,\"num\":5}]", 0, 1,
        3, 0xad5eaf1b277085d8ULL, "91c400",
        31, 0xba4888cf9f0b2c31ULL, "[{\"_placeholder\":true,\"num\":0}]", "0:cbf29ce484222325"},
    {"placeholder key order and extras", "[{\"num\":1,\"x\":[1,2],\"_placeholder\":true},{\"_placeholder\":true,\"num\":0,\"_placehol"
        "der\":true}]", 0, 1,
        311, 0xce2ce9a48acade3eULL, "92c5012c01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e"
        "353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e"
        "858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ce"
        "d5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e"
        "252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e"
        "757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7be"
        "c5ccd3dae1e8eff6fd040b121920272ec40500070e151c",
        61, 0xa91d1ff54d7bbe3eULL, "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", "300:d75954340435284d,5:7369579ebfc4233b"},
    {"placeholder inside placeholder", "[{\"_placeholder\":true,\"num\":0,\"inner\":{\"_placeholder\":true,\"num\":99}}]", 0, 1,
        8, 0x6450e93e4abb9da1ULL, "91c40500070e151c",
        31, 0xba4888cf9f0b2c31ULL, "[{\"_placeholder\":true,\"num\":0}]", "5:7369579ebfc4233b"},
    {"not placeholders", "[{\"_placeholder\":false,\"num\":0},{\"_placeholder\":\"true\",\"num\":0},{\"_placeholder\""
        ":true,\"num\":0,\"_placeholder\":false}]", 0, 1,
        65, 0xfb4bfff7ae8822f3ULL, "9382ac5f706c616365686f6c646572c2a36e756d0082ac5f706c616365686f6c646572a474727565a36e756d0082ac5f"
        "706c616365686f6c646572c2a36e756d00",
        95, 0xe762f92179cb8c87ULL, "[{\"_placeholder\":false,\"num\":0},{\"_placeholder\":\"true\",\"num\":0},{\"_placeholder\""
        ":false,\"num\":0}]", ""},
    {"placeholder without atts is data", "[{\"_placeholder\":true,\"num\":0}]", 0, 0,
        21, 0xc1e8a61cf0888c06ULL, "9182ac5f706c616365686f6c646572c3a36e756d00",
        31, 0xba4888cf9f0b2c31ULL, "[{\"_placeholder\":true,\"num\":0}]", ""},
    {"placeholder many", "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true"
        ",\"num\":3},{\"_placeholder\":true,\"num\":4},{\"_placeholder\":true,\"num\":5},{\"_placeho"
        "lder\":true,\"num\":0}]", 0, 1,
        836, 0xdb1d9341340db994ULL, NULL,
        181, 0x9f335168ce42d8eaULL, "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true"
        ",\"num\":2},{\"_placeholder\":true,\"num\":3},{\"_placeholder\":true,\"num\":4},{\"_placeho"
        "lder\":true,\"num\":5}]", "5:7369579ebfc4233b,300:d75954340435284d,255:e84d08b3f6a8d13b,256:707c1360a2081625,0:cbf29ce"
        "484222325,5:7369579ebfc4233b"},
    {"gen 1", NULL, 1, 0,
        65538, 0x5563ea5df3608ce8ULL, NULL,
        65537, 0x3996de2156b6ec8cULL, NULL, ""},
    {"gen 2", NULL, 2, 0,
        65541, 0xf3e04581771a15e5ULL, NULL,
        65538, 0x917892a658239e25ULL, NULL, ""},
    {"gen 3", NULL, 3, 0,
        204448, 0x2ff6f2fc3a9ee193ULL, NULL,
        382699, 0x399a46002cb2a564ULL, NULL, ""},
    {"gen 4", NULL, 4, 0,
        204453, 0x8f208c1817e9e41bULL, NULL,
        382705, 0x51a5b363e4fc2e25ULL, NULL, ""},
    {"gen 5", NULL, 5, 0,
        643859, 0x29e930aa5218d5adULL, NULL,
        960806, 0x3c7dc74fea60ed34ULL, NULL, ""},
    {"gen 6", NULL, 6, 0,
        643871, 0xc313fa3467db5be1ULL, NULL,
        960821, 0xf9a929d295c24d6fULL, NULL, ""},
    {"gen 7", NULL, 7, 0,
        40003, 0x4871d9c8e8ca33b9ULL, NULL,
        40002, 0x45d809fb2ca921a5ULL, NULL, ""},
    {"gen 8", NULL, 8, 0,
        80005, 0xdad646df0a575aadULL, NULL,
        80002, 0x5818e38aaa518d25ULL, NULL, ""},
    {"gen 9", NULL, 9, 0,
        88, 0x440ef982d2c6097cULL, "d95678787878787878787878787878787878787878787878787878787878787878787878787878787878efbfbd797979"
        "79797979797979797979797979797979797979797979797979797979797979797979797979efbfbd",
        88, 0xe07c0b30a320fea7ULL, "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\357\277\275yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
        "yyy\357\277\275\"", ""},
};
const mpvec_t mpvecs[] = {
    {"undefined in array", "93d40000c0d4007f", 8, "[null,null,null]", ""},
    {"undefined member omitted", "83a161d40000a16201a163d40001", 14, "{\"b\":1}", ""},
    {"undefined top level", "d40000", 3, "null", ""},
    {"undefined after value of duplicate", "83a16101a16202a161d40000", 12, "{\"b\":2}", ""},
    {"undefined before value of duplicate", "83a161d40000a16202a16103", 12, "{\"a\":3,\"b\":2}", ""},
    {"duplicate keys", "83a16101a16202a16103", 10, "{\"a\":3,\"b\":2}", ""},
    {"index keys reordered", "85a16201a13202a16103a13104a13005", 16, "{\"0\":5,\"1\":4,\"2\":2,\"b\":1,\"a\":3}", ""},
    {"proto member dropped", "83a95f5f70726f746f5f5f81a16101a16202a95f5f70726f746f5f5f05", 29, "{\"b\":2}", ""},
    {"non-string keys", "8901a161cb3ff8000000000000a162c001c302c203d4000004ff05cf000000010000000006cb800000000000000"
        "007", 47, "{\"0\":7,\"1\":\"a\",\"1.5\":\"b\",\"null\":1,\"true\":2,\"false\":3,\"undefined\":4,\"-1\""
        ":5,\"4294967296\":6}", ""},
    {"nan and infinity keys", "83cb7ff800000000000001cb7ff000000000000002cbfff000000000000003", 31, "{\"NaN\":1,\"Infinity\":2,\"-Infinity\":3}", ""},
    {"int key equals string key", "8201a161a131a162", 8, "{\"1\":\"b\"}", ""},
    {"float32", "94ca3fc00000ca3dcccccdca7f800000ca00000001", 21, "[1.5,0.10000000149011612,null,1.401298464324817e-45]", ""},
    {"float64 specials", "95cb7ff8000000000000cb7ff0000000000000cbfff0000000000000cb8000000000000000cb000000000000000"
        "1", 46, "[null,null,null,0,5e-324]", ""},
    {"non-minimal encodings", "9acc01cd0001ce00000001cf0000000000000001d0ffd1ffffd2ffffffffd3ffffffffffffffffd903616263da0"
        "000", 47, "[1,1,1,1,-1,-1,-1,-1,\"abc\",\"\"]", ""},
    {"big uint64 and int64", "94cfffffffffffffffffcf001fffffffffffffcf0020000000000001d38000000000000000", 37, "[18446744073709552000,9007199254740991,9007199254740992,-9223372036854776000]", ""},
    {"bin", "92c40401020304c500020506", 12, "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", "4:be7a5e775165785d,2:08219007b4dd0a52"},
    {"bin32", "91c60000000109", 7, "[{\"_placeholder\":true,\"num\":0}]", "1:af63c44c8601c3c4"},
    {"ext types", "95d40501d5060102d60701020304c70308010203c8000309010203", 27, "[[5,{\"_placeholder\":true,\"num\":0}],[6,{\"_placeholder\":true,\"num\":1}],[7,{\"_placeho"
        "lder\":true,\"num\":2}],[8,{\"_placeholder\":true,\"num\":3}],[9,{\"_placeholder\":true,\"n"
        "um\":4}]]", "1:af63bc4c8601b62c,2:082f2407b4e8902a,4:be7a5e775165785d,3:d0aa6218672cf5ab,3:d0aa6218672cf"
        "5ab"},
    {"ext type 0 is arraybuffer", "92c70200aabbc9000000010077", 13, "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", "2:099a0d07b61c47f2,1:af63ea4c86020456"},
    {"timestamps", "96d6ff00000001d7ff0000000400000001c70cff000f424000000000ffffffffd70000000000ffffffffd6ff7ff"
        "fffffd6ffffffffff", 54, "[\"1970-01-01T00:00:01.000Z\",\"1970-01-01T00:00:01.000Z\",\"2106-02-07T06:28:15.001Z\",\"1"
        "970-02-19T17:02:47.295Z\",\"2038-01-19T03:14:07.000Z\",\"2106-02-07T06:28:15.000Z\"]", ""},
    {"timestamp year ranges", "96c70cff00000000ffffffff00000000c70cff000000000000003afff44180c70cff3b9ac9ff0000003afff4417"
        "fc70cff00000000000007dba8218000c70cff00000000fffff82457de8000c70cff1dcd6500fffffff184aa5080"
        "", 91, "[\"1833-11-24T17:31:44.000Z\",\"+010000-01-01T00:00:00.000Z\",\"+010000-01-01T00:00:00.000Z"
        "\",\"+275760-09-13T00:00:00.000Z\",\"-271821-04-20T00:00:00.000Z\",\"-000001-01-01T00:00:00"
        ".500Z\"]", ""},
    {"timestamp 96 out of range is null", "93c70cff00000000000007dba8218001c70cff00000000fffff82457de7fffc70cff000000007ffffffffffffff"
        "f", 46, "[null,null,null]", ""},
    {"timestamp 96 ns past a second", "c70cffffffffff0000000000000001", 15, "\"1970-01-01T00:00:05.294Z\"", ""},
    {"old date format", "92d70000000000ffffffffd700ffffffffffffffff", 21, "[\"1970-02-19T17:02:47.295Z\",\"1969-12-31T23:59:59.999Z\"]", ""},
    {"old date invalid is null", "d7007fffffffffffffff", 10, "null", ""},
    {"timestamp 64 ns", "d7ff000f424000000001", 10, "\"1970-01-01T00:00:01.000Z\"", ""},
    {"strings needing escapes", "94a2220aa15ca9e282ac2ff09f988001a37f0d1f", 20, "[\"\\\"\\n\",\"\\\\\",\"\342\202\254/\360\237\230\200\\u0001\",\"\177\\r\\u001f\"]", ""},
    {"nested map in array with undefined", "9281a161d40000d40000", 10, "[{},null]", ""},
    {"str8 ascii", "d90568656c6c6f", 7, "\"hello\"", ""},
    {"trailing bytes not read", "01c0c0", 1, "1", ""},
    {"map32 and array32", "92dd0000000101df00000001a161c3", 15, "[[1],{\"a\":true}]", ""},
};
const numvec_t numvecs[] = {
    {"0000000000000000", "0", "00"},
    {"8000000000000000", "0", "00"},
    {"3ff0000000000000", "1", "01"},
    {"bff0000000000000", "-1", "ff"},
    {"3fb999999999999a", "0.1", "cb3fb999999999999a"},
    {"3fc999999999999a", "0.2", "cb3fc999999999999a"},
    {"3fd3333333333334", "0.30000000000000004", "cb3fd3333333333334"},
    {"444b1ae4d6e2ef50", "1e+21", "cf35c9adc5dea00000"},
    {"3e7ad7f29abcaf48", "1e-7", "cb3e7ad7f29abcaf48"},
    {"3e8421f5f40d8376", "1.5e-7", "cb3e8421f5f40d8376"},
    {"3c36b082c2148b8e", "1.23e-18", "cb3c36b082c2148b8e"},
    {"444b1ae4d6e2ef50", "1e+21", "cf35c9adc5dea00000"},
    {"444b1ae4d6e2ef4f", "999999999999999900000", "cf35c9adc5de9e0000"},
    {"444b1ae4d6e2ef4f", "999999999999999900000", "cf35c9adc5de9e0000"},
    {"4415af1d78b58c40", "100000000000000000000", "cf6bc75e2d63100000"},
    {"0000000000000001", "5e-324", "cb0000000000000001"},
    {"8000000000000001", "-5e-324", "cb8000000000000001"},
    {"0010000000000000", "2.2250738585072014e-308", "cb0010000000000000"},
    {"000fffffffffffff", "2.225073858507201e-308", "cb000fffffffffffff"},
    {"7fefffffffffffff", "1.7976931348623157e+308", "cf0000000000000000"},
    {"4011666666666666", "4.35", "cb4011666666666666"},
    {"3eb0c6f7a0b5ed8d", "0.000001", "cb3eb0c6f7a0b5ed8d"},
    {"3e7ad7f29abcaf48", "1e-7", "cb3e7ad7f29abcaf48"},
    {"441ac53a7e04bcda", "123456789012345680000", "cfb14e9f812f368000"},
    {"3e8091f1667f0595", "1.2345678901234566e-7", "cb3e8091f1667f0595"},
    {"4340000000000000", "9007199254740992", "cf0020000000000000"},
    {"3eb0c6f7a0b5ed8d", "0.000001", "cb3eb0c6f7a0b5ed8d"},
    {"44b52d02c7e14af6", "1e+23", "cf02c7e14af6000000"},
    {"447c7e83209e90b2", "8.41e+21", "cfe83209e90b200000"},
    {"3ea0c6f7a0b5ed8d", "5e-7", "cb3ea0c6f7a0b5ed8d"},
    {"3e8ad7f29abcaf48", "2e-7", "cb3e8ad7f29abcaf48"},
    {"3ff199999999999a", "1.1", "cb3ff199999999999a"},
    {"4005666666666666", "2.675", "cb4005666666666666"},
    {"3ff0147ae147ae14", "1.005", "cb3ff0147ae147ae14"},
    {"3fd3333333333333", "0.3", "cb3fd3333333333333"},
    {"3eff75104d551d69", "0.00003", "cb3eff75104d551d69"},
    {"405edd2f1a9fbe77", "123.456", "cb405edd2f1a9fbe77"},
    {"4341c37937e08000", "10000000000000000", "cf002386f26fc10000"},
    {"45246a317b18cbde", "1.234e+25", "cfbd8c65ef00000000"},
    {"0000000000000001", "5e-324", "cb0000000000000001"},
    {"0000000000000002", "1e-323", "cb0000000000000002"},
    {"3eb0000000000000", "9.5367431640625e-7", "cb3eb0000000000000"},
    {"3eb0c6f7a0b5ed8d", "0.000001", "cb3eb0c6f7a0b5ed8d"},
    {"0000000000002000", "4.0474e-320", "cb0000000000002000"},
    {"0000000004000000", "3.3156184e-316", "cb0000000004000000"},
    {"0000008000000000", "2.716154612436e-312", "cb0000008000000000"},
    {"00e0000000000000", "1.8227805048890994e-304", "cb00e0000000000000"},
    {"01b0000000000000", "1.4932217896051502e-300", "cb01b0000000000000"},
    {"0280000000000000", "1.223247290044539e-296", "cb0280000000000000"},
    {"0350000000000000", "1.0020841800044864e-292", "cb0350000000000000"},
    {"0420000000000000", "8.209073602596753e-289", "cb0420000000000000"},
    {"04f0000000000000", "6.72487309524726e-285", "cb04f0000000000000"},
    {"05c0000000000000", "5.509016039626555e-281", "cb05c0000000000000"},
    {"0690000000000000", "4.512985939662074e-277", "cb0690000000000000"},
    {"0760000000000000", "3.697038081771171e-273", "cb0760000000000000"},
    {"0830000000000000", "3.0286135965869433e-269", "cb0830000000000000"},
    {"0900000000000000", "2.481040258324024e-265", "cb0900000000000000"},
    {"09d0000000000000", "2.0324681796190404e-261", "cb09d0000000000000"},
    {"0aa0000000000000", "1.664997932743918e-257", "cb0aa0000000000000"},
    {"0b70000000000000", "1.3639663065038175e-253", "cb0b70000000000000"},
    {"0c40000000000000", "1.1173611982879273e-249", "cb0c40000000000000"},
    {"0d10000000000000", "9.153422936374701e-246", "cb0d10000000000000"},
    {"0de0000000000000", "7.498484069478155e-242", "cb0de0000000000000"},
    {"0eb0000000000000", "6.142758149716505e-238", "cb0eb0000000000000"},
    {"0f80000000000000", "5.0321474762477604e-234", "cb0f80000000000000"},
    {"1050000000000000", "4.1223352125421653e-230", "cb1050000000000000"},
    {"1120000000000000", "3.377017006114542e-226", "cb1120000000000000"},
    {"11f0000000000000", "2.7664523314090327e-222", "cb11f0000000000000"},
    {"12c0000000000000", "2.2662777498902796e-218", "cb12c0000000000000"},
    {"1390000000000000", "1.856534732710117e-214", "cb1390000000000000"},
    {"1460000000000000", "1.520873253036128e-210", "cb1460000000000000"},
    {"1530000000000000", "1.245899368887196e-206", "cb1530000000000000"},
    {"1600000000000000", "1.020640762992391e-202", "cb1600000000000000"},
    {"16d0000000000000", "8.361089130433666e-199", "cb16d0000000000000"},
    {"17a0000000000000", "6.84940421565126e-195", "cb17a0000000000000"},
    {"1870000000000000", "5.611031933461512e-191", "cb1870000000000000"},
    {"1940000000000000", "4.5965573598916705e-187", "cb1940000000000000"},
    {"1a10000000000000", "3.7654997892232564e-183", "cb1a10000000000000"},
    {"1ae0000000000000", "3.084697427331692e-179", "cb1ae0000000000000"},
    {"1bb0000000000000", "2.526984132470122e-175", "cb1bb0000000000000"},
    {"1c80000000000000", "2.070105401319524e-171", "cb1c80000000000000"},
    {"1d50000000000000", "1.695830344760954e-167", "cb1d50000000000000"},
    {"1e20000000000000", "1.3892242184281734e-163", "cb1e20000000000000"},
    {"1ef0000000000000", "1.1380524797363597e-159", "cb1ef0000000000000"},
    {"1fc0000000000000", "9.322925914000258e-156", "cb1fc0000000000000"},
    {"2090000000000000", "7.637340908749012e-152", "cb2090000000000000"},
    {"2160000000000000", "6.256509672447191e-148", "cb2160000000000000"},
    {"2230000000000000", "5.1253327236687384e-144", "cb2230000000000000"},
    {"2300000000000000", "4.1986725672294305e-140", "cb2300000000000000"},
    {"23d0000000000000", "3.4395525670743494e-136", "cb23d0000000000000"},
    {"24a0000000000000", "2.817681462947307e-132", "cb24a0000000000000"},
    {"2570000000000000", "2.308244654446434e-128", "cb2570000000000000"},
    {"2640000000000000", "1.8909140209225187e-124", "cb2640000000000000"},
    {"2710000000000000", "1.5490367659397273e-120", "cb2710000000000000"},
    {"27e0000000000000", "1.2689709186578246e-116", "cb27e0000000000000"},
    {"28b0000000000000", "1.03954097656449e-112", "cb28b0000000000000"},
    {"2980000000000000", "8.515919680016301e-109", "cb2980000000000000"},
    {"2a50000000000000", "6.976241401869354e-105", "cb2a50000000000000"},
    {"2b20000000000000", "5.714936956411375e-101", "cb2b20000000000000"},
    {"2bf0000000000000", "4.6816763546921983e-97", "cb2bf0000000000000"},
    {"2cc0000000000000", "3.835229269763849e-93", "cb2cc0000000000000"},
    {"2d90000000000000", "3.141819817790545e-89", "cb2d90000000000000"},
    {"2e60000000000000", "2.5737787947340145e-85", "cb2e60000000000000"},
    {"2f30000000000000", "2.1084395886461046e-81", "cb2f30000000000000"},
    {"3000000000000000", "1.727233711018889e-77", "cb3000000000000000"},
    {"30d0000000000000", "1.4149498560666738e-73", "cb30d0000000000000"},
    {"31a0000000000000", "1.1591269220898192e-69", "cb31a0000000000000"},
    {"3270000000000000", "9.495567745759799e-66", "cb3270000000000000"},
    {"3340000000000000", "7.778769097326427e-62", "cb3340000000000000"},
    {"3410000000000000", "6.372367644529809e-58", "cb3410000000000000"},
    {"34e0000000000000", "5.22024357439882e-54", "cb34e0000000000000"},
    {"35b0000000000000", "4.276423536147513e-50", "cb35b0000000000000"},
    {"3680000000000000", "3.503246160812043e-46", "cb3680000000000000"},
    {"3750000000000000", "2.8698592549372254e-42", "cb3750000000000000"},
    {"3820000000000000", "2.350988701644575e-38", "cb3820000000000000"},
    {"38f0000000000000", "1.925929944387236e-34", "cb38f0000000000000"},
    {"39c0000000000000", "1.5777218104420236e-30", "cb39c0000000000000"},
    {"3a90000000000000", "1.2924697071141057e-26", "cb3a90000000000000"},
    {"3b60000000000000", "1.0587911840678754e-22", "cb3b60000000000000"},
    {"3c30000000000000", "8.673617379884035e-19", "cb3c30000000000000"},
    {"3d00000000000000", "7.105427357601002e-15", "cb3d00000000000000"},
    {"3dd0000000000000", "5.820766091346741e-11", "cb3dd0000000000000"},
    {"3ea0000000000000", "4.76837158203125e-7", "cb3ea0000000000000"},
    {"3f70000000000000", "0.00390625", "cb3f70000000000000"},
    {"4040000000000000", "32", "20"},
    {"4110000000000000", "262144", "ce00040000"},
    {"41e0000000000000", "2147483648", "ce80000000"},
    {"42b0000000000000", "17592186044416", "cf0000100000000000"},
    {"4380000000000000", "144115188075855870", "cf0200000000000000"},
    {"4450000000000000", "1.1805916207174113e+21", "cf0000000000000000"},
    {"4520000000000000", "9.671406556917033e+24", "cf0000000000000000"},
    {"45f0000000000000", "7.922816251426434e+28", "cf0000000000000000"},
    {"46c0000000000000", "6.490371073168535e+32", "cf0000000000000000"},
    {"4790000000000000", "5.316911983139664e+36", "cf0000000000000000"},
    {"4860000000000000", "4.3556142965880123e+40", "cf0000000000000000"},
    {"4930000000000000", "3.5681192317649e+44", "cf0000000000000000"},
    {"4a00000000000000", "2.923003274661806e+48", "cf0000000000000000"},
    {"4ad0000000000000", "2.3945242826029513e+52", "cf0000000000000000"},
    {"4ba0000000000000", "1.9615942923083377e+56", "cf0000000000000000"},
    {"4c70000000000000", "1.6069380442589903e+60", "cf0000000000000000"},
    {"4d40000000000000", "1.3164036458569648e+64", "cf0000000000000000"},
    {"4e10000000000000", "1.0783978666860256e+68", "cf0000000000000000"},
    {"4ee0000000000000", "8.834235323891922e+71", "cf0000000000000000"},
    {"4fb0000000000000", "7.237005577332262e+75", "cf0000000000000000"},
    {"5080000000000000", "5.928554968950589e+79", "cf0000000000000000"},
    {"5150000000000000", "4.856672230564323e+83", "cf0000000000000000"},
    {"5220000000000000", "3.978585891278293e+87", "cf0000000000000000"},
    {"52f0000000000000", "3.259257562135178e+91", "cf0000000000000000"},
    {"53c0000000000000", "2.6699837949011376e+95", "cf0000000000000000"},
    {"5490000000000000", "2.187250724783012e+99", "cf0000000000000000"},
    {"5560000000000000", "1.7917957937422434e+103", "cf0000000000000000"},
    {"5630000000000000", "1.4678391142336458e+107", "cf0000000000000000"},
    {"5700000000000000", "1.2024538023802026e+111", "cf0000000000000000"},
    {"57d0000000000000", "9.85050154909862e+114", "cf0000000000000000"},
    {"58a0000000000000", "8.06953086902159e+118", "cf0000000000000000"},
    {"5970000000000000", "6.610559687902486e+122", "cf0000000000000000"},
    {"5a40000000000000", "5.415370496329717e+126", "cf0000000000000000"},
    {"5b10000000000000", "4.436271510593304e+130", "cf0000000000000000"},
    {"5be0000000000000", "3.6341936214780345e+134", "cf0000000000000000"},
    {"5cb0000000000000", "2.977131414714806e+138", "cf0000000000000000"},
    {"5d80000000000000", "2.438866054934369e+142", "cf0000000000000000"},
    {"5e50000000000000", "1.997919072202235e+146", "cf0000000000000000"},
    {"5f20000000000000", "1.636695303948071e+150", "cf0000000000000000"},
    {"5ff0000000000000", "1.3407807929942597e+154", "cf0000000000000000"},
    {"60c0000000000000", "1.0983676256208976e+158", "cf0000000000000000"},
    {"6190000000000000", "8.997827589086393e+161", "cf0000000000000000"},
    {"6260000000000000", "7.371020360979573e+165", "cf0000000000000000"},
    {"6330000000000000", "6.038339879714466e+169", "cf0000000000000000"},
    {"6400000000000000", "4.946608029462091e+173", "cf0000000000000000"},
    {"64d0000000000000", "4.052261297735345e+177", "cf0000000000000000"},
    {"65a0000000000000", "3.3196124551047944e+181", "cf0000000000000000"},
    {"6670000000000000", "2.7194265232218475e+185", "cf0000000000000000"},
    {"6740000000000000", "2.2277542078233375e+189", "cf0000000000000000"},
    {"6810000000000000", "1.824976247048878e+193", "cf0000000000000000"},
    {"68e0000000000000", "1.495020541582441e+197", "cf0000000000000000"},
    {"69b0000000000000", "1.2247208276643356e+201", "cf0000000000000000"},
    {"6a80000000000000", "1.0032913020226237e+205", "cf0000000000000000"},
    {"6b50000000000000", "8.218962346169334e+208", "cf0000000000000000"},
    {"6c20000000000000", "6.732973953981918e+212", "cf0000000000000000"},
    {"6cf0000000000000", "5.515652263101987e+216", "cf0000000000000000"},
    {"6dc0000000000000", "4.518422333933148e+220", "cf0000000000000000"},
    {"6e90000000000000", "3.701491575958035e+224", "cf0000000000000000"},
    {"6f60000000000000", "3.032261899024822e+228", "cf0000000000000000"},
    {"7030000000000000", "2.4840289476811343e+232", "cf0000000000000000"},
    {"7100000000000000", "2.0349165139403852e+236", "cf0000000000000000"},
    {"71d0000000000000", "1.6670036082199636e+240", "cf0000000000000000"},
    {"72a0000000000000", "1.3656093558537942e+244", "cf0000000000000000"},
    {"7370000000000000", "1.1187071843154282e+248", "cf0000000000000000"},
    {"7440000000000000", "9.164449253911988e+251", "cf0000000000000000"},
    {"7510000000000000", "7.5075168288047e+255", "cf0000000000000000"},
    {"75e0000000000000", "6.150157786156811e+259", "cf0000000000000000"},
    {"76b0000000000000", "5.038209258419659e+263", "cf0000000000000000"},
    {"7780000000000000", "4.127301024497385e+267", "cf0000000000000000"},
    {"7850000000000000", "3.3810849992682576e+271", "cf0000000000000000"},
    {"7920000000000000", "2.7697848314005566e+275", "cf0000000000000000"},
    {"79f0000000000000", "2.269007733883336e+279", "cf0000000000000000"},
    {"7ac0000000000000", "1.858771135597229e+283", "cf0000000000000000"},
    {"7b90000000000000", "1.52270531428125e+287", "cf0000000000000000"},
    {"7c60000000000000", "1.2474001934592e+291", "cf0000000000000000"},
    {"7d30000000000000", "1.0218702384817765e+295", "cf0000000000000000"},
    {"7e00000000000000", "8.371160993642713e+298", "cf0000000000000000"},
    {"7ed0000000000000", "6.857655085992111e+302", "cf0000000000000000"},
    {"7fa0000000000000", "5.617791046444737e+306", "cf0000000000000000"},
    {"0020000000000000", "4.450147717014403e-308", "cb0020000000000000"},
    {"0170000000000000", "9.332636185032189e-302", "cb0170000000000000"},
    {"3bf0000000000000", "5.421010862427522e-20", "cb3bf0000000000000"},
    {"3ca0000000000000", "1.1102230246251565e-16", "cb3ca0000000000000"},
    {"3cb0000000000000", "2.220446049250313e-16", "cb3cb0000000000000"},
    {"3fe0000000000000", "0.5", "cb3fe0000000000000"},
    {"4330000000000000", "4503599627370496", "cf0010000000000000"},
    {"4340000000000000", "9007199254740992", "cf0020000000000000"},
    {"43e0000000000000", "9223372036854776000", "cf8000000000000000"},
    {"43f0000000000000", "18446744073709552000", "cf0000000000000000"},
    {"4630000000000000", "1.2676506002282294e+30", "cf0000000000000000"},
    {"7e70000000000000", "1.0715086071862673e+301", "cf0000000000000000"},
    {"7fe0000000000000", "8.98846567431158e+307", "cf0000000000000000"},
    {"0060000000000000", "7.120236347223045e-307", "cb0060000000000000"},
    {"0100000000000000", "7.291122019556398e-304", "cb0100000000000000"},
    {"0660000000000000", "5.641232424577593e-278", "cb0660000000000000"},
    {"0d70000000000000", "5.858190679279809e-244", "cb0d70000000000000"},
    {"0e80000000000000", "7.678447687145631e-239", "cb0e80000000000000"},
    {"0f50000000000000", "6.290184345309701e-235", "cb0f50000000000000"},
    {"13e0000000000000", "5.940911144672375e-213", "cb13e0000000000000"},
    {"1480000000000000", "6.083493012144512e-210", "cb1480000000000000"},
    {"1690000000000000", "5.225680706521042e-200", "cb1690000000000000"},
    {"1730000000000000", "5.351097043477547e-197", "cb1730000000000000"},
    {"1da0000000000000", "5.426657103235053e-166", "cb1da0000000000000"},
    {"2020000000000000", "5.966672584960166e-154", "cb2020000000000000"},
    {"20f0000000000000", "4.887898181599368e-150", "cb20f0000000000000"},
    {"2800000000000000", "5.075883674631299e-116", "cb2800000000000000"},
    {"2910000000000000", "6.653062250012736e-111", "cb2910000000000000"},
    {"2d70000000000000", "7.854549544476363e-90", "cb2d70000000000000"},
    {"3730000000000000", "7.174648137343064e-43", "cb3730000000000000"},
    {"39e0000000000000", "6.310887241768095e-30", "cb39e0000000000000"},
    {"3b20000000000000", "6.617444900424222e-24", "cb3b20000000000000"},
    {"3d30000000000000", "5.684341886080802e-14", "cb3d30000000000000"},
    {"4580000000000000", "6.189700196426902e+26", "cf0000000000000000"},
    {"4830000000000000", "5.444517870735016e+39", "cf0000000000000000"},
    {"4ab0000000000000", "5.986310706507379e+51", "cf0000000000000000"},
    {"4b50000000000000", "6.129982163463556e+54", "cf0000000000000000"},
    {"5120000000000000", "6.070840288205404e+82", "cf0000000000000000"},
    {"5300000000000000", "6.518515124270356e+91", "cf0000000000000000"},
    {"5580000000000000", "7.167183174968974e+103", "cf0000000000000000"},
    {"5790000000000000", "6.156563468186638e+113", "cf0000000000000000"},
    {"58d0000000000000", "6.455624695217272e+119", "cf0000000000000000"},
    {"5940000000000000", "8.263199609878108e+121", "cf0000000000000000"},
    {"5e00000000000000", "6.243497100631985e+144", "cf0000000000000000"},
    {"6150000000000000", "5.623642243178996e+160", "cf0000000000000000"},
    {"61f0000000000000", "5.758609657015292e+163", "cf0000000000000000"},
    {"6290000000000000", "5.896816288783659e+166", "cf0000000000000000"},
    {"63d0000000000000", "6.183260036827614e+172", "cf0000000000000000"},
    {"6510000000000000", "6.483618076376552e+178", "cf0000000000000000"},
    {"6c50000000000000", "5.386379163185535e+213", "cf0000000000000000"},
    {"7220000000000000", "5.334411546303884e+241", "cf0000000000000000"},
    {"77f0000000000000", "5.282945311356653e+269", "cf0000000000000000"},
    {"7cf0000000000000", "6.386688990511104e+293", "cf0000000000000000"},
    {"a7b82cfca1ea7000", "-2.396742041952884e-117", "cba7b82cfca1ea7000"},
    {"adf130002c35f000", "-2.160001455899252e-87", "cbadf130002c35f000"},
    {"b50fe600bd4a9600", "-4.1629418072721477e-53", "cbb50fe600bd4a9600"},
    {"cb3cc60094727680", "-2.755948638991576e+54", "d30000000000000000"},
    {"357da480df0df000", "4.9517295164546144e-51", "cb357da480df0df000"},
    {"1c80b000bb38a600", "2.159056686584997e-171", "cb1c80b000bb38a600"},
    {"47815600eb318600", "2.8804290115153147e+36", "cf0000000000000000"},
    {"6b553600d1d86600", "1.0895749965013627e+209", "cf0000000000000000"},
    {"288716806081b100", "1.875063620845151e-113", "cb288716806081b100"},
    {"f914d800c0e5d800", "-1.8041479507937918e+275", "d30000000000000000"},
    {"6f9ed880d1a5d600", "4.6766144112829926e+229", "cf0000000000000000"},
    {"892a0600b341b600", "-1.614130565155762e-264", "cb892a0600b341b600"},
    {"96d8e680b0e19480", "-1.3012154596793511e-198", "cb96d8e680b0e19480"},
    {"b31cf20061dc8200", "-1.759054279382426e-62", "cbb31cf20061dc8200"},
    {"6b0e92006e372200", "4.907349635573237e+207", "cf0000000000000000"},
    {"407a3270aab7d280", "419.1525065594251", "cb407a3270aab7d280"},
    {"494860706af4b000", "1.0872378360158735e+45", "cf0000000000000000"},
    {"cda5708089ca2e00", "-1.1289194028173646e+66", "d30000000000000000"},
    {"9d021e0005538e00", "-6.00071813722881e-169", "cb9d021e0005538e00"},
    {"72dcce00a9e5be00", "1.9667982285764155e+245", "cf0000000000000000"},
    {"7cf02e0033981e00", "6.458415729178357e+293", "cf0000000000000000"},
    {"e800c40003a1a400", "-9.561521183419628e+192", "d30000000000000000"},
    {"a61fd400cdff3400", "-4.701896174962419e-125", "cba61fd400cdff3400"},
    {"485d9400fed2f400", "4.0259678210115403e+40", "cf0000000000000000"},
    {"30b75400ac49ea00", "5.157522131479729e-74", "cb30b75400ac49ea00"},
    {"927e3a0016130a00", "-1.3379255670163867e-219", "cb927e3a0016130a00"},
    {"1663900074068700", "7.98651679377667e-201", "cb1663900074068700"},
    {"4f4ca0003c16e000", "1.0115200711485796e+74", "cf0000000000000000"},
    {"68b25600024a8600", "2.1416096418619324e+196", "cf0000000000000000"},
    {"b5588600cb543600", "-1.0241470423800308e-51", "cbb5588600cb543600"},
    {"976f68004eaae800", "-8.402895830638364e-196", "cb976f68004eaae800"},
    {"41126870a5a1f800", "301596.16175067425", "cb41126870a5a1f800"},
    {"ac07f800a7ddf800", "-1.4026747121221938e-96", "cbac07f800a7ddf800"},
    {"aea3f80091d9f880", "-5.139516768229456e-84", "cbaea3f80091d9f880"},
    {"ad25f680521d2400", "-3.369309589785465e-91", "cbad25f680521d2400"},
    {"5b0504003edfe400", "2.9134698465705325e+130", "cf0000000000000000"},
    {"1e65c400f835da00", "3.0237353932089795e-162", "cb1e65c400f835da00"},
    {"84a3aa00cccdfa00", "-2.582781385587672e-286", "cb84a3aa00cccdfa00"},
    {"7a48ca0022c81a00", "1.1249315846441109e+281", "cf0000000000000000"},
    {"584720009bd56070", "1.8223435185464788e+117", "cf0000000000000000"},
    {"18c9b0001f29a700", "2.8826678642591714e-189", "cb18c9b0001f29a700"},
    {"c51bf600b3dd2600", "-8.450678061234501e+24", "d3d308b68000000000"},
    {"37f9d600ecc53c00", "4.745314870117323e-39", "cb37f9d600ecc53c00"},
    {"1866dc005b18b200", "4.0082722990812073e-191", "cb1866dc005b18b200"},
    {"399e400094f8b600", "3.728601466803617e-31", "cb399e400094f8b600"},
    {"40e7e8004e176800", "48960.009532645345", "cb40e7e8004e176800"},
    {"4992e800ba3a6800", "2.698391753276092e+46", "cf0000000000000000"},
    {"b1ede800458d6800", "-3.4665144319076454e-68", "cbb1ede800458d6800"},
    {"c4f8e88021366680", "-1.8820107669519528e+24", "d3fdec999800000000"},
    {"76898000b2cec000", "1.003706170201165e+263", "cf0000000000000000"},
    {"93b600006f0f4000", "-1.0210944102315716e-213", "cb93b600006f0f4000"},
    {"972a8000eed7c000", "-4.4313796197223287e-197", "cb972a8000eed7c000"},
    {"9d670000e2a84000", "-4.8755151049838176e-167", "cb9d670000e2a84000"},
    {"0aeb80006627f600", "4.5787453288593355e-256", "cb0aeb80006627f600"},
    {"f9c926006a62b080", "-4.4579698101968127e+278", "d30000000000000000"},
    {"2be96e004b7a9400", "3.7204246168218984e-97", "cb2be96e004b7a9400"},
    {"b7b7f400c8a45400", "-2.7496852714843648e-40", "cbb7b7f400c8a45400"},
    {"ab57b4004eaa1400", "-6.773094592045792e-100", "cbab57b4004eaa1400"},
    {"993374008f4bd400", "-2.7942951297308593e-187", "cb993374008f4bd400"},
    {"e90b3480066f9200", "-1.0168037801431814e+198", "d30000000000000000"},
    {"49c27200babe0200", "2.106083647450911e+47", "cf0000000000000000"},
    {"868c120033b0a200", "-3.9587793605862694e-277", "cb868c120033b0a200"},
    {"3976e900cc800800", "7.059740708468496e-32", "cb3976e900cc800800"},
    {"52bc8800c68d0800", "3.6324504254506106e+90", "cf0000000000000000"},
    {"b4118800d46a0880", "-6.982228184243581e-58", "cbb4118800d46a0880"},
    {"c3dc860027783680", "-8221321797847089000", "d38de7ff621f260000"},
    {"3ea7d1807a6c6400", "7.098426423073805e-7", "cb3ea7d1807a6c6400"},
    {"10064400a00a5a00", "1.792703306452086e-231", "cb10064400a00a5a00"},
    {"2fcc2a004091b100", "1.900231438933862e-78", "cb2fcc2a004091b100"},
    {"7fa4d80091f5d800", "7.318492562414274e+306", "cf0000000000000000"},
    {"cf2ed880a3b5d600", "-2.7249828634069097e+73", "d30000000000000000"},
    {"51ba06009651b680", "5.055493990580367e+85", "cf0000000000000000"},
    {"c68ee4000b2cc400", "-7.831704033404826e+31", "d38000000000000000"},
    {"cbd4dc003c0f7c00", "-2.0458818981699552e+57", "d30000000000000000"},
    {"ab8253006819b800", "-4.188871615687552e-99", "cbab8253006819b800"},
    {"f8a5b8007a11b800", "-1.4686592885653442e+273", "d30000000000000000"},
    {"875db800b389b800", "-3.433480939241809e-273", "cb875db800b389b800"},
    {"4995b8000c81b800", "3.0998036889911115e+46", "cf0000000000000000"},
    {"da74ef005373b400", "-5.668159645631528e+127", "d30000000000000000"},
    {"1a261470cdbf2000", "1.039270704903428e-182", "cb1a261470cdbf2000"},
    {"fa0d6000b8a5a000", "-8.331515894388421e+279", "d30000000000000000"},
    {"fb97e000ab742000", "-2.272162808727989e+287", "d30000000000000000"},
    {"cb4a6080aad09e00", "-5.0528223310728836e+54", "d30000000000000000"},
    {"e8060e000850fe00", "-1.2577900540067723e+193", "d30000000000000000"},
    {"1e94a400fe2fbb00", "2.2939581744962803e-161", "cb1e94a400fe2fbb00"},
    {"71c96000ecc1a080", "1.3218825025927243e+240", "cf0000000000000000"},
    {"a139de00c9b15000", "-1.2643623750575922e-148", "cba139de00c9b15000"},
    {"61431000b98ad080", "3.3500232016709015e+160", "cf0000000000000000"},
    {"069e8e8069ed0200", "8.61885737483985e-277", "cb069e8e8069ed0200"},
    {"a6d3120026cfa200", "-1.153930421245209e-121", "cba6d3120026cfa200"},
    {"972de900a9196400", "-5.001631331673466e-197", "cb972de900a9196400"},
    {"46fb448017862200", "8.848835469912646e+33", "cf0000000000000000"},
    {"1b086900d82d8800", "1.8824496483024074e-178", "cb1b086900d82d8800"},
    {"7be608800db88600", "6.710015346875862e+288", "cf0000000000000000"},
    {"addb6c0003608c00", "-8.615459094840145e-88", "cbaddb6c0003608c00"},
    {"32fcfc00d1ebd200", "4.403571443074882e-63", "cb32fcfc00d1ebd200"},
    {"377662003b12a800", "1.6058882927368775e-41", "cb377662003b12a800"},
    {"04475e004ffd1e00", "4.7955750302895524e-288", "cb04475e004ffd1e00"},
    {"6c468e0013c57e00", "3.7965032853078154e+213", "cf0000000000000000"},
    {"e65d250085910080", "-1.2383817646555996e+185", "d30000000000000000"},
    {"ce083e001016ae80", "-8.16960134935562e+67", "d30000000000000000"},
    {"ebd709805a7a5c00", "-3.0294588614689514e+211", "d30000000000000000"},
    {"4cf0fc005bd89c80", "4.366855542811775e+62", "cf0000000000000000"},
    {"7d3f3a00793c0a00", "1.9943438908137174e+295", "cf0000000000000000"},
    {"890d5a0090072a80", "-4.551401844143289e-265", "cb890d5a0090072a80"},
    {"c1c378005cc57800", "-653263033.5427246", "cbc1c378005cc57800"},
    {"2497780050e0ae00", "2.0664836067717585e-132", "cb2497780050e0ae00"},
    {"ce3c9e0067520e00", "-7.715180147935341e+68", "d30000000000000000"},
    {"f67cfe0063796e00", "-5.7058100529901714e+262", "d30000000000000000"},
    {"d2635e00eab6ce00", "-7.705407460185452e+88", "d30000000000000000"},
    {"f64fbe00986a2e80", "-7.808780698986885e+261", "d30000000000000000"},
    {"4ac81c002254bc00", "1.804077774242615e+52", "cf0000000000000000"},
    {"46699200248a2280", "1.620711237475084e+31", "cf1400000000000000"},
    {"2af99c00c0c972f0", "1.1434064788157126e-101", "cb2af99c00c0c972f0"},
    {"e5df1000f586d080", "-5.1557755233825233e+182", "d30000000000000000"},
    {"38fa8e0034c0b400", "3.196404617238359e-34", "cb38fa8e0034c0b400"},
    {"b7e24a00bdbd9a00", "-1.679586167558476e-39", "cbb7e24a00bdbd9a00"},
    {"b2d16a00c311ba00", "-6.614260824116998e-64", "cbb2d16a00c311ba00"},
    {"bd928a009987da80", "-4.2152968606254745e-12", "cbbd928a009987da80"},
    {"716ba800f5a12880", "2.2511275852474273e+238", "cf0000000000000000"},
    {"ccb8a60075015600", "-3.960852315716343e+61", "d30000000000000000"},
    {"94b18600f0d53680", "-5.330189845353323e-209", "cb94b18600f0d53680"},
    {"017e64806277c800", "1.7727683071273613e-301", "cb017e64806277c800"},
    {"5eda48809266c600", "8.401876837801306e+148", "cf0000000000000000"},
    {"88ac7600d721a670", "-6.895777689561506e-267", "cb88ac7600d721a670"},
    {"992e66705be92670", "-2.1833756600920618e-187", "cb992e66705be92670"},
    {"1201e60053b3cd00", "6.18939849405239e-222", "cb1201e60053b3cd00"},
    {"957a54006b1db400", "-3.280220227606825e-205", "cb957a54006b1db400"},
    {"12e014007280aa00", "9.109378103635734e-218", "cb12e014007280aa00"},
    {"4e72fa00e8f5ca00", "8.18571979645312e+69", "cf0000000000000000"},
    {"99bd1a00a19cea80", "-1.0701363645745612e-184", "cb99bd1a00a19cea80"},
    {"8daf380051f73870", "-9.144270944458611e-243", "cb8daf380051f73870"},
    {"d89b48002e69c880", "-6.879590979512321e+118", "d30000000000000000"},
    {"cd90b400a20b1400", "-4.397613472346213e+65", "d30000000000000000"},
    {"25fc74001ae40a00", "1.0508284381317746e-125", "cb25fc74001ae40a00"},
    {"ca1c900091c05080", "-1.0436038303246648e+49", "d30000000000000000"},
    {"e3900e0037eafe00", "-3.8777471965280815e+171", "d30000000000000000"},
    {"48bea400aa428400", "2.6691757701674044e+42", "cf0000000000000000"},
    {"be196400e3fb4470", "-1.4779296813507738e-9", "cbbe196400e3fb4470"},
    {"c37c34002aa29400", "-127015594685448200", "d3fe3cbffd55d6c000"},
    {"32472b00e59f1a00", "1.718696459050226e-66", "cb32472b00e59f1a00"},
    {"b54eea00478b3a80", "-6.455158335404625e-52", "cbb54eea00478b3a80"},
    {"988e0800707a8800", "-2.1063292546190328e-190", "cb988e0800707a8800"},
    {"457b0800efaf8800", "5.228606933220892e+26", "cffaf8800000000000"},
    {"54380800ad348880", "5.133046050855185e+97", "cf0000000000000000"},
    {"7feb0600026ab600", "1.5181202604092909e+308", "cf0000000000000000"},
    {"7f6c3600e5476800", "6.190751127833817e+305", "cf0000000000000000"},
    {"2c42e80077919e00", "1.7702595389307335e-95", "cb2c42e80077919e00"},
    {"fd2f0e00ecbed800", "-9.91683604417071e+294", "d30000000000000000"},
    {"f59fd870a904e880", "-3.825286318070244e+258", "d30000000000000000"},
    {"e22266005ae11600", "-5.297472552743632e+164", "d30000000000000000"},
    {"f6f74600b4f0f600", "-1.1725650262453156e+265", "d30000000000000000"},
    {"343a2600b3460c00", "4.165688129305058e-57", "cb343a2600b3460c00"},
    {"a05c2c006daf4c00", "-8.404619661893196e-153", "cba05c2c006daf4c00"},
    {"e6076c00856c8c00", "-3.1100629748703607e+183", "d30000000000000000"},
    {"fb26ac807680a400", "-1.6858188152519994e+285", "d30000000000000000"},
    {"22d48400e9229a00", "6.729566424340798e-141", "cb22d48400e9229a00"},
    {"413e6a00bfc6ba00", "1993216.7491260767", "cb413e6a00bfc6ba00"},
    {"45cf8a809ab2d800", "1.9522948768327922e+28", "cf65b0000000000000"},
    {"16b3d80070440e00", "2.592428412200282e-199", "cb16b3d80070440e00"},
    {"35befe00ecb2a400", "8.283486274669791e-50", "cb35befe00ecb2a400"},
    {"b15684801b736200", "-5.097799398730516e-71", "cbb15684801b736200"},
    {"efd7a800c7ed2800", "-5.738558534630469e+230", "d30000000000000000"},
    {"57bea8005bac2800", "4.718429561542788e+114", "cf0000000000000000"},
    {"d715a800ec5b2880", "-3.255082137233743e+111", "d30000000000000000"},
    {"e302a6808b815400", "-8.798238101010584e+168", "d30000000000000000"},
    {"89fcb400e2571400", "-1.4584553909500467e-260", "cb89fcb400e2571400"},
    {"3d28740013f00b00", "4.3437477949441944e-14", "cb3d28740013f00b00"},
    {"caa2fa00b8a5ca00", "-3.5499895359664536e+51", "d30000000000000000"},
    {"a8ed1a00bc4cea00", "-1.5126139184087534e-111", "cba8ed1a00bc4cea00"},
    {"f1b93a00a3460a80", "-6.570747958365648e+239", "d30000000000000000"},
    {"394d5800f8398ef0", "1.1302807060085364e-32", "cb394d5800f8398ef0"},
    {"cbb28c00e9dcac00", "-4.547683935416477e+56", "d30000000000000000"},
    {"e063cc00870fec00", "-2.1234624444033307e+156", "d30000000000000000"},
    {"aee90c00e4372c00", "-1.0314424121553033e-82", "cbaee90c00e4372c00"},
    {"00824c717e04e600", "3.2572601229214864e-306", "cb00824c717e04e600"},
    {"8bc796801ca7c480", "-6.434618076728023e-252", "cb8bc796801ca7c480"},
    {"469510001c2cd000", "1.0679957158461433e+32", "cf0000000000000000"},
    {"6411c60065cf7680", "1.0989782333313056e+174", "cf0000000000000000"},
    {"06a2a4007b88d400", "1.0515613970207836e-276", "cb06a2a4007b88d400"},
    {"801034008b569400", "-2.253323021457254e-308", "cb801034008b569400"},
    {"40f3f48098665200", "81736.03720695525", "cb40f3f48098665200"},
    {"50b4e2004b8df200", "6.190246425558928e+80", "cf0000000000000000"},
    {"e2358200998f9280", "-1.2385514947197523e+165", "d30000000000000000"},
    {"894620001a6c6000", "-5.4893019622942775e-264", "cb894620001a6c6000"},
    {"08c3d600139f3c00", "1.9224125937824928e-266", "cb08c3d600139f3c00"},
    {"0ef812000323d800", "1.4785810942527333e-236", "cb0ef812000323d800"},
    {"adcf28009570a880", "-4.894367584161928e-88", "cbadcf28009570a880"},
    {"2bd42600e5700c00", "1.4738832414414086e-97", "cb2bd42600e5700c00"},
    {"77962c80069f4a00", "1.1439758145806257e+268", "cf0000000000000000"},
    {"8204ea00ba313a00", "-6.245870081165592e-299", "cb8204ea00ba313a00"},
    {"0c7e0a80d793c500", "1.6783339786980845e-248", "cb0c7e0a80d793c500"},
    {"9138a080ac08de00", "-1.0395709267507166e-225", "cb9138a080ac08de00"},
    {"be984e0084cd3e00", "-3.621681841552225e-7", "cbbe984e0084cd3e00"},
    {"88e3ae80039d9c80", "-7.629834886747075e-266", "cb88e3ae80039d9c80"},
    {"78f5c0c0bb3c6a80", "4.707106687354199e+274", "cf0000000000000000"},
    {"031ab87215ad2e00", "1.0459445744763696e-293", "cb031ab87215ad2e00"},
    {"6e445400d9f7b400", "1.4696178033566258e+223", "cf0000000000000000"},
    {"ae4a140011d37400", "-1.0487394979077051e-85", "cbae4a140011d37400"},
    {"2c130a001c639000", "2.2283684160918546e-96", "cb2c130a001c639000"},
    {"404804189374bc6a", "48.032", "cb404804189374bc6a"},
    {"3d6d5961c57c7f03", "8.341529600000001e-13", "cb3d6d5961c57c7f03"},
    {"403d0624dd2f1aa0", "29.024", "cb403d0624dd2f1aa0"},
    {"4413c943e5a9c4b6", "91247706285714280000", "cff250f96a712d8000"},
    {"404b5c28f5c28f5c", "54.72", "cb404b5c28f5c28f5c"},
    {"3f1011b5187aaff1", "0.00006129901714285714", "cb3f1011b5187aaff1"},
    {"4047ced916872b02", "47.616", "cb4047ced916872b02"},
    {"442c0df152244213", "258756754285714300000", "cf06f8a91221098000"},
    {"40573f7ced916873", "92.992", "cb40573f7ced916873"},
    {"441a767a130179dc", "122038125714285720000", "cf9d9e84c05e770000"},
    {"402978d4fdf3b646", "12.736", "cb402978d4fdf3b646"},
    {"3f0750171835a9b5", "0.00004446573714285714", "cb3f0750171835a9b5"},
    {"40582b020c49ba5e", "96.672", "cb40582b020c49ba5e"},
    {"42408c654c924925", "142149851428.57144", "cb42408c654c924925"},
    {"4045333333333333", "42.4", "cb4045333333333333"},
    {"3f14391fc6d01a22", "0.00007714516114285715", "cb3f14391fc6d01a22"},
    {"40553b645a1cac08", "84.928", "cb40553b645a1cac08"},
    {"441a0c5cc44b8713", "120126537142857150000", "cf83173112e1c4c000"},
    {"40334395810624dd", "19.264", "cb40334395810624dd"},
    {"440b737669923c6d", "63297755428571420000", "cf6e6ecd32478da000"},
    {"404af5c28f5c28f6", "53.92", "cb404af5c28f5c28f6"},
    {"3d81a55c843904a2", "2.0061114514285715e-12", "cb3d81a55c843904a2"},
    {"40542f1a9fbe76c9", "80.736", "cb40542f1a9fbe76c9"},
    {"40d9a8a44ee093ec", "26274.567314285712", "cb40d9a8a44ee093ec"},
    {"4058f1a9fbe76c8b", "99.776", "cb4058f1a9fbe76c8b"},
    {"3eeb90f84f0c4d76", "0.000013144630857142856", "cb3eeb90f84f0c4d76"},
    {"403a3d70a3d70a3d", "26.24", "cb403a3d70a3d70a3d"},
    {"40dc038cd808e4e8", "28686.200685714284", "cb40dc038cd808e4e8"},
    {"4046872b020c49ba", "45.056", "cb4046872b020c49ba"},
    {"3d719f01328b4915", "1.0016442514285716e-12", "cb3d719f01328b4915"},
    {"405876c8b4395810", "97.856", "cb405876c8b4395810"},
    {"4281416de7524925", "2371589302857.143", "cb4281416de7524925"},
    {"4013126e978d4fdf", "4.768", "cb4013126e978d4fdf"},
    {"427cc8b9b1b6db6e", "1978027154285.7144", "cb427cc8b9b1b6db6e"},
    {"4046189374bc6a7f", "44.192", "cb4046189374bc6a7f"},
    {"3d78519a6a70bca5", "1.3823616e-12", "cb3d78519a6a70bca5"},
    {"404b4395810624dd", "54.528", "cb404b4395810624dd"},
    {"3ed94bed5974b520", "0.0000060311771428571425", "cb3ed94bed5974b520"},
    {"404276c8b4395810", "36.928", "cb404276c8b4395810"},
    {"3f2749fe1a2a0359", "0.00017768122514285714", "cb3f2749fe1a2a0359"},
    {"40465a1cac083127", "44.704", "cb40465a1cac083127"},
    {"42698b938e924924", "877727085714.2856", "cb42698b938e924924"},
    {"404645a1cac08312", "44.544", "cb404645a1cac08312"},
    {"3ee8812b9ac15d72", "0.000011684690285714285", "cb3ee8812b9ac15d72"},
    {"4023333333333333", "9.6", "cb4023333333333333"},
    {"442936290eb6684b", "232535634285714300000", "cf9b14875b34258000"},
    {"40557ef9db22d0e5", "85.984", "cb40557ef9db22d0e5"},
    {"3f289f84c0f0d647", "0.00018785949257142857", "cb3f289f84c0f0d647"},
    {"403872b020c49ba6", "24.448", "cb403872b020c49ba6"},
    {"4254702b4b44924a", "351124925714.28577", "cb4254702b4b44924a"},
    {"40576a7ef9db22d1", "93.664", "cb40576a7ef9db22d1"},
    {"3d592b75fc4f5130", "3.5768393142857145e-13", "cb3d592b75fc4f5130"},
    {"4052810624dd2f1b", "74.016", "cb4052810624dd2f1b"},
    {"3d7259ba8246058f", "1.0431052800000001e-12", "cb3d7259ba8246058f"},
    {"4000624dd2f1a9fc", "2.048", "cb4000624dd2f1a9fc"},
    {"3d81d4a344650bc3", "2.027106377142857e-12", "cb3d81d4a344650bc3"},
    {"4014395810624dd3", "5.056", "cb4014395810624dd3"},
    {"424aca02cf24924a", "230116662857.14288", "cb424aca02cf24924a"},
    {"4054353f7ced9168", "80.832", "cb4054353f7ced9168"},
    {"3d504fa19f909a2f", "2.317941028571429e-13", "cb3d504fa19f909a2f"},
    {"3feeb851eb851eb8", "0.96", "cb3feeb851eb851eb8"},
    {"442c4cd3b3b027d8", "261022400000000000000", "cf2669d9d813ec0000"},
    {"4055b7ced916872b", "86.872", "cb4055b7ced916872b"},
    {"4283f52efc024924", "2742972022857.1426", "cb4283f52efc024924"},
    {"403126e978d4fdf4", "17.152", "cb403126e978d4fdf4"},
    {"42666757c4924924", "769784685714.2856", "cb42666757c4924924"},
    {"4055ae147ae147ae", "86.72", "cb4055ae147ae147ae"},
    {"3f33843858cb397c", "0.00029779792457142857", "cb3f33843858cb397c"},
    {"404b53f7ced91687", "54.656", "cb404b53f7ced91687"},
    {"442e2a46a1420bb7", "278224310857142860000", "cf152350a105db8000"},
    {"40491eb851eb851f", "50.24", "cb40491eb851eb851f"},
    {"40d78efacacf7ddd", "24123.918628571428", "cb40d78efacacf7ddd"},
    {"4053e978d4fdf3b6", "79.648", "cb4053e978d4fdf3b6"},
    {"3d6d6d79c71c7ae8", "8.363838171428572e-13", "cb3d6d6d79c71c7ae8"},
    {"40538d4fdf3b645a", "78.208", "cb40538d4fdf3b645a"},
    {"40d117d6298b8e7b", "17503.346285714284", "cb40d117d6298b8e7b"},
    {"4056fdf3b645a1cb", "91.968", "cb4056fdf3b645a1cb"},
    {"44036f59a4527749", "44813970285714285000", "cf6deb348a4ee92000"},
    {"4050e76c8b439581", "67.616", "cb4050e76c8b439581"},
    {"40d5497a0095cbec", "21797.906285714285", "cb40d5497a0095cbec"},
    {"40321cac083126e9", "18.112", "cb40321cac083126e9"},
    {"441574a2ab44bf77", "98946523428571430000", "cf5d28aad12fddc000"},
    {"4030cccccccccccd", "16.8", "cb4030cccccccccccd"},
    {"4424977806787ea9", "189924681142857140000", "cf4bbc033c3f548000"},
    {"4055ac083126e979", "86.688", "cb4055ac083126e979"},
    {"40d80daf99f37a5a", "24630.74377142857", "cb40d80daf99f37a5a"},
    {"405422d0e5604189", "80.544", "cb405422d0e5604189"},
    {"3d7543503c175843", "1.2086583771428573e-12", "cb3d7543503c175843"},
    {"40530e5604189375", "76.224", "cb40530e5604189375"},
    {"40d6ccf33e6f4b4e", "23347.800685714283", "cb40d6ccf33e6f4b4e"},
    {"4052f9db22d0e560", "75.904", "cb4052f9db22d0e560"},
    {"442fd50eeddd6bc0", "293600768000000000000", "cfea8776eeb5e00000"},
    {"4056645a1cac0831", "89.568", "cb4056645a1cac0831"},
    {"42821b9af5049249", "2488721645714.2856", "cb42821b9af5049249"},
    {"4038fdf3b645a1cb", "24.992", "cb4038fdf3b645a1cb"},
    {"4421e640326abb4f", "165092982857142860000", "cff32019355da78000"},
    {"404c76c8b4395810", "56.928", "cb404c76c8b4395810"},
    {"3f1ddd5da1cce3fe", "0.00011392482742857144", "cb3f1ddd5da1cce3fe"},
    {"403a9fbe76c8b439", "26.624", "cb403a9fbe76c8b439"},
    {"3d57fb0cd1bb19df", "3.407857371428572e-13", "cb3d57fb0cd1bb19df"},
    {"4051c6a7ef9db22d", "71.104", "cb4051c6a7ef9db22d"},
    {"3d8a40e0000c1a9e", "2.984668068571429e-12", "cb3d8a40e0000c1a9e"},
    {"402bd70a3d70a3d7", "13.92", "cb402bd70a3d70a3d7"},
    {"427767fa02924924", "1608458971428.5713", "cb427767fa02924924"},
    {"4044bc6a7ef9db23", "41.472", "cb4044bc6a7ef9db23"},
    {"40ccb35d548d9ac5", "14694.729142857143", "cb40ccb35d548d9ac5"},
    {"40369fbe76c8b439", "22.624", "cb40369fbe76c8b439"},
    {"4245d62502492492", "187574125714.2857", "cb4245d62502492492"},
    {"4021a9fbe76c8b44", "8.832", "cb4021a9fbe76c8b44"},
    {"40ca8feeae058016", "13599.864685714285", "cb40ca8feeae058016"},
    {"44250d0b9f5c6317", "194160822857142860000", "cf8685cfae318b8000"},
    {"3fc89374bc6a7efa", "0.192", "cb3fc89374bc6a7efa"},
    {"3ef11839219596e9", "0.000016302701714285715", "cb3ef11839219596e9"},
    {"403cfdf3b645a1cb", "28.992", "cb403cfdf3b645a1cb"},
    {"4282675abde49249", "2529389165714.2856", "cb4282675abde49249"},
    {"40570e5604189375", "92.224", "cb40570e5604189375"},
    {"3d804aebc7870d3e", "1.852261017142857e-12", "cb3d804aebc7870d3e"},
    {"40502c8b43958106", "64.696", "cb40502c8b43958106"},
    {"442e627628a03825", "280248612571428600000", "cf313b14501c128000"},
};
const size_t nvecs = sizeof vecs / sizeof vecs[0];
const size_t nmpvecs = sizeof mpvecs / sizeof mpvecs[0];
const size_t nnumvecs = sizeof numvecs / sizeof numvecs[0];
