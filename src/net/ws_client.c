/* L1 net/ws_client: WebSocket client on libuv, llhttp and wslay. See ws_client.h.
 *
 *   sl_wsc_connect
 *     -> sl_tcp_connect (the lookup, then each address in turn)
 *     -> write the upgrade request, llhttp reads the answer (101 checked)
 *     -> wslay client context: frames in and out          (ST_OPEN)
 *     -> close handshake / EOF / error / timeout -> finish (ST_DONE)
 *
 * Every libuv handle and request points back at the sl_wsc_t, so the struct
 * lives until the last of them has called back (`refs`); finish() only
 * starts closing them. Output goes through the stream writer `out`, whose
 * write and shutdown requests call back before the tcp handle's close
 * callback: the handle's ref covers them. */
#include "net/ws_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <llhttp.h>
#include <wslay/wslay.h>

#include "base/buf.h"
#include "net/tcp_connect.h"
#include "net/stream_writer.h"
#include "net/ws_frame.h"

#define DEFAULT_CAP ((size_t)64 << 20)
#define CLOSE_WAIT_MS 2000
#define MAX_RESPONSE_HEAD 16384
#define BODY_SNIPPET 200
#define ERR_MAX 256

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DONE };

struct sl_wsc {
    uv_loop_t *loop;
    const sl_wsc_handler_t *h; /* NULL once aborted or reported */
    void *ud;
    int state;
    int refs;                  /* handles and requests still pointing here */
    unsigned close_requested : 1;
    unsigned shut : 1;         /* the TCP handle is being shut down or closed */
    unsigned timer_closed : 1;
    unsigned failing : 1;      /* fail_later() armed the timer */

    char host[256];            /* for the lookup (no brackets) */
    char port[8];
    char authority[300];       /* for logs and messages */
    sl_buf_t request;          /* the upgrade request */
    char accept[29];           /* the Sec-WebSocket-Accept we expect */
    char err[ERR_MAX];         /* for fail_later */

    sl_tcp_connect_t *dial;    /* while connecting */
    uv_tcp_t *tcp;             /* the current attempt (malloc'd) */
    sl_stream_writer_t out;    /* on tcp once connected */
    uv_timer_t timer;          /* open timeout, close wait, deferred failure */
    uint64_t open_timeout_ms;

    llhttp_t parser;
    llhttp_settings_t settings;
    sl_buf_t field, value;
    size_t head_bytes;
    int got_upgrade, got_connection, got_accept, message_done;
    char status_text[64];
    sl_buf_t body;

    wslay_event_context_ptr ctx;
    const char *in;            /* bytes being fed to wslay_event_recv */
    size_t in_len;
    size_t max_message, queue_cap;
};

/* ---- life cycle ---------------------------------------------------------- */

static void maybe_free(sl_wsc_t *c)
{
    if (c->state != ST_DONE || c->refs > 0)
        return;
    if (c->ctx)
        wslay_event_context_free(c->ctx);
    sl_buf_free(&c->request);
    sl_buf_free(&c->field);
    sl_buf_free(&c->value);
    sl_buf_free(&c->body);
    free(c);
}

static void tcp_closed_cb(uv_handle_t *h)
{
    sl_wsc_t *c = h->data;
    free(h);
    c->refs--;
    maybe_free(c);
}

static void timer_closed_cb(uv_handle_t *h)
{
    sl_wsc_t *c = h->data;
    c->refs--;
    maybe_free(c);
}

static void close_tcp(sl_wsc_t *c)
{
    uv_tcp_t *t = c->tcp;
    c->tcp = NULL;
    sl_stream_writer_close(&c->out);
    if (t && !uv_is_closing((uv_handle_t *)t))
        uv_close((uv_handle_t *)t, tcp_closed_cb);
}

/* Stops everything. graceful: let queued output (our close frame) reach
 * the kernel before the socket closes. */
static void teardown(sl_wsc_t *c, int graceful)
{
    if (c->state == ST_DONE)
        return;
    sl_tcp_connect_cancel(c->dial);
    c->dial = NULL;
    c->state = ST_DONE;
    if (!c->timer_closed) {
        c->timer_closed = 1;
        uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
    }
    if (c->tcp && !c->shut) {
        c->shut = 1;
        uv_read_stop((uv_stream_t *)c->tcp);
        /* The tcp handle's ref keeps c until the writer's on_shutdown. */
        if (graceful && sl_stream_writer_queued(&c->out) > 0 &&
            sl_stream_writer_shutdown(&c->out) == 0)
            return;
        close_tcp(c);
    }
}

