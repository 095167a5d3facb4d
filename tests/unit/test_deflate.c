/* Unit tests of L1 deflate (the zlib wrapper: counted streams, the pool,
 * messages, HTTP codings) and of how net/http picks a coding for an
 * Accept-Encoding header, against a table made by running Node's `accepts`
 * (negotiator 0.6, as engine.io 6.6 uses it) on each header. */
#include "net/deflate.h"
#include "net/http.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void messages_round_trip_and_drop_the_flush_marker(void)
{
    sl_zcfg_t cfg = {15, 6, 8};
    sl_zdeflate_t *d = sl_zdeflate_new(&cfg);
    sl_zinflate_t *in = sl_zinflate_new(15);
    CHECK(d && in);
    const char *msgs[] = {"", "4", "42[\"a\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]", "a\0b"};
    size_t lens[] = {0, 1, strlen(msgs[2]), 3};
    for (int keep = 0; keep < 2; keep++) {
        for (size_t i = 0; i < 4; i++) {
            sl_buf_t z = SL_BUF_INIT, out = SL_BUF_INIT;
            uv_buf_t parts[2] = {uv_buf_init((char *)msgs[i], lens[i] ? 1 : 0),
                                 uv_buf_init((char *)msgs[i] + (lens[i] ? 1 : 0),
                                             (unsigned)(lens[i] ? lens[i] - 1 : 0))};
            CHECK_EQ_INT(sl_zdeflate_message(d, parts, 2, &z, !keep), 0);
            CHECK(z.len < 4 || memcmp(z.data + z.len - 4, "\x00\x00\xff\xff", 4) != 0);
            CHECK_EQ_INT(sl_zinflate_message(in, z.data, z.len, &out, 1000, !keep), 0);
            CHECK_MEM(out.data ? out.data : "", out.len, msgs[i], lens[i]);
            sl_buf_free(&z);
            sl_buf_free(&out);
        }
    }
    sl_zdeflate_free(d);
    sl_zinflate_free(in);
    CHECK_EQ_INT(sl_zmem(), 0);
}

/* An empty message after another on a stream that keeps its history: zlib
 * refused the second sync flush in a row and the message came out as no
 * bytes, which a receiver reads as the start of a stored block (found by
 * tests/fuzz/fuzz_ws_deflate). It is 00 now, as Node's zlib and ws make
 * it, and zlib's own inflater, fed each message with 00 00 ff ff added as
 * a WebSocket client does, reads every message back in step. */
static void empty_message_after_another_keeps_the_receiver_in_step(void)
{
    sl_zcfg_t cfg = {15, 6, 8};
    sl_zdeflate_t *d = sl_zdeflate_new(&cfg);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(d && inflateInit2(&zs, -15) == Z_OK);
    const char *msgs[] = {"hello", "", "", "x", "", "42[\"a\"]"};
    for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
        size_t len = strlen(msgs[i]);
        uv_buf_t part = uv_buf_init((char *)msgs[i], (unsigned)len);
        sl_buf_t z = SL_BUF_INIT;
        CHECK_EQ_INT(sl_zdeflate_message(d, &part, 1, &z, 0), 0);
        if (!len)
            CHECK_MEM(z.data, z.len, "\x00", 1);
        sl_buf_append(&z, "\x00\x00\xff\xff", 4);
        unsigned char got[64];
        zs.next_in = (Bytef *)z.data;
        zs.avail_in = (uInt)z.len;
        zs.next_out = got;
        zs.avail_out = sizeof got;
        int rc = inflate(&zs, Z_SYNC_FLUSH);
        CHECK(rc == Z_OK || rc == Z_BUF_ERROR);
        CHECK_EQ_INT(zs.avail_in, 0);
        CHECK_MEM(got, sizeof got - zs.avail_out, msgs[i], len);
        sl_buf_free(&z);
    }
    inflateEnd(&zs);
    sl_zdeflate_free(d);
}

static void the_pool_keeps_one_stream_per_configuration(void)
{
    sl_zpool_free();
    sl_zcfg_t a = {15, 6, 8}, b = {10, 6, 8};
    sl_zdeflate_t *pa = sl_zdeflate_pooled(&a);
    size_t one = sl_zmem();
    CHECK(pa && one > 256 * 1024);
    CHECK(sl_zdeflate_pooled(&a) == pa);
    CHECK_EQ_INT(sl_zmem(), one);
    sl_zdeflate_t *pb = sl_zdeflate_pooled(&b);
    CHECK(pb && pb != pa);
    CHECK(sl_zinflate_pooled() == sl_zinflate_pooled());
    sl_zpool_free();
    CHECK_EQ_INT(sl_zmem(), 0);
}

/* gzip and deflate bodies: the very bytes zlib's own gzip and zlib
 * streams write, and readable by zlib's inflate of each format. */
