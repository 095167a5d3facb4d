/* Loadgen L7: the command line and the controller. It forks the generator
 * processes (lg_run.c), holds them at a barrier once they are connected,
 * samples the server's /proc at the phase boundaries (so per-message
 * figures never include connect time), and merges their results into one
 * JSON line on stdout and a summary on stderr. */
#define _GNU_SOURCE
#include "lg_run.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the server's figures from /proc -------------------------------------------- */

typedef struct lg_sample_s {
    double t;                          /* CLOCK_MONOTONIC seconds */
    double cpu_ms[LG_MAX_PIDS];        /* utime + stime, all threads */
    uint64_t rss_kib[LG_MAX_PIDS];     /* VmRSS */
    double cpu_total;
    double sys_total;                  /* stime alone: the kernel's share */
    uint64_t rss_total;
    int ok;
} lg_sample_t;

static double lg_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Set by SIGUSR1: the hold (or window) ends now. A run that holds
 * connections for as long as another program needs them (bench/scale's
 * steps) is started with a long --hold and ended with the signal, and
 * still reports everything it measured. */
static volatile sig_atomic_t lg_end_now;

static void lg_on_usr1(int sig)
{
    (void)sig;
    lg_end_now = 1;
}

/* In slices of at most a second, so that a signal landing just before a
 * slice starts is seen within a second. */
