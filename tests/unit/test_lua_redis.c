/* Unit tests for lua_redis (sio.redis) against a real redis-server that each
 * test starts on a unix socket in its own temp dir (and stops). Each test
 * builds a loop and a runtime, runs Lua snippets as handlers until they call
 * sio.t_done(), reads the failures the snippet recorded in FAILS, checks
 * the log where it matters, and ends by freeing the runtime and checking
 * that the loop closes with no handle left. Skipped (not failed) when
 * redis-server is not installed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "base/log.h"
#include "lua/lua_json.h"
#include "lua/lua_redis.h"
#include "lua/lua_rt.h"
#include "testlib.h"

/* ---- fixture ------------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t *loop; /* the test's, from tl_loop() */
    uv_timer_t watchdog; /* unref'd: stops a test whose snippet never finishes */
    sl_lua_t *rt;
    lua_State *L;
    char dir[64];
    char sock[96];
    char password[32]; /* requirepass of the running redis-server, if any */
    int tcp_port;      /* its TCP port, 0 for unix socket only */
    int done, timed_out;
} fx_t;

static fx_t *cur;

static void watchdog_cb(uv_timer_t *h)
{
    fx_t *f = h->data;
    f->timed_out = 1;
    uv_stop(f->loop);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *auth_args(fx_t *f)
{
    static char buf[96];
    if (!f->password[0])
        return "";
    snprintf(buf, sizeof buf, "-a %s --no-auth-warning", f->password);
    return buf;
}

static int redis_ping(fx_t *f)
{
    return sh("redis-cli -s %s %s ping 2>/dev/null | grep -q PONG", f->sock, auth_args(f)) == 0 ? 0 : -1;
}

/* Starts redis-server on f->sock (and a TCP port when tcp), with extra
 * arguments; waits until it answers. */
static int redis_start_opts(fx_t *f, const char *password, int tcp)
{
    snprintf(f->password, sizeof f->password, "%s", password ? password : "");
    for (int attempt = 0; attempt < 5; attempt++) {
        char port[64] = "--port 0";
        f->tcp_port = 0;
        if (tcp) {
            f->tcp_port = 20000 + (int)((unsigned)rand() % 30000);
            snprintf(port, sizeof port, "--port %d --bind 127.0.0.1", f->tcp_port);
        }
        char auth[64] = "";
        if (f->password[0])
            snprintf(auth, sizeof auth, "--requirepass %s", f->password);
        if (sh("redis-server %s --unixsocket %s --unixsocketperm 700 --daemonize yes --pidfile %s/r.pid "
               "--dir %s --save '' --appendonly no --logfile %s/r.log %s",
               port, f->sock, f->dir, f->dir, f->dir, auth) != 0)
            return -1;
        for (int i = 0; i < 300; i++) {
            if (redis_ping(f) == 0)
                return 0;
            usleep(10000);
        }
        sh("redis-cli -s %s %s shutdown nosave >/dev/null 2>&1", f->sock, auth_args(f));
    }
    return -1;
}

static int redis_start(fx_t *f) { return redis_start_opts(f, NULL, 0); }

static pid_t redis_pid(fx_t *f)
{
    char path[128];
    snprintf(path, sizeof path, "%s/r.pid", f->dir);
    FILE *fp = fopen(path, "r");
    long pid = 0;
    if (fp) {
        if (fscanf(fp, "%ld", &pid) != 1)
            pid = 0;
        fclose(fp);
    }
    return (pid_t)pid;
}

/* Running and not a zombie: the daemonized server is reparented to PID 1,
 * which in some containers never reaps it. */
static int alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return kill(pid, 0) == 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* redis-cli shutdown nosave, then waits for the process to be gone. */
static void redis_stop(fx_t *f)
{
    pid_t pid = redis_pid(f);
    sh("redis-cli -s %s %s shutdown nosave >/dev/null 2>&1", f->sock, auth_args(f));
    for (int i = 0; pid > 0 && i < 300 && alive(pid); i++)
        usleep(10000);
}

/* ---- Lua hooks for the snippets ------------------------------------------------ */

static int l_t_done(lua_State *L)
{
    (void)L;
    cur->done = 1;
    uv_stop(cur->loop);
    return 0;
}

static int l_t_stop_redis(lua_State *L)
{
    redis_stop(cur);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_t_start_redis(lua_State *L)
{
    lua_pushboolean(L, redis_start_opts(cur, cur->password, 0) == 0);
    return 1;
}

static void reg(fx_t *f, const char *name, lua_CFunction fn)
{
    sl_lua_push_module(f->rt, f->L);
    lua_pushcfunction(f->L, fn);
    lua_setfield(f->L, -2, name);
    lua_pop(f->L, 1);
}

/* Sets SIOLUA_REDIS_URL to the fixture's socket so a bare sio.redis works. */
static void fx_init(fx_t *f, int start)
{
    memset(f, 0, sizeof *f);
    cur = f;
    char dir[] = "/tmp/sl_redis_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    snprintf(f->sock, sizeof f->sock, "%s/r.sock", dir);
    char url[160];
    snprintf(url, sizeof url, "unix:%s", f->sock);
    setenv("SIOLUA_REDIS_URL", url, 1);
    if (start)
        CHECK_EQ_INT(redis_start(f), 0);
    f->loop = tl_loop();
    uv_timer_init(f->loop, &f->watchdog);
    f->watchdog.data = f;
    uv_unref((uv_handle_t *)&f->watchdog);
    f->rt = sl_lua_new(f->loop, dir, NULL);
    CHECK(f->rt != NULL);
    f->L = sl_lua_state(f->rt);
    CHECK_EQ_INT(sl_lua_redis_open(f->rt), 0);
    luaL_requiref(f->L, "siolua.json", luaopen_siolua_json, 0);
    lua_pop(f->L, 1);
    reg(f, "t_done", l_t_done);
    reg(f, "t_stop_redis", l_t_stop_redis);
    reg(f, "t_start_redis", l_t_start_redis);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* close_first: sl_lua_redis_close before sl_lua_free (what the server
 * does); otherwise the runtime's finalizer closes the pool. */
static void fx_done_opts(fx_t *f, int close_first)
{
    uv_close((uv_handle_t *)&f->watchdog, NULL);
    if (close_first)
        sl_lua_redis_close(f->rt);
    sl_lua_free(f->rt);
    uv_run(f->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
    redis_stop(f);
    nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    unsetenv("SIOLUA_REDIS_URL");
}

static void fx_done(fx_t *f) { fx_done_opts(f, 1); }

/* One line, so the snippet's own line N shows as "line N+1". */
static const char PRELUDE[] =
    "local sio = require 'siolua'; local R = sio.redis; local null = R.null; FAILS = FAILS or {}; "
    "local function fail(m, lvl) FAILS[#FAILS + 1] = ('line %d: %s'):format(debug.getinfo(lvl or 3, 'l').currentline - 1, m) end; "
    "local function eq(a, b) if a ~= b then fail(('got %s, expected %s'):format(tostring(a), tostring(b))) end end; "
    "local function ok(c, m) if not c then fail(m or 'not true') end end; "
    "local function match(s, p) if type(s) ~= 'string' or not s:find(p) then fail(('%s does not match %s'):format(tostring(s), p)) end end; "
    "local okk, err = pcall(function()\n";
static const char POSTLUDE[] = "\nend); if not okk then FAILS[#FAILS + 1] = 'error: ' .. tostring(err) end; sio.t_done()\n";

/* Runs code as a handler and the loop until it calls sio.t_done(); then
 * reports what it recorded in FAILS. */
static void run_lua(fx_t *f, const char *code, const char *name)
{
    size_t n = strlen(PRELUDE) + strlen(code) + strlen(POSTLUDE) + 1;
    char *all = malloc(n);
    snprintf(all, n, "%s%s%s", PRELUDE, code, POSTLUDE);
    f->done = 0;
    f->timed_out = 0;
    uv_timer_start(&f->watchdog, watchdog_cb, 30000, 0);
    char chunk[64];
    snprintf(chunk, sizeof chunk, "=%s", name);
    CHECK_EQ_INT(sl_lua_run_string(f->rt, all, chunk), 0);
    if (!f->done)
        uv_run(f->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&f->watchdog);
    free(all);
    CHECK(f->done);
    CHECK(!f->timed_out);
    lua_getglobal(f->L, "FAILS");
    int nf = lua_istable(f->L, -1) ? (int)lua_rawlen(f->L, -1) : -1;
    for (int i = 1; i <= nf; i++) {
        lua_rawgeti(f->L, -1, i);
        printf("  %s: %s\n", name, lua_tostring(f->L, -1));
        lua_pop(f->L, 1);
    }
    lua_pop(f->L, 1);
    CHECK_EQ_INT(nf, 0);
    lua_pushnil(f->L);
    lua_setglobal(f->L, "FAILS");
}

/* ---- log checks (the capture is testlib's tl_stderr_capture_*) ------------------ */

#define CHECK_COUNT(hay, needle, n)                                                        \
    do {                                                                                   \
        int tl_c = tl_count((hay), (needle));                                                 \
        if (tl_c != (n)) {                                                                 \
            fprintf(stderr, "  %s:%d: log has \"%s\" %d times, expected %d; log was:\n%s\n", \
                    __FILE__, __LINE__, (needle), tl_c, (n), (hay));                       \
            tl_failed_checks++;                                                            \
        }                                                                                  \
    } while (0)

/* ---- tests ------------------------------------------------------------------------- */

static void redis_call_maps_replies_to_lua_values(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "eq(R.call('SET', 'k', 'v'), 'OK')\n"
            "eq(R.call('GET', 'k'), 'v')\n"
            "eq(R.call('PING'), 'PONG')\n"
            "local v = R.call('INCR', 'n'); eq(v, 1); eq(math.type(v), 'integer')\n"
            "eq(R.call('INCRBY', 'n', 41), 42)\n"
            "eq(R.call('DEL', 'nothing'), 0)\n"
            "local v, e = R.call('GET', 'nothing'); eq(v, null); eq(e, nil); eq(null, sio.redis.null)\n"
            "ok(type(null) == 'userdata')\n"
            "eq(R.call('RPUSH', 'l', 'a', 'b', 3), 3)\n"
            "local l = R.call('LRANGE', 'l', 0, -1); eq(#l, 3); eq(l[1], 'a'); eq(l[2], 'b'); eq(l[3], '3')\n"
            "local e = R.call('LRANGE', 'none', 0, -1); eq(type(e), 'table'); eq(#e, 0)\n"
            "eq(getmetatable(e).__jsontype, 'array')\n"
            "local x = R.call('EVAL', \"return {1, {'x', 2}, redis.error_reply('boom'), false}\", 0)\n"
            "eq(#x, 4); eq(x[1], 1); eq(x[2][1], 'x'); eq(x[2][2], 2); eq(x[3][1], false); match(x[3][2], 'boom$'); eq(x[4], null)\n"
            "local v, e = R.call('NOSUCHCMD', 'a'); eq(v, nil); match(e, '^ERR unknown command')\n"
            "R.call('SET', 's', 'x'); local v, e = R.call('LPUSH', 's', 'a'); eq(v, nil); match(e, '^WRONGTYPE')\n"
            "local v, e = R.call('EVAL', \"return redis.error_reply('MY failure')\", 0); eq(v, nil); eq(e, 'MY failure')\n"
            "R.call('SET', 'bin', 'a\\0b\\r\\n$3'); eq(R.call('GET', 'bin'), 'a\\0b\\r\\n$3')\n"
            "local json = require 'siolua.json'; eq(json.null, null)\n"
            "R.call('SET', 'blob', json.binary('q\\0')); eq(R.call('GET', 'blob'), 'q\\0')\n"
            "local big = string.rep('xyz', 400000); eq(R.call('SET', 'big', big), 'OK')\n"
            "eq(R.call('STRLEN', 'big'), #big); eq(R.call('GET', 'big'), big)\n"
            "eq(R.call('HSET', 'h', 'f1', 'v1', 'f2', 'v2'), 2)\n"
            "local h = R.call('HGETALL', 'h'); eq(#h, 4)\n",
            "replies");
    fx_done(&f);
}

static void redis_numbers_are_sent_exactly(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "local function rt(v) R.call('SET', 'num', v); return R.call('GET', 'num') end\n"
            "eq(rt(42), '42'); eq(rt(-7), '-7'); eq(rt(0), '0')\n"
            "eq(rt(9007199254740993), '9007199254740993')\n"
            "eq(rt(math.maxinteger), tostring(math.maxinteger)); eq(rt(math.mininteger), tostring(math.mininteger))\n"
            "eq(rt(1.5), '1.5'); eq(rt(3.0), '3'); eq(rt(0.1), '0.1'); eq(rt(1/3), '0.3333333333333333')\n"
            "eq(rt(1e300), '1e+300'); eq(rt(math.huge), 'inf'); eq(rt(-math.huge), '-inf')\n"
            "eq(R.call('INCRBYFLOAT', 'fl', 0.5), '0.5'); eq(R.call('INCRBYFLOAT', 'fl', 0.25), '0.75')\n"
            "eq(R.call('ZADD', 'z', 2.5, 'a', 1, 'b'), 2)\n"
            "local z = R.call('ZRANGE', 'z', 0, -1, 'WITHSCORES'); eq(z[1], 'b'); eq(z[2], '1'); eq(z[4], '2.5')\n",
            "numbers");
    fx_done(&f);
}

static void redis_concurrent_handlers_share_the_pool(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "R.configure{pool = 3}\n"
            "local got, n = {}, 0\n"
            "for i = 1, 60 do\n"
            "  sio.set_timeout(0, function()\n"
            "    local v = R.call('INCR', 'ctr'); got[v] = true; n = n + 1\n"
            "    if i % 2 == 0 then eq(R.call('SET', 'k' .. i, i), 'OK'); eq(R.call('GET', 'k' .. i), tostring(i)) end\n"
            "  end)\n"
            "end\n"
            "local t0 = sio.monotonic()\n"
            "while n < 60 and sio.monotonic() - t0 < 5000 do sio.sleep(5) end\n"
            "eq(n, 60)\n"
            "for i = 1, 60 do ok(got[i], 'INCR reply ' .. i .. ' missing') end\n"
            "local clients = R.call('CLIENT', 'LIST')\n"
            "local c = 0; for _ in clients:gmatch('cmd=') do c = c + 1 end; eq(c, 3)\n",
            "concurrent");
    fx_done(&f);
}

static void redis_pipeline_returns_every_reply_and_runs_transactions(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "local r = R.pipeline{{'SET', 'p', 1}, {'INCR', 'p'}, {'GET', 'nope'}, {'LPUSH', 'p', 'x'}, {'GET', 'p'}}\n"
            "eq(#r, 5); eq(r[1], 'OK'); eq(r[2], 2); eq(r[3], null); eq(r[4][1], false); match(r[4][2], '^WRONGTYPE'); eq(r[5], '2')\n"
            "local t = R.pipeline{{'MULTI'}, {'INCR', 'tx'}, {'INCR', 'tx'}, {'EXEC'}}\n"
            "eq(t[1], 'OK'); eq(t[2], 'QUEUED'); eq(t[3], 'QUEUED'); eq(t[4][1], 1); eq(t[4][2], 2)\n"
            "local d = R.pipeline{{'MULTI'}, {'INCR', 'tx'}, {'DISCARD'}}; eq(d[3], 'OK'); eq(R.call('GET', 'tx'), '2')\n"
            "local e = R.pipeline{}; eq(#e, 0); eq(getmetatable(e).__jsontype, 'array')\n"
            "local big = {}; for i = 1, 500 do big[i] = {'RPUSH', 'pl', i} end\n"
            "local b = R.pipeline(big); eq(#b, 500); eq(b[500], 500)\n"
            "eq(R.call('LLEN', 'pl'), 500)\n"
            "eq(R.call('PING'), 'PONG')\n",
            "pipeline");
    fx_done(&f);
}

