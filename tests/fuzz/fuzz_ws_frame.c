/* tests/fuzz/fuzz_ws_frame.c: the RFC 6455 frame parser (net/ws_frame) with
 * the Engine.IO packet decoder it feeds (eio_packet_decode_text for text
 * frames, as eio.c does for a WebSocket transport). Input: one byte picking
 * max_message, one byte picking how the bytes are split into reads
 * (fuzz_split_t), one byte picking which callback stops the feed (as a
 * closing connection does) and whether permessage-deflate was agreed
 * (RSV1 allowed on a message's first frame), then the bytes a client sends
 * after the upgrade.
 *
 * Invariants: split or whole, the parser reports the same events with the
 * same bytes and the same close code; no message is over max_message;
 * every text message (not compressed) and close reason is UTF-8; a
 * compressed message only when it was agreed; control payloads are at
 * most 125 bytes; a close code handed up is one a peer may send; nothing
 * is reported after the close frame or an error, and a dead parser keeps
 * answering its code. */
#include "fuzz.h"

#include "eio/eio_packet.h"
#include "net/ws_frame.h"

typedef struct run {
    sl_buf_t log;      /* events: kind byte, length, bytes */
    const sl_ws_parser_t *ps;
    size_t max;
    unsigned events, stop_at;
    int closed, stopped;
} run_t;

static void note(run_t *r, char kind, const char *p, size_t n)
{
    uint64_t len = n;
    FUZZ_CHECK(!r->closed && !r->stopped);
    if (sl_buf_append_byte(&r->log, kind) || sl_buf_append(&r->log, &len, sizeof len) ||
        sl_buf_append(&r->log, p, n))
        abort();
}

static int stop(run_t *r)
{
    r->stopped = ++r->events == r->stop_at;
    return r->stopped;
}

static int on_message(void *ud, int binary, char *p, size_t n)
{
    run_t *r = ud;
    FUZZ_CHECK(n <= r->max);
    /* A compressed message (RSV1, when permessage-deflate was agreed) is
     * checked after inflating, by ws.c: here it is only bytes. */
    int compressed = r->ps->msg_rsv1;
    FUZZ_CHECK(!compressed || r->ps->rsv1_ok);
    note(r, compressed ? (binary ? 'B' : 'T') : binary ? 'b' : 't', p, n);
    if (!binary && !compressed) {
        FUZZ_CHECK(fuzz_utf8_valid(p, n));
        eio_packet_t pkt;
        if (eio_packet_decode_text(p, n, &pkt) == 0)
            FUZZ_CHECK(pkt.type <= EIO_NOOP && pkt.data == p + 1 && pkt.len == n - 1);
        else
            FUZZ_CHECK(n == 0 || p[0] < '0' || p[0] > '6');
    }
    return stop(r);
}

static int on_ping(void *ud, const char *p, size_t n)
{
    run_t *r = ud;
    FUZZ_CHECK(n <= 125);
    note(r, 'i', p, n);
    return stop(r);
}

static int on_pong(void *ud, const char *p, size_t n)
{
    run_t *r = ud;
    FUZZ_CHECK(n <= 125);
    note(r, 'o', p, n);
    return stop(r);
}

static int on_close(void *ud, uint16_t code, const char *reason, size_t n)
{
    run_t *r = ud;
    FUZZ_CHECK(n <= 123);
    FUZZ_CHECK(code == 0 ? n == 0 : sl_ws_close_code_valid(code));
    FUZZ_CHECK(fuzz_utf8_valid(reason, n));
    char c[2] = {(char)(code >> 8), (char)code};
    note(r, 'c', c, 2);
    sl_buf_append(&r->log, reason, n);
    r->closed = 1;
    return stop(r);
}

static const sl_ws_frame_handler_t handler = {on_message, on_ping, on_pong, on_close};

/* Feeds a copy of the bytes (the parser unmasks in place) in pieces until
 * the end, an error or a callback's stop. Returns the close code (0: none). */
static int feed(const char *bytes, size_t n, size_t max, unsigned split_seed, unsigned stop_at,
                int rsv1, run_t *r)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, bytes, n);
    sl_ws_parser_t ps;
    sl_ws_parser_init(&ps, max);
    if (rsv1)
        sl_ws_parser_allow_rsv1(&ps);
    *r = (run_t){SL_BUF_INIT, &ps, max, 0, stop_at, 0, 0};
    fuzz_split_t sp;
    fuzz_split_init(&sp, split_seed);
    int rc = 0;
    for (size_t off = 0; off < n && !r->stopped;) {
        size_t k = fuzz_split_next(&sp, n - off);
        rc = sl_ws_parser_feed(&ps, p + off, k, &handler, r);
        off += k;
        if (rc)
            break;
    }
    FUZZ_CHECK(rc == 0 || rc == 1002 || rc == 1007 || rc == 1009 || rc == 1011);
    if (rc) {
        /* Dead: the same answer, nothing parsed. */
        size_t before = r->log.len;
        char more[4] = {(char)0x81, (char)0x80, 0, 0};
        FUZZ_CHECK(sl_ws_parser_feed(&ps, more, sizeof more, &handler, r) == rc);
        FUZZ_CHECK(r->log.len == before);
    }
    sl_ws_parser_free(&ps);
    free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    static const size_t maxes[] = {0, 1, 7, 125, 126, 1000, 65535, 65536, 100000, 1000000};
    size_t max = maxes[fuzz_byte(&in) % (sizeof maxes / sizeof *maxes)];
    unsigned seed = fuzz_byte(&in);
    unsigned mode = fuzz_byte(&in);
    unsigned stop_at = mode % 8; /* 0: never stop */
    int rsv1 = (mode & 0x80) != 0; /* permessage-deflate agreed */
    run_t whole, split;
    int rc_whole = feed((const char *)in.p, in.n, max, 0, stop_at, rsv1, &whole);
    int rc_split = feed((const char *)in.p, in.n, max, seed, stop_at, rsv1, &split);
    FUZZ_CHECK(rc_whole == rc_split);
    FUZZ_CHECK(whole.log.len == split.log.len &&
               (whole.log.len == 0 || !memcmp(whole.log.data, split.log.data, whole.log.len)));
    sl_buf_free(&whole.log);
    sl_buf_free(&split.log);
    return 0;
}
