/* L5a cluster/local_bus_server: the local bus on a unix socket. See local_bus_server.h. */
#include "cluster/local_bus_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/local_bus.h"
#include "base/log.h"
#include "net/stream_writer.h"

/* Redis's default hard limit for pub/sub clients is 32 MB; a worker is a
 * busier subscriber than most Redis clients, so a little more room. */
#define OUTPUT_CAP (64u << 20)
#define SWEEP_EVERY_MS 1000

typedef struct bus_conn {
    struct bus_conn *prev, *next;
    struct sl_bus_server *srv;
    uv_pipe_t pipe;
    sl_stream_writer_t out;
    sl_bus_client_t *client;
    int closing;
} bus_conn_t;

struct sl_bus_server {
    uv_loop_t *loop;
    sl_bus_t *bus;
    uv_pipe_t listener;
    uv_timer_t sweep;
    bus_conn_t *conns;
    int handles;   /* open handles: memory goes with the last */
    int closing;
    char path[108];
    char rbuf[65536]; /* libuv reads one stream at a time: one buffer serves all */
};

static void server_release(sl_bus_server_t *s)
{
    if (--s->handles == 0) {
        sl_bus_free(s->bus);
        free(s);
    }
}

static void handle_closed(uv_handle_t *h) { server_release(h->data); }

static void conn_closed(uv_handle_t *h)
{
    bus_conn_t *c = h->data;
    sl_bus_server_t *s = c->srv;
    sl_bus_client_free(c->client);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    server_release(s);
}

static void conn_close(bus_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    sl_stream_writer_close(&c->out);
    uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

/* The answer before a QUIT is written and the write side shut down, or a
 * write failed (the client is gone): either way the conn closes. */
static void output_ended(sl_stream_writer_t *w, int status)
{
    (void)status;
    conn_close(SL_CONTAINER_OF(w, bus_conn_t, out));
}

static const sl_stream_writer_handler_t bus_writer_handler = {
    .on_error = output_ended,
    .on_shutdown = output_ended,
};

/* After QUIT or a protocol error: the answer is written, then it closes. */
static void conn_finish(bus_conn_t *c)
{
    if (c->closing)
        return;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (sl_stream_writer_shutdown(&c->out) != 0)
        conn_close(c);
}

static int conn_write(void *ud, const char *data, size_t len)
{
    bus_conn_t *c = ud;
    if (c->closing)
        return -1;
    /* The cap is checked before the write, as Redis checks its output
     * buffer limit: the write that crosses it still goes. */
    if (sl_stream_writer_queued(&c->out) > OUTPUT_CAP) {
        SL_WARN("bus", "a client stopped reading (over %u MB queued): disconnected", OUTPUT_CAP >> 20);
        conn_close(c);
        return -1;
    }
    if (sl_stream_writer_write(&c->out, data, len, SL_STREAM_WRITE_UNCAPPED) != 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    bus_conn_t *c = h->data;
    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    bus_conn_t *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    sl_bus_set_now(c->srv->bus, uv_now(c->srv->loop));
    if (sl_bus_client_feed(c->client, buf->base, (size_t)nread) != 0)
        conn_finish(c);
}

static void on_connection(uv_stream_t *l, int status)
{
    sl_bus_server_t *s = l->data;
    if (status < 0 || s->closing)
        return;
    bus_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = s;
    uv_pipe_init(s->loop, &c->pipe, 0);
    c->pipe.data = c;
    sl_stream_writer_init(&c->out, (uv_stream_t *)&c->pipe, 0, &bus_writer_handler);
    s->handles++;
    c->client = sl_bus_client_new(s->bus, conn_write, c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (!c->client || uv_accept(l, (uv_stream_t *)&c->pipe) != 0 ||
        uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_sweep(uv_timer_t *t)
{
    sl_bus_server_t *s = t->data;
    sl_bus_set_now(s->bus, uv_now(s->loop));
    sl_bus_sweep(s->bus);
}

int sl_bus_server_new(uv_loop_t *loop, const char *path, sl_bus_server_t **out)
{
    if (strlen(path) >= sizeof ((sl_bus_server_t *)0)->path)
        return UV_ENAMETOOLONG;
    sl_bus_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return UV_ENOMEM;
    s->bus = sl_bus_new();
    if (!s->bus) {
        free(s);
        return UV_ENOMEM;
    }
    s->loop = loop;
    snprintf(s->path, sizeof s->path, "%s", path);
    uv_pipe_init(loop, &s->listener, 0);
    s->listener.data = s;
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->handles = 2;
    int rc = uv_pipe_bind(&s->listener, path);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc) {
        s->closing = 1;
        uv_close((uv_handle_t *)&s->listener, handle_closed);
        uv_close((uv_handle_t *)&s->sweep, handle_closed);
        return rc;
    }
    uv_timer_start(&s->sweep, on_sweep, SWEEP_EVERY_MS, SWEEP_EVERY_MS);
    *out = s;
    return 0;
}

void sl_bus_server_close(sl_bus_server_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    for (bus_conn_t *c = s->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&s->listener, handle_closed);
    uv_close((uv_handle_t *)&s->sweep, handle_closed);
    unlink(s->path);
}
