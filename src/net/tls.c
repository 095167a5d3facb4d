/* L1 net/tls: OpenSSL over memory BIOs (contract in tls.h). Knows nothing of
 * sockets, HTTP or Lua.
 *
 *   owner's stream --feed--> rbio --SSL--> plaintext (sl_tls_read)
 *   plaintext (sl_tls_write) --SSL--> wbio --take--> owner's stream
 *
 * The memory BIOs grow as needed, so OpenSSL never wants to write: it only
 * ever wants more input (SSL_ERROR_WANT_READ), which is the owner's next
 * feed. OpenSSL's error queue is per thread and shared with every other
 * user of libcrypto in the process, so it is cleared before each call here
 * and drained into the engine's reason after a failure. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* TLS 1.2 suites: ECDHE with an AEAD only (Mozilla's "intermediate" set
 * without the finite-field DHE ones). TLS 1.3 suites are all AEAD already:
 * OpenSSL's defaults stay. */
#define CIPHERS_12                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct sl_tls_ctx {
    int refs;
    int server;
    SSL_CTX *ssl;
    unsigned char alpn[256]; /* wire format: length-prefixed names */
    size_t alpn_len;
};

struct sl_tls {
    sl_tls_ctx_t *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;     /* owned by ssl */
    unsigned done : 1;    /* handshake finished */
    unsigned started : 1; /* SSL_do_handshake called once */
    unsigned shut : 1;    /* our close_notify is queued */
    unsigned closed : 1;  /* the peer's close_notify was read */
    unsigned char rtrimmed, wtrimmed; /* the handshake's BIO memory is given back */
    int err;              /* sticky failure code, 0 while none */
    char alpn[32];        /* the protocol chosen, copied once the handshake is done */
    sl_buf_t pending;     /* plaintext written before the handshake was done */
    char reason[SL_TLS_REASON_MAX];
};

/* ---- reasons --------------------------------------------------------------- */

/* The first error OpenSSL queued, in its own words ("wrong version number");
 * clears the queue. NULL when it holds nothing. */
static const char *queue_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return NULL;
    const char *r = ERR_reason_error_string(e);
    if (r)
        return r;
    ERR_error_string_n(e, buf, cap);
    return buf;
}

/* A file that can't even be opened gets the system's words ("No such file
 * or directory"), which say more than OpenSSL's BIO error. */
static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* "http/1.1,h2" -> "\x08http/1.1\x02h2". */
static int alpn_wire(const char *list, sl_tls_ctx_t *c, char *err, size_t errlen)
{
    c->alpn_len = 0;
    if (!list || !*list)
        return 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 31 || c->alpn_len + 1 + n > sizeof c->alpn) {
            snprintf(err, errlen, "bad ALPN list '%.100s'", list);
            return -1;
        }
        c->alpn[c->alpn_len++] = (unsigned char)n;
        memcpy(c->alpn + c->alpn_len, p, n);
        c->alpn_len += n;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---- contexts ---------------------------------------------------------------- */

static sl_tls_ctx_t *ctx_alloc(int server, const char *alpn, char *err, size_t errlen)
{
    sl_tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->refs = 1;
    c->server = server;
    if (alpn_wire(alpn, c, err, errlen)) {
        free(c);
        return NULL;
    }
    ERR_clear_error();
    c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl || !SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(c->ssl, CIPHERS_12)) {
        char buf[128];
        const char *why = queue_reason(buf, sizeof buf);
        snprintf(err, errlen, "cannot set up TLS: %s", why ? why : "out of memory");
        SSL_CTX_free(c->ssl);
        free(c);
        return NULL;
    }
    /* Renegotiation is a TLS 1.2 attack surface nobody here needs; idle
     * connections give their 34 KiB of record buffers back. */
    SSL_CTX_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    return c;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    sl_tls_ctx_t *c = arg;
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301) */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* The certificate (with its chain) and its key: a server's, or a client's
 * for servers that ask for one (mutual TLS). 0, or -1 with err set. */
