/* Unit tests of L1 ws_frame: the server-side RFC 6455 frame parser. Frames
 * are built by a reference encoder written here (masking included); every
 * feed is copied into an exactly-sized heap block so ASan catches a read
 * past it. What the parser reports is written to an event log so feeding
 * the same bytes in different chunks can be compared byte for byte. */
#include "net/ws_frame.h"
#include "testlib.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- reference encoder -------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes_t;

static void put(bytes_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

#define F_NOFIN 0x100
#define F_NOMASK 0x200
#define F_RSV1 0x400
#define F_RSV2 0x800
#define F_RSV3 0x1000

/* One client frame: opcode | flags, payload masked with a random key.
 * Returns the header length. */
static size_t frame(bytes_t *out, unsigned op_flags, const void *payload, size_t n)
{
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)((op_flags & 0x0f) | (op_flags & F_NOFIN ? 0 : 0x80) |
                           (op_flags & F_RSV1 ? 0x40 : 0) | (op_flags & F_RSV2 ? 0x20 : 0) |
                           (op_flags & F_RSV3 ? 0x10 : 0));
    int masked = !(op_flags & F_NOMASK);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    unsigned char mask[4] = {0};
    if (masked) {
        h[1] |= 0x80;
        for (int i = 0; i < 4; i++)
            mask[i] = (unsigned char)rnd();
        memcpy(h + hl, mask, 4);
        hl += 4;
    }
    put(out, h, hl);
    const unsigned char *s = payload;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(s[i] ^ mask[i & 3]);
        put(out, &c, 1);
    }
    return hl;
}

static void frame_str(bytes_t *out, unsigned op_flags, const char *s)
{
    frame(out, op_flags, s, strlen(s));
}

static void close_frame(bytes_t *out, unsigned code, const char *reason)
{
    unsigned char b[128] = {(unsigned char)(code >> 8), (unsigned char)code};
    size_t rl = strlen(reason);
    memcpy(b + 2, reason, rl);
    frame(out, 8, b, 2 + rl);
}

/* ---- event log ---------------------------------------------------------- */

typedef struct {
    bytes_t log;
    int messages;
    int stop_after; /* stop the feed after this many messages; 0 never */
    const char *block; /* the block being fed, to tell in-place delivery */
    size_t block_len;
    int in_place;   /* messages delivered pointing into the fed block */
} seen_t;

static void log_event(seen_t *s, char kind, unsigned code, const char *p, size_t n)
{
    uint64_t len = n;
    put(&s->log, &kind, 1);
    put(&s->log, &code, sizeof code);
    put(&s->log, &len, sizeof len);
    put(&s->log, p, n);
}

static int on_message(void *ud, int binary, char *p, size_t n)
{
    seen_t *s = ud;
    log_event(s, binary ? 'B' : 'T', 0, p, n);
    if (s->block && p >= s->block && p + n <= s->block + s->block_len)
        s->in_place++;
    s->messages++;
    return s->stop_after && s->messages >= s->stop_after;
}

static int on_ping(void *ud, const char *p, size_t n)
{
    log_event(ud, 'I', 0, p, n);
    return 0;
}

static int on_pong(void *ud, const char *p, size_t n)
{
    log_event(ud, 'O', 0, p, n);
    return 0;
}

static int on_close(void *ud, uint16_t code, const char *p, size_t n)
{
    log_event(ud, 'C', code, p, n);
    return 0;
}

static const sl_ws_frame_handler_t handler = {on_message, on_ping, on_pong, on_close};

/* Feeds in[0..n) in chunks ending at cuts[] (ascending, last == n), each
 * copied into its own exact-size block. The final feed result and whether
 * a buffer is still held are logged too. */
