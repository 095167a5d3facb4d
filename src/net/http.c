/* L1 net/http: HTTP/1.1 request parsing (llhttp) and response writing on an L0
 * conn. One request is in flight per connection; bytes of a pipelined next
 * request wait in `pending` until the current one is answered. */
#include "net/http.h"
#include "net/trust.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <llhttp.h>

#include "base/json_text.h"
#include "base/log.h"

struct sl_http_conn {
    sl_conn_t *conn;
    llhttp_t parser;
    llhttp_settings_t settings;
    sl_http_limits_t lim;
    sl_http_request_cb cb;
    void *ud;
    uv_timer_t timer;            /* header timeout, then keep-alive idle */
    sl_http_req_t *req;          /* being parsed or being answered */
    sl_buf_t pending;            /* input not yet fed to the parser */
    size_t header_bytes;
    size_t msg_fed;              /* bytes of the message being parsed that
                                    earlier llhttp_execute calls took */
    /* Offsets into req->strings while parsing; resolved at headers end. */
    size_t url_off, url_len;
    size_t hoff[SL_HTTP_MAX_HEADERS][2], hlen[SL_HTTP_MAX_HEADERS][2];
    int nh;
    int last_was_value;
    unsigned req_complete : 1;   /* the handler has it, no response yet */
    unsigned closing : 1;
    unsigned timer_closed : 1;
    unsigned detached : 1;       /* conn taken by an upgrade */
    unsigned in_feed : 1;
    unsigned headers_done : 1;   /* of the request being parsed */
    /* Fields past SL_HTTP_MAX_HEADERS are read and not stored (skipping),
     * and the request is refused (431) once the head is whole. too_many
     * is set at the end of such a field's name, which llhttp reaches at
     * the same byte however the reads were split (see http_feed). */
    unsigned skipping : 1;
    unsigned too_many : 1;
};

static const sl_conn_handler_t http_conn_handler;
static void http_feed(sl_http_conn_t *hc);
static int header_text_ok(const char *v);

const char *sl_http_status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 401: return "Unauthorized";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- request lifetime --------------------------------------------------- */

static sl_http_req_t *req_new(sl_http_conn_t *hc)
{
    sl_http_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->hc = hc;
    r->secure = sl_conn_secure(hc->conn);
    r->peer = hc->conn->peer;
    r->address = r->peer;
    return r;
}

static void req_free(sl_http_req_t *r)
{
    if (!r)
        return;
    sl_buf_free(&r->body);
    sl_buf_free(&r->strings);
    sl_buf_free(&r->resp_headers);
    free(r);
}

static void http_timer_closed_cb(uv_handle_t *h)
{
    free(h->data);
}

static void http_close(sl_http_conn_t *hc)
{
    if (hc->closing)
        return;
    hc->closing = 1;
    sl_conn_close(hc->conn); /* on_close frees the rest */
}

static void http_timer_cb(uv_timer_t *t)
{
    sl_http_conn_t *hc = t->data;
    if (!hc->req_complete) {
        if (hc->req)
            SL_INFO("http", "%s: request header timeout, closing", hc->conn->peer);
        http_close(hc);
    }
}

static void http_arm_timer(sl_http_conn_t *hc, uint64_t ms)
{
    if (ms)
        uv_timer_start(&hc->timer, http_timer_cb, ms, 0);
    else
        uv_timer_stop(&hc->timer);
}

/* ---- llhttp callbacks --------------------------------------------------- */

static sl_http_conn_t *hc_of(llhttp_t *p) { return p->data; }

static int cb_message_begin(llhttp_t *p)
{
    sl_http_conn_t *hc = hc_of(p);
    hc->req = req_new(hc);
    if (!hc->req)
        return -1;
    hc->url_len = 0;
    hc->nh = 0;
    hc->last_was_value = 0;
    hc->header_bytes = 0;
    hc->headers_done = 0;
    hc->skipping = 0;
    hc->too_many = 0;
    http_arm_timer(hc, hc->lim.header_timeout_ms);
    return 0;
}

