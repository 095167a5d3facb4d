/* Unit tests for lua_rt: handler coroutines, waits, timers, logging and the
 * guards. Each test builds a loop and a runtime, runs Lua snippets, runs the
 * loop until it has nothing left, checks Lua globals and the log (stderr,
 * captured into a temp file), and ends by checking that freeing the runtime
 * leaves no handle (uv_loop_close succeeds). */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "base/log.h"
#include "lua/lua_rt.h"
#include "testlib.h"

/* ---- fixture ----------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t *loop; /* the test's, from tl_loop() */
    uv_timer_t watchdog; /* unref'd: stops a runaway test loop */
    sl_lua_t *rt;
    lua_State *L;
    char dir[64];
    int timed_out;
} fx_t;

static void watchdog_cb(uv_timer_t *h)
{
    fx_t *f = h->data;
    f->timed_out = 1;
    uv_stop(f->loop);
}

static void fx_init_dirs(fx_t *f, const char *app, const char *lib)
{
    memset(f, 0, sizeof *f);
    f->loop = tl_loop();
    uv_timer_init(f->loop, &f->watchdog);
    f->watchdog.data = f;
    uv_timer_start(&f->watchdog, watchdog_cb, 10000, 0);
    uv_unref((uv_handle_t *)&f->watchdog);
    f->rt = sl_lua_new(f->loop, app, lib);
    CHECK(f->rt != NULL);
    f->L = sl_lua_state(f->rt);
}

static void fx_init(fx_t *f)
{
    char dir[] = "/tmp/sl_lua_rt_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    fx_init_dirs(f, dir, NULL);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
}

static void fx_run(fx_t *f)
{
    uv_run(f->loop, UV_RUN_DEFAULT);
    CHECK(!f->timed_out);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void fx_done(fx_t *f)
{
    uv_close((uv_handle_t *)&f->watchdog, NULL);
    sl_lua_free(f->rt);
    uv_run(f->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
    if (f->dir[0])
        nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* Global name as an integer (0 when not a number). */
static long long gint(fx_t *f, const char *name)
{
    lua_getglobal(f->L, name);
    long long v = lua_tointeger(f->L, -1);
    lua_pop(f->L, 1);
    return v;
}

/* Global name as a string, in a static buffer ("<nil>" when not one). */
static const char *gstr(fx_t *f, const char *name)
{
    static char buf[512];
    lua_getglobal(f->L, name);
    const char *s = lua_tostring(f->L, -1);
    snprintf(buf, sizeof buf, "%s", s ? s : "<nil>");
    lua_pop(f->L, 1);
    return buf;
}

#define CHECK_GSTR(f, name, expect) CHECK_STR(gstr(f, name), strlen(gstr(f, name)), expect)

/* Adds fn as siolua.<name>. */
static void reg(fx_t *f, const char *name, lua_CFunction fn)
{
    sl_lua_push_module(f->rt, f->L);
    lua_pushcfunction(f->L, fn);
    lua_setfield(f->L, -2, name);
    lua_pop(f->L, 1);
}

/* ---- log checks (the capture is testlib's tl_stderr_capture_*) ------------------ */

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#define CHECK_HAS(hay, needle)                                                       \
    do {                                                                             \
        if (!strstr((hay), (needle))) {                                              \
            fprintf(stderr, "  %s:%d: log lacks \"%s\"; log was:\n%s\n", __FILE__,   \
                    __LINE__, (needle), (hay));                                      \
            tl_failed_checks++;                                                      \
        }                                                                            \
    } while (0)

/* ---- C functions that wait, for the tests --------------------------------------- */

static struct {
    sl_lua_wait_t *w[8];
    int n;
    int cancels;
} tw;

static void tw_reset(void) { memset(&tw, 0, sizeof tw); }
static void tw_cancel_cb(void *ud)
{
    (void)ud;
    tw.cancels++;
}

/* test_wait(): parks the handler; the test resumes it from C. */
static int l_test_wait(lua_State *L)
{
    sl_lua_wait_t *w = sl_lua_wait_new(L, tw_cancel_cb, NULL);
    tw.w[tw.n++] = w;
    return sl_lua_yield(L);
}

static int push_answer(lua_State *L, void *ud)
{
    lua_pushinteger(L, 42);
    lua_pushstring(L, ud);
    return 2;
}

/* test_wait_now(): the answer is there before the function yields. */
static int l_test_wait_now(lua_State *L)
{
    sl_lua_wait_t *w = sl_lua_wait_new(L, tw_cancel_cb, NULL);
    CHECK_EQ_INT(sl_lua_wait_resume(w, push_answer, "early"), 0);
    return sl_lua_yield(L);
}

/* test_wait_fail(): makes a wait, then raises (as a C function that fails
 * to start its I/O might). */
static int l_test_wait_fail(lua_State *L)
{
    sl_lua_wait_new(L, tw_cancel_cb, NULL);
    return luaL_error(L, "failed after wait_new");
}

static int push_raises(lua_State *L, void *ud)
{
    (void)ud;
    lua_pushinteger(L, 1);
    return luaL_error(L, "cannot build the answer");
}

static void resume_raising_cb(uv_timer_t *h)
{
    CHECK_EQ_INT(tw.n, 1);
    if (tw.n == 1)
        CHECK_EQ_INT(sl_lua_wait_resume(tw.w[--tw.n], push_raises, NULL), 0);
    uv_close((uv_handle_t *)h, NULL);
}

/* test_wake(...): resumes the pending test_wait now, from inside the
 * running handler, with this call's arguments (as lua_sio's waker does). */
struct from_stack {
    lua_State *L;
    int first, n;
};

static int push_from_stack(lua_State *L, void *ud)
{
    struct from_stack *a = ud;
    for (int i = 0; i < a->n; i++) {
        lua_pushvalue(a->L, a->first + i);
        lua_xmove(a->L, L, 1);
    }
    return a->n;
}

static int l_test_wake(lua_State *L)
{
    struct from_stack a = {L, 1, lua_gettop(L)};
    CHECK_EQ_INT(tw.n, 1);
    if (tw.n == 1)
        lua_pushinteger(L, sl_lua_wait_resume(tw.w[--tw.n], push_from_stack, &a));
    return 1;
}

static void resume_cb(uv_timer_t *h)
{
    CHECK_EQ_INT(tw.n, 1);
    if (tw.n == 1)
        CHECK_EQ_INT(sl_lua_wait_resume(tw.w[--tw.n], push_answer, "hi"), 0);
    uv_close((uv_handle_t *)h, NULL);
}

static void cancel_cb_timer(uv_timer_t *h)
{
    CHECK_EQ_INT(tw.n, 1);
    if (tw.n == 1)
        sl_lua_wait_cancel(tw.w[--tw.n], NULL);
    uv_close((uv_handle_t *)h, NULL);
}

/* ---- tests ------------------------------------------------------------------- */

static void require_finds_modules_in_app_and_lib_dirs(void)
{
    char app[] = "/tmp/sl_lua_app_XXXXXX", lib[] = "/tmp/sl_lua_lib_XXXXXX";
    CHECK(mkdtemp(app) && mkdtemp(lib));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/pkg", lib);
    mkdir(sub, 0700);
    write_file(app, "appmod.lua", "return { name = 'app' }\n");
    write_file(app, "both.lua", "return 'from app'\n");
    write_file(lib, "both.lua", "return 'from lib'\n");
    write_file(lib, "libmod.lua", "return { name = 'lib' }\n");
    write_file(lib, "pkg/init.lua", "return { name = 'pkg' }\n");

    fx_t f;
    fx_init_dirs(&f, app, lib);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "r = require('appmod').name .. ',' .. require('libmod').name .. ',' ..\n"
                                   "    require('pkg').name .. ',' .. require('both')\n"
                                   "local p = package.path\n"
                                   "order = (p:find('/sl_lua_app_', 1, true) < p:find('/sl_lua_lib_', 1, true))"
                                   " and 'ok' or 'bad'\n",
                                   "=req"),
                 0);
    CHECK_GSTR(&f, "r", "app,lib,pkg,from app");
    CHECK_GSTR(&f, "order", "ok");
    fx_done(&f);
    nftw(app, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    nftw(lib, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void require_cjson_and_siolua_work(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local cjson = require 'cjson'\n"
                                   "j = cjson.encode({a = 'b'})\n"
                                   "d = cjson.decode('[1,2,3]')[3]\n"
                                   "local sio = require 'siolua'\n"
                                   "same = (sio == require('siolua')) and type(sio.set_timeout) == 'function'\n"
                                   "mod = sio\n",
                                   "=cj"),
                 0);
    CHECK_GSTR(&f, "j", "{\"a\":\"b\"}");
    CHECK_EQ_INT(gint(&f, "d"), 3);
    lua_getglobal(f.L, "same");
    CHECK(lua_toboolean(f.L, -1));
    lua_pop(f.L, 1);
    /* The C accessor pushes the very table require returns. */
    sl_lua_push_module(f.rt, f.L);
    lua_getglobal(f.L, "mod");
    CHECK(lua_rawequal(f.L, -1, -2));
    lua_pop(f.L, 2);
    fx_done(&f);
}

static void io_is_the_standard_io(void)
{
    fx_t f;
    fx_init(&f);
    char code[512];
    snprintf(code, sizeof code,
             "local fp = assert(io.open('%s/x.txt', 'w'))\n"
             "fp:write('hello') fp:close()\n"
             "local fp2 = io.open('%s/x.txt') got = fp2:read('a') fp2:close()\n"
             "std = (io == require 'io') and io.type(io.stdout) == 'file' and 'yes' or 'no'\n",
             f.dir, f.dir);
    CHECK_EQ_INT(sl_lua_run_string(f.rt, code, "=io"), 0);
    CHECK_GSTR(&f, "got", "hello");
    CHECK_GSTR(&f, "std", "yes");
    fx_done(&f);
}

static void set_timeout_fires_in_time_order_with_args(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "order = ''\n"
                                   "local function add(s, t) order = order .. s .. (t or '') end\n"
                                   "sio.set_timeout(30, add, 'd')\n"
                                   "sio.set_timeout(10, add, 'b', '+')\n"
                                   "sio.set_timeout(0, add, 'a')\n"
                                   "sio.set_timeout(10, add, 'c')\n"
                                   "local t = sio.set_timeout(5, function() end)\n"
                                   "pending = tostring(t)\n",
                                   "=order"),
                 0);
    CHECK_GSTR(&f, "order", "");
    fx_run(&f);
    CHECK_GSTR(&f, "order", "ab+cd");
    CHECK_GSTR(&f, "pending", "siolua.timer (pending)");
    fx_done(&f);
}

