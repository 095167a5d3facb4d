/* tests/fuzz/fuzz_resp.c: the read path of the Redis subscriber
 * (cluster/redis_sub: hiredis's RESP reader and the `smessage` dispatch), fed
 * what a Redis server, or anything listening where Redis should be, may
 * send. The first input byte picks how the bytes are split into reads (see
 * fuzz_split_t); the rest is the stream.
 *
 * Invariants: split or whole, the same messages come out in the same order
 * with the same bytes and the stream is refused at the same point; a
 * message's slices are readable. */
#include "fuzz.h"

#include <uv.h>

#include "base/log.h"
#include "cluster/redis_sub.h"

typedef struct run {
    sl_buf_t log; /* every message: channel length, channel, msg length, msg */
} run_t;

static void on_msg(const char *ch, size_t clen, const char *msg, size_t mlen, void *ud)
{
    run_t *r = ud;
    uint64_t l1 = clen, l2 = mlen;
    if (sl_buf_append(&r->log, &l1, sizeof l1) || sl_buf_append(&r->log, ch, clen) ||
        sl_buf_append(&r->log, &l2, sizeof l2) || sl_buf_append(&r->log, msg, mlen))
        abort();
}

static uv_loop_t loop;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    sl_log_level = SL_LOG_OFF; /* a refused stream logs a line, each run */
    uv_loop_init(&loop);
    return 0;
}

/* Feeds the stream in pieces, as reads would come; returns the result of
 * the last feed (-1: refused, the connection would be dropped). */
static int feed(const char *p, size_t n, unsigned split_seed, run_t *r)
{
    sl_redis_url_t url;
    char err[128];
    if (sl_redis_url_parse("unix:/nonexistent/fuzz.sock", &url, err, sizeof err))
        abort();
    /* Never connects: the loop does not run until it is closed. */
    sl_redis_sub_t *s = sl_redis_sub_new(&loop, &url, "fuzz", on_msg, NULL, r);
    fuzz_split_t sp;
    fuzz_split_init(&sp, split_seed);
    int rc = 0;
    size_t off = 0;
    while (off < n && rc == 0) {
        size_t k = fuzz_split_next(&sp, n - off);
        rc = sl_redis_sub_feed(s, p + off, k);
        FUZZ_CHECK(rc == 0 || rc == -1);
        off += k;
    }
    sl_redis_sub_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned seed = fuzz_byte(&in);
    /* An exact copy: the reader must stop at the end. */
    char *p = malloc(in.n ? in.n : 1);
    memcpy(p, in.p, in.n);
    run_t whole = {SL_BUF_INIT}, split = {SL_BUF_INIT};
    int rc_whole = feed(p, in.n, 0, &whole);
    int rc_split = feed(p, in.n, seed, &split);
    FUZZ_CHECK(rc_whole == rc_split);
    FUZZ_CHECK(whole.log.len == split.log.len &&
               (whole.log.len == 0 || !memcmp(whole.log.data, split.log.data, whole.log.len)));
    sl_buf_free(&whole.log);
    sl_buf_free(&split.log);
    free(p);
    return 0;
}