static void redis_misuse_raises(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "local function raises(pat, fn, ...) local s, e = pcall(fn, ...); ok(not s, 'no error for ' .. pat); match(tostring(e), pat) end\n"
            "raises(\"bad argument #1 to '.-' %(string expected, got no value%)\", R.call)\n"
            "raises(\"bad argument #1 to '.-' %(string expected, got number%)\", R.call, 1)\n"
            "raises(\"bad argument #3 to '.-' %(string or number expected, got table%)\", R.call, 'SET', 'k', {})\n"
            "raises(\"bad argument #3 to '.-' %(string or number expected, got boolean%)\", R.call, 'SET', 'k', true)\n"
            "raises(\"bad argument #3 to '.-' %(string or number expected, got nil%)\", R.call, 'SET', 'k', nil)\n"
            "raises('NaN cannot be sent to Redis', R.call, 'SET', 'k', 0/0)\n"
            "raises('SUBSCRIBE is not supported %(pub/sub', R.call, 'subscribe', 'ch')\n"
            "raises('PSUBSCRIBE is not supported', R.call, 'PSubscribe', 'ch*')\n"
            "raises('MONITOR is not supported', R.call, 'MONITOR')\n"
            "raises('SELECT is not supported %(set the database with sio.redis.configure', R.call, 'SELECT', 1)\n"
            "raises('MULTI is not supported %(send the transaction with sio.redis.pipeline', R.call, 'MULTI')\n"
            "raises('CLIENT REPLY is not supported', R.call, 'CLIENT', 'reply', 'off')\n"
            "raises('command 2 must be a table', R.pipeline, {{'PING'}, 'PING'})\n"
            "raises('command 1 is empty', R.pipeline, {{}})\n"
            "raises('command 1, argument 2: string or number expected, got table', R.pipeline, {{'GET', {}}})\n"
            "raises('MULTI without EXEC or DISCARD', R.pipeline, {{'MULTI'}, {'SET', 'a', 1}})\n"
            "raises('sio.redis.pipeline: SUBSCRIBE is not supported', R.pipeline, {{'SUBSCRIBE', 'x'}})\n"
            "raises(\"unknown option 'nope'\", R.configure, {nope = 1})\n"
            "raises('bad url', R.configure, {url = 'http://x'})\n"
            "raises('ca=, cert= and key= need rediss://', R.configure, {url = 'redis://x?ca=/a.pem'})\n"
            "raises('cannot read CA file /nonexistent/ca.pem', R.configure, {url = 'rediss://x?ca=/nonexistent/ca.pem'})\n"
            "raises('database 0 only', R.configure, {url = 'redis://a:1,b:2/3'})\n"
            "raises('bad port', R.configure, {url = 'redis://h:99999'})\n"
            "raises('bad database number', R.configure, {url = 'redis://h/x'})\n"
            "raises(\"'pool' must be an integer from 1 to 64\", R.configure, {pool = 0})\n"
            "raises(\"'timeout' must be an integer\", R.configure, {timeout = 'x'})\n"
            "raises('cannot wait here', coroutine.wrap(function() return R.call('PING') end))\n"
            "eq(R.call('PING'), 'PONG')\n",
            "misuse");
    /* Outside any handler (the main thread) a call is misuse too. */
    lua_State *L = f.L;
    sl_lua_push_module(f.rt, L);
    lua_getfield(L, -1, "redis");
    lua_getfield(L, -1, "call");
    lua_pushstring(L, "PING");
    CHECK(lua_pcall(L, 1, 0, 0) != LUA_OK);
    CHECK(strstr(lua_tostring(L, -1), "cannot wait here") != NULL);
    lua_pop(L, 3);
    fx_done(&f);
}

