/* Unit tests of L2 eio_packet: the Engine.IO text packet decoder, the v4
 * polling payload (0x1e-separated records, "b<base64>" binary) and the v3
 * payloads ("<len>:<packet>" with len in UTF-16 units, "b4<base64>", and
 * the XHR2 binary payload). Every input is copied into an exactly-sized
 * heap block so ASan catches any read past its end (the decoders must never
 * rely on a NUL, and they decode in place, so inputs must be writable). */
#include "eio/eio_packet.h"
#include "testlib.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------ */

static char *exact(const void *s, size_t n)
{
    char *c = calloc(n ? n : 1, 1); /* zeroed: the empty case passes no unset byte */
    if (!c)
        abort();
    memcpy(c, s, n);
    return c;
}

/* What a payload callback saw: each packet's fields, its data copied out
 * (the decoders point into the body, which the test frees). */
#define MAXPKT 64
typedef struct {
    int n;
    eio_type_t type[MAXPKT];
    int binary[MAXPKT];
    char data[MAXPKT][256];
    size_t len[MAXPKT];
    int stop_at; /* return stop_rc from the stop_at-th call (1-based); 0 = never */
    int stop_rc;
} seen_t;

static int collect(const eio_packet_t *pkt, void *ud)
{
    seen_t *s = ud;
    if (s->n < MAXPKT) {
        s->type[s->n] = pkt->type;
        s->binary[s->n] = pkt->binary;
        s->len[s->n] = pkt->len;
        memcpy(s->data[s->n], pkt->data, pkt->len < 256 ? pkt->len : 256);
    }
    s->n++;
    if (s->stop_at && s->n == s->stop_at)
        return s->stop_rc;
    return 0;
}

typedef int (*decoder_t)(char *, size_t, eio_payload_cb, void *);

static int run_n(decoder_t dec, const void *in, size_t n, seen_t *s)
{
    char *body = exact(in, n);
    int rc = dec(body, n, collect, s);
    free(body);
    return rc;
}

static int v4(const char *in, seen_t *s) { return run_n(eio_payload_decode, in, strlen(in), s); }
static int v3(const char *in, seen_t *s) { return run_n(eio3_payload_decode, in, strlen(in), s); }
static int v3bin(const void *in, size_t n, seen_t *s) { return run_n(eio3_payload_decode_binary, in, n, s); }

#define SEEN(s) seen_t s; memset(&s, 0, sizeof s)

/* Checks packet i of s: type, binary flag and data. */
#define CHECK_PKT(s, i, t, bin, d, dn)                                         \
    do {                                                                       \
        CHECK((s).n > (int)(i));                                               \
        if ((s).n > (int)(i)) {                                                \
            CHECK_EQ_INT((s).type[i], t);                                      \
            CHECK_EQ_INT((s).binary[i], bin);                                  \
            CHECK_MEM((s).data[i], (s).len[i], d, dn);                         \
        }                                                                      \
    } while (0)
#define CHECK_TEXT(s, i, t, d) CHECK_PKT(s, i, t, 0, d, strlen(d))

/* Decodes one text packet from an exact-size copy; the input is kept in
 * *keep so the returned data pointer stays valid (caller frees). */
static int dec_text(const char *s, size_t n, eio_packet_t *pkt, char **keep)
{
    *keep = exact(s, n);
    return eio_packet_decode_text(*keep, n, pkt);
}

/* ---- eio_packet_decode_text -------------------------------------------- */

static void decode_text_every_type_with_data(void)
{
    for (int t = 0; t <= 6; t++) {
        char in[16];
        int n = snprintf(in, sizeof in, "%dhello", t);
        eio_packet_t pkt;
        char *keep;
        CHECK_EQ_INT(dec_text(in, (size_t)n, &pkt, &keep), 0);
        CHECK_EQ_INT(pkt.type, t);
        CHECK_EQ_INT(pkt.binary, 0);
        CHECK_STR(pkt.data, pkt.len, "hello");
        CHECK(pkt.data == keep + 1); /* points into the input */
        free(keep);
    }
}

