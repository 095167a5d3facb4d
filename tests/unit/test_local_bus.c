/* Unit tests of local_bus: the in-memory Redis subset the workers of
 * `siolua run --workers N` share. Requests go in as the RESP bytes hiredis
 * sends; what each client receives is captured and compared byte for byte
 * with what Redis 7 answers. */
#include "cluster/local_bus.h"
#include "base/buf.h"
#include "testlib.h"

#include <stdarg.h>
#include <stdlib.h>

typedef struct capture {
    sl_buf_t got;
    int refuse; /* the write callback says "over the cap" */
} capture_t;

static int capture_write(void *ud, const char *data, size_t len)
{
    capture_t *c = ud;
    if (c->refuse)
        return -1;
    sl_buf_append(&c->got, data, len);
    return 0;
}

/* Encodes the words as hiredis does (an array of bulk strings) and feeds
 * them; returns the feed's result. */
static int send_cmd(sl_bus_client_t *c, int n, ...)
{
    sl_buf_t b = SL_BUF_INIT;
    va_list ap;
    va_start(ap, n);
    sl_buf_appendf(&b, "*%d\r\n", n);
    for (int i = 0; i < n; i++) {
        const char *w = va_arg(ap, const char *);
        sl_buf_appendf(&b, "$%zu\r\n%s\r\n", strlen(w), w);
    }
    va_end(ap);
    int rc = sl_bus_client_feed(c, b.data, b.len);
    sl_buf_free(&b);
    return rc;
}

#define EXPECT(cap, s)                                                         \
    do {                                                                       \
        CHECK_STR((cap).got.data ? (cap).got.data : "", (cap).got.len, s);     \
        sl_buf_reset(&(cap).got);                                              \
    } while (0)

static int glob(const char *p, const char *s) { return sl_bus_glob_match(p, strlen(p), s, strlen(s)); }

