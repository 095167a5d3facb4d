/* L6 lua/lua_rt: the Lua runtime core. One lua_State per server, every handler
 * run in its own coroutine (the OpenResty model), waits that park a handler
 * until a libuv callback resumes it, timers, logging, and the two guards a
 * server needs against app code (time limit, instruction budget, memory cap).
 * Knows nothing of Socket.IO, Engine.IO, HTTP or JSON: lua_sio.c builds the
 * `siolua` API for sockets on top of this file.
 *
 * Model
 *   A handler is a Lua function started with sl_lua_spawn: it gets a fresh
 *   coroutine, anchored in the registry for as long as it is running or
 *   parked, so the GC never takes a waiting handler. The handler runs until
 *   it returns, fails, or waits. A C function waits like this (the cosocket
 *   pattern of lua-nginx-module):
 *
 *       static int l_ask(lua_State *L) {
 *           ...check arguments (raise on misuse)...
 *           sl_lua_wait_t *w = sl_lua_wait_new(L, ask_cancel, NULL);
 *           struct ask *a = start_the_io(w);         (never raises)
 *           if (!a) { sl_lua_wait_cancel(w, "cannot start"); return sl_lua_yield(L); }
 *           sl_lua_wait_set_cancel(w, ask_cancel, a);
 *           return sl_lua_yield(L);
 *       }
 *       ...later, in a libuv callback:  sl_lua_wait_resume(a->w, push_answer, a);
 *
 *   Failures of app code never stop the server: they are logged in one line
 *   "lua error in <what>: <file>:<line>: <message>" (the traceback follows at
 *   debug level) and the next event runs as usual.
 *
 * Lua side (fields of the `siolua` module table, `local sio = require "siolua"`)
 *   sio.set_timeout(ms, fn, ...)   -> timer; fn(...) runs once, in a new handler
 *   sio.set_interval(ms, fn, ...)  -> timer; fn(...) every ms (>= 1) until cancelled
 *   timer:cancel() -> true if it was pending (idempotent); timer:active();
 *     a timer is also a to-be-closed value (`local t <close> = ...` cancels).
 *     Dropping the timer object does not cancel it (as in JS).
 *   sio.clear_timeout(t), sio.clear_interval(t)   same as t:cancel(); nil is fine
 *   sio.sleep(ms)   parks the running handler; returns true. sleep(0) lets
 *     the other ready handlers run first (resumes from the loop's idle phase).
 *   sio.now()       the wall clock: integer milliseconds since 1970 (Date.now())
 *   sio.monotonic() milliseconds from a clock that never goes back (float,
 *                   from uv_hrtime), for deadlines and durations
 *   sio.log.debug/info/warn/error(fmt, ...)   string.format when more
 *     arguments follow, tostring otherwise; one line "[lua] file:line: msg".
 *   coroutine.resume / coroutine.close refuse handler coroutines (a handler
 *     is resumed only by the wait it parked on). coroutine.resume and
 *     coroutine.wrap are the runtime's (same semantics as Lua's), so the
 *     time limit sees which coroutine runs. A bare coroutine.yield() in
 *     a handler stops it with a logged error (use sio.sleep(0)).
 */
#ifndef SL_LUA_RT_H
#define SL_LUA_RT_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <uv.h>
#include "lua/lua_stats.h"

typedef struct sl_lua sl_lua_t;
typedef struct sl_lua_wait sl_lua_wait_t;

/* Default instruction budget per resume of a handler: off (its count hook
 * makes the VM trap on every instruction; the time limit is the default
 * guard). */
#define SL_LUA_DEFAULT_BUDGET 0u
/* Default CPU time one resume of a handler may use, in milliseconds. */
#define SL_LUA_DEFAULT_TIME_LIMIT_MS 1000u

/* ---- life cycle ----------------------------------------------------------- */

/* Creates the runtime: a lua_State with the whole standard library (io is
 * Lua's own), package.path = APP_DIR/?.lua;APP_DIR/?/init.lua;
 * LIB_DIR/?.lua;LIB_DIR/?/init.lua; then what LUA_PATH or the default gave
 * (app_dir or lib_dir may be NULL: skipped), package.preload["cjson"] and
 * ["cjson.safe"] (lua-cjson), and the `siolua` module table in
 * package.loaded. The time limit starts at SL_LUA_DEFAULT_TIME_LIMIT_MS, the
 * instruction budget at SL_LUA_DEFAULT_BUDGET (off) and memory is
 * unlimited. Must be called on the loop's thread (the time limit measures
 * that thread's CPU). Returns NULL (logged) on failure. */
sl_lua_t *sl_lua_new(uv_loop_t *loop, const char *app_dir, const char *lib_dir);

/* Ends the runtime: stops and closes every timer handle, ends every pending
 * wait (its cancel callback runs, so owners forget their sl_lua_wait_t;
 * parked handlers are not resumed), closes the lua_State (finalizers run).
 * Must not be called from inside Lua. Handles finish closing on the next
 * loop run, after which the loop holds nothing of the runtime (uv_run then
 * uv_loop_close succeeds). NULL is fine. */
