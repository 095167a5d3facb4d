/* Unit tests for the reading half of base/json_text, the lexer the three
 * codecs share (lua_json, mpjson, sio_packet): whitespace, literals, the
 * number grammar and its values, strings with their escapes under each
 * codec's flags, the escaped-key comparison, and no read past the end
 * (inputs are exact-size heap copies, so ASan sees any overread). The
 * writing half is tested through mpjson's and lua_json's suites. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_text.h"
#include "testlib.h"

/* An exact-size copy of s (n bytes); the caller frees it. */
static char *exact(const char *s, size_t n)
{
    char *c = calloc(n ? n : 1, 1);
    if (!c)
        abort();
    memcpy(c, s, n);
    return c;
}

static void whitespace_is_the_four_json_bytes(void)
{
    const char *s = " \t\r\n x";
    CHECK(sl_json_skip_ws(s, s + strlen(s)) == s + 5);
    CHECK(sl_json_skip_ws(s, s + 3) == s + 3); /* stops at end */
    const char *other = "\f\v\xa0";
    for (int i = 0; other[i]; i++)
        CHECK(!sl_json_is_ws((unsigned char)other[i]));
}

static void literals_match_whole_or_not_at_all(void)
{
    struct {
        const char *s;
        size_t len;
    } cases[] = {{"true", 4}, {"false", 5}, {"null", 4}, {"true]", 4}, {"truE", 0},
                 {"tru", 0},  {"fals", 0},  {"nul", 0},  {"nulL", 0}, {"xnull", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].s);
        char *c = exact(cases[i].s, n);
        CHECK_EQ_INT(sl_json_literal(c, c + n), cases[i].len);
        free(c);
    }
}

/* ---- numbers ---------------------------------------------------------------- */

static int scan_num(const char *s, sl_json_number_t *num, size_t *at_off)
{
    size_t n = strlen(s);
    char *c = exact(s, n);
    const char *at = NULL;
    int rc = sl_json_scan_number(c, c + n, num, &at);
    if (rc) {
        *at_off = (size_t)(at - c);
    } else {
        /* Point the spans into s, which outlives the copy. */
        *at_off = (size_t)(num->end - c);
        num->int_end = s + (num->int_end - c);
        num->end = s + (num->end - c);
        num->start = s;
    }
    free(c);
    return rc;
}