static void decode_text_every_type_without_data(void)
{
    for (int t = 0; t <= 6; t++) {
        char in = (char)('0' + t);
        eio_packet_t pkt;
        char *keep;
        memset(&pkt, 0xff, sizeof pkt);
        CHECK_EQ_INT(dec_text(&in, 1, &pkt, &keep), 0);
        CHECK_EQ_INT(pkt.type, t);
        CHECK_EQ_INT(pkt.binary, 0);
        CHECK_EQ_INT(pkt.len, 0);
        free(keep);
    }
}

static void decode_text_keeps_data_bytes_verbatim(void)
{
    static const char in[] = "4\0\x1e\xff\xe2\x82\xac{\"a\":1}";
    eio_packet_t pkt;
    char *keep;
    CHECK_EQ_INT(dec_text(in, sizeof in - 1, &pkt, &keep), 0);
    CHECK_EQ_INT(pkt.type, EIO_MESSAGE);
    CHECK_MEM(pkt.data, pkt.len, in + 1, sizeof in - 2);
    free(keep);
}

static void decode_text_rejects_empty_input(void)
{
    eio_packet_t pkt;
    char *keep;
    CHECK_EQ_INT(dec_text("", 0, &pkt, &keep), -1);
    free(keep);
}

static void decode_text_rejects_bad_type_bytes(void)
{
    static const char bad[] = {'7', '8', '9', 'a', '/', 'b', ' ', ':', '\0', '\x1e', '\x80', '\xff'};
    for (size_t i = 0; i < sizeof bad; i++) {
        char in[2] = {bad[i], 'x'};
        eio_packet_t pkt;
        char *keep;
        CHECK_EQ_INT(dec_text(in, 2, &pkt, &keep), -1);
        free(keep);
        CHECK_EQ_INT(dec_text(in, 1, &pkt, &keep), -1);
        free(keep);
    }
}

/* ---- v4 payload decode -------------------------------------------------- */

static void payload_decode_single_record(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4hello", &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello");

    SEEN(t);
    CHECK_EQ_INT(v4("2", &t), 0);
    CHECK_EQ_INT(t.n, 1);
    CHECK_TEXT(t, 0, EIO_PING, "");
}

static void payload_decode_splits_records_in_order(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4hello\x1e" "2\x1e" "4world\x1e" "1\x1e" "3probe", &s), 0);
    CHECK_EQ_INT(s.n, 5);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello");
    CHECK_TEXT(s, 1, EIO_PING, "");
    CHECK_TEXT(s, 2, EIO_MESSAGE, "world");
    CHECK_TEXT(s, 3, EIO_CLOSE, "");
    CHECK_TEXT(s, 4, EIO_PONG, "probe");
}