static int add_header_bytes(sl_http_conn_t *hc, size_t n)
{
    hc->header_bytes += n;
    return hc->header_bytes > hc->lim.max_header_bytes ? -1 : 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t n)
{
    sl_http_conn_t *hc = hc_of(p);
    if (add_header_bytes(hc, n))
        return HPE_USER;
    if (hc->url_len == 0)
        hc->url_off = hc->req->strings.len;
    hc->url_len += n;
    return sl_buf_append(&hc->req->strings, at, n) ? -1 : 0;
}

static int cb_url_complete(llhttp_t *p)
{
    return sl_buf_append_byte(&hc_of(p)->req->strings, '\0') ? -1 : 0;
}

/* Header fields after the body of a chunked request are trailers: llhttp
 * reports them with the same callbacks, after cb_headers_complete turned
 * the strings into pointers, so they must not touch the strings (a realloc
 * would leave the request's pointers dangling). They are read and dropped,
 * like the fields past SL_HTTP_MAX_HEADERS; neither counts. */
static int field_ignored(const sl_http_conn_t *hc) { return hc->headers_done || hc->skipping; }

static int cb_header_field(llhttp_t *p, const char *at, size_t n)
{
    sl_http_conn_t *hc = hc_of(p);
    if (hc->headers_done)
        return 0;
    if (add_header_bytes(hc, n))
        return HPE_USER;
    sl_buf_t *s = &hc->req->strings;
    if (hc->nh == SL_HTTP_MAX_HEADERS && hc->last_was_value)
        hc->skipping = 1; /* the rest of the head is only counted */
    if (hc->skipping)
        return 0;
    if (hc->nh == 0 || hc->last_was_value) {
        hc->hoff[hc->nh][0] = s->len;
        hc->hlen[hc->nh][0] = 0;
        hc->hlen[hc->nh][1] = 0;
        hc->hoff[hc->nh][1] = 0;
        hc->nh++;
        hc->last_was_value = 0;
    }
    hc->hlen[hc->nh - 1][0] += n;
    return sl_buf_append(s, at, n) ? -1 : 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    if (hc_of(p)->skipping)
        hc_of(p)->too_many = 1;
    if (field_ignored(hc_of(p)))
        return 0;
    return sl_buf_append_byte(&hc_of(p)->req->strings, '\0') ? -1 : 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t n)
{
    sl_http_conn_t *hc = hc_of(p);
    if (hc->headers_done)
        return 0;
    if (add_header_bytes(hc, n))
        return HPE_USER;
    if (hc->skipping)
        return 0;
    sl_buf_t *s = &hc->req->strings;
    if (!hc->last_was_value) {
        hc->hoff[hc->nh - 1][1] = s->len;
        hc->last_was_value = 1;
    }
    hc->hlen[hc->nh - 1][1] += n;
    return sl_buf_append(s, at, n) ? -1 : 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    sl_http_conn_t *hc = hc_of(p);
    if (field_ignored(hc))
        return 0;
    if (!hc->last_was_value) { /* empty value: no on_header_value call */
        hc->hoff[hc->nh - 1][1] = hc->req->strings.len;
        hc->last_was_value = 1;
    }
    return sl_buf_append_byte(&hc->req->strings, '\0') ? -1 : 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    sl_http_conn_t *hc = hc_of(p);
    sl_http_req_t *r = hc->req;
    if (hc->too_many)
        return HPE_USER;
    /* The strings buffer is final now: turn offsets into pointers. */
    char *base = r->strings.data;
    r->method = llhttp_method_name((llhttp_method_t)p->method);
    r->url = hc->url_len ? base + hc->url_off : "/";
    r->nheaders = hc->nh;
    for (int i = 0; i < hc->nh; i++) {
        r->headers[i].name = base + hc->hoff[i][0];
        r->headers[i].value = base + hc->hoff[i][1];
    }
    r->keep_alive = llhttp_should_keep_alive(p) ? 1 : 0;
    r->is_head = p->method == HTTP_HEAD;
    r->upgrade = p->upgrade ? 1 : 0;
    uv_timer_stop(&hc->timer);
    hc->headers_done = 1;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > hc->lim.max_body_bytes) {
        /* Don't read (or wait for) a body we will refuse: answer now and
         * close the connection afterwards, since its body stays unread. */
        r->body_too_large = 1;
        r->keep_alive = 0;
        hc->req_complete = 1;
        return HPE_PAUSED;
    }
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t n)
{
    sl_http_req_t *r = hc_of(p)->req;
    /* A body must keep coming: each piece re-arms the request timer, so a
     * client trickling (or stalling) a body is cut off too. */
    http_arm_timer(hc_of(p), hc_of(p)->lim.header_timeout_ms);
    if (r->body_too_large)
        return 0;
    if (r->body.len + n > hc_of(p)->lim.max_body_bytes) {
        r->body_too_large = 1;
        sl_buf_free(&r->body);
        return 0;
    }
    return sl_buf_append(&r->body, at, n) ? -1 : 0;
}