static void number_grammar_and_where_it_fails(void)
{
    struct {
        const char *s;
        int rc;
        size_t off; /* the token's length, or the byte at fault */
        int integer;
    } cases[] = {
        {"0", 0, 1, 1},       {"-0", 0, 2, 1},      {"7]", 0, 1, 1},       {"123,", 0, 3, 1},
        {"-1.5", 0, 4, 0},    {"1e5", 0, 3, 0},     {"1E+5", 0, 4, 0},     {"2e-05x", 0, 5, 0},
        {"0.0e0", 0, 5, 0},   {"0x1", 0, 1, 1},     {"1.5.5", 0, 3, 0},    {"-", SL_JSON_E_NUMBER, 0, 0},
        {"-a", SL_JSON_E_NUMBER, 0, 0},             {"-.5", SL_JSON_E_NUMBER, 0, 0},
        {"01", SL_JSON_E_LEADING_ZERO, 0, 0},       {"-007", SL_JSON_E_LEADING_ZERO, 0, 0},
        {"1.", SL_JSON_E_FRACTION, 2, 0},           {"1.e5", SL_JSON_E_FRACTION, 2, 0},
        {"1e", SL_JSON_E_EXPONENT, 2, 0},           {"1e+", SL_JSON_E_EXPONENT, 3, 0},
        {"1.5E-x", SL_JSON_E_EXPONENT, 5, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_json_number_t num;
        size_t off;
        int rc = scan_num(cases[i].s, &num, &off);
        if (rc != cases[i].rc || off != cases[i].off)
            fprintf(stderr, "  \"%s\": rc %d at %zu\n", cases[i].s, rc, off);
        CHECK_EQ_INT(rc, cases[i].rc);
        CHECK_EQ_INT(off, cases[i].off);
        if (!rc) {
            CHECK_EQ_INT(num.integer, cases[i].integer);
            CHECK_EQ_INT(num.neg, cases[i].s[0] == '-');
        }
    }
    sl_json_number_t num;
    size_t off;
    CHECK_EQ_INT(scan_num("-12.5e3", &num, &off), 0);
    CHECK_STR(num.start, (size_t)(num.int_end - num.start), "-12");
    const char *minus = "-";
    CHECK_EQ_INT(sl_json_scan_number(minus, minus + 1, &num, NULL), SL_JSON_E_NUMBER);
}

static void integers_fit_int64_exactly(void)
{
    struct {
        const char *s;
        int fits;
        int64_t v;
    } cases[] = {
        {"0", 1, 0},
        {"9007199254740993", 1, 9007199254740993LL},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"99999999999999999999", 0, 0},
        {"-0", 0, 0}, /* an int64 has no -0 */
        {"1.0", 0, 0},
        {"1e2", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_json_number_t num;
        size_t off;
        int64_t v = 42;
        CHECK_EQ_INT(scan_num(cases[i].s, &num, &off), 0);
        CHECK_EQ_INT(sl_json_number_int64(&num, &v), cases[i].fits);
        if (cases[i].fits)
            CHECK(v == cases[i].v);
    }
}

static void plain_unsigned_up_to_a_maximum(void)
{
    sl_json_number_t num;
    size_t off;
    uint64_t v = 0;
    CHECK_EQ_INT(scan_num("4294967295", &num, &off), 0);
    CHECK_EQ_INT(sl_json_number_uint(&num, 0xffffffffu, &v), 1);
    CHECK(v == 0xffffffffu);
    CHECK_EQ_INT(scan_num("4294967296", &num, &off), 0);
    CHECK_EQ_INT(sl_json_number_uint(&num, 0xffffffffu, &v), 0);
    CHECK_EQ_INT(scan_num("18446744073709551615", &num, &off), 0);
    CHECK_EQ_INT(sl_json_number_uint(&num, UINT64_MAX, &v), 1);
    CHECK(v == UINT64_MAX);
    CHECK_EQ_INT(scan_num("18446744073709551616", &num, &off), 0);
    CHECK_EQ_INT(sl_json_number_uint(&num, UINT64_MAX, &v), 0);
    CHECK_EQ_INT(scan_num("7", &num, &off), 0);
    CHECK_EQ_INT(sl_json_number_uint(&num, 5, &v), 0);
    CHECK_EQ_INT(sl_json_number_uint(&num, 7, &v), 1);
    const char *not_plain[] = {"-0", "-1", "1.0", "1e0"};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(scan_num(not_plain[i], &num, &off), 0);
        CHECK_EQ_INT(sl_json_number_uint(&num, UINT64_MAX, &v), 0);
    }
}

static void doubles_are_what_json_parse_gives(void)
{
    const char *cases[] = {"0", "-0", "1", "-1", "123456789012345", "1234567890123456",
                           "9007199254740993", "0.1", "-1.5e3", "5e-324", "1e-400", "1e400",
                           "-1e400", "1.7976931348623157e308", "2.2250738585072014e-308",
                           /* longer than any stack copy */
                           "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_json_number_t num;
        size_t off;
        double v = 42;
        CHECK_EQ_INT(scan_num(cases[i], &num, &off), 0);
        CHECK_EQ_INT(sl_json_number_double(&num, &v), 0);
        double want = strtod(cases[i], NULL);
        if (memcmp(&v, &want, sizeof v) != 0) /* bit for bit: -0 and inf too */
            fprintf(stderr, "  %s: %a, expected %a\n", cases[i], v, want);
        CHECK(memcmp(&v, &want, sizeof v) == 0);
    }
}

/* ---- strings ---------------------------------------------------------------- */

typedef struct scanned {
    int rc;
    size_t at;     /* offset of s.at on failure */
    size_t len;    /* length of the whole literal on success */
    int escaped;
    char text[64]; /* decoded text (escaped) or the span (not) */
    size_t tlen;
} scanned_t;