static void payload_decode_base64_binary_record(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("bAQIDBA==", &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_PKT(s, 0, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
}

static void payload_decode_base64_without_padding_and_url_safe(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("bAQIDBA\x1e" "b-_-_", &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_PKT(s, 0, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "\xfb\xff\xbf", 3);
}

static void payload_decode_empty_binary_record_is_empty_buffer(void)
{
    /* As the reference parser: Buffer.from("", "base64") is an empty buffer. */
    SEEN(s);
    CHECK_EQ_INT(v4("b\x1e" "4x", &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_PKT(s, 0, EIO_MESSAGE, 1, "", 0);
    CHECK_TEXT(s, 1, EIO_MESSAGE, "x");
}

static void payload_decode_mix_of_text_and_binary(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4hello\x1e" "bAQIDBA==\x1e" "4\xe2\x82\xac\x1e" "bAA==\x1e" "6", &s), 0);
    CHECK_EQ_INT(s.n, 5);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello");
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
    CHECK_TEXT(s, 2, EIO_MESSAGE, "\xe2\x82\xac");
    CHECK_PKT(s, 3, EIO_MESSAGE, 1, "\0", 1);
    CHECK_TEXT(s, 4, EIO_NOOP, "");
}

static void payload_decode_rejects_empty_body(void)
{
    SEEN(s);
    CHECK_EQ_INT(run_n(eio_payload_decode, "", 0, &s), -1);
    CHECK_EQ_INT(s.n, 0);
}

static void payload_decode_rejects_empty_record_after_earlier_ones(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4a\x1e\x1e" "4b", &s), -1);
    CHECK_EQ_INT(s.n, 1);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "a");
}

static void payload_decode_rejects_trailing_separator(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4a\x1e" "4b\x1e", &s), -1);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "a");
    CHECK_TEXT(s, 1, EIO_MESSAGE, "b");

    SEEN(t);
    CHECK_EQ_INT(v4("\x1e", &t), -1);
    CHECK_EQ_INT(t.n, 0);
}

static void payload_decode_rejects_leading_separator(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("\x1e" "4a", &s), -1);
    CHECK_EQ_INT(s.n, 0);
}

static void payload_decode_rejects_garbage_record(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4a\x1e" "2\x1e" "hello\x1e" "4c", &s), -1);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "a");
    CHECK_TEXT(s, 1, EIO_PING, "");

    SEEN(t);
    CHECK_EQ_INT(v4("7x", &t), -1);
    CHECK_EQ_INT(t.n, 0);
}

static void payload_decode_rejects_bad_base64(void)
{
    SEEN(s);
    CHECK_EQ_INT(v4("4a\x1e" "bAQ!DBA==\x1e" "4c", &s), -1);
    CHECK_EQ_INT(s.n, 1);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "a");

    SEEN(t); /* impossible length: 5 characters */
    CHECK_EQ_INT(v4("4a\x1e" "bAQIDB", &t), -1);
    CHECK_EQ_INT(t.n, 1);

    SEEN(u); /* base64 with a space */
    CHECK_EQ_INT(v4("bAQ IDBA=", &u), -1);
    CHECK_EQ_INT(u.n, 0);
}

static void payload_decode_callback_return_stops_and_is_returned(void)
{
    SEEN(s);
    s.stop_at = 2;
    s.stop_rc = 7;
    CHECK_EQ_INT(v4("4a\x1e" "4b\x1e" "4c", &s), 7);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 1, EIO_MESSAGE, "b");

    SEEN(t); /* stops before a malformed record is even looked at */
    t.stop_at = 1;
    t.stop_rc = -42;
    CHECK_EQ_INT(v4("bAQIDBA==\x1e" "garbage", &t), -42);
    CHECK_EQ_INT(t.n, 1);

    SEEN(u); /* on the last record: still returned */
    u.stop_at = 2;
    u.stop_rc = 1;
    CHECK_EQ_INT(v4("4a\x1e" "4b", &u), 1);
    CHECK_EQ_INT(u.n, 2);
}

/* ---- v4 payload append -------------------------------------------------- */

static void payload_append_text_separators_only_between_records(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(eio_payload_append(&b, EIO_MESSAGE, 0, "hello", 5), 0);
    CHECK_STR(b.data, b.len, "4hello"); /* no leading separator */
    CHECK_EQ_INT(eio_payload_append(&b, EIO_PING, 0, NULL, 0), 0);
    CHECK_EQ_INT(eio_payload_append(&b, EIO_NOOP, 0, "", 0), 0);
    CHECK_EQ_INT(eio_payload_append(&b, EIO_OPEN, 0, "{\"sid\":\"x\"}", 11), 0);
    CHECK_STR(b.data, b.len, "4hello\x1e" "2\x1e" "6\x1e" "0{\"sid\":\"x\"}"); /* none trailing */
    sl_buf_free(&b);
}

static void payload_append_binary_is_b_base64(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4), 0);
    CHECK_STR(b.data, b.len, "bAQIDBA==");
    CHECK_EQ_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "", 0), 0);
    CHECK_EQ_INT(eio_payload_append(&b, EIO_MESSAGE, 0, "x", 1), 0);
    CHECK_STR(b.data, b.len, "bAQIDBA==\x1e" "b\x1e" "4x");
    sl_buf_free(&b);
}

