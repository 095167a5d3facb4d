/* L7 cmd/compose: the one composition root. `siolua run` and `siolua test`
 * read their common flags, build a server process and take it down here,
 * the same way:
 *
 *   --set, sio.configure --> options table --> settings --+--> sl_server (router)
 *                                                         +--> sl_app (sio, Lua)
 *   sl_app_use_redis --> sio_redis --> node registry --locator--> sl_server
 *   SIGINT/SIGTERM --> locator off, app shutdown, server shutdown --> loop ends
 *
 * The options are settings (options.h) until configuration ends: the
 * command line's values first (checked at once), then main.lua's
 * sio.configure, then the command line's again (it wins); each change is
 * pushed to the live objects. One per process (signals, the server's
 * shutdown callback). */
#ifndef SL_COMPOSE_H
#define SL_COMPOSE_H

#include <uv.h>
#include "cmd/options.h"
#include "lua/lua_sio.h"

#define SL_COMPOSE_MAX_SETS 64

typedef struct sl_compose sl_compose_t;
typedef struct sl_metrics sl_metrics_t;
struct sl_compose {
    /* The command's, before sl_compose_build. */
    const char *app_dir;
    unsigned where;           /* SL_OPT_RUN or SL_OPT_TEST: which --set apply */
    const char *help;         /* "siolua --help", for usage errors */
    sl_settings_t settings;   /* + host, port, reuse_port in settings.http */
    int worker;               /* sio.worker, 0 for none */
    /* Called when SIGINT/SIGTERM starts the shutdown, and when it is over
     * (every handle of the server closed; the loop is about to end). */
    void (*on_signal)(sl_compose_t *c, int signum);
    void (*on_closed)(sl_compose_t *c);

    /* Built. */
    uv_loop_t *loop;
    sl_server_t *server;
    sl_app_t *app;
    sio_redis_t *adapter;     /* the app's, while it lives */
    sl_metrics_t *metrics;    /* the metrics and health routes (metrics.h) */

    /* Private. */
    struct { const sl_option_t *opt; sl_optval_t v; } sets[SL_COMPOSE_MAX_SETS];
    int nsets;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t stop_timer;
    unsigned handles : 1;     /* the signals and the timer are initialised */
    unsigned stopping : 1;
};

/* "siolua: <message> (see <c->help>)" on stderr; returns 2, the exit code
 * of a bad command line. */
int sl_compose_usage(const sl_compose_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void sl_compose_init(sl_compose_t *c, unsigned where, const char *help);

/* A flag of a command: "--port" and whether a value follows it. */
typedef struct sl_flag {
    const char *name;
    int has_value;
} sl_flag_t;
/* Reads a command line (argv[1] is the command): APP_DIR (checked), the
 * flags both commands take, --set NAME=VALUE (checked and applied at once,
 * applied again after main.lua) and --log-level L, and the command's own
 * flags (NULL-terminated), each handed to own (value NULL for those
 * without one), which returns 0, or 2 after printing a usage error. An
 * unknown flag, a missing value or APP_DIR: a usage error. Returns 0 or 2. */
int sl_compose_args(sl_compose_t *c, int argc, char **argv, const sl_flag_t *flags,
                    int (*own)(sl_compose_t *c, const char *flag, const char *value));

/* Builds the server (its static files from APP_DIR/public) and the app,
 * runs main.lua, applies the command line's options again. 0, or the exit
 * status after printing why. */
int sl_compose_build(sl_compose_t *c, uv_loop_t *loop);
/* The cluster: the Redis adapter (local_bus: the supervisor's local bus),
 * whose node registry the router asks for other nodes' sessions. 0, or -1
 * when the URL can't be read. */
int sl_compose_use_adapter(sl_compose_t *c, const char *url, int local_bus);
/* Where the other nodes relay requests for this one's sessions. */
void sl_compose_set_cluster_address(sl_compose_t *c, const char *host_port);
/* Ends configuration (sio.configure raises from now on). */
void sl_compose_start(sl_compose_t *c);
/* SIGINT/SIGTERM stop gracefully; with hup, SIGHUP reloads main.lua. */
void sl_compose_signals(sl_compose_t *c, int hup);
/* Graceful stop: every session gets a close packet, then every handle
 * closes and on_closed is called. Not from inside Lua: see stop_soon. */
void sl_compose_stop(sl_compose_t *c);
/* The same on the next loop turn (safe from inside Lua). */
void sl_compose_stop_soon(sl_compose_t *c);
/* After the loop ended: frees what was built and closes the loop. 0, or -1
 * when the loop still held handles. */
int sl_compose_free(sl_compose_t *c);

#endif
