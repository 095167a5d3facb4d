/* tests/fuzz/fuzz_http.c: the HTTP request path with its limits (net/http on
 * llhttp, on a real net/conn), fed through a real socket and a real libuv
 * loop: one Unix-domain socket pair per input (the server's end opened as
 * the server opens an accepted socket, sl_conn_open), the client's bytes
 * written in pieces with the loop run after each, so http.c sees exactly
 * those reads.
 *
 * Input: a byte picking the limits (header and body caps; with the larger
 * two, every peer is a trusted proxy, so X-Forwarded-For is read), a byte picking
 * the split into reads (fuzz_split_t), a byte picking how the handler
 * answers (at once, or after the next read arrives, as a long-polling GET
 * or a relayed request is answered), then the bytes a client sends.
 *
 * Invariants, each input run whole and split:
 *   - a delivered request is within the limits (header bytes, header
 *     lines, body), its path/query split the URL, and body_too_large means no body;
 *   - every response on the wire is one of ours (200, or 413 for a body
 *     over the cap) or one the limits define (400, 431, 505), framed so the
 *     next one starts where its Content-Length says;
 *   - the server closes the connection once the client has closed its side
 *     and its requests are answered (nothing is left hanging);
 *   - split or whole, the same requests are delivered and the same bytes
 *     answered. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "net/conn.h"
#include "net/http.h"
#include "net/trust.h"

#include <arpa/inet.h>

static uv_loop_t loop;
static sl_http_shared_t shared;

/* Header bytes, header lines and body caps; the timeouts are never reached
 * (the loop only runs for a moment per read), nor the bodies held across
 * conns (one conn at a time). */
#define LIMITS(h, nh, b, cap)                                                      \
    {.max_header_bytes = h, .max_headers = nh, .max_body_bytes = b,                \
     .max_buffered_bytes = 64 << 20, .header_timeout_ms = 600000,                  \
     .keepalive_timeout_ms = 600000, .write_queue_cap = cap}
static sl_http_limits_t limit_table[] = {
    LIMITS(64, 2, 0, 1 << 20),
    LIMITS(200, 8, 10, 1 << 20),
    LIMITS(1024, 64, 100, 1 << 20),
    LIMITS(16384, 2000, 1000000, 16 << 20), /* the server's defaults */
};
/* The last two trust every peer (ours is 0.0.0.0 on a Unix socket), so
 * X-Forwarded-For is walked (net/trust). */
static sl_trust_t trust_all;

typedef struct run {
    sl_http_limits_t lim;
    int defer;              /* answer after the next read, not at once */
    sl_http_req_t *held;    /* a request answered later */
    sl_buf_t log;           /* what was delivered, for whole vs split */
    sl_buf_t out;           /* what the client received */
    sl_buf_t heads;         /* per response of ours: 1 when it was for HEAD */
} run_t;

static run_t *cur;

static void log_str(run_t *r, const char *s)
{
    if (sl_buf_append_str(&r->log, s ? s : "(null)") || sl_buf_append_byte(&r->log, '\0'))
        abort();
}

static void check_request(run_t *r, sl_http_req_t *req)
{
    FUZZ_CHECK(req->method && req->url && req->path && req->query);
    FUZZ_CHECK(req->nheaders >= 0 && (size_t)req->nheaders <= r->lim.max_headers);
    size_t hbytes = strlen(req->url);
    for (int i = 0; i < req->nheaders; i++)
        hbytes += strlen(req->headers[i].name) + strlen(req->headers[i].value);
    /* Repeated names are joined into their first line ("a: x" twice is
     * "a: x, y"): a join adds a 2-byte separator and drops a name of at
     * least one byte, so the parsed head may pass the raw limit by one
     * byte per header line, never more. */
    FUZZ_CHECK(hbytes <= r->lim.max_header_bytes + r->lim.max_headers);
    FUZZ_CHECK(req->body.len <= r->lim.max_body_bytes);
    FUZZ_CHECK(!req->body_too_large || req->body.len == 0);
    size_t pl = strlen(req->path);
    FUZZ_CHECK(!strncmp(req->url, req->path, pl));
    FUZZ_CHECK(req->url[pl] == '\0' ? req->query[0] == '\0' && !strchr(req->url, '?')
                                    : req->url[pl] == '?' && !strcmp(req->query, req->url + pl + 1));
    /* The client's address: the peer's, or one X-Forwarded-For gave. */
    unsigned char ip[16];
    FUZZ_CHECK(req->address && strlen(req->address) < sizeof req->address_buf);
    FUZZ_CHECK(!strcmp(req->address, req->peer) || inet_pton(AF_INET, req->address, ip) == 1 ||
               inet_pton(AF_INET6, req->address, ip) == 1);
    /* The accessors the router calls on every request. */
    char v[64];
    int n = sl_http_query_get(req, "sid", v, sizeof v);
    /* -1 absent, -2 too long for v, else the value's length. */
    FUZZ_CHECK(n == -1 || n == -2 || (n >= 0 && (size_t)n < sizeof v && v[n] == '\0'));
    sl_http_header_has_token(req, "connection", "upgrade");
    sl_http_header_get(req, "content-type");

    char flags[64];
    snprintf(flags, sizeof flags, "ka=%d up=%d big=%d head=%d abort=%d body=%zu",
             req->keep_alive, req->upgrade, req->body_too_large, req->is_head, req->aborted,
             req->body.len);
    log_str(r, req->method);
    log_str(r, req->url);
    for (int i = 0; i < req->nheaders; i++) {
        log_str(r, req->headers[i].name);
        log_str(r, req->headers[i].value);
    }
    log_str(r, flags);
    if (sl_buf_append(&r->log, req->body.data ? req->body.data : "", req->body.len))
        abort();
}