static void glob_follows_redis_rules(void)
{
    CHECK(glob("socket.io#*", "socket.io#/#"));
    CHECK(glob("socket.io#*", "socket.io#/chat#room 1#"));
    CHECK(!glob("socket.io#*", "socket.io-request#/#"));
    CHECK(glob("*", ""));
    CHECK(glob("h?llo", "hello"));
    CHECK(!glob("h?llo", "hllo"));
    CHECK(glob("h[ae]llo", "hallo"));
    CHECK(!glob("h[ae]llo", "hillo"));
    CHECK(glob("h[^e]llo", "hallo"));
    CHECK(!glob("h[^e]llo", "hello"));
    CHECK(glob("h[a-b]llo", "hbllo"));
    CHECK(glob("h[b-a]llo", "hallo")); /* reversed ranges, as Redis */
    CHECK(glob("h\\*llo", "h*llo"));
    CHECK(!glob("h\\*llo", "hello"));
    CHECK(glob("a*b*c", "a-x-b-y-c"));
    CHECK(!glob("a*b*c", "a-x-b-y-d"));
    CHECK(glob("*/*", "/"));
    /* No exponential backtracking on a hostile pattern. */
    CHECK(!glob("a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    /* Binary-safe: a NUL inside the channel is just a byte. */
    CHECK(sl_bus_glob_match("a*", 2, "a\0b", 3));
    CHECK(!sl_bus_glob_match("a?", 2, "a\0b", 3));
}

static void unknown_command_is_an_error_not_silence(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t cap = {0};
    sl_bus_client_t *c = sl_bus_client_new(b, capture_write, &cap);
    CHECK_EQ_INT(send_cmd(c, 2, "HSET", "k"), 0);
    EXPECT(cap, "-ERR unknown command 'HSET'\r\n");
    CHECK_EQ_INT(send_cmd(c, 3, "GET", "a", "b"), 0);
    EXPECT(cap, "-ERR wrong number of arguments for 'GET' command\r\n");
    CHECK_EQ_INT(send_cmd(c, 1, "ping"), 0);
    EXPECT(cap, "+PONG\r\n");
    CHECK_EQ_INT(send_cmd(c, 2, "SELECT", "0"), 0);
    EXPECT(cap, "+OK\r\n");
    CHECK_EQ_INT(send_cmd(c, 2, "SELECT", "3"), 0);
    EXPECT(cap, "-ERR the local bus has only DB 0\r\n");
    sl_bus_client_free(c);
    sl_bus_free(b);
    sl_buf_free(&cap.got);
}

static void requests_split_anywhere_and_pipelined(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t cap = {0};
    sl_bus_client_t *c = sl_bus_client_new(b, capture_write, &cap);
    const char *two = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    for (const char *p = two; *p; p++)
        CHECK_EQ_INT(sl_bus_client_feed(c, p, 1), 0);
    EXPECT(cap, "+OK\r\n$2\r\nv1\r\n");
    /* Not RESP: an error, then the owner closes it. */
    CHECK_EQ_INT(sl_bus_client_feed(c, "PING\r\n", 6), -1);
    CHECK(cap.got.len > 0 && cap.got.data[0] == '-');
    sl_bus_client_free(c);
    /* The error says why, on one line: a bad type byte (quoted, made
     * printable) and an array over the cap. */
    sl_buf_reset(&cap.got);
    c = sl_bus_client_new(b, capture_write, &cap);
    CHECK_EQ_INT(sl_bus_client_feed(c, "\x01\r\n", 3), -1);
    CHECK(cap.got.len > 20 && !memcmp(cap.got.data, "-ERR Protocol error: ", 21));
    CHECK(memchr(cap.got.data, '\x01', cap.got.len) == NULL);
    CHECK(memchr(cap.got.data, '\n', cap.got.len) == cap.got.data + cap.got.len - 1);
    sl_bus_client_free(c);
    sl_buf_reset(&cap.got);
    c = sl_bus_client_new(b, capture_write, &cap);
    CHECK_EQ_INT(sl_bus_client_feed(c, "*888888881\r\n", 13), -1);
    sl_buf_append_byte(&cap.got, '\0');
    CHECK(strstr(cap.got.data, "-ERR Protocol error: ") == cap.got.data);
    CHECK(strstr(cap.got.data, "888888881") != NULL);
    sl_buf_reset(&cap.got);
    sl_bus_client_free(c);
    sl_bus_free(b);
    sl_buf_free(&cap.got);
}

static void quit_answers_then_asks_to_close(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t cap = {0};
    sl_bus_client_t *c = sl_bus_client_new(b, capture_write, &cap);
    CHECK_EQ_INT(send_cmd(c, 1, "QUIT"), 1);
    EXPECT(cap, "+OK\r\n");
    sl_bus_client_free(c);
    sl_bus_free(b);
    sl_buf_free(&cap.got);
}

static void keys_expire_with_px_and_ex(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t cap = {0};
    sl_bus_client_t *c = sl_bus_client_new(b, capture_write, &cap);
    sl_bus_set_now(b, 1000);
    send_cmd(c, 5, "SET", "session#a", "{}", "PX", "500");
    send_cmd(c, 5, "SET", "node#x", "127.0.0.1:1", "EX", "30");
    send_cmd(c, 3, "SET", "forever", "1");
    EXPECT(cap, "+OK\r\n+OK\r\n+OK\r\n");
    send_cmd(c, 2, "PTTL", "session#a");
    send_cmd(c, 2, "TTL", "node#x");
    send_cmd(c, 2, "TTL", "forever");
    send_cmd(c, 2, "TTL", "none");
    EXPECT(cap, ":500\r\n:30\r\n:-1\r\n:-2\r\n");
    sl_bus_set_now(b, 1499);
    send_cmd(c, 2, "GET", "session#a");
    EXPECT(cap, "$2\r\n{}\r\n");
    sl_bus_set_now(b, 1500);
    send_cmd(c, 2, "GET", "session#a"); /* lazily expired */
    EXPECT(cap, "$-1\r\n");
    CHECK_EQ_INT(sl_bus_key_count(b), 2);
    sl_bus_set_now(b, 31000);
    CHECK_EQ_INT(sl_bus_sweep(b), 1); /* node#x, read by nobody */
    CHECK_EQ_INT(sl_bus_key_count(b), 1);
    send_cmd(c, 5, "SET", "k", "v", "PX", "0");
    EXPECT(cap, "-ERR invalid expire time in 'set' command\r\n");
    send_cmd(c, 4, "SET", "k", "v", "BOGUS");
    EXPECT(cap, "-ERR syntax error\r\n");
    sl_bus_client_free(c);
    sl_bus_free(b);
    sl_buf_free(&cap.got);
}

/* EXPIRE multiplies by 1000: a huge negative time must be refused before
 * that (signed overflow; the sanitizer build aborts), not wrap into a
 * far-future expiry. */
static void expire_refuses_times_out_of_range(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t cap = {0};
    sl_bus_client_t *c = sl_bus_client_new(b, capture_write, &cap);
    sl_bus_set_now(b, 1000);
    send_cmd(c, 3, "SET", "k", "v");
    EXPECT(cap, "+OK\r\n");
    send_cmd(c, 3, "EXPIRE", "k", "-9223372036854776");
    EXPECT(cap, "-ERR value is not an integer or out of range\r\n");
    send_cmd(c, 3, "PEXPIRE", "k", "-9223372036854775808");
    EXPECT(cap, "-ERR value is not an integer or out of range\r\n");
    send_cmd(c, 2, "TTL", "k");
    EXPECT(cap, ":-1\r\n");
    send_cmd(c, 3, "EXPIRE", "k", "-1"); /* in the past: the key goes, as in Redis */
    EXPECT(cap, ":1\r\n");
    send_cmd(c, 2, "GET", "k");
    EXPECT(cap, "$-1\r\n");
    sl_bus_client_free(c);
    sl_bus_free(b);
    sl_buf_free(&cap.got);
}

static void set_nx_xx_getdel_del_exists(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t cap = {0};
    sl_bus_client_t *c = sl_bus_client_new(b, capture_write, &cap);
    send_cmd(c, 4, "SET", "k", "1", "XX");
    send_cmd(c, 4, "SET", "k", "1", "NX");
    send_cmd(c, 4, "SET", "k", "2", "NX");
    send_cmd(c, 2, "GETDEL", "k");
    send_cmd(c, 2, "GETDEL", "k");
    EXPECT(cap, "$-1\r\n+OK\r\n$-1\r\n$1\r\n1\r\n$-1\r\n");
    send_cmd(c, 3, "SET", "a", "");
    send_cmd(c, 3, "SET", "b", "x");
    send_cmd(c, 4, "EXISTS", "a", "b", "c");
    send_cmd(c, 4, "DEL", "a", "b", "c");
    send_cmd(c, 2, "GET", "a");
    EXPECT(cap, "+OK\r\n+OK\r\n:2\r\n:2\r\n$-1\r\n");
    /* Many keys: the table grows and keeps them all. */
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key%d", i);
        send_cmd(c, 3, "SET", k, k);
    }
    sl_buf_reset(&cap.got);
    CHECK_EQ_INT(sl_bus_key_count(b), 1000);
    send_cmd(c, 2, "GET", "key777");
    EXPECT(cap, "$6\r\nkey777\r\n");
    sl_bus_client_free(c);
    sl_bus_free(b);
    sl_buf_free(&cap.got);
}

static void publish_reaches_channel_and_pattern_subscribers(void)
{
    sl_bus_t *b = sl_bus_new();
    capture_t pc = {0}, sc = {0}, tc = {0};
    sl_bus_client_t *pub = sl_bus_client_new(b, capture_write, &pc);
    sl_bus_client_t *s1 = sl_bus_client_new(b, capture_write, &sc);
    sl_bus_client_t *s2 = sl_bus_client_new(b, capture_write, &tc);
    send_cmd(s1, 3, "SUBSCRIBE", "req#/#", "res#/#");
    EXPECT(sc, "*3\r\n$9\r\nsubscribe\r\n$6\r\nreq#/#\r\n:1\r\n"
               "*3\r\n$9\r\nsubscribe\r\n$6\r\nres#/#\r\n:2\r\n");
    send_cmd(s1, 2, "PSUBSCRIBE", "io#*");
    EXPECT(sc, "*3\r\n$10\r\npsubscribe\r\n$4\r\nio#*\r\n:3\r\n");
    send_cmd(s2, 2, "SUBSCRIBE", "req#/#");
    send_cmd(s2, 2, "PSUBSCRIBE", "io#*");
    sl_buf_reset(&tc.got);

    send_cmd(pub, 4, "PUBSUB", "NUMSUB", "req#/#", "nobody");
    EXPECT(pc, "*4\r\n$6\r\nreq#/#\r\n:2\r\n$6\r\nnobody\r\n:0\r\n");
    send_cmd(pub, 3, "PUBLISH", "req#/#", "hi");
    EXPECT(pc, ":2\r\n");
    EXPECT(sc, "*3\r\n$7\r\nmessage\r\n$6\r\nreq#/#\r\n$2\r\nhi\r\n");
    EXPECT(tc, "*3\r\n$7\r\nmessage\r\n$6\r\nreq#/#\r\n$2\r\nhi\r\n");
    send_cmd(pub, 3, "PUBLISH", "io#/#", "b");
    EXPECT(pc, ":2\r\n");
    EXPECT(sc, "*4\r\n$8\r\npmessage\r\n$4\r\nio#*\r\n$5\r\nio#/#\r\n$1\r\nb\r\n");
    EXPECT(tc, "*4\r\n$8\r\npmessage\r\n$4\r\nio#*\r\n$5\r\nio#/#\r\n$1\r\nb\r\n");

    /* A subscriber that can't take more doesn't stop the others, and still
     * counts (Redis counts it too: it is cut off afterwards). */
    sc.refuse = 1;
    send_cmd(pub, 3, "PUBLISH", "io#x", "c");
    EXPECT(pc, ":2\r\n");
    EXPECT(tc, "*4\r\n$8\r\npmessage\r\n$4\r\nio#*\r\n$4\r\nio#x\r\n$1\r\nc\r\n");
    sc.refuse = 0;

    send_cmd(s1, 1, "UNSUBSCRIBE");
    EXPECT(sc, "*3\r\n$11\r\nunsubscribe\r\n$6\r\nres#/#\r\n:2\r\n"
               "*3\r\n$11\r\nunsubscribe\r\n$6\r\nreq#/#\r\n:1\r\n");
    send_cmd(s1, 2, "PUNSUBSCRIBE", "io#*");
    EXPECT(sc, "*3\r\n$12\r\npunsubscribe\r\n$4\r\nio#*\r\n:0\r\n");
    send_cmd(pub, 3, "PUBLISH", "req#/#", "d");
    EXPECT(pc, ":1\r\n");
    CHECK_EQ_INT(sc.got.len, 0);
    send_cmd(pub, 2, "PUBSUB", "NUMPAT");
    EXPECT(pc, ":1\r\n");

    /* A client that leaves is no longer counted. */
    sl_bus_client_free(s2);
    send_cmd(pub, 3, "PUBLISH", "req#/#", "e");
    EXPECT(pc, ":0\r\n");
    sl_bus_client_free(s1);
    sl_bus_client_free(pub);
    sl_bus_free(b);
    sl_buf_free(&pc.got);
    sl_buf_free(&sc.got);
    sl_buf_free(&tc.got);
}

TL_SUITE(local_bus, NULL, NULL,
         TL_TEST(glob_follows_redis_rules),
         TL_TEST(unknown_command_is_an_error_not_silence),
         TL_TEST(requests_split_anywhere_and_pipelined),
         TL_TEST(quit_answers_then_asks_to_close),
         TL_TEST(keys_expire_with_px_and_ex),
         TL_TEST(expire_refuses_times_out_of_range),
         TL_TEST(set_nx_xx_getdel_del_exists),
         TL_TEST(publish_reaches_channel_and_pattern_subscribers));