static void http_codings_are_what_zlib_itself_writes(void)
{
    char body[5000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)("0123456789abcdef"[(i * 7) % 16]);
    unsigned levels[] = {1, 6, 9};
    for (size_t l = 0; l < 3; l++) {
        for (int gz = 0; gz < 2; gz++) {
            sl_buf_t mine = SL_BUF_INIT;
            CHECK_EQ_INT(sl_zencode(gz ? SL_ZCODING_GZIP : SL_ZCODING_DEFLATE, levels[l], body,
                                    sizeof body, &mine), 0);
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            CHECK(deflateInit2(&zs, (int)levels[l], Z_DEFLATED, gz ? 31 : 15, 8, Z_DEFAULT_STRATEGY) ==
                  Z_OK);
            unsigned char ref[8000];
            zs.next_in = (Bytef *)body;
            zs.avail_in = sizeof body;
            zs.next_out = ref;
            zs.avail_out = sizeof ref;
            CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
            CHECK_MEM(mine.data, mine.len, ref, sizeof ref - zs.avail_out);
            deflateEnd(&zs);
            memset(&zs, 0, sizeof zs);
            CHECK(inflateInit2(&zs, gz ? 31 : 15) == Z_OK);
            char back[6000];
            zs.next_in = (Bytef *)mine.data;
            zs.avail_in = (uInt)mine.len;
            zs.next_out = (Bytef *)back;
            zs.avail_out = sizeof back;
            CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
            CHECK_MEM(back, sizeof back - zs.avail_out, body, sizeof body);
            inflateEnd(&zs);
            sl_buf_free(&mine);
        }
    }
    sl_zpool_free();
}

/* ---- Accept-Encoding ------------------------------------------------------ */

static const struct {
    const char *header; /* NULL: none sent */
    sl_zcoding_t coding;
} codings[] = {
    {NULL, SL_ZCODING_IDENTITY},
    {"", SL_ZCODING_IDENTITY},
    {"gzip", SL_ZCODING_GZIP},
    {"deflate", SL_ZCODING_DEFLATE},
    {"gzip, deflate", SL_ZCODING_GZIP},
    {"deflate, gzip", SL_ZCODING_DEFLATE},
    {"gzip, deflate, br", SL_ZCODING_GZIP},
    {"br", SL_ZCODING_IDENTITY},
    {"identity", SL_ZCODING_IDENTITY},
    {"*", SL_ZCODING_GZIP},
    {"br;q=1, gzip;q=0.5", SL_ZCODING_GZIP},
    {"gzip;q=0.5, deflate", SL_ZCODING_DEFLATE},
    {"gzip;q=0, deflate;q=0", SL_ZCODING_IDENTITY},
    {"gzip;q=0", SL_ZCODING_IDENTITY},
    {"*;q=0.1, gzip;q=0", SL_ZCODING_DEFLATE},
    {"deflate;q=0.5, *", SL_ZCODING_GZIP},
    {"GZIP", SL_ZCODING_GZIP},
    {"x-gzip", SL_ZCODING_IDENTITY},
    {"gzip;q=abc, deflate", SL_ZCODING_DEFLATE},
    {"gzip;q=, deflate;q=0.9", SL_ZCODING_DEFLATE},
    {"gzip ; q=0.5, deflate", SL_ZCODING_DEFLATE},
    {"gzip;level=1;q=0.2, deflate;q=0.1", SL_ZCODING_GZIP},
    {"gzip, gzip;q=0", SL_ZCODING_GZIP},
    {"gzip;q=0, gzip", SL_ZCODING_GZIP},
    {"deflate;q=1.0, gzip;q=1.0", SL_ZCODING_DEFLATE},
    {"gzip deflate", SL_ZCODING_IDENTITY},
    {",,gzip", SL_ZCODING_GZIP},
    {"deflate;q=0.5e0, gzip;q=.4", SL_ZCODING_DEFLATE},
    {"*;q=0.5, deflate;q=0.5", SL_ZCODING_DEFLATE},
    {"identity;q=0", SL_ZCODING_IDENTITY},
    {"gzip;q=1e-3, deflate;q=0.0005", SL_ZCODING_GZIP},
    {" deflate ", SL_ZCODING_DEFLATE},
    {"br, *;q=0.1", SL_ZCODING_GZIP},
    {"gzip;q=0.5;q=0.9, deflate;q=0.7", SL_ZCODING_DEFLATE},
    {"compress, gzip", SL_ZCODING_GZIP},
};

static void accept_encoding_picks_what_node_picks(void)
{
    for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
        sl_http_req_t r;
        sl_http_header_t h[1];
        memset(&r, 0, sizeof r);
        r.headers = h;
        if (codings[i].header) {
            r.headers[0].name = "Accept-Encoding";
            r.headers[0].value = codings[i].header;
            r.nheaders = 1;
        }
        sl_zcoding_t got = sl_http_accepted_coding(&r);
        if (got != codings[i].coding)
            fprintf(stderr, "  '%s': %s, expected %s\n", codings[i].header ? codings[i].header : "(none)",
                    sl_zcoding_name(got), sl_zcoding_name(codings[i].coding));
        CHECK_EQ_INT(got, codings[i].coding);
    }
}

static void teardown(void) { sl_zpool_free(); }

TL_SUITE(deflate, NULL, teardown,
         TL_TEST(messages_round_trip_and_drop_the_flush_marker),
         TL_TEST(empty_message_after_another_keeps_the_receiver_in_step),
         TL_TEST(the_pool_keeps_one_stream_per_configuration),
         TL_TEST(http_codings_are_what_zlib_itself_writes),
         TL_TEST(accept_encoding_picks_what_node_picks));