/* The end: stop, then report once. c stays valid during the callback
 * because the timer's close is still pending. */
static void finish(sl_wsc_t *c, const char *err, int code, int graceful)
{
    const sl_wsc_handler_t *h = c->h;
    c->h = NULL;
    teardown(c, graceful);
    if (h && h->on_close)
        h->on_close(c, err, code, c->ud);
}

static void finishf(sl_wsc_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finishf(sl_wsc_t *c, int code, const char *fmt, ...)
{
    char err[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof err, fmt, ap);
    va_end(ap);
    finish(c, err, code, 0);
}

static void timer_cb(uv_timer_t *t)
{
    sl_wsc_t *c = t->data;
    if (c->failing)
        finish(c, c->err, 1006, 0);
    else if (c->state < ST_OPEN)
        finishf(c, 1006, "timed out opening the connection to %s", c->authority);
    else if (c->close_requested)
        finish(c, NULL, 1006, 0); /* the peer did not answer our close in time */
}

/* For failures found inside an API call: the report must not run inside
 * the caller, so it comes from the timer, in the next loop turn. */
static void fail_later(sl_wsc_t *c, const char *err)
{
    if (c->state == ST_DONE || c->failing)
        return;
    c->failing = 1;
    snprintf(c->err, sizeof c->err, "%s", err);
    uv_timer_start(&c->timer, timer_cb, 0, 0);
}

/* ---- output -------------------------------------------------------------- */

static void write_error_cb(sl_stream_writer_t *w, int status)
{
    sl_wsc_t *c = SL_CONTAINER_OF(w, sl_wsc_t, out);
    if (c->state != ST_DONE)
        finishf(c, 1006, "write failed: %s", uv_strerror(status));
}

/* The close frame went out and the write side is shut down (or failed). */
static void shutdown_cb(sl_stream_writer_t *w, int status)
{
    (void)status;
    close_tcp(SL_CONTAINER_OF(w, sl_wsc_t, out));
}

static const sl_stream_writer_handler_t wsc_writer_handler = {
    .on_error = write_error_cb,
    .on_shutdown = shutdown_cb,
};

/* Uncapped: sl_wsc_send checks the cap before wslay frames a message. */
static int write_bytes(sl_wsc_t *c, const void *p, size_t n)
{
    if (!c->tcp || c->shut)
        return -EPIPE;
    return sl_stream_writer_write(&c->out, p, n, SL_STREAM_WRITE_UNCAPPED);
}

/* ---- wslay callbacks ----------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    sl_wsc_t *c = ud;
    if (c->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    sl_wsc_t *c = ud;
    if (write_bytes(c, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(buf + got, len - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    (void)ctx;
    sl_wsc_t *c = ud;
    if (c->state != ST_OPEN || c->close_requested || !c->h)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        c->h->on_message(c, arg->opcode == WSLAY_BINARY_FRAME, (const char *)arg->msg,
                         arg->msg_length, c->ud);
}

/* After wslay read or queued something: flush, and see whether the close
 * handshake is over. */
static void after_io(sl_wsc_t *c)
{
    if (c->state != ST_OPEN)
        return;
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0) {
        finishf(c, 1006, "connection to %s lost while writing", c->authority);
        return;
    }
    if (wslay_event_get_close_received(c->ctx)) {
        /* wslay answered the peer's close frame (or we had sent ours). */
        if (!wslay_event_want_write(c->ctx))
            finish(c, NULL, wslay_event_get_status_code_received(c->ctx), 1);
    } else if (wslay_event_get_close_sent(c->ctx) && !c->close_requested) {
        /* wslay refused a frame (bad framing, message too large) and sent a
         * close frame: the connection is over for us. */
        finishf(c, 1002, "websocket protocol error from %s (close %d sent)", c->authority,
                wslay_event_get_status_code_sent(c->ctx));
    }
}

static void ws_feed(sl_wsc_t *c, const char *p, size_t n)
{
    c->in = p;
    c->in_len = n;
    int rc = wslay_event_recv(c->ctx);
    c->in_len = 0;
    if (c->state != ST_OPEN) /* aborted from a callback */
        return;
    if (rc != 0) {
        finishf(c, 1002, "websocket error on the connection to %s (%d)", c->authority, rc);
        return;
    }
    after_io(c);
}

/* ---- the HTTP upgrade ------------------------------------------------------ */

