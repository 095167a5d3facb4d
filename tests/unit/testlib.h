/* testlib: the tiny unit-test harness of tests/unit. Each test is a function
 * registered in main() with RUN(name); a failed CHECK reports file:line and
 * marks the test failed without stopping the others. The last line printed
 * is "N passed, M failed", which ctest and CI read. */
#ifndef SL_TESTLIB_H
#define SL_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int tl_failed_checks;
static int tl_passed, tl_failed;

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

#define RUN(fn)                                                                \
    do {                                                                       \
        int tl_before = tl_failed_checks;                                      \
        fn();                                                                  \
        if (tl_failed_checks == tl_before) {                                   \
            tl_passed++;                                                       \
            printf("ok %s\n", #fn);                                            \
        } else {                                                               \
            tl_failed++;                                                       \
            printf("FAIL %s\n", #fn);                                          \
        }                                                                      \
    } while (0)

#define TESTS_DONE()                                                           \
    (printf("%d passed, %d failed\n", tl_passed, tl_failed), tl_failed ? 1 : 0)

#endif
