/* L7 cmd/cmd_run: `siolua run APP_DIR`. Reads its flags, builds the server
 * through the composition root (compose.c), joins the cluster (--redis, or
 * the local bus of --workers), listens, runs the loop, and turns
 * SIGINT/SIGTERM into a graceful shutdown (close packets to every session,
 * then exit 0). With --workers N it is the supervisor instead
 * (supervisor.c), and each worker it starts is `siolua run` again. */
#include "cmd/cmd_run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <uv.h>

#include "base/log.h"
#include "cluster/redis_conn.h"
#include "cluster/redis_url.h"
#include "cmd/compose.h"
#include "cmd/sd_notify.h"
#include "cmd/supervisor.h"

static const char usage[] =
    "Usage: siolua run APP_DIR [options]\n"
    "       siolua test APP_DIR [--set NAME=VALUE]... [--timeout MS]\n"
    "       siolua emit --redis URL [--nsp NSP] [--to ROOM]... [--except ROOM]...\n"
    "                   [--key PREFIX] EVENT [JSON_ARG]...   (siolua emit --help)\n"
    "       siolua --help | --version\n"
    "\n"
    "Runs the Socket.IO app in APP_DIR (APP_DIR/main.lua, static files from\n"
    "APP_DIR/public/).\n"
    "\n"
    "Options:\n"
    "  --port N           TCP port (default 3000; 0 picks a free one)\n"
    "  --host ADDR        address to bind (default :: , all addresses)\n"
    "  --redis URL        Redis adapter: redis://[[user]:password@]host[:port][/db],\n"
    "                     rediss://... (TLS; ?ca=FILE), unix:/path, or a Redis\n"
    "                     Cluster: redis://host1:port1,host2:port2,...\n"
    "  --workers N        run N worker processes sharing the port (SO_REUSEPORT),\n"
    "                     joined as one cluster: on --redis URL when given, else\n"
    "                     on a local bus; 'auto' = one per CPU. SIGTERM/SIGINT\n"
    "                     stop them all, SIGHUP reloads them all, a worker that\n"
    "                     dies is started again\n"
    "  --log-level L      debug | info | warn | error | off (default info)\n"
    "  --log-format F     text (default) | json: one JSON object per line, with\n"
    "                     ts, level, module, pid, worker, msg and fields such as\n"
    "                     sid, nsp, reason\n"
    "  --set NAME=VALUE   a server option (below); may be repeated\n"
    "  --eio-echo PATH    also mount a raw Engine.IO endpoint at PATH that\n"
    "                     sends every message back (protocol test suites)\n"
    "  --no-reload        do not watch the app's files\n"
    "  --tls-cert FILE    serve HTTPS and WSS with this PEM certificate and its\n"
    "                     chain (the option tls.cert); SIGHUP reloads it\n"
    "  --tls-key FILE     its private key (the option tls.key)\n"
    "  --config FILE      settings from a Lua file returning a table: port, host,\n"
    "                     redis, workers, logLevel, logFormat, reload (false:\n"
    "                     --no-reload) and options = { NAME = VALUE, ... }\n"
    "  --check            check the flags, environment, file and main.lua's\n"
    "                     sio.configure, then exit: 0 when sound, 2 with why\n"
    "\n"
    "The file's tls = { cert = FILE, key = FILE } stands for --tls-cert/--tls-key.\n"
    "Environment: SIOLUA_PORT, SIOLUA_HOST, SIOLUA_REDIS_URL (also sio.redis's\n"
    "default), SIOLUA_WORKERS, SIOLUA_LOG_LEVEL, SIOLUA_LOG_FORMAT. A flag wins\n"
    "over the environment, which wins over the file, which wins over\n"
    "sio.configure in main.lua, which wins over the defaults.\n"
    "\n"
    "Server options, named as in Node's socket.io 4.8 and @socket.io/redis-adapter 8.\n"
    "An app sets them with sio.configure{NAME = VALUE} in main.lua; --set and the\n"
    "file's options win:\n";

void sl_run_help(FILE *out)
{
    fputs(usage, out);
    sl_options_help(out, SL_OPT_RUN);
}