static int cb_message_complete(llhttp_t *p)
{
    sl_http_conn_t *hc = hc_of(p);
    hc->req_complete = 1;
    uv_timer_stop(&hc->timer);
    return HPE_PAUSED; /* one request at a time: resume after the response */
}

/* Splits url into path and query. The path is copied (NUL-terminated) to
 * the end of strings so the url stays whole for logs; strings may move
 * then, so every pointer into it is rebased. */
static void req_split_url(sl_http_req_t *r)
{
    char *q = strchr(r->url, '?');
    if (!q) {
        r->path = r->url;
        r->query = "";
        return;
    }
    char *old = r->strings.data;
    size_t url_off = (size_t)(r->url - old), plen = (size_t)(q - r->url);
    if (sl_buf_reserve(&r->strings, plen + 1)) {
        *q = '\0'; /* no memory: give up the '?' in the logged url instead */
        r->path = r->url;
        r->query = q + 1;
        return;
    }
    char *base = r->strings.data;
    if (base != old) {
        for (int i = 0; i < r->nheaders; i++) {
            r->headers[i].name = base + (r->headers[i].name - old);
            r->headers[i].value = base + (r->headers[i].value - old);
        }
    }
    r->url = base + url_off;
    size_t path_off = r->strings.len;
    sl_buf_append(&r->strings, r->url, plen); /* capacity reserved: no move */
    sl_buf_append_byte(&r->strings, '\0');
    r->path = r->strings.data + path_off;
    r->query = r->url + plen + 1;
}

/* ---- feeding ------------------------------------------------------------ */

static void http_dispatch(sl_http_conn_t *hc)
{
    sl_http_req_t *r = hc->req;
    req_split_url(r);
    r->address = sl_trust_client_address(hc->lim.trust_proxy, r->peer, r, r->address_buf, sizeof r->address_buf);
    hc->cb(r, hc->ud);
}

static void http_bad_request(sl_http_conn_t *hc, int status, const char *why)
{
    SL_INFO("http", "%s: %s, closing", hc->conn->peer, why);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status, sl_http_status_text(status));
    sl_conn_write(hc->conn, resp, (size_t)n);
    req_free(hc->req);
    hc->req = NULL;
    hc->closing = 1;
    sl_conn_close_after_write(hc->conn);
}

/* Runs the parser over pending input until it pauses on a complete request,
 * needs more bytes, or fails. */
