/* Unit tests of L4 sio_packet_msgpack: socket.io-msgpack-parser packets <->
 * sio_packet_t (JSON text with placeholders + attachments).
 *
 * The reference bytes below were written by socket.io-msgpack-parser 3.0.2
 * (notepack.io 2.2.0) under Node 20: `new Encoder().encode(packet)[0]` for
 * the packet each test names. Inputs live in exactly-sized heap blocks, so
 * ASan sees any read past the end; truncation tests try every cut point. */
#include "sio/sio_packet_msgpack.h"
#include "testlib.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------ */

static char *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex) / 2;
    char *b = malloc(len ? len : 1);
    if (!b)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    *n = len;
    return b;
}

static void tohex(const char *p, size_t n, char *o)
{
    for (size_t i = 0; i < n; i++)
        sprintf(o + 2 * i, "%02x", (unsigned char)p[i]);
    o[2 * n] = '\0';
}

/* Decodes hex; the message stays alive in *msg (free it). */
static int dec_hex(sio_packet_mp_t *st, const char *hex, char **msg, sio_packet_t *pkt,
                   const sio_packet_bin_t **bins)
{
    size_t n;
    *msg = unhex(hex, &n);
    return sio_packet_msgpack_decode(st, *msg, n, pkt, bins);
}

static int dec_rc(const char *hex)
{
    sio_packet_mp_t st = SIO_PACKET_MP_INIT;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    char *msg;
    int rc = dec_hex(&st, hex, &msg, &pkt, &bins);
    free(msg);
    sio_packet_mp_free(&st);
    return rc;
}

static sio_packet_t mk(sio_packet_type_t type, const char *nsp, int has_ack, uint64_t ack,
                       const char *payload)
{
    sio_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.nsp = nsp;
    p.nsp_len = nsp ? strlen(nsp) : 0;
    p.has_ack = has_ack;
    p.ack_id = ack;
    p.payload = payload;
    p.payload_len = payload ? strlen(payload) : 0;
    return p;
}

