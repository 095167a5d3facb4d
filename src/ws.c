/* L1 ws: WebSocket framing over an L0 conn. See ws.h. */
#include "ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "log.h"

struct sl_ws {
    sl_conn_t *conn;
    wslay_event_context_ptr ctx;
    const sl_ws_handler_t *h;
    void *ud;
    const char *in;          /* bytes being fed to wslay_event_recv */
    size_t in_len;
    sl_buf_t rest;           /* what came with the upgrade, until started */
    unsigned closing : 1;
};

static const sl_conn_handler_t ws_conn_handler;

int sl_ws_check_request(const sl_http_req_t *req)
{
    if (strcmp(req->method, "GET") != 0 || !req->upgrade)
        return -1;
    const char *up = sl_http_header_get(req, "upgrade");
    const char *ver = sl_http_header_get(req, "sec-websocket-version");
    const char *key = sl_http_header_get(req, "sec-websocket-key");
    if (!up || strcasecmp(up, "websocket") != 0 || !ver || strcmp(ver, "13") != 0 || !key ||
        strlen(key) != 24)
        return -1;
    return 0;
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *ud)
{
    (void)flags;
    sl_ws_t *ws = ud;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

/* wslay only writes control frames (pong, close) through here; we always
 * take every byte, so its frames are never split around our data frames. */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *ud)
{
    (void)flags;
    sl_ws_t *ws = ud;
    if (sl_conn_write(ws->conn, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *ud)
{
    (void)ctx;
    sl_ws_t *ws = ud;
    if (ws->closing)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        ws->h->on_message(ws, arg->opcode == WSLAY_BINARY_FRAME, (const char *)arg->msg,
                          arg->msg_length);
}

static void ws_after_io(sl_ws_t *ws)
{
    if (ws->conn->closing)
        return;
    if (wslay_event_want_write(ws->ctx))
        wslay_event_send(ws->ctx);
    if (wslay_event_get_close_sent(ws->ctx) || !wslay_event_want_read(ws->ctx)) {
        /* Close frame is out (ours, or the echo of the peer's): finish. */
        ws->closing = 1;
        sl_conn_close_after_write(ws->conn);
    }
}

static void ws_on_data(sl_conn_t *c, const char *p, size_t n)
{
    sl_ws_t *ws = c->owner;
    ws->in = p;
    ws->in_len = n;
    int rc = wslay_event_recv(ws->ctx);
    ws->in_len = 0;
    if (rc != 0) {
        SL_INFO("ws", "%s: websocket protocol error (%d), closing", c->peer, rc);
        ws->closing = 1;
        sl_conn_close(c);
        return;
    }
    ws_after_io(ws);
}

static void ws_on_drain(sl_conn_t *c)
{
    sl_ws_t *ws = c->owner;
    if (ws->h && ws->h->on_drain && !ws->closing)
        ws->h->on_drain(ws);
}

static void ws_on_close(sl_conn_t *c)
{
    sl_ws_t *ws = c->owner;
    ws->closing = 1;
    if (ws->h && ws->h->on_close)
        ws->h->on_close(ws);
    wslay_event_context_free(ws->ctx);
    sl_buf_free(&ws->rest);
    free(ws);
}

static const sl_conn_handler_t ws_conn_handler = {
    .on_data = ws_on_data,
    .on_close = ws_on_close,
    .on_drain = ws_on_drain,
};

static void ws_accept_key(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char in[128];
    size_t kl = strlen(key);
    if (kl > sizeof in - sizeof guid)
        kl = sizeof in - sizeof guid;
    memcpy(in, key, kl);
    memcpy(in + kl, guid, sizeof guid - 1);
    EVP_Digest(in, kl + sizeof guid - 1, md, &mdlen, EVP_sha1(), NULL);
    sl_buf_t b = SL_BUF_INIT;
    sl_base64_encode_append(&b, md, mdlen);
    memcpy(out, b.data, 28);
    out[28] = '\0';
    sl_buf_free(&b);
}

sl_ws_t *sl_ws_accept(sl_http_req_t *req, const struct sl_ws_opts *opts,
                      const sl_ws_handler_t *h, void *ud)
{
    char accept[29];
    ws_accept_key(sl_http_header_get(req, "sec-websocket-key"), accept);
    sl_buf_t head = SL_BUF_INIT;
    sl_buf_appendf(&head,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                   accept);
    sl_buf_append(&head, req->resp_headers.data, req->resp_headers.len);
    sl_buf_append(&head, "\r\n", 2);

    sl_buf_t rest = SL_BUF_INIT;
    sl_conn_t *c = sl_http_take_conn(req, &rest);
    sl_ws_t *ws = c ? calloc(1, sizeof *ws) : NULL;
    if (!ws) {
        if (c)
            sl_conn_close(c);
        sl_buf_free(&head);
        sl_buf_free(&rest);
        return NULL;
    }
    struct wslay_event_callbacks cbs = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .on_msg_recv_callback = ws_msg_cb,
    };
    ws->conn = c;
    ws->h = h;
    ws->ud = ud;
    if (wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0) {
        free(ws);
        sl_conn_close(c);
        sl_buf_free(&head);
        sl_buf_free(&rest);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, opts->max_message);
    c->queue_cap = opts->queue_cap;
    sl_conn_set_handler(c, &ws_conn_handler, ws);
    sl_conn_write(c, head.data, head.len);
    sl_buf_free(&head);
    ws->rest = rest;
    /* Reading waits for sl_ws_start: no handler call before the caller
     * knows this ws. */
    sl_conn_pause(c);
    return ws;
}

void sl_ws_start(sl_ws_t *ws)
{
    sl_conn_t *c = ws->conn;
    if (ws->rest.len && !ws->closing && !c->closing)
        ws_on_data(c, ws->rest.data, ws->rest.len);
    sl_buf_free(&ws->rest);
    sl_conn_resume(c);
}

void *sl_ws_data(const sl_ws_t *ws) { return ws->ud; }

void sl_ws_set_handler(sl_ws_t *ws, const sl_ws_handler_t *h, void *ud)
{
    ws->h = h;
    ws->ud = ud;
}

const char *sl_ws_peer(const sl_ws_t *ws) { return ws->conn->peer; }

size_t sl_ws_queued(const sl_ws_t *ws) { return sl_conn_queued(ws->conn); }

int sl_ws_sendv(sl_ws_t *ws, int binary, const uv_buf_t *parts, unsigned n)
{
    if (ws->closing || n > 7)
        return -EPIPE;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += parts[i].len;
    unsigned char hdr[10];
    unsigned hl;
    hdr[0] = 0x80 | (binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME);
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        hl = 2;
    } else if (len < 65536) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        hl = 4;
    } else {
        hdr[1] = 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    uv_buf_t bufs[8];
    bufs[0] = uv_buf_init((char *)hdr, hl);
    for (unsigned i = 0; i < n; i++)
        bufs[i + 1] = parts[i];
    return sl_conn_writev(ws->conn, bufs, n + 1);
}

void sl_ws_close(sl_ws_t *ws, uint16_t code)
{
    if (ws->closing)
        return;
    wslay_event_queue_close(ws->ctx, code, NULL, 0);
    ws_after_io(ws);
    if (!ws->closing) {
        ws->closing = 1;
        sl_conn_close_after_write(ws->conn);
    }
}

void sl_ws_abort(sl_ws_t *ws)
{
    ws->closing = 1;
    sl_conn_close(ws->conn);
}
