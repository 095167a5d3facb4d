/* L6 lua/lua_rt: the Lua runtime core (contract in lua_rt.h): handler
 * coroutines, waits, timers, logging, the guards (time limit, instruction
 * budget, memory cap). Knows nothing of Socket.IO, Engine.IO, HTTP or JSON.
 *
 *   sl_lua_t --live--> co <-> co <-> co      running or parked handlers
 *      |     --pool--> co -> co              finished, ready for reuse
 *      |     --queue-> wait -> wait          resumes due later (idle phase)
 *      |     --timers> timer <-> timer       pending set_timeout/set_interval
 *      `-- L (main thread)
 *   co -- ref --> registry[ref] = thread     (anchors it: the GC can't take it)
 *   thread's extra space --> co              (how a lua_CFunction finds it)
 *   co -- wait --> wait -- co                (at most one wait per handler)
 *
 * Every Lua allocation done from a libuv callback runs in protected mode
 * (cpcall) on the main thread, so the memory cap can fail it without a
 * panic; values then move to the handler's thread with lua_xmove. */
#define _GNU_SOURCE /* gettid, SIGEV_THREAD_ID */
#include "lua/lua_rt.h"
#include "base/asan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#include <lauxlib.h>
#include <lualib.h>
#include <lua5.4/lua-cjson.h>

#include "base/buf.h"
#include "base/slab.h"
#include "base/log.h"

/* Exported by lua-cjson next to luaopen_cjson, but its header omits it. */
int luaopen_cjson_safe(lua_State *L);

_Static_assert(LUA_EXTRASPACE >= sizeof(void *), "need a pointer of extra space per thread");

#define WHAT_MAX 128     /* a handler's description, kept for later log lines */
#define REASON_MAX 96    /* a cancel reason (or delivery error) kept in the wait */
#define POOL_MAX 32      /* finished coroutines kept for reuse */
#define CHUNK_MAX 1000000
#define TICK_MIN_MS 4    /* the time limit ticks every limit/4 ms of CPU, at least this */
#define WHERE_MAX (LUA_IDSIZE + 24) /* "src:line: " */
#define TIMER_MT "siolua.timer"
#define WAKER_MT "siolua.waker"

typedef enum { CO_IDLE, CO_RUNNING, CO_PARKED } co_state_t;

/* One handler coroutine. Lives in rt->live while running or parked, in
 * rt->pool when finished and reusable. */
typedef struct sl_lua_co {
    sl_lua_t *rt;
    lua_State *L;
    int ref;              /* registry slot holding the thread */
    co_state_t state;
    int yielding;         /* set by sl_lua_yield: this yield is a wait */
    sl_lua_wait_t *wait;  /* armed or parked wait, or NULL */
    int quiet;            /* an error now is the starter's to report (sl_lua_handler_quiet) */
    struct sl_lua_co *prev, *next;
    /* What the coroutine runs, for log lines. Empty for a function spawned
     * from Lua: co_what then names where that function is defined, worked
     * out only when a line is logged (spawning is on every event's path). */
    char what[WHAT_MAX];
} sl_lua_co_t;

struct sl_lua_wait {
    sl_lua_co_t *co;
    sl_lua_wait_cancel_cb cancel_cb;
    void *ud;
    int queued;           /* in rt's queue: the owner has let go of it */
    unsigned gen;         /* run of the queue it belongs to */
    int cancelled;        /* resume with nil, reason */
    int vals_ref;         /* packed values of a deferred resume, or LUA_NOREF */
    sl_lua_wait_t *qnext;
    char reason[REASON_MAX];
};

/* The guards keep a stack of frames on the C stack, one per thread that
 * runs Lua: a guarded run (a resume of a handler or an sl_lua_pcall) starts
 * one for its thread, and each coroutine.resume of an app coroutine inside
 * it one for that coroutine. The top frame is the thread running now: the
 * time limit's signal handler reads it (and only it) to count the run's
 * CPU ticks and to arm the hook on the very thread that is looping. A frame
 * is filled in before it is published (signal fence), so the handler never
 * sees half of one. */
typedef struct frame {
    lua_State *L;
    struct run *run;      /* the guarded run it belongs to */
    struct frame *up;
} frame_t;

enum { NOT_BLOWN, BLOWN_BUDGET, BLOWN_TIME };

/* A guarded run: its instruction budget and its CPU ticks. Nested runs
 * (a handler started from inside another) have their own. */
typedef struct run {
    frame_t f;            /* its own thread's frame */
    struct run *outer;
    unsigned long serial; /* tells this run from the ones before it */
    volatile sig_atomic_t ticks; /* time-limit ticks seen while it ran */
    int64_t left;
    int blown;
    char where[WHERE_MAX];
} run_t;

typedef struct sl_lua_timer sl_lua_timer_t;

struct sl_lua {
    uv_loop_t *loop;
    lua_State *L;
    uv_idle_t idle;       /* runs the queue; rt is freed in its close callback */
    int closing;
    size_t mem, mem_limit;
    sl_slab_t slab;       /* Lua's small blocks (see rt_alloc) */
    uint64_t budget;
    int chunk;
    run_t *run;           /* the innermost guarded run, NULL outside any */
    frame_t *volatile top; /* the thread running now (see frame_t) */
    int depth;            /* nesting of guarded runs */
    unsigned long serial; /* of the last run started */
    /* The time limit: a CPU-time timer of the loop thread ticks every
     * `tick` of CPU; a run seen by more than ticks_max ticks is condemned:
     * the signal handler arms the hook on the running thread. */
    int has_timer;
    timer_t timer;
    volatile sig_atomic_t ticks_max;
    volatile unsigned long condemned;
    sl_lua_co_t *live, *pool;
    int npool;
    sl_lua_wait_t *qhead, *qtail;
    unsigned qgen;
    sl_lua_timer_t *timers;
    int module_ref;
    sl_buf_t warn;        /* pieces of a Lua warning being assembled */
    int timing;           /* time each run for the handler histogram */
    sl_lua_stats_t stats;
};

/* ---- small helpers ---------------------------------------------------------- */

/* Every failure of app code is one "lua error ..." line and one count
 * (siolua_lua_errors_total). */
#define LUA_FAILED(rt, LOG, ...)       \
    do {                               \
        (rt)->stats.errors++;          \
        LOG("lua", __VA_ARGS__);       \
    } while (0)

static sl_lua_t *rt_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static sl_lua_co_t *co_of(lua_State *L)
{
    sl_lua_co_t *co;
    memcpy(&co, lua_getextraspace(L), sizeof co);
    return co;
}

static void set_co(lua_State *L, sl_lua_co_t *co) { memcpy(lua_getextraspace(L), &co, sizeof co); }

/* "src:line" of the nearest Lua function calling the running C function. */
static void caller_where(lua_State *L, char *out, size_t n)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            snprintf(out, n, "%s:%d", ar.short_src, ar.currentline);
            return;
        }
    }
    snprintf(out, n, "?");
}

/* Small blocks (most of Lua's objects) come from the runtime's slab, the
 * rest from malloc: Lua tells the old size of every block it frees or
 * resizes, which is all a slab needs. A sanitizer build uses malloc for
 * everything, so that ASan keeps watching every Lua object. */
#define USE_SLAB (!SL_ASAN)

static void block_free(sl_lua_t *rt, void *p, size_t n)
{
    if (USE_SLAB && sl_slab_fits(n))
        sl_slab_free(&rt->slab, p, n);
    else
        free(p);
}