static void feed_cuts(const unsigned char *in, size_t n, const size_t *cuts, size_t ncuts,
                      size_t max, seen_t *s)
{
    sl_ws_parser_t ps;
    sl_ws_parser_init(&ps, max);
    if ((ncuts ? cuts[ncuts - 1] : 0) != n)
        abort(); /* a test bug: the cuts must cover the input */
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < ncuts && rc == 0; i++) {
        size_t len = cuts[i] - at;
        char *blk = malloc(len ? len : 1);
        memcpy(blk, in + at, len);
        s->block = blk;
        s->block_len = len;
        rc = sl_ws_parser_feed(&ps, blk, len, &handler, s);
        s->block = NULL;
        free(blk);
        at = cuts[i];
    }
    log_event(s, 'R', (unsigned)rc, "", 0);
    log_event(s, ps.msg ? 'H' : 'E', 0, "", 0);
    sl_ws_parser_free(&ps);
}

static void feed_all(const bytes_t *in, size_t max, seen_t *s)
{
    size_t cut = in->len;
    feed_cuts(in->p, in->len, &cut, 1, max, s);
}

static void feed_bytewise(const bytes_t *in, size_t max, seen_t *s)
{
    size_t *cuts = malloc((in->len + 1) * sizeof *cuts);
    for (size_t i = 0; i < in->len; i++)
        cuts[i] = i + 1;
    feed_cuts(in->p, in->len, cuts, in->len, max, s);
    free(cuts);
}

static void feed_random(const bytes_t *in, size_t max, seen_t *s)
{
    size_t *cuts = malloc((in->len + 1) * sizeof *cuts);
    size_t nc = 0, at = 0;
    while (at < in->len) {
        size_t step = 1 + rnd() % (rnd() % 4 == 0 ? 300 : 9);
        at = at + step > in->len ? in->len : at + step;
        cuts[nc++] = at;
    }
    feed_cuts(in->p, in->len, cuts, nc, max, s);
    free(cuts);
}

static void seen_free(seen_t *s) { free(s->log.p); }

/* The rc and events of feeding the whole input at once. */
static int result_code(const seen_t *s)
{
    /* the 'R' record is the second last; its code sits after the kind */
    const unsigned char *p = s->log.p;
    size_t at = 0, rpos = 0;
    while (at < s->log.len) {
        uint64_t len;
        memcpy(&len, p + at + 1 + sizeof(unsigned), sizeof len);
        if (p[at] == 'R')
            rpos = at;
        at += 1 + sizeof(unsigned) + sizeof len + len;
    }
    unsigned code;
    memcpy(&code, p + rpos + 1, sizeof code);
    return (int)code;
}

static int run(const bytes_t *in, size_t max)
{
    seen_t s = {0};
    feed_all(in, max, &s);
    int rc = result_code(&s);
    seen_free(&s);
    return rc;
}

/* Every chunking gives the same log as one feed. */
static void check_chunkings(const bytes_t *in, size_t max, int all_splits)
{
    seen_t ref = {0};
    feed_all(in, max, &ref);
    seen_t b = {0};
    feed_bytewise(in, max, &b);
    CHECK_MEM(b.log.p, b.log.len, ref.log.p, ref.log.len);
    seen_free(&b);
    for (int i = 0; i < 20; i++) {
        seen_t r = {0};
        feed_random(in, max, &r);
        CHECK_MEM(r.log.p, r.log.len, ref.log.p, ref.log.len);
        seen_free(&r);
    }
    if (all_splits) {
        for (size_t k = 0; k <= in->len; k++) {
            size_t cuts[2] = {k, in->len};
            seen_t r = {0};
            feed_cuts(in->p, in->len, cuts, 2, max, &r);
            CHECK_MEM(r.log.p, r.log.len, ref.log.p, ref.log.len);
            seen_free(&r);
        }
    }
    seen_free(&ref);
}

/* Expected log, built with the same records. */
static void expect_event(seen_t *e, char kind, unsigned code, const char *p, size_t n)
{
    log_event(e, kind, code, p, n);
}

static void expect_end(seen_t *e, int rc)
{
    log_event(e, 'R', (unsigned)rc, "", 0);
    log_event(e, 'E', 0, "", 0);
}

