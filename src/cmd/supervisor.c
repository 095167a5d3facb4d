/* L7 cmd/supervisor: N workers on one port, joined as a cluster. See supervisor.h.
 *
 *   supervisor ── local bus (unix socket, no --redis) ◄── workers' adapter links
 *       │  └───── reserved port (bound, not listening)
 *       └── worker i: uv_process_t + control socket (its fd 3)
 *                     "ready RELAY SCHEME\n" ──►     ◄── "peers 1=RELAY 2=- ...\n"
 *                                             ◄── EOF: supervisor gone
 *
 * RELAY is the worker's private listener ("127.0.0.1:41234"); the peers
 * line, sent to every serving worker whenever one starts or stops serving,
 * lists them all ("-" for one that is not serving), so the worker a metrics
 * scrape lands on can gather the others' figures from there.
 */
#include "cmd/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cluster/local_bus_server.h"
#include "base/backoff.h"
#include "base/buf.h"
#include "base/log.h"
#include "eio/server.h"
#include "cmd/sd_notify.h"
#include "net/stream_writer.h"

/* A worker that dies is started again after RESTART_MIN_MS; one that dies
 * again soon after (a crash loop: a bad main.lua, a port taken) waits twice
 * as long each time, up to RESTART_MAX_MS, so the machine isn't spun. One
 * that lived STABLE_MS starts the count over. */
#define RESTART_MIN_MS 100
#define RESTART_MAX_MS 10000
#define STABLE_MS 10000
/* Workers close their sessions within about 2 s (server.c); past this
 * they are killed. */
#define STOP_GRACE_MS 10000
#define CONTROL_FD 3

typedef struct supervisor supervisor_t;

typedef struct worker {
    supervisor_t *sup;
    int index;               /* 1..N */
    uv_process_t proc;
    uv_pipe_t control;
    sl_stream_writer_t out;  /* the peers lines, on control */
    uv_timer_t restart;
    int running;             /* proc is a live process */
    int proc_open, control_open; /* handles not yet closed */
    int ready;
    int reload_pending;      /* SIGHUP came before it was ready */
    uint64_t started_at;
    sl_backoff_t backoff;    /* restart delays (see RESTART_MIN_MS) */
    char rbuf[128];
    char relay[64];          /* "host:port" of its private listener, "" */
    char scheme[8];          /* what the shared port speaks, as it said */
} worker_t;

struct supervisor {
    uv_loop_t *loop;
    const sl_supervisor_config_t *cfg;
    worker_t *workers;
    int n;
    char exe[PATH_MAX];
    char where[128];           /* the shared "host:port" */
    char port[16];
    char bus_dir[PATH_MAX];
    char bus_url[PATH_MAX + 32];
    sl_bus_server_t *bus;
    int reserved_fd;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_timer_t stop_timer;
    int serving;               /* every worker was ready once */
    int stopping;
    int finished;
    int exit_code;
};

/* ---- spawning ------------------------------------------------------------- */

static unsigned worker_schedule_restart(worker_t *w);

static void proc_closed(uv_handle_t *h)
{
    worker_t *w = h->data;
    w->proc_open = 0;
}

static void control_closed(uv_handle_t *h)
{
    worker_t *w = h->data;
    w->control_open = 0;
}

static void control_close(worker_t *w)
{
    if (w->control_open && !uv_is_closing((uv_handle_t *)&w->control)) {
        sl_stream_writer_close(&w->out);
        uv_close((uv_handle_t *)&w->control, control_closed);
    }
}

/* "peers 1=127.0.0.1:41234 2=- ...\n" to every serving worker. A worker
 * that can't take it is going away: its exit is handled. */
static void tell_peers(supervisor_t *s)
{
    sl_buf_t line = SL_BUF_INIT;
    sl_buf_append_str(&line, "peers");
    for (int i = 0; i < s->n; i++) {
        const worker_t *w = &s->workers[i];
        sl_buf_appendf(&line, " %d=%s", w->index, w->ready && w->relay[0] ? w->relay : "-");
    }
    sl_buf_append_byte(&line, '\n');
    for (int i = 0; i < s->n && line.data; i++) {
        worker_t *w = &s->workers[i];
        if (w->ready && w->control_open && !uv_is_closing((uv_handle_t *)&w->control))
            sl_stream_writer_write(&w->out, line.data, line.len, SL_STREAM_WRITE_UNCAPPED);
    }
    sl_buf_free(&line);
}