/* Scans s (n bytes, an exact copy) with flags, decoding into a buffer that
 * already holds "pre" so appending (not overwriting) shows. */
static scanned_t scan_str(const char *s, size_t n, unsigned flags, int decode)
{
    scanned_t r;
    memset(&r, 0, sizeof r);
    char *c = exact(s, n);
    sl_buf_t out = SL_BUF_INIT;
    sl_buf_append(&out, "pre", 3);
    sl_json_string_t st;
    r.rc = sl_json_scan_string(c, c + n, flags, decode ? &out : NULL, &st);
    if (r.rc) {
        r.at = (size_t)(st.at - c);
    } else {
        r.len = (size_t)(st.end - c);
        r.escaped = st.escaped;
        if (st.escaped && decode) {
            CHECK_STR(out.data, 3, "pre");
            r.tlen = out.len - 3;
            memcpy(r.text, out.data + 3, r.tlen < sizeof r.text ? r.tlen : sizeof r.text);
        } else {
            CHECK_EQ_INT(out.len, 3); /* nothing copied */
            r.tlen = r.len - 2;
            memcpy(r.text, c + 1, r.tlen < sizeof r.text ? r.tlen : sizeof r.text);
        }
    }
    sl_buf_free(&out);
    free(c);
    return r;
}

#define UTF8_LONE (SL_JSON_STR_UTF8 | SL_JSON_STR_LONE_ERROR)

static void string_without_escapes_is_a_span_of_the_input(void)
{
    const char *s = "\"h\xc3\xa9llo\" rest";
    scanned_t r = scan_str(s, strlen(s), UTF8_LONE, 1);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.escaped, 0);
    CHECK_EQ_INT(r.len, 8);
    CHECK_STR(r.text, r.tlen, "h\xc3\xa9llo");
    r = scan_str("\"\"", 2, UTF8_LONE, 1);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.tlen, 0);
}

static void escapes_decode_and_append(void)
{
    const char *s = "\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\\u0000j\\u00e9\\u20AC\\ud83d\\ude00z\"";
    scanned_t r = scan_str(s, strlen(s), UTF8_LONE, 1);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.escaped, 1);
    CHECK_EQ_INT(r.len, strlen(s));
    static const char want[] = "a\"b\\c/d\be\ff\ng\rh\ti\0j\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
    CHECK_MEM(r.text, r.tlen, want, sizeof want - 1);
    /* Only checking: escaped is still reported, nothing is written. */
    r = scan_str(s, strlen(s), UTF8_LONE, 0);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.escaped, 1);
}

static void lone_surrogates_by_flag(void)
{
    const char *cases[] = {"\"\\ud800\"", "\"\\udc00\"", "\"x\\ud83dy\"", "\"\\ud83d\\u0041\"",
                           "\"\\udc00\\ud800\""};
    const char *fffd[] = {"\xef\xbf\xbd", "\xef\xbf\xbd", "x\xef\xbf\xbdy", "\xef\xbf\xbd" "A",
                          "\xef\xbf\xbd\xef\xbf\xbd"};
    const size_t err_at[] = {1, 1, 2, 1, 1};
    for (size_t i = 0; i < 5; i++) {
        size_t n = strlen(cases[i]);
        scanned_t r = scan_str(cases[i], n, UTF8_LONE, 1);
        CHECK_EQ_INT(r.rc, SL_JSON_E_SURROGATE);
        CHECK_EQ_INT(r.at, err_at[i]); /* the backslash of the lone one */
        r = scan_str(cases[i], n, SL_JSON_STR_UTF8, 1);
        CHECK_EQ_INT(r.rc, 0);
        CHECK_STR(r.text, r.tlen, fffd[i]);
        r = scan_str(cases[i], n, 0, 0); /* accepted, as JSON.parse does */
        CHECK_EQ_INT(r.rc, 0);
    }
}

