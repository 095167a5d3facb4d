/* Unit tests of cluster/redis_reader, the RESP reader under redis_conn and
 * the local bus, against what a broken or hostile server on the Redis
 * address may send (regressions of tests/fuzz/fuzz_resp findings). */
#include <stdio.h>
#include <string.h>

#include "cluster/redis_reader.h"
#include "testlib.h"

/* Feeds text to a fresh reader capped at max; returns what the last read
 * returned (1: a reply, 0: more bytes needed, -1: refused), the reason in
 * why. */
static int read_fresh(int max, const char *text, char *why, size_t whylen)
{
    sl_redis_reader_t *r = sl_redis_reader_new(max);
    CHECK(r != NULL);
    CHECK_EQ_INT(sl_redis_reader_feed(r, text, strlen(text)), 0);
    redisReply *reply;
    int got;
    while ((got = sl_redis_reader_next(r, &reply)) == 1)
        freeReplyObject(reply);
    snprintf(why, whylen, "%s", got < 0 ? sl_redis_reader_error(r) : "");
    sl_redis_reader_free(r);
    return got;
}

/* hiredis allocates an array's element table when it reads the count:
 * "*888888881" asked for 7 GB before a single element came. A count past
 * the cap is refused at once, saying so (hiredis would say "Out of
 * memory"). */
static void huge_array_count_is_refused_before_any_element(void)
{
    char why[160];
    CHECK_EQ_INT(read_fresh(SL_REDIS_SUB_MAX_ELEMENTS, "*888888881\r\n", why, sizeof why), -1);
    CHECK_STR(why, strlen(why), "an array of 888888881 elements (at most 1024)");
    CHECK_EQ_INT(read_fresh(SL_REDIS_MAX_ELEMENTS, "*888888881\r\n", why, sizeof why), -1);
    CHECK_STR(why, strlen(why), "an array of 888888881 elements (at most 1048576)");
    CHECK_EQ_INT(read_fresh(SL_REDIS_SUB_MAX_ELEMENTS, "*1025\r\n", why, sizeof why), -1);
    CHECK_EQ_INT(read_fresh(SL_REDIS_SUB_MAX_ELEMENTS, "*1\r\n*2000000000\r\n", why, sizeof why), -1); /* nested too */
    CHECK_STR(why, strlen(why), "an array of 2000000000 elements (at most 1024)");
    /* At the cap it waits for the elements, as before; a command
     * connection takes a count a subscriber refuses. */
    CHECK_EQ_INT(read_fresh(SL_REDIS_SUB_MAX_ELEMENTS, "*1024\r\n:1\r\n", why, sizeof why), 0);
    CHECK_EQ_INT(read_fresh(SL_REDIS_MAX_ELEMENTS, "*1025\r\n:1\r\n", why, sizeof why), 0);
    /* Not RESP: hiredis's own reason. */
    CHECK_EQ_INT(read_fresh(SL_REDIS_SUB_MAX_ELEMENTS, "?\r\n", why, sizeof why), -1);
    CHECK(strstr(why, "Protocol error") != NULL);
}

/* Replies still come whole, split across feeds anywhere. */
static void replies_come_through_split_anywhere(void)
{
    const char *text = "*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:42\r\n";
    size_t n = strlen(text);
    for (size_t cut = 0; cut <= n; cut++) {
        sl_redis_reader_t *r = sl_redis_reader_new(SL_REDIS_SUB_MAX_ELEMENTS);
        redisReply *reply;
        CHECK_EQ_INT(sl_redis_reader_feed(r, text, cut), 0);
        int replies = 0;
        for (int pass = 0; pass < 2; pass++) {
            while (sl_redis_reader_next(r, &reply) == 1) {
                if (replies == 0) {
                    CHECK_EQ_INT(reply->type, REDIS_REPLY_ARRAY);
                    CHECK_EQ_INT((int)reply->elements, 3);
                    CHECK_STR(reply->element[2]->str, reply->element[2]->len, "hi");
                } else {
                    CHECK_EQ_INT(reply->type, REDIS_REPLY_INTEGER);
                    CHECK_EQ_INT((int)reply->integer, 42);
                }
                replies++;
                freeReplyObject(reply);
            }
            if (pass == 0)
                CHECK_EQ_INT(sl_redis_reader_feed(r, text + cut, n - cut), 0);
        }
        CHECK_EQ_INT(replies, 2);
        sl_redis_reader_free(r);
    }
}

TL_SUITE(redis_reader, NULL, NULL, TL_TEST(huge_array_count_is_refused_before_any_element),
         TL_TEST(replies_come_through_split_anywhere));
