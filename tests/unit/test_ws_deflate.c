/* Unit tests of L1 ws_deflate: permessage-deflate negotiated as Node's ws 8
 * answers (the table below was made by running ws's own extension.parse,
 * PerMessageDeflate.accept and extension.format on each offer with each
 * set of options, ws 8.21 as engine.io 6.6 ships it), and one connection's
 * frames: compressed, inflated by a peer's inflater, shared across
 * connections without context takeover, the memory each mode holds, and
 * the limits on what comes in. */
#include "net/ws_deflate.h"
#include "net/deflate.h"
#include "net/ws_frame.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A request with one Sec-WebSocket-Extensions header (NULL: none). */
static void fake_req(sl_http_req_t *r, const char *ext)
{
    static sl_http_header_t headers[2];
    memset(r, 0, sizeof *r);
    r->headers = headers;
    if (ext) {
        r->headers[0].name = "Sec-WebSocket-Extensions";
        r->headers[0].value = ext;
        r->nheaders = 1;
    }
}

static sl_ws_deflate_opts_t opts_named(const char *name)
{
    sl_ws_deflate_opts_t o;
    sl_ws_deflate_opts_init(&o);
    o.enabled = 1;
    if (!strcmp(name, "snctT") || !strcmp(name, "all"))
        o.server_no_context_takeover = SL_WSZ_TRUE;
    if (!strcmp(name, "snctF"))
        o.server_no_context_takeover = SL_WSZ_FALSE;
    if (!strcmp(name, "cnctT") || !strcmp(name, "all"))
        o.client_no_context_takeover = SL_WSZ_TRUE;
    if (!strcmp(name, "smwb10"))
        o.server_max_window_bits = 10;
    if (!strcmp(name, "smwbF"))
        o.server_max_window_bits = SL_WSZ_FALSE;
    if (!strcmp(name, "cmwb10"))
        o.client_max_window_bits = 10;
    if (!strcmp(name, "cmwbF"))
        o.client_max_window_bits = SL_WSZ_FALSE;
    if (!strcmp(name, "all")) {
        o.server_max_window_bits = 12;
        o.client_max_window_bits = 11;
    }
    return o;
}