#define MAX 1000000

/* ---- tests -------------------------------------------------------------- */

static void every_frame_kind_is_reported(void)
{
    bytes_t in = {0};
    frame_str(&in, 1, "hello");
    unsigned char bin[] = {0, 1, 2, 0xff, 0xfe};
    frame(&in, 2, bin, sizeof bin);
    frame_str(&in, 9, "ping!");
    frame_str(&in, 10, "pong!");
    frame_str(&in, 1, "");
    frame(&in, 2, "", 0);
    frame(&in, 9, "", 0);
    close_frame(&in, 1000, "bye");
    frame_str(&in, 1, "after close: ignored");

    seen_t s = {0}, e = {0};
    feed_all(&in, MAX, &s);
    expect_event(&e, 'T', 0, "hello", 5);
    expect_event(&e, 'B', 0, (const char *)bin, sizeof bin);
    expect_event(&e, 'I', 0, "ping!", 5);
    expect_event(&e, 'O', 0, "pong!", 5);
    expect_event(&e, 'T', 0, "", 0);
    expect_event(&e, 'B', 0, "", 0);
    expect_event(&e, 'I', 0, "", 0);
    expect_event(&e, 'C', 1000, "bye", 3);
    expect_end(&e, 0);
    CHECK_MEM(s.log.p, s.log.len, e.log.p, e.log.len);
    check_chunkings(&in, MAX, 1);
    seen_free(&s);
    seen_free(&e);
    free(in.p);
}

static void close_without_payload_has_no_code(void)
{
    bytes_t in = {0};
    frame(&in, 8, "", 0);
    seen_t s = {0}, e = {0};
    feed_all(&in, MAX, &s);
    expect_event(&e, 'C', 0, "", 0);
    expect_end(&e, 0);
    CHECK_MEM(s.log.p, s.log.len, e.log.p, e.log.len);
    seen_free(&s);
    seen_free(&e);
    free(in.p);
}

static void lengths_in_7_16_and_64_bit_forms(void)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        char *payload = malloc(n + 1);
        for (size_t k = 0; k < n; k++)
            payload[k] = (char)('a' + k % 26);
        for (int op = 1; op <= 2; op++) {
            bytes_t in = {0};
            size_t hl = frame(&in, (unsigned)op, payload, n);
            CHECK_EQ_INT(hl, n < 126 ? 6 : n < 65536 ? 8 : 14);
            seen_t s = {0}, e = {0};
            feed_all(&in, MAX, &s);
            expect_event(&e, op == 2 ? 'B' : 'T', 0, payload, n);
            expect_end(&e, 0);
            CHECK_MEM(s.log.p, s.log.len, e.log.p, e.log.len);
            CHECK_EQ_INT(s.in_place, 1); /* unmasked where it lay */
            check_chunkings(&in, MAX, n < 200);
            seen_free(&s);
            seen_free(&e);
            free(in.p);
        }
        free(payload);
    }
}

static void whole_frame_allocates_nothing(void)
{
    bytes_t in = {0};
    frame_str(&in, 1, "a whole frame");
    frame_str(&in, 9, "p");
    frame_str(&in, 2, "another");
    sl_ws_parser_t ps;
    sl_ws_parser_init(&ps, MAX);
    char *blk = malloc(in.len);
    memcpy(blk, in.p, in.len);
    seen_t s = {0};
    s.block = blk;
    s.block_len = in.len;
    CHECK_EQ_INT(sl_ws_parser_feed(&ps, blk, in.len, &handler, &s), 0);
    CHECK(ps.msg == NULL);
    CHECK_EQ_INT(s.in_place, 2);
    /* A frame split in two needs the buffer only until it completes. */
    bytes_t two = {0};
    frame_str(&two, 1, "split across two reads");
    CHECK_EQ_INT(sl_ws_parser_feed(&ps, (char *)two.p, 10, &handler, &s), 0);
    CHECK(ps.msg != NULL);
    CHECK_EQ_INT(sl_ws_parser_feed(&ps, (char *)two.p + 10, two.len - 10, &handler, &s), 0);
    CHECK(ps.msg == NULL);
    CHECK_EQ_INT(s.messages, 3);
    CHECK(sizeof(sl_ws_parser_t) <= 80);
    sl_ws_parser_free(&ps);
    free(blk);
    free(two.p);
    free(in.p);
    seen_free(&s);
}