static void supervisor_finish(supervisor_t *s);

static int running_count(const supervisor_t *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->workers[i].running;
    return n;
}

static void on_control_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    worker_t *w = h->data;
    *buf = uv_buf_init(w->rbuf, sizeof w->rbuf);
}

static void on_control_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    worker_t *w = st->data;
    supervisor_t *s = w->sup;
    if (nread < 0) {
        control_close(w);
        return;
    }
    /* "ready RELAY SCHEME\n", all of it in one read (a few dozen bytes, written
     * at once, on a socket pair). */
    char *nl = nread > 0 ? memchr(buf->base, '\n', (size_t)nread) : NULL;
    if (!nl || w->ready)
        return;
    *nl = '\0';
    if (sscanf(buf->base, "ready %63s %7s", w->relay, w->scheme) != 2) {
        w->relay[0] = '\0';
        snprintf(w->scheme, sizeof w->scheme, "http");
    }
    w->ready = 1;
    tell_peers(s);
    if (w->reload_pending) {
        /* Its handlers are installed now (it says "ready" after them). */
        w->reload_pending = 0;
        uv_process_kill(&w->proc, SIGHUP);
    }
    if (s->serving) {
        SL_INFO("workers", "worker %d (pid %d) is serving again", w->index, w->proc.pid);
        return;
    }
    for (int i = 0; i < s->n; i++)
        if (!s->workers[i].ready)
            return;
    s->serving = 1;
    SL_INFO("main", "siolua %s serving %s with %d workers (%s), listening on %s://%s",
            SIOLUA_VERSION, s->cfg->app_dir, s->n,
            s->cfg->use_local_bus ? "joined by a local bus" : "joined by redis", w->scheme, s->where);
    sl_sd_ready(s->loop, "serving %s with %d workers on %s://%s", s->cfg->app_dir, s->n, w->scheme,
                s->where);
}

