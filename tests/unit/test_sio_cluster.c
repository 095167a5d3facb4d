/* Unit tests for sio_cluster (ClusterAdapter message envelopes, JSON and
 * MessagePack) and for redis_sub's read path fed partial RESP. */
#include <stdlib.h>
#include <string.h>
#include <msgpuck.h>
#include <uv.h>

#include "sio/mpjson.h"
#include "cluster/redis_sub.h"
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

/* ---- redis_sub's read path ---------------------------------------------- */

typedef struct got {
    int n;
    char ch[64], msg[64];
} got_t;

static void on_msg(const char *ch, size_t clen, const char *msg, size_t mlen, void *ud)
{
    got_t *g = ud;
    g->n++;
    snprintf(g->ch, sizeof g->ch, "%.*s", (int)clen, ch);
    snprintf(g->msg, sizeof g->msg, "%.*s", (int)mlen, msg);
}

static void redis_sub_reads_split_replies(void)
{
    uv_loop_t *loop = tl_loop();
    sl_redis_url_t u;
    char err[128];
    CHECK_EQ_INT(sl_redis_url_parse("redis://127.0.0.1:1", &u, err, sizeof err), 0);
    got_t g = {0};
    sl_redis_sub_t *s = sl_redis_sub_new(loop, &u, "test", on_msg, NULL, &g);
    const char *stream = "*3\r\n$10\r\nssubscribe\r\n$4\r\nch#1\r\n:1\r\n"
                         "+OK\r\n"
                         "*3\r\n$8\r\nsmessage\r\n$4\r\nch#1\r\n$5\r\nh\r\nlo\r\n"
                         "*3\r\n$8\r\nSMESSAGE\r\n$2\r\nc2\r\n$0\r\n\r\n";
    /* One byte at a time: replies complete only at their last byte. */
    for (size_t i = 0; stream[i]; i++)
        CHECK_EQ_INT(sl_redis_sub_feed(s, stream + i, 1), 0);
    CHECK_EQ_INT(g.n, 2);
    CHECK_STR(g.ch, strlen(g.ch), "c2");
    CHECK_EQ_INT(strlen(g.msg), 0);
    /* A binary-safe body split in two feeds. */
    const char *part1 = "*3\r\n$8\r\nsmessage\r\n$4\r\nch#1\r\n$3\r\n\x93", *part2 = "\x01\x02\r\n";
    CHECK_EQ_INT(sl_redis_sub_feed(s, part1, strlen(part1)), 0);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(sl_redis_sub_feed(s, part2, strlen(part2)), 0);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_INT((unsigned char)g.msg[0], 0x93);
    /* An error reply is logged, not delivered; garbage is a protocol error. */
    CHECK_EQ_INT(sl_redis_sub_feed(s, "-ERR nope\r\n", 11), 0);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_INT(sl_redis_sub_feed(s, "!?\r\n", 4), -1);
    sl_redis_sub_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
}

static void redis_sub_keeps_a_channel_set(void)
{
    uv_loop_t *loop = tl_loop();
    sl_redis_url_t u;
    char err[128];
    sl_redis_url_parse("redis://127.0.0.1:1", &u, err, sizeof err);
    sl_redis_sub_t *s = sl_redis_sub_new(loop, &u, "test", NULL, NULL, NULL);
    char name[32];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof name, "socket.io#/#room%d#", i);
        CHECK_EQ_INT(sl_redis_sub_add(s, name, (size_t)n), 0);
    }
    CHECK_EQ_INT(sl_redis_sub_add(s, "socket.io#/#room7#", 18), 0); /* held already */
    CHECK_EQ_INT(sl_redis_sub_count(s), 100);
    CHECK(sl_redis_sub_holds(s, "socket.io#/#room42#", 19));
    sl_redis_sub_remove(s, "socket.io#/#room42#", 19);
    sl_redis_sub_remove(s, "socket.io#/#nope#", 17);
    CHECK(!sl_redis_sub_holds(s, "socket.io#/#room42#", 19));
    CHECK_EQ_INT(sl_redis_sub_count(s), 99);
    sl_redis_sub_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
}

TL_SUITE(sio_cluster, NULL, NULL,
         TL_TEST(json_broadcast_decodes),
         TL_TEST(responses_decode),
         TL_TEST(msgpack_with_binary_decodes),
         TL_TEST(malformed_messages_are_refused),
         TL_TEST(json_writers_make_the_envelope),
         TL_TEST(redis_sub_reads_split_replies),
         TL_TEST(redis_sub_keeps_a_channel_set));