static void timer_cancel_prevents_firing_and_is_idempotent(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "fired = ''\n"
                                   "local t1 = sio.set_timeout(10, function() fired = fired .. '1' end)\n"
                                   "local t2 = sio.set_timeout(10, function() fired = fired .. '2' end)\n"
                                   "local t3 = sio.set_timeout(10, function() fired = fired .. '3' end)\n"
                                   "first = t1:cancel() second = t1:cancel()\n"
                                   "sio.clear_timeout(t2) sio.clear_timeout(nil)\n"
                                   "act = tostring(t1:active()) .. tostring(t3:active())\n"
                                   "do local t4 <close> = sio.set_timeout(1, function() fired = fired .. '4' end) end\n"
                                   "sio.set_timeout(20, function() late = tostring(t3:active()) .. tostring(t3:cancel()) end)\n",
                                   "=cancel"),
                 0);
    fx_run(&f);
    CHECK_GSTR(&f, "fired", "3");
    lua_getglobal(f.L, "first");
    CHECK(lua_toboolean(f.L, -1));
    lua_getglobal(f.L, "second");
    CHECK(!lua_toboolean(f.L, -1));
    lua_pop(f.L, 2);
    CHECK_GSTR(&f, "act", "falsetrue");
    CHECK_GSTR(&f, "late", "falsefalse");
    fx_done(&f);
}

static void dropped_timer_object_still_fires(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "sio.set_timeout(5, function(x) fired = x end, 7)\n"
                                   "collectgarbage() collectgarbage()\n",
                                   "=drop"),
                 0);
    lua_gc(f.L, LUA_GCCOLLECT);
    fx_run(&f);
    CHECK_EQ_INT(gint(&f, "fired"), 7);
    fx_done(&f);
}

static void set_interval_fires_n_times_then_cancel(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "n = 0\n"
                                   "local t\n"
                                   "t = sio.set_interval(2, function(step)\n"
                                   "  n = n + step\n"
                                   "  if n == 5 then t:cancel() end\n"
                                   "end, 1)\n",
                                   "=interval"),
                 0);
    fx_run(&f); /* ends only because the interval cancelled itself */
    CHECK_EQ_INT(gint(&f, "n"), 5);
    fx_done(&f);
}

static void sleep_resumes_handler_after_its_timeout(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "order = ''\n"
                                   "sio.set_timeout(0, function()\n"
                                   "  order = order .. 'a'\n"
                                   "  local t0 = sio.monotonic()\n"
                                   "  local r = sio.sleep(30)\n"
                                   "  elapsed = sio.monotonic() - t0\n"
                                   "  order = order .. 'c' .. tostring(r)\n"
                                   "end)\n"
                                   "sio.set_timeout(10, function() order = order .. 'b' end)\n"
                                   "zero = 'x'\n",
                                   "=sleep"),
                 0);
    /* sleep(0) never continues synchronously: the loop resumes it. */
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "zero = zero .. 'y' require('siolua').sleep(0) zero = zero .. 'z'",
                                   "=zero"),
                 0);
    CHECK_GSTR(&f, "zero", "xy");
    fx_run(&f);
    CHECK_GSTR(&f, "zero", "xyz");
    CHECK_GSTR(&f, "order", "abctrue");
    lua_getglobal(f.L, "elapsed");
    CHECK(lua_tonumber(f.L, -1) >= 25);
    lua_pop(f.L, 1);
    fx_done(&f);
}