static void describe_exit(char *out, size_t cap, int64_t status, int sig)
{
    if (sig)
        snprintf(out, cap, "was killed by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(out, cap, "exited with code %lld", (long long)status);
}

static void stop_workers(supervisor_t *s, int code);

static void on_worker_exit(uv_process_t *p, int64_t status, int sig)
{
    worker_t *w = p->data;
    supervisor_t *s = w->sup;
    char how[96];
    describe_exit(how, sizeof how, status, sig);
    w->running = 0;
    int was_ready = w->ready;
    w->ready = 0;
    uv_close((uv_handle_t *)p, proc_closed);
    control_close(w);
    if (was_ready && !s->stopping)
        tell_peers(s);
    if (s->stopping) {
        SL_DEBUG("workers", "worker %d %s", w->index, how);
        if (!running_count(s))
            supervisor_finish(s);
        return;
    }
    if (!s->serving) {
        /* At start-up a worker that can't serve (main.lua broken, port
         * taken) would fail the same way every time: give up, saying why. */
        SL_ERROR("workers", "worker %d %s before it was serving: stopping", w->index, how);
        stop_workers(s, 1);
        return;
    }
    uint64_t lived = uv_now(s->loop) - w->started_at;
    if (lived >= STABLE_MS)
        sl_backoff_reset(&w->backoff);
    unsigned ms = worker_schedule_restart(w);
    SL_WARN("workers", "worker %d (pid %d) %s; starting it again in %u ms", w->index, p->pid, how, ms);
}

static int worker_spawn(worker_t *w)
{
    supervisor_t *s = w->sup;
    const sl_supervisor_config_t *c = s->cfg;
    /* argv: the command line without --workers, then what this worker must
     * know; later flags win over earlier ones in parse_args. */
    char **argv = calloc((size_t)c->argc + 9, sizeof *argv);
    if (!argv)
        return UV_ENOMEM;
    int k = 0;
    argv[k++] = s->exe;
    for (int i = 1; i < c->argc; i++) {
        if (!strcmp(c->argv[i], "--workers") && i + 1 < c->argc) {
            i++;
            continue;
        }
        argv[k++] = c->argv[i];
    }
    char index[16];
    snprintf(index, sizeof index, "%d", w->index);
    argv[k++] = "--port";
    argv[k++] = s->port;
    argv[k++] = "--worker";
    argv[k++] = index;
    if (c->use_local_bus) {
        argv[k++] = "--worker-bus";
        argv[k++] = s->bus_url;
    }
    argv[k] = NULL;

    uv_pipe_init(s->loop, &w->control, 0);
    sl_stream_writer_init(&w->out, (uv_stream_t *)&w->control, 0, NULL);
    w->control.data = w;
    w->control_open = 1;
    uv_stdio_container_t stdio[CONTROL_FD + 1];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[CONTROL_FD].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[CONTROL_FD].data.stream = (uv_stream_t *)&w->control;
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.exit_cb = on_worker_exit;
    o.file = s->exe;
    o.args = argv;
    o.stdio_count = CONTROL_FD + 1;
    o.stdio = stdio;
    w->proc.data = w;
    int rc = uv_spawn(s->loop, &w->proc, &o);
    free(argv);
    w->proc_open = 1;
    if (rc) {
        /* libuv wants the handle closed even when the spawn failed. */
        uv_close((uv_handle_t *)&w->proc, proc_closed);
        control_close(w);
        return rc;
    }
    w->running = 1;
    w->ready = 0;
    w->reload_pending = 0;
    w->started_at = uv_now(s->loop);
    uv_read_start((uv_stream_t *)&w->control, on_control_alloc, on_control_read);
    return 0;
}

static void on_restart(uv_timer_t *t)
{
    worker_t *w = t->data;
    if (w->sup->stopping)
        return;
    if (w->proc_open || w->control_open) { /* last run's handles still closing */
        uv_timer_start(&w->restart, on_restart, 10, 0);
        return;
    }
    int rc = worker_spawn(w);
    if (rc) {
        unsigned ms = worker_schedule_restart(w);
        SL_ERROR("workers", "cannot start worker %d: %s; trying again in %u ms", w->index,
                 uv_strerror(rc), ms);
    }
}

/* Returns the delay. No jitter: the workers are this machine's own
 * processes, nobody else's clients. */
static unsigned worker_schedule_restart(worker_t *w)
{
    unsigned ms = sl_backoff_next(&w->backoff, 0);
    uv_timer_start(&w->restart, on_restart, ms, 0);
    return ms;
}

/* ---- stopping ---------------------------------------------------------------- */

static void on_stop_timeout(uv_timer_t *t)
{
    supervisor_t *s = t->data;
    for (int i = 0; i < s->n; i++) {
        worker_t *w = &s->workers[i];
        if (w->running) {
            SL_WARN("workers", "worker %d did not stop within %d ms: killed", w->index, STOP_GRACE_MS);
            uv_process_kill(&w->proc, SIGKILL);
        }
    }
}

static void stop_workers(supervisor_t *s, int code)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    s->exit_code = code;
    for (int i = 0; i < s->n; i++) {
        worker_t *w = &s->workers[i];
        uv_timer_stop(&w->restart);
        if (w->running)
            uv_process_kill(&w->proc, SIGTERM);
    }
    if (!running_count(s)) {
        supervisor_finish(s);
        return;
    }
    uv_timer_start(&s->stop_timer, on_stop_timeout, STOP_GRACE_MS, 0);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    supervisor_t *s = h->data;
    if (s->stopping)
        return;
    SL_INFO("workers", "%s received, stopping %d workers", signum == SIGINT ? "SIGINT" : "SIGTERM",
            running_count(s));
    sl_sd_stopping();
    stop_workers(s, 0);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    supervisor_t *s = h->data;
    SL_INFO("workers", "SIGHUP received, reloading %d workers", running_count(s));
    sl_sd_reloading();
    /* A worker still loading has no SIGHUP handler yet: the signal would
     * kill it. It gets the reload once it says it is ready. */
    for (int i = 0; i < s->n; i++) {
        worker_t *w = &s->workers[i];
        if (w->running && w->ready)
            uv_process_kill(&w->proc, SIGHUP);
        else if (w->running)
            w->reload_pending = 1;
    }
    /* Each worker reloads on its own and logs how it went; the supervisor
     * can't wait for them, so systemd hears the reload is done once sent. */
    sl_sd_ready(NULL, NULL);
}