static void http_feed(sl_http_conn_t *hc)
{
    if (hc->in_feed)
        return;
    hc->in_feed = 1;
    while (!hc->closing && !hc->detached && !hc->req_complete && hc->pending.len > 0) {
        llhttp_errno_t err = llhttp_execute(&hc->parser, hc->pending.data, hc->pending.len);
        size_t used = hc->pending.len;
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            used = (size_t)(llhttp_get_error_pos(&hc->parser) - hc->pending.data);
        } else if (err != HPE_OK) {
            /* 431 or 400 must not depend on how the bytes were split into
             * reads: llhttp hands a header over at the end of its span or
             * of the read, whichever comes first, so our count can pass
             * the limit before llhttp meets a bad byte further on in one
             * split and not in another. The head's raw length up to the
             * error (which covers everything counted) decides. */
            size_t at = hc->msg_fed + (size_t)(llhttp_get_error_pos(&hc->parser) - hc->pending.data);
            int big = hc->header_bytes > hc->lim.max_header_bytes ||
                      (!hc->headers_done && at > hc->lim.max_header_bytes);
            http_bad_request(hc, big || hc->too_many ? 431 : 400,
                             big ? "request header too large"
                             : hc->too_many ? "too many header fields" : llhttp_errno_name(err));
            break;
        }
        if (hc->req_complete) {
            hc->msg_fed = 0; /* the next execute starts the next message */
            if (hc->req->upgrade) {
                /* Leave the post-header bytes in pending for take_conn. */
                sl_buf_consume(&hc->pending, used);
                http_dispatch(hc);
                break;
            }
            sl_buf_consume(&hc->pending, used);
            http_dispatch(hc); /* may respond synchronously and loop on */
            continue;
        }
        hc->msg_fed += used;
        sl_buf_consume(&hc->pending, used);
    }
    hc->in_feed = 0;
}

static void http_on_data(sl_conn_t *c, const char *p, size_t n)
{
    sl_http_conn_t *hc = c->owner;
    if (hc->closing)
        return;
    if (sl_buf_append(&hc->pending, p, n)) {
        http_close(hc);
        return;
    }
    /* A client that pipelines a lot while we hold a request must not grow
     * memory without bound: stop reading until the response is out. */
    if (hc->req_complete && hc->pending.len > hc->lim.max_header_bytes + hc->lim.max_body_bytes)
        sl_conn_pause(c);
    http_feed(hc);
}

static void http_on_close(sl_conn_t *c)
{
    sl_http_conn_t *hc = c->owner;
    sl_http_req_t *r = hc->req;
    hc->req = NULL;
    if (r && hc->req_complete && r->on_abort) {
        r->hc = NULL;
        r->on_abort(r, r->abort_ud); /* the owner lets go; freed below */
    }
    if (r && !hc->req_complete && hc->headers_done && !hc->detached) {
        /* Cut off in the middle of its body. */
        r->hc = NULL;
        r->aborted = 1;
        req_split_url(r);
        hc->cb(r, hc->ud); /* the handler's sl_http_respond frees it */
        r = NULL;
    }
    req_free(r);
    sl_buf_free(&hc->pending);
    uv_timer_stop(&hc->timer);
    uv_close((uv_handle_t *)&hc->timer, http_timer_closed_cb); /* frees hc */
}

static void http_on_drain(sl_conn_t *c)
{
    sl_http_conn_t *hc = c->owner;
    if (!hc->closing && !hc->req_complete)
        sl_conn_resume(c);
}

static const sl_conn_handler_t http_conn_handler = {
    .on_data = http_on_data,
    .on_close = http_on_close,
    .on_drain = http_on_drain,
};

sl_http_conn_t *sl_http_conn_new(sl_conn_t *c, const sl_http_limits_t *lim,
                                 sl_http_request_cb cb, void *ud)
{
    sl_http_conn_t *hc = calloc(1, sizeof *hc);
    if (!hc) {
        sl_conn_close(c);
        return NULL;
    }
    hc->conn = c;
    hc->lim = *lim;
    hc->cb = cb;
    hc->ud = ud;
    llhttp_settings_init(&hc->settings);
    hc->settings.on_message_begin = cb_message_begin;
    hc->settings.on_url = cb_url;
    hc->settings.on_url_complete = cb_url_complete;
    hc->settings.on_header_field = cb_header_field;
    hc->settings.on_header_field_complete = cb_header_field_complete;
    hc->settings.on_header_value = cb_header_value;
    hc->settings.on_header_value_complete = cb_header_value_complete;
    hc->settings.on_headers_complete = cb_headers_complete;
    hc->settings.on_body = cb_body;
    hc->settings.on_message_complete = cb_message_complete;
    llhttp_init(&hc->parser, HTTP_REQUEST, &hc->settings);
    hc->parser.data = hc;
    uv_timer_init(c->tcp.loop, &hc->timer);
    hc->timer.data = hc;
    sl_conn_set_handler(c, &http_conn_handler, hc);
    /* A connection that never sends a request line is cut off too. */
    http_arm_timer(hc, hc->lim.header_timeout_ms);
    return hc;
}

