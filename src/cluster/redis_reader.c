/* L5a cluster/redis_reader: see redis_reader.h. hiredis's own reply objects,
 * with createArray wrapped to refuse a count past the reader's cap. */
#include "cluster/redis_reader.h"

#include <stdio.h>
#include <stdlib.h>

struct sl_redis_reader {
    redisReader *r;
    int max_elements;
    int refused;    /* the count refused, or 0 */
    char why[160];
};

/* hiredis's functions, read from the first reader made (they are not
 * exported by name), and the same with our createArray. */
static redisReplyObjectFunctions capped_fns;
static void *(*hiredis_create_array)(const redisReadTask *, int);

static void *capped_create_array(const redisReadTask *t, int elements)
{
    sl_redis_reader_t *rr = t->privdata;
    if (elements > rr->max_elements) {
        rr->refused = elements;
        return NULL; /* the reader fails the reply ("Out of memory", which is not why) */
    }
    return hiredis_create_array(t, elements);
}

sl_redis_reader_t *sl_redis_reader_new(int max_elements)
{
    sl_redis_reader_t *rr = calloc(1, sizeof *rr);
    if (!rr || !(rr->r = redisReaderCreate())) {
        free(rr);
        return NULL;
    }
    if (!hiredis_create_array) {
        capped_fns = *rr->r->fn;
        hiredis_create_array = capped_fns.createArray;
        capped_fns.createArray = capped_create_array;
    }
    rr->r->fn = &capped_fns;
    rr->r->privdata = rr;
    rr->max_elements = max_elements;
    return rr;
}

void sl_redis_reader_free(sl_redis_reader_t *rr)
{
    if (!rr)
        return;
    redisReaderFree(rr->r);
    free(rr);
}

int sl_redis_reader_feed(sl_redis_reader_t *rr, const char *p, size_t n)
{
    return redisReaderFeed(rr->r, p, n) == REDIS_OK ? 0 : -1;
}

int sl_redis_reader_next(sl_redis_reader_t *rr, redisReply **out)
{
    void *reply = NULL;
    *out = NULL;
    if (redisReaderGetReply(rr->r, &reply) != REDIS_OK) {
        if (rr->refused)
            snprintf(rr->why, sizeof rr->why, "an array of %d elements (at most %d)", rr->refused,
                     rr->max_elements);
        else
            snprintf(rr->why, sizeof rr->why, "%s", rr->r->errstr);
        return -1;
    }
    *out = reply;
    return reply ? 1 : 0;
}

const char *sl_redis_reader_error(const sl_redis_reader_t *rr) { return rr->why; }
