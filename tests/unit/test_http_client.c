/* Unit tests of net/http_client: URL reading and reference resolution, what
 * sl_httpc_request refuses up front, and the failures that need no server:
 * a blackhole (a listener whose backlog is full, so connects hang) hits the
 * connect timeout, a closed port is refused, a .invalid name fails its DNS
 * lookup, and closing the client ends pending requests with their callback.
 * Every test that runs a loop checks it closes with no handle left. The
 * exchanges themselves (bodies, chunked, gzip, redirects, TLS, the pool) are
 * tested against real Node servers in tests/integration/lua_fetch.test.mjs. */
#include "net/http_client.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* ---- URLs ------------------------------------------------------------------ */

static void urls_are_read_with_defaults(void)
{
    sl_httpc_url_t u;
    char err[200];
    CHECK_EQ_INT(sl_httpc_url_parse("http://Example.COM", &u, err, sizeof err), 0);
    CHECK(!u.tls && u.port == 80 && !strcmp(u.host, "example.com"));
    CHECK(!strcmp(u.authority, "example.com") && !strcmp(u.target, "/"));
    sl_httpc_url_free(&u);
    CHECK_EQ_INT(sl_httpc_url_parse("HTTPS://h:8443/a/b?x=1&y=%20#frag", &u, err, sizeof err), 0);
    CHECK(u.tls && u.port == 8443 && !strcmp(u.authority, "h:8443"));
    CHECK(!strcmp(u.target, "/a/b?x=1&y=%20"));
    sl_httpc_url_free(&u);
    CHECK_EQ_INT(sl_httpc_url_parse("https://h:443?q", &u, err, sizeof err), 0);
    CHECK(!strcmp(u.authority, "h") && !strcmp(u.target, "/?q"));
    sl_httpc_url_free(&u);
    CHECK_EQ_INT(sl_httpc_url_parse("http://[::1]:8080/p q\"<\xc3\xa9>", &u, err, sizeof err), 0);
    CHECK(!strcmp(u.host, "::1") && !strcmp(u.authority, "[::1]:8080"));
    CHECK(!strcmp(u.target, "/p%20q%22%3C%C3%A9%3E"));
    sl_httpc_url_free(&u);
    CHECK_EQ_INT(sl_httpc_url_parse("http://[::1]/", &u, err, sizeof err), 0);
    CHECK(!strcmp(u.authority, "[::1]"));
    sl_httpc_url_free(&u);
}