static void fragments_with_pings_between_are_reassembled(void)
{
    bytes_t in = {0};
    frame_str(&in, 1 | F_NOFIN, "Hel");
    frame_str(&in, 9, "x");
    frame_str(&in, 0 | F_NOFIN, "lo ");
    frame_str(&in, 10, "y");
    frame(&in, 0 | F_NOFIN, "", 0);
    frame_str(&in, 9, "z");
    frame_str(&in, 0, "world");
    frame_str(&in, 2 | F_NOFIN, "bin");
    frame_str(&in, 0, "ary");
    /* a code point split between two fragments */
    frame(&in, 1 | F_NOFIN, "\xe2\x82", 2);
    frame(&in, 0, "\xac", 1);
    seen_t s = {0}, e = {0};
    feed_all(&in, MAX, &s);
    expect_event(&e, 'I', 0, "x", 1);
    expect_event(&e, 'O', 0, "y", 1);
    expect_event(&e, 'I', 0, "z", 1);
    expect_event(&e, 'T', 0, "Hello world", 11);
    expect_event(&e, 'B', 0, "binary", 6);
    expect_event(&e, 'T', 0, "\xe2\x82\xac", 3);
    expect_end(&e, 0);
    CHECK_MEM(s.log.p, s.log.len, e.log.p, e.log.len);
    check_chunkings(&in, MAX, 1);
    seen_free(&s);
    seen_free(&e);
    free(in.p);
}

static void long_fragmented_message_split_everywhere(void)
{
    char big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    bytes_t in = {0};
    frame(&in, 2 | F_NOFIN, big, 1000);
    frame_str(&in, 9, "mid");
    frame(&in, 0 | F_NOFIN, big + 1000, 130);
    frame(&in, 0, big + 1130, sizeof big - 1130);
    frame_str(&in, 1, "tail \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ok");
    check_chunkings(&in, MAX, 1);
    seen_t s = {0};
    feed_all(&in, MAX, &s);
    CHECK_EQ_INT(s.messages, 2);
    seen_free(&s);
    free(in.p);
}

