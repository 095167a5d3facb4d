/* Loadgen L6: the scenarios of one generator process (see lg_run.h). */
#define _GNU_SOURCE
#include "lg_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Unanswered echoes one client may have; one more is counted as
 * inflight_full and not sent, so an overloaded server shows up as errors
 * rather than as unbounded memory here. */
#define LG_RING 64

typedef enum {
    LG_PH_CONNECT, LG_PH_WAIT, LG_PH_WARMUP, LG_PH_WINDOW, LG_PH_DRAIN, LG_PH_CLOSE, LG_PH_DONE
} lg_phase_t;

typedef struct lg_slot_s {
    lg_client_t client;        /* first member: a client pointer is its slot's pointer */
    uint64_t *sent_ns;         /* echo: send time by ack id % LG_RING, 0 = none due */
    uint32_t next_id;
    uint32_t outstanding;
    uint32_t next_free;        /* churn: free list */
} lg_slot_t;

typedef struct lg_run_s {
    const lg_opts_t *o;
    const lg_child_t *ch;
    uv_loop_t loop;
    lg_env_t env;
    lg_slot_t *slots;
    uint32_t n;
    uv_timer_t tick, sweep, phase_timer;
    uv_pipe_t ctl;
    int out_fd;
    lg_phase_t phase;
    int in_window;
    uint32_t started;          /* connect phase: slots started so far */
    uint32_t connecting;       /* started, not READY, not closed */
    uint32_t ready;            /* READY now */
    uint32_t open;             /* slots not FREE */
    uint64_t t0_ns;            /* connect phase start */
    uint64_t window_ns;        /* window start */
    uint64_t pace_ns;          /* echo/churn pacing origin */
    uint64_t paced;            /* echo messages / churn connects due and handled */
    uint64_t drain_deadline_ms, close_deadline_ms;
    uint64_t last_delivery_ms;
    uint64_t pings_window;     /* env.pings when the window started */
    struct rusage ru_window;
    /* echo */
    uint32_t rr;
    uint64_t outstanding;
    char *args;                /* the echo/shout argument: "xxx...x" with quotes */
    size_t args_len;
    char *frame;               /* room for one encoded event */
    size_t frame_cap;
    /* fanout */
    lg_slot_t *shouter;
    int64_t members;           /* local clients in the room when the load started */
    int64_t fan_base;          /* deliveries given up on after a stall */
    /* churn */
    uint32_t free_head;        /* UINT32_MAX = none */
    lg_result_t res;
} lg_run_t;