static void payload_append_round_trips_text_and_binary(void)
{
    static const struct {
        eio_type_t type;
        int binary;
        const char *data;
        size_t len;
    } pk[] = {
        {EIO_OPEN, 0, "{\"sid\":\"abc\",\"upgrades\":[]}", 27},
        {EIO_MESSAGE, 1, "\x00\x01\xfe\xff\x1e", 5},
        {EIO_MESSAGE, 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9},
        {EIO_PING, 0, "", 0},
        {EIO_MESSAGE, 1, "a", 1},
        {EIO_MESSAGE, 1, "ab", 2},
        {EIO_MESSAGE, 1, "abc", 3},
        {EIO_MESSAGE, 0, "2[\"ev\",{\"_placeholder\":true,\"num\":0}]", 37},
        {EIO_CLOSE, 0, "", 0},
    };
    size_t np = sizeof pk / sizeof *pk;
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 0; i < np; i++)
        CHECK_EQ_INT(eio_payload_append(&b, pk[i].type, pk[i].binary, pk[i].data, pk[i].len), 0);
    SEEN(s);
    CHECK_EQ_INT(run_n(eio_payload_decode, b.data, b.len, &s), 0);
    CHECK_EQ_INT(s.n, (int)np);
    for (size_t i = 0; i < np && (int)i < s.n; i++)
        CHECK_PKT(s, i, pk[i].type, pk[i].binary, pk[i].data, pk[i].len);
    sl_buf_free(&b);
}

static void payload_append_round_trips_random_binary(void)
{
    uint32_t x = 12345;
    sl_buf_t b = SL_BUF_INIT;
    unsigned char data[40][200];
    size_t len[40];
    for (int i = 0; i < 40; i++) {
        len[i] = (size_t)(i * 7 % 200);
        for (size_t j = 0; j < len[i]; j++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            data[i][j] = (unsigned char)(x >> 24);
        }
        CHECK_EQ_INT(eio_payload_append(&b, EIO_MESSAGE, 1, (const char *)data[i], len[i]), 0);
    }
    SEEN(s);
    CHECK_EQ_INT(run_n(eio_payload_decode, b.data, b.len, &s), 0);
    CHECK_EQ_INT(s.n, 40);
    for (int i = 0; i < 40 && i < s.n; i++)
        CHECK_PKT(s, i, EIO_MESSAGE, 1, data[i], len[i]);
    sl_buf_free(&b);
}

/* ---- v3 payload decode -------------------------------------------------- */

