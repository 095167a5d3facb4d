/* L1 net/ws: WebSocket framing over an L1 conn. See ws.h. */
#include "net/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "net/ws_frame.h"

struct sl_ws {
    sl_conn_t *conn;
    const sl_ws_handler_t *h;
    void *ud;
    /* Incoming frames. Until sl_ws_start the parser has not run, and its
     * message buffer holds what came with the upgrade (or before the
     * start) instead: NULL when nothing did (clients wait for the 101).
     * A pointer of its own was 8 bytes, and a 96-byte malloc chunk
     * instead of 112, in every connection. */
    sl_ws_parser_t in;
    sl_ws_deflate_t *z;      /* permessage-deflate; NULL unless negotiated */
    unsigned closing : 1;
    unsigned started : 1;    /* sl_ws_start was called */
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

/* A control frame of ours (pong, close), at most 125 bytes of payload. It
 * goes through the capped writer: a peer that pings without reading loses
 * pongs rather than growing our memory. */
static int ws_write_control(sl_ws_t *ws, unsigned opcode, const void *p, size_t n)
{
    unsigned char hdr[10];
    unsigned hl = sl_ws_frame_header(hdr, opcode, n);
    uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, hl), uv_buf_init((char *)p, (unsigned)n)};
    return sl_conn_writev(ws->conn, bufs, n ? 2 : 1);
}

/* Our close frame is queued (or could not be): no more reading, the conn
 * closes once its output is written. */
