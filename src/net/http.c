/* L1 net/http: HTTP/1.1 request parsing (llhttp) and response writing on an L0
 * conn. One request is in flight per connection; bytes of a pipelined next
 * request wait in `pending` until the current one is answered. */
#define _GNU_SOURCE /* qsort_r */
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
    sl_http_limits_t lim;
    sl_http_shared_t *shared;
    sl_http_request_cb cb;
    void *ud;
    uv_timer_t timer;            /* header/request deadline, then keep-alive idle */
    uint64_t timer_due;          /* the loop time it was last armed for */
    sl_http_req_t *req;          /* being parsed or being answered */
    sl_buf_t pending;            /* input not yet fed to the parser */
    size_t header_bytes;
    size_t msg_fed;              /* bytes of the message being parsed that
                                    earlier llhttp_execute calls took */
    uint64_t req_start;          /* loop time of the request's first byte */
    /* Offsets into req->strings while parsing (hdr_pos_t), resolved into
     * req->headers at headers end. */
    size_t url_off, url_len;
    sl_buf_t hdrs;
    size_t nh;
    int last_was_value;
    /* What tells a folded header line (obs-fold) from a value that came in
     * two reads: where llhttp_execute started, where the last header span
     * ended in this call (NULL: in an earlier one), and whether a line
     * ended after it (in the bytes before this call). */
    const char *feed_base;
    size_t feed_len;             /* the bytes from feed_base this call parses */
    const char *span_end;
    int nl_after_span;
    /* Set by a callback that refuses the request: the status and reason
     * http_feed answers with once llhttp returns the error. */
    int refuse_status;
    const char *refuse_why;
    unsigned req_complete : 1;   /* the handler has it, no response yet */
    unsigned closing : 1;
    unsigned timer_closed : 1;
    unsigned detached : 1;       /* conn taken by an upgrade */
    unsigned in_feed : 1;
    unsigned headers_done : 1;   /* of the request being parsed */
    /* A field past the most header lines (lim.max_headers) is not stored
     * (skipping) and the request is refused (431) at the end of its name,
     * which llhttp reaches at the same byte however the reads were split
     * (refusing where its first piece arrives would not be: a read ending
     * inside a name hands that piece over before a bad byte after it). */
    unsigned skipping : 1;
};

/* A header line while the head is parsed: the offsets of its name and
 * value (NUL-terminated) in req->strings. As big as an sl_http_header_t,
 * so that at the end of the head the list turns into req->headers where
 * it is, instead of being copied into an allocation of its own. */
typedef union hdr_pos {
    struct {
        uint32_t name, value;
    };
    sl_http_header_t header;
} hdr_pos_t;
_Static_assert(sizeof(hdr_pos_t) == sizeof(sl_http_header_t), "a list of hdr_pos_t is one of sl_http_header_t");

static const sl_conn_handler_t http_conn_handler;
static void http_feed(sl_http_conn_t *hc, const char *in, size_t n);
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
    case 505: return "HTTP Version Not Supported";
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
    r->peer = sl_conn_peer(hc->conn, r->peer_buf);
    r->address = r->peer;
    return r;
}