static double lg_rusage_ms(const struct rusage *ru)
{
    return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e3 +
           (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e3;
}

uint32_t lg_src_addr(uint32_t i)
{
    uint32_t x = i / (254 * 254), y = 1 + (i / 254) % 254, z = 1 + i % 254;
    return (127u << 24) | ((x & 0xff) << 16) | (y << 8) | z;
}

static uint32_t lg_run_src(lg_run_t *r, uint32_t i)
{
    return r->o->src_addrs ? lg_src_addr(r->ch->src_first + i % r->o->src_addrs) : 0;
}

static void lg_run_write(lg_run_t *r, const void *p, size_t len)
{
    const char *b = p;
    while (len) {
        ssize_t n = write(r->out_fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;           /* the controller is gone; nothing to tell */
        b += n;
        len -= (size_t)n;
    }
}

static void lg_run_close_all(lg_run_t *r);
static void lg_run_load_start(lg_run_t *r);
static void lg_run_tick_cb(uv_timer_t *t);

/* ---- phases ------------------------------------------------------------------ */

static void lg_run_connect_check(lg_run_t *r)
{
    if (r->phase != LG_PH_CONNECT || r->started < r->n || r->connecting > 0)
        return;
    r->res.connect_s = (double)(uv_hrtime() - r->t0_ns) / 1e9;
    r->phase = LG_PH_WAIT;
    uv_timer_stop(&r->tick);
    char m = LG_MSG_CONNECTED;
    lg_run_write(r, &m, 1);
}

static void lg_run_finish(lg_run_t *r)
{
    if (r->phase == LG_PH_DONE)
        return;
    r->phase = LG_PH_DONE;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->res.cpu_ms = lg_rusage_ms(&ru);
    r->res.maxrss_kib = (uint64_t)ru.ru_maxrss;
    r->res.pings = r->env.pings;
    char m = LG_MSG_RESULT;
    lg_run_write(r, &m, 1);
    lg_run_write(r, &r->res, sizeof r->res);
    uv_close((uv_handle_t *)&r->tick, NULL);
    uv_close((uv_handle_t *)&r->sweep, NULL);
    uv_close((uv_handle_t *)&r->phase_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&r->ctl))
        uv_close((uv_handle_t *)&r->ctl, NULL);
}

static void lg_run_drain_end(lg_run_t *r)
{
    if (r->o->scenario == LG_SC_ECHO)
        r->res.errors[LG_ERR_ACK_LOST] += r->outstanding;
    lg_run_close_all(r);
}

static void lg_run_window_end_cb(uv_timer_t *t)
{
    lg_run_t *r = t->data;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->res.window_cpu_ms = lg_rusage_ms(&ru) - lg_rusage_ms(&r->ru_window);
    r->res.window_s = (double)(uv_hrtime() - r->window_ns) / 1e9;
    r->res.window_pings = r->env.pings - r->pings_window;
    r->in_window = 0;
    r->phase = LG_PH_DRAIN;
    uv_timer_stop(&r->tick);
    r->drain_deadline_ms = uv_now(&r->loop) + 5000;
    r->last_delivery_ms = uv_now(&r->loop);
    if (r->o->scenario == LG_SC_IDLE)
        lg_run_drain_end(r);
}

static void lg_run_window_start_cb(uv_timer_t *t)
{
    lg_run_t *r = t->data;
    getrusage(RUSAGE_SELF, &r->ru_window);
    r->window_ns = uv_hrtime();
    r->pings_window = r->env.pings;
    r->in_window = 1;
    r->phase = LG_PH_WINDOW;
    uv_timer_start(&r->phase_timer, lg_run_window_end_cb, (uint64_t)(r->o->duration_s * 1000), 0);
}

static void lg_run_go(lg_run_t *r)
{
    r->phase = LG_PH_WARMUP;
    lg_run_load_start(r);
    if (r->o->warmup_s > 0)
        uv_timer_start(&r->phase_timer, lg_run_window_start_cb, (uint64_t)(r->o->warmup_s * 1000), 0);
    else
        lg_run_window_start_cb(&r->phase_timer);
}

static void lg_run_close_all(lg_run_t *r)
{
    r->phase = LG_PH_CLOSE;
    r->close_deadline_ms = uv_now(&r->loop) + 5000;
    for (uint32_t i = 0; i < r->n; i++)
        lg_client_close(&r->slots[i].client);
    if (r->open == 0)
        lg_run_finish(r);
}

/* ---- echo ------------------------------------------------------------------------ */

static void lg_echo_send(lg_run_t *r, lg_slot_t *s)
{
    uint32_t id = s->next_id, k = id % LG_RING;
    if (s->sent_ns[k]) {
        r->res.errors[LG_ERR_INFLIGHT_FULL]++;
        return;
    }
    int n = lg_sio_event_encode(r->frame, r->frame_cap, r->o->nsp, id, "echo", r->args, r->args_len);
    if (n < 0)
        return;
    s->sent_ns[k] = uv_hrtime();
    if (lg_client_send(&s->client, r->frame, (size_t)n) < 0) {
        s->sent_ns[k] = 0;
        return;
    }
    s->next_id++;
    s->outstanding++;
    r->outstanding++;
    r->res.sent++;
}

/* Sends what the fixed rate says is due by now, round-robin over the ready
 * clients. A loop that was held up catches up in a burst, so the offered
 * rate stays what was asked. */
static void lg_echo_pump(lg_run_t *r, uint64_t now)
{
    double due = r->ch->rate * (double)(now - r->pace_ns) / 1e9;
    while ((double)r->paced < due) {
        r->paced++;
        lg_slot_t *s = NULL;
        for (uint32_t tries = 0; tries < r->n; tries++) {
            lg_slot_t *c = &r->slots[r->rr];
            r->rr = (r->rr + 1) % r->n;
            if (c->client.state == LG_ST_READY) {
                s = c;
                break;
            }
        }
        if (!s)
            return;
        lg_echo_send(r, s);
    }
}

/* ---- fanout ---------------------------------------------------------------- */

/* The shouter keeps at most --inflight broadcasts' worth of deliveries
 * outstanding among this process's clients. Every broadcast comes from the
 * one shouter of process 0, so its own clients' deliveries tell it how far
 * the server got, without any other process's help. */
static void lg_fanout_pump(lg_run_t *r)
{
    lg_slot_t *s = r->shouter;
    if (!s || r->members <= 0 || (r->phase != LG_PH_WARMUP && r->phase != LG_PH_WINDOW))
        return;
    int n = lg_sio_event_encode(r->frame, r->frame_cap, r->o->nsp, -1, "shout", r->args, r->args_len);
    while ((int64_t)r->res.broadcasts * r->members - ((int64_t)r->res.deliveries + r->fan_base) <
           (int64_t)r->o->inflight * r->members) {
        if (n < 0 || lg_client_send(&s->client, r->frame, (size_t)n) < 0)
            return;
        r->res.broadcasts++;
        if (r->in_window)
            r->res.window_broadcasts++;
    }
}

/* ---- churn ------------------------------------------------------------------ */

static void lg_churn_pump(lg_run_t *r, uint64_t now)
{
    double due = r->ch->rate * (double)(now - r->pace_ns) / 1e9;
    while ((double)r->paced < due) {
        r->paced++;
        if (r->free_head == UINT32_MAX) {
            r->res.churn_skipped++;       /* every slot busy: the server is behind */
            continue;
        }
        uint32_t i = r->free_head;
        lg_slot_t *s = &r->slots[i];
        r->free_head = s->next_free;
        r->res.churn_started++;
        int rc = lg_client_start(&s->client, lg_run_src(r, (uint32_t)r->res.churn_started));
        if (rc < 0) {
            r->res.failed++;
            r->res.errors[rc == UV_EMFILE || rc == UV_ENFILE ? LG_ERR_FDLIMIT : LG_ERR_CONNECT]++;
            s->next_free = r->free_head;
            r->free_head = i;
            continue;
        }
        r->connecting++;
        r->open++;
    }
}

static void lg_run_load_start(lg_run_t *r)
{
    uint64_t now = uv_hrtime();
    r->pace_ns = now;
    r->paced = 0;
    r->last_delivery_ms = uv_now(&r->loop);
    switch (r->o->scenario) {
    case LG_SC_ECHO: case LG_SC_CHURN:
        uv_timer_start(&r->tick, lg_run_tick_cb, 1, 1);
        break;
    case LG_SC_FANOUT:
        r->members = r->ready;
        if (r->ch->index == 0) {
            for (uint32_t i = 0; i < r->n && !r->shouter; i++)
                if (r->slots[i].client.state == LG_ST_READY)
                    r->shouter = &r->slots[i];
        }
        lg_fanout_pump(r);
        break;
    case LG_SC_IDLE:
        break;
    }
}

/* ---- client callbacks --------------------------------------------------------- */

static void lg_run_connected_cb(lg_client_t *c)
{
    lg_run_t *r = c->env->user;
    r->connecting--;
    r->ready++;
    lg_hist_record(&r->res.connect_lat, uv_hrtime() - c->start_ns);
    if (r->o->scenario == LG_SC_CHURN) {
        r->res.connects++;
        if (r->in_window)
            r->res.window_connects++;
        lg_client_close(c);
        return;
    }
    if (r->phase == LG_PH_CONNECT) {
        r->res.connected++;
        lg_run_connect_check(r);
    }
}

static void lg_run_event_cb(lg_client_t *c, const lg_pkt_t *pkt)
{
    lg_run_t *r = c->env->user;
    if (!lg_pkt_event_is(pkt, "shout")) {
        r->res.errors[LG_ERR_OTHER_EVENT]++;
        return;
    }
    r->res.deliveries++;
    if (r->in_window)
        r->res.window_deliveries++;
    r->last_delivery_ms = uv_now(&r->loop);
    if (r->shouter)
        lg_fanout_pump(r);
}

static void lg_run_ack_cb(lg_client_t *c, const lg_pkt_t *pkt)
{
    lg_run_t *r = c->env->user;
    lg_slot_t *s = (lg_slot_t *)c;
    uint64_t k = (uint64_t)pkt->ack_id % LG_RING;
    if (!s->sent_ns || pkt->ack_id < 0 || s->sent_ns[k] == 0) {
        r->res.errors[LG_ERR_ACK_UNEXPECTED]++;
        return;
    }
    uint64_t lat = uv_hrtime() - s->sent_ns[k];
    s->sent_ns[k] = 0;
    s->outstanding--;
    r->outstanding--;
    r->res.acked++;
    if (r->in_window) {
        r->res.window_acked++;
        lg_hist_record(&r->res.rtt, lat);
    }
    /* The server must hand back what we sent: ["xxx...x"]. */
    if (pkt->data_len != r->args_len + 2 || pkt->data[0] != '[' ||
        memcmp(pkt->data + 1, r->args, r->args_len) != 0)
        r->res.errors[LG_ERR_ACK_MISMATCH]++;
}

static void lg_run_closed_cb(lg_client_t *c)
{
    lg_run_t *r = c->env->user;
    lg_slot_t *s = (lg_slot_t *)c;
    r->open--;
    if (c->was_ready)
        r->ready--;
    else
        r->connecting--;
    if (s->sent_ns) {
        r->outstanding -= s->outstanding;
        s->outstanding = 0;
        memset(s->sent_ns, 0, LG_RING * sizeof *s->sent_ns);
    }
    if (r->shouter == s)
        r->shouter = NULL;
    if (r->o->scenario == LG_SC_CHURN) {
        if (c->error != LG_ERR_NONE) {
            r->res.errors[c->error]++;
            if (!c->was_ready)
                r->res.failed++;
        }
        uint32_t i = (uint32_t)(s - r->slots);
        s->next_free = r->free_head;
        r->free_head = i;
    } else if (r->phase < LG_PH_CLOSE) {
        if (!c->was_ready) {
            r->res.failed++;
            r->res.errors[c->error != LG_ERR_NONE ? c->error : LG_ERR_CONNECT]++;
        } else {
            r->res.dropped++;
            r->res.errors[c->error != LG_ERR_NONE ? c->error : LG_ERR_SERVER_CLOSE]++;
        }
    }
    if (r->phase == LG_PH_CONNECT)
        lg_run_connect_check(r);
    else if (r->phase == LG_PH_CLOSE && r->open == 0)
        lg_run_finish(r);
}

static const lg_client_cbs_t lg_run_cbs = {
    .connected_cb = lg_run_connected_cb,
    .event_cb = lg_run_event_cb,
    .ack_cb = lg_run_ack_cb,
    .closed_cb = lg_run_closed_cb,
};

/* ---- timers and the controller's pipe ------------------------------------------- */

static void lg_run_tick_cb(uv_timer_t *t)
{
    lg_run_t *r = t->data;
    uint64_t now = uv_hrtime();
    if (r->phase == LG_PH_CONNECT) {
        /* The token bucket: connections started by now may not exceed the
         * rate times the time elapsed, nor the handshakes in flight the
         * cap, so the server's accept backlog never overflows. */
        double allowed = 1.0 + r->ch->connect_rate * (double)(now - r->t0_ns) / 1e9;
        while (r->started < r->n && (double)r->started < allowed && r->connecting < r->o->connect_inflight) {
            lg_slot_t *s = &r->slots[r->started];
            int rc = lg_client_start(&s->client, lg_run_src(r, r->started));
            r->started++;
            if (rc < 0) {
                r->res.failed++;
                r->res.errors[rc == UV_EMFILE || rc == UV_ENFILE ? LG_ERR_FDLIMIT : LG_ERR_CONNECT]++;
                continue;
            }
            r->connecting++;
            r->open++;
        }
        lg_run_connect_check(r);
        return;
    }
    if (r->phase != LG_PH_WARMUP && r->phase != LG_PH_WINDOW)
        return;
    if (r->o->scenario == LG_SC_ECHO)
        lg_echo_pump(r, now);
    else if (r->o->scenario == LG_SC_CHURN)
        lg_churn_pump(r, now);
}

static void lg_run_sweep_cb(uv_timer_t *t)
{
    lg_run_t *r = t->data;
    uint64_t now = uv_now(&r->loop);
    /* Only handshakes and closes have deadlines: while every client is
     * connected and held, walking all of them ten times a second would be
     * most of what an idle generator costs (20k slots, a cache miss each:
     * at 1M connections, tens of millions of misses a second over the
     * processes), and would be counted against every pong it answers. */
    if (r->connecting > 0 || r->phase >= LG_PH_CLOSE || r->o->scenario == LG_SC_CHURN)
        for (uint32_t i = 0; i < r->n; i++)
            if (r->slots[i].client.state != LG_ST_FREE)
                lg_client_sweep(&r->slots[i].client, now);
    switch (r->phase) {
    case LG_PH_WARMUP: case LG_PH_WINDOW:
        /* A broadcast that never reaches everyone (a client cut off) would
         * stop the shouter for good; after a second of silence give up on
         * the missing deliveries and count a stall. */
        if (r->shouter && now - r->last_delivery_ms > 1000) {
            int64_t missing = (int64_t)r->res.broadcasts * r->members - ((int64_t)r->res.deliveries + r->fan_base);
            if (missing > 0) {
                r->fan_base += missing;
                r->res.stalls++;
                r->last_delivery_ms = now;
                lg_fanout_pump(r);
            }
        }
        break;
    case LG_PH_DRAIN: {
        int done = now >= r->drain_deadline_ms;
        if (r->o->scenario == LG_SC_ECHO)
            done |= r->outstanding == 0;
        else if (r->o->scenario == LG_SC_FANOUT)
            done |= now - r->last_delivery_ms >= 300;
        else if (r->o->scenario == LG_SC_CHURN)
            done |= r->connecting == 0;
        else
            done = 1;
        if (done)
            lg_run_drain_end(r);
        break;
    }
    case LG_PH_CLOSE:
        if (now >= r->close_deadline_ms) {
            for (uint32_t i = 0; i < r->n; i++)
                lg_client_abort(&r->slots[i].client, LG_ERR_NONE);
        }
        break;
    default:
        break;
    }
}

static void lg_run_ctl_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char b[64];
    (void)h;
    (void)suggested;
    buf->base = b;
    buf->len = sizeof b;
}

