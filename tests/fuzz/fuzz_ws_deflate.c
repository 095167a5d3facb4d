/* tests/fuzz/fuzz_ws_deflate.c: WebSocket permessage-deflate (net/ws_deflate
 * on net/deflate): the negotiation of a client's Sec-WebSocket-Extensions,
 * the inflating of what a client sends compressed (zip bombs included), and
 * the compressing of what the server sends.
 *
 * Input: three bytes of server options, the header value (up to the first
 * NUL; each '\n' starts another Sec-WebSocket-Extensions header, which the
 * server joins as Node does), then the rest: compressed messages from a
 * client (a length byte each), later used as plain messages to send.
 *
 * Invariants: negotiation answers 1, 0 or -1, and an accepted answer is a
 * terminated "permessage-deflate..." with windows 8..15 (or unset); a
 * client's message inflates to at most the cap (max_message) and fails
 * only with 1007, 1009 or 1011; what the server compresses inflates back
 * to the same bytes on a receiver with the matching parameters, message
 * after message (so the context takeover stays in step); zlib's memory is
 * all given back once the connection's state is freed. */
#include "fuzz.h"

#include "net/deflate.h"
#include "net/ws_deflate.h"

/* A request holding only the extension headers (up to four lines; the
 * request's header list is the parser's memory, here ours). */
static void fake_request(sl_http_req_t *req, char *value, size_t n)
{
    static sl_http_header_t headers[4];
    memset(req, 0, sizeof *req);
    req->headers = headers;
    char *p = value, *end = value + n;
    while (p <= end && req->nheaders < 4) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl)
            *nl = '\0';
        req->headers[req->nheaders].name = "Sec-WebSocket-Extensions";
        req->headers[req->nheaders].value = p;
        req->nheaders++;
        if (!nl)
            break;
        p = nl + 1;
    }
}

/* A window option: unset, false, or 8..15. */
static int8_t window_opt(unsigned v)
{
    v %= 10;
    return v == 9 ? SL_WSZ_UNSET : v == 8 ? SL_WSZ_FALSE : (int8_t)(8 + v);
}

static void options(sl_ws_deflate_opts_t *o, unsigned a, unsigned b, unsigned c)
{
    static const int8_t three[] = {SL_WSZ_UNSET, SL_WSZ_FALSE, SL_WSZ_TRUE};
    sl_ws_deflate_opts_init(o);
    o->enabled = (a & 0x80) == 0;
    o->threshold = (a & 0x40) ? 0 : 16;
    o->server_no_context_takeover = three[a % 3];
    o->client_no_context_takeover = (a & 0x08) ? SL_WSZ_TRUE : SL_WSZ_FALSE;
    o->server_max_window_bits = window_opt(b);
    o->client_max_window_bits = window_opt(c);
    o->level = (uint8_t)(c >> 4) % 10;
}

static int window_ok(unsigned w) { return w == 0 || (w >= 8 && w <= 15); }

/* The payload of a whole server frame (FIN, RSV1, unmasked). */
static const char *frame_payload(const sl_rcbuf_t *f, size_t *n)
{
    const unsigned char *d = (const unsigned char *)f->data;
    FUZZ_CHECK(f->len >= 2 && (d[0] & 0xf0) == 0xc0 && (d[1] & 0x80) == 0);
    unsigned l7 = d[1] & 0x7f, h = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    uint64_t len = l7;
    if (l7 == 126)
        len = (uint64_t)d[2] << 8 | d[3];
    else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | d[2 + i];
    }
    FUZZ_CHECK(f->len == h + len);
    *n = (size_t)len;
    return f->data + h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned a = fuzz_byte(&in), b = fuzz_byte(&in), c = fuzz_byte(&in);
    sl_ws_deflate_opts_t opts;
    options(&opts, a, b, c);
    const uint8_t *nul = memchr(in.p, 0, in.n);
    size_t hl = nul ? (size_t)(nul - in.p) : in.n;
    char *header = malloc(hl + 1);
    memcpy(header, in.p, hl);
    header[hl] = '\0';
    in.p += hl + (nul != NULL);
    in.n -= hl + (nul != NULL);

    sl_http_req_t req;
    fake_request(&req, header, hl);
    sl_ws_deflate_params_t params;
    char value[SL_WS_DEFLATE_VALUE_MAX];
    int rc = sl_ws_deflate_negotiate(&req, &opts, &params, value, sizeof value);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc != 1) {
        free(header);
        sl_zpool_free();
        return 0;
    }
    FUZZ_CHECK(memchr(value, 0, sizeof value) && !strncmp(value, "permessage-deflate", 18));
    FUZZ_CHECK(window_ok(params.server_max_window_bits) && window_ok(params.client_max_window_bits));

    sl_ws_deflate_t *server = sl_ws_deflate_new(&params, &opts);
    /* The peer that reads what the server compresses: its inflater takes
     * the server's window and context rule. */
    sl_ws_deflate_params_t mirror = {
        .client_no_context_takeover = params.server_no_context_takeover,
        .client_max_window_bits = params.server_max_window_bits,
    };
    sl_ws_deflate_t *peer = sl_ws_deflate_new(&mirror, &opts);
    FUZZ_CHECK(server && peer);

    /* The client's compressed messages, inflated with the cap. */
    size_t cap = 1 + (size_t)(b >> 4) * 4096; /* 1 B .. 60 KB */
    fuzz_in_t msgs = in;
    while (msgs.n > 0) {
        size_t n = fuzz_byte(&msgs);
        n = n < msgs.n ? n : msgs.n;
        sl_buf_t out = SL_BUF_INIT;
        int code = sl_ws_deflate_inflate(server, (const char *)msgs.p, n, cap, &out);
        FUZZ_CHECK(code == 0 || code == 1007 || code == 1009 || code == 1011);
        FUZZ_CHECK(out.len <= cap || code != 0);
        sl_buf_free(&out);
        msgs.p += n;
        msgs.n -= n;
    }

    /* The same bytes as messages the server sends: compressed, they read
     * back the same on the peer, in order. */
    msgs = in;
    while (msgs.n > 0) {
        size_t n = fuzz_byte(&msgs) * 8u;
        n = n < msgs.n ? n : msgs.n;
        if (!sl_ws_deflate_wants(server, n)) {
            msgs.p += n;
            msgs.n -= n;
            continue;
        }
        uv_buf_t part = uv_buf_init((char *)msgs.p, (unsigned)n);
        sl_rcbuf_t *f = sl_ws_deflate_frame(server, 2, &part, 1, NULL);
        FUZZ_CHECK(f != NULL);
        size_t pl;
        const char *payload = frame_payload(f, &pl);
        sl_buf_t back = SL_BUF_INIT;
        FUZZ_CHECK(sl_ws_deflate_inflate(peer, payload, pl, n, &back) == 0);
        FUZZ_CHECK(back.len == n && (n == 0 || !memcmp(back.data, msgs.p, n)));
        sl_buf_free(&back);
        sl_rcbuf_unref(f);
        msgs.p += n;
        msgs.n -= n;
    }
    sl_ws_deflate_free(server);
    sl_ws_deflate_free(peer);
    sl_zpool_free();
    FUZZ_CHECK(sl_zmem() == 0);
    free(header);
    return 0;
}