static void redis_down_from_start_fails_fast_and_logs_once(void)
{
    fx_t f;
    fx_init(&f, 0);
    tl_stderr_capture_start();
    run_lua(&f,
            "for i = 1, 5 do\n"
            "  local t0 = sio.monotonic()\n"
            "  local v, e = R.call('PING')\n"
            "  eq(v, nil); match(e, '^redis unavailable: ')\n"
            "  ok(sio.monotonic() - t0 < 100, 'took ' .. (sio.monotonic() - t0) .. ' ms')\n"
            "  sio.sleep(20)\n"
            "end\n"
            "local v, e = R.pipeline{{'PING'}}; eq(v, nil); match(e, '^redis unavailable: ')\n"
            /* A TCP port nobody listens on: refused, quickly too. */
            "R.configure{url = 'redis://127.0.0.1:1'}\n"
            "local t0 = sio.monotonic()\n"
            "local v, e = R.call('PING'); eq(v, nil); match(e, '^redis unavailable: .*refused')\n"
            "ok(sio.monotonic() - t0 < 200, 'took ' .. (sio.monotonic() - t0) .. ' ms')\n"
            "local v, e = R.call('PING'); eq(v, nil); match(e, '^redis unavailable: .*refused')\n",
            "down");
    char *log = tl_stderr_capture_end();
    CHECK_COUNT(log, "[redis] cannot connect to unix:", 1);
    CHECK_COUNT(log, "[redis] cannot connect to redis://127.0.0.1:1:", 1);
    free(log);
    fx_done(&f);
}

