/* L7 cmd/cmd_test: `siolua test APP_DIR`. Builds the server through the
 * composition root as `siolua run` does (compose.c), listens on 127.0.0.1
 * with an ephemeral port, then has the Lua layer (lua_test.c) hand the test
 * files to lua/siolua/test.lua, which runs them in handler coroutines of
 * the app's own Lua state, against the live server, with the Lua client
 * (sio.client). When the Lua side reports the totals, the server shuts
 * down gracefully and the loop ends with nothing left open. */
#include "cmd/cmd_test.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/log.h"
#include "cmd/compose.h"
#include "lua/lua_test.h"

static const char usage[] =
    "Usage: siolua test APP_DIR [options]\n"
    "\n"
    "Runs the app in APP_DIR on an ephemeral port of 127.0.0.1 (no file\n"
    "watching), then every APP_DIR/tests/*.lua file, in name order, in the\n"
    "app's Lua state (see docs/lua-api.md, \"siolua test\"). Prints one line\n"
    "per test (\"ok NAME\" or \"FAIL NAME: file:line: message\") and\n"
    "\"N passed, M failed\"; exits 0 when all passed, 1 otherwise.\n"
    "\n"
    "Options:\n"
    "  --set NAME=VALUE   a server option (below), as for `siolua run`\n"
    "  --timeout MS       time limit of each test (default 10000)\n"
    "  --log-level L      debug | info | warn | error | off (default warn)\n"
    "  --log-format F     text (default) | json, as for `siolua run`\n"
    "\n"
    "Server options:\n";

typedef struct runner {
    sl_compose_t c;
    long timeout_ms;
    int finished;            /* the Lua side reported */
    int interrupted;
    long passed, failed;
} runner_t;

static runner_t R;

static const sl_flag_t test_flags[] = {{"--timeout", 1}, {"--help", 0}, {"-h", 0}, {NULL, 0}};

static int test_flag(sl_compose_t *c, const char *a, const char *next)
{
    if (!strcmp(a, "--timeout")) {
        char *end;
        long ms = strtol(next, &end, 10);
        if (*end || end == next || ms <= 0 || ms > 86400000)
            return sl_compose_usage(c, "bad timeout '%s'", next);
        R.timeout_ms = ms;
        return 0;
    }
    fputs(usage, stdout); /* --help */
    sl_options_help(stdout, SL_OPT_TEST);
    exit(0);
}

static int lua_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".lua");
}

/* The tests' outcome means nothing once the server closes under them. */
static void on_signal(sl_compose_t *c, int signum)
{
    (void)c;
    (void)signum;
    R.interrupted = 1;
}

/* From inside Lua: stopping waits for the next loop turn. */
static void tests_finished(void *ud, long passed, long failed)
{
    (void)ud;
    R.passed = passed;
    R.failed = failed;
    R.finished = 1;
    sl_compose_stop_soon(&R.c);
}

static int tests_stopped(void *ud)
{
    (void)ud;
    return R.interrupted;
}

/* Listens, then starts the tests. 0, or 1 after printing why. */
static int start(const char *dir, struct dirent **names, int n)
{
    sl_compose_start(&R.c);
    char where[128], url[160];
    int rc = sl_server_listen(R.c.server, where, sizeof where);
    if (rc) {
        fprintf(stderr, "siolua: cannot listen on 127.0.0.1: %s\n", uv_strerror(rc));
        return 1;
    }
    snprintf(url, sizeof url, "http://%s", where);
    SL_INFO("test", "siolua %s testing %s on %s", SIOLUA_VERSION, R.c.app_dir, url);
    sl_compose_signals(&R.c, 0);
    const char **files = calloc((size_t)n, sizeof *files);
    if (!files)
        return 1;
    for (int i = 0; i < n; i++)
        files[i] = names[i]->d_name;
    sl_app_tests_t t = {
        .base_url = url,
        .dir = dir,
        .names = files,
        .nnames = n,
        .timeout_ms = R.timeout_ms,
        .finish = tests_finished,
        .stopped = tests_stopped,
    };
    if (sl_app_run_tests(R.c.app, &t))
        sl_compose_stop_soon(&R.c);
    free(files);
    return 0;
}

int sl_test_main(int argc, char **argv)
{
    memset(&R, 0, sizeof R);
    R.timeout_ms = 10000;
    sl_log_set_level("warn");
    sl_compose_init(&R.c, SL_OPT_TEST, "siolua test --help");
    int rc = sl_compose_args(&R.c, argc, argv, test_flags, test_flag);
    if (rc)
        return rc;
    snprintf(R.c.settings.http.host, sizeof R.c.settings.http.host, "127.0.0.1");
    R.c.settings.http.port = 0;
    signal(SIGPIPE, SIG_IGN);

    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tests", R.c.app_dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, lua_file, alphasort);
    if (n <= 0) {
        fprintf(stderr, "siolua: no test files (*.lua) in %s\n", dir);
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return 1;
    }
    R.c.on_signal = on_signal;
    int status = sl_compose_build(&R.c, uv_default_loop());
    if (status == 0)
        status = start(dir, names, n);
    if (status)
        sl_compose_stop_soon(&R.c); /* what was built closes */
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);

    uv_run(R.c.loop, UV_RUN_DEFAULT);
    if (sl_compose_free(&R.c))
        SL_WARN("test", "the loop still holds handles at exit");

    if (status)
        return 1;
    if (R.interrupted) {
        fprintf(stderr, "siolua: interrupted\n");
        return 1;
    }
    if (!R.finished) {
        fprintf(stderr, "siolua: the test runner did not finish (see the log above)\n");
        return 1;
    }
    printf("%ld passed, %ld failed\n", R.passed, R.failed);
    fflush(stdout);
    return R.failed ? 1 : 0;
}