static void eio3_payload_decode_splits_records_in_order(void)
{
    SEEN(s);
    CHECK_EQ_INT(v3("6:4hello2:4a", &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello");
    CHECK_TEXT(s, 1, EIO_MESSAGE, "a");

    SEEN(t);
    CHECK_EQ_INT(v3("1:2", &t), 0);
    CHECK_EQ_INT(t.n, 1);
    CHECK_TEXT(t, 0, EIO_PING, "");

    SEEN(u); /* a multi-digit length, and a record containing digits/colons */
    CHECK_EQ_INT(v3("12:42[\"a\",\"b:\"]1:6", &u), 0);
    CHECK_EQ_INT(u.n, 2);
    CHECK_TEXT(u, 0, EIO_MESSAGE, "2[\"a\",\"b:\"]");
    CHECK_TEXT(u, 1, EIO_NOOP, "");
}

static void eio3_payload_decode_length_counts_utf16_units(void)
{
    /* é (2 bytes) and € (3 bytes) are one unit each. */
    SEEN(s);
    CHECK_EQ_INT(v3("3:4\xc3\xa9\xe2\x82\xac" "1:2", &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "\xc3\xa9\xe2\x82\xac");
    CHECK_TEXT(s, 1, EIO_PING, "");

    /* 😀 (4 bytes) is a surrogate pair: two units. */
    SEEN(t);
    CHECK_EQ_INT(v3("3:4\xf0\x9f\x98\x80" "2:4x", &t), 0);
    CHECK_EQ_INT(t.n, 2);
    CHECK_TEXT(t, 0, EIO_MESSAGE, "\xf0\x9f\x98\x80");
    CHECK_TEXT(t, 1, EIO_MESSAGE, "x");

    /* All together: 1 + 1 + 1 + 2 = 5 units, 10 bytes. */
    SEEN(u);
    CHECK_EQ_INT(v3("5:4\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", &u), 0);
    CHECK_EQ_INT(u.n, 1);
    CHECK_TEXT(u, 0, EIO_MESSAGE, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

static void eio3_payload_decode_spec_example_with_base64(void)
{
    /* v3.md: "2:4€10:b4AQIDBA==" */
    SEEN(s);
    CHECK_EQ_INT(v3("2:4\xe2\x82\xac" "10:b4AQIDBA==", &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "\xe2\x82\xac");
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
}

static void eio3_payload_decode_b4_binary_records(void)
{
    SEEN(s);
    CHECK_EQ_INT(v3("10:b4AQIDBA==6:b4AAE=1:6", &s), 0);
    CHECK_EQ_INT(s.n, 3);
    CHECK_PKT(s, 0, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "\x00\x01", 2);
    CHECK_TEXT(s, 2, EIO_NOOP, "");
}

static void eio3_payload_decode_rejects_bad_b_records(void)
{
    SEEN(s); /* 'b' alone: no type */
    CHECK_EQ_INT(v3("1:b", &s), -1);
    CHECK_EQ_INT(s.n, 0);

    SEEN(t); /* binary of another type than message */
    CHECK_EQ_INT(v3("6:4hello10:b2AQIDBA==", &t), -1);
    CHECK_EQ_INT(t.n, 1);

    SEEN(u); /* bad base64 */
    CHECK_EQ_INT(v3("6:4hello10:b4AQ!DBA==", &u), -1);
    CHECK_EQ_INT(u.n, 1);
    CHECK_TEXT(u, 0, EIO_MESSAGE, "hello");

    SEEN(v); /* impossible base64 length (5) */
    CHECK_EQ_INT(v3("7:b4AQIDB", &v), -1);
    CHECK_EQ_INT(v.n, 0);
}

static void eio3_payload_decode_rejects_malformed_lengths(void)
{
    static const char *bad[] = {
        "",                    /* empty body */
        "64hello",             /* missing colon */
        "6",                   /* digits only */
        ":4hello",             /* no digits */
        "0:",                  /* zero */
        "0:4a",                /* zero */
        "7:4hello",            /* too long: past the end */
        "99999:4",             /* past the end */
        "00000000006:4hello",  /* 11 digits */
        "99999999999:4hello",  /* 11 digits */
        "-1:4",                /* sign */
        " 6:4hello",           /* leading space */
        "6 :4hello",           /* space before colon */
        "2:7a",                /* bad packet type */
        "2:4\xe2\x82",         /* length ends inside a truncated UTF-8 sequence */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        SEEN(s);
        int rc = v3(bad[i], &s);
        if (rc != -1)
            fprintf(stderr, "  input #%zu \"%s\" accepted\n", i, bad[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK_EQ_INT(s.n, 0);
    }
}

static void eio3_payload_decode_accepts_ten_digit_length(void)
{
    SEEN(s);
    CHECK_EQ_INT(v3("0000000006:4hello", &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello");
}

static void eio3_payload_decode_rejects_junk_after_records(void)
{
    SEEN(s); /* a trailing length without its colon */
    CHECK_EQ_INT(v3("6:4hello2", &s), -1);
    CHECK_EQ_INT(s.n, 1);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello");

    SEEN(t); /* a trailing header without a record */
    CHECK_EQ_INT(v3("6:4hello2:", &t), -1);
    CHECK_EQ_INT(t.n, 1);

    SEEN(u); /* a record shorter than its length */
    CHECK_EQ_INT(v3("6:4hello3:4a", &u), -1);
    CHECK_EQ_INT(u.n, 1);
}

static void eio3_payload_decode_rejects_length_splitting_surrogate_pair(void)
{
    /* "4😀" is 3 UTF-16 units; a length of 2 ends between the two halves of
     * the surrogate pair. The reference parser takes "4\uD83D" and then
     * fails on the dangling low surrogate; here the record must be refused,
     * not silently stretched to 3 units. */
    SEEN(s);
    CHECK_EQ_INT(v3("2:4\xf0\x9f\x98\x80", &s), -1);
    CHECK_EQ_INT(s.n, 0);

    SEEN(t); /* and the next record must not be read from where it stopped */
    CHECK_EQ_INT(v3("2:4\xf0\x9f\x98\x80" "1:2", &t), -1);
    CHECK_EQ_INT(t.n, 0);
}

static void eio3_payload_decode_callback_return_stops_and_is_returned(void)
{
    SEEN(s);
    s.stop_at = 1;
    s.stop_rc = 5;
    CHECK_EQ_INT(v3("6:4hello2:4a", &s), 5);
    CHECK_EQ_INT(s.n, 1);

    SEEN(t);
    t.stop_at = 2;
    t.stop_rc = -3;
    CHECK_EQ_INT(v3("6:4hello10:b4AQIDBA==2:4c", &t), -3);
    CHECK_EQ_INT(t.n, 2);
}

/* ---- v3 payload append -------------------------------------------------- */

static void eio3_payload_append_text_binary_and_concatenation(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(eio3_payload_append(&b, EIO_MESSAGE, 0, "hello", 5), 0);
    CHECK_STR(b.data, b.len, "6:4hello");
    CHECK_EQ_INT(eio3_payload_append(&b, EIO_PING, 0, "", 0), 0);
    CHECK_EQ_INT(eio3_payload_append(&b, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4), 0);
    CHECK_STR(b.data, b.len, "6:4hello1:210:b4AQIDBA==");
    sl_buf_free(&b);
}

static void eio3_payload_append_counts_utf16_units(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(eio3_payload_append(&b, EIO_MESSAGE, 0, "\xe2\x82\xac", 3), 0);
    CHECK_STR(b.data, b.len, "2:4\xe2\x82\xac"); /* the v3.md example */
    sl_buf_reset(&b);
    CHECK_EQ_INT(eio3_payload_append(&b, EIO_MESSAGE, 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 0);
    CHECK_STR(b.data, b.len, "5:4\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    sl_buf_reset(&b);
    /* 4 emoji = 8 units + type = 9; 5 more ASCII = 14: a two-digit length. */
    CHECK_EQ_INT(eio3_payload_append(&b, EIO_MESSAGE, 0,
                                     "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80" "abcde", 21), 0);
    CHECK_MEM(b.data, 3, "14:", 3);
    sl_buf_free(&b);
}

static void eio3_payload_append_round_trips_including_non_ascii(void)
{
    static const struct {
        eio_type_t type;
        int binary;
        const char *data;
        size_t len;
    } pk[] = {
        {EIO_MESSAGE, 0, "hello", 5},
        {EIO_MESSAGE, 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9},
        {EIO_MESSAGE, 1, "\x00\xff\x04", 3},
        {EIO_PONG, 0, "probe", 5},
        {EIO_MESSAGE, 0, "2[\"\xf0\x9f\x98\x80:1:\"]", 12},
        {EIO_MESSAGE, 1, "", 0},
        {EIO_NOOP, 0, "", 0},
        {EIO_MESSAGE, 0, "0123456789:0123456789", 21},
    };
    size_t np = sizeof pk / sizeof *pk;
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 0; i < np; i++)
        CHECK_EQ_INT(eio3_payload_append(&b, pk[i].type, pk[i].binary, pk[i].data, pk[i].len), 0);
    SEEN(s);
    CHECK_EQ_INT(run_n(eio3_payload_decode, b.data, b.len, &s), 0);
    CHECK_EQ_INT(s.n, (int)np);
    for (size_t i = 0; i < np && (int)i < s.n; i++)
        CHECK_PKT(s, i, pk[i].type, pk[i].binary, pk[i].data, pk[i].len);
    sl_buf_free(&b);
}

/* ---- v3 binary payload decode ------------------------------------------- */

static void eio3_binary_decode_text_and_binary_records(void)
{
    /* The v3.md example, with the binary record carrying its packet type
     * byte 4 as the real parser sends it (length 5 = type + 4 bytes). */
    static const unsigned char in[] = {
        0x00, 0x04, 0xff, '4', 0xe2, 0x82, 0xac,
        0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04,
    };
    SEEN(s);
    CHECK_EQ_INT(v3bin(in, sizeof in, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "\xe2\x82\xac");
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
}

static void eio3_binary_decode_multi_digit_lengths_and_empty_binary(void)
{
    /* 12 bytes: digits 1, 2. */
    static const unsigned char in[] = {
        0x00, 0x01, 0x02, 0xff, '4', 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd',
        0x01, 0x01, 0xff, 0x04,          /* binary message of no bytes */
        0x00, 0x01, 0xff, '2',           /* ping */
    };
    SEEN(s);
    CHECK_EQ_INT(v3bin(in, sizeof in, &s), 0);
    CHECK_EQ_INT(s.n, 3);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "hello world");
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "", 0);
    CHECK_TEXT(s, 2, EIO_PING, "");

    /* A 300-byte binary record: digits 3, 0, 0. */
    unsigned char big[5 + 300];
    big[0] = 1, big[1] = 3, big[2] = 0, big[3] = 0, big[4] = 0xff;
    big[5] = 4;
    for (int i = 1; i < 300; i++)
        big[5 + i] = (unsigned char)i;
    SEEN(t);
    CHECK_EQ_INT(v3bin(big, sizeof big, &t), 0);
    CHECK_EQ_INT(t.n, 1);
    CHECK_EQ_INT(t.len[0], 299);
    CHECK_EQ_INT(t.binary[0], 1);
    CHECK_MEM(t.data[0], 255, big + 6, 255); /* the collector keeps 256 */
}

static void eio3_binary_decode_rejects_malformed(void)
{
    static const struct {
        const char *why;
        unsigned char b[16];
        size_t n;
    } bad[] = {
        {"empty body", {0}, 0},
        {"bad flag byte 2", {0x02, 0x01, 0xff, '4'}, 4},
        {"flag byte '0' (ASCII)", {'0', 0x01, 0xff, '4'}, 4},
        {"digit above 9", {0x00, 0x0a, 0xff, '4', 'a', 'b', 'c', 'd', 'e', 'f', 'g'}, 11},
        {"ASCII digit", {0x00, '2', 0xff, '4', 'a'}, 5},
        {"missing 0xFF", {0x00, 0x02, '4', 'a'}, 4},
        {"flag only", {0x00}, 1},
        {"no digits", {0x00, 0xff, '4'}, 3},
        {"zero length", {0x00, 0x00, 0xff}, 3},
        {"length past the end", {0x00, 0x05, 0xff, '4', 'a', 'b'}, 6},
        {"length one past the end", {0x01, 0x04, 0xff, 0x04, 0x01, 0x02}, 6},
        {"header without record", {0x00, 0x01, 0xff}, 3},
        {"binary record type not 4", {0x01, 0x02, 0xff, 0x03, 0x01}, 5},
        {"binary record type ASCII '4'", {0x01, 0x02, 0xff, '4', 0x01}, 5},
        {"text record bad type", {0x00, 0x02, 0xff, '7', 'a'}, 5},
        {"more than 10 digits", {0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, '4'}, 14},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        SEEN(s);
        int rc = v3bin(bad[i].b, bad[i].n, &s);
        if (rc != -1)
            fprintf(stderr, "  \"%s\" accepted\n", bad[i].why);
        CHECK_EQ_INT(rc, -1);
        CHECK_EQ_INT(s.n, 0);
    }
}

static void eio3_binary_decode_rejects_bad_record_after_good_ones(void)
{
    static const unsigned char in[] = {
        0x00, 0x02, 0xff, '4', 'a',
        0x01, 0x02, 0xff, 0x04, 0x09,
        0x02, 0x01, 0xff, '2', /* bad flag */
    };
    SEEN(s);
    CHECK_EQ_INT(v3bin(in, sizeof in, &s), -1);
    CHECK_EQ_INT(s.n, 2);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "a");
    CHECK_PKT(s, 1, EIO_MESSAGE, 1, "\x09", 1);

    static const unsigned char in2[] = {
        0x00, 0x02, 0xff, '4', 'a',
        0x00, 0x03, 0xff, '4', 'b', /* one byte short */
    };
    SEEN(t);
    CHECK_EQ_INT(v3bin(in2, sizeof in2, &t), -1);
    CHECK_EQ_INT(t.n, 1);
}

static void eio3_binary_decode_accepts_ten_digit_length(void)
{
    static const unsigned char in[] = {0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, '4', 'z'};
    SEEN(s);
    CHECK_EQ_INT(v3bin(in, sizeof in, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_TEXT(s, 0, EIO_MESSAGE, "z");
}

static void eio3_binary_decode_callback_return_stops_and_is_returned(void)
{
    static const unsigned char in[] = {
        0x00, 0x02, 0xff, '4', 'a',
        0x01, 0x02, 0xff, 0x04, 0x09,
        0x00, 0x01, 0xff, '6',
    };
    SEEN(s);
    s.stop_at = 2;
    s.stop_rc = 9;
    CHECK_EQ_INT(v3bin(in, sizeof in, &s), 9);
    CHECK_EQ_INT(s.n, 2);
}

TL_SUITE(eio_packet, NULL, NULL,
         TL_TEST(decode_text_every_type_with_data),
         TL_TEST(decode_text_every_type_without_data),
         TL_TEST(decode_text_keeps_data_bytes_verbatim),
         TL_TEST(decode_text_rejects_empty_input),
         TL_TEST(decode_text_rejects_bad_type_bytes),
         TL_TEST(payload_decode_single_record),
         TL_TEST(payload_decode_splits_records_in_order),
         TL_TEST(payload_decode_base64_binary_record),
         TL_TEST(payload_decode_base64_without_padding_and_url_safe),
         TL_TEST(payload_decode_empty_binary_record_is_empty_buffer),
         TL_TEST(payload_decode_mix_of_text_and_binary),
         TL_TEST(payload_decode_rejects_empty_body),
         TL_TEST(payload_decode_rejects_empty_record_after_earlier_ones),
         TL_TEST(payload_decode_rejects_trailing_separator),
         TL_TEST(payload_decode_rejects_leading_separator),
         TL_TEST(payload_decode_rejects_garbage_record),
         TL_TEST(payload_decode_rejects_bad_base64),
         TL_TEST(payload_decode_callback_return_stops_and_is_returned),
         TL_TEST(payload_append_text_separators_only_between_records),
         TL_TEST(payload_append_binary_is_b_base64),
         TL_TEST(payload_append_round_trips_text_and_binary),
         TL_TEST(payload_append_round_trips_random_binary),
         TL_TEST(eio3_payload_decode_splits_records_in_order),
         TL_TEST(eio3_payload_decode_length_counts_utf16_units),
         TL_TEST(eio3_payload_decode_spec_example_with_base64),
         TL_TEST(eio3_payload_decode_b4_binary_records),
         TL_TEST(eio3_payload_decode_rejects_bad_b_records),
         TL_TEST(eio3_payload_decode_rejects_malformed_lengths),
         TL_TEST(eio3_payload_decode_accepts_ten_digit_length),
         TL_TEST(eio3_payload_decode_rejects_junk_after_records),
         TL_TEST(eio3_payload_decode_rejects_length_splitting_surrogate_pair),
         TL_TEST(eio3_payload_decode_callback_return_stops_and_is_returned),
         TL_TEST(eio3_payload_append_text_binary_and_concatenation),
         TL_TEST(eio3_payload_append_counts_utf16_units),
         TL_TEST(eio3_payload_append_round_trips_including_non_ascii),
         TL_TEST(eio3_binary_decode_text_and_binary_records),
         TL_TEST(eio3_binary_decode_multi_digit_lengths_and_empty_binary),
         TL_TEST(eio3_binary_decode_rejects_malformed),
         TL_TEST(eio3_binary_decode_rejects_bad_record_after_good_ones),
         TL_TEST(eio3_binary_decode_accepts_ten_digit_length),
         TL_TEST(eio3_binary_decode_callback_return_stops_and_is_returned));
