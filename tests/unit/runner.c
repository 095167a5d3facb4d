/* unit_runner: the one binary of tests/unit (as libuv's run-tests with its
 * test-list.h). It runs every suite of test_list.h, or what its arguments
 * name:
 *
 *     unit_runner                   every suite
 *     unit_runner buf               the suite of test_buf.c
 *     unit_runner buf_append_grows  one test, by its name, in whatever suite
 *     unit_runner --list            the names, "suite test" per line
 *
 * Each test prints "ok NAME" or "FAIL NAME"; the last line is "N passed, M
 * failed" and the exit code is 1 when any failed (2 for an unknown name).
 * A test that took a loop from tl_loop() fails too when the loop does not
 * close clean afterwards (see testlib.h). ctest runs one suite per entry
 * (unit_NAME), so a failure names its file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "testlib.h"

#define SUITE(name) extern const tl_suite_t tl_suite_##name;
#include "test_list.h"
#undef SUITE

static const tl_suite_t *const suites[] = {
#define SUITE(name) &tl_suite_##name,
#include "test_list.h"
#undef SUITE
};
#define NSUITES (sizeof suites / sizeof suites[0])

int tl_failed_checks;

char *tl_unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex) / 2;
    char *b = malloc(len ? len : 1);
    if (!b)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    *n = len;
    return b;
}

void tl_hex(const void *p, size_t n, char *out)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", s[i]);
    out[2 * n] = '\0';
}

/* ---- the loop of the running test -------------------------------------- */

static FILE *capture_file;
static int capture_saved_fd = -1;

void tl_stderr_capture_start(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    capture_saved_fd = dup(2);
    dup2(fileno(capture_file), 2);
}

char *tl_stderr_capture_end(void)
{
    fflush(stderr);
    dup2(capture_saved_fd, 2);
    close(capture_saved_fd);
    long n = ftell(capture_file);
    char *s = calloc(1, (size_t)n + 1);
    rewind(capture_file);
    if (n > 0 && fread(s, 1, (size_t)n, capture_file) != (size_t)n)
        s[0] = '\0';
    fclose(capture_file);
    if (getenv("VERBOSE"))
        fprintf(stderr, "%s", s);
    return s;
}

int tl_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static uv_loop_t test_loop;
static int loop_open;

uv_loop_t *tl_loop(void)
{
    if (!loop_open) {
        int rc = uv_loop_init(&test_loop);
        if (rc) {
            fprintf(stderr, "  uv_loop_init: %s\n", uv_strerror(rc));
            abort();
        }
        loop_open = 1;
    }
    return &test_loop;
}

static void close_left_open(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    fprintf(stderr, "  the test left a %s handle open\n", uv_handle_type_name(h->type));
    (*(int *)arg)++;
    uv_close(h, NULL);
}

int tl_loop_close(void)
{
    if (!loop_open)
        return 0;
    loop_open = 0;
    int left = 0;
    uv_walk(&test_loop, close_left_open, &left);
    uv_run(&test_loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&test_loop);
    if (rc)
        fprintf(stderr, "  uv_loop_close: %s\n", uv_strerror(rc));
    return left || rc ? -1 : 0;
}

/* ---- selection and run ------------------------------------------------- */

static int passed, failed;

static void run_test(const tl_test_t *t)
{
    int before = tl_failed_checks;
    t->fn();
    if (loop_open && tl_loop_close() != 0) {
        fprintf(stderr, "  %s: its loop did not close clean\n", t->name);
        tl_failed_checks++;
    }
    if (tl_failed_checks == before) {
        passed++;
        printf("ok %s\n", t->name);
    } else {
        failed++;
        printf("FAIL %s\n", t->name);
    }
}

/* Runs the tests of s that are marked in pick (all when pick is NULL). */
static void run_suite(const tl_suite_t *s, const unsigned char *pick)
{
    if (s->setup) {
        const char *skip = s->setup();
        if (skip) {
            printf("SKIP %s: %s\n", s->name, skip);
            return;
        }
    }
    for (size_t i = 0; s->tests[i].name; i++)
        if (!pick || pick[i])
            run_test(&s->tests[i]);
    if (s->teardown)
        s->teardown();
}

static size_t suite_size(const tl_suite_t *s)
{
    size_t n = 0;
    while (s->tests[n].name)
        n++;
    return n;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* "ok" lines in step with stderr */
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t k = 0; k < NSUITES; k++)
            for (size_t i = 0; suites[k]->tests[i].name; i++)
                printf("%s %s\n", suites[k]->name, suites[k]->tests[i].name);
        return 0;
    }

    /* pick[k] marks the chosen tests of suite k; NULL: none chosen. */
    unsigned char *pick[NSUITES] = {0};
    int status = 0;
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (size_t k = 0; k < NSUITES; k++) {
            const tl_suite_t *s = suites[k];
            size_t n = suite_size(s);
            int whole = !strcmp(argv[a], s->name);
            for (size_t i = 0; i < n; i++) {
                if (!whole && strcmp(argv[a], s->tests[i].name))
                    continue;
                if (!pick[k] && !(pick[k] = calloc(n, 1))) {
                    fprintf(stderr, "unit_runner: out of memory\n");
                    return 2;
                }
                pick[k][i] = 1;
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "unit_runner: no suite or test named %s (see --list)\n", argv[a]);
            status = 2;
        }
    }
    if (status == 0) {
        for (size_t k = 0; k < NSUITES; k++)
            if (argc == 1 || pick[k])
                run_suite(suites[k], pick[k]);
        printf("%d passed, %d failed\n", passed, failed);
        status = failed ? 1 : 0;
    }
    for (size_t k = 0; k < NSUITES; k++)
        free(pick[k]);
    return status;
}