static void redis_stopped_fails_calls_then_restarted_works_again(void)
{
    fx_t f;
    fx_init(&f, 1);
    tl_stderr_capture_start();
    run_lua(&f,
            "eq(R.call('SET', 'before', 1), 'OK')\n"
            /* In flight when redis goes away: a BLPOP parked in another handler. */
            "local inflight_v, inflight_e, inflight_done = 'unset', nil, false\n"
            "sio.set_timeout(0, function() inflight_v, inflight_e = R.call('BLPOP', 'never', 10); inflight_done = true end)\n"
            "sio.sleep(50)\n"
            "ok(not inflight_done, 'BLPOP returned early')\n"
            "sio.t_stop_redis()\n"
            "local t0 = sio.monotonic()\n"
            "while not inflight_done and sio.monotonic() - t0 < 3000 do sio.sleep(5) end\n"
            "ok(inflight_done, 'in-flight call still parked'); eq(inflight_v, nil)\n"
            "match(inflight_e, '^redis connection lost: ')\n"
            "for i = 1, 3 do\n"
            "  local t1 = sio.monotonic(); local v, e = R.call('GET', 'before')\n"
            "  eq(v, nil); match(e, '^redis ')\n"
            "  ok(sio.monotonic() - t1 < 100, 'a call while down took ' .. (sio.monotonic() - t1) .. ' ms')\n"
            "end\n"
            "local v, e = R.call('GET', 'before'); match(e, '^redis unavailable: ')\n"
            /* The loop is alive: timers still fire. */
            "local fired = false; sio.set_timeout(10, function() fired = true end); sio.sleep(30); ok(fired, 'timer did not fire')\n"
            "sio.sleep(300)\n"
            "ok(sio.t_start_redis(), 'redis did not restart')\n"
            "local t2, v = sio.monotonic(), nil\n"
            "repeat v = R.call('PING'); if v ~= 'PONG' then sio.sleep(50) end until v == 'PONG' or sio.monotonic() - t2 > 8000\n"
            "eq(v, 'PONG'); RECOVERY_MS = sio.monotonic() - t2\n"
            "eq(R.call('SET', 'after', 2), 'OK'); eq(R.call('GET', 'after'), '2')\n",
            "restart");
    char *log = tl_stderr_capture_end();
    CHECK_COUNT(log, "[redis] connected to unix:", 1);
    CHECK_COUNT(log, "[redis] lost connection to unix:", 1);
    CHECK_COUNT(log, "[redis] reconnected to unix:", 1);
    CHECK_COUNT(log, "[redis] cannot connect", 0);
    lua_getglobal(f.L, "RECOVERY_MS");
    CHECK(lua_tonumber(f.L, -1) < 6000);
    lua_pop(f.L, 1);
    free(log);
    fx_done(&f);
}