static void raw_bytes_by_flag(void)
{
    const char *bad[] = {"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xe2\x82\""};
    for (size_t i = 0; i < 5; i++) {
        size_t n = strlen(bad[i]);
        scanned_t r = scan_str(bad[i], n, SL_JSON_STR_UTF8, 1);
        CHECK_EQ_INT(r.rc, SL_JSON_E_UTF8);
        CHECK_EQ_INT(r.at, 1);
        r = scan_str(bad[i], n, 0, 1); /* bytes pass as they are */
        CHECK_EQ_INT(r.rc, 0);
        CHECK_MEM(r.text, r.tlen, bad[i] + 1, n - 2);
    }
}

static void string_errors_and_where(void)
{
    struct {
        const char *s;
        size_t n;
        int rc;
        size_t at;
    } cases[] = {
        {"\"abc", 4, SL_JSON_E_UNTERMINATED, 0},
        {"\"abc\\", 5, SL_JSON_E_UNTERMINATED, 0},  /* a backslash as the last byte */
        {"\"a\\\"", 4, SL_JSON_E_UNTERMINATED, 0},  /* the quote is escaped */
        {"\"a\nb\"", 5, SL_JSON_E_CONTROL, 2},
        {"\"a\0b\"", 5, SL_JSON_E_CONTROL, 2},
        {"\"ab\\x\"", 6, SL_JSON_E_ESCAPE, 3},
        {"\"\\'\"", 4, SL_JSON_E_ESCAPE, 1},
        {"\"\\u12\"", 6, SL_JSON_E_UNICODE_ESCAPE, 1},
        {"\"\\u12", 5, SL_JSON_E_UNICODE_ESCAPE, 1},
        {"\"\\uzzzz\"", 8, SL_JSON_E_UNICODE_ESCAPE, 1},
        {"\"\\ud83d\\u12\"", 12, SL_JSON_E_SURROGATE, 1}, /* a broken second half */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        scanned_t r = scan_str(cases[i].s, cases[i].n, UTF8_LONE, 1);
        if (r.rc != cases[i].rc || r.at != cases[i].at)
            fprintf(stderr, "  case %zu: rc %d at %zu\n", i, r.rc, r.at);
        CHECK_EQ_INT(r.rc, cases[i].rc);
        CHECK_EQ_INT(r.at, cases[i].at);
    }
    /* Without the surrogate flag the broken second half is its own error. */
    scanned_t r = scan_str("\"\\ud83d\\u12\"", 12, 0, 1);
    CHECK_EQ_INT(r.rc, SL_JSON_E_UNICODE_ESCAPE);
    CHECK_EQ_INT(r.at, 7);
}

/* Every prefix of a string with every kind of escape fails cleanly without
 * reading past its end (ASan), under every combination of flags. */
static void every_truncation_fails_within_bounds(void)
{
    const char *s = "\"a\\n\\u00e9\\ud83d\\ude00\xe2\x82\xac\\ud800\"";
    size_t n = strlen(s);
    for (unsigned flags = 0; flags < 4; flags++) {
        for (size_t k = 0; k < n; k++) {
            scanned_t r = scan_str(s, k, flags, flags & 1);
            CHECK(r.rc != 0);
            CHECK(r.at <= k);
        }
        scanned_t r = scan_str(s, n, flags, 1);
        CHECK_EQ_INT(r.rc, flags & SL_JSON_STR_LONE_ERROR ? SL_JSON_E_SURROGATE : 0);
    }
}

static void escaped_string_compares_decoded(void)
{
    struct {
        const char *body, *lit;
        int eq;
    } cases[] = {
        {"_placeholder", "_placeholder", 1},
        {"\\u005fplaceholder", "_placeholder", 1},
        {"\\u005Fpl\\u0061ceholder", "_placeholder", 1},
        {"n\\u0075m", "num", 1},
        {"num", "nu", 0},
        {"nu", "num", 0},
        {"", "", 1},
        {"\\/", "/", 1},
        {"\\n", "\n", 1},
        {"\\u0063onnect", "connect", 1},
        {"\\u0100", "\x01", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].body);
        char *c = exact(cases[i].body, n);
        CHECK_EQ_INT(sl_json_string_eq(c, c + n, cases[i].lit), cases[i].eq);
        free(c);
    }
}

