/* L7 cmd/main: the `siolua` command line. Parses flags, builds the server from
 * the layers, runs the loop, and turns SIGINT/SIGTERM into a graceful
 * shutdown (close packets to every session, then exit 0). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "eio/eio.h"
#include "cmd/cmd_emit.h"
#include "base/log.h"
#include "lua/lua_sio.h"
#include "cluster/redis_url.h"
#include "eio/server.h"
#include "sio/sio.h"
#include "cluster/sio_redis.h"
#include "cmd/supervisor.h"
#include "cmd/cmd_test.h"

static const char usage[] =
    "Usage: siolua run APP_DIR [options]\n"
    "       siolua test APP_DIR [--set NAME=VALUE]... [--timeout MS]\n"
    "       siolua emit --redis URL [--nsp NSP] [--to ROOM]... [--except ROOM]... EVENT [JSON_ARG]...\n"
    "       siolua --help | --version\n"
    "\n"
    "Runs the Socket.IO app in APP_DIR (APP_DIR/main.lua, static files from\n"
    "APP_DIR/public/).\n"
    "\n"
    "Options:\n"
    "  --port N           TCP port (default 3000; 0 picks a free one)\n"
    "  --host ADDR        address to bind (default :: , all addresses)\n"
    "  --redis URL        Redis adapter (redis://[[user]:password@]host[:port][/db] or unix:/path)\n"
    "  --workers N        run N worker processes sharing the port (SO_REUSEPORT),\n"
    "                     joined as one cluster: on --redis URL when given, else\n"
    "                     on a local bus; 'auto' = one per CPU. SIGTERM/SIGINT\n"
    "                     stop them all, SIGHUP reloads them all, a worker that\n"
    "                     dies is started again\n"
    "  --log-level L      debug | info | warn | error | off (default info)\n"
    "  --set NAME=VALUE   server option, named as in Node's socket.io\n"
    "                     (pingInterval, pingTimeout, upgradeTimeout,\n"
    "                     maxHttpBufferSize, transports, allowUpgrades,\n"
    "                     cors.origin, cors.methods, cors.credentials, cookie,\n"
    "                     allowEIO3, path, httpHeaderTimeout, keepAliveTimeout,\n"
    "                     connectTimeout, connectionStateRecovery, serveClient,\n"
    "                     luaInstructionBudget, luaMemoryLimit, clusterAddress,\n"
    "                     fetchCaFile=PEM (a CA every sio.fetch trusts),\n"
    "                     redisAdapter=classic|sharded,\n"
    "                     redisSubscriptionMode=dynamic|static|dynamic-private,\n"
    "                     requestsTimeout=MS (5000), redisKey=PREFIX (socket.io))\n"
    "  --eio-echo PATH    also mount a raw Engine.IO endpoint at PATH that\n"
    "                     sends every message back (protocol test suites)\n"
    "  --no-reload        do not watch the app's files\n";

typedef struct cli {
    const char *app_dir;
    sl_server_config_t cfg;
    eio_options_t eio;
    const char *echo_paths[4];
    int nechos;
    const char *sets[64];
    int nsets;
    sio_options_t sio;
    const char *redis_url;
    sio_redis_opts_t redis_opts;
    int no_reload;
    const char *cluster_address;
    int workers;              /* --workers: run as their supervisor */
    int worker_index;         /* --worker (set by the supervisor): 1..N */
    const char *worker_bus;   /* --worker-bus: the supervisor's local bus */
} cli_t;

static sl_server_t *g_server;
static sl_app_t *g_app;
static uv_signal_t sig_int, sig_term, sig_hup;

static int fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "siolua: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see siolua --help)\n");
    return 2;
}

static int apply_set(cli_t *cli, const char *kv)
{
    char name[128];
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof name)
        return -1;
    memcpy(name, kv, (size_t)(eq - kv));
    name[eq - kv] = '\0';
    const char *value = eq + 1;
    int ok_http = sl_server_config_set(&cli->cfg, name, value) == 0;
    int ok_eio = eio_options_set(&cli->eio, name, value) == 0;
    int ok_sio = sio_options_set(&cli->sio, name, value) == 0;
    if (!strcmp(name, "clusterAddress")) {
        cli->cluster_address = value;
        return 0;
    }
    /* Checked now (a bad value exits before anything starts), applied with
     * the others after main.lua. */
    int ok_redis = sio_redis_opts_set(&cli->redis_opts, name, value);
    if (ok_redis < 0)
        return -1;
    int ok_other = !strcmp(name, "serveClient") || !strcmp(name, "luaInstructionBudget") ||
                   !strcmp(name, "luaMemoryLimit") || !strcmp(name, "fetchCaFile");
    if (!(ok_http || ok_eio || ok_sio || ok_redis == 0 || ok_other) || cli->nsets == 64)
        return -1;
    cli->sets[cli->nsets++] = kv;
    return 0;
}