static int use_cert_and_key(sl_tls_ctx_t *c, const char *cert_file, const char *key_file, char *err,
                            size_t errlen)
{
    char buf[128];
    const char *why;
    if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1) {
        why = queue_reason(buf, sizeof buf);
        snprintf(err, errlen, "cannot read certificate %s: %s", cert_file, why ? why : "not PEM");
    } else if (SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL compares the key with the certificate here already. */
        int mismatch = ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH;
        why = queue_reason(buf, sizeof buf);
        if (mismatch)
            snprintf(err, errlen, "the key %s does not match the certificate %s", key_file, cert_file);
        else
            snprintf(err, errlen, "cannot read key %s: %s", key_file, why ? why : "not PEM");
    } else if (SSL_CTX_check_private_key(c->ssl) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "the key %s does not match the certificate %s", key_file, cert_file);
    } else {
        return 0;
    }
    return -1;
}

int sl_tls_ctx_new_server(const sl_tls_server_opts_t *o, sl_tls_ctx_t **out, char *err, size_t errlen)
{
    if (!o || !o->cert_file || !o->key_file) {
        snprintf(err, errlen, "a TLS server needs a certificate file and a key file");
        return SL_TLS_EINVAL;
    }
    if (check_readable("certificate", o->cert_file, err, errlen) ||
        check_readable("key", o->key_file, err, errlen))
        return SL_TLS_EINVAL;
    sl_tls_ctx_t *c = ctx_alloc(1, o->alpn, err, errlen);
    if (!c)
        return SL_TLS_EINVAL;
    if (use_cert_and_key(c, o->cert_file, o->key_file, err, errlen)) {
        sl_tls_ctx_unref(c);
        return SL_TLS_EINVAL;
    }
    if (c->alpn_len)
        SSL_CTX_set_alpn_select_cb(c->ssl, alpn_select_cb, c);
    *out = c;
    return 0;
}

int sl_tls_ctx_new_client(const sl_tls_client_opts_t *o, sl_tls_ctx_t **out, char *err, size_t errlen)
{
    static const sl_tls_client_opts_t defaults = {NULL, 0, NULL, NULL, NULL};
    if (!o)
        o = &defaults;
    if (o->ca_file && check_readable("CA file", o->ca_file, err, errlen))
        return SL_TLS_EINVAL;
    if (!o->cert_file != !o->key_file) {
        snprintf(err, errlen, "a client certificate needs both a certificate file and a key file");
        return SL_TLS_EINVAL;
    }
    if (o->cert_file && (check_readable("certificate", o->cert_file, err, errlen) ||
                         check_readable("key", o->key_file, err, errlen)))
        return SL_TLS_EINVAL;
    sl_tls_ctx_t *c = ctx_alloc(0, o->alpn, err, errlen);
    if (!c)
        return SL_TLS_EINVAL;
    char buf[128];
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    if (!o->no_system_store && SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
        const char *why = queue_reason(buf, sizeof buf);
        snprintf(err, errlen, "cannot use the system's certificate store: %s", why ? why : "unknown");
        sl_tls_ctx_unref(c);
        return SL_TLS_EINVAL;
    }
    if (o->ca_file && SSL_CTX_load_verify_locations(c->ssl, o->ca_file, NULL) != 1) {
        const char *why = queue_reason(buf, sizeof buf);
        snprintf(err, errlen, "cannot read CA file %s: %s", o->ca_file, why ? why : "not PEM");
        sl_tls_ctx_unref(c);
        return SL_TLS_EINVAL;
    }
    if (o->cert_file && use_cert_and_key(c, o->cert_file, o->key_file, err, errlen)) {
        sl_tls_ctx_unref(c);
        return SL_TLS_EINVAL;
    }
    if (c->alpn_len && SSL_CTX_set_alpn_protos(c->ssl, c->alpn, (unsigned)c->alpn_len) != 0) {
        ERR_clear_error();
        snprintf(err, errlen, "out of memory");
        sl_tls_ctx_unref(c);
        return SL_TLS_ENOMEM;
    }
    *out = c;
    return 0;
}

