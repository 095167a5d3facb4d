/* Unit tests of net/tls: a client engine and a server engine talking through
 * memory only (no socket, no loop). The certificates are made here at run
 * time with OpenSSL's API, in a temporary directory removed at the end: a
 * test CA, a leaf it signs for localhost/127.0.0.1, a self-signed leaf and a
 * second CA nobody trusts. Covers the handshake, data both ways, feeding
 * byte by byte, verification failures (unknown issuer, self-signed, host
 * name and address mismatch), ALPN, close_notify, reloading a server's
 * certificate and the reasons given for bad files. */
#include "net/tls.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char dir[64];
static char ca_pem[128], leaf_pem[128], leaf_key[128], self_pem[128], self_key[128];
static char other_ca_pem[128], other_leaf_pem[128], other_leaf_key[128], garbage_pem[128];

/* ---- certificates -------------------------------------------------------- */

typedef struct cert {
    EVP_PKEY *key;
    X509 *x;
} cert_t;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A P-256 certificate for cn, signed by issuer (NULL: self-signed). */
static cert_t make_cert(const char *cn, const cert_t *issuer, int is_ca, const char *san)
{
    static long serial = 1;
    cert_t c;
    c.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    c.x = X509_new();
    X509_set_version(c.x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c.x), -60);
    X509_gmtime_adj(X509_getm_notAfter(c.x), 3600);
    X509_set_pubkey(c.x, c.key);
    X509_NAME *name = X509_get_subject_name(c.x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c.x, issuer ? X509_get_subject_name(issuer->x) : name);
    X509 *signer = issuer ? issuer->x : c.x;
    add_ext(c.x, signer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (is_ca)
        add_ext(c.x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (san)
        add_ext(c.x, signer, NID_subject_alt_name, san);
    X509_sign(c.x, issuer ? issuer->key : c.key, EVP_sha256());
    return c;
}

static void save(const cert_t *c, const char *cert_path, const char *key_path)
{
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, c->x);
    fclose(f);
    if (key_path) {
        f = fopen(key_path, "w");
        PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    }
}

static void cert_free(cert_t *c)
{
    X509_free(c->x);
    EVP_PKEY_free(c->key);
}

static const char *setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/siolua-tls-XXXXXX");
    if (!mkdtemp(dir))
        return "cannot make a temporary directory";
#define PATH(var, name) snprintf(var, sizeof var, "%s/%s", dir, name)
    PATH(ca_pem, "ca.pem");
    PATH(leaf_pem, "leaf.pem");
    PATH(leaf_key, "leaf.key");
    PATH(self_pem, "self.pem");
    PATH(self_key, "self.key");
    PATH(other_ca_pem, "other-ca.pem");
    PATH(other_leaf_pem, "other-leaf.pem");
    PATH(other_leaf_key, "other-leaf.key");
    PATH(garbage_pem, "garbage.pem");
#undef PATH
    cert_t ca = make_cert("siolua test CA", NULL, 1, NULL);
    cert_t leaf = make_cert("localhost", &ca, 0, "DNS:localhost,IP:127.0.0.1");
    cert_t self = make_cert("localhost", NULL, 0, "DNS:localhost");
    cert_t other_ca = make_cert("another CA", NULL, 1, NULL);
    cert_t other_leaf = make_cert("localhost", &other_ca, 0, "DNS:localhost");
    save(&ca, ca_pem, NULL);
    save(&leaf, leaf_pem, leaf_key);
    save(&self, self_pem, self_key);
    save(&other_ca, other_ca_pem, NULL);
    save(&other_leaf, other_leaf_pem, other_leaf_key);
    cert_free(&ca);
    cert_free(&leaf);
    cert_free(&self);
    cert_free(&other_ca);
    cert_free(&other_leaf);
    FILE *f = fopen(garbage_pem, "w");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    return NULL;
}

