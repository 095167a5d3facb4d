/* Unit tests for sio_cluster (ClusterAdapter message envelopes, JSON and
 * MessagePack). */
#include <stdlib.h>
#include <string.h>
#include <msgpuck.h>
#include <uv.h>

#include "sio/mpjson.h"
#include "cluster/sio_cluster.h"
#include "testlib.h"

static int decode_json(const char *json, sio_cluster_msg_t *m, sl_buf_t *scratch)
{
    return sio_cluster_decode(json, strlen(json), scratch, m);
}

static void json_broadcast_decodes(void)
{
    sl_buf_t scratch = SL_BUF_INIT;
    sio_cluster_msg_t m;
    const char *msg = "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"ev\",1]},"
                      "\"opts\":{\"rooms\":[\"r\"],\"except\":[],\"flags\":{}}},"
                      "\"uid\":\"abc\",\"nsp\":\"/chat\"}";
    CHECK_EQ_INT(decode_json(msg, &m, &scratch), 0);
    CHECK_EQ_INT(m.type, SIO_CLUSTER_BROADCAST);
    CHECK_STR(m.uid, strlen(m.uid), "abc");
    CHECK_STR(m.nsp, strlen(m.nsp), "/chat");
    CHECK(m.request_id[0] == '\0');
    CHECK(m.packet && mp_typeof(*m.packet) == MP_MAP);
    CHECK(m.opts && mp_typeof(*m.opts) == MP_MAP);
    CHECK(!m.sockets && !m.rooms);
    CHECK_EQ_INT(m.client_count, -1);
    sl_buf_free(&scratch);
}

static void responses_decode(void)
{
    sl_buf_t scratch = SL_BUF_INIT;
    sio_cluster_msg_t m;
    CHECK_EQ_INT(decode_json("{\"type\":11,\"data\":{\"requestId\":\"q1\",\"clientCount\":3},"
                             "\"uid\":\"u\",\"nsp\":\"/\"}", &m, &scratch), 0);
    CHECK(sio_cluster_is_response(m.type));
    CHECK_EQ_INT(m.client_count, 3);
    CHECK_STR(m.request_id, strlen(m.request_id), "q1");
    CHECK_EQ_INT(decode_json("{\"type\":8,\"data\":{\"requestId\":\"q2\",\"sockets\":[]},"
                             "\"uid\":\"u\",\"nsp\":\"/\"}", &m, &scratch), 0);
    CHECK(m.sockets && mp_typeof(*m.sockets) == MP_ARRAY);
    CHECK(!sio_cluster_is_response(SIO_CLUSTER_FETCH_SOCKETS));
    /* A heartbeat has no data. */
    CHECK_EQ_INT(decode_json("{\"type\":1,\"uid\":\"u\",\"nsp\":\"/\"}", &m, &scratch), 0);
    sl_buf_free(&scratch);
}

static void msgpack_with_binary_decodes(void)
{
    sl_buf_t b = SL_BUF_INIT, scratch = SL_BUF_INIT;
    sl_mpjson_put_map(&b, 4);
    sl_mpjson_put_str(&b, "type", 4);
    sl_mpjson_put_number(&b, 9);
    sl_mpjson_put_str(&b, "data", 4);
    sl_mpjson_put_map(&b, 2);
    sl_mpjson_put_str(&b, "packet", 6);
    sl_mpjson_put_array(&b, 2);
    sl_mpjson_put_str(&b, "ev", 2);
    sl_mpjson_put_bin(&b, "\x01\x02", 2);
    sl_mpjson_put_str(&b, "requestId", 9);
    sl_mpjson_put_str(&b, "r9", 2);
    sl_mpjson_put_str(&b, "uid", 3);
    sl_mpjson_put_str(&b, "n1", 2);
    sl_mpjson_put_str(&b, "nsp", 3);
    sl_mpjson_put_str(&b, "/", 1);
    sio_cluster_msg_t m;
    CHECK_EQ_INT(sio_cluster_decode(b.data, b.len, &scratch, &m), 0);
    CHECK_EQ_INT(m.type, SIO_CLUSTER_SERVER_SIDE_EMIT);
    CHECK_STR(m.request_id, strlen(m.request_id), "r9");
    CHECK(m.packet && mp_typeof(*m.packet) == MP_ARRAY);
    CHECK(m.end == b.data + b.len);
    CHECK_EQ_INT(scratch.len, 0); /* msgpack is read in place */
    /* Cut anywhere: refused, never read past the end. */
    for (size_t n = 0; n < b.len; n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, b.data, n);
        CHECK_EQ_INT(sio_cluster_decode(cut, n, &scratch, &m), -1);
        free(cut);
    }
    sl_buf_free(&b);
    sl_buf_free(&scratch);
}

static void malformed_messages_are_refused(void)
{
    static const char *bad[] = {
        "", "{", "{not json", "[1,2]", "42", "{\"type\":\"3\",\"uid\":\"u\"}",
        "{\"type\":3}",                                    /* no uid */
        "{\"type\":3,\"uid\":7}",                          /* uid not a string */
        "{\"type\":-1,\"uid\":\"u\"}",
        "{\"type\":3,\"uid\":\"u\",\"data\":[]}",          /* data not a map */
        "{\"type\":3,\"uid\":\"u\",\"data\":{\"opts\":1}}",
        "{\"type\":4,\"uid\":\"u\",\"data\":{\"rooms\":\"r\"}}",
        "{\"type\":11,\"uid\":\"u\",\"data\":{\"clientCount\":-2}}",
        "{\"type\":11,\"uid\":\"u\",\"data\":{\"requestId\":5}}",
    };
    sl_buf_t scratch = SL_BUF_INIT;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sio_cluster_msg_t m;
        if (decode_json(bad[i], &m, &scratch) != -1) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
    /* msgpack: an array header claiming 2^32-1 elements. */
    sio_cluster_msg_t m;
    CHECK_EQ_INT(sio_cluster_decode("\xdd\xff\xff\xff\xff", 5, &scratch, &m), -1);
    CHECK_EQ_INT(sio_cluster_decode("\xc1", 1, &scratch, &m), -1);
    sl_buf_free(&scratch);
}

static void json_writers_make_the_envelope(void)
{
    sl_buf_t b = SL_BUF_INIT;
    sio_cluster_json_open(&b, SIO_CLUSTER_FETCH_SOCKETS);
    sio_cluster_field(&b, "opts");
    sl_buf_append_str(&b, "{}");
    sio_cluster_json_close(&b, "id1", "me", "/x\"y");
    CHECK_STR(b.data, b.len,
              "{\"type\":7,\"data\":{\"opts\":{},\"requestId\":\"id1\"},\"uid\":\"me\",\"nsp\":\"/x\\\"y\"}");
    sl_buf_reset(&b);
    sio_cluster_json_open(&b, SIO_CLUSTER_SOCKETS_JOIN);
    sio_cluster_json_close(&b, NULL, "me", "/");
    CHECK_STR(b.data, b.len, "{\"type\":4,\"data\":{},\"uid\":\"me\",\"nsp\":\"/\"}");
    sl_buf_free(&b);
}

TL_SUITE(sio_cluster, NULL, NULL,
         TL_TEST(json_broadcast_decodes),
         TL_TEST(responses_decode),
         TL_TEST(msgpack_with_binary_decodes),
         TL_TEST(malformed_messages_are_refused),
         TL_TEST(json_writers_make_the_envelope));