/* ---- request accessors -------------------------------------------------- */

const char *sl_http_header_get(const sl_http_req_t *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

int sl_http_header_join(const sl_http_req_t *req, const char *name, sl_buf_t *out)
{
    int found = 0;
    for (int i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) != 0)
            continue;
        const char *v = req->headers[i].value, *e = v + strlen(v);
        while (v < e && is_ows(*v))
            v++;
        while (e > v && is_ows(e[-1]))
            e--;
        if ((found++ && sl_buf_append(out, ", ", 2)) || sl_buf_append(out, v, (size_t)(e - v)))
            return found;
    }
    return found;
}

int sl_http_header_has_token(const sl_http_req_t *req, const char *name, const char *token)
{
    size_t tl = strlen(token);
    for (int i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) != 0)
            continue;
        const char *v = req->headers[i].value;
        while (*v) {
            while (*v == ' ' || *v == ',' || *v == '\t')
                v++;
            const char *e = v;
            while (*e && *e != ',')
                e++;
            const char *t = e;
            while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            if ((size_t)(t - v) == tl && strncasecmp(v, token, tl) == 0)
                return 1;
            v = e;
        }
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sl_http_query_get(const sl_http_req_t *req, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    const char *q = req->query;
    while (*q) {
        const char *amp = strchr(q, '&');
        const char *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *kend = eq ? eq : end;
        if ((size_t)(kend - q) == kl && memcmp(q, key, kl) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : end; v < end; v++) {
                int c = (unsigned char)*v;
                if (c == '+')
                    c = ' ';
                else if (c == '%' && v + 2 < end && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    c = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                }
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return (int)o;
        }
        q = amp ? amp + 1 : end;
    }
    return -1;
}

int sl_http_resp_header(sl_http_req_t *req, const char *name, const char *value)
{
    if (!header_text_ok(name) || !header_text_ok(value) || !*name || strchr(name, ':'))
        return -EINVAL;
    if (sl_buf_append_str(&req->resp_headers, name) || sl_buf_append(&req->resp_headers, ": ", 2) ||
        sl_buf_append_str(&req->resp_headers, value) || sl_buf_append(&req->resp_headers, "\r\n", 2))
        return -ENOMEM;
    return 0;
}

/* ---- responses ---------------------------------------------------------- */

/* After a response: either close, or go on with the next pipelined request
 * and arm the keep-alive idle timer. */
static void http_after_response(sl_http_conn_t *hc, int keep_alive)
{
    hc->req_complete = 0;
    if (!keep_alive) {
        hc->closing = 1;
        sl_conn_close_after_write(hc->conn);
        return;
    }
    llhttp_resume(&hc->parser);
    sl_conn_resume(hc->conn);
    http_arm_timer(hc, hc->lim.keepalive_timeout_ms);
    if (hc->pending.len) {
        /* Deferred responses come from timers and other connections'
         * callbacks: feed now. Synchronous ones are inside http_feed
         * already, which loops. */
        http_feed(hc);
    }
}

/* Header names and values go to the wire as they are: no CR, LF or NUL may
 * reach it (that would let a value start a header of its own). */
static int header_text_ok(const char *v)
{
    for (; *v; v++)
        if (*v == '\r' || *v == '\n')
            return 0;
    return 1;
}

