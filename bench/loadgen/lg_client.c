/* Loadgen L1-5, client side: one Socket.IO client over a WebSocket or HTTP
 * long-polling (see lg_client.h for the states). Must not know scenarios. */
#define _GNU_SOURCE
#include "lg_client.h"
#include "lg_ws.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LG_MAX_MESSAGE (64u << 20)

struct lg_ws_hs_s {
    llhttp_t parser;
    char accept[LG_WS_ACCEPT_LEN + 1];   /* what the server must answer */
    char got[LG_WS_ACCEPT_LEN + 2];      /* what it answered */
    uint8_t got_len;
    uint8_t field_is_accept;
    uint8_t field_len;
    uint8_t complete;                    /* a whole response came, not an upgrade */
    char field[24];
};

typedef enum { LG_H_NONE, LG_H_CONNECTING, LG_H_READY, LG_H_CLOSING } lg_http_state_t;

/* One keep-alive HTTP connection of a polling client: one request at a
 * time, as the protocol allows one GET and one POST in flight. */
typedef struct lg_http_s {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    llhttp_t parser;
    lg_client_t *c;
    uint8_t hstate;            /* lg_http_state_t */
    uint8_t busy;              /* a request is out, its response not complete */
    uint8_t done;              /* that response completed during this read */
    char *req;                 /* a request waiting for the connection */
    size_t req_len;
    char *body;
    size_t body_len, body_cap;
} lg_http_t;

struct lg_poll_s {
    lg_http_t get, post;
    char sid[64];
    char *out;                 /* packets for the next POST, \x1e-separated */
    size_t out_len, out_cap;
};

typedef struct lg_write_s {
    uv_write_t req;
    lg_client_t *c;
    char data[];
} lg_write_t;

static void lg_client_eio(lg_client_t *c, const char *p, size_t len);
static int lg_poll_send(lg_client_t *c, const char *p, size_t len);
static int lg_http_request(lg_http_t *h, int post, const char *body, size_t body_len);
static void lg_http_close(lg_http_t *h);
static int lg_http_connect_again(lg_http_t *h);

const char *lg_err_name(lg_err_t e)
{
    static const char *const names[LG_ERR_COUNT] = {
        "none", "refused", "timeout", "addr", "fd_limit", "connect", "reset", "eof",
        "http_status", "ws_accept", "ws_protocol", "eio_protocol", "sio_connect_error",
        "server_close", "write", "inflight_full", "ack_lost", "ack_unexpected",
        "ack_mismatch", "other_event",
    };
    return (unsigned)e < LG_ERR_COUNT ? names[e] : "unknown";
}

static lg_err_t lg_err_from_uv(int err)
{
    switch (err) {
    case UV_ECONNREFUSED: return LG_ERR_REFUSED;
    case UV_ETIMEDOUT: return LG_ERR_TIMEOUT;
    case UV_EADDRNOTAVAIL: case UV_EADDRINUSE: return LG_ERR_ADDR;
    case UV_EMFILE: case UV_ENFILE: return LG_ERR_FDLIMIT;
    case UV_ECONNRESET: case UV_EPIPE: return LG_ERR_RESET;
    case UV_EOF: return LG_ERR_EOF;
    default: return LG_ERR_CONNECT;
    }
}

static int lg_bytes_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 256;
        while (ncap < *len + n)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return UV_ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

/* Every read of every connection lands in this one buffer: reads are
 * handled to the end before the loop reads again, and only the tail of an
 * incomplete frame is copied out (rbuf). 20k connections then cost no
 * read buffers at all while idle. */
static char lg_read_buf[64 * 1024];

static void lg_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = lg_read_buf;
    buf->len = sizeof lg_read_buf;
}

static void lg_write_cb(uv_write_t *req, int status)
{
    lg_write_t *w = (lg_write_t *)req;
    lg_client_t *c = w->c;
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        lg_client_abort(c, LG_ERR_WRITE);
}

