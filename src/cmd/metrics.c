/* L7 cmd/metrics: Prometheus metrics and the health check. See metrics.h.
 *
 * The text format (Prometheus 0.0.4): for each family a "# HELP name text"
 * and a "# TYPE name type" line, then its samples, "name{label="value"} v",
 * all of one family together. Histograms give cumulative _bucket{le=...}
 * samples ending with le="+Inf" (equal to _count), then _sum and _count. */
#include "cmd/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "base/log.h"
#include "base/utf8.h"
#include "cluster/sio_redis.h"
#include "cmd/compose.h"
#include "cmd/supervisor.h"
#include "net/conn.h"
#include "net/http_client.h"

/* How often the event loop probe looks at how late it runs. */
#define LAG_PERIOD_MS 500
/* How long the worker a scrape lands on waits for the others. */
#define GATHER_TIMEOUT_MS 3000
/* The header of a scrape between workers: "self" asks for one worker's
 * figures (the asking worker gathers). */
#define SCOPE_HEADER "X-Siolua-Metrics"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct gather gather_t;

struct sl_metrics {
    sl_compose_t *c;
    uv_timer_t lag_timer;
    uint64_t lag_last;       /* hrtime of the probe's last run */
    uint64_t lag_ns;         /* how late it ran then */
    double start_time;       /* seconds since the epoch */
    sl_httpc_t *http;        /* to the other workers, made at the first gather */
    gather_t *gathers;       /* scrapes waiting for the other workers */
    int closed;
    /* A worker that does not answer is logged once until it answers again. */
    unsigned char warned[257];
};

/* ---- writing the text format ------------------------------------------------- */

/* One exposition being written: the buffer and the worker label every
 * sample carries ("" for a process on its own). */
typedef struct expo {
    sl_buf_t *b;
    char worker[24];
} expo_t;