#define CHECK_ENC(pkt, atts, natts, hex)                                       \
    do {                                                                       \
        sl_buf_t tl_b = SL_BUF_INIT;                                           \
        CHECK_EQ_INT(sio_packet_msgpack_encode(&tl_b, &(pkt), atts, natts), 0); \
        char tl_h[1024];                                                       \
        tohex(tl_b.data, tl_b.len < 500 ? tl_b.len : 500, tl_h);               \
        CHECK_STR(tl_h, strlen(tl_h), hex);                                    \
        sl_buf_free(&tl_b);                                                    \
    } while (0)

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
    sio_packet_mp_t st = SIO_PACKET_MP_INIT;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    char *m;

    CHECK_EQ_INT(dec_hex(&st, CONNECT_AUTH, &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_CONNECT);
    CHECK_STR(pkt.nsp, pkt.nsp_len, "/custom");
    CHECK_STR(pkt.payload, pkt.payload_len, "{\"token\":\"123\"}");
    CHECK(!pkt.has_ack);
    free(m);

    CHECK_EQ_INT(dec_hex(&st, EVENT, &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_EVENT);
    CHECK_STR(pkt.nsp, pkt.nsp_len, "/");
    CHECK_STR(pkt.payload, pkt.payload_len, "[\"hello\",1,1.5,-7,null,true,[],{}]");
    CHECK_EQ_INT(pkt.attachments, 0);
    CHECK(bins == NULL);
    free(m);

    CHECK_EQ_INT(dec_hex(&st, EVENT_ACK_ID, &m, &pkt, &bins), 0);
    CHECK(pkt.has_ack);
    CHECK_EQ_INT(pkt.ack_id, 42);
    CHECK_STR(pkt.nsp, pkt.nsp_len, "/chat");
    free(m);

    CHECK_EQ_INT(dec_hex(&st, ACK, &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_ACK);
    CHECK_EQ_INT(pkt.ack_id, 7);
    CHECK_STR(pkt.payload, pkt.payload_len, "[{\"a\":[1,2]}]");
    free(m);

    CHECK_EQ_INT(dec_hex(&st, DISCONNECT, &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_DISCONNECT);
    CHECK(pkt.payload == NULL);
    free(m);

    CHECK_EQ_INT(dec_hex(&st, CLIENT_EVENT, &m, &pkt, &bins), 0);
    CHECK_STR(pkt.payload, pkt.payload_len, "[\"ev\",1099511627776,-8589934592]");
    free(m);
    sio_packet_mp_free(&st);
}

static void decode_binary_values_become_attachments(void)
{
    sio_packet_mp_t st = SIO_PACKET_MP_INIT;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    char *m;
    CHECK_EQ_INT(dec_hex(&st, BINARY_EVENT, &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_BINARY_EVENT);
    CHECK_EQ_INT(pkt.attachments, 2);
    CHECK_STR(pkt.payload, pkt.payload_len,
              "[\"bin\",{\"_placeholder\":true,\"num\":0},{\"b\":{\"_placeholder\":true,\"num\":1}}]");
    CHECK_MEM(bins[0].data, bins[0].len, "\x01\x02\x03", 3);
    CHECK_EQ_INT(bins[1].len, 0);
    /* The attachments point into the message. */
    CHECK(bins[0].data > m && bins[0].data < m + strlen(BINARY_EVENT) / 2);
    free(m);
    /* An ACK with an ArrayBuffer (ext 0, what a browser's notepack writes). */
    CHECK_EQ_INT(dec_hex(&st, "84a2696401a47479706503a46461746191c70200abcda36e7370a12f", &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_BINARY_ACK);
    CHECK_EQ_INT(pkt.attachments, 1);
    CHECK_MEM(bins[0].data, bins[0].len, "\xab\xcd", 2);
    free(m);
    sio_packet_mp_free(&st);
}

static void decode_numbers_are_exact(void)
{
    sio_packet_mp_t st = SIO_PACKET_MP_INIT;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    char *m;
    /* ["n", 2^64-1, -2^63, 2.0 (float64), -0.0, 0.1 (float32), 1e21] */
    CHECK_EQ_INT(dec_hex(&st,
                         "83a47479706502a46461746197a16ecfffffffffffffffffd38000000000000000"
                         "cb4000000000000000cb8000000000000000ca3dcccccdcb444b1ae4d6e2ef50a36e7370a12f",
                         &m, &pkt, &bins),
                 0);
    CHECK_STR(pkt.payload, pkt.payload_len,
              "[\"n\",18446744073709551615,-9223372036854775808,2.0,-0.0,0.10000000149011612,1e+21]");
    free(m);
    sio_packet_mp_free(&st);
}

static void decode_undefined_fields_are_absent(void)
{
    /* {type:0, nsp:"/", data:undefined, id:undefined} */
    sio_packet_mp_t st = SIO_PACKET_MP_INIT;
    sio_packet_t pkt;
    const sio_packet_bin_t *bins;
    char *m;
    CHECK_EQ_INT(dec_hex(&st, "84a47479706500a36e7370a12fa464617461d40000a26964d40000", &m, &pkt, &bins), 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_CONNECT);
    CHECK(pkt.payload == NULL);
    CHECK(!pkt.has_ack);
    free(m);
    /* A float type and id that are integers, as Number.isInteger sees them. */
    CHECK_EQ_INT(dec_hex(&st, "84a474797065cb4000000000000000a26964cb4014000000000000a46461746191a178a36e7370a12f",
                         &m, &pkt, &bins),
                 0);
    CHECK_EQ_INT(pkt.type, SIO_PACKET_EVENT);
    CHECK_EQ_INT(pkt.ack_id, 5);
    free(m);
    sio_packet_mp_free(&st);
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
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        size_t n;
        char *full = unhex(all[k], &n);
        for (size_t cut = 0; cut < n; cut++) {
            char *m = malloc(cut ? cut : 1);
            memcpy(m, full, cut);
            sio_packet_mp_t st = SIO_PACKET_MP_INIT;
            sio_packet_t pkt;
            const sio_packet_bin_t *bins;
            CHECK(sio_packet_msgpack_decode(&st, m, cut, &pkt, &bins) != 0);
            sio_packet_mp_free(&st);
            free(m);
        }
        free(full);
    }
}

static void decode_then_encode_round_trips(void)
{
    const char *all[] = {CONNECT_REPLY, EVENT, EVENT_ACK_ID, ACK, BINARY_EVENT, DISCONNECT,
                         CONNECT_ERROR};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        sio_packet_mp_t st = SIO_PACKET_MP_INIT;
        sio_packet_t pkt;
        const sio_packet_bin_t *bins;
        char *m;
        CHECK_EQ_INT(dec_hex(&st, all[k], &m, &pkt, &bins), 0);
        CHECK_ENC(pkt, bins, pkt.attachments, all[k]);
        free(m);
        sio_packet_mp_free(&st);
    }
}

/* Mutations of the reference packets (a byte changed, a length field off)
 * and random bytes: every decode ends, in bounds, with a packet that
 * re-encodes or with an error. */
static void decode_mutated_and_random_input_never_crashes(void)
{
    const char *all[] = {CONNECT_AUTH, EVENT, EVENT_ACK_ID, ACK, BINARY_EVENT, CONNECT_ERROR, CLIENT_EVENT};
    uint32_t seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n;
        char *m = unhex(all[round % (sizeof all / sizeof *all)], &n);
        seed = seed * 1103515245u + 12345u;
        if (round % 4 == 3) { /* all random */
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                m[i] = (char)(seed >> 16);
            }
        } else {
            for (int k = 0; k <= round % 3; k++) {
                seed = seed * 1103515245u + 12345u;
                m[(seed >> 8) % n] = (char)(seed >> 20);
            }
        }
        sio_packet_mp_t st = SIO_PACKET_MP_INIT;
        sio_packet_t pkt;
        const sio_packet_bin_t *bins;
        if (sio_packet_msgpack_decode(&st, m, n, &pkt, &bins) == 0) {
            sl_buf_t out = SL_BUF_INIT;
            CHECK_EQ_INT(sio_packet_msgpack_encode(&out, &pkt, bins, pkt.attachments), 0);
            sl_buf_free(&out);
        }
        sio_packet_mp_free(&st);
        free(m);
    }
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