static void *block_resize(sl_lua_t *rt, void *ptr, size_t old, size_t nsize)
{
    if (!USE_SLAB)
        return realloc(ptr, nsize);
    int small_old = ptr && sl_slab_fits(old), small_new = sl_slab_fits(nsize);
    if (ptr && !small_old && !small_new)
        return realloc(ptr, nsize);
    if (small_old && small_new && sl_slab_same_class(old, nsize))
        return ptr;
    void *p = small_new ? sl_slab_alloc(&rt->slab, nsize) : malloc(nsize);
    if (p && ptr) {
        memcpy(p, ptr, old < nsize ? old : nsize);
        block_free(rt, ptr, old);
    }
    return p;
}

/* The allocator: counting bytes, failing growth past the cap. Lua answers
 * a failure with an emergency collection and one retry. */
static __attribute__((noinline)) void *rt_alloc_any(sl_lua_t *rt, void *ptr, size_t osize,
                                                     size_t nsize)
{
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr)
            block_free(rt, ptr, old);
        rt->mem -= old;
        return NULL;
    }
    if (rt->mem_limit && nsize > old && rt->mem - old + nsize > rt->mem_limit)
        return NULL;
    void *p = block_resize(rt, ptr, old, nsize);
    if (p)
        rt->mem = rt->mem - old + nsize;
    return p;
}

/* The two calls that are most of them, a new small object and a small
 * object freed, take the slab's pop or push here without a call (a few
 * instructions each, five objects made and freed per echoed event); the
 * rest (growth, large blocks) is rt_alloc_any's. With ptr NULL, osize is
 * the new object's type, not a size. */
static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sl_lua_t *rt = ud;
    if (USE_SLAB && !ptr && sl_slab_fits(nsize)) {
        if (rt->mem_limit && rt->mem + nsize > rt->mem_limit)
            return NULL;
        void *p = sl_slab_alloc(&rt->slab, nsize);
        if (p)
            rt->mem += nsize;
        return p;
    }
    if (USE_SLAB && ptr && nsize == 0 && sl_slab_fits(osize)) {
        sl_slab_free(&rt->slab, ptr, osize);
        rt->mem -= osize;
        return NULL;
    }
    return rt_alloc_any(rt, ptr, osize, nsize);
}

/* Runs f with ud as its one argument in protected mode on the main thread;
 * f's results stay on the main stack. Returns their count, or -1 with the
 * error text copied to err (when not NULL) and the stack as it was. */
static int cpcall(sl_lua_t *rt, lua_CFunction f, void *ud, char *err, size_t errlen)
{
    lua_State *L = rt->L;
    if (!lua_checkstack(L, 2)) {
        if (err)
            snprintf(err, errlen, "stack overflow");
        return -1;
    }
    int top = lua_gettop(L);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
        if (err)
            snprintf(err, errlen, "%s",
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error object is not a string");
        lua_settop(L, top);
        return -1;
    }
    return lua_gettop(L) - top;
}

/* ---- guards: instruction budget and time limit ---------------------------------- */

static void guard_hook(lua_State *L, lua_Debug *ar);

static const char *blown_text(int kind)
{
    return kind == BLOWN_TIME ? "time limit exceeded" : "instruction budget exceeded";
}

/* The run is over its budget or its time: every thread of it raises from
 * now on, at every instruction, so a pcall in the handler (or a coroutine
 * it resumes) cannot swallow the abort. */
static void blow(sl_lua_t *rt, run_t *r, lua_State *L, lua_Debug *ar, int kind)
{
    if (!r->blown) {
        r->blown = kind;
        r->where[0] = '\0';
        if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
            snprintf(r->where, sizeof r->where, "%s:%d: ", ar->short_src, ar->currentline);
        for (frame_t *f = rt->top; f && f->run == r; f = f->up)
            if (f->L != L)
                lua_sethook(f->L, guard_hook, LUA_MASKCOUNT, 1);
    }
    lua_sethook(L, guard_hook, LUA_MASKCOUNT, 1);
    lua_pushfstring(L, "%s%s", r->where, blown_text(r->blown));
    lua_error(L);
}

/* The one hook of the guards. The budget sets it as a count hook on every
 * thread that runs under a guard (coroutines the app creates there inherit
 * it); each firing charges the hook's count to the innermost run. The time
 * limit's signal handler arms it (count 1) on the running thread of a
 * condemned run. A firing that finds neither (the tick landed as its run
 * ended) charges the budget or clears itself. */
static void guard_hook(lua_State *L, lua_Debug *ar)
{
    sl_lua_t *rt = rt_of(L);
    run_t *r = rt->run;
    if (r && (r->blown || r->serial == rt->condemned))
        blow(rt, r, L, ar, r->blown ? r->blown : BLOWN_TIME);
    if (rt->budget == 0) {
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    int count = lua_gethookcount(L);
    if (r)
        r->left -= count;
    if (!r || r->left > 0) { /* !r: a coroutine made under a guard, resumed outside any */
        if (count != rt->chunk)
            lua_sethook(L, guard_hook, LUA_MASKCOUNT, rt->chunk);
        return;
    }
    blow(rt, r, L, ar, BLOWN_BUDGET);
}

static void publish_top(sl_lua_t *rt, frame_t *f)
{
    atomic_signal_fence(memory_order_release);
    rt->top = f;
}

/* Starts a guarded run of L, described by *r (the caller's, on its stack,
 * until run_leave). */
static void run_enter(sl_lua_t *rt, lua_State *L, run_t *r)
{
    r->f.L = L;
    r->f.run = r;
    r->f.up = rt->top;
    r->outer = rt->run;
    r->serial = ++rt->serial;
    r->ticks = 0;
    r->left = (int64_t)rt->budget;
    r->blown = NOT_BLOWN;
    r->where[0] = '\0';
    if (rt->budget)
        lua_sethook(L, guard_hook, LUA_MASKCOUNT, rt->chunk); /* also restarts the count */
    else if (lua_gethook(L) == guard_hook)
        lua_sethook(L, NULL, 0, 0); /* left by a run the time limit stopped */
    rt->run = r;
    rt->depth++;
    publish_top(rt, &r->f);
}

/* Ends the run; returns how it was stopped (NOT_BLOWN: it was not), with
 * the place in r->where. */
static int run_leave(sl_lua_t *rt, run_t *r)
{
    publish_top(rt, r->f.up);
    rt->run = r->outer;
    rt->depth--;
    return r->blown;
}

void sl_lua_set_budget(sl_lua_t *rt, uint64_t n)
{
    if (n > (uint64_t)INT64_MAX)
        n = (uint64_t)INT64_MAX;
    rt->budget = n;
    uint64_t c = n / 16;
    if (c < 1)
        c = 1;
    if (c > CHUNK_MAX)
        c = CHUNK_MAX;
    rt->chunk = (int)c;
}

/* The time limit's tick. Only reads the top frame and arms a hook, both
 * fine in a signal handler (lua.c arms its SIGINT hook the same way). A
 * run's first tick may carry CPU spent before it started, so a run is
 * condemned at the tick after ticks_max: it has then used at least the
 * limit. Every later tick arms the hook again, in case the thread running
 * cleared it meanwhile (run_enter, a stale firing). */
static void tick_handler(int sig, siginfo_t *si, void *uctx)
{
    (void)sig, (void)uctx;
    if (si->si_code != SI_TIMER)
        return;
    sl_lua_t *rt = si->si_value.sival_ptr;
    frame_t *f = rt->top;
    if (!f)
        return;
    atomic_signal_fence(memory_order_acquire);
    run_t *r = f->run;
    r->ticks += 1 + (si->si_overrun > 0 ? si->si_overrun : 0);
    if (r->ticks <= rt->ticks_max)
        return;
    rt->condemned = r->serial;
    lua_sethook(f->L, guard_hook, LUA_MASKCOUNT, 1);
}

static int tick_signal(void) { return SIGRTMIN + 3; }

static int install_tick_handler(char *err, size_t n)
{
    static int installed;
    if (installed)
        return 0;
    struct sigaction sa, old;
    if (sigaction(tick_signal(), NULL, &old) == 0 && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN &&
        old.sa_sigaction != tick_handler) {
        snprintf(err, n, "signal %d is in use", tick_signal());
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = tick_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(tick_signal(), &sa, NULL) != 0) {
        snprintf(err, n, "sigaction: %s", strerror(errno));
        return -1;
    }
    installed = 1;
    return 0;
}

/* The timer counts the CPU time of the thread that made the runtime (the
 * loop's) and signals that thread only: it does not tick while the server
 * sleeps in epoll, so an idle server gets no signals. */
static int create_timer(sl_lua_t *rt, char *err, size_t n)
{
    if (install_tick_handler(err, n))
        return -1;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = tick_signal();
    sev.sigev_value.sival_ptr = rt;
    sev.sigev_notify_thread_id = gettid();
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &rt->timer) != 0) {
        snprintf(err, n, "timer_create: %s", strerror(errno));
        return -1;
    }
    rt->has_timer = 1;
    return 0;
}