static void redis_auth_and_select_run_after_connect(void)
{
    fx_t f;
    fx_init(&f, 0);
    CHECK_EQ_INT(redis_start_opts(&f, "s3cret", 0), 0);
    char code[2048];
    snprintf(code, sizeof code,
             "local v, e = R.call('PING'); eq(v, nil); match(e, 'NOAUTH')\n"
             "R.configure{url = 'unix:%s', password = 's3cret', db = 2}\n"
             "eq(R.call('PING'), 'PONG')\n"
             "match(R.call('CLIENT', 'INFO'), ' db=2 ')\n"
             "R.call('SET', 'where', 'db2')\n"
             "R.configure{url = 'unix:%s?db=3&password=s3cret'}\n"
             "match(R.call('CLIENT', 'INFO'), ' db=3 '); eq(R.call('GET', 'where'), null)\n"
             "R.configure{url = 'unix://%s?password=s3cret&db=2'}\n"
             "eq(R.call('GET', 'where'), 'db2')\n"
             "R.configure{url = 'unix:%s', password = 'wrong'}\n"
             "local t0 = sio.monotonic(); local v, e = R.call('PING')\n"
             "eq(v, nil); match(e, '^redis unavailable: AUTH failed: WRONGPASS')\n"
             "local v, e = R.call('PING'); eq(v, nil); match(e, '^redis unavailable: AUTH failed')\n"
             "ok(sio.monotonic() - t0 < 500, 'AUTH failure took ' .. (sio.monotonic() - t0) .. ' ms')\n",
             f.sock, f.sock, f.sock, f.sock);
    tl_stderr_capture_start();
    run_lua(&f, code, "auth");
    char *log = tl_stderr_capture_end();
    CHECK_COUNT(log, "AUTH failed: WRONGPASS", 1);
    CHECK_COUNT(log, "s3cret", 0);
    free(log);
    fx_done(&f);
}