static void sleep_zero_loop_does_not_starve_timers(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "spins = 0\n"
                                   "sio.set_timeout(0, function()\n"
                                   "  while not stop do sio.sleep(0) spins = spins + 1 end\n"
                                   "end)\n"
                                   "sio.set_timeout(5, function() stop = true end)\n",
                                   "=spin"),
                 0);
    fx_run(&f); /* ends only if the 5 ms timer got its turn */
    CHECK(gint(&f, "spins") > 0);
    fx_done(&f);
}

static void main_file_may_sleep(void)
{
    fx_t f;
    fx_init(&f);
    write_file(f.dir, "main.lua",
               "local sio = require 'siolua'\n"
               "state = 'before'\n"
               "sio.sleep(5)\n"
               "state = 'after'\n");
    char path[128];
    snprintf(path, sizeof path, "%s/main.lua", f.dir);
    CHECK_EQ_INT(sl_lua_run_file(f.rt, path), 0);
    CHECK_GSTR(&f, "state", "before");
    fx_run(&f);
    CHECK_GSTR(&f, "state", "after");
    fx_done(&f);
}

static void handler_error_is_one_log_line_and_next_handler_runs(void)
{
    fx_t f;
    fx_init(&f);
    tl_stderr_capture_start();
    lua_State *L = f.L;
    const char *code = "local a = ...\n"
                       "error('boom ' .. a)\n";
    CHECK_EQ_INT(luaL_loadbuffer(L, code, strlen(code), "@handlers.lua"), LUA_OK);
    lua_pushstring(L, "x");
    int top = lua_gettop(L);
    CHECK_EQ_INT(sl_lua_spawn(f.rt, L, 1, "'chat' handler"), -1);
    CHECK_EQ_INT(lua_gettop(L), top - 2);
    CHECK_EQ_INT(luaL_loadstring(L, "ran = 'yes'"), LUA_OK);
    CHECK_EQ_INT(sl_lua_spawn(f.rt, L, 0, "next handler"), 0);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "[lua] lua error in 'chat' handler: handlers.lua:2: boom x");
    CHECK_EQ_INT(lines(log), 1);
    CHECK_GSTR(&f, "ran", "yes");
    free(log);
    fx_done(&f);
}

static void error_in_interval_callback_keeps_interval_running(void)
{
    fx_t f;
    fx_init(&f);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "n = 0\n"
                                   "local t\n"
                                   "t = sio.set_interval(1, function()\n"
                                   "  n = n + 1\n"
                                   "  if n == 4 then t:cancel() end\n"
                                   "  error('tick ' .. n)\n"
                                   "end)\n",
                                   "=tick"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_EQ_INT(gint(&f, "n"), 4);
    CHECK_EQ_INT(tl_count(log, "lua error in set_interval callback (tick:4): tick:7: tick "), 4);
    CHECK_HAS(log, "tick:7: tick 4");
    CHECK_EQ_INT(lines(log), 4);
    free(log);
    fx_done(&f);
}

static void syntax_error_in_main_file_returns_minus_one_with_file_line(void)
{
    fx_t f;
    fx_init(&f);
    write_file(f.dir, "main.lua", "local x = 1\nlocal y = = 2\n");
    char path[128], expect[200];
    snprintf(path, sizeof path, "%s/main.lua", f.dir);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_file(f.rt, path), -1);
    snprintf(path, sizeof path, "%s/missing.lua", f.dir);
    CHECK_EQ_INT(sl_lua_run_file(f.rt, path), -1);
    char *log = tl_stderr_capture_end();
    snprintf(expect, sizeof expect, "%s/main.lua:2: unexpected symbol near '='", f.dir);
    CHECK_HAS(log, expect);
    CHECK_HAS(log, "cannot open");
    CHECK_EQ_INT(lines(log), 2);
    free(log);
    fx_done(&f);
}

static void runtime_error_in_main_file_returns_minus_one(void)
{
    fx_t f;
    fx_init(&f);
    write_file(f.dir, "main.lua", "local t = nil\nreturn t.x\n");
    char path[128], expect[200];
    snprintf(path, sizeof path, "%s/main.lua", f.dir);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_file(f.rt, path), -1);
    char *log = tl_stderr_capture_end();
    snprintf(expect, sizeof expect, "lua error in %s/main.lua: %s/main.lua:2: attempt to index a nil value",
             f.dir, f.dir);
    CHECK_HAS(log, expect);
    CHECK_EQ_INT(lines(log), 1);
    free(log);
    fx_done(&f);
}

static void c_wait_resumed_from_uv_timer_returns_values(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait", l_test_wait);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local a, b = sio.test_wait()\n"
                                   "got = a .. ':' .. b\n",
                                   "=wait"),
                 0);
    CHECK_EQ_INT(tw.n, 1);
    CHECK_GSTR(&f, "got", "<nil>");
    uv_timer_t t;
    uv_timer_init(f.loop, &t);
    uv_timer_start(&t, resume_cb, 5, 0);
    fx_run(&f);
    CHECK_GSTR(&f, "got", "42:hi");
    CHECK_EQ_INT(tw.cancels, 0);
    fx_done(&f);
}

static void c_wait_push_error_resumes_with_nil_message(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait", l_test_wait);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local a, b = require('siolua').test_wait()\n"
                                   "got = tostring(a) .. ':' .. tostring(b)\n",
                                   "=pusherr"),
                 0);
    uv_timer_t t;
    uv_timer_init(f.loop, &t);
    uv_timer_start(&t, resume_raising_cb, 1, 0);
    tl_stderr_capture_start();
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_GSTR(&f, "got", "nil:cannot build the answer");
    CHECK_HAS(log, "cannot deliver the results of its wait: cannot build the answer");
    CHECK_EQ_INT(lines(log), 1);
    free(log);
    fx_done(&f);
}