/* Writes now when the socket takes it (the usual case), else queues a
 * copy; libuv keeps queued writes in order and uv_try_write refuses while
 * any are queued. */
static int lg_stream_write(lg_client_t *c, uv_stream_t *s, const char *p, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    if (n == (int)len)
        return 0;
    if (n < 0 && n != UV_EAGAIN)
        return n;
    if (n < 0)
        n = 0;
    lg_write_t *w = malloc(sizeof *w + len - (size_t)n);
    if (!w)
        return UV_ENOMEM;
    w->c = c;
    memcpy(w->data, p + n, len - (size_t)n);
    b = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
    int rc = uv_write(&w->req, s, &b, 1, lg_write_cb);
    if (rc < 0)
        free(w);
    return rc;
}

static int lg_ws_send(lg_client_t *c, int opcode, const char *p, size_t len)
{
    uint8_t small[2048];
    uint8_t *f = len + LG_WS_HEADER_MAX <= sizeof small ? small : malloc(len + LG_WS_HEADER_MAX);
    if (!f)
        return UV_ENOMEM;
    size_t n = lg_ws_frame_encode(f, opcode, p, len, lg_ws_mask_next());
    int rc = lg_stream_write(c, (uv_stream_t *)&c->tcp, (const char *)f, n);
    if (f != small)
        free(f);
    return rc;
}

/* Sends an Engine.IO packet on whichever transport; a failure ends the
 * client, so callers need only look at its state afterwards. */
static void lg_client_send_raw(lg_client_t *c, const char *p, size_t len)
{
    /* Nothing follows our goodbye: RFC 6455 forbids data after a close
     * frame, and over polling the server forgets the sid once it has "1". */
    if (c->state == LG_ST_CLOSING || c->state == LG_ST_DEAD)
        return;
    int rc = c->poll ? lg_poll_send(c, p, len) : lg_ws_send(c, LG_WS_TEXT, p, len);
    if (rc < 0)
        lg_client_abort(c, LG_ERR_WRITE);
}

/* Makes a TCP socket, binds it to the client's source address and starts
 * connecting. Binding with IP_BIND_ADDRESS_NO_PORT leaves the choice of the
 * port to connect(), which then only needs the 4-tuple to be unique: one
 * source address then serves ~28k connections per server port, and a few
 * addresses of 127.0.0.0/8 serve any number. *inited says whether the
 * handle exists (and must be closed) when this fails. */
static int lg_tcp_open(lg_client_t *c, uv_tcp_t *tcp, uv_connect_t *req, void *data, uv_connect_cb cb,
                       int *inited)
{
    *inited = 0;
    int rc = uv_tcp_init_ex(c->env->loop, tcp, AF_INET);
    if (rc < 0)
        return rc;
    *inited = 1;
    c->handles++;
    tcp->data = data;
    req->data = data;
    uv_tcp_nodelay(tcp, 1);
    if (c->src_addr) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)tcp, &fd) == 0)
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(c->src_addr) };
        rc = uv_tcp_bind(tcp, (const struct sockaddr *)&src, 0);
        if (rc < 0)
            return rc;
    }
    return uv_tcp_connect(req, tcp, (const struct sockaddr *)&c->env->server, cb);
}

static void lg_client_finish(lg_client_t *c)
{
    free(c->hs);
    c->hs = NULL;
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
    free(c->frag);
    c->frag = NULL;
    c->flen = c->fcap = 0;
    c->frag_op = 0;
    if (c->poll) {
        free(c->poll->get.req);
        free(c->poll->get.body);
        free(c->poll->post.req);
        free(c->poll->post.body);
        free(c->poll->out);
        free(c->poll);
        c->poll = NULL;
    }
    c->state = LG_ST_FREE;
    c->env->cbs->closed_cb(c);
}

static void lg_ws_close_cb(uv_handle_t *h)
{
    lg_client_t *c = h->data;
    c->handles--;
    if (c->state == LG_ST_DEAD && c->handles == 0)
        lg_client_finish(c);
}