static sl_wsc_t *wsc_of(llhttp_t *p) { return p->data; }

static int head_bytes(sl_wsc_t *c, size_t n)
{
    c->head_bytes += n;
    return c->head_bytes > MAX_RESPONSE_HEAD ? HPE_USER : 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    sl_wsc_t *c = wsc_of(p);
    size_t have = strlen(c->status_text);
    size_t room = sizeof c->status_text - 1 - have;
    memcpy(c->status_text + have, at, n < room ? n : room);
    c->status_text[have + (n < room ? n : room)] = '\0';
    return head_bytes(c, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    sl_wsc_t *c = wsc_of(p);
    return head_bytes(c, n) || sl_buf_append(&c->field, at, n) ? HPE_USER : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    sl_wsc_t *c = wsc_of(p);
    return head_bytes(c, n) || sl_buf_append(&c->value, at, n) ? HPE_USER : 0;
}

/* Whether the comma list s (of length n) holds token, ignoring case. */
static int has_token(const char *s, size_t n, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
            i++;
        size_t start = i;
        while (i < n && s[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(s + start, token, tl) == 0)
            return 1;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    sl_wsc_t *c = wsc_of(p);
    const char *f = c->field.data ? c->field.data : "";
    const char *v = c->value.data ? c->value.data : "";
    size_t fl = c->field.len, vl = c->value.len;
    if (fl == 7 && !strncasecmp(f, "upgrade", 7))
        c->got_upgrade = has_token(v, vl, "websocket");
    else if (fl == 10 && !strncasecmp(f, "connection", 10))
        c->got_connection = has_token(v, vl, "upgrade");
    else if (fl == 20 && !strncasecmp(f, "sec-websocket-accept", 20))
        c->got_accept = vl == 28 && !memcmp(v, c->accept, 28);
    sl_buf_reset(&c->field);
    sl_buf_reset(&c->value);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    sl_wsc_t *c = wsc_of(p);
    if (c->body.len < BODY_SNIPPET)
        sl_buf_append(&c->body, at, n < BODY_SNIPPET - c->body.len ? n : BODY_SNIPPET - c->body.len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    wsc_of(p)->message_done = 1;
    return 0;
}

/* A complete answer that is not an upgrade: the error names its status and
 * the start of its body (the server's reason, e.g. Engine.IO's
 * {"code":0,"message":"Transport unknown"}). */
static void fail_status(sl_wsc_t *c)
{
    char body[BODY_SNIPPET + 1];
    size_t n = 0;
    for (size_t i = 0; i < c->body.len && n < BODY_SNIPPET; i++) {
        unsigned char ch = (unsigned char)c->body.data[i];
        body[n++] = (char)(ch < 0x20 || ch == 0x7f ? ' ' : ch);
    }
    body[n] = '\0';
    finishf(c, 1006, "HTTP %d %s%s%s", c->parser.status_code, c->status_text, n ? ": " : "",
            body);
}

static void ws_open(sl_wsc_t *c, const char *rest, size_t n)
{
    struct wslay_event_callbacks cbs = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .genmask_callback = genmask_cb,
        .on_msg_recv_callback = msg_cb,
    };
    if (wslay_event_context_client_init(&c->ctx, &cbs, c) != 0) {
        c->ctx = NULL;
        finishf(c, 1006, "out of memory");
        return;
    }
    wslay_event_config_set_max_recv_msg_length(c->ctx, c->max_message);
    c->state = ST_OPEN;
    uv_timer_stop(&c->timer);
    sl_buf_free(&c->request);
    sl_buf_free(&c->body);
    if (c->h && c->h->on_open)
        c->h->on_open(c, c->ud);
    if (c->state == ST_OPEN && n)
        ws_feed(c, rest, n);
    else if (c->state == ST_OPEN)
        after_io(c); /* the user may have queued messages in on_open */
}

static void handshake_feed(sl_wsc_t *c, const char *p, size_t n)
{
    llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
    if (e == HPE_PAUSED_UPGRADE) {
        size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - p);
        if (c->parser.status_code != 101) {
            fail_status(c);
        } else if (!c->got_upgrade || !c->got_connection) {
            finishf(c, 1006, "%s answered 101 without Upgrade: websocket", c->authority);
        } else if (!c->got_accept) {
            finishf(c, 1006, "%s answered with a wrong Sec-WebSocket-Accept", c->authority);
        } else {
            ws_open(c, p + used, n - used);
        }
        return;
    }
    if (e == HPE_OK && c->message_done) { /* a whole answer that is not an upgrade */
        if (c->parser.status_code == 101)
            finishf(c, 1006, "%s answered 101 without Upgrade: websocket", c->authority);
        else
            fail_status(c);
        return;
    }
    if (e != HPE_OK)
        finishf(c, 1006, "bad HTTP answer from %s: %s", c->authority,
                e == HPE_USER ? "header too large" : llhttp_errno_name(e));
}

/* ---- connecting ---------------------------------------------------------- */

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl_wsc_t *c = s->data;
    if (c->state == ST_DONE || nread == 0)
        return;
    if (nread > 0) {
        if (c->state == ST_HANDSHAKE)
            handshake_feed(c, buf->base, (size_t)nread);
        else
            ws_feed(c, buf->base, (size_t)nread);
        return;
    }
    if (c->state == ST_HANDSHAKE) {
        if (llhttp_finish(&c->parser) == HPE_OK && c->message_done)
            fail_status(c);
        else
            finishf(c, 1006, "connection to %s closed during the WebSocket upgrade", c->authority);
    } else if (c->close_requested) {
        finish(c, NULL, 1006, 0);
    } else if (nread == UV_EOF) {
        finishf(c, 1006, "connection to %s closed without a close frame", c->authority);
    } else {
        finishf(c, 1006, "connection to %s lost: %s", c->authority, uv_strerror((int)nread));
    }
}