static void lg_sleep_until(double t)
{
    while (!lg_end_now) {
        double now = lg_now_s(), until = t < now + 1 ? t : now + 1;
        if (now >= t)
            return;
        struct timespec ts = { .tv_sec = (time_t)until, .tv_nsec = (long)((until - (double)(time_t)until) * 1e9) };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

static int lg_read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

/* utime and stime are fields 14 and 15 of /proc/PID/stat, counted after
 * the command name, which may itself contain spaces and parentheses. */
static int lg_proc_read(int pid, double *cpu_ms, double *sys_ms, uint64_t *rss_kib)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (lg_read_text(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    *cpu_ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
    *sys_ms = (double)st * 1000.0 / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (lg_read_text(path, buf, sizeof buf) < 0)
        return -1;
    char *v = strstr(buf, "VmRSS:");
    *rss_kib = v ? strtoull(v + 6, NULL, 10) : 0;
    return 0;
}

static void lg_sample(const lg_opts_t *o, lg_sample_t *s)
{
    memset(s, 0, sizeof *s);
    s->t = lg_now_s();
    s->ok = o->n_server_pids > 0;
    for (int i = 0; i < o->n_server_pids; i++) {
        double sys_ms = 0;
        if (lg_proc_read(o->server_pids[i], &s->cpu_ms[i], &sys_ms, &s->rss_kib[i]) < 0)
            s->ok = 0;
        s->cpu_total += s->cpu_ms[i];
        s->sys_total += sys_ms;
        s->rss_total += s->rss_kib[i];
    }
}

/* ---- output ------------------------------------------------------------------------ */

typedef struct lg_sb_s {
    char buf[32768];
    size_t len;
} lg_sb_t;

static void lg_sb_printf(lg_sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, sizeof b->buf - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len = b->len + (size_t)n < sizeof b->buf ? b->len + (size_t)n : sizeof b->buf - 1;
}

static double lg_div(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void lg_result_add(lg_result_t *a, const lg_result_t *b)
{
    a->clients += b->clients;
    a->connected += b->connected;
    a->failed += b->failed;
    a->dropped += b->dropped;
    for (int i = 0; i < LG_ERR_COUNT; i++)
        a->errors[i] += b->errors[i];
    a->pings += b->pings;
    a->window_pings += b->window_pings;
    if (b->connect_s > a->connect_s)
        a->connect_s = b->connect_s;
    if (b->window_s > a->window_s)
        a->window_s = b->window_s;
    a->sent += b->sent;
    a->acked += b->acked;
    a->window_acked += b->window_acked;
    a->broadcasts += b->broadcasts;
    a->window_broadcasts += b->window_broadcasts;
    a->deliveries += b->deliveries;
    a->window_deliveries += b->window_deliveries;
    a->stalls += b->stalls;
    a->churn_started += b->churn_started;
    a->churn_skipped += b->churn_skipped;
    a->connects += b->connects;
    a->window_connects += b->window_connects;
    a->cpu_ms += b->cpu_ms;
    a->window_cpu_ms += b->window_cpu_ms;
    a->maxrss_kib += b->maxrss_kib;
    lg_hist_merge(&a->connect_lat, &b->connect_lat);
    lg_hist_merge(&a->rtt, &b->rtt);
}

static void lg_report(const lg_opts_t *o, const lg_result_t *r, int children_failed,
                      const lg_sample_t s[5])
{
    lg_sb_t *j = calloc(1, sizeof *j), *h = calloc(1, sizeof *h);
    if (!j || !h)
        return;
    const char *tr = o->transport == LG_TRANSPORT_POLLING ? "polling" : "websocket";
    lg_sb_printf(j, "{\"scenario\":\"%s\",\"transport\":\"%s\",\"server\":\"%s:%u\",\"path\":\"%s\",\"nsp\":\"%s\","
                    "\"procs\":%u,\"children_failed\":%d,\"clients\":%llu,\"connected\":%llu,\"failed\":%llu,"
                    "\"dropped\":%llu,\"errors\":{",
                 o->scenario_name, tr, o->host, o->port, o->path, o->nsp, o->procs, children_failed,
                 (unsigned long long)r->clients, (unsigned long long)r->connected,
                 (unsigned long long)r->failed, (unsigned long long)r->dropped);
    lg_sb_printf(h, "loadgen: %s over %s to %s:%u%s, %u process%s\n", o->scenario_name, tr, o->host, o->port,
                 o->path, o->procs, o->procs == 1 ? "" : "es");
    lg_sb_printf(h, "  errors:");
    int any = 0;
    for (int i = 1; i < LG_ERR_COUNT; i++) {
        if (!r->errors[i])
            continue;
        lg_sb_printf(j, "%s\"%s\":%llu", any ? "," : "", lg_err_name((lg_err_t)i), (unsigned long long)r->errors[i]);
        lg_sb_printf(h, " %s=%llu", lg_err_name((lg_err_t)i), (unsigned long long)r->errors[i]);
        any = 1;
    }
    if (!any)
        lg_sb_printf(h, " none");
    lg_sb_printf(h, "%s\n", children_failed ? " (and a generator process failed)" : "");

    const lg_hist_t *cl = &r->connect_lat;
    lg_sb_printf(j, "},\"pings\":%llu,\"connect\":{\"seconds\":%.3f,\"per_s\":%.1f,\"p50_ms\":%.3f,"
                    "\"p99_ms\":%.3f,\"max_ms\":%.3f},\"window_s\":%.3f",
                 (unsigned long long)r->pings, r->connect_s, lg_div((double)r->connected, r->connect_s),
                 (double)lg_hist_quantile(cl, 0.5) / 1e6, (double)lg_hist_quantile(cl, 0.99) / 1e6,
                 (double)cl->max / 1e6, r->window_s);
    if (o->scenario != LG_SC_CHURN)
        lg_sb_printf(h, "  connections: %llu ok, %llu failed, %llu dropped later; connected in %.2f s (%.0f/s), "
                        "handshake p50 %.2f ms, p99 %.2f ms\n",
                     (unsigned long long)r->connected, (unsigned long long)r->failed,
                     (unsigned long long)r->dropped, r->connect_s, lg_div((double)r->connected, r->connect_s),
                     (double)lg_hist_quantile(cl, 0.5) / 1e6, (double)lg_hist_quantile(cl, 0.99) / 1e6);

    double ops = 0;
    const char *op_name = "op";
    switch (o->scenario) {
    case LG_SC_ECHO: {
        const lg_hist_t *t = &r->rtt;
        ops = (double)r->window_acked;
        op_name = "echo";
        lg_sb_printf(j, ",\"echo\":{\"rate_target\":%.1f,\"payload\":%u,\"sent\":%llu,\"acked\":%llu,"
                        "\"window_acked\":%llu,\"rate\":%.1f,\"rtt_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
                        "\"max\":%.1f,\"mean\":%.1f}}",
                     o->rate, o->payload, (unsigned long long)r->sent, (unsigned long long)r->acked,
                     (unsigned long long)r->window_acked, lg_div(ops, r->window_s),
                     (double)lg_hist_quantile(t, 0.5) / 1e3, (double)lg_hist_quantile(t, 0.9) / 1e3,
                     (double)lg_hist_quantile(t, 0.99) / 1e3, (double)t->max / 1e3,
                     lg_div((double)t->sum, (double)t->count) / 1e3);
        lg_sb_printf(h, "  echo: %llu acked of %llu sent; %.1f/s in the %.1f s window (asked %.0f/s); "
                        "round trip p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us\n",
                     (unsigned long long)r->acked, (unsigned long long)r->sent, lg_div(ops, r->window_s),
                     r->window_s, o->rate, (double)lg_hist_quantile(t, 0.5) / 1e3,
                     (double)lg_hist_quantile(t, 0.9) / 1e3, (double)lg_hist_quantile(t, 0.99) / 1e3,
                     (double)t->max / 1e3);
        break;
    }
    case LG_SC_FANOUT:
        ops = (double)r->window_deliveries;
        op_name = "delivery";
        lg_sb_printf(j, ",\"fanout\":{\"inflight\":%u,\"payload\":%u,\"broadcasts\":%llu,\"deliveries\":%llu,"
                        "\"expected\":%llu,\"window_broadcasts\":%llu,\"window_deliveries\":%llu,"
                        "\"deliveries_per_s\":%.1f,\"broadcasts_per_s\":%.1f,\"stalls\":%llu}",
                     o->inflight, o->payload, (unsigned long long)r->broadcasts,
                     (unsigned long long)r->deliveries, (unsigned long long)(r->broadcasts * r->connected),
                     (unsigned long long)r->window_broadcasts, (unsigned long long)r->window_deliveries,
                     lg_div(ops, r->window_s), lg_div((double)r->window_broadcasts, r->window_s),
                     (unsigned long long)r->stalls);
        lg_sb_printf(h, "  fanout: %llu broadcasts, %llu of %llu deliveries; %.0f deliveries/s in the %.1f s "
                        "window; %llu stalls\n",
                     (unsigned long long)r->broadcasts, (unsigned long long)r->deliveries,
                     (unsigned long long)(r->broadcasts * r->connected), lg_div(ops, r->window_s), r->window_s,
                     (unsigned long long)r->stalls);
        break;
    case LG_SC_CHURN:
        ops = (double)r->window_connects;
        op_name = "connection";
        lg_sb_printf(j, ",\"churn\":{\"rate_target\":%.1f,\"started\":%llu,\"connects\":%llu,\"window_connects\":%llu,"
                        "\"connects_per_s\":%.1f,\"skipped\":%llu}",
                     o->rate, (unsigned long long)r->churn_started, (unsigned long long)r->connects,
                     (unsigned long long)r->window_connects, lg_div(ops, r->window_s),
                     (unsigned long long)r->churn_skipped);
        lg_sb_printf(h, "  churn: %llu connects of %llu started, %llu failed; %.1f/s in the %.1f s window "
                        "(asked %.0f/s, %llu skipped: every slot busy); handshake p50 %.2f ms, p99 %.2f ms\n",
                     (unsigned long long)r->connects, (unsigned long long)r->churn_started,
                     (unsigned long long)r->failed, lg_div(ops, r->window_s), r->window_s, o->rate,
                     (unsigned long long)r->churn_skipped, (double)lg_hist_quantile(cl, 0.5) / 1e6,
                     (double)lg_hist_quantile(cl, 0.99) / 1e6);
        break;
    case LG_SC_IDLE:
        /* An idle connection's only traffic is the heartbeat: the window's
         * cost, server's and generator's, is per ping (and its pong). */
        ops = (double)r->window_pings;
        op_name = "ping";
        lg_sb_printf(j, ",\"idle\":{\"held\":%llu,\"seconds\":%.3f,\"window_pings\":%llu,\"pings_per_s\":%.1f}",
                     (unsigned long long)(r->connected - r->dropped), r->window_s,
                     (unsigned long long)r->window_pings, lg_div(ops, r->window_s));
        lg_sb_printf(h, "  idle: %llu held for %.1f s, %llu pings answered (%llu in the window, %.0f/s)\n",
                     (unsigned long long)(r->connected - r->dropped), r->window_s, (unsigned long long)r->pings,
                     (unsigned long long)r->window_pings, lg_div(ops, r->window_s));
        break;
    }
    lg_sb_printf(j, ",\"generator\":{\"cpu_ms\":%.1f,\"window_cpu_ms\":%.1f,\"window_cpu_pct\":%.1f,\"maxrss_kib\":%llu,"
                    "\"cpu_us_per_op\":%.3f}",
                 r->cpu_ms, r->window_cpu_ms, lg_div(r->window_cpu_ms, r->window_s * 10), (unsigned long long)r->maxrss_kib,
                 lg_div(r->window_cpu_ms * 1e3, ops));
    lg_sb_printf(h, "  generator: %.2f s CPU, %.0f %% of a core during the window, max RSS %.0f MiB\n",
                 r->cpu_ms / 1e3, lg_div(r->window_cpu_ms, r->window_s * 10), (double)r->maxrss_kib / 1024);

    /* s[0] before connecting, s[1] all connected, s[2] after settling,
     * s[3] window start, s[4] window end. */
    if (o->n_server_pids > 0) {
        int ok = s[0].ok && s[1].ok && s[2].ok && s[3].ok && s[4].ok;
        double conns = (double)r->connected;
        double wcpu = s[4].cpu_total - s[3].cpu_total, wsec = s[4].t - s[3].t;
        lg_sb_printf(j, ",\"server\":{\"ok\":%s,\"pids\":[", ok ? "true" : "false");
        for (int i = 0; i < o->n_server_pids; i++)
            lg_sb_printf(j, "%s%d", i ? "," : "", o->server_pids[i]);
        lg_sb_printf(j, "],\"rss_kib_before\":%llu,\"rss_kib_connected\":%llu,\"rss_kib_per_conn\":%.3f,"
                        "\"rss_kib_connected_by_pid\":[",
                     (unsigned long long)s[0].rss_total, (unsigned long long)s[2].rss_total,
                     lg_div((double)s[2].rss_total - (double)s[0].rss_total, conns));
        for (int i = 0; i < o->n_server_pids; i++)
            lg_sb_printf(j, "%s%llu", i ? "," : "", (unsigned long long)s[2].rss_kib[i]);
        lg_sb_printf(j, "],\"rss_kib_before_by_pid\":[");
        for (int i = 0; i < o->n_server_pids; i++)
            lg_sb_printf(j, "%s%llu", i ? "," : "", (unsigned long long)s[0].rss_kib[i]);
        lg_sb_printf(j, "],\"cpu_ms_connect\":%.1f,\"cpu_ms_per_conn\":%.4f,\"cpu_ms_window\":%.1f,"
                        "\"window_s\":%.3f,\"cpu_pct_window\":%.1f,\"cpu_ms_window_by_pid\":[",
                     s[1].cpu_total - s[0].cpu_total, lg_div(s[1].cpu_total - s[0].cpu_total, conns), wcpu, wsec,
                     lg_div(wcpu, wsec * 10));
        for (int i = 0; i < o->n_server_pids; i++)
            lg_sb_printf(j, "%s%.1f", i ? "," : "", s[4].cpu_ms[i] - s[3].cpu_ms[i]);
        lg_sb_printf(j, "],\"ops\":%.0f,\"cpu_us_per_op\":%.3f,\"sys_us_per_op\":%.3f}", ops,
                     lg_div(wcpu * 1e3, ops), lg_div((s[4].sys_total - s[3].sys_total) * 1e3, ops));
        lg_sb_printf(h, "  server: RSS %.1f -> %.1f MiB (%.2f KiB per connection), %.3f ms CPU per connection "
                        "established; window: %.0f %% of a core",
                     (double)s[0].rss_total / 1024, (double)s[2].rss_total / 1024,
                     lg_div((double)s[2].rss_total - (double)s[0].rss_total, conns),
                     lg_div(s[1].cpu_total - s[0].cpu_total, conns), lg_div(wcpu, wsec * 10));
        if (ops > 0)
            lg_sb_printf(h, ", %.2f us CPU per %s", lg_div(wcpu * 1e3, ops), op_name);
        lg_sb_printf(h, "%s\n", ok ? "" : " (a /proc read failed: figures incomplete)");
    }
    lg_sb_printf(j, "}\n");
    fputs(h->buf, stderr);
    fputs(j->buf, stdout);
    fflush(stdout);
    free(j);
    free(h);
}

/* ---- the controller ---------------------------------------------------------------- */

typedef struct lg_proc_s {
    pid_t pid;
    int ctl_fd;                /* we write 'G' */
    int out_fd;                /* we read 'C', then 'R' + result */
    int connected;
    int done;
    int failed;
    lg_result_t res;
    size_t got;                /* bytes of res read so far */
    int in_result;
    lg_child_t ch;
} lg_proc_t;

/* Reads what the children have written, for up to timeout_ms; returns how
 * many are still missing the state `want` ('C' or 'R'). */
static int lg_procs_pump(lg_proc_t *p, uint32_t n, char want, int timeout_ms)
{
    struct pollfd fds[1024];
    uint32_t idx[1024], k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i].done || p[i].failed)
            continue;
        fds[k].fd = p[i].out_fd;
        fds[k].events = POLLIN;
        idx[k++] = i;
    }
    if (k && poll(fds, k, timeout_ms) > 0) {
        for (uint32_t f = 0; f < k; f++) {
            if (!(fds[f].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            lg_proc_t *c = &p[idx[f]];
            char buf[8192];
            /* One byte at a time until 'R', so no result byte is read as a message. */
            size_t want_n = 1;
            if (c->in_result)
                want_n = sizeof c->res - c->got < sizeof buf ? sizeof c->res - c->got : sizeof buf;
            ssize_t r = read(c->out_fd, buf, want_n);
            if (r <= 0) {
                c->failed = 1;     /* died without a result */
                continue;
            }
            if (c->in_result) {
                memcpy((char *)&c->res + c->got, buf, (size_t)r);
                c->got += (size_t)r;
                if (c->got == sizeof c->res)
                    c->done = 1;
            } else if (buf[0] == LG_MSG_CONNECTED) {
                c->connected = 1;
            } else if (buf[0] == LG_MSG_RESULT) {
                c->in_result = 1;
            }
        }
    }
    int missing = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i].failed)
            continue;
        if ((want == LG_MSG_CONNECTED && !p[i].connected) || (want == LG_MSG_RESULT && !p[i].done))
            missing++;
    }
    return missing;
}

