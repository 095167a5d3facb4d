/* L7 cmd/compose: the one composition root. `siolua run` and `siolua test`
 * read their common flags, build a server process and take it down here,
 * the same way:
 *
 *   --set, sio.configure --> options table --> settings --+--> sl_server (router)
 *                                                         +--> sl_app (sio, Lua)
 *   sl_app_use_redis --> sio_redis --> node registry --locator--> sl_server
 *   SIGINT/SIGTERM --> locator off, app shutdown, server shutdown --> loop ends
 *
 * Settings come from four places, in this precedence: the command line's
 * flags, then SIOLUA_* environment variables, then a configuration file
 * (--config FILE, a Lua table: lua/lua_config.h), then main.lua's
 * sio.configure, then the defaults. The options are settings (options.h)
 * until configuration ends: the file's and the command line's values
 * first (checked at once), then main.lua's sio.configure, then the file's
 * and the command line's again (so they win); each change is pushed to the
 * live objects. One per process (signals, the server's shutdown callback).
 *
 *   --port 3001 ........ SIOLUA_PORT=3002 ..... FILE: port = 3003
 *   --set pingInterval=.......................... FILE: options.pingInterval
 *        the first one present wins                    > sio.configure > default
 */
#ifndef SL_COMPOSE_H
#define SL_COMPOSE_H

#include <uv.h>
#include "cmd/options.h"
#include "lua/lua_sio.h"

#define SL_COMPOSE_MAX_SETS 64
#define SL_COMPOSE_MAX_GIVEN 32
/* Room for the names and values the file and --set give (no allocation). */
#define SL_COMPOSE_STORE 32768

typedef struct sl_compose sl_compose_t;
typedef struct sl_metrics sl_metrics_t;

/* One option given by the file or the command line. */
typedef struct sl_compose_set {
    const char *name, *text;
    const char *source;       /* "FILE: options.NAME", or NULL: --set */
} sl_compose_set_t;
struct sl_compose {
    /* The command's, before sl_compose_build. */
    const char *app_dir;
    unsigned where;           /* SL_OPT_RUN or SL_OPT_TEST: which --set apply */
    const char *help;         /* "siolua --help", for usage errors */
    /* Also read SIOLUA_PORT, SIOLUA_HOST, SIOLUA_REDIS_URL, SIOLUA_WORKERS,
     * SIOLUA_LOG_LEVEL, SIOLUA_LOG_FORMAT and config_file (siolua run). */
    int sources;
    const char *config_file;  /* --config FILE, set by the command's flag */
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
    sl_tls_ctx_t *tls;        /* HTTPS/WSS of the public listener, or NULL */

    /* Private. */
    /* Options to apply, in order: the file's, then the command line's
     * (source NULL). */
    sl_compose_set_t sets[SL_COMPOSE_MAX_SETS];
    int nsets;
    const char *given[SL_COMPOSE_MAX_GIVEN]; /* flags the command line gave */
    int ngiven;
    const char *source;       /* where the setting being read came from */
    char store[SL_COMPOSE_STORE];
    size_t stored;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t stop_timer;
    unsigned handles : 1;     /* the signals and the timer are initialised */
    unsigned stopping : 1;
};

/* "siolua: <message> (see <c->help>)" on stderr, "siolua: <source>:
 * <message>" for a setting from the environment or the file; returns 2,
 * the exit code of a bad command line. */
int sl_compose_usage(const sl_compose_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void sl_compose_init(sl_compose_t *c, unsigned where, const char *help);

/* A flag of a command: "--port" and whether a value follows it. */
typedef struct sl_flag {
    const char *name;
    int has_value;
} sl_flag_t;
/* Reads a command line (argv[1] is the command): APP_DIR (checked), the
 * flags both commands take, --set NAME=VALUE and --log-level L, and the
 * command's own flags (NULL-terminated), each handed to own (value NULL
 * for those without one), which returns 0, or 2 after printing a usage
 * error. With sources, then the environment and config_file, which fill
 * the flags the command line did not give (handed to own the same way)
 * and add options under the command line's. Every option is checked and
 * applied now (and again after main.lua). An unknown flag or file key, a
 * missing value or APP_DIR, a bad value: a usage error naming where it
 * came from. Returns 0 or 2. */
int sl_compose_args(sl_compose_t *c, int argc, char **argv, const sl_flag_t *flags,
                    int (*own)(sl_compose_t *c, const char *flag, const char *value));

/* An option of the command line (a flag that stands for one, such as
 * --tls-cert for tls.cert): checked and applied with the others. 0 or 2. */
int sl_compose_set(sl_compose_t *c, const char *name, const char *value);
/* The TLS context tls.cert and tls.key make (NULL with neither): 0, or 2
 * after printing why it can't be made. */
int sl_compose_tls_context(sl_compose_t *c, sl_tls_ctx_t **out);

/* Builds the server (its static files from APP_DIR/public) and the app,
 * runs main.lua, applies the file's and the command line's options again,
 * and makes the TLS context when tls.cert and tls.key say so. 0, or the
 * exit status after printing why. */
int sl_compose_build(sl_compose_t *c, uv_loop_t *loop);
/* The cluster: the Redis adapter (local_bus: the supervisor's local bus),
 * whose node registry the router asks for other nodes' sessions. 0, or -1
 * when the URL can't be read. */
int sl_compose_use_adapter(sl_compose_t *c, const char *url, int local_bus);
/* Where the other nodes relay requests for this one's sessions. */
void sl_compose_set_cluster_address(sl_compose_t *c, const char *host_port);
/* Ends configuration (sio.configure raises from now on). */
void sl_compose_start(sl_compose_t *c);
/* SIGINT/SIGTERM stop gracefully; with hup, SIGHUP reloads main.lua (and
 * the TLS certificate, all or nothing: a bad new one keeps the old). */
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