static void protocol_errors_close_with_1002(void)
{
    bytes_t in = {0};

    frame_str(&in, 1 | F_NOMASK, "unmasked");
    CHECK_EQ_INT(run(&in, MAX), 1002);
    unsigned rsv[] = {F_RSV1, F_RSV2, F_RSV3};
    for (int i = 0; i < 3; i++) {
        in.len = 0;
        frame_str(&in, 1 | rsv[i], "rsv");
        CHECK_EQ_INT(run(&in, MAX), 1002);
    }
    unsigned bad_ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    for (int i = 0; i < 10; i++) {
        in.len = 0;
        frame_str(&in, bad_ops[i], "op");
        CHECK_EQ_INT(run(&in, MAX), 1002);
    }
    /* control frames: FIN and at most 125 bytes */
    in.len = 0;
    frame_str(&in, 9 | F_NOFIN, "frag ping");
    CHECK_EQ_INT(run(&in, MAX), 1002);
    char p126[126];
    memset(p126, 'x', sizeof p126);
    unsigned ctl[] = {8, 9, 10};
    for (int i = 0; i < 3; i++) {
        in.len = 0;
        frame(&in, ctl[i], p126, sizeof p126);
        CHECK_EQ_INT(run(&in, MAX), 1002);
        in.len = 0;
        frame(&in, ctl[i], p126, 125); /* 125 is fine (close: code 0x7878 invalid) */
        CHECK_EQ_INT(run(&in, MAX), ctl[i] == 8 ? 1002 : 0);
    }
    /* continuation with nothing open; data frame while a message is open */
    in.len = 0;
    frame_str(&in, 0, "orphan");
    CHECK_EQ_INT(run(&in, MAX), 1002);
    in.len = 0;
    frame_str(&in, 1 | F_NOFIN, "open");
    frame_str(&in, 1, "new");
    CHECK_EQ_INT(run(&in, MAX), 1002);
    in.len = 0;
    frame_str(&in, 2 | F_NOFIN, "open");
    frame_str(&in, 2 | F_NOFIN, "new");
    CHECK_EQ_INT(run(&in, MAX), 1002);
    /* 64-bit length with the top bit set */
    in.len = 0;
    unsigned char huge[14] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    put(&in, huge, sizeof huge);
    CHECK_EQ_INT(run(&in, (size_t)-1), 1002);
    /* close: a 1-byte payload, codes nobody may send */
    in.len = 0;
    frame(&in, 8, "\x03", 1);
    CHECK_EQ_INT(run(&in, MAX), 1002);
    unsigned bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (int i = 0; i < 10; i++) {
        in.len = 0;
        close_frame(&in, bad_codes[i], "");
        CHECK_EQ_INT(run(&in, MAX), 1002);
    }
    unsigned good_codes[] = {1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999};
    for (int i = 0; i < 8; i++) {
        in.len = 0;
        close_frame(&in, good_codes[i], "why");
        CHECK_EQ_INT(run(&in, MAX), 0);
    }
    free(in.p);
}

static void errors_are_the_same_in_any_chunking(void)
{
    bytes_t in = {0};
    frame_str(&in, 1, "fine");
    frame_str(&in, 9, "p");
    frame_str(&in, 1 | F_NOFIN, "open");
    frame_str(&in, 0 | F_NOMASK, "bad");
    check_chunkings(&in, MAX, 1);
    in.len = 0;
    frame_str(&in, 1, "fine");
    frame(&in, 1, "ok \xed\xa0\x80 surrogate", 15);
    check_chunkings(&in, MAX, 1);
    free(in.p);
}

static void dead_parser_stays_dead(void)
{
    bytes_t in = {0};
    frame_str(&in, 1 | F_NOMASK, "x");
    sl_ws_parser_t ps;
    sl_ws_parser_init(&ps, MAX);
    seen_t s = {0};
    CHECK_EQ_INT(sl_ws_parser_feed(&ps, (char *)in.p, in.len, &handler, &s), 1002);
    in.len = 0;
    frame_str(&in, 1, "good now?");
    CHECK_EQ_INT(sl_ws_parser_feed(&ps, (char *)in.p, in.len, &handler, &s), 1002);
    CHECK_EQ_INT(s.messages, 0);
    sl_ws_parser_free(&ps);
    seen_free(&s);
    free(in.p);
}

static void max_message_counts_all_fragments(void)
{
    char p[100];
    memset(p, 'm', sizeof p);
    bytes_t in = {0};
    frame(&in, 2, p, 100);
    CHECK_EQ_INT(run(&in, 100), 0);
    CHECK_EQ_INT(run(&in, 99), 1009);
    in.len = 0;
    frame(&in, 1 | F_NOFIN, p, 40);
    frame_str(&in, 9, "between");
    frame(&in, 0 | F_NOFIN, p, 40);
    frame(&in, 0, p, 20);
    CHECK_EQ_INT(run(&in, 100), 0);
    CHECK_EQ_INT(run(&in, 99), 1009);
    check_chunkings(&in, 99, 1);
    check_chunkings(&in, 100, 1);
    /* control frames don't count */
    in.len = 0;
    frame(&in, 9, p, 100);
    CHECK_EQ_INT(run(&in, 10), 0);
    /* the refusal comes from the header: nothing of the payload needed */
    in.len = 0;
    frame(&in, 2, p, 100);
    in.len = 6;
    CHECK_EQ_INT(run(&in, 99), 1009);
    free(in.p);
}