typedef struct run {
    sl_compose_t c;
    const char *echo_paths[4];
    int nechos;
    const char *redis_url;
    int no_reload;
    int check;              /* --check: validate, don't serve */
    int workers;            /* --workers: run as their supervisor */
    int worker_index;       /* --worker (set by the supervisor): 1..N */
    const char *worker_bus; /* --worker-bus: the supervisor's local bus */
} run_t;

static run_t R;

static const sl_flag_t run_flags[] = {
    {"--port", 1},   {"--host", 1},       {"--redis", 1},    {"--workers", 1}, {"--worker", 1},
    {"--worker-bus", 1}, {"--eio-echo", 1}, {"--no-reload", 0}, {"--help", 0},   {"--config", 1},
    {"--check", 0},     {"--tls-cert", 1}, {"--tls-key", 1}, {NULL, 0},
};

static int run_flag(sl_compose_t *c, const char *a, const char *next)
{
    sl_server_config_t *cfg = &c->settings.http;
    char *end;
    long n;
    if (!strcmp(a, "--help")) {
        sl_run_help(stdout);
        exit(0);
    } else if (!strcmp(a, "--no-reload")) {
        R.no_reload = 1;
    } else if (!strcmp(a, "--check")) {
        R.check = 1;
    } else if (!strcmp(a, "--config")) {
        c->config_file = next;
    } else if (!strcmp(a, "--tls-cert") || !strcmp(a, "--tls-key")) {
        return sl_compose_set(c, a[6] == 'c' ? "tls.cert" : "tls.key", next);
    } else if (!strcmp(a, "--port")) {
        n = strtol(next, &end, 10);
        if (*end || end == next || n < 0 || n > 65535)
            return sl_compose_usage(c, "bad port '%s'", next);
        cfg->port = (int)n;
    } else if (!strcmp(a, "--host")) {
        if (strlen(next) >= sizeof cfg->host)
            return sl_compose_usage(c, "bad host '%s'", next);
        strcpy(cfg->host, next);
    } else if (!strcmp(a, "--redis")) {
        sl_redis_url_t u;
        char why[256];
        if (sl_redis_url_parse_checked(next, &u, why, sizeof why))
            return sl_compose_usage(c, "bad --redis URL: %s", why);
        R.redis_url = next;
    } else if (!strcmp(a, "--workers")) {
        int is_auto = !strcmp(next, "auto");
        n = is_auto ? (long)uv_available_parallelism() : strtol(next, &end, 10);
        if ((!is_auto && (*end || end == next)) || n < 1 || n > 256)
            return sl_compose_usage(c, "bad --workers '%s' (1 to 256, or auto)", next);
        R.workers = (int)n;
    } else if (!strcmp(a, "--worker")) {
        /* Internal: given by the supervisor to each worker it starts. */
        n = strtol(next, &end, 10);
        if (*end || end == next || n < 1 || n > 256)
            return sl_compose_usage(c, "bad --worker '%s'", next);
        R.worker_index = (int)n;
    } else if (!strcmp(a, "--worker-bus")) {
        R.worker_bus = next;
    } else { /* --eio-echo */
        if (R.nechos == 4 || next[0] != '/')
            return sl_compose_usage(c, "bad --eio-echo path '%s'", next);
        R.echo_paths[R.nechos++] = next;
    }
    return 0;
}

/* A worker whose supervisor is gone (killed, even with SIGKILL) stops as
 * on SIGTERM: nothing would restart, reload or stop it any more. */
static void on_orphaned(void)
{
    SL_WARN("main", "the supervisor is gone, shutting down");
    sl_compose_stop(&R.c);
}