static void answer(run_t *r, sl_http_req_t *req)
{
    if (req->upgrade && !req->aborted && !req->body_too_large) {
        /* What ws.c and proxy.c do: take the conn (here only to close it). */
        sl_buf_t rest = SL_BUF_INIT;
        sl_conn_t *c = sl_http_take_conn(req, &rest);
        FUZZ_CHECK(c != NULL);
        log_str(r, "taken");
        sl_buf_free(&rest);
        sl_conn_close(c);
        return;
    }
    /* An app echoing a value of the request into a response header
     * (res:header in Lua): the body may hold CR and LF, which must be
     * refused, never reach the wire (check_responses checks the lines). */
    char echo[65];
    size_t el = req->body.len < 64 ? req->body.len : 64;
    memcpy(echo, req->body.data ? req->body.data : "", el);
    echo[el] = '\0';
    int hrc = sl_http_resp_header(req, "X-Echo", echo);
    FUZZ_CHECK(hrc == 0 ? !strpbrk(echo, "\r\n") : hrc == -EINVAL);
    int head = req->is_head, aborted = req->aborted;
    int rc = req->body_too_large ? sl_http_respond(req, 413, "text/plain", "", 0)
                                 : sl_http_respond(req, 200, "text/plain", "ok", 2);
    if (aborted)
        FUZZ_CHECK(rc == -EPIPE);
    else if (rc == 0 && sl_buf_append_byte(&r->heads, (char)head))
        abort();
}

static void on_abort(sl_http_req_t *req, void *ud)
{
    run_t *r = ud;
    FUZZ_CHECK(r->held == req);
    r->held = NULL;
    log_str(r, "abort");
}

static void on_request(sl_http_req_t *req, void *ud)
{
    run_t *r = ud;
    check_request(r, req);
    FUZZ_CHECK(r->held == NULL); /* one request at a time per connection */
    if (r->defer && !req->aborted) {
        r->held = req;
        req->on_abort = on_abort;
        req->abort_ud = r;
        return;
    }
    answer(r, req);
}

static void answer_held(run_t *r)
{
    sl_http_req_t *req = r->held;
    if (req) {
        r->held = NULL;
        answer(r, req);
    }
}

/* The client's end of a new connection, the server's end an HTTP conn. */
static int connect_one(run_t *r)
{
    static const sl_conn_handler_t none = {0};
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    sl_conn_t *c;
    FUZZ_CHECK(sl_conn_open(&loop, &(sl_accepted_t){.fd = sv[1]}, &none, NULL, r->lim.write_queue_cap, NULL, NULL, NULL, &c) == 0);
    FUZZ_CHECK(sl_http_conn_new(c, &r->lim, &shared, on_request, r) != NULL);
    return sv[0];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    sl_log_level = SL_LOG_OFF; /* every refused request logs a line */
    char why[128];
    if (sl_trust_parse(&trust_all, "0.0.0.0/0,::/0", why, sizeof why))
        abort();
    limit_table[2].trust_proxy = limit_table[3].trust_proxy = &trust_all;
    if (uv_loop_init(&loop))
        abort();
    return 0;
}

/* Reads what the server wrote so far. Returns 1 once the server closed. */
static int drain(int fd, run_t *r)
{
    char buf[16384];
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k > 0) {
            if (sl_buf_append(&r->out, buf, (size_t)k))
                abort();
            continue;
        }
        if (k == 0)
            return 1;
        FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNRESET);
        return errno == ECONNRESET;
    }
}

static void turn(int fd, run_t *r)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    drain(fd, r);
}

static void count_handle(uv_handle_t *h, void *arg)
{
    (void)h;
    ++*(int *)arg;
}

static int handles_left(void)
{
    int n = 0;
    uv_walk(&loop, count_handle, &n);
    return n;
}