static void req_free(sl_http_req_t *r)
{
    if (!r)
        return;
    if (r->shared)
        r->shared->body_bytes -= r->body_held;
    free(r->headers);
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

static void http_bad_request(sl_http_conn_t *hc, int status, const char *why);

/* A request that started and did not arrive whole in time gets 408 (as
 * Node answers both its headersTimeout and its requestTimeout); an idle
 * connection, before a request or between two, just closes. */
static void http_timer_cb(uv_timer_t *t)
{
    sl_http_conn_t *hc = t->data;
    if (hc->req_complete)
        return;
    if (hc->req)
        http_bad_request(hc, 408, hc->headers_done ? "request timeout" : "request header timeout");
    else
        http_close(hc);
}

static void http_arm_timer(sl_http_conn_t *hc, uint64_t ms)
{
    if (!ms) {
        uv_timer_stop(&hc->timer);
        return;
    }
    /* Armed for that moment already (a request whose first byte came in
     * the millisecond its connection did: the header deadline is the
     * same): left in the loop's timer heap as it is. */
    uint64_t due = uv_now(hc->conn->tcp.loop) + ms;
    if (due == hc->timer_due && uv_is_active((uv_handle_t *)&hc->timer))
        return;
    hc->timer_due = due;
    uv_timer_start(&hc->timer, http_timer_cb, ms, 0);
}

/* The request's deadline: its headers within header_timeout_ms, all of it
 * within request_timeout_ms, both counted from its first byte. A body
 * trickled a byte at a time gets no more time than one sent at once. */
static void http_arm_deadline(sl_http_conn_t *hc)
{
    uint64_t now = uv_now(hc->conn->tcp.loop), spent = now - hc->req_start;
    uint64_t left = hc->lim.request_timeout_ms > spent ? hc->lim.request_timeout_ms - spent : 1;
    if (!hc->headers_done && hc->lim.header_timeout_ms) {
        uint64_t h = hc->lim.header_timeout_ms > spent ? hc->lim.header_timeout_ms - spent : 1;
        if (!hc->lim.request_timeout_ms || h < left)
            left = h;
    } else if (!hc->lim.request_timeout_ms) {
        left = 0;
    }
    http_arm_timer(hc, left);
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
    sl_buf_reset(&hc->hdrs);
    hc->last_was_value = 0;
    hc->nl_after_span = 0;
    hc->header_bytes = 0;
    hc->headers_done = 0;
    hc->skipping = 0;
    hc->req_start = uv_now(hc->conn->tcp.loop);
    /* The head's URL, names and values fit in the bytes they came in
     * (less their separators): one allocation for them when the head came
     * in this read, instead of the buffer doubling from 64 bytes (four
     * reallocs for a WebSocket upgrade's head). Bounded: the read may hold
     * a body, or requests pipelined after this one. */
    size_t head = hc->feed_len < 2048 ? hc->feed_len : 2048;
    if (sl_buf_reserve(&hc->req->strings, head) || sl_buf_reserve(&hc->hdrs, 12 * sizeof(hdr_pos_t)))
        return -1;
    http_arm_deadline(hc);
    return 0;
}

static int add_header_bytes(sl_http_conn_t *hc, size_t n)
{
    hc->header_bytes += n;
    return hc->header_bytes > hc->lim.max_header_bytes ? -1 : 0;
}

static int refuse(sl_http_conn_t *hc, int status, const char *why)
{
    hc->refuse_status = status;
    hc->refuse_why = why;
    return HPE_USER;
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
 * like a field past the most header lines, which is refused at its end. */
static int field_ignored(const sl_http_conn_t *hc) { return hc->headers_done || hc->skipping; }

static hdr_pos_t *hdr_last(sl_http_conn_t *hc) { return (hdr_pos_t *)hc->hdrs.data + hc->nh - 1; }

static int cb_header_field(llhttp_t *p, const char *at, size_t n)
{
    sl_http_conn_t *hc = hc_of(p);
    if (hc->headers_done)
        return 0;
    if (add_header_bytes(hc, n))
        return HPE_USER;
    sl_buf_t *s = &hc->req->strings;
    if (hc->nh == hc->lim.max_headers && (hc->nh == 0 || hc->last_was_value))
        hc->skipping = 1; /* a new field past the most: refused at the end of its name */
    if (hc->skipping)
        return 0;
    if (hc->nh == 0 || hc->last_was_value) {
        hdr_pos_t pos = {.name = (uint32_t)s->len, .value = 0};
        if (sl_buf_append(&hc->hdrs, &pos, sizeof pos))
            return -1;
        hc->nh++;
        hc->last_was_value = 0;
    }
    hc->span_end = at + n;
    hc->nl_after_span = 0;
    return sl_buf_append(s, at, n) ? -1 : 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    if (hc_of(p)->skipping && !hc_of(p)->headers_done)
        return refuse(hc_of(p), 431, "too many header lines");
    if (field_ignored(hc_of(p)))
        return 0;
    return sl_buf_append_byte(&hc_of(p)->req->strings, '\0') ? -1 : 0;
}

/* Whether a line ends in [p, end): between a name and its value that is
 * ": " or so, where a loop costs less than a call to memchr. */
static int line_end_in(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p == '\n')
            return 1;
    return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t n)
{
    sl_http_conn_t *hc = hc_of(p);
    if (hc->headers_done)
        return 0;
    /* A value starts on its name's line. llhttp takes a line folded onto
     * the next (obs-fold) even in strict mode, after an empty value too,
     * skipping the fold's whitespace: a value piece with a line end
     * between it and the span before it (the name, or the value's first
     * line) is a fold. RFC 9112 5.2 lets a server refuse those with 400;
     * smuggling relies on servers that read them differently. (An empty
     * value comes as an empty piece after its line end: not a fold.)
     * Checked before the piece is counted: a fold's first piece is all of
     * it in one read and a byte of it in another, so counting first would
     * make the same head 431 or 400 by how it was split. */
    const char *from = hc->span_end ? hc->span_end : hc->feed_base;
    if (n && (hc->nl_after_span || line_end_in(from, at)))
        return refuse(hc, 400, "folded header line (obs-fold)");
    if (add_header_bytes(hc, n))
        return HPE_USER;
    if (hc->skipping)
        return 0;
    sl_buf_t *s = &hc->req->strings;
    hc->span_end = at + n;
    hc->nl_after_span = 0;
    if (!hc->last_was_value) {
        hdr_last(hc)->value = (uint32_t)s->len;
        hc->last_was_value = 1;
    }
    return sl_buf_append(s, at, n) ? -1 : 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    sl_http_conn_t *hc = hc_of(p);
    if (field_ignored(hc))
        return 0;
    sl_buf_t *s = &hc->req->strings;
    if (!hc->last_was_value) { /* empty value: no on_header_value call */
        hdr_last(hc)->value = (uint32_t)s->len;
        hc->last_was_value = 1;
    }
    /* Whitespace after a value is not part of it (RFC 9110 5.5); llhttp
     * leaves it out when the line comes whole, not when it comes in
     * pieces. */
    while (s->len > hdr_last(hc)->value && (s->data[s->len - 1] == ' ' || s->data[s->len - 1] == '\t'))
        s->len--;
    return sl_buf_append_byte(s, '\0') ? -1 : 0;
}

/* How Node's IncomingMessage files a header whose name came before: the
 * names below keep their first value (a second Authorization or Host must
 * not override the first: Node and the proxies in front agree on which
 * counts), Cookie values join with "; ", every other name with ", ". */
enum { DUP_JOIN, DUP_FIRST, DUP_COOKIE };

static int dup_rule(const char *name)
{
    static const char *const first[] = {
        "age", "authorization", "content-length", "content-type", "etag", "expires", "from",
        "host", "if-modified-since", "if-unmodified-since", "last-modified", "location",
        "max-forwards", "proxy-authorization", "referer", "retry-after", "server", "user-agent",
    };
    if (!strcasecmp(name, "cookie"))
        return DUP_COOKIE;
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
        if (!strcasecmp(name, first[i]))
            return DUP_FIRST;
    return DUP_JOIN;
}

typedef struct hdr_sort {
    const char *base;
    const hdr_pos_t *pos;
} hdr_sort_t;

/* By name, then by position: the first line of a name sorts first. */
static int hdr_cmp(const void *a, const void *b, void *ud)
{
    const hdr_sort_t *h = ud;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    int c = strcasecmp(h->base + h->pos[i].name, h->base + h->pos[j].name);
    return c ? c : (i > j) - (i < j);
}

/* Whether a name comes twice among a few headers: compared pairwise,
 * lengths first, it costs less than the sort below (and its malloc). */
static int headers_repeat(const char *base, const hdr_pos_t *pos, size_t n)
{
    size_t len[16];
    for (size_t i = 0; i < n; i++)
        len[i] = strlen(base + pos[i].name);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (len[i] == len[j] && !strcasecmp(base + pos[i].name, base + pos[j].name))
                return 1;
    return 0;
}

/* Merges repeated names into their first line (dup_rule), keeping the
 * order of first appearances. Sorting indexes by name finds the repeats
 * in n log n, so the most header lines a request may have cost little.
 * Joined values go to the end of req->strings (offsets stay valid). */
static int headers_merge(sl_http_conn_t *hc)
{
    sl_http_req_t *r = hc->req;
    hdr_pos_t *pos = (hdr_pos_t *)hc->hdrs.data;
    size_t n = hc->nh;
    if (n < 2)
        return 0;
    if (n <= 16 && !headers_repeat(r->strings.data, pos, n))
        return 0; /* the common case: a few headers, each once */
    uint32_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    hdr_sort_t ctx = {r->strings.data, pos};
    qsort_r(idx, n, sizeof *idx, hdr_cmp, &ctx);
    int rc = 0;
    for (size_t a = 0, b; a < n; a = b) {
        /* Joined values are appended as we go: read names through the
         * buffer as it is now, not as it was when sorting. */
        const char *base = r->strings.data;
        for (b = a + 1; b < n && !strcasecmp(base + pos[idx[a]].name, base + pos[idx[b]].name); b++)
            ;
        if (b - a == 1)
            continue;
        hdr_pos_t *keep = &pos[idx[a]];
        int rule = dup_rule(r->strings.data + keep->name);
        if (rule != DUP_FIRST) {
            size_t off = r->strings.len;
            const char *sep = rule == DUP_COOKIE ? "; " : ", ";
            for (size_t k = a; k < b && !rc; k++) {
                uint32_t v = pos[idx[k]].value;
                /* The source may move as the buffer grows: copy by offset. */
                size_t vl = strlen(r->strings.data + v);
                if ((k > a && sl_buf_append_str(&r->strings, sep)) || sl_buf_reserve(&r->strings, vl))
                    rc = -1;
                else
                    sl_buf_append(&r->strings, r->strings.data + v, vl);
            }
            if (rc || sl_buf_append_byte(&r->strings, '\0')) {
                rc = -1;
                break;
            }
            keep->value = (uint32_t)off;
        }
        for (size_t k = a + 1; k < b; k++)
            pos[idx[k]].name = UINT32_MAX; /* dropped */
    }
    free(idx);
    return rc;
}

static int cb_headers_complete(llhttp_t *p)
{
    sl_http_conn_t *hc = hc_of(p);
    sl_http_req_t *r = hc->req;
    if (p->http_major != 1)
        return p->http_major == 0 ? refuse(hc, 400, "request line without HTTP version")
                                  : refuse(hc, 505, "HTTP version not supported");
    if (headers_merge(hc))
        return -1;
    /* The strings buffer is final now: turn offsets into pointers, in
     * place (an entry is read before it or one before it is written), and
     * the list goes with the request (a long one must not stay with the
     * conn). */
    char *base = r->strings.data;
    hdr_pos_t *pos = (hdr_pos_t *)hc->hdrs.data;
    r->method = llhttp_method_name((llhttp_method_t)p->method);
    r->url = hc->url_len ? base + hc->url_off : "/";
    r->nheaders = 0;
    for (size_t i = 0; i < hc->nh; i++) {
        uint32_t name = pos[i].name, value = pos[i].value;
        if (name == UINT32_MAX)
            continue;
        pos[r->nheaders].header = (sl_http_header_t){base + name, base + value};
        r->nheaders++;
    }
    r->headers = pos ? &pos->header : NULL;
    hc->hdrs = (sl_buf_t)SL_BUF_INIT;
    r->keep_alive = llhttp_should_keep_alive(p) ? 1 : 0;
    r->is_head = p->method == HTTP_HEAD;
    r->upgrade = p->upgrade ? 1 : 0;
    hc->headers_done = 1;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > hc->lim.max_body_bytes) {
        /* Don't read (or wait for) a body we will refuse: answer now and
         * close the connection afterwards, since its body stays unread. */
        uv_timer_stop(&hc->timer);
        r->body_too_large = 1;
        r->keep_alive = 0;
        hc->req_complete = 1;
        return HPE_PAUSED;
    }
    int chunked = (p->flags & F_CHUNKED) != 0;
    uint64_t declared = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
    if (hc->shared && (chunked || declared)) {
        /* Bodies wait in memory until they are whole: all the conns
         * together may hold max_buffered_bytes. A declared length is
         * counted at once, so a slow sender can't slip in under the cap;
         * a chunked body counts as it comes. */
        if (hc->shared->body_bytes + declared > hc->lim.max_buffered_bytes ||
            (chunked && hc->shared->body_bytes >= hc->lim.max_buffered_bytes)) {
            SL_LOG_EVERY(&hc->shared->busy, SL_LOG_WARN, "http",
                         "request bodies held: %zu bytes, the most maxBufferedRequestBytes "
                         "allows is %zu: answering 503 to %s",
                         hc->shared->body_bytes, hc->lim.max_buffered_bytes, r->peer);
            return refuse(hc, 503, NULL);
        }
        r->shared = hc->shared;
        r->body_held = (size_t)declared;
        hc->shared->body_bytes += r->body_held;
    }
    /* The whole request's deadline, for its body. Without one (no length,
     * no chunks, as an upgrade's) llhttp completes the message right
     * after this, and cb_message_complete stops the timer. */
    if (chunked || declared)
        http_arm_deadline(hc);
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t n)
{
    sl_http_req_t *r = hc_of(p)->req;
    if (r->body_too_large)
        return 0;
    if (r->body.len + n > hc_of(p)->lim.max_body_bytes) {
        r->body_too_large = 1;
        sl_buf_free(&r->body);
        if (r->shared) { /* nothing is held any more */
            r->shared->body_bytes -= r->body_held;
            r->body_held = 0;
            r->shared = NULL;
        }
        return 0;
    }
    if (r->shared && r->body.len + n > r->body_held) { /* chunked: count as it comes */
        r->shared->body_bytes += r->body.len + n - r->body_held;
        r->body_held = r->body.len + n;
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

/* Answers a request the parser refused (or that ran out of time) and
 * closes. why: for the log, which says it once per interval for all the
 * conns of the server; NULL when the caller logged already. */
static void http_bad_request(sl_http_conn_t *hc, int status, const char *why)
{
    /* shared may be NULL (sl_http_conn_new): then one throttle for all. */
    static sl_http_shared_t unshared = {0, SL_LOG_EVERY_INIT, SL_LOG_EVERY_INIT, SL_LOG_EVERY_INIT};
    sl_http_shared_t *sh = hc->shared ? hc->shared : &unshared;
    sl_log_every_t *e = status == 408 ? &sh->timeout : &sh->bad;
    char peer[SL_CONN_PEER_MAX];
    if (why)
        SL_LOG_EVERY(e, SL_LOG_INFO, "http", "%s: %s: answered %d, closing",
                     sl_conn_peer(hc->conn, peer), why, status);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n%sConnection: close\r\n\r\n", status,
                     sl_http_status_text(status), status == 503 ? "Retry-After: 1\r\n" : "");
    sl_conn_write(hc->conn, resp, (size_t)n);
    req_free(hc->req);
    hc->req = NULL;
    hc->closing = 1;
    uv_timer_stop(&hc->timer);
    sl_conn_close_after_write(hc->conn);
}

/* Runs the parser over the input until it pauses on a complete request,
 * needs more bytes, or fails. The input is pending, or (in, n): a read
 * that found nothing pending, parsed where it lies, which is how the
 * first request of a connection nearly always comes (no copy, and no
 * buffer for it). What a complete request leaves of such a read goes to
 * pending before the request is handed over: the next request's bytes,
 * or those after an upgrade's head, which take_conn passes on. */
static void http_feed(sl_http_conn_t *hc, const char *in, size_t n)
{
    if (hc->in_feed)
        return;
    hc->in_feed = 1;
    for (;;) {
        const char *data = in ? in : hc->pending.data;
        size_t len = in ? n : hc->pending.len;
        if (hc->closing || hc->detached || hc->req_complete || len == 0)
            break;
        hc->feed_base = data;
        hc->feed_len = len;
        hc->span_end = NULL;
        llhttp_errno_t err = llhttp_execute(&hc->parser, data, len);
        size_t used = len;
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            used = (size_t)(llhttp_get_error_pos(&hc->parser) - data);
        } else if (err != HPE_OK) {
            /* 431 or 400 must not depend on how the bytes were split into
             * reads: llhttp hands a header over at the end of its span or
             * of the read, whichever comes first, so our count can pass
             * the limit before llhttp meets a bad byte further on in one
             * split and not in another. The head's raw length up to the
             * error (which covers everything counted) decides. */
            char why[160];
            int status = hc->refuse_status;
            size_t at = hc->msg_fed + (size_t)(llhttp_get_error_pos(&hc->parser) - data);
            if (status) {
                snprintf(why, sizeof why, "%s", hc->refuse_why ? hc->refuse_why : "");
            } else if (hc->header_bytes > hc->lim.max_header_bytes ||
                       (!hc->headers_done && at > hc->lim.max_header_bytes)) {
                status = 431;
                snprintf(why, sizeof why, "request header over %zu bytes", hc->lim.max_header_bytes);
            } else {
                status = 400;
                snprintf(why, sizeof why, "%s (%s)", llhttp_errno_name(err),
                         llhttp_get_error_reason(&hc->parser) ? llhttp_get_error_reason(&hc->parser) : "");
            }
            http_bad_request(hc, status, status == 503 ? NULL : why);
            break;
        }
        if (hc->req && !hc->headers_done) {
            /* Headers go on in the next read: note whether a line ended
             * after the last span, for cb_header_value. */
            const char *from = hc->span_end ? hc->span_end : data;
            const char *end = data + used;
            if (from < end && memchr(from, '\n', (size_t)(end - from)))
                hc->nl_after_span = 1;
        }
        if (in) {
            in += used;
            n -= used;
        } else {
            sl_buf_consume(&hc->pending, used);
        }
        if (hc->req_complete) {
            hc->msg_fed = 0; /* the next execute starts the next message */
            if (in) {
                /* The rest of the read waits in pending from here on. */
                if (n && sl_buf_append(&hc->pending, in, n)) {
                    http_close(hc);
                    break;
                }
                in = NULL;
            }
            /* An upgrade's post-header bytes stay in pending for
             * take_conn; any other request may be answered at once and
             * the next one parsed. */
            int upgrade = hc->req->upgrade;
            http_dispatch(hc);
            if (upgrade)
                break;
            continue;
        }
        hc->msg_fed += used;
    }
    hc->in_feed = 0;
}