void sl_lua_free(sl_lua_t *rt);

/* The main thread, for C code that builds values or registers functions. It
 * never runs handlers and cannot wait. */
lua_State *sl_lua_state(sl_lua_t *rt);
uv_loop_t *sl_lua_loop(sl_lua_t *rt);
/* The runtime owning L (any thread of it). For lua_CFunctions. */
sl_lua_t *sl_lua_from_state(lua_State *L);

/* Pushes the `siolua` module table onto L (the original one, even if app
 * code replaced package.loaded.siolua), so other C files add their fields
 * (sio.server, sio.json, ...). Raises only if L has no stack space left. */
void sl_lua_push_module(sl_lua_t *rt, lua_State *L);

/* ---- running code --------------------------------------------------------- */

/* Loads the file (text chunks only) and runs it as a handler, so main.lua
 * may sleep or wait like any handler. A load error (missing file, syntax:
 * "path:line: message") or a runtime error is logged in one line and gives
 * -1; otherwise 0 (also when it is parked in a wait). */
int sl_lua_run_file(sl_lua_t *rt, const char *path);
/* Same for a string; chunkname as for luaL_loadbuffer ("=name" shows as
 * "name:line" in messages). For tests, -e and REPL-like uses. */
int sl_lua_run_string(sl_lua_t *rt, const char *code, const char *chunkname);

/* "Later" below means: from the loop's idle phase, after the current
 * callback has returned (in the same loop iteration when queued from a
 * timer callback, else the next), never nested inside the caller. Waits
 * queued while the queue runs wait for the next iteration, so I/O is polled
 * in between. */

/* Runs the function below the top nargs values of L, called with them, in a
 * NEW handler coroutine; pops them all. Returns at once when it finishes or
 * parks in a wait (0). When it fails, logs one line naming what (e.g.
 * "'chat' handler"), and returns -1. Never raises: L may be the main thread
 * in a libuv callback or a running handler (the new handler then runs before
 * the caller continues, like Node's EventEmitter). Finished coroutines are
 * pooled and reused. */
int sl_lua_spawn(sl_lua_t *rt, lua_State *L, int nargs, const char *what);
/* The same, with the handler described as the Lua library's spawn() does
 * it: lazily, only when a line is logged, by where the function its stack
 * starts with is defined ("function defined at FILE:LINE"). For C code
 * handing an event to a library function that tail-calls the app's. */
int sl_lua_spawn_function(sl_lua_t *rt, lua_State *L, int nargs);
/* The same for fn(ud), fn the function in the registry at fn_ref, both
 * pushed straight onto the handler's thread (nothing is pushed, checked
 * or moved on a caller's stack): how the C side starts a handler per
 * event (lua_bind's sl_lua_bind_handler). */
int sl_lua_spawn_ref(sl_lua_t *rt, int fn_ref, void *ud);
/* Inside a handler's first C function: while on, an error that ends the
 * handler (raised, or out of memory) is neither logged nor counted, for
 * that function's caller reports it itself (event_cf, whose arguments
 * decode without a protected call of their own: a failure there is the
 * packet's, not the app's). Returns 1 when L is a handler's running
 * thread, else 0 and nothing changes (errors are reported as always). */
int sl_lua_handler_quiet(lua_State *L, int on);

/* lua_pcall with a traceback message handler and the guards, for
 * synchronous calls that must not wait (e.g. a value needed right now). On
 * failure logs like sl_lua_spawn, leaves nothing on the stack, returns -1;
 * on success leaves nresults values and returns 0. Also the way to do
 * allocating C work on the main thread safely under the memory cap: push a
 * lua_CFunction and a light userdata and call this. */
int sl_lua_pcall(sl_lua_t *rt, lua_State *L, int nargs, int nresults, const char *what);

/* ---- waits (C functions that block a handler) ----------------------------- */

/* Called when the runtime ends a wait that its owner did not end: the
 * runtime is freed, or the handler failed before yielding. The owner must
 * then release what it tied to the wait and never use w again. It is not
 * called after the owner's own sl_lua_wait_resume / _cancel. It must not
 * call into the runtime. */
typedef void (*sl_lua_wait_cancel_cb)(void *ud);

/* Pushes the values the handler's wait returns and returns their count.
 * Runs in protected mode on the main thread (a raise, e.g. out of memory,
 * resumes the handler with nil, message instead); use luaL_checkstack for
 * more than 20 values. */
typedef int (*sl_lua_push_cb)(lua_State *L, void *ud);

/* Inside a lua_CFunction: makes the running handler wait. Raises (misuse)
 * "cannot wait here: not inside a siolua handler coroutine" when L is the
 * main thread, a coroutine the app made, or not yieldable (inside a
 * metamethod called from C, table.sort's comparator, a finalizer...). After
 * it returns nothing else of the wait raises: the function must finish by
 * `return sl_lua_yield(L);`. cancel_cb may be NULL; ud may be set later. */