void lg_client_abort(lg_client_t *c, lg_err_t err)
{
    if (c->state == LG_ST_DEAD || c->state == LG_ST_FREE)
        return;
    if (c->error == LG_ERR_NONE)
        c->error = (uint8_t)err;
    c->state = LG_ST_DEAD;
    if (c->tcp_open) {
        c->tcp_open = 0;
        uv_close((uv_handle_t *)&c->tcp, lg_ws_close_cb);
    }
    if (c->poll) {
        lg_http_close(&c->poll->get);
        lg_http_close(&c->poll->post);
    }
    if (c->handles == 0)
        lg_client_finish(c);
}

/* ---- Engine.IO / Socket.IO, the same on both transports ------------------ */

static void lg_client_eio(lg_client_t *c, const char *p, size_t len)
{
    lg_env_t *env = c->env;
    lg_pkt_t pkt;
    if (lg_pkt_parse(p, len, &pkt) < 0) {
        lg_client_abort(c, LG_ERR_EIO_PROTOCOL);
        return;
    }
    switch (pkt.kind) {
    case LG_PKT_OPEN: {
        char sid[64], connect[160];
        uint32_t interval, timeout;
        if (c->state != LG_ST_OPEN ||
            lg_open_parse(pkt.data, pkt.data_len, sid, sizeof sid, &interval, &timeout) < 0) {
            lg_client_abort(c, LG_ERR_EIO_PROTOCOL);
            return;
        }
        if (c->poll)
            memcpy(c->poll->sid, sid, strlen(sid) + 1);
        int n = lg_sio_connect_encode(connect, sizeof connect, env->nsp);
        if (n < 0) {
            lg_client_abort(c, LG_ERR_EIO_PROTOCOL);
            return;
        }
        c->state = LG_ST_JOIN;
        lg_client_send_raw(c, connect, (size_t)n);
        return;
    }
    case LG_PKT_PING: {
        /* "2probe" only comes during an upgrade, which we never do; answer
         * whatever payload came with the same payload. */
        char pong[64];
        if (pkt.data_len + 1 > sizeof pong) {
            lg_client_abort(c, LG_ERR_EIO_PROTOCOL);
            return;
        }
        pong[0] = '3';
        memcpy(pong + 1, pkt.data, pkt.data_len);
        env->pings++;
        lg_client_send_raw(c, pong, pkt.data_len + 1);
        return;
    }
    case LG_PKT_CLOSE:
        lg_client_abort(c, c->state == LG_ST_CLOSING ? LG_ERR_NONE : LG_ERR_SERVER_CLOSE);
        return;
    case LG_PKT_PONG: case LG_PKT_UPGRADE: case LG_PKT_NOOP:
        return;
    case LG_PKT_SIO_CONNECT:
        if (c->state != LG_ST_JOIN || !lg_pkt_nsp_is(&pkt, env->nsp)) {
            lg_client_abort(c, LG_ERR_EIO_PROTOCOL);
            return;
        }
        c->state = LG_ST_READY;
        c->was_ready = 1;
        env->cbs->connected_cb(c);
        return;
    case LG_PKT_SIO_CONNECT_ERROR:
        lg_client_abort(c, LG_ERR_SIO_CONNECT_ERROR);
        return;
    case LG_PKT_SIO_DISCONNECT:
        if (lg_pkt_nsp_is(&pkt, env->nsp))
            lg_client_abort(c, c->state == LG_ST_CLOSING ? LG_ERR_NONE : LG_ERR_SERVER_CLOSE);
        return;
    case LG_PKT_SIO_EVENT: case LG_PKT_SIO_BINARY_EVENT:
        if (c->state == LG_ST_READY || c->state == LG_ST_CLOSING)
            env->cbs->event_cb(c, &pkt);
        return;
    case LG_PKT_SIO_ACK: case LG_PKT_SIO_BINARY_ACK:
        if (c->state == LG_ST_READY || c->state == LG_ST_CLOSING)
            env->cbs->ack_cb(c, &pkt);
        return;
    }
}