/* Checks the response stream: each response is a status of ours or of the
 * limits, and its Content-Length frames it (no body after a HEAD). */
static void check_responses(const run_t *r)
{
    const char *p = r->out.data ? r->out.data : "", *end = p + r->out.len;
    size_t ours = 0;
    while (p < end) {
        FUZZ_CHECK(end - p >= 12 && !memcmp(p, "HTTP/1.1 ", 9));
        int status = atoi(p + 9);
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        FUZZ_CHECK(hend != NULL);
        const char *cl = memmem(p, (size_t)(hend - p), "\r\nContent-Length: ", 18);
        FUZZ_CHECK(cl != NULL);
        /* Every header line is "Name: value" (no line injected, no fold). */
        for (const char *l = memchr(p, '\n', (size_t)(hend - p)); l && l < hend; ) {
            const char *colon = memchr(l + 1, ':', (size_t)(hend - l - 1));
            FUZZ_CHECK(colon && colon > l + 1);
            for (const char *c = l + 1; c < colon; c++)
                FUZZ_CHECK(*c > ' ' && *c < 0x7f);
            l = memchr(l + 1, '\n', (size_t)(hend - l - 1));
        }
        size_t len = strtoul(cl + 18, NULL, 10);
        hend += 4;
        if (status == 200 || status == 413) {
            FUZZ_CHECK(ours < r->heads.len);
            if (r->heads.data[ours++])
                len = 0;
        } else {
            FUZZ_CHECK(status == 400 || status == 431 || status == 505);
            FUZZ_CHECK(len == 0 && hend == end); /* the last word */
        }
        FUZZ_CHECK((size_t)(end - hend) >= len);
        p = hend + len;
    }
    FUZZ_CHECK(ours == r->heads.len);
}

static void one_run(const char *bytes, size_t n, const sl_http_limits_t *lim, int defer,
                    unsigned split_seed, run_t *r)
{
    memset(r, 0, sizeof *r);
    r->lim = *lim;
    r->defer = defer;
    cur = r;
    int fd = connect_one(r);

    fuzz_split_t sp;
    fuzz_split_init(&sp, split_seed);
    int closed = 0, stuck = 0;
    for (size_t off = 0; off < n && !closed;) {
        size_t k = fuzz_split_next(&sp, n - off);
        ssize_t w = write(fd, bytes + off, k);
        if (w < 0) {
            /* The server stopped reading (a request held, or closing):
             * answer, let the loop run, and try again. */
            FUZZ_CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
            if (errno != EAGAIN)
                break;
            FUZZ_CHECK(++stuck < 1000);
            answer_held(r);
            turn(fd, r);
            continue;
        }
        off += (size_t)w;
        turn(fd, r);
        /* "Later": after the read that follows the request. */
        answer_held(r);
        turn(fd, r);
        closed = drain(fd, r);
    }
    /* Every request the bytes hold is answered before the client leaves,
     * so what follows does not depend on where the reads were split. */
    for (int i = 0; i < 100000 && r->held; i++) {
        answer_held(r);
        turn(fd, r);
    }
    FUZZ_CHECK(r->held == NULL);
    shutdown(fd, SHUT_WR);
    /* The server must notice the close and let go of everything. */
    for (int i = 0; i < 1000 && !closed; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        answer_held(r);
        closed = drain(fd, r);
    }
    FUZZ_CHECK(closed);
    for (int i = 0; i < 100 && handles_left(); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    FUZZ_CHECK(handles_left() == 0 && r->held == NULL);
    close(fd);
    cur = NULL;
    check_responses(r);
}

static void run_free(run_t *r)
{
    sl_buf_free(&r->log);
    sl_buf_free(&r->out);
    sl_buf_free(&r->heads);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    const sl_http_limits_t *lim = &limit_table[fuzz_byte(&in) % 4];
    unsigned seed = fuzz_byte(&in);
    int defer = (int)(fuzz_byte(&in) & 1);
    run_t whole, split;
    one_run((const char *)in.p, in.n, lim, defer, 0, &whole);
    one_run((const char *)in.p, in.n, lim, defer, seed, &split);
    if (getenv("FUZZ_VERBOSE")) /* to see why two runs differ */
        fprintf(stderr, "whole:\n%.*s\nsplit:\n%.*s\n", (int)whole.out.len,
                whole.out.data ? whole.out.data : "", (int)split.out.len,
                split.out.data ? split.out.data : "");
    FUZZ_CHECK(whole.log.len == split.log.len &&
               (!whole.log.len || !memcmp(whole.log.data, split.log.data, whole.log.len)));
    FUZZ_CHECK(whole.out.len == split.out.len &&
               (!whole.out.len || !memcmp(whole.out.data, split.out.data, whole.out.len)));
    run_free(&whole);
    run_free(&split);
    return 0;
}