static void http_on_data(sl_conn_t *c, const char *p, size_t n)
{
    sl_http_conn_t *hc = c->owner;
    if (hc->closing)
        return;
    if (hc->pending.len == 0 && !hc->req_complete && !hc->in_feed) {
        http_feed(hc, p, n);
        return;
    }
    if (sl_buf_append(&hc->pending, p, n)) {
        http_close(hc);
        return;
    }
    /* A client that pipelines a lot while we hold a request must not grow
     * memory without bound: stop reading until the response is out. */
    if (hc->req_complete && hc->pending.len > hc->lim.max_header_bytes + hc->lim.max_body_bytes)
        sl_conn_pause(c);
    http_feed(hc, NULL, 0);
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
    sl_buf_free(&hc->hdrs);
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
                                 sl_http_shared_t *shared, sl_http_request_cb cb, void *ud)
{
    sl_http_conn_t *hc = calloc(1, sizeof *hc);
    if (!hc) {
        sl_conn_close(c);
        return NULL;
    }
    hc->conn = c;
    hc->lim = *lim;
    hc->shared = shared;
    hc->cb = cb;
    hc->ud = ud;
    /* The callbacks are the same for every connection: one table, which
     * llhttp only reads. */
    static const llhttp_settings_t settings = {
        .on_message_begin = cb_message_begin,
        .on_url = cb_url,
        .on_url_complete = cb_url_complete,
        .on_header_field = cb_header_field,
        .on_header_field_complete = cb_header_field_complete,
        .on_header_value = cb_header_value,
        .on_header_value_complete = cb_header_value_complete,
        .on_headers_complete = cb_headers_complete,
        .on_body = cb_body,
        .on_message_complete = cb_message_complete,
    };
    llhttp_init(&hc->parser, HTTP_REQUEST, &settings);
    /* Off by default, and said here so no one turns them on unawares: each
     * lets through a request that some proxy in front reads differently
     * (request smuggling). The build also compiles llhttp in strict mode,
     * which checks the CRLF after chunk data and refuses "Host : x". */
    llhttp_set_lenient_headers(&hc->parser, 0);
    llhttp_set_lenient_chunked_length(&hc->parser, 0);
    llhttp_set_lenient_keep_alive(&hc->parser, 0);
    llhttp_set_lenient_transfer_encoding(&hc->parser, 0);
    hc->parser.data = hc;
    uv_timer_init(c->tcp.loop, &hc->timer);
    hc->timer.data = hc;
    sl_conn_set_handler(c, &http_conn_handler, hc);
    /* A connection that never sends a request line is cut off too. */
    http_arm_timer(hc, hc->lim.header_timeout_ms);
    return hc;
}