static void redis_tcp_url_with_host_name_is_resolved_off_loop(void)
{
    fx_t f;
    fx_init(&f, 0);
    CHECK_EQ_INT(redis_start_opts(&f, NULL, 1), 0);
    char code[1024];
    snprintf(code, sizeof code,
             "R.configure{url = 'redis://localhost:%d/1', pool = 2}\n"
             "eq(R.call('SET', 'tcp', 'yes'), 'OK')\n"
             "match(R.call('CLIENT', 'INFO'), ' db=1 ')\n"
             "R.configure{url = 'redis://127.0.0.1:%d'}\n"
             "eq(R.call('GET', 'tcp'), null)\n"
             "R.configure{url = 'redis://no-such-host.invalid:%d', connect_timeout = 3000, pool = 1}\n"
             "local v, e = R.call('PING'); eq(v, nil); match(e, '^redis unavailable: ')\n",
             f.tcp_port, f.tcp_port, f.tcp_port);
    run_lua(&f, code, "tcp");
    fx_done(&f);
}

static void redis_reply_timeout_fails_the_call_and_reconnects(void)
{
    fx_t f;
    fx_init(&f, 1);
    tl_stderr_capture_start();
    run_lua(&f,
            "R.configure{timeout = 200, pool = 1}\n"
            "eq(R.call('PING'), 'PONG')\n"
            "local t0 = sio.monotonic(); local v, e = R.call('BLPOP', 'never', 3)\n"
            "local took = sio.monotonic() - t0\n"
            "eq(v, nil); eq(e, 'redis timeout: no reply within 200 ms')\n"
            "ok(took >= 190 and took < 1000, 'timeout after ' .. took .. ' ms')\n"
            "local t1, v = sio.monotonic(), nil\n"
            "repeat v = R.call('PING'); if v ~= 'PONG' then sio.sleep(20) end until v == 'PONG' or sio.monotonic() - t1 > 3000\n"
            "eq(v, 'PONG')\n"
            "R.configure{timeout = 0, pool = 1}\n"
            "local t2 = sio.monotonic(); eq(R.call('BLPOP', 'never', 1), null); ok(sio.monotonic() - t2 >= 900, 'BLPOP cut short')\n",
            "timeout");
    char *log = tl_stderr_capture_end();
    CHECK_COUNT(log, "no reply within 200 ms; reconnecting", 1);
    free(log);
    fx_done(&f);
}

