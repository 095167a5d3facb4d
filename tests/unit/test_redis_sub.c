/* Unit tests of redis_sub's read path against what a broken or hostile
 * server on the Redis address may send (regressions of tests/fuzz/fuzz_resp
 * findings). The subscriber never connects here: sl_redis_sub_feed is the
 * read path, and the loop only runs to close it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "cluster/redis_sub.h"
#include "testlib.h"

static int messages;

static void count_msg(const char *ch, size_t clen, const char *msg, size_t mlen, void *ud)
{
    (void)ch, (void)clen, (void)msg, (void)mlen, (void)ud;
    messages++;
}

/* Feeds text to a fresh subscriber; returns what the feed returned. */
static int feed_fresh(const char *text)
{
    uv_loop_t *loop = tl_loop();
    sl_redis_url_t u;
    char err[128];
    CHECK_EQ_INT(sl_redis_url_parse("redis://127.0.0.1:1", &u, err, sizeof err), 0);
    sl_redis_sub_t *s = sl_redis_sub_new(loop, &u, "test", count_msg, NULL, NULL);
    int rc = sl_redis_sub_feed(s, text, strlen(text));
    sl_redis_sub_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
    return rc;
}

/* hiredis allocates an array's element table when it reads the count:
 * "*888888881" asked for 7 GB before a single element came. A count past
 * the subscriber's cap (1024) is a protocol error now, refused at once. */
static void huge_array_count_is_refused_before_any_element(void)
{
    sl_log_level_t saved = sl_log_level;
    sl_log_level = SL_LOG_OFF; /* each refusal logs a line */
    CHECK_EQ_INT(feed_fresh("*888888881\r\n"), -1);
    CHECK_EQ_INT(feed_fresh("*1025\r\n"), -1);
    CHECK_EQ_INT(feed_fresh("*1\r\n*2000000000\r\n"), -1); /* nested too */
    /* At the cap it waits for the elements, as before. */
    CHECK_EQ_INT(feed_fresh("*1024\r\n:1\r\n"), 0);
    sl_log_level = saved;
    /* And messages still come through. */
    messages = 0;
    CHECK_EQ_INT(feed_fresh("*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"), 0);
    CHECK_EQ_INT(messages, 1);
}

TL_SUITE(redis_sub, NULL, NULL,
         TL_TEST(huge_array_count_is_refused_before_any_element));