static void bad_urls_say_why(void)
{
    static const struct {
        const char *url, *err;
    } cases[] = {
        {"ftp://h/", "unsupported scheme 'ftp' (http or https)"},
        {"example.com/x", "bad URL 'example.com/x' (want http://host/path or https://...)"},
        {"http://user:pw@h/", "credentials in the URL are not supported (send an Authorization header)"},
        {"http:///path", "no host in URL 'http:///path'"},
        {"http://h:0/", "bad port in URL 'http://h:0/'"},
        {"http://h:65536/", "bad port in URL 'http://h:65536/'"},
        {"http://h:8x/", "bad port in URL 'http://h:8x/'"},
        {"http://h o/", "bad host in URL 'http://h o/'"},
        {"http://[::1/", "bad host in URL 'http://[::1/'"},
        {"http://[zz]/", "bad IPv6 address in URL 'http://[zz]/'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_httpc_url_t u;
        char err[200] = "";
        CHECK_EQ_INT(sl_httpc_url_parse(cases[i].url, &u, err, sizeof err), -1);
        if (strcmp(err, cases[i].err)) {
            fprintf(stderr, "  %s: got '%s'\n", cases[i].url, err);
            CHECK(0);
        }
    }
}

static void references_resolve_as_rfc_3986_says(void)
{
    /* RFC 3986 5.4.1, base http://a/b/c/d;p?q (the ones an HTTP client meets). */
    static const char *const cases[][2] = {
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g/"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q"},
        {"g#s", "http://a/b/c/g"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g/../h", "http://a/b/c/h"},
        {"https://other:8443/x/../y?z#f", "https://other:8443/y?z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = sl_httpc_url_resolve("http://a/b/c/d;p?q", cases[i][0]);
        if (!got || strcmp(got, cases[i][1])) {
            fprintf(stderr, "  '%s': got '%s', expected '%s'\n", cases[i][0], got ? got : "(null)", cases[i][1]);
            CHECK(0);
        }
        free(got);
    }
    char *got = sl_httpc_url_resolve("https://h:1", "next");
    CHECK(got && !strcmp(got, "https://h:1/next"));
    free(got);
    CHECK(sl_httpc_url_resolve("http://a/", "mailto:x@y") == NULL);
}

/* ---- requests without a server ------------------------------------------------ */

typedef struct outcome {
    int calls, code;
    char err[400];
} outcome_t;

static void keep_alive_timeouts_are_read_strictly(void)
{
#define KA(s) sl_httpc_keepalive_timeout((s), sizeof(s) - 1)
    CHECK_EQ_INT(KA("timeout=5, max=100"), 5);
    CHECK_EQ_INT(KA("max=100, timeout=15"), 15);
    CHECK_EQ_INT(KA("Timeout = 7"), 7);
    CHECK_EQ_INT(KA("timeout=0"), 0);
    CHECK_EQ_INT(KA("max=100"), -1);
    CHECK_EQ_INT(KA(""), -1);
    /* Not the parameter: only a name of exactly "timeout" counts. */
    CHECK_EQ_INT(KA("max-timeout=9"), -1);
    CHECK_EQ_INT(KA("xtimeout=9, timeout=3"), 3);
    /* Malformed: ignored, not guessed at (atoi read "-5" and "5s" before). */
    CHECK_EQ_INT(KA("timeout=-5"), -1);
    CHECK_EQ_INT(KA("timeout=5s"), -1);
    CHECK_EQ_INT(KA("timeout="), -1);
    CHECK_EQ_INT(KA("timeout"), -1);
    /* A huge one is a day, not an overflow (atoi's undefined behaviour). */
    CHECK_EQ_INT(KA("timeout=99999999999999999999999"), 86400);
    CHECK_EQ_INT(KA("timeout=86399"), 86399);
#undef KA
}

static void record_cb(sl_httpc_req_t *r, int code, const sl_httpc_response_t *res, const char *err, void *ud)
{
    (void)r;
    (void)res;
    outcome_t *o = ud;
    o->calls++;
    o->code = code;
    snprintf(o->err, sizeof o->err, "%s", err ? err : "");
}

/* Runs the loop until every request has called back, then closes the
 * client and checks the loop ends with nothing open. */
static void finish(uv_loop_t *loop, sl_httpc_t *c)
{
    uv_run(loop, UV_RUN_DEFAULT);
    sl_httpc_close(c, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
}

static void bad_requests_are_refused_at_once(void)
{
    uv_loop_t *loop = tl_loop();
    sl_httpc_t *c = sl_httpc_new(loop, NULL);
    char err[200];
    outcome_t o = {0};
    sl_httpc_request_t rq = {.url = "gopher://h/"};
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), SL_HTTPC_EINVAL);
    CHECK(!strcmp(err, "unsupported scheme 'gopher' (http or https)"));
    rq.url = "http://h/";
    rq.method = "GE T";
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), SL_HTTPC_EINVAL);
    CHECK(!strcmp(err, "bad method 'GE T'"));
    rq.method = "POST";
    sl_httpc_header_t smuggle[] = {{"x-a", "1\r\nHost: evil"}};
    rq.headers = smuggle;
    rq.nheaders = 1;
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), SL_HTTPC_EINVAL);
    CHECK(!strcmp(err, "bad value for header 'x-a' (line breaks are not allowed)"));
    sl_httpc_header_t te[] = {{"Transfer-Encoding", "chunked"}};
    rq.headers = te;
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), SL_HTTPC_EINVAL);
    CHECK(!strcmp(err, "header 'Transfer-Encoding' is managed by the HTTP client"));
    sl_httpc_header_t name[] = {{"bad name", "x"}};
    rq.headers = name;
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), SL_HTTPC_EINVAL);
    CHECK(!strcmp(err, "bad header name 'bad name'"));
    rq.headers = NULL;
    rq.nheaders = 0;
    rq.url = "https://h/";
    rq.ca_file = "/nonexistent/ca.pem";
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), SL_HTTPC_EINVAL);
    CHECK(!strcmp(err, "cannot read CA file /nonexistent/ca.pem: No such file or directory"));
    CHECK_EQ_INT(sl_httpc_set_ca_file(c, "/nonexistent/ca.pem", err, sizeof err), -1);
    finish(loop, c);
    CHECK_EQ_INT(o.calls, 0);
}