int sl_http_respond(sl_http_req_t *req, int status, const char *content_type,
                    const void *body, size_t len)
{
    sl_http_conn_t *hc = req->hc;
    if (!hc) { /* aborted: the peer is gone */
        req_free(req);
        return -EPIPE;
    }
    /* An upgrade answered over HTTP leaves llhttp in its upgrade state:
     * nothing more can be read on this connection. */
    int keep_alive = req->keep_alive && !hc->closing && !req->upgrade;
    if (content_type && !header_text_ok(content_type))
        content_type = "application/octet-stream";
    sl_buf_t head = SL_BUF_INIT;
    sl_buf_appendf(&head, "HTTP/1.1 %d %s\r\n", status, sl_http_status_text(status));
    if (content_type)
        sl_buf_appendf(&head, "Content-Type: %s\r\n", content_type);
    if (status != 304 && status != 204 && status != 101)
        sl_buf_appendf(&head, "Content-Length: %zu\r\n", len);
    sl_buf_append_str(&head, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    uv_buf_t bufs[4];
    unsigned nb = 0;
    bufs[nb++] = uv_buf_init(head.data, (unsigned)head.len);
    if (req->resp_headers.len)
        bufs[nb++] = uv_buf_init(req->resp_headers.data, (unsigned)req->resp_headers.len);
    bufs[nb++] = uv_buf_init("\r\n", 2);
    if (len && !req->is_head && status != 304 && status != 204)
        bufs[nb++] = uv_buf_init((char *)body, (unsigned)len);
    int rc = sl_conn_writev_uncapped(hc->conn, bufs, nb);
    sl_buf_free(&head);
    hc->req = NULL;
    req_free(req);
    if (rc) {
        http_close(hc);
        return rc;
    }
    http_after_response(hc, keep_alive);
    /* A big response (a file) sits in user space: read no further request
     * until it is out, so pipelining can't pile responses up. */
    if (keep_alive && sl_conn_queued(hc->conn) > hc->lim.write_queue_cap)
        sl_conn_pause(hc->conn);
    return 0;
}

/* ---- compressed responses ------------------------------------------------ */

void sl_http_compress_init(sl_http_compress_t *z)
{
    z->enabled = 1;
    z->threshold = 1024;
    z->level = 6;
}

static int is_js_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* One Accept-Encoding entry as negotiator 0.6 reads it (/^\s*([^\s;]+)\s*
 * (?:;(.*))?$/ on the trimmed text, q from the first "q=" parameter by
 * parseFloat): 0 when it is none. */
static int coding_entry(const char *p, const char *e, const char **name, size_t *nlen, double *q)
{
    while (p < e && is_js_space(*p))
        p++;
    while (e > p && is_js_space(e[-1]))
        e--;
    const char *t = p;
    while (t < e && !is_js_space(*t) && *t != ';')
        t++;
    if (t == p)
        return 0;
    *name = p;
    *nlen = (size_t)(t - p);
    while (t < e && is_js_space(*t))
        t++;
    *q = 1;
    if (t == e)
        return 1;
    if (*t != ';')
        return 0;
    for (const char *a = t + 1; a <= e;) {
        const char *b = memchr(a, ';', (size_t)(e - a));
        if (!b)
            b = e;
        const char *x = a, *y = b;
        while (x < y && is_js_space(*x))
            x++;
        while (y > x && is_js_space(y[-1]))
            y--;
        /* split('='): the name is what comes before the first '='. */
        const char *eq = memchr(x, '=', (size_t)(y - x));
        if ((eq ? eq : y) - x == 1 && *x == 'q') {
            const char *v = eq ? eq + 1 : y, *ve = eq ? memchr(v, '=', (size_t)(y - v)) : NULL;
            if (!ve)
                ve = y;
            while (v < ve && is_js_space(*v))
                v++;
            if (!eq || !sl_json_js_decimal(v, ve, q))
                *q = NAN;
            return 1;
        }
        a = b + 1;
    }
    return 1;
}

/* negotiator's priority of one offered coding: the best-matching entry,
 * an exact name (s = 1) over "*" (s = 0), then higher q, then the later
 * entry, compared as its `a - b || ...` chain does (NaN counts as 0). */
typedef struct coding_prio {
    double q;
    int s, o, i;
} coding_prio_t;

static int js_lt0(double d) { return d < 0; }

static coding_prio_t coding_priority(const char *h, size_t hl, const char *coding, int index)
{
    coding_prio_t best = {0, 0, -1, index};
    const char *p = h, *end = h + hl;
    for (int i = 0; p <= end; i++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c)
            c = end;
        const char *name;
        size_t nl;
        double q;
        if (coding_entry(p, c, &name, &nl, &q)) {
            int s = -1;
            if (nl == strlen(coding) && !strncasecmp(name, coding, nl))
                s = 1;
            else if (nl == 1 && *name == '*')
                s = 0;
            if (s >= 0) {
                double dq = best.q - q;
                int take = best.s != s ? best.s < s : (dq != 0 && !isnan(dq)) ? js_lt0(dq) : best.o < i;
                if (take)
                    best = (coding_prio_t){q, s, i, index};
            }
        }
        p = c + 1;
    }
    return best;
}