static void supervisor_finish(supervisor_t *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    uv_close((uv_handle_t *)&s->stop_timer, NULL);
    for (int i = 0; i < s->n; i++)
        uv_close((uv_handle_t *)&s->workers[i].restart, NULL);
    sl_bus_server_close(s->bus);
    s->bus = NULL;
}

/* ---- run ------------------------------------------------------------------------- */

/* A private directory (0700, mkdtemp's mode) holds the bus socket: only
 * this user's processes can reach the cluster's traffic. */
static int start_bus(supervisor_t *s)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s->bus_dir, sizeof s->bus_dir, "%s/siolua-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->bus_dir)) {
        fprintf(stderr, "siolua: cannot create a directory for the local bus in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        s->bus_dir[0] = '\0';
        return -1;
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/bus.sock", s->bus_dir);
    int rc = sl_bus_server_new(s->loop, path, &s->bus);
    if (rc) {
        fprintf(stderr, "siolua: cannot start the local bus on %s: %s\n", path, uv_strerror(rc));
        return -1;
    }
    snprintf(s->bus_url, sizeof s->bus_url, "unix:%s", path);
    return 0;
}

int sl_supervisor_run(const sl_supervisor_config_t *cfg)
{
    supervisor_t s;
    memset(&s, 0, sizeof s);
    s.loop = uv_default_loop();
    s.cfg = cfg;
    s.n = cfg->workers;
    s.reserved_fd = -1;
    size_t exe_len = sizeof s.exe;
    if (uv_exepath(s.exe, &exe_len) != 0) {
        fprintf(stderr, "siolua: cannot find its own executable to start the workers\n");
        return 1;
    }
    /* The port is chosen (when 0) and held here, so every worker, and any
     * worker started again later, listens on the same one. */
    int rc = sl_server_reserve_port(cfg->host, cfg->port, &s.reserved_fd, s.where, sizeof s.where);
    if (rc) {
        fprintf(stderr, "siolua: cannot listen on %s:%d: %s\n", cfg->host, cfg->port, uv_strerror(rc));
        return 1;
    }
    snprintf(s.port, sizeof s.port, "%s", strrchr(s.where, ':') + 1);
    if (cfg->use_local_bus && start_bus(&s) != 0) {
        close(s.reserved_fd);
        if (s.bus_dir[0])
            rmdir(s.bus_dir);
        uv_run(s.loop, UV_RUN_DEFAULT);
        return 1;
    }
    s.workers = calloc((size_t)s.n, sizeof *s.workers);
    if (!s.workers) {
        fprintf(stderr, "siolua: out of memory\n");
        return 1;
    }
    uv_signal_init(s.loop, &s.sig_int);
    uv_signal_init(s.loop, &s.sig_term);
    uv_signal_init(s.loop, &s.sig_hup);
    s.sig_int.data = s.sig_term.data = s.sig_hup.data = &s;
    uv_signal_start(&s.sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&s.sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&s.sig_hup, on_sighup, SIGHUP);
    uv_timer_init(s.loop, &s.stop_timer);
    s.stop_timer.data = &s;
    for (int i = 0; i < s.n; i++) {
        worker_t *w = &s.workers[i];
        w->sup = &s;
        w->index = i + 1;
        uv_timer_init(s.loop, &w->restart);
        w->restart.data = w;
        sl_backoff_init(&w->backoff, RESTART_MIN_MS, RESTART_MAX_MS, 0);
    }
    SL_INFO("workers", "starting %d workers of %s on %s%s%s", s.n, cfg->app_dir, s.where,
            cfg->use_local_bus ? ", local bus at " : "", cfg->use_local_bus ? s.bus_url + 5 : "");
    for (int i = 0; i < s.n && !s.stopping; i++) {
        rc = worker_spawn(&s.workers[i]);
        if (rc) {
            SL_ERROR("workers", "cannot start worker %d: %s", i + 1, uv_strerror(rc));
            stop_workers(&s, 1);
        }
    }
    uv_run(s.loop, UV_RUN_DEFAULT);
    close(s.reserved_fd);
    if (s.bus_dir[0])
        rmdir(s.bus_dir);
    free(s.workers);
    uv_loop_close(s.loop);
    SL_INFO("main", "stopped");
    return s.exit_code;
}