/* A listener that never accepts, with its backlog full: connects to it hang. */
static int blackhole(int *port, int fillers[4])
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 0) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
        return -1;
    *port = ntohs(a.sin_port);
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM, 0);
        fcntl(fillers[i], F_SETFL, O_NONBLOCK);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(50000);
    return fd;
}

static void a_blackhole_hits_the_connect_timeout(void)
{
    int port, fillers[4];
    int fd = blackhole(&port, fillers);
    CHECK(fd >= 0);
    uv_loop_t *loop = tl_loop();
    sl_httpc_t *c = sl_httpc_new(loop, NULL);
    char url[64], err[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    outcome_t o = {0};
    sl_httpc_request_t rq = {.url = url, .connect_timeout_ms = 200};
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o, NULL, err, sizeof err), 0);
    uint64_t t0 = uv_hrtime();
    finish(loop, c);
    CHECK_EQ_INT(o.calls, 1);
    CHECK_EQ_INT(o.code, SL_HTTPC_ETIMEDOUT);
    char expect[120];
    snprintf(expect, sizeof expect, "connect timeout: 127.0.0.1:%d did not accept a connection within 200 ms", port);
    if (strcmp(o.err, expect))
        fprintf(stderr, "  got '%s'\n", o.err);
    CHECK(!strcmp(o.err, expect));
    CHECK((uv_hrtime() - t0) / 1000000 >= 190); /* not before its time */
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(fd);
}

static void refused_and_dns_failures_are_named(void)
{
    /* A port nobody listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    uv_loop_t *loop = tl_loop();
    sl_httpc_t *c = sl_httpc_new(loop, NULL);
    char url[64], err[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    outcome_t refused = {0}, dns = {0};
    sl_httpc_request_t rq = {.url = url};
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &refused, NULL, err, sizeof err), 0);
    rq.url = "http://nope.invalid/";
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &dns, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(refused.calls + dns.calls, 0); /* never inside the call */
    finish(loop, c);
    CHECK_EQ_INT(refused.calls, 1);
    CHECK_EQ_INT(refused.code, SL_HTTPC_ECONNECT);
    char expect[120];
    snprintf(expect, sizeof expect, "cannot connect to 127.0.0.1:%d: connection refused", ntohs(a.sin_port));
    CHECK(!strcmp(refused.err, expect));
    CHECK_EQ_INT(dns.calls, 1);
    CHECK_EQ_INT(dns.code, SL_HTTPC_EDNS);
    CHECK(strncmp(dns.err, "DNS lookup for nope.invalid failed: ", 36) == 0);
}

static void closing_the_client_ends_pending_requests(void)
{
    int port, fillers[4];
    int fd = blackhole(&port, fillers);
    uv_loop_t *loop = tl_loop();
    sl_httpc_t *c = sl_httpc_new(loop, NULL);
    char url[64], err[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    outcome_t o[3] = {{0}};
    sl_httpc_request_t rq = {.url = url};
    sl_httpc_req_t *cancelled;
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o[i], i == 2 ? &cancelled : NULL, err, sizeof err), 0);
    uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(sl_httpc_connections(c), 3);
    sl_httpc_cancel(cancelled); /* no callback for this one */
    CHECK_EQ_INT(sl_httpc_connections(c), 2);
    sl_httpc_close(c, "server shutting down");
    CHECK_EQ_INT(o[0].calls, 1);
    CHECK_EQ_INT(o[0].code, SL_HTTPC_ECANCELED);
    CHECK(!strcmp(o[0].err, "server shutting down"));
    CHECK_EQ_INT(o[1].calls, 1);
    CHECK_EQ_INT(o[2].calls, 0);
    /* Refused once closed, with a reason and no callback. */
    CHECK_EQ_INT(sl_httpc_request(c, &rq, record_cb, &o[2], NULL, err, sizeof err), SL_HTTPC_ECANCELED);
    CHECK(!strcmp(err, "the HTTP client is closed"));
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(tl_loop_close(), 0);
    CHECK_EQ_INT(o[2].calls, 0);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(fd);
}

TL_SUITE(http_client, NULL, NULL,
         TL_TEST(urls_are_read_with_defaults),
         TL_TEST(bad_urls_say_why),
         TL_TEST(references_resolve_as_rfc_3986_says),
         TL_TEST(keep_alive_timeouts_are_read_strictly),
         TL_TEST(bad_requests_are_refused_at_once),
         TL_TEST(a_blackhole_hits_the_connect_timeout),
         TL_TEST(refused_and_dns_failures_are_named),
         TL_TEST(closing_the_client_ends_pending_requests));