static void lg_usage(FILE *f)
{
    fputs("usage: loadgen -s SCENARIO -p PORT [options]\n"
          "  -s, --scenario NAME       idle | fanout | echo | churn | polling (echo over long-polling)\n"
          "  -H, --host ADDR           server address, IPv4 (127.0.0.1)\n"
          "  -p, --port N              server port\n"
          "      --path PATH           Engine.IO path (/socket.io/)\n"
          "      --nsp NAME            Socket.IO namespace (/)\n"
          "  -t, --transport T         websocket | polling (websocket; polling for the polling scenario)\n"
          "  -n, --clients N           connections, all processes (idle/fanout 1000, echo/polling 100;\n"
          "                            churn: connections open at once, 100)\n"
          "  -P, --procs N             generator processes; clients and rates are split between them (1)\n"
          "  -d, --duration S          measuring window, or how long idle connections are held (10)\n"
          "      --hold S              the same as --duration; SIGUSR1 ends it (and the window) early\n"
          "  -w, --warmup S            load before the window starts (2; idle and churn 0)\n"
          "      --settle S            wait after connecting, before anything is measured (idle 2, else 1)\n"
          "  -r, --rate R[/s]          echo/polling: acked echoes per second, total (2000; polling 1000);\n"
          "                            churn: connections per second (200)\n"
          "      --payload BYTES       string length of each echo and shout (100)\n"
          "      --inflight K          fanout: broadcasts in flight (8)\n"
          "      --connect-rate R[/s]  new connections per second, total (2000)\n"
          "      --connect-inflight N  handshakes in flight per process (500)\n"
          "      --connect-timeout S   from connect() to the Socket.IO CONNECT ack (20)\n"
          "      --src-addrs N         source addresses per process in 127.0.0.0/8, 0 = don't bind (64)\n"
          "      --src-first N         number of the first source address (0: 127.0.1.1), so that several\n"
          "                            generator runs at once use addresses apart\n"
          "      --server-pid P[,P..]  server processes to measure from /proc (RSS, CPU)\n"
          "  -q, --quiet               no progress lines\n"
          "Prints one JSON line on stdout and a summary on stderr.\n", f);
}

