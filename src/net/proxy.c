/* L1 net/proxy: relays one HTTP request to another server. See proxy.h.
 *
 *   client conn (taken from http) <--pipe--> uv_tcp_t to the owner
 *
 * The request is written again from its parsed form (method, target,
 * headers, body) with "Connection: close", so the owner's answer ends with
 * its connection and the relay needs no HTTP parsing of its own. */
#include "net/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/conn.h"
#include "net/stream_writer.h"
#include "base/log.h"

typedef struct relay {
    sl_conn_t *client;       /* NULL once it closed */
    uv_tcp_t upstream;
    uv_connect_t connect;
    /* Bytes for the owner: the request, then what the client sends. Corked
     * until the connection is made, so they leave in that order. */
    sl_stream_writer_t up;
    int closing;
} relay_t;

/* Past this much waiting for the owner, the client is not read until the
 * owner has taken it all: a hostile client can't pile data here. */
#define UP_PAUSE_BYTES (1u << 20)

static void relay_close(relay_t *r);

static void upstream_closed(uv_handle_t *h) { free(h->data); }

/* Both sides go; the relay is freed once the upstream handle is closed and
 * the client conn has dropped its pointer. */
static void relay_close(relay_t *r)
{
    if (r->closing)
        return;
    r->closing = 1;
    if (r->client) {
        sl_conn_t *c = r->client;
        r->client = NULL;
        c->owner = NULL;
        sl_conn_close_after_write(c);
    }
    sl_stream_writer_close(&r->up);
    uv_close((uv_handle_t *)&r->upstream, upstream_closed);
}

static void up_write_error(sl_stream_writer_t *w, int status)
{
    (void)status;
    relay_close(SL_CONTAINER_OF(w, relay_t, up));
}

/* The owner took everything: a client paused for piling up is read again. */
static void up_drained(sl_stream_writer_t *w)
{
    relay_t *r = SL_CONTAINER_OF(w, relay_t, up);
    if (r->client && !r->closing)
        sl_conn_resume(r->client);
}

static const sl_stream_writer_handler_t up_writer_handler = {
    .on_drain = up_drained,
    .on_error = up_write_error,
};

/* ---- client side ---------------------------------------------------------- */

static void client_data(sl_conn_t *c, const char *p, size_t n)
{
    relay_t *r = c->owner;
    if (!r || r->closing)
        return;
    /* Uncapped: the owner's own limits apply once it reads, and the client
     * is paused past UP_PAUSE_BYTES. */
    if (sl_stream_writer_write(&r->up, p, n, SL_STREAM_WRITE_UNCAPPED)) {
        relay_close(r);
        return;
    }
    if (sl_stream_writer_queued(&r->up) > UP_PAUSE_BYTES)
        sl_conn_pause(c);
}

static void client_closed(sl_conn_t *c)
{
    relay_t *r = c->owner;
    if (!r)
        return;
    r->client = NULL;
    relay_close(r);
}

static const sl_conn_handler_t relay_client_handler = {
    .on_data = client_data,
    .on_close = client_closed,
    .on_drain = NULL,
};

/* ---- upstream side -------------------------------------------------------- */

static void up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof slab;
}

static void up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    relay_t *r = s->data;
    if (n > 0) {
        if (!r->client) {
            relay_close(r);
            return;
        }
        /* Uncapped: the answer to one request, bounded by the owner. */
        if (sl_conn_writev_uncapped(r->client, &(uv_buf_t){.base = buf->base, .len = (size_t)n}, 1))
            relay_close(r);
    } else if (n < 0) {
        relay_close(r); /* the owner finished (Connection: close) or failed */
    }
}