static int parse_args(int argc, char **argv, cli_t *cli)
{
    if (argc < 2)
        return fail_usage("%s", "missing command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        exit(0);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v")) {
        printf("siolua %s\n", SIOLUA_VERSION);
        exit(0);
    }
    if (strcmp(argv[1], "run") != 0)
        return fail_usage("unknown command '%s'", argv[1]);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (cli->app_dir)
                return fail_usage("unexpected argument '%s'", a);
            cli->app_dir = a;
            continue;
        }
        if (!strcmp(a, "--no-reload")) {
            cli->no_reload = 1;
            continue;
        }
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!next)
            return fail_usage("option '%s' needs a value", a);
        i++;
        if (!strcmp(a, "--port")) {
            char *end;
            long p = strtol(next, &end, 10);
            if (*end || end == next || p < 0 || p > 65535)
                return fail_usage("bad port '%s'", next);
            cli->cfg.port = (int)p;
        } else if (!strcmp(a, "--host")) {
            if (strlen(next) >= sizeof cli->cfg.host)
                return fail_usage("bad host '%s'", next);
            strcpy(cli->cfg.host, next);
        } else if (!strcmp(a, "--log-level")) {
            if (sl_log_set_level(next))
                return fail_usage("bad log level '%s'", next);
        } else if (!strcmp(a, "--redis")) {
            sl_redis_url_t u;
            char why[256];
            if (sl_redis_url_parse(next, &u, why, sizeof why))
                return fail_usage("bad --redis URL: %s", why);
            cli->redis_url = next;
        } else if (!strcmp(a, "--workers")) {
            char *end;
            long n = !strcmp(next, "auto") ? (long)uv_available_parallelism() : strtol(next, &end, 10);
            if ((strcmp(next, "auto") && (*end || end == next)) || n < 1 || n > 256)
                return fail_usage("bad --workers '%s' (1 to 256, or auto)", next);
            cli->workers = (int)n;
        } else if (!strcmp(a, "--worker")) {
            /* Internal: given by the supervisor to each worker it starts. */
            char *end;
            long n = strtol(next, &end, 10);
            if (*end || end == next || n < 1 || n > 256)
                return fail_usage("bad --worker '%s'", next);
            cli->worker_index = (int)n;
        } else if (!strcmp(a, "--worker-bus")) {
            cli->worker_bus = next;
        } else if (!strcmp(a, "--set")) {
            if (apply_set(cli, next))
                return fail_usage("bad option '%s'", next);
        } else if (!strcmp(a, "--eio-echo")) {
            if (cli->nechos == 4 || next[0] != '/')
                return fail_usage("bad --eio-echo path '%s'", next);
            cli->echo_paths[cli->nechos++] = next;
        } else {
            return fail_usage("unknown option '%s'", a);
        }
    }
    if (!cli->app_dir)
        return fail_usage("%s", "missing APP_DIR");
    struct stat st;
    if (stat(cli->app_dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "siolua: app directory '%s' not found\n", cli->app_dir);
        return 2;
    }
    return 0;
}

static void on_shutdown_done(sl_server_t *srv)
{
    (void)srv;
    sl_worker_detach();
    sl_app_free(g_app); /* closes the Lua state and its timers */
    g_app = NULL;
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    if (g_app) {
        SL_INFO("main", "SIGHUP received, reloading");
        sl_app_reload(g_app);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    SL_INFO("main", "%s received, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    sl_app_shutdown(g_app);
    sl_server_shutdown(g_server, on_shutdown_done);
}

/* A worker whose supervisor is gone (killed, even with SIGKILL) stops as
 * on SIGTERM: nothing would restart, reload or stop it any more. */
static void on_orphaned(void)
{
    SL_WARN("main", "the supervisor is gone, shutting down");
    sl_app_shutdown(g_app);
    sl_server_shutdown(g_server, on_shutdown_done);
}

/* "host:port" or "[v6]:port" -> host (for a worker's relay listener). */
static void host_of(const char *addr, char *out, size_t cap)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)n, addr);
}