static void dialed_cb(uv_tcp_t *tcp, int code, const char *err, void *ud)
{
    (void)code;
    sl_wsc_t *c = ud;
    c->dial = NULL;
    if (!tcp) {
        finish(c, err, 1006, 0);
        return;
    }
    tcp->data = c;
    c->tcp = tcp;
    c->refs++; /* the handle, until its close callback */
    c->state = ST_HANDSHAKE;
    uv_tcp_nodelay(c->tcp, 1);
    sl_stream_writer_init(&c->out, (uv_stream_t *)c->tcp, 0, &wsc_writer_handler);
    int rc = write_bytes(c, c->request.data, c->request.len);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)c->tcp, sl_tcp_read_slab, read_cb);
    if (rc)
        finishf(c, 1006, "cannot write to %s: %s", c->authority, uv_strerror(rc));
}

/* ---- URL and request ------------------------------------------------------- */

static int parse_url(sl_wsc_t *c, const char *url, const char **path, char *err, size_t errlen)
{
    if (!strncasecmp(url, "wss://", 6)) {
        snprintf(err, errlen, "wss:// needs TLS, which siolua does not have (use ws://)");
        return -EINVAL;
    }
    if (strncasecmp(url, "ws://", 5)) {
        snprintf(err, errlen, "not a ws:// URL: %.200s", url);
        return -EINVAL;
    }
    const char *a = url + 5;
    size_t al = strcspn(a, "/?#");
    if (al == 0 || al >= sizeof c->authority || memchr(a, '@', al)) {
        snprintf(err, errlen, "bad host in URL: %.200s", url);
        return -EINVAL;
    }
    memcpy(c->authority, a, al);
    c->authority[al] = '\0';
    const char *hp = c->authority, *colon;
    size_t hl;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close || (close[1] && close[1] != ':')) {
            snprintf(err, errlen, "bad host in URL: %.200s", url);
            return -EINVAL;
        }
        hp++;
        hl = (size_t)(close - hp);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(hp, ':');
        hl = colon ? (size_t)(colon - hp) : strlen(hp);
    }
    if (hl == 0 || hl >= sizeof c->host) {
        snprintf(err, errlen, "bad host in URL: %.200s", url);
        return -EINVAL;
    }
    memcpy(c->host, hp, hl);
    c->host[hl] = '\0';
    long port = 80;
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || port < 1 || port > 65535) {
            snprintf(err, errlen, "bad port in URL: %.200s", url);
            return -EINVAL;
        }
    }
    snprintf(c->port, sizeof c->port, "%ld", port);
    *path = a + al;
    return 0;
}

/* Each line "Name: value\r\n": no CR or LF anywhere else, so the caller
 * cannot smuggle a second request or end the headers early. */
static int headers_ok(const char *h)
{
    for (const char *p = h; *p; p++) {
        if (*p == '\r' && p[1] != '\n')
            return 0;
        if (*p == '\n' && (p == h || p[-1] != '\r' || p[1] == '\r'))
            return 0;
    }
    size_t n = strlen(h);
    return n == 0 || (n >= 2 && h[n - 1] == '\n' && h[n - 2] == '\r');
}