static void up_connected(uv_connect_t *req, int status)
{
    relay_t *r = req->data;
    if (r->closing)
        return;
    if (status < 0) {
        if (r->client) {
            /* The owner is gone: for the client its session is unknown, as
             * the owner itself would answer after a restart. */
            static const char body[] = "{\"code\":1,\"message\":\"Session ID unknown\"}";
            char resp[256];
            int n = snprintf(resp, sizeof resp,
                             "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             sizeof body - 1, body);
            sl_conn_write(r->client, resp, (size_t)n);
        }
        SL_WARN("proxy", "cannot reach the session's owner: %s", uv_strerror(status));
        relay_close(r);
        return;
    }
    /* The request first, then whatever the client sent meanwhile. */
    if (sl_stream_writer_uncork(&r->up) != 0) {
        relay_close(r);
        return;
    }
    if (sl_stream_writer_queued(&r->up) == 0 && r->client)
        sl_conn_resume(r->client); /* all went at once: no drain event */
    uv_read_start((uv_stream_t *)&r->upstream, up_alloc, up_read);
}

static int hop_by_hop(const char *name)
{
    return !strcasecmp(name, "connection") || !strcasecmp(name, "keep-alive") ||
           !strcasecmp(name, "content-length") || !strcasecmp(name, "transfer-encoding");
}

int sl_proxy_request(uv_loop_t *loop, sl_http_req_t *req, const char *host, int port)
{
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)) {
        sl_http_respond_text(req, 502, "{\"code\":1,\"message\":\"Session ID unknown\"}");
        return -1;
    }
    relay_t *r = calloc(1, sizeof *r);
    if (!r) {
        sl_http_respond_text(req, 503, "out of memory");
        return -1;
    }
    /* The request, written again. An upgrade keeps "Connection: Upgrade". */
    sl_buf_t head = SL_BUF_INIT;
    sl_buf_appendf(&head, "%s %s HTTP/1.1\r\n", req->method, req->url);
    for (int i = 0; i < req->nheaders; i++) {
        if (hop_by_hop(req->headers[i].name))
            continue;
        sl_buf_appendf(&head, "%s: %s\r\n", req->headers[i].name, req->headers[i].value);
    }
    sl_buf_appendf(&head, "%s: 1\r\nX-Forwarded-For: %s\r\n", SL_PROXY_HEADER, req->peer);
    if (req->upgrade)
        sl_buf_append_str(&head, "Connection: Upgrade\r\n");
    else
        sl_buf_append_str(&head, "Connection: close\r\n");
    if (!req->upgrade)
        sl_buf_appendf(&head, "Content-Length: %zu\r\n", req->body.len);
    sl_buf_append_str(&head, "\r\n");
    sl_buf_append(&head, req->body.data, req->body.len);

    uv_tcp_init(loop, &r->upstream);
    r->upstream.data = r;
    sl_stream_writer_init(&r->up, (uv_stream_t *)&r->upstream, 0, &up_writer_handler);
    sl_stream_writer_cork(&r->up); /* until connected */
    sl_buf_t rest = SL_BUF_INIT;
    r->client = sl_http_take_conn(req, &rest);
    if (!r->client) {
        sl_buf_free(&head);
        sl_buf_free(&rest);
        sl_stream_writer_close(&r->up);
        uv_close((uv_handle_t *)&r->upstream, upstream_closed);
        return -1;
    }
    sl_conn_set_handler(r->client, &relay_client_handler, r);
    /* The request, then what came behind it: queued until connected. */
    int rc = sl_stream_writer_write(&r->up, head.data, head.len, SL_STREAM_WRITE_UNCAPPED);
    if (rc == 0)
        rc = sl_stream_writer_write(&r->up, rest.data, rest.len, SL_STREAM_WRITE_UNCAPPED);
    sl_buf_free(&head);
    sl_buf_free(&rest);
    if (rc) {
        relay_close(r);
        return 0;
    }
    sl_conn_resume(r->client);
    r->connect.data = r;
    if (uv_tcp_connect(&r->connect, &r->upstream, (struct sockaddr *)&ss, up_connected)) {
        relay_close(r);
        return 0;
    }
    return 0;
}
