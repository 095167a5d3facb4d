/* testlib: the tiny unit-test harness of tests/unit, shared by every test
 * file and the one runner binary (runner.c). A test is a `static void
 * name(void)` function; each file ends with its suite, the list of its
 * tests:
 *
 *     TL_SUITE(buf, NULL, NULL,
 *              TL_TEST(buf_append_grows),
 *              TL_TEST(buf_consume_moves_the_rest));
 *
 * and the suite's name goes in test_list.h. A failed CHECK reports
 * file:line and marks the test failed without stopping the others. A test
 * that needs an event loop takes a fresh one from tl_loop(); after the test
 * the runner checks that it closes with no handle left (libuv's own tests
 * do the same), so every such test is also a leak check for handles. The
 * last line the runner prints is "N passed, M failed", which ctest and CI
 * read. */
#ifndef SL_TESTLIB_H
#define SL_TESTLIB_H

#include <stdio.h>
#include <string.h>

/* Failed checks so far in this run (the runner compares it around a test). */
extern int tl_failed_checks;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            tl_failed_checks++;                                                \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long tl_a = (long long)(a), tl_b = (long long)(b);                \
        if (tl_a != tl_b) {                                                    \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__,  \
                    __LINE__, #a, tl_a, tl_b);                                 \
            tl_failed_checks++;                                                \
        }                                                                      \
    } while (0)

/* Compares n bytes; prints both sides when they differ. */
#define CHECK_MEM(p, n, expect, en)                                            \
    do {                                                                       \
        size_t tl_n = (size_t)(n), tl_en = (size_t)(en);                       \
        if (tl_n != tl_en || memcmp((p), (expect), tl_n) != 0) {               \
            fprintf(stderr, "  %s:%d: got \"%.*s\" (%zu), expected \"%.*s\" (%zu)\n", \
                    __FILE__, __LINE__, (int)tl_n, (const char *)(p), tl_n,    \
                    (int)tl_en, (const char *)(expect), tl_en);                \
            tl_failed_checks++;                                                \
        }                                                                      \
    } while (0)

#define CHECK_STR(p, n, s) CHECK_MEM(p, n, s, strlen(s))

typedef struct tl_test {
    const char *name;
    void (*fn)(void);
} tl_test_t;

/* setup runs once before the suite's first test that is run; it returns
 * NULL, or the reason to skip the whole suite (a tool is not installed).
 * teardown runs once after its last test. Either may be NULL. */
typedef struct tl_suite {
    const char *name;
    const tl_test_t *tests; /* ends with {NULL, NULL} */
    const char *(*setup)(void);
    void (*teardown)(void);
} tl_suite_t;

#define TL_TEST(fn) {#fn, fn}

#define TL_SUITE(name_, setup_, teardown_, ...)                                \
    static const tl_test_t tl_tests_[] = {__VA_ARGS__, {NULL, NULL}};          \
    const tl_suite_t tl_suite_##name_ = {#name_, tl_tests_, setup_, teardown_}

/* Hex text (two digits a byte) to an exactly-sized heap block of *n bytes
 * (free it), so ASan sees a read past the end; and bytes to NUL-terminated
 * hex in out (2n + 1 bytes). For test vectors written as hex. */
char *tl_unhex(const char *hex, size_t *n);
void tl_hex(const void *p, size_t n, char *out);

/* The running test's event loop, initialised on first call (later calls in
 * the same test return the same loop). The test runs it as it likes; it
 * need not close it. */
struct uv_loop_s *tl_loop(void);

/* Ends the running test's loop: every handle must be closed already (those
 * left open are named on stderr, closed, and make the result non-zero),
 * close callbacks and pending requests are run, then uv_loop_close must
 * succeed. Returns 0 when the loop closed clean. The runner calls it after
 * every test that took a loop; a test may call it itself to check at a
 * given point (it is then not called again). */
int tl_loop_close(void);

/* What the code under test logs: stderr goes to a temporary file from
 * _start until _end, which returns it as a string (free it) and echoes it
 * back when VERBOSE is set. Not nested. */
void tl_stderr_capture_start(void);
char *tl_stderr_capture_end(void);
/* How many times needle occurs in hay, not overlapping. */
int tl_count(const char *hay, const char *needle);

#endif
