/* Unit tests of L4 sio_packet: decode, encode, placeholders, reassembly.
 * Inputs are copied into exactly-sized heap blocks so ASan catches any read
 * past the end (the codec must never rely on a NUL). */
#include "sio/sio_packet.h"
#include "sio_packet_fixture.h"
#include "testlib.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------ */

/* Exact-size copies kept alive until the end of the suite, so decoded pointers
 * stay valid for the checks that follow a decode. */
static char *pool[4096];
static int npool;

static const char *exact(const char *s, size_t n)
{
    char *c = calloc(n ? n : 1, 1); /* zeroed: the empty case passes no unset byte */
    memcpy(c, s, n);
    if (npool == (int)(sizeof pool / sizeof *pool))
        abort(); /* grow the pool */
    pool[npool++] = c;
    return c;
}

static void pool_free(void)
{
    while (npool)
        free(pool[--npool]);
}

static int decn(const char *s, size_t n, sio_packet_t *pkt)
{
    return sio_packet_decode(exact(s, n), n, pkt);
}

static int dec(const char *s, sio_packet_t *pkt) { return decn(s, strlen(s), pkt); }

static int dec_rc(const char *s)
{
    sio_packet_t pkt;
    return dec(s, &pkt);
}

/* Encodes into a pooled NUL-terminated string, or "<rc N>" on failure. */
static const char *enc(const sio_packet_t *p)
{
    sl_buf_t b = SL_BUF_INIT;
    char tmp[32];
    int rc = sio_packet_encode(&b, p);
    const char *r;
    if (rc) {
        snprintf(tmp, sizeof tmp, "<rc %d>", rc);
        r = exact(tmp, strlen(tmp) + 1);
    } else {
        sl_buf_append_byte(&b, '\0');
        r = exact(b.data, b.len);
    }
    sl_buf_free(&b);
    return r;
}

#define CHECK_NSP(pkt, s) CHECK_STR((pkt).nsp, (pkt).nsp_len, s)
#define CHECK_PAYLOAD(pkt, s) CHECK_STR((pkt).payload, (pkt).payload_len, s)
#define CHECK_NO_PAYLOAD(pkt) do { CHECK((pkt).payload == NULL); CHECK_EQ_INT((pkt).payload_len, 0); } while (0)
#define CHECK_ENC(pkt, s) do { const char *e_ = enc(&(pkt)); CHECK_STR(e_, strlen(e_), s); } while (0)

/* ---- decode: CONFORMANCE.md section 5 strings --------------------------- */

static void decode_connect_main_namespace_without_payload(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("0", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_CONNECT);
    CHECK_NSP(p, "/");
    CHECK_EQ_INT(p.has_ack, 0);
    CHECK_EQ_INT(p.attachments, 0);
    CHECK_NO_PAYLOAD(p);
}

static void decode_connect_main_namespace_with_auth_object(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("0{\"token\":\"123\"}", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_CONNECT);
    CHECK_NSP(p, "/");
    CHECK_PAYLOAD(p, "{\"token\":\"123\"}");
}

static void decode_connect_custom_namespace_comma_is_optional(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("0/custom,", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_CONNECT);
    CHECK_NSP(p, "/custom");
    CHECK_NO_PAYLOAD(p);

    CHECK_EQ_INT(dec("0/custom", &p), 0);
    CHECK_NSP(p, "/custom");
    CHECK_NO_PAYLOAD(p);

    CHECK_EQ_INT(dec("0/random", &p), 0);
    CHECK_NSP(p, "/random");
}

static void decode_connect_custom_namespace_with_auth_object(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("0/custom,{\"token\":\"abc\"}", &p), 0);
    CHECK_NSP(p, "/custom");
    CHECK_PAYLOAD(p, "{\"token\":\"abc\"}");
    CHECK_EQ_INT(p.has_ack, 0);
}