sl_lua_wait_t *sl_lua_wait_new(lua_State *L, sl_lua_wait_cancel_cb cancel_cb, void *ud);
void sl_lua_wait_set_cancel(sl_lua_wait_t *w, sl_lua_wait_cancel_cb cancel_cb, void *ud);

/* The last call of a waiting lua_CFunction: `return sl_lua_yield(L);`.
 * Works across pcall in the handler (`pcall(sio.sleep, 10)`). The wait's
 * values become the function's results. */
int sl_lua_yield(lua_State *L);

/* From a libuv callback (or any point where running Lua is fine): resumes
 * the handler now with the values push (NULL: none) pushes, and frees w.
 * If the handler has not yielded yet (the answer came before the function
 * returned sl_lua_yield), the values are kept and it resumes later.
 * Returns 0, or -1 when the handler then failed (logged). */
int sl_lua_wait_resume(sl_lua_wait_t *w, sl_lua_push_cb push, void *ud);
/* Same, but the handler resumes later (values are pushed now). For wakes
 * from Lua code, so one handler never runs nested inside another and a
 * wake loop cannot starve I/O. */
void sl_lua_wait_resume_later(sl_lua_wait_t *w, sl_lua_push_cb push, void *ud);
/* The owner goes away (a socket closed while a handler waits on its ack):
 * the handler resumes later with nil, reason (NULL:
 * "cancelled"; kept up to 95 bytes), so the code after the wait runs and
 * sees a runtime failure. Safe in teardown paths: no Lua runs here, and
 * cancel_cb is not called. w must not be used afterwards. */
void sl_lua_wait_cancel(sl_lua_wait_t *w, const char *reason);

/* ---- guards ---------------------------------------------------------------- */

/* CPU time (milliseconds) one resume of a handler (or one sl_lua_pcall) may
 * use before it is aborted with "<file>:<line>: time limit exceeded"
 * (logged, the server carries on). Per resume, like the budget; 0 turns it
 * off. Costs nothing per instruction: a CPU-time timer of the loop thread
 * ticks every limit/4 ms of CPU (at least 4 ms; never while the thread
 * sleeps) and a real-time signal handler counts the ticks each run sees;
 * the run that has used the limit gets a count hook armed on the thread
 * running it (coroutine.resume and coroutine.wrap publish the app
 * coroutine they resume, so a loop there is caught too). Stopped within
 * about limit + limit/4 of CPU. Like the budget, pcall cannot swallow it.
 * Returns -1 (logged) when the timer cannot be made. */
int sl_lua_set_time_limit(sl_lua_t *rt, uint64_t ms);

/* Instructions one resume of a handler (or one sl_lua_pcall) may run before
 * it is aborted with "<file>:<line>: instruction budget exceeded" (logged,
 * the server carries on). Counted per resume: a handler that waits starts
 * afresh after each wait. 0 (the default) turns the guard off: its count
 * hook makes the VM trap on every instruction, so it costs ~10-20% of the
 * Lua work of a server even when nothing runs away. Counted in chunks of
 * min(n/16, 1e6) instructions through a count hook, so it is precise to one
 * chunk; coroutines the app creates inside a handler count towards it. Once
 * exceeded, every further instruction of that run raises again, so pcall
 * cannot swallow it. */
void sl_lua_set_budget(sl_lua_t *rt, uint64_t instructions);

/* Caps the bytes the state may hold (0: unlimited). An allocation past the
 * cap fails after an emergency collection: Lua raises "not enough memory"
 * in the code that allocated (a handler: logged with its file:line), and
 * the state stays usable once that garbage is gone. The cap applies to C
 * code pushing values too: do such work in protected mode (sl_lua_pcall,
 * push callbacks). */
void sl_lua_set_memory_limit(sl_lua_t *rt, size_t bytes);
/* Bytes the state holds now. */
size_t sl_lua_memory(sl_lua_t *rt);

/* ---- counters, for metrics ------------------------------------------------- */

/* The runtime's counters (lua_stats.h). */
const sl_lua_stats_t *sl_lua_stats(const sl_lua_t *rt);
/* Times every run for the histogram (two clock reads each): off until
 * asked, so a server without metrics pays nothing for it. */
void sl_lua_set_timing(sl_lua_t *rt, int on);

/* ---- primitives for the Lua library (lua_sio.c registers them) ------------ */

/* spawn(fn, ...): runs fn(...) as a new handler now (see sl_lua_spawn);
 * returns true, or false when it failed (already logged). */
int sl_lua_l_spawn(lua_State *L);
/* waker(): a one-shot rendezvous for Lua code. w:wait() parks the running
 * handler until w:wake(...), then returns those values; if wake came first
 * it returns them at once (every later wait too). w:wake(...) returns true
 * the first time, false after; the waiting handler resumes later (see
 * above). One handler at a time may wait on a waker. */
int sl_lua_l_waker(lua_State *L);

#endif