static const struct {
    const char *opts, *offer;
    int rc;
    const char *answer;
} table[] = {
    {"def", "permessage-deflate", 1, "permessage-deflate"},
    {"def", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate"},
    {"def", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", 1, "permessage-deflate; client_max_window_bits=9; server_no_context_takeover"},
    {"def", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 1, "permessage-deflate; server_max_window_bits=12; client_no_context_takeover"},
    {"def", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate; server_max_window_bits=9"},
    {"def", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover"},
    {"def", "x-webkit-deflate-frame", 0, ""},
    {"def", "x-foo; a=\"b\", permessage-deflate", 1, "permessage-deflate"},
    {"def", "permessage-deflate; client_max_window_bits=\"10\"", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate; client_max_window_bits=\"1\\0\"", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate; client_max_window_bits=0x0a", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate; client_max_window_bits=10.0", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate; client_max_window_bits=1e1", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate; client_max_window_bits=010", 1, "permessage-deflate; client_max_window_bits=10"},
    {"def", "permessage-deflate; client_max_window_bits=16", -1, ""},
    {"def", "permessage-deflate; client_max_window_bits=7", -1, ""},
    {"def", "permessage-deflate; server_max_window_bits", -1, ""},
    {"def", "permessage-deflate; server_no_context_takeover=1", -1, ""},
    {"def", "permessage-deflate; foo", -1, ""},
    {"def", "permessage-deflate; client_max_window_bits; client_max_window_bits", -1, ""},
    {"def", "permessage-deflate,", -1, ""},
    {"def", "permessage-deflate; ", -1, ""},
    {"def", ", permessage-deflate", -1, ""},
    {"def", "permessage-deflate;;", -1, ""},
    {"def", "permessage-deflate; a b", -1, ""},
    {"def", "permessage-deflate , x", 1, "permessage-deflate"},
    {"def", "permessage-deflate\t;\tclient_max_window_bits", 1, "permessage-deflate"},
    {"def", "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15", 1, "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15"},
    {"def", "permessage-deflate; server_max_window_bits=8", 1, "permessage-deflate; server_max_window_bits=8"},
    {"def", "", -1, ""},
    {"def", "\xc3""\xa9""", -1, ""},
    {"snctT", "permessage-deflate", 1, "permessage-deflate; server_no_context_takeover"},
    {"snctT", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover"},
    {"snctT", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10; server_no_context_takeover"},
    {"snctT", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", 1, "permessage-deflate; client_max_window_bits=9; server_no_context_takeover"},
    {"snctT", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 1, "permessage-deflate; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover"},
    {"snctT", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate; server_max_window_bits=9; server_no_context_takeover"},
    {"snctT", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover"},
    {"snctT", "permessage-deflate; server_max_window_bits=8", 1, "permessage-deflate; server_max_window_bits=8; server_no_context_takeover"},
    {"snctF", "permessage-deflate", 1, "permessage-deflate"},
    {"snctF", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate"},
    {"snctF", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10"},
    {"snctF", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", -1, ""},
    {"snctF", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 1, "permessage-deflate; server_max_window_bits=12; client_no_context_takeover"},
    {"snctF", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate; server_max_window_bits=9"},
    {"snctF", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate"},
    {"snctF", "permessage-deflate; server_max_window_bits=8", 1, "permessage-deflate; server_max_window_bits=8"},
    {"cnctT", "permessage-deflate", 1, "permessage-deflate; client_no_context_takeover"},
    {"cnctT", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate; client_no_context_takeover"},
    {"cnctT", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10; client_no_context_takeover"},
    {"cnctT", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", 1, "permessage-deflate; client_max_window_bits=9; server_no_context_takeover; client_no_context_takeover"},
    {"cnctT", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 1, "permessage-deflate; server_max_window_bits=12; client_no_context_takeover"},
    {"cnctT", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate; server_max_window_bits=9; client_no_context_takeover"},
    {"cnctT", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
    {"cnctT", "permessage-deflate; server_max_window_bits=8", 1, "permessage-deflate; server_max_window_bits=8; client_no_context_takeover"},
    {"smwb10", "permessage-deflate", 1, "permessage-deflate; server_max_window_bits=10"},
    {"smwb10", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_max_window_bits=10"},
    {"smwb10", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10; server_max_window_bits=10"},
    {"smwb10", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", 1, "permessage-deflate; client_max_window_bits=9; server_no_context_takeover; server_max_window_bits=10"},
    {"smwb10", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 1, "permessage-deflate; server_max_window_bits=10; client_no_context_takeover"},
    {"smwb10", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate; server_max_window_bits=10"},
    {"smwb10", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"},
    {"smwb10", "permessage-deflate; server_max_window_bits=8", -1, ""},
    {"smwbF", "permessage-deflate", 1, "permessage-deflate"},
    {"smwbF", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate"},
    {"smwbF", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10"},
    {"smwbF", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", 1, "permessage-deflate; client_max_window_bits=9; server_no_context_takeover"},
    {"smwbF", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", -1, ""},
    {"smwbF", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate"},
    {"smwbF", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover"},
    {"smwbF", "permessage-deflate; server_max_window_bits=8", -1, ""},
    {"cmwb10", "permessage-deflate", -1, ""},
    {"cmwb10", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate; client_max_window_bits=10"},
    {"cmwb10", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate; client_max_window_bits=10"},
    {"cmwb10", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", -1, ""},
    {"cmwb10", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", -1, ""},
    {"cmwb10", "permessage-deflate; server_max_window_bits=9, permessage-deflate", -1, ""},
    {"cmwb10", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; client_max_window_bits=10"},
    {"cmwb10", "permessage-deflate; server_max_window_bits=8", -1, ""},
    {"cmwbF", "permessage-deflate", 1, "permessage-deflate"},
    {"cmwbF", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate"},
    {"cmwbF", "permessage-deflate; client_max_window_bits=10", 1, "permessage-deflate"},
    {"cmwbF", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", 1, "permessage-deflate; server_no_context_takeover"},
    {"cmwbF", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 1, "permessage-deflate; server_max_window_bits=12; client_no_context_takeover"},
    {"cmwbF", "permessage-deflate; server_max_window_bits=9, permessage-deflate", 1, "permessage-deflate; server_max_window_bits=9"},
    {"cmwbF", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; server_no_context_takeover"},
    {"cmwbF", "permessage-deflate; server_max_window_bits=8", 1, "permessage-deflate; server_max_window_bits=8"},
    {"all", "permessage-deflate", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits", 1, "permessage-deflate; client_max_window_bits=11; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12"},
    {"all", "permessage-deflate; client_max_window_bits=10", -1, ""},
    {"all", "permessage-deflate;client_max_window_bits=9;server_no_context_takeover", -1, ""},
    {"all", "permessage-deflate; server_max_window_bits=12; client_no_context_takeover", -1, ""},
    {"all", "permessage-deflate; server_max_window_bits=9, permessage-deflate", -1, ""},
    {"all", "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", 1, "permessage-deflate; client_max_window_bits=11; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12"},
    {"all", "x-webkit-deflate-frame", 0, ""},
    {"all", "x-foo; a=\"b\", permessage-deflate", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=\"10\"", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=\"1\\0\"", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=0x0a", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=10.0", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=1e1", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=010", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=16", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits=7", -1, ""},
    {"all", "permessage-deflate; server_max_window_bits", -1, ""},
    {"all", "permessage-deflate; server_no_context_takeover=1", -1, ""},
    {"all", "permessage-deflate; foo", -1, ""},
    {"all", "permessage-deflate; client_max_window_bits; client_max_window_bits", -1, ""},
    {"all", "permessage-deflate,", -1, ""},
    {"all", "permessage-deflate; ", -1, ""},
    {"all", ", permessage-deflate", -1, ""},
    {"all", "permessage-deflate;;", -1, ""},
    {"all", "permessage-deflate; a b", -1, ""},
    {"all", "permessage-deflate , x", -1, ""},
    {"all", "permessage-deflate\t;\tclient_max_window_bits", 1, "permessage-deflate; client_max_window_bits=11; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12"},
    {"all", "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15", 1, "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11"},
    {"all", "permessage-deflate; server_max_window_bits=8", -1, ""},
    {"all", "", -1, ""},
    {"all", "\xc3""\xa9""", -1, ""},
};

static void offers_are_answered_as_node_ws_answers_them(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        sl_ws_deflate_opts_t o = opts_named(table[i].opts);
        sl_http_req_t r;
        fake_req(&r, table[i].offer);
        sl_ws_deflate_params_t p;
        char v[SL_WS_DEFLATE_VALUE_MAX] = "";
        int rc = sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v);
        if (rc != table[i].rc || (rc == 1 && strcmp(v, table[i].answer)))
            fprintf(stderr, "  opts %s, offer '%s': %d '%s', expected %d '%s'\n", table[i].opts,
                    table[i].offer, rc, v, table[i].rc, table[i].answer);
        CHECK_EQ_INT(rc, table[i].rc);
        if (rc == 1)
            CHECK(!strcmp(v, table[i].answer));
    }
}

static void nothing_is_negotiated_when_off_or_not_offered(void)
{
    sl_ws_deflate_opts_t o;
    sl_ws_deflate_opts_init(&o);
    sl_http_req_t r;
    sl_ws_deflate_params_t p;
    char v[SL_WS_DEFLATE_VALUE_MAX];
    fake_req(&r, "permessage-deflate");
    CHECK_EQ_INT(sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v), 0); /* off: as Node's default */
    fake_req(&r, "garbage;;"); /* off: the header is not even read */
    CHECK_EQ_INT(sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v), 0);
    o.enabled = 1;
    fake_req(&r, NULL);
    CHECK_EQ_INT(sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v), 0);
    /* Two headers read as one, joined as Node joins them. */
    fake_req(&r, "x-foo");
    r.headers[1].name = "sec-websocket-extensions";
    r.headers[1].value = "permessage-deflate; client_max_window_bits=12";
    r.nheaders = 2;
    CHECK_EQ_INT(sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v), 1);
    CHECK(!strcmp(v, "permessage-deflate; client_max_window_bits=12"));
    CHECK_EQ_INT(p.client_max_window_bits, 12);
    CHECK_EQ_INT(p.server_no_context_takeover, 0);
}

/* ---- frames -------------------------------------------------------------- */

static sl_ws_deflate_t *conn(const char *offer, const char *opts)
{
    sl_ws_deflate_opts_t o = opts_named(opts);
    o.threshold = 16;
    sl_http_req_t r;
    fake_req(&r, offer);
    sl_ws_deflate_params_t p;
    char v[SL_WS_DEFLATE_VALUE_MAX];
    CHECK_EQ_INT(sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v), 1);
    return sl_ws_deflate_new(&p, &o);
}

/* What a client does with a frame: checks the header, inflates the
 * payload with its own raw inflater (kept between messages, as a client
 * with context takeover does) and the 00 00 ff ff trailer. */
static void client_reads(z_stream *zs, const sl_rcbuf_t *f, unsigned opcode, const char *expect)
{
    const unsigned char *b = (const unsigned char *)f->data;
    CHECK_EQ_INT(b[0], 0xC0 | opcode); /* FIN, RSV1 */
    size_t len = b[1] & 0x7f, hl = 2;
    if (len == 126) {
        len = (size_t)b[2] << 8 | b[3];
        hl = 4;
    }
    CHECK_EQ_INT(hl + len, f->len);
    unsigned char in[70000], out[70000];
    memcpy(in, b + hl, len);
    memcpy(in + len, "\x00\x00\xff\xff", 4);
    zs->next_in = in;
    zs->avail_in = (uInt)(len + 4);
    zs->next_out = out;
    zs->avail_out = sizeof out;
    int rc = inflate(zs, Z_SYNC_FLUSH);
    CHECK(rc == Z_OK);
    CHECK_STR((const char *)out, sizeof out - zs->avail_out, expect);
}

static void client_init(z_stream *zs)
{
    memset(zs, 0, sizeof *zs);
    CHECK(inflateInit2(zs, -15) == Z_OK);
}

static void frames_inflate_at_the_client_with_context_kept(void)
{
    sl_ws_deflate_t *z = conn("permessage-deflate", "def");
    z_stream zs;
    client_init(&zs);
    const char *msg = "42[\"chat\",{\"user\":\"ada\",\"text\":\"hello hello hello\"}]";
    uv_buf_t parts[2] = {uv_buf_init("4", 1), uv_buf_init((char *)msg + 1, (unsigned)strlen(msg) - 1)};
    size_t first = 0;
    for (int i = 0; i < 3; i++) {
        sl_rcbuf_t *f = sl_ws_deflate_frame(z, 1, parts, 2, NULL);
        CHECK(f != NULL);
        if (!f)
            break;
        client_reads(&zs, f, 1, msg);
        if (i == 0)
            first = f->len;
        else
            CHECK(f->len < first); /* the history makes repeats cheap */
        sl_rcbuf_unref(f);
    }
    /* Context takeover: ws compresses even a one-byte message. */
    CHECK(sl_ws_deflate_wants(z, 1));
    inflateEnd(&zs);
    sl_ws_deflate_free(z);
}

static void without_context_takeover_a_broadcast_is_compressed_once(void)
{
    sl_ws_deflate_t *a = conn("permessage-deflate; server_no_context_takeover", "def");
    sl_ws_deflate_t *b = conn("permessage-deflate; server_no_context_takeover", "def");
    sl_ws_deflate_t *c = conn("permessage-deflate; server_no_context_takeover; server_max_window_bits=10", "def");
    char msg[4001];
    for (size_t i = 0; i < sizeof msg - 1; i++)
        msg[i] = "abcdefgh"[i % 8];
    msg[sizeof msg - 1] = '\0';
    uv_buf_t part = uv_buf_init(msg, sizeof msg - 1);
    CHECK(!sl_ws_deflate_wants(a, 15)); /* under the threshold: plain */
    CHECK(sl_ws_deflate_wants(a, 16));
    sl_ws_zcache_t cache = {0};
    sl_zpool_free();
    CHECK_EQ_INT(sl_zmem(), 0);
    sl_rcbuf_t *fa = sl_ws_deflate_frame(a, 2, &part, 1, &cache);
    sl_rcbuf_t *fb = sl_ws_deflate_frame(b, 2, &part, 1, &cache);
    sl_rcbuf_t *fc = sl_ws_deflate_frame(c, 2, &part, 1, &cache);
    CHECK(fa && fb && fc);
    CHECK(fa == fb);         /* the very same bytes, made once */
    CHECK(fc != fa);         /* another window: compressed on its own */
    CHECK(cache.frame == fa);
    z_stream zs;
    client_init(&zs);
    if (fa)
        client_reads(&zs, fa, 2, msg);
    inflateEnd(&zs);
    /* No connection holds a compressor: only the pooled ones exist. */
    sl_zpool_free();
    CHECK_EQ_INT(sl_zmem(), 0);
    sl_rcbuf_unref(fa);
    sl_rcbuf_unref(fb);
    sl_rcbuf_unref(fc);
    sl_ws_zcache_release(&cache);
    CHECK(cache.frame == NULL);
    sl_ws_deflate_free(a);
    sl_ws_deflate_free(b);
    sl_ws_deflate_free(c);
}

static size_t client_deflate(const void *p, size_t n, unsigned char *out, size_t cap);

/* What each mode holds, measured through net/deflate's counter (the
 * numbers docs/lua-api.md gives). */
static void memory_is_held_only_where_the_negotiation_needs_it(void)
{
    sl_zpool_free();
    const char *msg = "42[\"tick\",1234567890]";
    uv_buf_t part = uv_buf_init((char *)msg, (unsigned)strlen(msg));
    struct {
        const char *offer;
        size_t min_kib, max_kib; /* for compressing one message */
    } modes[] = {
        {"permessage-deflate", 256, 270},                               /* window 15, memLevel 8 */
        {"permessage-deflate; server_max_window_bits=10", 136, 150},    /* 2^12 + 2^17 */
        {"permessage-deflate; server_no_context_takeover", 0, 0},       /* the pooled one */
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        sl_ws_deflate_t *z = conn(modes[i].offer, "def");
        size_t base = sl_zmem();
        CHECK_EQ_INT(base, 0); /* negotiated, nothing compressed yet: nothing held */
        sl_rcbuf_t *f = sl_ws_deflate_frame(z, 1, &part, 1, NULL);
        sl_rcbuf_unref(f);
        size_t held = sl_zmem();
        sl_zpool_free();
        size_t own = sl_zmem(); /* what stays with the connection */
        fprintf(stderr, "  %s: %zu bytes while compressing, %zu kept by the connection\n",
                modes[i].offer, held, own);
        CHECK(own >= modes[i].min_kib * 1024 && own <= modes[i].max_kib * 1024);
        sl_ws_deflate_free(z);
        CHECK_EQ_INT(sl_zmem(), 0);
    }
    /* An inflater of its own (client context takeover): 2^window + ~7 KiB. */
    const char *inflaters[] = {"permessage-deflate", "permessage-deflate; client_max_window_bits=10"};
    for (int i = 0; i < 2; i++) {
        sl_ws_deflate_t *z = conn(inflaters[i], "def");
        unsigned char buf[128];
        size_t n = client_deflate(msg, strlen(msg), buf, sizeof buf);
        sl_buf_t out = SL_BUF_INIT;
        CHECK_EQ_INT(sl_ws_deflate_inflate(z, (char *)buf, n, 1000, &out), 0);
        sl_buf_free(&out);
        fprintf(stderr, "  %s: inflater %zu bytes\n", inflaters[i], sl_zmem());
        CHECK(sl_zmem() >= (i ? 1024u : 32768u) && sl_zmem() <= (i ? 9u : 41u) * 1024);
        sl_ws_deflate_free(z);
        CHECK_EQ_INT(sl_zmem(), 0);
    }
    /* memLevel shrinks a compressor: 2^(window+2) + 2^(memLevel+9). */
    sl_ws_deflate_opts_t o = opts_named("def");
    o.mem_level = 1;
    sl_http_req_t r;
    fake_req(&r, "permessage-deflate; server_max_window_bits=9");
    sl_ws_deflate_params_t p;
    char v[SL_WS_DEFLATE_VALUE_MAX];
    CHECK_EQ_INT(sl_ws_deflate_negotiate(&r, &o, &p, v, sizeof v), 1);
    sl_ws_deflate_t *z = sl_ws_deflate_new(&p, &o);
    sl_rcbuf_unref(sl_ws_deflate_frame(z, 1, &part, 1, NULL));
    fprintf(stderr, "  window 9, memLevel 1: %zu bytes\n", sl_zmem());
    CHECK(sl_zmem() < 10 * 1024);
    sl_ws_deflate_free(z);
    CHECK_EQ_INT(sl_zmem(), 0);
}

/* Deflates text for a peer's message: what a client would send. */
static size_t client_deflate(const void *p, size_t n, unsigned char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    CHECK(deflate(&zs, Z_SYNC_FLUSH) == Z_OK);
    size_t len = cap - zs.avail_out - 4; /* without 00 00 ff ff */
    deflateEnd(&zs);
    return len;
}

static void inflating_stops_at_the_cap_and_refuses_garbage(void)
{
    sl_ws_deflate_t *z = conn("permessage-deflate", "def");
    static unsigned char zeros[1 << 20], bomb[1 << 16];
    size_t bl = client_deflate(zeros, sizeof zeros, bomb, sizeof bomb);
    CHECK(bl < 2048); /* a megabyte of zeros is a kilobyte or so */
    sl_buf_t out = SL_BUF_INIT;
    CHECK_EQ_INT(sl_ws_deflate_inflate(z, (char *)bomb, bl, 1000, &out), 1009);
    CHECK(out.len <= 1001); /* never inflated further than the cap */
    sl_buf_free(&out);
    sl_ws_deflate_free(z);

    z = conn("permessage-deflate", "def");
    CHECK_EQ_INT(sl_ws_deflate_inflate(z, (char *)bomb, bl, sizeof zeros, &out), 0);
    CHECK_EQ_INT(out.len, sizeof zeros); /* exactly at the cap is fine */
    sl_buf_free(&out);
    CHECK_EQ_INT(sl_ws_deflate_inflate(z, "\xff\xff\xff\xff", 4, 1000, &out), 1007);
    sl_buf_free(&out);
    sl_ws_deflate_free(z);

    /* The client's history is kept between its messages... */
    z = conn("permessage-deflate", "def");
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    const char *m = "4hello hello hello hello";
    for (int i = 0; i < 2; i++) {
        unsigned char buf[128];
        zs.next_in = (Bytef *)m;
        zs.avail_in = (uInt)strlen(m);
        zs.next_out = buf;
        zs.avail_out = sizeof buf;
        CHECK(deflate(&zs, Z_SYNC_FLUSH) == Z_OK);
        size_t n = sizeof buf - zs.avail_out - 4;
        CHECK_EQ_INT(sl_ws_deflate_inflate(z, (char *)buf, n, 1000, &out), 0);
        CHECK_STR(out.data, out.len, m);
        sl_buf_reset(&out);
    }
    deflateEnd(&zs);
    sl_buf_free(&out);
    sl_ws_deflate_free(z);
    /* ...and with client_no_context_takeover the pooled inflater serves,
     * so the connection holds none. */
    sl_zpool_free();
    z = conn("permessage-deflate; client_no_context_takeover", "def");
    unsigned char buf[128];
    size_t n = client_deflate(m, strlen(m), buf, sizeof buf);
    CHECK_EQ_INT(sl_ws_deflate_inflate(z, (char *)buf, n, 1000, &out), 0);
    CHECK_STR(out.data, out.len, m);
    sl_buf_free(&out);
    sl_zpool_free();
    CHECK_EQ_INT(sl_zmem(), 0);
    sl_ws_deflate_free(z);
}

static void a_window_of_8_goes_plain(void)
{
    sl_ws_deflate_t *z = conn("permessage-deflate; server_max_window_bits=8", "def");
    CHECK(!sl_ws_deflate_wants(z, 5000));
    sl_ws_deflate_free(z);
}

static void teardown(void) { sl_zpool_free(); }

TL_SUITE(ws_deflate, NULL, teardown,
         TL_TEST(offers_are_answered_as_node_ws_answers_them),
         TL_TEST(nothing_is_negotiated_when_off_or_not_offered),
         TL_TEST(frames_inflate_at_the_client_with_context_kept),
         TL_TEST(without_context_takeover_a_broadcast_is_compressed_once),
         TL_TEST(memory_is_held_only_where_the_negotiation_needs_it),
         TL_TEST(inflating_stops_at_the_cap_and_refuses_garbage),
         TL_TEST(a_window_of_8_goes_plain));
