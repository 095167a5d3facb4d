/* L7 cmd/cmd_test: `siolua test APP_DIR`. Builds the server exactly as `siolua
 * run` does (main.c), listens on 127.0.0.1 with an ephemeral port, then
 * hands the test files to lua/siolua/test.lua, which runs them in handler
 * coroutines of the app's own Lua state, against the live server, with the
 * Lua client (sio.client). When the Lua side reports the totals, the server
 * shuts down gracefully and the loop ends with nothing left open. */
#include "cmd/cmd_test.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>
#include <lauxlib.h>
#include <lua.h>

#include "eio/eio.h"
#include "base/log.h"
#include "lua/lua_sio.h"
#include "eio/server.h"
#include "sio/sio.h"

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
    "  --set NAME=VALUE   server option, as for `siolua run`\n"
    "  --timeout MS       time limit of each test (default 10000)\n"
    "  --log-level L      debug | info | warn | error | off (default warn)\n";

#define MAX_SETS 64

typedef struct runner {
    const char *app_dir;
    const char *sets[MAX_SETS];
    int nsets;
    long timeout_ms;
    sl_server_config_t cfg;
    eio_options_t eio;
    sio_options_t sio;

    uv_loop_t *loop;
    sl_server_t *server;
    sl_app_t *app;
    uv_signal_t sig_int, sig_term;
    uv_timer_t stop_timer;
    int finished;            /* the Lua side reported */
    int interrupted;
    long passed, failed;
} runner_t;

static runner_t R;

static int fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "siolua: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see siolua test --help)\n");
    return 2;
}

/* The same check as `siolua run`: a name one of the layers knows. */
static int check_set(const char *kv)
{
    char name[128];
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof name)
        return -1;
    memcpy(name, kv, (size_t)(eq - kv));
    name[eq - kv] = '\0';
    sl_server_config_t cfg = R.cfg;
    eio_options_t eo = R.eio;
    sio_options_t so = R.sio;
    int ok = sl_server_config_set(&cfg, name, eq + 1) == 0 || eio_options_set(&eo, name, eq + 1) == 0 ||
             sio_options_set(&so, name, eq + 1) == 0 || !strcmp(name, "serveClient") ||
             !strcmp(name, "luaInstructionBudget") || !strcmp(name, "luaMemoryLimit") ||
             !strcmp(name, "fetchCaFile");
    if (!ok || R.nsets == MAX_SETS)
        return -1;
    /* Options read before the app starts (HTTP limits) take effect now. */
    R.cfg = cfg;
    R.eio = eo;
    R.sio = so;
    R.sets[R.nsets++] = kv;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (a[0] != '-') {
            if (R.app_dir)
                return fail_usage("unexpected argument '%s'", a);
            R.app_dir = a;
            continue;
        }
        if (strcmp(a, "--set") && strcmp(a, "--timeout") && strcmp(a, "--log-level"))
            return fail_usage("unknown option '%s'", a);
        if (!next)
            return fail_usage("option '%s' needs a value", a);
        i++;
        if (!strcmp(a, "--set")) {
            if (check_set(next))
                return fail_usage("bad option '%s'", next);
        } else if (!strcmp(a, "--timeout")) {
            char *end;
            long ms = strtol(next, &end, 10);
            if (*end || end == next || ms <= 0 || ms > 86400000)
                return fail_usage("bad timeout '%s'", next);
            R.timeout_ms = ms;
        } else if (sl_log_set_level(next)) { /* --log-level */
            return fail_usage("bad log level '%s'", next);
        }
    }
    if (!R.app_dir)
        return fail_usage("%s", "missing APP_DIR");
    struct stat st;
    if (stat(R.app_dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "siolua: app directory '%s' not found\n", R.app_dir);
        return 2;
    }
    return 0;
}

static int lua_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".lua");
}

/* ---- stopping ----------------------------------------------------------- */

static void on_shutdown_done(sl_server_t *srv)
{
    (void)srv;
    /* Closes the Lua state: the finalizers of the test clients' sockets
     * drop whatever is still open. */
    sl_app_free(R.app);
    R.app = NULL;
    uv_close((uv_handle_t *)&R.sig_int, NULL);
    uv_close((uv_handle_t *)&R.sig_term, NULL);
    uv_close((uv_handle_t *)&R.stop_timer, NULL);
}

/* Outside any Lua call: shut the server down as SIGTERM does in `run`. */
static void stop_cb(uv_timer_t *t)
{
    (void)t;
    if (!R.app)
        return;
    sl_app_shutdown(R.app);
    sl_server_shutdown(R.server, on_shutdown_done);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    R.interrupted = 1;
    uv_timer_start(&R.stop_timer, stop_cb, 0, 0);
}

/* finish(passed, failed): called once by siolua.test when the last test is
 * over. Never stops anything from inside Lua: a timer does it next turn. */
static int l_finish(lua_State *L)
{
    R.passed = (long)luaL_checkinteger(L, 1);
    R.failed = (long)luaL_checkinteger(L, 2);
    R.finished = 1;
    uv_timer_start(&R.stop_timer, stop_cb, 0, 0);
    return 0;
}

/* stopped(): true once the run is being interrupted (SIGINT/SIGTERM): the
 * server is closing under the tests, so their outcome means nothing. */
static int l_stopped(lua_State *L)
{
    lua_pushboolean(L, R.interrupted);
    return 1;
}