/* ---- request accessors -------------------------------------------------- */

/* Whether header name a is b, in any case: the first bytes are compared
 * here, so that the names of the other headers of a request cost no
 * strcasecmp call (a WebSocket upgrade looks up four names among five). */
static int same_name(const char *a, const char *b)
{
    unsigned char x = (unsigned char)a[0], y = (unsigned char)b[0];
    if (x >= 'A' && x <= 'Z')
        x += 'a' - 'A';
    if (y >= 'A' && y <= 'Z')
        y += 'a' - 'A';
    return x == y && !strcasecmp(a, b);
}

const char *sl_http_header_get(const sl_http_req_t *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (same_name(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

int sl_http_header_join(const sl_http_req_t *req, const char *name, sl_buf_t *out)
{
    int found = 0;
    for (int i = 0; i < req->nheaders; i++) {
        if (!same_name(req->headers[i].name, name))
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
        if (!same_name(req->headers[i].name, name))
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
                    return -2;
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
        http_feed(hc, NULL, 0);
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
    sl_buf_free(&hc->hdrs);
    uv_timer_stop(&hc->timer);
    uv_close((uv_handle_t *)&hc->timer, http_timer_closed_cb); /* frees hc */
    sl_conn_set_handler(c, NULL, NULL);
    return c;
}
