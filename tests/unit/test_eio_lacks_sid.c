/* Unit tests of eio_server_lacks_sid: the router relays to another node
 * exactly the requests the endpoint would answer "Session ID unknown", so
 * the checks the endpoint makes first (an aborted body, a CORS preflight,
 * a transport it doesn't allow) keep their own answers, and a request
 * without a sid is a handshake. */
#include "eio/eio.h"
#include "testlib.h"

#include <string.h>
#include <uv.h>

static eio_server_t *srv;

static const eio_handler_t none = {0};

static sl_http_req_t req(const char *method, const char *query)
{
    sl_http_req_t r;
    memset(&r, 0, sizeof r);
    r.method = method;
    r.url = "/engine.io/";
    r.path = "/engine.io/";
    r.query = query;
    r.peer = "127.0.0.1";
    return r;
}

/* Each test has its own server on the test's loop (it never runs: the
 * router's question needs no I/O). */
static void server_up(void)
{
    eio_options_t o;
    eio_options_init(&o);
    srv = eio_server_new(tl_loop(), &o, &none, NULL);
    CHECK(srv != NULL);
}

static void server_down(void)
{
    eio_server_free(srv);
    srv = NULL;
}

static int lacks(const sl_http_req_t *r, char *sid)
{
    sid[0] = '\0';
    return eio_server_lacks_sid(srv, r, sid, 32);
}

static void a_sid_no_session_holds_is_lacking(void)
{
    server_up();
    char sid[32];
    sl_http_req_t r = req("GET", "EIO=4&transport=polling&sid=zzzzzzAAAAAAAAAAAAAA");
    CHECK_EQ_INT(lacks(&r, sid), 1);
    CHECK(!strcmp(sid, "zzzzzzAAAAAAAAAAAAAA"));
    r = req("POST", "EIO=4&transport=polling&sid=abc");
    CHECK_EQ_INT(lacks(&r, sid), 1);
    r = req("GET", "EIO=4&transport=websocket&sid=abc");
    r.upgrade = 1;
    CHECK_EQ_INT(lacks(&r, sid), 1);
    server_down();
}

static void a_handshake_is_not(void)
{
    server_up();
    char sid[32];
    sl_http_req_t r = req("GET", "EIO=4&transport=polling");
    CHECK_EQ_INT(lacks(&r, sid), 0);
    server_down();
}

static void what_the_endpoint_answers_first_is_not(void)
{
    server_up();
    char sid[32];
    sl_http_req_t r = req("GET", "EIO=4&transport=carrier-pigeon&sid=abc");
    CHECK_EQ_INT(lacks(&r, sid), 0); /* unknown transport */
    r = req("POST", "EIO=4&transport=polling&sid=abc");
    r.aborted = 1;
    CHECK_EQ_INT(lacks(&r, sid), 0); /* the peer left mid-body */
    r = req("OPTIONS", "EIO=4&transport=polling&sid=abc");
    CHECK_EQ_INT(lacks(&r, sid), 1); /* no CORS configured: not a preflight */
    strcpy(eio_server_options_mut(srv)->cors_origin, "*");
    CHECK_EQ_INT(lacks(&r, sid), 0); /* a preflight is answered here */
    server_down();
}

static void a_sid_too_long_for_any_session_is_not_copied(void)
{
    server_up();
    char sid[32];
    sl_http_req_t r = req("GET", "EIO=4&transport=polling&sid=0123456789012345678901234567890123456789");
    CHECK_EQ_INT(lacks(&r, sid), 0);
    server_down();
}

TL_SUITE(eio_lacks_sid, NULL, NULL,
         TL_TEST(a_sid_no_session_holds_is_lacking),
         TL_TEST(a_handshake_is_not),
         TL_TEST(what_the_endpoint_answers_first_is_not),
         TL_TEST(a_sid_too_long_for_any_session_is_not_copied));