static void on_closed(sl_compose_t *c)
{
    (void)c;
    sl_worker_detach();
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

static int run_supervisor(int argc, char **argv)
{
    /* Every worker would fail the same way on a bad certificate: say so
     * once, here, before any starts. */
    sl_tls_ctx_t *tls;
    int rc = sl_compose_tls_context(&R.c, &tls);
    if (rc)
        return rc;
    sl_tls_ctx_unref(tls);
    sl_supervisor_config_t sc = {
        .workers = R.workers,
        .host = R.c.settings.http.host,
        .port = R.c.settings.http.port,
        .use_local_bus = R.redis_url == NULL,
        .app_dir = R.c.app_dir,
        .argc = argc,
        .argv = argv,
    };
    return sl_supervisor_run(&sc);
}

/* A plaintext listener of this node alone (sl_server_listen_private) on
 * host (and port, 0: a free one): where other nodes relay requests. */
static int listen_relay(const char *host, int port, char *relay, size_t cap)
{
    int rc = sl_server_listen_private(R.c.server, host, port, relay, cap);
    if (rc)
        fprintf(stderr, "siolua: cannot listen for relayed requests on %s:%d: %s\n", host, port,
                uv_strerror(rc));
    return rc;
}

/* Other nodes relay requests for this node's sessions to what it listens
 * on (where); a worker has a listener of its own for that, on
 * clusterAddress's host, since the shared port can't address it; so has a
 * node whose public port speaks TLS (relays are plaintext HTTP), on
 * clusterAddress, or on loopback for the nodes of one machine. */
static int announce_address(const char *where)
{
    const char *cluster_address = R.c.settings.cluster_address;
    const char *scheme = sl_server_secure(R.c.server) ? "https" : "http";
    char host[128], relay[160];
    host_of(cluster_address[0] ? cluster_address : "127.0.0.1:0", host, sizeof host);
    if (R.worker_index) {
        int rc = listen_relay(host, 0, relay, sizeof relay);
        if (rc)
            return 1;
        sl_compose_set_cluster_address(&R.c, relay);
        SL_INFO("main", "worker %d (pid %d) serving %s on the shared port %s, relay address %s",
                R.worker_index, (int)getpid(), R.c.app_dir, where, relay);
        sl_worker_ready(relay, scheme);
        return 0;
    }
    SL_INFO("main", "siolua %s serving %s, listening on %s://%s", SIOLUA_VERSION, R.c.app_dir, scheme,
            where);
    sl_sd_ready(R.c.loop, "serving %s on %s://%s", R.c.app_dir, scheme, where);
    if (R.redis_url && sl_server_secure(R.c.server)) {
        const char *colon = cluster_address[0] ? strrchr(cluster_address, ':') : NULL;
        if (listen_relay(host, colon ? atoi(colon + 1) : 0, relay, sizeof relay))
            return 1;
        sl_compose_set_cluster_address(&R.c, relay);
        SL_INFO("main", "relayed requests from the other servers come in plaintext on %s", relay);
    } else if (R.redis_url) {
        /* A wildcard bind is announced as loopback unless told otherwise. */
        char addr[160];
        const char *port = strrchr(where, ':');
        if (cluster_address[0])
            snprintf(addr, sizeof addr, "%s", cluster_address);
        else if (!strncmp(where, "[::]", 4) || !strncmp(where, "0.0.0.0", 7))
            snprintf(addr, sizeof addr, "127.0.0.1%s", port);
        else
            snprintf(addr, sizeof addr, "%s", where);
        sl_compose_set_cluster_address(&R.c, addr);
    }
    return 0;
}

/* Shells and systemd start a process with a soft limit of descriptors
 * (often 1024) under a far higher hard one, expecting a program that needs
 * many to raise its own (systemd.exec(5), LimitNOFILE=): a server holds one
 * per connection. Nothing here uses select(), which could not take them.
 * Workers inherit the supervisor's. An unlimited hard limit is capped at
 * the kernel's fs.nr_open, which no process can exceed. */
static void raise_descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_max == RLIM_INFINITY) {
        unsigned long long nr_open = 1048576;
        FILE *f = fopen("/proc/sys/fs/nr_open", "r");
        if (f) {
            if (fscanf(f, "%llu", &nr_open) != 1)
                nr_open = 1048576;
            fclose(f);
        }
        rl.rlim_cur = (rlim_t)nr_open;
    } else {
        rl.rlim_cur = rl.rlim_max;
    }
    if (rl.rlim_cur <= was)
        return;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        SL_INFO("main", "open files limit raised from %llu to %llu (the hard limit; one per connection)",
                (unsigned long long)was, (unsigned long long)rl.rlim_cur);
    else
        SL_WARN("main", "open files limit stays %llu (raising it to %llu: %s)", (unsigned long long)was,
                (unsigned long long)rl.rlim_cur, strerror(errno));
}