/* ---- WebSocket transport ------------------------------------------------ */

static int lg_hs_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    lg_ws_hs_t *hs = ((lg_client_t *)p->data)->hs;
    for (size_t i = 0; i < len; i++) {
        if (hs->field_len < sizeof hs->field)
            hs->field[hs->field_len] = (char)tolower((unsigned char)at[i]);
        if (hs->field_len < 255)
            hs->field_len++;
    }
    return 0;
}

static int lg_hs_on_header_field_complete(llhttp_t *p)
{
    lg_ws_hs_t *hs = ((lg_client_t *)p->data)->hs;
    hs->field_is_accept = hs->field_len == 20 && memcmp(hs->field, "sec-websocket-accept", 20) == 0;
    hs->field_len = 0;
    return 0;
}

static int lg_hs_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    lg_ws_hs_t *hs = ((lg_client_t *)p->data)->hs;
    for (size_t i = 0; hs->field_is_accept && i < len; i++) {
        if (hs->got_len < sizeof hs->got)
            hs->got[hs->got_len++] = at[i];
    }
    return 0;
}

static int lg_hs_on_message_complete(llhttp_t *p)
{
    ((lg_client_t *)p->data)->hs->complete = 1;
    return 0;
}

static void lg_ws_message(lg_client_t *c, int opcode, const char *p, size_t len)
{
    /* Binary frames are Socket.IO attachments; no scenario sends any. */
    if (opcode == LG_WS_TEXT)
        lg_client_eio(c, p, len);
}

static void lg_ws_frame(lg_client_t *c, const lg_ws_frame_t *f, const char *payload)
{
    size_t n = (size_t)f->payload_len;
    switch (f->opcode) {
    case LG_WS_TEXT: case LG_WS_BINARY:
        if (c->frag_op) {
            lg_client_abort(c, LG_ERR_WS_PROTOCOL);
        } else if (f->fin) {
            lg_ws_message(c, f->opcode, payload, n);
        } else {
            c->frag_op = (uint8_t)f->opcode;
            if (lg_bytes_append(&c->frag, &c->flen, &c->fcap, payload, n) < 0)
                lg_client_abort(c, LG_ERR_WS_PROTOCOL);
        }
        return;
    case LG_WS_CONTINUATION:
        if (!c->frag_op || c->flen + n > LG_MAX_MESSAGE ||
            lg_bytes_append(&c->frag, &c->flen, &c->fcap, payload, n) < 0) {
            lg_client_abort(c, LG_ERR_WS_PROTOCOL);
            return;
        }
        if (f->fin) {
            int op = c->frag_op;
            c->frag_op = 0;
            lg_ws_message(c, op, c->frag, c->flen);
            c->flen = 0;
            if (c->state != LG_ST_DEAD) {
                free(c->frag);
                c->frag = NULL;
                c->fcap = 0;
            }
        }
        return;
    case LG_WS_PING:
        if (lg_ws_send(c, LG_WS_PONG, payload, n) < 0)
            lg_client_abort(c, LG_ERR_WRITE);
        return;
    case LG_WS_PONG:
        return;
    case LG_WS_CLOSE:
        if (c->state == LG_ST_CLOSING) {
            lg_client_abort(c, LG_ERR_NONE);
            return;
        }
        /* Answer with the server's status code, as RFC 6455 5.5.1 asks. */
        (void)lg_ws_send(c, LG_WS_CLOSE, payload, n >= 2 ? 2 : 0);
        lg_client_abort(c, LG_ERR_SERVER_CLOSE);
        return;
    }
}