static void family(expo_t *e, const char *name, const char *type, const char *help)
{
    sl_buf_appendf(e->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels,worker="N"} ; labels is "" or pairs already escaped. */
static void sample_name(expo_t *e, const char *name, const char *labels)
{
    int any = labels[0] || e->worker[0];
    sl_buf_appendf(e->b, "%s%s%s%s%s%s ", name, any ? "{" : "", labels,
                   labels[0] && e->worker[0] ? "," : "", e->worker, any ? "}" : "");
}

static void sample_u(expo_t *e, const char *name, const char *labels, uint64_t v)
{
    sample_name(e, name, labels);
    sl_buf_appendf(e->b, "%llu\n", (unsigned long long)v);
}

static void sample_d(expo_t *e, const char *name, const char *labels, double v)
{
    sample_name(e, name, labels);
    sl_buf_appendf(e->b, "%.15g\n", v);
}

/* A family of one unlabelled sample. */
static void single(expo_t *e, const char *name, const char *type, const char *help, uint64_t v)
{
    family(e, name, type, help);
    sample_u(e, name, "", v);
}

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped; a byte that is not part of well-formed UTF-8 (a namespace
 * is the client's bytes) becomes U+FFFD. */
static void label_value(sl_buf_t *b, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v);
    while (n) {
        size_t k = sl_utf8_seq_len(p, n);
        if (k == 0) {
            sl_buf_append_str(b, "\xef\xbf\xbd");
            k = 1;
        } else if (*p == '\\' || *p == '"') {
            sl_buf_append_byte(b, '\\');
            sl_buf_append_byte(b, (char)*p);
        } else if (*p == '\n') {
            sl_buf_append_str(b, "\\n");
        } else {
            sl_buf_append(b, p, k);
        }
        p += k;
        n -= k;
    }
}

/* ---- this process's figures ------------------------------------------------------ */

typedef struct nsp_walk {
    expo_t *e;
    sl_buf_t label;
} nsp_walk_t;

static void nsp_sample(sio_nsp_t *nsp, void *ud)
{
    nsp_walk_t *w = ud;
    sl_buf_reset(&w->label);
    sl_buf_append_str(&w->label, "namespace=\"");
    label_value(&w->label, sio_nsp_name(nsp));
    sl_buf_append_str(&w->label, "\"");
    sl_buf_append_byte(&w->label, '\0');
    sample_u(w->e, "siolua_sockets", w->label.data, sio_nsp_socket_count(nsp));
}

static void render_engine(expo_t *e, sio_server_t *sio)
{
    eio_server_t *eio = sio_server_eio(sio);
    const eio_stats_t *es = eio_server_stats(eio);
    size_t by_transport[2];
    eio_server_count_transports(eio, by_transport);
    family(e, "siolua_engine_clients", "gauge", "Engine.IO sessions open, by the transport they are on now.");
    sample_u(e, "siolua_engine_clients", "transport=\"polling\"", by_transport[0]);
    sample_u(e, "siolua_engine_clients", "transport=\"websocket\"", by_transport[1]);

    nsp_walk_t w = {e, SL_BUF_INIT};
    family(e, "siolua_sockets", "gauge", "Connected Socket.IO sockets, by namespace.");
    sio_server_each_nsp(sio, nsp_sample, &w);
    sl_buf_free(&w.label);

    single(e, "siolua_handshakes_total", "counter", "Engine.IO sessions opened.", es->handshakes);
    single(e, "siolua_upgrades_total", "counter",
           "Sessions upgraded from polling to WebSocket.", es->upgrades);
    family(e, "siolua_disconnects_total", "counter", "Engine.IO sessions closed, by reason.");
    for (int i = 0; i < EIO_REASON_COUNT; i++) {
        char label[64];
        snprintf(label, sizeof label, "reason=\"%s\"", eio_close_reasons[i]);
        sample_u(e, "siolua_disconnects_total", label, es->closes[i]);
    }
}

static void render_sio(expo_t *e, sio_server_t *sio, const sl_app_stats_t *as)
{
    const sio_stats_t *ss = sio_server_stats(sio);
    const sl_conn_stats_t *cs = sl_conn_stats();
    single(e, "siolua_packets_received_total", "counter",
           "Socket.IO packets received from clients.", ss->packets_received);
    single(e, "siolua_packets_sent_total", "counter",
           "Socket.IO packets sent to clients (one per recipient).", ss->packets_sent);
    single(e, "siolua_bytes_received_total", "counter",
           "Bytes read from client connections.", cs->bytes_received);
    single(e, "siolua_bytes_sent_total", "counter", "Bytes written to client connections.", cs->bytes_sent);
    single(e, "siolua_broadcasts_total", "counter", "Broadcasts made by this server.", ss->broadcasts);
    single(e, "siolua_ack_timeouts_total", "counter",
           "Acknowledgements not received in time (emit_with_ack with a timeout).", as->ack_timeouts);
}

static void render_lua(expo_t *e, sl_app_t *app, const sl_app_stats_t *as)
{
    const sl_lua_stats_t *ls = sl_app_lua_stats(app);
    family(e, "siolua_lua_handler_seconds", "histogram",
           "Time the event loop spent in each run of Lua code (a handler until it returns or waits).");
    uint64_t cum = 0;
    for (int i = 0; i <= SL_LUA_HIST_BUCKETS; i++) {
        char label[48];
        cum += ls->buckets[i];
        if (i < SL_LUA_HIST_BUCKETS)
            snprintf(label, sizeof label, "le=\"%g\"", (double)sl_lua_hist_bounds_ns[i] / 1e9);
        else
            snprintf(label, sizeof label, "le=\"+Inf\"");
        sample_u(e, "siolua_lua_handler_seconds_bucket", label, cum);
    }
    sample_d(e, "siolua_lua_handler_seconds_sum", "", (double)ls->run_ns / 1e9);
    sample_u(e, "siolua_lua_handler_seconds_count", "", ls->runs);
    single(e, "siolua_lua_errors_total", "counter",
           "Errors in Lua code (each also logged as a 'lua error' line).", ls->errors);
    single(e, "siolua_lua_memory_bytes", "gauge", "Bytes the Lua state holds.", sl_app_lua_memory(app));
    family(e, "siolua_reloads_total", "counter",
           "Reloads of main.lua, by result (failed: the old version kept serving).");
    sample_u(e, "siolua_reloads_total", "result=\"ok\"", as->reloads_ok);
    sample_u(e, "siolua_reloads_total", "result=\"failed\"", as->reloads_failed);
}

/* Descriptors open now: the entries of /proc/self/fd but the one reading it. */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* The limits (README "Limits"): what is held now against each, and what
 * each turned away. */
static void render_limits(expo_t *e, const sl_server_t *srv, sio_server_t *sio)
{
    sl_server_stats_t st;
    sl_server_stats(srv, &st);
    const struct {
        const char *name, *type, *help;
        uint64_t v;
    } f[] = {
        {"siolua_connections", "gauge", "Open connections (what maxConnections caps).", st.connections},
        {"siolua_connections_refused_total", "counter", "Connections answered 503 over maxConnections.",
         st.refused_busy},
        {"siolua_fd_exhausted_total", "counter",
         "Times accepting a connection found no file descriptor free.", st.fd_exhausted},
        {"siolua_connections_dropped_no_fd_total", "counter",
         "Connections closed unserved for want of a file descriptor.", st.dropped_no_fd},
        {"siolua_request_body_bytes", "gauge",
         "Request bodies held now (what maxBufferedRequestBytes caps).", st.body_bytes},
        {"siolua_request_bodies_refused_total", "counter",
         "Requests answered 503 over maxBufferedRequestBytes.", st.refused_bodies},
        {"siolua_requests_timed_out_total", "counter",
         "Requests answered 408 (httpHeaderTimeout, requestTimeout).", st.timed_out},
        {"siolua_requests_bad_total", "counter", "Requests refused with 400, 431 or 505.", st.bad_requests},
        {"siolua_output_queued_bytes", "gauge",
         "Output all queues hold now, shared buffers once (what maxOutputBufferTotal caps).",
         st.output_bytes},
        {"siolua_slow_readers_dropped_total", "counter",
         "Clients closed because all output queues held more than maxOutputBufferTotal.",
         st.output_dropped},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        single(e, f[i].name, f[i].type, f[i].help, f[i].v);
    if (sio)
        single(e, "siolua_sessions_refused_total", "counter",
               "Engine.IO handshakes answered 503 over maxSessions.",
               eio_server_refused_count(sio_server_eio(sio)));
}

static void render_process(sl_metrics_t *m, expo_t *e)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    family(e, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    sample_d(e, "process_cpu_seconds_total", "",
             (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    size_t rss = 0;
    uv_resident_set_memory(&rss);
    single(e, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
    unsigned long vsize_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &vsize_pages) != 1)
            vsize_pages = 0;
        fclose(f);
    }
    single(e, "process_virtual_memory_bytes", "gauge",
           "Virtual memory size in bytes.", (uint64_t)vsize_pages * (uint64_t)sysconf(_SC_PAGESIZE));
    long fds = open_fds();
    if (fds >= 0) {
        single(e, "process_open_fds", "gauge", "Number of open file descriptors.", (uint64_t)fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        single(e, "process_max_fds", "gauge",
               "Maximum number of open file descriptors.",
               rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur);
    }
    family(e, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    sample_d(e, "process_start_time_seconds", "", m->start_time);
}

void sl_metrics_render(sl_metrics_t *m, sl_buf_t *out)
{
    sl_compose_t *c = m->c;
    expo_t e = {out, ""};
    if (c->worker)
        snprintf(e.worker, sizeof e.worker, "worker=\"%d\"", c->worker);
    if (c->app) {
        const sl_app_stats_t *as = sl_app_stats(c->app);
        render_engine(&e, sl_app_sio(c->app));
        render_sio(&e, sl_app_sio(c->app), as);
        render_lua(&e, c->app, as);
    }
    render_limits(&e, c->server, c->app ? sl_app_sio(c->app) : NULL);
    if (c->adapter) {
        single(&e, "siolua_redis_up", "gauge",
               "1 while the cluster adapter's connections to Redis (or to the --workers local bus) are up.",
               (uint64_t)sio_redis_up(c->adapter));
    }
    family(&e, "siolua_event_loop_lag_seconds", "gauge",
           "How late the event loop ran a timer at its last check (every 0.5 s): time it was busy.");
    sample_d(&e, "siolua_event_loop_lag_seconds", "", (double)m->lag_ns / 1e9);
    render_process(m, &e);
}

/* ---- gathering the other workers' figures ------------------------------------------ */

/* One family of an exposition: its HELP and TYPE lines, then its samples. */
typedef struct fam {
    const char *name;
    size_t name_len;
    const char *head, *body;
    size_t head_len, body_len;
    int done;
} fam_t;

/* Splits text (this file's own output) into families. The count, or -1. */
static int split_families(const char *text, size_t len, fam_t **out)
{
    int n = 0, cap = 0;
    fam_t *f = NULL;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        if (!strncmp(p, "# HELP ", 7) && next - p > 7) {
            if (n == cap) {
                fam_t *g = realloc(f, (size_t)(cap = cap ? cap * 2 : 32) * sizeof *g);
                if (!g) {
                    free(f);
                    return -1;
                }
                f = g;
            }
            const char *name = p + 7;
            f[n] = (fam_t){.name = name, .name_len = strcspn(name, " \n"), .head = p, .body = next};
            n++;
        } else if (n && !strncmp(p, "# ", 2) && f[n - 1].body == p) {
            f[n - 1].body = next; /* TYPE: part of the head */
        }
        if (n) {
            f[n - 1].head_len = (size_t)(f[n - 1].body - f[n - 1].head);
            f[n - 1].body_len = (size_t)(next - f[n - 1].body);
        }
        p = next;
    }
    *out = f;
    return n;
}

static fam_t *fam_find(fam_t *f, int n, const fam_t *want)
{
    for (int i = 0; i < n; i++)
        if (f[i].name_len == want->name_len && !memcmp(f[i].name, want->name, want->name_len))
            return &f[i];
    return NULL;
}

typedef struct peer {
    gather_t *g;
    int index;
    sl_httpc_req_t *r;      /* while asked */
    sl_buf_t text;
    int ok;
    fam_t *fams;
    int nfams;
} peer_t;

struct gather {
    sl_metrics_t *m;
    sl_http_req_t *req;     /* NULL once the scraper left */
    gather_t *next;
    int waiting;            /* peers not answered yet */
    int npeers;             /* workers, this one included (its slot unused) */
    peer_t *peers;          /* [0 .. npeers), worker index i at [i - 1] */
};

static void gather_unlink(gather_t *g)
{
    for (gather_t **pp = &g->m->gathers; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            return;
        }
}

static void gather_free(gather_t *g)
{
    for (int i = 0; i < g->npeers; i++) {
        sl_buf_free(&g->peers[i].text);
        free(g->peers[i].fams);
    }
    free(g->peers);
    free(g);
}

/* Every worker's families together: ours in our order, each followed by
 * the same family's samples from the others; then families only others
 * had; then which workers answered. */
static void merge(gather_t *g, const sl_buf_t *own, sl_buf_t *out)
{
    fam_t *mine = NULL;
    int n = split_families(own->data, own->len, &mine);
    for (int i = 0; i < g->npeers; i++) {
        peer_t *p = &g->peers[i];
        if (p->ok && (p->nfams = split_families(p->text.data, p->text.len, &p->fams)) < 0)
            p->ok = 0;
    }
    for (int k = 0; k < n; k++) {
        sl_buf_append(out, mine[k].head, mine[k].head_len);
        sl_buf_append(out, mine[k].body, mine[k].body_len);
        for (int i = 0; i < g->npeers; i++) {
            fam_t *f = g->peers[i].ok ? fam_find(g->peers[i].fams, g->peers[i].nfams, &mine[k]) : NULL;
            if (f) {
                sl_buf_append(out, f->body, f->body_len);
                f->done = 1;
            }
        }
    }
    for (int i = 0; i < g->npeers; i++) {
        for (int k = 0; g->peers[i].ok && k < g->peers[i].nfams; k++) {
            fam_t *f = &g->peers[i].fams[k];
            if (f->done)
                continue;
            sl_buf_append(out, f->head, f->head_len);
            for (int j = i; j < g->npeers; j++) {
                fam_t *o = g->peers[j].ok ? fam_find(g->peers[j].fams, g->peers[j].nfams, f) : NULL;
                if (o) {
                    sl_buf_append(out, o->body, o->body_len);
                    o->done = 1;
                }
            }
        }
    }
    free(mine);
    int self = g->m->c->worker;
    sl_buf_append_str(out, "# HELP siolua_worker_up 1 when the worker's figures are in this scrape, "
                           "0 when it did not answer (not serving, or too slow).\n"
                           "# TYPE siolua_worker_up gauge\n");
    for (int i = 0; i < g->npeers; i++)
        sl_buf_appendf(out, "siolua_worker_up{worker=\"%d\"} %d\n", i + 1, i + 1 == self || g->peers[i].ok);
}

static void respond_metrics(sl_http_req_t *req, const sl_buf_t *text)
{
    sl_http_resp_header(req, "Cache-Control", "no-store");
    sl_http_respond(req, 200, CONTENT_TYPE, text->data ? text->data : "", text->len);
}

static void gather_finish(gather_t *g)
{
    gather_unlink(g);
    if (g->req) {
        g->req->on_abort = NULL;
        sl_buf_t own = SL_BUF_INIT, all = SL_BUF_INIT;
        sl_metrics_render(g->m, &own);
        merge(g, &own, &all);
        respond_metrics(g->req, &all);
        sl_buf_free(&own);
        sl_buf_free(&all);
    }
    gather_free(g);
}

static void peer_done(sl_httpc_req_t *r, int code, const sl_httpc_response_t *res, const char *err, void *ud)
{
    (void)r;
    peer_t *p = ud;
    gather_t *g = p->g;
    p->r = NULL;
    unsigned char *warned = &g->m->warned[p->index];
    if (code == 0 && res->status == 200) {
        p->ok = sl_buf_append(&p->text, res->body, res->body_len) == 0;
        *warned = 0;
    } else if (code != SL_HTTPC_ECANCELED && !*warned) {
        char why[64];
        snprintf(why, sizeof why, "HTTP status %d", code == 0 ? res->status : 0);
        SL_WARN("metrics", "worker %d did not give its metrics (left out of scrapes until it does): %s",
                p->index, code == 0 ? why : err);
        *warned = 1;
    }
    if (--g->waiting == 0)
        gather_finish(g);
}

static void scraper_left(sl_http_req_t *req, void *ud)
{
    (void)req;
    ((gather_t *)ud)->req = NULL;
}

/* Asks every other serving worker for its figures; the answer goes out
 * when all have answered (or failed). 0, or -1 to answer alone. */
static int gather_start(sl_metrics_t *m, sl_http_req_t *req)
{
    sl_compose_t *c = m->c;
    int n = sl_worker_peer_count();
    if (n < 2 || c->worker < 1 || c->worker > n)
        return -1;
    if (!m->http && !(m->http = sl_httpc_new(c->loop, NULL)))
        return -1;
    gather_t *g = calloc(1, sizeof *g);
    if (!g || !(g->peers = calloc((size_t)n, sizeof *g->peers))) {
        free(g);
        return -1;
    }
    g->m = m;
    g->req = req;
    g->npeers = n;
    char auth[300];
    const char *token = c->settings.metrics_token;
    snprintf(auth, sizeof auth, "Bearer %s", token);
    sl_httpc_header_t hs[2] = {{SCOPE_HEADER, "self"}, {"Authorization", auth}};
    g->waiting = 1; /* held until every request is out */
    for (int i = 1; i <= n; i++) {
        peer_t *p = &g->peers[i - 1];
        p->g = g;
        p->index = i;
        const char *addr = sl_worker_peer(i);
        if (i == c->worker || !addr)
            continue;
        char url[256], err[256];
        snprintf(url, sizeof url, "http://%s%s", addr, c->settings.metrics_path);
        sl_httpc_request_t rq = {.url = url, .headers = hs, .nheaders = token[0] ? 2 : 1,
                                 .timeout_ms = GATHER_TIMEOUT_MS};
        g->waiting++;
        if (sl_httpc_request(m->http, &rq, peer_done, p, &p->r, err, sizeof err)) {
            SL_WARN("metrics", "cannot ask worker %d for its metrics: %s", i, err);
            g->waiting--;
        }
    }
    g->next = m->gathers;
    m->gathers = g;
    req->on_abort = scraper_left;
    req->abort_ud = g;
    if (--g->waiting == 0)
        gather_finish(g);
    return 0;
}

/* ---- the routes ------------------------------------------------------------------------ */

/* Authorization: Bearer TOKEN, compared in constant time. */
static int authorized(const char *token, const sl_http_req_t *req)
{
    if (!token[0])
        return 1;
    const char *h = sl_http_header_get(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(token);
    return strlen(h) == n && CRYPTO_memcmp(h, token, n) == 0;
}

static int method_ok(sl_http_req_t *req)
{
    if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
        return 1;
    sl_http_resp_header(req, "Allow", "GET, HEAD");
    sl_http_respond_text(req, 405, "Method Not Allowed");
    return 0;
}

static int route(sl_http_req_t *req, void *ud)
{
    sl_metrics_t *m = ud;
    const sl_settings_t *s = &m->c->settings;
    if (m->closed)
        return 0;
    if (s->health_path[0] && !strcmp(req->path, s->health_path)) {
        if (!method_ok(req))
            return 1;
        int draining = sl_server_draining(m->c->server);
        sl_http_resp_header(req, "Cache-Control", "no-store");
        sl_http_respond_text(req, draining ? 503 : 200, draining ? "draining\n" : "ok\n");
        return 1;
    }
    if (!s->metrics_path[0] || strcmp(req->path, s->metrics_path))
        return 0;
    if (!method_ok(req))
        return 1;
    if (!authorized(s->metrics_token, req)) {
        int sent = sl_http_header_get(req, "Authorization") != NULL;
        sl_http_resp_header(req, "WWW-Authenticate",
                            sent ? "Bearer realm=\"siolua metrics\", error=\"invalid_token\""
                                 : "Bearer realm=\"siolua metrics\"");
        sl_http_respond_text(req, 401, "Unauthorized");
        return 1;
    }
    const char *scope = sl_http_header_get(req, SCOPE_HEADER);
    if ((scope && !strcmp(scope, "self")) || gather_start(m, req) != 0) {
        sl_buf_t text = SL_BUF_INIT;
        sl_metrics_render(m, &text);
        respond_metrics(req, &text);
        sl_buf_free(&text);
    }
    return 1;
}

/* ---- life ------------------------------------------------------------------------------- */

static void metrics_closed(uv_handle_t *h) { free(h->data); }

static void lag_cb(uv_timer_t *t)
{
    sl_metrics_t *m = t->data;
    uint64_t now = uv_hrtime(), due = m->lag_last + (uint64_t)LAG_PERIOD_MS * 1000000;
    m->lag_ns = now > due ? now - due : 0;
    m->lag_last = now;
}

sl_metrics_t *sl_metrics_new(sl_compose_t *c)
{
    sl_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = c;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    m->start_time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    uv_timer_init(c->loop, &m->lag_timer);
    m->lag_timer.data = m;
    if (sl_server_add_route(c->server, route, m)) {
        uv_close((uv_handle_t *)&m->lag_timer, metrics_closed);
        return NULL;
    }
    return m;
}

void sl_metrics_start(sl_metrics_t *m)
{
    if (!m->c->settings.metrics_path[0])
        return;
    sl_app_set_lua_timing(m->c->app, 1);
    m->lag_last = uv_hrtime();
    uv_timer_start(&m->lag_timer, lag_cb, LAG_PERIOD_MS, LAG_PERIOD_MS);
    uv_unref((uv_handle_t *)&m->lag_timer);
}

void sl_metrics_close(sl_metrics_t *m)
{
    if (!m || m->closed)
        return;
    m->closed = 1;
    /* Cancelling calls each pending peer back: the scrapes waiting on them
     * are answered with what came. */
    sl_httpc_close(m->http, "the server is shutting down");
    m->http = NULL;
    uv_close((uv_handle_t *)&m->lag_timer, metrics_closed);
}