sl_tls_ctx_t *sl_tls_ctx_ref(sl_tls_ctx_t *c)
{
    c->refs++;
    return c;
}

void sl_tls_ctx_unref(sl_tls_ctx_t *c)
{
    if (!c || --c->refs > 0)
        return;
    SSL_CTX_free(c->ssl);
    free(c);
}

int sl_tls_ctx_reload(sl_tls_ctx_t **slot, const sl_tls_server_opts_t *o, char *err, size_t errlen)
{
    sl_tls_ctx_t *fresh;
    int rc = sl_tls_ctx_new_server(o, &fresh, err, errlen);
    if (rc)
        return rc;
    sl_tls_ctx_unref(*slot);
    *slot = fresh;
    return 0;
}

/* ---- engines ------------------------------------------------------------------ */

int sl_tls_new(sl_tls_ctx_t *ctx, const char *host, sl_tls_t **out, char *err, size_t errlen)
{
    if (!ctx->server && (!host || !*host)) {
        snprintf(err, errlen, "a TLS client needs the server's name");
        return SL_TLS_EINVAL;
    }
    sl_tls_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return SL_TLS_ENOMEM;
    }
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        ERR_clear_error();
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        snprintf(err, errlen, "out of memory");
        return SL_TLS_ENOMEM;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        unsigned char addr[sizeof(struct in6_addr)];
        int ok;
        if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
            /* RFC 6066: no SNI for an address; the certificate must name it. */
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1;
        } else {
            SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set_tlsext_host_name(t->ssl, host) == 1 && SSL_set1_host(t->ssl, host) == 1;
        }
        if (!ok) {
            ERR_clear_error();
            SSL_free(t->ssl);
            free(t);
            snprintf(err, errlen, "bad TLS server name '%.100s'", host);
            return SL_TLS_EINVAL;
        }
    }
    t->ctx = sl_tls_ctx_ref(ctx);
    *out = t;
    return 0;
}

void sl_tls_free(sl_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    sl_tls_ctx_unref(t->ctx);
    sl_buf_free(&t->pending);
    free(t);
}