static void lg_ws_input(lg_client_t *c, const char *p, size_t len)
{
    const char *q = p;
    size_t qlen = len, off = 0;
    if (c->rlen) {
        if (lg_bytes_append(&c->rbuf, &c->rlen, &c->rcap, p, len) < 0) {
            lg_client_abort(c, LG_ERR_WS_PROTOCOL);
            return;
        }
        q = c->rbuf;
        qlen = c->rlen;
    }
    while (off < qlen) {
        lg_ws_frame_t f;
        int rc = lg_ws_frame_parse((const uint8_t *)q + off, qlen - off, LG_MAX_MESSAGE, &f);
        if (rc < 0) {
            lg_client_abort(c, LG_ERR_WS_PROTOCOL);
            return;
        }
        if (rc == 0)
            break;
        const char *payload = q + off + f.header_len;
        off += f.header_len + (size_t)f.payload_len;
        lg_ws_frame(c, &f, payload);
        if (c->state == LG_ST_DEAD)
            return;
    }
    size_t rest = qlen - off;
    if (q == c->rbuf) {
        memmove(c->rbuf, c->rbuf + off, rest);
        c->rlen = rest;
        if (rest == 0) {          /* idle clients keep no buffer */
            free(c->rbuf);
            c->rbuf = NULL;
            c->rcap = 0;
        }
    } else if (rest && lg_bytes_append(&c->rbuf, &c->rlen, &c->rcap, q + off, rest) < 0) {
        lg_client_abort(c, LG_ERR_WS_PROTOCOL);
    }
}

/* Feeds the 101 response to llhttp; returns how many bytes it took once
 * the handshake is done (the rest are frames), 0 while it needs more, or
 * -1 after aborting the client. */
static ssize_t lg_ws_handshake_input(lg_client_t *c, const char *p, size_t len)
{
    lg_ws_hs_t *hs = c->hs;
    llhttp_errno_t e = llhttp_execute(&hs->parser, p, len);
    if (e == HPE_OK && !hs->complete)
        return 0;
    if (e != HPE_PAUSED_UPGRADE || hs->parser.status_code != 101) {
        lg_client_abort(c, hs->parser.status_code && hs->parser.status_code != 101 ? LG_ERR_HTTP_STATUS
                                                                                 : LG_ERR_WS_PROTOCOL);
        return -1;
    }
    if (hs->got_len != LG_WS_ACCEPT_LEN || memcmp(hs->got, hs->accept, LG_WS_ACCEPT_LEN) != 0) {
        lg_client_abort(c, LG_ERR_WS_ACCEPT);
        return -1;
    }
    size_t used = (size_t)(llhttp_get_error_pos(&hs->parser) - p);
    free(hs);
    c->hs = NULL;
    c->state = LG_ST_OPEN;
    return used > 0 ? (ssize_t)used : 0;
}

static void lg_ws_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    lg_client_t *c = s->data;
    if (n == 0 || c->state == LG_ST_DEAD)
        return;
    if (n < 0) {
        lg_client_abort(c, c->state == LG_ST_CLOSING ? LG_ERR_NONE : lg_err_from_uv((int)n));
        return;
    }
    const char *p = buf->base;
    size_t len = (size_t)n;
    if (c->state == LG_ST_HTTP) {
        ssize_t used = lg_ws_handshake_input(c, p, len);
        if (used < 0 || c->state == LG_ST_HTTP)
            return;
        p += used;
        len -= (size_t)used;
        if (len == 0)
            return;
    }
    lg_ws_input(c, p, len);
}

static void lg_ws_connect_cb(uv_connect_t *req, int status)
{
    lg_client_t *c = req->data;
    if (status == UV_ECANCELED || c->state == LG_ST_DEAD)
        return;
    if (status < 0) {
        lg_client_abort(c, lg_err_from_uv(status));
        return;
    }
    c->hs = calloc(1, sizeof *c->hs);
    if (!c->hs) {
        lg_client_abort(c, LG_ERR_CONNECT);
        return;
    }
    llhttp_init(&c->hs->parser, HTTP_RESPONSE, &c->env->ws_settings);
    c->hs->parser.data = c;
    char key[LG_WS_KEY_LEN + 1], request[1024];
    lg_ws_key_make(key, c->hs->accept);
    int n = snprintf(request, sizeof request,
                     "GET %s?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     c->env->path, c->env->host, key);
    c->state = LG_ST_HTTP;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, lg_alloc_cb, lg_ws_read_cb);
    if (rc == 0)
        rc = lg_stream_write(c, (uv_stream_t *)&c->tcp, request, (size_t)n);
    if (rc < 0)
        lg_client_abort(c, LG_ERR_WRITE);
}

