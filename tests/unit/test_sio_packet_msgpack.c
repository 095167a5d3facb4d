/* Unit tests of L4 sio_packet_msgpack: socket.io-msgpack-parser packets <->
 * sio_packet_t (JSON text with placeholders + attachments).
 *
 * The reference bytes below were written by socket.io-msgpack-parser 3.0.2
 * (notepack.io 2.2.0) under Node 20: `new Encoder().encode(packet)[0]` for
 * the packet each test names. Inputs live in exactly-sized heap blocks, so
 * ASan sees any read past the end; truncation tests try every cut point. */
#include "sio/sio_packet_msgpack.h"
#include "sio_packet_fixture.h"
#include "testlib.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------ */

/* A decoder, its last packet, and the message the packet points into
 * (kept until the next decode or dec_done). */
typedef struct dec {
    sio_packet_mp_t st;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    char *m;
    size_t n;
} dec_t;

#define DEC_INIT {SIO_PACKET_MP_INIT, {0}, NULL, NULL, 0}

/* Decodes n bytes of msg (taken: freed by the next decode or dec_done). */
static int dec_take(dec_t *d, char *msg, size_t n)
{
    free(d->m);
    d->m = msg;
    d->n = n;
    return sio_packet_msgpack_decode(&d->st, msg, n, &d->pkt, &d->bins);
}

static int dec_hex(dec_t *d, const char *hex)
{
    size_t n;
    char *m = tl_unhex(hex, &n);
    return dec_take(d, m, n);
}

static void dec_done(dec_t *d)
{
    free(d->m);
    sio_packet_mp_free(&d->st);
}

static int dec_rc(const char *hex)
{
    dec_t d = DEC_INIT;
    int rc = dec_hex(&d, hex);
    dec_done(&d);
    return rc;
}

/* Encodes p (with its attachments); the bytes must be expect_hex (NULL:
 * any packet, as long as it encodes). */
static void check_encode(const sio_packet_t *p, const sio_packet_bin_t *atts, unsigned natts,
                         const char *expect_hex)
{
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(sio_packet_msgpack_encode(&out, p, atts, natts), 0);
    if (expect_hex) {
        char h[1024];
        tl_hex(out.data, out.len < 500 ? out.len : 500, h);
        CHECK_STR(h, strlen(h), expect_hex);
    }
    sl_buf_free(&out);
}

#define CHECK_ENC(pkt, atts, natts, hex) check_encode(&(pkt), atts, natts, hex)

/* The reference's bytes for the packets the tests name. */
#define CONNECT_REPLY "83a47479706500a46461746181a3736964a3616263a36e7370a12f"
#define CONNECT_AUTH "83a47479706500a36e7370a72f637573746f6da46461746181a5746f6b656ea3313233"
#define EVENT "83a47479706502a46461746198a568656c6c6f01cb3ff8000000000000f9c0c39080a36e7370a12f"
#define EVENT_ACK_ID "84a47479706502a46461746192a171a178a269642aa36e7370a52f63686174"
#define ACK "84a2696407a47479706503a4646174619181a161920102a36e7370a12f"
#define BINARY_EVENT "83a47479706502a46461746193a362696ec40301020381a162c400a36e7370a12f"
#define DISCONNECT "82a47479706501a36e7370a62f61646d696e"
#define CONNECT_ERROR \
    "83a47479706504a46461746182a76d657373616765ac756e617574686f72697a6564a46461746181a6726561736f6ea178a36e7370a12f"
/* A client's emit: the client writes its `options` too. */
#define CLIENT_EVENT \
    "84a47479706502a46461746193a26576cf0000010000000000d3fffffffe00000000a76f7074696f6e7381a8636f6d7072657373c3a36e7370a12f"

/* ---- encode ------------------------------------------------------------- */

static void encode_writes_what_the_reference_writes(void)
{
    sio_packet_t p = mk(SIO_PACKET_CONNECT, "/", 0, 0, "{\"sid\":\"abc\"}");
    CHECK_ENC(p, NULL, 0, CONNECT_REPLY);
    p = mk(SIO_PACKET_EVENT, NULL, 0, 0, "[\"hello\",1,1.5,-7,null,true,[],{}]");
    CHECK_ENC(p, NULL, 0, EVENT);
    p = mk(SIO_PACKET_EVENT, "/chat", 1, 42, "[\"q\",\"x\"]");
    CHECK_ENC(p, NULL, 0, EVENT_ACK_ID);
    p = mk(SIO_PACKET_ACK, "/", 1, 7, "[{\"a\":[1,2]}]");
    CHECK_ENC(p, NULL, 0, ACK);
    p = mk(SIO_PACKET_DISCONNECT, "/admin", 0, 0, NULL);
    CHECK_ENC(p, NULL, 0, DISCONNECT);
    p = mk(SIO_PACKET_CONNECT_ERROR, "/", 0, 0,
           "{\"message\":\"unauthorized\",\"data\":{\"reason\":\"x\"}}");
    CHECK_ENC(p, NULL, 0, CONNECT_ERROR);
}