static void ws_send_close(sl_ws_t *ws, uint16_t code)
{
    unsigned char body[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    ws_write_control(ws, 0x8, body, code ? 2 : 0);
    ws->closing = 1;
    sl_conn_close_after_write(ws->conn);
}

/* A message that came compressed: inflated (never past max_message: a
 * zip bomb stops there with 1009) and, for text, checked as UTF-8 after
 * inflating, as Node's ws does. */
static void ws_in_deflated(sl_ws_t *ws, int binary, const char *p, size_t n)
{
    sl_buf_t m = SL_BUF_INIT;
    int code = sl_ws_deflate_inflate(ws->z, p, n, ws->in.max_message, &m);
    if (!code && !binary && !sl_ws_utf8_valid(m.data, m.len))
        code = 1007;
    if (code) {
        char peer[SL_CONN_PEER_MAX];
        SL_INFO("ws", "%s: %s compressed message, closing with %d", sl_conn_peer(ws->conn, peer),
                code == 1009 ? "oversized" : code == 1007 ? "undecodable" : "unreadable", code);
        ws_send_close(ws, (uint16_t)code);
    } else {
        ws->h->on_message(ws, binary, m.data ? m.data : "", m.len);
    }
    sl_buf_free(&m);
}

/* Parser callbacks: each returns nonzero once the ws is closing, which
 * stops the feed (the rest of the bytes is dropped, as it would be). */
static int ws_in_message(void *ud, int binary, char *p, size_t n)
{
    sl_ws_t *ws = ud;
    if (ws->in.msg_rsv1)
        ws_in_deflated(ws, binary, p, n);
    else
        ws->h->on_message(ws, binary, p, n);
    return ws->closing || ws->conn->closing;
}

static int ws_in_ping(void *ud, const char *p, size_t n)
{
    sl_ws_t *ws = ud;
    ws_write_control(ws, 0xA, p, n);
    return ws->closing || ws->conn->closing;
}

/* The peer's close: echo its code (none when it sent none) and finish. */
static int ws_in_close(void *ud, uint16_t code, const char *reason, size_t n)
{
    (void)reason;
    (void)n;
    sl_ws_t *ws = ud;
    ws_send_close(ws, code);
    return 1;
}

static const sl_ws_frame_handler_t ws_in_handler = {
    .on_message = ws_in_message,
    .on_ping = ws_in_ping,
    .on_close = ws_in_close,
};

/* p is writable: conn.c's read slab (not read again before this returns)
 * or what was kept until the start; the parser unmasks frames in place
 * there. */
static int ws_keep_rest(sl_ws_t *ws, const char *p, size_t n);

static void ws_on_data(sl_conn_t *c, const char *p, size_t n)
{
    sl_ws_t *ws = c->owner;
    if (ws->closing)
        return;
    if (!ws->started) {
        /* Only when the caller went back to the loop before sl_ws_start:
         * keep the bytes for it and stop reading until then. */
        if (ws_keep_rest(ws, p, n))
            sl_ws_abort(ws);
        else
            sl_conn_pause(c);
        return;
    }
    int code = sl_ws_parser_feed(&ws->in, (char *)p, n, &ws_in_handler, ws);
    if (code && !ws->closing && !c->closing) {
        char peer[SL_CONN_PEER_MAX];
        SL_DEBUG("ws", "%s: websocket protocol error, closing with %d", sl_conn_peer(c, peer), code);
        ws_send_close(ws, (uint16_t)code);
    }
}

static void ws_on_drain(sl_conn_t *c)
{
    sl_ws_t *ws = c->owner;
    if (ws->h && ws->h->on_drain && !ws->closing)
        ws->h->on_drain(ws);
}

/* Appends to what waits for sl_ws_start. 0 or -ENOMEM. */
static int ws_keep_rest(sl_ws_t *ws, const char *p, size_t n)
{
    if (!ws->in.msg) {
        if (!(ws->in.msg = malloc(sizeof *ws->in.msg)))
            return -ENOMEM;
        *ws->in.msg = (sl_buf_t)SL_BUF_INIT;
    }
    return sl_buf_append(ws->in.msg, p, n) ? -ENOMEM : 0;
}

static void ws_on_close(sl_conn_t *c)
{
    sl_ws_t *ws = c->owner;
    ws->closing = 1;
    if (ws->h && ws->h->on_close)
        ws->h->on_close(ws);
    sl_ws_parser_free(&ws->in); /* or what was kept until the start */
    sl_ws_deflate_free(ws->z);
    free(ws);
}

static const sl_conn_handler_t ws_conn_handler = {
    .on_data = ws_on_data,
    .on_close = ws_on_close,
    .on_drain = ws_on_drain,
};

const char *sl_ws_check_extensions(const sl_http_req_t *req, const struct sl_ws_opts *opts)
{
    sl_ws_deflate_params_t p;
    char v[SL_WS_DEFLATE_VALUE_MAX];
    if (opts->deflate && sl_ws_deflate_negotiate(req, opts->deflate, &p, v, sizeof v) < 0)
        return SL_WS_DEFLATE_REFUSAL;
    return NULL;
}

sl_ws_t *sl_ws_accept(sl_http_req_t *req, const struct sl_ws_opts *opts,
                      const sl_ws_handler_t *h, void *ud)
{
    /* The head's fixed part and the key are copied in: no format string
     * to parse per connection. sl_ws_check_request made sure of a key. */
    static const char head101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    static const char ext[] = "Sec-WebSocket-Extensions: ";
    const char *key = sl_http_header_get(req, "sec-websocket-key");
    char accept[SL_WS_ACCEPT_LEN + 1];
    sl_ws_accept_key(key, strlen(key), accept);
    /* Negotiated as the caller checked it (sl_ws_check_extensions); the
     * state costs nothing more until a message is compressed. */
    sl_ws_deflate_params_t zp;
    char zv[SL_WS_DEFLATE_VALUE_MAX];
    sl_ws_deflate_t *z = NULL;
    if (opts->deflate && sl_ws_deflate_negotiate(req, opts->deflate, &zp, zv, sizeof zv) == 1)
        z = sl_ws_deflate_new(&zp, opts->deflate);
    /* The head is written on the stack when it fits, as it nearly always
     * does (the stream writer copies what it can't send at once): no
     * allocation for it. Out of memory for a bigger one: no 101 cut
     * short; the connection closes below as when the ws can't be made. */
    size_t al = strlen(accept); /* 0 only if OpenSSL failed: the client refuses */
    size_t zl = z ? strlen(zv) : 0;
    size_t hl = sizeof head101 - 1 + al + 2 + (z ? sizeof ext - 1 + zl + 2 : 0) + req->resp_headers.len + 2;
    char small[512];
    char *head = hl <= sizeof small ? small : malloc(hl);
    int head_failed = head == NULL;
    if (head) {
        char *o = head;
        memcpy(o, head101, sizeof head101 - 1), o += sizeof head101 - 1;
        memcpy(o, accept, al), o += al;
        memcpy(o, "\r\n", 2), o += 2;
        if (z) {
            memcpy(o, ext, sizeof ext - 1), o += sizeof ext - 1;
            memcpy(o, zv, zl), o += zl;
            memcpy(o, "\r\n", 2), o += 2;
        }
        if (req->resp_headers.len)
            memcpy(o, req->resp_headers.data, req->resp_headers.len), o += req->resp_headers.len;
        memcpy(o, "\r\n", 2);
    }

    sl_buf_t rest = SL_BUF_INIT;
    sl_conn_t *c = sl_http_take_conn(req, &rest);
    sl_ws_t *ws = c && !head_failed ? calloc(1, sizeof *ws) : NULL;
    if (ws)
        sl_ws_parser_init(&ws->in, opts->max_message);
    if (ws && rest.len && ws_keep_rest(ws, rest.data, rest.len)) {
        sl_ws_parser_free(&ws->in);
        free(ws);
        ws = NULL;
    }
    sl_buf_free(&rest);
    if (!ws) {
        if (c)
            sl_conn_close(c);
        if (head != small)
            free(head);
        sl_ws_deflate_free(z);
        return NULL;
    }
    ws->conn = c;
    ws->h = h;
    ws->ud = ud;
    ws->z = z;
    if (z)
        sl_ws_parser_allow_rsv1(&ws->in);
    sl_conn_set_queue_cap(c, opts->queue_cap);
    sl_conn_set_handler(c, &ws_conn_handler, ws);
    sl_conn_write(c, head, hl);
    if (head != small)
        free(head);

    /* No handler call before sl_ws_start (the caller must know this ws
     * first). Reading goes on: the caller starts it before it returns to
     * the loop, so no byte can come in between, and stopping and starting
     * the read cost two epoll_ctl calls per connection; were one to come,
     * ws_on_data keeps it and stops reading then. */
    return ws;
}

void sl_ws_start(sl_ws_t *ws)
{
    sl_conn_t *c = ws->conn;
    ws->started = 1;
    sl_buf_t *rest = ws->in.msg; /* the parser's own from now on */
    ws->in.msg = NULL;
    if (rest && !ws->closing && !c->closing)
        ws_on_data(c, rest->data, rest->len);
    if (rest) {
        sl_buf_free(rest);
        free(rest);
    }
    sl_conn_resume(c);
}

void *sl_ws_data(const sl_ws_t *ws) { return ws->ud; }

void sl_ws_set_handler(sl_ws_t *ws, const sl_ws_handler_t *h, void *ud)
{
    ws->h = h;
    ws->ud = ud;
}


size_t sl_ws_queued(const sl_ws_t *ws) { return sl_conn_queued(ws->conn); }

int sl_ws_sendv(sl_ws_t *ws, unsigned flags, const uv_buf_t *parts, sl_rcbuf_t *const *rcs,
                unsigned n, sl_ws_zcache_t *cache)
{
    if (ws->closing || n > 7)
        return -EPIPE;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += parts[i].len;
    unsigned opcode = flags & SL_WS_BINARY ? 0x2 : 0x1;
    if (ws->z && !(flags & SL_WS_PLAIN) && sl_ws_deflate_wants(ws->z, len)) {
        sl_rcbuf_t *f = sl_ws_deflate_frame(ws->z, opcode, parts, n, cache);
        if (f) {
            /* A frame shared by a broadcast waits, if it must, as a
             * reference: one copy for every slow recipient. */
            uv_buf_t b = {.base = f->data, .len = f->len};
            int rc = sl_conn_writev_rcs(ws->conn, &b, &f, 1);
            sl_rcbuf_unref(f);
            return rc;
        }
        /* No memory to compress: the message goes plain, which RFC 7692
         * allows for any message. */
    }
    unsigned char hdr[SL_WS_HEADER_MAX];
    unsigned hl = sl_ws_frame_header(hdr, opcode, len);
    uv_buf_t bufs[8];
    sl_rcbuf_t *brcs[8] = {NULL};
    bufs[0] = (uv_buf_t){.base = (char *)hdr, .len = hl};
    for (unsigned i = 0; i < n; i++) {
        bufs[i + 1] = parts[i];
        brcs[i + 1] = rcs ? rcs[i] : NULL;
    }
    return sl_conn_writev_rcs(ws->conn, bufs, brcs, n + 1);
}

char *sl_ws_frame_prepend(char *payload, int binary, size_t len)
{
    unsigned char hdr[SL_WS_HEADER_MAX];
    unsigned hl = sl_ws_frame_header(hdr, binary ? 0x2 : 0x1, len);
    memcpy(payload - hl, hdr, hl);
    return payload - hl;
}

/* A shared frame to a permessage-deflate connection: compressed when the
 * extension wants it (the cache keeps one compressed copy per context). */
__attribute__((noinline)) static int ws_send_frame_z(sl_ws_t *ws, unsigned flags, sl_rcbuf_t *rc,
                                                     const char *frame, size_t n, sl_ws_zcache_t *cache)
{
    /* The header's length, from its second byte (server frames: no mask). */
    unsigned char l7 = (unsigned char)frame[1] & 0x7f;
    size_t hl = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    if (sl_ws_deflate_wants(ws->z, n - hl)) {
        uv_buf_t payload = {.base = (char *)frame + hl, .len = n - hl};
        return sl_ws_sendv(ws, flags, &payload, &rc, 1, cache);
    }
    return sl_conn_write_rc(ws->conn, rc, frame, n);
}

int sl_ws_send_frame(sl_ws_t *ws, unsigned flags, sl_rcbuf_t *rc, const char *frame, size_t n,
                     sl_ws_zcache_t *cache)
{
    if (ws->closing)
        return -EPIPE;
    if (ws->z && !(flags & SL_WS_PLAIN))
        return ws_send_frame_z(ws, flags, rc, frame, n, cache); /* tail calls: no frame here */
    return sl_conn_write_rc(ws->conn, rc, frame, n);
}

void sl_ws_close(sl_ws_t *ws, uint16_t code)
{
    if (ws->closing)
        return;
    ws_send_close(ws, code);
}

void sl_ws_abort(sl_ws_t *ws)
{
    ws->closing = 1;
    sl_conn_close(ws->conn);
}