/* ---- HTTP long-polling transport ---------------------------------------- */

static int lg_http_on_message_begin(llhttp_t *p)
{
    ((lg_http_t *)p->data)->body_len = 0;
    return 0;
}

static int lg_http_on_body(llhttp_t *p, const char *at, size_t len)
{
    lg_http_t *h = p->data;
    return lg_bytes_append(&h->body, &h->body_len, &h->body_cap, at, len) < 0 ? -1 : 0;
}

static int lg_http_on_message_complete(llhttp_t *p)
{
    ((lg_http_t *)p->data)->done = 1;
    return 0;
}

static void lg_http_close_cb(uv_handle_t *handle)
{
    lg_http_t *h = handle->data;
    lg_client_t *c = h->c;
    h->hstate = LG_H_NONE;
    c->handles--;
    if (c->state == LG_ST_DEAD) {
        if (c->handles == 0)
            lg_client_finish(c);
        return;
    }
    /* A request came while the server's keep-alive close was under way. */
    if (h->req) {
        if (lg_http_connect_again(h) < 0)
            lg_client_abort(c, LG_ERR_CONNECT);
    }
}

static void lg_http_close(lg_http_t *h)
{
    if (h->hstate == LG_H_CONNECTING || h->hstate == LG_H_READY) {
        h->hstate = LG_H_CLOSING;
        uv_close((uv_handle_t *)&h->tcp, lg_http_close_cb);
    }
}

static void lg_poll_on_response(lg_client_t *c, lg_http_t *h)
{
    lg_poll_t *poll = c->poll;
    int status = h->parser.status_code;
    int keep_alive = llhttp_should_keep_alive(&h->parser);
    h->busy = 0;
    if (status != 200) {
        lg_client_abort(c, LG_ERR_HTTP_STATUS);
        return;
    }
    if (!keep_alive)
        lg_http_close(h);
    if (h == &poll->post) {
        if (c->state == LG_ST_CLOSING && poll->out_len == 0) {
            lg_client_abort(c, LG_ERR_NONE);
            return;
        }
        if (poll->out_len && lg_http_request(&poll->post, 1, poll->out, poll->out_len) < 0) {
            lg_client_abort(c, LG_ERR_WRITE);
            return;
        }
        poll->out_len = 0;
        return;
    }
    const char *p = h->body, *end = h->body + h->body_len;
    for (;;) {
        const char *sep = memchr(p, 0x1e, (size_t)(end - p));
        lg_client_eio(c, p, (size_t)((sep ? sep : end) - p));
        if (c->state == LG_ST_DEAD)
            return;
        if (!sep)
            break;
        p = sep + 1;
    }
    if (c->state == LG_ST_CLOSING)
        return;               /* the POST with "1" ends it */
    if (lg_http_request(&poll->get, 0, NULL, 0) < 0)
        lg_client_abort(c, LG_ERR_WRITE);
}

static void lg_http_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    lg_http_t *h = s->data;
    lg_client_t *c = h->c;
    if (n == 0 || c->state == LG_ST_DEAD)
        return;
    if (n < 0) {
        if (h->busy)
            lg_client_abort(c, c->state == LG_ST_CLOSING ? LG_ERR_NONE : lg_err_from_uv((int)n));
        else
            lg_http_close(h);     /* the server ended an idle keep-alive connection */
        return;
    }
    if (!h->busy) {
        lg_client_abort(c, LG_ERR_EIO_PROTOCOL);
        return;
    }
    llhttp_errno_t e = llhttp_execute(&h->parser, buf->base, (size_t)n);
    if (e != HPE_OK) {
        lg_client_abort(c, h->parser.status_code && h->parser.status_code != 200 ? LG_ERR_HTTP_STATUS
                                                                               : LG_ERR_EIO_PROTOCOL);
        return;
    }
    if (h->done) {
        h->done = 0;
        lg_poll_on_response(c, h);
    }
}