static void encode_binary_event_puts_attachments_inline(void)
{
    sio_packet_bin_t atts[2] = {{"\x01\x02\x03", 3}, {"", 0}};
    sio_packet_t p = mk(SIO_PACKET_BINARY_EVENT, "/", 0, 0,
                        "[\"bin\",{\"_placeholder\":true,\"num\":0},{\"b\":{\"_placeholder\":true,\"num\":1}}]");
    p.attachments = 2;
    CHECK_ENC(p, atts, 2, BINARY_EVENT);
    /* In a plain EVENT such an object is data. */
    p = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"x\",{\"_placeholder\":true,\"num\":0}]");
    CHECK_ENC(p, NULL, 0, "83a47479706502a46461746192a17882ac5f706c616365686f6c646572c3a36e756d00a36e7370a12f");
}

static void encode_numbers_are_exact(void)
{
    /* 2^53 + 1 stays exact; 1e21 and 1e20 (past 64 bits) are float64, not
     * notepack's value modulo 2^64; an integral non-integer text is an
     * integer, a fraction float64. */
    sio_packet_t p = mk(SIO_PACKET_EVENT, NULL, 0, 0,
                        "[9007199254740993,1e21,100000000000000000000,2.0,-0,0.5,18446744073709551615]");
    CHECK_ENC(p, NULL, 0,
              "83a47479706502a46461746197cf0020000000000001cb444b1ae4d6e2ef50cb4415af1d78b58c4002"
              "00cb3fe0000000000000cfffffffffffffffffa36e7370a12f");
}

static void encode_refuses_payload_of_the_wrong_kind(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append(&b, "x", 1);
    sio_packet_t p = mk(SIO_PACKET_EVENT, "/", 0, 0, "{}");
    CHECK_EQ_INT(sio_packet_msgpack_encode(&b, &p, NULL, 0), -EINVAL);
    p = mk(SIO_PACKET_DISCONNECT, "/", 0, 0, "[]");
    CHECK_EQ_INT(sio_packet_msgpack_encode(&b, &p, NULL, 0), -EINVAL);
    p = mk(SIO_PACKET_BINARY_EVENT, "/", 0, 0, "[\"x\",{\"_placeholder\":true,\"num\":3}]");
    p.attachments = 1;
    sio_packet_bin_t att = {"a", 1};
    CHECK_EQ_INT(sio_packet_msgpack_encode(&b, &p, &att, 1), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"x\",");
    CHECK_EQ_INT(sio_packet_msgpack_encode(&b, &p, NULL, 0), -EINVAL);
    CHECK_EQ_INT(b.len, 1);
    sl_buf_free(&b);
}

/* ---- decode ------------------------------------------------------------- */

static void decode_reads_every_reference_packet(void)
{
    dec_t d = DEC_INIT;

    CHECK_EQ_INT(dec_hex(&d, CONNECT_AUTH), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_CONNECT);
    CHECK_STR(d.pkt.nsp, d.pkt.nsp_len, "/custom");
    CHECK_STR(d.pkt.payload, d.pkt.payload_len, "{\"token\":\"123\"}");
    CHECK(!d.pkt.has_ack);

    CHECK_EQ_INT(dec_hex(&d, EVENT), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_EVENT);
    CHECK_STR(d.pkt.nsp, d.pkt.nsp_len, "/");
    CHECK_STR(d.pkt.payload, d.pkt.payload_len, "[\"hello\",1,1.5,-7,null,true,[],{}]");
    CHECK_EQ_INT(d.pkt.attachments, 0);
    CHECK(d.bins == NULL);

    CHECK_EQ_INT(dec_hex(&d, EVENT_ACK_ID), 0);
    CHECK(d.pkt.has_ack);
    CHECK_EQ_INT(d.pkt.ack_id, 42);
    CHECK_STR(d.pkt.nsp, d.pkt.nsp_len, "/chat");

    CHECK_EQ_INT(dec_hex(&d, ACK), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_ACK);
    CHECK_EQ_INT(d.pkt.ack_id, 7);
    CHECK_STR(d.pkt.payload, d.pkt.payload_len, "[{\"a\":[1,2]}]");

    CHECK_EQ_INT(dec_hex(&d, DISCONNECT), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_DISCONNECT);
    CHECK(d.pkt.payload == NULL);

    CHECK_EQ_INT(dec_hex(&d, CLIENT_EVENT), 0);
    CHECK_STR(d.pkt.payload, d.pkt.payload_len, "[\"ev\",1099511627776,-8589934592]");
    dec_done(&d);
}