/* ---- in a worker ---------------------------------------------------------------- */

static uv_pipe_t control;
static int control_attached;
static void (*orphaned)(void);
static sl_stream_writer_t control_out;
static char control_rbuf[4096];
static sl_buf_t control_in;      /* a peers line being assembled */
/* The last peers line: index -> "host:port" ("" when not serving). */
static char (*peers)[64];
static int npeers;

static void ready_failed(sl_stream_writer_t *w, int status)
{
    (void)w;
    SL_WARN("worker", "cannot tell the supervisor it serves: %s", uv_strerror(status));
}

static const sl_stream_writer_handler_t control_writer = {.on_error = ready_failed};

static void on_worker_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(control_rbuf, sizeof control_rbuf);
}

/* "peers 1=ADDR 2=- ..." */
static void read_peers(char *line)
{
    if (strncmp(line, "peers ", 6))
        return;
    int n = 0;
    for (char *p = line + 6; *p; p++)
        n += *p == '=';
    char(*tab)[64] = calloc((size_t)n + 1, sizeof *tab);
    if (!tab)
        return;
    for (char *tok = strtok(line + 6, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        int i = eq ? atoi(tok) : 0;
        if (i >= 1 && i <= n && strcmp(eq + 1, "-") && strlen(eq + 1) < sizeof tab[0])
            strcpy(tab[i], eq + 1);
    }
    free(peers);
    peers = tab;
    npeers = n;
}

/* Lines from the supervisor (peers); its end of file means it is gone. */
static void on_worker_control(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    if (nread >= 0) {
        if (sl_buf_append(&control_in, buf->base, (size_t)nread))
            return;
        char *nl;
        while (control_in.len && (nl = memchr(control_in.data, '\n', control_in.len))) {
            *nl = '\0';
            read_peers(control_in.data);
            sl_buf_consume(&control_in, (size_t)(nl - control_in.data) + 1);
        }
        return;
    }
    uv_read_stop(st);
    void (*cb)(void) = orphaned;
    orphaned = NULL;
    if (cb)
        cb();
}

int sl_worker_attach(uv_loop_t *loop, void (*on_orphaned)(void))
{
    /* Started by hand, fd 3 is free or something of the loop's own (its
     * epoll fd): only a socket can be the supervisor's. */
    struct stat st;
    if (fstat(CONTROL_FD, &st) != 0 || !S_ISSOCK(st.st_mode))
        return UV_EBADF;
    /* Not handed down to anything the app might start (io.popen): only
     * this process's exit may close the supervisor's end. */
    if (fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC) != 0)
        return -errno;
    uv_pipe_init(loop, &control, 0);
    sl_stream_writer_init(&control_out, (uv_stream_t *)&control, 0, &control_writer);
    int rc = uv_pipe_open(&control, CONTROL_FD);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&control, on_worker_alloc, on_worker_control);
    control_attached = 1;
    if (rc) {
        sl_worker_detach();
        return rc;
    }
    orphaned = on_orphaned;
    return 0;
}

void sl_worker_ready(const char *relay, const char *scheme)
{
    char msg[96];
    if (!control_attached || uv_is_closing((uv_handle_t *)&control))
        return;
    int n = snprintf(msg, sizeof msg, "ready %s %s\n", relay, scheme);
    int rc = sl_stream_writer_write(&control_out, msg, (size_t)n, SL_STREAM_WRITE_UNCAPPED);
    if (rc)
        ready_failed(&control_out, rc);
}

int sl_worker_peer_count(void) { return npeers; }

const char *sl_worker_peer(int index)
{
    return index >= 1 && index <= npeers && peers[index][0] ? peers[index] : NULL;
}

void sl_worker_detach(void)
{
    free(peers);
    peers = NULL;
    npeers = 0;
    sl_buf_free(&control_in);
    orphaned = NULL;
    if (control_attached && !uv_is_closing((uv_handle_t *)&control)) {
        sl_stream_writer_close(&control_out);
        uv_close((uv_handle_t *)&control, NULL);
    }
}
