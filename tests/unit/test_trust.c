/* Unit tests of net/trust: the trustProxy list and the client address it
 * lets X-Forwarded-For give (Express proxy-addr's walk from the right). */
#include "net/trust.h"
#include "net/http.h"
#include "testlib.h"

#include <string.h>

static sl_trust_t trust(const char *spec)
{
    sl_trust_t t;
    char why[200];
    memset(&t, 0xab, sizeof t);
    CHECK_EQ_INT(sl_trust_parse(&t, spec, why, sizeof why), 0);
    return t;
}

/* The client address for peer with the given X-Forwarded-For headers. */
static const char *client(const sl_trust_t *t, const char *peer, const char *xff1, const char *xff2)
{
    static sl_http_req_t req;
    static sl_http_header_t headers[3];
    static char out[64];
    memset(&req, 0, sizeof req);
    req.headers = headers;
    req.headers[req.nheaders++] = (sl_http_header_t){"Host", "example.org"};
    if (xff1)
        req.headers[req.nheaders++] = (sl_http_header_t){"X-Forwarded-For", xff1};
    if (xff2)
        req.headers[req.nheaders++] = (sl_http_header_t){"x-forwarded-for", xff2};
    return sl_trust_client_address(t, peer, &req, out, sizeof out);
}

static void parse_addresses_networks_and_names(void)
{
    sl_trust_t t = trust("10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,loopback");
    CHECK_EQ_INT(t.n, 5);
    CHECK(sl_trust_has(&t, "10.1.2.3"));
    CHECK(sl_trust_has(&t, "::ffff:10.1.2.3"));
    CHECK(!sl_trust_has(&t, "11.0.0.1"));
    CHECK(sl_trust_has(&t, "192.168.1.7"));
    CHECK(!sl_trust_has(&t, "192.168.1.8"));
    CHECK(sl_trust_has(&t, "2001:db8:ffff::1"));
    CHECK(!sl_trust_has(&t, "2001:db9::1"));
    CHECK(sl_trust_has(&t, "127.0.0.1"));
    CHECK(sl_trust_has(&t, "127.255.0.1"));
    CHECK(sl_trust_has(&t, "::1"));
    CHECK(!sl_trust_has(&t, "not an address"));
    t = trust("uniquelocal");
    CHECK(sl_trust_has(&t, "172.31.255.255") && !sl_trust_has(&t, "172.32.0.0"));
    CHECK(sl_trust_has(&t, "fd00::1") && !sl_trust_has(&t, "fe00::1"));
    t = trust("linklocal");
    CHECK(sl_trust_has(&t, "169.254.3.4") && sl_trust_has(&t, "fe80::1"));
    t = trust("0.0.0.0/0");
    CHECK(sl_trust_has(&t, "8.8.8.8") && !sl_trust_has(&t, "2001:db8::1"));
    CHECK_EQ_INT(trust("").n, 0);
    CHECK_EQ_INT(trust("false").n, 0);
}

static void bad_lists_say_why_and_change_nothing(void)
{
    sl_trust_t t = trust("10.0.0.1");
    char why[200];
    const char *bad[] = {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "true", "10.0.0.256", "host.example"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        CHECK_EQ_INT(sl_trust_parse(&t, bad[i], why, sizeof why), -1);
        CHECK(why[0] != '\0');
        CHECK_EQ_INT(t.n, 1);
    }
    CHECK(strstr(why, "not an address"));
    sl_trust_parse(&t, "10.0.0.0/33", why, sizeof why);
    CHECK(strstr(why, "0 to 32"));
}

static void untrusted_peer_header_ignored(void)
{
    sl_trust_t none = trust("");
    CHECK(!strcmp(client(&none, "127.0.0.1", "6.6.6.6", NULL), "127.0.0.1"));
    CHECK(!strcmp(client(NULL, "127.0.0.1", "6.6.6.6", NULL), "127.0.0.1"));
    sl_trust_t t = trust("10.0.0.0/8");
    CHECK(!strcmp(client(&t, "::ffff:127.0.0.1", "6.6.6.6", NULL), "::ffff:127.0.0.1"));
}

static void trusted_peer_rightmost_untrusted_wins(void)
{
    sl_trust_t t = trust("10.0.0.0/8,loopback");
    /* The client wrote "6.6.6.6" itself; the proxy appended what it saw. */
    CHECK(!strcmp(client(&t, "::ffff:127.0.0.1", "6.6.6.6, 203.0.113.9", NULL), "203.0.113.9"));
    /* Two trusted hops: the address before them. */
    CHECK(!strcmp(client(&t, "127.0.0.1", "203.0.113.9, 10.1.1.1", NULL), "203.0.113.9"));
    /* Every hop trusted: the leftmost. */
    CHECK(!strcmp(client(&t, "127.0.0.1", "10.2.2.2,10.1.1.1", NULL), "10.2.2.2"));
    /* Two headers are one list, the last one nearest. */
    CHECK(!strcmp(client(&t, "127.0.0.1", "203.0.113.9", "10.1.1.1"), "203.0.113.9"));
    /* No header: the peer. */
    CHECK(!strcmp(client(&t, "127.0.0.1", NULL, NULL), "127.0.0.1"));
}

static void entries_with_ports_brackets_and_garbage(void)
{
    sl_trust_t t = trust("loopback");
    CHECK(!strcmp(client(&t, "127.0.0.1", "198.51.100.4:5678", NULL), "198.51.100.4"));
    CHECK(!strcmp(client(&t, "127.0.0.1", "[2001:db8::7]:443", NULL), "2001:db8::7"));
    CHECK(!strcmp(client(&t, "127.0.0.1", "2001:DB8:0::7", NULL), "2001:db8::7"));
    /* Garbage from a trusted hop: that hop is all we know. */
    CHECK(!strcmp(client(&t, "127.0.0.1", "203.0.113.9, unknown", NULL), "127.0.0.1"));
    CHECK(!strcmp(client(&t, "127.0.0.1", "", NULL), "127.0.0.1"));
    CHECK(!strcmp(client(&t, "127.0.0.1", "<script>", NULL), "127.0.0.1"));
}

TL_SUITE(trust, NULL, NULL,
         TL_TEST(parse_addresses_networks_and_names),
         TL_TEST(bad_lists_say_why_and_change_nothing),
         TL_TEST(untrusted_peer_header_ignored),
         TL_TEST(trusted_peer_rightmost_untrusted_wins),
         TL_TEST(entries_with_ports_brackets_and_garbage));