static void decode_binary_values_become_attachments(void)
{
    dec_t d = DEC_INIT;
    CHECK_EQ_INT(dec_hex(&d, BINARY_EVENT), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_BINARY_EVENT);
    CHECK_EQ_INT(d.pkt.attachments, 2);
    CHECK_STR(d.pkt.payload, d.pkt.payload_len,
              "[\"bin\",{\"_placeholder\":true,\"num\":0},{\"b\":{\"_placeholder\":true,\"num\":1}}]");
    CHECK_MEM(d.bins[0].data, d.bins[0].len, "\x01\x02\x03", 3);
    CHECK_EQ_INT(d.bins[1].len, 0);
    /* The attachments point into the message. */
    CHECK(d.bins[0].data > d.m && d.bins[0].data < d.m + d.n);
    /* An ACK with an ArrayBuffer (ext 0, what a browser's notepack writes). */
    CHECK_EQ_INT(dec_hex(&d, "84a2696401a47479706503a46461746191c70200abcda36e7370a12f"), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_BINARY_ACK);
    CHECK_EQ_INT(d.pkt.attachments, 1);
    CHECK_MEM(d.bins[0].data, d.bins[0].len, "\xab\xcd", 2);
    dec_done(&d);
}

static void decode_numbers_are_exact(void)
{
    dec_t d = DEC_INIT;
    /* ["n", 2^64-1, -2^63, 2.0 (float64), -0.0, 0.1 (float32), 1e21] */
    CHECK_EQ_INT(dec_hex(&d, "83a47479706502a46461746197a16ecfffffffffffffffffd38000000000000000"
                             "cb4000000000000000cb8000000000000000ca3dcccccdcb444b1ae4d6e2ef50a36e7370a12f"),
                 0);
    CHECK_STR(d.pkt.payload, d.pkt.payload_len,
              "[\"n\",18446744073709551615,-9223372036854775808,2.0,-0.0,0.10000000149011612,1e+21]");
    dec_done(&d);
}

static void decode_undefined_fields_are_absent(void)
{
    /* {type:0, nsp:"/", data:undefined, id:undefined} */
    dec_t d = DEC_INIT;
    CHECK_EQ_INT(dec_hex(&d, "84a47479706500a36e7370a12fa464617461d40000a26964d40000"), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_CONNECT);
    CHECK(d.pkt.payload == NULL);
    CHECK(!d.pkt.has_ack);
    /* A float type and id that are integers, as Number.isInteger sees them. */
    CHECK_EQ_INT(dec_hex(&d, "84a474797065cb4000000000000000a26964cb4014000000000000a46461746191a178a36e7370a12f"), 0);
    CHECK_EQ_INT(d.pkt.type, SIO_PACKET_EVENT);
    CHECK_EQ_INT(d.pkt.ack_id, 5);
    dec_done(&d);
}