static void decode_event_with_mixed_arguments(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("2[\"message\",1,\"2\",{\"3\":[true]}]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
    CHECK_NSP(p, "/");
    CHECK_EQ_INT(p.has_ack, 0);
    CHECK_PAYLOAD(p, "[\"message\",1,\"2\",{\"3\":[true]}]");
}

static void decode_event_with_ack_id(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
    CHECK_EQ_INT(p.has_ack, 1);
    CHECK(p.ack_id == 456);
    CHECK_PAYLOAD(p, "[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
}

static void decode_binary_event_reads_attachment_count(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("52-[\"message\",{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_BINARY_EVENT);
    CHECK_EQ_INT(p.attachments, 2);
    CHECK_NSP(p, "/");
    CHECK_EQ_INT(p.has_ack, 0);
    CHECK_PAYLOAD(p, "[\"message\",{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]");

    CHECK_EQ_INT(dec("52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]", &p), 0);
    CHECK_EQ_INT(p.attachments, 2);
    CHECK_EQ_INT(p.has_ack, 1);
    CHECK(p.ack_id == 789);
}

static void decode_binary_ack_with_ack_id(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("62-789[{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_BINARY_ACK);
    CHECK_EQ_INT(p.attachments, 2);
    CHECK(p.ack_id == 789);
    CHECK_PAYLOAD(p, "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
}

/* ---- decode: other valid forms ------------------------------------------ */

static void decode_disconnect_main_and_custom_namespace(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("1", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_DISCONNECT);
    CHECK_NSP(p, "/");
    CHECK_NO_PAYLOAD(p);

    CHECK_EQ_INT(dec("1/custom", &p), 0);
    CHECK_NSP(p, "/custom");
    CHECK_NO_PAYLOAD(p);

    CHECK_EQ_INT(dec("1/custom,", &p), 0);
    CHECK_NSP(p, "/custom");
    CHECK_NO_PAYLOAD(p);
}

static void decode_event_on_namespace_with_ack_id(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("2/chat,12[\"a\"]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
    CHECK_NSP(p, "/chat");
    CHECK_EQ_INT(p.has_ack, 1);
    CHECK(p.ack_id == 12);
    CHECK_PAYLOAD(p, "[\"a\"]");
}

static void decode_event_with_number_as_first_element(void)
{
    sio_packet_t p;
    /* The reference accepts a number where the event name goes. */
    CHECK_EQ_INT(dec("2[1,\"x\"]", &p), 0);
    CHECK_EQ_INT(dec("2[-1.5]", &p), 0);
}

static void decode_ack_allows_empty_array(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("312[]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_ACK);
    CHECK(p.ack_id == 12);
    CHECK_PAYLOAD(p, "[]");

    CHECK_EQ_INT(dec("3/admin,13[\"bar\"]", &p), 0);
    CHECK_NSP(p, "/admin");
    CHECK(p.ack_id == 13);
    CHECK_PAYLOAD(p, "[\"bar\"]");

    CHECK_EQ_INT(dec("3456[1,\"2\",{\"3\":[false]}]", &p), 0);
    CHECK_PAYLOAD(p, "[1,\"2\",{\"3\":[false]}]");
}

static void decode_connect_error_object_string_or_nothing(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("4/random,{\"message\":\"Invalid namespace\"}", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_CONNECT_ERROR);
    CHECK_NSP(p, "/random");
    CHECK_PAYLOAD(p, "{\"message\":\"Invalid namespace\"}");

    CHECK_EQ_INT(dec("4\"Not authorized\"", &p), 0);
    CHECK_PAYLOAD(p, "\"Not authorized\"");

    CHECK_EQ_INT(dec("4", &p), 0);
    CHECK_NO_PAYLOAD(p);
}

static void decode_binary_event_on_namespace(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]", &p), 0);
    CHECK_EQ_INT(p.attachments, 2);
    CHECK_NSP(p, "/admin");

    CHECK_EQ_INT(dec("61-/admin,1[{\"_placeholder\":true,\"num\":0}]", &p), 0);
    CHECK_EQ_INT(p.type, SIO_PACKET_BINARY_ACK);
    CHECK_NSP(p, "/admin");
    CHECK(p.ack_id == 1);
}

static void decode_binary_with_zero_attachments_is_valid(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("50-[\"a\"]", &p), 0);
    CHECK_EQ_INT(p.attachments, 0);
}

static void decode_attachment_count_at_limit_is_accepted(void)
{
    char s[64];
    sio_packet_t p;
    snprintf(s, sizeof s, "5%d-[\"a\"]", SIO_PACKET_MAX_ATTACHMENTS);
    CHECK_EQ_INT(dec(s, &p), 0);
    CHECK_EQ_INT(p.attachments, SIO_PACKET_MAX_ATTACHMENTS);
    snprintf(s, sizeof s, "5%d-[\"a\"]", SIO_PACKET_MAX_ATTACHMENTS + 1);
    CHECK_EQ_INT(dec(s, &p), SIO_PACKET_E_TOO_MANY);
}

static void decode_slash_comma_is_main_namespace(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("2/,[\"a\"]", &p), 0);
    CHECK_NSP(p, "/");
}

static void decode_trims_whitespace_around_payload(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("3 \t[1] \r\n", &p), 0);
    CHECK_PAYLOAD(p, "[1]");
    CHECK_EQ_INT(dec("2[ \"a\" , 1 ]", &p), 0);
    CHECK_PAYLOAD(p, "[ \"a\" , 1 ]");
}

static void decode_ack_id_max_int64_is_accepted(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(dec("29223372036854775807[\"a\"]", &p), 0);
    CHECK(p.ack_id == INT64_MAX);
    CHECK_EQ_INT(dec("20[\"a\"]", &p), 0);
    CHECK_EQ_INT(p.has_ack, 1);
    CHECK(p.ack_id == 0);
}

static void decode_accepts_strict_json_edge_cases(void)
{
    CHECK_EQ_INT(dec_rc("3[-0.5e+3,0,1E9,true,false,null,{},[],\"\"]"), 0);
    CHECK_EQ_INT(dec_rc("3[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"]"), 0);
    CHECK_EQ_INT(dec_rc("3[\"caf\xc3\xa9 \xf0\x9f\x98\x80\"]"), 0);
    CHECK_EQ_INT(dec_rc("3[{\"a\":{\"b\":[1,{\"c\":\"}]\"}]}}]"), 0);
}

static void decode_nesting_up_to_depth_limit(void)
{
    size_t d = SIO_PACKET_MAX_DEPTH;
    char *s = malloc(2 * d + 3);
    s[0] = '3';
    memset(s + 1, '[', d);
    memset(s + 1 + d, ']', d);
    CHECK_EQ_INT(decn(s, 1 + 2 * d, &(sio_packet_t){0}), 0);
    /* One more level is refused rather than recursing without bound. */
    memset(s + 1, '[', d + 1);
    memset(s + 2 + d, ']', d + 1);
    CHECK_EQ_INT(decn(s, 3 + 2 * d, &(sio_packet_t){0}), SIO_PACKET_E_JSON);
    free(s);
}

/* ---- decode: malformed ---------------------------------------------------- */

static void decode_empty_input_is_error(void)
{
    sio_packet_t p;
    CHECK_EQ_INT(decn("", 0, &p), SIO_PACKET_E_EMPTY);
}

static void decode_unknown_type_is_error(void)
{
    /* "4abc" on the wire: EIO message, then SIO type 'a'. */
    CHECK_EQ_INT(dec_rc("abc"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("7[\"a\"]"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("9"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("/custom,"), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc("["), SIO_PACKET_E_TYPE);
    CHECK_EQ_INT(dec_rc(" 2[\"a\"]"), SIO_PACKET_E_TYPE);
}

static void decode_event_payload_not_array_is_error(void)
{
    CHECK_EQ_INT(dec_rc("2{}"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("2\"a\""), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("21"), SIO_PACKET_E_PAYLOAD); /* ack id 1, no payload */
    CHECK_EQ_INT(dec_rc("3{}"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("51-{}"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("61-\"x\""), SIO_PACKET_E_PAYLOAD);
}

static void decode_event_without_payload_is_error(void)
{
    CHECK_EQ_INT(dec_rc("2"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("3"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("212"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("2/chat,"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("51-"), SIO_PACKET_E_PAYLOAD);
    /* No comma: the namespace swallows the rest, leaving no payload. */
    CHECK_EQ_INT(dec_rc("2/chat[\"a\"]"), SIO_PACKET_E_PAYLOAD);
}

static void decode_non_numeric_ack_id_is_error(void)
{
    CHECK_EQ_INT(dec_rc("2abc[\"x\"]"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("2abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"),
                 SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("2/chat,1a[\"x\"]"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("2-1[\"x\"]"), SIO_PACKET_E_PAYLOAD);
}

static void decode_ack_id_overflow_is_error(void)
{
    /* 2^63 to 2^64 - 1 would be negative as Lua integers. */
    CHECK_EQ_INT(dec_rc("29223372036854775808[\"a\"]"), SIO_PACKET_E_ACK_ID);
    CHECK_EQ_INT(dec_rc("318446744073709551615[]"), SIO_PACKET_E_ACK_ID);
    CHECK_EQ_INT(dec_rc("218446744073709551616[\"a\"]"), SIO_PACKET_E_ACK_ID);
    CHECK_EQ_INT(dec_rc("299999999999999999999999999[\"a\"]"), SIO_PACKET_E_ACK_ID);
    CHECK_EQ_INT(dec_rc("3/x,100000000000000000000[]"), SIO_PACKET_E_ACK_ID);
}

static void decode_event_name_must_be_string_or_number(void)
{
    CHECK_EQ_INT(dec_rc("2[]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[ ]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[{}]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[[\"a\"]]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[null]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[true]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("50-[{}]"), SIO_PACKET_E_EVENT_NAME);
}

static void decode_reserved_event_names_are_refused(void)
{
    CHECK_EQ_INT(dec_rc("2[\"connect\"]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"connect_error\",1]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"disconnect\"]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"disconnecting\"]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"newListener\"]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[ \"removeListener\" ]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("51-[\"connect\",{\"_placeholder\":true,\"num\":0}]"),
                 SIO_PACKET_E_EVENT_NAME);
    /* Escapes don't hide a reserved name. */
    CHECK_EQ_INT(dec_rc("2[\"\\u0063onnect\"]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"disconnect\\u0069ng\",1]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"remove\\u004cistener\" , [\"x\"]]"), SIO_PACKET_E_EVENT_NAME);
    /* Whatever follows the name, and escapes that spell another name. */
    CHECK_EQ_INT(dec_rc("2[\"connect\" ,[\"connect\"],{}]"), SIO_PACKET_E_EVENT_NAME);
    CHECK_EQ_INT(dec_rc("2[\"x\",\"connect\"]"), 0);
    CHECK_EQ_INT(dec_rc("2[\"conn\\\"ect\"]"), 0);
    CHECK_EQ_INT(dec_rc("2[\"\\u0063onnect_\"]"), 0);
    /* Near misses are ordinary events; an ACK may carry anything. */
    CHECK_EQ_INT(dec_rc("2[\"connection\"]"), 0);
    CHECK_EQ_INT(dec_rc("2[\"connec\"]"), 0);
    CHECK_EQ_INT(dec_rc("2[\"Connect\"]"), 0);
    CHECK_EQ_INT(dec_rc("3[\"connect\"]"), 0);
}

static void decode_connect_payload_must_be_object(void)
{
    CHECK_EQ_INT(dec_rc("0[]"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("0\"x\""), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("0null"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("0/custom,[1]"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("0{"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("0{\"token\":}"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("0 "), SIO_PACKET_E_PAYLOAD);
}

static void decode_disconnect_with_payload_is_error(void)
{
    CHECK_EQ_INT(dec_rc("1{}"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("1/custom,{}"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("1/custom,x"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("1,"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("1 "), SIO_PACKET_E_PAYLOAD);
}

static void decode_connect_error_payload_must_be_object_or_string(void)
{
    CHECK_EQ_INT(dec_rc("4[1]"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("4true"), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(dec_rc("4\"unterminated"), SIO_PACKET_E_JSON);
}

static void decode_binary_without_attachment_count_is_error(void)
{
    CHECK_EQ_INT(dec_rc("5-[\"a\"]"), SIO_PACKET_E_ATTACHMENTS);
    CHECK_EQ_INT(dec_rc("5[\"a\"]"), SIO_PACKET_E_ATTACHMENTS);
    CHECK_EQ_INT(dec_rc("5"), SIO_PACKET_E_ATTACHMENTS);
    CHECK_EQ_INT(dec_rc("51"), SIO_PACKET_E_ATTACHMENTS);
    CHECK_EQ_INT(dec_rc("51["), SIO_PACKET_E_ATTACHMENTS);
    CHECK_EQ_INT(dec_rc("6/x,1-[]"), SIO_PACKET_E_ATTACHMENTS);
    CHECK_EQ_INT(dec_rc("5a-[\"a\"]"), SIO_PACKET_E_ATTACHMENTS);
}

static void decode_huge_attachment_count_is_error(void)
{
    CHECK_EQ_INT(dec_rc("511-[\"a\"]"), SIO_PACKET_E_TOO_MANY);
    CHECK_EQ_INT(dec_rc("61000-[]"), SIO_PACKET_E_TOO_MANY);
    CHECK_EQ_INT(dec_rc("54294967297-[\"a\"]"), SIO_PACKET_E_TOO_MANY);
    CHECK_EQ_INT(dec_rc("599999999999999999999999999999-[\"a\"]"), SIO_PACKET_E_TOO_MANY);
}

static void decode_truncated_json_is_error(void)
{
    CHECK_EQ_INT(dec_rc("51-["), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("2[\"a\""), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("2[\"a"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("2[\"a\\"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("2[\"a\\u00"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1,"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[tru"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[-"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[{\"a\":"), SIO_PACKET_E_JSON);
}

static void decode_malformed_json_is_error(void)
{
    CHECK_EQ_INT(dec_rc("3[1,]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[,1]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[01]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1.]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[.5]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1e]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[+1]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1 2]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1]x"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1]]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[1][2]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3['a']"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[\"\\x\"]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[\"\\u12g4\"]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[\"tab\there\"]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[{\"a\" 1}]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[{1:2}]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[{\"a\":1,}]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("3[NaN]"), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(dec_rc("2[\"a\"]]"), SIO_PACKET_E_JSON);
}

static void decode_embedded_nul_bytes_are_data_not_terminators(void)
{
    sio_packet_t p;
    /* A NUL inside a string is a control character: invalid JSON. */
    CHECK_EQ_INT(decn("2[\"a\0\"]", 7, &p), SIO_PACKET_E_JSON);
    /* A NUL right after the type is a payload, not the end of input. */
    CHECK_EQ_INT(decn("1\0", 2, &p), SIO_PACKET_E_PAYLOAD);
    CHECK_EQ_INT(decn("0\0", 2, &p), SIO_PACKET_E_PAYLOAD);
    /* The namespace may hold any byte but ','. */
    CHECK_EQ_INT(decn("0/a\0b", 5, &p), 0);
    CHECK_EQ_INT(p.nsp_len, 4);
}

static void decode_every_prefix_of_valid_packet_is_error(void)
{
    const char *full = "52-/admin,789[\"message-with-ack\",{\"_placeholder\":true,"
                       "\"num\":0},{\"a\":\"\\u00e9\\\"}\"},{\"_placeholder\":true,\"num\":1}]";
    size_t n = strlen(full);
    sio_packet_t p;
    for (size_t i = 0; i < n; i++) {
        int rc = decn(full, i, &p);
        if (rc == 0)
            fprintf(stderr, "  prefix %zu decoded: %.*s\n", i, (int)i, full);
        CHECK(rc < 0);
    }
    CHECK_EQ_INT(decn(full, n, &p), 0);
}

/* Deterministic fuzz: random strings over the bytes the grammar cares about.
 * The codec must never crash or over-read (ASan), and whatever it accepts
 * must survive encode -> decode unchanged. */
static void decode_random_input_never_crashes_and_round_trips(void)
{
    static const char alphabet[] = "0123456789-/,[]{}\":\\ tuaenl.e+x\x01";
    uint32_t seed = 12345;
    int accepted = 0, mismatches = 0;
    for (int iter = 0; iter < 200000; iter++) {
        char tmp[48];
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % sizeof tmp;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            tmp[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        /* Bias towards plausible heads so deeper code gets exercised. */
        if (n > 0 && iter % 2)
            tmp[0] = (char)('0' + iter % 7);
        char *in = malloc(n ? n : 1);
        memcpy(in, tmp, n);
        sio_packet_t p, q;
        if (sio_packet_decode(in, n, &p) == 0) {
            accepted++;
            sl_buf_t b = SL_BUF_INIT;
            int ok = sio_packet_encode(&b, &p) == 0 &&
                     sio_packet_decode(b.data, b.len, &q) == 0 &&
                     p.type == q.type && p.attachments == q.attachments &&
                     p.nsp_len == q.nsp_len && !memcmp(p.nsp, q.nsp, p.nsp_len) &&
                     p.has_ack == q.has_ack && p.ack_id == q.ack_id &&
                     p.payload_len == q.payload_len &&
                     (!p.payload_len || !memcmp(p.payload, q.payload, p.payload_len));
            if (!ok && mismatches++ < 5)
                fprintf(stderr, "  round trip failed for %.*s\n", (int)n, in);
            sl_buf_free(&b);
        }
        free(in);
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(accepted > 100); /* the fuzz did reach the valid paths */
}

/* ---- encode ------------------------------------------------------------- */

static void encode_event_main_namespace(void)
{
    sio_packet_t p = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"a\",1]");
    CHECK_ENC(p, "2[\"a\",1]");
    p = mk(SIO_PACKET_EVENT, NULL, 0, 0, "[\"foo\"]");
    CHECK_ENC(p, "2[\"foo\"]");
    p = mk(SIO_PACKET_EVENT, NULL, 1, 12, "[\"foo\"]");
    CHECK_ENC(p, "212[\"foo\"]");
}

static void encode_event_custom_namespace_with_ack_id(void)
{
    sio_packet_t p = mk(SIO_PACKET_EVENT, "/chat", 1, 12, "[\"a\"]");
    CHECK_ENC(p, "2/chat,12[\"a\"]");
    p = mk(SIO_PACKET_EVENT, "/custom", 0, 0, "[\"auth\",{}]");
    CHECK_ENC(p, "2/custom,[\"auth\",{}]");
}

static void encode_connect_reply_with_sid(void)
{
    sio_packet_t p = mk(SIO_PACKET_CONNECT, "/custom", 0, 0, "{\"sid\":\"x\"}");
    CHECK_ENC(p, "0/custom,{\"sid\":\"x\"}");
    p = mk(SIO_PACKET_CONNECT, "/", 0, 0, "{\"sid\":\"x\"}");
    CHECK_ENC(p, "0{\"sid\":\"x\"}");
    p = mk(SIO_PACKET_CONNECT, "/", 0, 0, NULL);
    CHECK_ENC(p, "0");
    p = mk(SIO_PACKET_CONNECT, "/admin", 0, 0, NULL);
    CHECK_ENC(p, "0/admin,");
}

static void encode_connect_error(void)
{
    sio_packet_t p = mk(SIO_PACKET_CONNECT_ERROR, "/random", 0, 0,
                        "{\"message\":\"Invalid namespace\"}");
    CHECK_ENC(p, "4/random,{\"message\":\"Invalid namespace\"}");
    p = mk(SIO_PACKET_CONNECT_ERROR, "/", 0, 0, "{\"message\":\"Not authorized\"}");
    CHECK_ENC(p, "4{\"message\":\"Not authorized\"}");
}

static void encode_disconnect_custom_namespace_keeps_comma(void)
{
    /* Spec and reference encoder: "1/admin," with the comma. */
    sio_packet_t p = mk(SIO_PACKET_DISCONNECT, "/custom", 0, 0, NULL);
    CHECK_ENC(p, "1/custom,");
    p = mk(SIO_PACKET_DISCONNECT, "/", 0, 0, NULL);
    CHECK_ENC(p, "1");
}

static void encode_ack_with_id(void)
{
    sio_packet_t p = mk(SIO_PACKET_ACK, "/", 1, 456, "[1,\"2\",{\"3\":[false]}]");
    CHECK_ENC(p, "3456[1,\"2\",{\"3\":[false]}]");
    p = mk(SIO_PACKET_ACK, "/admin", 1, 13, "[\"bar\"]");
    CHECK_ENC(p, "3/admin,13[\"bar\"]");
    p = mk(SIO_PACKET_ACK, "/", 1, 12, "[]");
    CHECK_ENC(p, "312[]");
    p = mk(SIO_PACKET_ACK, "/", 1, UINT64_MAX, "[]");
    CHECK_ENC(p, "318446744073709551615[]");
}

static void encode_binary_event_and_ack_with_attachment_count(void)
{
    sio_packet_t p = mk(SIO_PACKET_BINARY_EVENT, "/", 0, 0,
                        "[\"message-back\",{\"_placeholder\":true,\"num\":0},"
                        "{\"_placeholder\":true,\"num\":1}]");
    p.attachments = 2;
    CHECK_ENC(p, "52-[\"message-back\",{\"_placeholder\":true,\"num\":0},"
                 "{\"_placeholder\":true,\"num\":1}]");

    p = mk(SIO_PACKET_BINARY_ACK, "/", 1, 789,
           "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
    p.attachments = 2;
    CHECK_ENC(p, "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");

    p = mk(SIO_PACKET_BINARY_ACK, "/admin", 1, 1, "[{\"_placeholder\":true,\"num\":0}]");
    p.attachments = 1;
    CHECK_ENC(p, "61-/admin,1[{\"_placeholder\":true,\"num\":0}]");

    p = mk(SIO_PACKET_BINARY_EVENT, "/", 0, 0, "[\"a\"]");
    CHECK_ENC(p, "50-[\"a\"]");
}

static void encode_appends_to_existing_buffer_content(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_str(&b, "4");
    sio_packet_t p = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"hey\",\"Jude\"]");
    CHECK_EQ_INT(sio_packet_encode(&b, &p), 0);
    CHECK_STR(b.data, b.len, "42[\"hey\",\"Jude\"]");
    sl_buf_free(&b);
}

static void encode_invalid_packet_is_refused_and_buffer_unchanged(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_append_str(&b, "keep");
    sio_packet_t p;

    p = mk((sio_packet_type_t)7, "/", 0, 0, "[\"a\"]");
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk((sio_packet_type_t)-1, "/", 0, 0, "[\"a\"]");
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "/", 0, 0, NULL);        /* EVENT needs a payload */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "/", 0, 0, "{}");        /* ... that is an array */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_DISCONNECT, "/x", 0, 0, "{}");  /* DISCONNECT has none */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_CONNECT, "/", 0, 0, "1");       /* would read as ack id */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "/a,b", 0, 0, "[\"a\"]"); /* comma ends the nsp */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "chat", 0, 0, "[\"a\"]"); /* no leading slash */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"a\"]");
    p.attachments = 1;                                 /* only binary types */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);
    p = mk(SIO_PACKET_EVENT, "/", 0, 0, NULL);
    p.payload_len = 3;                                 /* length, no bytes */
    CHECK_EQ_INT(sio_packet_encode(&b, &p), -EINVAL);

    CHECK_STR(b.data, b.len, "keep");
    sl_buf_free(&b);
}

static void encode_placeholder_in_reference_key_order(void)
{
    sl_buf_t b = SL_BUF_INIT;
    CHECK_EQ_INT(sio_packet_placeholder_append(&b, 0), 0);
    CHECK_EQ_INT(sio_packet_placeholder_append(&b, 12), 0);
    CHECK_STR(b.data, b.len, "{\"_placeholder\":true,\"num\":0}{\"_placeholder\":true,\"num\":12}");
    sl_buf_free(&b);
}

/* ---- round trips ---------------------------------------------------------- */

static void round_trip(const sio_packet_t *in)
{
    sl_buf_t b = SL_BUF_INIT;
    sio_packet_t out;
    CHECK_EQ_INT(sio_packet_encode(&b, in), 0);
    const char *copy = exact(b.data, b.len);
    CHECK_EQ_INT(sio_packet_decode(copy, b.len, &out), 0);
    CHECK_EQ_INT(out.type, in->type);
    CHECK_EQ_INT(out.attachments, in->attachments);
    CHECK_STR(out.nsp, out.nsp_len, in->nsp ? in->nsp : "/");
    CHECK_EQ_INT(out.has_ack, in->has_ack);
    CHECK(out.ack_id == in->ack_id);
    CHECK_MEM(out.payload ? out.payload : "", out.payload_len,
              in->payload ? in->payload : "", in->payload_len);
    sl_buf_free(&b);
}

static void every_packet_type_round_trips(void)
{
    const char *nsps[] = {"/", "/custom", NULL};
    for (int i = 0; i < 3; i++) {
        const char *ns = nsps[i];
        sio_packet_t p;
        p = mk(SIO_PACKET_CONNECT, ns, 0, 0, NULL); round_trip(&p);
        p = mk(SIO_PACKET_CONNECT, ns, 0, 0, "{\"token\":\"123\"}"); round_trip(&p);
        p = mk(SIO_PACKET_DISCONNECT, ns, 0, 0, NULL); round_trip(&p);
        p = mk(SIO_PACKET_EVENT, ns, 0, 0, "[\"message\",1,\"2\",{\"3\":[true]}]"); round_trip(&p);
        p = mk(SIO_PACKET_EVENT, ns, 1, 456, "[\"m\"]"); round_trip(&p);
        p = mk(SIO_PACKET_ACK, ns, 1, 0, "[]"); round_trip(&p);
        p = mk(SIO_PACKET_ACK, ns, 1, INT64_MAX, "[1,\"2\"]"); round_trip(&p);
        p = mk(SIO_PACKET_CONNECT_ERROR, ns, 0, 0, "{\"message\":\"Invalid namespace\"}"); round_trip(&p);
        p = mk(SIO_PACKET_CONNECT_ERROR, ns, 0, 0, "\"no\""); round_trip(&p);
        p = mk(SIO_PACKET_BINARY_EVENT, ns, 0, 0, "[\"b\",{\"_placeholder\":true,\"num\":0}]");
        p.attachments = 1; round_trip(&p);
        p = mk(SIO_PACKET_BINARY_EVENT, ns, 1, 7, "[\"b\"]");
        p.attachments = SIO_PACKET_MAX_ATTACHMENTS; round_trip(&p);
        p = mk(SIO_PACKET_BINARY_ACK, ns, 1, 789, "[{\"_placeholder\":true,\"num\":1}]");
        p.attachments = 2; round_trip(&p);
    }
}

/* ---- placeholders ------------------------------------------------------- */

typedef struct seen {
    int n;
    size_t off[8], len[8];
    unsigned num[8];
    const sio_packet_bin_t *att[8];
    int stop_at; /* return 99 on this call (1-based); 0: never */
} seen_t;

static int on_ph(void *ud, size_t off, size_t len, unsigned num, const sio_packet_bin_t *att)
{
    seen_t *s = ud;
    if (s->n < 8) {
        s->off[s->n] = off;
        s->len[s->n] = len;
        s->num[s->n] = num;
        s->att[s->n] = att;
    }
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 99 : 0;
}

static int phs(const char *json, size_t natt, seen_t *s)
{
    static const sio_packet_bin_t atts[4] = {{"a", 1}, {"bb", 2}, {"ccc", 3}, {"", 0}};
    memset(s, 0, sizeof *s);
    size_t n = strlen(json);
    return sio_packet_placeholders(exact(json, n), n, atts, natt, on_ph, s);
}

#define PH "{\"_placeholder\":true,\"num\":"

static void placeholders_found_with_spans_and_attachments(void)
{
    seen_t s;
    const char *j = "[\"message\"," PH "0}," PH "1}]";
    CHECK_EQ_INT(phs(j, 2, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_STR(j + s.off[0], s.len[0], PH "0}");
    CHECK_STR(j + s.off[1], s.len[1], PH "1}");
    CHECK_EQ_INT(s.num[0], 0);
    CHECK_EQ_INT(s.num[1], 1);
    CHECK_STR(s.att[0]->data, s.att[0]->len, "a");
    CHECK_STR(s.att[1]->data, s.att[1]->len, "bb");
}

static void placeholders_nested_in_arrays_and_objects(void)
{
    seen_t s;
    const char *j = "[\"e\",{\"a\":[1,{\"b\":" PH "2}}],\"c\":" PH "0}}]";
    CHECK_EQ_INT(phs(j, 3, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.num[0], 2);
    CHECK_EQ_INT(s.num[1], 0);
    CHECK_STR(j + s.off[0], s.len[0], PH "2}");
    CHECK_STR(j + s.off[1], s.len[1], PH "0}");
}

static void placeholders_tolerate_whitespace_key_order_and_escapes(void)
{
    seen_t s;
    const char *j = "[ { \"num\" : 1 ,\n \"_placeholder\" : true } ]";
    CHECK_EQ_INT(phs(j, 2, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.num[0], 1);
    CHECK_STR(j + s.off[0], s.len[0], "{ \"num\" : 1 ,\n \"_placeholder\" : true }");

    CHECK_EQ_INT(phs("[{\"\\u005fplaceholder\":true,\"n\\u0075m\":0}]", 1, &s), 0);
    CHECK_EQ_INT(s.n, 1);

    /* Extra members don't matter, as in the reference. */
    CHECK_EQ_INT(phs("[{\"x\":[1,2],\"_placeholder\":true,\"num\":0,\"y\":\"}\"}]", 1, &s), 0);
    CHECK_EQ_INT(s.n, 1);
}

static void placeholders_inside_strings_are_not_matched(void)
{
    seen_t s;
    CHECK_EQ_INT(phs("[\"{\\\"_placeholder\\\":true,\\\"num\\\":0}\"]", 0, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(phs("[{\"{\\\"_placeholder\\\":true,\\\"num\\\":0}\":1}]", 0, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    /* A string holding a brace must not unbalance the scan. */
    const char *j = "[\"}{\"," PH "0},\"\\\"}\"]";
    CHECK_EQ_INT(phs(j, 1, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_STR(j + s.off[0], s.len[0], PH "0}");
}

static void placeholders_only_when_flag_is_literal_true(void)
{
    seen_t s;
    CHECK_EQ_INT(phs("[{\"_placeholder\":false,\"num\":9}]", 0, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(phs("[{\"_placeholder\":\"true\",\"num\":9}]", 0, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(phs("[{\"_placeholder\":1,\"num\":9}]", 0, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    /* JSON.parse keeps the last of duplicate keys. */
    CHECK_EQ_INT(phs("[{\"_placeholder\":true,\"_placeholder\":false,\"num\":0}]", 1, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(phs("[{\"_placeholder\":false,\"_placeholder\":true,\"num\":0}]", 1, &s), 0);
    CHECK_EQ_INT(s.n, 1);
}

static void placeholder_num_out_of_range_is_error_before_any_callback(void)
{
    seen_t s;
    CHECK_EQ_INT(phs("[" PH "0}," PH "2}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(phs("[" PH "0}]", 0, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(phs("[" PH "4294967296}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(phs("[" PH "99999999999999999999999}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
}

static void placeholder_num_must_be_plain_integer(void)
{
    seen_t s;
    CHECK_EQ_INT(phs("[{\"_placeholder\":true}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(phs("[" PH "-1}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(phs("[" PH "\"0\"}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(phs("[" PH "0.5}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(phs("[" PH "null}]", 2, &s), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(s.n, 0);
}

static void placeholders_inside_a_placeholder_are_ignored(void)
{
    seen_t s;
    const char *j = "[" PH "0,\"x\":" PH "7}}]";
    CHECK_EQ_INT(phs(j, 1, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.num[0], 0);
    CHECK_MEM(j + s.off[0], s.len[0], j + 1, strlen(j) - 2);
    /* Even when the inner one comes before the flag. */
    const char *k = "[{\"x\":" PH "7},\"_placeholder\":true,\"num\":1}]";
    CHECK_EQ_INT(phs(k, 2, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.num[0], 1);
}

/* JSON.parse keeps the last value of a repeated key, so a placeholder in an
 * earlier value is never seen by the reference reconstructor, nor by
 * lua_json or mpjson; the validator used to count it, and refuse the
 * packet when its "num" was out of range (found by
 * tests/fuzz/fuzz_sio_packet). */
static void placeholders_in_an_overwritten_value_are_not_looked_at(void)
{
    seen_t s;
    /* A bad num in a value that a later duplicate replaces: accepted. */
    CHECK_EQ_INT(phs("{\"a\":" PH "9},\"a\":1}", 1, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    /* The key spelled with an escape is the same key. */
    CHECK_EQ_INT(phs("{\"a\":[" PH "9}],\"\\u0061\":2}", 1, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    /* Only the last value's placeholder counts, wherever it sits. */
    const char *j = "[{\"x\":" PH "0},\"y\":" PH "1},\"x\":" PH "1}}]";
    CHECK_EQ_INT(phs(j, 2, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.num[0], 1);
    CHECK_EQ_INT(s.num[1], 1);
    /* "y"'s, then the last "x"'s (the offset is the object's '{'). */
    CHECK(j[s.off[0] - 3] == 'y' && j[s.off[1] - 3] == 'x' && s.off[1] > strlen(j) / 2);
    /* Other keys keep theirs; a live bad num is still refused. */
    CHECK_EQ_INT(phs("{\"a\":" PH "0},\"b\":1}", 1, &s), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(phs("{\"a\":1,\"a\":" PH "9}}", 1, &s), SIO_PACKET_E_PLACEHOLDER);
}

/* The same through the connection's reassembler: the packet Node accepts
 * (checked with socket.io-parser 4) waits for its attachment instead of
 * closing the connection. */
static void reasm_accepts_an_overwritten_bad_placeholder(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t pkt;
    const char *text = "51-[\"ev\",{\"a\":" PH "7},\"a\":" PH "0}}]";
    CHECK_EQ_INT(sio_packet_reasm_text(&r, text, strlen(text), &pkt), SIO_PACKET_PENDING);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "\x01", 1, &pkt), SIO_PACKET_READY);
    sio_packet_reasm_free(&r);
}

static void placeholders_malformed_json_is_error(void)
{
    seen_t s;
    CHECK_EQ_INT(phs("[" PH "0}", 1, &s), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(phs("[{\"_placeholder\":true,\"num\":0]", 1, &s), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(phs("", 1, &s), SIO_PACKET_E_JSON);
    CHECK_EQ_INT(s.n, 0);
}

static void placeholder_callback_can_stop_the_walk(void)
{
    seen_t s;
    static const sio_packet_bin_t atts[2] = {{"a", 1}, {"b", 1}};
    const char *j = "[" PH "0}," PH "1}," PH "0}]";
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    CHECK_EQ_INT(sio_packet_placeholders(j, strlen(j), atts, 2, on_ph, &s), 99);
    CHECK_EQ_INT(s.n, 2);
}

static void placeholders_without_callback_only_validate(void)
{
    const char *j = "[" PH "0}," PH "1}]";
    CHECK_EQ_INT(sio_packet_placeholders(j, strlen(j), NULL, 2, NULL, NULL), 0);
    CHECK_EQ_INT(sio_packet_placeholders(j, strlen(j), NULL, 1, NULL, NULL),
                 SIO_PACKET_E_PLACEHOLDER);
}

/* ---- reassembly ----------------------------------------------------------- */

static void reasm_plain_text_packet_is_ready_at_once(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    const char *in = exact("2[\"a\"]", 6);
    CHECK_EQ_INT(sio_packet_reasm_text(&r, in, 6, &p), SIO_PACKET_READY);
    CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
    CHECK(p.payload == in + 1); /* no copy for the common case */
    CHECK_EQ_INT(sio_packet_reasm_pending(&r), 0);
    sio_packet_reasm_free(&r);
}

static void reasm_collects_attachments_then_reports_ready(void)
{
    sio_packet_reasm_t r;
    sio_packet_t p;
    sio_packet_reasm_init(&r);
    const char *hdr = "52-789[\"m\"," PH "0}," PH "1}]";
    size_t hn = strlen(hdr);
    /* The caller's buffers die right after each call: r must copy. */
    char *text = malloc(hn);
    memcpy(text, hdr, hn);
    CHECK_EQ_INT(sio_packet_reasm_text(&r, text, hn, &p), SIO_PACKET_PENDING);
    memset(text, 'X', hn);
    free(text);

    char *b1 = malloc(3);
    memcpy(b1, "\x01\x02\x03", 3);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, b1, 3, &p), SIO_PACKET_PENDING);
    memset(b1, 0, 3);
    free(b1);

    char *b2 = malloc(3);
    memcpy(b2, "\x04\x05\x06", 3);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, b2, 3, &p), SIO_PACKET_READY);
    free(b2);

    CHECK_EQ_INT(p.type, SIO_PACKET_BINARY_EVENT);
    CHECK_EQ_INT(p.attachments, 2);
    CHECK(p.ack_id == 789);
    CHECK_PAYLOAD(p, "[\"m\"," PH "0}," PH "1}]");
    CHECK_EQ_INT(sio_packet_reasm_count(&r), 2);
    CHECK_MEM(sio_packet_reasm_bins(&r)[0].data, sio_packet_reasm_bins(&r)[0].len, "\x01\x02\x03", 3);
    CHECK_MEM(sio_packet_reasm_bins(&r)[1].data, sio_packet_reasm_bins(&r)[1].len, "\x04\x05\x06", 3);

    /* What the Lua layer will do next: substitute by placeholder. */
    seen_t s;
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(sio_packet_placeholders(p.payload, p.payload_len, sio_packet_reasm_bins(&r), sio_packet_reasm_count(&r), on_ph, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK(s.att[0] == &sio_packet_reasm_bins(&r)[0]);
    CHECK(s.att[1] == &sio_packet_reasm_bins(&r)[1]);

    /* The next packet releases the previous one. */
    CHECK_EQ_INT(sio_packet_reasm_text(&r, "3[]", 3, &p), SIO_PACKET_READY);
    CHECK_EQ_INT(sio_packet_reasm_count(&r), 0);
    sio_packet_reasm_free(&r);
}

static void reasm_text_while_attachments_pending_is_error(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    const char *hdr = "62-5[" PH "0}," PH "1}]";
    CHECK_EQ_INT(sio_packet_reasm_text(&r, hdr, strlen(hdr), &p), SIO_PACKET_PENDING);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "x", 1, &p), SIO_PACKET_PENDING);
    CHECK_EQ_INT(sio_packet_reasm_text(&r, "2[\"a\"]", 6, &p), SIO_PACKET_E_UNEXPECTED_TEXT);
    /* The state was dropped: the stream can be read afresh (or closed). */
    CHECK_EQ_INT(sio_packet_reasm_pending(&r), 0);
    CHECK_EQ_INT(sio_packet_reasm_text(&r, "2[\"a\"]", 6, &p), SIO_PACKET_READY);
    sio_packet_reasm_free(&r);
}

static void reasm_binary_without_pending_header_is_error(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "x", 1, &p), SIO_PACKET_E_UNEXPECTED_BINARY);
    /* Also after a completed binary packet. */
    const char *hdr = "51-[\"m\"," PH "0}]";
    CHECK_EQ_INT(sio_packet_reasm_text(&r, hdr, strlen(hdr), &p), SIO_PACKET_PENDING);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "x", 1, &p), SIO_PACKET_READY);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "y", 1, &p), SIO_PACKET_E_UNEXPECTED_BINARY);
    sio_packet_reasm_free(&r);
}

static void reasm_binary_with_zero_attachments_is_ready_at_once(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    CHECK_EQ_INT(sio_packet_reasm_text(&r, "50-[\"a\"]", 8, &p), SIO_PACKET_READY);
    CHECK_EQ_INT(p.attachments, 0);
    /* Unlike the reference (whose reconstructor lingers), text may follow. */
    CHECK_EQ_INT(sio_packet_reasm_text(&r, "2[\"b\"]", 6, &p), SIO_PACKET_READY);
    sio_packet_reasm_free(&r);
}

static void reasm_bad_placeholder_fails_before_attachments(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    const char *hdr = "51-[\"m\"," PH "1}]";
    CHECK_EQ_INT(sio_packet_reasm_text(&r, hdr, strlen(hdr), &p), SIO_PACKET_E_PLACEHOLDER);
    CHECK_EQ_INT(sio_packet_reasm_pending(&r), 0);
    CHECK_EQ_INT(sio_packet_reasm_text(&r, "5-[\"m\"]", 7, &p), SIO_PACKET_E_ATTACHMENTS);
    sio_packet_reasm_free(&r);
}

static void reasm_accepts_empty_attachment(void)
{
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    const char *hdr = "61-3[" PH "0}]";
    CHECK_EQ_INT(sio_packet_reasm_text(&r, hdr, strlen(hdr), &p), SIO_PACKET_PENDING);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "", 0, &p), SIO_PACKET_READY);
    CHECK_EQ_INT(sio_packet_reasm_bins(&r)[0].len, 0);
    CHECK(sio_packet_reasm_bins(&r)[0].data != NULL);
    sio_packet_reasm_free(&r);
}

static void reasm_free_while_pending_releases_everything(void)
{
    /* ASan's leak check at exit is the assertion here. */
    sio_packet_reasm_t r = SIO_PACKET_REASM_INIT;
    sio_packet_t p;
    const char *hdr = "53-[\"m\"," PH "0}," PH "1}," PH "2}]";
    CHECK_EQ_INT(sio_packet_reasm_text(&r, hdr, strlen(hdr), &p), SIO_PACKET_PENDING);
    CHECK_EQ_INT(sio_packet_reasm_binary(&r, "abc", 3, &p), SIO_PACKET_PENDING);
    sio_packet_reasm_free(&r);
    CHECK_EQ_INT(sio_packet_reasm_pending(&r), 0);
    CHECK(sio_packet_reasm_bins(&r) == NULL && r.st == NULL);
    sio_packet_reasm_free(&r); /* twice is harmless */
}

/* ---- names -------------------------------------------------------------- */

static void strerror_and_type_names_cover_every_code(void)
{
    for (int e = SIO_PACKET_E_UNEXPECTED_BINARY; e <= SIO_PACKET_E_EMPTY; e++)
        CHECK(strcmp(sio_packet_strerror(e), "unknown error") != 0);
    CHECK_STR(sio_packet_strerror(-ENOMEM), strlen(sio_packet_strerror(-ENOMEM)), "out of memory");
    CHECK_STR(sio_packet_type_name(5), strlen(sio_packet_type_name(5)), "BINARY_EVENT");
    CHECK_STR(sio_packet_type_name(7), 1, "?");
}

TL_SUITE(sio_packet, NULL, pool_free,
         TL_TEST(decode_connect_main_namespace_without_payload),
         TL_TEST(decode_connect_main_namespace_with_auth_object),
         TL_TEST(decode_connect_custom_namespace_comma_is_optional),
         TL_TEST(decode_connect_custom_namespace_with_auth_object),
         TL_TEST(decode_event_with_mixed_arguments),
         TL_TEST(decode_event_with_ack_id),
         TL_TEST(decode_binary_event_reads_attachment_count),
         TL_TEST(decode_binary_ack_with_ack_id),
         TL_TEST(decode_disconnect_main_and_custom_namespace),
         TL_TEST(decode_event_on_namespace_with_ack_id),
         TL_TEST(decode_event_with_number_as_first_element),
         TL_TEST(decode_ack_allows_empty_array),
         TL_TEST(decode_connect_error_object_string_or_nothing),
         TL_TEST(decode_binary_event_on_namespace),
         TL_TEST(decode_binary_with_zero_attachments_is_valid),
         TL_TEST(decode_attachment_count_at_limit_is_accepted),
         TL_TEST(decode_slash_comma_is_main_namespace),
         TL_TEST(decode_trims_whitespace_around_payload),
         TL_TEST(decode_ack_id_max_int64_is_accepted),
         TL_TEST(decode_accepts_strict_json_edge_cases),
         TL_TEST(decode_nesting_up_to_depth_limit),
         TL_TEST(decode_empty_input_is_error),
         TL_TEST(decode_unknown_type_is_error),
         TL_TEST(decode_event_payload_not_array_is_error),
         TL_TEST(decode_event_without_payload_is_error),
         TL_TEST(decode_non_numeric_ack_id_is_error),
         TL_TEST(decode_ack_id_overflow_is_error),
         TL_TEST(decode_event_name_must_be_string_or_number),
         TL_TEST(decode_reserved_event_names_are_refused),
         TL_TEST(decode_connect_payload_must_be_object),
         TL_TEST(decode_disconnect_with_payload_is_error),
         TL_TEST(decode_connect_error_payload_must_be_object_or_string),
         TL_TEST(decode_binary_without_attachment_count_is_error),
         TL_TEST(decode_huge_attachment_count_is_error),
         TL_TEST(decode_truncated_json_is_error),
         TL_TEST(decode_malformed_json_is_error),
         TL_TEST(decode_embedded_nul_bytes_are_data_not_terminators),
         TL_TEST(decode_every_prefix_of_valid_packet_is_error),
         TL_TEST(decode_random_input_never_crashes_and_round_trips),
         TL_TEST(encode_event_main_namespace),
         TL_TEST(encode_event_custom_namespace_with_ack_id),
         TL_TEST(encode_connect_reply_with_sid),
         TL_TEST(encode_connect_error),
         TL_TEST(encode_disconnect_custom_namespace_keeps_comma),
         TL_TEST(encode_ack_with_id),
         TL_TEST(encode_binary_event_and_ack_with_attachment_count),
         TL_TEST(encode_appends_to_existing_buffer_content),
         TL_TEST(encode_invalid_packet_is_refused_and_buffer_unchanged),
         TL_TEST(encode_placeholder_in_reference_key_order),
         TL_TEST(every_packet_type_round_trips),
         TL_TEST(placeholders_found_with_spans_and_attachments),
         TL_TEST(placeholders_nested_in_arrays_and_objects),
         TL_TEST(placeholders_tolerate_whitespace_key_order_and_escapes),
         TL_TEST(placeholders_inside_strings_are_not_matched),
         TL_TEST(placeholders_only_when_flag_is_literal_true),
         TL_TEST(placeholder_num_out_of_range_is_error_before_any_callback),
         TL_TEST(placeholder_num_must_be_plain_integer),
         TL_TEST(placeholders_inside_a_placeholder_are_ignored),
         TL_TEST(placeholders_in_an_overwritten_value_are_not_looked_at),
         TL_TEST(reasm_accepts_an_overwritten_bad_placeholder),
         TL_TEST(placeholders_malformed_json_is_error),
         TL_TEST(placeholder_callback_can_stop_the_walk),
         TL_TEST(placeholders_without_callback_only_validate),
         TL_TEST(reasm_plain_text_packet_is_ready_at_once),
         TL_TEST(reasm_collects_attachments_then_reports_ready),
         TL_TEST(reasm_text_while_attachments_pending_is_error),
         TL_TEST(reasm_binary_without_pending_header_is_error),
         TL_TEST(reasm_binary_with_zero_attachments_is_ready_at_once),
         TL_TEST(reasm_bad_placeholder_fails_before_attachments),
         TL_TEST(reasm_accepts_empty_attachment),
         TL_TEST(reasm_free_while_pending_releases_everything),
         TL_TEST(strerror_and_type_names_cover_every_code));