static void teardown(void)
{
    const char *files[] = {ca_pem, leaf_pem, leaf_key, self_pem, self_key, other_ca_pem,
                           other_leaf_pem, other_leaf_key, garbage_pem};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
}

/* ---- two engines over memory ----------------------------------------------- */

typedef struct side {
    sl_tls_t *t;
    sl_buf_t got; /* plaintext read */
    int rc;       /* the first negative code sl_tls_read gave */
} side_t;

static void drain(side_t *s)
{
    char buf[4096];
    ssize_t r;
    while ((r = sl_tls_read(s->t, buf, sizeof buf)) > 0)
        sl_buf_append(&s->got, buf, (size_t)r);
    if (r < 0 && !s->rc)
        s->rc = (int)r;
}

/* Moves what `from` has for the peer into `to`, whole or byte by byte,
 * reading `to` after each feed. Returns the bytes moved. */
static size_t move(side_t *from, side_t *to, int byte_by_byte)
{
    sl_buf_t out = SL_BUF_INIT;
    sl_tls_take(from->t, &out);
    size_t n = out.len;
    if (byte_by_byte) {
        for (size_t i = 0; i < n; i++) {
            sl_tls_feed(to->t, out.data + i, 1);
            drain(to);
        }
    } else if (n) {
        sl_tls_feed(to->t, out.data, n);
        drain(to);
    }
    sl_buf_free(&out);
    return n;
}

static void run(side_t *c, side_t *s, int byte_by_byte)
{
    for (int i = 0; i < 100; i++) {
        drain(c);
        drain(s);
        if (move(c, s, byte_by_byte) + move(s, c, byte_by_byte) == 0)
            return;
    }
}

typedef struct pair {
    sl_tls_ctx_t *cctx, *sctx;
    side_t c, s;
} pair_t;

static int pair_open(pair_t *p, const sl_tls_client_opts_t *co, const char *cert, const char *key,
                     const char *server_alpn, const char *host)
{
    char err[256] = "";
    memset(p, 0, sizeof *p);
    sl_tls_server_opts_t so = {cert, key, server_alpn};
    if (sl_tls_ctx_new_server(&so, &p->sctx, err, sizeof err) || sl_tls_ctx_new_client(co, &p->cctx, err, sizeof err) ||
        sl_tls_new(p->sctx, NULL, &p->s.t, err, sizeof err) || sl_tls_new(p->cctx, host, &p->c.t, err, sizeof err)) {
        fprintf(stderr, "  pair_open: %s\n", err);
        return -1;
    }
    return 0;
}

static void pair_close(pair_t *p)
{
    sl_tls_free(p->c.t);
    sl_tls_free(p->s.t);
    sl_tls_ctx_unref(p->cctx);
    sl_tls_ctx_unref(p->sctx);
    sl_buf_free(&p->c.got);
    sl_buf_free(&p->s.got);
}

static const sl_tls_client_opts_t trust_ca = {ca_pem, 1, "http/1.1", NULL, NULL};

/* ---- tests ------------------------------------------------------------------ */