sl_zcoding_t sl_http_accepted_coding(const sl_http_req_t *req)
{
    sl_buf_t h = SL_BUF_INIT;
    sl_http_header_join(req, "accept-encoding", &h);
    coding_prio_t g = coding_priority(h.data ? h.data : "", h.len, "gzip", 0);
    coding_prio_t d = coding_priority(h.data ? h.data : "", h.len, "deflate", 1);
    sl_buf_free(&h);
    int gz = g.q > 0, df = d.q > 0; /* isQuality: NaN and 0 are out */
    if (gz && df) {
        /* compareSpecs: q, then s, then o; gzip comes first in the list. */
        int deflate_first = d.q != g.q ? d.q > g.q : d.s != g.s ? d.s > g.s : d.o < g.o;
        return deflate_first ? SL_ZCODING_DEFLATE : SL_ZCODING_GZIP;
    }
    return gz ? SL_ZCODING_GZIP : df ? SL_ZCODING_DEFLATE : SL_ZCODING_IDENTITY;
}

int sl_http_respond_compressed(sl_http_req_t *req, int status, const char *content_type,
                               const void *body, size_t len, const sl_http_compress_t *z)
{
    sl_zcoding_t coding = z && z->enabled && len >= z->threshold && !req->is_head
                              ? sl_http_accepted_coding(req)
                              : SL_ZCODING_IDENTITY;
    sl_buf_t enc = SL_BUF_INIT;
    if (coding != SL_ZCODING_IDENTITY && sl_zencode(coding, z->level, body, len, &enc) == 0 &&
        sl_http_resp_header(req, "Content-Encoding", sl_zcoding_name(coding)) == 0) {
        int rc = sl_http_respond(req, status, content_type, enc.data, enc.len);
        sl_buf_free(&enc);
        return rc;
    }
    sl_buf_free(&enc);
    return sl_http_respond(req, status, content_type, body, len);
}

int sl_http_respond_text(sl_http_req_t *req, int status, const char *text)
{
    const char *ct = text[0] == '{' ? "application/json" : "text/plain; charset=utf-8";
    return sl_http_respond(req, status, ct, text, strlen(text));
}

sl_conn_t *sl_http_take_conn(sl_http_req_t *req, sl_buf_t *rest)
{
    sl_http_conn_t *hc = req->hc;
    if (!hc)
        return NULL;
    sl_conn_t *c = hc->conn;
    *rest = hc->pending;
    memset(&hc->pending, 0, sizeof hc->pending);
    hc->detached = 1;
    hc->req = NULL;
    req_free(req);
    uv_timer_stop(&hc->timer);
    uv_close((uv_handle_t *)&hc->timer, http_timer_closed_cb); /* frees hc */
    sl_conn_set_handler(c, NULL, NULL);
    return c;
}
