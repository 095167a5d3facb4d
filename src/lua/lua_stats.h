/* L6 lua/lua_stats: the Lua layer's counters, in a header free of lua.h, so
 * the metrics at the top (cmd/metrics.c) read them through lua_sio.h's
 * getters without seeing Lua. Plain counters, read at scrape time. */
#ifndef SL_LUA_STATS_H
#define SL_LUA_STATS_H

#include <stdint.h>

/* The upper bounds (ns) of the handler-time histogram's buckets: 10 us to
 * 1 s in 1-2.5-5 steps; a last bucket (+Inf) takes the rest. */
#define SL_LUA_HIST_BUCKETS 16
extern const uint64_t sl_lua_hist_bounds_ns[SL_LUA_HIST_BUCKETS];

/* The runtime's (lua_rt.c). */
typedef struct sl_lua_stats {
    uint64_t errors;  /* "lua error" lines: a handler, a call, a load failed */
    /* Runs of Lua code from the loop (a handler until it returns or waits,
     * a synchronous call), while timing is on: per bucket (not cumulative;
     * [SL_LUA_HIST_BUCKETS] is +Inf), their count and total time. */
    uint64_t buckets[SL_LUA_HIST_BUCKETS + 1];
    uint64_t runs;
    uint64_t run_ns;
} sl_lua_stats_t;

/* The app's (lua_sio.c). */
typedef struct sl_app_stats {
    uint64_t reloads_ok;      /* sl_app_reload put a new version in */
    uint64_t reloads_failed;  /* it kept the old one */
    uint64_t ack_timeouts;    /* emit_with_ack waits that timed out */
} sl_app_stats_t;

#endif