static void c_wait_resumed_synchronously_from_another_handler(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait", l_test_wait);
    reg(&f, "test_wake", l_test_wake);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "order = ''\n"
                                   "sio.set_timeout(0, function()\n"
                                   "  order = order .. 'w'\n"
                                   "  local a, b = sio.test_wait()\n"
                                   "  order = order .. 'r' .. a .. b\n"
                                   "  sio.sleep(1)\n"
                                   "  order = order .. 'z'\n"
                                   "end)\n"
                                   "sio.set_timeout(2, function()\n"
                                   "  order = order .. 'k'\n"
                                   "  rc = sio.test_wake('x', 'y')\n"
                                   "  order = order .. 'b'\n"
                                   "end)\n",
                                   "=nested"),
                 0);
    fx_run(&f);
    /* The waiter ran nested inside the waker until its next wait. */
    CHECK_GSTR(&f, "order", "wkrxybz");
    CHECK_EQ_INT(gint(&f, "rc"), 0);
    CHECK_EQ_INT(tw.cancels, 0);
    fx_done(&f);
}

static void c_wait_cancel_resumes_with_nil_cancelled(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait", l_test_wait);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local a, b = sio.test_wait()\n"
                                   "got = tostring(a) .. ':' .. tostring(b)\n",
                                   "=cancel"),
                 0);
    uv_timer_t t;
    uv_timer_init(f.loop, &t);
    uv_timer_start(&t, cancel_cb_timer, 5, 0);
    fx_run(&f);
    CHECK_GSTR(&f, "got", "nil:cancelled");
    CHECK_EQ_INT(tw.cancels, 0); /* the owner cancelled: not told again */
    fx_done(&f);
}

static void c_wait_resumed_before_yield_resumes_later(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait_now", l_test_wait_now);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local a, b = sio.test_wait_now()\n"
                                   "got = a .. ':' .. b\n",
                                   "=now"),
                 0);
    CHECK_GSTR(&f, "got", "<nil>");
    fx_run(&f);
    CHECK_GSTR(&f, "got", "42:early");
    fx_done(&f);
}

static void c_function_raising_after_wait_new_cancels_its_wait(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait_fail", l_test_wait_fail);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local ok, err = pcall(sio.test_wait_fail)\n"
                                   "msg = err\n"
                                   "sio.sleep(1)\n"
                                   "after = 'yes'\n",
                                   "=fail"),
                 0);
    CHECK_EQ_INT(tw.cancels, 1); /* the new wait (sleep) ended the stale one */
    fx_run(&f);
    CHECK_GSTR(&f, "msg", "failed after wait_new");
    CHECK_GSTR(&f, "after", "yes");
    /* Same, but the handler just returns. */
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "pcall(require('siolua').test_wait_fail)", "=fail2"), 0);
    CHECK_EQ_INT(tw.cancels, 2);
    fx_done(&f);
}

static void pcall_around_yielding_call_works(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local ok, r = pcall(sio.sleep, 3)\n"
                                   "a = tostring(ok) .. tostring(r)\n"
                                   "local ok2, e = pcall(function() sio.sleep(2) error('late', 0) end)\n"
                                   "b = tostring(ok2) .. e\n"
                                   "local ok3, e3 = xpcall(function() sio.sleep(1) error('x', 0) end,\n"
                                   "                       function(m) return 'handled ' .. m end)\n"
                                   "c = e3\n",
                                   "=pcall"),
                 0);
    fx_run(&f);
    CHECK_GSTR(&f, "a", "truetrue");
    CHECK_GSTR(&f, "b", "falselate");
    CHECK_GSTR(&f, "c", "handled x");
    fx_done(&f);
}

static void wait_outside_handler_raises_clear_error(void)
{
    fx_t f;
    fx_init(&f);
    /* The main thread: a synchronous call. */
    tl_stderr_capture_start();
    CHECK_EQ_INT(luaL_loadstring(f.L, "require('siolua').sleep(1)"), LUA_OK);
    CHECK_EQ_INT(sl_lua_pcall(f.rt, f.L, 0, 0, "sync call"), -1);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "lua error in sync call: [string \"require('siolua').sleep(1)\"]:1: cannot wait here: "
                   "not inside a siolua handler coroutine");
    CHECK_EQ_INT(lines(log), 1);
    free(log);
    /* A coroutine the app made, and a comparator called from C. */
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local ok, e = pcall(coroutine.wrap(function() sio.sleep(1) end))\n"
                                   "a = e\n"
                                   "local ok2, e2 = pcall(table.sort, {3, 2, 1}, function(x, y) sio.sleep(1) return x < y end)\n"
                                   "b = e2\n",
                                   "=ctx"),
                 0);
    CHECK_GSTR(&f, "a", "ctx:2: cannot wait here: not inside a siolua handler coroutine");
    const char *b = gstr(&f, "b");
    CHECK(strstr(b, "ctx:4: cannot wait here: not inside a siolua handler coroutine") == b);
    fx_run(&f);
    fx_done(&f);
}

static void sl_lua_pcall_returns_results(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(luaL_loadstring(f.L, "return 1 + ..., 'two'"), LUA_OK);
    lua_pushinteger(f.L, 41);
    int top = lua_gettop(f.L);
    CHECK_EQ_INT(sl_lua_pcall(f.rt, f.L, 1, 2, "sum"), 0);
    CHECK_EQ_INT(lua_gettop(f.L), top);
    CHECK_EQ_INT(lua_tointeger(f.L, -2), 42);
    CHECK_STR(lua_tostring(f.L, -1), 3, "two");
    lua_pop(f.L, 2);
    fx_done(&f);
}

/* ---- the guards: what both the instruction budget and the time limit do ------- */

typedef enum { BY_BUDGET, BY_TIME } guard_t;

/* Turns the one guard on (small: stops an endless loop quickly), or off. */
static void guard_set(fx_t *f, guard_t g, int on)
{
    if (g == BY_BUDGET) {
        sl_lua_set_time_limit(f->rt, 0);
        sl_lua_set_budget(f->rt, on ? 100000 : 0);
    } else {
        CHECK_EQ_INT(sl_lua_set_time_limit(f->rt, on ? 100 : 0), 0);
    }
}

static const char *stopped(guard_t g) { return g == BY_BUDGET ? "instruction budget exceeded" : "time limit exceeded"; }

#define CHECK_STOPPED(log, g, prefix)                                     \
    do {                                                                  \
        char want_[200];                                                  \
        snprintf(want_, sizeof want_, "%s%s", (prefix), stopped(g));      \
        CHECK_HAS((log), want_);                                          \
        CHECK_EQ_INT(lines(log), 1);                                      \
    } while (0)

static void runaway_is_aborted_and_next_handler_runs(guard_t g)
{
    fx_t f;
    fx_init(&f);
    guard_set(&f, g, 1);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "sio.set_timeout(0, function()\n"
                                   "  while true do end\n"
                                   "end)\n"
                                   "sio.set_timeout(1, function() later = 'ran' end)\n",
                                   "=runaway"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_STOPPED(log, g, "lua error in set_timeout callback (runaway:2): runaway:3: ");
    CHECK_GSTR(&f, "later", "ran");
    free(log);
    fx_done(&f);
}