static void handshake_then_data_both_ways(void)
{
    pair_t p;
    if (pair_open(&p, &trust_ca, leaf_pem, leaf_key, "http/1.1", "localhost")) {
        CHECK(0);
        return;
    }
    /* Written before the handshake: kept, then sent once it is done. */
    CHECK_EQ_INT(sl_tls_write(p.c.t, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    CHECK(!sl_tls_handshake_done(p.c.t));
    run(&p.c, &p.s, 0);
    CHECK(sl_tls_handshake_done(p.c.t));
    CHECK(sl_tls_handshake_done(p.s.t));
    CHECK_STR(p.s.got.data, p.s.got.len, "GET / HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(sl_tls_write(p.s.t, "HTTP/1.1 200 OK\r\n\r\n", 19), 0);
    run(&p.c, &p.s, 0);
    CHECK_STR(p.c.got.data, p.c.got.len, "HTTP/1.1 200 OK\r\n\r\n");
    CHECK(!strcmp(sl_tls_version(p.c.t), "TLSv1.3"));
    CHECK(!strcmp(sl_tls_alpn(p.c.t), "http/1.1"));
    CHECK(!strcmp(sl_tls_alpn(p.s.t), "http/1.1"));
    CHECK_EQ_INT(p.c.rc, 0);
    CHECK_EQ_INT(p.s.rc, 0);
    CHECK(!strcmp(sl_tls_reason(p.c.t), ""));
    pair_close(&p);
}

static void byte_by_byte_feeding_and_large_messages(void)
{
    pair_t p;
    if (pair_open(&p, &trust_ca, leaf_pem, leaf_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    size_t big = 100000;
    char *a = malloc(big), *b = malloc(big);
    for (size_t i = 0; i < big; i++) {
        a[i] = (char)(i * 7);
        b[i] = (char)(i * 13 + 1);
    }
    sl_tls_write(p.c.t, "x", 1);
    run(&p.c, &p.s, 1); /* the whole handshake a byte at a time */
    CHECK(sl_tls_handshake_done(p.s.t));
    CHECK_STR(p.s.got.data, p.s.got.len, "x");
    sl_buf_reset(&p.s.got);
    CHECK_EQ_INT(sl_tls_write(p.c.t, a, big), 0);
    CHECK_EQ_INT(sl_tls_write(p.s.t, b, big), 0);
    run(&p.c, &p.s, 1);
    CHECK_MEM(p.s.got.data, p.s.got.len, a, big);
    CHECK_MEM(p.c.got.data, p.c.got.len, b, big);
    CHECK(sl_tls_alpn(p.c.t) == NULL); /* no ALPN on either side */
    free(a);
    free(b);
    pair_close(&p);
}

static void an_unknown_issuer_fails_verification_on_both_sides(void)
{
    sl_tls_client_opts_t none = {NULL, 1, NULL, NULL, NULL}; /* trusts nothing */
    pair_t p;
    if (pair_open(&p, &none, leaf_pem, leaf_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    sl_tls_write(p.c.t, "secret", 6);
    run(&p.c, &p.s, 0);
    CHECK_EQ_INT(p.c.rc, SL_TLS_EVERIFY);
    CHECK(!strcmp(sl_tls_reason(p.c.t), "certificate verify failed: unable to get local issuer certificate"));
    /* The client's alert reached the server: it knows why. */
    CHECK_EQ_INT(p.s.rc, SL_TLS_EHANDSHAKE);
    CHECK(strstr(sl_tls_reason(p.s.t), "handshake failed: ") == sl_tls_reason(p.s.t));
    CHECK(strstr(sl_tls_reason(p.s.t), "alert unknown ca") != NULL);
    CHECK_EQ_INT(p.s.got.len, 0); /* the queued plaintext never left */
    /* Sticky: every later call says the same. */
    char buf[8];
    CHECK_EQ_INT(sl_tls_read(p.c.t, buf, sizeof buf), SL_TLS_EVERIFY);
    CHECK_EQ_INT(sl_tls_write(p.c.t, "x", 1), SL_TLS_EVERIFY);
    pair_close(&p);
}

static void a_self_signed_certificate_is_named(void)
{
    pair_t p;
    if (pair_open(&p, &trust_ca, self_pem, self_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    run(&p.c, &p.s, 0);
    CHECK_EQ_INT(p.c.rc, SL_TLS_EVERIFY);
    CHECK(!strcmp(sl_tls_reason(p.c.t), "certificate verify failed: self-signed certificate"));
    pair_close(&p);
    /* Trusting the certificate itself (a pinned self-signed server) works. */
    sl_tls_client_opts_t pinned = {self_pem, 1, NULL, NULL, NULL};
    if (pair_open(&p, &pinned, self_pem, self_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    run(&p.c, &p.s, 0);
    CHECK_EQ_INT(p.c.rc, 0);
    CHECK(sl_tls_handshake_done(p.c.t));
    pair_close(&p);
}

static void host_names_and_addresses_are_checked(void)
{
    static const struct {
        const char *host, *reason;
    } cases[] = {
        {"localhost", ""},
        {"127.0.0.1", ""},
        {"other.example", "certificate verify failed: hostname mismatch"},
        {"sub.localhost", "certificate verify failed: hostname mismatch"},
        {"127.0.0.2", "certificate verify failed: IP address mismatch"},
        {"::1", "certificate verify failed: IP address mismatch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair_t p;
        if (pair_open(&p, &trust_ca, leaf_pem, leaf_key, NULL, cases[i].host)) {
            CHECK(0);
            return;
        }
        run(&p.c, &p.s, 0);
        if (strcmp(sl_tls_reason(p.c.t), cases[i].reason)) {
            fprintf(stderr, "  %s: got '%s', expected '%s'\n", cases[i].host, sl_tls_reason(p.c.t),
                    cases[i].reason);
            CHECK(0);
        }
        CHECK_EQ_INT(p.c.rc, cases[i].reason[0] ? SL_TLS_EVERIFY : 0);
        pair_close(&p);
    }
    /* A client engine without a name is refused at once. */
    sl_tls_ctx_t *c;
    sl_tls_t *t = NULL;
    char err[200];
    CHECK_EQ_INT(sl_tls_ctx_new_client(&trust_ca, &c, err, sizeof err), 0);
    CHECK_EQ_INT(sl_tls_new(c, "", &t, err, sizeof err), SL_TLS_EINVAL);
    CHECK(!strcmp(err, "a TLS client needs the server's name"));
    sl_tls_ctx_unref(c);
}

static void alpn_picks_the_servers_protocol_or_fails_without_one(void)
{
    sl_tls_client_opts_t both = {ca_pem, 1, "h2,http/1.1", NULL, NULL};
    pair_t p;
    if (pair_open(&p, &both, leaf_pem, leaf_key, "http/1.1", "localhost")) {
        CHECK(0);
        return;
    }
    run(&p.c, &p.s, 0);
    CHECK(sl_tls_alpn(p.c.t) && !strcmp(sl_tls_alpn(p.c.t), "http/1.1"));
    CHECK(sl_tls_alpn(p.s.t) && !strcmp(sl_tls_alpn(p.s.t), "http/1.1"));
    pair_close(&p);

    sl_tls_client_opts_t h2 = {ca_pem, 1, "h2", NULL, NULL};
    if (pair_open(&p, &h2, leaf_pem, leaf_key, "http/1.1", "localhost")) {
        CHECK(0);
        return;
    }
    run(&p.c, &p.s, 0);
    CHECK_EQ_INT(p.s.rc, SL_TLS_EHANDSHAKE);
    CHECK(!strcmp(sl_tls_reason(p.s.t), "handshake failed: no application protocol"));
    CHECK_EQ_INT(p.c.rc, SL_TLS_EHANDSHAKE);
    CHECK(strstr(sl_tls_reason(p.c.t), "alert no application protocol") != NULL);
    pair_close(&p);

    sl_tls_client_opts_t plain = {ca_pem, 1, NULL, NULL, NULL}; /* offers none: served anyway */
    if (pair_open(&p, &plain, leaf_pem, leaf_key, "http/1.1", "localhost")) {
        CHECK(0);
        return;
    }
    run(&p.c, &p.s, 0);
    CHECK(sl_tls_handshake_done(p.c.t) && sl_tls_handshake_done(p.s.t));
    CHECK(sl_tls_alpn(p.s.t) == NULL);
    pair_close(&p);
}

static void close_notify_ends_each_direction(void)
{
    pair_t p;
    if (pair_open(&p, &trust_ca, leaf_pem, leaf_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(sl_tls_shutdown(p.c.t), SL_TLS_EINVAL); /* nothing to end yet */
    run(&p.c, &p.s, 0);
    sl_tls_write(p.c.t, "last words", 10);
    CHECK_EQ_INT(sl_tls_shutdown(p.c.t), 0);
    CHECK_EQ_INT(sl_tls_write(p.c.t, "more", 4), SL_TLS_EINVAL);
    run(&p.c, &p.s, 0);
    CHECK_STR(p.s.got.data, p.s.got.len, "last words"); /* data before the close is kept */
    CHECK_EQ_INT(p.s.rc, SL_TLS_CLOSED);
    char buf[8];
    CHECK_EQ_INT(sl_tls_read(p.s.t, buf, sizeof buf), SL_TLS_CLOSED);
    CHECK_EQ_INT(p.c.rc, 0); /* the client has not heard the server's yet */
    CHECK_EQ_INT(sl_tls_shutdown(p.s.t), 0);
    run(&p.c, &p.s, 0);
    CHECK_EQ_INT(p.c.rc, SL_TLS_CLOSED);
    pair_close(&p);
}

static void garbage_gets_a_reason(void)
{
    pair_t p;
    if (pair_open(&p, &trust_ca, leaf_pem, leaf_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    /* A plain HTTP server answering the ClientHello. */
    sl_buf_t out = SL_BUF_INIT;
    CHECK(sl_tls_take(p.c.t, &out) > 0);
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    sl_tls_feed(p.c.t, http, sizeof http - 1);
    char buf[64];
    CHECK_EQ_INT(sl_tls_read(p.c.t, buf, sizeof buf), SL_TLS_EHANDSHAKE);
    CHECK(!strcmp(sl_tls_reason(p.c.t), "handshake failed: wrong version number"));
    sl_buf_free(&out);
    pair_close(&p);

    /* Bytes that are not records after a good handshake. */
    if (pair_open(&p, &trust_ca, leaf_pem, leaf_key, NULL, "localhost")) {
        CHECK(0);
        return;
    }
    run(&p.c, &p.s, 0);
    CHECK(sl_tls_handshake_done(p.c.t));
    sl_tls_feed(p.c.t, "\x17\x03\x03\x00\x05hello", 10);
    CHECK_EQ_INT(sl_tls_read(p.c.t, buf, sizeof buf), SL_TLS_EPROTO);
    CHECK(strncmp(sl_tls_reason(p.c.t), "TLS error: ", 11) == 0);
    pair_close(&p);
}

static void reload_swaps_the_certificate_for_new_connections_only(void)
{
    char err[256];
    sl_tls_server_opts_t first = {leaf_pem, leaf_key, NULL};
    sl_tls_server_opts_t second = {other_leaf_pem, other_leaf_key, NULL};
    sl_tls_ctx_t *slot, *cctx;
    CHECK_EQ_INT(sl_tls_ctx_new_server(&first, &slot, err, sizeof err), 0);
    CHECK_EQ_INT(sl_tls_ctx_new_client(&trust_ca, &cctx, err, sizeof err), 0);
    side_t c1 = {0}, s1 = {0}, c2 = {0}, s2 = {0};
    sl_tls_new(slot, NULL, &s1.t, err, sizeof err);
    sl_tls_new(cctx, "localhost", &c1.t, err, sizeof err);
    run(&c1, &s1, 0);
    CHECK(sl_tls_handshake_done(c1.t));

    /* A reload that can't read its files changes nothing. */
    sl_tls_ctx_t *before = slot;
    sl_tls_server_opts_t missing = {"/nonexistent/cert.pem", leaf_key, NULL};
    CHECK(sl_tls_ctx_reload(&slot, &missing, err, sizeof err) < 0);
    CHECK(!strcmp(err, "cannot read certificate /nonexistent/cert.pem: No such file or directory"));
    CHECK(slot == before);

    CHECK_EQ_INT(sl_tls_ctx_reload(&slot, &second, err, sizeof err), 0);
    CHECK(slot != before);
    /* The open connection keeps working on the old context... */
    sl_tls_write(c1.t, "still here", 10);
    run(&c1, &s1, 0);
    CHECK_STR(s1.got.data, s1.got.len, "still here");
    /* ...a new one gets the new certificate (from a CA this client doesn't trust). */
    sl_tls_new(slot, NULL, &s2.t, err, sizeof err);
    sl_tls_new(cctx, "localhost", &c2.t, err, sizeof err);
    run(&c2, &s2, 0);
    CHECK_EQ_INT(c2.rc, SL_TLS_EVERIFY);
    CHECK(!strcmp(sl_tls_reason(c2.t), "certificate verify failed: unable to get local issuer certificate"));
    side_t *all[] = {&c1, &s1, &c2, &s2};
    for (int i = 0; i < 4; i++) {
        sl_tls_free(all[i]->t);
        sl_buf_free(&all[i]->got);
    }
    sl_tls_ctx_unref(slot);
    sl_tls_ctx_unref(cctx);
}

static void bad_files_and_options_say_why(void)
{
    char err[256];
    sl_tls_ctx_t *c = NULL;
    sl_tls_server_opts_t mismatch = {leaf_pem, self_key, NULL};
    CHECK_EQ_INT(sl_tls_ctx_new_server(&mismatch, &c, err, sizeof err), SL_TLS_EINVAL);
    CHECK(strstr(err, "does not match the certificate") != NULL);
    sl_tls_server_opts_t no_key = {leaf_pem, NULL, NULL};
    CHECK_EQ_INT(sl_tls_ctx_new_server(&no_key, &c, err, sizeof err), SL_TLS_EINVAL);
    sl_tls_server_opts_t garbage = {garbage_pem, leaf_key, NULL};
    CHECK_EQ_INT(sl_tls_ctx_new_server(&garbage, &c, err, sizeof err), SL_TLS_EINVAL);
    CHECK(strncmp(err, "cannot read certificate ", 24) == 0);
    sl_tls_client_opts_t missing_ca = {"/nonexistent/ca.pem", 0, NULL, NULL, NULL};
    CHECK_EQ_INT(sl_tls_ctx_new_client(&missing_ca, &c, err, sizeof err), SL_TLS_EINVAL);
    CHECK(!strcmp(err, "cannot read CA file /nonexistent/ca.pem: No such file or directory"));
    sl_tls_client_opts_t bad_ca = {garbage_pem, 0, NULL, NULL, NULL};
    CHECK_EQ_INT(sl_tls_ctx_new_client(&bad_ca, &c, err, sizeof err), SL_TLS_EINVAL);
    CHECK(strncmp(err, "cannot read CA file ", 20) == 0);
    sl_tls_client_opts_t bad_alpn = {NULL, 0, "http/1.1,,h2", NULL, NULL};
    CHECK_EQ_INT(sl_tls_ctx_new_client(&bad_alpn, &c, err, sizeof err), SL_TLS_EINVAL);
    CHECK(!strcmp(err, "bad ALPN list 'http/1.1,,h2'"));
    /* The system store alone loads (whatever it holds). */
    CHECK_EQ_INT(sl_tls_ctx_new_client(NULL, &c, err, sizeof err), 0);
    sl_tls_ctx_unref(c);
}

TL_SUITE(tls, setup, teardown,
         TL_TEST(handshake_then_data_both_ways),
         TL_TEST(byte_by_byte_feeding_and_large_messages),
         TL_TEST(an_unknown_issuer_fails_verification_on_both_sides),
         TL_TEST(a_self_signed_certificate_is_named),
         TL_TEST(host_names_and_addresses_are_checked),
         TL_TEST(alpn_picks_the_servers_protocol_or_fails_without_one),
         TL_TEST(close_notify_ends_each_direction),
         TL_TEST(garbage_gets_a_reason),
         TL_TEST(reload_swaps_the_certificate_for_new_connections_only),
         TL_TEST(bad_files_and_options_say_why));
