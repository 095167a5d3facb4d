/* tests/fuzz/fuzz_resp.c: cluster/redis_reader, the RESP reader under every
 * Redis connection (redis_conn: replies, and a subscriber's messages) and
 * under the local bus (workers' commands), fed what a Redis server, or
 * anything listening where Redis should be, may send. The first input byte
 * picks how the bytes are split into reads (see fuzz_split_t) and, by its
 * low bit, the cap (a subscriber's 1024 or a command connection's); the
 * rest is the stream.
 *
 * Invariants: split or whole, the same replies come out in the same order
 * with the same bytes and the stream is refused at the same point, for the
 * same reason; a reply's strings are readable to their length. */
#include "fuzz.h"

#include "cluster/redis_reader.h"

/* Appends a reply, depth first, so that two runs compare by bytes. */
static void log_reply(sl_buf_t *log, const redisReply *r)
{
    uint64_t head[2] = {(uint64_t)r->type, 0};
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        head[1] = r->len;
        if (sl_buf_append(log, head, sizeof head) || sl_buf_append(log, r->str, r->len))
            abort();
        return;
    case REDIS_REPLY_INTEGER:
        head[1] = (uint64_t)r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        head[1] = r->elements;
        break;
    default:
        break;
    }
    if (sl_buf_append(log, head, sizeof head))
        abort();
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            log_reply(log, r->element[i]);
}

/* Feeds the stream in pieces, as reads would come, reading every reply
 * after each; returns -1 once refused (the connection would be dropped,
 * why says why), else 0. */
static int feed(const char *p, size_t n, int max, unsigned split_seed, sl_buf_t *log, char *why, size_t whylen)
{
    sl_redis_reader_t *r = sl_redis_reader_new(max);
    if (!r)
        abort();
    fuzz_split_t sp;
    fuzz_split_init(&sp, split_seed);
    int rc = 0;
    size_t off = 0;
    why[0] = '\0';
    while (off < n && rc == 0) {
        size_t k = fuzz_split_next(&sp, n - off);
        FUZZ_CHECK(sl_redis_reader_feed(r, p + off, k) == 0);
        off += k;
        redisReply *reply;
        int got;
        while ((got = sl_redis_reader_next(r, &reply)) == 1) {
            log_reply(log, reply);
            freeReplyObject(reply);
        }
        if (got < 0) {
            snprintf(why, whylen, "%s", sl_redis_reader_error(r));
            rc = -1;
        }
    }
    sl_redis_reader_free(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned seed = fuzz_byte(&in);
    int max = (seed & 1) ? SL_REDIS_SUB_MAX_ELEMENTS : SL_REDIS_MAX_ELEMENTS;
    /* An exact copy: the reader must stop at the end. */
    char *p = malloc(in.n ? in.n : 1);
    memcpy(p, in.p, in.n);
    sl_buf_t whole = SL_BUF_INIT, split = SL_BUF_INIT;
    char why_whole[160], why_split[160];
    int rc_whole = feed(p, in.n, max, 0, &whole, why_whole, sizeof why_whole);
    int rc_split = feed(p, in.n, max, seed, &split, why_split, sizeof why_split);
    FUZZ_CHECK(rc_whole == rc_split);
    FUZZ_CHECK(!strcmp(why_whole, why_split));
    FUZZ_CHECK(whole.len == split.len && (whole.len == 0 || !memcmp(whole.data, split.data, whole.len)));
    sl_buf_free(&whole);
    sl_buf_free(&split);
    free(p);
    return 0;
}