static double lg_parse_rate(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0 || (*end && strcmp(end, "/s") != 0))
        return -1;
    return v;
}

static int lg_parse_opts(int argc, char **argv, lg_opts_t *o)
{
    enum { LG_O_PATH = 256, LG_O_NSP, LG_O_HOLD, LG_O_SETTLE, LG_O_PAYLOAD, LG_O_INFLIGHT, LG_O_CRATE, LG_O_CINFLIGHT, LG_O_CTIMEOUT,
           LG_O_SRC, LG_O_SRC_FIRST, LG_O_PID };
    static const struct option longopts[] = {
        { "scenario", 1, 0, 's' }, { "host", 1, 0, 'H' }, { "port", 1, 0, 'p' }, { "path", 1, 0, LG_O_PATH },
        { "nsp", 1, 0, LG_O_NSP }, { "transport", 1, 0, 't' }, { "clients", 1, 0, 'n' }, { "procs", 1, 0, 'P' },
        { "duration", 1, 0, 'd' }, { "hold", 1, 0, LG_O_HOLD }, { "warmup", 1, 0, 'w' }, { "settle", 1, 0, LG_O_SETTLE },
        { "rate", 1, 0, 'r' }, { "payload", 1, 0, LG_O_PAYLOAD }, { "inflight", 1, 0, LG_O_INFLIGHT },
        { "connect-rate", 1, 0, LG_O_CRATE }, { "connect-inflight", 1, 0, LG_O_CINFLIGHT },
        { "connect-timeout", 1, 0, LG_O_CTIMEOUT }, { "src-addrs", 1, 0, LG_O_SRC }, { "src-first", 1, 0, LG_O_SRC_FIRST }, { "server-pid", 1, 0, LG_O_PID },
        { "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    double clients = -1, duration = -1, warmup = -1, settle = -1, rate = -1, transport = -1;
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->path = "/socket.io/";
    o->nsp = "/";
    o->procs = 1;
    o->payload = 100;
    o->inflight = 8;
    o->connect_rate = 2000;
    o->connect_inflight = 500;
    o->connect_timeout_s = 20;
    o->src_addrs = 64;
    int c;
    while ((c = getopt_long(argc, argv, "s:H:p:t:n:P:d:w:r:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o->scenario_name = optarg; break;
        case 'H': o->host = strcmp(optarg, "localhost") == 0 ? "127.0.0.1" : optarg; break;
        case 'p': o->port = (uint16_t)atoi(optarg); break;
        case LG_O_PATH: o->path = optarg; break;
        case LG_O_NSP: o->nsp = optarg; break;
        case 't':
            if (strcmp(optarg, "websocket") == 0)
                transport = LG_TRANSPORT_WEBSOCKET;
            else if (strcmp(optarg, "polling") == 0)
                transport = LG_TRANSPORT_POLLING;
            else
                return -1;
            break;
        case 'n': clients = atof(optarg); break;
        case 'P': o->procs = (uint32_t)atoi(optarg); break;
        case 'd': case LG_O_HOLD: duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case LG_O_SETTLE: settle = atof(optarg); break;
        case 'r': rate = lg_parse_rate(optarg); if (rate < 0) return -1; break;
        case LG_O_PAYLOAD: o->payload = (uint32_t)atoi(optarg); break;
        case LG_O_INFLIGHT: o->inflight = (uint32_t)atoi(optarg); break;
        case LG_O_CRATE: o->connect_rate = lg_parse_rate(optarg); if (o->connect_rate <= 0) return -1; break;
        case LG_O_CINFLIGHT: o->connect_inflight = (uint32_t)atoi(optarg); break;
        case LG_O_CTIMEOUT: o->connect_timeout_s = atof(optarg); break;
        case LG_O_SRC: o->src_addrs = (uint32_t)atoi(optarg); break;
        case LG_O_SRC_FIRST: o->src_first = (uint32_t)atoi(optarg); break;
        case LG_O_PID: {
            char *s = optarg;
            while (*s && o->n_server_pids < LG_MAX_PIDS) {
                o->server_pids[o->n_server_pids++] = (int)strtol(s, &s, 10);
                if (*s == ',')
                    s++;
                else if (*s)
                    return -1;
            }
            break;
        }
        case 'q': o->quiet = 1; break;
        case 'h': lg_usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind != argc || !o->scenario_name || o->port == 0)
        return -1;
    const char *sc = o->scenario_name;
    o->transport = LG_TRANSPORT_WEBSOCKET;
    if (strcmp(sc, "idle") == 0) {
        o->scenario = LG_SC_IDLE;
    } else if (strcmp(sc, "fanout") == 0) {
        o->scenario = LG_SC_FANOUT;
    } else if (strcmp(sc, "echo") == 0) {
        o->scenario = LG_SC_ECHO;
    } else if (strcmp(sc, "polling") == 0) {
        o->scenario = LG_SC_ECHO;
        o->transport = LG_TRANSPORT_POLLING;
    } else if (strcmp(sc, "churn") == 0) {
        o->scenario = LG_SC_CHURN;
    } else {
        return -1;
    }
    if (transport >= 0)
        o->transport = (lg_transport_t)transport;
    int echo = o->scenario == LG_SC_ECHO, polling = o->transport == LG_TRANSPORT_POLLING;
    o->clients = clients >= 0 ? (uint32_t)clients : (echo || o->scenario == LG_SC_CHURN) ? 100 : 1000;
    o->duration_s = duration >= 0 ? duration : 10;
    o->warmup_s = warmup >= 0 ? warmup : (o->scenario == LG_SC_IDLE || o->scenario == LG_SC_CHURN) ? 0 : 2;
    o->settle_s = settle >= 0 ? settle : o->scenario == LG_SC_IDLE ? 2 : 1;
    o->rate = rate >= 0 ? rate : echo ? (polling ? 1000 : 2000) : 200;
    if (o->procs < 1 || o->procs > 1024 || o->clients < o->procs || o->inflight < 1 || o->connect_inflight < 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    lg_opts_t o;
    if (lg_parse_opts(argc, argv, &o) < 0) {
        fprintf(stderr, "loadgen: missing or invalid options (-s SCENARIO and -p PORT are needed); "
                        "loadgen --help lists them\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* No SA_RESTART: the controller's sleep wakes up at once. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = lg_on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    /* Every connection is a descriptor (two over polling); the limit can be
     * raised up to the hard one, beyond that more processes are needed. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    uint64_t per = (o.clients + o.procs - 1) / o.procs;
    uint64_t fds = per * (o.transport == LG_TRANSPORT_POLLING ? 2 : 1) + 32;
    if (fds > rl.rlim_cur) {
        fprintf(stderr, "loadgen: %llu connections per process need %llu descriptors, the limit is %llu: "
                        "use --procs %llu or more\n",
                (unsigned long long)per, (unsigned long long)fds, (unsigned long long)rl.rlim_cur,
                (unsigned long long)((o.clients * (o.transport == LG_TRANSPORT_POLLING ? 2ull : 1ull)) /
                                     (rl.rlim_cur - 32) + 1));
        return 2;
    }

    lg_proc_t *procs = calloc(o.procs, sizeof *procs);
    if (!procs)
        return 1;
    lg_sample_t s[5];
    memset(s, 0, sizeof s);
    lg_sample(&o, &s[0]);
    fflush(NULL);
    for (uint32_t i = 0; i < o.procs; i++) {
        lg_proc_t *p = &procs[i];
        p->ch.index = i;
        p->ch.clients = o.clients / o.procs + (i < o.clients % o.procs ? 1 : 0);
        p->ch.rate = o.rate / o.procs;
        p->ch.connect_rate = o.connect_rate / o.procs;
        p->ch.src_first = o.src_first + i * o.src_addrs;
        int ctl[2], out[2];
        if (pipe(ctl) < 0 || pipe(out) < 0) {
            perror("loadgen: pipe");
            return 1;
        }
        p->pid = fork();
        if (p->pid < 0) {
            perror("loadgen: fork");
            return 1;
        }
        if (p->pid == 0) {
            close(ctl[1]);
            close(out[0]);
            for (uint32_t k = 0; k < i; k++) {
                close(procs[k].ctl_fd);
                close(procs[k].out_fd);
            }
            /* exit, not _exit: stdio was flushed before the fork, and
             * the sanitizers' leak check runs at exit. */
            lg_child_t ch = p->ch;
            free(procs);
            exit(lg_run_child(&o, &ch, ctl[0], out[1]));
        }
        close(ctl[0]);
        close(out[1]);
        p->ctl_fd = ctl[1];
        p->out_fd = out[0];
    }

    double t0 = lg_now_s(), next_note = t0 + 5;
    while (lg_procs_pump(procs, o.procs, LG_MSG_CONNECTED, 200) > 0) {
        if (!o.quiet && lg_now_s() >= next_note) {
            fprintf(stderr, "loadgen: still connecting after %.0f s\n", lg_now_s() - t0);
            next_note += 5;
        }
    }
    lg_sample(&o, &s[1]);
    if (!o.quiet)
        fprintf(stderr, "loadgen: connect phase done in %.2f s; settling %.1f s\n", s[1].t - t0, o.settle_s);
    lg_sleep_until(s[1].t + o.settle_s);
    lg_sample(&o, &s[2]);
    double go = lg_now_s();
    for (uint32_t i = 0; i < o.procs; i++) {
        char m = LG_MSG_GO;
        if (!procs[i].failed && write(procs[i].ctl_fd, &m, 1) != 1)
            procs[i].failed = 1;
    }
    if (!o.quiet)
        fprintf(stderr, "loadgen: %s: %.1f s warm-up, then a %.1f s window\n", o.scenario_name, o.warmup_s,
                o.duration_s);
    lg_sleep_until(go + o.warmup_s);
    lg_sample(&o, &s[3]);
    lg_sleep_until(go + o.warmup_s + o.duration_s);
    lg_sample(&o, &s[4]);
    if (lg_end_now) {
        if (!o.quiet)
            fprintf(stderr, "loadgen: SIGUSR1: the window ends now\n");
        for (uint32_t i = 0; i < o.procs; i++) {
            char m = LG_MSG_END;
            if (!procs[i].failed && write(procs[i].ctl_fd, &m, 1) != 1)
                procs[i].failed = 1;
        }
    }
    while (lg_procs_pump(procs, o.procs, LG_MSG_RESULT, 200) > 0) {
    }

    lg_result_t *total = calloc(1, sizeof *total);
    if (!total)
        return 1;
    int failed = 0;
    for (uint32_t i = 0; i < o.procs; i++) {
        int status;
        close(procs[i].ctl_fd);
        close(procs[i].out_fd);
        waitpid(procs[i].pid, &status, 0);
        if (!procs[i].done || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
        if (procs[i].done)
            lg_result_add(total, &procs[i].res);
    }
    lg_report(&o, total, failed, s);
    free(total);
    free(procs);
    return failed ? 1 : 0;
}