static void every_code_has_a_message(void)
{
    CHECK_STR(sl_json_strerror(SL_JSON_E_SURROGATE), strlen(sl_json_strerror(SL_JSON_E_SURROGATE)),
              "lone surrogate in \\u escape");
    CHECK_STR(sl_json_strerror(SL_JSON_E_LEADING_ZERO), strlen(sl_json_strerror(SL_JSON_E_LEADING_ZERO)),
              "leading zero in number");
    for (int c = SL_JSON_E_EXPONENT; c <= SL_JSON_E_UNTERMINATED; c++)
        CHECK(strcmp(sl_json_strerror(c), "invalid JSON") != 0);
    CHECK_STR(sl_json_strerror(-ENOMEM), strlen(sl_json_strerror(-ENOMEM)), "out of memory");
}


/* sl_json_plain_len, the sixteen-bytes-a-step run finder (its last block
 * read again where it overlaps the one before): every special byte at
 * every position of blocks and tails is found exactly where it is, the
 * first of two wherever the second is, high bytes count only when asked,
 * and nothing past n is read (each buffer is its own allocation). */
static void plain_len_finds_each_special_byte_wherever_it_is(void)
{
    static const unsigned char special[] = {'"', '\\', 0x00, 0x01, 0x0a, 0x1f};
    static const unsigned char plain[] = {' ', '!', '#', '[', ']', '~', 0x7f, 'a'};
    for (size_t n = 0; n <= 72; n++) {
        char *buf = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)plain[i % sizeof plain];
        CHECK_EQ_INT(sl_json_plain_len(buf, n, 0), n);
        CHECK_EQ_INT(sl_json_plain_len(buf, n, 1), n);
        for (size_t at = 0; at < n; at++) {
            char keep = buf[at];
            for (size_t k = 0; k < sizeof special; k++) {
                buf[at] = (char)special[k];
                CHECK_EQ_INT(sl_json_plain_len(buf, n, 0), at);
                CHECK_EQ_INT(sl_json_plain_len(buf, n, 1), at);
            }
            buf[at] = (char)0x80;
            CHECK_EQ_INT(sl_json_plain_len(buf, n, 0), n);
            CHECK_EQ_INT(sl_json_plain_len(buf, n, 1), at);
            buf[at] = (char)0xff;
            CHECK_EQ_INT(sl_json_plain_len(buf, n, 0), n);
            CHECK_EQ_INT(sl_json_plain_len(buf, n, 1), at);
            buf[at] = '"';
            for (size_t later = at + 1; later < n; later++) {
                char keep2 = buf[later];
                buf[later] = '\\';
                CHECK_EQ_INT(sl_json_plain_len(buf, n, 0), at);
                buf[later] = (char)0xc3;
                CHECK_EQ_INT(sl_json_plain_len(buf, n, 1), at);
                buf[later] = keep2;
            }
            buf[at] = keep;
        }
        free(buf);
    }
}

TL_SUITE(json_text, NULL, NULL,
         TL_TEST(plain_len_finds_each_special_byte_wherever_it_is),
         TL_TEST(whitespace_is_the_four_json_bytes),
         TL_TEST(literals_match_whole_or_not_at_all),
         TL_TEST(number_grammar_and_where_it_fails),
         TL_TEST(integers_fit_int64_exactly),
         TL_TEST(plain_unsigned_up_to_a_maximum),
         TL_TEST(doubles_are_what_json_parse_gives),
         TL_TEST(string_without_escapes_is_a_span_of_the_input),
         TL_TEST(escapes_decode_and_append),
         TL_TEST(lone_surrogates_by_flag),
         TL_TEST(raw_bytes_by_flag),
         TL_TEST(string_errors_and_where),
         TL_TEST(every_truncation_fails_within_bounds),
         TL_TEST(escaped_string_compares_decoded),
         TL_TEST(every_code_has_a_message));