static int run_supervisor(const cli_t *cli, int argc, char **argv)
{
    sl_supervisor_config_t sc = {
        .workers = cli->workers,
        .host = cli->cfg.host,
        .port = cli->cfg.port,
        .use_local_bus = cli->redis_url == NULL,
        .app_dir = cli->app_dir,
        .argc = argc,
        .argv = argv,
    };
    return sl_supervisor_run(&sc);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "emit"))
        return sl_emit_main(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "test"))
        return sl_test_main(argc, argv);
    cli_t cli;
    memset(&cli, 0, sizeof cli);
    sl_server_config_init(&cli.cfg);
    eio_options_init(&cli.eio);
    sio_options_init(&cli.sio);
    sio_redis_opts_init(&cli.redis_opts);
    eio_options_set(&cli.eio, "path", "/socket.io/");
    int rc = parse_args(argc, argv, &cli);
    if (rc)
        return rc;
    /* maxHttpBufferSize bounds POST bodies in the HTTP layer too. */
    cli.cfg.limits.max_body_bytes = cli.eio.max_http_buffer_size;
    signal(SIGPIPE, SIG_IGN);
    if (cli.workers && !cli.worker_index)
        return run_supervisor(&cli, argc, argv);
    uv_loop_t *loop = uv_default_loop();
    if (cli.worker_index) {
        char tag[32];
        snprintf(tag, sizeof tag, "worker=%d", cli.worker_index);
        sl_log_set_tag(tag);
        if (sl_worker_attach(loop, on_orphaned) != 0) {
            fprintf(stderr, "siolua: --worker is set by `siolua run --workers N` for its workers\n");
            return 2;
        }
        cli.cfg.reuse_port = 1;
    }

    char pub[PATH_MAX + 16];
    snprintf(pub, sizeof pub, "%s/public", cli.app_dir);
    if (!realpath(pub, cli.cfg.static_root))
        cli.cfg.static_root[0] = '\0';

    g_server = sl_server_new(loop, &cli.cfg);
    const char *lib = getenv("SIOLUA_LUA_DIR");
    g_app = sl_app_new(loop, g_server, cli.app_dir, lib ? lib : SIOLUA_LUA_DIR, &cli.eio, &cli.sio);
    if (!g_app) {
        fprintf(stderr, "siolua: cannot start the Lua runtime\n");
        return 1;
    }
    if (cli.worker_index)
        sl_app_set_worker(g_app, cli.worker_index);
    if (sl_app_load(g_app)) {
        fprintf(stderr, "siolua: %s/main.lua failed to load (see the log above)\n", cli.app_dir);
        return 1;
    }
    /* The command line wins over main.lua. */
    for (int i = 0; i < cli.nsets; i++) {
        char name[128];
        const char *eq = strchr(cli.sets[i], '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - cli.sets[i]), cli.sets[i]);
        if (sl_app_set_option(g_app, name, eq + 1)) {
            fprintf(stderr, "siolua: bad option '%s' (see siolua --help)\n", cli.sets[i]);
            return 2;
        }
    }
    if (cli.redis_url && sl_app_use_redis(g_app, cli.redis_url)) {
        fprintf(stderr, "siolua: cannot start the Redis adapter\n");
        return 2;
    }
    if (!cli.redis_url && cli.worker_bus && sl_app_use_local_bus(g_app, cli.worker_bus)) {
        fprintf(stderr, "siolua: bad --worker-bus '%s'\n", cli.worker_bus);
        return 2;
    }
    sl_app_start(g_app);
    cli.eio = *eio_server_options(sio_server_eio(sl_app_sio(g_app)));
    for (int i = 0; i < cli.nechos; i++) {
        eio_options_t o = cli.eio;
        if (eio_options_set(&o, "path", cli.echo_paths[i]) ||
            sl_server_mount_eio_echo(g_server, &o)) {
            fprintf(stderr, "siolua: cannot mount '%s'\n", cli.echo_paths[i]);
            return 2;
        }
    }
    /* Signals first, so a SIGTERM right after the "listening" line is a
     * clean shutdown too. */
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_hup, on_sighup, SIGHUP);
    if (!cli.no_reload)
        sl_app_watch(g_app);
    char where[128];
    rc = sl_server_listen(g_server, where, sizeof where);
    if (rc) {
        fprintf(stderr, "siolua: cannot listen on %s:%d: %s\n", cli.cfg.host, cli.cfg.port,
                uv_strerror(rc));
        return 1;
    }
    if (cli.worker_index) {
        /* The shared port can't address this worker in particular: the
         * others relay requests for its sessions to a port of its own, on
         * clusterAddress's host (loopback by default). */
        char host[128], relay[160];
        host_of(cli.cluster_address ? cli.cluster_address : "127.0.0.1:0", host, sizeof host);
        rc = sl_server_listen_private(g_server, host, relay, sizeof relay);
        if (rc) {
            fprintf(stderr, "siolua: worker %d cannot listen on %s: %s\n", cli.worker_index, host,
                    uv_strerror(rc));
            return 1;
        }
        sl_app_set_cluster_address(g_app, relay);
        SL_INFO("main", "worker %d (pid %d) serving %s on the shared port %s, relay address %s",
                cli.worker_index, (int)getpid(), cli.app_dir, where, relay);
        sl_worker_ready();
    } else {
        SL_INFO("main", "siolua %s serving %s, listening on http://%s", SIOLUA_VERSION, cli.app_dir,
                where);
    }
    if (cli.redis_url && !cli.worker_index) {
        /* Other nodes relay requests for our sessions to this address; a
         * wildcard bind is announced as loopback unless told otherwise. */
        char addr[160];
        const char *port = strrchr(where, ':');
        if (cli.cluster_address)
            snprintf(addr, sizeof addr, "%s", cli.cluster_address);
        else if (!strncmp(where, "[::]", 4) || !strncmp(where, "0.0.0.0", 7))
            snprintf(addr, sizeof addr, "127.0.0.1%s", port);
        else
            snprintf(addr, sizeof addr, "%s", where);
        sl_app_set_cluster_address(g_app, addr);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    sl_app_free(g_app);
    sl_server_free(g_server);
    uv_loop_close(loop);
    SL_INFO("main", "stopped");
    return 0;
}