int sl_tls_feed(sl_tls_t *t, const void *p, size_t n)
{
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        int w = BIO_write(t->rbio, p, chunk);
        if (w <= 0) {
            ERR_clear_error();
            return SL_TLS_ENOMEM;
        }
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Records the failure once; every later call gives the same code. */
static int fail(sl_tls_t *t, int code, const char *fmt, const char *what)
{
    if (!t->err) {
        t->err = code;
        snprintf(t->reason, sizeof t->reason, fmt, what);
    }
    ERR_clear_error();
    return t->err;
}

static int fail_handshake(sl_tls_t *t, int sslerr)
{
    long v = SSL_get_verify_result(t->ssl);
    if (!t->ctx->server && v != X509_V_OK)
        return fail(t, SL_TLS_EVERIFY, "certificate verify failed: %s", X509_verify_cert_error_string(v));
    char buf[128];
    const char *why = queue_reason(buf, sizeof buf);
    if (!why)
        why = sslerr == SSL_ERROR_SYSCALL ? "the peer's data ended" : "unknown error";
    return fail(t, SL_TLS_EHANDSHAKE, "handshake failed: %s", why);
}

static int flush_pending(sl_tls_t *t);

/* A memory BIO keeps the memory of the largest burst it held. Once it is
 * empty, the handshake's flights (a few KiB: the certificate chain) and
 * any burst over TRIM_ABOVE (a big message) are given back, so an idle
 * connection holds no buffer it no longer needs; the small buffers of
 * ordinary messages stay, so they cost no allocation each. */
#define TRIM_ABOVE 16384
static void bio_trim(sl_tls_t *t, BIO *b)
{
    unsigned char *trimmed = b == t->rbio ? &t->rtrimmed : &t->wtrimmed;
    BUF_MEM *bm = NULL;
    if (BIO_ctrl_pending(b) != 0 || BIO_get_mem_ptr(b, &bm) != 1 || !bm)
        return;
    if (bm->max <= TRIM_ABOVE && (*trimmed || !t->done))
        return;
    BUF_MEM *fresh = BUF_MEM_new();
    if (fresh && BIO_set_mem_buf(b, fresh, BIO_CLOSE) == 1)
        *trimmed = 1;
    else
        BUF_MEM_free(fresh);
}

/* 1 once the handshake is done, 0 while it needs input, < 0 failed. */
static int step(sl_tls_t *t)
{
    if (t->err)
        return t->err;
    if (t->done)
        return 1;
    ERR_clear_error();
    t->started = 1;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        const unsigned char *p;
        unsigned n;
        SSL_get0_alpn_selected(t->ssl, &p, &n);
        if (p && n < sizeof t->alpn) { /* always: both lists hold names of 31 bytes at most */
            memcpy(t->alpn, p, n);
            t->alpn[n] = '\0';
        }
        t->done = 1;
        return flush_pending(t) ? t->err : 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    return fail_handshake(t, e);
}

static int write_now(sl_tls_t *t, const char *p, size_t n)
{
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        ERR_clear_error();
        int w = SSL_write(t->ssl, p, chunk);
        if (w <= 0) {
            char buf[128];
            const char *why = queue_reason(buf, sizeof buf);
            return fail(t, SL_TLS_EPROTO, "TLS error: %s", why ? why : "write refused");
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int flush_pending(sl_tls_t *t)
{
    if (!t->pending.len)
        return 0;
    int rc = write_now(t, t->pending.data, t->pending.len);
    sl_buf_free(&t->pending);
    return rc;
}

ssize_t sl_tls_read(sl_tls_t *t, void *buf, size_t cap)
{
    int s = step(t);
    if (s <= 0)
        return s;
    if (t->closed)
        return SL_TLS_CLOSED;
    if (cap == 0)
        return 0;
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        bio_trim(t, t->rbio);
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        t->closed = 1;
        return SL_TLS_CLOSED;
    }
    char why_buf[128];
    const char *why = queue_reason(why_buf, sizeof why_buf);
    return fail(t, SL_TLS_EPROTO, "TLS error: %s", why ? why : "bad record");
}

int sl_tls_write(sl_tls_t *t, const void *p, size_t n)
{
    if (t->err)
        return t->err;
    if (t->shut)
        return SL_TLS_EINVAL;
    if (n == 0)
        return 0;
    if (!t->done)
        return sl_buf_append(&t->pending, p, n) ? SL_TLS_ENOMEM : 0;
    return write_now(t, p, n);
}

ssize_t sl_tls_take(sl_tls_t *t, sl_buf_t *out)
{
    if (!t->started && !t->err && !t->ctx->server)
        step(t); /* a client speaks first: its ClientHello */
    size_t n = BIO_ctrl_pending(t->wbio);
    if (n == 0)
        return 0;
    if (n > INT_MAX)
        n = INT_MAX;
    if (sl_buf_reserve(out, n))
        return SL_TLS_ENOMEM;
    int r = BIO_read(t->wbio, out->data + out->len, (int)n);
    if (r <= 0) {
        ERR_clear_error();
        return 0;
    }
    out->len += (size_t)r;
    bio_trim(t, t->wbio);
    return r;
}

int sl_tls_shutdown(sl_tls_t *t)
{
    if (!t->done)
        return SL_TLS_EINVAL;
    if (!t->shut) {
        t->shut = 1;
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
    return 0;
}

int sl_tls_handshake_done(const sl_tls_t *t) { return t->done; }

const char *sl_tls_alpn(const sl_tls_t *t) { return t->alpn[0] ? t->alpn : NULL; }

const char *sl_tls_version(const sl_tls_t *t) { return t->done ? SSL_get_version(t->ssl) : NULL; }

const char *sl_tls_reason(const sl_tls_t *t) { return t->reason; }