static void invalid_utf8_text_closes_with_1007(void)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\x80", 1},             {"\xc0\x80", 2},         {"\xc1\xbf", 2},
        {"\xe0\x80\x80", 3},     {"\xed\xa0\x80", 3},     {"\xf0\x80\x80\x80", 4},
        {"\xf4\x90\x80\x80", 4}, {"\xf5\x80\x80\x80", 4}, {"\xff", 1},
        {"abc\xe2\x82", 5},      {"\xe2\x28\xa1", 3},     {"0123456789\xc3", 11},
    };
    bytes_t in = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        in.len = 0;
        frame(&in, 1, bad[i].s, bad[i].n);
        CHECK_EQ_INT(run(&in, MAX), 1007);
        /* the same bytes as binary are fine */
        in.len = 0;
        frame(&in, 2, bad[i].s, bad[i].n);
        CHECK_EQ_INT(run(&in, MAX), 0);
    }
    /* across fragments: truncated at the end of the message */
    in.len = 0;
    frame(&in, 1 | F_NOFIN, "ok", 2);
    frame(&in, 0, "\xe2\x82", 2);
    CHECK_EQ_INT(run(&in, MAX), 1007);
    /* bad in the middle of a long buffered message (word path) */
    char big[1000];
    memset(big, 'a', sizeof big);
    big[517] = (char)0xc0;
    in.len = 0;
    frame(&in, 1 | F_NOFIN, big, 600);
    frame(&in, 0, big + 600, 400);
    CHECK_EQ_INT(run(&in, MAX), 1007);
    in.len = 0;
    frame(&in, 1, big, sizeof big);
    CHECK_EQ_INT(run(&in, MAX), 1007);
    /* a close reason must be UTF-8 too */
    in.len = 0;
    close_frame(&in, 1000, "\xc0\xaf");
    CHECK_EQ_INT(run(&in, MAX), 1007);
    free(in.p);
}

/* A strict reference decoder, written the long way. */
static int ref_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], cp, k;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc0 && c < 0xe0) { k = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c < 0xf0) { k = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c < 0xf8) { k = 3; cp = c & 0x07; }
        else return 0;
        if (i + k >= n) return 0;
        for (unsigned j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000))
            return 0;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}

static void utf8_validation_matches_reference(void)
{
    static const unsigned char pieces[][4] = {
        {'a'}, {'z'}, {0xc3, 0xa9}, {0xe2, 0x82, 0xac}, {0xf0, 0x9f, 0x98, 0x80},
        {0xed, 0x9f, 0xbf}, {0xee, 0x80, 0x80}, {0xf4, 0x8f, 0xbf, 0xbf}, {0x80}, {0xc2},
        {0xed, 0xa0}, {0xf4, 0x90}, {0xe0, 0x9f}, {0xf0, 0x8f}, {0xfe}, {0x7f},
    };
    static const size_t plen[] = {1, 1, 2, 3, 4, 3, 3, 4, 1, 1, 2, 2, 2, 2, 1, 1};
    bytes_t in = {0}, text = {0};
    int agree = 1;
    for (int it = 0; it < 3000; it++) {
        text.len = 0;
        size_t parts = rnd() % 40;
        int mostly_ascii = rnd() % 2;
        for (size_t i = 0; i < parts; i++) {
            unsigned k = mostly_ascii && rnd() % 8 ? rnd() % 2 : rnd() % 16;
            if (mostly_ascii && rnd() % 2) {
                put(&text, "abcdefghij", 1 + rnd() % 10);
                continue;
            }
            put(&text, pieces[k], plen[k]);
        }
        in.len = 0;
        frame(&in, 1, text.p, text.len);
        int want = ref_utf8(text.p, text.len) ? 0 : 1007;
        seen_t s = {0};
        feed_random(&in, MAX, &s);
        if (result_code(&s) != want)
            agree = 0;
        seen_free(&s);
        if (run(&in, MAX) != want)
            agree = 0;
    }
    CHECK(agree);
    free(in.p);
    free(text.p);
}