static void guard_cannot_be_swallowed_by_pcall(guard_t g)
{
    fx_t f;
    fx_init(&f);
    guard_set(&f, g, 1);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "caught = 0\n"
                                   "while true do\n"
                                   "  local ok = pcall(function() while true do end end)\n"
                                   "  if not ok then caught = caught + 1 end\n"
                                   "end\n",
                                   "=swallow"),
                 -1);
    char *log = tl_stderr_capture_end();
    CHECK_STOPPED(log, g, "lua error in swallow: swallow:3: ");
    CHECK_EQ_INT(gint(&f, "caught"), 0);
    free(log);
    /* The state is fine afterwards, and the guard can be turned off. */
    guard_set(&f, g, 0);
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "local x = 0 for i = 1, 300000 do x = x + i end big = x", "=off"), 0);
    CHECK_EQ_INT(gint(&f, "big"), 45000150000LL);
    fx_done(&f);
}

/* A loop in a coroutine the handler resumes (wrap, resume, one resumed by
 * another) is stopped where it loops, and nothing after it runs. */
static void guard_covers_coroutines_made_by_the_app(guard_t g)
{
    static const char *const code[] = {
        "local co = coroutine.wrap(function()\n"
        "  while true do end\n"
        "end)\n"
        "pcall(co)\n"
        "after = 'reached'\n",
        "local co = coroutine.create(function()\n"
        "  while true do end\n"
        "end)\n"
        "local ok, e = coroutine.resume(co)\n"
        "after = 'reached'\n",
        "local inner = coroutine.create(function() local x = 0\n"
        "  while true do x = x + 1 end\n"
        "end)\n"
        "local outer = coroutine.wrap(function() coroutine.resume(inner) after = 'in outer' end)\n"
        "pcall(outer) after = 'reached'\n",
    };
    for (size_t i = 0; i < sizeof code / sizeof code[0]; i++) {
        fx_t f;
        fx_init(&f);
        guard_set(&f, g, 1);
        tl_stderr_capture_start();
        CHECK_EQ_INT(sl_lua_run_string(f.rt, code[i], "=inner"), -1);
        char *log = tl_stderr_capture_end();
        CHECK_STOPPED(log, g, "lua error in inner: inner:2: ");
        CHECK_GSTR(&f, "after", "<nil>");
        free(log);
        fx_done(&f);
    }
}

static void runaway_handler_is_aborted_and_next_handler_runs(void) { runaway_is_aborted_and_next_handler_runs(BY_BUDGET); }
static void budget_cannot_be_swallowed_by_pcall(void) { guard_cannot_be_swallowed_by_pcall(BY_BUDGET); }
static void budget_covers_coroutines_made_by_the_app(void) { guard_covers_coroutines_made_by_the_app(BY_BUDGET); }
static void time_limit_stops_runaway_handler_and_next_handler_runs(void) { runaway_is_aborted_and_next_handler_runs(BY_TIME); }
static void time_limit_cannot_be_swallowed_by_pcall(void) { guard_cannot_be_swallowed_by_pcall(BY_TIME); }
static void time_limit_covers_coroutines_made_by_the_app(void) { guard_covers_coroutines_made_by_the_app(BY_TIME); }

static void budget_counts_per_resume_not_cumulatively(void)
{
    fx_t f;
    fx_init(&f);
    sl_lua_set_time_limit(f.rt, 0);
    sl_lua_set_budget(f.rt, 200000);
    tl_stderr_capture_start();
    /* ~60-90k instructions per resume, ~10 times the budget in all. */
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "for k = 1, 20 do\n"
                                   "  local x = 0\n"
                                   "  for i = 1, 30000 do x = x + i end\n"
                                   "  sio.sleep(k % 2)\n"
                                   "end\n"
                                   "done = 'yes'\n",
                                   "=perresume"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_EQ_INT(lines(log), 0);
    CHECK_GSTR(&f, "done", "yes");
    free(log);
    fx_done(&f);
}

/* ---- the time limit (the default guard) ---------------------------------------- */

/* The default: 1000 ms, no instruction budget. */
static void default_guard_is_the_time_limit(void)
{
    fx_t f;
    fx_init(&f);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "local n = 0\nwhile true do n = n + 1 end\n", "=dflt"), -1);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "lua error in dflt: dflt:2: time limit exceeded");
    CHECK_EQ_INT(lines(log), 1);
    free(log);
    fx_done(&f);
}

/* ~20 ms of CPU per run, 40 runs: several limits in all, never one in a
 * run. Timed by the clock, so a slow (sanitizer) build does no more. */
static void time_limit_counts_per_run_not_cumulatively(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_set_time_limit(f.rt, 300), 0);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "for k = 1, 40 do\n"
                                   "  local t0 = sio.monotonic()\n"
                                   "  while sio.monotonic() - t0 < 20 do end\n"
                                   "  sio.sleep(k % 2)\n"
                                   "end\n"
                                   "done = 'yes'\n",
                                   "=perrun"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_EQ_INT(lines(log), 0);
    CHECK_GSTR(&f, "done", "yes");
    free(log);
    fx_done(&f);
}

static void time_limit_zero_turns_it_off(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_set_time_limit(f.rt, 50), 0);
    CHECK_EQ_INT(sl_lua_set_time_limit(f.rt, 0), 0);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local t0 = sio.monotonic()\n"
                                   "while sio.monotonic() - t0 < 400 do end\n"
                                   "done = 'yes'\n",
                                   "=off"),
                 0);
    char *log = tl_stderr_capture_end();
    CHECK_EQ_INT(lines(log), 0);
    CHECK_GSTR(&f, "done", "yes");
    free(log);
    fx_done(&f);
}

/* Each runtime has its own timer: a runaway in the second one is stopped
 * there, and the first one is not disturbed. */
static void time_limit_with_two_runtimes(void)
{
    fx_t f;
    fx_init(&f);
    sl_lua_t *rt2 = sl_lua_new(f.loop, NULL, NULL);
    CHECK(rt2 != NULL);
    CHECK_EQ_INT(sl_lua_set_time_limit(f.rt, 100), 0);
    CHECK_EQ_INT(sl_lua_set_time_limit(rt2, 100), 0);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(rt2, "while true do end", "=second"), -1);
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "first = 'fine'", "=first"), 0);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "lua error in second: second:1: time limit exceeded");
    CHECK_EQ_INT(lines(log), 1);
    CHECK_GSTR(&f, "first", "fine");
    free(log);
    sl_lua_free(rt2);
    fx_done(&f);
}