static void decode_refuses_what_the_reference_refuses(void)
{
    /* Not a map, or trailing bytes. */
    CHECK_EQ_INT(dec_rc("92a47479706502"), SIO_PACKET_E_MSGPACK);
    CHECK_EQ_INT(dec_rc(DISCONNECT "c0"), SIO_PACKET_E_MSGPACK);
    CHECK_EQ_INT(dec_rc(""), SIO_PACKET_E_MSGPACK);
    CHECK_EQ_INT(dec_rc("c1"), SIO_PACKET_E_MSGPACK);
    /* type: missing, 5 (the msgpack parser has no BINARY_*), 2.5, a string */
    CHECK_EQ_INT(dec_rc("81a36e7370a12f"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("83a47479706505a46461746191a178a36e7370a12f"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("82a474797065cb4004000000000000a36e7370a12f"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("82a474797065a132a36e7370a12f"), SIO_PACKET_E_TYPE);
    /* nsp: missing, or not a string */
    CHECK_EQ_INT(dec_rc("81a47479706501"), SIO_PACKET_E_MSGPACK);
    CHECK_EQ_INT(dec_rc("82a47479706501a36e737001"), SIO_PACKET_E_MSGPACK);
    /* data of the wrong kind for the type */
    CHECK_EQ_INT(dec_rc("82a47479706502a36e7370a12f"), SIO_PACKET_E_PAYLOAD);          /* EVENT, none */
    CHECK_EQ_INT(dec_rc("83a47479706502a46461746180a36e7370a12f"), SIO_PACKET_E_PAYLOAD); /* EVENT, {} */
    CHECK_EQ_INT(dec_rc("83a47479706501a46461746190a36e7370a12f"), SIO_PACKET_E_PAYLOAD); /* DISCONNECT, [] */
    CHECK_EQ_INT(dec_rc("83a47479706500a464617461a178a36e7370a12f"), SIO_PACKET_E_PAYLOAD); /* CONNECT, "x" */
    CHECK_EQ_INT(dec_rc("83a47479706504a46461746190a36e7370a12f"), SIO_PACKET_E_PAYLOAD); /* CONNECT_ERROR, [] */
    CHECK_EQ_INT(dec_rc("83a47479706500a46461746181a161c401aaa36e7370a12f"), SIO_PACKET_E_PAYLOAD); /* binary auth */
    /* id: negative, a fraction, a string */
    CHECK_EQ_INT(dec_rc("84a47479706502a26964ffa46461746191a178a36e7370a12f"), SIO_PACKET_E_ACK_ID);
    CHECK_EQ_INT(dec_rc("84a47479706502a26964cb3ff8000000000000a46461746191a178a36e7370a12f"),
                 SIO_PACKET_E_ACK_ID);
    CHECK_EQ_INT(dec_rc("84a47479706502a26964a131a46461746191a178a36e7370a12f"), SIO_PACKET_E_ACK_ID);
    /* the event name, as the text parser checks it */
    CHECK_EQ_INT(dec_rc("83a47479706502a46461746190a36e7370a12f"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("83a47479706502a46461746191aa646973636f6e6e656374a36e7370a12f"),
                 SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("83a47479706502a46461746191c3a36e7370a12f"), SIO_PACKET_E_EVENT_NAME);
    /* invalid UTF-8 in a string of the data */
    CHECK_EQ_INT(dec_rc("83a47479706502a46461746192a178a1ffa36e7370a12f"), SIO_PACKET_E_MSGPACK);
}

static void decode_fails_at_every_truncation(void)
{
    const char *all[] = {CONNECT_AUTH, EVENT, EVENT_ACK_ID, ACK, BINARY_EVENT, DISCONNECT,
                         CONNECT_ERROR, CLIENT_EVENT};
    dec_t d = DEC_INIT;
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        size_t n;
        char *full = tl_unhex(all[k], &n);
        for (size_t cut = 0; cut < n; cut++) {
            char *m = malloc(cut ? cut : 1);
            memcpy(m, full, cut);
            CHECK(dec_take(&d, m, cut) != 0);
        }
        free(full);
    }
    dec_done(&d);
}

static void decode_then_encode_round_trips(void)
{
    const char *all[] = {CONNECT_REPLY, EVENT, EVENT_ACK_ID, ACK, BINARY_EVENT, DISCONNECT,
                         CONNECT_ERROR};
    dec_t d = DEC_INIT;
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        CHECK_EQ_INT(dec_hex(&d, all[k]), 0);
        check_encode(&d.pkt, d.bins, d.pkt.attachments, all[k]);
    }
    dec_done(&d);
}

/* Mutations of the reference packets (a byte changed, a length field off)
 * and random bytes: every decode ends, in bounds, with a packet that
 * re-encodes or with an error. */
static void decode_mutated_and_random_input_never_crashes(void)
{
    const char *all[] = {CONNECT_AUTH, EVENT, EVENT_ACK_ID, ACK, BINARY_EVENT, CONNECT_ERROR, CLIENT_EVENT};
    uint32_t seed = 12345;
    dec_t d = DEC_INIT;
    for (int round = 0; round < 20000; round++) {
        size_t n;
        char *m = tl_unhex(all[round % (sizeof all / sizeof *all)], &n);
        for (int k = 0; k <= (round % 4 == 3 ? (int)n : round % 3); k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = round % 4 == 3 ? (size_t)k % n : (seed >> 8) % n; /* every byte, or a few */
            m[at] = (char)(seed >> 20);
        }
        if (dec_take(&d, m, n) == 0)
            check_encode(&d.pkt, d.bins, d.pkt.attachments, NULL);
    }
    dec_done(&d);
}

TL_SUITE(sio_packet_msgpack, NULL, NULL,
         TL_TEST(decode_mutated_and_random_input_never_crashes),
         TL_TEST(encode_writes_what_the_reference_writes),
         TL_TEST(encode_binary_event_puts_attachments_inline),
         TL_TEST(encode_numbers_are_exact),
         TL_TEST(encode_refuses_payload_of_the_wrong_kind),
         TL_TEST(decode_reads_every_reference_packet),
         TL_TEST(decode_binary_values_become_attachments),
         TL_TEST(decode_numbers_are_exact),
         TL_TEST(decode_undefined_fields_are_absent),
         TL_TEST(decode_refuses_what_the_reference_refuses),
         TL_TEST(decode_fails_at_every_truncation),
         TL_TEST(decode_then_encode_round_trips));