/* --check: every source was read and checked by sl_compose_args; what is
 * left is main.lua and its sio.configure. Nothing listens, nothing
 * connects; exit 0 when sound, 2 with the reason. */
static int check(void)
{
    uv_loop_t *loop = uv_default_loop();
    int rc = sl_compose_build(&R.c, loop);
    if (sl_compose_free(&R.c))
        SL_WARN("main", "the loop still holds handles at exit");
    if (rc) {
        fprintf(stderr, "siolua: --check: %s is not sound (see above)\n", R.c.app_dir);
        return 2;
    }
    const sl_server_config_t *h = &R.c.settings.http;
    printf("siolua: --check: %s is sound (it would listen on %s port %d, %d worker%s%s)\n", R.c.app_dir,
           h->host, h->port, R.workers ? R.workers : 1, R.workers > 1 ? "s" : "",
           R.redis_url ? ", Redis adapter" : "");
    return 0;
}

int sl_run_main(int argc, char **argv)
{
    memset(&R, 0, sizeof R);
    sl_compose_init(&R.c, SL_OPT_RUN, "siolua --help");
    R.c.sources = 1;
    int rc = sl_compose_args(&R.c, argc, argv, run_flags, run_flag);
    if (rc)
        return rc;
    if (R.check)
        return check();
    signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    if (R.workers && !R.worker_index)
        return run_supervisor(argc, argv);
    uv_loop_t *loop = uv_default_loop();
    if (R.worker_index) {
        char tag[32];
        snprintf(tag, sizeof tag, "worker=%d", R.worker_index);
        sl_log_set_tag(tag);
        if (sl_worker_attach(loop, on_orphaned) != 0) {
            fprintf(stderr, "siolua: --worker is set by `siolua run --workers N` for its workers\n");
            return 2;
        }
        R.c.settings.http.reuse_port = 1;
        R.c.worker = R.worker_index;
    }
    R.c.on_closed = on_closed;
    rc = sl_compose_build(&R.c, loop);
    if (rc)
        return rc;
    if (R.redis_url && sl_compose_use_adapter(&R.c, R.redis_url, 0)) {
        fprintf(stderr, "siolua: cannot start the Redis adapter\n");
        return 2;
    }
    if (!R.redis_url && R.worker_bus && sl_compose_use_adapter(&R.c, R.worker_bus, 1)) {
        fprintf(stderr, "siolua: bad --worker-bus '%s'\n", R.worker_bus);
        return 2;
    }
    sl_compose_start(&R.c);
    for (int i = 0; i < R.nechos; i++) {
        /* The Socket.IO endpoint's options, at another path. */
        eio_options_t o = *eio_server_options(sio_server_eio(sl_app_sio(R.c.app)));
        if (eio_options_set_path(&o, R.echo_paths[i]) || sl_server_mount_eio_echo(R.c.server, &o)) {
            fprintf(stderr, "siolua: cannot mount '%s'\n", R.echo_paths[i]);
            return 2;
        }
    }
    /* Signals first, so a SIGTERM right after the "listening" line is a
     * clean shutdown too. */
    sl_compose_signals(&R.c, 1);
    if (!R.no_reload)
        sl_app_watch(R.c.app);
    char where[128];
    rc = sl_server_listen(R.c.server, where, sizeof where);
    if (rc) {
        fprintf(stderr, "siolua: cannot listen on %s:%d: %s\n", R.c.settings.http.host,
                R.c.settings.http.port, uv_strerror(rc));
        return 1;
    }
    if (announce_address(where))
        return 1;
    uv_run(loop, UV_RUN_DEFAULT);
    sl_compose_free(&R.c);
    SL_INFO("main", "stopped");
    return 0;
}