/* With both guards on, whichever is reached first stops the run. */
static void budget_and_time_limit_together(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_set_time_limit(f.rt, 100), 0);
    sl_lua_set_budget(f.rt, 100000);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "while true do end", "=both"), -1);
    sl_lua_set_budget(f.rt, 0);
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "local x = 0\nwhile true do x = x + 1 end", "=time"), -1);
    sl_lua_set_budget(f.rt, 1000000000);
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "local x = 0\n\nwhile true do x = x + 1 end", "=time2"), -1);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "lua error in both: both:1: instruction budget exceeded");
    CHECK_HAS(log, "lua error in time: time:2: time limit exceeded");
    CHECK_HAS(log, "lua error in time2: time2:3: time limit exceeded");
    CHECK_EQ_INT(lines(log), 3);
    free(log);
    fx_done(&f);
}

/* coroutine.resume and coroutine.wrap are the runtime's: Lua's results,
 * errors and messages. */
static void coroutine_resume_and_wrap_keep_lua_semantics(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local co = coroutine.create(function(a, b)\n"
                                   "  local c = coroutine.yield(a + b, 'y')\n"
                                   "  error('boom')\n"
                                   "end)\n"
                                   "local r = table.pack(coroutine.resume(co, 1, 2))\n"
                                   "r1 = table.concat({tostring(r[1]), r[2], r[3], r.n}, ',')\n"
                                   "local ok, e = coroutine.resume(co, 3)\n"
                                   "r2 = tostring(ok) .. ',' .. e .. ',' .. coroutine.status(co)\n"
                                   "local ok2, e2 = coroutine.resume(co)\n"
                                   "r3 = tostring(ok2) .. ',' .. e2\n"
                                   "local w = coroutine.wrap(function(x) local y = coroutine.yield(x * 2) return y, 'end' end)\n"
                                   "local a = w(21)\n"
                                   "local b, c = w('back')\n"
                                   "r4 = a .. ',' .. b .. ',' .. c\n"
                                   "local ok3, e3 = pcall(w)\n"
                                   "r5 = e3\n"
                                   "local w2 = coroutine.wrap(function() error('bad') end)\n"
                                   "local ok4, e4 = pcall(function() w2() end)\n"
                                   "r6 = e4\n"
                                   "local obj = {}\n"
                                   "local ok5, e5 = pcall(coroutine.wrap(function() error(obj) end))\n"
                                   "r7 = tostring(e5 == obj)\n"
                                   "local closed = 'no'\n"
                                   "local w3 = coroutine.wrap(function()\n"
                                   "  local t <close> = setmetatable({}, {__close = function() closed = 'yes' end})\n"
                                   "  error('x')\n"
                                   "end)\n"
                                   "pcall(w3)\n"
                                   "r8 = closed\n"
                                   "local self\n"
                                   "self = coroutine.create(function() return coroutine.resume(self) end)\n"
                                   "local _, ok6, e6 = coroutine.resume(self)\n"
                                   "r9 = tostring(ok6) .. ',' .. e6\n"
                                   "r10 = select('#', coroutine.resume(coroutine.create(function() end)))\n"
                                   "local ok7, e7 = pcall(coroutine.wrap, 5)\n"
                                   "r11 = e7\n",
                                   "=sem"),
                 0);
    CHECK_GSTR(&f, "r1", "true,3,y,3");
    CHECK_GSTR(&f, "r2", "false,sem:3: boom,dead");
    CHECK_GSTR(&f, "r3", "false,cannot resume dead coroutine");
    CHECK_GSTR(&f, "r4", "42,back,end");
    CHECK_GSTR(&f, "r5", "cannot resume dead coroutine");
    CHECK_GSTR(&f, "r6", "sem:18: sem:17: bad");
    CHECK_GSTR(&f, "r7", "true");
    CHECK_GSTR(&f, "r8", "yes");
    CHECK_GSTR(&f, "r9", "false,cannot resume non-suspended coroutine");
    CHECK_EQ_INT(gint(&f, "r10"), 1);
    CHECK_GSTR(&f, "r11", "bad argument #1 to 'coroutine.wrap' (function expected, got number)");
    fx_done(&f);
}

static void memory_cap_fails_handler_and_state_stays_usable(void)
{
    fx_t f;
    fx_init(&f);
    size_t base = sl_lua_memory(f.rt);
    CHECK(base > 10000);
    sl_lua_set_memory_limit(f.rt, base + 4 * 1024 * 1024);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "sio.set_timeout(0, function()\n"
                                   "  local t = {} for i = 1, 1e8 do t[i] = i end\n"
                                   "end)\n"
                                   "sio.set_timeout(0, function()\n"
                                   "  local s = string.rep('x', 64 * 1024 * 1024)\n"
                                   "end)\n"
                                   "sio.set_timeout(5, function() after = #string.rep('y', 1000000) end)\n",
                                   "=mem"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "lua error in set_timeout callback (mem:2): mem:3: not enough memory");
    CHECK_HAS(log, "lua error in set_timeout callback (mem:5): mem:6: not enough memory");
    CHECK_EQ_INT(lines(log), 2);
    CHECK_EQ_INT(gint(&f, "after"), 1000000);
    lua_gc(f.L, LUA_GCCOLLECT);
    CHECK(sl_lua_memory(f.rt) < base + 4 * 1024 * 1024);
    free(log);
    fx_done(&f);
}

static void free_with_pending_timers_and_waits_leaves_no_handle(void)
{
    fx_t f;
    fx_init(&f);
    tw_reset();
    reg(&f, "test_wait", l_test_wait);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "sio.set_interval(1000, function() end)\n"
                                   "sio.set_timeout(100000, function() end)\n"
                                   "sio.set_timeout(0, function() sio.sleep(100000) end)\n"
                                   "sio.set_timeout(0, function() sio.test_wait() end)\n",
                                   "=pending"),
                 0);
    uv_run(f.loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(tw.n, 1);
    CHECK_EQ_INT(tw.cancels, 0);
    /* fx_done frees the runtime: the C wait's owner is told, every handle
     * closes, and uv_loop_close must succeed. */
    uv_close((uv_handle_t *)&f.watchdog, NULL);
    sl_lua_free(f.rt);
    CHECK_EQ_INT(tw.cancels, 1);
    uv_run(f.loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
    nftw(f.dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void log_functions_format_and_prefix_caller_location(void)
{
    fx_t f;
    fx_init(&f);
    sl_log_level_t old = sl_log_level;
    sl_log_level = SL_LOG_INFO;
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local log = require('siolua').log\n"
                                   "log.info('user %s has %d items', 'ann', 3)\n"
                                   "log.warn({})\n"
                                   "log.error(42)\n"
                                   "log.debug('hidden')\n"
                                   "local ok, e = pcall(function() log.info('%d', 'x') end)\n"
                                   "bad = e\n",
                                   "=app"),
                 0);
    char *log = tl_stderr_capture_end();
    sl_log_level = old;
    CHECK_HAS(log, "info  [lua] app:2: user ann has 3 items");
    CHECK_HAS(log, "warn  [lua] app:3: table: ");
    CHECK_HAS(log, "error [lua] app:4: 42");
    CHECK(!strstr(log, "hidden"));
    CHECK_EQ_INT(lines(log), 3);
    const char *bad = gstr(&f, "bad");
    CHECK(strstr(bad, "app:6: bad argument #2 to 'string.format'") == bad);
    free(log);
    fx_done(&f);
}

static void bare_coroutine_yield_stops_handler_with_log(void)
{
    fx_t f;
    fx_init(&f);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local t <close> = setmetatable({}, {__close = function() closed = 'yes' end})\n"
                                   "coroutine.yield()\n"
                                   "reached = 'yes'\n",
                                   "=bare"),
                 -1);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "lua error in bare: coroutine.yield() outside a siolua wait");
    CHECK_EQ_INT(lines(log), 1);
    CHECK_GSTR(&f, "reached", "<nil>");
    CHECK_GSTR(&f, "closed", "yes");
    free(log);
    fx_run(&f);
    fx_done(&f);
}