static void callback_can_stop_the_feed(void)
{
    bytes_t in = {0};
    frame_str(&in, 1, "one");
    frame_str(&in, 1, "two");
    frame_str(&in, 1, "three");
    sl_ws_parser_t ps;
    sl_ws_parser_init(&ps, MAX);
    seen_t s = {0};
    s.stop_after = 1;
    CHECK_EQ_INT(sl_ws_parser_feed(&ps, (char *)in.p, in.len, &handler, &s), 0);
    CHECK_EQ_INT(s.messages, 1);
    sl_ws_parser_free(&ps);
    seen_free(&s);
    free(in.p);
}

static void frame_header_encoder(void)
{
    unsigned char h[10];
    CHECK_EQ_INT(sl_ws_frame_header(h, 1, 0), 2);
    CHECK(h[0] == 0x81 && h[1] == 0);
    CHECK_EQ_INT(sl_ws_frame_header(h, 2, 125), 2);
    CHECK(h[0] == 0x82 && h[1] == 125);
    CHECK_EQ_INT(sl_ws_frame_header(h, 2, 126), 4);
    CHECK(h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_EQ_INT(sl_ws_frame_header(h, 10, 65535), 4);
    CHECK(h[0] == 0x8a && h[2] == 0xff && h[3] == 0xff);
    CHECK_EQ_INT(sl_ws_frame_header(h, 1, 65536), 10);
    CHECK(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
}

/* Random bytes, and valid streams with random bytes changed, in random
 * chunks: no crash, no leak, no read outside the blocks (ASan). */
/* RSV1 (permessage-deflate): refused until allowed; then it marks the
 * message whose first frame carries it, whose bytes (compressed) are not
 * checked as UTF-8 here; never on a continuation or a control frame. */
typedef struct {
    seen_t seen; /* first: on_ping and the others log here */
    sl_ws_parser_t ps;
    int rsv1[8];
    int n;
} rsv_seen_t;

static int rsv_on_message(void *ud, int binary, char *p, size_t n)
{
    (void)binary;
    (void)p;
    (void)n;
    rsv_seen_t *s = ud;
    if (s->n < 8)
        s->rsv1[s->n++] = s->ps.msg_rsv1;
    return 0;
}

static int rsv_feed(const bytes_t *in, int allow, rsv_seen_t *s, int bytewise)
{
    static const sl_ws_frame_handler_t h = {rsv_on_message, on_ping, on_pong, on_close};
    memset(s, 0, sizeof *s);
    sl_ws_parser_init(&s->ps, 1000);
    if (allow)
        sl_ws_parser_allow_rsv1(&s->ps);
    int rc = 0;
    for (size_t at = 0; at < in->len && rc == 0;) {
        size_t len = bytewise ? 1 : in->len;
        char *blk = malloc(len);
        memcpy(blk, in->p + at, len);
        rc = sl_ws_parser_feed(&s->ps, blk, len, &h, s);
        free(blk);
        at += len;
    }
    sl_ws_parser_free(&s->ps);
    seen_free(&s->seen);
    return rc;
}

static void rsv1_marks_compressed_messages_once_negotiated(void)
{
    const unsigned char deflated[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}; /* not UTF-8 */
    rsv_seen_t s;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        bytes_t in = {0};
        frame(&in, 1 | F_RSV1, deflated, sizeof deflated);
        CHECK_EQ_INT(rsv_feed(&in, 0, &s, bytewise), 1002); /* not negotiated */
        CHECK_EQ_INT(rsv_feed(&in, 1, &s, bytewise), 0);
        CHECK_EQ_INT(s.n, 1);
        CHECK_EQ_INT(s.rsv1[0], 1);
        /* Fragmented: RSV1 on the first frame only, a ping between, then a
         * plain message. */
        in.len = 0;
        frame(&in, 1 | F_RSV1 | F_NOFIN, deflated, 3);
        frame_str(&in, 9, "p");
        frame(&in, 0, deflated + 3, sizeof deflated - 3);
        frame_str(&in, 1, "4plain");
        CHECK_EQ_INT(rsv_feed(&in, 1, &s, bytewise), 0);
        CHECK_EQ_INT(s.n, 2);
        CHECK(s.rsv1[0] == 1 && s.rsv1[1] == 0);
        /* Where RFC 7692 forbids it. */
        unsigned bad[][2] = {{1 | F_NOFIN, 0 | F_RSV1}, {9 | F_RSV1, 0}, {8 | F_RSV1, 0},
                             {10 | F_RSV1, 0}, {1 | F_RSV2, 0}, {2 | F_RSV3, 0}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            in.len = 0;
            frame(&in, bad[i][0], "ab", 2);
            if (bad[i][0] & F_NOFIN)
                frame(&in, bad[i][1], "cd", 2);
            CHECK_EQ_INT(rsv_feed(&in, 1, &s, bytewise), 1002);
        }
        free(in.p);
    }
}

static void fuzz_random_and_mutated_input(void)
{
    bytes_t valid = {0};
    frame_str(&valid, 1 | F_NOFIN, "frag");
    frame_str(&valid, 9, "ping");
    frame_str(&valid, 0, "ment");
    char big[300];
    memset(big, 'q', sizeof big);
    frame(&valid, 2, big, sizeof big);
    frame(&valid, 1, "\xe2\x82\xac", 3);
    close_frame(&valid, 1000, "end");
    bytes_t in = {0};
    for (int it = 0; it < 20000; it++) {
        in.len = 0;
        if (it % 2) {
            size_t n = rnd() % 200;
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)rnd();
                put(&in, &c, 1);
            }
        } else {
            put(&in, valid.p, valid.len);
            for (int k = 1 + rnd() % 3; k > 0; k--)
                in.p[rnd() % in.len] ^= (unsigned char)(1u << (rnd() % 8));
        }
        seen_t s = {0};
        feed_random(&in, 1000, &s);
        seen_free(&s);
    }
    free(in.p);
    free(valid.p);
    CHECK(1);
}