static void lg_run_ctl_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    lg_run_t *r = s->data;
    if (n < 0) {
        /* The controller went away: stop measuring and leave. */
        uv_close((uv_handle_t *)&r->ctl, NULL);
        if (r->phase < LG_PH_CLOSE)
            lg_run_close_all(r);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf->base[i] == LG_MSG_GO && r->phase == LG_PH_WAIT)
            lg_run_go(r);
        if (buf->base[i] == LG_MSG_END && (r->phase == LG_PH_WARMUP || r->phase == LG_PH_WINDOW)) {
            if (r->phase == LG_PH_WARMUP)
                lg_run_window_start_cb(&r->phase_timer);
            uv_timer_stop(&r->phase_timer);
            lg_run_window_end_cb(&r->phase_timer);
        }
    }
}

int lg_run_child(const lg_opts_t *o, const lg_child_t *ch, int ctl_fd, int out_fd)
{
    lg_run_t *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    r->o = o;
    r->ch = ch;
    r->out_fd = out_fd;
    r->n = ch->clients;
    r->free_head = UINT32_MAX;
    r->res.clients = o->scenario == LG_SC_CHURN ? 0 : ch->clients;
    if (uv_loop_init(&r->loop) < 0)
        return 1;

    lg_env_t *env = &r->env;
    lg_env_init(env);
    env->loop = &r->loop;
    env->transport = o->transport;
    env->path = o->path;
    env->nsp = o->nsp;
    env->connect_timeout_ms = (uint32_t)(o->connect_timeout_s * 1000);
    env->close_timeout_ms = 2000;
    env->cbs = &lg_run_cbs;
    env->user = r;
    snprintf(env->host, sizeof env->host, "%s:%u", o->host, o->port);
    if (uv_ip4_addr(o->host, o->port, &env->server) < 0) {
        fprintf(stderr, "loadgen: %s is not an IPv4 address\n", o->host);
        return 1;
    }

    /* The argument every echo and shout carries: a JSON string of
     * --payload bytes. */
    r->args_len = (size_t)o->payload + 2;
    r->args = malloc(r->args_len + 1);
    r->frame_cap = r->args_len + strlen(o->nsp) + 64;
    r->frame = malloc(r->frame_cap);
    r->slots = calloc(r->n ? r->n : 1, sizeof *r->slots);
    if (!r->args || !r->frame || !r->slots)
        return 1;
    r->args[0] = '"';
    memset(r->args + 1, 'x', o->payload);
    r->args[r->args_len - 1] = '"';
    r->args[r->args_len] = '\0';
    for (uint32_t i = 0; i < r->n; i++) {
        lg_client_init(&r->slots[i].client, env);
        if (o->scenario == LG_SC_ECHO) {
            r->slots[i].sent_ns = calloc(LG_RING, sizeof(uint64_t));
            if (!r->slots[i].sent_ns)
                return 1;
        }
    }
    if (o->scenario == LG_SC_CHURN) {        /* free list in slot order */
        r->free_head = r->n ? 0 : UINT32_MAX;
        for (uint32_t i = 0; i < r->n; i++)
            r->slots[i].next_free = i + 1 < r->n ? i + 1 : UINT32_MAX;
    }

    uv_timer_init(&r->loop, &r->tick);
    uv_timer_init(&r->loop, &r->sweep);
    uv_timer_init(&r->loop, &r->phase_timer);
    r->tick.data = r->sweep.data = r->phase_timer.data = r;
    uv_pipe_init(&r->loop, &r->ctl, 0);
    r->ctl.data = r;
    if (uv_pipe_open(&r->ctl, ctl_fd) < 0 ||
        uv_read_start((uv_stream_t *)&r->ctl, lg_run_ctl_alloc_cb, lg_run_ctl_read_cb) < 0) {
        fprintf(stderr, "loadgen: cannot read the controller's pipe\n");
        return 1;
    }
    r->t0_ns = uv_hrtime();
    r->phase = LG_PH_CONNECT;
    uv_timer_start(&r->tick, lg_run_tick_cb, 0, 1);
    uv_timer_start(&r->sweep, lg_run_sweep_cb, 100, 100);
    if (o->scenario == LG_SC_CHURN)
        r->started = r->n;       /* nothing to connect up front */
    lg_run_connect_check(r);

    uv_run(&r->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&r->loop) == 0 ? 0 : 1;
    for (uint32_t i = 0; i < r->n; i++)
        free(r->slots[i].sent_ns);
    free(r->slots);
    free(r->args);
    free(r->frame);
    free(r);
    close(out_fd);
    return rc;
}