static void coroutine_resume_of_handler_is_refused(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "parked = coroutine.running()\n"
                                   "r = sio.sleep(5)\n",
                                   "=parked"),
                 0);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local ok, e = coroutine.resume(parked)\n"
                                   "res = tostring(ok) .. ':' .. e\n"
                                   "local ok2, e2 = pcall(function() coroutine.close(parked) end)\n"
                                   "cls = e2\n"
                                   "local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)\n"
                                   "local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)\n"
                                   "local _, x = coroutine.resume(co, 1)\n"
                                   "local _, y = coroutine.resume(co, 10)\n"
                                   "plain = gen() + gen() + gen() + x + y\n",
                                   "=other"),
                 0);
    CHECK_GSTR(&f, "res", "false:cannot resume a siolua handler coroutine");
    CHECK_GSTR(&f, "cls", "other:3: cannot close a siolua handler coroutine");
    CHECK_EQ_INT(gint(&f, "plain"), 6 + 2 + 20);
    fx_run(&f);
    lua_getglobal(f.L, "r");
    CHECK(lua_toboolean(f.L, -1));
    lua_pop(f.L, 1);
    fx_done(&f);
}

static void waker_wakes_waiting_handler_and_keeps_values(void)
{
    fx_t f;
    fx_init(&f);
    reg(&f, "waker", sl_lua_l_waker);
    reg(&f, "spawn", sl_lua_l_spawn);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "order = ''\n"
                                   "local w = sio.waker()\n"
                                   "sio.spawn(function()\n"
                                   "  order = order .. 'w'\n"
                                   "  local a, b, c = w:wait()\n"
                                   "  order = order .. 'r' .. a .. tostring(b) .. c\n"
                                   "end)\n"
                                   "order = order .. 'k'\n"
                                   "first = w:wake(1, nil, 3)\n"
                                   "second = w:wake(9)\n"
                                   "order = order .. 'x'\n"
                                   "local a = w:wait()\n" /* already woken: at once */
                                   "again = a\n"
                                   "local w2 = sio.waker()\n"
                                   "w2:wake('early')\n"
                                   "early = w2:wait()\n",
                                   "=waker"),
                 0);
    CHECK_GSTR(&f, "order", "wkx"); /* the woken handler resumes later */
    fx_run(&f);
    CHECK_GSTR(&f, "order", "wkxr1nil3");
    lua_getglobal(f.L, "first");
    CHECK(lua_toboolean(f.L, -1));
    lua_getglobal(f.L, "second");
    CHECK(!lua_toboolean(f.L, -1));
    lua_pop(f.L, 2);
    CHECK_EQ_INT(gint(&f, "again"), 1);
    CHECK_GSTR(&f, "early", "early");
    fx_done(&f);
}

static void lua_spawn_runs_function_in_new_handler(void)
{
    fx_t f;
    fx_init(&f);
    reg(&f, "spawn", sl_lua_l_spawn);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "order = ''\n"
                                   "ok1 = sio.spawn(function(a) order = order .. a sio.sleep(2) order = order .. 'c' end, 'a')\n"
                                   "order = order .. 'b'\n"
                                   "ok2 = sio.spawn(function() error('bad') end)\n",
                                   "=spawn"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_GSTR(&f, "order", "abc");
    lua_getglobal(f.L, "ok1");
    CHECK(lua_toboolean(f.L, -1));
    lua_getglobal(f.L, "ok2");
    CHECK(!lua_toboolean(f.L, -1));
    lua_pop(f.L, 2);
    CHECK_HAS(log, "lua error in function defined at spawn:5: spawn:5: bad");
    CHECK_EQ_INT(lines(log), 1);
    free(log);
    fx_done(&f);
}

static void deep_recursive_spawn_fails_cleanly(void)
{
    fx_t f;
    fx_init(&f);
    reg(&f, "spawn", sl_lua_l_spawn);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "depth = 0\n"
                                   "local function f() depth = depth + 1 sio.spawn(f) end\n"
                                   "f()\n",
                                   "=deep"),
                 0);
    char *log = tl_stderr_capture_end();
    CHECK(gint(&f, "depth") > 10);
    CHECK_EQ_INT(tl_count(log, "stack overflow"), 1);
    CHECK_EQ_INT(lines(log), 1);
    free(log);
    fx_done(&f);
}

static void many_handlers_reuse_pooled_coroutines(void)
{
    fx_t f;
    fx_init(&f);
    lua_State *L = f.L;
    CHECK_EQ_INT(sl_lua_run_string(f.rt, "n = 0 function h(k) n = n + k if k % 3 == 0 then require('siolua').sleep(1) n = n + 1 end end", "=def"), 0);
    lua_gc(L, LUA_GCCOLLECT);
    size_t before = 0;
    for (int i = 1; i <= 3000; i++) {
        lua_getglobal(L, "h");
        lua_pushinteger(L, i);
        CHECK_EQ_INT(sl_lua_spawn(f.rt, L, 1, "h"), 0);
        if (i == 100) {
            fx_run(&f);
            lua_gc(L, LUA_GCCOLLECT);
            before = sl_lua_memory(f.rt);
        }
    }
    fx_run(&f);
    CHECK_EQ_INT(gint(&f, "n"), 3000LL * 3001 / 2 + 1000);
    lua_gc(L, LUA_GCCOLLECT);
    /* Parked coroutines were released again: memory is back near where it was. */
    CHECK(sl_lua_memory(f.rt) < before + 128 * 1024);
    CHECK_EQ_INT(lua_gettop(L), 0);
    fx_done(&f);
}