/* A listener that never accepts: the kernel completes the TCP handshake,
 * so only the AUTH reply (which never comes) can be waited for. */
static void redis_connect_timeout_covers_a_server_that_never_answers(void)
{
    fx_t f;
    fx_init(&f, 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ_INT(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ_INT(listen(s, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(s, (struct sockaddr *)&sa, &sl);
    char code[1024];
    snprintf(code, sizeof code,
             "R.configure{url = 'redis://:pw@127.0.0.1:%d', connect_timeout = 150, pool = 1}\n"
             "local t0 = sio.monotonic(); local v, e = R.call('PING'); local took = sio.monotonic() - t0\n"
             "eq(v, nil); eq(e, 'redis unavailable: connect timeout (150 ms)')\n"
             "ok(took >= 140 and took < 1000, 'connect timeout after ' .. took .. ' ms')\n"
             "local t1 = sio.monotonic(); local v, e = R.call('PING'); eq(v, nil)\n"
             "match(e, '^redis unavailable: connect timeout'); ok(sio.monotonic() - t1 < 50, 'not failing fast')\n",
             ntohs(sa.sin_port));
    run_lua(&f, code, "connect-timeout");
    fx_done(&f);
    close(s);
}

/* The runtime is freed while handlers wait on Redis (no sl_lua_redis_close
 * first): their waits are cancelled, the pool closes from the state's
 * finalizer, nothing dangles (ASan) and the loop closes. */
static void redis_free_runtime_with_handlers_waiting(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "for i = 1, 5 do sio.set_timeout(0, function() R.call('BLPOP', 'never', 5); GOT_REPLY = true end) end\n"
            "sio.set_timeout(0, function() R.pipeline{{'PING'}, {'BLPOP', 'never', 5}}; GOT_REPLY = true end)\n"
            "sio.sleep(100)\n",
            "parked");
    fx_done_opts(&f, 0);
}

/* sl_lua_redis_close with handlers waiting: they resume with
 * nil, "redis closed"; later calls fail the same way. */
static void redis_close_resumes_waiting_handlers_with_closed(void)
{
    fx_t f;
    fx_init(&f, 1);
    run_lua(&f,
            "RES = {}\n"
            "for i = 1, 3 do sio.set_timeout(0, function() local v, e = R.call('BLPOP', 'never', 5); RES[#RES + 1] = tostring(v) .. '|' .. tostring(e) end) end\n"
            "sio.sleep(50)\n",
            "parked");
    sl_lua_redis_close(f.rt);
    run_lua(&f,
            "sio.sleep(10)\n"
            "eq(#RES, 3); for i = 1, #RES do eq(RES[i], 'nil|redis closed') end\n"
            "local v, e = R.call('PING'); eq(v, nil); eq(e, 'redis closed')\n"
            "local v, e = R.configure{}; eq(v, nil); eq(e, 'redis closed')\n",
            "closed");
    fx_done(&f);
}

/* configure with new settings lets calls in flight finish on the old
 * connections; the same settings again (a reload) keep the pool. */
static void redis_reconfigure_drains_old_connections(void)
{
    fx_t f;
    fx_init(&f, 1);
    tl_stderr_capture_start();
    run_lua(&f,
            "R.call('SET', 'k0', 'zero')\n"
            "local old_v, old_e, old_done = nil, nil, false\n"
            "sio.set_timeout(0, function() old_v, old_e = R.call('BLPOP', 'q', 1); old_done = true end)\n"
            "sio.sleep(50)\n"
            "R.configure{db = 1}\n"
            "eq(R.call('GET', 'k0'), null)\n"
            "R.call('RPUSH', 'q', 'x')\n"
            "local t0 = sio.monotonic(); while not old_done and sio.monotonic() - t0 < 3000 do sio.sleep(10) end\n"
            "eq(old_v, null); eq(old_e, nil)\n"
            "R.configure{db = 1}\n"
            "R.configure{db = 1}\n"
            "eq(R.call('LPOP', 'q'), 'x')\n"
            "sio.sleep(50)\n"
            "local clients = R.call('CLIENT', 'LIST'); local c = 0; for _ in clients:gmatch('cmd=') do c = c + 1 end\n"
            "eq(c, 4)\n",
            "reconfigure");
    char *log = tl_stderr_capture_end();
    CHECK_COUNT(log, "[redis] connected to", 2);
    free(log);
    fx_done(&f);
}

static void redis_bad_env_url_fails_calls_until_configured(void)
{
    fx_t f;
    fx_init(&f, 1);
    /* A second runtime on the same loop, opened with a bad URL. */
    setenv("SIOLUA_REDIS_URL", "http://nope", 1);
    tl_stderr_capture_start();
    sl_lua_t *rt2 = sl_lua_new(f.loop, f.dir, NULL);
    CHECK(rt2 != NULL);
    CHECK_EQ_INT(sl_lua_redis_open(rt2), 0);
    char *log = tl_stderr_capture_end();
    CHECK_COUNT(log, "bad SIOLUA_REDIS_URL", 1);
    free(log);
    sl_lua_t *rt1 = f.rt;
    f.rt = rt2;
    f.L = sl_lua_state(rt2);
    reg(&f, "t_done", l_t_done);
    char code[512];
    snprintf(code, sizeof code,
             "local v, e = R.call('PING'); eq(v, nil); match(e, '^redis unavailable: bad SIOLUA_REDIS_URL')\n"
             "R.configure{url = 'unix:%s'}\n"
             "eq(R.call('PING'), 'PONG')\n",
             f.sock);
    run_lua(&f, code, "badenv");
    sl_lua_redis_close(rt2);
    sl_lua_free(rt2);
    f.rt = rt1;
    f.L = sl_lua_state(rt1);
    fx_done(&f);
}

static const char *suite_setup(void)
{
    if (system("command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1") != 0)
        return "redis-server or redis-cli is not installed";
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);
    return NULL;
}

TL_SUITE(lua_redis, suite_setup, NULL,
         TL_TEST(redis_call_maps_replies_to_lua_values),
         TL_TEST(redis_numbers_are_sent_exactly),
         TL_TEST(redis_concurrent_handlers_share_the_pool),
         TL_TEST(redis_pipeline_returns_every_reply_and_runs_transactions),
         TL_TEST(redis_misuse_raises),
         TL_TEST(redis_down_from_start_fails_fast_and_logs_once),
         TL_TEST(redis_stopped_fails_calls_then_restarted_works_again),
         TL_TEST(redis_auth_and_select_run_after_connect),
         TL_TEST(redis_tcp_url_with_host_name_is_resolved_off_loop),
         TL_TEST(redis_reply_timeout_fails_the_call_and_reconnects),
         TL_TEST(redis_connect_timeout_covers_a_server_that_never_answers),
         TL_TEST(redis_free_runtime_with_handlers_waiting),
         TL_TEST(redis_close_resumes_waiting_handlers_with_closed),
         TL_TEST(redis_reconfigure_drains_old_connections),
         TL_TEST(redis_bad_env_url_fails_calls_until_configured));