/* ---- starting the tests --------------------------------------------------- */

/* require("siolua.test")._run(env) in a new handler. */
static int start_tests(sl_lua_t *rt, const char *base_url, struct dirent **names, int n)
{
    lua_State *L = sl_lua_state(rt);
    sl_lua_push_module(rt, L);
    lua_pushstring(L, base_url);
    lua_setfield(L, -2, "test_url");
    lua_pop(L, 1);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "siolua.test");
    if (sl_lua_pcall(rt, L, 1, 1, "require 'siolua.test'"))
        return -1;
    lua_getfield(L, -1, "_run");
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        fprintf(stderr, "siolua: siolua.test has no _run\n");
        return -1;
    }
    lua_createtable(L, 0, 6);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushfstring(L, "%s/tests/%s", R.app_dir, names[i]->d_name);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "files");
    lua_pushinteger(L, R.timeout_ms);
    lua_setfield(L, -2, "timeout");
    lua_pushcfunction(L, sl_lua_l_spawn);
    lua_setfield(L, -2, "spawn");
    lua_pushcfunction(L, sl_lua_l_waker);
    lua_setfield(L, -2, "waker");
    lua_pushcfunction(L, l_finish);
    lua_setfield(L, -2, "finish");
    lua_pushcfunction(L, l_stopped);
    lua_setfield(L, -2, "stopped");
    sl_lua_spawn(rt, L, 1, "siolua test runner");
    return 0;
}

static void close_left(uv_handle_t *h, void *ud)
{
    (void)ud;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int sl_test_main(int argc, char **argv)
{
    memset(&R, 0, sizeof R);
    R.timeout_ms = 10000;
    sl_log_set_level("warn");
    sl_server_config_init(&R.cfg);
    eio_options_init(&R.eio);
    sio_options_init(&R.sio);
    eio_options_set(&R.eio, "path", "/socket.io/");
    int rc = parse_args(argc, argv);
    if (rc)
        return rc;
    snprintf(R.cfg.host, sizeof R.cfg.host, "127.0.0.1");
    R.cfg.port = 0;
    R.cfg.limits.max_body_bytes = R.eio.max_http_buffer_size;
    signal(SIGPIPE, SIG_IGN);

    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tests", R.app_dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, lua_file, alphasort);
    if (n <= 0) {
        fprintf(stderr, "siolua: no test files (*.lua) in %s\n", dir);
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return 1;
    }
    snprintf(dir, sizeof dir, "%s/public", R.app_dir);
    if (!realpath(dir, R.cfg.static_root))
        R.cfg.static_root[0] = '\0';

    R.loop = uv_default_loop();
    R.server = sl_server_new(R.loop, &R.cfg);
    const char *lib = getenv("SIOLUA_LUA_DIR");
    R.app = R.server ? sl_app_new(R.loop, R.server, R.app_dir, lib ? lib : SIOLUA_LUA_DIR, &R.eio,
                                  &R.sio)
                     : NULL;
    int status = 1;
    char where[128];
    if (!R.app) {
        fprintf(stderr, "siolua: cannot start the Lua runtime\n");
    } else if (sl_app_load(R.app)) {
        fprintf(stderr, "siolua: %s/main.lua failed to load (see the log above)\n", R.app_dir);
    } else {
        for (int i = 0; i < R.nsets; i++) {
            char name[128];
            const char *eq = strchr(R.sets[i], '=');
            snprintf(name, sizeof name, "%.*s", (int)(eq - R.sets[i]), R.sets[i]);
            sl_app_set_option(R.app, name, eq + 1);
        }
        sl_app_start(R.app);
        rc = sl_server_listen(R.server, where, sizeof where);
        if (rc)
            fprintf(stderr, "siolua: cannot listen on 127.0.0.1: %s\n", uv_strerror(rc));
        else
            status = 0;
    }
    uv_signal_init(R.loop, &R.sig_int);
    uv_signal_init(R.loop, &R.sig_term);
    uv_timer_init(R.loop, &R.stop_timer);
    if (status == 0) {
        char url[160];
        snprintf(url, sizeof url, "http://%s", where);
        SL_INFO("test", "siolua %s testing %s on %s", SIOLUA_VERSION, R.app_dir, url);
        uv_signal_start(&R.sig_int, on_signal, SIGINT);
        uv_signal_start(&R.sig_term, on_signal, SIGTERM);
        if (start_tests(sl_app_lua(R.app), url, names, n))
            uv_timer_start(&R.stop_timer, stop_cb, 0, 0);
    } else if (R.app) {
        uv_timer_start(&R.stop_timer, stop_cb, 0, 0);
    } else {
        uv_close((uv_handle_t *)&R.sig_int, NULL);
        uv_close((uv_handle_t *)&R.sig_term, NULL);
        uv_close((uv_handle_t *)&R.stop_timer, NULL);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);

    uv_run(R.loop, UV_RUN_DEFAULT);
    sl_app_free(R.app);
    /* A server that never listened still holds its listener handle. */
    uv_walk(R.loop, close_left, NULL);
    uv_run(R.loop, UV_RUN_DEFAULT);
    sl_server_free(R.server);
    if (uv_loop_close(R.loop) != 0)
        SL_WARN("test", "the loop still holds handles at exit");

    if (status != 0)
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