/* RFC 6455 1.3's example, and the same key twice in a row (one context
 * is reused for every key: nothing of one may leak into the next). */
static void accept_key_is_rfc_6455s(void)
{
    char out[SL_WS_ACCEPT_LEN + 1];
    CHECK_EQ_INT(sl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    CHECK(!strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    CHECK_EQ_INT(sl_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out), 0);
    CHECK(!strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk="));
    CHECK_EQ_INT(sl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    CHECK(!strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

TL_SUITE(ws_frame, NULL, NULL,
         TL_TEST(accept_key_is_rfc_6455s),
         TL_TEST(every_frame_kind_is_reported),
         TL_TEST(close_without_payload_has_no_code),
         TL_TEST(lengths_in_7_16_and_64_bit_forms),
         TL_TEST(whole_frame_allocates_nothing),
         TL_TEST(fragments_with_pings_between_are_reassembled),
         TL_TEST(long_fragmented_message_split_everywhere),
         TL_TEST(protocol_errors_close_with_1002),
         TL_TEST(errors_are_the_same_in_any_chunking),
         TL_TEST(dead_parser_stays_dead),
         TL_TEST(max_message_counts_all_fragments),
         TL_TEST(invalid_utf8_text_closes_with_1007),
         TL_TEST(utf8_validation_matches_reference),
         TL_TEST(callback_can_stop_the_feed),
         TL_TEST(frame_header_encoder),
         TL_TEST(rsv1_marks_compressed_messages_once_negotiated),
         TL_TEST(fuzz_random_and_mutated_input));