static void lg_http_connect_cb(uv_connect_t *req, int status)
{
    lg_http_t *h = req->data;
    lg_client_t *c = h->c;
    if (status == UV_ECANCELED || c->state == LG_ST_DEAD)
        return;
    if (status < 0) {
        lg_client_abort(c, lg_err_from_uv(status));
        return;
    }
    h->hstate = LG_H_READY;
    int rc = uv_read_start((uv_stream_t *)&h->tcp, lg_alloc_cb, lg_http_read_cb);
    if (rc == 0 && h->req) {
        char *r = h->req;
        h->req = NULL;
        rc = lg_stream_write(c, (uv_stream_t *)&h->tcp, r, h->req_len);
        free(r);
    }
    if (rc < 0)
        lg_client_abort(c, LG_ERR_WRITE);
}

static int lg_http_connect_again(lg_http_t *h)
{
    int inited;
    llhttp_init(&h->parser, HTTP_RESPONSE, &h->c->env->poll_settings);
    h->parser.data = h;
    int rc = lg_tcp_open(h->c, &h->tcp, &h->connect_req, h, lg_http_connect_cb, &inited);
    if (inited)
        h->hstate = LG_H_CONNECTING;
    return rc;
}

/* Sends a GET (the long poll) or a POST (packets) on h, connecting it
 * first when the server closed it or it was never opened. */
static int lg_http_request(lg_http_t *h, int post, const char *body, size_t body_len)
{
    lg_client_t *c = h->c;
    lg_poll_t *poll = c->poll;
    char head[512], small[4096];
    char length[64] = "";
    if (post)
        snprintf(length, sizeof length, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n",
                 body_len);
    int n = snprintf(head, sizeof head, "%s %s?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
                     post ? "POST" : "GET", c->env->path, poll->sid[0] ? "&sid=" : "", poll->sid,
                     c->env->host, length);
    if (n < 0 || (size_t)n >= sizeof head)
        return UV_EINVAL;
    size_t total = (size_t)n + body_len;
    char *r = total <= sizeof small ? small : malloc(total);
    if (!r)
        return UV_ENOMEM;
    memcpy(r, head, (size_t)n);
    if (body_len)
        memcpy(r + n, body, body_len);
    h->busy = 1;
    int rc = 0;
    if (h->hstate == LG_H_READY) {
        rc = lg_stream_write(c, (uv_stream_t *)&h->tcp, r, total);
    } else {
        free(h->req);
        h->req = malloc(total);
        if (!h->req) {
            rc = UV_ENOMEM;
        } else {
            memcpy(h->req, r, total);
            h->req_len = total;
            if (h->hstate == LG_H_NONE)
                rc = lg_http_connect_again(h);
        }
    }
    if (r != small)
        free(r);
    return rc;
}

static int lg_poll_send(lg_client_t *c, const char *p, size_t len)
{
    lg_poll_t *poll = c->poll;
    if (poll->out_len && lg_bytes_append(&poll->out, &poll->out_len, &poll->out_cap, "\x1e", 1) < 0)
        return UV_ENOMEM;
    if (lg_bytes_append(&poll->out, &poll->out_len, &poll->out_cap, p, len) < 0)
        return UV_ENOMEM;
    if (poll->post.busy)
        return 0;         /* leaves with the next POST, after this one's answer */
    int rc = lg_http_request(&poll->post, 1, poll->out, poll->out_len);
    poll->out_len = 0;
    return rc;
}