static int make_key(char key[25], char accept[29])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    sl_buf_t b = SL_BUF_INIT;
    if (sl_base64_encode_append(&b, raw, sizeof raw) || b.len != 24) {
        sl_buf_free(&b);
        return -1;
    }
    memcpy(key, b.data, 24);
    key[24] = '\0';
    sl_buf_free(&b);
    return sl_ws_accept_key(key, 24, accept);
}

int sl_wsc_connect(uv_loop_t *loop, const char *url, const sl_wsc_opts_t *opts,
                   const sl_wsc_handler_t *h, void *ud, sl_wsc_t **out, char *err, size_t errlen)
{
    static const sl_wsc_opts_t defaults = {0, 0, 0, NULL};
    if (!opts)
        opts = &defaults;
    sl_wsc_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const char *path;
    int rc = parse_url(c, url, &path, err, errlen);
    if (rc == 0 && opts->headers && !headers_ok(opts->headers)) {
        snprintf(err, errlen, "bad extra header lines");
        rc = -EINVAL;
    }
    char key[25];
    if (rc == 0 && make_key(key, c->accept)) {
        snprintf(err, errlen, "no randomness for the WebSocket key");
        rc = -EIO;
    }
    if (rc == 0) {
        size_t pl = strcspn(path, "#");
        rc = sl_buf_appendf(&c->request,
                            "GET %s%.*s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\n%s\r\n",
                            pl == 0 || path[0] == '?' ? "/" : "", (int)pl, path, c->authority, key,
                            opts->headers ? opts->headers : "");
        if (rc)
            snprintf(err, errlen, "out of memory");
    }
    if (rc) {
        sl_buf_free(&c->request);
        free(c);
        return rc;
    }
    c->loop = loop;
    c->h = h;
    c->ud = ud;
    c->max_message = opts->max_message ? opts->max_message : DEFAULT_CAP;
    c->queue_cap = opts->queue_cap ? opts->queue_cap : DEFAULT_CAP;
    c->open_timeout_ms = opts->open_timeout_ms;
    llhttp_settings_init(&c->settings);
    c->settings.on_status = on_status;
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_header_value_complete = on_header_value_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
    c->parser.data = c;

    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->refs++;
    c->state = ST_CONNECTING;
    if (sl_tcp_connect_start(loop, c->host, c->port, dialed_cb, c, &c->dial, err, errlen)) {
        /* Nothing reported yet: the caller gets the error instead. */
        c->h = NULL;
        teardown(c, 0);
        return -ECONNREFUSED;
    }
    if (c->open_timeout_ms)
        uv_timer_start(&c->timer, timer_cb, c->open_timeout_ms, 0);
    *out = c;
    return 0;
}

/* ---- API ------------------------------------------------------------------- */

int sl_wsc_send(sl_wsc_t *c, int binary, const void *p, size_t n)
{
    if (c->state != ST_OPEN || c->close_requested || c->failing)
        return -EPIPE;
    size_t queued = sl_stream_writer_queued(&c->out) + wslay_event_get_queued_msg_length(c->ctx);
    if (queued + n > c->queue_cap)
        return -ENOBUFS;
    struct wslay_event_msg m = {
        .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .msg = (const uint8_t *)p,
        .msg_length = n,
    };
    int rc = wslay_event_queue_msg(c->ctx, &m);
    if (rc == WSLAY_ERR_NOMEM)
        return -ENOMEM;
    if (rc != 0)
        return -EPIPE;
    if (wslay_event_send(c->ctx) != 0) {
        fail_later(c, "connection lost while writing");
        return -EPIPE;
    }
    return 0;
}

void sl_wsc_close(sl_wsc_t *c, uint16_t code)
{
    if (c->state == ST_DONE || c->close_requested || c->failing)
        return;
    if (c->state < ST_OPEN) {
        fail_later(c, "closed before the connection was open");
        return;
    }
    c->close_requested = 1;
    wslay_event_queue_close(c->ctx, code, NULL, 0);
    if (wslay_event_send(c->ctx) != 0) {
        fail_later(c, "connection lost while writing");
        return;
    }
    uv_timer_start(&c->timer, timer_cb, CLOSE_WAIT_MS, 0);
}

void sl_wsc_abort(sl_wsc_t *c)
{
    c->h = NULL;
    teardown(c, 0);
}