static void non_string_error_is_logged_with_location(void)
{
    fx_t f;
    fx_init(&f);
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "sio.set_timeout(0, function() error({}) end)\n"
                                   "sio.set_timeout(0, function() error(setmetatable({}, {__tostring = function() return 'custom' end})) end)\n"
                                   "sio.set_timeout(0, function() error('nolevel', 0) end)\n",
                                   "=obj"),
                 0);
    fx_run(&f);
    char *log = tl_stderr_capture_end();
    CHECK_HAS(log, "(obj:2): obj:2: (error object is a table value)");
    CHECK_HAS(log, "(obj:3): obj:3: custom");
    CHECK_HAS(log, "(obj:4): nolevel");
    CHECK_EQ_INT(lines(log), 3);
    free(log);
    fx_done(&f);
}

static void traceback_is_logged_at_debug_level(void)
{
    fx_t f;
    fx_init(&f);
    sl_log_level_t old = sl_log_level;
    sl_log_level = SL_LOG_DEBUG;
    tl_stderr_capture_start();
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local function inner() error('deep') end\n"
                                   "local function outer() inner() end\n"
                                   "outer()\n",
                                   "=tb"),
                 -1);
    char *log = tl_stderr_capture_end();
    sl_log_level = old;
    CHECK_HAS(log, "error [lua] lua error in tb: tb:1: deep");
    CHECK_HAS(log, "debug [lua] stack traceback:");
    CHECK_HAS(log, "in upvalue 'inner'");
    CHECK_EQ_INT(lines(log), 2);
    free(log);
    fx_done(&f);
}

static void now_is_the_wall_clock_in_integer_milliseconds(void)
{
    fx_t f;
    fx_init(&f);
    long long before = (long long)time(NULL) * 1000;
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "now = sio.now()\n"
                                   "kind = math.type(now)\n",
                                   "=now"),
                 0);
    fx_run(&f);
    long long after = (long long)time(NULL) * 1000 + 1000;
    CHECK_GSTR(&f, "kind", "integer");
    CHECK(gint(&f, "now") >= before && gint(&f, "now") <= after);
    fx_done(&f);
}

static void monotonic_is_milliseconds_that_never_go_back(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "local a = sio.monotonic() local b = sio.monotonic()\n"
                                   "mono = b >= a and 'yes' or 'no'\n"
                                   "sio.sleep(20)\n"
                                   "d = math.floor(sio.monotonic() - a)\n",
                                   "=now"),
                 0);
    fx_run(&f);
    CHECK_GSTR(&f, "mono", "yes");
    CHECK(gint(&f, "d") >= 19 && gint(&f, "d") < 2000);
    fx_done(&f);
}

static void bad_timer_arguments_raise(void)
{
    fx_t f;
    fx_init(&f);
    CHECK_EQ_INT(sl_lua_run_string(f.rt,
                                   "local sio = require 'siolua'\n"
                                   "a = select(2, pcall(sio.set_timeout, -1, print))\n"
                                   "b = select(2, pcall(sio.set_timeout, 10, 'nope'))\n"
                                   "c = select(2, pcall(sio.sleep, 0/0))\n",
                                   "=args"),
                 0);
    CHECK(strstr(gstr(&f, "a"), "milliseconds must be a number >= 0") != NULL);
    CHECK(strstr(gstr(&f, "b"), "function expected") != NULL);
    CHECK(strstr(gstr(&f, "c"), "milliseconds must be a number >= 0") != NULL);
    fx_done(&f);
}

TL_SUITE(lua_rt, NULL, NULL,
         TL_TEST(require_finds_modules_in_app_and_lib_dirs),
         TL_TEST(require_cjson_and_siolua_work),
         TL_TEST(io_is_the_standard_io),
         TL_TEST(set_timeout_fires_in_time_order_with_args),
         TL_TEST(timer_cancel_prevents_firing_and_is_idempotent),
         TL_TEST(dropped_timer_object_still_fires),
         TL_TEST(set_interval_fires_n_times_then_cancel),
         TL_TEST(sleep_resumes_handler_after_its_timeout),
         TL_TEST(sleep_zero_loop_does_not_starve_timers),
         TL_TEST(main_file_may_sleep),
         TL_TEST(handler_error_is_one_log_line_and_next_handler_runs),
         TL_TEST(error_in_interval_callback_keeps_interval_running),
         TL_TEST(syntax_error_in_main_file_returns_minus_one_with_file_line),
         TL_TEST(runtime_error_in_main_file_returns_minus_one),
         TL_TEST(c_wait_resumed_from_uv_timer_returns_values),
         TL_TEST(c_wait_push_error_resumes_with_nil_message),
         TL_TEST(c_wait_resumed_synchronously_from_another_handler),
         TL_TEST(c_wait_cancel_resumes_with_nil_cancelled),
         TL_TEST(c_wait_resumed_before_yield_resumes_later),
         TL_TEST(c_function_raising_after_wait_new_cancels_its_wait),
         TL_TEST(pcall_around_yielding_call_works),
         TL_TEST(wait_outside_handler_raises_clear_error),
         TL_TEST(sl_lua_pcall_returns_results),
         TL_TEST(runaway_handler_is_aborted_and_next_handler_runs),
         TL_TEST(budget_cannot_be_swallowed_by_pcall),
         TL_TEST(budget_covers_coroutines_made_by_the_app),
         TL_TEST(budget_counts_per_resume_not_cumulatively),
         TL_TEST(time_limit_stops_runaway_handler_and_next_handler_runs),
         TL_TEST(default_guard_is_the_time_limit),
         TL_TEST(time_limit_cannot_be_swallowed_by_pcall),
         TL_TEST(time_limit_covers_coroutines_made_by_the_app),
         TL_TEST(time_limit_counts_per_run_not_cumulatively),
         TL_TEST(time_limit_zero_turns_it_off),
         TL_TEST(time_limit_with_two_runtimes),
         TL_TEST(budget_and_time_limit_together),
         TL_TEST(coroutine_resume_and_wrap_keep_lua_semantics),
         TL_TEST(memory_cap_fails_handler_and_state_stays_usable),
         TL_TEST(free_with_pending_timers_and_waits_leaves_no_handle),
         TL_TEST(log_functions_format_and_prefix_caller_location),
         TL_TEST(bare_coroutine_yield_stops_handler_with_log),
         TL_TEST(coroutine_resume_of_handler_is_refused),
         TL_TEST(waker_wakes_waiting_handler_and_keeps_values),
         TL_TEST(lua_spawn_runs_function_in_new_handler),
         TL_TEST(deep_recursive_spawn_fails_cleanly),
         TL_TEST(many_handlers_reuse_pooled_coroutines),
         TL_TEST(non_string_error_is_logged_with_location),
         TL_TEST(traceback_is_logged_at_debug_level),
         TL_TEST(now_is_the_wall_clock_in_integer_milliseconds),
         TL_TEST(monotonic_is_milliseconds_that_never_go_back),
         TL_TEST(bad_timer_arguments_raise));