static int lg_poll_start(lg_client_t *c)
{
    c->poll = calloc(1, sizeof *c->poll);
    if (!c->poll)
        return UV_ENOMEM;
    c->poll->get.c = c;
    c->poll->post.c = c;
    /* The handshake GET's answer is the open packet itself. */
    c->state = LG_ST_OPEN;
    int rc = lg_http_request(&c->poll->get, 0, NULL, 0);
    if (rc < 0) {
        if (c->handles == 0) {
            free(c->poll->get.req);
            free(c->poll);
            c->poll = NULL;
            c->state = LG_ST_FREE;
            return rc;
        }
        lg_client_abort(c, lg_err_from_uv(rc));
    }
    return 0;
}

/* ---- public ---------------------------------------------------------------- */

void lg_env_init(lg_env_t *env)
{
    llhttp_settings_init(&env->ws_settings);
    env->ws_settings.on_header_field = lg_hs_on_header_field;
    env->ws_settings.on_header_field_complete = lg_hs_on_header_field_complete;
    env->ws_settings.on_header_value = lg_hs_on_header_value;
    env->ws_settings.on_message_complete = lg_hs_on_message_complete;
    llhttp_settings_init(&env->poll_settings);
    env->poll_settings.on_message_begin = lg_http_on_message_begin;
    env->poll_settings.on_body = lg_http_on_body;
    env->poll_settings.on_message_complete = lg_http_on_message_complete;
}

void lg_client_init(lg_client_t *c, lg_env_t *env)
{
    memset(c, 0, sizeof *c);
    c->env = env;
}

int lg_client_start(lg_client_t *c, uint32_t src_addr)
{
    lg_env_t *env = c->env;
    c->error = LG_ERR_NONE;
    c->was_ready = 0;
    c->src_addr = src_addr;
    c->start_ns = uv_hrtime();
    c->deadline_ms = uv_now(env->loop) + env->connect_timeout_ms;
    if (env->transport == LG_TRANSPORT_POLLING)
        return lg_poll_start(c);
    int inited;
    c->state = LG_ST_TCP;
    int rc = lg_tcp_open(c, &c->tcp, &c->connect_req, c, lg_ws_connect_cb, &inited);
    if (!inited) {
        c->state = LG_ST_FREE;
        return rc;
    }
    c->tcp_open = 1;
    if (rc < 0)
        lg_client_abort(c, lg_err_from_uv(rc));
    return 0;
}

int lg_client_send(lg_client_t *c, const char *text, size_t len)
{
    if (c->state != LG_ST_READY)
        return UV_ENOTCONN;
    lg_client_send_raw(c, text, len);
    return c->state == LG_ST_READY ? 0 : UV_ECONNABORTED;
}

void lg_client_close(lg_client_t *c)
{
    switch (c->state) {
    case LG_ST_FREE: case LG_ST_DEAD: case LG_ST_CLOSING:
        return;
    case LG_ST_TCP: case LG_ST_HTTP:
        lg_client_abort(c, LG_ERR_NONE);
        return;
    case LG_ST_OPEN:
        if (c->poll) {         /* no sid yet: nothing to say goodbye to */
            lg_client_abort(c, LG_ERR_NONE);
            return;
        }
        break;
    default:
        break;
    }
    c->state = LG_ST_CLOSING;
    c->deadline_ms = uv_now(c->env->loop) + c->env->close_timeout_ms;
    if (c->poll) {
        if (lg_poll_send(c, "1", 1) < 0)
            lg_client_abort(c, LG_ERR_NONE);
        return;
    }
    static const char normal[2] = { 0x03, (char)0xE8 };   /* 1000, normal closure */
    if (lg_ws_send(c, LG_WS_CLOSE, normal, 2) < 0)
        lg_client_abort(c, LG_ERR_NONE);
}

void lg_client_sweep(lg_client_t *c, uint64_t now_ms)
{
    if (now_ms < c->deadline_ms)
        return;
    if (c->state >= LG_ST_TCP && c->state <= LG_ST_JOIN)
        lg_client_abort(c, LG_ERR_TIMEOUT);
    else if (c->state == LG_ST_CLOSING)
        lg_client_abort(c, LG_ERR_NONE);
}