/* A tick queued before the delete is delivered on the way back from it
 * (the signal is not blocked), while rt is still alive. */
static void stop_timer(sl_lua_t *rt)
{
    if (rt->has_timer)
        timer_delete(rt->timer);
    rt->has_timer = 0;
}

int sl_lua_set_time_limit(sl_lua_t *rt, uint64_t ms)
{
    char err[128];
    if (ms && !rt->has_timer && create_timer(rt, err, sizeof err)) {
        SL_ERROR("lua", "cannot start the Lua time limit: %s", err);
        return -1;
    }
    if (!rt->has_timer)
        return 0;
    uint64_t tick = ms / 4 < TICK_MIN_MS ? TICK_MIN_MS : ms / 4;
    uint64_t max = ms ? (ms + tick - 1) / tick : 0;
    rt->ticks_max = max > INT_MAX / 2 ? INT_MAX / 2 : (sig_atomic_t)max;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (ms) {
        its.it_interval.tv_sec = (time_t)(tick / 1000);
        its.it_interval.tv_nsec = (long)(tick % 1000) * 1000000L;
        its.it_value = its.it_interval;
    }
    if (timer_settime(rt->timer, 0, &its, NULL) != 0) {
        SL_ERROR("lua", "cannot set the Lua time limit: timer_settime: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void sl_lua_set_memory_limit(sl_lua_t *rt, size_t bytes) { rt->mem_limit = bytes; }
size_t sl_lua_memory(sl_lua_t *rt) { return rt->mem; }

/* ---- error reports ------------------------------------------------------------ */

struct co_err {
    lua_State *co;
    int want_msg;  /* the error object is not a string: tostring it here */
    int want_tb;
    sl_buf_t msg, tb;
};

/* Text of the error value on top of L, in the manner of lua.c. */
static const char *error_text(lua_State *L)
{
    if (lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    if (luaL_callmeta(L, -1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
}

/* The parts of a failed handler's report that need Lua allocations. */
static int co_err_cf(lua_State *L)
{
    struct co_err *e = lua_touserdata(L, 1);
    if (e->want_msg) {
        lua_xmove(e->co, L, 1); /* the error value; co is discarded anyway */
        sl_buf_append_str(&e->msg, error_text(L));
    }
    if (e->want_tb) {
        luaL_traceback(L, e->co, NULL, 0);
        sl_buf_append_str(&e->tb, lua_tostring(L, -1));
    }
    return 0;
}

/* "src:line: " of the innermost Lua function on a failed coroutine's stack
 * (it is left unwound for this). For errors without a position: out of
 * memory, error(table), error("x", 0). */
static void co_where(lua_State *co, char *out, size_t n)
{
    lua_Debug ar;
    out[0] = '\0';
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
            snprintf(out, n, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
}

/* co->what, or for a spawned function "function defined at src:line"
 * from the outermost Lua frame of its stack (kept there until released):
 * a C function that starts a handler (lua_bind's events) is passed over
 * for the Lua function it called. */
static const char *co_what(sl_lua_co_t *co)
{
    if (co->what[0])
        return co->what;
    lua_Debug ar, outer;
    int found = 0;
    for (int level = 0; lua_getstack(co->L, level, &ar); level++) {
        if (lua_getinfo(co->L, "S", &ar) && strcmp(ar.what, "C") != 0) {
            outer = ar;
            found = 1;
        }
    }
    if (found && outer.linedefined > 0)
        snprintf(co->what, sizeof co->what, "function defined at %s:%d", outer.short_src, outer.linedefined);
    else
        snprintf(co->what, sizeof co->what, "spawned function");
    return co->what;
}

static void report_co_error(sl_lua_co_t *co, int status, const run_t *blown)
{
    lua_State *L = co->L;
    struct co_err e = {L, 0, sl_log_level <= SL_LOG_DEBUG, SL_BUF_INIT, SL_BUF_INIT};
    char where[WHERE_MAX];
    if (blown) {
        sl_buf_appendf(&e.msg, "%s%s", blown->where, blown_text(blown->blown));
    } else {
        int is_str = lua_type(L, -1) == LUA_TSTRING;
        if (status == LUA_ERRMEM || !is_str) {
            co_where(L, where, sizeof where);
            sl_buf_append_str(&e.msg, where);
        }
        if (is_str)
            sl_buf_append_str(&e.msg, lua_tostring(L, -1));
        else
            e.want_msg = 1;
    }
    size_t before = e.msg.len;
    if ((e.want_msg || e.want_tb) && cpcall(co->rt, co_err_cf, &e, NULL, 0) < 0 && e.want_msg &&
        e.msg.len == before)
        sl_buf_append_str(&e.msg, "(error object is not a string)");
    LUA_FAILED(co->rt, SL_ERROR, "lua error in %s: %.*s", co_what(co), (int)e.msg.len,
               e.msg.data ? e.msg.data : "");
    if (e.tb.len)
        SL_DEBUG("lua", "%.*s", (int)e.tb.len, e.tb.data);
    sl_buf_free(&e.msg);
    sl_buf_free(&e.tb);
}

/* ---- the deferred queue -------------------------------------------------------- */

static void idle_cb(uv_idle_t *h);

static void enqueue(sl_lua_wait_t *w)
{
    sl_lua_t *rt = w->co->rt;
    w->queued = 1;
    w->gen = rt->qgen;
    w->qnext = NULL;
    if (rt->qtail)
        rt->qtail->qnext = w;
    else
        rt->qhead = w;
    rt->qtail = w;
    if (!rt->closing && !uv_is_active((uv_handle_t *)&rt->idle))
        uv_idle_start(&rt->idle, idle_cb);
}

static void queue_remove(sl_lua_t *rt, sl_lua_wait_t *w)
{
    sl_lua_wait_t **pp = &rt->qhead, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = w->qnext;
    if (rt->qtail == w)
        rt->qtail = prev;
    w->queued = 0;
}

/* Ends a wait without resuming. notify: the owner still holds it, so its
 * cancel callback tells it to let go. */
static void drop_wait(sl_lua_wait_t *w, int notify)
{
    sl_lua_co_t *co = w->co;
    sl_lua_t *rt = co->rt;
    if (w->queued)
        queue_remove(rt, w);
    if (w->vals_ref != LUA_NOREF && !rt->closing)
        luaL_unref(rt->L, LUA_REGISTRYINDEX, w->vals_ref);
    if (co->wait == w)
        co->wait = NULL;
    sl_lua_wait_cancel_cb cb = w->cancel_cb;
    void *ud = w->ud;
    free(w);
    if (notify && cb)
        cb(ud);
}

/* ---- handler coroutines ------------------------------------------------------- */

static int new_thread_cf(lua_State *L)
{
    sl_lua_co_t *co = lua_touserdata(L, 1);
    co->L = lua_newthread(L);
    co->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static sl_lua_co_t *co_acquire(sl_lua_t *rt)
{
    sl_lua_co_t *co = rt->pool;
    if (co) {
        rt->pool = co->next;
        rt->npool--;
    } else {
        co = calloc(1, sizeof *co);
        if (!co)
            return NULL;
        co->rt = rt;
        co->ref = LUA_NOREF;
        if (cpcall(rt, new_thread_cf, co, NULL, 0) < 0) {
            free(co);
            return NULL;
        }
        set_co(co->L, co);
    }
    co->prev = NULL;
    co->next = rt->live;
    if (rt->live)
        rt->live->prev = co;
    rt->live = co;
    co->state = CO_RUNNING;
    co->yielding = 0;
    co->wait = NULL;
    co->quiet = 0;
    return co;
}

/* A handler is over. A cleanly finished thread goes back to the pool; any
 * other is reset (its pending to-be-closed variables close, under a fresh
 * budget) and released to the GC. */
static void co_release(sl_lua_co_t *co, int finished)
{
    sl_lua_t *rt = co->rt;
    if (co->prev)
        co->prev->next = co->next;
    else
        rt->live = co->next;
    if (co->next)
        co->next->prev = co->prev;
    if (co->wait) /* armed by a C function that then failed or never yielded */
        drop_wait(co->wait, !co->wait->queued);
    if (finished && !rt->closing && rt->npool < POOL_MAX && lua_status(co->L) == LUA_OK &&
        lua_gettop(co->L) == 0) {
        co->state = CO_IDLE;
        co->prev = NULL;
        co->next = rt->pool;
        rt->pool = co;
        rt->npool++;
        return;
    }
    set_co(co->L, NULL); /* from here on it is a plain thread: no waits */
    if (!finished) {
        run_t run;
        run_enter(rt, co->L, &run);
        lua_resetthread(co->L);
        run_leave(rt, &run);
    }
    luaL_unref(rt->L, LUA_REGISTRYINDEX, co->ref);
    free(co);
}

/* ---- handler time ---------------------------------------------------------------- */

const uint64_t sl_lua_hist_bounds_ns[SL_LUA_HIST_BUCKETS] = {
    10000,   25000,    50000,    100000,    250000,    500000,    1000000,    2500000,
    5000000, 10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
};

/* Only the outermost run of Lua is timed (a handler started from inside
 * another is part of its time): what the loop spends in Lua per event.
 * Two clock reads a run, so only while asked for (metrics on). */
static uint64_t timing_start(const sl_lua_t *rt) { return rt->timing && rt->depth == 0 ? uv_hrtime() : 0; }

static void timing_end(sl_lua_t *rt, uint64_t t0)
{
    if (!t0)
        return;
    uint64_t ns = uv_hrtime() - t0;
    int i = 0;
    while (i < SL_LUA_HIST_BUCKETS && ns > sl_lua_hist_bounds_ns[i])
        i++;
    rt->stats.buckets[i]++;
    rt->stats.runs++;
    rt->stats.run_ns += ns;
}

void sl_lua_set_timing(sl_lua_t *rt, int on) { rt->timing = on; }
const sl_lua_stats_t *sl_lua_stats(const sl_lua_t *rt) { return &rt->stats; }

/* Resumes co with the nargs values on its stack and settles the outcome:
 * parked in a wait, finished, or failed (logged). */
static int co_resume(sl_lua_co_t *co, int nargs)
{
    sl_lua_t *rt = co->rt;
    lua_State *from = rt->top ? rt->top->L : NULL;
    run_t run;
    int nres = 0;

    co->state = CO_RUNNING;
    co->yielding = 0;
    uint64_t t0 = timing_start(rt);
    run_enter(rt, co->L, &run);
    int st = lua_resume(co->L, from, nargs, &nres);
    int blown = run_leave(rt, &run);
    timing_end(rt, t0);

    if (st == LUA_YIELD && co->yielding && co->wait) {
        lua_pop(co->L, nres);
        co->yielding = 0;
        co->state = CO_PARKED;
        return 0;
    }
    if (st == LUA_OK) {
        lua_settop(co->L, 0);
        co_release(co, 1);
        return 0;
    }
    /* Quiet: the function that started the handler reports it. */
    if (!co->quiet && st == LUA_YIELD)
        LUA_FAILED(rt, SL_ERROR,
                   "lua error in %s: coroutine.yield() outside a siolua wait stops the handler "
                   "(use sio.sleep(0) to let others run)",
                   co_what(co));
    else if (!co->quiet)
        report_co_error(co, st, blown ? &run : NULL);
    co_release(co, 0);
    return -1;
}

/* A pooled (or new) coroutine for a handler, described by what (NULL:
 * lazily, co_what), with room for n values; NULL (logged) when the
 * runtime is closing or out of memory. */
static sl_lua_co_t *co_for(sl_lua_t *rt, int n, const char *what)
{
    if (rt->closing)
        return NULL;
    sl_lua_co_t *co = co_acquire(rt);
    if (!co) {
        LUA_FAILED(rt, SL_ERROR, "lua error in %s: cannot create a coroutine: not enough memory",
                   what ? what : "a spawned function");
        return NULL;
    }
    if (what)
        snprintf(co->what, sizeof co->what, "%s", what);
    else
        co->what[0] = '\0';
    if (!lua_checkstack(co->L, n)) {
        LUA_FAILED(rt, SL_ERROR, "lua error in %s: too many arguments", what ? what : "a spawned function");
        co_release(co, 1);
        return NULL;
    }
    return co;
}

/* what NULL: a function spawned from Lua, described lazily (co_what). */
static int spawn(sl_lua_t *rt, lua_State *L, int nargs, const char *what)
{
    sl_lua_co_t *co = co_for(rt, nargs + 1, what);
    if (!co) {
        lua_pop(L, nargs + 1);
        return -1;
    }
    lua_xmove(L, co->L, nargs + 1);
    return co_resume(co, nargs);
}

int sl_lua_spawn(sl_lua_t *rt, lua_State *L, int nargs, const char *what)
{
    return spawn(rt, L, nargs, what ? what : "handler");
}

int sl_lua_spawn_function(sl_lua_t *rt, lua_State *L, int nargs) { return spawn(rt, L, nargs, NULL); }

int sl_lua_spawn_ref(sl_lua_t *rt, int fn_ref, void *ud)
{
    sl_lua_co_t *co = co_for(rt, 2, NULL);
    if (!co)
        return -1;
    lua_rawgeti(co->L, LUA_REGISTRYINDEX, fn_ref);
    lua_pushlightuserdata(co->L, ud);
    return co_resume(co, 1);
}

int sl_lua_handler_quiet(lua_State *L, int on)
{
    sl_lua_co_t *co = co_of(L);
    if (!co || co->L != L || co->state != CO_RUNNING)
        return 0;
    co->quiet = on;
    return 1;
}

/* ---- synchronous calls ---------------------------------------------------------- */

static int msgh(lua_State *L)
{
    luaL_traceback(L, L, error_text(L), 1);
    return 1;
}

int sl_lua_pcall(sl_lua_t *rt, lua_State *L, int nargs, int nresults, const char *what)
{
    int fn = lua_gettop(L) - nargs;
    if (!what)
        what = "call";
    if (!lua_checkstack(L, 1)) {
        LUA_FAILED(rt, SL_ERROR, "lua error in %s: stack overflow", what);
        lua_settop(L, fn - 1);
        return -1;
    }
    lua_pushcfunction(L, msgh);
    lua_insert(L, fn);
    lua_Hook hook = lua_gethook(L);
    int mask = lua_gethookmask(L), count = lua_gethookcount(L);
    run_t run;
    uint64_t t0 = timing_start(rt);
    run_enter(rt, L, &run);
    int st = lua_pcall(L, nargs, nresults, fn);
    int blown = run_leave(rt, &run);
    timing_end(rt, t0);
    lua_sethook(L, hook, mask, count);
    if (st == LUA_OK) {
        lua_remove(L, fn);
        return 0;
    }
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
    const char *tb = strstr(s, "\nstack traceback:");
    int mlen = tb ? (int)(tb - s) : (int)strlen(s);
    if (blown)
        LUA_FAILED(rt, SL_ERROR, "lua error in %s: %s%s", what, run.where, blown_text(blown));
    else
        LUA_FAILED(rt, SL_ERROR, "lua error in %s: %.*s", what, mlen, s);
    if (tb)
        SL_DEBUG("lua", "%s", tb + 1);
    lua_settop(L, fn - 1);
    return -1;
}

/* ---- waits -------------------------------------------------------------------- */

sl_lua_wait_t *sl_lua_wait_new(lua_State *L, sl_lua_wait_cancel_cb cancel_cb, void *ud)
{
    sl_lua_co_t *co = co_of(L);
    if (!co || co->L != L || co->state != CO_RUNNING)
        luaL_error(L, "cannot wait here: not inside a siolua handler coroutine");
    if (!lua_isyieldable(L))
        luaL_error(L, "cannot wait here: not inside a siolua handler coroutine "
                      "(a metamethod, iterator or callback called from C cannot wait)");
    if (co->rt->closing)
        luaL_error(L, "cannot wait here: the Lua runtime is closing");
    if (co->wait) /* left armed by a C function that raised: its owner is told */
        drop_wait(co->wait, !co->wait->queued);
    sl_lua_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        luaL_error(L, "not enough memory");
    w->co = co;
    w->cancel_cb = cancel_cb;
    w->ud = ud;
    w->vals_ref = LUA_NOREF;
    co->wait = w;
    return w;
}

void sl_lua_wait_set_cancel(sl_lua_wait_t *w, sl_lua_wait_cancel_cb cancel_cb, void *ud)
{
    w->cancel_cb = cancel_cb;
    w->ud = ud;
}

int sl_lua_yield(lua_State *L)
{
    sl_lua_co_t *co = co_of(L);
    if (!co || co->L != L || !co->wait)
        return luaL_error(L, "sl_lua_yield without a wait (call sl_lua_wait_new first)");
    co->yielding = 1;
    return lua_yield(L, 0);
}

enum { PUSH_CB, PUSH_CANCEL, PUSH_PACKED, PACK };

struct push_args {
    int mode;
    sl_lua_wait_t *w;
    sl_lua_push_cb push;
    void *ud;
};

/* Builds a wait's results on the main thread, in protected mode: from the
 * owner's callback, from a cancel, or from values packed earlier; PACK
 * packs the callback's values into a table kept in the registry. */
static int push_cf(lua_State *L)
{
    struct push_args *a = lua_touserdata(L, 1);
    sl_lua_wait_t *w = a->w;
    lua_settop(L, 0);
    switch (a->mode) {
    case PUSH_CB:
        return a->push ? a->push(L, a->ud) : 0;
    case PUSH_CANCEL:
        lua_pushnil(L);
        lua_pushstring(L, w->reason);
        return 2;
    case PUSH_PACKED: {
        lua_rawgeti(L, LUA_REGISTRYINDEX, w->vals_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, w->vals_ref);
        w->vals_ref = LUA_NOREF;
        lua_getfield(L, 1, "n");
        int n = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        luaL_checkstack(L, n, "too many results");
        for (int i = 1; i <= n; i++)
            lua_rawgeti(L, 1, i);
        return n;
    }
    default: { /* PACK */
        int n = a->push ? a->push(L, a->ud) : 0;
        lua_createtable(L, n, 1);
        for (int i = 1; i <= n; i++) {
            lua_pushvalue(L, i);
            lua_rawseti(L, -2, i);
        }
        lua_pushinteger(L, n);
        lua_setfield(L, -2, "n");
        w->vals_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    }
}

/* Pushes a wait's results on the main stack and returns their count. When
 * they cannot be built the handler gets nil, the error, or nothing. */
static int push_results(sl_lua_t *rt, sl_lua_wait_t *w, int mode, sl_lua_push_cb push, void *ud)
{
    struct push_args a = {mode, w, push, ud};
    int n = cpcall(rt, push_cf, &a, w->reason, sizeof w->reason);
    if (n >= 0)
        return n;
    LUA_FAILED(rt, SL_WARN, "lua error in %s: cannot deliver the results of its wait: %s", co_what(w->co),
               w->reason);
    a.mode = PUSH_CANCEL;
    n = cpcall(rt, push_cf, &a, NULL, 0);
    return n < 0 ? 0 : n;
}

/* Frees w and resumes its parked handler with the n values on the main stack. */
static int resume_parked(sl_lua_wait_t *w, int n)
{
    sl_lua_co_t *co = w->co;
    sl_lua_t *rt = co->rt;
    if (w->vals_ref != LUA_NOREF)
        luaL_unref(rt->L, LUA_REGISTRYINDEX, w->vals_ref);
    co->wait = NULL;
    free(w);
    if (!lua_checkstack(co->L, n)) {
        lua_pop(rt->L, n);
        n = 0;
    }
    lua_xmove(rt->L, co->L, n);
    return co_resume(co, n);
}

int sl_lua_wait_resume(sl_lua_wait_t *w, sl_lua_push_cb push, void *ud)
{
    if (w->queued) /* already resumed later or cancelled */
        return -1;
    sl_lua_co_t *co = w->co;
    if (co->state != CO_PARKED || co->rt->closing) {
        /* The C function that made the wait has not yielded yet. */
        sl_lua_wait_resume_later(w, push, ud);
        return 0;
    }
    int n = push_results(co->rt, w, PUSH_CB, push, ud);
    return resume_parked(w, n);
}

void sl_lua_wait_resume_later(sl_lua_wait_t *w, sl_lua_push_cb push, void *ud)
{
    if (w->queued)
        return;
    if (push) {
        struct push_args a = {PACK, w, push, ud};
        if (cpcall(w->co->rt, push_cf, &a, w->reason, sizeof w->reason) < 0) {
            LUA_FAILED(w->co->rt, SL_WARN, "lua error in %s: cannot deliver the results of its wait: %s",
                       co_what(w->co), w->reason);
            w->cancelled = 1;
        }
    }
    enqueue(w);
}

void sl_lua_wait_cancel(sl_lua_wait_t *w, const char *reason)
{
    if (w->queued)
        return;
    w->cancelled = 1;
    snprintf(w->reason, sizeof w->reason, "%s", reason ? reason : "cancelled");
    enqueue(w);
}

/* Runs the waits queued before this call; those queued meanwhile wait for
 * the next loop iteration (the active idle handle makes its poll
 * non-blocking), so handlers that keep waking each other cannot starve I/O. */
static void idle_cb(uv_idle_t *h)
{
    sl_lua_t *rt = h->data;
    unsigned gen = rt->qgen++;
    sl_lua_wait_t *w;
    while ((w = rt->qhead) != NULL && w->gen == gen) {
        rt->qhead = w->qnext;
        if (!rt->qhead)
            rt->qtail = NULL;
        w->queued = 0;
        sl_lua_co_t *co = w->co;
        if (co->state != CO_PARKED || co->wait != w) {
            /* Its coroutine ends or parks before any loop turn, so this
             * means a bug; leave the handler as it is. */
            SL_ERROR("lua", "internal: a queued wait of %s is not parked", co_what(co));
            drop_wait(w, 0);
            continue;
        }
        int n = 0;
        if (w->cancelled)
            n = push_results(rt, w, PUSH_CANCEL, NULL, NULL);
        else if (w->vals_ref != LUA_NOREF)
            n = push_results(rt, w, PUSH_PACKED, NULL, NULL);
        resume_parked(w, n);
    }
    if (!rt->qhead)
        uv_idle_stop(h);
}

/* ---- timers ------------------------------------------------------------------- */

/* The Lua object is a box pointing at the C timer; the C timer lives until
 * its handle has closed and anchors the box (hence the callback and its
 * arguments, the box's user value) while pending. */
typedef struct timer_box {
    sl_lua_timer_t *t;
} timer_box_t;

struct sl_lua_timer {
    uv_timer_t h;
    sl_lua_t *rt;
    timer_box_t *box;
    int ref;
    int nargs;
    int repeat;
    sl_lua_timer_t *prev, *next;
    char what[WHAT_MAX];
};

static void timer_closed_cb(uv_handle_t *h) { free(h->data); }

/* The timer is over for good (fired once, cancelled, or the runtime ends). */
static void timer_detach(sl_lua_timer_t *t)
{
    sl_lua_t *rt = t->rt;
    if (t->box)
        t->box->t = NULL;
    t->box = NULL;
    if (!rt->closing)
        luaL_unref(rt->L, LUA_REGISTRYINDEX, t->ref);
    if (t->prev)
        t->prev->next = t->next;
    else
        rt->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    uv_close((uv_handle_t *)&t->h, timer_closed_cb);
}

static void timer_cb(uv_timer_t *h)
{
    sl_lua_timer_t *t = h->data;
    sl_lua_t *rt = t->rt;
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    int n = t->nargs;
    char what[WHAT_MAX];
    if (!lua_checkstack(L, n + 3)) {
        LUA_FAILED(rt, SL_ERROR, "lua error in %s: stack overflow", t->what);
        return;
    }
    memcpy(what, t->what, sizeof what);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref); /* box, keeps the values alive */
    lua_getiuservalue(L, -1, 1);               /* {fn, args...} */
    for (int i = 1; i <= n + 1; i++)
        lua_rawgeti(L, top + 2, i);
    if (!t->repeat)
        timer_detach(t); /* inactive before fn runs: fn sees :active() false */
    sl_lua_spawn(rt, L, n, what);
    lua_settop(L, top);
}

static uint64_t check_ms(lua_State *L, int idx)
{
    lua_Number ms = luaL_checknumber(L, idx);
    luaL_argcheck(L, ms >= 0 && ms < 1e15, idx, "milliseconds must be a number >= 0");
    return (uint64_t)ceil(ms);
}

static int set_timer(lua_State *L, int repeat)
{
    sl_lua_t *rt = rt_of(L);
    uint64_t ms = check_ms(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 2;
    if (rt->closing)
        return luaL_error(L, "the Lua runtime is closing");
    /* Everything that may raise comes before the malloc. */
    timer_box_t *box = lua_newuserdatauv(L, sizeof *box, 1);
    box->t = NULL;
    luaL_setmetatable(L, TIMER_MT);
    lua_createtable(L, nargs + 1, 0);
    for (int i = 0; i <= nargs; i++) {
        lua_pushvalue(L, 2 + i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, -2, 1);
    char where[WHERE_MAX];
    caller_where(L, where, sizeof where);
    lua_pushvalue(L, -1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sl_lua_timer_t *t = calloc(1, sizeof *t);
    if (!t) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        luaL_pushfail(L);
        lua_pushliteral(L, "not enough memory");
        return 2;
    }
    t->rt = rt;
    t->box = box;
    t->ref = ref;
    t->nargs = nargs;
    t->repeat = repeat;
    snprintf(t->what, sizeof t->what, "%s callback (%s)", repeat ? "set_interval" : "set_timeout", where);
    uv_timer_init(rt->loop, &t->h);
    t->h.data = t;
    uv_update_time(rt->loop); /* see l_sleep */
    uv_timer_start(&t->h, timer_cb, ms, repeat ? (ms ? ms : 1) : 0);
    t->next = rt->timers;
    if (rt->timers)
        rt->timers->prev = t;
    rt->timers = t;
    box->t = t;
    return 1;
}

static int l_set_timeout(lua_State *L) { return set_timer(L, 0); }
static int l_set_interval(lua_State *L) { return set_timer(L, 1); }

static int l_timer_cancel(lua_State *L)
{
    timer_box_t *box = luaL_checkudata(L, 1, TIMER_MT);
    int was = box->t != NULL;
    if (box->t)
        timer_detach(box->t);
    lua_pushboolean(L, was);
    return 1;
}

static int l_timer_active(lua_State *L)
{
    timer_box_t *box = luaL_checkudata(L, 1, TIMER_MT);
    lua_pushboolean(L, box->t != NULL);
    return 1;
}

static int l_timer_tostring(lua_State *L)
{
    timer_box_t *box = luaL_checkudata(L, 1, TIMER_MT);
    lua_pushfstring(L, "siolua.timer (%s)", box->t ? "pending" : "done");
    return 1;
}

static int l_clear_timeout(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        return 0;
    lua_settop(L, 1);
    return l_timer_cancel(L);
}

/* ---- sleep, now, log ------------------------------------------------------------ */

typedef struct sleep_s {
    uv_timer_t h;
    sl_lua_wait_t *w;
} sleep_t;

static void sleep_closed_cb(uv_handle_t *h) { free(h->data); }

static int push_true(lua_State *L, void *ud)
{
    (void)ud;
    lua_pushboolean(L, 1);
    return 1;
}

static void sleep_timer_cb(uv_timer_t *h)
{
    sleep_t *s = h->data;
    sl_lua_wait_t *w = s->w;
    uv_close((uv_handle_t *)h, sleep_closed_cb);
    sl_lua_wait_resume(w, push_true, NULL);
}

static void sleep_cancel_cb(void *ud)
{
    sleep_t *s = ud;
    if (s)
        uv_close((uv_handle_t *)&s->h, sleep_closed_cb);
}

/* sleep(0) goes through the queue rather than a 0 ms timer: libuv 1.44
 * runs a timer started from a timer callback in the same pass, so
 * `while true do sio.sleep(0) end` would never let I/O in. */
static int l_sleep(lua_State *L)
{
    uint64_t ms = check_ms(L, 1);
    sl_lua_t *rt = rt_of(L);
    sl_lua_wait_t *w = sl_lua_wait_new(L, NULL, NULL);
    if (ms == 0) {
        sl_lua_wait_resume_later(w, push_true, NULL);
        return sl_lua_yield(L);
    }
    sleep_t *s = malloc(sizeof *s);
    if (!s) {
        sl_lua_wait_cancel(w, "not enough memory");
        return sl_lua_yield(L);
    }
    s->w = w;
    uv_timer_init(rt->loop, &s->h);
    s->h.data = s;
    /* Timers count from the loop's cached time, which is stale when a long
     * handler (or start-up code run before uv_run) got here: refresh it so
     * a sleep never ends early. */
    uv_update_time(rt->loop);
    uv_timer_start(&s->h, sleep_timer_cb, ms, 0);
    sl_lua_wait_set_cancel(w, sleep_cancel_cb, s);
    return sl_lua_yield(L);
}

/* now(): the wall clock in whole milliseconds since 1970, as Date.now(). */
static int l_now(lua_State *L)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv))
        return luaL_error(L, "no wall clock");
    lua_pushinteger(L, (lua_Integer)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    return 1;
}

/* monotonic(): milliseconds (a float) from a clock that never goes back,
 * for deadlines and durations, as performance.now(). */
static int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e6);
    return 1;
}

/* upvalue 1: level, upvalue 2: the original string.format */
static int l_log(lua_State *L)
{
    sl_log_level_t lvl = (sl_log_level_t)lua_tointeger(L, lua_upvalueindex(1));
    if (sl_log_level > lvl)
        return 0;
    int n = lua_gettop(L);
    const char *msg = "";
    if (n >= 2) {
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_insert(L, 1);
        if (lua_pcall(L, n, 1, 0) != LUA_OK)
            return luaL_error(L, "%s", lua_tostring(L, -1));
        msg = lua_tostring(L, -1);
    } else if (n == 1) {
        msg = luaL_tolstring(L, 1, NULL);
    }
    char where[WHERE_MAX];
    caller_where(L, where, sizeof where);
    sl_logf(lvl, "lua", SL_LOG_FIELDS("where", where), "%s: %s", where, msg ? msg : "");
    return 0;
}

/* ---- primitives for the Lua library ---------------------------------------------- */

int sl_lua_l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int r = spawn(rt_of(L), L, lua_gettop(L) - 1, NULL);
    lua_pushboolean(L, r == 0);
    return 1;
}

/* The waker's values (once woken) are its user value: {n = N, ...}. */
typedef struct waker {
    sl_lua_wait_t *w;
    int woken;
} waker_t;

int sl_lua_l_waker(lua_State *L)
{
    waker_t *k = lua_newuserdatauv(L, sizeof *k, 1);
    k->w = NULL;
    k->woken = 0;
    luaL_setmetatable(L, WAKER_MT);
    return 1;
}

static void waker_cancel_cb(void *ud)
{
    waker_t *k = ud;
    k->w = NULL;
}

static int l_waker_wait(lua_State *L)
{
    waker_t *k = luaL_checkudata(L, 1, WAKER_MT);
    if (k->woken) {
        lua_getiuservalue(L, 1, 1);
        lua_getfield(L, -1, "n");
        int n = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        luaL_checkstack(L, n, "too many values");
        int t = lua_gettop(L);
        for (int i = 1; i <= n; i++)
            lua_rawgeti(L, t, i);
        return n;
    }
    if (k->w)
        return luaL_error(L, "waker: another handler is already waiting on it");
    k->w = sl_lua_wait_new(L, waker_cancel_cb, k);
    return sl_lua_yield(L);
}

/* The woken values travel in a table anchored in the registry, not as
 * stack slots of the waking call: the push runs in a frame of its own,
 * possibly on the same thread (a wake from main-thread code), where the
 * waker's stack indices mean something else. */
struct wake_args {
    int ref, n;
};

static int push_wake_args(lua_State *L, void *ud)
{
    struct wake_args *a = ud;
    luaL_checkstack(L, a->n + 1, "too many values");
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
    for (int i = 1; i <= a->n; i++)
        lua_rawgeti(L, -i, i);
    lua_remove(L, -(a->n + 1));
    return a->n;
}

static int l_waker_wake(lua_State *L)
{
    waker_t *k = luaL_checkudata(L, 1, WAKER_MT);
    if (k->woken) {
        lua_pushboolean(L, 0);
        return 1;
    }
    int n = lua_gettop(L) - 1;
    lua_createtable(L, n, 1);
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, i + 1);
        lua_rawseti(L, -2, i);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_setiuservalue(L, 1, 1);
    k->woken = 1;
    if (k->w) {
        sl_lua_wait_t *w = k->w;
        lua_getiuservalue(L, 1, 1);
        struct wake_args a = {luaL_ref(L, LUA_REGISTRYINDEX), n};
        k->w = NULL;
        sl_lua_wait_resume_later(w, push_wake_args, &a);
        luaL_unref(L, LUA_REGISTRYINDEX, a.ref);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- coroutine library guard ---------------------------------------------------- */

/* A handler is resumed only by the wait it parked on: resuming it from app
 * code would return from sio.sleep early and later resume it at a random
 * point. upvalue 1: the original function. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Resumes the app's coroutine co from L with the narg values on top of L
 * (coroutine.resume and coroutine.wrap as Lua's own do it), with co
 * published as the running thread, so that the time limit arms the thread
 * actually looping. Returns the count of values moved to L, or -1 with the
 * error value on top of L. Never raises: the frame on this C stack must be
 * unpublished before leaving. reset: close a failed co's pending
 * to-be-closed variables (wrap), still as the running thread. */
static int resume_app(lua_State *L, lua_State *co, int narg, int reset, int *status)
{
    sl_lua_t *rt = rt_of(L);
    *status = LUA_OK;
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    frame_t f = {co, rt->run, rt->top};
    if (f.run)
        publish_top(rt, &f);
    int nres, st = lua_resume(co, L, narg, &nres);
    /* Like Lua's wrap, judged by the thread's own status: resuming a dead
     * coroutine fails but leaves it as it was. The reset leaves its error
     * object on top of co. */
    *status = lua_status(co);
    if (reset && st != LUA_OK && st != LUA_YIELD && *status != LUA_OK && *status != LUA_YIELD)
        *status = lua_resetthread(co);
    if (f.run)
        publish_top(rt, f.up);
    if (st == LUA_OK || st == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

static int l_co_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    if (co && co_of(co)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cannot resume a siolua handler coroutine");
        return 2;
    }
    if (!co)
        return call_original(L); /* its own argument error */
    int st, n = resume_app(L, co, lua_gettop(L) - 1, 0, &st);
    if (n < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(n + 1));
    return n + 1;
}

/* The function coroutine.wrap returns. upvalue 1: the coroutine. */
static int l_co_wrapped(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int st, n = resume_app(L, co, lua_gettop(L), 1, &st);
    if (n >= 0)
        return n;
    if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1); /* the caller's position, as Lua's wrap adds it */
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int l_co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, l_co_wrapped, 1);
    return 1;
}

static int l_co_close(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    if (co && co_of(co))
        return luaL_error(L, "cannot close a siolua handler coroutine");
    return call_original(L);
}

/* ---- state set-up ---------------------------------------------------------------- */

static int panic_cb(lua_State *L)
{
    SL_ERROR("lua", "unprotected Lua error, aborting: %s",
             lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    return 0;
}

/* Lua warnings (warn(), errors in __gc) become one log line each. */
static void warn_cb(void *ud, const char *msg, int tocont)
{
    sl_lua_t *rt = ud;
    if (rt->warn.len == 0 && !tocont && msg[0] == '@')
        return; /* "@on"/"@off": warnings are always logged */
    sl_buf_append_str(&rt->warn, msg);
    if (!tocont) {
        SL_WARN("lua", "lua warning: %.*s", (int)rt->warn.len, rt->warn.data ? rt->warn.data : "");
        sl_buf_reset(&rt->warn);
    }
}

static void add_dir(luaL_Buffer *b, const char *dir)
{
    if (!dir || !*dir)
        return;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    luaL_addlstring(b, dir, n);
    luaL_addstring(b, "/?.lua;");
    luaL_addlstring(b, dir, n);
    luaL_addstring(b, "/?/init.lua;");
}

struct init_args {
    sl_lua_t *rt;
    const char *app_dir, *lib_dir;
};

static const luaL_Reg module_funcs[] = {
    {"set_timeout", l_set_timeout},   {"set_interval", l_set_interval},
    {"clear_timeout", l_clear_timeout}, {"clear_interval", l_clear_timeout},
    {"sleep", l_sleep},               {"now", l_now},
    {"monotonic", l_monotonic},
    {NULL, NULL},
};

static const luaL_Reg timer_methods[] = {
    {"cancel", l_timer_cancel},
    {"active", l_timer_active},
    {NULL, NULL},
};

static const luaL_Reg waker_methods[] = {
    {"wait", l_waker_wait},
    {"wake", l_waker_wake},
    {NULL, NULL},
};

static void new_metatable(lua_State *L, const char *name, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
}

static int init_cf(lua_State *L)
{
    struct init_args *a = lua_touserdata(L, 1);
    luaL_openlibs(L);

    lua_getglobal(L, "package");
    int pkg = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_dir(&b, a->app_dir);
    add_dir(&b, a->lib_dir);
    lua_getfield(L, pkg, "path");
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    lua_setfield(L, pkg, "path");
    lua_getfield(L, pkg, "preload");
    lua_pushcfunction(L, luaopen_cjson);
    lua_setfield(L, -2, "cjson");
    lua_pushcfunction(L, luaopen_cjson_safe);
    lua_setfield(L, -2, "cjson.safe");
    lua_settop(L, pkg - 1);

    lua_getglobal(L, "coroutine");
    lua_getfield(L, -1, "resume");
    lua_pushcclosure(L, l_co_resume, 1);
    lua_setfield(L, -2, "resume");
    lua_getfield(L, -1, "close");
    lua_pushcclosure(L, l_co_close, 1);
    lua_setfield(L, -2, "close");
    lua_pushcfunction(L, l_co_wrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);

    new_metatable(L, TIMER_MT, timer_methods);
    lua_pushcfunction(L, l_timer_cancel);
    lua_setfield(L, -2, "__gc"); /* never pending when collected; for safety */
    lua_pushcfunction(L, l_timer_cancel);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_timer_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    new_metatable(L, WAKER_MT, waker_methods);
    lua_pop(L, 1);

    luaL_newlib(L, module_funcs);
    int mod = lua_gettop(L);
    lua_createtable(L, 0, 4);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_remove(L, -2);
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        lua_pushinteger(L, SL_LOG_DEBUG + i);
        lua_pushvalue(L, -2);
        lua_pushcclosure(L, l_log, 2);
        lua_setfield(L, mod + 1, names[i]);
    }
    lua_pop(L, 1);
    lua_setfield(L, mod, "log");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, mod);
    lua_setfield(L, -2, "siolua");
    lua_pop(L, 1);
    a->rt->module_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

sl_lua_t *sl_lua_new(uv_loop_t *loop, const char *app_dir, const char *lib_dir)
{
    sl_lua_t *rt = calloc(1, sizeof *rt);
    if (!rt) {
        SL_ERROR("lua", "cannot create the Lua runtime: out of memory");
        return NULL;
    }
    rt->loop = loop;
    rt->module_ref = LUA_NOREF;
    sl_slab_init(&rt->slab);
    sl_lua_set_budget(rt, SL_LUA_DEFAULT_BUDGET);
    if (sl_lua_set_time_limit(rt, SL_LUA_DEFAULT_TIME_LIMIT_MS)) {
        sl_slab_destroy(&rt->slab);
        free(rt);
        return NULL;
    }
    rt->L = lua_newstate(rt_alloc, rt);
    if (!rt->L) {
        SL_ERROR("lua", "cannot create the Lua runtime: out of memory");
        stop_timer(rt);
        sl_slab_destroy(&rt->slab);
        free(rt);
        return NULL;
    }
    set_co(rt->L, NULL); /* threads copy it: only handlers set their own */
    lua_atpanic(rt->L, panic_cb);
    lua_setwarnf(rt->L, warn_cb, rt);
    struct init_args a = {rt, app_dir, lib_dir};
    char err[256];
    if (cpcall(rt, init_cf, &a, err, sizeof err) < 0) {
        SL_ERROR("lua", "cannot create the Lua runtime: %s", err);
        stop_timer(rt);
        lua_close(rt->L);
        sl_slab_destroy(&rt->slab);
        sl_buf_free(&rt->warn);
        free(rt);
        return NULL;
    }
    uv_idle_init(loop, &rt->idle);
    rt->idle.data = rt;
    return rt;
}

static void rt_closed_cb(uv_handle_t *h) { free(h->data); }

void sl_lua_free(sl_lua_t *rt)
{
    if (!rt)
        return;
    rt->closing = 1;
    while (rt->timers)
        timer_detach(rt->timers);
    /* Waits: owners that still hold one are told to let go; handlers are
     * not resumed. Threads lose their link to the freed co first, so
     * finalizers run by lua_close see plain threads. */
    sl_lua_co_t *co, *next;
    for (co = rt->live; co; co = next) {
        next = co->next;
        if (co->wait)
            drop_wait(co->wait, !co->wait->queued);
        set_co(co->L, NULL);
        free(co);
    }
    for (co = rt->pool; co; co = next) {
        next = co->next;
        set_co(co->L, NULL);
        free(co);
    }
    rt->live = rt->pool = NULL;
    rt->qhead = rt->qtail = NULL;
    rt->mem_limit = 0;
    rt->budget = 0;
    stop_timer(rt);
    lua_close(rt->L);
    rt->L = NULL;
    sl_slab_destroy(&rt->slab);
    sl_buf_free(&rt->warn);
    uv_close((uv_handle_t *)&rt->idle, rt_closed_cb);
}

lua_State *sl_lua_state(sl_lua_t *rt) { return rt->L; }
uv_loop_t *sl_lua_loop(sl_lua_t *rt) { return rt->loop; }
sl_lua_t *sl_lua_from_state(lua_State *L) { return rt_of(L); }

void sl_lua_push_module(sl_lua_t *rt, lua_State *L)
{
    luaL_checkstack(L, 1, NULL);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->module_ref);
}

/* ---- running chunks --------------------------------------------------------------- */

struct load_args {
    const char *path, *code, *name;
};

static int load_cf(lua_State *L)
{
    struct load_args *a = lua_touserdata(L, 1);
    int st = a->path ? luaL_loadfilex(L, a->path, "t")
                     : luaL_loadbufferx(L, a->code, strlen(a->code), a->name, "t");
    if (st != LUA_OK)
        return lua_error(L);
    return 1;
}

static int run_chunk(sl_lua_t *rt, const struct load_args *a, const char *what)
{
    char err[512];
    if (rt->closing)
        return -1;
    if (cpcall(rt, load_cf, (void *)a, err, sizeof err) != 1) {
        LUA_FAILED(rt, SL_ERROR, "lua error loading %s: %s", what, err);
        return -1;
    }
    return sl_lua_spawn(rt, rt->L, 0, what);
}

int sl_lua_run_file(sl_lua_t *rt, const char *path)
{
    struct load_args a = {path, NULL, NULL};
    return run_chunk(rt, &a, path);
}

int sl_lua_run_string(sl_lua_t *rt, const char *code, const char *chunkname)
{
    if (!chunkname)
        chunkname = "=string";
    struct load_args a = {NULL, code, chunkname};
    const char *what = (chunkname[0] == '=' || chunkname[0] == '@') ? chunkname + 1 : chunkname;
    return run_chunk(rt, &a, what);
}
